//! `_bulk` bodies: request events as `create` with the log event id, in the
//! daily index of the event's own UTC day; documents serialised straight to
//! bytes on the hot path.

use crate::batch::KeptEvent;
use crate::docid::document_id;
use crate::record::RequestEvent;
use crate::timefmt;
use std::ops::Range;

/// A bulk body and where each item's two lines sit in it, so that a retry
/// can resend only the items that failed.
#[derive(Debug, Default)]
pub struct BulkBody {
    pub bytes: Vec<u8>,
    /// One per item: its byte range in `bytes`, and the caller's reference.
    pub items: Vec<(Range<usize>, usize)>,
}

impl BulkBody {
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// A new body with only the given items (by position in `items`).
    pub fn subset(&self, positions: &[usize]) -> BulkBody {
        let mut out = BulkBody::default();
        for &p in positions {
            let (range, reference) = &self.items[p];
            let start = out.bytes.len();
            out.bytes.extend_from_slice(&self.bytes[range.clone()]);
            out.items.push((start..out.bytes.len(), *reference));
        }
        out
    }
}

/// Appends a JSON array of string literals.
#[inline]
pub fn write_str_array<'s>(out: &mut Vec<u8>, values: impl Iterator<Item = &'s str>) {
    out.push(b'[');
    for (i, value) in values.enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_str(out, value);
    }
    out.push(b']');
}

/// Appends a JSON string literal. Most values need no escaping and are
/// copied as they are; that path is inlined (eight calls per event cost
/// more than the copies), the escaping one is not.
#[inline(always)]
pub fn write_str(out: &mut Vec<u8>, value: &str) {
    if !crate::fastbatch::has_special(value.as_bytes()) {
        out.reserve(value.len() + 2);
        out.push(b'"');
        out.extend_from_slice(value.as_bytes());
        out.push(b'"');
    } else {
        write_escaped(out, value);
    }
}

#[inline(never)]
fn write_escaped(out: &mut Vec<u8>, value: &str) {
    serde_json::to_writer(&mut *out, value).expect("writing to a Vec cannot fail");
}

fn write_opt_str(out: &mut Vec<u8>, value: Option<&str>) {
    match value {
        Some(v) => write_str(out, v),
        None => out.extend_from_slice(b"null"),
    }
}

fn write_opt_int(out: &mut Vec<u8>, value: Option<i64>) {
    match value {
        Some(v) => out.extend_from_slice(itoa::Buffer::new().format(v).as_bytes()),
        None => out.extend_from_slice(b"null"),
    }
}

/// The `request-events-*` document of one event.
pub fn write_event_document(
    out: &mut Vec<u8>,
    event: &RequestEvent<'_>,
    log_group: &str,
    log_stream: &str,
) {
    write_event_fields(out, event);
    out.extend_from_slice(&document_tail(log_group, log_stream));
}

/// What ends every document of a batch: `,"log_group":…,"log_stream":…}`,
/// serialised once per batch.
fn document_tail(log_group: &str, log_stream: &str) -> Vec<u8> {
    let mut tail = Vec::with_capacity(log_group.len() + log_stream.len() + 32);
    tail.extend_from_slice(b",\"log_group\":");
    write_str(&mut tail, log_group);
    tail.extend_from_slice(b",\"log_stream\":");
    write_str(&mut tail, log_stream);
    tail.push(b'}');
    tail
}

/// A document up to (without) its tail.
fn write_event_fields(out: &mut Vec<u8>, event: &RequestEvent<'_>) {
    out.extend_from_slice(b"{\"timestamp\":\"");
    timefmt::write_timestamp(event.timestamp_ms, out);
    out.extend_from_slice(b"\",\"session_id\":");
    write_str(out, &event.session_id);
    out.extend_from_slice(b",\"user\":");
    write_str(out, &event.user);
    out.extend_from_slice(b",\"path\":");
    write_str(out, &event.path);
    out.extend_from_slice(b",\"method\":");
    write_opt_str(out, event.method.as_deref());
    out.extend_from_slice(b",\"status_code\":");
    write_opt_int(out, event.status_code);
    out.extend_from_slice(b",\"response_time\":");
    write_opt_int(out, event.response_time);
    out.extend_from_slice(b",\"module\":");
    write_opt_str(out, event.module.as_deref());
    out.extend_from_slice(b",\"site_token\":");
    write_opt_str(out, event.site_token.as_deref());
    out.extend_from_slice(b",\"asset_types\":[");
    for (i, asset) in event.asset_types.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_str(out, asset);
    }
    out.push(b']');
}

/// Names daily indices, remembering the last day (batches are mostly one day).
#[derive(Debug)]
pub struct DailyIndex {
    prefix: String,
    day: i64,
    name: String,
}

impl DailyIndex {
    pub fn new(prefix: &str) -> Self {
        DailyIndex {
            prefix: prefix.to_string(),
            day: i64::MIN,
            name: String::new(),
        }
    }

    pub fn name_for(&mut self, timestamp_ms: i64) -> &str {
        let day = timestamp_ms.div_euclid(86_400_000);
        if day != self.day {
            self.day = day;
            self.name = format!("{}{}", self.prefix, timefmt::index_day(timestamp_ms));
        }
        &self.name
    }

    /// `{"create":{"_index":"<daily index>","_id":`, serialised once per day.
    fn create_action(&mut self, timestamp_ms: i64, action: &mut (i64, Vec<u8>)) {
        let day = timestamp_ms.div_euclid(86_400_000);
        if action.0 != day || action.1.is_empty() {
            action.0 = day;
            action.1.clear();
            action.1.extend_from_slice(b"{\"create\":{\"_index\":");
            write_str(&mut action.1, self.name_for(timestamp_ms));
            action.1.extend_from_slice(b",\"_id\":");
        }
    }
}

