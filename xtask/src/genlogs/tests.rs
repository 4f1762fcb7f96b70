//! Tests of the generator: determinism, the file format, redelivery, rule
//! coverage, and an independent reading of the generated lines by the spec
//! (a small reference implementation, used only here) that must agree with
//! the expectation computed from the model.

use super::model::Reason;
use super::render::{civil_from_days, fmt_utc_ms};
use super::*;
use base64::Engine as _;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::io::Read as _;
use std::sync::OnceLock;

pub(super) fn default_corpus() -> &'static Corpus {
    static CORPUS: OnceLock<Corpus> = OnceLock::new();
    CORPUS.get_or_init(|| generate(&GenOptions::default()))
}

/// base64 + gzip + JSON of one file.
fn decode(bytes: &[u8]) -> Value {
    let outer: Value = serde_json::from_slice(bytes).expect("file is JSON");
    let obj = outer.as_object().expect("file is an object");
    assert_eq!(obj.len(), 1, "only `awslogs`");
    let awslogs = outer["awslogs"].as_object().expect("awslogs object");
    assert_eq!(awslogs.len(), 1, "only `data`");
    let data = awslogs["data"].as_str().expect("data string");
    let gz = base64::engine::general_purpose::STANDARD
        .decode(data)
        .expect("base64");
    let mut json = String::new();
    flate2::read::GzDecoder::new(&gz[..])
        .read_to_string(&mut json)
        .expect("gzip of UTF-8");
    serde_json::from_str(&json).expect("inner JSON")
}

fn decoded() -> &'static Vec<(String, Value)> {
    static DECODED: OnceLock<Vec<(String, Value)>> = OnceLock::new();
    DECODED.get_or_init(|| {
        default_corpus()
            .files
            .iter()
            .map(|(name, bytes)| (name.clone(), decode(bytes)))
            .collect()
    })
}

#[test]
fn genlogs_is_deterministic_for_a_seed() {
    let opts = GenOptions {
        days: 1,
        users: 6,
        ..GenOptions::default()
    };
    let a = generate(&opts);
    let b = generate(&opts);
    assert_eq!(a.files, b.files);
    assert_eq!(a.expected, b.expected);
    let c = generate(&GenOptions {
        seed: opts.seed + 1,
        ..opts
    });
    assert_ne!(a.files, c.files);
}

#[test]
fn genlogs_files_have_the_cloudwatch_structure() {
    let corpus = default_corpus();
    assert!(!corpus.files.is_empty());
    let width = corpus.files[0].0.len();
    for (i, (name, _)) in corpus.files.iter().enumerate() {
        assert_eq!(name, &format!("{:0w$}.json", i + 1, w = width - 5));
    }
    let mut control = 0;
    for (name, doc) in decoded() {
        let obj = doc.as_object().unwrap();
        let keys: BTreeSet<&str> = obj.keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            BTreeSet::from([
                "messageType",
                "owner",
                "logGroup",
                "logStream",
                "subscriptionFilters",
                "logEvents"
            ]),
            "{name}"
        );
        let events = doc["logEvents"].as_array().unwrap();
        match doc["messageType"].as_str().unwrap() {
            "DATA_MESSAGE" => {
                assert_eq!(doc["owner"], "123456789012");
                assert_eq!(doc["logGroup"], "/ironman/app");
                assert_eq!(
                    doc["subscriptionFilters"],
                    serde_json::json!(["usage-analytics"])
                );
                let stream = doc["logStream"].as_str().unwrap();
                let hex = stream.strip_prefix("ecs/web/").expect("ecs/web/ stream");
                assert!(
                    hex.len() == 32 && hex.bytes().all(|b| b.is_ascii_hexdigit()),
                    "{stream}"
                );
                assert!(
                    !events.is_empty() && events.len() <= DEFAULT_MAX_BATCH_EVENTS,
                    "{name}"
                );
                let mut last = i64::MIN;
                for ev in events {
                    let id = ev["id"].as_str().unwrap();
                    assert!(
                        id.len() == 56 && id.bytes().all(|b| b.is_ascii_digit()),
                        "{id}"
                    );
                    let ts = ev["timestamp"].as_i64().unwrap();
                    assert!(ts >= last, "events of a batch are in time order");
                    last = ts;
                    assert!(ev["message"].is_string());
                }
            }
            "CONTROL_MESSAGE" => {
                control += 1;
                assert_eq!(doc["owner"], "CloudwatchLogs");
                assert_eq!(doc["logGroup"], "");
                assert_eq!(doc["logStream"], "");
                assert_eq!(events.len(), 1);
                assert_eq!(
                    events[0]["message"],
                    "CWL CONTROL MESSAGE: Checking health of destination Firehose."
                );
            }
            other => panic!("{name}: messageType {other}"),
        }
    }
    assert!(control >= 2);
    assert_eq!(control, corpus.expected.control_messages);

    // The typed structs of aws_lambda_events read every file too.
    use aws_lambda_events::event::cloudwatch_logs::LogsEvent;
    for (name, bytes) in &corpus.files {
        let ev: LogsEvent = serde_json::from_slice(bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(!ev.aws_logs.data.log_events.is_empty());
    }
}

