//! `verify` exits 0 on a sound journal and 1 on each kind of damage (truncation, a flipped
//! bit, a zeroed page), naming segment, offset and sequence.
mod common;

use std::fs::OpenOptions;

use common::{find_frame, path_str, replay_process, segments, synthetic};

fn journal() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    synthetic(dir.path(), 3_000);
    assert!(
        segments(dir.path()).len() >= 3,
        "the test wants several segments"
    );
    dir
}

fn assert_corrupt(dir: &std::path::Path, what: &str) -> String {
    let (code, stdout, stderr) = replay_process(&["verify", path_str(dir)]);
    assert_eq!(code, 1, "{what}: {stdout}{stderr}");
    assert!(stdout.contains("CORRUPT"), "{what}: {stdout}");
    assert!(
        stdout.contains(".seg"),
        "{what}: names the segment: {stdout}"
    );
    assert!(
        stdout.contains("offset"),
        "{what}: names the offset: {stdout}"
    );
    assert!(
        stdout.contains("sequence"),
        "{what}: names the sequence: {stdout}"
    );
    stdout
}

#[test]
fn a_sound_journal_verifies() {
    let dir = journal();
    let (code, stdout, _) = replay_process(&["verify", path_str(dir.path())]);
    assert_eq!(code, 0, "{stdout}");
    assert!(stdout.ends_with("OK\n"), "{stdout}");
    assert!(stdout.contains("records=3013"), "{stdout}"); // config + 3000 + 12 digests
}

#[test]
fn a_truncated_segment_is_found() {
    let dir = journal();
    let first = &segments(dir.path())[0];
    let file = OpenOptions::new().write(true).open(first).unwrap();
    file.set_len(20_000).unwrap();
    assert_corrupt(dir.path(), "truncated");
}

#[test]
fn a_flipped_bit_is_found_with_its_sequence() {
    let dir = journal();
    let second = &segments(dir.path())[1];
    let mut bytes = std::fs::read(second).unwrap();
    let first_sequence: u64 = second
        .file_stem()
        .unwrap()
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let target = first_sequence + 10;
    let (offset, _) = find_frame(&bytes, target).unwrap();
    bytes[offset + 40] ^= 0x04;
    std::fs::write(second, &bytes).unwrap();
    let stdout = assert_corrupt(dir.path(), "flipped bit");
    assert!(
        stdout.contains(&format!("offset {offset} sequence {target}: CRC mismatch")),
        "{stdout}"
    );
}

#[test]
fn a_zeroed_page_is_found() {
    let dir = journal();
    let first = &segments(dir.path())[0];
    let mut bytes = std::fs::read(first).unwrap();
    bytes[8192..12288].fill(0);
    std::fs::write(first, &bytes).unwrap();
    assert_corrupt(dir.path(), "zeroed page");
}

#[test]
fn a_zeroed_segment_header_is_found() {
    let dir = journal();
    let second = &segments(dir.path())[1];
    let mut bytes = std::fs::read(second).unwrap();
    bytes[..4096].fill(0);
    std::fs::write(second, &bytes).unwrap();
    let (code, stdout, _) = replay_process(&["verify", path_str(dir.path())]);
    assert_eq!(code, 1, "{stdout}");
    assert!(stdout.contains("CORRUPT"), "{stdout}");
}
