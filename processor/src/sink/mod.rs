//! The OpenSearch edge: counts each batch's events into their session
//! summaries, writes the request events exactly once, and keeps what
//! OpenSearch refuses for good in the dead-letter index.
//!
//! Exactly-once effect on an at-least-once input (the argument is in
//! ARCHITECTURE.md):
//! - a request event is a `create` with the log event id as `_id` in the
//!   daily index of its own timestamp, so a redelivery is a harmless 409
//!   (every `_id` goes through `docid::document_id`: an id OpenSearch
//!   would refuse, empty or over 512 bytes, becomes a digest of itself);
//! - with the events, each event's id is added to its session's tally;
//!   then each tally's size is folded into the session's state, and the
//!   state published as the session's summary (`sessions`,
//!   `session_state`): merges run in the shard, so applying one twice or
//!   two in either order is the same.
//!
//! Backfills: ISM makes a daily index read-only once it is old (warm).
//! An event whose daily index refuses writes for that reason is looked up
//! there first (a redelivery of an event stored while the index was hot is
//! a duplicate, nothing more); if it is not there, it is created in the
//! day's backfill index, `<prefix>backfill-YYYY.MM.DD`, which the
//! `request-events-*` pattern, templates, ISM and reads all include. The
//! route depends only on the stored state, so a redelivery takes the same
//! one and meets its own earlier write as a 409.

mod rebuild;
mod sessions;

use crate::batch::ProcessedBatch;
use crate::config::Indices;
use crate::counts::Counts;
use crate::jsonstr::write_str;
use crate::opensearch::{OpenSearch, OpenSearchError};
use crate::output::document_id;
use crate::output::{BulkBody, DailyIndex, event_bodies, write_event_document};
use crate::output::{GetAnswer, UpdateAnswer};
use crate::timefmt;
use http::Method;
use rand::Rng;
use serde::Deserialize;
use serde_json::{Value, json};
use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap};
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
        "{count} session documents still in version conflict after {rounds} tries (e.g. `{example}`): other invocations keep writing them; the retry counts them"
    )]
    SummaryConflicts {
        count: usize,
        rounds: u32,
        example: String,
    },
    /// Fault injection ([`Sink::crashing_at`]): the invocation stops here.
    #[error("crash injected at {0:?}")]
    Crashed(Step),
}

/// The steps of one invocation's writes, in order, where a test can make
/// the invocation stop ([`Sink::crashing_at`]). `In*` sends the first half
/// of that bulk request's items, then stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// In the bulk request of the events and their sessions' states.
    InEvents,
    /// The events are stored and counted in their states, except those of
    /// sealed buckets and the refused ones, which follow-up rounds handle;
    /// no summary is published yet.
    AfterEvents,
    /// In the first follow-up round: sealed buckets' tallies, refused
    /// events taken out of open buckets.
    InTallies,
    /// In a later follow-up round: the tallies' answers reported to their
    /// states.
    InStates,
    /// The states are up to date; no summary is published yet.
    AfterTallies,
    InSummaries,
    /// Everything is written, but Lambda sees the invocation fail and
    /// delivers the batch again.
    AfterSummaries,
}

impl Step {
    pub const ALL: [Step; 7] = [
        Step::InEvents,
        Step::AfterEvents,
        Step::InTallies,
        Step::InStates,
        Step::AfterTallies,
        Step::InSummaries,
        Step::AfterSummaries,
    ];
}

/// What writing a batch's events left.
#[derive(Debug, Default)]
struct EventsWritten {
    /// Positions of the events OpenSearch refused for good.
    refused: Vec<usize>,
    /// The answers to the items sent along, by reference.
    extra: Vec<(usize, Outcome, BulkItem)>,
}

/// Every bulk request: the answer keeps only what the sink reads of each
/// item, which spares OpenSearch writing, and the client reading, the
/// rest (`_index`, `_id`, `_shards`, `_primary_term` per item).
const BULK: &str = "/_bulk?filter_path=items.*.status,items.*.error,items.*.result,items.*._seq_no,items.*._version,items.*.get";

/// Bodies are split at about this size: well under the smallest
/// `http.max_content_length` of Amazon OpenSearch Service (10 MiB).
pub const DEFAULT_MAX_BULK_BYTES: usize = 5 * 1024 * 1024;

/// What happened to one bulk item.
#[derive(Debug, Clone, PartialEq)]
enum Outcome {
    Written,
    /// 409: the document exists (`create`), a rendering of a newer state
    /// is stored (`external_gte`), or an update's shard-side retries on
    /// conflict ran out.
    Conflict,
    Rejected {
        status: u16,
        error: Value,
    },
}

