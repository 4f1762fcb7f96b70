//! Offline throughput and memory of the processor: everything an invocation
//! does except the network (decode, parse, filter, enrich, sessionize and
//! serialise the bulk bodies), on one thread. Run through `cargo xtask bench`.
//!
//! bench --input DIR            throughput over every file of DIR; the last
//!                              line printed is a JSON summary
//! bench --make-payload OUT --input DIR [--compressed-bytes N]
//!                              one Lambda event of about N compressed bytes
//!                              (default 1 MB) made of DIR's log events
//! bench --one FILE             one invocation's work on FILE, then its peak
//!                              resident memory as JSON
//! bench --digest DIR           SHA-256 of everything the processor derives
//!                              from DIR (counts, kept raw lines, bulk bodies,
//!                              summaries in session order): two builds that
//!                              print the same digest give the same output

use base64::Engine;
use flate2::{Compression, write::GzEncoder};
use processor::batch::{process_batch, process_read_batch, summarize};
use processor::config::{PipelineConfig, Rules};
use processor::decode::{RawLogsEvent, inflate, parse_batch, parse_batch_reading, recycle};
use processor::output::{DailyIndex, event_bodies};
use processor::sink::DEFAULT_MAX_BULK_BYTES;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// The allocator the Lambda runs with (`src/bin/bootstrap.rs`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Default)]
struct Work {
    phases: [f64; 6],
    log_events: u64,
    log_bytes: u64,
    kept: u64,
    sessions: u64,
    bulk_bytes: u64,
}

/// All the work of one invocation but the network.
fn process_event(bytes: &[u8], rules: &Rules, prefix: &str, work: &mut Work) {
    let mut clock = Instant::now();
    let mut lap = |work: &mut Work, phase: usize| {
        let now = Instant::now();
        work.phases[phase] += (now - clock).as_secs_f64();
        clock = now;
    };
    let raw = RawLogsEvent::from_slice(bytes).expect("a Lambda event");
    let json = inflate(&raw.awslogs.data).expect("valid awslogs.data");
    lap(work, 0);
    work.log_bytes += json.len() as u64;
    // Reading the batch reads most lines too: the two phases overlap.
    let (batch, lines) = parse_batch_reading(&json, rules).expect("a CloudWatch Logs document");
    lap(work, 1);
    let processed = process_read_batch(&batch, lines, rules);
    lap(work, 2);
    work.log_events += processed.counts.log_events;
    work.kept += processed.counts.kept;
    let mut daily = DailyIndex::new(prefix);
    let bodies = event_bodies(
        &processed.events,
        processed.log_group,
        processed.log_stream,
        &mut daily,
        DEFAULT_MAX_BULK_BYTES,
    );
    work.bulk_bytes += bodies.iter().map(|b| b.bytes.len() as u64).sum::<u64>();
    lap(work, 3);
    let sessions = summarize(&processed.events);
    work.sessions += sessions.len() as u64;
    let mut summary_body = Vec::with_capacity(sessions.len() * 512);
    for summary in sessions.values() {
        summary.write_document(&mut summary_body, 0);
        summary_body.push(b'\n');
    }
    work.bulk_bytes += summary_body.len() as u64;
    lap(work, 4);
    std::hint::black_box((bodies, summary_body));
    drop(processed);
    drop(batch);
    recycle(json);
    lap(work, 5);
}

/// The files under `dir` in name order, subdirectories where their names
/// fall (as `cargo xtask replay` reads a directory).
fn files_of(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    files_under(dir, 0, &mut files);
    files
}

/// Exit code of `--make-payload` when the corpus holds less than the
/// payload asked for: `cargo xtask bench` then skips the memory run.
const EXIT_TOO_SMALL: i32 = 3;

/// A mistake in the input, not a bug: one line on stderr, no backtrace.
fn fail(code: i32, message: std::fmt::Arguments) -> ! {
    eprintln!("bench: {message}");
    std::process::exit(code)
}

/// Deeper than this is taken for a symbolic link loop (as `replay` does).
const MAX_DIRECTORY_DEPTH: usize = 32;

fn files_under(dir: &Path, depth: usize, files: &mut Vec<PathBuf>) {
    if depth > MAX_DIRECTORY_DEPTH {
        fail(
            1,
            format_args!(
                "{}: more than {MAX_DIRECTORY_DEPTH} directories deep (a symbolic link loop?)",
                dir.display()
            ),
        );
    }
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| fail(1, format_args!("{}: {e}", dir.display())))
        .map(|e| {
            e.unwrap_or_else(|e| fail(1, format_args!("{}: {e}", dir.display())))
                .path()
        })
        .collect();
    entries.sort_by(|a, b| a.file_name().cmp(&b.file_name()));
    for entry in entries {
        if entry.is_dir() {
            files_under(&entry, depth + 1, files);
        } else if entry.is_file() {
            files.push(entry);
        }
    }
}

