//! Message framing: find `8=...|9=len|...|10=nnn|` in a receive buffer and check
//! BodyLength and CheckSum before anything looks at the content.

/// The field separator, SOH.
pub const SOH: u8 = 0x01;

/// Largest message [`frame`] accepts by default, in bytes. The decoder's field table
/// stores 16-bit offsets, so no limit may exceed `u16::MAX`.
pub const MESSAGE_BYTES_MAX_DEFAULT: usize = 8192;
/// Hard upper bound for any configured message size limit.
pub const MESSAGE_BYTES_LIMIT: usize = u16::MAX as usize;

/// Why bytes were judged garbled. The FIX session protocol says garbled messages are
/// ignored without a reply; the gateway counts them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum GarbledReason {
    /// Bytes before the next `8=` that do not start a message.
    NoBeginString,
    /// The second field is not `9=<digits>`.
    BadBodyLength,
    /// The declared message would exceed the size limit.
    TooLarge,
    /// BodyLength does not end right before `10=`.
    BodyLengthMismatch,
    /// The CheckSum field is not `10=nnn<SOH>`.
    BadChecksumField,
    /// The CheckSum value differs from the computed one.
    ChecksumMismatch,
}

/// Outcome of [`frame`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameResult {
    /// A whole, checked message occupies `buf[..len]`.
    Complete(usize),
    /// More bytes are needed.
    Incomplete,
    /// `buf[..skip_len]` must be dropped (`skip_len >= 1`).
    Garbled(GarbledReason, usize),
}

/// Frames one message at the start of `buf` with the default size limit.
#[must_use]
pub fn frame(buf: &[u8]) -> FrameResult {
    frame_with_limit(buf, MESSAGE_BYTES_MAX_DEFAULT)
}

/// The FIX checksum: sum of bytes modulo 256.
#[inline]
#[must_use]
pub fn checksum(bytes: &[u8]) -> u8 {
    // Only the sum modulo 256 matters, so a wrapping u8 accumulator is exact, and
    // the loop vectoriser turns this reduction into vector byte adds (`paddb`),
    // 64 bytes per iteration, with no widening.
    let mut sum = 0u8;
    for &b in bytes {
        sum = sum.wrapping_add(b);
    }
    sum
}

/// Reference checksum for tests: one byte at a time.
#[cfg(test)]
pub(crate) fn checksum_reference(bytes: &[u8]) -> u8 {
    bytes.iter().fold(0u8, |sum, &b| sum.wrapping_add(b))
}

/// Where the next possible message start (`8=F`, or a prefix of it at the very end)
/// lies after position 0; used to resynchronise after garbage.
fn resync_len(buf: &[u8]) -> usize {
    const START: &[u8] = b"8=F";
    for i in 1..buf.len() {
        let rest = &buf[i..];
        let n = rest.len().min(START.len());
        if rest[..n] == START[..n] {
            return i;
        }
    }
    buf.len().max(1)
}

/// Frames one message at the start of `buf`, refusing messages larger than
/// `message_bytes_max` (clamped to [`MESSAGE_BYTES_LIMIT`]).
///
/// Never panics; on garbage it reports how many bytes to skip to resynchronise on the
/// next `8=F`.
#[must_use]
pub fn frame_with_limit(buf: &[u8], message_bytes_max: usize) -> FrameResult {
    match frame_fast(buf, message_bytes_max) {
        Some(total) => FrameResult::Complete(total),
        None => frame_slow(buf, message_bytes_max),
    }
}

const ONES: u64 = u64::from_le_bytes([0x01; 8]);
const LOWS: u64 = u64::from_le_bytes([0x7f; 8]);

/// High bit set in exactly the bytes of `word` equal to `byte`.
#[inline(always)]
const fn bytes_equal(word: u64, byte: u8) -> u64 {
    let x = word ^ (ONES * byte as u64);
    !((x & LOWS).wrapping_add(LOWS) | x | LOWS)
}

