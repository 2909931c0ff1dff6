//! `host_check::run` against fixture trees of a well-tuned and a badly-tuned host.

use std::path::{Path, PathBuf};

use arbiter_hardware::host_check::{self, Status};
use arbiter_hardware::{HostCheckInput, KernelTimeState, Report};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn input(name: &str, journal_dir: &str, kernel_time: Option<KernelTimeState>) -> HostCheckInput {
    HostCheckInput {
        proc_root: fixture(name).join("proc"),
        sys_root: fixture(name).join("sys"),
        pinned_cores: vec![1, 2, 3],
        nic: Some("ens1f0".to_owned()),
        journal_dir: PathBuf::from(journal_dir),
        clock_offset_limit_us: 100,
        kernel_time,
    }
}

fn synced(offset_ns: i64) -> Option<KernelTimeState> {
    Some(KernelTimeState {
        synchronized: true,
        offset_ns,
        error_max_ns: 20_000,
        error_estimated_ns: 3_000,
    })
}

fn tuned() -> Report {
    host_check::run(&input("tuned", "/srv/arbiter/journal", synced(-1_500)))
}

fn untuned() -> Report {
    host_check::run(&input("untuned", "/tmp/arbiter-journal", None))
}

fn status(report: &Report, name: &str) -> Status {
    report
        .get(name)
        .unwrap_or_else(|| panic!("no check {name}"))
        .status
}

#[test]
fn tuned_host_passes_everything_but_what_sys_cannot_show() {
    let report = tuned();
    for check in &report.checks {
        let expected = if check.name == "nic_rings" {
            Status::Unknown
        } else {
            Status::Pass
        };
        assert_eq!(check.status, expected, "{check:?}");
        if check.status == Status::Pass {
            assert!(check.fix.is_empty(), "{check:?}");
        }
    }
    assert_eq!(report.exit_code(), 0);
    assert!(report
        .get("nic_rings")
        .unwrap()
        .fix
        .contains("ethtool -g ens1f0"));
    assert!(report
        .get("nic_rings")
        .unwrap()
        .detail
        .contains("2 rx queues"));
}

#[test]
fn untuned_host_statuses() {
    let report = untuned();
    let expected = [
        ("pinned_cores", Status::Pass),
        ("isolcpus", Status::Fail),
        ("nohz_full", Status::Warn),
        ("rcu_nocbs", Status::Warn),
        ("cpu_governor", Status::Warn),
        ("turbo", Status::Warn),
        ("c_states", Status::Warn),
        ("smt_siblings", Status::Fail),
        ("nic_numa", Status::Warn),
        ("transparent_hugepages", Status::Warn),
        ("swap", Status::Warn),
        ("clocksource", Status::Fail),
        ("nic_irq_affinity", Status::Fail),
        ("busy_poll", Status::Warn),
        ("nic_link", Status::Warn),
        ("nic_rings", Status::Unknown),
        ("journal_fs", Status::Fail),
        ("journal_device", Status::Warn),
        ("memlock", Status::Warn),
        ("clock_sync", Status::Fail),
    ];
    let names: Vec<&str> = report.checks.iter().map(|check| check.name).collect();
    let expected_names: Vec<&str> = expected.iter().map(|(name, _)| *name).collect();
    assert_eq!(names, expected_names);
    for (name, want) in expected {
        assert_eq!(status(&report, name), want, "{:?}", report.get(name));
        if want != Status::Pass {
            assert!(
                !report.get(name).unwrap().fix.is_empty(),
                "{name} needs a fix text"
            );
        }
    }
    assert_eq!(report.exit_code(), 1);
}

#[test]
fn untuned_details_name_the_culprits() {
    let report = untuned();
    let detail = |name: &str| report.get(name).unwrap().detail.clone();
    assert!(
        detail("smt_siblings").contains("2+3"),
        "{}",
        detail("smt_siblings")
    );
    assert!(
        detail("nic_irq_affinity").contains("irq70->1,2,3"),
        "{}",
        detail("nic_irq_affinity")
    );
    assert!(detail("nic_irq_affinity").contains("irq71->2"));
    assert!(detail("nic_irq_affinity").contains("irqbalance"));
    assert!(detail("c_states").contains("cpu1:C1E"));
    assert!(detail("journal_fs").contains("tmpfs"));
    assert!(detail("memlock").contains("8 MiB"));
    assert!(detail("swap").contains("/dev/sda3"));
    assert!(report
        .get("isolcpus")
        .unwrap()
        .fix
        .contains("isolcpus=1,2,3"));
}

