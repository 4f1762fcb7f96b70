//! The summaries' side of one batch, after its events are written: each
//! stored event's id into its session's tally, the tallies' sizes and the
//! events' fields into the session's state, the state published as the
//! session's summary. Why this is exact is argued in ARCHITECTURE.md ("A
//! session summary counts each stored event once"); what is sent is built
//! by `session_state`.
//!
//! Per invocation, on every path: the events' `_bulk`, one `_bulk` of
//! tally updates, one of state updates, one of summaries. Nothing is read
//! but what those updates answer, nothing waits for a refresh, and every
//! write is a merge that OpenSearch applies in the shard, so invocations
//! sharing a session never conflict with each other.

use super::{DeadLetter, Outcome, Sink, SinkError, Step};
use crate::batch::ProcessedBatch;
use crate::bulk::BulkBody;
use crate::counts::Counts;
use crate::docid::document_id;
use crate::session::EventView;
use crate::session_state::{
    SessionReport, State, state_id, tally_id, tally_size, write_state_item, write_summary_item,
    write_tally_item,
};
use http::Method;
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashSet};
use std::time::Instant;

/// Tries to publish a summary over deletions' tombstones before giving up
/// (one is enough for a summary deleted once since it was last written).
const PUBLISH_TRIES: u64 = 16;

pub(super) async fn write_batch<'b>(
    sink: &Sink,
    batch: &'b ProcessedBatch<'b>,
    deadline: Instant,
    counts: &mut Counts,
) -> Result<(), SinkError> {
    if batch.events.is_empty() {
        return Ok(());
    }
    let refused: HashSet<usize> = sink
        .write_events(batch, |_| true, deadline, counts)
        .await?
        .into_iter()
        .collect();
    sink.crash_point(Step::AfterEvents)?;

    // What is stored counts, a redelivered event (409) included: it may be
    // the one an earlier attempt stored and died before counting.
    let mut by_session: BTreeMap<&'b str, Vec<EventView<'_, 'b>>> = BTreeMap::new();
    for (position, kept) in batch.events.iter().enumerate() {
        if refused.contains(&position) {
            continue;
        }
        by_session
            .entry(kept.event.session_id.as_ref())
            .or_default()
            .push(EventView {
                id: document_id(kept.id),
                ..kept.view()
            });
    }
    counts.sessions_touched += by_session.len() as u64;
    let reports: Vec<SessionReport<'b>> = by_session
        .iter()
        .filter_map(|(session, events)| SessionReport::of(session, events))
        .collect();
    if reports.is_empty() {
        return Ok(());
    }

    let sizes = update_tallies(sink, &reports, deadline, counts).await?;
    sink.crash_point(Step::AfterTallies)?;
    let states = update_states(sink, &reports, &sizes, deadline, counts).await?;
    sink.crash_point(Step::AfterStates)?;
    publish(sink, &states, deadline, counts).await?;
    sink.crash_point(Step::AfterSummaries)
}

