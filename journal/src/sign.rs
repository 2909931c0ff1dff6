//! Signed checkpoints: every seal's chain head, signed with the venue's Ed25519 key.
//!
//! The hash chain makes a change detectable only if the verifier trusts the last hash:
//! someone who can write the files can rewrite a record and re-chain every seal after it.
//! A checkpoint binds a seal's position, sequence and chain hash to a key the attacker does
//! not have, so [`crate::verify_signed`] finds the first rewritten block.
//!
//! # Where signing happens
//! Never on the append path. The [`crate::Flusher`], after each flush, walks the frames it
//! just made durable, signs every seal it passes (at most [`SIGNATURES_PER_ROUND_MAX`]
//! per round, about 20 µs each) and appends one [`CHECKPOINT_LEN`]-byte record per seal
//! to `<journal>/`[`CHECKPOINT_FILE_NAME`] (and to the anchor file, if configured).
//! [`crate::Writer::close`] signs what is left after its final seal. Only durable seals
//! are signed, so a power cut never leaves a checkpoint for a seal recovery cuts away.
//! The checkpoint file is written without fsync on every round (it is fsynced at close);
//! checkpoints lost to a power cut are signed again at the next open ("catch-up").
//!
//! # Checkpoint record (little-endian, [`CHECKPOINT_LEN`] bytes)
//! ```text
//! 0   identity       [u8; 16]  the journal's identity
//! 16  segment_first  u64       first sequence of the seal's segment (its file name)
//! 24  seal_offset    u64       offset of the seal frame in that segment
//! 32  sequence       u64       the seal's sequence (last user record it covers)
//! 40  chain_hash     [u8; 32]  the seal's hash: BLAKE3 chain head after this block
//! 72  signature      [u8; 64]  Ed25519 over CHECKPOINT_DOMAIN ‖ bytes [0, 72)
//! 136 crc32c         u32       over bytes [0, 136): tells a torn append from a forgery
//! 140 reserved       u32       zero
//! ```
//! Checkpoints appear in the file in the journal's seal order, one per seal, no gaps.
//!
//! # Key files
//! Secret: the 32-byte Ed25519 seed as 64 hex digits (one line), or the raw 32 bytes.
//! It must be a regular file readable by its owner only (mode `0600` or `0400`), or
//! [`SigningKey::load`] refuses it. Public: the 32-byte verifying key as 64 hex digits.
//! `arbiter-replay keygen` writes both.
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use ed25519_dalek::{Signature, Signer as _, Verifier as _};

use crate::error::{CorruptionKind, JournalError};
use crate::layout::{align_up, RECORD_HEADER_LEN, RECORD_TYPE_OFFSET, SEGMENT_HEADER_LEN};
use crate::reader::open_read_segment;
use crate::scan::{corruption, list_segments, SealFields};
use crate::segment::{read_frame, read_header, Frame, SegmentMap};
use crate::types::{JournalId, RecordType, Sequence};
use crate::writer::unpack_position;

/// Name of the checkpoint file inside the journal directory.
pub const CHECKPOINT_FILE_NAME: &str = "checkpoints.sig";
/// Bytes of one checkpoint record.
pub const CHECKPOINT_LEN: usize = 144;
/// Offset of the journal identity.
pub const CHECKPOINT_IDENTITY_OFFSET: usize = 0;
/// Offset of the seal's segment first sequence.
pub const CHECKPOINT_SEGMENT_FIRST_OFFSET: usize = 16;
/// Offset of the seal's offset in its segment.
pub const CHECKPOINT_SEAL_OFFSET_OFFSET: usize = 24;
/// Offset of the seal's sequence.
pub const CHECKPOINT_SEQUENCE_OFFSET: usize = 32;
/// Offset of the chain hash.
pub const CHECKPOINT_HASH_OFFSET: usize = 40;
/// Offset of the signature; the signed bytes are `[0, CHECKPOINT_SIGNATURE_OFFSET)`.
pub const CHECKPOINT_SIGNATURE_OFFSET: usize = 72;
/// Offset of the CRC32C over `[0, CHECKPOINT_CRC_OFFSET)`.
pub const CHECKPOINT_CRC_OFFSET: usize = 136;
/// Domain separation: a checkpoint signature can never be mistaken for another message
/// signed with the same key.
pub const CHECKPOINT_DOMAIN: &[u8] = b"arbiter-journal-checkpoint-v1\0";
/// Most seals the flusher signs per round: bounds how long one round delays the next
/// flush (about 20 µs per signature); the rest waits for the next round.
pub const SIGNATURES_PER_ROUND_MAX: u32 = 4;

