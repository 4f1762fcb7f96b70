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
//! - a summary created again over such a tombstone has a version above its
//!   event count until a versioned write with a count at least as high.
//!
//! So every conflict is settled against what is stored now: nothing stored
//! → `create`; the same content, or more events → keep it; otherwise an
//! `index` conditional on the stored document being the one just read
//! (`if_seq_no`, `if_primary_term`). Such a write that leaves a version
//! *below* the event count (the tombstone was pruned in between: `create`
//! then starts again at 1) is followed by the versioned write of the same
//! document. So a summary's version never falls below its event count, and
//! a stale view never replaces a fresher one.
//!
//! Deleting the whole index leaves no tombstones: summaries rebuilt into a
//! new index are versioned by their event counts again.

use serde_json::Value;

/// What is stored under a summary's id.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredSummary {
    /// The document without `last_updated` (`null` if it is not an
    /// object: it is then replaced).
    pub content: Value,
    pub seq_no: u64,
    pub primary_term: u64,
}

impl StoredSummary {
    fn event_count(&self) -> Option<u64> {
        self.content["event_count"].as_u64()
    }

    /// Holds more events than a summary of `event_count`: a fresher view.
    fn is_fresher_than(&self, event_count: u64) -> bool {
        self.event_count().is_some_and(|n| n > event_count)
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

/// The first attempt: write unless the same content, or a fresher
/// summary, is stored.
pub fn first_write(
    stored: Option<&StoredSummary>,
    content: &Value,
    event_count: u64,
) -> SummaryWrite {
    match stored {
        Some(s) if s.content == *content || s.is_fresher_than(event_count) => SummaryWrite::Keep,
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
        Some(s) if s.content == *content || s.is_fresher_than(event_count) => SummaryWrite::Keep,
        Some(s) => SummaryWrite::IfUnchanged {
            seq_no: s.seq_no,
            primary_term: s.primary_term,
        },
    }
}

/// Whether a write that succeeded with `version` must be followed by the
/// versioned write: a `create` or conditional write left the version below
/// the event count, where a stale view's versioned write would pass.
pub fn needs_version_raise(write: SummaryWrite, version: Option<u64>, event_count: u64) -> bool {
    write != SummaryWrite::ByEventCount && version.is_some_and(|v| v < event_count)
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
    fn the_first_attempt_skips_identical_content_and_fresher_summaries() {
        let ours = json!({"event_count": 3, "paths": ["/a"]});
        assert_eq!(
            first_write(Some(&stored(3, "/a"),), &ours, 3),
            SummaryWrite::Keep
        );
        assert_eq!(
            first_write(Some(&stored(4, "/b")), &ours, 3),
            SummaryWrite::Keep
        );
        assert_eq!(
            first_write(Some(&stored(3, "/b")), &ours, 3),
            SummaryWrite::ByEventCount
        );
        assert_eq!(
            first_write(Some(&stored(2, "/a")), &ours, 3),
            SummaryWrite::ByEventCount
        );
        assert_eq!(first_write(None, &ours, 3), SummaryWrite::ByEventCount);
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
        // No readable count, or no readable document: not known to be
        // fresher.
        let odd = StoredSummary {
            content: json!({"paths": ["/a"]}),
            seq_no: 41,
            primary_term: 2,
        };
        assert_eq!(after_conflict(Some(&odd), &ours, 3), expected);
        let odd = StoredSummary {
            content: Value::Null,
            seq_no: 41,
            primary_term: 2,
        };
        assert_eq!(after_conflict(Some(&odd), &ours, 3), expected);
    }

    #[test]
    fn only_a_create_or_conditional_write_below_the_count_is_raised() {
        let conditional = SummaryWrite::IfUnchanged {
            seq_no: 1,
            primary_term: 1,
        };
        // A tombstone pruned between the read and the create: version 1.
        assert!(needs_version_raise(SummaryWrite::Create, Some(1), 11));
        assert!(needs_version_raise(conditional, Some(10), 11));
        // Over a tombstone, as usual: above the count already.
        assert!(!needs_version_raise(SummaryWrite::Create, Some(13), 11));
        assert!(!needs_version_raise(conditional, Some(11), 11));
        // The versioned write sets the version to the count itself.
        assert!(!needs_version_raise(
            SummaryWrite::ByEventCount,
            Some(11),
            11
        ));
        assert!(!needs_version_raise(SummaryWrite::Create, None, 11));
    }
}
