//! From model events to bytes: log lines, CloudWatch Logs batches, the
//! delivery schedule (interleaving, redelivery, control messages) and the
//! Lambda event files (`{"awslogs":{"data":"<base64 of gzip>"}}`).
//!
//! Per-event work is plain string building: this crate builds unoptimised and
//! a benchmark corpus holds a million events.

use super::model::{Body, LogEvent, Model, Prefix, Val};
use super::{GenOptions, Progress};
use base64::Engine as _;
use flate2::Compression;
use flate2::write::GzEncoder;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::io::Write as _;
use std::sync::atomic::{AtomicUsize, Ordering};

pub(crate) const OWNER: &str = "123456789012";
pub(crate) const SUBSCRIPTION_FILTER: &str = "usage-analytics";
pub(crate) const CONTROL_TEXT: &str =
    "CWL CONTROL MESSAGE: Checking health of destination Firehose.";

// ---------------------------------------------------------------- time --

/// (year, month, day) of a day count since 1970-01-01 (proleptic Gregorian).
pub(crate) fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

fn push2(out: &mut String, v: u32) {
    out.push((b'0' + (v / 10) as u8) as char);
    out.push((b'0' + (v % 10) as u8) as char);
}

fn push3(out: &mut String, v: u32) {
    out.push((b'0' + (v / 100) as u8) as char);
    push2(out, v % 100);
}

/// Writes `YYYY-MM-DD<sep>HH:MM:SS`, then `frac_digits` (0..=3) digits of the
/// milliseconds after `frac_sep`, of the wall-clock time `ms` (epoch ms of the
/// local time, i.e. UTC plus the offset).
pub(crate) fn push_datetime(out: &mut String, ms: i64, sep: char, frac_digits: u8, frac_sep: char) {
    let days = ms.div_euclid(86_400_000);
    let in_day = ms.rem_euclid(86_400_000) as u32;
    let (y, m, d) = civil_from_days(days);
    let y = y as u32;
    push2(out, y / 100);
    push2(out, y % 100);
    out.push('-');
    push2(out, m);
    out.push('-');
    push2(out, d);
    out.push(sep);
    let secs = in_day / 1000;
    push2(out, secs / 3600);
    out.push(':');
    push2(out, secs / 60 % 60);
    out.push(':');
    push2(out, secs % 60);
    let millis = in_day % 1000;
    match frac_digits {
        0 => {}
        1 => {
            out.push(frac_sep);
            out.push((b'0' + (millis / 100) as u8) as char);
        }
        2 => {
            out.push(frac_sep);
            push2(out, millis / 10);
        }
        _ => {
            out.push(frac_sep);
            push3(out, millis);
        }
    }
}

/// Writes an offset as `+HH:MM` / `-HH:MM`.
pub(crate) fn push_offset(out: &mut String, offset_min: i32) {
    out.push(if offset_min < 0 { '-' } else { '+' });
    let a = offset_min.unsigned_abs();
    push2(out, a / 60);
    out.push(':');
    push2(out, a % 60);
}

/// `2026-11-02T14:03:11.482Z`.
pub(crate) fn fmt_utc_ms(ms: i64) -> String {
    let mut s = String::with_capacity(24);
    push_datetime(&mut s, ms, 'T', 3, '.');
    s.push('Z');
    s
}

// ---------------------------------------------------------------- JSON --
//
// The model's strings hold no control characters other than tab, newline
// and carriage return (the tests read every line back with serde_json, which
// rejects any other raw control character), so finding the characters to
// escape takes two `memchr` scans, which are fast even in this unoptimised
// crate.

/// The next byte of `b` at or after `from` that JSON escapes.
fn next_special(b: &[u8], from: usize) -> Option<usize> {
    let rest = &b[from..];
    let a = memchr::memchr3(b'"', b'\\', b'\n', rest);
    let c = memchr::memchr2(b'\t', b'\r', rest);
    match (a, c) {
        (Some(x), Some(y)) => Some(from + x.min(y)),
        (x, y) => x.or(y).map(|i| from + i),
    }
}