const _: () = assert!(CHECKPOINT_HASH_OFFSET + 32 == CHECKPOINT_SIGNATURE_OFFSET);
const _: () = assert!(CHECKPOINT_SIGNATURE_OFFSET + 64 == CHECKPOINT_CRC_OFFSET);
const _: () = assert!(CHECKPOINT_CRC_OFFSET + 8 == CHECKPOINT_LEN);
const _: () = assert!(CHECKPOINT_LEN % 8 == 0);

/// The venue's secret signing key. `Debug` never prints it.
#[derive(Clone)]
pub struct SigningKey(ed25519_dalek::SigningKey);

impl core::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "SigningKey(public {})", self.public_key())
    }
}

/// The public half: what auditors verify with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PublicKey(ed25519_dalek::VerifyingKey);

impl core::fmt::Display for PublicKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(&hex(self.0.as_bytes()))
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn parse_hex32(text: &str) -> Option<[u8; 32]> {
    let text = text.trim();
    if text.len() != 64 || !text.is_ascii() {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

fn key_error(path: &Path, reason: &'static str) -> JournalError {
    JournalError::Key {
        path: path.to_path_buf(),
        reason,
    }
}

impl SigningKey {
    /// A key from its 32-byte seed.
    #[must_use]
    pub fn from_seed(seed: [u8; 32]) -> SigningKey {
        SigningKey(ed25519_dalek::SigningKey::from_bytes(&seed))
    }

    /// A fresh key from the operating system's random source (`/dev/urandom`).
    ///
    /// # Errors
    /// [`JournalError::Io`] when the random source cannot be read.
    pub fn generate() -> Result<SigningKey, JournalError> {
        let path = Path::new("/dev/urandom");
        let mut seed = [0u8; 32];
        File::open(path)
            .and_then(|mut f| f.read_exact(&mut seed))
            .map_err(|e| JournalError::io("read random seed from", path, e))?;
        let key = SigningKey::from_seed(seed);
        seed.fill(0);
        Ok(key)
    }

    /// Loads a secret key file (64 hex digits or 32 raw bytes).
    ///
    /// # Errors
    /// [`JournalError::Key`] when the file is not a regular file, can be read or written by
    /// group or others (mode must be `0600` or `0400`), or is not a key; I/O errors.
    pub fn load(path: &Path) -> Result<SigningKey, JournalError> {
        let metadata =
            std::fs::metadata(path).map_err(|e| JournalError::io("read signing key", path, e))?;
        if !metadata.is_file() {
            return Err(key_error(path, "not a regular file"));
        }
        if metadata.mode() & 0o077 != 0 {
            return Err(key_error(
                path,
                "readable or writable by group or others: run `chmod 600` on it (mode must be 0600 or 0400)",
            ));
        }
        let bytes =
            std::fs::read(path).map_err(|e| JournalError::io("read signing key", path, e))?;
        let seed = if bytes.len() == 32 {
            let mut seed = [0u8; 32];
            seed.copy_from_slice(&bytes);
            seed
        } else {
            std::str::from_utf8(&bytes)
                .ok()
                .and_then(parse_hex32)
                .ok_or_else(|| key_error(path, "not 64 hex digits or 32 raw bytes"))?
        };
        Ok(SigningKey::from_seed(seed))
    }

    /// Writes the secret key (hex, mode `0600`, refusing to overwrite) and the public key
    /// (hex) next to it.
    ///
    /// # Errors
    /// I/O errors, including when either file exists.
    pub fn write_pair(&self, secret_path: &Path, public_path: &Path) -> Result<(), JournalError> {
        let mut secret = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(secret_path)
            .map_err(|e| JournalError::io("create signing key", secret_path, e))?;
        writeln!(secret, "{}", hex(self.0.as_bytes()))
            .and_then(|()| secret.sync_all())
            .map_err(|e| JournalError::io("write signing key", secret_path, e))?;
        let mut public = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o644)
            .open(public_path)
            .map_err(|e| JournalError::io("create public key", public_path, e))?;
        writeln!(public, "{}", self.public_key())
            .and_then(|()| public.sync_all())
            .map_err(|e| JournalError::io("write public key", public_path, e))
    }

    /// The public half.
    #[must_use]
    pub fn public_key(&self) -> PublicKey {
        PublicKey(self.0.verifying_key())
    }

    fn sign(&self, record: &mut [u8; CHECKPOINT_LEN]) {
        let signature = self.0.sign(&signed_message(record));
        record[CHECKPOINT_SIGNATURE_OFFSET..CHECKPOINT_CRC_OFFSET]
            .copy_from_slice(&signature.to_bytes());
        let crc = crc32c::crc32c(&record[..CHECKPOINT_CRC_OFFSET]);
        record[CHECKPOINT_CRC_OFFSET..CHECKPOINT_CRC_OFFSET + 4]
            .copy_from_slice(&crc.to_le_bytes());
    }
}

impl PublicKey {
    /// Parses 64 hex digits.
    #[must_use]
    pub fn from_hex(text: &str) -> Option<PublicKey> {
        let bytes = parse_hex32(text)?;
        ed25519_dalek::VerifyingKey::from_bytes(&bytes)
            .ok()
            .map(PublicKey)
    }

    /// Loads a public key file (64 hex digits).
    ///
    /// # Errors
    /// [`JournalError::Key`] when it is not a key; I/O errors.
    pub fn load(path: &Path) -> Result<PublicKey, JournalError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| JournalError::io("read public key", path, e))?;
        PublicKey::from_hex(&text).ok_or_else(|| key_error(path, "not a 64-hex-digit Ed25519 key"))
    }

    /// Whether the checkpoint's signature is this key's.
    #[must_use]
    pub fn verifies(&self, checkpoint: &Checkpoint) -> bool {
        let signature = Signature::from_bytes(&checkpoint.signature);
        self.0
            .verify(&signed_message(&checkpoint.encode_unsigned()), &signature)
            .is_ok()
    }
}

