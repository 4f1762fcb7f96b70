//! The report's period: inclusive calendar days in an IANA time zone, and
//! the UTC instants that bound them (daylight-saving changes included: a
//! day can last 23 or 25 hours).

use anyhow::{Context as _, bail};
use chrono::{DateTime, Days, NaiveDate, TimeZone as _, Utc};
use chrono_tz::Tz;

/// Longest period a report covers (a bound on the per-day table).
pub const MAX_DAYS: u64 = 3_660;

/// Names in the IANA database that OpenSearch (Java's `ZoneId`) refuses,
/// with what to use instead; every other name chrono-tz knows, OpenSearch
/// takes too (compared on 2026-12-04 with Java 17 and 25, and by
/// `date_histogram` queries on OpenSearch 3.6).
const UNKNOWN_TO_OPENSEARCH: [(&str, &str); 4] = [
    (
        "EST",
        "`America/New_York`, or `Etc/GMT+5` for UTC-5 all year",
    ),
    (
        "MST",
        "`America/Denver`, or `America/Phoenix` for UTC-7 all year",
    ),
    ("HST", "`Pacific/Honolulu`"),
    ("ROC", "`Asia/Taipei`"),
];

#[derive(Debug, Clone, PartialEq)]
pub struct Period {
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub tz: Tz,
}

impl Period {
    /// `from` and `to` inclusive, `tz` an IANA zone name such as
    /// `America/Chicago` (or `UTC`).
    pub fn new(from: NaiveDate, to: NaiveDate, tz: &str) -> anyhow::Result<Period> {
        let tz: Tz = tz.parse().map_err(|_| {
            anyhow::anyhow!(
                "--tz `{tz}`: not an IANA time zone name (such as `UTC` or `America/Chicago`)"
            )
        })?;
        if let Some((_, instead)) = UNKNOWN_TO_OPENSEARCH
            .iter()
            .find(|(name, _)| *name == tz.name())
        {
            bail!(
                "--tz `{}`: a legacy name OpenSearch does not know; use {instead}",
                tz.name()
            );
        }
        if to < from {
            bail!("--to {to} is before --from {from}");
        }
        let days = (to - from).num_days() as u64 + 1;
        if days > MAX_DAYS {
            bail!("--from {from} --to {to}: {days} days, more than the {MAX_DAYS} a report covers");
        }
        Ok(Period { from, to, tz })
    }

    /// Parses `YYYY-MM-DD` (for messages: `what` names the option).
    pub fn parse_date(what: &str, text: &str) -> anyhow::Result<NaiveDate> {
        NaiveDate::parse_from_str(text, "%Y-%m-%d")
            .with_context(|| format!("{what} `{text}`: expected a date YYYY-MM-DD"))
    }

    /// Every day of the period, in order.
    pub fn days(&self) -> Vec<NaiveDate> {
        self.from
            .iter_days()
            .take_while(|d| *d <= self.to)
            .collect()
    }

    /// The first instant of `day` in the zone (local midnight; when a
    /// daylight-saving jump skips midnight, the first local time that exists).
    pub fn day_start(&self, day: NaiveDate) -> DateTime<Utc> {
        let midnight = day.and_hms_opt(0, 0, 0).expect("midnight exists");
        // Gaps are at most a few hours; step until a local time exists.
        for minutes in (0..=24 * 60).step_by(15) {
            let local = midnight + chrono::Duration::minutes(minutes);
            if let Some(t) = self.tz.from_local_datetime(&local).earliest() {
                return t.with_timezone(&Utc);
            }
        }
        unreachable!("every day has a local time that exists")
    }

    /// The UTC instants `[from 00:00 local, to+1 00:00 local)`, in epoch
    /// milliseconds.
    pub fn utc_range_ms(&self) -> (i64, i64) {
        let end = self
            .to
            .checked_add_days(Days::new(1))
            .expect("date in range");
        (
            self.day_start(self.from).timestamp_millis(),
            self.day_start(end).timestamp_millis(),
        )
    }

    /// The zone's calendar day of an instant.
    pub fn day_of(&self, epoch_ms: i64) -> NaiveDate {
        DateTime::from_timestamp_millis(epoch_ms)
            .expect("timestamp in range")
            .with_timezone(&self.tz)
            .date_naive()
    }

    /// The zone's IANA name, as given to OpenSearch and printed in the report.
    pub fn tz_name(&self) -> &'static str {
        self.tz.name()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn ms(s: &str) -> i64 {
        DateTime::parse_from_rfc3339(s).unwrap().timestamp_millis()
    }

