//! `cargo xtask bench --e2e --env E`: end-to-end throughput against an
//! environment's OpenSearch, measured two ways over the same payloads with
//! the same number of payloads in flight (`--jobs`):
//!
//! 1. **the anchor, a console-style raw ingest**: what the AWS console's
//!    "stream to OpenSearch" Lambda (LogsToElasticsearch) does with a
//!    CloudWatch Logs payload. It decodes the payload and sends ONE `_bulk`
//!    request with an `index` action per log event: `_id` = the log event
//!    id, the daily index of the event's timestamp, the JSON keys of the
//!    message (from its first `{`, when that parses) plus `@id`,
//!    `@timestamp`, `@message`, `@owner`, `@log_group` and `@log_stream`;
//!    no refresh, no sessions, no retries. A document the dynamic mapping
//!    refuses is counted, as that Lambda only logs it.
//! 2. **the pipeline**: [`replay_files`] through the Lambda's own handler.
//!
//! Both first run once untimed over all the payloads: a node that has just
//! started runs its indexing code interpreted, then compiled, for tens of
//! seconds of work, and whichever side went first would pay for it (on a
//! fresh node the raw ingest took 29 s where a warm one takes 20 s; a
//! warm-up of a tenth of the payloads was not enough). Then come
//! `--rounds` timed rounds (default [`DEFAULT_ROUNDS`]), each the raw
//! ingest then the pipeline, and each side's median round counts: one
//! round's rates differ from the next by about ±5% on the same node, more
//! than the margins worth knowing. Each run writes into indices
//! of its own under a fresh `bench-e2e-…-` prefix (index templates with the
//! environment's shards, replicas and refresh interval; the pipeline's are
//! the environment's own mappings), which are deleted at the end, on error
//! too. Only the writing is timed: reading the files, decoding and sending.
//!
//! `--session-scaling A,B` times the pipeline alone on long-session corpora
//! (`gen-logs --session-events N`), to check that a session's cost does not
//! grow with its length: the first corpus once untimed, then each corpus
//! [`SCALING_RUNS`] times, the median counting.

use super::BenchArgs;
use crate::env::Environment;
use crate::genlogs::{self, GenOptions};
use crate::replay::{event_files, handler_for, make_searchable, replay_files};
use anyhow::{Context as _, bail};
use indicatif::{ProgressBar, ProgressStyle};
use processor::counts::Counts;
use processor::decode::{awslogs_data, inflate, recycle};
use processor::opensearch::{OpenSearch, OpenSearchError};
use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::{Map, Value, json};
use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

pub const DEFAULT_JOBS: usize = 4;
/// Timed rounds of `--input` (raw ingest, then pipeline) after the
/// warm-up; the median round of each side counts (one round's rates vary
/// by about ±5% from the next on the same node).
pub const DEFAULT_ROUNDS: u32 = 3;
pub const DEFAULT_SCALING_SESSIONS: u32 = 20;
/// Timed runs of each `--session-scaling` corpus; the median counts (the
/// shortest corpus takes about half a second, where one run's noise
/// moves the ratio by a tenth).
const SCALING_RUNS: usize = 3;

/// The cargo profile the measurement runs in: `cargo xtask`'s dev profile
/// with our own crates optimised (the dev profile leaves them unoptimised,
/// which slowed the handler and the raw ingest's JSON code alike), in a
/// target directory of its own (`target/bench-e2e/`).
const PROFILE: &str = "bench-e2e";
const PROFILE_SETTINGS: [&str; 5] = [
    "profile.bench-e2e.inherits=\"dev\"",
    "profile.bench-e2e.debug-assertions=false",
    "profile.bench-e2e.overflow-checks=false",
    "profile.bench-e2e.package.processor.opt-level=3",
    "profile.bench-e2e.package.xtask.opt-level=3",
];
/// Set for the optimised xtask that [`run`] starts: it measures.
const CHILD_VAR: &str = "IRONMAN_BENCH_E2E_OPTIMISED";

/// Builds xtask in the [`PROFILE`] profile and runs the same command in
/// it, unless this is that build already or `--no-build` says to measure
/// here.
pub fn run(root: &Path, args: &BenchArgs) -> anyhow::Result<()> {
    if args.no_build || std::env::var_os(CHILD_VAR).is_some() {
        return measure(root, args);
    }
    // What would fail the measurement fails before the build.
    let env = environment(root, args)?;
    check_arguments(args)?;
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the tokio runtime")?
        .block_on(require_opensearch(&env, &env.opensearch_client()?))?;
    eprintln!(
        "building xtask with the processor optimised (profile {PROFILE}, target/{PROFILE}/; the first build compiles every dependency once)…"
    );
    let mut build = crate::cargo::cargo();
    build
        .current_dir(root)
        .args(["build", "-p", "xtask", "--bin", "xtask"])
        .args(["--profile", PROFILE]);
    for setting in PROFILE_SETTINGS {
        build.args(["--config", setting]);
    }
    let status = build.status().context("running cargo build")?;
    if !status.success() {
        bail!("cargo build -p xtask --profile {PROFILE} failed");
    }
    let exe = root.join("target").join(PROFILE).join("xtask");
    let status = std::process::Command::new(&exe)
        .args(std::env::args_os().skip(1))
        .env(CHILD_VAR, "1")
        .status()
        .with_context(|| format!("running {}", exe.display()))?;
    if !status.success() {
        bail!("the end-to-end benchmark failed (see above)");
    }
    Ok(())
}

fn environment(root: &Path, args: &BenchArgs) -> anyhow::Result<Environment> {
    let name = args
        .env
        .as_deref()
        .context("--e2e needs --env NAME: the environment whose OpenSearch it writes to")?;
    crate::aws::load_with_endpoint(root, name)
}

fn check_arguments(args: &BenchArgs) -> anyhow::Result<()> {
    match (&args.input, &args.session_scaling) {
        (Some(input), None) if !input.is_dir() => bail!(
            "--input {}: not a directory of Lambda event files",
            input.display()
        ),
        (Some(_), None) => Ok(()),
        (None, Some(values)) => {
            if values.len() < 2 {
                bail!("--session-scaling: give at least two values, such as 250,2000");
            }
            if values.windows(2).any(|w| w[0] >= w[1]) {
                bail!("--session-scaling {values:?}: give the values in increasing order");
            }
            let sessions = args.sessions.unwrap_or(DEFAULT_SCALING_SESSIONS);
            for &n in values {
                GenOptions::long_sessions(sessions, n, genlogs::DEFAULT_SEED)
                    .context("--session-scaling")?;
            }
            Ok(())
        }
        _ => bail!("--e2e needs either --input DIR or --session-scaling N,N"),
    }
}