#[derive(Debug, Deserialize)]
struct BulkResponse {
    items: Vec<HashMap<String, BulkItem>>,
}

/// One item of a bulk answer: its status and error, and what the
/// summaries' side reads of an update (`session_state::UpdateAnswer`).
#[derive(Debug, Default, Deserialize)]
struct BulkItem {
    status: u16,
    #[serde(default)]
    error: Value,
    #[serde(default)]
    result: Option<String>,
    #[serde(default, rename = "_seq_no")]
    seq_no: Option<i64>,
    #[serde(default, rename = "_version")]
    version: Option<i64>,
    #[serde(default)]
    get: Option<GetAnswer>,
}

impl BulkItem {
    fn answer(self) -> UpdateAnswer {
        UpdateAnswer {
            result: self.result,
            seq_no: self.seq_no,
            version: self.version,
            get: self.get,
        }
    }
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

#[derive(Debug, Clone)]
pub struct Sink {
    client: OpenSearch,
    indices: Indices,
    max_bulk_bytes: usize,
    crash_at: Option<Step>,
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
            crash_at: None,
        }
    }

    /// Fault injection for tests: every invocation stops at `step` with
    /// [`SinkError::Crashed`], as a Lambda that dies there would.
    pub fn crashing_at(mut self, step: Step) -> Self {
        self.crash_at = Some(step);
        self
    }

    fn crash_point(&self, step: Step) -> Result<(), SinkError> {
        match self.crash_at {
            Some(at) if at == step => Err(SinkError::Crashed(step)),
            _ => Ok(()),
        }
    }

    /// A bulk request, or its first half and then the injected crash.
    async fn bulk_or_crash(
        &self,
        step: Step,
        path: &str,
        body: BulkBody,
        deadline: Instant,
        counts: &mut Counts,
    ) -> Result<Vec<(usize, Outcome, BulkItem)>, SinkError> {
        if self.crash_at != Some(step) {
            return self.bulk_items(path, body, deadline, counts).await;
        }
        let half: Vec<usize> = (0..body.items.len().div_ceil(2)).collect();
        self.bulk_items(path, body.subset(&half), deadline, counts)
            .await?;
        Err(SinkError::Crashed(step))
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

    /// One batch: its events created, then counted into their sessions'
    /// states and summaries.
    pub async fn write(
        &self,
        batch: &ProcessedBatch<'_>,
        deadline: Instant,
        counts: &mut Counts,
    ) -> Result<(), SinkError> {
        sessions::write_batch(self, batch, deadline, counts).await
    }

    /// `create` the kept events, with `extra` items (references from
    /// `batch.events.len()` on) sent in the last of the same requests.
    /// Returns the positions OpenSearch refused for good (dead-lettered)
    /// and the answers to the extra items.
    async fn write_events(
        &self,
        batch: &ProcessedBatch<'_>,
        extra: BulkBody,
        deadline: Instant,
        counts: &mut Counts,
    ) -> Result<EventsWritten, SinkError> {
        let mut daily = DailyIndex::new(&self.indices.request_events_prefix);
        let mut bodies = event_bodies(
            &batch.events,
            batch.log_group,
            batch.log_stream,
            &mut daily,
            self.max_bulk_bytes,
        );
        match bodies.last_mut() {
            Some(last) => {
                let offset = last.bytes.len();
                last.bytes.extend_from_slice(&extra.bytes);
                last.items
                    .extend(extra.items.into_iter().map(|(range, reference)| {
                        (range.start + offset..range.end + offset, reference)
                    }));
            }
            None if !extra.is_empty() => bodies.push(extra),
            None => {}
        }
        let mut written = EventsWritten::default();
        let mut letters = Vec::new();
        let mut blocked = Vec::new();
        for body in bodies {
            let outcomes = self
                .bulk_or_crash(Step::InEvents, BULK, body, deadline, counts)
                .await?;
            for (position, outcome, item) in outcomes {
                if position >= batch.events.len() {
                    written.extra.push((position, outcome, item));
                    continue;
                }
                match outcome {
                    Outcome::Written => counts.events_created += 1,
                    Outcome::Conflict => counts.events_existing += 1,
                    Outcome::Rejected { status, error } if is_write_block(status, &error) => {
                        blocked.push(position);
                    }
                    Outcome::Rejected { status, error } => {
                        let kept = &batch.events[position];
                        let index = daily.name_for(kept.event.timestamp_ms).to_string();
                        letters.push(event_letter(batch, position, status, &error, index));
                        written.refused.push(position);
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
                &mut letters,
                &mut written.refused,
            )
            .await?;
        }
        self.dead_letter(letters, deadline, counts).await?;
        Ok(written)
    }

    /// The events (by position) that their daily index refused because it
    /// is read-only: already there, or created in the day's backfill index.
    async fn backfill(
        &self,
        batch: &ProcessedBatch<'_>,
        blocked: &[usize],
        deadline: Instant,
        counts: &mut Counts,
        letters: &mut Vec<DeadLetter>,
        refused: &mut Vec<usize>,
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
        for (reference, outcome) in self.bulk(BULK, body, deadline, counts).await? {
            let (position, index) = &targets[reference];
            match outcome {
                Outcome::Written => {
                    counts.events_created += 1;
                    counts.events_backfilled += 1;
                }
                Outcome::Conflict => counts.events_existing += 1,
                Outcome::Rejected { status, error } => {
                    letters.push(event_letter(
                        batch,
                        *position,
                        status,
                        &error,
                        index.clone(),
                    ));
                    refused.push(*position);
                }
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
        let docs = self.mget(index, ids, false, deadline, counts).await?;
        Ok(docs
            .iter()
            .filter(|doc| doc["found"].as_bool() == Some(true))
            .filter_map(|doc| doc["_id"].as_str().map(str::to_string))
            .collect())
    }

    /// A realtime `_mget` (no refresh needed) of `ids` in `index`, with or
    /// without their `_source`: one doc per id, in the same order, a
    /// missing one `found: false`; each counts as a document read.
    async fn mget<S: serde::Serialize>(
        &self,
        index: &str,
        ids: &[S],
        with_source: bool,
        deadline: Instant,
        counts: &mut Counts,
    ) -> Result<Vec<Value>, SinkError> {
        let path = if with_source {
            format!("/{index}/_mget")
        } else {
            format!("/{index}/_mget?_source=false")
        };
        let answer = self
            .call_json(
                Method::POST,
                &path,
                Some(&json!({ "ids": ids })),
                deadline,
                counts,
            )
            .await?;
        match answer {
            Value::Object(mut fields) => match fields.remove("docs") {
                Some(Value::Array(docs)) if docs.len() == ids.len() => {
                    counts.documents_read += docs.len() as u64;
                    Ok(docs)
                }
                docs => Err(SinkError::Protocol {
                    call: format!("POST {path}"),
                    message: format!(
                        "not one doc for each of {} ids in the answer: {}",
                        ids.len(),
                        docs.unwrap_or(Value::Null)
                    ),
                }),
            },
            other => Err(SinkError::Protocol {
                call: format!("POST {path}"),
                message: format!("not a JSON object: {other}"),
            }),
        }
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
        let outcomes = self.bulk(BULK, body, deadline, counts).await?;
        for (position, outcome) in outcomes {
            match outcome {
                Outcome::Written | Outcome::Conflict => counts.dead_lettered += 1,
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
        Ok(self
            .bulk_items(path, body, deadline, counts)
            .await?
            .into_iter()
            .map(|(reference, outcome, _)| (reference, outcome))
            .collect())
    }

    /// `bulk`, with each item's answer as OpenSearch gave it (an update's
    /// `get`, `_seq_no` and `result`).
    async fn bulk_items(
        &self,
        path: &str,
        body: BulkBody,
        deadline: Instant,
        counts: &mut Counts,
    ) -> Result<Vec<(usize, Outcome, BulkItem)>, SinkError> {
        let mut pending = body;
        let mut done = Vec::with_capacity(pending.items.len());
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            counts.opensearch_requests += 1;
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
                    let parsed: BulkResponse = self
                        .client
                        .expect("POST", path, response)
                        .map_err(SinkError::from)?;
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
                        let Some(mut item) = item.into_values().next() else {
                            return Err(SinkError::Protocol {
                                call: format!("POST {path}"),
                                message: format!("bulk answer item {position} names no action"),
                            });
                        };
                        match item.status {
                            200..=299 => done.push((reference, Outcome::Written, item)),
                            409 => done.push((reference, Outcome::Conflict, item)),
                            s if transient_status(s) => {
                                last = format!("HTTP {s}: {}", item.error);
                                retry.push(position);
                            }
                            s => {
                                let error = std::mem::take(&mut item.error);
                                done.push((reference, Outcome::Rejected { status: s, error }, item))
                            }
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
        let bytes = body.map(|b| serde_json::to_vec(b).expect("JSON values serialize"));
        self.call(method, path, bytes, deadline, counts).await
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
        deadline: Instant,
        counts: &mut Counts,
    ) -> Result<Value, SinkError> {
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            counts.opensearch_requests += 1;
            let payload = body.clone().map(|b| (b, "application/json"));
            let call = async {
                let response = self.client.send(method.clone(), path, payload).await?;
                self.client.expect_json(method.as_str(), path, response)
            };
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
