//! Zero-copy decoder: a [`Message`] is a view over a framed message with a
//! fixed-capacity field table (no heap), plus typed getters and group iteration.

use crate::dictionary::{tag, GroupDef};
use crate::frame::SOH;
use crate::time::parse_utc_timestamp_ns;

/// Capacity of the field table; a message with more fields is refused.
pub const FIELDS_MAX: usize = 128;

/// One field of a [`Message`]: tag and value position.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct FieldEntry {
    pub(crate) tag: u16,
    pub(crate) start: u16,
    pub(crate) len: u16,
}

/// Why bytes could not be tokenised into a [`Message`]. Structural problems only:
/// content problems are found by [`crate::validate`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DecodeError {
    /// Input longer than the 16-bit offsets of the field table allow.
    TooLong,
    /// A tag is not a positive number below 65536, or `=` is missing; `tag` is what
    /// could be read (0 if nothing).
    InvalidTag {
        /// The unparseable tag's numeric prefix, saturated.
        tag: u32,
    },
    /// The last field has no terminating SOH.
    Truncated,
    /// More than [`FIELDS_MAX`] fields.
    TooManyFields,
    /// BeginString(8), BodyLength(9) are not the first two fields or CheckSum(10) is
    /// not the last.
    BadEnvelope,
}

impl core::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            DecodeError::TooLong => write!(f, "message too long"),
            DecodeError::InvalidTag { tag } => write!(f, "invalid tag number {tag}"),
            DecodeError::Truncated => write!(f, "message truncated"),
            DecodeError::TooManyFields => write!(f, "more than {FIELDS_MAX} fields"),
            DecodeError::BadEnvelope => write!(f, "8, 9 must be first and 10 last"),
        }
    }
}

impl std::error::Error for DecodeError {}

/// Why a typed getter failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldError {
    /// The tag is absent.
    Missing(u32),
    /// The value does not parse as the requested type.
    Format(u32),
}

impl core::fmt::Display for FieldError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            FieldError::Missing(t) => write!(f, "tag {t} missing"),
            FieldError::Format(t) => write!(f, "tag {t} has a bad format"),
        }
    }
}

impl std::error::Error for FieldError {}

/// A decoded FIX message borrowing the receive buffer.
///
/// Holds up to [`FIELDS_MAX`] `(tag, start, len)` entries inline.
#[derive(Clone)]
pub struct Message<'a> {
    buf: &'a [u8],
    fields: [FieldEntry; FIELDS_MAX],
    count: usize,
}

impl core::fmt::Debug for Message<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Message")
            .field(
                "text",
                &String::from_utf8_lossy(self.buf).replace('\x01', "|"),
            )
            .finish()
    }
}

/// Tokenises one framed message (as delimited by [`crate::frame`]).
///
/// Does not check BodyLength/CheckSum (framing did) nor the dictionary
/// ([`crate::validate`] does); values may be empty.
///
/// # Errors
/// [`DecodeError`] when the bytes are not a `tag=value<SOH>` sequence that starts
/// with 8, 9 and ends with 10, or has too many fields.
#[inline]
pub fn decode(buf: &[u8]) -> Result<Message<'_>, DecodeError> {
    let mut msg = Message::empty(buf);
    // The fast tokeniser accepts exactly what the reference one accepts, with the
    // same fields (the tests compare them), so only errors go to the reference, and
    // only for the exact error: with one way for `msg` to reach the result, the
    // optimiser drops a copy of the field table.
    match tokenise_fast(buf, &mut msg.fields) {
        Some(count) => {
            msg.count = count;
            Ok(msg)
        }
        None => Err(decode_error(buf)),
    }
}

/// The error [`decode_slow`] finds in `buf`, which [`tokenise_fast`] refused.
#[cold]
#[inline(never)]
fn decode_error(buf: &[u8]) -> DecodeError {
    match decode_slow(buf) {
        Err(error) => error,
        // Unreachable: both tokenisers accept the same inputs.
        Ok(_) => {
            debug_assert!(false, "fast tokeniser refused a valid message");
            DecodeError::BadEnvelope
        }
    }
}

