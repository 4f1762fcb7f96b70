//! The summaries' side of one batch: read, decide (`summary_merge`), write
//! the summaries conditionally, then create the events.
//! Why this is exact is argued in ARCHITECTURE.md ("A session summary
//! counts each stored event once").
//!
//! Per invocation, on the normal path: one `_mget` of the touched
//! summaries, one `_mget` of the batch's event ids (and the pending ones),
//! one `_search` (size 0) for sessions with no summary yet, one `_bulk` of
//! summaries and the events' `_bulk`. No refresh, no scroll: a rebuild (a summary deleted by hand,
//! unreadable, or counting an event OpenSearch then refused) is the only
//! path that refreshes and reads a session's whole history.

use super::{Outcome, Sink, SinkError, Step, backfill_index_name, now_ms};
use crate::batch::ProcessedBatch;
use crate::bulk::{BulkBody, DailyIndex, write_str};
use crate::counts::Counts;
use crate::docid::document_id;
use crate::opensearch::OpenSearchError;
use crate::session::EventView;
use crate::summary_merge::{
    Base, Condition, PENDING_FIELD, PendingEvent, Plan, RepairReason, Write, plan, rebuild,
    write_document,
};
use crate::timefmt;
use http::Method;
use serde_json::{Value, json};
use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Instant;

/// Rounds of read-decide-write before an invocation gives up on sessions
/// other invocations keep writing (Lambda then retries the batch).
const ROUNDS: u32 = 40;
const SCROLL_PAGE: usize = 5000;

/// Before reading a summary again after a conflict: a few milliseconds,
/// with jitter, so that invocations writing the same session fall out of
/// step. A conflict is not an overload: the other writer is done already.
async fn conflict_pause(round: u32) {
    use rand::Rng;
    let cap = 2u64 << round.min(4);
    let ms = rand::rng().random_range(0..=cap);
    tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
}

pub(super) async fn write_batch<'b>(
    sink: &Sink,
    batch: &'b ProcessedBatch<'b>,
    deadline: Instant,
    counts: &mut Counts,
) -> Result<(), SinkError> {
    if batch.events.is_empty() {
        return Ok(());
    }
    let mut by_session: BTreeMap<&'b str, Vec<usize>> = BTreeMap::new();
    for (position, kept) in batch.events.iter().enumerate() {
        by_session
            .entry(kept.event.session_id.as_ref())
            .or_default()
            .push(position);
    }
    counts.sessions_touched += by_session.len() as u64;
    // Events are known by their document ids from here on: what a stored
    // event's `_id` is, and what a rebuild reads back.
    let views: Vec<EventView<'_, 'b>> = batch
        .events
        .iter()
        .map(|kept| EventView {
            id: document_id(kept.id),
            ..kept.view()
        })
        .collect();

    let counted = count_in_summaries(sink, &by_session, &views, deadline, counts).await?;
    sink.crash_point(Step::AfterSummaries)?;

    // Events of a session whose summary OpenSearch refused are not
    // created: a stored event is taken as counted.
    let mut refused_session_letters = Vec::new();
    for (session, (status, error)) in &counted.refused {
        for &position in &by_session[session] {
            let index = DailyIndex::new(&sink.indices.request_events_prefix)
                .name_for(batch.events[position].event.timestamp_ms)
                .to_string();
            let mut letter = super::event_letter(batch, position, *status, error, index);
            letter.reason = "summary_rejected".into();
            refused_session_letters.push(letter);
        }
    }
    sink.dead_letter(refused_session_letters, deadline, counts)
        .await?;

    let known_stored = &counted.known_stored;
    let skip = |position: usize| {
        counted
            .refused
            .contains_key(batch.events[position].event.session_id.as_ref())
            || known_stored.contains(views[position].id.as_ref())
    };
    counts.events_existing += (0..batch.events.len())
        .filter(|&p| {
            known_stored.contains(views[p].id.as_ref())
                && !counted
                    .refused
                    .contains_key(batch.events[p].event.session_id.as_ref())
        })
        .count() as u64;
    let refused = sink
        .write_events(batch, |p| !skip(p), deadline, counts)
        .await?;
    sink.crash_point(Step::AfterEvents)?;

    let refused_ids: HashSet<String> = refused.iter().map(|&p| views[p].id.to_string()).collect();
    let to_rebuild: Vec<&str> = {
        let mut sessions: Vec<&str> = refused
            .iter()
            .map(|&p| batch.events[p].event.session_id.as_ref())
            .collect();
        sessions.sort_unstable();
        sessions.dedup();
        sessions
    };
    if !to_rebuild.is_empty() {
        rebuild_without(sink, &to_rebuild, &refused_ids, deadline, counts).await?;
    }

    Ok(())
}

