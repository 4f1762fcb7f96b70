//! One batch's writes: its events, each session's state (the events put
//! inline into their recent buckets) in the same requests; then each
//! state published as its session's summary. Events of buckets an hour
//! behind their session's latest, and events OpenSearch refused, take
//! follow-up rounds through the tallies first. Why this is exact is argued
//! in ARCHITECTURE.md ("A session summary counts each stored event once");
//! what is sent is built by `session_state`.
//!
//! Per invocation, on the usual path: the `_bulk` of events and states,
//! and one `_bulk` of summaries. A bucket that freezes, a late event or a
//! refused one adds one or two rounds (tallies, then their reports to the
//! states). Nothing is read but what those updates answer, nothing waits
//! for a refresh, and every update is a merge that OpenSearch applies in
//! the shard, so invocations sharing a session do not conflict.

use super::rebuild::rebuild_fields;
use super::{BULK, BulkItem, DeadLetter, Outcome, Sink, SinkError, Step};
use crate::batch::EventView;
use crate::batch::ProcessedBatch;
use crate::counts::Counts;
use crate::output::BulkBody;
use crate::output::document_id;
use crate::output::{
    Phase, StateView, TallyChange, TallyReport, UpdateAnswer, packed_key, state_id, tally_bucket,
    write_state_add_item, write_state_change_item, write_summary_item, write_tally_item,
};
use serde_json::Value;
use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::time::Instant;

/// Tries to publish a summary over deletions' tombstones before giving up
/// (one is enough for a summary deleted once since it was last written).
const PUBLISH_TRIES: u64 = 16;

/// Follow-up rounds before the invocation gives up: a refused event moves
/// to its tally at most once, and a tally's report ends the work, so
/// three rounds are always enough.
const MAX_ROUNDS: usize = 6;

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

    // Every event goes to its session's state with the events themselves:
    // a redelivered event (409) too, since it may be the one an earlier
    // attempt stored and died before counting.
    let state_index = sink.indices.session_state();
    let first_state = batch.events.len();
    let mut body = BulkBody::default();
    for (position, session) in sessions.iter().enumerate() {
        let mut buckets: BTreeMap<i64, Vec<EventView<'_, 'b>>> = BTreeMap::new();
        for &p in &by_session[session] {
            buckets
                .entry(tally_bucket(views[p].timestamp_ms))
                .or_default()
                .push(views[p].clone());
        }
        let start = body.bytes.len();
        write_state_add_item(&mut body.bytes, &state_index, session, &buckets);
        body.items
            .push((start..body.bytes.len(), first_state + position));
    }
    let written = sink.write_events(batch, body, deadline, counts).await?;
    let mut states: Vec<Option<Answered>> = vec![None; sessions.len()];
    for (reference, outcome, item) in written.extra {
        let position = reference - first_state;
        states[position] = Some(answered_state(outcome, item, sessions[position], counts)?);
    }
    let mut states: Vec<Answered> = states
        .into_iter()
        .zip(&sessions)
        .map(|(state, session)| {
            state.ok_or_else(|| SinkError::Protocol {
                call: "POST /_bulk (events and states)".into(),
                message: format!("no answer for the state of session `{session}`"),
            })
        })
        .collect::<Result<_, _>>()?;
    sink.crash_point(Step::AfterEvents)?;

    let refused: HashSet<usize> = written.refused.iter().copied().collect();
    let mut work = FollowUp::default();
    for (position, session) in sessions.iter().enumerate() {
        let view = &states[position].view;
        for &p in &by_session[session] {
            let bucket = tally_bucket(views[p].timestamp_ms);
            let id = &views[p].id;
            match (view.phase(bucket), refused.contains(&p)) {
                (Phase::Open, false) => {}
                (Phase::Open, true) => work.remove_inline(position, bucket, id.clone()),
                (phase, true) => {
                    work.tally(position, bucket, view, phase)
                        .remove
                        .push(id.clone());
                }
                (Phase::Sealing, false)
                    if view.frozen_keys(bucket).contains(packed_key(id).as_ref()) => {}
                (phase, false) => {
                    counts.late_events += 1;
                    work.tally(position, bucket, view, phase)
                        .add
                        .push(views[p].clone());
                }
            }
        }
        // Finish sealing what the state froze, whoever froze it.
        for &bucket in view.sealing.keys() {
            work.tally(position, bucket, view, Phase::Sealing);
        }
    }
    follow_up(sink, &sessions, &mut states, work, deadline, counts).await?;
    // The fields of a refused event were merged with its batch's: set them
    // again from what is stored, now that its key is out of the count.
    let refused_sessions: BTreeSet<usize> = refused
        .iter()
        .filter_map(|&p| {
            sessions
                .binary_search(&batch.events[p].event.session_id.as_ref())
                .ok()
        })
        .collect();
    for position in refused_sessions {
        if let Some(view) = rebuild_fields(sink, sessions[position], deadline, counts).await? {
            states[position] = Answered {
                view,
                changed: true,
            };
        }
    }
    sink.crash_point(Step::AfterTallies)?;
    publish(sink, &sessions, &mut states, deadline, counts).await?;
    sink.crash_point(Step::AfterSummaries)
}

