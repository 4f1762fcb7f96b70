//! The Lambda end to end, as AWS would run it: `bootstrap` built with
//! cargo-lambda, served by `cargo lambda watch` (the Lambda runtime API
//! emulator, bound to 127.0.0.1), invoked with a CloudWatch Logs event file,
//! and the documents read back from the local OpenSearch.
//!
//! Needs cargo-lambda (in `target/local-stack/venv`, installed by
//! `cargo xtask local up`) and OpenSearch; fails, never skips, without them.
//! `cargo xtask test` provides both.
//!
//! The build is `cargo lambda build --compiler cargo --target
//! x86_64-unknown-linux-gnu` (no zig, no cross toolchain: the host target),
//! so its artifacts live in `target/x86_64-unknown-linux-gnu/debug`, apart
//! from `target/debug`: the first run compiles the dependencies once
//! (minutes), later runs only relink what changed. `watch` gets the same
//! `--target`, so it runs the binary the build produced without compiling
//! anything again.

mod support;

use aws_lambda_events::event::cloudwatch_logs::{AwsLogs, LogData, LogEntry, LogsEvent};
use base64::Engine as _;
use serde_json::{Value, json};
use std::ffi::OsString;
use std::fs::File;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use support::{all_documents, cleanup, count, require_opensearch, root, test_environment};

