//! Sequence numbers and sent application messages of a session, surviving restarts.
//!
//! Only application messages are stored: a resend replaces every administrative
//! message (and anything missing) by SequenceReset-GapFill, so storing them would buy
//! nothing.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// Error of a message store.
#[derive(Debug)]
#[non_exhaustive]
pub enum StoreError {
    /// An I/O operation failed.
    Io(std::io::Error),
}

impl core::fmt::Display for StoreError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            StoreError::Io(e) => write!(f, "message store I/O: {e}"),
        }
    }
}

impl std::error::Error for StoreError {}

impl From<std::io::Error> for StoreError {
    fn from(e: std::io::Error) -> Self {
        StoreError::Io(e)
    }
}

/// Persistence of one session's sequence numbers and sent application messages.
pub trait MessageStore {
    /// MsgSeqNum of the next message we send.
    fn next_sender_seq(&self) -> u64;
    /// MsgSeqNum we expect next from the counterparty.
    fn next_target_seq(&self) -> u64;
    /// Sets the next outbound sequence number.
    ///
    /// # Errors
    /// Persisting failed.
    fn set_next_sender_seq(&mut self, seq: u64) -> Result<(), StoreError>;
    /// Sets the next expected inbound sequence number.
    ///
    /// # Errors
    /// Persisting failed.
    fn set_next_target_seq(&mut self, seq: u64) -> Result<(), StoreError>;
    /// Stores sent message `bytes` under `seq`; must be durable (at least written to
    /// the OS) before the bytes are handed to the socket.
    ///
    /// # Errors
    /// Persisting failed.
    fn store(&mut self, seq: u64, bytes: &[u8]) -> Result<(), StoreError>;
    /// Copies stored message `seq` into `out` (cleared first); false if none.
    ///
    /// # Errors
    /// Reading failed.
    fn get(&mut self, seq: u64, out: &mut Vec<u8>) -> Result<bool, StoreError>;
    /// When the current sequence started (ns since epoch), for daily resets.
    fn creation_time_ns(&self) -> u64;
    /// Forgets everything: both sequence numbers back to 1, new creation time.
    ///
    /// # Errors
    /// Persisting failed.
    fn reset(&mut self, now_ns: u64) -> Result<(), StoreError>;
    /// Keeps a password hash set by NewPassword (925): `current` replaces `configured`, the
    /// hash in the configuration. Only hashes (PHC strings) ever reach a store. A credential
    /// survives [`MessageStore::reset`]: sequence resets are not password resets.
    ///
    /// # Errors
    /// Persisting failed; the change must then be refused.
    fn save_credential(&mut self, _configured: &str, _current: &str) -> Result<(), StoreError> {
        Err(StoreError::Io(std::io::Error::new(
            std::io::ErrorKind::Unsupported,
            "this store does not keep credentials",
        )))
    }
    /// The last saved `(configured, current)` hash pair, if any.
    fn load_credential(&self) -> Option<(String, String)> {
        None
    }
}

/// In-memory store for tests and for sessions that need no persistence.
#[derive(Debug, Default)]
pub struct MemoryStore {
    sender: u64,
    target: u64,
    creation_ns: u64,
    messages: BTreeMap<u64, Vec<u8>>,
    credential: Option<(String, String)>,
}

impl MemoryStore {
    /// A fresh store with both sequence numbers at 1.
    #[must_use]
    pub fn new(now_ns: u64) -> Self {
        MemoryStore {
            sender: 1,
            target: 1,
            creation_ns: now_ns,
            messages: BTreeMap::new(),
            credential: None,
        }
    }
}

impl MessageStore for MemoryStore {
    fn next_sender_seq(&self) -> u64 {
        self.sender.max(1)
    }
    fn next_target_seq(&self) -> u64 {
        self.target.max(1)
    }
    fn set_next_sender_seq(&mut self, seq: u64) -> Result<(), StoreError> {
        self.sender = seq;
        Ok(())
    }
    fn set_next_target_seq(&mut self, seq: u64) -> Result<(), StoreError> {
        self.target = seq;
        Ok(())
    }
    fn store(&mut self, seq: u64, bytes: &[u8]) -> Result<(), StoreError> {
        self.messages.insert(seq, bytes.to_vec());
        Ok(())
    }
    fn get(&mut self, seq: u64, out: &mut Vec<u8>) -> Result<bool, StoreError> {
        out.clear();
        match self.messages.get(&seq) {
            Some(bytes) => {
                out.extend_from_slice(bytes);
                Ok(true)
            }
            None => Ok(false),
        }
    }
    fn creation_time_ns(&self) -> u64 {
        self.creation_ns
    }
    fn reset(&mut self, now_ns: u64) -> Result<(), StoreError> {
        let credential = self.credential.take();
        *self = MemoryStore::new(now_ns);
        self.credential = credential;
        Ok(())
    }
    fn save_credential(&mut self, configured: &str, current: &str) -> Result<(), StoreError> {
        self.credential = Some((configured.to_owned(), current.to_owned()));
        Ok(())
    }
    fn load_credential(&self) -> Option<(String, String)> {
        self.credential.clone()
    }
}