impl<'a> Message<'a> {
    /// Tokenises `buf` into `self`, replacing its contents: [`decode`] without
    /// building a new [`Message`], for callers that keep one around.
    ///
    /// # Errors
    /// As [`decode`]; `self` then has no fields but views `buf`.
    pub fn decode_into(&mut self, buf: &'a [u8]) -> Result<(), DecodeError> {
        self.buf = buf;
        self.count = 0;
        match tokenise_fast(buf, &mut self.fields) {
            Some(count) => self.count = count,
            None => {
                *self = decode_slow(buf)?;
            }
        }
        Ok(())
    }
}

const ONES: u64 = u64::from_le_bytes([0x01; 8]);
const HIGHS: u64 = u64::from_le_bytes([0x80; 8]);

/// High bit set in every byte of `word` that is zero. The lowest set bit marks the
/// first zero byte exactly (borrows only run towards higher bytes), so only
/// `trailing_zeros` of the result is meaningful.
#[inline(always)]
const fn zero_bytes(word: u64) -> u64 {
    word.wrapping_sub(ONES) & !word & HIGHS
}

/// Eight bytes of `bytes` from `at` as a little-endian word; past the end of
/// `bytes` the word is padded with zero bytes, which are neither digits, `=` nor SOH.
/// `at < bytes.len()`.
#[inline(always)]
fn load_word(bytes: &[u8], at: usize) -> u64 {
    match bytes.get(at..at + 8) {
        Some(chunk) => {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            u64::from_le_bytes(word)
        }
        None => load_tail(bytes, at),
    }
}

#[cold]
#[inline(never)]
fn load_tail(bytes: &[u8], at: usize) -> u64 {
    let mut word = [0u8; 8];
    if let Some(rest) = bytes.get(at..) {
        let n = rest.len().min(8);
        word[..n].copy_from_slice(&rest[..n]);
    }
    u64::from_le_bytes(word)
}

/// Tag digits and `=` at the start of `word` (the bytes of a field): the tag and the
/// position of `=`, or `None` unless there are 1..=5 digits without a leading zero, a
/// value of at most `u16::MAX` and then `=`.
#[inline(always)]
fn parse_tag(word: u64) -> Option<(u32, usize)> {
    let first = (word as u8).wrapping_sub(b'1');
    if first > 8 {
        return None;
    }
    let mut tag = u32::from(first) + 1;
    // Unrolled: tags are short, so byte by byte from the register beats word tricks.
    let mut at = 1;
    while at < 6 {
        let b = (word >> (8 * at)) as u8;
        let d = b.wrapping_sub(b'0');
        if d > 9 {
            // Only five digits can exceed u16::MAX (the check folds away otherwise).
            return if b == b'=' && (at < 5 || tag <= u32::from(u16::MAX)) {
                Some((tag, at))
            } else {
                None
            };
        }
        tag = tag * 10 + u32::from(d);
        at += 1;
    }
    None
}

/// The common case of [`decode`]: the field count, or `None` exactly when
/// [`decode_slow`] refuses `buf`; the fields are those [`decode_slow`] finds.
///
/// One word load per field covers the tag, `=` and, for short values, the SOH.
#[inline(always)]
fn tokenise_fast(buf: &[u8], fields: &mut [FieldEntry; FIELDS_MAX]) -> Option<usize> {
    let n = buf.len();
    if n > usize::from(u16::MAX) {
        return None;
    }
    let mut count = 0;
    let mut i = 0;
    while i < n {
        let word = load_word(buf, i);
        let (tag, eq) = parse_tag(word)?;
        // SOH after `=`: the tag digits and `=` never match, so the lowest match in
        // the first word is the value's end if there is one.
        let mut soh = zero_bytes(word ^ ONES);
        let mut base = i;
        while soh == 0 {
            base += 8;
            if base >= n {
                return None;
            }
            soh = zero_bytes(load_word(buf, base) ^ ONES);
        }
        // A byte of `buf`: the padding past its end is never SOH.
        let end = base + (soh.trailing_zeros() / 8) as usize;
        let value_start = i + eq + 1;
        // All three fit in u16: buf.len() <= u16::MAX.
        *fields.get_mut(count)? = FieldEntry {
            tag: tag as u16,
            start: value_start as u16,
            len: (end - value_start) as u16,
        };
        count += 1;
        i = end + 1;
    }
    if count < 3 || fields[0].tag != 8 || fields[1].tag != 9 || fields[count - 1].tag != 10 {
        return None;
    }
    Some(count)
}