fn signed_message(record: &[u8; CHECKPOINT_LEN]) -> [u8; CHECKPOINT_DOMAIN.len() + 72] {
    let mut message = [0u8; CHECKPOINT_DOMAIN.len() + 72];
    message[..CHECKPOINT_DOMAIN.len()].copy_from_slice(CHECKPOINT_DOMAIN);
    message[CHECKPOINT_DOMAIN.len()..].copy_from_slice(&record[..CHECKPOINT_SIGNATURE_OFFSET]);
    message
}

/// One signed checkpoint as stored in the checkpoint file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Checkpoint {
    /// The journal's identity.
    pub identity: JournalId,
    /// First sequence of the seal's segment.
    pub segment_first: u64,
    /// Offset of the seal frame in its segment.
    pub seal_offset: u64,
    /// The seal's sequence.
    pub sequence: Sequence,
    /// The chain head after the sealed block.
    pub hash: [u8; 32],
    /// Ed25519 signature over [`CHECKPOINT_DOMAIN`] and the fields above.
    pub signature: [u8; 64],
}

impl Checkpoint {
    fn encode_unsigned(&self) -> [u8; CHECKPOINT_LEN] {
        let mut record = [0u8; CHECKPOINT_LEN];
        record[CHECKPOINT_IDENTITY_OFFSET..CHECKPOINT_IDENTITY_OFFSET + 16]
            .copy_from_slice(&self.identity.0);
        record[CHECKPOINT_SEGMENT_FIRST_OFFSET..CHECKPOINT_SEGMENT_FIRST_OFFSET + 8]
            .copy_from_slice(&self.segment_first.to_le_bytes());
        record[CHECKPOINT_SEAL_OFFSET_OFFSET..CHECKPOINT_SEAL_OFFSET_OFFSET + 8]
            .copy_from_slice(&self.seal_offset.to_le_bytes());
        record[CHECKPOINT_SEQUENCE_OFFSET..CHECKPOINT_SEQUENCE_OFFSET + 8]
            .copy_from_slice(&self.sequence.0.to_le_bytes());
        record[CHECKPOINT_HASH_OFFSET..CHECKPOINT_HASH_OFFSET + 32].copy_from_slice(&self.hash);
        record
    }

