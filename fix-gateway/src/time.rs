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

#[inline]
fn put2(out: &mut [u8], value: u32) {
    out[0] = b'0' + (value / 10) as u8;
    out[1] = b'0' + (value % 10) as u8;
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
}
