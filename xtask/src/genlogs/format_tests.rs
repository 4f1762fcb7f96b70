//! The processor's output does not depend on how a corpus's JSON is written.
//!
//! Other writers format CloudWatch Logs documents and log lines differently
//! from gen-logs: Python's `json.dumps` puts a space after `,` and `:` and
//! writes every non-ASCII character as a `\u` escape, some libraries escape
//! `/`, some pretty-print, and gzip levels differ. The processor reads the
//! usual shape by hand and leaves the rest to serde_json, so each rendering
//! below goes through different paths. Every file of the default corpus
//! (and one batch with characters beyond the Basic Multilingual Plane),
//! rendered again, must give the same counts, request-event bulk bodies and
//! session summaries, byte for byte. The renderings write object keys in
//! sorted order (serde_json's map): a reader must not depend on key order
//! either.

use super::tests::default_corpus;
use base64::Engine as _;
use flate2::{Compression, write::GzEncoder};
use processor::batch::{process_read_batch, summarize};
use processor::config::Rules;
use processor::decode::{RawLogsEvent, inflate, parse_batch_reading};
use processor::output::{DailyIndex, event_bodies};
use processor::sink::DEFAULT_MAX_BULK_BYTES;
use serde::Serialize as _;
use serde_json::Value;
use std::io::{self, Write as _};

/// Everything the processor derives from one Lambda event file: its counts,
/// the bulk bodies of its request events and its session summaries (in
/// session id order).
fn derived(file: &[u8], rules: &Rules) -> Vec<u8> {
    let raw = RawLogsEvent::from_slice(file).expect("a Lambda event");
    let json = inflate(&raw.awslogs.data).expect("awslogs.data");
    let (batch, lines) = parse_batch_reading(&json, rules).expect("a CloudWatch Logs document");
    let processed = process_read_batch(&batch, lines, rules);
    let mut out = serde_json::to_vec(&processed.counts).expect("counts");
    let mut daily = DailyIndex::new("request-events-");
    for body in event_bodies(
        &processed.events,
        processed.log_group,
        processed.log_stream,
        &mut daily,
        DEFAULT_MAX_BULK_BYTES,
    ) {
        out.extend_from_slice(&body.bytes);
    }
    let sessions = summarize(&processed.events);
    let mut ids: Vec<_> = sessions.keys().collect();
    ids.sort();
    for id in ids {
        sessions[id].write_document(&mut out, 0);
    }
    out
}

/// JSON as Python's `json.dumps` writes it by default: `", "` and `": "`
/// between items, every non-ASCII character as a `\u` escape (a surrogate
/// pair beyond the Basic Multilingual Plane); with `escape_slash`, `/` as
/// `\/` too.
struct Foreign {
    escape_slash: bool,
}

impl serde_json::ser::Formatter for Foreign {
    fn begin_array_value<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> io::Result<()> {
        if first { Ok(()) } else { w.write_all(b", ") }
    }

    fn begin_object_key<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> io::Result<()> {
        if first { Ok(()) } else { w.write_all(b", ") }
    }

    fn begin_object_value<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        w.write_all(b": ")
    }

    fn write_string_fragment<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        for c in fragment.chars() {
            if c == '/' && self.escape_slash {
                w.write_all(b"\\/")?;
            } else if c.is_ascii() {
                w.write_all(&[c as u8])?;
            } else {
                for unit in c.encode_utf16(&mut [0; 2]) {
                    write!(w, "\\u{unit:04x}")?;
                }
            }
        }
        Ok(())
    }
}

fn foreign(value: &Value, escape_slash: bool) -> String {
    let mut out = Vec::new();
    value
        .serialize(&mut serde_json::Serializer::with_formatter(
            &mut out,
            Foreign { escape_slash },
        ))
        .expect("serialising JSON");
    String::from_utf8(out).expect("ASCII")
}

/// How one rendering writes the batch document and each line's object.
struct Rendering {
    name: &'static str,
    document: fn(&Value) -> String,
    line: fn(&Value) -> String,
    gzip: Compression,
}

const RENDERINGS: [Rendering; 2] = [
    Rendering {
        name: "as Python's json.dumps and gzip.compress write it",
        document: |v| foreign(v, false),
        line: |v| foreign(v, false),
        gzip: Compression::best(),
    },
    Rendering {
        name: "pretty-printed, lines with `\\/` and `\\u` escapes, zlib's default gzip level",
        document: |v| serde_json::to_string_pretty(v).expect("JSON"),
        line: |v| foreign(v, true),
        gzip: Compression::new(6),
    },
];

/// The line of a message with its JSON object written again (prefix kept);
/// a line whose object serde_json does not read is left as it is.
fn rewrite_line(message: &str, line: fn(&Value) -> String) -> String {
    let Some(brace) = message.find('{') else {
        return message.to_string();
    };
    match serde_json::from_str::<Value>(&message[brace..]) {
        Ok(object @ Value::Object(_)) => format!("{}{}", &message[..brace], line(&object)),
        _ => message.to_string(),
    }
}