fn measure(root: &Path, args: &BenchArgs) -> anyhow::Result<()> {
    check_arguments(args)?;
    let jobs = args.jobs.map_or(DEFAULT_JOBS, |j| j as usize);
    let env = environment(root, args)?;
    let runtime = tokio::runtime::Runtime::new().context("starting the tokio runtime")?;
    let client = env.opensearch_client()?;
    let version = runtime.block_on(require_opensearch(&env, &client))?;
    let write_pool = runtime.block_on(write_pool_description(&client));
    eprintln!(
        "machine: {} ({} logical CPUs); OpenSearch {version} ({write_pool}) at {}; {}",
        super::cpu_description(&std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default()),
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1),
        env.opensearch_endpoint()?,
        if cfg!(debug_assertions) {
            "xtask as built (unoptimised: for tests, not for numbers)"
        } else {
            "xtask built with the processor optimised"
        }
    );
    let endpoint = env.opensearch_endpoint()?;
    let swept = runtime.block_on(crate::local::leftovers::sweep(&client, endpoint, PREFIX))?;
    if swept != Default::default() {
        eprintln!(
            "deleted what interrupted runs left: {} indices, {} index templates ({PREFIX}<pid>-… of processes no longer running)",
            swept.indices, swept.templates
        );
    }
    let bench = Bench {
        root,
        env: &env,
        client: &client,
        pipeline: args.pipeline.as_deref(),
        jobs,
        rounds: args.rounds.unwrap_or(DEFAULT_ROUNDS) as usize,
    };
    match (&args.input, &args.session_scaling) {
        (Some(input), None) => runtime.block_on(bench.side_by_side(input)),
        (None, Some(values)) => {
            let sessions = args.sessions.unwrap_or(DEFAULT_SCALING_SESSIONS);
            runtime.block_on(bench.session_scaling(values, sessions))
        }
        _ => bail!("--e2e needs either --input DIR or --session-scaling N,N"),
    }
}

/// What both measurements share.
struct Bench<'a> {
    root: &'a Path,
    env: &'a Environment,
    client: &'a OpenSearch,
    pipeline: Option<&'a Path>,
    jobs: usize,
    /// `--input`: timed rounds after the warm-up.
    rounds: usize,
}

/// The corpus both measurements read, with what an untimed first pass
/// found in it.
struct Payloads {
    files: Vec<PathBuf>,
    /// Log events of the DATA_MESSAGE payloads, redeliveries included.
    log_events: u64,
    /// DATA_MESSAGE payloads: the raw ingest sends one `_bulk` for each.
    data_payloads: u64,
}

/// How long one measurement took, and what it cost.
struct Timed {
    seconds: f64,
    /// HTTP requests to OpenSearch while timed, when known.
    requests: Option<u64>,
    /// CPU seconds this process (the client: decoding, the handler) used.
    client_cpu: Option<f64>,
    /// CPU seconds OpenSearch's nodes used (anything else they served then
    /// included).
    opensearch_cpu: Option<f64>,
    /// What OpenSearch's nodes did meanwhile, by kind of work.
    opensearch_work: Option<Work>,
}

impl Timed {
    /// CPU seconds per wall second, client and OpenSearch together (when
    /// both are known): how busy the measurement kept the CPUs, which on
    /// one machine says how much of the time went to waiting.
    fn cpu_per_second(&self) -> Option<f64> {
        match (self.client_cpu, self.opensearch_cpu) {
            (Some(client), Some(opensearch)) if self.seconds > 0.0 => {
                Some((client + opensearch) / self.seconds)
            }
            _ => None,
        }
    }
}

/// CPU used so far by this process and by OpenSearch, each when known,
/// and OpenSearch's work counters.
#[derive(Clone, Copy)]
struct CpuClock {
    client: Option<f64>,
    opensearch: Option<f64>,
    work: Option<Work>,
}

impl CpuClock {
    async fn now(client: &OpenSearch) -> Self {
        CpuClock {
            client: process_cpu_seconds(),
            opensearch: opensearch_cpu_seconds(client).await,
            work: Work::now(client).await,
        }
    }

    /// CPU seconds since `self` on each side, and OpenSearch's work.
    async fn since(self, client: &OpenSearch) -> (Option<f64>, Option<f64>, Option<Work>) {
        let now = CpuClock::now(client).await;
        let diff = |a: Option<f64>, b: Option<f64>| Some(b? - a?);
        (
            diff(self.client, now.client),
            diff(self.opensearch, now.opensearch),
            now.work
                .zip(self.work)
                .map(|(after, before)| after.minus(&before)),
        )
    }
}

/// OpenSearch's own counters of the work its nodes did (node stats, summed
/// over nodes): where a measurement's server time went.
#[derive(Clone, Copy, Default, serde::Serialize)]
struct Work {
    /// Documents indexed, updated or deleted, and the time spent.
    index_ops: u64,
    index_ms: u64,
    /// Realtime gets (each document of an `_mget` counts).
    get_ops: u64,
    get_ms: u64,
    /// Search query phases (one per shard searched).
    query_ops: u64,
    query_ms: u64,
    /// Refreshes: all, the external ones (those that make writes
    /// searchable: every `refresh_interval`, or when asked), and their time.
    refreshes: u64,
    external_refreshes: u64,
    refresh_ms: u64,
    merges: u64,
    merge_ms: u64,
}

impl Work {
    async fn now(client: &OpenSearch) -> Option<Work> {
        let stats = client
            .json(
                http::Method::GET,
                "/_nodes/stats/indices/indexing,get,search,refresh,merge",
                None,
            )
            .await
            .ok()?;
        let mut work = Work::default();
        for node in stats["nodes"].as_object()?.values() {
            let i = &node["indices"];
            let n = |section: &str, key: &str| i[section][key].as_u64().unwrap_or(0);
            work.index_ops += n("indexing", "index_total") + n("indexing", "delete_total");
            work.index_ms += n("indexing", "index_time_in_millis");
            work.get_ops += n("get", "total");
            work.get_ms += n("get", "time_in_millis");
            work.query_ops += n("search", "query_total");
            work.query_ms += n("search", "query_time_in_millis");
            work.refreshes += n("refresh", "total");
            work.external_refreshes += n("refresh", "external_total");
            work.refresh_ms += n("refresh", "total_time_in_millis");
            work.merges += n("merges", "total");
            work.merge_ms += n("merges", "total_time_in_millis");
        }
        Some(work)
    }

