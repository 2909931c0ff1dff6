//! The order-id index: order id → arena slot, an open-addressing table owned by the engine
//! (and reused by the market-data book builder, which follows the same ids).
//!
//! Why not `std::collections::HashMap`: the table is sized from `orders_max` (twice it), so
//! with a million-order arena it spans tens of megabytes, and a scattering hash sends every
//! new id to a cold line (a cache and TLB miss) even when only a few thousand orders live.
//! Gateways hand out ids from per-session counters, so consecutive ids are common; the hash
//! here ([`IdIndex::home`]) keeps blocks of [`BLOCK_IDS`] consecutive ids on consecutive
//! entries (two cache lines) and scatters the blocks. Not more: whole runs of consecutive
//! ids laid end to end would form clusters as long as the live id range, and a colliding
//! block would pay for the whole cluster.
//!
//! Robin Hood linear probing: entries of a run are ordered by home, so a lookup stops at the
//! first entry nearer its home than the probe is, and a removal shifts the rest of the run
//! back only up to the first entry at its home (no tombstones, so probes never degrade). An
//! epoch per entry makes [`IdIndex::clear`] O(1): an entry is occupied only when its epoch
//! is the table's.

use crate::ladder::NIL;

#[derive(Clone, Copy, Debug)]
struct Entry {
    id: u64,
    slot: u32,
    /// Occupied when equal to [`IdIndex::epoch`]; 0 is never a live epoch.
    epoch: u32,
}

const EMPTY: Entry = Entry {
    id: 0,
    slot: NIL,
    epoch: 0,
};

const _: () = assert!(core::mem::size_of::<Entry>() == 16);

/// log2 of [`BLOCK_IDS`].
const BLOCK_BITS: u32 = 3;
/// Consecutive ids kept on consecutive entries: 8 × 16 bytes, two cache lines.
const BLOCK_IDS: u64 = 1 << BLOCK_BITS;

/// Order id → slot index; never allocates after construction.
///
/// The caller owns the slots and checks capacity: [`IdIndex::insert`] takes an id that is
/// absent, into a table holding fewer than [`IdIndex::capacity`] ids.
///
/// # Example
/// ```
/// use arbiter_engine::IdIndex;
///
/// let mut index = IdIndex::with_capacity(2);
/// index.insert(41, 0);
/// index.insert(42, 1);
/// assert!(index.is_full());
/// assert_eq!(index.get(42), Some(1));
/// assert_eq!(index.remove(41), Some(0));
/// assert_eq!(index.get(41), None);
/// ```
#[derive(Debug)]
pub struct IdIndex {
    entries: Vec<Entry>,
    mask: usize,
    epoch: u32,
    len: u32,
    capacity: u32,
}

impl Clone for IdIndex {
    fn clone(&self) -> Self {
        IdIndex {
            entries: self.entries.clone(),
            mask: self.mask,
            epoch: self.epoch,
            len: self.len,
            capacity: self.capacity,
        }
    }

    /// Reuses this table's memory when it has the source's size (no allocation).
    fn clone_from(&mut self, source: &Self) {
        self.entries.clone_from(&source.entries);
        self.mask = source.mask;
        self.epoch = source.epoch;
        self.len = source.len;
        self.capacity = source.capacity;
    }
}

impl IdIndex {
    /// A table for at most `capacity` ids (so at most half full), allocated and written now.
    #[must_use]
    pub fn with_capacity(capacity: u32) -> Self {
        let size = (capacity.max(1) as usize * 2).next_power_of_two();
        let mut entries = Vec::with_capacity(size);
        // Written, not calloc'd: every page is mapped before the first order.
        entries.resize(size, EMPTY);
        IdIndex {
            entries,
            mask: size - 1,
            epoch: 1,
            len: 0,
            capacity,
        }
    }

    /// How many ids the table is sized for.
    #[must_use]
    pub fn capacity(&self) -> u32 {
        self.capacity
    }

    /// Ids present.
    #[must_use]
    pub fn len(&self) -> u32 {
        self.len
    }

    /// Whether no id is present.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether [`IdIndex::capacity`] ids are present: the caller must not insert more.
    #[must_use]
    pub fn is_full(&self) -> bool {
        self.len >= self.capacity
    }

    /// Where probing for `id` starts: its block's hashed place, plus its offset in the block.
    #[inline]
    fn home(&self, id: u64) -> usize {
        let mixed = (id >> BLOCK_BITS).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        // The best-mixed (top) bits first.
        let block = mixed.rotate_left(32) as usize;
        ((block << BLOCK_BITS) | (id & (BLOCK_IDS - 1)) as usize) & self.mask
    }

    /// How far `position` is from the entry's home.
    #[inline]
    fn distance(&self, position: usize, id: u64) -> usize {
        position.wrapping_sub(self.home(id)) & self.mask
    }

    #[inline]
    fn occupied(&self, position: usize) -> bool {
        self.entries[position].epoch == self.epoch
    }

