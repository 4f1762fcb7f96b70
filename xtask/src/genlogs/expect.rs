//! The expectation: what a correct processor makes of the corpus, computed from
//! the generator's own model (never by parsing the generated lines).
//!
//! Every log event of the model carries its outcome (kept as a request event,
//! or dropped for a reason); this module folds those outcomes into the request
//! events, the session summaries (spec section 6) and the drop counters.

use super::model::{LogEvent, Outcome};
use super::render::fmt_utc_ms;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};

/// What the processor must produce for a corpus.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Expected {
    /// Session summaries by `session_id`.
    pub sessions: BTreeMap<String, ExpectedSession>,
    /// Distinct log event ids that must become request events.
    pub kept_event_ids: BTreeSet<String>,
    /// The request-event document of every kept log event, by log event id.
    pub events: BTreeMap<String, ExpectedEvent>,
    /// Distinct log events dropped, by reason (only reasons that occur).
    pub dropped: BTreeMap<String, u64>,
    /// Distinct log events of DATA_MESSAGE batches.
    pub log_events_total: u64,
    /// Log events of all DATA_MESSAGE files, redeliveries included.
    pub log_events_delivered: u64,
    /// CONTROL_MESSAGE files (each with one log event that produces nothing;
    /// not counted in `log_events_total` or `log_events_delivered`).
    pub control_messages: u64,
}

/// One session summary (spec section 6), without `last_updated`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExpectedSession {
    pub session_id: String,
    pub user: String,
    pub modules: BTreeSet<String>,
    pub paths: BTreeSet<String>,
    pub asset_types: BTreeSet<String>,
    pub site_tokens: BTreeSet<String>,
    pub start_time_ms: i64,
    pub end_time_ms: i64,
    pub event_count: u64,
}

/// One request event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExpectedEvent {
    /// UTC epoch milliseconds (extra fraction digits truncated).
    pub timestamp_ms: i64,
    pub session_id: String,
    pub user: String,
    pub path: String,
    pub method: Option<String>,
    pub status_code: Option<i64>,
    pub response_time: Option<i64>,
    pub module: Option<String>,
    pub site_token: Option<String>,
    /// Query-parameter values in URL order, then the record's array, each
    /// normalised. The generator never repeats a value within one event.
    pub asset_types: Vec<String>,
    pub log_group: String,
    pub log_stream: String,
}

impl Expected {
    /// Distinct users of the sessions.
    pub fn users(&self) -> BTreeSet<&str> {
        self.sessions.values().map(|s| s.user.as_str()).collect()
    }

    /// Kept request events (the same as `kept_event_ids.len()`).
    pub fn kept_events(&self) -> u64 {
        self.kept_event_ids.len() as u64
    }

    /// Distinct log events dropped, all reasons together.
    pub fn dropped_total(&self) -> u64 {
        self.dropped.values().sum()
    }
}

impl ExpectedSession {
    /// `end_time - start_time` in seconds, millisecond precision.
    pub fn duration_seconds(&self) -> f64 {
        (self.end_time_ms - self.start_time_ms) as f64 / 1000.0
    }

    /// The UTC calendar day of `start_time` (the day the session belongs to).
    pub fn start_date(&self) -> chrono::NaiveDate {
        chrono::DateTime::from_timestamp_millis(self.start_time_ms)
            .expect("generated timestamps are in range")
            .date_naive()
    }

    /// The session-summaries document, without `last_updated`.
    pub fn to_doc(&self) -> Value {
        json!({
            "session_id": self.session_id,
            "user": self.user,
            "modules": self.modules,
            "paths": self.paths,
            "assetTypes": self.asset_types,
            "siteTokens": self.site_tokens,
            "start_time": fmt_utc_ms(self.start_time_ms),
            "end_time": fmt_utc_ms(self.end_time_ms),
            "duration_seconds": self.duration_seconds(),
            "event_count": self.event_count,
        })
    }
}

impl ExpectedEvent {
    /// The request-event document.
    pub fn to_doc(&self) -> Value {
        json!({
            "timestamp": fmt_utc_ms(self.timestamp_ms),
            "session_id": self.session_id,
            "user": self.user,
            "path": self.path,
            "method": self.method,
            "status_code": self.status_code,
            "response_time": self.response_time,
            "module": self.module,
            "site_token": self.site_token,
            "asset_types": self.asset_types,
            "log_group": self.log_group,
            "log_stream": self.log_stream,
        })
    }

