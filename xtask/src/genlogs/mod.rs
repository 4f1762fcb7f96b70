//! `cargo xtask gen-logs`: a realistic, deterministic synthetic corpus of
//! CloudWatch Logs Lambda event files that follows the input contract
//! (`docs/log-format.md`), with the exact result a correct processor must
//! produce from it.
//!
//! - [`model`] plans users, sessions and every log line, each with its
//!   outcome (a request event, or a drop reason);
//! - [`render`] writes the lines, cuts them into per-stream batches, schedules
//!   deliveries (interleaved, some late, some redelivered, a few control
//!   messages) and encodes the files;
//! - [`expect`] folds the outcomes into the [`Expected`] request events,
//!   session summaries and drop counters.
//!
//! The expectation is derived from the model, never by parsing the generated
//! lines: it is the ground truth the processor's tests compare against.

mod expect;
#[cfg(test)]
mod format_tests;
mod model;
mod render;
mod report_expect;
#[cfg(test)]
mod tests;

pub use expect::{Expected, ExpectedEvent, ExpectedSession};

use anyhow::{Context as _, bail};
use chrono::NaiveDate;
use std::collections::BTreeSet;
use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

pub const DEFAULT_DAYS: u32 = 3;
pub const DEFAULT_USERS: u32 = 20;
pub const DEFAULT_SEED: u64 = 20_261_102;
pub const DEFAULT_SESSIONS_PER_USER_DAY: f64 = 1.5;
pub const DEFAULT_MAX_BATCH_EVENTS: usize = 250;
/// Log events per batch of a long-session corpus (`--session-events`),
/// about: each batch holds this many, give or take a tenth.
pub const LONG_SESSION_BATCH_EVENTS: usize = 100;
/// The most kept request events one long session may have: polled every
/// 20–40 s, that is already a month without a reload.
pub const MAX_SESSION_EVENTS: u32 = 100_000;

/// The first day of the default corpus (a Monday).
pub fn default_start_date() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, 2).expect("valid date")
}

#[derive(Debug, clap::Args)]
pub struct GenLogsArgs {
    /// Directory for the event files (created; must not hold other files).
    pub out: PathBuf,
    /// Days of activity, starting at --start-date.
    #[arg(long, default_value_t = DEFAULT_DAYS)]
    pub days: u32,
    /// Users [default: 20, or enough for --events at the usual session rate];
    /// two support staff who open some users' sessions come on top.
    #[arg(long)]
    pub users: Option<u32>,
    /// Random seed: the same seed gives byte-identical files.
    #[arg(long, default_value_t = DEFAULT_SEED)]
    pub seed: u64,
    /// Approximate number of log events (scales the number of sessions), e.g.
    /// 1000000 for a benchmark corpus.
    #[arg(long)]
    pub events: Option<u64>,
    /// First day (UTC), YYYY-MM-DD [default: 2026-11-02].
    #[arg(long)]
    pub start_date: Option<NaiveDate>,
    /// Mean sessions per user and weekday.
    #[arg(long, default_value_t = DEFAULT_SESSIONS_PER_USER_DAY)]
    pub sessions_per_user_day: f64,
    /// Deliver every batch exactly once.
    #[arg(long)]
    pub no_redeliveries: bool,
    /// Also write the expectation (JSON) to this file; it must not be inside OUT.
    #[arg(long, value_name = "PATH")]
    pub expect: Option<PathBuf>,
    /// Long sessions instead of days of activity: one session per user
    /// (--users, default 20), all open at once from 06:00 UTC of
    /// --start-date, each a single-page app that polls every 20–40 s and
    /// makes exactly N kept request events; written as batches of about 100
    /// log events that interleave every open session.
    #[arg(long, value_name = "N", conflicts_with_all = ["days", "events", "sessions_per_user_day"])]
    pub session_events: Option<u32>,
}

/// What to generate. `Default` is the standard test corpus.
#[derive(Debug, Clone, PartialEq)]
pub struct GenOptions {
    pub days: u32,
    pub users: u32,
    pub seed: u64,
    /// First day (UTC).
    pub start_date: NaiveDate,
    /// Mean sessions per user and weekday (weekends are quieter).
    pub sessions_per_user_day: f64,
    /// Some batches are delivered two or three times.
    pub redeliveries: bool,
    /// A few CONTROL_MESSAGE files.
    pub control_messages: bool,
    /// When set, replaces `sessions_per_user_day` with the rate that gives
    /// about this many log events.
    pub target_events: Option<u64>,
    /// Most log events in one batch.
    pub max_batch_events: usize,
    /// A long-session corpus ([`GenOptions::long_sessions`]): one session
    /// per user, each with exactly this many kept request events; `days`,
    /// `sessions_per_user_day`, `target_events` and `max_batch_events` are
    /// then not used.
    pub session_events: Option<u32>,
}