/// The batch document's text of a Lambda event file.
fn document_text(file: &[u8]) -> String {
    let event: Value = serde_json::from_slice(file).expect("a Lambda event");
    let gz = base64::engine::general_purpose::STANDARD
        .decode(event["awslogs"]["data"].as_str().expect("awslogs.data"))
        .expect("base64");
    let mut text = String::new();
    io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&gz[..]), &mut text)
        .expect("gzip of UTF-8");
    text
}

/// A Lambda event file of a batch document's text.
fn lambda_event(text: &str, level: Compression) -> Vec<u8> {
    let mut gzip = GzEncoder::new(Vec::new(), level);
    gzip.write_all(text.as_bytes()).expect("gzip");
    let data = base64::engine::general_purpose::STANDARD.encode(gzip.finish().expect("gzip"));
    serde_json::to_vec(&serde_json::json!({"awslogs": {"data": data}})).expect("JSON")
}

/// A batch document rendered again: its file and its text.
fn render(original: &str, rendering: &Rendering) -> (Vec<u8>, String) {
    let mut document: Value = serde_json::from_str(original).expect("a batch document");
    if let Some(events) = document["logEvents"].as_array_mut() {
        for log_event in events {
            let message = log_event["message"].as_str().expect("a message");
            log_event["message"] = Value::String(rewrite_line(message, rendering.line));
        }
    }
    let text = (rendering.document)(&document);
    (lambda_event(&text, rendering.gzip), text)
}

/// A batch whose lines hold characters beyond the Basic Multilingual Plane
/// (written as surrogate pairs of `\u` escapes), which the generator's
/// vocabulary has none of.
fn astral_batch() -> Vec<u8> {
    let line = serde_json::json!({
        "type": "page-beacon",
        "sessionId": "s-\u{1F600}",
        "user": " Zo\u{eb}\u{1F600}@Example.com",
        "url": "/app/sites/ST-\u{1F680}/x?assetType=P%C3%BCmp,\u{1F527}",
        "module": "T\u{fc}r \u{1F6AA}",
        "assetTypes": ["\u{1F527} Tools"],
    });
    let document = serde_json::json!({
        "messageType": "DATA_MESSAGE",
        "owner": "123456789012",
        "logGroup": "/ironman/app",
        "logStream": "ecs/web/astral",
        "subscriptionFilters": ["usage-analytics"],
        "logEvents": [
            {"id": "1", "timestamp": 1_793_577_642_240_i64, "message": format!("INFO {line}")},
            {"id": "2", "timestamp": 1_793_577_643_240_i64, "message": format!("\u{1F600}\tINFO\t{line}")},
        ],
    });
    lambda_event(&document.to_string(), Compression::fast())
}

fn first_difference(a: &[u8], b: &[u8]) -> Option<usize> {
    let common = a.iter().zip(b).take_while(|(x, y)| x == y).count();
    (common < a.len().max(b.len())).then_some(common)
}

/// Up to 120 bytes of `bytes` from a little before `at`.
fn around(bytes: &[u8], at: usize) -> String {
    let start = at.saturating_sub(40).min(bytes.len());
    String::from_utf8_lossy(&bytes[start..(start + 120).min(bytes.len())]).into_owned()
}

#[test]
fn processed_documents_do_not_depend_on_how_the_json_is_written() {
    let rules = Rules::builtin();
    let mut files = default_corpus().files.clone();
    files.push(("astral.json".to_string(), astral_batch()));
    let mut output = 0;
    // Per rendering: escapes it wrote beyond those of the original.
    let (mut unicode_added, mut slash_added, mut surrogates) = ([0i64; 2], [0i64; 2], [0; 2]);
    for (name, file) in &files {
        let expected = derived(file, &rules);
        let original = document_text(file);
        for (r, rendering) in RENDERINGS.iter().enumerate() {
            let (again, text) = render(&original, rendering);
            // A line's `\u00e9` or `\/`, escaped once more in the document.
            let added = |pattern: &str| {
                text.matches(pattern).count() as i64 - original.matches(pattern).count() as i64
            };
            unicode_added[r] += added(r"\\u");
            slash_added[r] += added(r"\\/");
            surrogates[r] += text.matches(r"\\ud83d").count();
            let got = derived(&again, &rules);
            if let Some(at) = first_difference(&expected, &got) {
                panic!(
                    "{name} {}: the processor's output differs from byte {at}\nexpected: …{}\ngot:      …{}",
                    rendering.name,
                    around(&expected, at),
                    around(&got, at)
                );
            }
        }
        output += expected.len();
    }
    // Not a trivial comparison: much output, and each rendering wrote its
    // escapes (the Python one no `\/`).
    assert!(output > 1_000_000, "{output} bytes of output");
    assert!(
        unicode_added.iter().all(|&n| n > 100),
        "`\\u` escapes added: {unicode_added:?}"
    );
    assert!(
        slash_added[0] <= 0 && slash_added[1] > 100,
        "`\\/` escapes added: {slash_added:?}"
    );
    assert!(
        surrogates.iter().all(|&n| n > 0),
        "surrogate pairs: {surrogates:?}"
    );
    // The astral batch keeps its events (its two lines are one session).
    let astral = derived(&astral_batch(), &rules);
    assert!(
        String::from_utf8_lossy(&astral).contains("zo\u{eb}\u{1F600}@example.com"),
        "{}",
        String::from_utf8_lossy(&astral)
    );
}