    fn minus(&self, before: &Work) -> Work {
        Work {
            index_ops: self.index_ops.saturating_sub(before.index_ops),
            index_ms: self.index_ms.saturating_sub(before.index_ms),
            get_ops: self.get_ops.saturating_sub(before.get_ops),
            get_ms: self.get_ms.saturating_sub(before.get_ms),
            query_ops: self.query_ops.saturating_sub(before.query_ops),
            query_ms: self.query_ms.saturating_sub(before.query_ms),
            refreshes: self.refreshes.saturating_sub(before.refreshes),
            external_refreshes: self
                .external_refreshes
                .saturating_sub(before.external_refreshes),
            refresh_ms: self.refresh_ms.saturating_sub(before.refresh_ms),
            merges: self.merges.saturating_sub(before.merges),
            merge_ms: self.merge_ms.saturating_sub(before.merge_ms),
        }
    }
}

/// `indexed 123 (4.5 s), gets …`: one line of [`Work`].
fn work_text(work: Option<Work>) -> String {
    let Some(w) = work else {
        return "OpenSearch work: ?".to_string();
    };
    format!(
        "OpenSearch work: {} index ops ({:.1} s), {} gets ({:.1} s), {} shard queries ({:.1} s), {} refreshes ({} external: scheduled or asked for, {:.1} s), {} merges ({:.1} s)",
        w.index_ops,
        w.index_ms as f64 / 1e3,
        w.get_ops,
        w.get_ms as f64 / 1e3,
        w.query_ops,
        w.query_ms as f64 / 1e3,
        w.refreshes,
        w.external_refreshes,
        w.refresh_ms as f64 / 1e3,
        w.merges,
        w.merge_ms as f64 / 1e3,
    )
}

/// User and system CPU seconds of this process, all threads
/// (`/proc/self/stat`, in the kernel's fixed 100 ticks a second).
fn process_cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // After the command name, which may hold spaces: state is the first
    // field, utime and stime the 12th and 13th.
    let fields: Vec<&str> = stat.get(stat.rfind(')')? + 2..)?.split(' ').collect();
    let ticks = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(ticks as f64 / 100.0)
}

/// CPU seconds of every OpenSearch node's process so far (node stats);
/// `None` where the cluster does not say (a managed domain may not).
async fn opensearch_cpu_seconds(client: &OpenSearch) -> Option<f64> {
    let stats = client
        .json(
            http::Method::GET,
            "/_nodes/stats/process?filter_path=nodes.*.process.cpu.total_in_millis",
            None,
        )
        .await
        .ok()?;
    let nodes = stats["nodes"].as_object()?;
    let mut millis = 0;
    for node in nodes.values() {
        millis += node["process"]["cpu"]["total_in_millis"].as_u64()?;
    }
    Some(millis as f64 / 1000.0)
}

/// `12.3 s` or `?`.
fn cpu_text(seconds: Option<f64>) -> String {
    seconds.map_or_else(|| "?".to_string(), |s| format!("{s:.1} s"))
}

fn busy_text(cpu_per_second: Option<f64>) -> String {
    cpu_per_second.map_or_else(|| "?".to_string(), |c| format!("{c:.2}"))
}

/// Log events per second.
fn rate(log_events: u64, seconds: f64) -> f64 {
    if seconds > 0.0 {
        log_events as f64 / seconds
    } else {
        0.0
    }
}

fn round(x: f64, digits: i32) -> f64 {
    let scale = 10f64.powi(digits);
    (x * scale).round() / scale
}