/// The reference tokeniser as a whole decode: exact errors.
#[cold]
#[inline(never)]
fn decode_slow(buf: &[u8]) -> Result<Message<'_>, DecodeError> {
    let mut msg = Message::empty(buf);
    if buf.len() > usize::from(u16::MAX) {
        return Err(DecodeError::TooLong);
    }
    msg.count = tokenise_slow(buf, &mut msg.fields)?;
    Ok(msg)
}

/// The reference tokeniser, used for the exact error once the fast path gave up.
/// `buf.len() <= u16::MAX`.
#[cold]
#[inline(never)]
fn tokenise_slow(buf: &[u8], fields: &mut [FieldEntry; FIELDS_MAX]) -> Result<usize, DecodeError> {
    let mut count = 0;
    let mut i = 0;
    let n = buf.len();
    while i < n {
        // Tag: 1..=5 digits, no leading zero, then '='.
        let mut tag_value: u32 = 0;
        let tag_start = i;
        while i < n {
            let d = buf[i].wrapping_sub(b'0');
            if d > 9 {
                break;
            }
            tag_value = tag_value.saturating_mul(10).saturating_add(u32::from(d));
            i += 1;
        }
        let tag_len = i - tag_start;
        if tag_len == 0
            || i >= n
            || buf[i] != b'='
            || buf[tag_start] == b'0'
            || tag_value > u32::from(u16::MAX)
        {
            return Err(DecodeError::InvalidTag { tag: tag_value });
        }
        i += 1;
        let value_start = i;
        match buf[i..].iter().position(|&b| b == SOH) {
            Some(offset) => i += offset,
            None => return Err(DecodeError::Truncated),
        }
        if count == FIELDS_MAX {
            return Err(DecodeError::TooManyFields);
        }
        // All three fit in u16: buf.len() <= u16::MAX.
        fields[count] = FieldEntry {
            tag: tag_value as u16,
            start: value_start as u16,
            len: (i - value_start) as u16,
        };
        count += 1;
        i += 1;
    }
    if count < 3 || fields[0].tag != 8 || fields[1].tag != 9 || fields[count - 1].tag != 10 {
        return Err(DecodeError::BadEnvelope);
    }
    Ok(count)
}

/// Parses an unsigned integer of at most 19 digits.
#[inline]
#[must_use]
pub fn parse_u64(bytes: &[u8]) -> Option<u64> {
    if bytes.is_empty() || bytes.len() > 19 {
        return None;
    }
    let mut value = 0u64;
    for &b in bytes {
        let d = b.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        value = value * 10 + u64::from(d);
    }
    Some(value)
}

/// Parses a signed integer of at most 18 digits.
#[inline]
#[must_use]
pub fn parse_i64(bytes: &[u8]) -> Option<i64> {
    let (negative, digits) = match bytes.first() {
        Some(b'-') => (true, &bytes[1..]),
        _ => (false, bytes),
    };
    if digits.len() > 18 {
        return None;
    }
    let value = parse_u64(digits)? as i64;
    Some(if negative { -value } else { value })
}

/// Parses a FIX decimal (`-?digits[.digits]`) as a fixed-point integer with `scale`
/// decimal places. Extra non-zero fraction digits beyond `scale` are refused rather
/// than rounded: a price off the grid is an input error, not something to guess.
#[must_use]
pub fn parse_decimal(bytes: &[u8], scale: u32) -> Option<i64> {
    if scale > 18 {
        return None;
    }
    let (negative, digits) = match bytes.first() {
        Some(b'-') => (true, &bytes[1..]),
        _ => (false, bytes),
    };
    // At most 18 digits in the scaled result: no overflow possible, so no checks.
    if digits.len() + scale as usize > 18 {
        return parse_decimal_checked(bytes, scale);
    }
    let mut value = 0u64;
    let mut i = 0;
    while let Some(&b) = digits.get(i) {
        let d = b.wrapping_sub(b'0');
        if d > 9 {
            break;
        }
        value = value * 10 + u64::from(d);
        i += 1;
    }
    let mut any_digit = i > 0;
    let mut used = 0;
    if let Some(&b) = digits.get(i) {
        if b != b'.' {
            return None;
        }
        for &b in &digits[i + 1..] {
            let d = b.wrapping_sub(b'0');
            if d > 9 {
                return None;
            }
            any_digit = true;
            if used < scale {
                value = value * 10 + u64::from(d);
                used += 1;
            } else if d != 0 {
                return None;
            }
        }
    }
    if !any_digit {
        return None;
    }
    let value = (value * POW10[(scale - used) as usize]) as i64;
    Some(if negative { -value } else { value })
}