/// A state as its latest update in this invocation answered, and whether
/// any of them changed it.
#[derive(Debug, Clone)]
struct Answered {
    view: StateView,
    changed: bool,
}

fn answered_state(
    outcome: Outcome,
    item: BulkItem,
    session: &str,
    counts: &mut Counts,
) -> Result<Answered, SinkError> {
    let item = updated(outcome, item, "state", session)?;
    counts.documents_read += 1;
    let view = StateView::from_update(&item).map_err(|message| SinkError::Protocol {
        call: format!("POST /_bulk (state of `{session}`)"),
        message,
    })?;
    Ok(Answered {
        view,
        changed: item.result.as_deref() != Some("noop"),
    })
}

/// What is left to do after the events' request: changes of sealed
/// buckets' tallies, refused events to take out of open buckets, and
/// tallies' answers to report to their states (by session position).
#[derive(Debug, Default)]
struct FollowUp<'e, 'b> {
    tallies: BTreeMap<(usize, i64), TallyChange<'e, 'b>>,
    removals: BTreeMap<usize, BTreeMap<i64, Vec<Cow<'b, str>>>>,
    reports: BTreeMap<usize, BTreeMap<i64, TallyReport>>,
}

impl<'e, 'b> FollowUp<'e, 'b> {
    fn is_empty(&self) -> bool {
        self.tallies.is_empty() && self.removals.is_empty() && self.reports.is_empty()
    }

    fn remove_inline(&mut self, position: usize, bucket: i64, id: Cow<'b, str>) {
        self.removals
            .entry(position)
            .or_default()
            .entry(bucket)
            .or_default()
            .push(id);
    }

    /// The change of a bucket's tally; one the state has frozen carries
    /// the frozen entries, which the tally takes in on its first change.
    fn tally(
        &mut self,
        position: usize,
        bucket: i64,
        view: &StateView,
        phase: Phase,
    ) -> &mut TallyChange<'e, 'b> {
        let change = self.tallies.entry((position, bucket)).or_default();
        if phase == Phase::Sealing && change.snapshot.is_none() {
            change.snapshot = view.sealing.get(&bucket).cloned();
        }
        change
    }
}

