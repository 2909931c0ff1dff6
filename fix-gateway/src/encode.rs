//! Allocation-free encoder writing into a caller-owned (per-session, preallocated)
//! buffer, with BodyLength and CheckSum computed at [`MessageBuilder::finish`].

use crate::dictionary::{tag, FixVersion};
use crate::frame::{checksum, SOH};
use crate::time::{digit_pair, format_utc_timestamp, TimestampPrecision, TIMESTAMP_LEN_MAX};

/// Bytes reserved in front of the body for `8=<begin>|9=<digits>|`: the prefix is
/// written right-aligned against the body at [`MessageBuilder::finish`], so the body
/// never moves and BodyLength has no leading zeros.
const PREFIX_RESERVED: usize = b"8=FIXT.1.1\x019=".len() + BODY_LENGTH_DIGITS_MAX + 1;
const BODY_LENGTH_DIGITS_MAX: usize = 5;
const TRAILER_LEN: usize = 7;

/// Why a message could not be encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum EncodeError {
    /// The buffer is too small for the message.
    BufferFull,
    /// The body exceeds 99,999 bytes.
    BodyTooLong,
}

impl core::fmt::Display for EncodeError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            EncodeError::BufferFull => write!(f, "encode buffer full"),
            EncodeError::BodyTooLong => write!(f, "body longer than 99999 bytes"),
        }
    }
}

impl std::error::Error for EncodeError {}

/// Standard header values written by [`MessageBuilder::header`].
#[derive(Clone, Copy, Debug)]
pub struct Header<'h> {
    /// SenderCompID(49).
    pub sender_comp_id: &'h [u8],
    /// TargetCompID(56).
    pub target_comp_id: &'h [u8],
    /// MsgSeqNum(34).
    pub msg_seq_num: u64,
    /// SendingTime(52), ns since the epoch.
    pub sending_time_ns: u64,
    /// Precision of SendingTime and OrigSendingTime.
    pub precision: TimestampPrecision,
    /// Writes PossDupFlag(43)=Y and OrigSendingTime(122) when set.
    pub orig_sending_time_ns: Option<u64>,
}

/// Writes one FIX message into a borrowed buffer.
///
/// ```
/// use arbiter_fix::{FixVersion, MessageBuilder, Header, TimestampPrecision, frame, FrameResult};
/// let mut buf = [0u8; 512];
/// let mut b = MessageBuilder::new(&mut buf, FixVersion::Fix44, b"0");
/// b.header(&Header {
///     sender_comp_id: b"ARB", target_comp_id: b"CLIENT", msg_seq_num: 2,
///     sending_time_ns: 0, precision: TimestampPrecision::Millis, orig_sending_time_ns: None,
/// });
/// b.push_str(112, b"ping");
/// let msg = b.finish().unwrap();
/// assert_eq!(frame(msg), FrameResult::Complete(msg.len()));
/// ```
#[derive(Debug)]
pub struct MessageBuilder<'b> {
    buf: &'b mut [u8],
    pos: usize,
    version: FixVersion,
    overflow: bool,
}

/// Formats `value` right-aligned into `out`, returning the start index.
#[inline]
fn format_u64(mut value: u64, out: &mut [u8; 20]) -> usize {
    let mut i = out.len();
    // Four digits per division while the value is large, then pairs.
    while value >= 10_000 {
        let rest = (value % 10_000) as u32;
        value /= 10_000;
        out[i - 2..i].copy_from_slice(&digit_pair(rest % 100));
        out[i - 4..i - 2].copy_from_slice(&digit_pair(rest / 100));
        i -= 4;
    }
    let mut value = value as u32;
    if value >= 100 {
        out[i - 2..i].copy_from_slice(&digit_pair(value % 100));
        value /= 100;
        i -= 2;
    }
    if value >= 10 {
        out[i - 2..i].copy_from_slice(&digit_pair(value));
        i - 2
    } else {
        out[i - 1] = b'0' + value as u8;
        i - 1
    }
}

