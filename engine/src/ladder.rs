//! One side of a book: price levels sorted so that the best level is last.
//!
//! Keeping the best level at the end of a preallocated array makes the common operations
//! (touch the best level, add near the top, remove an emptied best level) cost O(1) memory
//! moves, and never allocates: capacity is fixed at start-up.

use crate::types::Price;

/// "No index": the end of an intrusive list.
pub(crate) const NIL: u32 = u32::MAX;

/// A price level: a FIFO of order slots, linked through the slots.
#[derive(Clone, Copy, Debug, serde::Serialize, serde::Deserialize)]
pub(crate) struct Level {
    pub price: Price,
    pub head: u32,
    pub tail: u32,
    pub count: u32,
}

/// A pool of levels with a free list, shared by all ladders of an engine.
#[derive(Debug)]
pub(crate) struct LevelPool {
    levels: Vec<Level>,
    free: Vec<u32>,
}

impl LevelPool {
    pub fn with_capacity(capacity: u32) -> Self {
        let levels = vec![
            Level {
                price: Price(0),
                head: NIL,
                tail: NIL,
                count: 0
            };
            capacity as usize
        ];
        let free = (0..capacity).rev().collect();
        LevelPool { levels, free }
    }

    /// Takes a free level; the caller has checked capacity (every level holds an order,
    /// and the pool is as large as the order arena).
    pub fn allocate(&mut self, price: Price) -> u32 {
        let index = self
            .free
            .pop()
            .expect("level pool sized to the order arena");
        self.levels[index as usize] = Level {
            price,
            head: NIL,
            tail: NIL,
            count: 0,
        };
        index
    }

    /// Every level becomes free again (a kill that emptied every ladder). Never allocates:
    /// the free list keeps its capacity.
    pub fn release_all(&mut self) {
        let capacity = u32::try_from(self.levels.len()).expect("level pool fits u32");
        self.free.clear();
        self.free.extend((0..capacity).rev());
    }

    pub fn release(&mut self, index: u32) {
        debug_assert_eq!(self.levels[index as usize].count, 0);
        debug_assert!(self.free.len() < self.free.capacity());
        self.free.push(index);
    }

    #[inline]
    pub fn get(&self, index: u32) -> &Level {
        &self.levels[index as usize]
    }

    #[inline]
    pub fn get_mut(&mut self, index: u32) -> &mut Level {
        &mut self.levels[index as usize]
    }
}

/// A level's place in a ladder.
#[derive(Clone, Copy, Debug, serde::Serialize, serde::Deserialize)]
pub(crate) struct Rung {
    /// Sort key: larger is better. Bids and sell stops use the price, asks and buy stops
    /// its negation.
    key: i64,
    pub level: u32,
}

/// Levels of one side, sorted by ascending key: the best level is last.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub(crate) struct Ladder {
    rungs: Vec<Rung>,
    /// Whether a higher price is better (bids, sell stops).
    higher_is_better: bool,
    /// A batch of removals left empty levels here (see `remove_empty`).
    pub empty_levels: bool,
}

impl Ladder {
    pub fn with_capacity(capacity: u32, higher_is_better: bool) -> Self {
        Ladder {
            rungs: Vec::with_capacity(capacity as usize),
            higher_is_better,
            empty_levels: false,
        }
    }

    #[inline]
    fn key(&self, price: Price) -> i64 {
        if self.higher_is_better {
            price.0
        } else {
            -price.0
        }
    }

    #[inline]
    pub fn is_full(&self) -> bool {
        self.rungs.len() == self.rungs.capacity()
    }

    #[inline]
    pub fn len(&self) -> usize {
        self.rungs.len()
    }

    /// The best level, if any.
    #[inline]
    pub fn best(&self) -> Option<u32> {
        self.rungs.last().map(|rung| rung.level)
    }

    /// Finds the level at this price: `Ok(position)` or `Err(insert position)`.
    /// Searches from the top first, since most activity is near the best price.
    #[inline]
    pub fn find(&self, price: Price) -> Result<usize, usize> {
        let key = self.key(price);
        let len = self.rungs.len();
        // Fast path: at or above the best level.
        match self.rungs.last() {
            None => return Err(0),
            Some(best) if key > best.key => return Err(len),
            Some(best) if key == best.key => return Ok(len - 1),
            Some(_) => {}
        }
        self.rungs.binary_search_by(|rung| rung.key.cmp(&key))
    }

