//! The fast readers checked against the general path, and a generator of
//! the inputs that tell them apart.
//!
//! `fastbatch` (the batch document) and `fastrecord` (a line's object, as
//! text or still escaped in the document) accept a subset of what
//! serde_json accepts and must give the same result for it; anything else
//! they leave to the general path. The checks here run both on one input
//! and return `Err` with what differs: a batch that is not serde_json's, a
//! record or skip reason that is not the general path's, an error class
//! that differs. A panic in a reader propagates.
//!
//! Used by the property tests (`differential_tests.rs`, in every `cargo
//! test`) and by the fuzz targets of `processor/fuzz/` (`cargo xtask
//! fuzz`), which enable the `differential` feature; the files the fuzzer
//! found are replayed by the tests from `processor/fuzz/regressions/`.

use crate::batch::{KeptEvent, process_batch, process_read_batch};
use crate::config::{Field, PipelineConfig, Rules};
use crate::counts::{Counts, Reason};
use crate::decode::{self, DecodeError, LogBatch, ReadLines};
use crate::line::fastrecord::{self, Escaped, LineKind};
use crate::line::{self, RequestEvent, from_raw, parse_object_slow};
use crate::rules::AgentMemo;
use crate::timefmt::{MAX_MS, MIN_MS};
use std::collections::HashSet;
use std::io::Read;
use std::sync::OnceLock;

/// The built-in rules (`infra/pipeline.yaml`), compiled once.
pub fn rules() -> &'static Rules {
    static RULES: OnceLock<Rules> = OnceLock::new();
    RULES.get_or_init(Rules::builtin)
}

/// Which fast paths an input took (for the tests' coverage checks).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Taken {
    /// `fastrecord::parse` read the line's object.
    pub line_fast: bool,
    /// `fastrecord::parse_escaped` read an escaped form of the line.
    pub escaped_fast: bool,
    /// `fastbatch` read the document.
    pub batch_fast: bool,
    /// Lines that `fastbatch` read in place in the document.
    pub lines_in_place: usize,
    /// The general path accepted the document.
    pub batch_valid: bool,
    /// Events kept.
    pub kept: usize,
}

impl Taken {
    fn add(&mut self, other: Taken) {
        self.line_fast |= other.line_fast;
        self.escaped_fast |= other.escaped_fast;
        self.batch_fast |= other.batch_fast;
        self.lines_in_place += other.lines_in_place;
        self.batch_valid |= other.batch_valid;
        self.kept += other.kept;
    }
}

/// The general path for one line: serde_json with the record's visitor
/// from the first `{`, then the contract's checks.
pub(crate) fn general_record<'a>(
    line: &'a str,
    fallback_ms: i64,
    rules: &Rules,
) -> Result<RequestEvent<'a>, Reason> {
    let start = memchr::memchr(b'{', line.as_bytes()).ok_or(Reason::Unparsed)?;
    let mut raw = parse_object_slow(&line[start..], rules).ok_or(Reason::Unparsed)?;
    from_raw(&mut raw, fallback_ms, rules, &mut AgentMemo::default())
}

/// A line's object read by `fastrecord::parse` and by serde_json, and the
/// line's record through `line::parse_record` and the general path.
pub fn check_line_text(line: &str, fallback_ms: i64, rules: &Rules) -> Result<Taken, String> {
    let mut taken = Taken::default();
    if let Some(start) = line.find('{') {
        let json = &line[start..];
        if let Some(fast) = fastrecord::parse(json, rules) {
            taken.line_fast = true;
            match parse_object_slow(json, rules) {
                // Debug output tells floats apart bit for bit (and -0.0 from 0.0).
                Some(slow) if format!("{fast:?}") == format!("{slow:?}") => {}
                Some(slow) => {
                    return Err(format!(
                        "fastrecord::parse read {fast:?}, serde_json {slow:?}"
                    ));
                }
                None => {
                    return Err(format!(
                        "fastrecord::parse read {fast:?}, serde_json refused the object"
                    ));
                }
            }
        }
    }
    let fast = line::parse_record(line, fallback_ms, rules);
    let general = general_record(line, fallback_ms, rules);
    if fast != general {
        return Err(format!(
            "parse_record gave {fast:?}, the general path {general:?}"
        ));
    }
    Ok(taken)
}

/// `escaped` (the content of a valid JSON string literal that holds
/// `line`) read in place as a message left escaped is: the line's record,
/// and `fastrecord::parse_escaped` gives serde_json's object or leaves it.
pub fn check_line_escaped(
    line: &str,
    escaped: &str,
    fallback_ms: i64,
    rules: &Rules,
) -> Result<Taken, String> {
    let mut taken = Taken::default();
    let unescaped = crate::jsonstr::unescape_content(escaped);
    if unescaped != line {
        return Err(format!(
            "unescape_content({escaped:?}) gave {unescaped:?}, not the line"
        ));
    }
    let general = general_record(line, fallback_ms, rules);
    let in_place = line::parse_escaped_record(escaped, fallback_ms, rules);
    if in_place != general {
        return Err(format!(
            "parse_escaped_record({escaped:?}) gave {in_place:?}, the general path {general:?}"
        ));
    }
    match fastrecord::parse_escaped(escaped, rules) {
        Escaped::Record(fast) => {
            taken.escaped_fast = true;
            let slow = line
                .find('{')
                .and_then(|start| parse_object_slow(&line[start..], rules));
            match slow {
                Some(slow) if format!("{fast:?}") == format!("{slow:?}") => {}
                slow => {
                    return Err(format!(
                        "parse_escaped({escaped:?}) read {fast:?}, serde_json {slow:?}"
                    ));
                }
            }
        }
        Escaped::NoObject if line.contains('{') => {
            return Err(format!(
                "parse_escaped({escaped:?}) found no object in a line with a `{{`"
            ));
        }
        Escaped::NoObject | Escaped::Unknown => {}
    }
    Ok(taken)
}

