//! The OpenSearch edge: writes request events exactly once, recomputes the
//! touched sessions from their stored events, and keeps what OpenSearch
//! refuses for good in the dead-letter index.
//!
//! Exactly-once effect on an at-least-once input:
//! - a request event is a `create` with the log event id as `_id` in the
//!   daily index of its own timestamp, so a redelivery is a harmless 409
//!   (every `_id` goes through `docid::document_id`: an id OpenSearch
//!   would refuse, empty or over 512 bytes, becomes a digest of itself);
//! - a session summary is recomputed from *all* stored events of the
//!   session (after the events are searchable) and written with
//!   `version_type=external_gte` and version = its event count, so a stale
//!   view never overwrites a fresher one; a summary whose content did not
//!   change is not written at all, so a redelivery changes nothing. A 409
//!   is settled against what is stored then (`summary_write`): a deleted
//!   summary's tombstone refuses the versioned write too, and the summary
//!   must then be created again, not counted as unchanged.
//!   A crash between the two steps leaves events without an up-to-date
//!   summary; the retry (Lambda's, or CloudWatch Logs' redelivery)
//!   recomputes it.
//!
//! Backfills: ISM makes a daily index read-only once it is old (warm).
//! An event whose daily index refuses writes for that reason is looked up
//! there first (a redelivery of an event stored while the index was hot is
//! a duplicate, nothing more); if it is not there, it is created in the
//! day's backfill index, `<prefix>backfill-YYYY.MM.DD`, which the
//! `request-events-*` pattern, templates, ISM and reads all include. The
//! route depends only on the stored state, so a redelivery takes the same
//! one and meets its own earlier write as a 409.

use crate::batch::ProcessedBatch;
use crate::bulk::{BulkBody, DailyIndex, event_bodies, write_event_document, write_str};
use crate::config::Indices;
use crate::counts::Counts;
use crate::docid::document_id;
use crate::opensearch::{OpenSearch, OpenSearchError};
use crate::session::{EventView, SessionSummary, stored_content};
use crate::summary_write::{
    StoredSummary, SummaryWrite, after_conflict, first_write, needs_version_raise,
};
use crate::timefmt;
use http::Method;
use rand::Rng;
use serde::Deserialize;
use serde_json::{Value, json};
use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error("{call}: still failing when the time ran out ({attempts} attempts): {last}")]
    GaveUp {
        call: String,
        attempts: u32,
        last: String,
    },
    #[error(transparent)]
    OpenSearch(#[from] OpenSearchError),
    #[error("{call}: unexpected response: {message}")]
    Protocol { call: String, message: String },
    #[error(
        "{count} session summaries still in version conflict after {rounds} rounds (e.g. `{example}`): other invocations keep writing them; the retry recomputes them"
    )]
    SummaryConflicts {
        count: usize,
        rounds: u32,
        example: String,
    },
}

/// Bodies are split at about this size: well under the smallest
/// `http.max_content_length` of Amazon OpenSearch Service (10 MiB).
pub const DEFAULT_MAX_BULK_BYTES: usize = 5 * 1024 * 1024;
/// Sessions recomputed per search.
const SESSIONS_PER_SEARCH: usize = 256;
const SCROLL_PAGE: usize = 5000;

/// What happened to one bulk item.
#[derive(Debug, Clone, PartialEq)]
enum Outcome {
    /// With the document's new `_version` where OpenSearch gives it.
    Written {
        version: Option<u64>,
    },
    /// 409: the document exists (create), a higher version is stored
    /// (external; a deleted document's tombstone counts), or the stored
    /// document is no longer the one read (`if_seq_no`).
    Conflict {
        index: String,
    },
    Rejected {
        status: u16,
        error: Value,
    },
}

#[derive(Debug, Deserialize)]
struct BulkResponse {
    items: Vec<HashMap<String, BulkItem>>,
}

#[derive(Debug, Deserialize)]
struct BulkItem {
    #[serde(rename = "_index", default)]
    index: String,
    status: u16,
    #[serde(default)]
    error: Value,
    #[serde(rename = "_version", default)]
    version: Option<u64>,
}

