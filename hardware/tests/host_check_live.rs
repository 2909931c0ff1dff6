//! The host check on whatever host runs the tests: it must not panic, whatever it finds.

use arbiter_hardware::host_check::{self, Status};
use arbiter_hardware::{allowed_cores, HostCheckInput, CLOCK_OFFSET_LIMIT_US_DEFAULT};

#[test]
fn live_host_check_completes() {
    let pinned = allowed_cores().iter().copied().take(2).collect();
    let journal_dir = std::env::temp_dir();
    let input = HostCheckInput::from_live(
        pinned,
        Some("lo".to_owned()),
        journal_dir,
        CLOCK_OFFSET_LIMIT_US_DEFAULT,
    );
    let report = host_check::run(&input);
    assert_eq!(report.checks.len(), 20);
    assert!(report
        .checks
        .iter()
        .all(|check| check.status == Status::Pass || !check.fix.is_empty()));
    let table = report.render_table();
    assert!(table.contains("clock_sync"));
    let json: serde_json::Value = serde_json::from_str(&report.to_json()).unwrap();
    assert!(json["exit_code"] == 0 || json["exit_code"] == 1);
    println!("{table}");
}
