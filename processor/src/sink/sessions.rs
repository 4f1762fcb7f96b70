//! One batch's writes: its events, each with its id added to its
//! session's tally in the same requests; then the tallies' counts and the
//! events' fields folded into each session's state; then each state
//! published as its session's summary. Why this is exact is argued in
//! ARCHITECTURE.md ("A session summary counts each stored event once");
//! what is sent is built by `session_state`.
//!
//! Per invocation, on every path: the `_bulk` of events and tallies, one
//! `_bulk` of state updates, one of summaries; a fourth takes refused
//! events out of their tallies, when OpenSearch refuses any. Nothing is
//! read but what those updates answer, nothing waits for a refresh, and
//! every update is a merge that OpenSearch applies in the shard, so
//! invocations sharing a session do not conflict.

use super::{BULK, BulkItem, DeadLetter, Outcome, Sink, SinkError, Step};
use crate::batch::EventView;
use crate::batch::ProcessedBatch;
use crate::counts::Counts;
use crate::output::BulkBody;
use crate::output::document_id;
use crate::output::{
    SessionReport, State, TallyCount, UpdateAnswer, state_id, tally_bucket, tally_id,
    write_state_item, write_summary_item, write_tally_add_item, write_tally_remove_item,
};
use http::Method;
use serde_json::{Value, json};
use std::borrow::Cow;
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
    let views: Vec<EventView<'_, 'b>> = batch
        .events
        .iter()
        .map(|kept| EventView {
            id: document_id(kept.id),
            ..kept.view()
        })
        .collect();
    let mut by_session: BTreeMap<&'b str, Vec<usize>> = BTreeMap::new();
    for (position, kept) in batch.events.iter().enumerate() {
        by_session
            .entry(kept.event.session_id.as_ref())
            .or_default()
            .push(position);
    }
    counts.sessions_touched += by_session.len() as u64;
    let sessions: Vec<&'b str> = by_session.keys().copied().collect();
    let report_of = |session: &'b str, wanted: &dyn Fn(usize) -> bool| {
        let events: Vec<EventView<'_, 'b>> = by_session[session]
            .iter()
            .filter(|&&p| wanted(p))
            .map(|&p| views[p].clone())
            .collect();
        SessionReport::of(session, &events)
    };
    let mut reports: Vec<Option<SessionReport<'b>>> =
        sessions.iter().map(|s| report_of(s, &|_| true)).collect();

    // Every event's id goes to its tally with the events themselves: a
    // redelivered event (409) too, since it may be the one an earlier
    // attempt stored and died before counting.
    let state_index = sink.indices.session_state();
    let first_tally = batch.events.len();
    let mut tally_body = BulkBody::default();
    let mut tally_refs: Vec<(usize, i64)> = Vec::new();
    for (position, report) in reports.iter().enumerate() {
        let Some(report) = report else { continue };
        for (&bucket, ids) in &report.tallies {
            let start = tally_body.bytes.len();
            write_tally_add_item(
                &mut tally_body.bytes,
                &state_index,
                &tally_id(report.session_id, bucket),
                ids,
            );
            tally_body.items.push((
                start..tally_body.bytes.len(),
                first_tally + tally_refs.len(),
            ));
            tally_refs.push((position, bucket));
        }
    }
    let written = sink
        .write_events(batch, tally_body, deadline, counts)
        .await?;
    let mut tallies: Vec<BTreeMap<i64, TallyCount>> = vec![BTreeMap::new(); sessions.len()];
    for (reference, outcome, item) in written.extra {
        let (position, bucket) = tally_refs[reference - first_tally];
        let item = updated(outcome, item, "tally", sessions[position])?;
        counts.documents_read += 1;
        tallies[position].insert(bucket, answered_count(&item, sessions[position])?);
    }
    sink.crash_point(Step::AfterEvents)?;

    if !written.refused.is_empty() {
        let refused: HashSet<usize> = written.refused.iter().copied().collect();
        uncount_refused(
            sink,
            batch,
            &views,
            &sessions,
            &refused,
            &mut tallies,
            deadline,
            counts,
        )
        .await?;
        for (position, session) in sessions.iter().enumerate() {
            if by_session[session].iter().any(|p| refused.contains(p)) {
                reports[position] = report_of(session, &|p| !refused.contains(&p));
            }
        }
    }

    let states = update_states(sink, &sessions, &reports, &tallies, deadline, counts).await?;
    sink.crash_point(Step::AfterStates)?;
    publish(sink, &states, deadline, counts).await?;
    sink.crash_point(Step::AfterSummaries)
}

/// A tally's count from its update's answer.
fn answered_count(item: &UpdateAnswer, session: &str) -> Result<TallyCount, SinkError> {
    item.tally_count().ok_or_else(|| SinkError::Protocol {
        call: "POST /_bulk (tallies)".into(),
        message: format!("no version or size in the answer for session `{session}`: {item:?}"),
    })
}

