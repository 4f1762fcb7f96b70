//! The rare path after a refusal: a session's fields (earliest event,
//! span, sets) are merged by min, max and union as batches arrive, so the
//! fields of an event OpenSearch then refused cannot be taken back out.
//! Once its key is out of the count, the session's fields are set to the
//! fold of its counted events as stored: every counted key must be found
//! among the stored events (else some invocation still has its event in
//! flight, or a refused one still counted, and the rebuild waits), and the
//! write is conditional on the state being unchanged since it was read
//! (else it starts over). This path refreshes the events' indices and
//! scrolls over the session's events; nothing else does.

use super::{Sink, SinkError};
use crate::batch::EventView;
use crate::counts::Counts;
use crate::opensearch::OpenSearchError;
use crate::output::{
    StateView, UpdateAnswer, fold_events, packed_key, state_id, tally_id, write_state_fields_item,
};
use crate::timefmt;
use http::Method;
use serde_json::{Value, json};
use std::borrow::Cow;
use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};

/// The record separator of the packed keys (see `session_state`).
const RECORD_SEPARATOR: char = '\u{1e}';

/// Sets the fields of `session`'s state to the fold of its counted, stored
/// events; the state as the write answered, or `None` without a state.
pub(super) async fn rebuild_fields(
    sink: &Sink,
    session: &str,
    deadline: Instant,
    counts: &mut Counts,
) -> Result<Option<StateView>, SinkError> {
    let index = sink.indices.session_state();
    let id = state_id(session);
    let doc_path = format!("/{index}/_doc/{}", urlencoding(&id));
    let mut wait = Duration::from_millis(50);
    loop {
        let state = match sink
            .call_json(Method::GET, &doc_path, None, deadline, counts)
            .await
        {
            Ok(state) => state,
            Err(SinkError::OpenSearch(OpenSearchError::Status { status: 404, .. })) => {
                return Ok(None);
            }
            Err(other) => return Err(other),
        };
        counts.documents_read += 1;
        let counted = counted_keys(sink, session, &state["_source"], deadline, counts).await?;
        let stored = stored_events(sink, session, deadline, counts).await?;
        if counted.iter().any(|key| !stored.contains_key(key)) {
            // An event counted and not (yet) stored: its invocation is in
            // flight, or a refused one not yet taken out. Try again later.
            if Instant::now() + wait >= deadline {
                return Err(SinkError::Protocol {
                    call: format!("rebuilding the fields of session `{session}`"),
                    message: "counted events still not stored when the time ran out; the retry finishes it".into(),
                });
            }
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(Duration::from_secs(2));
            continue;
        }
        let events: Vec<EventView<'_, '_>> = counted.iter().map(|key| stored[key].view()).collect();
        let mut body = Vec::new();
        write_state_fields_item(&mut body, session, fold_events(session, &events).as_ref());
        let path = format!(
            "/{index}/_update/{}?if_seq_no={}&if_primary_term={}",
            urlencoding(&id),
            state["_seq_no"],
            state["_primary_term"]
        );
        match sink
            .call(Method::POST, &path, Some(body), deadline, counts)
            .await
        {
            Ok(answer) => {
                counts.documents_read += 1;
                let answer: UpdateAnswer =
                    serde_json::from_value(answer).map_err(|e| SinkError::Protocol {
                        call: format!("POST {path}"),
                        message: e.to_string(),
                    })?;
                let view =
                    StateView::from_update(&answer).map_err(|message| SinkError::Protocol {
                        call: format!("POST {path}"),
                        message,
                    })?;
                return Ok(Some(view));
            }
            // Changed since it was read: read it again.
            Err(SinkError::OpenSearch(OpenSearchError::Status { status: 409, .. })) => continue,
            Err(other) => return Err(other),
        }
    }
}

