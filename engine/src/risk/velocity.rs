//! Sliding-window rate counting on command timestamps: per scope, a fixed ring of the last
//! `capacity` event times. "At least n events in the window" is one look at the n-th most
//! recent time, so a check is O(1) and replay gives the same answer.

use crate::digest::Digest;

/// Rings of timestamps, one per scope, in one flat preallocated array.
///
/// Each ring has `stride` entries, `capacity` rounded up to a power of two, so that a
/// position is a mask rather than a 64-bit division (several per order). Only the `capacity`
/// most recent times are ever read, so the extra entries change no answer and no digest.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub(crate) struct Rings {
    capacity: u32,
    /// Entries per ring: a power of two, at least `capacity`.
    stride: u32,
    times: Vec<u64>,
    /// Events recorded per scope since start (the ring position is `count % stride`).
    counts: Vec<u64>,
    touched: Vec<u32>,
    touched_flag: Vec<bool>,
}

impl Rings {
    pub fn new(scopes: u32, capacity: u32) -> Self {
        assert!(capacity <= 1 << 30, "velocity_events_max too large");
        let stride = capacity.next_power_of_two();
        Rings {
            capacity,
            stride,
            times: vec![0; scopes as usize * stride as usize],
            counts: vec![0; scopes as usize],
            touched: Vec::with_capacity(scopes as usize),
            touched_flag: vec![false; scopes as usize],
        }
    }

    pub fn capacity(&self) -> u32 {
        self.capacity
    }

    /// Where the event numbered `event` (from 0, per scope) is kept.
    #[inline]
    fn slot(&self, scope: u32, event: u64) -> usize {
        let mask = u64::from(self.stride) - 1;
        scope as usize * self.stride as usize + (event & mask) as usize
    }

    #[inline]
    pub fn record(&mut self, scope: u32, now_ns: u64) {
        if self.capacity == 0 {
            return;
        }
        if !self.touched_flag[scope as usize] {
            self.touched_flag[scope as usize] = true;
            self.touched.push(scope);
        }
        let count = self.counts[scope as usize];
        self.counts[scope as usize] = count + 1;
        let position = self.slot(scope, count);
        self.times[position] = now_ns;
    }

    /// Whether at least `n` events fell in the window `(now − window, now]`.
    ///
    /// # Panics
    /// (Debug) if `n` exceeds the ring: limits are validated against the capacity when set.
    #[inline]
    pub fn at_least(&self, scope: u32, n: u64, now_ns: u64, window_ns: u64) -> bool {
        if n == 0 {
            return true;
        }
        debug_assert!(n <= u64::from(self.capacity));
        let count = self.counts[scope as usize];
        if count < n {
            return false;
        }
        let time = self.times[self.slot(scope, count - n)];
        time > now_ns.saturating_sub(window_ns)
    }

    /// Events in the window, for read-outs (walks the ring).
    pub fn in_window(&self, scope: u32, now_ns: u64, window_ns: u64) -> u64 {
        let count = self.counts[scope as usize].min(u64::from(self.capacity));
        (1..=count)
            .take_while(|&n| self.at_least(scope, n, now_ns, window_ns))
            .count() as u64
    }

    pub fn digest(&self, digest: &mut Digest) {
        for &scope in &self.touched {
            digest.u64(u64::from(scope));
            let count = self.counts[scope as usize];
            digest.u64(count);
            let kept = count.min(u64::from(self.capacity));
            for back in 1..=kept {
                digest.u64(self.times[self.slot(scope, count - back)]);
            }
        }
    }
}

impl Rings {
    /// Gives every table the capacity of `like` (a fresh instance under the same configuration).
    pub(crate) fn refit(&mut self, like: &Self) -> Result<(), String> {
        crate::engine::snapshot::refit(&mut self.times, &like.times, "velocity rings")?;
        crate::engine::snapshot::refit(&mut self.counts, &like.counts, "velocity counts")?;
        crate::engine::snapshot::refit(&mut self.touched, &like.touched, "velocity touched")?;
        crate::engine::snapshot::refit(
            &mut self.touched_flag,
            &like.touched_flag,
            "velocity touched flags",
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sliding_window() {
        let mut rings = Rings::new(1, 4);
        for t in [10, 20, 30] {
            rings.record(0, t);
        }
        assert!(rings.at_least(0, 3, 30, 100));
        assert!(!rings.at_least(0, 4, 30, 100));
        // Window (15, 35]: 20, 30.
        assert!(rings.at_least(0, 2, 35, 20));
        assert!(!rings.at_least(0, 3, 35, 20));
        for t in [40, 50, 60] {
            rings.record(0, t);
        }
        assert_eq!(rings.in_window(0, 60, 25), 3);
        assert_eq!(rings.in_window(0, 60, 1000), 4);
    }
}
