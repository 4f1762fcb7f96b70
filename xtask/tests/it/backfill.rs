//! `cargo xtask backfill` against moto_server and the real OpenSearch: a
//! generated corpus is written into the emulator's log groups with
//! `PutLogEvents`, read back by the backfill through `FilterLogEvents` and
//! compared with the generator's model field by field; backfilled again,
//! after the subscription's deliveries, and after an interruption, nothing
//! changes and nothing is duplicated.
//!
//! The emulator gives every event an id of its own (as CloudWatch Logs
//! does), not the generator's: the model is relabelled with the stored ids
//! (matched by stream, timestamp and message) before the comparison.

use crate::support;

use aws_lambda_events::event::cloudwatch_logs::{AwsLogs, LogData, LogEntry, LogsEvent};
use aws_sdk_cloudwatchlogs::types::InputLogEvent;
use chrono::{Days, NaiveDate, Utc};
use indicatif::ProgressBar;
use processor::counts::Reason;
use processor::handler::Handler;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::{all_documents, cleanup, count, require_moto, root, test_environment};
use xtask::aws::AwsClients;
use xtask::backfill::checkpoint::{self, Key};
use xtask::backfill::fetch::{Backoff, CloudWatchLogs};
use xtask::backfill::plan::Window;
use xtask::backfill::{Options, Period, Report, backfill};
use xtask::env::Environment;
use xtask::genlogs::{Corpus, Expected, GenOptions, generate};
use xtask::replay::handler_for;

const CORPUS_DAYS: u32 = 2;

/// A corpus of recent days (the emulator, like CloudWatch Logs, refuses
/// events older than 14 days), each log event once.
fn recent_corpus(seed: u64) -> (Corpus, NaiveDate) {
    let start = Utc::now().date_naive() - Days::new(4);
    let corpus = generate(&GenOptions {
        days: CORPUS_DAYS,
        users: 16,
        seed,
        start_date: start,
        redeliveries: false,
        control_messages: false,
        ..GenOptions::default()
    });
    let e = &corpus.expected;
    assert!(
        e.sessions.len() >= 20 && e.kept_event_ids.len() >= 150,
        "a corpus worth testing: {} sessions, {} request events",
        e.sessions.len(),
        e.kept_event_ids.len()
    );
    (corpus, start)
}

/// The days to backfill: the corpus's, and the next for sessions that run
/// past the last midnight.
fn period_days(start: NaiveDate) -> (String, String) {
    let last = start + Days::new(u64::from(CORPUS_DAYS));
    (start.to_string(), last.to_string())
}

/// One log event of the corpus, with the generator's id.
#[derive(Debug, Clone)]
struct CorpusEvent {
    stream: String,
    id: String,
    timestamp: i64,
    message: String,
}

/// Every distinct log event of the corpus's DATA_MESSAGE files.
fn corpus_events(corpus: &Corpus) -> Vec<CorpusEvent> {
    let mut seen = std::collections::HashSet::new();
    let mut events = Vec::new();
    for (name, bytes) in &corpus.files {
        let event: Value = serde_json::from_slice(bytes).unwrap();
        let data = processor::decode::awslogs_data(&event).unwrap();
        let document: Value =
            serde_json::from_slice(&processor::decode::inflate(data).unwrap()).unwrap();
        if document["messageType"] != "DATA_MESSAGE" {
            continue;
        }
        let stream = document["logStream"].as_str().unwrap();
        for e in document["logEvents"].as_array().unwrap() {
            let id = e["id"].as_str().unwrap();
            if seen.insert(id.to_string()) {
                events.push(CorpusEvent {
                    stream: stream.to_string(),
                    id: id.to_string(),
                    timestamp: e["timestamp"].as_i64().unwrap(),
                    message: e["message"].as_str().unwrap().to_string(),
                });
            }
        }
        assert!(!name.is_empty());
    }
    assert_eq!(events.len() as u64, corpus.expected.log_events_total);
    events
}