/// A one-event batch document whose message holds `escaped`.
pub fn document_of_message(escaped: &str, id: &str, timestamp: i64) -> String {
    format!(
        r#"{{"messageType":"DATA_MESSAGE","owner":"123456789012","logGroup":"/ironman/app","logStream":"s","subscriptionFilters":["f"],"logEvents":[{{"id":"{id}","timestamp":{timestamp},"message":"{escaped}"}}]}}"#
    )
}

/// Log event timestamps the checks use as fallbacks: usual ones, and ones
/// outside the range a timestamp may have (a line without its own
/// timestamp is then `unparsed`).
const FALLBACKS: [i64; 5] = [1_793_578_348_595, 0, MIN_MS, MAX_MS + 1, i64::MIN];

/// A line through every reader: as text, escaped in several ways (the
/// canonical escaping and random others chosen by `variants`), and read in
/// place from a one-event document.
pub fn check_line(line: &str, variants: &mut Gen, rules: &Rules) -> Result<Taken, String> {
    let fallback = FALLBACKS[variants.below(FALLBACKS.len() as u64) as usize];
    let mut taken = check_line_text(line, fallback, rules)?;
    let canonical = serde_json::to_string(line).map_err(|e| e.to_string())?;
    let canonical = &canonical[1..canonical.len() - 1];
    let other = variants.escape(line);
    for escaped in [canonical, other.as_str()] {
        taken.add(check_line_escaped(line, escaped, fallback, rules)?);
        let doc = document_of_message(escaped, "1", fallback);
        taken.add(
            check_document(doc.as_bytes(), rules)
                .map_err(|e| format!("{e}\nin the document {doc:?}"))?,
        );
    }
    Ok(taken)
}

/// What a batch's events and counts are when each line is read by the
/// general path alone (a plain set for the duplicates).
fn general_processing<'b>(
    batch: &'b LogBatch<'_>,
    rules: &Rules,
) -> (Counts, Vec<(&'b str, i64, RequestEvent<'b>)>) {
    let mut counts = Counts {
        batches: 1,
        ..Counts::default()
    };
    let mut events = Vec::new();
    if batch.is_control_message() {
        counts.control_messages = 1;
        return (counts, events);
    }
    let mut seen = HashSet::new();
    for event in &batch.log_events {
        counts.log_events += 1;
        if !seen.insert(&*event.id) {
            counts.duplicate_in_batch += 1;
            continue;
        }
        let decode::Message::Text(text) = &event.message else {
            unreachable!("serde_json gives each message as text")
        };
        match general_record(text, event.timestamp, rules) {
            Ok(kept) => {
                counts.kept += 1;
                events.push((&*event.id, event.timestamp, kept.into_owned()));
            }
            Err(reason) => counts.skip(reason),
        }
    }
    (counts, events)
}