const POW10: [u64; 19] = {
    let mut table = [1u64; 19];
    let mut i = 1;
    while i < 19 {
        table[i] = table[i - 1] * 10;
        i += 1;
    }
    table
};

/// [`parse_decimal`] with overflow checks, for long inputs.
#[cold]
#[inline(never)]
fn parse_decimal_checked(bytes: &[u8], scale: u32) -> Option<i64> {
    if scale > 18 {
        return None;
    }
    let (negative, digits) = match bytes.first() {
        Some(b'-') => (true, &bytes[1..]),
        _ => (false, bytes),
    };
    if digits.is_empty() {
        return None;
    }
    let mut value: i64 = 0;
    let mut fraction_digits: Option<u32> = None;
    let mut any_digit = false;
    for &b in digits {
        if b == b'.' {
            if fraction_digits.is_some() {
                return None;
            }
            fraction_digits = Some(0);
            continue;
        }
        let d = b.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        any_digit = true;
        if let Some(count) = fraction_digits.as_mut() {
            if *count == scale {
                if d != 0 {
                    return None;
                }
                continue;
            }
            *count += 1;
        }
        value = value.checked_mul(10)?.checked_add(i64::from(d))?;
    }
    if !any_digit {
        return None;
    }
    let used = fraction_digits.unwrap_or(0);
    value = value.checked_mul(10i64.checked_pow(scale - used)?)?;
    Some(if negative { -value } else { value })
}

impl<'a> Message<'a> {
    /// A message with no fields viewing `buf`, to [`decode_into`].
    #[inline]
    #[must_use]
    pub fn empty(buf: &'a [u8]) -> Self {
        Message {
            buf,
            fields: [FieldEntry::default(); FIELDS_MAX],
            count: 0,
        }
    }