/// The keys a state counts: those of its open and frozen buckets, and
/// those of its sealed buckets' tallies.
async fn counted_keys(
    sink: &Sink,
    session: &str,
    source: &Value,
    deadline: Instant,
    counts: &mut Counts,
) -> Result<HashSet<String>, SinkError> {
    let mut keys = HashSet::new();
    let mut add = |packed: &Value| {
        if let Some(packed) = packed.as_str() {
            keys.extend(
                packed
                    .split(RECORD_SEPARATOR)
                    .filter(|k| !k.is_empty())
                    .map(str::to_string),
            );
        }
    };
    for list in ["open", "sealing"] {
        for bucket in source[list].as_array().into_iter().flatten() {
            add(&bucket["k"]);
        }
    }
    let tallies: Vec<String> = source["sealed"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|entry| entry["b"].as_i64())
        .map(|bucket| tally_id(session, bucket))
        .collect();
    if !tallies.is_empty() {
        let docs = sink
            .mget(
                &sink.indices.session_state(),
                &tallies,
                true,
                deadline,
                counts,
            )
            .await?;
        for doc in &docs {
            add(&doc["_source"]["k"]);
        }
    }
    Ok(keys)
}

/// A request event as stored, with what a session's fields take from it.
#[derive(Debug)]
struct StoredEvent {
    id: String,
    timestamp_ms: i64,
    user: Cow<'static, str>,
    path: Cow<'static, str>,
    module: Option<Cow<'static, str>>,
    site_token: Option<Cow<'static, str>>,
    asset_types: Vec<Cow<'static, str>>,
}

impl StoredEvent {
    fn view(&self) -> EventView<'_, '_> {
        EventView {
            id: Cow::Borrowed(&self.id),
            timestamp_ms: self.timestamp_ms,
            user: &self.user,
            path: &self.path,
            module: self.module.as_ref(),
            site_token: self.site_token.as_ref(),
            asset_types: &self.asset_types,
        }
    }

    fn from_hit(hit: &Value) -> Option<StoredEvent> {
        let source = &hit["_source"];
        let text = |key: &str| source[key].as_str().map(|s| Cow::Owned(s.to_string()));
        Some(StoredEvent {
            id: hit["_id"].as_str()?.to_string(),
            timestamp_ms: timefmt::parse_rfc3339(source["timestamp"].as_str()?)?,
            user: text("user")?,
            path: text("path")?,
            module: text("module"),
            site_token: text("site_token"),
            asset_types: source["asset_types"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|a| a.as_str().map(|s| Cow::Owned(s.to_string())))
                .collect(),
        })
    }
}

/// The session's stored events by key, after a refresh of the events'
/// indices, scrolled to the end.
async fn stored_events(
    sink: &Sink,
    session: &str,
    deadline: Instant,
    counts: &mut Counts,
) -> Result<BTreeMap<String, StoredEvent>, SinkError> {
    let pattern = sink.indices.request_events_pattern();
    sink.call_json(
        Method::POST,
        &format!("/{pattern}/_refresh?ignore_unavailable=true&allow_no_indices=true"),
        None,
        deadline,
        counts,
    )
    .await?;
    let query = json!({
        "size": 1000,
        "query": {"term": {"session_id": session}},
        "_source": ["timestamp", "user", "path", "module", "site_token", "asset_types"],
    });
    let mut page = sink
        .call_json(
            Method::POST,
            &format!("/{pattern}/_search?scroll=1m&ignore_unavailable=true&allow_no_indices=true"),
            Some(&query),
            deadline,
            counts,
        )
        .await?;
    let mut events = BTreeMap::new();
    loop {
        let hits = page["hits"]["hits"].as_array().cloned().unwrap_or_default();
        if hits.is_empty() {
            break;
        }
        for hit in &hits {
            counts.documents_read += 1;
            let event = StoredEvent::from_hit(hit).ok_or_else(|| SinkError::Protocol {
                call: format!("POST /{pattern}/_search"),
                message: format!("a stored event without its fields: {hit}"),
            })?;
            events.insert(packed_key(&event.id).into_owned(), event);
        }
        let Some(scroll) = page["_scroll_id"].as_str().map(str::to_string) else {
            break;
        };
        page = sink
            .call_json(
                Method::POST,
                "/_search/scroll",
                Some(&json!({"scroll": "1m", "scroll_id": scroll})),
                deadline,
                counts,
            )
            .await?;
    }
    if let Some(scroll) = page["_scroll_id"].as_str() {
        // Best effort: an open context expires on its own after a minute.
        let _ = sink
            .call_json(
                Method::DELETE,
                "/_search/scroll",
                Some(&json!({"scroll_id": scroll})),
                deadline,
                counts,
            )
            .await;
    }
    Ok(events)
}

/// A document id as a URL path segment.
fn urlencoding(id: &str) -> String {
    let mut out = String::with_capacity(id.len());
    for byte in id.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}