/// The host triple: the only target this machine can build for.
const TARGET: &str = "x86_64-unknown-linux-gnu";
/// A cold build compiles every dependency (about 6 minutes on 2 CPUs).
const BUILD_TIMEOUT: Duration = Duration::from_secs(25 * 60);
/// How long the first invocation may take (watch checks the build first).
const WARM_UP_TIMEOUT: Duration = Duration::from_secs(10 * 60);
const INVOKE_TIMEOUT: Duration = Duration::from_secs(120);
const PROGRESS_EVERY: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bootstrap_under_cargo_lambda_watch_writes_the_documents() {
    let started = Instant::now();
    let root = root();
    let work = work_dir();
    let client = require_opensearch().await;
    let cargo_env = CargoEnv::new(&root);
    cargo_env.require_cargo_lambda(&work);

    // 1. Build.
    let t = Instant::now();
    let mut build = cargo_env.command(&[
        "lambda",
        "build",
        "--compiler",
        "cargo",
        "--target",
        TARGET,
        // The host target needs no rustup component.
        "--skip-target-check",
        "--bin",
        "bootstrap",
    ]);
    run_logged(
        &mut build,
        &work.join("build.log"),
        "cargo lambda build",
        BUILD_TIMEOUT,
    )
    .await;
    let artifact = root.join("target/lambda/bootstrap/bootstrap");
    assert!(
        artifact.is_file(),
        "cargo lambda build succeeded but did not produce {}",
        artifact.display()
    );
    let build_secs = t.elapsed().as_secs_f64();
    println!(
        "cargo lambda build: {} in {build_secs:.1}s",
        artifact.display()
    );

    // 2. Serve it with `cargo lambda watch`, on loopback only.
    let env = test_environment("lambda").await;
    let indices = env.indices().clone();
    let function_env = [
        (
            "OPENSEARCH_ENDPOINT",
            env.opensearch_endpoint().unwrap().to_string(),
        ),
        ("OPENSEARCH_AUTH", "none".to_string()),
        (
            "REQUEST_EVENTS_PREFIX",
            indices.request_events_prefix.clone(),
        ),
        ("SESSION_SUMMARIES_INDEX", indices.session_summaries.clone()),
        ("DEAD_LETTERS_INDEX", indices.dead_letters.clone()),
    ];
    let port = free_port();
    let port_arg = port.to_string();
    let mut args = vec![
        "lambda",
        "watch",
        // Other people edit the workspace meanwhile: never rebuild mid-test.
        "--ignore-changes",
        "--invoke-address",
        "127.0.0.1",
        "--invoke-port",
        &port_arg,
        "--target",
        TARGET,
        "--bin",
        "bootstrap",
    ];
    let env_args: Vec<String> = function_env
        .iter()
        .map(|(k, v)| {
            // `--env-var` also splits its value on commas.
            assert!(!v.contains(','), "{k}={v} cannot be passed with --env-var");
            format!("{k}={v}")
        })
        .collect();
    for kv in &env_args {
        args.push("--env-var");
        args.push(kv);
    }
    let t = Instant::now();
    let watch = Watch::start(cargo_env.command(&args), work.join("watch.log"));
    watch.wait_listening(port, Duration::from_secs(60)).await;
    watch.assert_loopback_only();

    // Warm up with a CONTROL_MESSAGE (acknowledged, nothing written): the
    // first invocation starts the function through `cargo run`.
    let control = work.join("control.json");
    write_event(&control, &control_message());
    let answer = cargo_env
        .invoke_until_ready(&watch, port, &control, WARM_UP_TIMEOUT)
        .await;
    assert_eq!(answer["counts"]["control_messages"], 1, "{answer}");
    let ready_secs = t.elapsed().as_secs_f64();
    println!("cargo lambda watch on 127.0.0.1:{port}: function ready in {ready_secs:.1}s");

    // 3. The real thing: a DATA_MESSAGE with 3 requests of 2 sessions, a
    // health check and a stack trace.
    let payload = work.join("data-message.json");
    write_event(&payload, &data_message());
    let t = Instant::now();
    let answer = cargo_env.invoke(&watch, port, &payload).await;
    println!("invoke: {answer}");
    let counts = &answer["counts"];
    for (name, expected) in [
        ("batches", 1),
        ("log_events", 5),
        ("kept", 3),
        ("noise_path", 1),
        ("unparsed", 1),
        ("not_request", 0),
        ("events_created", 3),
        ("events_existing", 0),
        ("sessions_written", 2),
        ("dead_lettered", 0),
    ] {
        assert_eq!(counts[name], expected, "counts.{name} in {answer}");
    }

    // 4. The documents arrived.
    let events = all_documents(&client, &indices.request_events_pattern()).await;
    assert_eq!(
        count(&client, &indices.request_events_pattern()).await,
        3,
        "request events: {events:#?}"
    );
    let expected_events = [
        ("evt-a-1", "s-alpha", "/api/v2/sites/ST-0042/assets"),
        ("evt-b-1", "s-beta", "/dashboard"),
        ("evt-a-2", "s-alpha", "/api/v2/reports"),
    ];
    for (id, session, path) in expected_events {
        let (index, _, doc) = events
            .get(id)
            .unwrap_or_else(|| panic!("request event {id} is missing: {events:#?}"));
        assert_eq!(
            index,
            &format!("{}2026.11.02", indices.request_events_prefix),
            "{id}"
        );
        assert_eq!(doc["session_id"], session, "{id}: {doc}");
        assert_eq!(doc["path"], path, "{id}: {doc}");
        assert_eq!(doc["log_group"], LOG_GROUP, "{id}: {doc}");
        assert_eq!(doc["log_stream"], LOG_STREAM, "{id}: {doc}");
    }
    assert_eq!(events["evt-a-1"].2["user"], "alice@example.com");
    assert_eq!(events["evt-a-1"].2["site_token"], "ST-0042");
    assert_eq!(events["evt-a-1"].2["asset_types"], json!(["pump", "valve"]));

    let sessions = all_documents(&client, &indices.session_summaries).await;
    assert_eq!(
        sessions.keys().collect::<Vec<_>>(),
        ["s-alpha", "s-beta"],
        "{sessions:#?}"
    );
    let alpha = &sessions["s-alpha"].2;
    assert_eq!(alpha["event_count"], 2, "{alpha}");
    assert_eq!(alpha["user"], "alice@example.com", "{alpha}");
    assert_eq!(alpha["start_time"], "2026-11-02T14:03:11.482Z", "{alpha}");
    assert_eq!(alpha["end_time"], "2026-11-02T14:05:41.482Z", "{alpha}");
    assert_eq!(alpha["duration_seconds"], 150.0, "{alpha}");
    assert_eq!(
        alpha["paths"],
        json!(["/api/v2/reports", "/api/v2/sites/ST-0042/assets"]),
        "{alpha}"
    );
    let beta = &sessions["s-beta"].2;
    assert_eq!(beta["event_count"], 1, "{beta}");
    assert_eq!(beta["user"], "bob@example.com", "{beta}");
    assert_eq!(count(&client, &indices.dead_letters).await, 0);

    // Redelivery of the same batch changes nothing.
    let again = cargo_env.invoke(&watch, port, &payload).await;
    let counts = &again["counts"];
    assert_eq!(counts["events_created"], 0, "{again}");
    assert_eq!(counts["events_existing"], 3, "{again}");
    assert_eq!(counts["sessions_written"], 0, "{again}");
    assert_eq!(counts["sessions_unchanged"], 2, "{again}");
    assert_eq!(
        all_documents(&client, &indices.session_summaries).await,
        sessions,
        "a redelivery rewrote a session summary"
    );
    let invoke_secs = t.elapsed().as_secs_f64();

    drop(watch);
    cleanup(&client, &env).await;
    let _ = std::fs::remove_dir_all(&work);
    println!(
        "lambda e2e: build {build_secs:.1}s, watch ready {ready_secs:.1}s, \
         invocations and checks {invoke_secs:.1}s, total {:.1}s",
        started.elapsed().as_secs_f64()
    );
}

