//! A bounded single-producer single-consumer ring of variable-length frames (a tag and a
//! byte body), for messages whose size varies too much for fixed slots: FIX market-data
//! bodies between the market-data agent and the gateway.
//!
//! Built on [`rtrb`]'s byte chunks: a frame is a 4-byte little-endian length, a 4-byte tag
//! and the body, written with one commit so the consumer never sees half a frame. A full
//! ring refuses the whole frame ([`FrameProducer::try_push`] returns false): back-pressure,
//! never a wait or a growth.

const HEADER: usize = 8;

/// Sending half.
pub struct FrameProducer {
    inner: rtrb::Producer<u8>,
}

/// Receiving half.
pub struct FrameConsumer {
    inner: rtrb::Consumer<u8>,
}

impl std::fmt::Debug for FrameProducer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FrameProducer")
            .field("free", &self.inner.slots())
            .finish()
    }
}

impl std::fmt::Debug for FrameConsumer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FrameConsumer")
            .field("queued", &self.inner.slots())
            .finish()
    }
}

/// A ring of `capacity_bytes` (frames take their body plus 8 bytes).
#[must_use]
pub fn frame_channel(capacity_bytes: usize) -> (FrameProducer, FrameConsumer) {
    let (inner_p, inner_c) = rtrb::RingBuffer::new(capacity_bytes);
    (
        FrameProducer { inner: inner_p },
        FrameConsumer { inner: inner_c },
    )
}

fn copy_in(chunk: &mut rtrb::chunks::WriteChunk<'_, u8>, at: usize, bytes: &[u8]) {
    let (first, second) = chunk.as_mut_slices();
    for (i, &b) in bytes.iter().enumerate() {
        let index = at + i;
        if index < first.len() {
            first[index] = b;
        } else {
            second[index - first.len()] = b;
        }
    }
}

impl FrameProducer {
    /// Bytes free now.
    #[must_use]
    pub fn free_bytes(&self) -> usize {
        self.inner.slots()
    }

    /// Whether the consumer is gone.
    #[must_use]
    pub fn is_abandoned(&self) -> bool {
        self.inner.is_abandoned()
    }

    /// Pushes one frame whose body is `parts` joined; false (nothing written) when it does
    /// not fit now or is longer than `u32::MAX`.
    pub fn try_push(&mut self, tag: u32, parts: &[&[u8]]) -> bool {
        let body: usize = parts.iter().map(|p| p.len()).sum();
        let Ok(len) = u32::try_from(body) else {
            return false;
        };
        let Ok(mut chunk) = self.inner.write_chunk(HEADER + body) else {
            return false;
        };
        copy_in(&mut chunk, 0, &len.to_le_bytes());
        copy_in(&mut chunk, 4, &tag.to_le_bytes());
        let mut at = HEADER;
        for part in parts {
            copy_in(&mut chunk, at, part);
            at += part.len();
        }
        chunk.commit_all();
        true
    }
}

impl FrameConsumer {
    /// Takes the next frame into `out` (cleared first) and returns its tag; `None` when the
    /// ring is empty. `out` grows only if a frame is larger than its capacity.
    pub fn try_pop(&mut self, out: &mut Vec<u8>) -> Option<u32> {
        let header = self.inner.read_chunk(HEADER).ok()?;
        let mut bytes = [0u8; HEADER];
        {
            // The header chunk is only looked at: reading it again below with the body.
            let (first, second) = header.as_slices();
            bytes[..first.len()].copy_from_slice(first);
            bytes[first.len()..].copy_from_slice(second);
        }
        let len = u32::from_le_bytes(bytes[..4].try_into().expect("4 bytes")) as usize;
        let tag = u32::from_le_bytes(bytes[4..].try_into().expect("4 bytes"));
        // The producer commits header and body together: the whole frame is there.
        let chunk = self.inner.read_chunk(HEADER + len).ok()?;
        out.clear();
        let (first, second) = chunk.as_slices();
        let skip_first = HEADER.min(first.len());
        out.extend_from_slice(&first[skip_first..]);
        let skip_second = HEADER - skip_first;
        out.extend_from_slice(&second[skip_second..]);
        chunk.commit_all();
        Some(tag)
    }

    /// Bytes queued now.
    #[must_use]
    pub fn queued_bytes(&self) -> usize {
        self.inner.slots()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_across_the_wrap() {
        let (mut tx, mut rx) = frame_channel(64);
        let mut out = Vec::with_capacity(64);
        for round in 0..100u32 {
            let body = vec![round as u8; (round as usize % 20) + 1];
            assert!(tx.try_push(round, &[&body[..1], &body[1..]]));
            assert_eq!(rx.try_pop(&mut out), Some(round));
            assert_eq!(out, body);
        }
        assert_eq!(rx.try_pop(&mut out), None);
    }

    #[test]
    fn a_full_ring_refuses_whole_frames() {
        let (mut tx, mut rx) = frame_channel(32);
        assert!(tx.try_push(1, &[&[7; 20]]));
        assert!(!tx.try_push(2, &[&[8; 20]]), "28 + 28 > 32");
        let mut out = Vec::new();
        assert_eq!(rx.try_pop(&mut out), Some(1));
        assert!(tx.try_push(2, &[&[8; 20]]));
        assert_eq!(rx.try_pop(&mut out), Some(2));
        assert_eq!(out, vec![8; 20]);
        assert!(!tx.try_push(3, &[&[0; 40]]), "larger than the ring");
    }

    #[test]
    fn threads_see_whole_frames_in_order() {
        let (mut tx, mut rx) = frame_channel(256);
        let writer = std::thread::spawn(move || {
            for i in 0..10_000u32 {
                let body = i.to_le_bytes().repeat((i % 7) as usize + 1);
                while !tx.try_push(i, &[&body]) {
                    std::thread::yield_now();
                }
            }
        });
        let mut out = Vec::new();
        let mut next = 0u32;
        while next < 10_000 {
            match rx.try_pop(&mut out) {
                Some(tag) => {
                    assert_eq!(tag, next);
                    assert_eq!(out, next.to_le_bytes().repeat((next % 7) as usize + 1));
                    next += 1;
                }
                None => std::thread::yield_now(),
            }
        }
        writer.join().unwrap();
    }
}