/// The common case of [`frame_with_limit`]: a whole, well-formed message with a
/// short header. `Some(len)` exactly when the slow path would say `Complete(len)`;
/// `None` leaves every other outcome to it.
#[inline(always)]
fn frame_fast(buf: &[u8], message_bytes_max: usize) -> Option<usize> {
    const BEGIN_STRING_MAX: usize = 16;
    let limit = message_bytes_max.min(MESSAGE_BYTES_LIMIT);
    // "8=" and up to 16 bytes of BeginString, then SOH, "9=" and up to 6 digits, SOH:
    // at most 29 bytes, all in the first 32.
    let head = buf.first_chunk::<32>()?;
    let word = |at: usize| {
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(&head[at..at + 8]);
        u64::from_le_bytes(bytes)
    };
    if head[0] != b'8' || head[1] != b'=' {
        return None;
    }
    // BeginString: the first SOH in bytes 2..=18, no '=' before it, not empty.
    let (low, high) = (word(2), word(10));
    let soh = u128::from(bytes_equal(low, SOH)) | u128::from(bytes_equal(high, SOH)) << 64;
    let eq = u128::from(bytes_equal(low, b'=')) | u128::from(bytes_equal(high, b'=')) << 64;
    let value_len = if soh != 0 {
        (soh.trailing_zeros() / 8) as usize
    } else if head[2 + BEGIN_STRING_MAX] == SOH {
        BEGIN_STRING_MAX
    } else {
        return None;
    };
    // No '=' before the SOH: bytes k < value_len of `eq` are clear.
    let before = u128::MAX >> (128 - 8 * value_len.max(1));
    if value_len == 0 || eq & before != 0 {
        return None;
    }
    let mut i = 2 + value_len + 1;
    if head[i] != b'9' || head[i + 1] != b'=' {
        return None;
    }
    i += 2;
    let digits_start = i;
    let mut body_len: usize = 0;
    loop {
        let b = head[i];
        if b == SOH {
            break;
        }
        let d = b.wrapping_sub(b'0');
        if d > 9 || i - digits_start >= 6 {
            return None;
        }
        body_len = body_len * 10 + usize::from(d);
        i += 1;
    }
    if i == digits_start || body_len == 0 {
        return None;
    }
    const TRAILER_LEN: usize = 7; // "10=nnn<SOH>"
    let checksum_start = i + 1 + body_len;
    let total = checksum_start + TRAILER_LEN;
    if total > limit {
        return None;
    }
    let trailer = buf.get(checksum_start - 1..total)?;
    let [SOH, b'1', b'0', b'=', d2, d1, d0, SOH] = *trailer else {
        return None;
    };
    let (d2, d1, d0) = (
        d2.wrapping_sub(b'0'),
        d1.wrapping_sub(b'0'),
        d0.wrapping_sub(b'0'),
    );
    if d2 > 9 || d1 > 9 || d0 > 9 {
        return None;
    }
    let declared = u32::from(d2) * 100 + u32::from(d1) * 10 + u32::from(d0);
    if declared != u32::from(checksum(&buf[..checksum_start])) {
        return None;
    }
    Some(total)
}