/// A document OpenSearch will not take, or a payload that cannot be read.
#[derive(Debug, Clone)]
pub struct DeadLetter {
    /// Stable, so that a redelivery overwrites rather than duplicates.
    pub id: String,
    pub reason: String,
    pub error: String,
    pub raw: String,
    pub log_group: Option<String>,
    pub log_stream: Option<String>,
    pub log_event_id: Option<String>,
    pub log_event_timestamp: Option<i64>,
    pub target_index: Option<String>,
}

/// A summary to write, how, and whether its session was already counted
/// (a version raised after a first write is not a second write).
#[derive(Debug, Clone, Copy)]
struct PlannedWrite<'a, 's> {
    summary: &'a SessionSummary<'s>,
    write: SummaryWrite,
    counted: bool,
}

#[derive(Debug, Clone)]
pub struct Sink {
    client: OpenSearch,
    indices: Indices,
    max_bulk_bytes: usize,
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn transient_status(status: u16) -> bool {
    status == 429 || status >= 500
}

impl Sink {
    pub fn new(client: OpenSearch, indices: Indices) -> Self {
        Sink {
            client,
            indices,
            max_bulk_bytes: DEFAULT_MAX_BULK_BYTES,
        }
    }

    pub fn with_max_bulk_bytes(mut self, bytes: usize) -> Self {
        self.max_bulk_bytes = bytes.max(1);
        self
    }

    pub fn client(&self) -> &OpenSearch {
        &self.client
    }

    pub fn indices(&self) -> &Indices {
        &self.indices
    }

    /// Both steps: events, then the sessions they touch.
    pub async fn write(
        &self,
        batch: &ProcessedBatch<'_>,
        deadline: Instant,
        counts: &mut Counts,
    ) -> Result<(), SinkError> {
        self.write_events(batch, deadline, counts).await?;
        let sessions: BTreeSet<&str> = batch
            .events
            .iter()
            .map(|e| e.event.session_id.as_ref())
            .collect();
        self.update_sessions(sessions.into_iter(), deadline, counts)
            .await
    }

    /// Step 1: `create` every kept event; returns once they are searchable.
    pub async fn write_events(
        &self,
        batch: &ProcessedBatch<'_>,
        deadline: Instant,
        counts: &mut Counts,
    ) -> Result<(), SinkError> {
        let mut daily = DailyIndex::new(&self.indices.request_events_prefix);
        let bodies = event_bodies(
            &batch.events,
            batch.log_group,
            batch.log_stream,
            &mut daily,
            self.max_bulk_bytes,
        );
        let mut existing_in: BTreeSet<String> = BTreeSet::new();
        let mut letters = Vec::new();
        let mut blocked = Vec::new();
        for body in bodies {
            let outcomes = self
                .bulk("/_bulk?refresh=true", body, deadline, counts)
                .await?;
            for (position, outcome) in outcomes {
                match outcome {
                    Outcome::Written { .. } => counts.events_created += 1,
                    Outcome::Conflict { index } => {
                        counts.events_existing += 1;
                        existing_in.insert(index);
                    }
                    Outcome::Rejected { status, error } if is_write_block(status, &error) => {
                        blocked.push(position);
                    }
                    Outcome::Rejected { status, error } => {
                        let kept = &batch.events[position];
                        let index = daily.name_for(kept.event.timestamp_ms).to_string();
                        letters.push(event_letter(batch, position, status, &error, index));
                    }
                }
            }
        }
        if !blocked.is_empty() {
            self.backfill(
                batch,
                &blocked,
                deadline,
                counts,
                &mut existing_in,
                &mut letters,
            )
            .await?;
        }
        // Events that already existed may come from a delivery that died
        // before its own refresh: make sure the recount sees them.
        if !existing_in.is_empty() {
            let names: Vec<&str> = existing_in.iter().map(String::as_str).collect();
            let path = format!("/{}/_refresh", names.join(","));
            self.call_json(Method::POST, &path, None, deadline, counts)
                .await?;
        }
        self.dead_letter(letters, deadline, counts).await
    }