    /// `YYYY.MM.DD`, the UTC date of the timestamp (the daily index suffix).
    pub fn index_date(&self) -> String {
        let s = fmt_utc_ms(self.timestamp_ms);
        format!("{}.{}.{}", &s[0..4], &s[5..7], &s[8..10])
    }
}

/// Compares two log event ids as the decimal numbers they are.
pub(crate) fn cmp_ids(a: &str, b: &str) -> std::cmp::Ordering {
    let (a, b) = (a.trim_start_matches('0'), b.trim_start_matches('0'));
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

/// Inserts `value` into `set` unless present (cloning only when new).
fn add(set: &mut BTreeSet<String>, value: Option<&String>) {
    if let Some(v) = value.filter(|v| !set.contains(*v)) {
        set.insert(v.clone());
    }
}

/// Folds the model's outcomes into the expectation. `ids[i]` is the log event
/// id of `events[i]`.
pub(crate) fn build(
    events: Vec<LogEvent>,
    ids: &[String],
    delivered: u64,
    control_messages: u64,
) -> Expected {
    // Each session with the index of its earliest record so far (to break
    // timestamp ties by log event id).
    let mut sessions: BTreeMap<String, (ExpectedSession, usize)> = BTreeMap::new();
    let mut dropped: BTreeMap<String, u64> = BTreeMap::new();
    let mut kept: Vec<(String, ExpectedEvent)> = Vec::new();
    let log_events_total = events.len() as u64;

    for (i, event) in events.into_iter().enumerate() {
        let ev = match event.outcome {
            Outcome::Dropped(reason) => {
                *dropped.entry(reason.name().to_string()).or_default() += 1;
                continue;
            }
            Outcome::Kept(ev) => *ev,
        };
        match sessions.get_mut(&ev.session_id) {
            None => {
                let s = ExpectedSession {
                    session_id: ev.session_id.clone(),
                    user: ev.user.clone(),
                    modules: ev.module.iter().cloned().collect(),
                    paths: BTreeSet::from([ev.path.clone()]),
                    asset_types: ev.asset_types.iter().cloned().collect(),
                    site_tokens: ev.site_token.iter().cloned().collect(),
                    start_time_ms: ev.timestamp_ms,
                    end_time_ms: ev.timestamp_ms,
                    event_count: 1,
                };
                sessions.insert(ev.session_id.clone(), (s, i));
            }
            Some((s, first)) => {
                let earlier = ev.timestamp_ms < s.start_time_ms
                    || (ev.timestamp_ms == s.start_time_ms
                        && cmp_ids(&ids[i], &ids[*first]).is_lt());
                if earlier {
                    s.user.clone_from(&ev.user);
                    s.start_time_ms = ev.timestamp_ms;
                    *first = i;
                }
                s.end_time_ms = s.end_time_ms.max(ev.timestamp_ms);
                add(&mut s.modules, ev.module.as_ref());
                add(&mut s.paths, Some(&ev.path));
                for a in &ev.asset_types {
                    add(&mut s.asset_types, Some(a));
                }
                add(&mut s.site_tokens, ev.site_token.as_ref());
                s.event_count += 1;
            }
        }
        kept.push((ids[i].clone(), ev));
    }

    // Sorted once (by index: the events are large), the two collections
    // below are built in linear time.
    let mut order: Vec<u32> = (0..kept.len() as u32).collect();
    order.sort_unstable_by(|&a, &b| kept[a as usize].0.cmp(&kept[b as usize].0));
    let kept_event_ids = order.iter().map(|&k| kept[k as usize].0.clone()).collect();
    let mut kept: Vec<Option<(String, ExpectedEvent)>> = kept.into_iter().map(Some).collect();
    let events = order
        .iter()
        .map(|&k| kept[k as usize].take().expect("each once"))
        .collect();
    let sessions = sessions.into_iter().map(|(id, (s, _))| (id, s)).collect();
    Expected {
        sessions,
        kept_event_ids,
        events,
        dropped,
        log_events_total,
        log_events_delivered: delivered,
        control_messages,
    }
}