/// `create` actions for events, split into bodies of at most about
/// `max_bytes` each. Item references are positions in `events`.
pub fn event_bodies(
    events: &[KeptEvent<'_>],
    log_group: &str,
    log_stream: &str,
    daily: &mut DailyIndex,
    max_bytes: usize,
) -> Vec<BulkBody> {
    event_bodies_where(events, |_| true, log_group, log_stream, daily, max_bytes)
}

/// [`event_bodies`] of the events whose position `wanted` accepts.
pub fn event_bodies_where(
    events: &[KeptEvent<'_>],
    wanted: impl Fn(usize) -> bool,
    log_group: &str,
    log_stream: &str,
    daily: &mut DailyIndex,
    max_bytes: usize,
) -> Vec<BulkBody> {
    let mut bodies = Vec::new();
    let mut body = BulkBody {
        // About 600 bytes per event: one allocation per body.
        bytes: Vec::with_capacity(max_bytes.min(events.len() * 768 + 64)),
        items: Vec::new(),
    };
    // The pieces that repeat from event to event are serialised once.
    let tail = document_tail(log_group, log_stream);
    let mut action = (i64::MIN, Vec::new());
    for (position, kept) in events.iter().enumerate() {
        if !wanted(position) {
            continue;
        }
        if !body.is_empty() && body.bytes.len() >= max_bytes {
            bodies.push(std::mem::take(&mut body));
        }
        let start = body.bytes.len();
        daily.create_action(kept.event.timestamp_ms, &mut action);
        let out = &mut body.bytes;
        out.extend_from_slice(&action.1);
        write_str(out, &document_id(kept.id));
        out.extend_from_slice(b"}}\n");
        write_event_fields(out, &kept.event);
        out.extend_from_slice(&tail);
        out.push(b'\n');
        body.items.push((start..body.bytes.len(), position));
    }
    if !body.is_empty() {
        bodies.push(body);
    }
    bodies
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Rules;
    use crate::envelope::Message;
    use crate::record::parse_record;

    #[test]
    fn event_document_has_every_field_and_valid_json() {
        let line = r#"INFO {"type":"page-beacon","sessionId":"s\"1","user":"U","url":"/api/sites/ST-1/a?assetType=Pump","module":"Work Orders","timestamp":"2026-11-02T23:59:59.999-01:00","status":"200","responseTimeMs":3.2}"#;
        let event = parse_record(line, 0, &Rules::builtin()).unwrap();
        let mut out = Vec::new();
        write_event_document(&mut out, &event, "/ironman/app", "ecs/web/1");
        let doc: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(
            doc,
            serde_json::json!({
                "timestamp": "2026-11-03T00:59:59.999Z", "session_id": "s\"1", "user": "u",
                "path": "/api/sites/ST-1/a", "method": null, "status_code": 200, "response_time": 3,
                "module": "Work Orders", "site_token": "ST-1", "asset_types": ["pump"],
                "log_group": "/ironman/app", "log_stream": "ecs/web/1"
            })
        );
    }

    #[test]
    fn strings_are_escaped_only_when_needed() {
        for value in [
            "plain",
            "",
            "quote \" here",
            "back\\slash",
            "tab\tnew\nline",
            "\u{1}",
            "été ✓",
        ] {
            let mut out = Vec::new();
            write_str(&mut out, value);
            assert_eq!(out, serde_json::to_vec(value).unwrap(), "{value:?}");
        }
    }

    #[test]
    fn bodies_split_and_subset() {
        let rules = Rules::builtin();
        let lines: Vec<String> = (0..10)
            .map(|i| {
                format!(
                    r#"{{"type":"request","sessionId":"s","user":"u","url":"/a","timestamp":{}}}"#,
                    i * 43_200_000
                )
            })
            .collect();
        let messages: Vec<Message> = lines
            .iter()
            .map(|l| Message::Text(l.as_str().into()))
            .collect();
        let events: Vec<KeptEvent> = lines
            .iter()
            .zip(&messages)
            .enumerate()
            .map(|(i, (l, message))| KeptEvent {
                id: ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"][i],
                log_timestamp_ms: 0,
                message,
                event: parse_record(l, 0, &rules).unwrap(),
            })
            .collect();
        let mut daily = DailyIndex::new("request-events-");
        let bodies = event_bodies(&events, "g", "s", &mut daily, 600);
        assert!(bodies.len() > 1);
        let total: usize = bodies.iter().map(|b| b.items.len()).sum();
        assert_eq!(total, 10);
        let first = &bodies[0];
        let text = String::from_utf8(first.bytes.clone()).unwrap();
        assert!(text.starts_with(r#"{"create":{"_index":"request-events-1970.01.01","_id":"0"}}"#));
        let retry = first.subset(&[1]);
        let retry_text = String::from_utf8(retry.bytes).unwrap();
        assert!(
            retry_text
                .starts_with(r#"{"create":{"_index":"request-events-1970.01.01","_id":"1"}}"#)
        );
        assert_eq!(retry_text.lines().count(), 2);
        assert_eq!(retry.items[0].1, 1);
        // Day 2 of the 43.2 million ms steps.
        assert!(
            String::from_utf8(bodies.last().unwrap().bytes.clone())
                .unwrap()
                .contains("request-events-1970.01.05")
        );
    }
}