    /// The events (by position) that their daily index refused because it
    /// is read-only: already there, or created in the day's backfill index.
    async fn backfill(
        &self,
        batch: &ProcessedBatch<'_>,
        blocked: &[usize],
        deadline: Instant,
        counts: &mut Counts,
        existing_in: &mut BTreeSet<String>,
        letters: &mut Vec<DeadLetter>,
    ) -> Result<(), SinkError> {
        let mut daily = DailyIndex::new(&self.indices.request_events_prefix);
        let mut by_index: BTreeMap<String, Vec<usize>> = BTreeMap::new();
        for &position in blocked {
            let index = daily.name_for(batch.events[position].event.timestamp_ms);
            by_index
                .entry(index.to_string())
                .or_default()
                .push(position);
        }
        let mut body = BulkBody::default();
        let mut targets = Vec::new();
        for (index, positions) in &by_index {
            let ids: Vec<Cow<str>> = positions
                .iter()
                .map(|&p| document_id(batch.events[p].id))
                .collect();
            let stored = self.existing_ids(index, &ids, deadline, counts).await?;
            let backfill_index = backfill_index_name(&self.indices.request_events_prefix, index);
            for &position in positions {
                let kept = &batch.events[position];
                let id = document_id(kept.id);
                if stored.contains(id.as_ref()) {
                    counts.events_existing += 1;
                    continue;
                }
                let start = body.bytes.len();
                body.bytes.extend_from_slice(b"{\"create\":{\"_index\":");
                write_str(&mut body.bytes, &backfill_index);
                body.bytes.extend_from_slice(b",\"_id\":");
                write_str(&mut body.bytes, &id);
                body.bytes.extend_from_slice(b"}}\n");
                write_event_document(
                    &mut body.bytes,
                    &kept.event,
                    batch.log_group,
                    batch.log_stream,
                );
                body.bytes.push(b'\n');
                body.items.push((start..body.bytes.len(), targets.len()));
                targets.push((position, backfill_index.clone()));
            }
        }
        if body.is_empty() {
            return Ok(());
        }
        for (reference, outcome) in self
            .bulk("/_bulk?refresh=true", body, deadline, counts)
            .await?
        {
            let (position, index) = &targets[reference];
            match outcome {
                Outcome::Written { .. } => {
                    counts.events_created += 1;
                    counts.events_backfilled += 1;
                }
                Outcome::Conflict { index } => {
                    counts.events_existing += 1;
                    existing_in.insert(index);
                }
                Outcome::Rejected { status, error } => letters.push(event_letter(
                    batch,
                    *position,
                    status,
                    &error,
                    index.clone(),
                )),
            }
        }
        Ok(())
    }

    /// Which of these ids `index` holds.
    async fn existing_ids(
        &self,
        index: &str,
        ids: &[Cow<'_, str>],
        deadline: Instant,
        counts: &mut Counts,
    ) -> Result<BTreeSet<String>, SinkError> {
        let path = format!("/{index}/_mget?_source=false");
        let response = self
            .call_json(
                Method::POST,
                &path,
                Some(&json!({"ids": ids})),
                deadline,
                counts,
            )
            .await?;
        let docs = response["docs"]
            .as_array()
            .ok_or_else(|| SinkError::Protocol {
                call: format!("POST {path}"),
                message: format!("no `docs` in the answer: {response}"),
            })?;
        Ok(docs
            .iter()
            .filter(|doc| doc["found"].as_bool() == Some(true))
            .filter_map(|doc| doc["_id"].as_str().map(str::to_string))
            .collect())
    }

    /// Step 2: recompute each session from its stored events and write the
    /// summaries whose content changed (`summary_write` says how).
    pub async fn update_sessions<'s>(
        &self,
        session_ids: impl Iterator<Item = &'s str>,
        deadline: Instant,
        counts: &mut Counts,
    ) -> Result<(), SinkError> {
        let ids: Vec<&str> = session_ids.collect();
        counts.sessions_touched += ids.len() as u64;
        for chunk in ids.chunks(SESSIONS_PER_SEARCH) {
            let summaries = self.recompute(chunk, deadline, counts).await?;
            let stored = self.stored_summaries(chunk, deadline, counts).await?;
            let mut plan = Vec::with_capacity(summaries.len());
            for summary in summaries.values() {
                let content = summary.content();
                let stored = stored.get(document_id(&summary.session_id).as_ref());
                plan.push(PlannedWrite {
                    summary,
                    write: first_write(stored, &content, summary.event_count),
                    counted: false,
                });
            }
            self.write_summaries(plan, deadline, counts).await?;
        }
        Ok(())
    }