    /// The whole message bytes.
    #[must_use]
    pub fn as_bytes(&self) -> &'a [u8] {
        self.buf
    }

    /// The field table, in wire order.
    #[inline(always)]
    pub(crate) fn entries(&self) -> &[FieldEntry] {
        &self.fields[..self.count]
    }

    /// Number of fields, header and trailer included.
    #[must_use]
    pub fn len(&self) -> usize {
        self.count
    }

    /// Always false: a decoded message has at least 8, 9 and 10.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Field `index` as `(tag, value)`.
    #[inline]
    #[must_use]
    pub fn field(&self, index: usize) -> Option<(u32, &'a [u8])> {
        if index >= self.count {
            return None;
        }
        let e = self.fields[index];
        let start = usize::from(e.start);
        Some((
            u32::from(e.tag),
            &self.buf[start..start + usize::from(e.len)],
        ))
    }

    /// All fields in wire order.
    pub fn fields(&self) -> impl Iterator<Item = (u32, &'a [u8])> + '_ {
        (0..self.count).filter_map(|i| self.field(i))
    }

    /// Index of the first occurrence of `tag`.
    #[inline]
    #[must_use]
    pub fn position(&self, tag: u32) -> Option<usize> {
        self.fields[..self.count]
            .iter()
            .position(|e| u32::from(e.tag) == tag)
    }

    /// Value of the first occurrence of `tag`.
    #[inline]
    #[must_use]
    pub fn get(&self, tag: u32) -> Option<&'a [u8]> {
        self.field(self.position(tag)?).map(|(_, v)| v)
    }

    /// Value as raw bytes.
    ///
    /// # Errors
    /// [`FieldError::Missing`] if absent.
    pub fn get_bytes(&self, tag: u32) -> Result<&'a [u8], FieldError> {
        self.get(tag).ok_or(FieldError::Missing(tag))
    }

    /// Value as UTF-8 text.
    ///
    /// # Errors
    /// Missing, or not UTF-8.
    pub fn get_str(&self, tag: u32) -> Result<&'a str, FieldError> {
        core::str::from_utf8(self.get_bytes(tag)?).map_err(|_| FieldError::Format(tag))
    }

    /// Value as an unsigned integer.
    ///
    /// # Errors
    /// Missing, or not digits.
    pub fn get_u64(&self, tag: u32) -> Result<u64, FieldError> {
        parse_u64(self.get_bytes(tag)?).ok_or(FieldError::Format(tag))
    }

    /// Value as a signed integer.
    ///
    /// # Errors
    /// Missing, or not an integer.
    pub fn get_i64(&self, tag: u32) -> Result<i64, FieldError> {
        parse_i64(self.get_bytes(tag)?).ok_or(FieldError::Format(tag))
    }

    /// Value as one character.
    ///
    /// # Errors
    /// Missing, or not exactly one byte.
    pub fn get_char(&self, tag: u32) -> Result<u8, FieldError> {
        match self.get_bytes(tag)? {
            [c] => Ok(*c),
            _ => Err(FieldError::Format(tag)),
        }
    }

    /// Value as a FIX Boolean (`Y`/`N`).
    ///
    /// # Errors
    /// Missing, or neither `Y` nor `N`.
    pub fn get_bool(&self, tag: u32) -> Result<bool, FieldError> {
        match self.get_bytes(tag)? {
            b"Y" => Ok(true),
            b"N" => Ok(false),
            _ => Err(FieldError::Format(tag)),
        }
    }

    /// Value as a fixed-point integer with `scale` decimal places
    /// (`get_price_decimal(44, 2)` on `44=101.25` is `10125`).
    ///
    /// # Errors
    /// Missing, not a decimal, more significant fraction digits than `scale`, or
    /// overflow.
    pub fn get_price_decimal(&self, tag: u32, scale: u32) -> Result<i64, FieldError> {
        parse_decimal(self.get_bytes(tag)?, scale).ok_or(FieldError::Format(tag))
    }

    /// Value as a UTCTimestamp, in nanoseconds since the epoch.
    ///
    /// # Errors
    /// Missing, or not a valid timestamp.
    pub fn get_utc_timestamp_ns(&self, tag: u32) -> Result<u64, FieldError> {
        parse_utc_timestamp_ns(self.get_bytes(tag)?).ok_or(FieldError::Format(tag))
    }

    /// BeginString(8).
    #[must_use]
    pub fn begin_string(&self) -> &'a [u8] {
        self.field(0).map_or(&[], |(_, v)| v)
    }

    /// MsgType(35), empty if absent.
    #[must_use]
    pub fn msg_type(&self) -> &'a [u8] {
        match self.field(2) {
            Some((tag::MSG_TYPE, v)) => v,
            _ => self.get(tag::MSG_TYPE).unwrap_or(&[]),
        }
    }

    /// MsgSeqNum(34), if present and numeric.
    #[must_use]
    pub fn msg_seq_num(&self) -> Option<u64> {
        self.get_u64(tag::MSG_SEQ_NUM).ok()
    }

    /// PossDupFlag(43) is `Y`.
    #[must_use]
    pub fn poss_dup(&self) -> bool {
        self.get(tag::POSS_DUP_FLAG) == Some(b"Y")
    }

    /// Entries of repeating group `def`, iterated in wire order. Relies on the message
    /// having passed validation for exact semantics; on an unvalidated message it
    /// stops at the first field that is not a member, never reads out of bounds.
    #[must_use]
    pub fn group<'m>(&'m self, def: &'static GroupDef) -> GroupIter<'m, 'a> {
        let next = self.position(def.count_tag).map_or(self.count, |i| i + 1);
        GroupIter {
            msg: self,
            def,
            next,
        }
    }
}

/// Iterator over the entries of a repeating group.
#[derive(Debug)]
pub struct GroupIter<'m, 'a> {
    msg: &'m Message<'a>,
    def: &'static GroupDef,
    next: usize,
}

/// One entry of a repeating group.
#[derive(Debug, Clone, Copy)]
pub struct GroupEntry<'m, 'a> {
    msg: &'m Message<'a>,
    start: usize,
    end: usize,
}

impl<'a> GroupEntry<'_, 'a> {
    /// Value of `tag` within this entry.
    #[must_use]
    pub fn get(&self, tag: u32) -> Option<&'a [u8]> {
        (self.start..self.end)
            .filter_map(|i| self.msg.field(i))
            .find(|(t, _)| *t == tag)
            .map(|(_, v)| v)
    }
}

impl<'m, 'a> Iterator for GroupIter<'m, 'a> {
    type Item = GroupEntry<'m, 'a>;

    fn next(&mut self) -> Option<Self::Item> {
        let (first, _) = self.msg.field(self.next)?;
        if first != self.def.delimiter {
            return None;
        }
        let start = self.next;
        let mut end = start + 1;
        while let Some((t, _)) = self.msg.field(end) {
            if t == self.def.delimiter || !self.def.members.contains_tag(t) {
                break;
            }
            end += 1;
        }
        self.next = end;
        Some(GroupEntry {
            msg: self.msg,
            start,
            end,
        })
    }
}