#[test]
fn genlogs_redelivered_files_are_byte_identical() {
    let corpus = default_corpus();
    let mut by_id: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, (_, doc)) in decoded().iter().enumerate() {
        if doc["messageType"] == "DATA_MESSAGE" {
            for ev in doc["logEvents"].as_array().unwrap() {
                by_id.entry(ev["id"].as_str().unwrap()).or_default().push(i);
            }
        }
    }
    let mut max_copies = 1;
    for files in by_id.values() {
        for &f in &files[1..] {
            assert_eq!(
                corpus.files[files[0]].1, corpus.files[f].1,
                "an id in two different files"
            );
        }
        max_copies = max_copies.max(files.len());
    }
    assert!(max_copies >= 3, "some batch arrives three times");
    let delivered: usize = by_id.values().map(Vec::len).sum();
    assert_eq!(by_id.len() as u64, corpus.expected.log_events_total);
    assert_eq!(delivered as u64, corpus.expected.log_events_delivered);
    assert!(corpus.expected.log_events_delivered > corpus.expected.log_events_total);

    let once = generate(&GenOptions {
        redeliveries: false,
        days: 1,
        users: 5,
        ..GenOptions::default()
    });
    let contents: BTreeSet<&Vec<u8>> = once.files.iter().map(|(_, b)| b).collect();
    assert_eq!(contents.len(), once.files.len());
    assert_eq!(
        once.expected.log_events_total,
        once.expected.log_events_delivered
    );
}

#[test]
fn genlogs_expectation_is_consistent() {
    let e = &default_corpus().expected;
    let counted: u64 = e.sessions.values().map(|s| s.event_count).sum();
    assert_eq!(counted, e.kept_event_ids.len() as u64);
    assert_eq!(
        e.kept_event_ids,
        e.events.keys().cloned().collect::<BTreeSet<_>>()
    );
    assert_eq!(e.log_events_total, e.kept_events() + e.dropped_total());
    for s in e.sessions.values() {
        assert!(s.start_time_ms <= s.end_time_ms);
        assert_eq!(s.user, s.user.trim().to_lowercase());
        assert!(!s.paths.is_empty());
    }
    for ev in e.events.values() {
        assert!(e.sessions.contains_key(&ev.session_id));
        assert!(!ev.path.contains(['?', '#']));
    }
    // Mostly good request events.
    let kept = e.kept_events() as f64 / e.log_events_total as f64;
    assert!((0.65..0.9).contains(&kept), "kept share {kept}");
    // Serialises.
    let json = serde_json::to_string(e).unwrap();
    let back: Expected = serde_json::from_str(&json).unwrap();
    assert_eq!(&back, e);
}

#[test]
fn genlogs_documents_have_the_index_shapes() {
    let e = &default_corpus().expected;
    let (_, ev) = e.events.iter().next().unwrap();
    let doc = ev.to_doc();
    let keys: Vec<&str> = doc
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys.len(), 12);
    assert!(doc["timestamp"].as_str().unwrap().ends_with('Z'));
    assert_eq!(
        ev.index_date(),
        doc["timestamp"].as_str().unwrap()[..10].replace('-', ".")
    );
    let s = e.sessions.values().find(|s| s.event_count > 3).unwrap();
    let doc = s.to_doc();
    assert_eq!(doc.as_object().unwrap().len(), 10);
    assert_eq!(doc["event_count"], s.event_count);
    assert_eq!(
        doc["duration_seconds"].as_f64().unwrap(),
        s.duration_seconds()
    );
    assert_eq!(doc["start_time"], fmt_utc_ms(s.start_time_ms));
    let paths: Vec<&str> = doc["paths"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect();
    let mut sorted = paths.clone();
    sorted.sort();
    assert_eq!(paths, sorted);
}

