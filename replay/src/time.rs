//! ISO 8601 UTC timestamps with microseconds, without a date library: journal timestamps are
//! nanoseconds since the Unix epoch and the proleptic Gregorian calendar is a few lines of
//! integer arithmetic (Howard Hinnant's `civil_from_days` / `days_from_civil`).

const NS_PER_S: u64 = 1_000_000_000;
const S_PER_DAY: u64 = 86_400;

/// Formats nanoseconds since the epoch as `YYYY-MM-DDTHH:MM:SS.ffffffZ` (microseconds,
/// truncated, as MiFID II RTS 25 asks of venues).
#[must_use]
pub fn format_iso_us(timestamp_ns: u64) -> String {
    let secs = timestamp_ns / NS_PER_S;
    let micros = (timestamp_ns % NS_PER_S) / 1_000;
    let days = secs / S_PER_DAY;
    let of_day = secs % S_PER_DAY;
    let (year, month, day) = civil_from_days(i64::try_from(days).unwrap_or(i64::MAX));
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{micros:06}Z",
        of_day / 3600,
        (of_day / 60) % 60,
        of_day % 60
    )
}

/// Parses `YYYY-MM-DDTHH:MM:SS[.f{1,9}][Z|+00:00]` (UTC only; a space may stand for `T`), or
/// a plain integer of nanoseconds since the epoch.
///
/// # Errors
/// A text naming what is wrong.
pub fn parse_iso(text: &str) -> Result<u64, String> {
    let bad = || format!("{text:?} is not an ISO 8601 UTC time like 2024-03-01T09:30:00.000125Z");
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        return text.parse().map_err(|_| bad());
    }
    let body = text
        .strip_suffix('Z')
        .or_else(|| text.strip_suffix("+00:00"))
        .unwrap_or(text);
    let bytes = body.as_bytes();
    if bytes.len() < 19
        || bytes[4] != b'-'
        || bytes[7] != b'-'
        || !(bytes[10] == b'T' || bytes[10] == b' ')
        || bytes[13] != b':'
        || bytes[16] != b':'
    {
        return Err(bad());
    }
    let number = |range: std::ops::Range<usize>| -> Result<u64, String> {
        let part = &body[range];
        if part.bytes().all(|b| b.is_ascii_digit()) {
            part.parse().map_err(|_| bad())
        } else {
            Err(bad())
        }
    };
    let (year, month, day) = (number(0..4)?, number(5..7)?, number(8..10)?);
    let (hour, minute, second) = (number(11..13)?, number(14..16)?, number(17..19)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 {
        return Err(bad());
    }
    if second > 60 || year < 1970 {
        return Err(bad());
    }
    let mut fraction_ns = 0u64;
    if bytes.len() > 19 {
        let fraction = body[19..].strip_prefix('.').ok_or_else(bad)?;
        if fraction.is_empty()
            || fraction.len() > 9
            || !fraction.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(bad());
        }
        let digits: u64 = fraction.parse().map_err(|_| bad())?;
        let exponent = u32::try_from(9 - fraction.len()).map_err(|_| bad())?;
        fraction_ns = digits * 10u64.pow(exponent);
    }
    #[allow(clippy::cast_possible_wrap)] // checked ranges above
    let days = days_from_civil(year as i64, month as u32, day as u32);
    let days = u64::try_from(days).map_err(|_| bad())?;
    Ok((days * S_PER_DAY + hour * 3600 + minute * 60 + second) * NS_PER_S + fraction_ns)
}

/// Timestamp in whole microseconds since the epoch (the export tables' time column).
#[must_use]
pub fn micros(timestamp_ns: u64) -> i64 {
    i64::try_from(timestamp_ns / 1_000).unwrap_or(i64::MAX)
}

fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)] // day 1..=31, month 1..=12
    (year, month as u32, day as u32)
}

fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let yoe = year.rem_euclid(400);
    let month = i64::from(month);
    let mp = if month > 2 { month - 3 } else { month + 9 };
    let doy = (153 * mp + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_known_instants() {
        assert_eq!(format_iso_us(0), "1970-01-01T00:00:00.000000Z");
        // 2024-02-29T13:45:07.123456789Z
        let ns = 1_709_214_307_123_456_789;
        assert_eq!(format_iso_us(ns), "2024-02-29T13:45:07.123456Z");
    }

    #[test]
    fn parses_what_it_formats() {
        let ns = 1_709_214_307_123_456_000;
        assert_eq!(parse_iso(&format_iso_us(ns)), Ok(ns));
        assert_eq!(
            parse_iso("2024-02-29T13:45:07Z"),
            Ok(1_709_214_307_000_000_000)
        );
        assert_eq!(
            parse_iso("2024-02-29 13:45:07.5"),
            Ok(1_709_214_307_500_000_000)
        );
        assert_eq!(
            parse_iso("2024-02-29T13:45:07.5+00:00"),
            Ok(1_709_214_307_500_000_000)
        );
        assert_eq!(parse_iso("42"), Ok(42));
    }

    #[test]
    fn refuses_other_zones_and_garbage() {
        assert!(parse_iso("2024-02-29T13:45:07+01:00").is_err());
        assert!(parse_iso("2024-13-01T00:00:00Z").is_err());
        assert!(parse_iso("yesterday").is_err());
        assert!(parse_iso("2024-02-29T13:45:07.").is_err());
    }

    proptest::proptest! {
        #[test]
        fn round_trips_at_microsecond_precision(us in 0u64..4_102_444_800_000_000) {
            let ns = us * 1_000;
            proptest::prop_assert_eq!(parse_iso(&format_iso_us(ns)), Ok(ns));
        }
    }
}