const LOG_GROUP: &str = "/aws/ecs/ironman-app";
const LOG_STREAM: &str = "ironman/web/4f1c2a";

fn entry(id: &str, timestamp: i64, message: &str) -> LogEntry {
    let mut entry = LogEntry::default();
    entry.id = id.to_string();
    entry.timestamp = timestamp;
    entry.message = message.to_string();
    entry
}

fn log_data(message_type: &str, log_events: Vec<LogEntry>) -> LogsEvent {
    let mut data = LogData::default();
    data.owner = "123456789012".into();
    data.log_group = LOG_GROUP.into();
    data.log_stream = LOG_STREAM.into();
    data.subscription_filters = vec!["ironman-usage".into()];
    data.message_type = message_type.into();
    data.log_events = log_events;
    let mut aws_logs = AwsLogs::default();
    aws_logs.data = data;
    let mut event = LogsEvent::default();
    event.aws_logs = aws_logs;
    event
}

/// 2026-11-02T14:03:11.482Z in epoch milliseconds.
const T0: i64 = 1_793_628_191_482;

fn data_message() -> LogsEvent {
    let line = |fields: Value| fields.to_string();
    log_data(
        "DATA_MESSAGE",
        vec![
            entry(
                "evt-a-1",
                T0,
                &format!(
                    "2026-11-02T14:03:11.482Z\tINFO\t{}",
                    line(json!({
                        "type": "request", "sessionId": "s-alpha", "user": "Alice@Example.com",
                        "url": "/api/v2/sites/ST-0042/assets?assetType=Pump,valve",
                        "method": "get", "timestamp": "2026-11-02T14:03:11.482Z",
                        "status": 200, "responseTimeMs": 12.4,
                    }))
                ),
            ),
            entry(
                "evt-hc",
                T0 + 1_000,
                &format!(
                    "INFO {}",
                    line(json!({
                        "type": "request", "sessionId": "s-probe", "user": "elb",
                        "url": "/health", "method": "GET", "userAgent": "ELB-HealthChecker/2.0",
                    }))
                ),
            ),
            entry(
                "evt-b-1",
                T0 + 60_000,
                &format!(
                    "[2026-11-02 14:04:11,482] INFO {}",
                    line(json!({
                        "type": "request", "sessionId": "s-beta", "user": "bob@example.com",
                        "url": "/dashboard", "method": "GET",
                        "timestamp": "2026-11-02T14:04:11.482Z", "status": "200",
                    }))
                ),
            ),
            entry(
                "evt-trace",
                T0 + 61_000,
                "java.lang.IllegalStateException: report generator crashed\n\tat com.ironman.Reports.run(Reports.java:42)",
            ),
            entry(
                "evt-a-2",
                T0 + 150_000,
                &line(json!({
                    "type": "request", "sessionId": "s-alpha", "user": "alice@example.com",
                    "url": "/api/v2/reports", "method": "POST",
                    "timestamp": "2026-11-02T14:05:41.482Z", "status": 500,
                })),
            ),
        ],
    )
}

fn control_message() -> LogsEvent {
    let mut event = log_data(
        "CONTROL_MESSAGE",
        vec![entry(
            "",
            T0,
            "CWL CONTROL MESSAGE: Checking health of destination Lambda.",
        )],
    );
    event.aws_logs.data.owner = "CloudwatchLogs".into();
    event
}