/// Best-effort scan of raw bytes for MsgSeqNum(34) and MsgType(35), used to answer a
/// message that failed [`decode`] with a Reject that names it.
#[must_use]
pub fn scan_seq_num_and_type(buf: &[u8]) -> (Option<u64>, Option<&[u8]>) {
    let mut seq = None;
    let mut msg_type = None;
    for field in buf.split(|&b| b == SOH) {
        if let Some(v) = field.strip_prefix(b"34=") {
            seq = seq.or(parse_u64(v));
        } else if let Some(v) = field.strip_prefix(b"35=") {
            msg_type = msg_type.or(Some(v));
        }
    }
    (seq, msg_type)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dictionary::PARTIES;

    fn soh(s: &str) -> Vec<u8> {
        s.replace('|', "\x01").into_bytes()
    }

    use proptest::prelude::*;

    /// Fast and reference tokenisers agree: same fields or same error.
    fn same_as_slow(buf: &[u8]) -> Result<(), TestCaseError> {
        let fast = decode(buf);
        let slow = decode_slow(buf);
        match (&fast, &slow) {
            (Ok(f), Ok(s)) => {
                prop_assert_eq!(f.len(), s.len());
                prop_assert!(f.fields().eq(s.fields()));
            }
            (Err(f), Err(s)) => prop_assert_eq!(f, s),
            _ => prop_assert!(false, "fast {:?} slow {:?}", fast.err(), slow.err()),
        }
        Ok(())
    }

    fn field_strategy() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            4 => ("[1-9][0-9]{0,3}", "[ -~]{0,20}").prop_map(|(t, v)| format!("{t}={v}|")),
            1 => ("[0-9]{0,7}", "[=0-9A-Z]{0,3}").prop_map(|(t, v)| format!("{t}={v}|")),
            1 => ("[0-9]{1,6}", "[A-Z]{0,12}").prop_map(|(t, v)| format!("{t}{v}|")),
            1 => "[0-9=|A-Z]{0,10}",
        ]
        .prop_map(|f| soh(&f))
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 1024, ..ProptestConfig::default() })]

        #[test]
        fn fast_decode_matches_reference(
            fields in proptest::collection::vec(field_strategy(), 0..140),
            envelope in any::<bool>(),
            cut in any::<u16>(),
        ) {
            let mut buf = if envelope { soh("8=FIX.4.4|9=12|") } else { Vec::new() };
            for f in &fields {
                buf.extend_from_slice(f);
            }
            if envelope {
                buf.extend_from_slice(&soh("10=123|"));
            }
            same_as_slow(&buf)?;
            let cut = usize::from(cut) % (buf.len() + 1);
            same_as_slow(&buf[..cut])?;
        }

        #[test]
        fn fast_decode_matches_reference_on_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            same_as_slow(&bytes)?;
        }
    }

    #[test]
    fn fast_decode_edges() {
        for text in [
            "8=FIX.4.4|9=1|65535=x|10=000|",
            "8=FIX.4.4|9=1|65536=x|10=000|",
            "8=FIX.4.4|9=1|99999=x|10=000|",
            "8=FIX.4.4|9=1|100000=x|10=000|",
            "8=FIX.4.4|9=1|012=x|10=000|",
            "8=FIX.4.4|9=1|0=x|10=000|",
            "8=FIX.4.4|9=1|=x|10=000|",
            "8=FIX.4.4|9=1|35=|10=000|",
            "8=FIX.4.4|9=1|35=0123456789abcdefghij|10=000|",
            "8=FIX.4.4|9=1|35=01234567|10=000|",
            "8=FIX.4.4|9=1|35=0123456|10=000|",
            "8=FIX.4.4|9=1|10=000|",
            "8=FIX.4.4|9=1|10=000",
            "8=FIX.4.4|9=1|10",
            "8=FIX.4.4|9=1|10=",
            "8=|9=|10=|",
            "8=FIX.4.4|9=1|35=0|",
            "",
        ] {
            same_as_slow(&soh(text)).unwrap();
        }
        let mut many = "8=FIX.4.4|9=1|".to_string();
        for _ in 0..FIELDS_MAX - 3 {
            many.push_str("58=x|");
        }
        let mut exact = many.clone();
        exact.push_str("10=000|");
        assert_eq!(decode(&soh(&exact)).unwrap().len(), FIELDS_MAX);
        same_as_slow(&soh(&exact)).unwrap();
        many.push_str("58=x|10=000|");
        assert_eq!(decode(&soh(&many)).unwrap_err(), DecodeError::TooManyFields);
        let long = vec![b'1'; usize::from(u16::MAX) + 1];
        assert_eq!(decode(&long).unwrap_err(), DecodeError::TooLong);
    }

    #[test]
    fn decodes_fields_and_getters() {
        let raw =
            soh("8=FIX.4.4|9=10|35=D|34=7|44=101.25|43=Y|52=20240101-00:00:01.5|54=1|10=000|");
        let m = decode(&raw).unwrap();
        assert_eq!(m.msg_type(), b"D");
        assert_eq!(m.msg_seq_num(), Some(7));
        assert_eq!(m.get_price_decimal(44, 2), Ok(10125));
        assert_eq!(m.get_price_decimal(44, 4), Ok(1_012_500));
        assert_eq!(m.get_price_decimal(44, 1), Err(FieldError::Format(44)));
        assert!(m.poss_dup());
        assert_eq!(m.get_char(54), Ok(b'1'));
        assert_eq!(m.get_u64(99), Err(FieldError::Missing(99)));
        assert_eq!(m.get_utc_timestamp_ns(52), Err(FieldError::Format(52)));
    }

    #[test]
    fn structural_errors() {
        assert_eq!(
            decode(&soh("8=FIX.4.4|9=1|x=1|10=000|")).unwrap_err(),
            DecodeError::InvalidTag { tag: 0 }
        );
        assert_eq!(
            decode(&soh("8=FIX.4.4|9=1|35=0|10=000")).unwrap_err(),
            DecodeError::Truncated
        );
        assert_eq!(
            decode(&soh("9=1|8=FIX.4.4|35=0|10=000|")).unwrap_err(),
            DecodeError::BadEnvelope
        );
        assert_eq!(
            decode(&soh("8=FIX.4.4|9=1|35=0|070000=1|10=000|")).unwrap_err(),
            DecodeError::InvalidTag { tag: 70000 }
        );
        let mut many = "8=FIX.4.4|9=1|35=0|".to_string();
        for _ in 0..FIELDS_MAX {
            many.push_str("58=x|");
        }
        many.push_str("10=000|");
        assert_eq!(decode(&soh(&many)).unwrap_err(), DecodeError::TooManyFields);
    }

    #[test]
    fn parties_group() {
        let raw = soh("8=FIX.4.4|9=1|35=D|453=2|448=A|447=D|452=1|448=B|452=3|55=X|10=000|");
        let m = decode(&raw).unwrap();
        let entries: Vec<_> = m.group(&PARTIES).collect();
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[0].get(448), Some(&b"A"[..]));
        assert_eq!(entries[0].get(447), Some(&b"D"[..]));
        assert_eq!(entries[1].get(452), Some(&b"3"[..]));
        assert_eq!(entries[1].get(447), None);
    }

    #[test]
    fn decimals() {
        assert_eq!(parse_decimal(b"-0.5", 2), Some(-50));
        assert_eq!(parse_decimal(b"100", 0), Some(100));
        assert_eq!(parse_decimal(b"1.2300", 2), Some(123));
        assert_eq!(parse_decimal(b".5", 1), Some(5));
        assert_eq!(parse_decimal(b".", 1), None);
        assert_eq!(parse_decimal(b"1..2", 2), None);
        assert_eq!(parse_decimal(b"99999999999999999999", 0), None);
        assert_eq!(parse_decimal(b"1", 19), None);
    }

    proptest! {
        #[test]
        fn decimal_matches_checked(
            text in "-?[0-9]{0,22}(\\.[0-9]{0,22})?\\.?[0-9]{0,2}|[-0-9.a]{0,8}",
            scale in 0u32..21,
        ) {
            prop_assert_eq!(
                parse_decimal(text.as_bytes(), scale),
                parse_decimal_checked(text.as_bytes(), scale)
            );
        }
    }

    #[test]
    fn scan() {
        let raw = soh("8=FIX.4.4|9=1|35=D|34=12|x=1|10=000|");
        assert_eq!(scan_seq_num_and_type(&raw), (Some(12), Some(&b"D"[..])));
    }
}
