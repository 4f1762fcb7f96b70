//! The plan: users, their sessions, and every log event the application
//! writes, each paired with what a correct processor makes of it (a request
//! event, or a drop reason). The lines themselves are described as data
//! (prefix, JSON members as written, trailer); `render` turns them into text.
//!
//! Every representation choice (how a timestamp, user or URL is written) is
//! made here together with the value the spec derives from it, so the
//! expectation never depends on parsing what was written. The first uses of
//! each choice cycle through all its variants (see [`Gen::choose`]), so every
//! rule of the spec appears in any corpus of a few sessions; after that the
//! variants follow realistic weights.
//!
//! - [`event`]: the plan's output, log events and their outcomes;
//! - [`vocabulary`]: the application, people and clients the lines name;
//! - [`draw`]: random draws, and the coverage cycling behind [`Gen::choose`];
//! - [`users`], [`schedule`], [`session`]: who, when, and one session's lines;
//! - [`kept`], [`timestamp`], [`url`], [`asset_types`]: records that become
//!   request events, field by field;
//! - [`dropped`], [`session_noise`], [`background`]: lines the processor
//!   drops, inside sessions and outside them;
//! - [`polling`]: the long sessions of `gen-logs --session-events N`, a
//!   single-page app left open that polls its API all day.

mod asset_types;
mod background;
mod draw;
mod dropped;
mod event;
mod kept;
mod polling;
mod schedule;
mod session;
mod session_noise;
mod timestamp;
mod url;
mod users;
mod vocabulary;

#[cfg(test)]
pub(crate) use event::Reason;
pub(crate) use event::{Body, LogEvent, Outcome, Prefix, Val};

use super::{GenOptions, Progress};
use draw::dim;
use event::Msg;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::BTreeSet;
use users::User;
use vocabulary::BROWSERS;

pub(crate) const LOG_GROUP: &str = "/ironman/app";
const DAY_MS: i64 = 86_400_000;
const HOUR_MS: i64 = 3_600_000;
const MIN_MS: i64 = 60_000;

/// Log events per planned session, background lines included, as measured
/// by the `events_target_sizes_the_corpus` test (it names the new value when
/// the model changes); `GenOptions::target_events` divides by it.
pub(crate) const EVENTS_PER_SESSION: f64 = 85.0;

/// Long sessions open from this time of the first day (06:00 UTC)…
pub(crate) const LONG_SESSION_START_MS: i64 = 6 * HOUR_MS;
/// …within this many milliseconds of each other.
pub(crate) const LONG_SESSION_START_SPREAD_MS: i64 = 5 * MIN_MS;
/// A long session polls again after 20 to 40 s.
pub(crate) const LONG_SESSION_MIN_POLL_MS: i64 = 20_000;
pub(crate) const LONG_SESSION_MAX_POLL_MS: i64 = 40_000;
/// Log events per kept request event of a long-session corpus (its noise
/// and the background lines), as measured by the
/// `genlogs_long_sessions_have_their_shape` test, which names the new value
/// when the model changes; the size check multiplies by it.
pub(crate) const LONG_SESSION_LOG_EVENTS_PER_KEPT: f64 = 1.15;

/// A session's `home` when it has no home stream: a load balancer spreads
/// its requests evenly over every task (and so every log stream).
const ANY_STREAM: u16 = u16::MAX;

/// The whole plan.
pub(crate) struct Model {
    pub streams: Vec<String>,
    pub events: Vec<LogEvent>,
    #[cfg_attr(not(test), allow(dead_code))]
    pub sessions_planned: u64,
}

struct Gen<'o> {
    opts: &'o GenOptions,
    rng: ChaCha8Rng,
    cover: [u32; dim::COUNT],
    streams: Vec<String>,
    users: Vec<User>,
    sites: Vec<String>,
    events: Vec<LogEvent>,
    day0_ms: i64,
    long_ua: String,
    /// While set, every request's path is this API path (after `/api/v2`):
    /// a polling page asks the same endpoint over and over.
    poll_path: Option<&'static str>,
}

/// Builds the plan: users, sessions, their lines and the background lines.
pub(crate) fn build(opts: &GenOptions, progress: &mut dyn FnMut(Progress)) -> Model {
    let mut g = Gen::new(opts);
    g.make_users();
    let plans = g.plan_sessions();
    let total = plans.len() as u64;
    for (i, plan) in plans.iter().enumerate() {
        g.session(plan);
        if i % 500 == 0 {
            progress(Progress {
                stage: "planning sessions",
                done: i as u64,
                total,
            });
        }
    }
    progress(Progress {
        stage: "planning sessions",
        done: total,
        total,
    });
    g.background();
    Model {
        streams: g.streams,
        events: g.events,
        sessions_planned: total,
    }
}

impl<'o> Gen<'o> {
    fn new(opts: &'o GenOptions) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(opts.seed);
        let n_streams = (3 + opts.users / 40).clamp(3, 12)
            + u32::from(opts.target_events.unwrap_or(0) > 200_000) * 4;
        let streams = (0..n_streams)
            .map(|_| {
                let (a, b): (u64, u64) = (rng.random(), rng.random());
                format!("ecs/web/{a:016x}{b:016x}")
            })
            .collect();
        let mut sites = BTreeSet::new();
        while sites.len() < 30 {
            sites.insert(format!("ST-{:04}", rng.random_range(1..10_000)));
        }
        let mut sites: Vec<String> = sites.into_iter().collect();
        sites.extend(
            [
                "Pilbara-West",
                "CL-Escondida-02",
                "mine_north",
                "PE-Antamina",
            ]
            .map(String::from),
        );
        let day0_ms = opts
            .start_date
            .and_hms_opt(0, 0, 0)
            .expect("midnight exists")
            .and_utc()
            .timestamp_millis();
        let mut long_ua = String::from(BROWSERS[0]);
        let mut k = 0;
        while long_ua.len() < 20_000 {
            long_ua.push_str(&format!(" Ext{k}/1.{k} (plugin; build {k:04})"));
            k += 1;
        }
        Gen {
            opts,
            rng,
            cover: [0; dim::COUNT],
            streams,
            users: Vec::new(),
            sites,
            events: Vec::new(),
            day0_ms,
            long_ua,
            poll_path: None,
        }
    }

    fn random_site(&mut self) -> String {
        let i = self.below(self.sites.len());
        self.sites[i].clone()
    }

    fn stream_for(&mut self, home: u16) -> u16 {
        if home != ANY_STREAM && self.chance(0.7) {
            home
        } else {
            self.below(self.streams.len()) as u16
        }
    }

    fn push(&mut self, stream: u16, ts_ms: i64, late: bool, msg: Msg, outcome: Outcome) -> usize {
        self.events.push(LogEvent {
            stream,
            ts_ms,
            late,
            msg,
            outcome,
        });
        self.events.len() - 1
    }
}