/// `tag=` as little-endian bytes of a word, and its length, for tags below 10000.
#[inline(always)]
fn tag_word(tag: u32) -> Option<(u64, usize)> {
    let word = |bytes: [u8; 8]| u64::from_le_bytes(bytes);
    Some(if tag < 10 {
        (word([b'0' + tag as u8, b'=', 0, 0, 0, 0, 0, 0]), 2)
    } else if tag < 100 {
        let [a, b] = digit_pair(tag);
        (word([a, b, b'=', 0, 0, 0, 0, 0]), 3)
    } else if tag < 1000 {
        let [b, c] = digit_pair(tag % 100);
        (word([b'0' + (tag / 100) as u8, b, c, b'=', 0, 0, 0, 0]), 4)
    } else if tag < 10_000 {
        let [a, b] = digit_pair(tag / 100);
        let [c, d] = digit_pair(tag % 100);
        (word([a, b, c, d, b'=', 0, 0, 0]), 5)
    } else {
        return None;
    })
}

/// Copies `src` to the start of `dst` (`dst.len() >= src.len()`) with fixed-size
/// moves for short values instead of a `memcpy` call.
#[inline(always)]
fn copy_short(dst: &mut [u8], src: &[u8]) {
    let n = src.len();
    match n {
        8..=16 => {
            dst[..8].copy_from_slice(&src[..8]);
            dst[n - 8..n].copy_from_slice(&src[n - 8..]);
        }
        17..=32 => {
            dst[..16].copy_from_slice(&src[..16]);
            dst[n - 16..n].copy_from_slice(&src[n - 16..]);
        }
        4..=7 => {
            dst[..4].copy_from_slice(&src[..4]);
            dst[n - 4..n].copy_from_slice(&src[n - 4..]);
        }
        1..=3 => {
            dst[0] = src[0];
            dst[n / 2] = src[n / 2];
            dst[n - 1] = src[n - 1];
        }
        _ => dst[..n].copy_from_slice(src),
    }
}

/// 10^0 ..= 10^18.
const POW10: [u64; 19] = {
    let mut table = [1u64; 19];
    let mut i = 1;
    while i < 19 {
        table[i] = table[i - 1] * 10;
        i += 1;
    }
    table
};

impl<'b> MessageBuilder<'b> {
    /// Starts a message of type `msg_type` (writes `35=<msg_type>`).
    #[must_use]
    pub fn new(buf: &'b mut [u8], version: FixVersion, msg_type: &[u8]) -> Self {
        let mut builder = MessageBuilder {
            pos: PREFIX_RESERVED.min(buf.len()),
            overflow: buf.len() < PREFIX_RESERVED,
            buf,
            version,
        };
        builder.push_bytes(tag::MSG_TYPE, msg_type);
        builder
    }

    /// Writes 49, 56, 34, 52 and, for a possible duplicate, 43=Y and 122.
    pub fn header(&mut self, header: &Header<'_>) {
        self.push_bytes(tag::SENDER_COMP_ID, header.sender_comp_id);
        self.push_bytes(tag::TARGET_COMP_ID, header.target_comp_id);
        self.push_u64(tag::MSG_SEQ_NUM, header.msg_seq_num);
        if let Some(orig) = header.orig_sending_time_ns {
            self.push_char(tag::POSS_DUP_FLAG, b'Y');
            self.push_timestamp(tag::SENDING_TIME, header.sending_time_ns, header.precision);
            self.push_timestamp(tag::ORIG_SENDING_TIME, orig, header.precision);
        } else {
            self.push_timestamp(tag::SENDING_TIME, header.sending_time_ns, header.precision);
        }
    }

    #[inline(always)]
    fn room(&self, n: usize) -> bool {
        !self.overflow && self.pos + n + TRAILER_LEN <= self.buf.len()
    }

    #[inline(always)]
    fn tag_prefix(&mut self, tag: u32) -> bool {
        // Tag digits + '=' need at most 11 bytes.
        if !self.room(11) {
            self.overflow = true;
            return false;
        }
        if let Some((word, n)) = tag_word(tag) {
            // room(11) leaves at least 8 bytes; the bytes past `n` are overwritten next.
            self.buf[self.pos..self.pos + 8].copy_from_slice(&word.to_le_bytes());
            self.pos += n;
            return true;
        }
        let mut digits = [0u8; 20];
        let start = format_u64(u64::from(tag), &mut digits);
        let n = digits.len() - start;
        self.buf[self.pos..self.pos + n].copy_from_slice(&digits[start..]);
        self.buf[self.pos + n] = b'=';
        self.pos += n + 1;
        true
    }