#[test]
fn genlogs_time_formatting_matches_chrono() {
    for ms in [
        0_i64,
        1,
        999,
        86_399_999,
        951_782_400_000,
        1_793_628_191_482,
        4_102_444_799_999,
        -1,
    ] {
        let chrono = chrono::DateTime::from_timestamp_millis(ms)
            .unwrap()
            .format("%Y-%m-%dT%H:%M:%S%.3fZ")
            .to_string();
        assert_eq!(fmt_utc_ms(ms), chrono);
    }
    let epoch = chrono::NaiveDate::from_ymd_opt(1970, 1, 1).unwrap();
    for d in (-800..800).chain(10_950..11_500).chain(20_000..20_800) {
        let (y, m, dd) = civil_from_days(d);
        let date = chrono::NaiveDate::from_ymd_opt(y as i32, m, dd).unwrap();
        assert_eq!((date - epoch).num_days(), d);
    }
}

#[test]
fn genlogs_write_corpus_refuses_foreign_files() {
    let dir = std::env::temp_dir().join(format!("genlogs-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let corpus = generate(&GenOptions {
        days: 1,
        users: 2,
        ..GenOptions::default()
    });
    write_corpus(&corpus, &dir).unwrap();
    let names: Vec<String> = {
        let mut v: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    };
    assert_eq!(
        names,
        corpus
            .files
            .iter()
            .map(|(n, _)| n.clone())
            .collect::<Vec<_>>()
    );
    // The same corpus again is fine; another file is not.
    write_corpus(&corpus, &dir).unwrap();
    std::fs::write(dir.join("expected.json"), "{}").unwrap();
    assert!(write_corpus(&corpus, &dir).is_err());
    std::fs::remove_dir_all(&dir).unwrap();

    assert!(is_within(&dir.join("x.json"), &dir));
    assert!(is_within(&dir, &dir));
    assert!(!is_within(&dir.with_extension("json"), &dir));
}

#[test]
fn genlogs_target_events_is_approximate() {
    let opts = GenOptions::for_events(30_000, 2, 7);
    let corpus = generate(&opts);
    let n = corpus.expected.log_events_total as f64;
    assert!(
        (0.75 * 30_000.0..1.25 * 30_000.0).contains(&n),
        "{n} log events"
    );
    // Scaling sessions with a fixed number of users works too.
    let opts = GenOptions {
        users: 10,
        days: 1,
        target_events: Some(10_000),
        ..GenOptions::default()
    };
    let n = generate(&opts).expected.log_events_total as f64;
    assert!(
        (0.6 * 10_000.0..1.4 * 10_000.0).contains(&n),
        "{n} log events"
    );
}

// ------------------------------------------------ reference reading --