impl Bench<'_> {
    /// `--input DIR`: the raw ingest, then the pipeline.
    async fn side_by_side(&self, input: &Path) -> anyhow::Result<()> {
        let payloads = scan(input)?;
        let jobs = self.jobs;
        println!(
            "end to end against `{}` ({}): {} payload files, {} log events, --jobs {jobs}",
            self.env.name,
            self.env.opensearch_endpoint()?,
            payloads.files.len(),
            payloads.log_events
        );
        println!("  warm-up, untimed: both over all the payloads");
        self.raw_ingest(&payloads).await?;
        self.pipeline_run(&payloads, "warm-up").await?;
        let rounds = self.rounds.max(1);
        let mut raws = Vec::with_capacity(rounds);
        let mut pipes = Vec::with_capacity(rounds);
        for round in 1..=rounds {
            println!("  round {round} of {rounds}:");
            let (raw, raw_stored) = self.raw_ingest(&payloads).await?;
            print_raw(&raw, &raw_stored, payloads.log_events);
            let (pipe, pipe_stored) = self.pipeline_run(&payloads, "pipeline").await?;
            print_pipeline(&pipe, &pipe_stored, payloads.log_events);
            println!(
                "    pipeline / raw in this round: {:.2}",
                rate(payloads.log_events, pipe.seconds) / rate(payloads.log_events, raw.seconds)
            );
            raws.push((raw, raw_stored));
            pipes.push((pipe, pipe_stored));
        }
        let prefixes: Vec<String> = raws
            .iter()
            .map(|(_, stored)| stored.prefix.clone())
            .chain(pipes.iter().map(|(_, stored)| stored.prefix.clone()))
            .collect();
        let raw_rates: Vec<f64> = raws
            .iter()
            .map(|(t, _)| round(rate(payloads.log_events, t.seconds), 1))
            .collect();
        let pipe_rates: Vec<f64> = pipes
            .iter()
            .map(|(t, _)| round(rate(payloads.log_events, t.seconds), 1))
            .collect();
        let round_ratios: Vec<f64> = raw_rates
            .iter()
            .zip(&pipe_rates)
            .map(|(r, p)| round(p / r, 3))
            .collect();
        let (raw, raw_stored) = median_round(raws);
        let (pipe, pipe_stored) = median_round(pipes);
        let raw_rate = rate(payloads.log_events, raw.seconds);
        let pipe_rate = rate(payloads.log_events, pipe.seconds);
        if rounds > 1 {
            println!("  the median rounds:");
            print_raw(&raw, &raw_stored, payloads.log_events);
            print_pipeline(&pipe, &pipe_stored, payloads.log_events);
        }
        let ratio = if raw_rate > 0.0 {
            pipe_rate / raw_rate
        } else {
            0.0
        };
        println!(
            "  pipeline / raw: {ratio:.2} (medians of {rounds} round{}; target: at least 1 on a gen-logs corpus of 300,000 log events or more with --jobs 4)",
            if rounds == 1 { "" } else { "s" }
        );
        let line = json!({"e2e": {
            "log_events": payloads.log_events,
            "files": payloads.files.len(),
            "jobs": jobs,
            "raw_events_per_s": round(raw_rate, 1),
            "pipeline_events_per_s": round(pipe_rate, 1),
            "ratio": round(ratio, 3),
            "raw_seconds": round(raw.seconds, 3),
            "pipeline_seconds": round(pipe.seconds, 3),
            "raw_requests": raw.requests,
            "pipeline_requests": pipe.requests,
            "raw_client_cpu_s": raw.client_cpu.map(|s| round(s, 2)),
            "pipeline_client_cpu_s": pipe.client_cpu.map(|s| round(s, 2)),
            "raw_opensearch_cpu_s": raw.opensearch_cpu.map(|s| round(s, 2)),
            "pipeline_opensearch_cpu_s": pipe.opensearch_cpu.map(|s| round(s, 2)),
            "raw_cpu_per_second": raw.cpu_per_second().map(|c| round(c, 2)),
            "pipeline_cpu_per_second": pipe.cpu_per_second().map(|c| round(c, 2)),
            "raw_documents": raw_stored.documents,
            "raw_refused": raw_stored.refused,
            "pipeline_request_events": pipe_stored.request_events,
            "pipeline_sessions": pipe_stored.sessions,
            "pipeline_dead_letters": pipe_stored.dead_letters,
            "raw_opensearch_work": raw.opensearch_work,
            "pipeline_opensearch_work": pipe.opensearch_work,
            "rounds": rounds,
            "raw_rates": raw_rates,
            "pipeline_rates": pipe_rates,
            "round_ratios": round_ratios,
            "index_prefixes": prefixes,
        }});
        println!("{line}");
        Ok(())
    }

    /// `--session-scaling A,B,…`: a long-session corpus for each value,
    /// each replayed through the pipeline into fresh indices.
    async fn session_scaling(&self, values: &[u32], sessions: u32) -> anyhow::Result<()> {
        let options: Vec<GenOptions> = values
            .iter()
            .map(|&n| GenOptions::long_sessions(sessions, n, genlogs::DEFAULT_SEED))
            .collect::<anyhow::Result<_>>()
            .context("--session-scaling")?;
        let dir = std::env::temp_dir().join(format!(
            "ironman-session-scaling-{}-{}",
            std::process::id(),
            unique_suffix()
        ));
        let result = self
            .session_scaling_in(&dir, values, sessions, &options)
            .await;
        let _ = std::fs::remove_dir_all(&dir);
        result
    }

    async fn session_scaling_in(
        &self,
        dir: &Path,
        values: &[u32],
        sessions: u32,
        options: &[GenOptions],
    ) -> anyhow::Result<()> {
        println!(
            "session scaling against `{}` ({}): {sessions} sessions open together, pipeline only, --jobs {}; corpora as `cargo xtask gen-logs OUT --session-events N --users {sessions}`",
            self.env.name,
            self.env.opensearch_endpoint()?,
            self.jobs
        );
        let mut seconds = Vec::new();
        let mut runs_seconds = Vec::new();
        let mut log_events = Vec::new();
        let mut prefixes = Vec::new();
        for (&n, opts) in values.iter().zip(options) {
            let out = dir.join(n.to_string());
            let corpus = genlogs::generate(opts);
            genlogs::write_corpus(&corpus, &out)?;
            let kept = corpus.expected.kept_events();
            let expected_sessions = corpus.expected.sessions.len() as u64;
            drop(corpus);
            let payloads = scan(&out)?;
            if seconds.is_empty() {
                println!("  warm-up, untimed: the first corpus once");
                self.pipeline_run(&payloads, "warm-up").await?;
            }
            let mut runs = Vec::new();
            for run in 1..=SCALING_RUNS {
                let (timed, stored) = self
                    .pipeline_run(&payloads, &format!("{n} events/session, run {run}"))
                    .await?;
                if stored.request_events != kept || stored.sessions != expected_sessions {
                    bail!(
                        "--session-events {n}: the pipeline stored {} request events and {} sessions, the corpus has {kept} and {expected_sessions}",
                        stored.request_events,
                        stored.sessions
                    );
                }
                runs.push((timed, stored));
            }
            runs.sort_by(|a, b| a.0.seconds.total_cmp(&b.0.seconds));
            let all: Vec<f64> = runs.iter().map(|(t, _)| round(t.seconds, 3)).collect();
            let (timed, stored) = runs.swap_remove(SCALING_RUNS / 2);
            println!(
                "  {n:>6} events/session: {} log events in {} payloads, {:.2} s (median of {SCALING_RUNS}: {}), {:.0} log events/s, {} requests, CPU: client {}, OpenSearch {}",
                payloads.log_events,
                payloads.files.len(),
                timed.seconds,
                all.iter()
                    .map(|s| format!("{s:.2}"))
                    .collect::<Vec<_>>()
                    .join(", "),
                rate(payloads.log_events, timed.seconds),
                timed
                    .requests
                    .map_or_else(|| "?".to_string(), |n| n.to_string()),
                cpu_text(timed.client_cpu),
                cpu_text(timed.opensearch_cpu)
            );
            seconds.push(timed.seconds);
            runs_seconds.push(all);
            log_events.push(payloads.log_events);
            prefixes.push(stored.prefix);
            std::fs::remove_dir_all(&out).ok();
        }
        let first = seconds[0];
        let last = seconds[seconds.len() - 1];
        let time_ratio = if first > 0.0 { last / first } else { 0.0 };
        let events_ratio = f64::from(values[values.len() - 1]) / f64::from(values[0]);
        println!(
            "  time ratio {time_ratio:.2} for {events_ratio:.1}× the events per session (target: at most {:.1})",
            events_ratio * 1.5
        );
        let line = json!({"session_scaling": {
            "sessions": sessions,
            "events_per_session": values,
            "log_events": log_events,
            "jobs": self.jobs,
            "seconds": seconds.iter().map(|&s| round(s, 3)).collect::<Vec<_>>(),
            "runs_seconds": runs_seconds,
            "time_ratio": round(time_ratio, 3),
            "events_ratio": round(events_ratio, 3),
            "index_prefixes": prefixes,
        }});
        println!("{line}");
        Ok(())
    }

    /// The anchor: every payload as one console-style `_bulk`, into daily
    /// indices under a fresh prefix; counts what was stored, then deletes
    /// it all.
    async fn raw_ingest(&self, payloads: &Payloads) -> anyhow::Result<(Timed, RawStored)> {
        let prefix = bench_prefix();
        let index_prefix = format!("{prefix}raw-");
        let template = format!("{prefix}raw-template");
        let templates = vec![template.clone()];
        let result = async {
            let body = raw_template(&self.env.index_settings, &format!("{index_prefix}*"));
            self.client
                .json(
                    http::Method::PUT,
                    &format!("/_index_template/{template}"),
                    Some(&body),
                )
                .await
                .with_context(|| format!("creating the index template {template}"))?;
            let progress = progress_bar(payloads.files.len(), "raw ingest");
            let cpu = CpuClock::now(self.client).await;
            let started = Instant::now();
            let sent = console_ingest(
                self.client,
                &index_prefix,
                &payloads.files,
                self.jobs,
                &progress,
            )
            .await?;
            let seconds = started.elapsed().as_secs_f64();
            let (client_cpu, opensearch_cpu, opensearch_work) = cpu.since(self.client).await;
            progress.finish_and_clear();
            if sent.requests != payloads.data_payloads {
                bail!(
                    "the raw ingest sent {} _bulk requests for {} data payloads",
                    sent.requests,
                    payloads.data_payloads
                );
            }
            let pattern = format!("{index_prefix}*");
            refresh(self.client, &pattern).await?;
            let documents = count(self.client, &pattern).await?;
            Ok((
                Timed {
                    seconds,
                    requests: Some(sent.requests),
                    client_cpu,
                    opensearch_cpu,
                    opensearch_work,
                },
                RawStored {
                    prefix: prefix.clone(),
                    documents,
                    refused: sent.refused,
                    first_refusal: sent.first_refusal,
                },
            ))
        }
        .await;
        finish(
            result,
            delete_bench_data(self.client, &prefix, &templates).await,
        )
    }

    /// The pipeline: [`replay_files`] with the environment's handler and
    /// mappings, into indices under a fresh prefix; counts what was stored,
    /// then deletes it all.
    async fn pipeline_run(
        &self,
        payloads: &Payloads,
        label: &str,
    ) -> anyhow::Result<(Timed, PipelineStored)> {
        let prefix = bench_prefix();
        let env = self.env.with_index_prefix(&prefix)?;
        // The environment's index templates under the bench names; not its
        // retention policy or security role: these indices live minutes.
        let templates: Vec<_> = crate::mappings::load_documents(self.root, &env)?
            .into_iter()
            .filter(|doc| doc.kind == crate::mappings::DocumentKind::IndexTemplate)
            .collect();
        let names: Vec<String> = templates.iter().map(|doc| doc.name.clone()).collect();
        let result = async {
            for doc in &templates {
                self.client
                    .json(
                        http::Method::PUT,
                        &format!("/_index_template/{}", doc.name),
                        Some(&doc.body),
                    )
                    .await
                    .with_context(|| {
                        format!("creating the index template {} ({})", doc.name, doc.origin)
                    })?;
            }
            let handler = Arc::new(handler_for(self.root, &env, self.pipeline)?);
            let progress = progress_bar(payloads.files.len(), label);
            let cpu = CpuClock::now(self.client).await;
            let started = Instant::now();
            let report = replay_files(handler, &payloads.files, self.jobs, &progress).await?;
            let seconds = started.elapsed().as_secs_f64();
            let (client_cpu, opensearch_cpu, opensearch_work) = cpu.since(self.client).await;
            progress.finish_and_clear();
            if let Some((path, reason)) = report.bad_files.first() {
                bail!("{}: {reason}", path.display());
            }
            make_searchable(&env).await?;
            let i = env.indices();
            let stored = PipelineStored {
                prefix: prefix.clone(),
                request_events: count(self.client, &i.request_events_pattern()).await?,
                sessions: count(self.client, &i.session_summaries).await?,
                dead_letters: count(self.client, &i.dead_letters).await?,
            };
            Ok((
                Timed {
                    seconds,
                    requests: requests_of(&report.counts),
                    client_cpu,
                    opensearch_cpu,
                    opensearch_work,
                },
                stored,
            ))
        }
        .await;
        finish(
            result,
            delete_bench_data(self.client, &prefix, &names).await,
        )
    }
}