/// The Lambda events under `dir` (see `files_of`), each read once. A file
/// that is not one (a manifest, notes, a payload the Lambda would
/// dead-letter) is left out, and named if `name_skipped`, rather than
/// stopping the run.
fn load_events(dir: &Path, name_skipped: bool) -> Vec<(PathBuf, Vec<u8>)> {
    let mut events = Vec::new();
    let mut skipped = Vec::new();
    for file in files_of(dir) {
        let bytes = std::fs::read(&file)
            .unwrap_or_else(|e| fail(1, format_args!("{}: {e}", file.display())));
        let decoded = RawLogsEvent::from_slice(&bytes)
            .and_then(|raw| inflate(&raw.awslogs.data))
            .and_then(|json| parse_batch(&json).map(|_| ()));
        match decoded {
            Ok(()) => events.push((file, bytes)),
            Err(e) => skipped.push(format!("{}: {e}", file.display())),
        }
    }
    if name_skipped && !skipped.is_empty() {
        const SHOWN: usize = 10;
        eprintln!(
            "left out {} file(s) that are not Lambda events of CloudWatch Logs:",
            skipped.len()
        );
        for reason in skipped.iter().take(SHOWN) {
            eprintln!("  {reason}");
        }
        if skipped.len() > SHOWN {
            eprintln!("  … and {} more", skipped.len() - SHOWN);
        }
    }
    if events.is_empty() {
        fail(
            1,
            format_args!("no Lambda event files in {}", dir.display()),
        );
    }
    events
}

fn peak_rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map(|kb| kb * 1024)
        .unwrap_or(0)
}

fn rules(pipeline: Option<&str>) -> Rules {
    match pipeline {
        Some(path) => {
            Rules::compile(&PipelineConfig::from_file(Path::new(path)).expect("pipeline rules"))
        }
        None => Rules::builtin(),
    }
}

/// One pass over the payloads, timed.
fn pass(payloads: &[Vec<u8>], rules: &Rules) -> (Work, f64) {
    let mut work = Work::default();
    let started = Instant::now();
    for payload in payloads {
        process_event(payload, rules, "request-events-", &mut work);
    }
    (work, started.elapsed().as_secs_f64())
}

/// `runs` passes over the corpus (loaded once); the run with the median
/// rate is reported, every run's rate is shown: a shared machine's noise
/// moves single runs by a third.
fn throughput(dir: &Path, rules: &Rules, runs: usize) {
    let runs = runs.max(1);
    let payloads: Vec<Vec<u8>> = load_events(dir, true).into_iter().map(|(_, b)| b).collect();
    let compressed: u64 = payloads.iter().map(|p| p.len() as u64).sum();
    let mut results: Vec<(Work, f64)> = Vec::with_capacity(runs);
    for run in 1..=runs {
        let (work, seconds) = pass(&payloads, rules);
        eprintln!(
            "  run {run}/{runs}: {:.3}s, {:.0} events/s",
            seconds,
            work.log_events as f64 / seconds
        );
        results.push((work, seconds));
    }
    // The same events every run: the median rate is the median time's.
    results.sort_by(|a, b| a.1.total_cmp(&b.1));
    let (work, seconds) = results.swap_remove(results.len() / 2);
    eprintln!(
        "{} files ({:.1} MB of events), {} log events ({:.1} MB inflated), {} kept, {} batch-level sessions, {:.1} MB of bulk bodies",
        payloads.len(),
        compressed as f64 / 1e6,
        work.log_events,
        work.log_bytes as f64 / 1e6,
        work.kept,
        work.sessions,
        work.bulk_bytes as f64 / 1e6
    );
    let names = [
        "decode (base64+gunzip)",
        "parse batch JSON",
        "parse+filter+enrich lines",
        "serialise event bulk",
        "sessionize+serialise summaries",
        "free",
    ];
    eprintln!("the median run ({seconds:.3}s):");
    for (name, t) in names.iter().zip(work.phases) {
        eprintln!("  {name:<32} {:>6.3}s {:>5.1}%", t, 100.0 * t / seconds);
    }
    println!(
        "{}",
        serde_json::json!({
            "events": work.log_events,
            "log_bytes": work.log_bytes,
            "seconds": seconds,
            "events_per_second": work.log_events as f64 / seconds,
            "mb_per_second": work.log_bytes as f64 / 1e6 / seconds,
        })
    );
}

