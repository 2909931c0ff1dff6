//! `bench` verifies and replays, and its last line is exactly the machine-readable figure.
mod common;

use common::{path_str, replay_process, synthetic};

#[test]
fn last_line_is_records_elapsed_and_rate() {
    let dir = tempfile::tempdir().unwrap();
    synthetic(dir.path(), 2_000);
    let (code, stdout, _) = replay_process(&["bench", path_str(dir.path())]);
    assert_eq!(code, 0, "{stdout}");
    let last = stdout.lines().last().unwrap();
    let fields: Vec<(&str, &str)> = last
        .split(' ')
        .map(|kv| kv.split_once('=').unwrap())
        .collect();
    assert_eq!(
        fields.iter().map(|f| f.0).collect::<Vec<_>>(),
        ["records", "elapsed_ms", "records_per_sec"]
    );
    assert_eq!(fields[0].1, "2009"); // config + 2000 commands + 8 digests
    for (_, value) in fields {
        value.parse::<u64>().unwrap();
    }
}