/// File-backed store: `<name>.body` is an append-only log of
/// `[seq u64 LE][len u32 LE][hash u32 LE][bytes]` records; `<name>.seqnums` holds two
/// 40-byte slots `[generation][sender][target][creation_ns][hash u32][pad]`, written
/// alternately so that a torn write leaves the other slot intact.
///
/// Every write goes through write(2) before the message reaches the socket, so a
/// `kill -9` loses nothing; with `sync` set each write is also fsynced (power loss).
/// On open, a torn tail of the body log (short or hash-mismatched record) is
/// truncated, and the next sender sequence number is at least one past the last
/// stored message.
#[derive(Debug)]
pub struct FileStore {
    body: File,
    seqnums: File,
    body_len: u64,
    index: BTreeMap<u64, (u64, u32)>,
    generation: u64,
    sender: u64,
    target: u64,
    creation_ns: u64,
    sync: bool,
    path_body: PathBuf,
    path_seqnums: PathBuf,
}

const SLOT_LEN: u64 = 40;
const RECORD_HEADER_LEN: u64 = 16;
/// Largest message the body log accepts; bigger lengths on read mean corruption.
const RECORD_BYTES_MAX: u32 = 1 << 20;

fn fnv1a(parts: &[&[u8]]) -> u32 {
    let mut hash: u32 = 0x811c_9dc5;
    for part in parts {
        for &b in *part {
            hash ^= u32::from(b);
            hash = hash.wrapping_mul(0x0100_0193);
        }
    }
    hash
}

fn le_u64(bytes: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&bytes[..8]);
    u64::from_le_bytes(a)
}

fn le_u32(bytes: &[u8]) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&bytes[..4]);
    u32::from_le_bytes(a)
}

impl FileStore {
    /// Opens or creates the store files `<dir>/<name>.body` and `<dir>/<name>.seqnums`.
    ///
    /// # Errors
    /// Files cannot be opened, read or repaired.
    pub fn open(dir: &Path, name: &str, sync: bool, now_ns: u64) -> Result<Self, StoreError> {
        let path_body = dir.join(format!("{name}.body"));
        let path_seqnums = dir.join(format!("{name}.seqnums"));
        let mut body = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(&path_body)?;
        let seqnums = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path_seqnums)?;
        let mut store = FileStore {
            body: body.try_clone()?,
            seqnums,
            body_len: 0,
            index: BTreeMap::new(),
            generation: 0,
            sender: 1,
            target: 1,
            creation_ns: now_ns,
            sync,
            path_body,
            path_seqnums,
        };
        // Seqnums: newest valid slot wins.
        let mut slots = vec![0u8; (SLOT_LEN * 2) as usize];
        let read = store.seqnums.read_at(&mut slots, 0)?;
        let mut found = false;
        for slot in slots[..read].chunks_exact(SLOT_LEN as usize) {
            let hash = le_u32(&slot[32..36]);
            if hash != fnv1a(&[&slot[..32]]) {
                continue;
            }
            let generation = le_u64(&slot[0..8]);
            if !found || generation > store.generation {
                found = true;
                store.generation = generation;
                store.sender = le_u64(&slot[8..16]).max(1);
                store.target = le_u64(&slot[16..24]).max(1);
                store.creation_ns = le_u64(&slot[24..32]);
            }
        }
        // Body log: index whole records, truncate a torn tail.
        let mut data = Vec::new();
        body.seek(SeekFrom::Start(0))?;
        body.read_to_end(&mut data)?;
        let mut offset = 0u64;
        while offset + RECORD_HEADER_LEN <= data.len() as u64 {
            let header = &data[offset as usize..(offset + RECORD_HEADER_LEN) as usize];
            let seq = le_u64(&header[0..8]);
            let len = le_u32(&header[8..12]);
            let hash = le_u32(&header[12..16]);
            let end = offset + RECORD_HEADER_LEN + u64::from(len);
            if len > RECORD_BYTES_MAX || end > data.len() as u64 {
                break;
            }
            let payload = &data[(offset + RECORD_HEADER_LEN) as usize..end as usize];
            if fnv1a(&[&header[0..12], payload]) != hash {
                break;
            }
            store.index.insert(seq, (offset + RECORD_HEADER_LEN, len));
            offset = end;
        }
        if offset != data.len() as u64 {
            store.body.set_len(offset)?;
        }
        store.body_len = offset;
        if let Some((&last, _)) = store.index.iter().next_back() {
            store.sender = store.sender.max(last + 1);
        }
        if !found {
            store.write_seqnums()?;
        }
        Ok(store)
    }

    fn write_seqnums(&mut self) -> Result<(), StoreError> {
        self.generation += 1;
        let mut slot = [0u8; SLOT_LEN as usize];
        slot[0..8].copy_from_slice(&self.generation.to_le_bytes());
        slot[8..16].copy_from_slice(&self.sender.to_le_bytes());
        slot[16..24].copy_from_slice(&self.target.to_le_bytes());
        slot[24..32].copy_from_slice(&self.creation_ns.to_le_bytes());
        let hash = fnv1a(&[&slot[..32]]);
        slot[32..36].copy_from_slice(&hash.to_le_bytes());
        self.seqnums
            .write_all_at(&slot, (self.generation % 2) * SLOT_LEN)?;
        if self.sync {
            self.seqnums.sync_data()?;
        }
        Ok(())
    }

    fn path_credential(&self) -> PathBuf {
        self.path_body.with_extension("credential")
    }

    /// Paths of the two files (body log, seqnums).
    #[must_use]
    pub fn paths(&self) -> (&Path, &Path) {
        (&self.path_body, &self.path_seqnums)
    }
}