/// Adds each report's ids to their tallies; returns, per report, each
/// tally's size as its update answered.
async fn update_tallies(
    sink: &Sink,
    reports: &[SessionReport<'_>],
    deadline: Instant,
    counts: &mut Counts,
) -> Result<Vec<BTreeMap<i64, u64>>, SinkError> {
    let index = sink.indices.session_state();
    let mut body = BulkBody::default();
    let mut refs: Vec<(usize, i64)> = Vec::new();
    for (position, report) in reports.iter().enumerate() {
        for (&bucket, ids) in &report.tallies {
            let start = body.bytes.len();
            write_tally_item(
                &mut body.bytes,
                &index,
                &tally_id(report.session_id, bucket),
                ids,
            );
            body.items.push((start..body.bytes.len(), refs.len()));
            refs.push((position, bucket));
        }
    }
    let mut sizes = vec![BTreeMap::new(); reports.len()];
    for (reference, outcome, item) in sink
        .bulk_or_crash(Step::InTallies, "/_bulk", body, deadline, counts)
        .await?
    {
        let (position, bucket) = refs[reference];
        let session = reports[position].session_id;
        let item = updated(outcome, item, "tally", session)?;
        counts.documents_read += 1;
        let size = tally_size(&item).ok_or_else(|| SinkError::Protocol {
            call: "POST /_bulk (tallies)".into(),
            message: format!("no size in the answer for session `{session}`: {item}"),
        })?;
        sizes[position].insert(bucket, size);
    }
    Ok(sizes)
}

/// A state as its update left it, and whether the update changed it.
struct Updated {
    state: State,
    changed: bool,
}

/// Folds each report, with its tallies' sizes, into its session's state.
async fn update_states(
    sink: &Sink,
    reports: &[SessionReport<'_>],
    sizes: &[BTreeMap<i64, u64>],
    deadline: Instant,
    counts: &mut Counts,
) -> Result<Vec<Updated>, SinkError> {
    let index = sink.indices.session_state();
    let mut body = BulkBody::default();
    for (position, report) in reports.iter().enumerate() {
        let start = body.bytes.len();
        write_state_item(&mut body.bytes, &index, report, &sizes[position]);
        body.items.push((start..body.bytes.len(), position));
    }
    let mut states: Vec<Option<Updated>> = (0..reports.len()).map(|_| None).collect();
    for (position, outcome, item) in sink
        .bulk_or_crash(Step::InStates, "/_bulk", body, deadline, counts)
        .await?
    {
        let session = reports[position].session_id;
        let item = updated(outcome, item, "state", session)?;
        counts.documents_read += 1;
        let state = State::from_update(&item).map_err(|message| SinkError::Protocol {
            call: format!("POST /_bulk (state of `{session}`)"),
            message,
        })?;
        states[position] = Some(Updated {
            state,
            changed: item["result"] != "noop",
        });
    }
    states
        .into_iter()
        .enumerate()
        .map(|(position, state)| {
            state.ok_or_else(|| SinkError::Protocol {
                call: "POST /_bulk (states)".into(),
                message: format!("no answer for `{}`", reports[position].session_id),
            })
        })
        .collect()
}

/// An update's answer, or why it is an error: every script is a merge, so
/// a conflict left after the shard's own retries is contention that the
/// batch's retry will get past, and a refusal is a defect to see.
fn updated(outcome: Outcome, item: Value, what: &str, session: &str) -> Result<Value, SinkError> {
    match outcome {
        Outcome::Written => Ok(item),
        Outcome::Conflict => Err(SinkError::SummaryConflicts {
            count: 1,
            rounds: 1,
            example: session.to_string(),
        }),
        Outcome::Rejected { status, error } => Err(SinkError::Protocol {
            call: format!("POST /_bulk ({what} of `{session}`)"),
            message: format!("HTTP {status}: {error}"),
        }),
    }
}

/// Writes each state as its session's summary, unless a rendering of a
/// newer state is there. A 409 is that newer rendering, or the tombstone
/// of a summary deleted since (a realtime `_mget` tells which); over a
/// tombstone the same state is written again with the next version.
async fn publish(
    sink: &Sink,
    states: &[Updated],
    deadline: Instant,
    counts: &mut Counts,
) -> Result<(), SinkError> {
    let index = &sink.indices.session_summaries;
    let mut todo: Vec<(usize, u64)> = (0..states.len()).map(|p| (p, 0)).collect();
    let mut letters = Vec::new();
    let mut first = true;
    while !todo.is_empty() {
        let mut body = BulkBody::default();
        for (reference, &(position, attempt)) in todo.iter().enumerate() {
            let start = body.bytes.len();
            write_summary_item(&mut body.bytes, index, &states[position].state, attempt);
            body.items.push((start..body.bytes.len(), reference));
        }
        let step = if first {
            Step::InSummaries
        } else {
            // A test's crash stops the first publication, not a retry.
            Step::AfterSummaries
        };
        first = false;
        let answers = if step == Step::InSummaries {
            sink.bulk_or_crash(step, "/_bulk", body, deadline, counts)
                .await?
        } else {
            sink.bulk_items("/_bulk", body, deadline, counts).await?
        };
        let mut conflicts: Vec<(usize, u64)> = Vec::new();
        for (reference, outcome, item) in answers {
            let (position, attempt) = todo[reference];
            let Updated { state, changed } = &states[position];
            match outcome {
                Outcome::Written => {
                    // Past a tombstone: deleted, and written again whole.
                    let restored = attempt > 0 && item["result"] == "created";
                    counts.sessions_rebuilt += u64::from(restored);
                    if *changed || restored {
                        counts.sessions_written += 1;
                    } else {
                        counts.sessions_unchanged += 1;
                    }
                }
                Outcome::Conflict => conflicts.push((position, attempt)),
                Outcome::Rejected { status, error } => {
                    letters.push(summary_letter(index, state, status, &error));
                }
            }
        }
        todo = Vec::new();
        if conflicts.is_empty() {
            break;
        }
        let versions = public_versions(sink, states, &conflicts, deadline, counts).await?;
        for ((position, attempt), version) in conflicts.into_iter().zip(versions) {
            let Updated { state, changed } = &states[position];
            match version {
                // A rendering of this state or a newer one is there.
                Some(v) if v >= state.public_version(0) => {
                    if *changed {
                        counts.sessions_written += 1;
                    } else {
                        counts.sessions_unchanged += 1;
                    }
                }
                _ if attempt + 1 >= PUBLISH_TRIES => {
                    return Err(SinkError::SummaryConflicts {
                        count: 1,
                        rounds: PUBLISH_TRIES as u32,
                        example: state.summary.session_id.to_string(),
                    });
                }
                _ => todo.push((position, attempt + 1)),
            }
        }
    }
    sink.dead_letter(letters, deadline, counts).await
}

/// The `_version` of each conflicting summary, `None` where there is none
/// (a tombstone, or deleted again since).
async fn public_versions(
    sink: &Sink,
    states: &[Updated],
    conflicts: &[(usize, u64)],
    deadline: Instant,
    counts: &mut Counts,
) -> Result<Vec<Option<u64>>, SinkError> {
    let ids: Vec<String> = conflicts
        .iter()
        .map(|&(position, _)| document_id(&states[position].state.summary.session_id).into_owned())
        .collect();
    let path = format!("/{}/_mget?_source=false", sink.indices.session_summaries);
    let answer = sink
        .call_json(Method::POST, &path, Some(&json!({ "ids": ids })), deadline, counts)
        .await?;
    let docs = answer["docs"]
        .as_array()
        .filter(|docs| docs.len() == ids.len())
        .ok_or_else(|| SinkError::Protocol {
            call: format!("POST {path}"),
            message: format!("not one doc per id in the answer: {answer}"),
        })?;
    counts.documents_read += docs.len() as u64;
    Ok(docs
        .iter()
        .map(|doc| {
            (doc["found"] == true)
                .then(|| doc["_version"].as_u64())
                .flatten()
        })
        .collect())
}

/// A summary OpenSearch refuses for good: kept with the state it renders,
/// under the session's state id, so that a redelivery overwrites it.
fn summary_letter(index: &str, state: &State, status: u16, error: &Value) -> DeadLetter {
    let mut raw = Vec::new();
    state.summary.write_document(&mut raw, state.last_updated_ms);
    DeadLetter {
        id: state_id(&state.summary.session_id),
        reason: "summary_rejected".into(),
        error: format!("HTTP {status}: {error}"),
        raw: String::from_utf8_lossy(&raw).into_owned(),
        log_group: None,
        log_stream: None,
        log_event_id: None,
        log_event_timestamp: None,
        target_index: Some(index.to_string()),
    }
}
