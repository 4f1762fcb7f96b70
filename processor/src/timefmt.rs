//! Timestamps: RFC 3339 parsing to epoch milliseconds, and the one format
//! every stored timestamp uses (`YYYY-MM-DDTHH:MM:SS.mmmZ`, UTC).
//!
//! Hand-written because it runs once per log line on the hot path, and so
//! that the accepted forms are exactly the documented ones.

/// 0000-01-01T00:00:00.000Z: the earliest instant a stored timestamp can hold.
pub const MIN_MS: i64 = -62_167_219_200_000;
/// 9999-12-31T23:59:59.999Z: the latest.
pub const MAX_MS: i64 = 253_402_300_799_999;

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// `days_from_civil`).
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let m = month as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + day as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of a day count since 1970-01-01.
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        _ => 28,
    }
}

#[inline]
fn digits(bytes: &[u8], at: usize, n: usize) -> Option<u32> {
    let slice = bytes.get(at..at + n)?;
    let mut value = 0u32;
    for &b in slice {
        if !b.is_ascii_digit() {
            return None;
        }
        value = value * 10 + u32::from(b - b'0');
    }
    Some(value)
}

/// Parses an RFC 3339 date-time (`T`, `t` or a space between date and time;
/// optional fraction of any length, truncated to milliseconds; `Z`, `z` or
/// `±HH:MM`) into epoch milliseconds. `None` if it is anything else or falls
/// outside years 0000–9999 once in UTC.
pub fn parse_rfc3339(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || b[13] != b':' || b[16] != b':' {
        return None;
    }
    if !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    let year = i64::from(digits(b, 0, 4)?);
    let month = digits(b, 5, 2)?;
    let day = digits(b, 8, 2)?;
    let hour = digits(b, 11, 2)?;
    let minute = digits(b, 14, 2)?;
    let second = digits(b, 17, 2)?;
    if !(1..=12).contains(&month)
        || day == 0
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let mut at = 19;
    let mut millis = 0u32;
    if b.get(at) == Some(&b'.') {
        at += 1;
        let start = at;
        while at < b.len() && b[at].is_ascii_digit() {
            if at - start < 3 {
                millis = millis * 10 + u32::from(b[at] - b'0');
            }
            at += 1;
        }
        let n = at - start;
        if n == 0 {
            return None;
        }
        for _ in n..3 {
            millis *= 10;
        }
    }
    let offset_minutes: i64 = match b.get(at) {
        Some(b'Z' | b'z') if at + 1 == b.len() => 0,
        Some(&sign @ (b'+' | b'-')) if at + 6 == b.len() && b[at + 3] == b':' => {
            let oh = digits(b, at + 1, 2)?;
            let om = digits(b, at + 4, 2)?;
            if oh > 23 || om > 59 {
                return None;
            }
            let total = i64::from(oh * 60 + om);
            if sign == b'+' { total } else { -total }
        }
        _ => return None,
    };
    let days = days_from_civil(year, month, day);
    let seconds =
        days * 86_400 + i64::from(hour * 3600 + minute * 60 + second) - offset_minutes * 60;
    let ms = seconds * 1000 + i64::from(millis);
    (MIN_MS..=MAX_MS).contains(&ms).then_some(ms)
}

thread_local! {
    /// The day and date part of the last timestamp written on this thread:
    /// the timestamps of a batch mostly fall on one day, and the calendar
    /// arithmetic costs more than the rest of the formatting.
    static LAST_DATE: std::cell::Cell<(i64, [u8; 11])> =
        const { std::cell::Cell::new((i64::MIN, [0; 11])) };
}

/// `YYYY-MM-DDT` of a day count since 1970-01-01 (years 0000-9999).
fn date_part(days: i64) -> [u8; 11] {
    let (year, month, day) = civil_from_days(days);
    let y = year as u32;
    [
        b'0' + (y / 1000 % 10) as u8,
        b'0' + (y / 100 % 10) as u8,
        b'0' + (y / 10 % 10) as u8,
        b'0' + (y % 10) as u8,
        b'-',
        b'0' + (month / 10) as u8,
        b'0' + (month % 10) as u8,
        b'-',
        b'0' + (day / 10) as u8,
        b'0' + (day % 10) as u8,
        b'T',
    ]
}

