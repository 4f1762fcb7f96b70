//! The report as data, and how it is assembled from exact tallies (pure: the
//! tallies come from OpenSearch in `query.rs`, the output goes to JSON, CSV
//! or HTML elsewhere).

use super::period::Period;
use crate::metrics::Range;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// The `--format json` document (field order as printed).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub from: String,
    pub to: String,
    pub timezone: String,
    pub days: Vec<Day>,
    pub duration_distribution: Vec<DurationBucket>,
    pub modules: Vec<Ranked>,
    pub sites: Vec<Ranked>,
    pub asset_types: Vec<Ranked>,
    pub totals: Totals,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Day {
    pub date: String,
    pub unique_users: u64,
    pub sessions: u64,
    pub sessions_per_user: f64,
    pub avg_session_duration_seconds: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DurationBucket {
    pub from_seconds: u64,
    /// None (JSON null) for the open last range.
    pub to_seconds: Option<u64>,
    pub sessions: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ranked {
    pub key: String,
    pub sessions: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Totals {
    pub sessions: u64,
    pub unique_users: u64,
    pub events: u64,
}

/// Exact counts read from OpenSearch for one period.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Tally {
    /// Sessions per (local day `YYYY-MM-DD`, user); user None when a
    /// session has none (it counts as a session, not as a user).
    pub day_users: BTreeMap<(String, Option<String>), u64>,
    /// Sessions per (local day, duration in milliseconds).
    pub day_durations: BTreeMap<(String, i64), u64>,
    /// Sessions per value, for each ranked list (`modules`, `sites`, `asset_types`).
    pub ranked: BTreeMap<String, BTreeMap<String, u64>>,
    /// Sum of event counts over the period's sessions.
    pub events: u64,
}

/// Seconds (a `duration_seconds` value, millisecond precision) to whole
/// milliseconds, so sums are exact integers.
pub fn seconds_to_ms(seconds: f64) -> i64 {
    (seconds * 1000.0).round() as i64
}

/// The mean of durations given as a sum of milliseconds over `count`
/// sessions: the exact quotient rounded once to f64 (both operands are
/// exact in f64 below 2^53), so any exact computation gives the same bits.
pub fn mean_seconds(sum_ms: i64, count: u64) -> f64 {
    if count == 0 {
        0.0
    } else {
        sum_ms as f64 / (count as f64 * 1000.0)
    }
}

/// Sessions per user, 0 when there are no users.
pub fn ratio(sessions: u64, users: u64) -> f64 {
    if users == 0 {
        0.0
    } else {
        sessions as f64 / users as f64
    }
}

/// Sorted by sessions descending, then key ascending (byte order).
pub fn rank(counts: &BTreeMap<String, u64>) -> Vec<Ranked> {
    let mut ranked: Vec<Ranked> = counts
        .iter()
        .map(|(key, &sessions)| Ranked {
            key: key.clone(),
            sessions,
        })
        .collect();
    ranked.sort_by(|a, b| b.sessions.cmp(&a.sessions).then_with(|| a.key.cmp(&b.key)));
    ranked
}

/// Folds the tallies into the report. Fails when OpenSearch put a session on
/// a day outside the period (its bucketing and ours would disagree).
pub fn assemble(period: &Period, ranges: &[Range], tally: &Tally) -> anyhow::Result<Report> {
    let days = period.days();
    let names: Vec<String> = days
        .iter()
        .map(|d| d.format("%Y-%m-%d").to_string())
        .collect();
    let known: BTreeSet<&str> = names.iter().map(String::as_str).collect();

    let mut sessions: BTreeMap<&str, u64> = BTreeMap::new();
    let mut users: BTreeMap<&str, u64> = BTreeMap::new();
    let mut all_users: BTreeSet<&str> = BTreeSet::new();
    for ((day, user), &n) in &tally.day_users {
        let day = known.get(day.as_str()).copied().ok_or_else(|| {
            anyhow::anyhow!(
                "OpenSearch put sessions on day {day}, outside {}..{} in {}",
                period.from,
                period.to,
                period.tz_name()
            )
        })?;
        *sessions.entry(day).or_default() += n;
        if let Some(user) = user {
            *users.entry(day).or_default() += 1;
            all_users.insert(user);
        }
    }

    let mut duration_ms: BTreeMap<&str, (i64, u64)> = BTreeMap::new();
    let mut distribution = vec![0u64; ranges.len()];
    for ((day, ms), &n) in &tally.day_durations {
        let day = known.get(day.as_str()).copied().ok_or_else(|| {
            anyhow::anyhow!("OpenSearch put session durations on day {day}, outside the period")
        })?;
        let entry = duration_ms.entry(day).or_default();
        entry.0 += ms * n as i64;
        entry.1 += n;
        let seconds = *ms as f64 / 1000.0;
        if let Some(i) = ranges.iter().position(|r| r.contains(seconds)) {
            distribution[i] += n;
        }
    }

    let days = names
        .iter()
        .map(|name| {
            let s = sessions.get(name.as_str()).copied().unwrap_or(0);
            let u = users.get(name.as_str()).copied().unwrap_or(0);
            let (sum_ms, n) = duration_ms.get(name.as_str()).copied().unwrap_or((0, 0));
            Day {
                date: name.clone(),
                unique_users: u,
                sessions: s,
                sessions_per_user: ratio(s, u),
                avg_session_duration_seconds: mean_seconds(sum_ms, n),
            }
        })
        .collect();
    let empty = BTreeMap::new();
    let ranked = |key: &str| rank(tally.ranked.get(key).unwrap_or(&empty));
    Ok(Report {
        from: period.from.format("%Y-%m-%d").to_string(),
        to: period.to.format("%Y-%m-%d").to_string(),
        timezone: period.tz_name().to_string(),
        days,
        duration_distribution: ranges
            .iter()
            .zip(distribution)
            .map(|(r, sessions)| DurationBucket {
                from_seconds: r.from,
                to_seconds: r.to,
                sessions,
            })
            .collect(),
        modules: ranked("modules"),
        sites: ranked("sites"),
        asset_types: ranked("asset_types"),
        totals: Totals {
            sessions: sessions.values().sum(),
            unique_users: all_users.len() as u64,
            events: tally.events,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::Metrics;
    use serde_json::json;

    fn period(from: &str, to: &str) -> Period {
        Period::new(from.parse().unwrap(), to.parse().unwrap(), "UTC").unwrap()
    }

    fn ranges() -> Vec<Range> {
        Metrics::load(&crate::project_root())
            .unwrap()
            .duration_ranges()
    }

    #[test]
    fn ranking_is_sessions_descending_then_key_ascending() {
        let counts = BTreeMap::from([
            ("b".to_string(), 3),
            ("a".to_string(), 3),
            ("Z".to_string(), 1),
            ("c".to_string(), 7),
            ("é".to_string(), 3),
        ]);
        let keys: Vec<String> = rank(&counts).into_iter().map(|r| r.key).collect();
        assert_eq!(keys, ["c", "a", "b", "é", "Z"]);
    }

    #[test]
    fn every_day_is_present_and_empty_days_are_zero() {
        let mut tally = Tally::default();
        tally
            .day_users
            .insert(("2026-11-03".into(), Some("ann".into())), 2);
        tally
            .day_users
            .insert(("2026-11-03".into(), Some("bob".into())), 1);
        tally
            .day_users
            .insert(("2026-11-04".into(), Some("ann".into())), 1);
        tally.day_durations.insert(("2026-11-03".into(), 59_999), 2);
        tally.day_durations.insert(("2026-11-03".into(), 60_000), 1);
        tally
            .day_durations
            .insert(("2026-11-04".into(), 3_600_000), 1);
        tally.events = 17;
        let report = assemble(&period("2026-11-02", "2026-11-05"), &ranges(), &tally).unwrap();
        let value = serde_json::to_value(&report).unwrap();
        assert_eq!(
            value["days"],
            json!([
                {"date": "2026-11-02", "unique_users": 0, "sessions": 0, "sessions_per_user": 0.0, "avg_session_duration_seconds": 0.0},
                {"date": "2026-11-03", "unique_users": 2, "sessions": 3, "sessions_per_user": 1.5, "avg_session_duration_seconds": 179_998.0 / 3000.0},
                {"date": "2026-11-04", "unique_users": 1, "sessions": 1, "sessions_per_user": 1.0, "avg_session_duration_seconds": 3600.0},
                {"date": "2026-11-05", "unique_users": 0, "sessions": 0, "sessions_per_user": 0.0, "avg_session_duration_seconds": 0.0},
            ])
        );
        // 59.999 s is below 60, 60 s is in [60,300), 3600 s in the open range.
        let dist: Vec<u64> = report
            .duration_distribution
            .iter()
            .map(|b| b.sessions)
            .collect();
        assert_eq!(dist, [2, 1, 0, 0, 0, 1]);
        assert_eq!(
            report.totals,
            Totals {
                sessions: 4,
                unique_users: 2,
                events: 17
            }
        );
    }

    #[test]
    fn the_json_has_the_documented_shape() {
        let report = assemble(
            &period("2026-11-02", "2026-11-02"),
            &ranges(),
            &Tally::default(),
        )
        .unwrap();
        let text = serde_json::to_string(&report).unwrap();
        assert!(
            text.starts_with(r#"{"from":"2026-11-02","to":"2026-11-02","timezone":"UTC","days":[{"date":"2026-11-02","unique_users":0,"sessions":0,"sessions_per_user":0.0,"avg_session_duration_seconds":0.0}],"duration_distribution":[{"from_seconds":0,"to_seconds":60,"sessions":0},"#),
            "{text}"
        );
        assert!(
            text.ends_with(r#"{"from_seconds":3600,"to_seconds":null,"sessions":0}],"modules":[],"sites":[],"asset_types":[],"totals":{"sessions":0,"unique_users":0,"events":0}}"#),
            "{text}"
        );
    }

    #[test]
    fn a_session_on_a_day_outside_the_period_is_an_error() {
        let mut tally = Tally::default();
        tally
            .day_users
            .insert(("2026-11-09".into(), Some("ann".into())), 1);
        let err = assemble(&period("2026-11-02", "2026-11-08"), &ranges(), &tally).unwrap_err();
        assert!(err.to_string().contains("2026-11-09"), "{err}");
    }

    #[test]
    fn means_are_the_exact_quotient_rounded_once() {
        assert_eq!(mean_seconds(0, 0), 0.0);
        assert_eq!(mean_seconds(825_000, 2), 412.5);
        // 0.1 + 0.2 summed as floats is 0.30000000000000004; in ms it is exact.
        assert_eq!(mean_seconds(100 + 200, 1), 0.3);
        assert_eq!(seconds_to_ms(0.1 + 0.2), 300);
        assert_eq!(seconds_to_ms(412.123), 412_123);
        assert_eq!(ratio(57, 41), 1.3902439024390243);
        assert_eq!(ratio(3, 0), 0.0);
    }
}