impl MessageStore for FileStore {
    fn next_sender_seq(&self) -> u64 {
        self.sender
    }
    fn next_target_seq(&self) -> u64 {
        self.target
    }
    fn set_next_sender_seq(&mut self, seq: u64) -> Result<(), StoreError> {
        self.sender = seq;
        self.write_seqnums()
    }
    fn set_next_target_seq(&mut self, seq: u64) -> Result<(), StoreError> {
        self.target = seq;
        self.write_seqnums()
    }
    fn store(&mut self, seq: u64, bytes: &[u8]) -> Result<(), StoreError> {
        let len = u32::try_from(bytes.len())
            .ok()
            .filter(|&l| l <= RECORD_BYTES_MAX)
            .ok_or_else(|| std::io::Error::other("message too large for store"))?;
        let mut header = [0u8; RECORD_HEADER_LEN as usize];
        header[0..8].copy_from_slice(&seq.to_le_bytes());
        header[8..12].copy_from_slice(&len.to_le_bytes());
        let hash = fnv1a(&[&header[0..12], bytes]);
        header[12..16].copy_from_slice(&hash.to_le_bytes());
        // One write(2) per record keeps a torn record at the tail only.
        let mut record = Vec::with_capacity(header.len() + bytes.len());
        record.extend_from_slice(&header);
        record.extend_from_slice(bytes);
        self.body.write_all(&record)?;
        if self.sync {
            self.body.sync_data()?;
        }
        self.index
            .insert(seq, (self.body_len + RECORD_HEADER_LEN, len));
        self.body_len += record.len() as u64;
        Ok(())
    }
    fn get(&mut self, seq: u64, out: &mut Vec<u8>) -> Result<bool, StoreError> {
        out.clear();
        let Some(&(offset, len)) = self.index.get(&seq) else {
            return Ok(false);
        };
        out.resize(len as usize, 0);
        self.body.read_exact_at(out, offset)?;
        Ok(true)
    }
    fn creation_time_ns(&self) -> u64 {
        self.creation_ns
    }
    fn reset(&mut self, now_ns: u64) -> Result<(), StoreError> {
        self.body.set_len(0)?;
        self.body_len = 0;
        self.index.clear();
        self.sender = 1;
        self.target = 1;
        self.creation_ns = now_ns;
        self.write_seqnums()
    }
    /// `<name>.credential`: `arbiter-credential v1`, the configured hash, the current hash,
    /// one per line. Written to a temporary file (mode 0600), synced, renamed over the old
    /// one and the directory synced, so a crash leaves the old or the new pair, never a mix.
    fn save_credential(&mut self, configured: &str, current: &str) -> Result<(), StoreError> {
        use std::os::unix::fs::OpenOptionsExt;
        debug_assert!(!configured.contains('\n') && !current.contains('\n'));
        let path = self.path_credential();
        let temporary = path.with_extension("credential.tmp");
        let mut file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&temporary)?;
        write!(file, "{CREDENTIAL_HEADER}\n{configured}\n{current}\n")?;
        file.sync_all()?;
        drop(file);
        std::fs::rename(&temporary, &path)?;
        if let Some(dir) = path.parent() {
            File::open(dir)?.sync_all()?;
        }
        Ok(())
    }
    fn load_credential(&self) -> Option<(String, String)> {
        let text = std::fs::read_to_string(self.path_credential()).ok()?;
        let mut lines = text.lines();
        if lines.next() != Some(CREDENTIAL_HEADER) {
            return None;
        }
        let configured = lines.next()?.to_owned();
        let current = lines.next()?.to_owned();
        Some((configured, current))
    }
}