/// A test's own log groups in the emulator, holding the corpus: stream `i`
/// (in name order) goes to group `i % groups.len()`.
struct Stored {
    /// By log group: (stream, emulator's event id, timestamp, message).
    events: BTreeMap<String, Vec<(String, String, i64, String)>>,
    /// The model with the emulator's ids and the test's log groups.
    expected: Expected,
}

impl Stored {
    fn len(&self) -> usize {
        self.events.values().map(Vec::len).sum()
    }
}

async fn store_corpus(aws: &AwsClients, groups: &[String], corpus: &Corpus) -> Stored {
    let logs = &aws.logs;
    let events = corpus_events(corpus);
    let mut per_stream: BTreeMap<&str, Vec<&CorpusEvent>> = BTreeMap::new();
    for e in &events {
        per_stream.entry(&e.stream).or_default().push(e);
    }
    for group in groups {
        logs.create_log_group()
            .log_group_name(group)
            .send()
            .await
            .unwrap_or_else(|e| panic!("CreateLogGroup {group}: {e:?}"));
    }
    let mut group_of_stream = HashMap::new();
    for (i, (stream, list)) in per_stream.iter_mut().enumerate() {
        let group = &groups[i % groups.len()];
        group_of_stream.insert(stream.to_string(), group.clone());
        logs.create_log_stream()
            .log_group_name(group)
            .log_stream_name(*stream)
            .send()
            .await
            .unwrap_or_else(|e| panic!("CreateLogStream {stream}: {e:?}"));
        // PutLogEvents wants each request in time order.
        list.sort_by_key(|e| e.timestamp);
        for chunk in list.chunks(500) {
            let input = chunk
                .iter()
                .map(|e| {
                    InputLogEvent::builder()
                        .timestamp(e.timestamp)
                        .message(&e.message)
                        .build()
                        .unwrap()
                })
                .collect();
            let answer = logs
                .put_log_events()
                .log_group_name(group)
                .log_stream_name(*stream)
                .set_log_events(Some(input))
                .send()
                .await
                .unwrap_or_else(|e| panic!("PutLogEvents {stream}: {e:?}"));
            assert!(
                answer.rejected_log_events_info().is_none(),
                "the emulator refused events of {stream}: {:?}",
                answer.rejected_log_events_info()
            );
        }
    }

    // The emulator's ids, matched to the generator's by stream, timestamp
    // and message (events equal in all three are interchangeable).
    let mut generator_ids: HashMap<(String, i64, String), VecDeque<String>> = HashMap::new();
    for e in &events {
        generator_ids
            .entry((e.stream.clone(), e.timestamp, e.message.clone()))
            .or_default()
            .push_back(e.id.clone());
    }
    let mut relabel = HashMap::new();
    let mut stored = BTreeMap::new();
    for group in groups {
        let read = read_all(aws, group).await;
        for (stream, id, timestamp, message) in &read {
            let generator_id = generator_ids
                .get_mut(&(stream.clone(), *timestamp, message.clone()))
                .and_then(VecDeque::pop_front)
                .unwrap_or_else(|| panic!("an event the corpus does not have: {stream} {id}"));
            relabel.insert(generator_id, (id.clone(), group.clone()));
            assert_eq!(&group_of_stream[stream], group);
        }
        stored.insert(group.clone(), read);
    }
    assert_eq!(relabel.len(), events.len(), "every event stored once");
    Stored {
        events: stored,
        expected: relabelled(&corpus.expected, &relabel),
    }
}

/// Everything in a log group, through the SDK's own paging.
async fn read_all(aws: &AwsClients, group: &str) -> Vec<(String, String, i64, String)> {
    let mut out = Vec::new();
    let mut token = None;
    loop {
        let page = aws
            .logs
            .filter_log_events()
            .log_group_name(group)
            .set_next_token(token)
            .send()
            .await
            .unwrap_or_else(|e| panic!("FilterLogEvents {group}: {e:?}"));
        for e in page.events() {
            out.push((
                e.log_stream_name().unwrap().to_string(),
                e.event_id().unwrap().to_string(),
                e.timestamp().unwrap(),
                e.message().unwrap_or_default().to_string(),
            ));
        }
        token = page.next_token().map(str::to_string);
        if token.is_none() {
            return out;
        }
    }
}

