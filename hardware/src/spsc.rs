//! Bounded single-producer single-consumer rings between agents.
//!
//! A thin wrapper over [`rtrb`], chosen over `ringbuf` 0.4 and crossbeam's
//! `ArrayQueue` (compared in `hardware/benches/ring_compare.rs`): its split
//! halves make single-producer single-consumer a compile-time fact (crossbeam's
//! queue is MPMC and pays a CAS per operation), it caches the peer's index, and
//! it is already a workspace dependency. On the shared dev box the three
//! measured within noise of each other; re-run the comparison on a tuned host. The wrapper pins down what Arbiter needs: `Copy`
//! messages, non-blocking `try_push` / `try_pop` (a full ring is back-pressure,
//! never a wait or a growth), a power-of-two capacity fixed at start-up, and an
//! occupancy reading for metrics.

use std::fmt;

/// Sending half; exactly one thread owns it.
pub struct Producer<T> {
    inner: rtrb::Producer<T>,
}

/// Receiving half; exactly one thread owns it.
pub struct Consumer<T> {
    inner: rtrb::Consumer<T>,
}

impl<T> fmt::Debug for Producer<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Producer")
            .field("capacity", &self.capacity())
            .field("len", &self.len())
            .finish()
    }
}

impl<T> fmt::Debug for Consumer<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Consumer")
            .field("capacity", &self.capacity())
            .field("len", &self.len())
            .finish()
    }
}

/// The capacity was zero or not a power of two.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CapacityError {
    /// The rejected capacity.
    pub capacity: usize,
}

impl fmt::Display for CapacityError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "ring capacity {} is not a non-zero power of two",
            self.capacity
        )
    }
}

impl std::error::Error for CapacityError {}

/// The ring was full; the value comes back to the caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Full<T>(pub T);

/// Creates a ring of `capacity` slots, all allocated now.
///
/// # Panics
/// When `capacity` is zero or not a power of two (a start-up configuration bug);
/// see [`try_channel`] for the checked form.
///
/// # Examples
/// ```
/// let (mut tx, mut rx) = arbiter_hardware::spsc::channel::<[u64; 8]>(4);
/// tx.try_push([1; 8]).unwrap();
/// assert_eq!(rx.len(), 1);
/// assert_eq!(rx.try_pop(), Some([1; 8]));
/// assert_eq!(rx.try_pop(), None);
/// ```
#[must_use]
pub fn channel<T: Copy>(capacity: usize) -> (Producer<T>, Consumer<T>) {
    match try_channel(capacity) {
        Ok(pair) => pair,
        Err(error) => panic!("{error}"),
    }
}

/// Like [`channel`], returning an error for a bad capacity.
///
/// # Errors
/// [`CapacityError`] when `capacity` is zero or not a power of two.
pub fn try_channel<T: Copy>(capacity: usize) -> Result<(Producer<T>, Consumer<T>), CapacityError> {
    if !capacity.is_power_of_two() {
        return Err(CapacityError { capacity });
    }
    let (producer, consumer) = rtrb::RingBuffer::new(capacity);
    debug_assert_eq!(producer.buffer().capacity(), capacity);
    Ok((Producer { inner: producer }, Consumer { inner: consumer }))
}

impl<T: Copy> Producer<T> {
    /// Pushes without waiting.
    ///
    /// # Errors
    /// [`Full`] with the value when no slot is free.
    #[inline]
    pub fn try_push(&mut self, value: T) -> Result<(), Full<T>> {
        self.inner
            .push(value)
            .map_err(|rtrb::PushError::Full(value)| Full(value))
    }
}

impl<T> Producer<T> {
    /// Slots in the ring.
    #[must_use]
    pub fn capacity(&self) -> usize {
        self.inner.buffer().capacity()
    }

    /// Messages in the ring now (a lower or upper bound by the time you use it:
    /// the consumer keeps going).
    #[must_use]
    pub fn len(&self) -> usize {
        self.capacity() - self.inner.slots()
    }