/// What counting a batch into its summaries left.
struct Counted<'b> {
    /// Sessions whose summary OpenSearch refused for good.
    refused: HashMap<&'b str, (u16, Value)>,
    /// Document ids of events found stored.
    known_stored: HashSet<String>,
}

/// Every session's summary extended by the batch's events it does not
/// count yet, written conditionally on the version read; a conflict
/// (another invocation wrote in between) reads and decides again.
async fn count_in_summaries<'b>(
    sink: &Sink,
    by_session: &BTreeMap<&'b str, Vec<usize>>,
    views: &[EventView<'_, 'b>],
    deadline: Instant,
    counts: &mut Counts,
) -> Result<Counted<'b>, SinkError> {
    let stamp = now_ms();
    let mut counted = Counted {
        refused: HashMap::new(),
        known_stored: HashSet::new(),
    };
    let mut todo: Vec<&'b str> = by_session.keys().copied().collect();
    let mut repair: HashMap<&'b str, RepairReason> = HashMap::new();
    let mut history: HashMap<&'b str, bool> = HashMap::new();
    let mut suspected: HashSet<&'b str> = HashSet::new();
    for round in 1..=ROUNDS {
        let mut bases = read_bases(sink, &todo, deadline, counts).await?;
        // A summary believed deleted that is there now was written by
        // another invocation (a rebuild of its own): no rebuild here.
        repair.retain(|session, reason| {
            *reason != RepairReason::Deleted
                || bases
                    .get(session)
                    .is_none_or(|base| base.condition == Condition::Create)
        });
        let mut rebuilt_ids: HashMap<&str, HashSet<String>> = HashMap::new();
        let rebuilding: Vec<&str> = todo
            .iter()
            .copied()
            .filter(|s| repair.contains_key(s))
            .collect();
        if !rebuilding.is_empty() {
            let stored = stored_events_of(sink, &rebuilding, deadline, counts).await?;
            for session in rebuilding {
                let events = stored.get(session).map(Vec::as_slice).unwrap_or_default();
                let base = &bases[session];
                let rebuilt = rebuild(session, base, events, &HashSet::new());
                rebuilt_ids.insert(session, events.iter().map(|e| e.id.to_string()).collect());
                bases.insert(session, rebuilt);
            }
        }

        let mut lookup: Vec<(&str, i64)> = Vec::new();
        for session in &todo {
            lookup.extend(
                by_session[session]
                    .iter()
                    .map(|&p| (views[p].id.as_ref(), views[p].timestamp_ms)),
            );
            lookup.extend(
                bases[session]
                    .pending
                    .iter()
                    .map(|e| (e.id.as_ref(), e.timestamp_ms)),
            );
        }
        // A second request, not part of the first: the argument needs the
        // events read *after* the summaries (one `_mget` reads its shards
        // in parallel, in no order).
        let found = stored_event_ids(sink, &lookup, deadline, counts).await?;
        counted.known_stored.extend(found.iter().cloned());
        let is_stored = |session: &str, id: &str| {
            found.contains(id) || rebuilt_ids.get(session).is_some_and(|ids| ids.contains(id))
        };

        let unknown: Vec<&'b str> = todo
            .iter()
            .copied()
            .filter(|s| {
                let base = &bases[s];
                base.summary.is_none()
                    && base.condition == Condition::Create
                    && !repair.contains_key(s)
                    && !history.contains_key(s)
                    && !by_session[s].iter().any(|&p| is_stored(s, &views[p].id))
            })
            .collect();
        if !unknown.is_empty() {
            let with_history = sessions_with_history(sink, &unknown, deadline, counts).await?;
            for session in unknown {
                history.insert(session, with_history.contains(session));
            }
        }
        sink.crash_point(Step::AfterReads)?;

        let mut body = BulkBody::default();
        let mut sent: Vec<&'b str> = Vec::new();
        let mut next: Vec<&'b str> = Vec::new();
        for &session in &todo {
            let base = &bases[session];
            let events: Vec<EventView<'_, 'b>> = by_session[session]
                .iter()
                .map(|&p| views[p].clone())
                .collect();
            let rebuilt = repair.contains_key(session);
            let decided = plan(
                &Cow::Borrowed(session),
                base,
                &events,
                |id| is_stored(session, id),
                !rebuilt && history.get(session) == Some(&true),
            );
            let write = match decided {
                Plan::Keep if rebuilt => rebuilt_write(base),
                Plan::Keep => {
                    counts.sessions_unchanged += 1;
                    continue;
                }
                // A summary read as missing may have been created since,
                // with its events: believe a deletion only when read twice.
                Plan::Repair(RepairReason::Deleted) if suspected.insert(session) => {
                    next.push(session);
                    continue;
                }
                Plan::Repair(reason) => {
                    repair.insert(session, reason);
                    next.push(session);
                    continue;
                }
                Plan::Write(write) => Some(*write),
            };
            let Some(write) = write else {
                // A rebuild that found nothing to count.
                repair.remove(session);
                continue;
            };
            let start = body.bytes.len();
            summary_item(
                &mut body.bytes,
                &sink.indices.session_summaries,
                session,
                &write,
                write.condition,
                stamp,
            );
            body.items.push((start..body.bytes.len(), sent.len()));
            sent.push(session);
        }
        if !body.is_empty() {
            let outcomes = sink
                .bulk_or_crash(Step::InSummaries, "/_bulk", body, deadline, counts)
                .await?;
            for (position, outcome) in outcomes {
                let session = sent[position];
                match outcome {
                    Outcome::Written => {
                        counts.sessions_written += 1;
                        if repair.remove(session).is_some() {
                            counts.sessions_rebuilt += 1;
                        }
                    }
                    // Written by another invocation since it was read
                    // (perhaps rebuilt): read and decide afresh.
                    Outcome::Conflict => {
                        repair.remove(session);
                        suspected.remove(session);
                        next.push(session);
                    }
                    Outcome::Rejected { status, error } => {
                        counted.refused.insert(session, (status, error));
                    }
                }
            }
        }
        if next.is_empty() {
            return Ok(counted);
        }
        if round == ROUNDS {
            return Err(SinkError::SummaryConflicts {
                count: next.len(),
                rounds: ROUNDS,
                example: next[0].to_string(),
            });
        }
        todo = next;
        // Repairs go on at once; conflicts wait a little, with jitter, so
        // that the invocations writing the same sessions fall out of step.
        if todo
            .iter()
            .any(|s| !repair.contains_key(s) && !suspected.contains(s))
        {
            conflict_pause(round).await;
        }
    }
    unreachable!("the last round returns")
}