/// Writes the event as the AWS Lambda event type serialises it, with one
/// adjustment: `aws_lambda_events` writes `data` as base64 *without*
/// padding, while CloudWatch Logs sends standard, padded base64 (see the
/// AWS sample event) and the processor decodes exactly that. The padding is
/// restored, and the file is checked to read back as the same `LogsEvent`.
fn write_event(path: &Path, event: &LogsEvent) {
    let mut value = serde_json::to_value(event).expect("serialising the LogsEvent");
    let data = value["awslogs"]["data"]
        .as_str()
        .expect("awslogs.data is a string")
        .to_string();
    let padded = format!("{data}{}", "=".repeat((4 - data.len() % 4) % 4));
    let gzip = base64::engine::general_purpose::STANDARD
        .decode(&padded)
        .expect("awslogs.data is base64");
    assert_eq!(&gzip[..2], b"\x1f\x8b", "awslogs.data is gzip");
    value["awslogs"]["data"] = Value::String(padded);
    let text = serde_json::to_string(&value).unwrap();
    let back: LogsEvent =
        serde_json::from_str(&text).expect("the payload reads back as a LogsEvent");
    assert_eq!(&back, event);
    std::fs::write(path, text).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
}

/// A scratch directory for this run's logs and payloads.
fn work_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("lambda-e2e-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("creating {}: {e}", dir.display()));
    dir
}

fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|listener| listener.local_addr())
        .expect("a free port on 127.0.0.1")
        .port()
}

/// How to run `cargo lambda …`: the venv's cargo-lambda first on `PATH`,
/// the workspace's own target directory, and none of the Lambda's settings
/// leaking in from the caller's environment.
struct CargoEnv {
    root: PathBuf,
    cargo: OsString,
    path: OsString,
}

impl CargoEnv {
    fn new(root: &Path) -> Self {
        CargoEnv {
            root: root.to_path_buf(),
            cargo: std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()),
            path: xtask::local::path_with_venv(root).expect("PATH with the venv"),
        }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(&self.cargo);
        cmd.args(args)
            .current_dir(&self.root)
            .env("PATH", &self.path)
            .env("CARGO_TARGET_DIR", self.root.join("target"))
            .env("NO_COLOR", "1")
            .env("CARGO_TERM_COLOR", "never")
            .stdin(Stdio::null());
        for name in [
            "OPENSEARCH_ENDPOINT",
            "OPENSEARCH_AUTH",
            "REQUEST_EVENTS_PREFIX",
            "SESSION_SUMMARIES_INDEX",
            "DEAD_LETTERS_INDEX",
            "PIPELINE_CONFIG_YAML",
        ] {
            cmd.env_remove(name);
        }
        cmd
    }

    /// Fails (never skips) when `cargo lambda` is not there.
    fn require_cargo_lambda(&self, work: &Path) {
        let output = self.command(&["lambda", "--version"]).output();
        match output {
            Ok(out) if out.status.success() => {
                let version = String::from_utf8_lossy(&out.stdout);
                println!("{}", version.trim());
                let _ = std::fs::write(work.join("cargo-lambda-version"), &out.stdout);
            }
            other => panic!(
                "cargo-lambda is required and `cargo lambda --version` failed ({}).\n\
                 It lives in {} : install it with `cargo xtask local up` \
                 (or run everything with `cargo xtask test`).",
                match other {
                    Ok(out) => format!(
                        "{}: {}",
                        out.status,
                        String::from_utf8_lossy(&out.stderr).trim()
                    ),
                    Err(e) => e.to_string(),
                },
                xtask::local::cargo_lambda_bin(&self.root).display()
            ),
        }
    }

    fn invoke_command(&self, port: u16, payload: &Path) -> tokio::process::Command {
        let port = port.to_string();
        let mut cmd = self.command(&[
            "lambda",
            "invoke",
            "bootstrap",
            "--invoke-address",
            "127.0.0.1",
            "--invoke-port",
            &port,
            "--data-file",
        ]);
        cmd.arg(payload)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut cmd = tokio::process::Command::from(cmd);
        cmd.kill_on_drop(true);
        cmd
    }

    /// One invocation; its answer, or a failure with watch's log.
    async fn invoke(&self, watch: &Watch, port: u16, payload: &Path) -> Value {
        match self.try_invoke(port, payload, INVOKE_TIMEOUT).await {
            Ok(answer) => answer,
            Err(error) => panic!("{error}\n{}", watch.log_tail()),
        }
    }

    /// Invokes until the function answers: the first invocation waits for
    /// `cargo run` (a freshness check after the build) and the start-up.
    async fn invoke_until_ready(
        &self,
        watch: &Watch,
        port: u16,
        payload: &Path,
        limit: Duration,
    ) -> Value {
        let started = Instant::now();
        loop {
            let left = limit.saturating_sub(started.elapsed());
            match self
                .try_invoke(port, payload, left.min(PROGRESS_EVERY))
                .await
            {
                Ok(answer) => return answer,
                Err(error) if started.elapsed() < limit => {
                    watch.assert_running();
                    println!(
                        "waiting for the function ({:.0}s): {}",
                        started.elapsed().as_secs_f64(),
                        error.lines().next().unwrap_or("")
                    );
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                Err(error) => panic!(
                    "the function did not answer within {}s: {error}\n{}",
                    limit.as_secs(),
                    watch.log_tail()
                ),
            }
        }
    }

    async fn try_invoke(
        &self,
        port: u16,
        payload: &Path,
        limit: Duration,
    ) -> Result<Value, String> {
        let run = self.invoke_command(port, payload).output();
        let out = match tokio::time::timeout(limit, run).await {
            Err(_) => {
                return Err(format!(
                    "cargo lambda invoke timed out after {}s",
                    limit.as_secs()
                ));
            }
            Ok(Err(e)) => return Err(format!("cargo lambda invoke could not run: {e}")),
            Ok(Ok(out)) => out,
        };
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        if !out.status.success() {
            return Err(format!(
                "cargo lambda invoke failed ({}):\nstdout: {}\nstderr: {}",
                out.status,
                stdout.trim(),
                stderr.trim()
            ));
        }
        serde_json::from_str(stdout.trim()).map_err(|e| {
            format!("cargo lambda invoke printed no JSON answer ({e}):\nstdout: {stdout}\nstderr: {stderr}")
        })
    }
}