#[test]
fn only_required_failures_set_the_exit_code() {
    // Untuned host but with the required checks repaired: still non-required fails, exit 0.
    let mut input = input("untuned", "/tmp/arbiter-journal", None);
    input.pinned_cores = Vec::new();
    let report = host_check::run(&input);
    assert_eq!(status(&report, "clocksource"), Status::Fail);
    assert_eq!(status(&report, "journal_fs"), Status::Fail);
    assert_eq!(report.exit_code(), 1, "journal on tmpfs is required");

    let tuned_but_bad_clocksource = host_check::run(&HostCheckInput {
        sys_root: fixture("untuned").join("sys"),
        ..input_tuned_with_sync()
    });
    let required_failures: Vec<&str> = tuned_but_bad_clocksource
        .checks
        .iter()
        .filter(|check| check.required && check.status == Status::Fail)
        .map(|check| check.name)
        .collect();
    assert!(required_failures.is_empty(), "{required_failures:?}");
    assert_eq!(
        status(&tuned_but_bad_clocksource, "clocksource"),
        Status::Fail
    );
    assert_eq!(tuned_but_bad_clocksource.exit_code(), 0);
}

fn input_tuned_with_sync() -> HostCheckInput {
    input("tuned", "/srv/arbiter/journal", synced(0))
}

#[test]
fn clock_offset_over_limit_fails() {
    let report = host_check::run(&input("tuned", "/srv/arbiter/journal", synced(250_000)));
    assert_eq!(status(&report, "clock_sync"), Status::Fail);
    assert!(report.get("clock_sync").unwrap().detail.contains("chronyd"));
    assert_eq!(report.exit_code(), 1);
    let unsynced = KernelTimeState {
        synchronized: false,
        offset_ns: 0,
        error_max_ns: 16_000_000,
        error_estimated_ns: 0,
    };
    let report = host_check::run(&input("tuned", "/srv/arbiter/journal", Some(unsynced)));
    assert_eq!(status(&report, "clock_sync"), Status::Fail);
    let report = host_check::run(&input("tuned", "/srv/arbiter/journal", None));
    assert_eq!(status(&report, "clock_sync"), Status::Unknown);
}

#[test]
fn missing_pinned_core_fails() {
    let mut input = input_tuned_with_sync();
    input.pinned_cores = vec![2, 12];
    let report = host_check::run(&input);
    assert_eq!(status(&report, "pinned_cores"), Status::Fail);
    assert!(report.get("pinned_cores").unwrap().detail.contains("12"));
    assert_eq!(report.exit_code(), 1);
}

#[test]
fn journal_on_root_device_warns() {
    let report = host_check::run(&input("tuned", "/var/lib/arbiter", synced(0)));
    assert_eq!(status(&report, "journal_fs"), Status::Pass);
    assert_eq!(status(&report, "journal_device"), Status::Warn);
    assert!(report
        .get("journal_device")
        .unwrap()
        .detail
        .contains("root"));
}

#[test]
fn empty_roots_give_unknown_not_guesses() {
    let empty = tempfile::tempdir().unwrap();
    let report = host_check::run(&HostCheckInput {
        proc_root: empty.path().join("proc"),
        sys_root: empty.path().join("sys"),
        pinned_cores: vec![0],
        nic: None,
        journal_dir: PathBuf::from("/srv/journal"),
        clock_offset_limit_us: 100,
        kernel_time: None,
    });
    for check in &report.checks {
        // With nothing to read, only "no daemon" is a positive finding.
        let expected = if check.name == "clock_sync" {
            Status::Fail
        } else {
            Status::Unknown
        };
        assert_eq!(check.status, expected, "{check:?}");
    }
}

#[test]
fn table_and_json_render() {
    let report = untuned();
    let table = report.render_table();
    let lines: Vec<&str> = table.lines().collect();
    assert!(lines[0].starts_with("check"));
    assert_eq!(lines.len(), 2 + report.checks.len() + 2);
    let status_column = lines[0].find("status").unwrap();
    for line in &lines[2..2 + report.checks.len()] {
        let cell = &line[status_column..];
        assert!(
            ["pass", "warn", "fail", "unknown"]
                .iter()
                .any(|s| cell.starts_with(s)),
            "misaligned: {line}"
        );
    }
    assert!(table.contains("isolcpus*"));
    assert!(table.contains("exit code 1"));

    let json: serde_json::Value = serde_json::from_str(&report.to_json()).unwrap();
    assert_eq!(json["exit_code"], 1);
    assert_eq!(
        json["checks"].as_array().unwrap().len(),
        report.checks.len()
    );
    assert_eq!(json["checks"][1]["name"], "isolcpus");
    assert_eq!(json["checks"][1]["status"], "fail");
    assert_eq!(json["checks"][1]["required"], true);
    assert_eq!(json["summary"]["fail"], 6);
}
