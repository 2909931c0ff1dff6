//! UTCTimestamp parsing and formatting (`YYYYMMDD-HH:MM:SS[.fff[fff[fff]]]`), in
//! nanoseconds since the Unix epoch, without any allocation or system call.

/// Nanoseconds per second.
pub const NS_PER_SECOND: u64 = 1_000_000_000;
/// Seconds per day.
pub const SECONDS_PER_DAY: u64 = 86_400;

/// Sub-second precision of a formatted timestamp.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum TimestampPrecision {
    /// `.sss`
    #[default]
    Millis,
    /// `.ssssss`
    Micros,
    /// `.sssssssss`
    Nanos,
}

/// Days since 1970-01-01 for a proleptic Gregorian date (Howard Hinnant's algorithm).
const fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let m = month as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + day as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// (year, month, day) for days since 1970-01-01.
#[cfg(test)]
const fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[inline]
fn digits(bytes: &[u8]) -> Option<u32> {
    let mut value = 0u32;
    for &b in bytes {
        let d = b.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        value = value * 10 + u32::from(d);
    }
    Some(value)
}

#[inline]
fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        4 | 6 | 9 | 11 => 30,
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        _ => 31,
    }
}

/// Parses a `YYYYMMDD` date to days since the epoch.
#[must_use]
pub fn parse_date_days(bytes: &[u8]) -> Option<i64> {
    if bytes.len() != 8 {
        return None;
    }
    let year = i64::from(digits(&bytes[0..4])?);
    let month = digits(&bytes[4..6])?;
    let day = digits(&bytes[6..8])?;
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
        return None;
    }
    Some(days_from_civil(year, month, day))
}

/// Parses a UTCTimestamp to nanoseconds since the epoch. Accepts 0, 3, 6 or 9
/// fractional digits; leap second 60 is accepted as the FIX spec allows.
#[must_use]
pub fn parse_utc_timestamp_ns(bytes: &[u8]) -> Option<u64> {
    if bytes.len() < 17 || bytes[8] != b'-' || bytes[11] != b':' || bytes[14] != b':' {
        return None;
    }
    let days = parse_date_days(&bytes[..8])?;
    if days < 0 {
        return None;
    }
    let hour = digits(&bytes[9..11])?;
    let minute = digits(&bytes[12..14])?;
    let second = digits(&bytes[15..17])?;
    if hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let fraction_ns = match bytes.len() {
        17 => 0,
        21 | 24 | 27 if bytes[17] == b'.' => {
            let frac = &bytes[18..];
            let value = u64::from(digits(frac)?);
            value * 10u64.pow(9 - frac.len() as u32)
        }
        _ => return None,
    };
    let seconds = days as u64 * SECONDS_PER_DAY
        + u64::from(hour) * 3600
        + u64::from(minute) * 60
        + u64::from(second);
    Some(seconds * NS_PER_SECOND + fraction_ns)
}

/// Whether all eight bytes of `word` are ASCII digits.
#[inline(always)]
const fn all_digits(word: u64) -> bool {
    const HIGH_NIBBLES: u64 = u64::from_le_bytes([0xf0; 8]);
    const ZEROS: u64 = u64::from_le_bytes([b'0'; 8]);
    const SIXES: u64 = u64::from_le_bytes([6; 8]);
    // Every byte in 0x30..=0x3f, and still so after adding 6 (no byte above '9').
    // The addition cannot carry between bytes once the first test holds.
    word & HIGH_NIBBLES == ZEROS && (word + SIXES) & HIGH_NIBBLES == ZEROS
}

/// Two-digit values of the byte pairs of an all-digit `word`: byte `2k` of the
/// result is `10 * digit[2k] + digit[2k + 1]`.
#[inline(always)]
const fn digit_pairs(word: u64) -> u64 {
    let d = word - u64::from_le_bytes([b'0'; 8]);
    (d * 10 + (d >> 8)) & 0x00ff_00ff_00ff_00ff
}

