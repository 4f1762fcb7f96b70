//! The processor's output does not depend on how a corpus's JSON is written.
//!
//! Other writers format CloudWatch Logs documents and log lines differently
//! from gen-logs: Python's `json.dumps` puts a space after `,` and `:` and
//! writes every non-ASCII character as a `\u` escape, some libraries escape
//! `/`, some pretty-print, and gzip levels differ. The processor reads the
//! usual shape by hand and leaves the rest to serde_json, so each rendering
//! below goes through different paths. Every file of the default corpus,
//! rendered again, must give the same counts, request-event bulk bodies and
//! session summaries, byte for byte.

use super::tests::default_corpus;
use base64::Engine as _;
use flate2::{Compression, write::GzEncoder};
use processor::batch::{process_read_batch, summarize};
use processor::bulk::{DailyIndex, event_bodies};
use processor::config::Rules;
use processor::envelope::{RawLogsEvent, inflate, parse_batch_reading};
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
        name: "pretty-printed, lines with `\\/` and `\\u` escapes, fastest gzip",
        document: |v| serde_json::to_string_pretty(v).expect("JSON"),
        line: |v| foreign(v, true),
        gzip: Compression::fast(),
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

/// A Lambda event file rendered again, and its batch document's text.
fn render(file: &[u8], rendering: &Rendering) -> (Vec<u8>, String) {
    let event: Value = serde_json::from_slice(file).expect("a Lambda event");
    let gz = base64::engine::general_purpose::STANDARD
        .decode(event["awslogs"]["data"].as_str().expect("awslogs.data"))
        .expect("base64");
    let mut document: Value =
        serde_json::from_reader(flate2::read::GzDecoder::new(&gz[..])).expect("gzip of JSON");
    if let Some(events) = document["logEvents"].as_array_mut() {
        for log_event in events {
            let message = log_event["message"].as_str().expect("a message");
            log_event["message"] = Value::String(rewrite_line(message, rendering.line));
        }
    }
    let text = (rendering.document)(&document);
    let mut gzip = GzEncoder::new(Vec::new(), rendering.gzip);
    gzip.write_all(text.as_bytes()).expect("gzip");
    let data = base64::engine::general_purpose::STANDARD.encode(gzip.finish().expect("gzip"));
    let file = serde_json::to_vec(&serde_json::json!({"awslogs": {"data": data}})).expect("JSON");
    (file, text)
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
    let files = &default_corpus().files;
    let (mut output, mut unicode_escapes, mut slash_escapes) = (0, 0, 0);
    for (name, file) in files {
        let expected = derived(file, &rules);
        for rendering in &RENDERINGS {
            let (again, text) = render(file, rendering);
            // A line's `\u00e9` or `\/`, escaped once more in the document.
            unicode_escapes += usize::from(text.contains(r"\\u"));
            slash_escapes += usize::from(text.contains(r"\\/"));
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
    // Not a trivial comparison: much output, and the escapes were written.
    assert!(output > 1_000_000, "{output} bytes of output");
    assert!(
        unicode_escapes > 100,
        "{unicode_escapes} documents with `\\u`"
    );
    assert!(slash_escapes > 100, "{slash_escapes} documents with `\\/`");
}