/// Log event ids compared as the decimal numbers they are (the session's
/// first event, on a timestamp tie, is the one with the smaller id).
fn cmp_ids(a: &str, b: &str) -> std::cmp::Ordering {
    let (a, b) = (a.trim_start_matches('0'), b.trim_start_matches('0'));
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

/// The model with other ids and log groups: `ids` maps the generator's id
/// to the stored id and its log group. A session's user is its first
/// event's, and "first" breaks timestamp ties by id, so it is found again.
fn relabelled(expected: &Expected, ids: &HashMap<String, (String, String)>) -> Expected {
    let mut out = expected.clone();
    out.events = expected
        .events
        .iter()
        .map(|(id, event)| {
            let (new_id, group) = &ids[id];
            let mut event = event.clone();
            event.log_group = group.clone();
            (new_id.clone(), event)
        })
        .collect();
    out.kept_event_ids = out.events.keys().cloned().collect();
    for session in out.sessions.values_mut() {
        let (_, first) = out
            .events
            .iter()
            .filter(|(_, e)| {
                e.session_id == session.session_id && e.timestamp_ms == session.start_time_ms
            })
            .min_by(|a, b| cmp_ids(a.0, b.0))
            .expect("a session has a first event");
        session.user = first.user.clone();
    }
    out
}

fn without_last_updated(doc: &Value) -> Value {
    let mut doc = doc.clone();
    doc.as_object_mut().unwrap().remove("last_updated");
    doc
}

/// The stored summaries and request events are the model's, field by
/// field, and nothing was dead-lettered.
async fn assert_matches_model(env: &Environment, expected: &Expected) {
    let client = env.opensearch_client().unwrap();
    let i = env.indices();
    let summaries = all_documents(&client, &i.session_summaries).await;
    assert_eq!(
        summaries.keys().collect::<Vec<_>>(),
        expected.sessions.keys().collect::<Vec<_>>(),
        "the set of sessions"
    );
    for (id, session) in &expected.sessions {
        let (_, _, source) = &summaries[id];
        assert_eq!(
            without_last_updated(source),
            session.to_doc(),
            "session {id}"
        );
    }
    let events = all_documents(&client, &i.request_events_pattern()).await;
    assert_eq!(
        events.keys().collect::<Vec<_>>(),
        expected.events.keys().collect::<Vec<_>>(),
        "one request event per kept log event, under its CloudWatch id"
    );
    for (id, want) in &expected.events {
        let (index, _, source) = &events[id];
        assert_eq!(source, &want.to_doc(), "request event {id}");
        assert_eq!(
            index,
            &format!("{}{}", i.request_events_prefix, want.index_date()),
            "daily index of {id}"
        );
    }
    assert_eq!(count(&client, &i.dead_letters).await, 0, "no dead letters");
}

/// Summaries and request events with their versions: equal snapshots mean
/// nothing was written in between.
type Snapshot = (
    BTreeMap<String, (String, u64, Value)>,
    BTreeMap<String, (String, u64, Value)>,
);

async fn snapshot(env: &Environment) -> Snapshot {
    let client = env.opensearch_client().unwrap();
    let i = env.indices();
    (
        all_documents(&client, &i.session_summaries).await,
        all_documents(&client, &i.request_events_pattern()).await,
    )
}

/// A test environment (own indices, own log groups) whose AWS calls go to
/// the emulator the tests were pointed at.
async fn stack_environment(test: &str, groups: usize) -> (Environment, AwsClients) {
    let moto = require_moto().await;
    let mut env = test_environment(test).await;
    env.aws.endpoint_url = Some(moto);
    let first = env.logs.log_groups[0].clone();
    env.logs.log_groups = (0..groups)
        .map(|n| {
            if n == 0 {
                first.clone()
            } else {
                format!("{first}-{n}")
            }
        })
        .collect();
    let aws = AwsClients::new(&env).await.expect("AWS clients");
    (env, aws)
}

fn options(env: &Environment, start: NaiveDate, checkpoints: &Path) -> Options {
    let (from, to) = period_days(start);
    Options {
        log_groups: env.logs.log_groups.clone(),
        period: Period::parse(&from, &to).unwrap(),
        window_minutes: 60,
        jobs: 3,
        // The emulator has no quota; small pages make every window several.
        rate: 500.0,
        backoff: Backoff::default(),
        page_size: Some(25),
        checkpoint_dir: checkpoints.to_path_buf(),
        restart: false,
        stop_after_windows: None,
    }
}

fn checkpoint_dir(env: &Environment) -> PathBuf {
    let dir = root()
        .join("target/test-tmp")
        .join(format!("backfill-{}", env.indices().session_summaries));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

async fn run(
    env: &Environment,
    aws: &AwsClients,
    handler: &Arc<Handler>,
    options: &Options,
) -> Report {
    let source = Arc::new(CloudWatchLogs::new(aws.logs.clone()));
    backfill(
        env,
        handler.clone(),
        source,
        options,
        &ProgressBar::hidden(),
    )
    .await
    .expect("backfill")
}

/// Counts per reason equal the model's: each log event was read once.
fn assert_counts_match_model(report: &Report, stored: &Stored) {
    let counts = &report.counts;
    let expected = &stored.expected;
    assert_eq!(report.events_read, stored.len() as u64, "events read");
    assert_eq!(counts.log_events, expected.log_events_total);
    assert_eq!(counts.kept, expected.kept_events());
    for reason in Reason::ALL {
        assert_eq!(
            counts.get(reason),
            expected.dropped.get(reason.name()).copied().unwrap_or(0),
            "{}",
            reason.name()
        );
    }
    assert_eq!(counts.duplicate_in_batch, 0);
    assert_eq!(counts.dead_lettered, 0);
}

/// `xtask backfill --env NAME ARGS…` with `env` written as NAME's file.
struct Cli {
    name: String,
    dir: PathBuf,
}

impl Cli {
    fn new(env: &mut Environment, name: &str) -> Cli {
        env.name = format!("{name}{}", std::process::id());
        let dir = checkpoint_dir(env);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join(format!("{}.yaml", env.name)),
            serde_yaml_ng::to_string(&env).unwrap(),
        )
        .unwrap();
        Cli {
            name: env.name.clone(),
            dir,
        }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_xtask"));
        command
            .args(["backfill", "--env", &self.name])
            .args(args)
            .env(xtask::env::ENVIRONMENTS_DIR_VAR, &self.dir)
            .stdin(Stdio::null());
        command
    }

    /// Runs to success; the standard output.
    fn run(&self, args: &[&str]) -> String {
        let out = self.command(args).output().expect("running xtask backfill");
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        println!("{stdout}");
        stdout
    }
}

impl Drop for Cli {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The number at the end of the output line that starts with `label`.
fn counted(stdout: &str, label: &str) -> u64 {
    let line = stdout
        .lines()
        .find(|l| l.starts_with(label))
        .unwrap_or_else(|| panic!("no `{label}` line in:\n{stdout}"));
    line.split_whitespace().last().unwrap().parse().unwrap()
}

/// `windows   N read, M done before, of T (…)`: (N, M, T).
fn windows_line(stdout: &str) -> (usize, usize, usize) {
    let line = stdout
        .lines()
        .find(|l| l.starts_with("windows "))
        .unwrap_or_else(|| panic!("no windows line in:\n{stdout}"));
    let numbers: Vec<usize> = line
        .split(|c: char| !c.is_ascii_digit())
        .filter(|w| !w.is_empty())
        .map(|w| w.parse().unwrap())
        .collect();
    (numbers[0], numbers[1], numbers[2])
}

async fn delete_log_groups(aws: &AwsClients, env: &Environment) {
    for group in &env.logs.log_groups {
        let _ = aws
            .logs
            .delete_log_group()
            .log_group_name(group)
            .send()
            .await;
    }
}

/// The acceptance path, through the binary: `cargo xtask backfill --env E
/// --from DAY --to DAY` over an environment with two log groups gives the
/// model; run again, it reads everything again and changes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_command_backfills_the_model_and_a_second_run_changes_nothing() {
    let (mut env, aws) = stack_environment("bfcli", 2).await;
    let (corpus, start) = recent_corpus(31);
    let stored = store_corpus(&aws, &env.logs.log_groups, &corpus).await;
    let (from, to) = period_days(start);
    let cli = Cli::new(&mut env, "bfcli");
    let args = ["--from", from.as_str(), "--to", to.as_str()];

    let first = cli.run(&args);
    let kept = stored.expected.kept_events();
    assert_eq!(counted(&first, "request events created"), kept, "{first}");
    assert_eq!(
        counted(&first, "log events"),
        stored.len() as u64,
        "{first}"
    );
    for reason in Reason::ALL {
        let want = stored
            .expected
            .dropped
            .get(reason.name())
            .copied()
            .unwrap_or(0);
        assert_eq!(
            counted(&first, &format!("  {} ", reason.name())),
            want,
            "{first}"
        );
    }
    for group in &env.logs.log_groups {
        assert!(first.contains(group.as_str()), "names {group}:\n{first}");
    }
    let period = Period::parse(&from, &to).unwrap();
    assert!(
        first.contains(&period.to_string()),
        "names the period {period}:\n{first}"
    );
    assert_eq!(windows_line(&first), (144, 0, 144), "3 days, 2 log groups");
    let key = Key::new(&env.name, &env.logs.log_groups, period);
    let default_checkpoint = key.path_in(&xtask::backfill::checkpoint_dir(&root()));
    assert!(
        !default_checkpoint.exists(),
        "a finished backfill keeps no checkpoint: {}",
        default_checkpoint.display()
    );
    assert_matches_model(&env, &stored.expected).await;
    let before = snapshot(&env).await;

    let second = cli.run(&args);
    assert_eq!(windows_line(&second), (144, 0, 144), "read again, whole");
    assert_eq!(
        counted(&second, "log events"),
        stored.len() as u64,
        "{second}"
    );
    assert_eq!(counted(&second, "request events created"), 0, "{second}");
    assert_eq!(
        counted(&second, "request events existing"),
        kept,
        "{second}"
    );
    assert_eq!(counted(&second, "sessions written"), 0, "{second}");
    assert!(
        before == snapshot(&env).await,
        "a second backfill of the period changed stored documents"
    );
    cleanup(&env.opensearch_client().unwrap(), &env).await;
    delete_log_groups(&aws, &env).await;
}

/// Ctrl-C (SIGINT) stops the command at once, saying where its progress
/// is; the same command then goes on from the windows recorded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_stops_the_command_and_the_same_command_goes_on() {
    let (mut env, aws) = stack_environment("bfsigint", 1).await;
    let (corpus, start) = recent_corpus(43);
    let stored = store_corpus(&aws, &env.logs.log_groups, &corpus).await;
    let (from, to) = period_days(start);
    let cli = Cli::new(&mut env, "bfsigint");
    let period = Period::parse(&from, &to).unwrap();
    let key = Key::new(&env.name, &env.logs.log_groups, period);
    let path = key.path_in(&xtask::backfill::checkpoint_dir(&root()));
    let _ = std::fs::remove_file(&path);

    // Slow enough (72 windows at 4 requests per second) to be caught
    // half-way.
    let args = ["--from", from.as_str(), "--to", to.as_str()];
    let mut slow = cli.command(&args);
    slow.args(["--rate", "4"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let child = slow.spawn().expect("starting xtask backfill");
    let deadline = Instant::now() + Duration::from_secs(60);
    while !path.exists() {
        assert!(
            Instant::now() < deadline,
            "no checkpoint at {} within a minute",
            path.display()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let signalled = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill -INT");
    assert!(signalled.success());
    let out = child
        .wait_with_output()
        .expect("waiting for xtask backfill");
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stderr}");
    assert!(!out.status.success(), "an interrupted run fails: {stderr}");
    assert!(
        stderr.contains("interrupted") && stderr.contains(&path.display().to_string()),
        "says where the progress is: {stderr}"
    );
    let recorded = checkpoint::load(&path, &key)
        .expect("a readable checkpoint")
        .expect("a checkpoint after Ctrl-C");
    let group = &env.logs.log_groups[0];
    let recorded_windows: i64 = recorded.done[group]
        .iter()
        .map(|[a, b]| (b - a) / 3_600_000)
        .sum();
    assert!(
        (1..72).contains(&recorded_windows),
        "{recorded_windows} windows recorded"
    );

    let resumed = cli.run(&args);
    let (read, skipped, total) = windows_line(&resumed);
    assert_eq!(skipped as i64, recorded_windows, "{resumed}");
    assert_eq!((read + skipped, total), (72, 72), "{resumed}");
    assert!(!path.exists(), "finished: the checkpoint is gone");
    assert_matches_model(&env, &stored.expected).await;
    cleanup(&env.opensearch_client().unwrap(), &env).await;
    delete_log_groups(&aws, &env).await;
}

/// The subscription delivers the events first (Lambda events built from
/// `FilterLogEvents`' answer, in batches per stream, as CloudWatch Logs
/// sends them); the backfill of the same period then finds every request
/// event stored under the same id and duplicates nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backfill_after_the_live_deliveries_duplicates_nothing() {
    let (env, aws) = stack_environment("bflive", 1).await;
    let (corpus, start) = recent_corpus(37);
    let stored = store_corpus(&aws, &env.logs.log_groups, &corpus).await;
    let handler = Arc::new(handler_for(&root(), &env, None).expect("handler"));

    let mut deliveries = Vec::new();
    for (group, events) in &stored.events {
        let mut per_stream: BTreeMap<&str, Vec<LogEntry>> = BTreeMap::new();
        for (stream, id, timestamp, message) in events {
            let mut entry = LogEntry::default();
            entry.id = id.clone();
            entry.timestamp = *timestamp;
            entry.message = message.clone();
            per_stream.entry(stream).or_default().push(entry);
        }
        for (stream, entries) in per_stream {
            for batch in entries.chunks(40) {
                let mut data = LogData::default();
                data.owner = env.aws.account_id.clone();
                data.log_group = group.clone();
                data.log_stream = stream.to_string();
                data.subscription_filters = vec![env.logs.subscription_filter.name.clone()];
                data.message_type = "DATA_MESSAGE".into();
                data.log_events = batch.to_vec();
                let mut awslogs = AwsLogs::default();
                awslogs.data = data;
                let mut event = LogsEvent::default();
                event.aws_logs = awslogs;
                deliveries.push(serde_json::to_value(&event).unwrap());
            }
        }
    }
    // Streams interleave in the subscription's deliveries.
    deliveries.reverse();
    let deadline = Instant::now() + Duration::from_secs(300);
    for delivery in &deliveries {
        handler.handle(delivery, deadline).await.expect("delivery");
    }
    assert_matches_model(&env, &stored.expected).await;
    let before = snapshot(&env).await;

    let checkpoints = checkpoint_dir(&env);
    let report = run(&env, &aws, &handler, &options(&env, start, &checkpoints)).await;
    assert!(report.finished);
    assert_counts_match_model(&report, &stored);
    assert_eq!(report.counts.events_created, 0, "no request event is new");
    assert_eq!(report.counts.events_existing, stored.expected.kept_events());
    assert_eq!(report.counts.sessions_written, 0, "no summary is rewritten");
    assert!(
        before == snapshot(&env).await,
        "the backfill changed documents the subscription had written"
    );
    assert_matches_model(&env, &stored.expected).await;
    cleanup(&env.opensearch_client().unwrap(), &env).await;
    delete_log_groups(&aws, &env).await;
    let _ = std::fs::remove_dir_all(&checkpoints);
}

/// A backfill stopped after a few windows (as an interruption stops it:
/// windows in flight left part written) goes on where it stopped on the
/// next run: the recorded windows are skipped, not read again, and the
/// documents are the model's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_backfill_resumes_skipping_the_windows_it_finished() {
    let (env, aws) = stack_environment("bfresume", 1).await;
    let (corpus, start) = recent_corpus(41);
    let stored = store_corpus(&aws, &env.logs.log_groups, &corpus).await;
    let handler = Arc::new(handler_for(&root(), &env, None).expect("handler"));
    let checkpoints = checkpoint_dir(&env);
    let mut options = options(&env, start, &checkpoints);

    // The corpus's first hours may be quiet: stop once a few windows with
    // events are done, whatever their number.
    options.stop_after_windows = Some(30);
    let first = run(&env, &aws, &handler, &options).await;
    assert!(!first.finished, "stopped early");
    assert_eq!(first.windows_read, 30);
    assert_eq!(first.windows_skipped, 0);
    assert!(first.events_read > 0, "the first windows had events");
    let path = options.checkpoint_path(&env);
    let key = Key::new(&env.name, &options.log_groups, options.period);
    let recorded = checkpoint::load(&path, &key)
        .expect("a readable checkpoint")
        .expect("a checkpoint after an interruption");
    let group = &options.log_groups[0];
    let done_ms: i64 = recorded.done[group].iter().map(|[a, b]| b - a).sum();
    assert_eq!(done_ms, 30 * 3_600_000, "the 30 windows read, recorded");
    let stored_docs = count(
        &env.opensearch_client().unwrap(),
        &env.indices().request_events_pattern(),
    )
    .await;
    assert!(
        stored_docs < stored.expected.kept_events(),
        "an interrupted backfill stored {stored_docs} of {} request events",
        stored.expected.kept_events()
    );

    options.stop_after_windows = None;
    let second = run(&env, &aws, &handler, &options).await;
    assert!(second.finished);
    assert_eq!(
        second.windows_skipped, 30,
        "the recorded windows are skipped"
    );
    assert_eq!(second.windows_read, second.windows_total - 30);
    // Only the events of windows not recorded are read again.
    let unrecorded = stored.events[group]
        .iter()
        .filter(|(_, _, ts, _)| {
            !recorded.is_done(
                group,
                Window {
                    start_ms: *ts,
                    end_ms: *ts + 1,
                },
            )
        })
        .count() as u64;
    assert_eq!(second.events_read, unrecorded);
    assert_eq!(first.events_read + second.events_read, stored.len() as u64);
    assert!(!path.exists(), "a finished backfill deletes its checkpoint");
    assert_matches_model(&env, &stored.expected).await;

    // --restart reads the whole period again: every event, nothing new.
    options.restart = true;
    options.stop_after_windows = Some(2);
    run(&env, &aws, &handler, &options).await;
    options.stop_after_windows = None;
    let again = run(&env, &aws, &handler, &options).await;
    assert_eq!(again.windows_skipped, 0, "--restart forgets the checkpoint");
    assert_counts_match_model(&again, &stored);
    assert_eq!(again.counts.events_created, 0);
    assert_matches_model(&env, &stored.expected).await;
    cleanup(&env.opensearch_client().unwrap(), &env).await;
    delete_log_groups(&aws, &env).await;
    let _ = std::fs::remove_dir_all(&checkpoints);
}