impl Default for GenOptions {
    fn default() -> Self {
        GenOptions {
            days: DEFAULT_DAYS,
            users: DEFAULT_USERS,
            seed: DEFAULT_SEED,
            start_date: default_start_date(),
            sessions_per_user_day: DEFAULT_SESSIONS_PER_USER_DAY,
            redeliveries: true,
            control_messages: true,
            target_events: None,
            max_batch_events: DEFAULT_MAX_BATCH_EVENTS,
            session_events: None,
        }
    }
}

impl GenOptions {
    /// Options for about `events` log events over `days` days with the usual
    /// per-user session rate (the number of users grows instead).
    pub fn for_events(events: u64, days: u32, seed: u64) -> Self {
        let per_user = events_per_user(days, DEFAULT_SESSIONS_PER_USER_DAY);
        let users = ((events as f64 / per_user).ceil() as u32).max(1);
        GenOptions {
            days,
            users,
            seed,
            target_events: Some(events),
            ..GenOptions::default()
        }
    }

    /// A long-session corpus (`gen-logs --session-events N`): `users`
    /// sessions, one per user, all open together from 06:00 UTC of the
    /// start date, each polling every 20–40 s until it has made exactly
    /// `events_per_session` kept request events, cut into batches of about
    /// [`LONG_SESSION_BATCH_EVENTS`] log events that interleave every open
    /// session. Fails, saying why, on values that make no such corpus.
    pub fn long_sessions(users: u32, events_per_session: u32, seed: u64) -> anyhow::Result<Self> {
        check_long_sessions(users, events_per_session)?;
        Ok(GenOptions {
            // The days the sessions span (background lines and control
            // messages follow them): 06:05 plus at most 40 s a poll.
            days: long_session_days(events_per_session),
            users,
            seed,
            session_events: Some(events_per_session),
            ..GenOptions::default()
        })
    }
}

/// Why `users` long sessions of `events` kept request events each make no
/// corpus, if they do not.
fn check_long_sessions(users: u32, events: u32) -> anyhow::Result<()> {
    if users == 0 {
        bail!("--users must be at least 1");
    }
    if events == 0 {
        bail!("--session-events must be at least 1 (kept request events per session)");
    }
    if events > MAX_SESSION_EVENTS {
        bail!(
            "--session-events {events}: at most {MAX_SESSION_EVENTS}; a session polling every 20–40 s makes that many in about a month, and no single-page app stays open longer"
        );
    }
    let estimate = long_session_log_events(users, events);
    if estimate > MAX_LOG_EVENTS {
        bail!(
            "--users {users} --session-events {events}: about {estimate} log events, more than the {MAX_LOG_EVENTS} gen-logs makes at once (the corpus is built in memory); use fewer users or fewer events per session"
        );
    }
    Ok(())
}

/// UTC days from the start date that long sessions of `events` polls span.
fn long_session_days(events: u32) -> u32 {
    let last_ms = model::LONG_SESSION_START_MS
        + model::LONG_SESSION_START_SPREAD_MS
        + i64::from(events) * model::LONG_SESSION_MAX_POLL_MS;
    (last_ms / 86_400_000 + 1) as u32
}

/// About how many log events `users` long sessions of `events` kept
/// request events make, noise and background lines included.
fn long_session_log_events(users: u32, events: u32) -> u64 {
    (f64::from(users) * f64::from(events) * model::LONG_SESSION_LOG_EVENTS_PER_KEPT) as u64
}

/// A generated corpus: the files of OUT, in name order, and the expectation.
#[derive(Debug, Clone)]
pub struct Corpus {
    /// (file name like `000001.json`, content), in delivery order.
    pub files: Vec<(String, Vec<u8>)>,
    pub expected: Expected,
}

/// Progress of a long generation.
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    pub stage: &'static str,
    pub done: u64,
    pub total: u64,
}

