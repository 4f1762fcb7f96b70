//! When sessions happen and what each is for: starts follow the users'
//! working hours and weekdays, and the first sessions are forced through
//! every [`Feature`] so any corpus of a few sessions has them all.

use super::{DAY_MS, EVENTS_PER_SESSION, Gen, HOUR_MS, MIN_MS};
use chrono::Datelike as _;

/// Local hour-of-day weights for the start of a session.
const HOUR_WEIGHTS: [u32; 24] = [
    0, 0, 0, 0, 0, 1, 2, 6, 10, 12, 12, 11, 8, 10, 11, 10, 8, 5, 3, 2, 2, 1, 1, 1,
];
/// Session-duration buckets of the report (seconds) and the durations drawn
/// inside each, with margins for timestamp truncation and jitter.
pub(super) const BUCKET_DRAW: [(i64, i64); 6] = [
    (3, 50),
    (65, 290),
    (305, 890),
    (905, 1790),
    (1805, 3590),
    (3605, 3 * 3600),
];
const BUCKET_WEIGHTS: [u32; 6] = [16, 26, 24, 17, 12, 5];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Feature {
    /// A session of this duration bucket.
    Normal(usize),
    /// Exactly one kept event.
    Single,
    /// Starts shortly before midnight UTC and ends after it.
    CrossMidnight,
    /// The earliest record is by another user (support staff) and its batch
    /// arrives hours late: the session's user is that other user.
    UserSwitch,
    /// Only noise (static files, preflights): no session summary.
    Ghost,
    /// One line is logged twice (two log events, same content): both count.
    Duplicate(usize),
    /// The first page's batch arrives hours late.
    Late(usize),
    /// A long session (`--session-events`) of exactly this many kept
    /// request events: see [`super::polling`].
    Polling(u32),
}

const FORCED: [Feature; 12] = [
    Feature::Normal(0),
    Feature::Normal(1),
    Feature::Normal(2),
    Feature::Normal(3),
    Feature::Normal(4),
    Feature::Normal(5),
    Feature::Single,
    Feature::CrossMidnight,
    Feature::UserSwitch,
    Feature::Ghost,
    Feature::Duplicate(1),
    Feature::Late(2),
];

pub(super) struct Plan {
    pub(super) user: usize,
    pub(super) start_ms: i64,
    pub(super) feature: Feature,
}

impl Gen<'_> {
    pub(super) fn plan_sessions(&mut self) -> Vec<Plan> {
        if let Some(events) = self.opts.session_events {
            return self.plan_long_sessions(events);
        }
        let days = self.opts.days as i64;
        let weekday = |g: &Gen, d: i64| {
            let date = g.opts.start_date + chrono::Days::new(d as u64);
            match date.weekday().num_days_from_monday() {
                5 => 0.25,
                6 => 0.15,
                _ => 1.0,
            }
        };
        let per_user_day = match self.opts.target_events {
            Some(target) => {
                let act: f64 = self.users.iter().map(|u| u.activity).sum();
                let dayw: f64 = (0..days).map(|d| weekday(self, d)).sum();
                if act * dayw > 0.0 {
                    target as f64 / EVENTS_PER_SESSION / (act * dayw)
                } else {
                    0.0
                }
            }
            None => self.opts.sessions_per_user_day,
        };
        let mut plans = Vec::new();
        for d in 0..days {
            let day_start = self.day0_ms + d * DAY_MS;
            let w = weekday(self, d);
            for u in 0..self.users.len() {
                let k = self.poisson(per_user_day * self.users[u].activity * w);
                for _ in 0..k {
                    let hour = self.weighted(&HOUR_WEIGHTS) as i64;
                    let local = hour * HOUR_MS + self.range(0, HOUR_MS);
                    let utc = (local - i64::from(self.users[u].tz_min) * MIN_MS).rem_euclid(DAY_MS);
                    let feature = self.random_feature();
                    plans.push(Plan {
                        user: u,
                        start_ms: day_start + utc,
                        feature,
                    });
                }
            }
        }
        for (plan, feature) in plans.iter_mut().zip(FORCED) {
            plan.feature = feature;
            if feature == Feature::CrossMidnight {
                let day_start = plan.start_ms - (plan.start_ms - self.day0_ms).rem_euclid(DAY_MS);
                plan.start_ms = day_start + 23 * HOUR_MS + 30 * MIN_MS + self.range(0, 25 * MIN_MS);
            }
        }
        plans
    }

    fn random_feature(&mut self) -> Feature {
        let bucket = self.weighted(&BUCKET_WEIGHTS);
        match self.weighted(&[950, 30, 10, 3, 5, 5]) {
            1 => Feature::Single,
            2 => Feature::Ghost,
            3 => Feature::UserSwitch,
            4 => Feature::Duplicate(bucket),
            5 => Feature::Late(bucket),
            _ => Feature::Normal(bucket),
        }
    }
}