/// A rebuilt base that the plan keeps as it is is still written: what is
/// stored is not it (deleted, unreadable or counting a refused event).
fn rebuilt_write<'b>(base: &Base) -> Option<Write<'b>> {
    let summary = base.summary.clone()?;
    Some(Write {
        summary,
        pending: base.pending.clone(),
        condition: base.condition,
        newly_counted: 0,
    })
}

/// One summary's bulk action line and document.
fn summary_item(
    out: &mut Vec<u8>,
    index: &str,
    session: &str,
    write: &Write<'_>,
    condition: Condition,
    stamp: i64,
) {
    out.extend_from_slice(match condition {
        Condition::Create => b"{\"create\":{\"_index\":",
        Condition::IfUnchanged { .. } => b"{\"index\":{\"_index\":",
    });
    write_str(out, index);
    out.extend_from_slice(b",\"_id\":");
    write_str(out, &document_id(session));
    if let Condition::IfUnchanged {
        seq_no,
        primary_term,
    } = condition
    {
        out.extend_from_slice(
            format!(",\"if_seq_no\":{seq_no},\"if_primary_term\":{primary_term}").as_bytes(),
        );
    }
    out.extend_from_slice(b"}}\n");
    write_document(out, &write.summary, &write.pending, stamp);
    out.push(b'\n');
}