/// Concatenates the corpus' log events into one batch until its gzip reaches
/// the target size.
fn make_payload(dir: &Path, out: &Path, target: usize) {
    let mut events = Vec::new();
    let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
    let mut estimate = 0usize;
    // Quiet: `cargo xtask bench` runs the throughput pass next, which names
    // the files left out.
    'files: for (_, bytes) in load_events(dir, false) {
        let raw = RawLogsEvent::from_slice(&bytes).expect("checked by load_events");
        let json = inflate(&raw.awslogs.data).expect("data");
        let batch = parse_batch(&json).expect("batch");
        for e in &batch.log_events {
            let entry = serde_json::json!({"id": format!("{}{:06}", e.id, events.len()), "timestamp": e.timestamp, "message": e.message.text()});
            let line = entry.to_string();
            encoder.write_all(line.as_bytes()).expect("Vec write");
            events.push(entry);
            if events.len() % 1000 == 0 {
                encoder.flush().expect("flush");
                estimate = encoder.get_ref().len();
                if estimate >= target {
                    break 'files;
                }
            }
        }
    }
    if estimate < target {
        fail(
            EXIT_TOO_SMALL,
            format_args!(
                "the corpus in {} is too small for a {target}-byte payload ({estimate} bytes of gzip)",
                dir.display()
            ),
        );
    }
    let doc = serde_json::json!({
        "messageType": "DATA_MESSAGE", "owner": "123456789012", "logGroup": "/ironman/app",
        "logStream": "bench/one", "subscriptionFilters": ["usage-analytics"], "logEvents": events,
    });
    let mut gz = GzEncoder::new(Vec::new(), Compression::default());
    gz.write_all(doc.to_string().as_bytes()).expect("Vec write");
    let gz = gz.finish().expect("gzip");
    let data = base64::engine::general_purpose::STANDARD.encode(&gz);
    std::fs::write(
        out,
        serde_json::json!({"awslogs": {"data": data}}).to_string(),
    )
    .expect("writable");
    eprintln!(
        "{}: {} log events, {} bytes compressed",
        out.display(),
        events.len(),
        gz.len()
    );
}

fn one(file: &Path, rules: &Rules) {
    let before = peak_rss_bytes();
    let payload = std::fs::read(file).expect("readable");
    let mut work = Work::default();
    process_event(&payload, rules, "request-events-", &mut work);
    println!(
        "{}",
        serde_json::json!({
            "payload_bytes": payload.len(),
            "log_events": work.log_events,
            "log_bytes": work.log_bytes,
            "peak_rss_bytes": peak_rss_bytes(),
            "rss_before_bytes": before,
        })
    );
}

fn digest(dir: &Path, rules: &Rules) {
    use sha2::{Digest, Sha256};
    let mut hash = Sha256::new();
    for (file, bytes) in load_events(dir, true) {
        let raw = RawLogsEvent::from_slice(&bytes).expect("checked by load_events");
        let json = inflate(&raw.awslogs.data).expect("data");
        let (batch, lines) = parse_batch_reading(&json, rules).expect("batch");
        let processed = process_read_batch(&batch, lines, rules);
        // Lines read in place or one by one: the same events.
        let plain_batch = parse_batch(&json).expect("batch");
        let plain = process_batch(&plain_batch, rules);
        assert_eq!(processed.counts, plain.counts, "{}", file.display());
        for (a, b) in processed.events.iter().zip(&plain.events) {
            assert_eq!((a.id, &a.event), (b.id, &b.event), "{}", file.display());
        }
        hash.update(serde_json::to_vec(&processed.counts).expect("counts"));
        for kept in &processed.events {
            hash.update(kept.id.as_bytes());
            hash.update(kept.message.text().as_bytes());
        }
        let mut daily = DailyIndex::new("request-events-");
        for body in event_bodies(
            &processed.events,
            processed.log_group,
            processed.log_stream,
            &mut daily,
            DEFAULT_MAX_BULK_BYTES,
        ) {
            hash.update(&body.bytes);
        }
        let sessions = summarize(&processed.events);
        let mut ids: Vec<_> = sessions.keys().collect();
        ids.sort();
        for id in ids {
            let mut doc = Vec::new();
            sessions[id].write_document(&mut doc, 0);
            hash.update(&doc);
        }
    }
    println!("{}", hex::encode(hash.finalize()));
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let value = |flag: &str| {
        args.iter().position(|a| a == flag).map(|i| {
            args.get(i + 1)
                .unwrap_or_else(|| panic!("{flag} needs a value"))
                .clone()
        })
    };
    let rules = rules(value("--pipeline").as_deref());
    if let Some(dir) = value("--digest") {
        digest(Path::new(&dir), &rules);
    } else if let Some(file) = value("--one") {
        one(Path::new(&file), &rules);
    } else if let Some(out) = value("--make-payload") {
        let dir = value("--input").expect("--input DIR");
        let target = value("--compressed-bytes")
            .map(|v| v.parse().expect("a number"))
            .unwrap_or(1_000_000);
        make_payload(Path::new(&dir), Path::new(&out), target);
    } else if let Some(dir) = value("--input") {
        let runs = value("--runs").map_or(1, |v| v.parse().expect("--runs: a number"));
        throughput(Path::new(&dir), &rules, runs);
    } else {
        eprintln!(
            "usage: bench --input DIR [--runs N] | --make-payload OUT --input DIR | --one FILE | --digest DIR"
        );
        std::process::exit(2);
    }
}