/// What the spec makes of one line (test-only reference implementation).
#[derive(Debug)]
enum Read {
    Kept(Box<ExpectedEvent>),
    Dropped(&'static str, Option<String>),
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                let hex = std::str::from_utf8(&b[i + 1..i + 3]).unwrap();
                out.push(u8::from_str_radix(hex, 16).expect("valid escape"));
                i += 2;
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8(out).expect("UTF-8")
}

fn norm_parts(value: &str, out: &mut Vec<String>) {
    for part in value.split(',') {
        let p = part.trim().to_lowercase();
        if !p.is_empty() {
            out.push(p);
        }
    }
}

/// Reads a line by the spec, noting which rules it exercised in `seen`.
fn read_line(message: &str, log_ts: i64, seen: &mut BTreeSet<String>) -> Read {
    let mut tag = |t: &str| {
        seen.insert(t.to_string());
    };
    let Some(start) = message.find('{') else {
        return Read::Dropped("unparsed", None);
    };
    let prefix = &message[..start];
    let Ok(Value::Object(rec)) = serde_json::from_str::<Value>(&message[start..]) else {
        return Read::Dropped("unparsed", None);
    };
    let sid_any = rec
        .get("sessionId")
        .and_then(Value::as_str)
        .map(|s| s.trim().to_string());
    let typ = rec
        .get("type")
        .and_then(Value::as_str)
        .map(|t| t.trim().to_lowercase());
    let beacon = match typ.as_deref() {
        Some("request") => false,
        Some("page-beacon") => true,
        _ => return Read::Dropped("not_request", sid_any),
    };
    let raw_type = rec["type"].as_str().unwrap();
    if raw_type != raw_type.trim() {
        tag("type:whitespace");
    }
    if raw_type.trim() != raw_type.trim().to_lowercase() {
        tag("type:case");
    }
    let sid = match rec.get("sessionId").and_then(Value::as_str).map(str::trim) {
        Some(s) if !s.is_empty() => s.to_string(),
        _ => return Read::Dropped("no_session", None),
    };
    let user = match rec
        .get("user")
        .and_then(Value::as_str)
        .map(|u| u.trim().to_lowercase())
    {
        Some(u) if !u.is_empty() => u,
        _ => return Read::Dropped("no_user", Some(sid)),
    };
    let Some(url) = rec.get("url").and_then(Value::as_str) else {
        return Read::Dropped("no_url", Some(sid));
    };
    let method = rec
        .get("method")
        .and_then(Value::as_str)
        .map(|m| m.to_uppercase());
    let path_end = url.find(['?', '#']).unwrap_or(url.len());
    let path = &url[..path_end];
    if matches!(method.as_deref(), Some("OPTIONS" | "HEAD")) {
        return Read::Dropped("noise_method", Some(sid));
    }
    let lower = path.to_ascii_lowercase();
    let suffixes = [
        ".js", ".css", ".map", ".png", ".jpg", ".jpeg", ".gif", ".svg", ".ico", ".woff", ".woff2",
        ".ttf",
    ];
    if ["/health", "/healthz", "/ping", "/metrics", "/favicon.ico"].contains(&path)
        || path.starts_with("/static/")
        || suffixes.iter().any(|s| lower.ends_with(s))
    {
        return Read::Dropped("noise_path", Some(sid));
    }
    let ua = rec.get("userAgent").and_then(Value::as_str).unwrap_or("");
    let ua_lower = ua.to_lowercase();
    if [
        "elb-healthchecker",
        "kube-probe",
        "googlebot",
        "bingbot",
        "pingdom",
        "uptimerobot",
    ]
    .iter()
    .any(|b| ua_lower.contains(b))
    {
        return Read::Dropped("noise_user_agent", Some(sid));
    }
    if user.ends_with("@ironman.internal") {
        return Read::Dropped("noise_user", Some(sid));
    }

    // Kept: what it exercised.
    tag(match prefix {
        "" => "prefix:none",
        p if p.starts_with('[') => "prefix:bracket",
        p if p.contains('\t') => "prefix:iso-tab",
        _ => "prefix:level",
    });
    if message.len() > message.trim_end().len() {
        tag("line:trailing-whitespace");
    }
    let raw_sid = rec["sessionId"].as_str().unwrap();
    if raw_sid != sid {
        tag("session:whitespace");
    }
    let raw_user = rec["user"].as_str().unwrap();
    if raw_user != raw_user.trim() {
        tag("user:whitespace");
    }
    if raw_user.trim() != user {
        tag("user:case");
    }
    if !user.is_ascii() {
        tag("user:unicode");
    }
    match rec.get("method").and_then(Value::as_str) {
        None => tag("method:missing"),
        Some(m) if m != m.to_uppercase() => tag("method:not-uppercase"),
        _ => {}
    }

    let timestamp_ms = match rec.get("timestamp") {
        Some(Value::String(s)) => match chrono::DateTime::parse_from_rfc3339(s) {
            Ok(t) => {
                let frac = s
                    .split(['+', '-', 'Z'])
                    .nth(2)
                    .and_then(|x| x.split('.').nth(1))
                    .map_or(0, str::len);
                tag(if s.ends_with('Z') {
                    "ts:rfc3339-z"
                } else {
                    "ts:rfc3339-offset"
                });
                tag(match frac {
                    0 => "ts:no-fraction",
                    1..=3 => "ts:fraction",
                    _ => "ts:fraction-over-ms",
                });
                if s.ends_with("-03:00")
                    || s.ends_with("-05:00")
                    || s.ends_with("-08:00")
                    || s.ends_with("-09:30")
                {
                    tag("ts:negative-offset");
                }
                t.timestamp_millis()
            }
            Err(_) => {
                tag("ts:unreadable");
                log_ts
            }
        },
        Some(Value::Number(n)) if n.is_i64() => {
            tag("ts:epoch-ms");
            n.as_i64().unwrap()
        }
        Some(_) => {
            tag("ts:unreadable");
            log_ts
        }
        None => {
            tag("ts:missing");
            log_ts
        }
    };
    let status_code = match rec.get("status") {
        Some(Value::Number(n)) => n.as_i64(),
        Some(Value::String(s)) => {
            tag("status:string");
            Some(s.parse().expect("digits"))
        }
        _ => None,
    };
    if status_code.is_some_and(|c| c >= 400) {
        tag("status:error-kept");
    }
    let response_time = rec.get("responseTimeMs").and_then(Value::as_f64).map(|v| {
        if v.fract() != 0.0 {
            tag("rt:fraction");
        }
        v.round() as i64
    });
    let module = match rec.get("module").and_then(Value::as_str) {
        Some(_) if !beacon => {
            tag("module:on-request-ignored");
            None
        }
        Some(m) if m.trim().is_empty() => {
            tag("module:empty");
            None
        }
        Some(m) => {
            if m != m.trim() {
                tag("module:whitespace");
            }
            Some(m.trim().to_string())
        }
        None => None,
    };

    let query = url[path_end..]
        .strip_prefix('?')
        .map(|q| q.split('#').next().unwrap())
        .unwrap_or("");
    if url[path_end..].contains('#') {
        tag("url:fragment");
    }
    let params: Vec<(&str, &str)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| p.split_once('=').unwrap_or((p, "")))
        .collect();
    let key = rec
        .get("siteToken")
        .and_then(Value::as_str)
        .map(|t| t.trim().to_string());
    let in_path = path.find("/sites/").map(|i| {
        let rest = &path[i + "/sites/".len()..];
        rest[..rest.find('/').unwrap_or(rest.len())].to_string()
    });
    let in_query = params
        .iter()
        .find(|(k, _)| *k == "siteToken")
        .map(|(_, v)| v.trim().to_string());
    let site_token = match (&key, &in_path, &in_query) {
        (Some(k), p, q) => {
            tag("site:key");
            if p.as_ref().is_some_and(|p| p != k) {
                tag("site:key-over-path");
            }
            if q.as_ref().is_some_and(|q| q != k) {
                tag("site:key-over-query");
            }
            if rec["siteToken"].as_str().unwrap() != k {
                tag("site:key-whitespace");
            }
            Some(k.clone())
        }
        (None, Some(p), q) => {
            tag("site:path");
            if q.as_ref().is_some_and(|q| q != p) {
                tag("site:path-over-query");
            }
            Some(p.clone())
        }
        (None, None, Some(q)) => {
            tag("site:query");
            Some(q.clone())
        }
        (None, None, None) => {
            if query.contains("/sites/") {
                tag("site:marker-only-in-query");
            }
            None
        }
    };
    let mut asset_types = Vec::new();
    let asset_params: Vec<&str> = params
        .iter()
        .filter(|(k, _)| *k == "assetType")
        .map(|(_, v)| *v)
        .collect();
    if asset_params.len() > 1 {
        tag("asset:repeated-param");
    }
    for v in &asset_params {
        for (needle, t) in [
            ("%20", "asset:%20"),
            ("+", "asset:plus"),
            ("%2C", "asset:%2C"),
            ("%2c", "asset:%2C"),
            (",", "asset:comma-list"),
            ("%C3", "asset:utf8"),
            ("%c3", "asset:utf8"),
        ] {
            if v.contains(needle) {
                tag(t);
            }
        }
        let decoded = percent_decode(v);
        if decoded.split(',').any(|p| p.trim().is_empty()) {
            tag("asset:empty-part");
        }
        if decoded
            .split(',')
            .any(|p| p.trim() != p || p.trim() != p.trim().to_lowercase())
        {
            tag("asset:case-or-whitespace");
        }
        norm_parts(&decoded, &mut asset_types);
    }
    if params.iter().any(|(k, _)| *k == "assetTypeId") {
        tag("asset:similar-param-ignored");
    }
    if let Some(arr) = rec.get("assetTypes").and_then(Value::as_array) {
        tag("asset:array");
        for item in arr {
            let item = item.as_str().unwrap();
            let p = item.trim().to_lowercase();
            if p.is_empty() {
                tag("asset:array-empty-item");
            } else {
                asset_types.push(p);
            }
        }
    }
    if !path.is_ascii() || path.contains('%') {
        tag("path:unicode-or-encoded");
    }
    if ua.len() >= 20_000 {
        tag("line:long-user-agent");
    }
    if query.len() >= 5_000 {
        tag("line:long-query");
    }
    Read::Kept(Box::new(ExpectedEvent {
        timestamp_ms,
        session_id: sid,
        user,
        path: path.to_string(),
        method,
        status_code,
        response_time,
        module,
        site_token,
        asset_types,
        log_group: String::new(),
        log_stream: String::new(),
    }))
}