    /// Carries out a plan of summary writes; settles each 409 against what
    /// is stored then, for a few rounds (a round only conflicts again if
    /// another invocation wrote the same session in between).
    async fn write_summaries(
        &self,
        mut plan: Vec<PlannedWrite<'_, '_>>,
        deadline: Instant,
        counts: &mut Counts,
    ) -> Result<(), SinkError> {
        const ROUNDS: u32 = 5;
        let stamp = now_ms();
        for round in 1..=ROUNDS {
            let mut body = BulkBody::default();
            let mut sent: Vec<PlannedWrite> = Vec::new();
            for planned in plan {
                if planned.write == SummaryWrite::Keep {
                    if !planned.counted {
                        counts.sessions_unchanged += 1;
                    }
                    continue;
                }
                let start = body.bytes.len();
                self.write_summary_item(&mut body.bytes, &planned, stamp);
                body.items.push((start..body.bytes.len(), sent.len()));
                sent.push(planned);
            }
            if body.is_empty() {
                return Ok(());
            }
            let outcomes = self.bulk("/_bulk", body, deadline, counts).await?;
            let mut letters = Vec::new();
            let mut conflicts: Vec<PlannedWrite> = Vec::new();
            let mut next: Vec<PlannedWrite> = Vec::new();
            for (position, outcome) in outcomes {
                let planned = sent[position];
                let summary = planned.summary;
                match outcome {
                    Outcome::Written { version } => {
                        if !planned.counted {
                            counts.sessions_written += 1;
                        }
                        // A create over a tombstone pruned in the meantime
                        // starts at version 1: raise it to the event count.
                        if needs_version_raise(planned.write, version, summary.event_count) {
                            next.push(PlannedWrite {
                                summary,
                                write: SummaryWrite::ByEventCount,
                                counted: true,
                            });
                        }
                    }
                    Outcome::Conflict { .. } => conflicts.push(planned),
                    Outcome::Rejected { status, error } => letters.push(DeadLetter {
                        id: format!("session:{}", summary.session_id),
                        reason: "summary_rejected".into(),
                        error: format!("HTTP {status}: {error}"),
                        raw: summary.content().to_string(),
                        log_group: None,
                        log_stream: None,
                        log_event_id: None,
                        log_event_timestamp: None,
                        target_index: Some(self.indices.session_summaries.clone()),
                    }),
                }
            }
            self.dead_letter(letters, deadline, counts).await?;
            if conflicts.is_empty() && next.is_empty() {
                return Ok(());
            }
            if round == ROUNDS {
                let left: Vec<&PlannedWrite> = conflicts.iter().chain(&next).collect();
                return Err(SinkError::SummaryConflicts {
                    count: left.len(),
                    rounds: ROUNDS,
                    example: left[0].summary.session_id.to_string(),
                });
            }
            if !conflicts.is_empty() {
                let ids: Vec<&str> = conflicts
                    .iter()
                    .map(|p| p.summary.session_id.as_ref())
                    .collect();
                let stored = self.stored_summaries(&ids, deadline, counts).await?;
                for planned in conflicts {
                    let summary = planned.summary;
                    let now = stored.get(document_id(&summary.session_id).as_ref());
                    next.push(PlannedWrite {
                        write: after_conflict(now, &summary.content(), summary.event_count),
                        ..planned
                    });
                }
            }
            plan = next;
        }
        Ok(())
    }

