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
    /// Summaries written with events they did not count before (or
    /// written again after a deletion).
    pub sessions_written: u64,
    /// Summaries that already counted every event of the batch.
    pub sessions_unchanged: u64,
    /// Of `sessions_written`, summaries written again over the tombstone
    /// of their deletion (deleted by hand or by `_delete_by_query`).
    pub sessions_rebuilt: u64,
    /// Changes sent to sealed buckets' tallies: a frozen bucket's entries
    /// copied in, events that arrived after their bucket froze (counted in
    /// `late_events`), refused events taken out.
    pub tally_changes: u64,
    /// Events of buckets already an hour behind their session's latest,
    /// counted through their tallies.
    pub late_events: u64,
    pub dead_lettered: u64,
    pub retries: u64,
    /// HTTP requests to OpenSearch, retries included.
    pub opensearch_requests: u64,
    /// Documents OpenSearch returned: the tallies and states in their
    /// updates' answers, and event ids looked up by id (a backfill, a
    /// summary's version after a conflict).
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

/// The CloudWatch namespace of the processor's metrics.
pub const METRICS_NAMESPACE: &str = "IronManUsage/Processor";

/// The counters published as metrics, by their names in [`Counts`].
pub const METRICS: [&str; 17] = [
    "log_events",
    "kept",
    "unparsed",
    "not_request",
    "no_session",
    "no_user",
    "no_url",
    "noise_method",
    "noise_path",
    "noise_user_agent",
    "noise_user",
    "events_created",
    "events_existing",
    "sessions_written",
    "dead_lettered",
    "retries",
    "opensearch_requests",
];

impl Counts {
    /// The invocation's counters as a CloudWatch Embedded Metric Format
    /// document: written to the function's log, CloudWatch extracts the
    /// metrics itself (no API call from the Lambda). The values sit at the
    /// root under the metric names, next to the `FunctionName` dimension.
    pub fn metrics_document(&self, function_name: &str, timestamp_ms: i64) -> serde_json::Value {
        let values = serde_json::to_value(self).expect("counts serialize");
        let mut doc = serde_json::Map::new();
        doc.insert(
            "_aws".into(),
            serde_json::json!({
                "Timestamp": timestamp_ms,
                "CloudWatchMetrics": [{
                    "Namespace": METRICS_NAMESPACE,
                    "Dimensions": [["FunctionName"]],
                    "Metrics": METRICS
                        .iter()
                        .map(|name| serde_json::json!({"Name": name, "Unit": "Count"}))
                        .collect::<Vec<_>>(),
                }],
            }),
        );
        doc.insert("FunctionName".into(), function_name.into());
        for name in METRICS {
            doc.insert(name.into(), values[name].clone());
        }
        serde_json::Value::Object(doc)
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

    /// The rules of the Embedded Metric Format (CloudWatch's specification):
    /// an `_aws` object with an integer `Timestamp` (ms) and one directive
    /// naming a namespace, dimension sets whose keys are root members
    /// holding strings, and at most 100 metrics, each a root member holding
    /// a number, with a valid unit.
    #[test]
    fn the_metrics_document_follows_the_embedded_metric_format() {
        let counts = Counts {
            log_events: 120,
            kept: 80,
            noise_path: 30,
            unparsed: 10,
            events_created: 78,
            events_existing: 2,
            sessions_written: 9,
            dead_lettered: 1,
            retries: 3,
            opensearch_requests: 5,
            ..Counts::default()
        };
        let doc = counts.metrics_document("ironman-usage-processor", 1_793_628_191_482);
        let aws = &doc["_aws"];
        assert_eq!(aws["Timestamp"].as_i64(), Some(1_793_628_191_482));
        let directives = aws["CloudWatchMetrics"].as_array().unwrap();
        assert_eq!(directives.len(), 1);
        let directive = &directives[0];
        assert_eq!(directive["Namespace"], METRICS_NAMESPACE);
        let namespace = directive["Namespace"].as_str().unwrap();
        assert!(!namespace.is_empty() && namespace.len() <= 255);
        for set in directive["Dimensions"].as_array().unwrap() {
            let set = set.as_array().unwrap();
            assert!(!set.is_empty() && set.len() <= 30);
            for key in set {
                assert!(doc[key.as_str().unwrap()].is_string(), "dimension {key}");
            }
        }
        let metrics = directive["Metrics"].as_array().unwrap();
        assert!(!metrics.is_empty() && metrics.len() <= 100);
        let names: Vec<&str> = metrics
            .iter()
            .map(|m| m["Name"].as_str().unwrap())
            .collect();
        assert_eq!(names, METRICS, "one metric per published counter, in order");
        let fields = serde_json::to_value(&counts).unwrap();
        for metric in metrics {
            let name = metric["Name"].as_str().unwrap();
            assert_eq!(metric["Unit"], "Count", "{name}");
            assert!(doc[name].is_u64(), "{name} is a number at the root");
            assert_eq!(
                doc[name], fields[name],
                "{name} is the counter of that name"
            );
        }
        // Every skip reason is published.
        for reason in Reason::ALL {
            assert!(names.contains(&reason.name()), "{}", reason.name());
        }
        assert_eq!(
            (doc["kept"].as_u64(), doc["noise_path"].as_u64()),
            (Some(80), Some(30))
        );
    }
}