    /// Decodes one record; `None` when its CRC or reserved word is wrong.
    #[must_use]
    pub fn decode(record: &[u8; CHECKPOINT_LEN]) -> Option<Checkpoint> {
        let u64_at = |at: usize| {
            let mut word = [0u8; 8];
            word.copy_from_slice(&record[at..at + 8]);
            u64::from_le_bytes(word)
        };
        let mut crc = [0u8; 4];
        crc.copy_from_slice(&record[CHECKPOINT_CRC_OFFSET..CHECKPOINT_CRC_OFFSET + 4]);
        if u32::from_le_bytes(crc) != crc32c::crc32c(&record[..CHECKPOINT_CRC_OFFSET])
            || record[CHECKPOINT_CRC_OFFSET + 4..].iter().any(|b| *b != 0)
        {
            return None;
        }
        let mut identity = [0u8; 16];
        identity.copy_from_slice(&record[..16]);
        let mut hash = [0u8; 32];
        hash.copy_from_slice(&record[CHECKPOINT_HASH_OFFSET..CHECKPOINT_SIGNATURE_OFFSET]);
        let mut signature = [0u8; 64];
        signature.copy_from_slice(&record[CHECKPOINT_SIGNATURE_OFFSET..CHECKPOINT_CRC_OFFSET]);
        Some(Checkpoint {
            identity: JournalId(identity),
            segment_first: u64_at(CHECKPOINT_SEGMENT_FIRST_OFFSET),
            seal_offset: u64_at(CHECKPOINT_SEAL_OFFSET_OFFSET),
            sequence: Sequence(u64_at(CHECKPOINT_SEQUENCE_OFFSET)),
            hash,
            signature,
        })
    }

    /// Whether this checkpoint names the seal `(segment_first, offset, sequence, hash)`.
    #[must_use]
    pub(crate) fn names(
        &self,
        segment_first: u64,
        offset: usize,
        sequence: u64,
        hash: &[u8; 32],
    ) -> bool {
        self.segment_first == segment_first
            && self.seal_offset == offset as u64
            && self.sequence.0 == sequence
            && self.hash == *hash
    }
}

/// The checkpoints of a file, in order, and how many trailing bytes are a torn append.
///
/// # Errors
/// [`JournalError::Corrupt`] (kind [`CorruptionKind::CheckpointFile`]) when a whole record
/// in the middle fails its CRC; I/O errors. A missing file is an empty list.
pub fn read_checkpoints(path: &Path) -> Result<(Vec<Checkpoint>, u64), JournalError> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((Vec::new(), 0)),
        Err(e) => return Err(JournalError::io("read checkpoints", path, e)),
    };
    let whole = bytes.len() / CHECKPOINT_LEN;
    let mut checkpoints = Vec::with_capacity(whole);
    for (index, chunk) in bytes.chunks_exact(CHECKPOINT_LEN).enumerate() {
        let mut record = [0u8; CHECKPOINT_LEN];
        record.copy_from_slice(chunk);
        match Checkpoint::decode(&record) {
            Some(checkpoint) => checkpoints.push(checkpoint),
            None => {
                return Err(JournalError::Corrupt(Box::new(corruption(
                    path,
                    index * CHECKPOINT_LEN,
                    0,
                    CorruptionKind::CheckpointFile("checkpoint record CRC mismatch"),
                ))));
            }
        }
    }
    Ok((checkpoints, (bytes.len() % CHECKPOINT_LEN) as u64))
}

/// The signing side, shared by the flusher and the writer's `close` (behind a mutex that
/// only they take, never the append path).
#[derive(Debug)]
pub(crate) struct CheckpointSigner {
    key: SigningKey,
    identity: JournalId,
    file: File,
    file_path: PathBuf,
    anchor: Option<(File, PathBuf)>,
    segment: Arc<SegmentMap>,
    ordinal: u64,
    segment_first: u64,
    offset: usize,
    signed: u64,
    last_signed_sequence: u64,
}

/// What [`CheckpointSigner::open`] did before the writer started.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct CatchUp {
    /// Seals found on disk without a checkpoint and signed now.
    pub(crate) signed: u64,
    /// Torn bytes cut from the end of the checkpoint file.
    pub(crate) torn_bytes: u64,
}

fn open_append(path: &Path) -> Result<File, JournalError> {
    OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o644)
        .open(path)
        .map_err(|e| JournalError::io("open checkpoint file", path, e))
}

/// One seal found on disk: its offset, sequence and payload.
type DiskSeal = (usize, u64, SealFields);