/// Reads every file in name order as the processor would and compares
/// every request event, drop counter and session summary with the
/// expectation; returns the rules exercised.
fn read_corpus(corpus: &Corpus, files: &[(String, Value)]) -> BTreeSet<String> {
    let e = &corpus.expected;
    let mut seen = BTreeSet::new();
    let mut done: BTreeSet<String> = BTreeSet::new();
    let mut dropped: BTreeMap<String, u64> = BTreeMap::new();
    let mut kept: BTreeMap<String, ExpectedEvent> = BTreeMap::new();
    let mut messages: BTreeMap<String, usize> = BTreeMap::new();
    let mut noise_sessions: BTreeSet<String> = BTreeSet::new();
    // For arrival order: the earliest timestamp seen so far per session.
    let mut earliest_seen: BTreeMap<String, i64> = BTreeMap::new();
    for (_, doc) in files {
        if doc["messageType"] != "DATA_MESSAGE" {
            continue;
        }
        let group = doc["logGroup"].as_str().unwrap();
        let stream = doc["logStream"].as_str().unwrap();
        for ev in doc["logEvents"].as_array().unwrap() {
            let id = ev["id"].as_str().unwrap().to_string();
            if !done.insert(id.clone()) {
                continue;
            }
            let message = ev["message"].as_str().unwrap();
            *messages.entry(message.to_string()).or_default() += 1;
            let log_ts = ev["timestamp"].as_i64().unwrap();
            match read_line(message, log_ts, &mut seen) {
                Read::Kept(mut k) => {
                    k.log_group = group.to_string();
                    k.log_stream = stream.to_string();
                    let expected = e
                        .events
                        .get(&id)
                        .unwrap_or_else(|| panic!("{id} kept but not expected: {message}"));
                    assert_eq!(&*k, expected, "{message}");
                    assert_eq!(k.to_doc(), expected.to_doc());
                    if let Some(&first) = earliest_seen.get(&k.session_id)
                        && k.timestamp_ms < first
                    {
                        seen.insert("arrival:earlier-part-after-later-part".into());
                    }
                    let first = earliest_seen
                        .entry(k.session_id.clone())
                        .or_insert(k.timestamp_ms);
                    *first = (*first).min(k.timestamp_ms);
                    kept.insert(id, *k);
                }
                Read::Dropped(reason, sid) => {
                    assert!(
                        !e.kept_event_ids.contains(&id),
                        "{id} expected kept, read as {reason}: {message}"
                    );
                    *dropped.entry(reason.to_string()).or_default() += 1;
                    if let Some(s) = sid {
                        noise_sessions.insert(s);
                    }
                }
            }
        }
    }
    assert_eq!(kept.len(), e.events.len());
    assert_eq!(dropped, e.dropped);
    if messages.values().any(|&n| n > 1) {
        seen.insert("line:same-content-twice".into());
    }

    // Sessions, folded independently.
    let mut by_session: BTreeMap<&str, Vec<(&String, &ExpectedEvent)>> = BTreeMap::new();
    for (id, k) in &kept {
        by_session.entry(&k.session_id).or_default().push((id, k));
    }
    assert_eq!(by_session.len(), e.sessions.len());
    for (sid, mut evs) in by_session {
        evs.sort_by(|a, b| a.1.timestamp_ms.cmp(&b.1.timestamp_ms).then(a.0.cmp(b.0)));
        let s = &e.sessions[sid];
        assert_eq!(s.user, evs[0].1.user, "{sid}");
        assert_eq!(s.start_time_ms, evs[0].1.timestamp_ms);
        assert_eq!(s.end_time_ms, evs.last().unwrap().1.timestamp_ms);
        assert_eq!(s.event_count, evs.len() as u64);
        let modules: BTreeSet<String> = evs.iter().filter_map(|(_, k)| k.module.clone()).collect();
        let paths: BTreeSet<String> = evs.iter().map(|(_, k)| k.path.clone()).collect();
        let assets: BTreeSet<String> = evs
            .iter()
            .flat_map(|(_, k)| k.asset_types.clone())
            .collect();
        let sites: BTreeSet<String> = evs
            .iter()
            .filter_map(|(_, k)| k.site_token.clone())
            .collect();
        assert_eq!(
            (&s.modules, &s.paths, &s.asset_types, &s.site_tokens),
            (&modules, &paths, &assets, &sites)
        );
        if evs.iter().any(|(_, k)| k.user != s.user) {
            seen.insert("session:user-of-earliest-record".into());
        }
        if evs.iter().any(|(_, k)| k.user != s.user) && evs.iter().any(|(_, k)| k.user == s.user) {
            seen.insert("session:users-differ".into());
        }
        if s.start_date()
            != chrono::DateTime::from_timestamp_millis(s.end_time_ms)
                .unwrap()
                .date_naive()
        {
            seen.insert("session:crosses-midnight".into());
        }
        if s.event_count == 1 {
            seen.insert("session:single-event".into());
        }
        let d = s.duration_seconds();
        let bucket = [60.0, 300.0, 900.0, 1800.0, 3600.0]
            .iter()
            .filter(|&&b| d >= b)
            .count();
        seen.insert(format!("session:bucket-{bucket}"));
    }
    if noise_sessions.iter().any(|s| !e.sessions.contains_key(s)) {
        seen.insert("session:noise-only".into());
    }
    for (reason, n) in &e.dropped {
        if *n > 0 {
            seen.insert(format!("dropped:{reason}"));
        }
    }
    seen
}

