//! Newtypes for the quantities that cross the crate boundary.

/// Sequence number of a record; strictly `+1` from one record to the next.
///
/// `Sequence(0)` is never a record: it means "nothing" in cursors.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Sequence(pub u64);

impl Sequence {
    /// The sequence after this one.
    ///
    /// # Panics
    /// Panics on overflow (2^64 records is not a state this journal can reach).
    #[must_use]
    pub fn next(self) -> Sequence {
        Sequence(self.0.checked_add(1).expect("sequence overflow"))
    }
}

/// Timestamp in nanoseconds since the Unix epoch, stamped by the caller (the journal never
/// reads a clock on the append path, so replay is deterministic).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct TimestampNs(pub u64);

/// Record type chosen by the caller; the journal only stores it.
///
/// Types `>= RecordType::RESERVED_MIN` belong to the journal itself (block seals) and are
/// refused by [`crate::Writer::append`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RecordType(pub u16);

impl RecordType {
    /// First type reserved for the journal's own records.
    pub const RESERVED_MIN: RecordType = RecordType(0xFF00);
    /// The block-seal record carrying the hash chain.
    pub const SEAL: RecordType = RecordType(0xFFF0);

    /// Whether this type is reserved for the journal.
    #[must_use]
    pub fn is_reserved(self) -> bool {
        self.0 >= Self::RESERVED_MIN.0
    }
}

/// Identity of one journal, chosen at creation and stamped in every segment header, so a
/// segment copied in from another journal is refused instead of silently replayed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct JournalId(pub [u8; 16]);

impl JournalId {
    /// Builds an identity from a `u128` (little-endian bytes on disk).
    #[must_use]
    pub fn from_u128(value: u128) -> JournalId {
        JournalId(value.to_le_bytes())
    }
}

impl core::fmt::Display for JournalId {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        for byte in self.0 {
            write!(f, "{byte:02x}")?;
        }
        Ok(())
    }
}