/// The round with the median time (of an even number, the slower of the
/// two middle ones).
fn median_round<S>(mut rounds: Vec<(Timed, S)>) -> (Timed, S) {
    rounds.sort_by(|a, b| a.0.seconds.total_cmp(&b.0.seconds));
    rounds.swap_remove(rounds.len() / 2)
}

fn print_raw(raw: &Timed, stored: &RawStored, log_events: u64) {
    println!(
        "    raw ingest (console-style, one _bulk per payload): {:.2} s, {:.0} log events/s, {} requests, CPU: client {}, OpenSearch {} ({} CPU-seconds per second); {} documents stored, {} refused by the dynamic mapping{}",
        raw.seconds,
        rate(log_events, raw.seconds),
        raw.requests.unwrap_or(0),
        cpu_text(raw.client_cpu),
        cpu_text(raw.opensearch_cpu),
        busy_text(raw.cpu_per_second()),
        stored.documents,
        stored.refused,
        stored
            .first_refusal
            .as_deref()
            .map(|e| format!(" (first: {e})"))
            .unwrap_or_default()
    );
    println!("      {}", work_text(raw.opensearch_work));
}

fn print_pipeline(pipe: &Timed, stored: &PipelineStored, log_events: u64) {
    println!(
        "    pipeline (the Lambda's handler):                   {:.2} s, {:.0} log events/s, {} requests, CPU: client {}, OpenSearch {} ({} CPU-seconds per second); {} request events, {} session summaries, {} dead letters",
        pipe.seconds,
        rate(log_events, pipe.seconds),
        pipe.requests
            .map_or_else(|| "? (not counted)".to_string(), |n| n.to_string()),
        cpu_text(pipe.client_cpu),
        cpu_text(pipe.opensearch_cpu),
        busy_text(pipe.cpu_per_second()),
        stored.request_events,
        stored.sessions,
        stored.dead_letters
    );
    println!("      {}", work_text(pipe.opensearch_work));
}

