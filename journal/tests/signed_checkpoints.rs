//! Signed checkpoints: a journal rewritten and re-chained without the key fails
//! `verify_signed` at the first rewritten block; untouched passes; a wrong key fails; a
//! key file others can read is refused; a journal cut short fails.
mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use arbiter_journal::layout::{
    align_up, RECORD_CRC_OFFSET, RECORD_HEADER_LEN, SEAL_BLOCK_END_OFFSET, SEAL_BLOCK_START_OFFSET,
    SEAL_HASH_OFFSET, SEAL_PREVIOUS_HASH_OFFSET, SEGMENT_HEADER_CRC_OFFSET, SEGMENT_HEADER_LEN,
};
use arbiter_journal::sign::CHECKPOINT_FILE_NAME;
use arbiter_journal::{
    verify, verify_signed, CorruptionKind, Journal, JournalError, RecordType, SigningKey,
};
use common::{append_to, config};

const SEGMENT_BYTES: u64 = 64 * 1024;
const RECORDS: u64 = 1_500;

fn key() -> SigningKey {
    SigningKey::from_seed([7; 32])
}

/// Writes a signed journal of several segments with a running flusher, closes it cleanly.
fn write_signed(dir: &Path, anchor: Option<PathBuf>) {
    let mut config = config(SEGMENT_BYTES);
    config.signing_key = Some(key());
    config.anchor_path = anchor;
    let (mut writer, _) = Journal::open(dir, config).expect("open");
    let flusher = writer.flusher().expect("flusher").spawn();
    append_to(&mut writer, RECORDS);
    writer.close().expect("close");
    flusher.stop().expect("flusher");
}

fn segments(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "seg"))
        .collect();
    files.sort();
    files
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes"))
}

fn u64_at(bytes: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(bytes[at..at + 8].try_into().expect("8 bytes"))
}

fn fix_crc(frame: &mut [u8]) {
    let len = frame.len();
    let crc = crc32c::crc32c_append(
        crc32c::crc32c(&frame[..RECORD_CRC_OFFSET]),
        &frame[RECORD_HEADER_LEN..len],
    );
    frame[RECORD_CRC_OFFSET..RECORD_CRC_OFFSET + 4].copy_from_slice(&crc.to_le_bytes());
}

/// What an attacker with write access but no key does: change one record's payload, fix
/// its CRC, then recompute every seal and every segment's `chain_in` after it. Returns the
/// (segment, seal offset, seal sequence, block start) of the seal that closes the changed
/// record's block.
fn rewrite_and_rechain(dir: &Path, target_sequence: u64) -> (PathBuf, u64, u64, u64) {
    let mut chain = [0u8; 32];
    let mut first_bad = None;
    let mut changed_in_block = false;
    for path in segments(dir) {
        let mut bytes = std::fs::read(&path).expect("read segment");
        // SegmentHeader.chain_in sits at [48, 80).
        bytes[48..80].copy_from_slice(&chain);
        let crc = crc32c::crc32c(&bytes[..SEGMENT_HEADER_CRC_OFFSET]);
        bytes[SEGMENT_HEADER_CRC_OFFSET..SEGMENT_HEADER_CRC_OFFSET + 4]
            .copy_from_slice(&crc.to_le_bytes());
        let mut offset = SEGMENT_HEADER_LEN;
        while offset + RECORD_HEADER_LEN <= bytes.len() {
            let frame_length = u32_at(&bytes, offset) as usize;
            if frame_length == 0 {
                break;
            }
            let record_type = u16::from_le_bytes([bytes[offset + 4], bytes[offset + 5]]);
            let sequence = u64_at(&bytes, offset + 8);
            if record_type == RecordType::SEAL.0 {
                let payload = offset + RECORD_HEADER_LEN;
                let block_start = u64_at(&bytes, payload + SEAL_BLOCK_START_OFFSET) as usize;
                let block_end = u64_at(&bytes, payload + SEAL_BLOCK_END_OFFSET) as usize;
                let mut hasher = blake3::Hasher::new();
                hasher.update(&chain);
                let mut at = block_start;
                while at < block_end {
                    let len = align_up(u32_at(&bytes, at) as usize);
                    let kind = u16::from_le_bytes([bytes[at + 4], bytes[at + 5]]);
                    if kind != RecordType::SEAL.0 {
                        hasher.update(&bytes[at..at + len]);
                    }
                    at += len;
                }
                let hash = *hasher.finalize().as_bytes();
                bytes
                    [payload + SEAL_PREVIOUS_HASH_OFFSET..payload + SEAL_PREVIOUS_HASH_OFFSET + 32]
                    .copy_from_slice(&chain);
                bytes[payload + SEAL_HASH_OFFSET..payload + SEAL_HASH_OFFSET + 32]
                    .copy_from_slice(&hash);
                fix_crc(&mut bytes[offset..offset + frame_length]);
                chain = hash;
                if changed_in_block && first_bad.is_none() {
                    first_bad = Some((path.clone(), offset as u64, sequence, block_start as u64));
                }
            } else if sequence == target_sequence && frame_length > RECORD_HEADER_LEN {
                bytes[offset + RECORD_HEADER_LEN] ^= 0xFF;
                fix_crc(&mut bytes[offset..offset + frame_length]);
                changed_in_block = true;
            }
            offset += align_up(frame_length);
        }
        std::fs::write(&path, &bytes).expect("write segment");
    }
    first_bad.expect("the changed record is sealed")
}

