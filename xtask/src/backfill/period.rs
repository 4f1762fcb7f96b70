//! The period a backfill reads: `--from` and `--to`, each a UTC calendar
//! day or an RFC 3339 instant, as the half-open `[from, to)` in epoch
//! milliseconds (the unit of CloudWatch Logs timestamps).

use anyhow::bail;
use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    /// The first millisecond read.
    pub from_ms: i64,
    /// The first millisecond not read.
    pub to_ms: i64,
}

impl Period {
    /// `--from` and `--to` as given. A day is a whole UTC day on both
    /// sides: `--from D` starts at D's midnight, `--to D` ends at the next
    /// one. An instant is taken as it is (so `--to` an instant is the
    /// first one left out).
    pub fn parse(from: &str, to: &str) -> anyhow::Result<Period> {
        let from_ms = parse_bound("--from", from, Side::Start)?;
        let to_ms = parse_bound("--to", to, Side::End)?;
        if from_ms >= to_ms {
            bail!(
                "--from {from} is not before --to {to}: the period [{}, {}) is empty",
                fmt_ms(from_ms),
                fmt_ms(to_ms)
            );
        }
        Ok(Period { from_ms, to_ms })
    }

    pub fn duration_ms(&self) -> i64 {
        self.to_ms - self.from_ms
    }
}

impl std::fmt::Display for Period {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "[{}, {})", fmt_ms(self.from_ms), fmt_ms(self.to_ms))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Start,
    End,
}

fn parse_bound(flag: &str, text: &str, side: Side) -> anyhow::Result<i64> {
    let text = text.trim();
    if let Ok(day) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        let day = match side {
            Side::Start => Some(day),
            Side::End => day.succ_opt(),
        };
        if let Some(midnight) = day.and_then(|d| d.and_hms_opt(0, 0, 0)) {
            return Ok(midnight.and_utc().timestamp_millis());
        }
    }
    match DateTime::parse_from_rfc3339(text) {
        Ok(instant) => Ok(instant.with_timezone(&Utc).timestamp_millis()),
        Err(_) => bail!(
            "{flag} `{text}`: expected a UTC day YYYY-MM-DD or an RFC 3339 instant such as 2026-12-01T06:30:00Z"
        ),
    }
}

/// An instant as RFC 3339 in UTC, to the second when that is exact.
pub fn fmt_ms(ms: i64) -> String {
    match DateTime::from_timestamp_millis(ms) {
        Some(t) if ms % 1000 == 0 => t.to_rfc3339_opts(SecondsFormat::Secs, true),
        Some(t) => t.to_rfc3339_opts(SecondsFormat::Millis, true),
        None => format!("{ms} ms"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(rfc3339: &str) -> i64 {
        DateTime::parse_from_rfc3339(rfc3339)
            .unwrap()
            .timestamp_millis()
    }

    #[test]
    fn days_are_inclusive_utc_calendar_days() {
        let p = Period::parse("2026-12-01", "2026-12-01").unwrap();
        assert_eq!(p.from_ms, ms("2026-12-01T00:00:00Z"));
        assert_eq!(p.to_ms, ms("2026-12-02T00:00:00Z"));
        assert_eq!(p.duration_ms(), 86_400_000);
        let p = Period::parse("2026-11-30", "2026-12-02").unwrap();
        assert_eq!(p.duration_ms(), 3 * 86_400_000);
        assert_eq!(
            p.to_string(),
            "[2026-11-30T00:00:00Z, 2026-12-03T00:00:00Z)"
        );
        // The last day of a year ends at the next year's first midnight.
        let p = Period::parse("2026-12-31", "2026-12-31").unwrap();
        assert_eq!(p.to_ms, ms("2027-01-01T00:00:00Z"));
    }

    #[test]
    fn instants_are_taken_as_given_in_utc() {
        let p = Period::parse("2026-12-01T06:30:00Z", "2026-12-01T08:00:00+01:00").unwrap();
        assert_eq!(p.from_ms, ms("2026-12-01T06:30:00Z"));
        assert_eq!(p.to_ms, ms("2026-12-01T07:00:00Z"));
        // A day and an instant mix.
        let p = Period::parse("2026-12-01", "2026-12-01T00:00:00.001Z").unwrap();
        assert_eq!(p.duration_ms(), 1);
        assert_eq!(fmt_ms(p.to_ms), "2026-12-01T00:00:00.001Z");
    }

    #[test]
    fn an_empty_or_reversed_period_is_refused_naming_both_flags() {
        for (from, to) in [
            ("2026-12-02", "2026-12-01"),
            ("2026-12-01T10:00:00Z", "2026-12-01T10:00:00Z"),
            ("2026-12-02", "2026-12-01T23:59:59Z"),
        ] {
            let err = Period::parse(from, to).unwrap_err().to_string();
            assert!(
                err.contains(&format!("--from {from}")) && err.contains(&format!("--to {to}")),
                "{err}"
            );
            assert!(err.contains("empty"), "{err}");
        }
    }

    #[test]
    fn a_malformed_bound_names_its_flag() {
        let err = Period::parse("yesterday", "2026-12-01")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("--from `yesterday`"), "{err}");
        let err = Period::parse("2026-12-01", "2026-13-01")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("--to `2026-13-01`"), "{err}");
        let err = Period::parse("2026-12-01", "2026-12-02T10:00")
            .unwrap_err()
            .to_string();
        assert!(err.contains("RFC 3339"), "{err}");
    }
}