    #[inline(always)]
    fn value(&mut self, value: &[u8]) {
        if !self.room(value.len() + 1) {
            self.overflow = true;
            return;
        }
        let out = &mut self.buf[self.pos..=self.pos + value.len()];
        copy_short(out, value);
        out[value.len()] = SOH;
        self.pos += value.len() + 1;
    }

    /// Appends `tag=value`. The value must not contain SOH (not checked in release).
    #[inline]
    pub fn push_bytes(&mut self, tag: u32, value: &[u8]) {
        debug_assert!(!value.contains(&SOH));
        if self.tag_prefix(tag) {
            self.value(value);
        }
    }

    /// Appends a text field.
    #[inline]
    pub fn push_str(&mut self, tag: u32, value: &[u8]) {
        self.push_bytes(tag, value);
    }

    /// Appends an unsigned integer.
    #[inline]
    pub fn push_u64(&mut self, tag: u32, value: u64) {
        let mut digits = [0u8; 20];
        let start = format_u64(value, &mut digits);
        self.push_bytes(tag, &digits[start..]);
    }

    /// Appends a signed integer.
    #[inline]
    pub fn push_i64(&mut self, tag: u32, value: i64) {
        let mut digits = [0u8; 20];
        let mut start = format_u64(value.unsigned_abs(), &mut digits);
        if value < 0 {
            start -= 1;
            digits[start] = b'-';
        }
        self.push_bytes(tag, &digits[start..]);
    }

    /// Appends one character.
    #[inline]
    pub fn push_char(&mut self, tag: u32, value: u8) {
        self.push_bytes(tag, &[value]);
    }

    /// Appends `Y` or `N`.
    #[inline]
    pub fn push_bool(&mut self, tag: u32, value: bool) {
        self.push_char(tag, if value { b'Y' } else { b'N' });
    }

    /// Appends a fixed-point decimal: `mantissa / 10^scale`, trailing fraction zeros
    /// trimmed (`push_decimal(44, 10150, 2)` writes `44=101.5`). `scale` is capped at 18.
    #[inline]
    pub fn push_decimal(&mut self, tag: u32, mantissa: i64, scale: u32) {
        let scale = scale.min(18);
        let magnitude = mantissa.unsigned_abs();
        // Written right to left: fraction, '.', integer part, sign.
        let mut out = [0u8; 44];
        let mut start = out.len();
        let (int_part, mut frac) = if scale == 0 {
            (magnitude, 0)
        } else {
            let divisor = POW10[scale as usize];
            (magnitude / divisor, magnitude % divisor)
        };
        if frac != 0 {
            let mut width = scale as usize;
            while frac % 10 == 0 {
                frac /= 10;
                width -= 1;
            }
            for _ in 0..width {
                start -= 1;
                out[start] = b'0' + (frac % 10) as u8;
                frac /= 10;
            }
            start -= 1;
            out[start] = b'.';
        }
        let mut digits = [0u8; 20];
        let digits_start = format_u64(int_part, &mut digits);
        let int_len = digits.len() - digits_start;
        out[start - int_len..start].copy_from_slice(&digits[digits_start..]);
        start -= int_len;
        if mantissa < 0 {
            start -= 1;
            out[start] = b'-';
        }
        self.push_bytes(tag, &out[start..]);
    }

    /// Appends a UTCTimestamp.
    #[inline]
    pub fn push_timestamp(&mut self, tag: u32, ns: u64, precision: TimestampPrecision) {
        // Tag prefix + the longest timestamp + SOH fit: format in place.
        if self.room(11 + TIMESTAMP_LEN_MAX + 1) && self.tag_prefix(tag) {
            let pos = self.pos;
            let out: &mut [u8; TIMESTAMP_LEN_MAX] = (&mut self.buf[pos..pos + TIMESTAMP_LEN_MAX])
                .try_into()
                .expect("slice of TIMESTAMP_LEN_MAX bytes");
            let n = format_utc_timestamp(ns, precision, out);
            self.buf[pos + n] = SOH;
            self.pos = pos + n + 1;
            return;
        }
        let mut out = [0u8; TIMESTAMP_LEN_MAX];
        let n = format_utc_timestamp(ns, precision, &mut out);
        self.push_bytes(tag, &out[..n]);
    }