fn compare_processing(
    what: &str,
    counts: &Counts,
    events: &[KeptEvent<'_>],
    expected: &(Counts, Vec<(&str, i64, RequestEvent<'_>)>),
) -> Result<(), String> {
    if *counts != expected.0 {
        return Err(format!(
            "{what} counted {counts:?}, the general path {:?}",
            expected.0
        ));
    }
    let got: Vec<_> = events
        .iter()
        .map(|kept| (kept.id, kept.log_timestamp_ms, &kept.event))
        .collect();
    let want: Vec<_> = expected.1.iter().map(|(id, ts, e)| (*id, *ts, e)).collect();
    if got != want {
        return Err(format!("{what} kept {got:?}, the general path {want:?}"));
    }
    Ok(())
}

/// An inflated payload (a CloudWatch Logs document) through every reader:
/// `decode::parse_batch` and `parse_batch_reading` (with the lines read
/// in place, also capped at one line) against serde_json, and the batch's
/// events and counts against each line read by the general path.
pub fn check_document(bytes: &[u8], rules: &Rules) -> Result<Taken, String> {
    let mut taken = Taken::default();
    let general: Result<LogBatch, _> = serde_json::from_slice(bytes);
    let shown = |batch: &LogBatch| format!("{batch:?}");
    let general_shown = general.as_ref().map(shown).map_err(|e| e.to_string());
    taken.batch_valid = general.is_ok();
    let expected = general.as_ref().ok().map(|b| general_processing(b, rules));

    let agree = |what: &str, fast: Result<&LogBatch, &DecodeError>| -> Result<(), String> {
        match (fast, &general_shown) {
            (Ok(fast), Ok(general)) if shown(fast) == *general => Ok(()),
            (Err(e), Err(_)) if e.reason() == "bad_payload_json" => Ok(()),
            (fast, general) => Err(format!(
                "{what} gave {:?}, serde_json {general:?}",
                fast.map(shown).map_err(|e| format!("{} ({e})", e.reason()))
            )),
        }
    };

    let plain = decode::parse_batch(bytes);
    agree("parse_batch", plain.as_ref())?;
    if let (Ok(batch), Some(expected)) = (&plain, &expected) {
        let processed = process_batch(batch, rules);
        compare_processing(
            "process_batch",
            &processed.counts,
            &processed.events,
            expected,
        )?;
    }

    let reading = decode::parse_batch_reading(bytes, rules);
    agree("parse_batch_reading", reading.as_ref().map(|(b, _)| b))?;
    if let (Ok((batch, lines)), Some(expected)) = (reading, &expected) {
        taken.lines_in_place = lines
            .0
            .kinds
            .iter()
            .filter(|k| **k != LineKind::Unknown)
            .count();
        let processed = process_read_batch(&batch, lines, rules);
        compare_processing(
            "process_read_batch",
            &processed.counts,
            &processed.events,
            expected,
        )?;
        for kept in &processed.events {
            let decode::Message::Text(text) =
                &general.as_ref().expect("valid").log_events[position_of(&batch, kept)].message
            else {
                unreachable!("serde_json gives each message as text")
            };
            if kept.message.text() != *text {
                return Err(format!(
                    "the kept message is {:?}, serde_json's {text:?}",
                    kept.message.text()
                ));
            }
        }
        taken.kept = processed.events.len();
    }

    if let Ok(text) = std::str::from_utf8(bytes) {
        let fast = crate::decode::fastbatch::parse(text);
        taken.batch_fast = fast.is_some();
        if let Some(fast) = &fast {
            agree("fastbatch::parse", Ok(fast))?;
        }
        let capped = crate::decode::fastbatch::parse_reading_at_most(text, Some(rules), 1);
        if capped.is_some() != fast.is_some() {
            return Err(format!(
                "fastbatch::parse_reading (capped) read the document: {}, fastbatch::parse: {}",
                capped.is_some(),
                fast.is_some()
            ));
        }
        if let (Some((batch, lines)), Some(expected)) = (capped, &expected) {
            agree("fastbatch::parse_reading (capped)", Ok(&batch))?;
            let processed = process_read_batch(&batch, ReadLines(lines), rules);
            compare_processing(
                "process_read_batch (capped)",
                &processed.counts,
                &processed.events,
                expected,
            )?;
        }
    }
    Ok(taken)
}

/// The position of a kept event among its batch's log events.
fn position_of(batch: &LogBatch<'_>, kept: &KeptEvent<'_>) -> usize {
    batch
        .log_events
        .iter()
        .position(|e| std::ptr::eq(&e.message, kept.message))
        .expect("a kept event is one of its batch's")
}

/// Standard base64 as `decode::inflate`'s general path decodes it.
fn general_inflate(data: &str) -> Result<Vec<u8>, DecodeError> {
    use base64::Engine;
    let compressed = decode::BASE64
        .decode(data.trim())
        .map_err(DecodeError::Base64)?;
    let mut out = Vec::new();
    let mut reader =
        flate2::bufread::MultiGzDecoder::new(&compressed[..]).take(decode::MAX_INFLATED_BYTES + 1);
    reader.read_to_end(&mut out).map_err(DecodeError::Gzip)?;
    if out.len() as u64 > decode::MAX_INFLATED_BYTES {
        return Err(DecodeError::TooLarge);
    }
    Ok(out)
}

/// `awslogs.data` through `decode::inflate` (SIMD base64, libdeflate)
/// and the general path (the base64 crate, flate2): the same document or
/// the same error class; then the document through `check_document`.
pub fn check_payload(data: &str, rules: &Rules) -> Result<Taken, String> {
    use base64::Engine;
    let fast = decode::inflate(data);
    let general = general_inflate(data);
    match (&fast, &general) {
        (Ok(a), Ok(b)) if a == b => {}
        (Err(a), Err(b)) if a.reason() == b.reason() => {}
        _ => {
            let show = |r: &Result<Vec<u8>, DecodeError>| match r {
                Ok(bytes) => format!("{:?}", String::from_utf8_lossy(bytes)),
                Err(e) => format!("{} ({e})", e.reason()),
            };
            return Err(format!(
                "inflate gave {}, the general path {} (compressed: {:?})",
                show(&fast),
                show(&general),
                base64::engine::general_purpose::STANDARD.decode(data.trim())
            ));
        }
    }
    if let Ok(json) = fast {
        let taken = check_document(&json, rules)?;
        decode::recycle(json);
        return Ok(taken);
    }
    Ok(Taken::default())
}

/// gzip of `bytes`, in one member or, cut at `cuts`, in several.
pub fn gzip_members(bytes: &[u8], cuts: &[usize]) -> Vec<u8> {
    use flate2::{Compression, write::GzEncoder};
    use std::io::Write;
    let mut out = Vec::new();
    let mut start = 0;
    for end in cuts
        .iter()
        .copied()
        .filter(|&c| c <= bytes.len())
        .chain([bytes.len()])
    {
        if end < start {
            continue;
        }
        let mut gz = GzEncoder::new(Vec::new(), Compression::fast());
        gz.write_all(&bytes[start..end]).expect("writing to memory");
        out.extend(gz.finish().expect("writing to memory"));
        start = end;
    }
    out
}

/// What the envelope fuzz target does with its input: a gzip stream
/// (starting with the gzip magic) as `awslogs.data`, with and without
/// padding; anything else as the inflated document, also gzipped in one
/// member and in two (cut in the middle) through `check_payload`.
pub fn check_envelope_input(data: &[u8], rules: &Rules) -> Result<Taken, String> {
    use base64::Engine;
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
    if data.starts_with(&[0x1f, 0x8b]) {
        let padded = b64(data);
        let mut taken = check_payload(&padded, rules)?;
        taken.add(check_payload(padded.trim_end_matches('='), rules)?);
        return Ok(taken);
    }
    let mut taken = check_document(data, rules)?;
    taken.add(check_payload(&b64(&gzip_members(data, &[])), rules)?);
    taken.add(check_payload(
        &b64(&gzip_members(data, &[data.len() / 2])),
        rules,
    )?);
    Ok(taken)
}

/// What the line fuzz target does with its input: the bytes as a line
/// (invalid UTF-8 replaced), through `check_line`, with escapings chosen
/// from a hash of the input.
pub fn check_line_input(data: &[u8], rules: &Rules) -> Result<Taken, String> {
    let line = String::from_utf8_lossy(data);
    let seed = data.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    });
    check_line(&line, &mut Gen::new(seed), rules)
}

/// The fuzz targets, by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// A batch document or a gzip stream (`check_envelope_input`).
    Envelope,
    /// A log line (`check_line_input`).
    Line,
}

impl Target {
    pub const ALL: [Target; 2] = [Target::Envelope, Target::Line];