/// Whether `bytes` is a UTCTimestamp [`parse_utc_timestamp_ns`] accepts, without
/// computing its value: validation only needs the yes/no, twice per order.
#[inline]
#[must_use]
pub(crate) fn is_utc_timestamp(bytes: &[u8]) -> bool {
    let Some((head, fraction)) = bytes.split_first_chunk::<17>() else {
        return false;
    };
    if !fraction.is_empty() {
        // ".fff", ".ffffff" or ".fffffffff": the last eight bytes of the timestamp end
        // with the fraction digits (all eight of them are fraction digits for nine).
        let (digits, tail) = match fraction {
            [b'.', digits @ ..] if matches!(digits.len(), 3 | 6 | 9) => {
                match bytes.last_chunk::<8>() {
                    Some(tail) => (digits.len(), u64::from_le_bytes(*tail)),
                    None => return false,
                }
            }
            _ => return false,
        };
        const ZEROS: u64 = u64::from_le_bytes([b'0'; 8]);
        let keep = if digits >= 8 {
            u64::MAX
        } else {
            u64::MAX << (8 * (8 - digits))
        };
        if !all_digits(tail & keep | ZEROS & !keep) || digits == 9 && !fraction[1].is_ascii_digit()
        {
            return false;
        }
    }
    let word = |at: usize| {
        u64::from_le_bytes([
            head[at],
            head[at + 1],
            head[at + 2],
            head[at + 3],
            head[at + 4],
            head[at + 5],
            head[at + 6],
            head[at + 7],
        ])
    };
    // "YYYYMMDD" "-" "HH:MM:SS": put digits where the colons are to test all at once.
    const COLONS: u64 = 0x0000_ff00_00ff_0000;
    const COLON_BYTES: u64 = u64::from_le_bytes([0, 0, b':', 0, 0, b':', 0, 0]);
    const ZERO_BYTES: u64 = u64::from_le_bytes([0, 0, b'0', 0, 0, b'0', 0, 0]);
    let (date, time) = (word(0), word(9));
    if head[8] != b'-' || time & COLONS != COLON_BYTES {
        return false;
    }
    let time = time & !COLONS | ZERO_BYTES;
    if !all_digits(date) || !all_digits(time) {
        return false;
    }
    let date = digit_pairs(date);
    let year = (date & 0xff) as u32 * 100 + (date >> 16 & 0xff) as u32;
    let month = (date >> 32 & 0xff) as usize;
    let day = (date >> 48) as u32;
    let time = digit_pairs(time);
    // Byte pairs of "HH0MM0SS": HH at 0, "0M" at 2, "M0" at 4, SS at 6.
    let hour = (time & 0xff) as u32;
    let minute = (time >> 16 & 0xff) as u32 * 10 + ((time >> 32 & 0xff) as u32) / 10;
    let second = (time >> 48) as u32;
    // Days per month outside leap years; month 0 and months past 12 have none.
    const DAYS: [u8; 13] = [0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    let days = DAYS.get(month).copied().unwrap_or(0);
    // Dates before 1970 have negative day numbers, which the parser refuses.
    year >= 1970
        && day != 0
        && (day <= u32::from(days)
            || month == 2 && day == 29 && days_in_month(i64::from(year), 2) == 29)
        && hour <= 23
        && minute <= 59
        && second <= 60
}

/// `"00".."99"`, for formatting two digits per lookup.
const DIGIT_PAIRS: [[u8; 2]; 100] = {
    let mut table = [[0u8; 2]; 100];
    let mut i = 0;
    while i < 100 {
        table[i] = [b'0' + (i / 10) as u8, b'0' + (i % 10) as u8];
        i += 1;
    }
    table
};

/// The two ASCII digits of `value` (< 100).
#[inline(always)]
pub(crate) fn digit_pair(value: u32) -> [u8; 2] {
    DIGIT_PAIRS[value as usize % 100]
}

/// Longest formatted timestamp (nanosecond precision).
pub const TIMESTAMP_LEN_MAX: usize = 27;

/// Formats `ns` (since the epoch) into `out`, returning the number of bytes written.
#[must_use]
pub fn format_utc_timestamp(
    ns: u64,
    precision: TimestampPrecision,
    out: &mut [u8; TIMESTAMP_LEN_MAX],
) -> usize {
    let seconds = ns / NS_PER_SECOND;
    let fraction = (ns % NS_PER_SECOND) as u32;
    // u64::MAX ns is about 213,500 days (year 2554): everything fits in u32.
    let days = (seconds / SECONDS_PER_DAY) as u32;
    let tod = (seconds % SECONDS_PER_DAY) as u32;
    let (year, month, day) = civil_from_days_unsigned(days);
    let year = year.min(9999);
    out[0..2].copy_from_slice(&digit_pair(year / 100));
    out[2..4].copy_from_slice(&digit_pair(year % 100));
    out[4..6].copy_from_slice(&digit_pair(month));
    out[6..8].copy_from_slice(&digit_pair(day));
    out[8] = b'-';
    out[9..11].copy_from_slice(&digit_pair(tod / 3600));
    out[11] = b':';
    out[12..14].copy_from_slice(&digit_pair(tod / 60 % 60));
    out[14] = b':';
    out[15..17].copy_from_slice(&digit_pair(tod % 60));
    out[17] = b'.';
    match precision {
        TimestampPrecision::Millis => {
            let v = fraction / 1_000_000;
            out[18] = b'0' + (v / 100) as u8;
            out[19..21].copy_from_slice(&digit_pair(v % 100));
            21
        }
        TimestampPrecision::Micros => {
            let v = fraction / 1_000;
            out[18..20].copy_from_slice(&digit_pair(v / 10_000));
            out[20..22].copy_from_slice(&digit_pair(v / 100 % 100));
            out[22..24].copy_from_slice(&digit_pair(v % 100));
            24
        }
        TimestampPrecision::Nanos => {
            let v = fraction;
            out[18] = b'0' + (v / 100_000_000) as u8;
            out[19..21].copy_from_slice(&digit_pair(v / 1_000_000 % 100));
            out[21..23].copy_from_slice(&digit_pair(v / 10_000 % 100));
            out[23..25].copy_from_slice(&digit_pair(v / 100 % 100));
            out[25..27].copy_from_slice(&digit_pair(v % 100));
            27
        }
    }
}

/// [`civil_from_days`] for non-negative day numbers below 2^31, in unsigned
/// arithmetic (cheaper divisions by constants).
#[inline]
fn civil_from_days_unsigned(days: u32) -> (u32, u32, u32) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// The original formatter, kept as the reference for equivalence tests.
#[cfg(test)]
pub(crate) fn format_utc_timestamp_reference(
    ns: u64,
    precision: TimestampPrecision,
    out: &mut [u8; TIMESTAMP_LEN_MAX],
) -> usize {
    #[inline]
    fn put2(out: &mut [u8], value: u32) {
        out[0] = b'0' + (value / 10) as u8;
        out[1] = b'0' + (value % 10) as u8;
    }
    let seconds = ns / NS_PER_SECOND;
    let fraction = ns % NS_PER_SECOND;
    let days = (seconds / SECONDS_PER_DAY) as i64;
    let tod = (seconds % SECONDS_PER_DAY) as u32;
    let (year, month, day) = civil_from_days(days);
    let year = year.clamp(0, 9999) as u32;
    put2(&mut out[0..2], year / 100);
    put2(&mut out[2..4], year % 100);
    put2(&mut out[4..6], month);
    put2(&mut out[6..8], day);
    out[8] = b'-';
    put2(&mut out[9..11], tod / 3600);
    out[11] = b':';
    put2(&mut out[12..14], tod / 60 % 60);
    out[14] = b':';
    put2(&mut out[15..17], tod % 60);
    out[17] = b'.';
    let (count, mut value) = match precision {
        TimestampPrecision::Millis => (3, fraction / 1_000_000),
        TimestampPrecision::Micros => (6, fraction / 1_000),
        TimestampPrecision::Nanos => (9, fraction),
    };
    for i in (0..count).rev() {
        out[18 + i] = b'0' + (value % 10) as u8;
        value /= 10;
    }
    18 + count
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_known_values() {
        assert_eq!(parse_utc_timestamp_ns(b"19700101-00:00:00"), Some(0));
        assert_eq!(
            parse_utc_timestamp_ns(b"20240229-12:34:56.789"),
            Some(1_709_210_096_789_000_000)
        );
        assert_eq!(
            parse_utc_timestamp_ns(b"20240229-12:34:56.789123"),
            Some(1_709_210_096_789_123_000)
        );
        assert_eq!(parse_utc_timestamp_ns(b"20230229-12:34:56"), None);
        assert_eq!(parse_utc_timestamp_ns(b"20240229-24:00:00"), None);
        assert_eq!(parse_utc_timestamp_ns(b"20240229-12:34:56.78"), None);
        assert_eq!(parse_utc_timestamp_ns(b"20240229T12:34:56"), None);
    }

    #[test]
    fn format_round_trips() {
        let mut out = [0u8; TIMESTAMP_LEN_MAX];
        for ns in [0u64, 1_709_210_096_789_123_456, 4_102_444_799_999_999_999] {
            for p in [
                TimestampPrecision::Millis,
                TimestampPrecision::Micros,
                TimestampPrecision::Nanos,
            ] {
                let n = format_utc_timestamp(ns, p, &mut out);
                let parsed = parse_utc_timestamp_ns(&out[..n]).unwrap();
                let unit = match p {
                    TimestampPrecision::Millis => 1_000_000,
                    TimestampPrecision::Micros => 1_000,
                    TimestampPrecision::Nanos => 1,
                };
                assert_eq!(parsed, ns / unit * unit);
            }
        }
        let n = format_utc_timestamp(
            1_709_210_096_789_123_456,
            TimestampPrecision::Micros,
            &mut out,
        );
        assert_eq!(&out[..n], b"20240229-12:34:56.789123");
    }

    const PRECISIONS: [TimestampPrecision; 3] = [
        TimestampPrecision::Millis,
        TimestampPrecision::Micros,
        TimestampPrecision::Nanos,
    ];

    fn check_format(ns: u64) {
        for p in PRECISIONS {
            let (mut fast, mut slow) = ([0u8; TIMESTAMP_LEN_MAX], [0u8; TIMESTAMP_LEN_MAX]);
            let n = format_utc_timestamp(ns, p, &mut fast);
            let m = format_utc_timestamp_reference(ns, p, &mut slow);
            assert_eq!(&fast[..n], &slow[..m], "{ns} {p:?}");
        }
    }

    fn check_parse(bytes: &[u8]) {
        // The parser overflows (debug panic) past year 2554; validation only looks at
        // the format, so compare on years the parser handles.
        if bytes.len() >= 4 && bytes[..4] > b"2554"[..] && bytes[..4].iter().all(u8::is_ascii_digit)
        {
            return;
        }
        assert_eq!(
            is_utc_timestamp(bytes),
            parse_utc_timestamp_ns(bytes).is_some(),
            "{}",
            String::from_utf8_lossy(bytes)
        );
    }

    #[test]
    fn format_edges_match_reference() {
        for ns in [
            0,
            1,
            999_999_999,
            u64::MAX,
            u64::MAX - 1,
            951_782_400 * NS_PER_SECOND,
        ] {
            check_format(ns);
        }
        for day in 0..213_503u64 {
            check_format((day * SECONDS_PER_DAY * NS_PER_SECOND).wrapping_add(day * 7_919_000_013));
        }
    }

    #[test]
    fn is_utc_timestamp_edges() {
        for s in [
            "19700101-00:00:00",
            "19691231-23:59:59",
            "20240229-23:59:60",
            "20230229-00:00:00",
            "20000229-00:00:00",
            "19000229-00:00:00",
            "21000229-00:00:00",
            "20241301-00:00:00",
            "20240001-00:00:00",
            "20240100-00:00:00",
            "20240131-00:00:00",
            "20240431-00:00:00",
            "20241401-00:00:00",
            "20241701-00:00:00",
            "20242901-00:00:00",
            "20249901-00:00:00",
            "20241729-00:00:00",
            "20240101-24:00:00",
            "20240101-00:60:00",
            "20240101-00:00:61",
            "20240101-00:00:00.",
            "20240101-00:00:00.1",
            "20240101-00:00:00.123",
            "20240101-00:00:00.12a",
            "20240101-00:00:00,123",
            "20240101-00:00:00.123456",
            "20240101-00:00:00.123456789",
            "20240101-00:00:00.1234567890",
            "2024010-00:00:00.123",
            "+0240101-00:00:00",
            "20240101 00:00:00",
            "",
        ] {
            check_parse(s.as_bytes());
        }
    }

    proptest::proptest! {
        #[test]
        fn format_matches_reference(ns in proptest::prelude::any::<u64>()) {
            check_format(ns);
        }

        #[test]
        fn is_utc_timestamp_matches_parser(
            year in 1900u32..2554, month in 0u32..14, day in 0u32..33, hour in 0u32..26,
            minute in 0u32..62, second in 0u32..62, frac in "(\\.[0-9]{0,10})?",
            mutate in proptest::option::of((0usize..32, proptest::prelude::any::<u8>())),
        ) {
            let text = format!("{year:04}{month:02}{day:02}-{hour:02}:{minute:02}:{second:02}{frac}");
            let mut bytes = text.into_bytes();
            if let Some((at, byte)) = mutate {
                if at < bytes.len() {
                    bytes[at] = byte;
                }
            }
            check_parse(&bytes);
        }
    }
}