    /// Whether a level at this price exists.
    pub fn contains(&self, price: Price) -> bool {
        self.find(price).is_ok()
    }

    /// Whether placing an order at `price` needs a level the ladder has no room for.
    pub fn needs_room(&self, price: Price) -> bool {
        self.is_full() && !self.contains(price)
    }

    /// Inserts a level at the position `find` returned.
    pub fn insert(&mut self, position: usize, price: Price, level: u32) {
        debug_assert!(!self.is_full(), "capacity checked before insert");
        let key = self.key(price);
        self.rungs.insert(position, Rung { key, level });
    }

    /// The level at a position `find` returned.
    #[inline]
    pub fn level_at(&self, position: usize) -> u32 {
        self.rungs[position].level
    }

    pub fn remove(&mut self, position: usize) -> u32 {
        self.rungs.remove(position).level
    }

    /// Drops every rung (the caller releases the levels).
    pub fn clear(&mut self) {
        self.rungs.clear();
        self.empty_levels = false;
    }

    /// Drops the rungs whose level emptied during a batch of removals (kill switch), releasing
    /// those levels: one pass instead of one memmove per emptied level.
    pub fn remove_empty(&mut self, levels: &mut LevelPool) {
        self.empty_levels = false;
        self.rungs.retain(|rung| {
            let empty = levels.get(rung.level).count == 0;
            if empty {
                levels.release(rung.level);
            }
            !empty
        });
    }

    /// Levels from best to worst.
    pub fn iter_best_first(&self) -> impl Iterator<Item = u32> + '_ {
        self.rungs.iter().rev().map(|rung| rung.level)
    }
}

/// The serialized form of a [`LevelPool`]: levels in use and the free list in its order.
#[derive(serde::Serialize, serde::Deserialize)]
pub(crate) struct LevelPoolImage {
    capacity: u32,
    used: Vec<(u32, Level)>,
    free: Vec<u32>,
}

impl LevelPool {
    /// The state to serialize.
    pub(crate) fn image(&self) -> LevelPoolImage {
        let mut is_free = vec![false; self.levels.len()];
        for &index in &self.free {
            is_free[index as usize] = true;
        }
        LevelPoolImage {
            capacity: u32::try_from(self.levels.len()).expect("level pool fits u32"),
            used: self
                .levels
                .iter()
                .enumerate()
                .filter(|(index, _)| !is_free[*index])
                .map(|(index, level)| (index as u32, *level))
                .collect(),
            free: self.free.clone(),
        }
    }

    /// Loads an image into this freshly built pool (same capacity), keeping its capacity.
    pub(crate) fn restore(&mut self, image: &LevelPoolImage) -> Result<(), String> {
        let capacity = self.levels.len();
        if image.capacity as usize != capacity || image.used.len() + image.free.len() != capacity {
            return Err("level pool capacity differs or image is inconsistent".to_owned());
        }
        self.free.clear();
        for &index in &image.free {
            if index as usize >= capacity {
                return Err("free level out of range".to_owned());
            }
            self.free.push(index);
        }
        for &(index, level) in &image.used {
            if index as usize >= capacity {
                return Err("level out of range".to_owned());
            }
            self.levels[index as usize] = level;
        }
        Ok(())
    }
}

impl Ladder {
    /// Copies `image`'s rungs into this freshly built ladder, keeping its capacity (which is
    /// what `is_full` compares with).
    pub(crate) fn restore(&mut self, image: &Ladder, levels: u32) -> Result<(), String> {
        if image.rungs.len() > self.rungs.capacity()
            || image.higher_is_better != self.higher_is_better
            || image.rungs.iter().any(|rung| rung.level >= levels)
        {
            return Err("ladder image does not fit".to_owned());
        }
        self.rungs.clear();
        self.rungs.extend_from_slice(&image.rungs);
        self.empty_levels = image.empty_levels;
        Ok(())
    }
}
