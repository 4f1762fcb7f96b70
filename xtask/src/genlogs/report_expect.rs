//! The usage report (spec section 7) a correct pipeline gives for a period,
//! computed from the model's sessions alone: it uses none of the report's
//! code, so a test comparing the two checks the report, not itself.

use super::expect::Expected;
use chrono::{DateTime, NaiveDate};
use chrono_tz::Tz;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};

/// Duration ranges of spec section 7, seconds; the last is open.
const RANGES: [(i64, Option<i64>); 6] = [
    (0, Some(60)),
    (60, Some(300)),
    (300, Some(900)),
    (900, Some(1800)),
    (1800, Some(3600)),
    (3600, None),
];

#[derive(Default)]
struct DayAcc<'a> {
    users: BTreeSet<&'a str>,
    sessions: u64,
    duration_ms: i64,
}

impl Expected {
    /// The `--format json` report for the inclusive local days `from..=to`
    /// in zone `tz`. Panics on a bad zone (test input).
    pub fn report(&self, from: NaiveDate, to: NaiveDate, tz: &str) -> Value {
        let zone: Tz = tz.parse().expect("an IANA zone");
        let mut days: BTreeMap<NaiveDate, DayAcc> = BTreeMap::new();
        let mut day = from;
        while day <= to {
            days.insert(day, DayAcc::default());
            day = day.succ_opt().expect("date in range");
        }
        let mut distribution = [0u64; RANGES.len()];
        let mut lists: [BTreeMap<&str, u64>; 3] = Default::default();
        let mut users = BTreeSet::new();
        let mut sessions = 0u64;
        let mut events = 0u64;
        for s in self.sessions.values() {
            let local = DateTime::from_timestamp_millis(s.start_time_ms)
                .expect("generated timestamps are in range")
                .with_timezone(&zone)
                .date_naive();
            let Some(acc) = days.get_mut(&local) else {
                continue;
            };
            let ms = s.end_time_ms - s.start_time_ms;
            acc.users.insert(&s.user);
            acc.sessions += 1;
            acc.duration_ms += ms;
            users.insert(s.user.as_str());
            sessions += 1;
            events += s.event_count;
            let bucket = RANGES
                .iter()
                .position(|&(lo, hi)| ms >= lo * 1000 && hi.is_none_or(|hi| ms < hi * 1000))
                .expect("durations are not negative");
            distribution[bucket] += 1;
            for (list, values) in lists
                .iter_mut()
                .zip([&s.modules, &s.site_tokens, &s.asset_types])
            {
                for v in values {
                    *list.entry(v.as_str()).or_default() += 1;
                }
            }
        }
        let ranked = |list: &BTreeMap<&str, u64>| -> Value {
            let mut items: Vec<(&str, u64)> = list.iter().map(|(k, n)| (*k, *n)).collect();
            items.sort_by_key(|&(k, n)| (std::cmp::Reverse(n), k));
            items
                .into_iter()
                .map(|(k, n)| json!({"key": k, "sessions": n}))
                .collect()
        };
        json!({
            "from": from.to_string(),
            "to": to.to_string(),
            "timezone": tz,
            "days": days.iter().map(|(d, acc)| {
                let u = acc.users.len() as u64;
                json!({
                    "date": d.to_string(),
                    "unique_users": u,
                    "sessions": acc.sessions,
                    "sessions_per_user": if u == 0 { 0.0 } else { acc.sessions as f64 / u as f64 },
                    "avg_session_duration_seconds": if acc.sessions == 0 { 0.0 } else {
                        acc.duration_ms as f64 / (acc.sessions as f64 * 1000.0)
                    },
                })
            }).collect::<Vec<_>>(),
            "duration_distribution": RANGES.iter().zip(distribution).map(|(&(lo, hi), n)| {
                json!({"from_seconds": lo, "to_seconds": hi, "sessions": n})
            }).collect::<Vec<_>>(),
            "modules": ranked(&lists[0]),
            "sites": ranked(&lists[1]),
            "asset_types": ranked(&lists[2]),
            "totals": {"sessions": sessions, "unique_users": users.len(), "events": events},
        })
    }
}