/// The raw ingest's index template: the environment's shards, replicas
/// and refresh interval, and dynamic mappings as the console's indices
/// have, except that every message value is mapped as OpenSearch maps a
/// string by default (`text` with a `keyword` sub-field) and none is taken
/// for a date or number: the corpus writes `timestamp`, `status` and
/// `responseTimeMs` as numbers in some lines and as strings in others, and
/// with the default detection whichever came first into a daily index
/// refused the others (29% of a 300,000-event corpus), which made the
/// anchor cheaper than the console's ingest of consistent logs. Only
/// `@timestamp` is a date.
fn raw_template(settings: &crate::env::IndexSettings, pattern: &str) -> Value {
    let as_string = json!({
        "type": "text",
        "fields": {"keyword": {"type": "keyword", "ignore_above": 256}},
    });
    let dynamic_templates: Vec<Value> = ["long", "double", "boolean"]
        .iter()
        .map(|kind| {
            json!({format!("{kind}_as_string"): {
                "match_mapping_type": kind,
                "mapping": as_string,
            }})
        })
        .collect();
    json!({
        "index_patterns": [pattern],
        "priority": 100,
        "_meta": {"managed_by": "ironman-usage-analytics xtask bench --e2e"},
        "template": {
            "settings": {
                "number_of_shards": settings.number_of_shards,
                "number_of_replicas": settings.number_of_replicas,
                "refresh_interval": settings.refresh_interval,
            },
            "mappings": {
                "date_detection": false,
                "dynamic_templates": dynamic_templates,
                "properties": {"@timestamp": {"type": "date"}},
            },
        },
    })
}

/// HTTP requests the handler counted (`None` for a handler that counts none).
fn requests_of(counts: &Counts) -> Option<u64> {
    (counts.opensearch_requests > 0).then_some(counts.opensearch_requests)
}

/// The measurement's result, or its error; a failed clean-up is an error
/// too, naming what is left behind.
fn finish<T>(result: anyhow::Result<T>, cleanup: anyhow::Result<()>) -> anyhow::Result<T> {
    match (result, cleanup) {
        (Ok(value), Ok(())) => Ok(value),
        (Ok(_), Err(cleanup)) => Err(cleanup),
        (Err(error), Ok(())) => Err(error),
        (Err(error), Err(cleanup)) => {
            eprintln!("warning: {cleanup:#}");
            Err(error)
        }
    }
}

struct RawStored {
    prefix: String,
    /// Distinct log events stored (a redelivered payload overwrites its ids).
    documents: u64,
    refused: u64,
    first_refusal: Option<String>,
}

struct PipelineStored {
    prefix: String,
    request_events: u64,
    sessions: u64,
    dead_letters: u64,
}

/// Fails, naming `cargo xtask local up`, when OpenSearch does not answer;
/// its version number, when it says.
async fn require_opensearch(env: &Environment, client: &OpenSearch) -> anyhow::Result<String> {
    let url = env.opensearch_endpoint()?;
    let advice = "the end-to-end benchmark writes to it: check the endpoint and credentials, or for the local stack run `cargo xtask local up`";
    match tokio::time::timeout(
        Duration::from_secs(15),
        client.json(http::Method::GET, "/", None),
    )
    .await
    {
        Ok(Ok(info)) => Ok(info["version"]["number"]
            .as_str()
            .unwrap_or("(version not given)")
            .to_string()),
        // An answer, even a refusal of `GET /`, means it is there.
        Ok(Err(OpenSearchError::Status { status, .. })) => {
            Ok(format!("(version not readable: HTTP {status} on GET /)"))
        }
        Ok(Err(error)) => bail!(
            "the OpenSearch of `{}` at {url} does not answer ({error}); {advice}",
            env.name
        ),
        Err(_) => bail!(
            "the OpenSearch of `{}` at {url} did not answer within 15 s; {advice}",
            env.name
        ),
    }
}

/// The nodes' write thread pool sizes, which decide how much of the CPUs a
/// side waiting on translog fsyncs leaves idle (see `local up`'s node
/// settings), so every result is quoted with them.
async fn write_pool_description(client: &OpenSearch) -> String {
    let path = "/_nodes/thread_pool?filter_path=nodes.*.thread_pool.write.size";
    match client.json(http::Method::GET, path, None).await {
        Ok(info) => describe_write_pools(&info),
        Err(error) => format!("write thread pool not readable: {error}"),
    }
}

fn describe_write_pools(info: &serde_json::Value) -> String {
    match crate::local::write_pool_sizes(info).as_slice() {
        [] => "write thread pool not given".to_string(),
        [one] => format!("write thread pool: {one}"),
        many => {
            let many: Vec<String> = many.iter().map(u64::to_string).collect();
            format!("write thread pools: {}", many.join(", "))
        }
    }
}

/// What every run's names start with, the process id right after it.
const PREFIX: &str = "bench-e2e-";

/// A prefix no other run uses: `bench-e2e-<pid>-<time>-<n>-`.
fn bench_prefix() -> String {
    format!("{PREFIX}{}-{}-", std::process::id(), unique_suffix())
}

fn unique_suffix() -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    let micros = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros());
    format!("{:x}-{n}", micros % (1 << 40))
}

fn progress_bar(files: usize, label: &str) -> ProgressBar {
    let progress = ProgressBar::new(files as u64);
    progress.set_style(
        ProgressStyle::with_template(&format!(
            "{{spinner}} {label} [{{bar:30}}] {{pos}}/{{len}} files {{elapsed}} (eta {{eta}})"
        ))
        .expect("valid template")
        .progress_chars("=> "),
    );
    progress
}

async fn refresh(client: &OpenSearch, pattern: &str) -> anyhow::Result<()> {
    let path = format!("/{pattern}/_refresh?ignore_unavailable=true&allow_no_indices=true");
    client
        .json(http::Method::POST, &path, None)
        .await
        .with_context(|| format!("POST {path}"))?;
    Ok(())
}

async fn count(client: &OpenSearch, pattern: &str) -> anyhow::Result<u64> {
    let path = format!("/{pattern}/_count?ignore_unavailable=true&allow_no_indices=true");
    let answer = client
        .json(http::Method::GET, &path, None)
        .await
        .with_context(|| format!("GET {path}"))?;
    answer["count"]
        .as_u64()
        .with_context(|| format!("GET {path}: no count in {answer}"))
}

