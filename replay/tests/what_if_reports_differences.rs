//! `what-if` with the journal's own configuration reports no difference; with a tighter
//! quantity limit it reports the orders rejected instead, the fills lost and the P&L change.
mod common;

use arbiter_replay::Outcome;
use common::{path_str, replay, scenario, CONFIG};

#[test]
fn identical_configuration_reports_no_difference() {
    let dir = tempfile::tempdir().unwrap();
    scenario(dir.path());
    let config = dir.path().join("same.toml");
    std::fs::write(&config, CONFIG).unwrap();
    let (outcome, text) = replay(&[
        "what-if",
        path_str(dir.path()),
        "--config",
        path_str(&config),
    ]);
    assert_eq!(outcome, Outcome::Clean);
    assert_eq!(
        text,
        "no difference (12 commands replayed under both configurations)\n"
    );
}

#[test]
fn a_tighter_quantity_limit_rejects_orders_and_changes_fills_and_pnl() {
    let dir = tempfile::tempdir().unwrap();
    scenario(dir.path());
    let config = dir.path().join("tight.toml");
    // AAPL is the first instrument: its qty_max drops from 1000000 to 100.
    std::fs::write(
        &config,
        CONFIG.replacen("qty_max = 1000000", "qty_max = 100", 1),
    )
    .unwrap();
    let (_, text) = replay(&[
        "what-if",
        path_str(dir.path()),
        "--config",
        path_str(&config),
    ]);
    assert!(text.starts_with("1 of 12 commands differ: 1 orders accepted/rejected differently, 1 with different fills"), "{text}");
    assert!(
        text.contains("seq 5: order 4 B2 AAPL BUY 120: accepted -> rejected QTY_ABOVE_MAX"),
        "{text}"
    );
    assert!(
        text.contains("seq 5: fills TRADE AAPL 100 @ 150.10"),
        "{text}"
    );
    assert!(text.contains("-> no fill"), "{text}");
    assert!(text.contains("ALGO2      AAPL"), "{text}");
}
