//! How a session summary is written, given what is stored under its id.
//!
//! The usual write is an `index` with `version_type=external_gte` and the
//! session's event count as version: of two views of a session, the one
//! with more events wins whatever order they land in. OpenSearch answers
//! 409 when the stored version is higher. Mostly that means a fresher
//! summary is stored, but not always:
//! - a deleted summary (`DELETE`, `_delete_by_query`) leaves a tombstone
//!   whose version is one above the last one written, for
//!   `index.gc_deletes` (60 s by default): the same summary written again
//!   is refused although nothing is stored;
//! - a summary created again over such a tombstone keeps a version above
//!   its event count from then on.
//!
//! So every conflict is settled against what is stored now: nothing stored
//! → `create`; the same content, or more events → keep it; otherwise an
//! `index` conditional on the stored document being the one just read
//! (`if_seq_no`, `if_primary_term`). A stale view still never replaces a
//! fresher one: versions only ever drift above event counts, never below.

use serde_json::Value;

/// What is stored under a summary's id.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredSummary {
    /// The document without `last_updated`.
    pub content: Value,
    pub seq_no: u64,
    pub primary_term: u64,
}

impl StoredSummary {
    fn event_count(&self) -> Option<u64> {
        self.content["event_count"].as_u64()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SummaryWrite {
    /// Nothing to write: the same content, or a fresher summary, is stored.
    Keep,
    /// `index` with `version_type=external_gte`, version = event count.
    ByEventCount,
    /// `index` only if the stored document is still the one read.
    IfUnchanged { seq_no: u64, primary_term: u64 },
    /// `create`: nothing is stored.
    Create,
}

/// The first attempt: write unless the same content is stored.
pub fn first_write(stored: Option<&StoredSummary>, content: &Value) -> SummaryWrite {
    match stored {
        Some(s) if s.content == *content => SummaryWrite::Keep,
        _ => SummaryWrite::ByEventCount,
    }
}

/// The next attempt after a 409, from what is stored now.
pub fn after_conflict(
    stored: Option<&StoredSummary>,
    content: &Value,
    event_count: u64,
) -> SummaryWrite {
    match stored {
        None => SummaryWrite::Create,
        Some(s) if s.content == *content => SummaryWrite::Keep,
        Some(s) if s.event_count().is_some_and(|n| n > event_count) => SummaryWrite::Keep,
        Some(s) => SummaryWrite::IfUnchanged {
            seq_no: s.seq_no,
            primary_term: s.primary_term,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn stored(event_count: u64, path: &str) -> StoredSummary {
        StoredSummary {
            content: json!({"event_count": event_count, "paths": [path]}),
            seq_no: 41,
            primary_term: 2,
        }
    }

    #[test]
    fn the_first_attempt_skips_only_identical_content() {
        let ours = json!({"event_count": 3, "paths": ["/a"]});
        assert_eq!(
            first_write(Some(&stored(3, "/a")), &ours),
            SummaryWrite::Keep
        );
        assert_eq!(
            first_write(Some(&stored(3, "/b")), &ours),
            SummaryWrite::ByEventCount
        );
        assert_eq!(first_write(None, &ours), SummaryWrite::ByEventCount);
    }

    #[test]
    fn a_conflict_with_nothing_stored_was_a_deletion_and_creates_the_summary() {
        let ours = json!({"event_count": 3, "paths": ["/a"]});
        assert_eq!(after_conflict(None, &ours, 3), SummaryWrite::Create);
    }

    #[test]
    fn a_conflict_with_a_fresher_or_identical_summary_keeps_it() {
        let ours = json!({"event_count": 3, "paths": ["/a"]});
        assert_eq!(
            after_conflict(Some(&stored(4, "/b")), &ours, 3),
            SummaryWrite::Keep
        );
        assert_eq!(
            after_conflict(Some(&stored(3, "/a")), &ours, 3),
            SummaryWrite::Keep
        );
    }

    #[test]
    fn a_conflict_with_an_older_summary_replaces_exactly_the_one_read() {
        let ours = json!({"event_count": 3, "paths": ["/a"]});
        let expected = SummaryWrite::IfUnchanged {
            seq_no: 41,
            primary_term: 2,
        };
        // Fewer events: the version drifted above the count after a delete.
        assert_eq!(after_conflict(Some(&stored(2, "/a")), &ours, 3), expected);
        // As many events, other content (other rules): ours is as fresh.
        assert_eq!(after_conflict(Some(&stored(3, "/b")), &ours, 3), expected);
        // No readable count: not known to be fresher.
        let odd = StoredSummary {
            content: json!({"paths": ["/a"]}),
            seq_no: 41,
            primary_term: 2,
        };
        assert_eq!(after_conflict(Some(&odd), &ours, 3), expected);
    }
}