    /// True when nothing is queued.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// True when the consumer was dropped.
    #[must_use]
    pub fn is_abandoned(&self) -> bool {
        self.inner.is_abandoned()
    }
}

impl<T: Copy> Consumer<T> {
    /// Pops without waiting; `None` when empty.
    #[inline]
    pub fn try_pop(&mut self) -> Option<T> {
        self.inner.pop().ok()
    }
}

impl<T> Consumer<T> {
    /// Slots in the ring.
    #[must_use]
    pub fn capacity(&self) -> usize {
        self.inner.buffer().capacity()
    }

    /// Messages waiting now (for occupancy metrics).
    #[must_use]
    pub fn len(&self) -> usize {
        self.inner.slots()
    }

    /// True when nothing is waiting.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.inner.is_empty()
    }

    /// True when the producer was dropped.
    #[must_use]
    pub fn is_abandoned(&self) -> bool {
        self.inner.is_abandoned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::idle::{Backoff, IdleStrategy};
    use std::collections::VecDeque;

    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    #[repr(C, align(64))]
    struct Message {
        sequence: u64,
        payload: [u64; 7],
    }
    const _: () = assert!(core::mem::size_of::<Message>() == 64);

    #[test]
    fn capacity_must_be_power_of_two() {
        assert_eq!(
            try_channel::<u64>(0).unwrap_err(),
            CapacityError { capacity: 0 }
        );
        assert!(try_channel::<u64>(3).is_err());
        assert!(try_channel::<u64>(1).is_ok());
        assert!(try_channel::<u64>(1024).is_ok());
    }

    #[test]
    #[should_panic(expected = "power of two")]
    fn channel_panics_on_bad_capacity() {
        let _ = channel::<u64>(6);
    }

    #[test]
    fn full_ring_hands_the_value_back() {
        let (mut tx, mut rx) = channel::<Message>(2);
        let message = |sequence| Message {
            sequence,
            payload: [sequence; 7],
        };
        tx.try_push(message(1)).unwrap();
        tx.try_push(message(2)).unwrap();
        assert_eq!(tx.len(), 2);
        assert_eq!(tx.try_push(message(3)), Err(Full(message(3))));
        assert_eq!(rx.try_pop(), Some(message(1)));
        tx.try_push(message(3)).unwrap();
        assert_eq!(rx.try_pop(), Some(message(2)));
        assert_eq!(rx.try_pop(), Some(message(3)));
        assert!(rx.is_empty());
        drop(tx);
        assert!(rx.is_abandoned());
    }

    #[test]
    fn matches_a_vecdeque_model() {
        // Deterministic pseudo-random push/pop mix, checked against a bounded model.
        let (mut tx, mut rx) = channel::<u64>(8);
        let mut model = VecDeque::new();
        let mut state = 0x9E37_79B9_7F4A_7C15_u64;
        for next in 0..10_000_u64 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            if state % 3 == 0 {
                assert_eq!(rx.try_pop(), model.pop_front());
            } else {
                let pushed = tx.try_push(next).is_ok();
                assert_eq!(pushed, model.len() < 8);
                if pushed {
                    model.push_back(next);
                }
            }
            assert_eq!(rx.len(), model.len());
            assert_eq!(tx.len(), model.len());
        }
    }

    #[test]
    fn crosses_threads_in_order() {
        let (mut tx, mut rx) = channel::<u64>(16);
        let count = 20_000_u64;
        let producer = std::thread::spawn(move || {
            let mut idle = Backoff::default();
            for value in 0..count {
                let mut pending = value;
                loop {
                    match tx.try_push(pending) {
                        Ok(()) => {
                            idle.idle(1);
                            break;
                        }
                        Err(Full(back)) => {
                            pending = back;
                            idle.idle(0);
                        }
                    }
                }
            }
        });
        let mut idle = Backoff::default();
        let mut expected = 0;
        while expected < count {
            match rx.try_pop() {
                Some(value) => {
                    assert_eq!(value, expected);
                    expected += 1;
                    idle.idle(1);
                }
                None => idle.idle(0),
            }
        }
        producer.join().unwrap();
    }
}