    /// The fields written after MsgType so far (`tag=value<SOH>` repeated), or `None` if
    /// one did not fit: the body another thread hands to the session that sends it (see
    /// [`MessageBuilder::push_encoded_fields`]). Call it before any header field is written.
    #[must_use]
    pub fn fields_after_msg_type(&self) -> Option<&[u8]> {
        if self.overflow {
            return None;
        }
        let start = PREFIX_RESERVED.min(self.buf.len());
        let written = &self.buf[start..self.pos];
        // Skip "35=<type><SOH>".
        let soh = written.iter().position(|&b| b == SOH)?;
        Some(&written[soh + 1..])
    }

    /// Appends fields already encoded elsewhere (`tag=value<SOH>` repeated, as another
    /// thread wrote them: market-data bodies). Overflow is reported by `finish`.
    pub fn push_encoded_fields(&mut self, fields: &[u8]) {
        debug_assert!(fields.is_empty() || fields.last() == Some(&SOH));
        if !self.room(fields.len()) {
            self.overflow = true;
            return;
        }
        self.buf[self.pos..self.pos + fields.len()].copy_from_slice(fields);
        self.pos += fields.len();
    }

    /// Appends a field copied verbatim from another message.
    pub fn push_raw_field(&mut self, tag: u32, value: &[u8]) {
        self.push_bytes(tag, value);
    }

    /// Writes BeginString, BodyLength and CheckSum and returns the whole message.
    ///
    /// # Errors
    /// [`EncodeError::BufferFull`] if any field did not fit.
    pub fn finish(self) -> Result<&'b [u8], EncodeError> {
        if self.overflow || self.pos + TRAILER_LEN > self.buf.len() {
            return Err(EncodeError::BufferFull);
        }
        let body_len = self.pos - PREFIX_RESERVED;
        if body_len >= 100_000 {
            return Err(EncodeError::BodyTooLong);
        }
        // Right-aligned against the body: "8=" begin SOH "9=" digits SOH.
        let mut digits = [0u8; 20];
        let digits_start = format_u64(body_len as u64, &mut digits);
        let digits = &digits[digits_start..];
        let begin = self.version.begin_string();
        let mut p = PREFIX_RESERVED - 1;
        self.buf[p] = SOH;
        p -= digits.len();
        copy_short(&mut self.buf[p..], digits);
        p -= 2;
        self.buf[p..p + 2].copy_from_slice(b"9=");
        p -= 1;
        self.buf[p] = SOH;
        p -= begin.len();
        copy_short(&mut self.buf[p..], begin);
        p -= 2;
        self.buf[p..p + 2].copy_from_slice(b"8=");
        let start = p;
        let sum = checksum(&self.buf[start..self.pos]);
        let end = self.pos + TRAILER_LEN;
        let trailer = &mut self.buf[self.pos..end];
        trailer[..3].copy_from_slice(b"10=");
        trailer[3] = b'0' + sum / 100;
        trailer[4] = b'0' + sum / 10 % 10;
        trailer[5] = b'0' + sum % 10;
        trailer[6] = SOH;
        Ok(&self.buf[start..end])
    }
}

#[cfg(test)]
#[allow(dead_code, clippy::all)]
mod reference {
    //! The encoder before the speed work, kept verbatim as the reference.
    use super::*;
    use crate::time::format_utc_timestamp_reference as format_utc_timestamp;