    /// One summary's bulk action line and document.
    fn write_summary_item(&self, out: &mut Vec<u8>, planned: &PlannedWrite, stamp: i64) {
        let summary = planned.summary;
        out.extend_from_slice(match planned.write {
            SummaryWrite::Create => b"{\"create\":{\"_index\":",
            _ => b"{\"index\":{\"_index\":",
        });
        write_str(out, &self.indices.session_summaries);
        out.extend_from_slice(b",\"_id\":");
        write_str(out, &document_id(&summary.session_id));
        let condition = match planned.write {
            SummaryWrite::ByEventCount => format!(
                ",\"version\":{},\"version_type\":\"external_gte\"",
                summary.event_count
            ),
            SummaryWrite::IfUnchanged {
                seq_no,
                primary_term,
            } => format!(",\"if_seq_no\":{seq_no},\"if_primary_term\":{primary_term}"),
            SummaryWrite::Create | SummaryWrite::Keep => String::new(),
        };
        out.extend_from_slice(condition.as_bytes());
        out.extend_from_slice(b"}}\n");
        summary.write_document(out, stamp);
        out.push(b'\n');
    }

    /// Every stored event of these sessions, folded into summaries.
    async fn recompute(
        &self,
        session_ids: &[&str],
        deadline: Instant,
        counts: &mut Counts,
    ) -> Result<BTreeMap<String, SessionSummary<'static>>, SinkError> {
        let query = json!({
            "size": SCROLL_PAGE,
            "sort": ["_doc"],
            "_source": ["session_id", "timestamp", "user", "path", "module", "site_token", "asset_types"],
            "query": {"terms": {"session_id": session_ids}},
        });
        let path = format!(
            "/{}/_search?scroll=1m&ignore_unavailable=true&allow_no_indices=true",
            self.indices.request_events_pattern()
        );
        let mut page = self
            .call_json(Method::POST, &path, Some(&query), deadline, counts)
            .await?;
        let mut summaries: BTreeMap<String, SessionSummary<'static>> = BTreeMap::new();
        let mut scroll_ids: BTreeSet<String> = BTreeSet::new();
        // An event lives in one index, but should a copy ever sit in both
        // its daily and its backfill index (a daily index deleted by ISM,
        // then the same old batch replayed once more), it counts once.
        let mut seen: HashSet<String> = HashSet::new();
        loop {
            if let Some(id) = page["_scroll_id"].as_str() {
                scroll_ids.insert(id.to_string());
            }
            let hits = page["hits"]["hits"].as_array().cloned().unwrap_or_default();
            if hits.is_empty() {
                break;
            }
            for hit in &hits {
                if let Some(id) = hit["_id"].as_str()
                    && !seen.insert(id.to_string())
                {
                    continue;
                }
                fold_hit(&mut summaries, hit).map_err(|message| SinkError::Protocol {
                    call: format!("POST {path}"),
                    message,
                })?;
            }
            if hits.len() < SCROLL_PAGE {
                break;
            }
            let Some(scroll_id) = page["_scroll_id"].as_str().map(str::to_string) else {
                break;
            };
            page = self
                .call_json(
                    Method::POST,
                    "/_search/scroll",
                    Some(&json!({"scroll": "1m", "scroll_id": scroll_id})),
                    deadline,
                    counts,
                )
                .await?;
        }
        if !scroll_ids.is_empty() {
            // Best effort: scrolls expire by themselves after a minute.
            let ids: Vec<String> = scroll_ids.into_iter().collect();
            let _ = self
                .client
                .json(
                    Method::DELETE,
                    "/_search/scroll",
                    Some(&json!({"scroll_id": ids})),
                )
                .await;
        }
        Ok(summaries)
    }