/// Runs the follow-up rounds: each sends the tallies' changes and the
/// states' changes (removals, reports) in one `_bulk`; a tally's answer
/// becomes a report for the next round, and a removal that finds its
/// bucket frozen since goes to the tally.
async fn follow_up(
    sink: &Sink,
    sessions: &[&str],
    states: &mut [Answered],
    mut work: FollowUp<'_, '_>,
    deadline: Instant,
    counts: &mut Counts,
) -> Result<(), SinkError> {
    let index = sink.indices.session_state();
    let mut round = 0;
    while !work.is_empty() {
        round += 1;
        if round > MAX_ROUNDS {
            return Err(SinkError::Protocol {
                call: "POST /_bulk (tallies and states)".into(),
                message: format!("still work to do after {MAX_ROUNDS} rounds"),
            });
        }
        let mut body = BulkBody::default();
        let mut refs: Vec<Target> = Vec::new();
        for (&(position, bucket), change) in &work.tallies {
            let start = body.bytes.len();
            write_tally_item(&mut body.bytes, &index, sessions[position], bucket, change);
            body.items.push((start..body.bytes.len(), refs.len()));
            refs.push(Target::Tally(position, bucket));
        }
        counts.tally_changes += work.tallies.len() as u64;
        let empty_removals = BTreeMap::new();
        let empty_reports = BTreeMap::new();
        let changed: BTreeSet<usize> = work
            .removals
            .keys()
            .chain(work.reports.keys())
            .copied()
            .collect();
        for &position in &changed {
            let start = body.bytes.len();
            write_state_change_item(
                &mut body.bytes,
                &index,
                sessions[position],
                work.removals.get(&position).unwrap_or(&empty_removals),
                work.reports.get(&position).unwrap_or(&empty_reports),
            );
            body.items.push((start..body.bytes.len(), refs.len()));
            refs.push(Target::State(position));
        }
        let step = if round == 1 {
            Step::InTallies
        } else {
            Step::InStates
        };
        let answers = sink
            .bulk_or_crash(step, BULK, body, deadline, counts)
            .await?;
        if answers.len() != refs.len() {
            return Err(SinkError::Protocol {
                call: "POST /_bulk (tallies and states)".into(),
                message: format!("{} answers for {} items", answers.len(), refs.len()),
            });
        }
        let removals = std::mem::take(&mut work.removals);
        work.tallies.clear();
        work.reports.clear();
        let mut answered_states = Vec::new();
        for (reference, outcome, item) in answers {
            match refs[reference] {
                Target::Tally(position, bucket) => {
                    let session = sessions[position];
                    let item = updated(outcome, item, "tally", session)?;
                    counts.documents_read += 1;
                    let report = item.tally_report().ok_or_else(|| SinkError::Protocol {
                        call: "POST /_bulk (tallies)".into(),
                        message: format!(
                            "no version or size in the answer for session `{session}`: {item:?}"
                        ),
                    })?;
                    work.reports
                        .entry(position)
                        .or_default()
                        .insert(bucket, report);
                }
                Target::State(position) => {
                    let answered = answered_state(outcome, item, sessions[position], counts)?;
                    answered_states.push((position, answered));
                }
            }
        }
        for (position, answered) in answered_states {
            let changed = states[position].changed || answered.changed;
            states[position] = Answered {
                changed,
                ..answered
            };
        }
        // A removal whose bucket froze since it was sent was not applied
        // inline: the bucket's tally takes it.
        for (position, buckets) in removals {
            let view = &states[position].view;
            for (bucket, ids) in buckets {
                let phase = view.phase(bucket);
                if phase != Phase::Open {
                    let mut change = TallyChange {
                        remove: ids,
                        ..TallyChange::default()
                    };
                    if phase == Phase::Sealing {
                        change.snapshot = view.sealing.get(&bucket).cloned();
                    }
                    work.tallies.insert((position, bucket), change);
                }
            }
        }
    }
    Ok(())
}