/// Appends `s` as the contents of a JSON string (without quotes); with
/// `twice`, as the contents of a JSON string holding that JSON string's
/// text (a value inside a log line inside the batch document).
fn escape(out: &mut String, s: &str, twice: bool) {
    let bytes = s.as_bytes();
    let mut start = 0;
    while let Some(i) = next_special(bytes, start) {
        out.push_str(&s[start..i]);
        let seq = match bytes[i] {
            b'"' => ["\\\"", "\\\\\\\""],
            b'\\' => ["\\\\", "\\\\\\\\"],
            b'\n' => ["\\n", "\\\\n"],
            b'\r' => ["\\r", "\\\\r"],
            _ => ["\\t", "\\\\t"],
        };
        out.push_str(seq[usize::from(twice)]);
        start = i + 1;
    }
    out.push_str(&s[start..]);
}

/// Writes JSON, either as is or escaped as the contents of a JSON string.
struct Json<'a> {
    out: &'a mut String,
    nested: bool,
}

impl Json<'_> {
    fn quote(&mut self) {
        self.out.push_str(if self.nested { "\\\"" } else { "\"" });
    }

    fn str(&mut self, s: &str) {
        self.quote();
        escape(self.out, s, self.nested);
        self.quote();
    }

    fn object(&mut self, fields: &[(&str, Val)], spaced: bool) {
        self.out.push('{');
        for (i, (key, val)) in fields.iter().enumerate() {
            if i > 0 {
                self.out.push_str(if spaced { ", " } else { "," });
            }
            self.str(key);
            self.out.push_str(if spaced { ": " } else { ":" });
            match val {
                Val::Str(s) => self.str(s),
                Val::Static(s) => self.str(s),
                Val::Lit(s) => escape(self.out, s, self.nested),
                Val::Int(n) => {
                    use std::fmt::Write as _;
                    let _ = write!(self.out, "{n}");
                }
                Val::Strs(items) => {
                    self.out.push('[');
                    for (j, item) in items.iter().enumerate() {
                        if j > 0 {
                            self.out.push_str(if spaced { ", " } else { "," });
                        }
                        self.str(item);
                    }
                    self.out.push(']');
                }
            }
        }
        self.out.push('}');
    }
}

/// Appends `s` as a JSON string.
pub(crate) fn push_json_str(out: &mut String, s: &str) {
    Json { out, nested: false }.str(s);
}

/// Appends a JSON object of the record's members, in order.
pub(crate) fn push_json_object(out: &mut String, fields: &[(&str, Val)], spaced: bool) {
    Json { out, nested: false }.object(fields, spaced);
}

/// Appends the `message` of a log event (prefix, body, trailer); with
/// `escaped`, as the contents of a JSON string.
pub(crate) fn push_message(out: &mut String, ev: &LogEvent, escaped: bool) {
    let msg = &ev.msg;
    let tab = if escaped { "\\t" } else { "\t" };
    match msg.prefix {
        Prefix::IsoTab(level) => {
            push_datetime(out, ev.ts_ms, 'T', 3, '.');
            out.push('Z');
            out.push_str(tab);
            out.push_str(level);
            out.push_str(tab);
        }
        Prefix::Bracket(level) => {
            out.push('[');
            push_datetime(out, ev.ts_ms, ' ', 3, ',');
            out.push_str("] ");
            out.push_str(level);
            out.push(' ');
        }
        Prefix::Level(level) => {
            out.push_str(level);
            out.push(' ');
        }
        Prefix::Bare => {}
        Prefix::BraceTag(worker) => {
            out.push_str("[worker-{");
            push2(out, u32::from(worker));
            out.push_str("}] INFO ");
        }
    }
    match &msg.body {
        Body::Text(text) if escaped => escape(out, text, false),
        Body::Text(text) => out.push_str(text),
        Body::Json { fields, spaced } => Json {
            out,
            nested: escaped,
        }
        .object(fields, *spaced),
    }
    if escaped {
        escape(out, msg.trailer, false);
    } else {
        out.push_str(msg.trailer);
    }
}