    /// The stored summaries of these sessions, by document id.
    async fn stored_summaries(
        &self,
        session_ids: &[&str],
        deadline: Instant,
        counts: &mut Counts,
    ) -> Result<HashMap<String, StoredSummary>, SinkError> {
        let path = format!("/{}/_mget", self.indices.session_summaries);
        let ids: Vec<Cow<str>> = session_ids.iter().map(|id| document_id(id)).collect();
        let body = json!({ "ids": ids });
        let response = match self
            .call_json(Method::POST, &path, Some(&body), deadline, counts)
            .await
        {
            Ok(response) => response,
            // No summary written yet in this environment.
            Err(SinkError::OpenSearch(OpenSearchError::Status { status: 404, .. })) => {
                return Ok(HashMap::new());
            }
            Err(other) => return Err(other),
        };
        let mut stored = HashMap::new();
        for doc in response["docs"].as_array().into_iter().flatten() {
            if doc["found"].as_bool() != Some(true) {
                continue;
            }
            let (Some(id), Some(seq_no), Some(primary_term)) = (
                doc["_id"].as_str(),
                doc["_seq_no"].as_u64(),
                doc["_primary_term"].as_u64(),
            ) else {
                return Err(SinkError::Protocol {
                    call: format!("POST {path}"),
                    message: format!(
                        "a found document without _id, _seq_no or _primary_term: {doc}"
                    ),
                });
            };
            // A document that is not a summary is replaced, not trusted.
            let content = stored_content(&doc["_source"]).unwrap_or(Value::Null);
            stored.insert(
                id.to_string(),
                StoredSummary {
                    content,
                    seq_no,
                    primary_term,
                },
            );
        }
        Ok(stored)
    }

    /// Indexes dead letters; failing to keep them fails the invocation.
    pub async fn dead_letter(
        &self,
        letters: Vec<DeadLetter>,
        deadline: Instant,
        counts: &mut Counts,
    ) -> Result<(), SinkError> {
        if letters.is_empty() {
            return Ok(());
        }
        let mut body = BulkBody::default();
        let failed_at = timefmt::format_timestamp(now_ms());
        for (position, letter) in letters.iter().enumerate() {
            let start = body.bytes.len();
            let action = json!({"index": {"_index": self.indices.dead_letters, "_id": document_id(&letter.id)}});
            let doc = json!({
                "failed_at": failed_at,
                "reason": letter.reason,
                "error": letter.error,
                "raw": letter.raw,
                "log_group": letter.log_group,
                "log_stream": letter.log_stream,
                "log_event_id": letter.log_event_id,
                "log_event_timestamp": letter.log_event_timestamp,
                "target_index": letter.target_index,
            });
            serde_json::to_writer(&mut body.bytes, &action).expect("Vec write");
            body.bytes.push(b'\n');
            serde_json::to_writer(&mut body.bytes, &doc).expect("Vec write");
            body.bytes.push(b'\n');
            body.items.push((start..body.bytes.len(), position));
        }
        let outcomes = self.bulk("/_bulk", body, deadline, counts).await?;
        for (position, outcome) in outcomes {
            match outcome {
                Outcome::Written { .. } | Outcome::Conflict { .. } => counts.dead_lettered += 1,
                Outcome::Rejected { status, error } => {
                    return Err(SinkError::Protocol {
                        call: format!("POST /_bulk ({} dead letters)", letters.len()),
                        message: format!(
                            "the dead-letter index refused `{}` (HTTP {status}: {error})",
                            letters[position].id
                        ),
                    });
                }
            }
        }
        Ok(())
    }

