//! `check` reports the first divergence precisely: a DIGEST record that does not match
//! (as a changed engine rule would produce) and a command altered with its CRC forged.
mod common;

use arbiter_replay::Outcome;
use common::{
    find_frame, fix_crc, path_str, replay, replay_process, scenario, scenario_with_digest, segments,
};

#[test]
fn a_clean_journal_checks_out() {
    let dir = tempfile::tempdir().unwrap();
    scenario(dir.path());
    let (outcome, text) = replay(&["check", path_str(dir.path())]);
    assert_eq!(outcome, Outcome::Clean);
    assert_eq!(text, "OK: 12 commands replayed, 2 digests match\n");
}

#[test]
fn a_wrong_digest_is_reported_with_sequence_expected_and_actual() {
    let dir = tempfile::tempdir().unwrap();
    let seqs = scenario_with_digest(dir.path(), Some(0x0123_4567_89ab_cdef));
    let last = *seqs.last().unwrap();
    let (code, stdout, _) = replay_process(&["check", path_str(dir.path())]);
    assert_eq!(code, 1, "{stdout}");
    assert!(
        stdout.starts_with(&format!("DIVERGENCE at seq {last} (")),
        "{stdout}"
    );
    assert!(
        stdout.contains("expected digest 0123456789abcdef, actual "),
        "{stdout}"
    );
    // The window is the commands after the previous (matching) digest at seq 6.
    assert!(
        stdout.contains(&format!("seq 7..{last} (1 digests matched before)")),
        "{stdout}"
    );
}

#[test]
fn an_altered_command_with_a_forged_crc_diverges_at_the_next_digest() {
    let dir = tempfile::tempdir().unwrap();
    scenario(dir.path());
    // Seq 2 is order 1 (sell 100, later filled by 100): make it sell 101, so that one
    // stays on the book, and forge the CRC.
    let segment_path = &segments(dir.path())[0];
    let mut bytes = std::fs::read(segment_path).unwrap();
    let (offset, len) = find_frame(&bytes, 2).unwrap();
    // Payload: [len u8][tag u8][order_id u64][instrument u32][account u32][strategy u32]
    // [session u32][side u8][ord_type u8][tif u8][price i64][stop i64][qty u64]...
    let qty_at = offset + 32 + 1 + 1 + 8 + 4 * 4 + 3 + 8 + 8;
    assert_eq!(
        u64::from_le_bytes(bytes[qty_at..qty_at + 8].try_into().unwrap()),
        100
    );
    bytes[qty_at] = 101;
    fix_crc(&mut bytes, offset, len);
    std::fs::write(segment_path, &bytes).unwrap();

    let (code, stdout, _) = replay_process(&["check", path_str(dir.path())]);
    assert_eq!(code, 1, "{stdout}");
    assert!(stdout.starts_with("DIVERGENCE at seq 6 ("), "{stdout}");
    assert!(stdout.contains("seq 2..6"), "{stdout}");
    // The hash chain still catches the forgery.
    let (code, stdout, _) = replay_process(&["verify", path_str(dir.path())]);
    assert_eq!(code, 1, "{stdout}");
    assert!(stdout.contains("seal hash does not match"), "{stdout}");
}