// ------------------------------------------------------------- batches --

/// The events cut into per-stream batches, with log event ids and the order
/// in which the files are delivered.
pub(crate) struct Batched {
    /// The log event id of each model event.
    pub ids: Vec<String>,
    /// Model event indices of each batch, in log event order.
    pub batches: Vec<Vec<u32>>,
    pub batch_stream: Vec<u16>,
    /// Files in delivery order.
    pub deliveries: Vec<Delivery>,
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct Delivery {
    pub at_ms: i64,
    pub payload: Payload,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Payload {
    /// A DATA_MESSAGE batch (the same batch may be delivered several times).
    Batch(usize),
    /// A CONTROL_MESSAGE with this timestamp.
    Control(i64),
}

/// Assigns ids, cuts batches and schedules deliveries.
pub(crate) fn batch(model: &Model, opts: &GenOptions) -> Batched {
    let mut rng = ChaCha8Rng::seed_from_u64(opts.seed ^ 0x6261_7463_6865_7321);
    let n_streams = model.streams.len();
    let mut per_stream: Vec<Vec<u32>> = vec![Vec::new(); n_streams];
    for (i, ev) in model.events.iter().enumerate() {
        per_stream[ev.stream as usize].push(i as u32);
    }

    // Log event ids: like CloudWatch's, 56 decimal digits that grow with the
    // timestamp; unique through a global counter.
    let mut ids = vec![String::new(); model.events.len()];
    let mut counter: u64 = 0;
    for (stream, list) in per_stream.iter_mut().enumerate() {
        list.sort_unstable_by_key(|&i| (model.events[i as usize].ts_ms, i));
        for &i in list.iter() {
            counter += 1;
            let ts = model.events[i as usize].ts_ms;
            let a: u64 = rng.random_range(0..100_000_000_000_000);
            let b: u64 = rng.random_range(0..100_000_000_000_000);
            let id = format!("3{ts:013}{:02}{counter:012}{a:014}{b:014}", stream % 100);
            debug_assert_eq!(id.len(), 56);
            ids[i as usize] = id;
        }
    }

    // Batches: consecutive events of one stream, mostly small, up to the
    // max; for long sessions, about a hundred each (give or take a tenth).
    let max = opts.max_batch_events.max(1);
    let long = super::LONG_SESSION_BATCH_EVENTS;
    let mut batches = Vec::new();
    let mut batch_stream = Vec::new();
    for (stream, list) in per_stream.iter().enumerate() {
        let mut rest = &list[..];
        while !rest.is_empty() {
            let size = if opts.session_events.is_some() {
                rng.random_range(long - long / 10..=long + long / 10)
            } else {
                let u: f64 = rng.random();
                1 + ((max - 1) as f64 * u * u) as usize
            }
            .min(rest.len());
            batches.push(rest[..size].to_vec());
            batch_stream.push(stream as u16);
            rest = &rest[size..];
        }
    }

    // Delivery: after the batch's last event, with a delay that is usually
    // seconds and sometimes hours; batches holding a `late` event (the start
    // of some sessions) arrive hours late, after later parts of the session.
    let mut deliveries = Vec::new();
    let mut redelivered = Vec::new();
    for (b, events) in batches.iter().enumerate() {
        let last = events
            .iter()
            .map(|&i| model.events[i as usize].ts_ms)
            .max()
            .unwrap_or(0);
        let late = events.iter().any(|&i| model.events[i as usize].late);
        let roll: f64 = rng.random();
        let delay = if late {
            rng.random_range(2 * 3_600_000..8 * 3_600_000)
        } else if roll < 0.70 {
            rng.random_range(500..5_000)
        } else if roll < 0.90 {
            rng.random_range(5_000..120_000)
        } else if roll < 0.98 {
            rng.random_range(120_000..1_800_000)
        } else {
            rng.random_range(3_600_000..6 * 3_600_000)
        };
        let at = last + delay;
        deliveries.push(Delivery {
            at_ms: at,
            payload: Payload::Batch(b),
        });
        if opts.redeliveries && rng.random_bool(0.05) {
            let times = if rng.random_bool(0.3) { 2 } else { 1 };
            redelivered.push((b, at, times));
        }
    }
    if opts.redeliveries && !batches.is_empty() {
        // At least one batch arrives three times, whatever the seed.
        if !redelivered.iter().any(|&(_, _, t)| t >= 2) {
            let b = batches.len() / 2;
            let at = deliveries[b].at_ms;
            redelivered.retain(|&(x, _, _)| x != b);
            redelivered.push((b, at, 2));
        }
    }
    for (b, at, times) in redelivered {
        let mut t = at;
        for _ in 0..times {
            t += rng.random_range(30_000..3 * 3_600_000);
            deliveries.push(Delivery {
                at_ms: t,
                payload: Payload::Batch(b),
            });
        }
    }
    if opts.control_messages && !model.events.is_empty() {
        let first = model.events.iter().map(|e| e.ts_ms).min().unwrap_or(0);
        let last = model.events.iter().map(|e| e.ts_ms).max().unwrap_or(0);
        // One as the subscription is created, then about one a day.
        deliveries.push(Delivery {
            at_ms: first - 60_000,
            payload: Payload::Control(first - 60_000),
        });
        for _ in 0..opts.days.max(1) {
            let at = rng.random_range(first..=last);
            deliveries.push(Delivery {
                at_ms: at,
                payload: Payload::Control(at),
            });
        }
    }
    // Stable: equal times keep their (deterministic) creation order.
    deliveries.sort_by_key(|d| d.at_ms);

    Batched {
        ids,
        batches,
        batch_stream,
        deliveries,
    }
}

// ------------------------------------------------------------ encoding --

/// Reused buffers for encoding batches.
struct Encoder {
    doc: String,
    gz: Vec<u8>,
}

impl Encoder {
    fn new() -> Self {
        Encoder {
            doc: String::new(),
            gz: Vec::new(),
        }
    }

    /// gzip + base64 + the `awslogs` wrapper around `self.doc`.
    fn wrap(&mut self) -> Vec<u8> {
        let mut buf = std::mem::take(&mut self.gz);
        buf.clear();
        let mut gz = GzEncoder::new(buf, Compression::fast());
        gz.write_all(self.doc.as_bytes())
            .expect("writing to memory");
        self.gz = gz.finish().expect("writing to memory");
        let mut out = String::with_capacity(self.gz.len() * 4 / 3 + 40);
        out.push_str("{\"awslogs\":{\"data\":\"");
        base64::engine::general_purpose::STANDARD.encode_string(&self.gz, &mut out);
        out.push_str("\"}}");
        out.into_bytes()
    }

    fn data(&mut self, model: &Model, ids: &[String], stream: u16, events: &[u32]) -> Vec<u8> {
        let doc = &mut self.doc;
        doc.clear();
        doc.push_str("{\"messageType\":\"DATA_MESSAGE\",\"owner\":\"");
        doc.push_str(OWNER);
        doc.push_str("\",\"logGroup\":");
        push_json_str(doc, super::model::LOG_GROUP);
        doc.push_str(",\"logStream\":");
        push_json_str(doc, &model.streams[stream as usize]);
        doc.push_str(",\"subscriptionFilters\":[\"");
        doc.push_str(SUBSCRIPTION_FILTER);
        doc.push_str("\"],\"logEvents\":[");
        for (k, &i) in events.iter().enumerate() {
            let ev = &model.events[i as usize];
            if k > 0 {
                doc.push(',');
            }
            doc.push_str("{\"id\":\"");
            doc.push_str(&ids[i as usize]);
            doc.push_str("\",\"timestamp\":");
            {
                use std::fmt::Write as _;
                let _ = write!(doc, "{}", ev.ts_ms);
            }
            doc.push_str(",\"message\":\"");
            push_message(doc, ev, true);
            doc.push_str("\"}");
        }
        doc.push_str("]}");
        self.wrap()
    }

    fn control(&mut self, ts_ms: i64) -> Vec<u8> {
        self.doc.clear();
        self.doc.push_str(
            "{\"messageType\":\"CONTROL_MESSAGE\",\"owner\":\"CloudwatchLogs\",\"logGroup\":\"\",\
             \"logStream\":\"\",\"subscriptionFilters\":[],\"logEvents\":[{\"id\":\"\",\"timestamp\":",
        );
        self.doc.push_str(&ts_ms.to_string());
        self.doc.push_str(",\"message\":");
        push_json_str(&mut self.doc, CONTROL_TEXT);
        self.doc.push_str("}]}");
        self.wrap()
    }
}

/// Encodes every batch once (in parallel), then lays out the files in
/// delivery order; a redelivered batch is the same bytes under a new name.
pub(crate) fn encode(
    model: &Model,
    batched: &Batched,
    progress: &mut dyn FnMut(Progress),
) -> Vec<(String, Vec<u8>)> {
    let n = batched.batches.len();
    let next = AtomicUsize::new(0);
    let done = AtomicUsize::new(0);
    let workers = std::thread::available_parallelism()
        .map_or(1, |p| p.get())
        .clamp(1, 8);
    let work = |report: &mut dyn FnMut(usize)| {
        let mut enc = Encoder::new();
        let mut out = Vec::new();
        loop {
            let b = next.fetch_add(1, Ordering::Relaxed);
            if b >= n {
                break;
            }
            let bytes = enc.data(
                model,
                &batched.ids,
                batched.batch_stream[b],
                &batched.batches[b],
            );
            out.push((b, bytes));
            let d = done.fetch_add(1, Ordering::Relaxed) + 1;
            report(d);
        }
        out
    };
    let mut encoded: Vec<Option<Vec<u8>>> = vec![None; n];
    std::thread::scope(|scope| {
        let helpers: Vec<_> = (1..workers)
            .map(|_| scope.spawn(|| work(&mut |_| {})))
            .collect();
        let mut last = 0;
        let mine = work(&mut |d| {
            if d - last >= 64 || d == n {
                last = d;
                progress(Progress {
                    stage: "encoding batches",
                    done: d as u64,
                    total: n as u64,
                });
            }
        });
        for (b, bytes) in mine {
            encoded[b] = Some(bytes);
        }
        for h in helpers {
            for (b, bytes) in h.join().expect("encoder thread") {
                encoded[b] = Some(bytes);
            }
        }
    });
    progress(Progress {
        stage: "encoding batches",
        done: n as u64,
        total: n as u64,
    });

    let width = batched.deliveries.len().to_string().len().max(6);
    let mut remaining = vec![0u32; n];
    for d in &batched.deliveries {
        if let Payload::Batch(b) = d.payload {
            remaining[b] += 1;
        }
    }
    let mut enc = Encoder::new();
    batched
        .deliveries
        .iter()
        .enumerate()
        .map(|(k, d)| {
            let bytes = match d.payload {
                Payload::Batch(b) => {
                    remaining[b] -= 1;
                    let bytes = if remaining[b] == 0 {
                        encoded[b].take()
                    } else {
                        encoded[b].clone()
                    };
                    bytes.expect("every batch is encoded")
                }
                Payload::Control(ts) => enc.control(ts),
            };
            (format!("{:0width$}.json", k + 1), bytes)
        })
        .collect()
}