/// Deletes every index under `prefix` (listed first, then deleted by
/// name: a cluster may refuse wildcard deletes) and these templates.
async fn delete_bench_data(
    client: &OpenSearch,
    prefix: &str,
    templates: &[String],
) -> anyhow::Result<()> {
    let list = format!("/_cat/indices/{prefix}*?format=json&h=index&expand_wildcards=all");
    let answer = client
        .json(http::Method::GET, &list, None)
        .await
        .with_context(|| format!("listing the bench indices to delete (GET {list})"))?;
    let names: Vec<&str> = answer
        .as_array()
        .map(|rows| rows.iter().filter_map(|r| r["index"].as_str()).collect())
        .unwrap_or_default();
    for chunk in names.chunks(50) {
        let path = format!("/{}", chunk.join(","));
        client
            .json(http::Method::DELETE, &path, None)
            .await
            .with_context(|| format!("deleting the bench indices (DELETE {path})"))?;
    }
    for template in templates {
        let path = format!("/_index_template/{template}");
        let response = client
            .send(http::Method::DELETE, &path, None)
            .await
            .with_context(|| format!("DELETE {path}"))?;
        if !(200..300).contains(&response.status) && response.status != 404 {
            bail!(
                "deleting the bench index template (DELETE {path}): HTTP {}: {}",
                response.status,
                response.text()
            );
        }
    }
    Ok(())
}

/// Every file under `dir` that is a CloudWatch Logs Lambda event whose
/// payload decodes; the others are named once and left out, as the
/// offline benchmark does.
fn scan(dir: &Path) -> anyhow::Result<Payloads> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Shape {
        message_type: String,
        #[serde(default)]
        log_events: Vec<IgnoredAny>,
    }
    let mut payloads = Payloads {
        files: Vec::new(),
        log_events: 0,
        data_payloads: 0,
    };
    let mut left_out = Vec::new();
    for path in event_files(&[dir.to_path_buf()])? {
        let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        let shape = serde_json::from_slice::<Value>(&bytes)
            .map_err(|e| e.to_string())
            .and_then(|event| {
                let json = inflate(awslogs_data(&event).map_err(|e| e.to_string())?)
                    .map_err(|e| e.to_string())?;
                serde_json::from_slice::<Shape>(&json).map_err(|e| e.to_string())
            });
        match shape {
            Ok(shape) => {
                if shape.message_type == "DATA_MESSAGE" && !shape.log_events.is_empty() {
                    payloads.data_payloads += 1;
                    payloads.log_events += shape.log_events.len() as u64;
                }
                payloads.files.push(path);
            }
            Err(reason) => left_out.push((path, reason)),
        }
    }
    if !left_out.is_empty() {
        eprintln!(
            "left out {} file(s) that are not Lambda events of CloudWatch Logs: {}",
            left_out.len(),
            left_out
                .iter()
                .take(5)
                .map(|(p, why)| format!("{} ({why})", p.display()))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    if payloads.log_events == 0 {
        bail!(
            "{}: no CloudWatch Logs data messages to send",
            dir.display()
        );
    }
    Ok(payloads)
}

/// What the raw ingest sent.
#[derive(Debug, Default)]
struct Sent {
    requests: u64,
    /// Documents OpenSearch refused (its answer's failed items).
    refused: u64,
    first_refusal: Option<String>,
}

impl Sent {
    fn add(&mut self, other: Sent) {
        self.requests += other.requests;
        self.refused += other.refused;
        if self.first_refusal.is_none() {
            self.first_refusal = other.first_refusal;
        }
    }
}

/// Sends every file as the console's Lambda would, `jobs` at a time, as
/// [`replay_files`] feeds the handler: each task reads its file, parses the
/// Lambda event and handles it.
async fn console_ingest(
    client: &OpenSearch,
    index_prefix: &str,
    files: &[PathBuf],
    jobs: usize,
    progress: &ProgressBar,
) -> anyhow::Result<Sent> {
    let index_prefix: Arc<str> = index_prefix.into();
    let mut sent = Sent::default();
    let mut tasks = tokio::task::JoinSet::new();
    let mut next = 0;
    loop {
        while tasks.len() < jobs.max(1) && next < files.len() {
            let path = files[next].clone();
            let client = client.clone();
            let index_prefix = index_prefix.clone();
            tasks.spawn(async move {
                let outcome = console_ingest_one(&client, &index_prefix, &path).await;
                (path, outcome)
            });
            next += 1;
        }
        let Some(joined) = tasks.join_next().await else {
            break;
        };
        let (path, outcome) = joined.context("a raw-ingest task panicked")?;
        progress.inc(1);
        match outcome {
            Ok(one) => sent.add(one),
            Err(error) => {
                tasks.abort_all();
                return Err(error.context(format!("raw ingest of {}", path.display())));
            }
        }
    }
    Ok(sent)
}

async fn console_ingest_one(
    client: &OpenSearch,
    index_prefix: &str,
    path: &Path,
) -> anyhow::Result<Sent> {
    let bytes = tokio::fs::read(path).await?;
    let event: Value = serde_json::from_slice(&bytes)?;
    let json = inflate(awslogs_data(&event)?)?;
    let body = console_bulk_body(&json, index_prefix)?;
    recycle(json);
    let Some(body) = body else {
        return Ok(Sent::default());
    };
    let response = client
        .send(
            http::Method::POST,
            "/_bulk",
            Some((body, "application/x-ndjson")),
        )
        .await?;
    let answer = client.expect_json("POST", "/_bulk", response)?;
    let mut sent = Sent {
        requests: 1,
        ..Sent::default()
    };
    if answer["errors"] == Value::Bool(true) {
        for item in answer["items"].as_array().into_iter().flatten() {
            let result = &item["index"];
            if result["status"].as_u64().unwrap_or(0) >= 300 {
                sent.refused += 1;
                if sent.first_refusal.is_none() {
                    sent.first_refusal = Some(
                        result["error"]["reason"]
                            .as_str()
                            .map_or_else(|| result["error"].to_string(), str::to_string),
                    );
                }
            }
        }
    }
    Ok(sent)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ConsoleBatch<'a> {
    #[serde(borrow)]
    message_type: Cow<'a, str>,
    #[serde(borrow, default)]
    owner: Cow<'a, str>,
    #[serde(borrow, default)]
    log_group: Cow<'a, str>,
    #[serde(borrow, default)]
    log_stream: Cow<'a, str>,
    #[serde(borrow, default)]
    log_events: Vec<ConsoleEvent<'a>>,
}

#[derive(Deserialize)]
struct ConsoleEvent<'a> {
    #[serde(borrow)]
    id: Cow<'a, str>,
    timestamp: i64,
    #[serde(borrow)]
    message: Cow<'a, str>,
}