    /// Sends a bulk body; retries the items (or the whole request) that
    /// failed transiently, with exponential backoff and full jitter, until
    /// the deadline. Returns the final outcome of every item by reference.
    async fn bulk(
        &self,
        path: &str,
        body: BulkBody,
        deadline: Instant,
        counts: &mut Counts,
    ) -> Result<Vec<(usize, Outcome)>, SinkError> {
        let mut pending = body;
        let mut done = Vec::with_capacity(pending.items.len());
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let last = match within(
                deadline,
                "POST",
                path,
                self.client.send(
                    Method::POST,
                    path,
                    Some((pending.bytes.clone(), "application/x-ndjson")),
                ),
            )
            .await
            {
                Err(e) if e.is_transient() => e.to_string(),
                Err(e) => return Err(e.into()),
                Ok(response) if transient_status(response.status) => {
                    format!("HTTP {}: {}", response.status, response.text())
                }
                Ok(response) => {
                    let json = self
                        .client
                        .expect_json("POST", path, response)
                        .map_err(SinkError::from)?;
                    let parsed: BulkResponse =
                        serde_json::from_value(json).map_err(|e| SinkError::Protocol {
                            call: format!("POST {path}"),
                            message: e.to_string(),
                        })?;
                    if parsed.items.len() != pending.items.len() {
                        return Err(SinkError::Protocol {
                            call: format!("POST {path}"),
                            message: format!(
                                "{} items sent, {} answered",
                                pending.items.len(),
                                parsed.items.len()
                            ),
                        });
                    }
                    let mut retry = Vec::new();
                    let mut last = String::new();
                    for (position, item) in parsed.items.into_iter().enumerate() {
                        let reference = pending.items[position].1;
                        let Some(item) = item.into_values().next() else {
                            return Err(SinkError::Protocol {
                                call: format!("POST {path}"),
                                message: format!("bulk answer item {position} names no action"),
                            });
                        };
                        match item.status {
                            200..=299 => done.push((
                                reference,
                                Outcome::Written {
                                    version: item.version,
                                },
                            )),
                            409 => done.push((reference, Outcome::Conflict { index: item.index })),
                            s if transient_status(s) => {
                                last = format!("HTTP {s}: {}", item.error);
                                retry.push(position);
                            }
                            s => done.push((
                                reference,
                                Outcome::Rejected {
                                    status: s,
                                    error: item.error,
                                },
                            )),
                        }
                    }
                    if retry.is_empty() {
                        return Ok(done);
                    }
                    pending = pending.subset(&retry);
                    last
                }
            };
            self.backoff(attempt, deadline, &format!("POST {path}"), last, counts)
                .await?;
        }
    }

    /// A JSON call with the same retry policy as `bulk`.
    async fn call_json(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        deadline: Instant,
        counts: &mut Counts,
    ) -> Result<Value, SinkError> {
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let call = self.client.json(method.clone(), path, body);
            match within(deadline, method.as_str(), path, call).await {
                Ok(value) => return Ok(value),
                Err(e) if e.is_transient() => {
                    self.backoff(
                        attempt,
                        deadline,
                        &format!("{method} {path}"),
                        e.to_string(),
                        counts,
                    )
                    .await?
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    async fn backoff(
        &self,
        attempt: u32,
        deadline: Instant,
        call: &str,
        last: String,
        counts: &mut Counts,
    ) -> Result<(), SinkError> {
        let left = deadline.saturating_duration_since(Instant::now());
        if left <= MIN_ATTEMPT_TIME {
            return Err(SinkError::GaveUp {
                call: call.to_string(),
                attempts: attempt,
                last,
            });
        }
        let cap_ms = 100u64.saturating_mul(1 << attempt.min(7)).min(10_000);
        let delay = Duration::from_millis(rand::rng().random_range(0..=cap_ms));
        // Never sleep past the point where one more attempt still fits.
        let delay = delay.min(left - MIN_ATTEMPT_TIME);
        counts.retries += 1;
        tokio::time::sleep(delay).await;
        Ok(())
    }
}

/// Below this much time left, another attempt is not worth starting.
const MIN_ATTEMPT_TIME: Duration = Duration::from_millis(200);

/// Runs one call, cut short at the deadline (the client's own timeout may be
/// longer than the invocation has left).
async fn within<T>(
    deadline: Instant,
    method: &str,
    path: &str,
    call: impl std::future::Future<Output = Result<T, OpenSearchError>>,
) -> Result<T, OpenSearchError> {
    let left = deadline.saturating_duration_since(Instant::now());
    match tokio::time::timeout(left, call).await {
        Ok(result) => result,
        Err(_) => Err(OpenSearchError::Timeout {
            method: method.to_string(),
            url: path.to_string(),
            seconds: left.as_secs(),
        }),
    }
}

/// A write refused because the index is read-only (ISM's `read_only`
/// sets `index.blocks.write`): `cluster_block_exception`, HTTP 403.
fn is_write_block(status: u16, error: &Value) -> bool {
    status == 403
        && error["type"] == "cluster_block_exception"
        && error["reason"]
            .as_str()
            .is_some_and(|reason| reason.contains("index write") || reason.contains("read-only"))
}

/// `request-events-2026.06.01` → `request-events-backfill-2026.06.01`.
pub fn backfill_index_name(prefix: &str, daily_index: &str) -> String {
    let day = daily_index.strip_prefix(prefix).unwrap_or(daily_index);
    format!("{prefix}backfill-{day}")
}

/// The dead letter of a kept event that `index` refused for good.
fn event_letter(
    batch: &ProcessedBatch<'_>,
    position: usize,
    status: u16,
    error: &Value,
    index: String,
) -> DeadLetter {
    let kept = &batch.events[position];
    DeadLetter {
        id: kept.id.to_string(),
        reason: "event_rejected".into(),
        error: format!("HTTP {status}: {error}"),
        raw: kept.message.to_string(),
        log_group: Some(batch.log_group.to_string()),
        log_stream: Some(batch.log_stream.to_string()),
        log_event_id: Some(kept.id.to_string()),
        log_event_timestamp: Some(kept.log_timestamp_ms),
        target_index: Some(index),
    }
}

fn fold_hit(
    summaries: &mut BTreeMap<String, SessionSummary<'static>>,
    hit: &Value,
) -> Result<(), String> {
    let id = hit["_id"].as_str().ok_or("a hit without _id")?;
    let source = &hit["_source"];
    let text = |key: &str| source[key].as_str().map(|s| Cow::Owned(s.to_string()));
    let session_id = source["session_id"]
        .as_str()
        .ok_or("an event without session_id")?;
    let timestamp_ms = source["timestamp"]
        .as_str()
        .and_then(timefmt::parse_rfc3339)
        .ok_or_else(|| format!("event {id} has an unreadable timestamp"))?;
    let user = text("user").ok_or_else(|| format!("event {id} has no user"))?;
    let path = text("path").ok_or_else(|| format!("event {id} has no path"))?;
    let module = text("module");
    let site_token = text("site_token");
    let asset_types: Vec<Cow<'static, str>> = source["asset_types"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().map(|s| Cow::Owned(s.to_string())))
        .collect();
    let view = EventView {
        id: Cow::Owned(id.to_string()),
        timestamp_ms,
        user: &user,
        path: &path,
        module: module.as_ref(),
        site_token: site_token.as_ref(),
        asset_types: &asset_types,
    };
    match summaries.get_mut(session_id) {
        Some(summary) => summary.add(view),
        None => {
            summaries.insert(
                session_id.to_string(),
                SessionSummary::new(Cow::Owned(session_id.to_string()), view),
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_write_block_sends_an_event_to_the_backfill_index() {
        // What OpenSearch answers for a bulk item on an index that ISM's
        // `read_only` (index.blocks.write) closed.
        let blocked = json!({"type": "cluster_block_exception",
            "reason": "index [request-events-2026.06.01] blocked by: [FORBIDDEN/8/index write (api)];"});
        assert!(is_write_block(403, &blocked));
        let mapping = json!({"type": "mapper_parsing_exception", "reason": "failed to parse"});
        assert!(!is_write_block(400, &mapping));
        assert!(!is_write_block(403, &mapping));
        // The flood-stage block is a 429, retried as transient elsewhere.
        let disk = json!({"type": "cluster_block_exception",
            "reason": "index [x] blocked by: [TOO_MANY_REQUESTS/12/disk usage exceeded flood-stage watermark, index has read-only-allow-delete block];"});
        assert!(!is_write_block(429, &disk));
    }

    #[test]
    fn the_backfill_index_keeps_the_prefix_and_the_day() {
        assert_eq!(
            backfill_index_name("request-events-", "request-events-2026.06.01"),
            "request-events-backfill-2026.06.01"
        );
        assert_eq!(
            backfill_index_name("t-x-", "t-x-2026.06.01"),
            "t-x-backfill-2026.06.01"
        );
    }
}