    /// The position of `id`, if present.
    #[inline]
    fn position(&self, id: u64) -> Option<usize> {
        let mut position = self.home(id);
        // Bounded: by the table size (a run never wraps onto itself: at most half full).
        for probe in 0..self.entries.len() {
            if !self.occupied(position) {
                return None;
            }
            let entry = &self.entries[position];
            if entry.id == id {
                return Some(position);
            }
            // Robin Hood order: an entry nearer its home than we are means `id` is absent.
            if self.distance(position, entry.id) < probe {
                return None;
            }
            position = (position + 1) & self.mask;
        }
        unreachable!("id index never more than half full")
    }

    /// The slot of `id`, if present.
    #[inline]
    #[must_use]
    pub fn get(&self, id: u64) -> Option<u32> {
        self.position(id).map(|position| {
            let slot = self.entries[position].slot;
            debug_assert_ne!(slot, NIL);
            slot
        })
    }

    /// Adds an id that is not present (checked by the caller), into a table that is not
    /// full (checked by the caller, [`IdIndex::is_full`]).
    ///
    /// # Panics
    /// In debug builds, when the id is present or the table is half full (the table has
    /// room for at least [`IdIndex::capacity`] ids at half load). In release builds a
    /// duplicate shadows nothing (the first stays found), and only a table with every
    /// entry taken panics.
    #[inline]
    pub fn insert(&mut self, id: u64, slot: u32) {
        debug_assert!(self.get(id).is_none(), "duplicate id checked before insert");
        debug_assert!(
            (self.len as usize) < self.entries.len() / 2,
            "sized for orders_max"
        );
        let mut carried = Entry {
            id,
            slot,
            epoch: self.epoch,
        };
        let mut position = self.home(id);
        let mut probe = 0;
        // Bounded: at most half the entries are occupied.
        for _ in 0..self.entries.len() {
            if !self.occupied(position) {
                self.entries[position] = carried;
                self.len += 1;
                return;
            }
            let resident = self.distance(position, self.entries[position].id);
            if resident < probe {
                // Take the place of an entry nearer its home; carry it on.
                std::mem::swap(&mut carried, &mut self.entries[position]);
                probe = resident;
            }
            position = (position + 1) & self.mask;
            probe += 1;
        }
        unreachable!("id index never more than half full")
    }

    /// Removes an id, returning its slot. The rest of the run shifts back one place, up to
    /// the first entry at its home, so no tombstone is left.
    #[inline]
    pub fn remove(&mut self, id: u64) -> Option<u32> {
        let mut hole = self.position(id)?;
        let slot = self.entries[hole].slot;
        // Bounded: by the run's length.
        for _ in 0..self.entries.len() {
            let next = (hole + 1) & self.mask;
            if !self.occupied(next) || self.distance(next, self.entries[next].id) == 0 {
                break;
            }
            self.entries[hole] = self.entries[next];
            hole = next;
        }
        self.entries[hole] = EMPTY;
        self.len -= 1;
        Some(slot)
    }

    /// Forgets every id in O(1) (a new epoch); rewrites the table only when epochs wrap.
    pub fn clear(&mut self) {
        self.len = 0;
        if self.epoch == u32::MAX {
            self.entries.fill(EMPTY);
            self.epoch = 1;
        } else {
            self.epoch += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// Applies pseudo-random operations to the index and to a `HashMap` model; both must agree
    /// on every lookup, present and absent.
    #[test]
    fn matches_a_map_model() {
        let mut index = IdIndex::with_capacity(64);
        let mut model: HashMap<u64, u32> = HashMap::new();
        let mut state = 0x1234_5678_9abc_def0u64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for step in 0..200_000u32 {
            let roll = next();
            // Clustered ids (a counter's neighbourhood) and far ones (other high bits).
            let id = match roll % 4 {
                0 => roll >> 40,
                1 => ((roll >> 60) << 40) | ((roll >> 20) % 256),
                2 => u64::MAX - (roll >> 58),
                _ => (roll >> 8) % 300,
            };
            if roll % 97 == 0 {
                index.clear();
                model.clear();
            } else if let Some(&slot) = model.get(&id) {
                assert_eq!(index.get(id), Some(slot));
                if roll % 3 != 0 {
                    assert_eq!(index.remove(id), Some(slot));
                    model.remove(&id);
                }
            } else {
                assert_eq!(index.get(id), None);
                assert_eq!(index.remove(id), None);
                if model.len() < 64 {
                    index.insert(id, step);
                    model.insert(id, step);
                }
            }
            assert_eq!(index.len() as usize, model.len());
        }
        for (&id, &slot) in &model {
            assert_eq!(index.get(id), Some(slot));
        }
    }

    #[test]
    fn epoch_wrap_clears() {
        let mut index = IdIndex::with_capacity(4);
        index.insert(7, 1);
        index.epoch = u32::MAX;
        index.insert(8, 2);
        index.clear();
        assert_eq!(index.get(7), None);
        assert_eq!(index.get(8), None);
        index.insert(8, 3);
        assert_eq!(index.get(8), Some(3));
    }
}