/// Generates a corpus. Pure and deterministic: the same options give the
/// same bytes.
pub fn generate(opts: &GenOptions) -> Corpus {
    generate_with_progress(opts, &mut |_| {})
}

/// [`generate`], reporting progress.
pub fn generate_with_progress(opts: &GenOptions, progress: &mut dyn FnMut(Progress)) -> Corpus {
    let model = model::build(opts, progress);
    let batched = render::batch(&model, opts);
    let files = render::encode(&model, &batched, progress);
    let mut delivered = 0u64;
    let mut control = 0u64;
    for d in &batched.deliveries {
        match d.payload {
            render::Payload::Batch(b) => delivered += batched.batches[b].len() as u64,
            render::Payload::Control(_) => control += 1,
        }
    }
    let expected = expect::build(model.events, &batched.ids, delivered, control);
    Corpus { files, expected }
}

/// Writes the files into `out` (created if needed). Fails if `out` holds a
/// file that is not part of this corpus (a file of the same name is
/// overwritten), so a directory never mixes two corpora.
pub fn write_corpus(corpus: &Corpus, out: &Path) -> anyhow::Result<()> {
    write_corpus_with_progress(corpus, out, &mut |_| {})
}

fn write_corpus_with_progress(
    corpus: &Corpus,
    out: &Path,
    progress: &mut dyn FnMut(Progress),
) -> anyhow::Result<()> {
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let ours: BTreeSet<&str> = corpus.files.iter().map(|(name, _)| name.as_str()).collect();
    let mut others = Vec::new();
    for entry in std::fs::read_dir(out).with_context(|| format!("cannot read {}", out.display()))? {
        let name = entry?.file_name();
        let name = name.to_string_lossy();
        if !ours.contains(name.as_ref()) {
            others.push(name.into_owned());
        }
    }
    if !others.is_empty() {
        others.sort();
        bail!(
            "{} holds {} file(s) that are not part of this corpus (e.g. {}); use an empty or new directory",
            out.display(),
            others.len(),
            others[0]
        );
    }
    let total = corpus.files.len() as u64;
    for (i, (name, bytes)) in corpus.files.iter().enumerate() {
        let path = out.join(name);
        std::fs::write(&path, bytes).with_context(|| format!("cannot write {}", path.display()))?;
        if i % 256 == 0 {
            progress(Progress {
                stage: "writing files",
                done: i as u64,
                total,
            });
        }
    }
    progress(Progress {
        stage: "writing files",
        done: total,
        total,
    });
    Ok(())
}

/// Whether `inner` is `outer` or lies below it (both made absolute first).
fn is_within(inner: &Path, outer: &Path) -> bool {
    let norm = |p: &Path| -> PathBuf {
        let abs = std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
        // Resolve symlinks of the longest existing ancestor.
        let mut existing = abs.as_path();
        let mut rest = Vec::new();
        while !existing.exists() {
            match (existing.parent(), existing.file_name()) {
                (Some(parent), Some(name)) => {
                    rest.push(name.to_os_string());
                    existing = parent;
                }
                _ => break,
            }
        }
        let mut resolved = existing
            .canonicalize()
            .unwrap_or_else(|_| existing.to_path_buf());
        for name in rest.into_iter().rev() {
            resolved.push(name);
        }
        resolved
    };
    norm(inner).starts_with(norm(outer))
}

/// The most log events one run makes: the corpus is held in memory.
const MAX_LOG_EVENTS: u64 = 5_000_000;

/// About how many log events one user gives over `days`.
fn events_per_user(days: u32, sessions_per_user_day: f64) -> f64 {
    // Mean user activity is 1.05; weekends count less (ignored here).
    model::EVENTS_PER_SESSION * sessions_per_user_day * 1.05 * f64::from(days.max(1))
}

/// Roughly how many log events `opts` gives (for the size check only).
fn estimated_log_events(opts: &GenOptions) -> u64 {
    if let Some(events) = opts.session_events {
        return long_session_log_events(opts.users, events);
    }
    opts.target_events.unwrap_or_else(|| {
        (f64::from(opts.users) * events_per_user(opts.days, opts.sessions_per_user_day)) as u64
    })
}