    pub fn name(self) -> &'static str {
        match self {
            Target::Envelope => "envelope",
            Target::Line => "line",
        }
    }

    pub fn check(self, data: &[u8]) -> Result<Taken, String> {
        match self {
            Target::Envelope => check_envelope_input(data, rules()),
            Target::Line => check_line_input(data, rules()),
        }
    }

    /// A fuzz target's body: a disagreement is a crash.
    pub fn fuzz(self, data: &[u8]) {
        if let Err(disagreement) = self.check(data) {
            panic!(
                "{} target: the fast path and the general path disagree: {disagreement}\ninput: {:?}",
                self.name(),
                String::from_utf8_lossy(data)
            );
        }
    }

    /// A small corpus to start fuzzing from: generated lines or documents
    /// (and a few gzip streams).
    pub fn seeds(self, count: usize) -> Vec<Vec<u8>> {
        let mut generator = Gen::new(0x5eed);
        (0..count)
            .map(|i| match self {
                Target::Line => generator.line().into_bytes(),
                Target::Envelope if i % 16 == 15 => gzip_members(&generator.document(), &[]),
                Target::Envelope => generator.document(),
            })
            .collect()
    }

    /// Writes `seeds` into `dir` when it has no file yet (the fuzz targets
    /// call it at start with the directory in `IRONMAN_FUZZ_SEEDS`).
    pub fn write_seeds(self, dir: &std::path::Path, count: usize) -> std::io::Result<()> {
        std::fs::create_dir_all(dir)?;
        if std::fs::read_dir(dir)?.next().is_some() {
            return Ok(());
        }
        for (i, seed) in self.seeds(count).iter().enumerate() {
            std::fs::write(dir.join(format!("seed-{i:04}")), seed)?;
        }
        Ok(())
    }
}

/// A small deterministic generator (splitmix64) of the inputs the readers
/// must agree on: lines and batch documents biased towards the configured
/// keys and the shapes the fast paths read, with every escape, number form,
/// odd type, whitespace, nesting depth and breakage JSON allows or forbids.
#[derive(Debug, Clone)]
pub struct Gen {
    state: u64,
    /// The configured keys of the rules, with their fields.
    keys: &'static [(String, Field)],
    /// Whether what is being generated may be broken (invalid JSON, or
    /// valid JSON that serde_json refuses for a record or a batch).
    dirty: bool,
}

/// Keys of the batch document and of its log events.
const DOCUMENT_KEYS: [&str; 9] = [
    "messageType",
    "owner",
    "logGroup",
    "logStream",
    "subscriptionFilters",
    "logEvents",
    "id",
    "timestamp",
    "message",
];

impl Gen {
    pub fn new(seed: u64) -> Self {
        static KEYS: OnceLock<Vec<(String, Field)>> = OnceLock::new();
        let keys = KEYS.get_or_init(|| {
            let fields = PipelineConfig::builtin().fields;
            fields
                .keys()
                .iter()
                .map(|(key, field)| (key.to_string(), *field))
                .collect()
        });
        Gen {
            state: seed,
            keys,
            dirty: false,
        }
    }