/// The `_bulk` body the console's LogsToElasticsearch Lambda sends for one
/// decoded payload (`None` for a control message, or any other payload
/// without data to send): per log event, an
/// `index` action with `_id` = its id into `<index_prefix>YYYY.MM.DD` of
/// its timestamp, and a document of the message's JSON keys (the text from
/// its first `{`, when that parses as a JSON object) with `@id`,
/// `@timestamp`, `@message`, `@owner`, `@log_group` and `@log_stream`.
fn console_bulk_body(batch_json: &[u8], index_prefix: &str) -> anyhow::Result<Option<Vec<u8>>> {
    let batch: ConsoleBatch =
        serde_json::from_slice(batch_json).context("the payload's JSON document")?;
    if batch.message_type != "DATA_MESSAGE" || batch.log_events.is_empty() {
        return Ok(None);
    }
    let mut body = Vec::with_capacity(batch_json.len() * 2);
    for event in &batch.log_events {
        let when = chrono::DateTime::from_timestamp_millis(event.timestamp)
            .with_context(|| format!("log event {}: timestamp {}", event.id, event.timestamp))?;
        let action = json!({"index": {
            "_index": format!("{index_prefix}{}", when.format("%Y.%m.%d")),
            "_id": event.id,
        }});
        serde_json::to_writer(&mut body, &action)?;
        body.push(b'\n');
        let mut source = message_fields(&event.message);
        source.insert("@id".into(), Value::from(event.id.as_ref()));
        source.insert(
            "@timestamp".into(),
            Value::from(when.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)),
        );
        source.insert("@message".into(), Value::from(event.message.as_ref()));
        source.insert("@owner".into(), Value::from(batch.owner.as_ref()));
        source.insert("@log_group".into(), Value::from(batch.log_group.as_ref()));
        source.insert("@log_stream".into(), Value::from(batch.log_stream.as_ref()));
        serde_json::to_writer(&mut body, &source)?;
        body.push(b'\n');
    }
    Ok(Some(body))
}

/// The keys of the JSON object a message holds from its first `{` (after a
/// timestamp and level, say), as the console's Lambda reads it; none when
/// that text is not a JSON object.
fn message_fields(message: &str) -> Map<String, Value> {
    let Some(start) = message.find('{') else {
        return Map::new();
    };
    match serde_json::from_str::<Value>(&message[start..]) {
        Ok(Value::Object(fields)) => fields,
        _ => Map::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(body: &[u8]) -> Vec<Value> {
        std::str::from_utf8(body)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    #[test]
    fn the_write_pools_are_described_once_per_size() {
        let pools = |sizes: &[u64]| {
            let nodes: serde_json::Map<String, Value> = sizes
                .iter()
                .enumerate()
                .map(|(i, size)| {
                    let pool = json!({"thread_pool": {"write": {"size": size}}});
                    (format!("node{i}"), pool)
                })
                .collect();
            describe_write_pools(&json!({ "nodes": nodes }))
        };
        assert_eq!(pools(&[3]), "write thread pool: 3");
        assert_eq!(pools(&[3, 3]), "write thread pool: 3");
        assert_eq!(pools(&[10, 3]), "write thread pools: 3, 10");
        assert_eq!(pools(&[]), "write thread pool not given");
    }

    #[test]
    fn the_raw_ingest_sends_what_the_console_lambda_sends() {
        let batch = json!({
            "messageType": "DATA_MESSAGE",
            "owner": "123456789012",
            "logGroup": "/ironman/app",
            "logStream": "ecs/web/1",
            "subscriptionFilters": ["f"],
            "logEvents": [
                {"id": "1", "timestamp": 1_793_628_191_482_i64,
                 "message": "2026-11-02T14:03:11.482Z\tINFO\t{\"type\":\"request\",\"status\":200}\r\n"},
                {"id": "2", "timestamp": 1_793_664_000_000_i64, "message": "Listening on 0.0.0.0:8080"},
                {"id": "3", "timestamp": 1_793_664_000_001_i64, "message": "[worker-{03}] INFO {\"a\":1}"},
            ],
        });
        let body = console_bulk_body(&serde_json::to_vec(&batch).unwrap(), "raw-")
            .unwrap()
            .unwrap();
        let lines = lines(&body);
        assert_eq!(lines.len(), 6);
        assert_eq!(
            lines[0],
            json!({"index": {"_index": "raw-2026.11.02", "_id": "1"}})
        );
        assert_eq!(
            lines[1],
            json!({
                "type": "request", "status": 200,
                "@id": "1", "@timestamp": "2026-11-02T14:03:11.482Z",
                "@message": "2026-11-02T14:03:11.482Z\tINFO\t{\"type\":\"request\",\"status\":200}\r\n",
                "@owner": "123456789012", "@log_group": "/ironman/app", "@log_stream": "ecs/web/1",
            })
        );
        // The next UTC day's index; a message without a JSON object keeps
        // only the @ fields, as does one whose first `{` starts no object.
        assert_eq!(lines[2]["index"]["_index"], "raw-2026.11.03");
        assert_eq!(lines[3].as_object().unwrap().len(), 6);
        assert_eq!(lines[5].as_object().unwrap().len(), 6);

        let control = json!({"messageType": "CONTROL_MESSAGE", "owner": "CloudwatchLogs",
            "logGroup": "", "logStream": "", "subscriptionFilters": [],
            "logEvents": [{"id": "", "timestamp": 0, "message": "CWL CONTROL MESSAGE"}]});
        assert!(
            console_bulk_body(&serde_json::to_vec(&control).unwrap(), "raw-")
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn this_process_has_used_some_cpu() {
        let spin = Instant::now();
        let mut x = 0u64;
        while spin.elapsed() < Duration::from_millis(30) {
            x = x.wrapping_add(std::hint::black_box(1));
        }
        assert!(x > 0);
        assert!(process_cpu_seconds().unwrap() > 0.0);
    }

    #[test]
    fn the_median_round_is_the_middle_time_and_of_two_the_slower() {
        let timed = |seconds: f64| {
            (
                Timed {
                    seconds,
                    requests: None,
                    client_cpu: None,
                    opensearch_cpu: None,
                    opensearch_work: None,
                },
                seconds as u32,
            )
        };
        assert_eq!(median_round(vec![timed(3.0), timed(1.0), timed(2.0)]).1, 2);
        assert_eq!(median_round(vec![timed(1.0), timed(4.0)]).1, 4);
        assert_eq!(median_round(vec![timed(5.0)]).1, 5);
    }

    #[test]
    fn bench_prefixes_are_unique_valid_index_names() {
        let (a, b) = (bench_prefix(), bench_prefix());
        assert_ne!(a, b);
        let env = Environment::load(&crate::project_root(), "local").unwrap();
        env.with_index_prefix(&a).unwrap();
        assert!(a.starts_with("bench-e2e-") && a.ends_with('-'), "{a}");
    }
}