const CREDENTIAL_HEADER: &str = "arbiter-credential v1";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credential_survives_reopen_and_reset_with_owner_only_mode() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        {
            let mut s = FileStore::open(dir.path(), "FIX.4.4-A-B", false, 5).unwrap();
            assert_eq!(s.load_credential(), None);
            s.save_credential("$old", "$new1").unwrap();
            s.save_credential("$old", "$new2").unwrap();
            s.reset(6).unwrap();
        }
        let s = FileStore::open(dir.path(), "FIX.4.4-A-B", false, 7).unwrap();
        assert_eq!(
            s.load_credential(),
            Some(("$old".to_owned(), "$new2".to_owned()))
        );
        let path = dir.path().join("FIX.4.4-A-B.credential");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert!(!dir.path().join("FIX.4.4-A-B.credential.tmp").exists());
    }

    #[test]
    fn file_store_survives_reopen_and_torn_tail() {
        let dir = tempfile::tempdir().unwrap();
        {
            let mut s = FileStore::open(dir.path(), "S", false, 5).unwrap();
            assert_eq!((s.next_sender_seq(), s.next_target_seq()), (1, 1));
            s.store(1, b"one").unwrap();
            s.store(2, b"two").unwrap();
            s.set_next_sender_seq(3).unwrap();
            s.set_next_target_seq(7).unwrap();
        }
        // Torn tail: half a record.
        let body = dir.path().join("S.body");
        let mut f = OpenOptions::new().append(true).open(&body).unwrap();
        f.write_all(&[9, 0, 0, 0, 0, 0, 0, 0, 50]).unwrap();
        drop(f);
        let mut s = FileStore::open(dir.path(), "S", false, 99).unwrap();
        assert_eq!((s.next_sender_seq(), s.next_target_seq()), (3, 7));
        assert_eq!(s.creation_time_ns(), 5);
        let mut out = Vec::new();
        assert!(s.get(2, &mut out).unwrap());
        assert_eq!(out, b"two");
        assert!(!s.get(3, &mut out).unwrap());
        s.store(3, b"three").unwrap();
        drop(s);
        let mut s = FileStore::open(dir.path(), "S", true, 99).unwrap();
        // Sender seqnum not yet bumped on disk, but the stored message proves seq 3.
        assert_eq!(s.next_sender_seq(), 4);
        assert!(s.get(3, &mut out).unwrap());
        assert_eq!(out, b"three");
        s.reset(100).unwrap();
        drop(s);
        let s = FileStore::open(dir.path(), "S", false, 200).unwrap();
        assert_eq!((s.next_sender_seq(), s.next_target_seq()), (1, 1));
        assert_eq!(s.creation_time_ns(), 100);
    }

    #[test]
    fn corrupt_seqnum_slot_falls_back_to_other() {
        let dir = tempfile::tempdir().unwrap();
        {
            let mut s = FileStore::open(dir.path(), "S", false, 5).unwrap();
            s.set_next_target_seq(4).unwrap(); // generation 2, slot 0
            s.set_next_target_seq(5).unwrap(); // generation 3, slot 1
        }
        let f = OpenOptions::new()
            .write(true)
            .open(dir.path().join("S.seqnums"))
            .unwrap();
        f.write_all_at(&[0xff; 8], SLOT_LEN + 16).unwrap();
        drop(f);
        let s = FileStore::open(dir.path(), "S", false, 5).unwrap();
        assert_eq!(s.next_target_seq(), 4);
    }
}