#[test]
fn untouched_signed_journal_verifies() {
    let dir = tempfile::tempdir().expect("tempdir");
    let anchor = dir.path().join("anchor.sig");
    let journal = dir.path().join("journal");
    write_signed(&journal, Some(anchor.clone()));
    let report = verify_signed(&journal, &key().public_key(), Some(&anchor)).expect("verify");
    assert!(report.is_ok(), "{:?}", report.first_problem);
    assert!(segments(&journal).len() >= 3);
    assert_eq!(report.records, RECORDS);
    assert!(report.seals > 0);
    assert_eq!(report.signed_seals, report.seals);
    assert_eq!(report.unsigned_seals, 0);
    assert_eq!(report.anchored_seals, report.seals);
    assert_eq!(report.last_signed_sequence.map(|s| s.0), Some(RECORDS));
    // Reopening with the key finds nothing to catch up and keeps verifying.
    let mut config = config(SEGMENT_BYTES);
    config.signing_key = Some(key());
    let (writer, recovered) = Journal::open(&journal, config).expect("reopen");
    assert_eq!(recovered.checkpoints_signed_at_open, 0);
    writer.close().expect("close");
    assert!(verify_signed(&journal, &key().public_key(), None)
        .expect("verify")
        .is_ok());
}

#[test]
fn rewritten_and_rechained_journal_fails_at_the_first_rewritten_block() {
    let dir = tempfile::tempdir().expect("tempdir");
    let anchor = dir.path().join("anchor.sig");
    let journal = dir.path().join("journal");
    write_signed(&journal, Some(anchor.clone()));
    let target = 700;
    let (segment, offset, sequence, block_start) = rewrite_and_rechain(&journal, target);
    // The chain alone no longer sees anything: that is the attack.
    assert!(verify(&journal).expect("verify").is_ok());
    let report = verify_signed(&journal, &key().public_key(), None).expect("verify");
    let problem = report.first_problem.expect("the rewrite is found");
    assert_eq!(problem.segment, segment);
    assert_eq!(problem.offset, offset);
    assert_eq!(problem.sequence.0, sequence);
    assert!(sequence >= target);
    assert_eq!(
        problem.kind,
        CorruptionKind::CheckpointMismatch { block_start }
    );
    assert!(report.last_signed_sequence.is_some_and(|s| s.0 < target));
    // The anchor finds it at the same place.
    let mut checkpoints = journal.join(CHECKPOINT_FILE_NAME).clone();
    checkpoints.set_extension("moved");
    std::fs::rename(journal.join(CHECKPOINT_FILE_NAME), &checkpoints).expect("move");
    let report = verify_signed(&journal, &key().public_key(), Some(&anchor)).expect("verify");
    let problem = report.first_problem.expect("the anchor finds it");
    assert_eq!((problem.offset, problem.sequence.0), (offset, sequence));
    assert_eq!(problem.kind, CorruptionKind::AnchorMismatch { block_start });
    std::fs::rename(&checkpoints, journal.join(CHECKPOINT_FILE_NAME)).expect("move back");
    // And the daemon refuses to re-sign the rewritten journal.
    let mut config = config(SEGMENT_BYTES);
    config.signing_key = Some(key());
    match Journal::open(&journal, config) {
        Err(JournalError::Checkpoint { .. }) => {}
        other => panic!("expected a checkpoint refusal, got {other:?}"),
    }
}

#[test]
fn wrong_public_key_fails() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_signed(dir.path(), None);
    let other = SigningKey::from_seed([8; 32]).public_key();
    let report = verify_signed(dir.path(), &other, None).expect("verify");
    let problem = report.first_problem.expect("wrong key");
    assert_eq!(problem.kind, CorruptionKind::CheckpointSignature);
    assert_eq!(report.signed_seals, 0);
}

#[test]
fn journal_cut_short_fails() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_signed(dir.path(), None);
    let last = segments(dir.path()).pop().expect("segments");
    std::fs::remove_file(&last).expect("remove");
    let report = verify_signed(dir.path(), &key().public_key(), None).expect("verify");
    assert_eq!(
        report.first_problem.expect("cut").kind,
        CorruptionKind::CheckpointBeyondEnd
    );
}

#[test]
fn key_files_round_trip_and_loose_permissions_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let secret = dir.path().join("venue.key");
    let public = dir.path().join("venue.pub");
    let key = SigningKey::generate().expect("random");
    key.write_pair(&secret, &public).expect("write");
    let mode = std::fs::metadata(&secret)
        .expect("stat")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let loaded = SigningKey::load(&secret).expect("load");
    assert_eq!(loaded.public_key(), key.public_key());
    assert_eq!(
        arbiter_journal::PublicKey::load(&public).expect("public"),
        key.public_key()
    );
    assert!(
        key.write_pair(&secret, &public).is_err(),
        "never overwrites"
    );
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    match SigningKey::load(&secret) {
        Err(JournalError::Key { reason, .. }) => assert!(reason.contains("chmod 600")),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn enabling_signing_on_an_existing_journal_signs_its_seals_at_open() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut writer, _) = Journal::open(dir.path(), config(SEGMENT_BYTES)).expect("open");
    append_to(&mut writer, 400);
    writer.close().expect("close");
    let mut signed = config(SEGMENT_BYTES);
    signed.signing_key = Some(key());
    let (writer, report) = Journal::open(dir.path(), signed).expect("reopen");
    assert!(report.checkpoints_signed_at_open > 0);
    writer.close().expect("close");
    let verified = verify_signed(dir.path(), &key().public_key(), None).expect("verify");
    assert!(verified.is_ok(), "{:?}", verified.first_problem);
    assert_eq!(verified.unsigned_seals, 0);
}
