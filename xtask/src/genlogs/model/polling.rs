//! Long sessions (`gen-logs --session-events N`): a single-page app left
//! open all day that polls its module's API every 20–40 s. One session per
//! user, all opened within minutes of each other, each with exactly N kept
//! request events. A load balancer spreads the polls over every task, so
//! every log stream carries every session and each batch of about a hundred
//! log events touches (almost) every open session.

use super::kept::Kind;
use super::schedule::{Feature, Plan};
use super::session::Sess;
use super::vocabulary::MODULE_APIS;
use super::{
    Gen, LONG_SESSION_MAX_POLL_MS, LONG_SESSION_MIN_POLL_MS, LONG_SESSION_START_MS,
    LONG_SESSION_START_SPREAD_MS,
};

impl Gen<'_> {
    /// One session per user, opened within a few minutes after 06:00 UTC of
    /// the first day.
    pub(super) fn plan_long_sessions(&mut self, events: u32) -> Vec<Plan> {
        (0..self.users.len())
            .map(|user| Plan {
                user,
                start_ms: self.day0_ms
                    + LONG_SESSION_START_MS
                    + self.range(0, LONG_SESSION_START_SPREAD_MS),
                feature: Feature::Polling(events),
            })
            .collect()
    }

    /// The page load (a beacon, sometimes with the static files the browser
    /// fetches), then `events - 1` polls of the page's API, each a kept GET
    /// request; now and then a preflight before a poll, which is dropped.
    pub(super) fn polling_session(&mut self, s: &Sess, t0: i64, events: u32) {
        if self.chance(0.4) {
            let at = t0 - self.range(500, 3_000);
            self.static_loads(s, at);
        }
        let module = self.weighted(&s.module_weights);
        self.kept(s, Kind::Beacon, t0, module, None, false, None, None);
        // The page polls one endpoint of its module (the list, no id): a
        // session's paths stay few however long it lasts.
        self.poll_path = Some(MODULE_APIS[module][0]);
        let mut t = t0;
        for _ in 1..events {
            t += self.range(LONG_SESSION_MIN_POLL_MS, LONG_SESSION_MAX_POLL_MS + 1);
            if self.chance(0.02) {
                let url = format!("/api/v2{}", MODULE_APIS[module][0]);
                let at = t - self.range(5, 40);
                self.preflight(s, at, &url);
            }
            let status = self.status("GET");
            self.kept(
                s,
                Kind::Request,
                t,
                module,
                None,
                false,
                Some("GET"),
                status,
            );
        }
        self.poll_path = None;
    }
}