/// [`frame_with_limit`] for every case: the reference.
#[cold]
#[inline(never)]
fn frame_slow(buf: &[u8], message_bytes_max: usize) -> FrameResult {
    let limit = message_bytes_max.min(MESSAGE_BYTES_LIMIT);
    if buf.is_empty() {
        return FrameResult::Incomplete;
    }
    // "8=" then the BeginString value, bounded.
    const PREFIX: &[u8] = b"8=";
    let n = buf.len().min(PREFIX.len());
    if buf[..n] != PREFIX[..n] {
        return FrameResult::Garbled(GarbledReason::NoBeginString, resync_len(buf));
    }
    if buf.len() < 3 {
        return FrameResult::Incomplete;
    }
    const BEGIN_STRING_MAX: usize = 16;
    let mut i = 2;
    loop {
        if i >= buf.len() {
            return FrameResult::Incomplete;
        }
        if buf[i] == SOH {
            break;
        }
        if i - 2 >= BEGIN_STRING_MAX || buf[i] == b'=' {
            return FrameResult::Garbled(GarbledReason::NoBeginString, resync_len(buf));
        }
        i += 1;
    }
    if i == 2 {
        return FrameResult::Garbled(GarbledReason::NoBeginString, resync_len(buf));
    }
    i += 1; // past SOH
            // "9=" digits SOH
    for expected in *b"9=" {
        if i >= buf.len() {
            return FrameResult::Incomplete;
        }
        if buf[i] != expected {
            return FrameResult::Garbled(GarbledReason::BadBodyLength, resync_len(buf));
        }
        i += 1;
    }
    let digits_start = i;
    let mut body_len: usize = 0;
    loop {
        if i >= buf.len() {
            return FrameResult::Incomplete;
        }
        let b = buf[i];
        if b == SOH {
            break;
        }
        if !b.is_ascii_digit() || i - digits_start >= 6 {
            return FrameResult::Garbled(GarbledReason::BadBodyLength, resync_len(buf));
        }
        body_len = body_len * 10 + usize::from(b - b'0');
        i += 1;
    }
    if i == digits_start {
        return FrameResult::Garbled(GarbledReason::BadBodyLength, resync_len(buf));
    }
    let body_start = i + 1;
    const TRAILER_LEN: usize = 7; // "10=nnn<SOH>"
    let checksum_start = body_start + body_len;
    let total = checksum_start + TRAILER_LEN;
    if total > limit {
        return FrameResult::Garbled(GarbledReason::TooLarge, resync_len(buf));
    }
    if buf.len() < total {
        return FrameResult::Incomplete;
    }
    let trailer = &buf[checksum_start..total];
    if body_len == 0 || buf[checksum_start - 1] != SOH || &trailer[..3] != b"10=" {
        return FrameResult::Garbled(GarbledReason::BodyLengthMismatch, resync_len(buf));
    }
    if trailer[6] != SOH || !trailer[3..6].iter().all(u8::is_ascii_digit) {
        return FrameResult::Garbled(GarbledReason::BadChecksumField, resync_len(buf));
    }
    let declared = u32::from(trailer[3] - b'0') * 100
        + u32::from(trailer[4] - b'0') * 10
        + u32::from(trailer[5] - b'0');
    if declared != u32::from(checksum(&buf[..checksum_start])) {
        return FrameResult::Garbled(GarbledReason::ChecksumMismatch, total);
    }
    FrameResult::Complete(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn soh(s: &str) -> Vec<u8> {
        s.replace('|', "\x01").into_bytes()
    }

    fn with_trailer(body: &str) -> Vec<u8> {
        let body = soh(body);
        let mut msg = soh("8=FIX.4.4|");
        msg.extend_from_slice(format!("9={}\x01", body.len()).as_bytes());
        msg.extend_from_slice(&body);
        let sum = checksum(&msg);
        msg.extend_from_slice(format!("10={sum:03}\x01").as_bytes());
        msg
    }

    #[test]
    fn complete_and_incomplete() {
        let msg = with_trailer("35=0|49=A|56=B|34=1|52=20240101-00:00:00|");
        assert_eq!(frame(&msg), FrameResult::Complete(msg.len()));
        for cut in 0..msg.len() {
            assert_eq!(frame(&msg[..cut]), FrameResult::Incomplete, "cut {cut}");
        }
        let mut two = msg.clone();
        two.extend_from_slice(&msg);
        assert_eq!(frame(&two), FrameResult::Complete(msg.len()));
    }

    #[test]
    fn bad_checksum_is_garbled_and_skipped_whole() {
        let mut msg = with_trailer("35=0|49=A|56=B|34=1|52=20240101-00:00:00|");
        let n = msg.len();
        msg[n - 2] = if msg[n - 2] == b'9' { b'0' } else { b'9' };
        assert_eq!(
            frame(&msg),
            FrameResult::Garbled(GarbledReason::ChecksumMismatch, n)
        );
    }

    #[test]
    fn bad_length_resyncs_on_next_message() {
        let good = with_trailer("35=0|49=A|56=B|34=1|52=20240101-00:00:00|");
        let mut bad = soh("8=FIX.4.4|9=5|35=0|49=A|10=000|");
        let bad_len = bad.len();
        bad.extend_from_slice(&good);
        match frame(&bad) {
            FrameResult::Garbled(GarbledReason::BodyLengthMismatch, skip) => {
                assert_eq!(skip, bad_len);
                assert_eq!(frame(&bad[skip..]), FrameResult::Complete(good.len()));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn garbage_prefix_skipped() {
        let good = with_trailer("35=0|49=A|56=B|34=1|52=20240101-00:00:00|");
        let mut buf = b"hello world".to_vec();
        buf.extend_from_slice(&good);
        assert_eq!(
            frame(&buf),
            FrameResult::Garbled(GarbledReason::NoBeginString, 11)
        );
        // A partial "8=" at the end is kept.
        assert_eq!(
            frame(b"xx8"),
            FrameResult::Garbled(GarbledReason::NoBeginString, 2)
        );
    }

    proptest::proptest! {
        #[test]
        fn checksum_matches_byte_sum(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..2048)) {
            for start in 0..bytes.len().min(40) {
                proptest::prop_assert_eq!(checksum(&bytes[start..]), checksum_reference(&bytes[start..]));
            }
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 2048, ..Default::default() })]

        #[test]
        fn fast_frame_matches_slow(
            begin in "[A-Z.0-9=]{0,18}",
            len_text in "[0-9]{0,7}|x",
            body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..64),
            fix_len in proptest::prelude::any::<bool>(),
            fix_sum in proptest::prelude::any::<bool>(),
            limit in 0usize..200,
            cut in proptest::prelude::any::<u16>(),
        ) {
            let len_text = if fix_len { body.len().to_string() } else { len_text };
            let mut msg = format!("8={begin}\x019={len_text}\x01").into_bytes();
            msg.extend_from_slice(&body);
            let sum = if fix_sum { checksum(&msg) } else { body.len() as u8 };
            msg.extend_from_slice(format!("10={sum:03}\x01").as_bytes());
            for limit in [limit, MESSAGE_BYTES_MAX_DEFAULT] {
                let cut = usize::from(cut) % (msg.len() + 1);
                for bytes in [&msg[..], &msg[..cut]] {
                    proptest::prop_assert_eq!(
                        frame_with_limit(bytes, limit),
                        frame_slow(bytes, limit)
                    );
                }
            }
        }
    }

    #[test]
    fn fast_frame_begin_string_lengths() {
        for n in 0..=18 {
            let body = soh("35=0|49=A|56=B|34=1|52=20240101-00:00:00|");
            let mut msg = format!("8={}\x019={}\x01", "F".repeat(n), body.len()).into_bytes();
            msg.extend_from_slice(&body);
            let sum = checksum(&msg);
            msg.extend_from_slice(format!("10={sum:03}\x01").as_bytes());
            let expected = if (1..=16).contains(&n) {
                FrameResult::Complete(msg.len())
            } else {
                frame_slow(&msg, MESSAGE_BYTES_MAX_DEFAULT)
            };
            assert_eq!(frame(&msg), expected, "{n}");
            assert_eq!(
                frame(&msg),
                frame_slow(&msg, MESSAGE_BYTES_MAX_DEFAULT),
                "{n}"
            );
        }
    }

    #[test]
    fn checksum_edge_cases() {
        for len in 0..300 {
            for fill in [0u8, 1, 0x7f, 0x80, 0xff] {
                let bytes = vec![fill; len];
                assert_eq!(
                    checksum(&bytes),
                    checksum_reference(&bytes),
                    "{len} x {fill}"
                );
            }
        }
        let big = vec![0xffu8; usize::from(u16::MAX)];
        assert_eq!(checksum(&big), checksum_reference(&big));
    }

    #[test]
    fn too_large() {
        let msg = soh("8=FIX.4.4|9=99999|");
        assert!(matches!(
            frame(&msg),
            FrameResult::Garbled(GarbledReason::TooLarge, _)
        ));
        assert!(matches!(
            frame(&soh("8=FIX.4.4|9=1234567|")),
            FrameResult::Garbled(GarbledReason::BadBodyLength, _)
        ));
    }
}