    #[test]
    fn zone_names_opensearch_refuses_are_refused_up_front_with_an_alternative() {
        for (tz, instead) in [("EST", "America/New_York"), ("ROC", "Asia/Taipei")] {
            let err = Period::new(date("2026-11-02"), date("2026-11-02"), tz)
                .unwrap_err()
                .to_string();
            assert!(
                err.contains(&format!("`{tz}`")) && err.contains(instead),
                "{err}"
            );
        }
        for tz in ["EST5EDT", "Etc/GMT+5", "America/Chicago", "UTC"] {
            assert!(
                Period::new(date("2026-11-02"), date("2026-11-02"), tz).is_ok(),
                "{tz}"
            );
        }
    }

    #[test]
    fn utc_days_are_24_hours() {
        let p = Period::new(date("2026-11-02"), date("2026-11-08"), "UTC").unwrap();
        assert_eq!(p.days().len(), 7);
        assert_eq!(
            p.utc_range_ms(),
            (ms("2026-11-02T00:00:00Z"), ms("2026-11-09T00:00:00Z"))
        );
    }

    #[test]
    fn the_range_follows_daylight_saving_in_chicago() {
        // US DST ends 2026-11-01 at 02:00 CDT: Oct 31 starts at 05:00Z
        // (CDT, -5), Nov 2 at 06:00Z (CST, -6); Nov 1 lasts 25 hours.
        let p = Period::new(date("2026-10-31"), date("2026-11-01"), "America/Chicago").unwrap();
        assert_eq!(
            p.utc_range_ms(),
            (ms("2026-10-31T05:00:00Z"), ms("2026-11-02T06:00:00Z"))
        );
        let nov1 = p.day_start(date("2026-11-01")).timestamp_millis();
        let nov2 = p.day_start(date("2026-11-02")).timestamp_millis();
        assert_eq!(nov2 - nov1, 25 * 3_600_000);
        // And in spring the day lasts 23 hours.
        let mar8 = p.day_start(date("2026-03-08")).timestamp_millis();
        let mar9 = p.day_start(date("2026-03-09")).timestamp_millis();
        assert_eq!(mar9 - mar8, 23 * 3_600_000);
    }

    #[test]
    fn sessions_count_on_their_local_day() {
        let p = Period::new(date("2026-10-31"), date("2026-11-02"), "America/Chicago").unwrap();
        // 05:30Z on Nov 1 is 00:30 CDT on Nov 1; 05:30Z on Nov 2 is 23:30 CST on Nov 1.
        assert_eq!(p.day_of(ms("2026-11-01T05:30:00Z")), date("2026-11-01"));
        assert_eq!(p.day_of(ms("2026-11-02T05:30:00Z")), date("2026-11-01"));
        assert_eq!(p.day_of(ms("2026-11-02T06:00:00Z")), date("2026-11-02"));
        assert_eq!(p.day_of(ms("2026-11-01T04:59:59.999Z")), date("2026-10-31"));
        let (start, end) = p.utc_range_ms();
        assert_eq!(p.day_of(start), p.from);
        assert_eq!(p.day_of(end - 1), p.to);
        assert_eq!(p.day_of(end), date("2026-11-03"));
    }

    #[test]
    fn a_day_whose_midnight_does_not_exist_starts_at_its_first_local_time() {
        // America/Havana springs forward at midnight (2026-03-08 00:00 -> 01:00).
        let p = Period::new(date("2026-03-08"), date("2026-03-08"), "America/Havana").unwrap();
        let start = p.day_start(date("2026-03-08"));
        assert_eq!(p.day_of(start.timestamp_millis()), date("2026-03-08"));
        assert_eq!(p.day_of(start.timestamp_millis() - 1), date("2026-03-07"));
    }

    #[test]
    fn bad_input_names_the_option() {
        let err = Period::new(date("2026-11-02"), date("2026-11-01"), "UTC").unwrap_err();
        assert!(err.to_string().contains("before --from"), "{err}");
        let err = Period::new(date("2026-11-02"), date("2026-11-03"), "Mars/Olympus").unwrap_err();
        assert!(err.to_string().contains("--tz `Mars/Olympus`"), "{err}");
        let err = Period::parse_date("--from", "2026-13-01").unwrap_err();
        assert!(
            format!("{err:#}").contains("--from `2026-13-01`"),
            "{err:#}"
        );
    }
}