pub fn run(_root: &Path, args: GenLogsArgs) -> anyhow::Result<()> {
    if let Some(expect) = args.expect.as_deref().filter(|e| is_within(e, &args.out)) {
        bail!(
            "--expect {} is inside OUT {}: OUT must hold only event files (replay reads all of them)",
            expect.display(),
            args.out.display()
        );
    }
    if args.days == 0 {
        bail!("--days must be at least 1");
    }
    if args.users == Some(0) {
        bail!("--users must be at least 1");
    }
    if args.events == Some(0) {
        bail!("--events must be at least 1");
    }
    if !(args.sessions_per_user_day.is_finite() && args.sessions_per_user_day > 0.0) {
        bail!(
            "--sessions-per-user-day {}: must be a positive number",
            args.sessions_per_user_day
        );
    }
    let mut opts = match (args.session_events, args.events, args.users) {
        (Some(n), _, users) => {
            GenOptions::long_sessions(users.unwrap_or(DEFAULT_USERS), n, args.seed)?
        }
        (None, Some(events), None) => GenOptions::for_events(events, args.days, args.seed),
        (None, events, users) => GenOptions {
            days: args.days,
            users: users.unwrap_or(DEFAULT_USERS),
            seed: args.seed,
            target_events: events,
            ..GenOptions::default()
        },
    };
    opts.start_date = args.start_date.unwrap_or_else(default_start_date);
    opts.sessions_per_user_day = args.sessions_per_user_day;
    opts.redeliveries = !args.no_redeliveries;

    let estimate = estimated_log_events(&opts);
    if estimate > MAX_LOG_EVENTS {
        bail!(
            "about {estimate} log events: more than the {MAX_LOG_EVENTS} gen-logs makes at once (the corpus is built in memory, about 2.3 GB per million); write several corpora (other --seed and --start-date) into subdirectories of one directory instead: replay and bench read subdirectories"
        );
    }
    let started = Instant::now();
    let big = opts.target_events.unwrap_or(0) >= 100_000
        || u64::from(opts.users) * u64::from(opts.days) >= 5_000;
    let bar = if big && std::io::stderr().is_terminal() {
        let bar = indicatif::ProgressBar::new(0);
        bar.set_style(
            indicatif::ProgressStyle::with_template("{msg:>18} [{bar:40}] {pos}/{len} ({elapsed})")
                .expect("valid template")
                .progress_chars("=> "),
        );
        Some(bar)
    } else {
        None
    };
    let mut report = |p: Progress| {
        if let Some(bar) = &bar {
            bar.set_message(p.stage);
            bar.set_length(p.total);
            bar.set_position(p.done);
        }
    };
    let corpus = generate_with_progress(&opts, &mut report);
    let generated = started.elapsed();
    write_corpus_with_progress(&corpus, &args.out, &mut report)?;
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    if let Some(path) = &args.expect {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        let file = std::fs::File::create(path)
            .with_context(|| format!("cannot create {}", path.display()))?;
        let mut w = std::io::BufWriter::new(file);
        serde_json::to_writer(&mut w, &corpus.expected)?;
        std::io::Write::flush(&mut w)?;
    }

    let e = &corpus.expected;
    let bytes: usize = corpus.files.iter().map(|(_, b)| b.len()).sum();
    println!(
        "wrote {} files ({:.1} MB) to {}",
        corpus.files.len(),
        bytes as f64 / 1e6,
        args.out.display()
    );
    println!(
        "  log events: {} distinct, {} delivered (redeliveries included), {} control messages",
        e.log_events_total, e.log_events_delivered, e.control_messages
    );
    if let Some(n) = opts.session_events {
        println!(
            "  long sessions: {} of {n} kept request events each, open together from {} 06:00 UTC, in batches of about {LONG_SESSION_BATCH_EVENTS} log events",
            e.sessions.len(),
            opts.start_date
        );
    }
    println!(
        "  kept: {} request events in {} sessions of {} users (support staff who open a user's session included) over {} days from {}",
        e.kept_events(),
        e.sessions.len(),
        e.users().len(),
        opts.days,
        opts.start_date
    );
    let dropped: Vec<String> = e.dropped.iter().map(|(k, v)| format!("{k} {v}")).collect();
    println!("  dropped: {} ({})", e.dropped_total(), dropped.join(", "));
    if let Some(path) = &args.expect {
        println!("  expectation: {}", path.display());
    }
    println!(
        "  seed {}; generated in {:.1} s, total {:.1} s",
        opts.seed,
        generated.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
    // Freeing a million-event corpus piece by piece takes seconds; the
    // process ends here anyway.
    std::mem::forget(corpus);
    Ok(())
}