/// The stored summaries of these sessions (nothing stored: no entry is
/// missing, each gets [`Base::nothing_stored`]).
async fn read_bases<'s>(
    sink: &Sink,
    sessions: &[&'s str],
    deadline: Instant,
    counts: &mut Counts,
) -> Result<HashMap<&'s str, Base>, SinkError> {
    let mut bases: HashMap<&'s str, Base> = sessions
        .iter()
        .map(|&s| (s, Base::nothing_stored()))
        .collect();
    if sessions.is_empty() {
        return Ok(bases);
    }
    let by_id: HashMap<Cow<str>, &'s str> = sessions.iter().map(|&s| (document_id(s), s)).collect();
    let path = format!(
        "/{}/_mget?_source=true&stored_fields={PENDING_FIELD}",
        sink.indices.session_summaries
    );
    let ids: Vec<&Cow<str>> = by_id.keys().collect();
    let response = match sink
        .call_json(
            Method::POST,
            &path,
            Some(&json!({ "ids": ids })),
            deadline,
            counts,
        )
        .await
    {
        Ok(response) => response,
        // No summary written yet in this environment.
        Err(SinkError::OpenSearch(OpenSearchError::Status { status: 404, .. })) => {
            return Ok(bases);
        }
        Err(other) => return Err(other),
    };
    for doc in docs(&response, &path)? {
        if doc["found"].as_bool() != Some(true) {
            continue;
        }
        counts.documents_read += 1;
        let (Some(id), Some(seq_no), Some(primary_term)) = (
            doc["_id"].as_str(),
            doc["_seq_no"].as_u64(),
            doc["_primary_term"].as_u64(),
        ) else {
            return Err(SinkError::Protocol {
                call: format!("POST {path}"),
                message: format!("a found document without _id, _seq_no or _primary_term: {doc}"),
            });
        };
        if let Some(&session) = by_id.get(id) {
            // The pending list is a stored field, outside `_source`.
            let mut source = doc["_source"].clone();
            if let Some(pending) = doc["fields"][PENDING_FIELD][0].as_str() {
                source[PENDING_FIELD] = Value::String(pending.to_string());
            }
            bases.insert(session, Base::from_document(&source, seq_no, primary_term));
        }
    }
    Ok(bases)
}

fn docs<'v>(response: &'v Value, path: &str) -> Result<&'v Vec<Value>, SinkError> {
    response["docs"]
        .as_array()
        .ok_or_else(|| SinkError::Protocol {
            call: format!("POST {path}"),
            message: format!("no `docs` in the answer: {response}"),
        })
}

/// Which of these events (document id, timestamp) are stored, in their
/// daily index or that day's backfill index. Realtime: no refresh needed.
async fn stored_event_ids(
    sink: &Sink,
    events: &[(&str, i64)],
    deadline: Instant,
    counts: &mut Counts,
) -> Result<HashSet<String>, SinkError> {
    if events.is_empty() {
        return Ok(HashSet::new());
    }
    let prefix = &sink.indices.request_events_prefix;
    let mut daily = DailyIndex::new(prefix);
    let mut body = Vec::with_capacity(events.len() * 2 * 120);
    body.extend_from_slice(b"{\"docs\":[");
    for (i, &(id, timestamp_ms)) in events.iter().enumerate() {
        let index = daily.name_for(timestamp_ms);
        let backfill = backfill_index_name(prefix, index);
        for (j, index) in [index, backfill.as_str()].into_iter().enumerate() {
            if i + j > 0 {
                body.push(b',');
            }
            body.extend_from_slice(b"{\"_index\":");
            write_str(&mut body, index);
            body.extend_from_slice(b",\"_id\":");
            write_str(&mut body, id);
            body.push(b'}');
        }
    }
    body.extend_from_slice(b"]}");
    let path = "/_mget?_source=false";
    let response = sink
        .call_raw_json(Method::POST, path, body, deadline, counts)
        .await?;
    let mut found = HashSet::new();
    for doc in docs(&response, path)? {
        // A day without a backfill index answers with an error for it.
        if doc["found"].as_bool() == Some(true)
            && let Some(id) = doc["_id"].as_str()
        {
            counts.documents_read += 1;
            found.insert(id.to_string());
        }
    }
    Ok(found)
}