/// Takes the events OpenSearch refused out of the tallies they were added
/// to, and keeps the tallies' newer counts.
#[allow(clippy::too_many_arguments)]
async fn uncount_refused(
    sink: &Sink,
    batch: &ProcessedBatch<'_>,
    views: &[EventView<'_, '_>],
    sessions: &[&str],
    refused: &HashSet<usize>,
    tallies: &mut [BTreeMap<i64, TallyCount>],
    deadline: Instant,
    counts: &mut Counts,
) -> Result<(), SinkError> {
    let mut ids: BTreeMap<(usize, i64), Vec<Cow<str>>> = BTreeMap::new();
    for &p in refused {
        let kept = &batch.events[p];
        let Ok(position) = sessions.binary_search(&kept.event.session_id.as_ref()) else {
            continue;
        };
        ids.entry((position, tally_bucket(kept.event.timestamp_ms)))
            .or_default()
            .push(views[p].id.clone());
    }
    let index = sink.indices.session_state();
    let mut body = BulkBody::default();
    let refs: Vec<(usize, i64)> = ids.keys().copied().collect();
    for (reference, ((position, bucket), ids)) in ids.iter().enumerate() {
        let start = body.bytes.len();
        write_tally_remove_item(
            &mut body.bytes,
            &index,
            &tally_id(sessions[*position], *bucket),
            ids,
        );
        body.items.push((start..body.bytes.len(), reference));
    }
    for (reference, outcome, item) in sink.bulk_items(BULK, body, deadline, counts).await? {
        let (position, bucket) = refs[reference];
        let session = sessions[position];
        // Deleted since (by hand): nothing of it to count.
        if let Outcome::Rejected { status: 404, .. } = outcome {
            tallies[position].remove(&bucket);
            continue;
        }
        let item = updated(outcome, item, "tally", session)?;
        tallies[position].insert(bucket, answered_count(&item, session)?);
    }
    Ok(())
}

/// A state as its update left it, and whether the update changed it.
struct Updated {
    state: State,
    changed: bool,
}

/// Folds each session's tallies' counts and events into its state; the
/// states that exist after it, in no particular order.
async fn update_states(
    sink: &Sink,
    sessions: &[&str],
    reports: &[Option<SessionReport<'_>>],
    tallies: &[BTreeMap<i64, TallyCount>],
    deadline: Instant,
    counts: &mut Counts,
) -> Result<Vec<Updated>, SinkError> {
    let index = sink.indices.session_state();
    let mut body = BulkBody::default();
    for (position, session) in sessions.iter().enumerate() {
        let start = body.bytes.len();
        write_state_item(
            &mut body.bytes,
            &index,
            session,
            reports[position].as_ref(),
            &tallies[position],
        );
        body.items.push((start..body.bytes.len(), position));
    }
    let mut states = Vec::with_capacity(sessions.len());
    let mut answered = 0;
    for (position, outcome, item) in sink
        .bulk_or_crash(Step::InStates, BULK, body, deadline, counts)
        .await?
    {
        answered += 1;
        let session = sessions[position];
        let item = updated(outcome, item, "state", session)?;
        counts.documents_read += 1;
        let state = State::from_update(&item).map_err(|message| SinkError::Protocol {
            call: format!("POST /_bulk (state of `{session}`)"),
            message,
        })?;
        if let Some(state) = state {
            states.push(Updated {
                state,
                changed: item.result.as_deref() != Some("noop"),
            });
        }
    }
    if answered != sessions.len() {
        return Err(SinkError::Protocol {
            call: "POST /_bulk (states)".into(),
            message: format!("{answered} answers for {} sessions", sessions.len()),
        });
    }
    Ok(states)
}

/// An update's answer, or why it is an error: every script is a merge, so
/// a conflict left after the shard's own retries is contention that the
/// batch's retry will get past, and a refusal is a defect to see.
fn updated(
    outcome: Outcome,
    item: BulkItem,
    what: &str,
    session: &str,
) -> Result<UpdateAnswer, SinkError> {
    match outcome {
        Outcome::Written => Ok(item.answer()),
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
        // A test's crash stops the first publication, not a retry.
        let answers = if std::mem::take(&mut first) {
            sink.bulk_or_crash(Step::InSummaries, BULK, body, deadline, counts)
                .await?
        } else {
            sink.bulk_items(BULK, body, deadline, counts).await?
        };
        let mut conflicts: Vec<(usize, u64)> = Vec::new();
        for (reference, outcome, item) in answers {
            let (position, attempt) = todo[reference];
            let Updated { state, changed } = &states[position];
            match outcome {
                Outcome::Written => {
                    // Past a tombstone: deleted, and written again whole.
                    let restored = attempt > 0 && item.result.as_deref() == Some("created");
                    counts.sessions_rebuilt += u64::from(restored);
                    count_published(counts, *changed || restored);
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
                Some(v) if v >= state.public_version(0) => count_published(counts, *changed),
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

/// A session whose summary is published: written with something new, or
/// unchanged.
fn count_published(counts: &mut Counts, written: bool) {
    if written {
        counts.sessions_written += 1;
    } else {
        counts.sessions_unchanged += 1;
    }
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
        .call_json(
            Method::POST,
            &path,
            Some(&json!({ "ids": ids })),
            deadline,
            counts,
        )
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
    state
        .summary
        .write_document(&mut raw, state.last_updated_ms);
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
