//! `verify --public-key`: a signed journal passes in one pass; a damaged record, a missing
//! checkpoint file or the wrong key are findings (exit 1) that say what and where.
mod common;

use std::path::Path;

use arbiter_journal::sign::CHECKPOINT_FILE_NAME;
use arbiter_journal::{Journal, JournalConfig, JournalId, RecordType, SigningKey, TimestampNs};
use common::{path_str, replay_process, segments};

fn write_signed(dir: &Path, key: SigningKey) {
    let mut config = JournalConfig::new(JournalId(*b"ARBITER-JOURNAL1"));
    config.segment_size_bytes = 64 * 1024;
    config.signing_key = Some(key);
    let (mut writer, _) = Journal::open(dir, config).unwrap();
    let flusher = writer.flusher().unwrap().spawn();
    for i in 0..2_000u64 {
        let seq = writer.next_sequence();
        writer
            .append(
                RecordType(1),
                seq,
                TimestampNs(1_000 + i),
                &i.to_le_bytes().repeat(4),
            )
            .unwrap();
    }
    writer.close().unwrap();
    flusher.stop().unwrap();
}

fn keys(dir: &Path, seed: u8) -> String {
    let key = SigningKey::from_seed([seed; 32]);
    let (secret, public) = (
        dir.join(format!("k{seed}")),
        dir.join(format!("k{seed}.pub")),
    );
    key.write_pair(&secret, &public).unwrap();
    public.to_str().unwrap().to_owned()
}

#[test]
fn signatures_are_checked_with_the_journal() {
    let keys_dir = tempfile::tempdir().unwrap();
    let public = keys(keys_dir.path(), 7);
    let other = keys(keys_dir.path(), 8);
    let dir = tempfile::tempdir().unwrap();
    write_signed(dir.path(), SigningKey::from_seed([7; 32]));
    let journal = path_str(dir.path());

    let (code, stdout, stderr) = replay_process(&["verify", journal, "--public-key", &public]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("records=2000"), "{stdout}");
    assert!(stdout.ends_with("SIGNED OK\n"), "{stdout}");

    let (code, stdout, _) = replay_process(&["verify", journal, "--public-key", &other]);
    assert_eq!(code, 1, "the wrong key: {stdout}");
    assert!(stdout.contains("CORRUPT"), "{stdout}");

    // One flipped payload byte in the second segment.
    let segment = &segments(dir.path())[1];
    let mut bytes = std::fs::read(segment).unwrap();
    bytes[4096] ^= 0x40;
    std::fs::write(segment, &bytes).unwrap();
    let (code, stdout, _) = replay_process(&["verify", journal, "--public-key", &public]);
    assert_eq!(code, 1, "{stdout}");
    assert!(
        stdout.contains("CORRUPT") && stdout.contains(".seg") && stdout.contains("sequence"),
        "{stdout}"
    );
    bytes[4096] ^= 0x40;
    std::fs::write(segment, &bytes).unwrap();

    std::fs::remove_file(dir.path().join(CHECKPOINT_FILE_NAME)).unwrap();
    let (code, stdout, _) = replay_process(&["verify", journal, "--public-key", &public]);
    assert_eq!(code, 1, "no checkpoints: {stdout}");
    assert!(stdout.contains("UNSIGNED"), "{stdout}");
}