#[derive(Debug, Clone, Copy)]
enum Target {
    Tally(usize, i64),
    State(usize),
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

/// Writes each state as its session's summary (or, for a state that
/// counts nothing, the summary's deletion), unless a rendering of a newer
/// state is there. A 409 is that newer rendering, or the tombstone of a
/// summary deleted since (a realtime `_mget` tells which); over a
/// tombstone the same state is written again with the next version.
async fn publish(
    sink: &Sink,
    sessions: &[&str],
    states: &mut [Answered],
    deadline: Instant,
    counts: &mut Counts,
) -> Result<(), SinkError> {
    let index = &sink.indices.session_summaries;
    let mut todo: Vec<(usize, u64)> = (0..states.len()).map(|p| (p, 0)).collect();
    let mut letters = Vec::new();
    let mut rebuilt: HashSet<usize> = HashSet::new();
    let mut first = true;
    while !todo.is_empty() {
        let mut body = BulkBody::default();
        for (reference, &(position, attempt)) in todo.iter().enumerate() {
            let start = body.bytes.len();
            write_summary_item(
                &mut body.bytes,
                index,
                &states[position].view,
                sessions[position],
                attempt,
            );
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
        let mut refused: Vec<(usize, u64)> = Vec::new();
        for (reference, outcome, item) in answers {
            let (position, attempt) = todo[reference];
            let Answered { view, changed } = &states[position];
            match (outcome, &view.state) {
                (Outcome::Written, Some(_)) => {
                    // Past a tombstone: deleted, and written again whole.
                    let restored = attempt > 0 && item.result.as_deref() == Some("created");
                    counts.sessions_rebuilt += u64::from(restored);
                    count_published(counts, *changed || restored);
                }
                // Nothing counted: no summary, whether one was there or not.
                (Outcome::Written | Outcome::Rejected { status: 404, .. }, None) => {}
                (Outcome::Conflict, Some(_)) => conflicts.push((position, attempt)),
                // A newer state's rendering, or a deletion's tombstone.
                (Outcome::Conflict, None) => {}
                // The rendering may carry the fields of an event refused
                // meanwhile, merged before its refusal was known: rebuilt
                // from the stored events first, and sent once more.
                (Outcome::Rejected { .. }, _) if !rebuilt.contains(&position) => {
                    refused.push((position, attempt));
                }
                (Outcome::Rejected { status, error }, _) => {
                    letters.push(summary_letter(
                        index,
                        sessions[position],
                        view,
                        status,
                        &error,
                    ));
                }
            }
        }
        todo = Vec::new();
        for (position, attempt) in refused {
            rebuilt.insert(position);
            if let Some(view) = rebuild_fields(sink, sessions[position], deadline, counts).await? {
                states[position].view = view;
            }
            todo.push((position, attempt));
        }
        if conflicts.is_empty() {
            continue;
        }
        let versions = public_versions(sink, sessions, &conflicts, deadline, counts).await?;
        for ((position, attempt), version) in conflicts.into_iter().zip(versions) {
            let Answered { view, changed } = &states[position];
            match version {
                // A rendering of this state or a newer one is there.
                Some(v) if v >= view.public_version(0) => count_published(counts, *changed),
                _ if attempt + 1 >= PUBLISH_TRIES => {
                    return Err(SinkError::SummaryConflicts {
                        count: 1,
                        rounds: PUBLISH_TRIES as u32,
                        example: sessions[position].to_string(),
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
    sessions: &[&str],
    conflicts: &[(usize, u64)],
    deadline: Instant,
    counts: &mut Counts,
) -> Result<Vec<Option<u64>>, SinkError> {
    let ids: Vec<String> = conflicts
        .iter()
        .map(|&(position, _)| document_id(sessions[position]).into_owned())
        .collect();
    let docs = sink
        .mget(
            &sink.indices.session_summaries,
            &ids,
            false,
            deadline,
            counts,
        )
        .await?;
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
fn summary_letter(
    index: &str,
    session: &str,
    view: &StateView,
    status: u16,
    error: &Value,
) -> DeadLetter {
    let mut raw = Vec::new();
    if let Some(state) = &view.state {
        state
            .summary
            .write_document(&mut raw, state.last_updated_ms);
    }
    DeadLetter {
        id: state_id(session),
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