    /// True once in `n` while generating something that may be broken.
    fn broken(&mut self, n: u64) -> bool {
        self.dirty && self.one_in(n)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// True once in `n`.
    pub fn one_in(&mut self, n: u64) -> bool {
        self.below(n) == 0
    }

    pub fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize]
    }

    /// JSON whitespace, usually none; rarely a character that is not JSON
    /// whitespace (form feed, vertical tab, a no-break space).
    fn ws(&mut self) -> &'static str {
        match self.below(16) {
            0..=10 => "",
            11 => " ",
            12 => self.pick(&["\n", "\t", "\r", "\r\n"]),
            13 => self.pick(&["  ", " \n\t ", "\n    ", "\t\t"]),
            14 => self.pick(&[" ", "\n"]),
            _ if self.broken(8) => self.pick(&["\u{c}", "\u{b}", "\u{a0}", "\u{0}"]),
            _ => " ",
        }
    }

    /// Four hex digits of `unit`, in random case.
    fn hex(&mut self, unit: u32) -> String {
        let hex = format!("{unit:04x}");
        match self.below(3) {
            0 => hex,
            1 => hex.to_uppercase(),
            _ => hex
                .chars()
                .map(|c| {
                    if self.one_in(2) {
                        c.to_ascii_uppercase()
                    } else {
                        c
                    }
                })
                .collect(),
        }
    }

    /// A `\u` escape of any kind, valid or not.
    fn unicode_escape(&mut self) -> String {
        match self.below(12) {
            0..=3 => {
                let unit = self.pick(&[0x41, 0xe9, 0x0, 0x1f, 0x22, 0x5c, 0x2f, 0x7b, 0x7d, 0x7f]);
                format!("\\u{}", self.hex(unit))
            }
            4 | 5 => {
                let unit = self.below(0xD800) as u32;
                format!("\\u{}", self.hex(unit))
            }
            6 => {
                let unit = 0xE000 + self.below(0x2000) as u32;
                format!("\\u{}", self.hex(unit))
            }
            7 | 8 => {
                // A pair, beyond the BMP.
                let high = 0xD800 + self.below(0x400) as u32;
                let low = 0xDC00 + self.below(0x400) as u32;
                format!("\\u{}\\u{}", self.hex(high), self.hex(low))
            }
            9 | 10 if !self.dirty => format!("\\u{}", self.hex(0x20AC)),
            9 => {
                // A lone or broken surrogate.
                let high = 0xD800 + self.below(0x400) as u32;
                let low = 0xDC00 + self.below(0x400) as u32;
                match self.below(5) {
                    0 => format!("\\u{}", self.hex(high)),
                    1 => format!("\\u{}", self.hex(low)),
                    2 => format!("\\u{}\\u{}", self.hex(high), self.hex(0x41)),
                    3 => format!("\\u{}\\u{}", self.hex(high), self.hex(high)),
                    _ => format!("\\u{}\\u{}", self.hex(low), self.hex(high)),
                }
            }
            10 => self
                .pick(&[
                    "\\u12G4", "\\u00", "\\u", "\\uZZZZ", "\\U0041", "\\u 041", "\\u+041",
                ])
                .to_string(),
            _ if self.dirty => format!("\\u{}\\n", self.hex(0xD83D)),
            _ => format!("\\u{}\\u{}", self.hex(0xDBFF), self.hex(0xDFFF)),
        }
    }

    /// A piece of string content as it is written in JSON (escaped).
    fn piece(&mut self) -> String {
        match self.below(32) {
            0..=13 => self
                .pick(&[
                    "plain",
                    "Mixed Case",
                    " padded ",
                    "request",
                    "page-beacon",
                    " Request ",
                    "PAGE-BEACON",
                    "alice@x.com",
                    "Oliver@Example.COM",
                    "svc@ironman.internal",
                    "/api/v2/sites/ST-0042/assets",
                    "/app?assetType=Pump%2Cvalve&siteToken=+ST-2",
                    "/health",
                    "/static/app.js",
                    "/logo.PNG",
                    "?x=1#frag",
                    "GET",
                    "options",
                    "Mozilla/5.0",
                    "kube-probe/1.27",
                    "Googlebot",
                    "2026-11-02T14:03:11.482Z",
                    "2026-11-02 14:03:11.482+05:30",
                    "1793578348595",
                    "200",
                    " 404 ",
                    "Work Orders",
                    "pump, Valve ,,",
                    "ST-7",
                    "0",
                    "",
                ])
                .to_string(),
            14..=16 => self
                .pick(&[
                    "é",
                    "王",
                    "✓",
                    "😀",
                    "\u{7f}",
                    "\u{80}",
                    "\u{a0}",
                    "\u{fffd}",
                    "\u{10ffff}",
                ])
                .to_string(),
            17..=21 => self
                .pick(&["\\\"", "\\\\", "\\/", "\\b", "\\f", "\\n", "\\r", "\\t"])
                .to_string(),
            22..=25 => self.unicode_escape(),
            26 | 27 if !self.dirty => "\\\\".to_string(),
            26 => self
                .pick(&["\\x", "\\a", "\\'", "\\0", "\\U", "\\ ", "\\{", "\\"])
                .to_string(),
            27 => self
                .pick(&["\t", "\n", "\u{1}", "\u{1f}", "\r", "\u{0}"])
                .to_string(),
            28 => self
                .pick(&["{", "}", "[", "]", ":", ",", "{\\\"a\\\":1}", "\\\\\\\""])
                .to_string(),
            29 => "x".repeat(self.below(40) as usize),
            30 => "é".repeat(self.below(20) as usize),
            _ => format!("{}", self.below(1_000_000)),
        }
    }

    /// A JSON string literal (quotes included); mostly valid.
    fn string(&mut self) -> String {
        let mut s = String::from("\"");
        for _ in 0..self.below(5) {
            let piece = self.piece();
            s.push_str(&piece);
        }
        s.push('"');
        s
    }

    /// A JSON number in any of its forms, and some that are not JSON.
    fn number(&mut self) -> String {
        if self.broken(10) {
            return self
                .pick(&[
                    "01",
                    "-01",
                    "00",
                    "1.",
                    ".5",
                    "+1",
                    "1e",
                    "1e+",
                    "1.5e",
                    "--1",
                    "-",
                    "0x10",
                    "1_000",
                    "NaN",
                    "Infinity",
                    "-Infinity",
                    "1.e3",
                    "-.5",
                    "0.e1",
                ])
                .to_string();
        }
        match self.below(10) {
            0..=3 => self
                .pick(&[
                    "0",
                    "-0",
                    "200",
                    "404",
                    "12",
                    "-12",
                    "1793578348595",
                    "-1",
                    "2147483647",
                    "2147483648",
                    "9223372036854775807",
                    "9223372036854775808",
                    "-9223372036854775808",
                    "-9223372036854775809",
                    "18446744073709551615",
                    "18446744073709551616",
                    "123456789012345678",
                    "1234567890123456789",
                    "999999999999999999",
                    "253402300799999",
                    "253402300800000",
                    "-62167219200000",
                    "-62167219200001",
                ])
                .to_string(),
            4 | 5 => self
                .pick(&[
                    "1.5",
                    "-2.5",
                    "12.5",
                    "0.5",
                    "-0.5",
                    "-0.0",
                    "0.0",
                    "0.4999999999999999",
                    "139.343",
                    "200.0",
                    "1e3",
                    "1E+3",
                    "1e-3",
                    "1e400",
                    "-1e400",
                    "1e-400",
                    "9e15",
                    "8999999999999999.5",
                    "1.7976931348623157e308",
                    "4.9e-324",
                    "0.1e1",
                    "1793578348595.0",
                    "1.793578348595e12",
                ])
                .to_string(),
            6 => format!("{}", self.next_u64() >> self.below(64)),
            7 => format!("-{}", self.next_u64() >> self.below(64)),
            8 => {
                let digits: String = (0..1 + self.below(40))
                    .map(|_| char::from(b'0' + self.below(10) as u8))
                    .collect();
                let digits = digits.trim_start_matches('0');
                if digits.is_empty() {
                    "0".to_string()
                } else {
                    digits.to_string()
                }
            }
            _ => {
                let sign = self.pick(&["", "-"]);
                let int = self.below(100_000);
                let frac = self.below(1000);
                let exp = self.pick(&["", "e5", "E-2", "e+10", "e0", "e-0"]);
                format!("{sign}{int}.{frac}{exp}")
            }
        }
    }

    /// An array or object nested `depth` deep around a value, as deep
    /// as serde_json's limit (128) and beyond.
    fn deep(&mut self) -> String {
        // serde_json refuses values nested deeper than 128.
        let depth = if self.dirty {
            self.pick(&[2, 10, 63, 64, 65, 66, 100, 126, 127, 128, 129, 200])
        } else {
            self.pick(&[2, 10, 63, 64, 65, 66, 100, 120])
        };
        let mut s = String::new();
        let mut closes = Vec::new();
        for _ in 0..depth {
            if self.one_in(3) {
                s.push_str("{\"k\":");
                closes.push('}');
            } else {
                s.push('[');
                closes.push(']');
            }
        }
        s.push_str(&self.scalar());
        while let Some(c) = closes.pop() {
            s.push(c);
        }
        s
    }

    fn scalar(&mut self) -> String {
        match self.below(4) {
            0 | 1 => self.string(),
            2 => self.number(),
            _ if self.broken(6) => self
                .pick(&["nul", "tru", "fals", "True", "NULL", "undefined", "'x'"])
                .to_string(),
            _ => self.pick(&["true", "false", "null"]).to_string(),
        }
    }

    /// Any JSON value (and some that are not).
    fn value(&mut self, depth: u32) -> String {
        match self.below(if depth > 3 { 4 } else { 9 }) {
            0..=3 => self.scalar(),
            4 | 5 => self.array(depth),
            6 | 7 => self.object(depth + 1),
            _ if self.one_in(4) => self.deep(),
            _ => self.scalar(),
        }
    }

    fn array(&mut self, depth: u32) -> String {
        let mut s = String::from("[");
        s.push_str(self.ws());
        for i in 0..self.below(5) {
            if i > 0 {
                s.push(',');
                s.push_str(self.ws());
            }
            let value = self.value(depth + 1);
            s.push_str(&value);
            s.push_str(self.ws());
        }
        if self.broken(30) {
            s.push(',');
        }
        s.push(']');
        s
    }

    /// A key (quotes included): mostly a configured one.
    fn key(&mut self) -> String {
        match self.below(20) {
            0..=7 => {
                let at = self.below(self.keys.len() as u64) as usize;
                format!("\"{}\"", self.keys[at].0)
            }
            13 => format!("\"{}\"", self.pick(&DOCUMENT_KEYS)),
            14 if self.one_in(3) => {
                // A configured key written with an escape.
                let which = self.below(self.keys.len() as u64) as usize;
                let key = self.keys[which].0.clone();
                let at = self.below(key.len() as u64) as usize;
                let unit = u32::from(key.as_bytes()[at]);
                let hex = self.hex(unit);
                format!("\"{}\\u{hex}{}\"", &key[..at], &key[at + 1..])
            }
            15 => self
                .pick(&[
                    "\"Type\"",
                    "\"type \"",
                    "\"sessionid\"",
                    "\"URL\"",
                    "\"user\\u0000\"",
                    "\"\"",
                    "\"é\"",
                    "\"us\\\"er\"",
                    "\"level\"",
                    "\"msg\"",
                    "\"typetypetypetypetype\"",
                    "\"responseTimeMsX\"",
                ])
                .to_string(),
            16 if self.broken(10) => self.pick(&["type", "'type'", "1", "\"type"]).to_string(),
            16 | 17 => self.string(),
            _ => format!(
                "\"{}\"",
                self.pick(&[
                    "level",
                    "msg",
                    "requestId",
                    "traceId",
                    "durationMs",
                    "viewport",
                    "app",
                    "env",
                    "ip",
                    "referrer",
                    "headers",
                    "error",
                ])
            ),
        }
    }

    /// A value for a configured field: usually one the contract accepts,
    /// sometimes one it refuses or of another type.
    fn field_value(&mut self, field: Field, depth: u32) -> String {
        if self.one_in(12) {
            return self.value(depth);
        }
        let good = !self.one_in(8);
        let quoted = |s: &str| format!("\"{s}\"");
        match field {
            Field::Kind if good => quoted(self.pick(&[
                "request",
                "request",
                "page-beacon",
                "page-beacon",
                " Request ",
                "PAGE-BEACON",
                "\\u0072equest",
                "request\\n",
            ])),
            Field::Kind => quoted(self.pick(&["other", "", "requests", "page beacon"])),
            Field::SessionId if good && self.one_in(6) => self.number(),
            Field::SessionId if good => {
                quoted(self.pick(&["s1", "s2", " s3 ", "sess-\\u00e9", "s\\/4"]))
            }
            Field::SessionId => quoted(self.pick(&["", " ", "\\t"])),
            Field::User if good && self.one_in(8) => self.number(),
            Field::User if good => quoted(self.pick(&[
                "alice@x.com",
                " Bob@X.COM ",
                "ÉMILE@x.com",
                "\\u0130stanbul",
                "carol",
                "dave@x.com",
            ])),
            Field::User => quoted(self.pick(&[
                "",
                "svc@ironman.internal",
                "SVC@IRONMAN.INTERNAL",
                "bot@ironman.internal",
            ])),
            Field::Url if good => quoted(self.pick(&[
                "/api/assets",
                "/api/v2/sites/ST-0042/assets?assetType=Pump",
                "/app?assetType=Pump%2Cvalve&assetType=+Haul+Truck&siteToken=ST-9",
                "/sites/",
                " /padded ",
                "\\/escaped\\/path",
                "/caf\\u00e9?siteToken=%zz",
                "/work-orders/42#tab",
            ])),
            Field::Url => {
                quoted(self.pick(&["?only=query", "#frag", "/health", "/static/x", "/a.CSS", ""]))
            }
            Field::Method if good => quoted(self.pick(&["GET", "post", " Get ", "ǆ", "PUT"])),
            Field::Method => quoted(self.pick(&["OPTIONS", " Head ", ""])),
            Field::Timestamp => match self.below(3) {
                0 => self.number(),
                _ => quoted(self.pick(&[
                    "2026-11-02T14:03:11.482Z",
                    "2026-11-02t14:03:11Z",
                    "2026-11-02 14:03:11.123456789-05:00",
                    "2026-02-30T00:00:00Z",
                    "1793578348595",
                    "9999-12-31T23:59:59.999Z",
                    "",
                ])),
            },
            Field::Status => match self.below(3) {
                0 => quoted(self.pick(&["200", " 404 ", "-1", "OK", "2147483648", "0200"])),
                _ => self.number(),
            },
            Field::ResponseTime => match self.below(4) {
                0 => quoted("12"),
                _ => self.number(),
            },
            Field::UserAgent if good => quoted(self.pick(&["Mozilla/5.0", "curl/8", ""])),
            Field::UserAgent => quoted(self.pick(&[
                "kube-probe/1.27",
                "ELB-HealthChecker/2.0",
                "curl/8 googlebot",
            ])),
            Field::Module => quoted(self.pick(&["Work Orders", " Assets ", "", "\\u00c9"])),
            Field::SiteToken => quoted(self.pick(&["ST-1", " ST-2 ", "", "st\\/3"])),
            Field::AssetTypes => match self.below(3) {
                0 => quoted(self.pick(&["Pump,valve", " x ", ""])),
                _ => {
                    let mut s = String::from("[");
                    for i in 0..self.below(4) {
                        if i > 0 {
                            s.push(',');
                            s.push_str(self.ws());
                        }
                        let element = match self.below(4) {
                            0 => self.value(depth + 1),
                            _ => quoted(self.pick(&["Pump", " haul truck ", "A,B", "", "É"])),
                        };
                        s.push_str(&element);
                    }
                    s.push(']');
                    s
                }
            },
        }
    }

    /// A JSON object: configured keys (some twice) with values of the right
    /// type or not, unknown keys, whitespace anywhere; rarely broken.
    fn object(&mut self, depth: u32) -> String {
        let mut s = String::from("{");
        s.push_str(self.ws());
        // A request most of the time at the top, so that the contract's
        // checks, noise rules and enrichment run too.
        let mut members: Vec<(String, Option<Field>)> = Vec::new();
        if depth == 0 && !self.one_in(8) {
            for field in [Field::Kind, Field::SessionId, Field::User, Field::Url] {
                if !self.one_in(30) {
                    let key = self.key_of(field);
                    members.push((key, Some(field)));
                }
            }
        }
        for _ in 0..self.below(if depth == 0 { 6 } else { 4 }) {
            if !members.is_empty() && self.one_in(8) {
                // A duplicate key.
                let again = members[self.below(members.len() as u64) as usize].clone();
                members.push(again);
                continue;
            }
            let key = self.key();
            let field = self.field_of_key(&key);
            members.push((key, field));
        }
        // Shuffle.
        for i in (1..members.len()).rev() {
            let j = self.below(i as u64 + 1) as usize;
            members.swap(i, j);
        }
        for (i, (key, field)) in members.iter().enumerate() {
            if i > 0 {
                s.push_str(if self.broken(100) { "" } else { "," });
                s.push_str(self.ws());
            }
            s.push_str(key);
            s.push_str(self.ws());
            s.push_str(if self.broken(100) { "" } else { ":" });
            s.push_str(self.ws());
            let value = match field {
                Some(field) => self.field_value(*field, depth),
                None => self.value(depth),
            };
            s.push_str(&value);
            s.push_str(self.ws());
        }
        if !members.is_empty() && self.broken(50) {
            s.push(',');
        }
        s.push('}');
        s
    }

    fn key_of(&mut self, field: Field) -> String {
        let key = self
            .keys
            .iter()
            .find(|(_, f)| *f == field)
            .map(|(k, _)| k.clone())
            .expect("every field has a key");
        format!("\"{key}\"")
    }

    fn field_of_key(&self, key: &str) -> Option<Field> {
        let name = key.strip_prefix('"')?.strip_suffix('"')?;
        self.keys.iter().find(|(k, _)| k == name).map(|(_, f)| *f)
    }

    /// A log line: a prefix, an object, and sometimes something after it;
    /// sometimes cut short or with a byte changed.
    pub fn line(&mut self) -> String {
        self.dirty = self.one_in(3);
        self.line_of_mode()
    }

    /// `line`, broken or not as `dirty` says.
    fn line_of_mode(&mut self) -> String {
        let mut s = String::new();
        if !self.one_in(3) {
            s.push_str(self.pick(&[
                "INFO ",
                "2026-11-02T14:03:11.482Z\tINFO\t",
                "[2026-11-02 14:03:11,482] INFO ",
                "x\\y \"z\" ",
                "[w-}] ",
                "no object at all",
                "\u{1}\u{7f} é ",
                "",
            ]));
        }
        if !self.one_in(20) {
            let object = self.object(0);
            s.push_str(&object);
        }
        match self.below(12) {
            0 => s.push_str(self.pick(&[" ", "\n", " \t\r\n", "\r"])),
            1 if self.dirty => s.push_str(self.pick(&[
                "x",
                "{}",
                ",",
                "}",
                "]",
                "\"",
                " {\"a\":1}",
                "\u{a0}",
                "\u{c}",
            ])),
            _ => {}
        }
        if self.broken(4) {
            self.break_text(&mut s);
        }
        s
    }

    /// Cuts `s` short, or drops, doubles or replaces one character.
    fn break_text(&mut self, s: &mut String) {
        let chars: Vec<char> = s.chars().collect();
        if chars.is_empty() {
            return;
        }
        let at = self.below(chars.len() as u64) as usize;
        let junk = self.pick(&[
            '{', '}', '[', ']', ',', ':', '"', '\\', ' ', 'a', '1', '-', 'é', '\u{0}',
        ]);
        let mut out: String = chars[..at].iter().collect();
        match self.below(4) {
            0 => {}
            1 => {
                out.push(chars[at]);
                out.push(chars[at]);
                out.extend(&chars[at + 1..]);
            }
            2 => {
                out.push(junk);
                out.extend(&chars[at + 1..]);
            }
            _ => out.extend(&chars[at + 1..]),
        }
        *s = out;
    }

    /// `line` as the content of a JSON string literal, escaped in one of
    /// the ways JSON allows: the required escapes (short where there is
    /// one, or `\u`), `\/`, and `\u` escapes of any character (pairs beyond
    /// the BMP) in either case.
    pub fn escape(&mut self, line: &str) -> String {
        // Usually as CloudWatch Logs writes it (the required escapes only).
        let rate = self.pick(&[0, 0, 0, 2, 8, 64]);
        let mut out = String::with_capacity(line.len() + 8);
        for c in line.chars() {
            let other = rate != 0 && self.one_in(rate);
            let unicode = |out: &mut String, this: &mut Self| {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    out.push_str("\\u");
                    out.push_str(&this.hex(u32::from(*unit)));
                }
            };
            match c {
                '"' if !other => out.push_str("\\\""),
                '\\' if !other => out.push_str("\\\\"),
                '\n' if !other => out.push_str("\\n"),
                '\t' if !other => out.push_str("\\t"),
                '\r' if !other => out.push_str("\\r"),
                '\u{8}' if !other => out.push_str("\\b"),
                '\u{c}' if !other => out.push_str("\\f"),
                '/' if other && self.one_in(2) => out.push_str("\\/"),
                c if other || (c as u32) < 0x20 => unicode(&mut out, self),
                c => out.push(c),
            }
        }
        out
    }

    /// A log event object of a batch document.
    fn log_event(&mut self, id: u64) -> String {
        let mut members: Vec<String> = Vec::new();
        if !self.broken(40) {
            let id = match self.below(30) {
                0 if self.dirty => format!("{id}"),
                1 => format!("\"\\u{}\"", self.hex(0x30 + (id % 10) as u32)),
                2 => "\"\"".to_string(),
                3 => self.string(),
                _ => format!("\"{id}\""),
            };
            members.push(format!("\"id\"{}:{}{id}", self.ws(), self.ws()));
        }
        if !self.broken(40) {
            let timestamp = match self.below(8) {
                0 if self.dirty => self.number(),
                1 if self.dirty => "\"1793578348595\"".to_string(),
                2 => self
                    .pick(&[
                        "0",
                        "-1",
                        "9223372036854775807",
                        "-9223372036854775808",
                        "1e3",
                    ])
                    .to_string(),
                _ => format!("{}", 1_793_578_348_595u64 + self.below(100_000)),
            };
            members.push(format!(
                "\"timestamp\"{}:{}{timestamp}",
                self.ws(),
                self.ws()
            ));
        }
        if !self.broken(40) {
            let message = if self.broken(20) {
                self.value(1)
            } else {
                let document_dirty = self.dirty;
                let line = self.line();
                self.dirty = document_dirty;
                let mut escaped = self.escape(&line);
                if self.broken(4) {
                    // Break the document's own string.
                    let at = self.below(escaped.len() as u64 + 1) as usize;
                    if escaped.is_char_boundary(at) {
                        let junk = self.pick(&[
                            "\t", "\u{1}", "\\x", "\\uD800", "\\uDC00", "\\", "\"", "\\u00", "\n",
                        ]);
                        escaped.insert_str(at, junk);
                    }
                }
                format!("\"{escaped}\"")
            };
            members.push(format!("\"message\"{}:{}{message}", self.ws(), self.ws()));
        }
        if self.one_in(30) {
            // serde_json ignores an unknown key; fastbatch leaves it to it.
            let key = self.key();
            let value = self.value(1);
            members.push(format!("{key}:{value}"));
        }
        if self.broken(20) && !members.is_empty() {
            let again = members[0].clone();
            members.push(again);
        }
        for i in (1..members.len()).rev() {
            let j = self.below(i as u64 + 1) as usize;
            members.swap(i, j);
        }
        format!("{{{}{}{}}}", self.ws(), members.join(","), self.ws())
    }

    /// A CloudWatch Logs batch document; one in four is broken (a value of
    /// the wrong type, a key missing or twice, an escape serde_json refuses,
    /// cut short, a byte dropped, added or replaced, bytes that are not
    /// UTF-8).
    pub fn document(&mut self) -> Vec<u8> {
        self.dirty = self.one_in(4);
        let mut members: Vec<String> = Vec::new();
        if !self.broken(10) {
            let kind = match self.below(20) {
                0 => "\"CONTROL_MESSAGE\"".to_string(),
                1 if self.dirty => self.value(1),
                1 => self.string(),
                2 => "\"DATA_\\u004dESSAGE\"".to_string(),
                _ => "\"DATA_MESSAGE\"".to_string(),
            };
            members.push(format!("\"messageType\":{}{kind}", self.ws()));
        }
        for (key, value) in [
            ("owner", "\"123456789012\""),
            ("logGroup", "\"/aws/lambda/ironman\""),
            ("logStream", "\"2026/11/02/[$LATEST]abc\""),
            ("subscriptionFilters", "[\"ironman-usage\"]"),
        ] {
            if !self.one_in(6) {
                let value = match self.below(12) {
                    0 if self.dirty || key == "subscriptionFilters" => self.value(1),
                    1 => self.string(),
                    2 if key == "subscriptionFilters" => "[]".to_string(),
                    _ => value.to_string(),
                };
                members.push(format!("\"{key}\"{}:{}{value}", self.ws(), self.ws()));
            }
        }
        if !self.one_in(30) {
            let mut events = Vec::new();
            let mut id = 1_000 + self.below(1_000);
            for _ in 0..self.below(6) {
                events.push(self.log_event(id));
                id = match self.below(8) {
                    0 => id,
                    1 => id.saturating_sub(self.below(3)),
                    2 => id + 10,
                    _ => id + 1,
                };
            }
            let sep = format!(",{}", self.ws());
            members.push(format!(
                "\"logEvents\"{}:{}[{}{}{}]",
                self.ws(),
                self.ws(),
                self.ws(),
                events.join(&sep),
                self.ws()
            ));
        }
        if self.one_in(8) {
            let key = self.key();
            let value = self.value(1);
            members.push(format!("{key}:{value}"));
        }
        if self.broken(10) && !members.is_empty() {
            let again = members[self.below(members.len() as u64) as usize].clone();
            members.push(again);
        }
        for i in (1..members.len()).rev() {
            let j = self.below(i as u64 + 1) as usize;
            members.swap(i, j);
        }
        let sep = format!(",{}", self.ws());
        let mut doc = format!(
            "{}{{{}{}}}{}",
            self.ws(),
            self.ws(),
            members.join(&sep),
            self.ws()
        )
        .into_bytes();
        if self.broken(3) {
            self.break_bytes(&mut doc);
        }
        doc
    }

    /// Cuts `bytes` short or drops, adds or replaces a byte, with bytes
    /// that are not UTF-8 among those added.
    fn break_bytes(&mut self, bytes: &mut Vec<u8>) {
        if bytes.is_empty() {
            return;
        }
        let at = self.below(bytes.len() as u64) as usize;
        let junk: &[u8] = self.pick(&[
            b"\x80".as_slice(),
            b"\xff",
            b"\xc3",
            b"\xc0\xaf",
            b"\xed\xa0\x80",
            b"\xf4\x90\x80\x80",
            b"\xe2\x82",
            b"{",
            b"\"",
            b"\\",
            b",",
            b"]",
            b"\x00",
        ]);
        match self.below(4) {
            0 => bytes.truncate(at),
            1 => {
                bytes.remove(at);
            }
            2 => {
                bytes.splice(at..at, junk.iter().copied());
            }
            _ => {
                bytes.splice(at..at + 1, junk.iter().copied());
            }
        }
    }
}

#[cfg(test)]
#[path = "differential_tests.rs"]
mod tests;