/// Runs `cmd` with its output in `log`, printing progress; fails with the
/// log's tail.
async fn run_logged(cmd: &mut Command, log: &Path, what: &str, limit: Duration) {
    let file = File::create(log).unwrap_or_else(|e| panic!("creating {}: {e}", log.display()));
    cmd.stdout(file.try_clone().unwrap()).stderr(file);
    let mut cmd = tokio::process::Command::from(std::mem::replace(cmd, Command::new("true")));
    cmd.kill_on_drop(true);
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("{what} could not start: {e}"));
    let started = Instant::now();
    let status = loop {
        match tokio::time::timeout(PROGRESS_EVERY, child.wait()).await {
            Ok(status) => break status.unwrap_or_else(|e| panic!("{what}: {e}")),
            Err(_) if started.elapsed() < limit => println!(
                "{what}: still running after {:.0}s ({})",
                started.elapsed().as_secs_f64(),
                last_line(log)
            ),
            Err(_) => panic!(
                "{what} did not finish within {}s; last lines of {}:\n{}",
                limit.as_secs(),
                log.display(),
                tail(log, 30)
            ),
        }
    };
    assert!(
        status.success(),
        "{what} failed ({status}); last lines of {}:\n{}",
        log.display(),
        tail(log, 30)
    );
}

fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read(path).unwrap_or_default();
    let text = String::from_utf8_lossy(&text);
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

fn last_line(path: &Path) -> String {
    tail(path, 1).trim().chars().take(120).collect()
}

/// `cargo lambda watch` in a process group of its own, stopped (with the
/// function instances it started, which run in sessions of their own) when
/// dropped, also when the test fails.
struct Watch {
    child: Child,
    log: PathBuf,
}

impl Watch {
    fn start(mut cmd: Command, log: PathBuf) -> Watch {
        let file = File::create(&log).unwrap_or_else(|e| panic!("creating {}: {e}", log.display()));
        cmd.stdout(file.try_clone().unwrap())
            .stderr(file)
            .process_group(0);
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cargo lambda watch could not start: {e}"));
        println!(
            "cargo lambda watch: pid {}, log {}",
            child.id(),
            log.display()
        );
        Watch { child, log }
    }

    fn log_tail(&self) -> String {
        format!(
            "last lines of {} (cargo lambda watch and the function):\n{}",
            self.log.display(),
            tail(&self.log, 40)
        )
    }

    fn assert_running(&self) {
        let pid = self.child.id();
        assert!(
            is_alive(pid),
            "cargo lambda watch (pid {pid}) exited\n{}",
            self.log_tail()
        );
    }