/// Of these sessions with no summary, those with stored events: their
/// summary was deleted. Searches what is refreshed, which is enough: an
/// event is only created after its session's summary, so a session with
/// no summary and events has had them for longer than the deletion.
async fn sessions_with_history(
    sink: &Sink,
    sessions: &[&str],
    deadline: Instant,
    counts: &mut Counts,
) -> Result<HashSet<String>, SinkError> {
    let query = json!({
        "size": 0,
        "query": {"terms": {"session_id": sessions}},
        "aggs": {"sessions": {"terms": {"field": "session_id", "size": sessions.len()}}},
    });
    let path = format!(
        "/{}/_search?ignore_unavailable=true&allow_no_indices=true",
        sink.indices.request_events_pattern()
    );
    let response = sink
        .call_json(Method::POST, &path, Some(&query), deadline, counts)
        .await?;
    check_shards(&response, &path)?;
    Ok(response["aggregations"]["sessions"]["buckets"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|bucket| bucket["key"].as_str().map(str::to_string))
        .collect())
}

/// A search that some shard did not answer is not an answer.
fn check_shards(response: &Value, path: &str) -> Result<(), SinkError> {
    let failed = response["_shards"]["failed"].as_u64().unwrap_or(0);
    if failed > 0 || response["timed_out"] == true {
        return Err(SinkError::Protocol {
            call: format!("POST {path}"),
            message: format!("a partial answer: {}", response["_shards"]),
        });
    }
    Ok(())
}

/// Rebuilds these sessions' summaries without the events OpenSearch
/// refused (they were counted before they were created).
async fn rebuild_without(
    sink: &Sink,
    sessions: &[&str],
    refused: &HashSet<String>,
    deadline: Instant,
    counts: &mut Counts,
) -> Result<(), SinkError> {
    let mut todo: Vec<&str> = sessions.to_vec();
    for round in 1..=ROUNDS {
        let bases = read_bases(sink, &todo, deadline, counts).await?;
        let stored = stored_events_of(sink, &todo, deadline, counts).await?;
        let stamp = now_ms();
        let mut body = BulkBody::default();
        let mut sent = Vec::new();
        for &session in &todo {
            let events = stored.get(session).map(Vec::as_slice).unwrap_or_default();
            let base = rebuild(session, &bases[session], events, refused);
            let start = body.bytes.len();
            match rebuilt_write(&base) {
                Some(write) => summary_item(
                    &mut body.bytes,
                    &sink.indices.session_summaries,
                    session,
                    &write,
                    base.condition,
                    stamp,
                ),
                None => delete_item(
                    &mut body.bytes,
                    &sink.indices.session_summaries,
                    session,
                    base.condition,
                ),
            }
            body.items.push((start..body.bytes.len(), sent.len()));
            sent.push(session);
        }
        let mut next = Vec::new();
        for (position, outcome) in sink.bulk("/_bulk", body, deadline, counts).await? {
            match outcome {
                Outcome::Written => counts.sessions_rebuilt += 1,
                Outcome::Conflict => next.push(sent[position]),
                Outcome::Rejected { status, error } => {
                    // A delete of what is not there: nothing to undo.
                    if status != 404 {
                        return Err(SinkError::Protocol {
                            call: "POST /_bulk (rebuilt summaries)".into(),
                            message: format!(
                                "`{}` refused: HTTP {status}: {error}",
                                sent[position]
                            ),
                        });
                    }
                }
            }
        }
        if next.is_empty() {
            return Ok(());
        }
        if round == ROUNDS {
            return Err(SinkError::SummaryConflicts {
                count: next.len(),
                rounds: ROUNDS,
                example: next[0].to_string(),
            });
        }
        todo = next;
    }
    Ok(())
}

/// A summary none of whose events is stored or pending is deleted.
fn delete_item(out: &mut Vec<u8>, index: &str, session: &str, condition: Condition) {
    out.extend_from_slice(b"{\"delete\":{\"_index\":");
    write_str(out, index);
    out.extend_from_slice(b",\"_id\":");
    write_str(out, &document_id(session));
    if let Condition::IfUnchanged {
        seq_no,
        primary_term,
    } = condition
    {
        out.extend_from_slice(
            format!(",\"if_seq_no\":{seq_no},\"if_primary_term\":{primary_term}").as_bytes(),
        );
    }
    out.extend_from_slice(b"}}\n");
}