#[test]
fn genlogs_lines_read_by_the_spec_give_the_expectation() {
    let seen = read_corpus(default_corpus(), decoded());
    let missing = missing_rules(&seen);
    assert!(missing.is_empty(), "rules not exercised: {missing:?}");
}

#[test]
fn genlogs_other_seeds_exercise_every_rule_too() {
    for seed in [1, 2] {
        let corpus = generate(&GenOptions {
            seed,
            ..GenOptions::default()
        });
        let files: Vec<(String, Value)> = corpus
            .files
            .iter()
            .map(|(n, b)| (n.clone(), decode(b)))
            .collect();
        let missing = missing_rules(&read_corpus(&corpus, &files));
        assert!(
            missing.is_empty(),
            "seed {seed}: rules not exercised: {missing:?}"
        );
    }
}

/// The rules of the spec a default-sized corpus must exercise.
fn missing_rules(seen: &BTreeSet<String>) -> Vec<String> {
    let mut missing = Vec::new();
    let required = [
        "prefix:none",
        "prefix:bracket",
        "prefix:iso-tab",
        "prefix:level",
        "line:trailing-whitespace",
        "type:whitespace",
        "type:case",
        "session:whitespace",
        "user:whitespace",
        "user:case",
        "user:unicode",
        "method:missing",
        "method:not-uppercase",
        "ts:rfc3339-z",
        "ts:rfc3339-offset",
        "ts:negative-offset",
        "ts:no-fraction",
        "ts:fraction",
        "ts:fraction-over-ms",
        "ts:epoch-ms",
        "ts:missing",
        "ts:unreadable",
        "status:string",
        "status:error-kept",
        "rt:fraction",
        "module:on-request-ignored",
        "module:empty",
        "module:whitespace",
        "url:fragment",
        "site:key",
        "site:path",
        "site:query",
        "site:key-over-path",
        "site:key-over-query",
        "site:path-over-query",
        "site:key-whitespace",
        "site:marker-only-in-query",
        "asset:repeated-param",
        "asset:%20",
        "asset:plus",
        "asset:%2C",
        "asset:comma-list",
        "asset:utf8",
        "asset:empty-part",
        "asset:case-or-whitespace",
        "asset:similar-param-ignored",
        "asset:array",
        "asset:array-empty-item",
        "path:unicode-or-encoded",
        "line:long-user-agent",
        "line:long-query",
        "line:same-content-twice",
        "arrival:earlier-part-after-later-part",
        "session:user-of-earliest-record",
        "session:crosses-midnight",
        "session:single-event",
        "session:noise-only",
        "session:bucket-0",
        "session:bucket-1",
        "session:bucket-2",
        "session:bucket-3",
        "session:bucket-4",
        "session:bucket-5",
    ];
    for r in required {
        if !seen.contains(r) {
            missing.push(r.to_string());
        }
    }
    for r in Reason::ALL {
        if !seen.contains(&format!("dropped:{}", r.name())) {
            missing.push(format!("dropped:{}", r.name()));
        }
    }
    missing
}

