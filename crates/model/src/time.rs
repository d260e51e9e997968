//! oneM2M timestamps (TS-0004 §6.3.3: ISO 8601 basic format, UTC) and
//! absolute-or-relative times (`rqet`, `rset`, `oet`, `et` offsets).
//!
//! Timestamps are written with a fixed six-digit fraction so that their string
//! form sorts in time order; the store relies on that for expiry scans.

use jiff::{civil::DateTime, tz::TimeZone, Span, Timestamp, Zoned};

/// The current time.
pub fn now() -> Timestamp {
    Timestamp::now()
}

/// `20260526T112532,123456`
///
/// Every CREATE and UPDATE writes several of these, so the digits are
/// written directly (the calendar date from the day number) rather than
/// through `format!` and a time-zone conversion.
pub fn format(ts: Timestamp) -> String {
    let nanos = ts.as_nanosecond();
    let seconds = nanos.div_euclid(1_000_000_000);
    let micros = (nanos.rem_euclid(1_000_000_000) / 1000) as u32;
    let (days, second_of_day) = (seconds.div_euclid(86_400), seconds.rem_euclid(86_400));
    let (year, month, day) = civil_from_days(days as i64);
    if !(0..=9999).contains(&year) {
        return format_slowly(ts);
    }
    let mut out = [0u8; 22];
    put_digits(&mut out[0..4], year as u32);
    put_digits(&mut out[4..6], month);
    put_digits(&mut out[6..8], day);
    out[8] = b'T';
    let second_of_day = second_of_day as u32;
    put_digits(&mut out[9..11], second_of_day / 3600);
    put_digits(&mut out[11..13], second_of_day / 60 % 60);
    put_digits(&mut out[13..15], second_of_day % 60);
    out[15] = b',';
    put_digits(&mut out[16..22], micros);
    out.iter().map(|&b| b as char).collect()
}

/// Zero-padded decimal digits of `value`, filling `out`.
fn put_digits(out: &mut [u8], mut value: u32) {
    for slot in out.iter_mut().rev() {
        *slot = b'0' + (value % 10) as u8;
        value /= 10;
    }
}

/// The proleptic Gregorian date of a day counted from 1970-01-01 (Howard
/// Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// The same through jiff's calendar, for years outside 0000-9999.
fn format_slowly(ts: Timestamp) -> String {
    let dt = ts.to_zoned(TimeZone::UTC).datetime();
    format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02},{:06}",
        dt.year(),
        dt.month(),
        dt.day(),
        dt.hour(),
        dt.minute(),
        dt.second(),
        dt.subsec_nanosecond() / 1000
    )
}

/// The current time as a oneM2M timestamp string.
pub fn now_string() -> String {
    format(now())
}

/// Parse an absolute oneM2M timestamp: `YYYYMMDDTHHMMSS` with an optional
/// `,ffffff` / `.ffffff` fraction and an optional `Z`.
pub fn parse(text: &str) -> Option<Timestamp> {
    let text = text.trim().trim_end_matches('Z');
    let (main, fraction) = match text.find([',', '.']) {
        Some(i) => (&text[..i], Some(&text[i + 1..])),
        None => (text, None),
    };
    if main.len() != 15 || main.as_bytes()[8] != b'T' {
        return None;
    }
    let dt = DateTime::strptime("%Y%m%dT%H%M%S", main).ok()?;
    let mut ts = dt.to_zoned(TimeZone::UTC).ok()?.timestamp();
    if let Some(fraction) = fraction {
        if fraction.is_empty()
            || fraction.len() > 9
            || !fraction.bytes().all(|b| b.is_ascii_digit())
        {
            return None;
        }
        let nanos: i64 = format!("{fraction:0<9}").parse().ok()?;
        ts = ts.checked_add(Span::new().nanoseconds(nanos)).ok()?;
    }
    Some(ts)
}

/// Parse an ISO 8601 duration (`PT1H30M`) or a plain integer number of
/// milliseconds into milliseconds.
pub fn parse_duration_ms(text: &str) -> Option<i64> {
    let text = text.trim();
    if let Ok(ms) = text.parse::<i64>() {
        return Some(ms);
    }
    // Some clients (the ACME test suite among them) send "1500.0"; a
    // fraction of a millisecond means nothing here, so it is dropped.
    if let Some((whole, fraction)) = text.split_once('.') {
        if fraction.bytes().all(|b| b.is_ascii_digit()) {
            return whole.parse::<i64>().ok();
        }
    }
    let span: Span = text.parse().ok()?;
    let base = Zoned::new(Timestamp::UNIX_EPOCH, TimeZone::UTC);
    let later = base.checked_add(span).ok()?;
    Some(later.timestamp().as_millisecond())
}

/// Parse an absRelTimestamp: an absolute timestamp, an ISO 8601 duration
/// from `now`, or an integer number of milliseconds from `now`.
pub fn parse_abs_rel(text: &str, now: Timestamp) -> Option<Timestamp> {
    if let Some(ts) = parse(text) {
        return Some(ts);
    }
    let ms = parse_duration_ms(text)?;
    now.checked_add(Span::new().milliseconds(ms)).ok()
}

/// `now + ms`, saturating at the far future instead of failing.
pub fn after_ms(now: Timestamp, ms: i64) -> Timestamp {
    now.checked_add(Span::new().milliseconds(ms))
        .unwrap_or(Timestamp::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_agrees_with_the_calendar() {
        // leap days, century rules, the epoch, fractions, times before 1970
        let mut seconds: Vec<i64> = vec![
            0,
            -1,
            951_782_400,     // 2000-02-29
            4_107_542_400,   // 2100-03-01
            -2_208_988_800,  // 1900-01-01
            253_402_128_000, // 9999-12-30, near jiff's last timestamp
            -62_167_219_200, // 0000-01-01
        ];
        let mut x: i64 = 0x2545_f491;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            seconds.push(x.rem_euclid(253_402_128_000 + 62_167_219_200) - 62_167_219_200);
        }
        for (i, second) in seconds.into_iter().enumerate() {
            let nanos = (i as i64 * 7_919_993 % 1_000_000_000) as i32;
            let ts =
                Timestamp::from_nanosecond(i128::from(second) * 1_000_000_000 + i128::from(nanos))
                    .unwrap();
            assert_eq!(format(ts), format_slowly(ts), "{second}s {nanos}ns");
        }
    }

    #[test]
    fn format_is_fixed_width_and_parses_back() {
        let ts = parse("20260526T112532,123456").unwrap();
        assert_eq!(format(ts), "20260526T112532,123456");
        let plain = parse("20260526T112532").unwrap();
        assert_eq!(format(plain), "20260526T112532,000000");
        assert!(format(plain) < format(ts));
    }

    #[test]
    fn rejects_malformed() {
        for bad in [
            "",
            "2026-05-26T11:25:32",
            "20260526X112532",
            "20261326T112532",
            "20260526T112532,ab",
        ] {
            assert!(parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn relative_forms() {
        let now = parse("20260101T000000").unwrap();
        assert_eq!(
            format(parse_abs_rel("PT10S", now).unwrap()),
            "20260101T000010,000000"
        );
        assert_eq!(
            format(parse_abs_rel("5000", now).unwrap()),
            "20260101T000005,000000"
        );
        assert_eq!(parse_duration_ms("PT1H30M"), Some(5_400_000));
        assert_eq!(parse_duration_ms("1500.0"), Some(1500));
        assert_eq!(parse_duration_ms("1500.x"), None);
        assert_eq!(parse_abs_rel("nonsense", now), None);
    }
}