/// Every stored event of these sessions, each once, after a refresh (the
/// rebuild path only): by session id.
async fn stored_events_of(
    sink: &Sink,
    sessions: &[&str],
    deadline: Instant,
    counts: &mut Counts,
) -> Result<HashMap<String, Vec<PendingEvent>>, SinkError> {
    let pattern = sink.indices.request_events_pattern();
    let refresh = format!("/{pattern}/_refresh?ignore_unavailable=true&allow_no_indices=true");
    sink.call_json(Method::POST, &refresh, None, deadline, counts)
        .await?;
    let query = json!({
        "size": SCROLL_PAGE,
        "sort": ["_doc"],
        "_source": ["session_id", "timestamp", "user", "path", "module", "site_token", "asset_types"],
        "query": {"terms": {"session_id": sessions}},
    });
    let path =
        format!("/{pattern}/_search?scroll=1m&ignore_unavailable=true&allow_no_indices=true");
    let mut page = sink
        .call_json(Method::POST, &path, Some(&query), deadline, counts)
        .await?;
    check_shards(&page, &path)?;
    let mut events: HashMap<String, Vec<PendingEvent>> = HashMap::new();
    let mut scroll_ids: Vec<String> = Vec::new();
    // An event lives in one index, but should a copy ever sit in both its
    // daily and its backfill index (a daily index deleted by ISM, then the
    // same old batch replayed once more), it counts once.
    let mut seen: HashSet<String> = HashSet::new();
    loop {
        if let Some(id) = page["_scroll_id"].as_str() {
            scroll_ids.push(id.to_string());
        }
        let hits = page["hits"]["hits"].as_array().cloned().unwrap_or_default();
        counts.documents_read += hits.len() as u64;
        for hit in &hits {
            let (session, event) = event_of_hit(hit).map_err(|message| SinkError::Protocol {
                call: format!("POST {path}"),
                message,
            })?;
            if seen.insert(event.id.to_string()) {
                events.entry(session).or_default().push(event);
            }
        }
        if hits.len() < SCROLL_PAGE {
            break;
        }
        let Some(scroll_id) = page["_scroll_id"].as_str().map(str::to_string) else {
            break;
        };
        page = sink
            .call_json(
                Method::POST,
                "/_search/scroll",
                Some(&json!({"scroll": "1m", "scroll_id": scroll_id})),
                deadline,
                counts,
            )
            .await?;
        check_shards(&page, "/_search/scroll")?;
    }
    if !scroll_ids.is_empty() {
        // Best effort: scrolls expire by themselves after a minute.
        scroll_ids.dedup();
        let _ = sink
            .client
            .json(
                Method::DELETE,
                "/_search/scroll",
                Some(&json!({"scroll_id": scroll_ids})),
            )
            .await;
    }
    Ok(events)
}

/// A stored request event as its session id and what a summary takes.
fn event_of_hit(hit: &Value) -> Result<(String, PendingEvent), String> {
    let id = hit["_id"].as_str().ok_or("a hit without _id")?;
    let source = &hit["_source"];
    let text = |key: &str| source[key].as_str().map(|s| Cow::Owned(s.to_string()));
    let session_id = source["session_id"]
        .as_str()
        .ok_or_else(|| format!("event {id} has no session_id"))?;
    let timestamp_ms = source["timestamp"]
        .as_str()
        .and_then(timefmt::parse_rfc3339)
        .ok_or_else(|| format!("event {id} has an unreadable timestamp"))?;
    let event = PendingEvent {
        id: Cow::Owned(id.to_string()),
        timestamp_ms,
        user: text("user").ok_or_else(|| format!("event {id} has no user"))?,
        path: text("path").ok_or_else(|| format!("event {id} has no path"))?,
        module: text("module"),
        site_token: text("site_token"),
        asset_types: source["asset_types"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_str().map(|s| Cow::Owned(s.to_string())))
            .collect(),
    };
    Ok((session_id.to_string(), event))
}