#[test]
fn genlogs_small_corpora_read_back_too() {
    for (seed, users, days) in [(1, 1, 1), (2, 3, 2), (3, 8, 1)] {
        let corpus = generate(&GenOptions {
            seed,
            users,
            days,
            ..GenOptions::default()
        });
        let files: Vec<(String, Value)> = corpus
            .files
            .iter()
            .map(|(n, b)| (n.clone(), decode(b)))
            .collect();
        read_corpus(&corpus, &files);
    }
}

/// `--events N` sizes a corpus through `model::EVENTS_PER_SESSION`: when
/// the model changes, this fails with the value to put there.
#[test]
fn events_target_sizes_the_corpus() {
    for (target, days, seed) in [(20_000u64, 3, 1), (8_000, 5, 2)] {
        let opts = GenOptions::for_events(target, days, seed);
        let m = super::model::build(&opts, &mut |_| {});
        let events = m.events.len() as u64;
        let per_session = events as f64 / m.sessions_planned as f64;
        let ratio = events as f64 / target as f64;
        assert!(
            (0.75..=1.33).contains(&ratio),
            "asked for {target} log events, got {events}; the model now makes {per_session:.1} log events per planned session (EVENTS_PER_SESSION)"
        );
    }
}

/// `--session-events N`: one session per user, each with exactly N kept
/// request events, all open together, written as batches of about a
/// hundred log events of which a typical one touches most open sessions;
/// and the reference reading agrees with the expectation.
#[test]
fn genlogs_long_sessions_have_their_shape() {
    const USERS: u32 = 20;
    const N: u32 = 300;
    let opts = GenOptions::long_sessions(USERS, N, DEFAULT_SEED).unwrap();
    let corpus = generate(&opts);
    let e = &corpus.expected;
    assert_eq!(e.sessions.len(), USERS as usize);
    for s in e.sessions.values() {
        assert_eq!(s.event_count, u64::from(N), "{}", s.session_id);
    }
    // Open together, recent-ish like the default corpus (its first day).
    let day0 = default_start_date()
        .and_hms_opt(0, 0, 0)
        .unwrap()
        .and_utc()
        .timestamp_millis();
    let latest_start = e.sessions.values().map(|s| s.start_time_ms).max().unwrap();
    let earliest_end = e.sessions.values().map(|s| s.end_time_ms).min().unwrap();
    assert!(latest_start < earliest_end);
    for s in e.sessions.values() {
        assert!(s.start_time_ms >= day0 + 6 * 3_600_000 - 60_000, "{s:?}");
        // 299 polls of 20 to 40 s.
        let polls = s.end_time_ms - s.start_time_ms;
        assert!((299 * 19_000..=299 * 41_000).contains(&polls), "{polls}");
    }
    // The size estimate of the size check.
    let per_kept = e.log_events_total as f64 / e.kept_events() as f64;
    assert!(
        (per_kept - super::model::LONG_SESSION_LOG_EVENTS_PER_KEPT).abs() < 0.05,
        "a long-session corpus now makes {per_kept:.3} log events per kept event (LONG_SESSION_LOG_EVENTS_PER_KEPT)"
    );

    let files: Vec<(String, Value)> = corpus
        .files
        .iter()
        .map(|(n, b)| (n.clone(), decode(b)))
        .collect();
    let mut sizes = Vec::new();
    let mut touched_share = Vec::new();
    for (_, doc) in &files {
        if doc["messageType"] != "DATA_MESSAGE" {
            continue;
        }
        let events = doc["logEvents"].as_array().unwrap();
        sizes.push(events.len());
        let first = events[0]["timestamp"].as_i64().unwrap();
        let last = events.last().unwrap()["timestamp"].as_i64().unwrap();
        let touched: BTreeSet<&str> = events
            .iter()
            .filter_map(|ev| e.events.get(ev["id"].as_str().unwrap()))
            .map(|k| k.session_id.as_str())
            .collect();
        // Sessions open for the whole time the batch spans.
        let open = e
            .sessions
            .values()
            .filter(|s| s.start_time_ms <= first && last <= s.end_time_ms)
            .count();
        if open > 0 {
            touched_share.push(touched.len() as f64 / open as f64);
        }
    }
    assert!(sizes.iter().all(|&n| n <= 110), "{sizes:?}");
    let about_100 = sizes.iter().filter(|&&n| (90..=110).contains(&n)).count();
    // Only each stream's last batch may be smaller.
    assert!(about_100 * 10 >= sizes.len() * 9, "{sizes:?}");
    touched_share.sort_by(f64::total_cmp);
    let median = touched_share[touched_share.len() / 2];
    assert!(
        touched_share.len() * 2 > sizes.len() && median >= 0.9,
        "a typical batch touches {:.0}% of the open sessions",
        median * 100.0
    );

    read_corpus(&corpus, &files);

    // Values that make no such corpus are refused, saying why.
    for (users, n, expected) in [
        (20, 0, "--session-events must be at least 1"),
        (0, 100, "--users must be at least 1"),
        (20, 100_001, "at most 100000"),
        (1_000, 10_000, "use fewer users or fewer events per session"),
    ] {
        let err = GenOptions::long_sessions(users, n, 1)
            .unwrap_err()
            .to_string();
        assert!(err.contains(expected), "{users} × {n}: {err}");
    }
}