    pub(super) struct ReferenceBuilder<'b> {
        buf: &'b mut [u8],
        pos: usize,
        version: FixVersion,
        overflow: bool,
    }

    /// Formats `value` right-aligned into `out`, returning the start index.
    #[inline]
    pub(super) fn format_u64_reference(mut value: u64, out: &mut [u8; 20]) -> usize {
        let mut i = out.len();
        loop {
            i -= 1;
            out[i] = b'0' + (value % 10) as u8;
            value /= 10;
            if value == 0 {
                return i;
            }
        }
    }

    impl<'b> ReferenceBuilder<'b> {
        /// Starts a message of type `msg_type` (writes `35=<msg_type>`).
        #[must_use]
        pub(super) fn new(buf: &'b mut [u8], version: FixVersion, msg_type: &[u8]) -> Self {
            let mut builder = ReferenceBuilder {
                pos: PREFIX_RESERVED.min(buf.len()),
                overflow: buf.len() < PREFIX_RESERVED,
                buf,
                version,
            };
            builder.push_bytes(tag::MSG_TYPE, msg_type);
            builder
        }

        /// Writes 49, 56, 34, 52 and, for a possible duplicate, 43=Y and 122.
        pub(super) fn header(&mut self, header: &Header<'_>) {
            self.push_bytes(tag::SENDER_COMP_ID, header.sender_comp_id);
            self.push_bytes(tag::TARGET_COMP_ID, header.target_comp_id);
            self.push_u64(tag::MSG_SEQ_NUM, header.msg_seq_num);
            if let Some(orig) = header.orig_sending_time_ns {
                self.push_char(tag::POSS_DUP_FLAG, b'Y');
                self.push_timestamp(tag::SENDING_TIME, header.sending_time_ns, header.precision);
                self.push_timestamp(tag::ORIG_SENDING_TIME, orig, header.precision);
            } else {
                self.push_timestamp(tag::SENDING_TIME, header.sending_time_ns, header.precision);
            }
        }

        #[inline]
        fn room(&self, n: usize) -> bool {
            !self.overflow && self.pos + n + TRAILER_LEN <= self.buf.len()
        }

        #[inline]
        fn tag_prefix(&mut self, tag: u32) -> bool {
            // Tag digits + '=' need at most 11 bytes.
            if !self.room(11) {
                self.overflow = true;
                return false;
            }
            let mut digits = [0u8; 20];
            let start = format_u64_reference(u64::from(tag), &mut digits);
            let n = digits.len() - start;
            self.buf[self.pos..self.pos + n].copy_from_slice(&digits[start..]);
            self.buf[self.pos + n] = b'=';
            self.pos += n + 1;
            true
        }

        #[inline]
        fn value(&mut self, value: &[u8]) {
            if !self.room(value.len() + 1) {
                self.overflow = true;
                return;
            }
            self.buf[self.pos..self.pos + value.len()].copy_from_slice(value);
            self.buf[self.pos + value.len()] = SOH;
            self.pos += value.len() + 1;
        }

        /// Appends `tag=value`. The value must not contain SOH (not checked in release).
        pub(super) fn push_bytes(&mut self, tag: u32, value: &[u8]) {
            debug_assert!(!value.contains(&SOH));
            if self.tag_prefix(tag) {
                self.value(value);
            }
        }

        /// Appends a text field.
        pub(super) fn push_str(&mut self, tag: u32, value: &[u8]) {
            self.push_bytes(tag, value);
        }

        /// Appends an unsigned integer.
        pub(super) fn push_u64(&mut self, tag: u32, value: u64) {
            let mut digits = [0u8; 20];
            let start = format_u64_reference(value, &mut digits);
            self.push_bytes(tag, &digits[start..]);
        }

        /// Appends a signed integer.
        pub(super) fn push_i64(&mut self, tag: u32, value: i64) {
            let mut digits = [0u8; 20];
            let mut start = format_u64_reference(value.unsigned_abs(), &mut digits);
            if value < 0 {
                start -= 1;
                digits[start] = b'-';
            }
            self.push_bytes(tag, &digits[start..]);
        }

        /// Appends one character.
        pub(super) fn push_char(&mut self, tag: u32, value: u8) {
            self.push_bytes(tag, &[value]);
        }

        /// Appends `Y` or `N`.
        pub(super) fn push_bool(&mut self, tag: u32, value: bool) {
            self.push_char(tag, if value { b'Y' } else { b'N' });
        }

        /// Appends a fixed-point decimal: `mantissa / 10^scale`, trailing fraction zeros
        /// trimmed (`push_decimal(44, 10150, 2)` writes `44=101.5`). `scale` is capped at 18.
        pub(super) fn push_decimal(&mut self, tag: u32, mantissa: i64, scale: u32) {
            let scale = scale.min(18);
            let magnitude = mantissa.unsigned_abs();
            let divisor = 10u64.pow(scale);
            let int_part = magnitude / divisor;
            let mut frac = magnitude % divisor;
            let mut out = [0u8; 44];
            let mut n = 0;
            if mantissa < 0 {
                out[0] = b'-';
                n = 1;
            }
            let mut digits = [0u8; 20];
            let start = format_u64_reference(int_part, &mut digits);
            out[n..n + 20 - start].copy_from_slice(&digits[start..]);
            n += 20 - start;
            if frac != 0 {
                let mut width = scale as usize;
                while frac % 10 == 0 {
                    frac /= 10;
                    width -= 1;
                }
                out[n] = b'.';
                n += 1;
                for i in (0..width).rev() {
                    out[n + i] = b'0' + (frac % 10) as u8;
                    frac /= 10;
                }
                n += width;
            }
            self.push_bytes(tag, &out[..n]);
        }

        /// Appends a UTCTimestamp.
        pub(super) fn push_timestamp(&mut self, tag: u32, ns: u64, precision: TimestampPrecision) {
            let mut out = [0u8; TIMESTAMP_LEN_MAX];
            let n = format_utc_timestamp(ns, precision, &mut out);
            self.push_bytes(tag, &out[..n]);
        }

        /// Appends a field copied verbatim from another message.
        pub(super) fn push_raw_field(&mut self, tag: u32, value: &[u8]) {
            self.push_bytes(tag, value);
        }

        /// Writes BeginString, BodyLength and CheckSum and returns the whole message.
        ///
        /// # Errors
        /// [`EncodeError::BufferFull`] if any field did not fit.
        pub(super) fn finish(self) -> Result<&'b [u8], EncodeError> {
            if self.overflow || self.pos + TRAILER_LEN > self.buf.len() {
                return Err(EncodeError::BufferFull);
            }
            let body_len = self.pos - PREFIX_RESERVED;
            if body_len >= 100_000 {
                return Err(EncodeError::BodyTooLong);
            }
            let mut digits = [0u8; 20];
            let digits_start = format_u64_reference(body_len as u64, &mut digits);
            let digits = &digits[digits_start..];
            let begin = self.version.begin_string();
            let prefix_len = 2 + begin.len() + 1 + 2 + digits.len() + 1;
            let start = PREFIX_RESERVED - prefix_len;
            let mut p = start;
            for part in [b"8=".as_slice(), begin, &[SOH], b"9=", digits, &[SOH]] {
                self.buf[p..p + part.len()].copy_from_slice(part);
                p += part.len();
            }
            debug_assert_eq!(p, PREFIX_RESERVED);
            let sum = checksum(&self.buf[start..self.pos]);
            let end = self.pos + TRAILER_LEN;
            let trailer = &mut self.buf[self.pos..end];
            trailer[..3].copy_from_slice(b"10=");
            trailer[3] = b'0' + sum / 100;
            trailer[4] = b'0' + sum / 10 % 10;
            trailer[5] = b'0' + sum % 10;
            trailer[6] = SOH;
            Ok(&self.buf[start..end])
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::decode;
    use crate::frame::{frame, FrameResult};

    #[test]
    fn encodes_known_message() {
        let mut buf = [0u8; 256];
        let mut b = MessageBuilder::new(&mut buf, FixVersion::Fix44, b"0");
        b.header(&Header {
            sender_comp_id: b"S",
            target_comp_id: b"T",
            msg_seq_num: 1,
            sending_time_ns: 0,
            precision: TimestampPrecision::Millis,
            orig_sending_time_ns: None,
        });
        let msg = b.finish().unwrap();
        let text = String::from_utf8(msg.to_vec())
            .unwrap()
            .replace('\x01', "|");
        assert_eq!(
            text,
            "8=FIX.4.4|9=45|35=0|49=S|56=T|34=1|52=19700101-00:00:00.000|10=095|"
        );
        assert_eq!(frame(msg), FrameResult::Complete(msg.len()));
    }

    #[test]
    fn bodies_written_on_one_thread_are_sent_whole_on_another() {
        let mut body_buf = [0u8; 256];
        let mut body = MessageBuilder::new(&mut body_buf, FixVersion::Fix44, b"W");
        body.push_str(262, b"r1");
        body.push_str(55, b"AAPL");
        let fields = body.fields_after_msg_type().unwrap().to_vec();
        assert_eq!(fields, b"262=r1\x0155=AAPL\x01");
        let mut buf = [0u8; 256];
        let mut b = MessageBuilder::new(&mut buf, FixVersion::Fix44, b"W");
        b.push_encoded_fields(&fields);
        let msg = b.finish().unwrap();
        let decoded = decode(msg).unwrap();
        assert_eq!(decoded.get(262), Some(&b"r1"[..]));
        assert_eq!(decoded.get(55), Some(&b"AAPL"[..]));
        let mut tiny = [0u8; 40];
        let mut small = MessageBuilder::new(&mut tiny, FixVersion::Fix44, b"W");
        small.push_str(58, &[b'x'; 64]);
        assert!(
            small.fields_after_msg_type().is_none(),
            "overflow is reported"
        );
    }

    #[test]
    fn decimals_and_integers() {
        let mut buf = [0u8; 256];
        let mut b = MessageBuilder::new(&mut buf, FixVersion::Fixt11, b"8");
        b.push_decimal(44, 10150, 2);
        b.push_decimal(31, -5, 3);
        b.push_decimal(38, 700, 0);
        b.push_decimal(6, 0, 4);
        b.push_i64(1, i64::MIN);
        b.push_u64(2, 9_999_999_999_999_999_999);
        let msg = b.finish().unwrap();
        let m = decode(msg).unwrap();
        assert_eq!(m.get(44), Some(&b"101.5"[..]));
        assert_eq!(m.get(31), Some(&b"-0.005"[..]));
        assert_eq!(m.get(38), Some(&b"700"[..]));
        assert_eq!(m.get(6), Some(&b"0"[..]));
        assert_eq!(m.get_i64(1).ok(), None); // 19 digits exceed parse_i64's range
        assert_eq!(m.get_u64(2), Ok(9_999_999_999_999_999_999));
        assert_eq!(m.begin_string(), b"FIXT.1.1");
    }

    #[test]
    fn overflow_is_an_error() {
        let mut buf = [0u8; 40];
        let mut b = MessageBuilder::new(&mut buf, FixVersion::Fix44, b"0");
        b.push_str(58, b"this text does not fit in forty bytes");
        assert_eq!(b.finish(), Err(EncodeError::BufferFull));
        let mut tiny = [0u8; 4];
        let b = MessageBuilder::new(&mut tiny, FixVersion::Fix44, b"0");
        assert_eq!(b.finish(), Err(EncodeError::BufferFull));
    }

    use super::reference::{format_u64_reference, ReferenceBuilder};
    use proptest::prelude::*;

    #[derive(Clone, Debug)]
    enum Op {
        Header(u64, u64, u8, Option<u64>),
        Str(u32, Vec<u8>),
        U64(u32, u64),
        I64(u32, i64),
        Char(u32, u8),
        Bool(u32, bool),
        Decimal(u32, i64, u32),
        Timestamp(u32, u64, u8),
    }

    fn precision(p: u8) -> TimestampPrecision {
        match p % 3 {
            0 => TimestampPrecision::Millis,
            1 => TimestampPrecision::Micros,
            _ => TimestampPrecision::Nanos,
        }
    }

    fn tag_strategy() -> impl Strategy<Value = u32> {
        prop_oneof![1u32..200, 1u32..100_000, any::<u32>()]
    }

    fn op_strategy() -> impl Strategy<Value = Op> {
        let text = proptest::collection::vec(any::<u8>().prop_filter("SOH", |b| *b != SOH), 0..40);
        prop_oneof![
            (
                any::<u64>(),
                any::<u64>(),
                any::<u8>(),
                any::<Option<u64>>()
            )
                .prop_map(|(s, t, p, o)| Op::Header(s, t, p, o)),
            (tag_strategy(), text).prop_map(|(t, v)| Op::Str(t, v)),
            (tag_strategy(), any::<u64>()).prop_map(|(t, v)| Op::U64(t, v)),
            (tag_strategy(), any::<i64>()).prop_map(|(t, v)| Op::I64(t, v)),
            (
                tag_strategy(),
                any::<u8>().prop_filter("SOH", |b| *b != SOH)
            )
                .prop_map(|(t, v)| Op::Char(t, v)),
            (tag_strategy(), any::<bool>()).prop_map(|(t, v)| Op::Bool(t, v)),
            (tag_strategy(), any::<i64>(), 0u32..24).prop_map(|(t, m, s)| Op::Decimal(t, m, s)),
            (tag_strategy(), -1_000_000i64..1_000_000, 0u32..8)
                .prop_map(|(t, m, s)| Op::Decimal(t, m, s)),
            (tag_strategy(), any::<u64>(), any::<u8>())
                .prop_map(|(t, n, p)| Op::Timestamp(t, n, p)),
        ]
    }

    macro_rules! apply {
        ($b:expr, $ops:expr) => {
            for op in $ops {
                match op {
                    Op::Header(seq, ns, p, orig) => $b.header(&Header {
                        sender_comp_id: b"SENDER",
                        target_comp_id: b"TGT",
                        msg_seq_num: *seq,
                        sending_time_ns: *ns,
                        precision: precision(*p),
                        orig_sending_time_ns: *orig,
                    }),
                    Op::Str(t, v) => $b.push_str(*t, v),
                    Op::U64(t, v) => $b.push_u64(*t, *v),
                    Op::I64(t, v) => $b.push_i64(*t, *v),
                    Op::Char(t, v) => $b.push_char(*t, *v),
                    Op::Bool(t, v) => $b.push_bool(*t, *v),
                    Op::Decimal(t, m, s) => $b.push_decimal(*t, *m, *s),
                    Op::Timestamp(t, n, p) => $b.push_timestamp(*t, *n, precision(*p)),
                }
            }
        };
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 1024, ..ProptestConfig::default() })]

        /// Same bytes, or the same error, as the original encoder, for any buffer size.
        #[test]
        fn builder_matches_reference(
            ops in proptest::collection::vec(op_strategy(), 0..24),
            size in 0usize..1200,
            fixt in any::<bool>(),
            msg_type in "[0-9A-Za-z]{1,2}",
        ) {
            let version = if fixt { FixVersion::Fixt11 } else { FixVersion::Fix44 };
            let mut fast_buf = vec![0u8; size];
            let mut slow_buf = vec![0u8; size];
            let mut fast = MessageBuilder::new(&mut fast_buf, version, msg_type.as_bytes());
            let mut slow = ReferenceBuilder::new(&mut slow_buf, version, msg_type.as_bytes());
            apply!(fast, &ops);
            apply!(slow, &ops);
            prop_assert_eq!(fast.finish(), slow.finish());
        }

        #[test]
        fn format_u64_matches(value in any::<u64>()) {
            let (mut a, mut b) = ([0u8; 20], [0u8; 20]);
            let (i, j) = (format_u64(value, &mut a), format_u64_reference(value, &mut b));
            prop_assert_eq!(&a[i..], &b[j..]);
        }
    }

    #[test]
    fn small_helpers() {
        for tag in 0..20_000u32 {
            let want = format!("{tag}=");
            match tag_word(tag) {
                Some((word, n)) => assert_eq!(&word.to_le_bytes()[..n], want.as_bytes()),
                None => assert!(tag >= 10_000),
            }
        }
        let mut value = 1u64;
        for _ in 0..20 {
            for v in [value - 1, value, value + 1] {
                let mut out = [0u8; 20];
                let i = format_u64(v, &mut out);
                assert_eq!(&out[i..], v.to_string().as_bytes());
            }
            value = value.saturating_mul(10);
        }
        let src: Vec<u8> = (1..=80).collect();
        for n in 0..=src.len() {
            let mut dst = [0u8; 96];
            copy_short(&mut dst, &src[..n]);
            assert_eq!(&dst[..n], &src[..n]);
            assert!(dst[n..].iter().all(|&b| b == 0), "{n}");
        }
    }
}
