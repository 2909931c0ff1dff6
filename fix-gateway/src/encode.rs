//! Allocation-free encoder writing into a caller-owned (per-session, preallocated)
//! buffer, with BodyLength and CheckSum computed at [`MessageBuilder::finish`].

use crate::dictionary::{tag, FixVersion};
use crate::frame::{checksum, SOH};
use crate::time::{format_utc_timestamp, TimestampPrecision, TIMESTAMP_LEN_MAX};

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
    loop {
        i -= 1;
        out[i] = b'0' + (value % 10) as u8;
        value /= 10;
        if value == 0 {
            return i;
        }
    }
}

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
        let start = format_u64(u64::from(tag), &mut digits);
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
    pub fn push_bytes(&mut self, tag: u32, value: &[u8]) {
        debug_assert!(!value.contains(&SOH));
        if self.tag_prefix(tag) {
            self.value(value);
        }
    }

    /// Appends a text field.
    pub fn push_str(&mut self, tag: u32, value: &[u8]) {
        self.push_bytes(tag, value);
    }

    /// Appends an unsigned integer.
    pub fn push_u64(&mut self, tag: u32, value: u64) {
        let mut digits = [0u8; 20];
        let start = format_u64(value, &mut digits);
        self.push_bytes(tag, &digits[start..]);
    }

    /// Appends a signed integer.
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
    pub fn push_char(&mut self, tag: u32, value: u8) {
        self.push_bytes(tag, &[value]);
    }

    /// Appends `Y` or `N`.
    pub fn push_bool(&mut self, tag: u32, value: bool) {
        self.push_char(tag, if value { b'Y' } else { b'N' });
    }

    /// Appends a fixed-point decimal: `mantissa / 10^scale`, trailing fraction zeros
    /// trimmed (`push_decimal(44, 10150, 2)` writes `44=101.5`). `scale` is capped at 18.
    pub fn push_decimal(&mut self, tag: u32, mantissa: i64, scale: u32) {
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
        let start = format_u64(int_part, &mut digits);
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
    pub fn push_timestamp(&mut self, tag: u32, ns: u64, precision: TimestampPrecision) {
        let mut out = [0u8; TIMESTAMP_LEN_MAX];
        let n = format_utc_timestamp(ns, precision, &mut out);
        self.push_bytes(tag, &out[..n]);
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
        let mut digits = [0u8; 20];
        let digits_start = format_u64(body_len as u64, &mut digits);
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
}