    async fn wait_listening(&self, port: u16, limit: Duration) {
        let started = Instant::now();
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        while TcpStream::connect_timeout(&addr, Duration::from_millis(500)).is_err() {
            self.assert_running();
            assert!(
                started.elapsed() < limit,
                "cargo lambda watch does not listen on {addr} after {}s\n{}",
                limit.as_secs(),
                self.log_tail()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Every TCP socket that watch (or anything it started) listens on is
    /// bound to loopback.
    fn assert_loopback_only(&self) {
        let inodes: Vec<String> = process_tree(self.child.id())
            .iter()
            .flat_map(|(pid, _)| socket_inodes(*pid))
            .collect();
        let mut listening = Vec::new();
        for (table, loopback) in [
            ("/proc/net/tcp", &["0100007F"][..]),
            (
                "/proc/net/tcp6",
                &[
                    "00000000000000000000000001000000",
                    "0000000000000000FFFF00000100007F",
                ][..],
            ),
        ] {
            let text = std::fs::read_to_string(table).unwrap_or_default();
            for line in text.lines().skip(1) {
                let fields: Vec<&str> = line.split_whitespace().collect();
                // local_address, state (0A = LISTEN), inode.
                let (Some(local), Some(state), Some(inode)) =
                    (fields.get(1), fields.get(3), fields.get(9))
                else {
                    continue;
                };
                if *state == "0A" && inodes.iter().any(|i| i == inode) {
                    let host = local.split(':').next().unwrap_or("");
                    listening.push((local.to_string(), loopback.contains(&host)));
                }
            }
        }
        assert!(
            !listening.is_empty(),
            "found no listening socket of cargo lambda watch\n{}",
            self.log_tail()
        );
        assert!(
            listening.iter().all(|(_, loopback)| *loopback),
            "cargo lambda watch listens beyond loopback: {listening:?}"
        );
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        let pid = self.child.id();
        if std::thread::panicking() {
            eprintln!("{}", self.log_tail());
        }
        // The function instances run in sessions of their own: note them
        // before watch goes, so that any left behind can be killed too.
        let tree = process_tree(pid);
        let _ = Command::new("kill")
            .args(["-TERM", "--", &format!("-{pid}")])
            .stderr(Stdio::null())
            .status();
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline && !matches!(self.child.try_wait(), Ok(Some(_))) {
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{pid}")])
            .stderr(Stdio::null())
            .status();
        let _ = self.child.wait();
        for (pid, start) in tree {
            if start_time(pid).as_deref() == Some(start.as_str()) && is_alive(pid) {
                let _ = Command::new("kill")
                    .args(["-KILL", &pid.to_string()])
                    .stderr(Stdio::null())
                    .status();
            }
        }
    }
}

/// The fields of `/proc/PID/stat` after the command name.
fn stat_fields(pid: u32) -> Option<Vec<String>> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, rest) = stat.rsplit_once(')')?;
    Some(rest.split_whitespace().map(str::to_string).collect())
}

fn is_alive(pid: u32) -> bool {
    stat_fields(pid).is_some_and(|f| f.first().is_some_and(|s| s != "Z" && s != "X"))
}

/// Start time in clock ticks since boot (tells a pid's reuse apart).
fn start_time(pid: u32) -> Option<String> {
    stat_fields(pid)?.get(19).cloned()
}

/// `pid` and its descendants, each with its start time.
fn process_tree(pid: u32) -> Vec<(u32, String)> {
    let parents: Vec<(u32, u32)> = std::fs::read_dir("/proc")
        .map(|dir| {
            dir.flatten()
                .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
                .filter_map(|p| Some((p, stat_fields(p)?.get(1)?.parse().ok()?)))
                .collect()
        })
        .unwrap_or_default();
    let mut tree = vec![pid];
    let mut i = 0;
    while i < tree.len() {
        let parent = tree[i];
        tree.extend(
            parents
                .iter()
                .filter(|(_, pp)| *pp == parent)
                .map(|(p, _)| *p),
        );
        i += 1;
    }
    tree.into_iter()
        .filter_map(|p| Some((p, start_time(p)?)))
        .collect()
}

fn socket_inodes(pid: u32) -> Vec<String> {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|dir| {
            dir.flatten()
                .filter_map(|fd| {
                    let target = std::fs::read_link(fd.path()).ok()?;
                    let target = target.to_str()?;
                    Some(
                        target
                            .strip_prefix("socket:[")?
                            .strip_suffix(']')?
                            .to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}