/// Epoch milliseconds to the stored form, appended to `out`.
/// `ms` must lie in `MIN_MS..=MAX_MS`.
pub fn write_timestamp(ms: i64, out: &mut Vec<u8>) {
    debug_assert!((MIN_MS..=MAX_MS).contains(&ms));
    let days = ms.div_euclid(86_400_000);
    let in_day = ms.rem_euclid(86_400_000) as u32;
    let date = LAST_DATE.with(|last| {
        let (last_days, date) = last.get();
        if last_days == days {
            return date;
        }
        let date = date_part(days);
        last.set((days, date));
        date
    });
    let (h, rest) = (in_day / 3_600_000, in_day % 3_600_000);
    let (m, rest) = (rest / 60_000, rest % 60_000);
    let (s, milli) = (rest / 1000, rest % 1000);
    let [y0, y1, y2, y3, d0, m0, m1, d1, dd0, dd1, t] = date;
    let buf = [
        y0,
        y1,
        y2,
        y3,
        d0,
        m0,
        m1,
        d1,
        dd0,
        dd1,
        t,
        b'0' + (h / 10) as u8,
        b'0' + (h % 10) as u8,
        b':',
        b'0' + (m / 10) as u8,
        b'0' + (m % 10) as u8,
        b':',
        b'0' + (s / 10) as u8,
        b'0' + (s % 10) as u8,
        b'.',
        b'0' + (milli / 100) as u8,
        b'0' + (milli / 10 % 10) as u8,
        b'0' + (milli % 10) as u8,
        b'Z',
    ];
    out.extend_from_slice(&buf);
}

/// Epoch milliseconds to the stored form.
pub fn format_timestamp(ms: i64) -> String {
    let mut out = Vec::with_capacity(24);
    write_timestamp(ms, &mut out);
    String::from_utf8(out).expect("ASCII")
}

/// The UTC day of an instant, as the `YYYY.MM.DD` suffix of a daily index.
pub fn index_day(ms: i64) -> String {
    let (y, m, d) = civil_from_days(ms.div_euclid(86_400_000));
    format!("{y:04}.{m:02}.{d:02}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_round_trip() {
        for days in [-719_528, -1, 0, 1, 10_957, 20_759, 2_932_896] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days, "{y}-{m}-{d}");
        }
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
    }

    #[test]
    fn parses_z_offsets_and_fractions() {
        let base = parse_rfc3339("2026-11-02T14:03:11.482Z").unwrap();
        assert_eq!(base, 1_793_628_191_482);
        assert_eq!(format_timestamp(base), "2026-11-02T14:03:11.482Z");
        assert_eq!(parse_rfc3339("2026-11-02T15:03:11.482+01:00"), Some(base));
        assert_eq!(parse_rfc3339("2026-11-02T08:03:11.482-06:00"), Some(base));
        assert_eq!(parse_rfc3339("2026-11-02t14:03:11.482z"), Some(base));
        assert_eq!(parse_rfc3339("2026-11-02 14:03:11.482Z"), Some(base));
        assert_eq!(parse_rfc3339("2026-11-02T14:03:11.482999999Z"), Some(base));
        assert_eq!(parse_rfc3339("2026-11-02T14:03:11.4Z"), Some(base - 82));
        assert_eq!(parse_rfc3339("2026-11-02T14:03:11Z"), Some(base - 482));
        assert_eq!(parse_rfc3339("2026-11-02T14:03:11-00:00"), Some(base - 482));
    }

    #[test]
    fn offsets_move_the_day() {
        let ms = parse_rfc3339("2026-11-02T23:30:00.000-05:00").unwrap();
        assert_eq!(format_timestamp(ms), "2026-11-03T04:30:00.000Z");
        assert_eq!(index_day(ms), "2026.11.03");
        let ms = parse_rfc3339("2026-11-03T00:30:00+05:30").unwrap();
        assert_eq!(index_day(ms), "2026.11.02");
    }

    #[test]
    fn rejects_what_is_not_rfc3339() {
        for bad in [
            "",
            "2026-11-02",
            "2026-11-02T14:03:11",
            "2026-11-02T14:03:11.Z",
            "2026-13-02T14:03:11Z",
            "2026-02-29T14:03:11Z",
            "2026-11-02T24:03:11Z",
            "2026-11-02T14:03:11+0100",
            "2026-11-02T14:03:11Z ",
            "02/11/2026 14:03:11",
            "1793628191482",
            "2026-11-02T14:03:11+25:00",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad:?}");
        }
        assert!(parse_rfc3339("2024-02-29T00:00:00Z").is_some());
    }

    #[test]
    fn remembered_dates_are_the_dates() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..2000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            // Mostly a few neighbouring days, sometimes anywhere.
            let ms = if seed.is_multiple_of(4) {
                MIN_MS + (seed % (MAX_MS - MIN_MS) as u64) as i64
            } else {
                1_793_628_191_482 + (seed % (3 * 86_400_000)) as i64 - 86_400_000
            };
            let (y, m, d) = civil_from_days(ms.div_euclid(86_400_000));
            let t = ms.rem_euclid(86_400_000);
            let expected = format!(
                "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
                t / 3_600_000,
                t / 60_000 % 60,
                t / 1000 % 60,
                t % 1000
            );
            assert_eq!(format_timestamp(ms), expected, "{ms}");
        }
    }

    #[test]
    fn range_ends_format() {
        assert_eq!(format_timestamp(MIN_MS), "0000-01-01T00:00:00.000Z");
        assert_eq!(format_timestamp(MAX_MS), "9999-12-31T23:59:59.999Z");
        assert_eq!(format_timestamp(-1), "1969-12-31T23:59:59.999Z");
        assert_eq!(parse_rfc3339("0000-01-01T00:30:00+01:00"), None);
    }
}