/// Seals of a segment file on disk, in order, and the segment's first sequence.
fn seals_on_disk(path: &Path) -> Result<(u64, Vec<DiskSeal>), JournalError> {
    let segment = open_read_segment(path)?;
    let base = segment.map_base();
    let mut seals = Vec::new();
    let mut offset = SEGMENT_HEADER_LEN;
    // SAFETY: the mapping lives for the loop; committed frames are immutable.
    while let Frame::Record {
        header,
        payload,
        aligned_len,
    } = unsafe { read_frame(base, segment.len, offset) }
    {
        if header.record_type.get() == RecordType::SEAL.0 {
            if let Some(fields) = SealFields::parse(payload) {
                seals.push((offset, header.sequence.get(), fields));
            }
        }
        offset += aligned_len;
    }
    Ok((segment.first_sequence, seals))
}

impl CheckpointSigner {
    /// Opens the checkpoint file after recovery, checks that its last checkpoint still names
    /// a seal of this journal signed by this key, and signs the seals found after it
    /// (catch-up). The live cursor then starts at `offset` of the writer's current segment.
    ///
    /// # Errors
    /// [`JournalError::Checkpoint`] when the last checkpoint does not match the journal (a
    /// rewritten or truncated journal, or another key): the daemon refuses to re-sign it.
    pub(crate) fn open(
        dir: &Path,
        identity: JournalId,
        key: SigningKey,
        anchor_path: Option<&Path>,
        segment: Arc<SegmentMap>,
        segment_first: u64,
        offset: usize,
    ) -> Result<(CheckpointSigner, CatchUp), JournalError> {
        let file_path = dir.join(CHECKPOINT_FILE_NAME);
        let (checkpoints, torn_bytes) = read_checkpoints(&file_path)?;
        let file = open_append(&file_path)?;
        if torn_bytes > 0 {
            let len = (checkpoints.len() * CHECKPOINT_LEN) as u64;
            file.set_len(len)
                .map_err(|e| JournalError::io("cut torn checkpoint", &file_path, e))?;
        }
        let anchor = match anchor_path {
            Some(path) => Some((open_append(path)?, path.to_path_buf())),
            None => None,
        };
        let mut signer = CheckpointSigner {
            key,
            identity,
            file,
            file_path,
            anchor,
            segment,
            ordinal: 0,
            segment_first,
            offset,
            signed: checkpoints.len() as u64,
            last_signed_sequence: checkpoints.last().map_or(0, |c| c.sequence.0),
        };
        let refuse = |reason: &'static str| JournalError::Checkpoint {
            path: dir.join(CHECKPOINT_FILE_NAME),
            reason,
        };
        let last = checkpoints.last().copied();
        if let Some(last) = &last {
            if last.identity != identity {
                return Err(refuse("the last checkpoint belongs to another journal"));
            }
            if !signer.key.public_key().verifies(last) {
                return Err(refuse(
                    "the last checkpoint is not signed by this key (key rotated? see docs/security.md)",
                ));
            }
        }
        let mut catch_up = CatchUp {
            signed: 0,
            torn_bytes,
        };
        let mut found_last = last.is_none();
        for (first, path) in list_segments(dir)? {
            if last.is_some_and(|l| first < l.segment_first) {
                continue;
            }
            let (first_sequence, seals) = seals_on_disk(&path)?;
            for (seal_offset, sequence, fields) in seals {
                if !found_last {
                    let last = last.expect("checked");
                    let position = (first_sequence, seal_offset as u64);
                    if position < (last.segment_first, last.seal_offset) {
                        continue;
                    }
                    if !last.names(first_sequence, seal_offset, sequence, &fields.hash) {
                        return Err(refuse(
                            "the last checkpoint names a seal this journal does not have: the journal was rewritten or truncated; run `arbiter-replay verify --public-key` before restarting",
                        ));
                    }
                    found_last = true;
                    continue;
                }
                signer.append(first_sequence, seal_offset, sequence, &fields.hash)?;
                catch_up.signed += 1;
            }
        }
        if !found_last {
            return Err(refuse(
                "the last checkpoint names a seal beyond the end of the journal: the journal was truncated; run `arbiter-replay verify --public-key` before restarting",
            ));
        }
        signer.sync()?;
        Ok((signer, catch_up))
    }

    /// Checkpoints signed so far (including those found in the file).
    pub(crate) fn signed(&self) -> u64 {
        self.signed
    }

    /// Sequence of the last signed seal (0: none).
    pub(crate) fn last_signed_sequence(&self) -> u64 {
        self.last_signed_sequence
    }

    fn append(
        &mut self,
        segment_first: u64,
        seal_offset: usize,
        sequence: u64,
        hash: &[u8; 32],
    ) -> Result<(), JournalError> {
        let checkpoint = Checkpoint {
            identity: self.identity,
            segment_first,
            seal_offset: seal_offset as u64,
            sequence: Sequence(sequence),
            hash: *hash,
            signature: [0; 64],
        };
        let mut record = checkpoint.encode_unsigned();
        self.key.sign(&mut record);
        debug_assert!(Checkpoint::decode(&record).is_some());
        self.file
            .write_all(&record)
            .map_err(|e| JournalError::io("append checkpoint", &self.file_path, e))?;
        if let Some((file, path)) = self.anchor.as_mut() {
            file.write_all(&record)
                .map_err(|e| JournalError::io("append anchor", path.as_path(), e))?;
        }
        self.signed += 1;
        self.last_signed_sequence = sequence;
        Ok(())
    }

    /// fsyncs the checkpoint and anchor files.
    pub(crate) fn sync(&mut self) -> Result<(), JournalError> {
        self.file
            .sync_data()
            .map_err(|e| JournalError::io("fsync checkpoints", &self.file_path, e))?;
        if let Some((file, path)) = self.anchor.as_mut() {
            file.sync_data()
                .map_err(|e| JournalError::io("fsync anchor", path.as_path(), e))?;
        }
        Ok(())
    }

    /// Signs the seals below the durable `position` (packed ordinal and offset), at most
    /// `budget` of them. Walks frame headers only; returns the seals signed.
    pub(crate) fn sign_to(&mut self, position: u64, budget: u32) -> Result<u32, JournalError> {
        let (ordinal_limit, offset_limit) = unpack_position(position);
        let mut signed = 0;
        while signed < budget && self.ordinal <= ordinal_limit {
            let limit = if self.ordinal < ordinal_limit {
                let end = self.segment.end_offset.load(Ordering::Acquire);
                debug_assert_ne!(end, u64::MAX);
                usize::try_from(end).unwrap_or(0)
            } else {
                offset_limit
            };
            let base = self.segment.map.as_ptr();
            while signed < budget && self.offset + RECORD_HEADER_LEN <= limit {
                // SAFETY: below the writer's published (and flushed) position: committed
                // frames that are never written again.
                let header = unsafe {
                    core::slice::from_raw_parts(base.add(self.offset), RECORD_HEADER_LEN)
                };
                let frame_length =
                    u32::from_le_bytes(header[0..4].try_into().unwrap_or_default()) as usize;
                let record_type = u16::from_le_bytes(
                    header[RECORD_TYPE_OFFSET..RECORD_TYPE_OFFSET + 2]
                        .try_into()
                        .unwrap_or_default(),
                );
                let aligned = align_up(frame_length);
                debug_assert!(frame_length >= RECORD_HEADER_LEN);
                if frame_length < RECORD_HEADER_LEN || self.offset + aligned > limit {
                    break;
                }
                if record_type == RecordType::SEAL.0 {
                    // SAFETY: as above.
                    let payload = unsafe {
                        core::slice::from_raw_parts(
                            base.add(self.offset + RECORD_HEADER_LEN),
                            frame_length - RECORD_HEADER_LEN,
                        )
                    };
                    let sequence = u64::from_le_bytes(header[8..16].try_into().unwrap_or_default());
                    if let Some(fields) = SealFields::parse(payload) {
                        let offset = self.offset;
                        self.append(self.segment_first, offset, sequence, &fields.hash)?;
                        signed += 1;
                    }
                }
                self.offset += aligned;
            }
            if self.ordinal == ordinal_limit || self.offset + RECORD_HEADER_LEN <= limit {
                break;
            }
            // The writer left this segment; follow it to the next one.
            let Some(next) = self.segment.next.get().map(Arc::clone) else {
                break;
            };
            // SAFETY: the writer wrote the header before publishing a position in it.
            let Some(header) = (unsafe { read_header(next.map.as_ptr(), next.size) }) else {
                break;
            };
            self.segment = next;
            self.ordinal += 1;
            self.segment_first = header.first_sequence.get();
            self.offset = SEGMENT_HEADER_LEN;
        }
        Ok(signed)
    }
}
