//! Compliance: restricted instruments per account (a bit set) and the duplicate-ClOrdID
//! check (a bounded open-addressing set of ClOrdID hashes per session, cleared at end of day).

use crate::digest::Digest;

/// Restricted (account, instrument) pairs.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub(crate) struct Restricted {
    instruments: u32,
    bits: Vec<u64>,
    count: u32,
}

impl Restricted {
    pub fn new(accounts: u32, instruments: u32) -> Self {
        let bits = (accounts as usize * instruments as usize).div_ceil(64);
        Restricted {
            instruments,
            bits: vec![0; bits],
            count: 0,
        }
    }

    #[inline]
    fn at(&self, account: u32, instrument: u32) -> (usize, u64) {
        let bit = account as usize * self.instruments as usize + instrument as usize;
        (bit / 64, 1u64 << (bit % 64))
    }

    /// Whether any pair is restricted.
    #[inline]
    pub fn any(&self) -> bool {
        self.count != 0
    }

    #[inline]
    pub fn contains(&self, account: u32, instrument: u32) -> bool {
        if self.count == 0 {
            return false;
        }
        let (word, mask) = self.at(account, instrument);
        self.bits[word] & mask != 0
    }

    pub fn set(&mut self, account: u32, instrument: u32, restricted: bool) {
        let (word, mask) = self.at(account, instrument);
        let was = self.bits[word] & mask != 0;
        if restricted && !was {
            self.bits[word] |= mask;
            self.count += 1;
        } else if !restricted && was {
            self.bits[word] &= !mask;
            self.count -= 1;
        }
    }

    pub fn digest(&self, digest: &mut Digest) {
        digest.u64(u64::from(self.count));
        if self.count == 0 {
            return;
        }
        for (index, &word) in self.bits.iter().enumerate() {
            if word != 0 {
                digest.u64(index as u64);
                digest.u64(word);
            }
        }
    }
}

/// Why a ClOrdID was not taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) enum ClientRefError {
    Duplicate,
    Full,
}

/// Per session: a set of ClOrdID hashes seen today. Zero means "no ClOrdID" and is never
/// stored. Capacity is fixed; a full session is refused rather than grown (the gateway sees
/// the reject and the operator can raise the bound for the next start).
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub(crate) struct ClientRefs {
    /// Entries allowed per session per day.
    per_session_max: u32,
    /// Slots per session: a power of two at least twice `per_session_max`.
    slots: usize,
    table: Vec<u64>,
    counts: Vec<u32>,
}

impl ClientRefs {
    pub fn new(sessions: u32, per_session_max: u32) -> Self {
        let slots = if per_session_max == 0 {
            0
        } else {
            (per_session_max as usize * 2).next_power_of_two()
        };
        ClientRefs {
            per_session_max,
            slots,
            table: vec![0; sessions as usize * slots],
            counts: vec![0; if slots == 0 { 0 } else { sessions as usize }],
        }
    }

    #[inline]
    pub fn enabled(&self) -> bool {
        self.slots != 0
    }

    /// The slot holding `value` in `session`'s table, or the empty one where it would go.
    #[inline]
    fn find(&self, session: u32, value: u64) -> usize {
        let base = session as usize * self.slots;
        let mask = self.slots - 1;
        let mixed = value.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let mut position = (mixed >> 32) as usize & mask;
        // Bounded: at most half the slots are used.
        for _ in 0..self.slots {
            let found = self.table[base + position];
            if found == value || found == 0 {
                return base + position;
            }
            position = (position + 1) & mask;
        }
        unreachable!("client ref table never more than half full")
    }

    /// Checks that `value` is new for the session (without inserting). `Some(position)`:
    /// where [`insert_at`](Self::insert_at) puts it (one probe for both); `None`: nothing to
    /// remember (check off, or no ClOrdID).
    #[inline]
    pub fn check(&self, session: u32, value: u64) -> Result<Option<usize>, ClientRefError> {
        if !self.enabled() || value == 0 {
            return Ok(None);
        }
        let position = self.find(session, value);
        if self.table[position] == value {
            return Err(ClientRefError::Duplicate);
        }
        if self.counts[session as usize] >= self.per_session_max {
            return Err(ClientRefError::Full);
        }
        Ok(Some(position))
    }

    /// Inserts a value [`check`](Self::check) accepted, at the position it returned (no
    /// insertion in between).
    #[inline]
    pub fn insert_at(&mut self, session: u32, position: usize, value: u64) {
        debug_assert_eq!(position, self.find(session, value), "checked just before");
        debug_assert_eq!(self.table[position], 0, "checked first");
        self.table[position] = value;
        self.counts[session as usize] += 1;
        debug_assert!(self.counts[session as usize] <= self.per_session_max);
    }

    #[cfg(test)]
    fn insert(&mut self, session: u32, value: u64) {
        if let Ok(Some(position)) = self.check(session, value) {
            self.insert_at(session, position, value);
        }
    }

    /// End of day: every session starts empty. Touches only sessions that hold entries.
    pub fn clear(&mut self) {
        for (session, count) in self.counts.iter_mut().enumerate() {
            if *count != 0 {
                self.table[session * self.slots..(session + 1) * self.slots].fill(0);
                *count = 0;
            }
        }
    }

    pub fn digest(&self, digest: &mut Digest) {
        for (session, &count) in self.counts.iter().enumerate() {
            if count == 0 {
                continue;
            }
            digest.u64(session as u64);
            digest.u64(u64::from(count));
            for &value in &self.table[session * self.slots..(session + 1) * self.slots] {
                if value != 0 {
                    digest.u64(value);
                }
            }
        }
    }
}

impl Restricted {
    /// Gives every table the capacity of `like` (a fresh instance under the same configuration).
    pub(crate) fn refit(&mut self, like: &Self) -> Result<(), String> {
        crate::engine::snapshot::refit(&mut self.bits, &like.bits, "restricted")
    }
}

impl ClientRefs {
    /// Gives every table the capacity of `like` (a fresh instance under the same configuration).
    pub(crate) fn refit(&mut self, like: &Self) -> Result<(), String> {
        crate::engine::snapshot::refit(&mut self.table, &like.table, "client refs")?;
        crate::engine::snapshot::refit(&mut self.counts, &like.counts, "client ref counts")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicates_and_capacity() {
        let mut refs = ClientRefs::new(2, 2);
        assert!(refs.check(0, 7).is_ok());
        refs.insert(0, 7);
        assert_eq!(refs.check(0, 7), Err(ClientRefError::Duplicate));
        assert!(refs.check(1, 7).is_ok());
        assert_eq!(refs.check(0, 0), Ok(None));
        refs.insert(0, 8);
        assert_eq!(refs.check(0, 9), Err(ClientRefError::Full));
        refs.clear();
        assert!(refs.check(0, 7).is_ok());
    }

    #[test]
    fn restricted_bits() {
        let mut restricted = Restricted::new(3, 5);
        assert!(!restricted.contains(2, 4));
        restricted.set(2, 4, true);
        assert!(restricted.contains(2, 4));
        assert!(!restricted.contains(2, 3));
        restricted.set(2, 4, false);
        assert!(!restricted.contains(2, 4));
    }
}
