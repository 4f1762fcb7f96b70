//! Why each log event was kept or skipped, counted per invocation.

use serde::{Deserialize, Serialize};

/// The reason a log line did not become a request event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    /// No `{`, invalid JSON, or JSON that is not an object.
    Unparsed,
    /// `type` missing or not a request type.
    NotRequest,
    NoSession,
    NoUser,
    NoUrl,
    NoiseMethod,
    NoisePath,
    NoiseUserAgent,
    NoiseUser,
}

impl Reason {
    pub const ALL: [Reason; 9] = [
        Reason::Unparsed,
        Reason::NotRequest,
        Reason::NoSession,
        Reason::NoUser,
        Reason::NoUrl,
        Reason::NoiseMethod,
        Reason::NoisePath,
        Reason::NoiseUserAgent,
        Reason::NoiseUser,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Reason::Unparsed => "unparsed",
            Reason::NotRequest => "not_request",
            Reason::NoSession => "no_session",
            Reason::NoUser => "no_user",
            Reason::NoUrl => "no_url",
            Reason::NoiseMethod => "noise_method",
            Reason::NoisePath => "noise_path",
            Reason::NoiseUserAgent => "noise_user_agent",
            Reason::NoiseUser => "noise_user",
        }
    }
}

/// Counters for one invocation (or, summed, for a replay).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Counts {
    pub batches: u64,
    pub control_messages: u64,
    pub log_events: u64,
    pub kept: u64,
    pub unparsed: u64,
    pub not_request: u64,
    pub no_session: u64,
    pub no_user: u64,
    pub no_url: u64,
    pub noise_method: u64,
    pub noise_path: u64,
    pub noise_user_agent: u64,
    pub noise_user: u64,
    /// Log events whose id appeared earlier in the same batch.
    pub duplicate_in_batch: u64,
    /// Request events written for the first time.
    pub events_created: u64,
    /// Request events that already existed (a redelivery).
    pub events_existing: u64,
    /// Of `events_created`, those whose daily index was read-only (ISM's
    /// warm state) and which went to the day's backfill index.
    pub events_backfilled: u64,
    pub sessions_touched: u64,
    /// Summaries written with events they did not count before.
    pub sessions_written: u64,
    /// Summaries that already counted every event of the batch.
    pub sessions_unchanged: u64,
    /// Summaries rebuilt from their stored events (deleted by hand,
    /// unreadable, or counting an event OpenSearch then refused).
    pub sessions_rebuilt: u64,
    pub dead_lettered: u64,
    pub retries: u64,
    /// HTTP requests to OpenSearch, retries included.
    pub opensearch_requests: u64,
    /// Documents OpenSearch returned: summaries and event ids looked up by
    /// id, and events read by a rebuild.
    pub documents_read: u64,
}

impl Counts {
    pub fn skip(&mut self, reason: Reason) {
        *self.slot(reason) += 1;
    }

    pub fn get(&self, reason: Reason) -> u64 {
        match reason {
            Reason::Unparsed => self.unparsed,
            Reason::NotRequest => self.not_request,
            Reason::NoSession => self.no_session,
            Reason::NoUser => self.no_user,
            Reason::NoUrl => self.no_url,
            Reason::NoiseMethod => self.noise_method,
            Reason::NoisePath => self.noise_path,
            Reason::NoiseUserAgent => self.noise_user_agent,
            Reason::NoiseUser => self.noise_user,
        }
    }

    fn slot(&mut self, reason: Reason) -> &mut u64 {
        match reason {
            Reason::Unparsed => &mut self.unparsed,
            Reason::NotRequest => &mut self.not_request,
            Reason::NoSession => &mut self.no_session,
            Reason::NoUser => &mut self.no_user,
            Reason::NoUrl => &mut self.no_url,
            Reason::NoiseMethod => &mut self.noise_method,
            Reason::NoisePath => &mut self.noise_path,
            Reason::NoiseUserAgent => &mut self.noise_user_agent,
            Reason::NoiseUser => &mut self.noise_user,
        }
    }

    pub fn skipped(&self) -> u64 {
        Reason::ALL.iter().map(|&r| self.get(r)).sum()
    }

    /// Adds another invocation's counts.
    pub fn add(&mut self, other: &Counts) {
        let a = serde_json::to_value(&*self).expect("counts serialize");
        let b = serde_json::to_value(other).expect("counts serialize");
        let mut sum = serde_json::Map::new();
        for (key, value) in a.as_object().expect("object") {
            let total = value.as_u64().unwrap_or(0) + b[key].as_u64().unwrap_or(0);
            sum.insert(key.clone(), total.into());
        }
        *self = serde_json::from_value(serde_json::Value::Object(sum)).expect("same shape");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn add_sums_every_counter() {
        let mut a = Counts {
            kept: 2,
            noise_path: 1,
            ..Counts::default()
        };
        let b = Counts {
            kept: 3,
            retries: 4,
            ..Counts::default()
        };
        a.add(&b);
        assert_eq!((a.kept, a.noise_path, a.retries), (5, 1, 4));
    }

    #[test]
    fn reason_names_are_the_documented_ones() {
        let names: Vec<_> = Reason::ALL.iter().map(|r| r.name()).collect();
        let json = serde_json::to_value(Counts::default()).unwrap();
        for name in names {
            assert!(json.get(name).is_some(), "{name} is a counter");
        }
    }
}
