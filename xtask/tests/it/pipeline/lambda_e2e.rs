//! The Lambda end to end, with the very binary `cargo xtask deploy` ships:
//! `bootstrap` taken out of `target/lambda/processor-x86_64.zip` (the
//! package `xtask::build::build_lambda_zip` writes and deploy uploads), run
//! against the Lambda runtime API of `cargo lambda watch --only-lambda-apis`
//! (bound to 127.0.0.1), invoked with a CloudWatch Logs event built from
//! `aws_lambda_events` types, and the documents read back from the local
//! OpenSearch.
//!
//! Why the package and not a build of its own: what runs here is what
//! Lambda runs (release, xtask's rustflags, the bytes in the zip), and this
//! test compiles nothing. `tools/build.rs` builds the same package earlier
//! in the same `cargo test` run, so `build_lambda_zip` finds it up to date;
//! run alone on a fresh checkout, it compiles the release dependencies once
//! (minutes on 2 CPUs). A debug `cargo lambda build` of its own would
//! compile every dependency a second time.
//!
//! `watch --only-lambda-apis` starts no function: it serves the runtime API
//! and says which variables a function started by hand must have
//! (`AWS_LAMBDA_RUNTIME_API`, `AWS_LAMBDA_FUNCTION_NAME`, …). The test
//! starts the extracted `bootstrap` itself with those, the rest of what
//! Lambda sets, and the function's own variables; nothing of the test's
//! environment reaches it.
//!
//! Needs cargo-lambda (in `target/local-stack/venv`, installed by
//! `cargo xtask local up`) and OpenSearch; fails, never skips, without them.
//! `cargo xtask test` provides both.

use crate::support;

use aws_lambda_events::event::cloudwatch_logs::{AwsLogs, LogData, LogEntry, LogsEvent};
use base64::Engine as _;
use serde_json::{Value, json};
use sha2::Digest as _;
use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fs::File;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt as _;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use support::{all_documents, cleanup, count, require_opensearch, root, test_environment};
use xtask::build::{BuildOptions, BuiltZip, build_lambda_zip};

/// A cold release build compiles every dependency (about 6 minutes on 2
/// CPUs); after `tools/build.rs` it is a freshness check of seconds.
const BUILD_TIMEOUT: Duration = Duration::from_secs(25 * 60);
/// How long the first invocation may take: the function is already
/// running, so this only covers a slow machine.
const WARM_UP_TIMEOUT: Duration = Duration::from_secs(120);
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

    // 1. The package deploy uploads, and the executable in it.
    let t = Instant::now();
    let package = lambda_package(&root).await;
    let task_root = work.join("task");
    let bootstrap = extract_bootstrap(&package, &task_root);
    let build_secs = t.elapsed().as_secs_f64();
    println!(
        "package {} ({} bytes, sha256 {}): {} in {build_secs:.1}s",
        package.path.display(),
        package.len,
        package.sha256_hex,
        bootstrap.display()
    );

    // 2. The runtime API, on loopback only; no function of its own.
    let env = test_environment("lambda").await;
    let indices = env.indices().clone();
    let port = free_port();
    let port_arg = port.to_string();
    let t = Instant::now();
    let watch = Background::start(
        "cargo lambda watch",
        cargo_env.command(&[
            "lambda",
            "watch",
            "--only-lambda-apis",
            // Other people edit the workspace meanwhile: never reload.
            "--ignore-changes",
            "--invoke-address",
            "127.0.0.1",
            "--invoke-port",
            &port_arg,
        ]),
        work.join("watch.log"),
    );
    watch.wait_listening(port, Duration::from_secs(60)).await;
    watch.assert_listens_on_loopback_only(true);
    let runtime = runtime_variables(&watch, port);
    let function_name = runtime["AWS_LAMBDA_FUNCTION_NAME"].clone();

    // 3. The function, as Lambda starts it: `bootstrap` in the task root,
    // the runtime's variables, the function's own, and nothing else.
    let mut function = Command::new(&bootstrap);
    function
        .current_dir(&task_root)
        .env_clear()
        .envs(&runtime)
        .env("AWS_REGION", &env.aws.region)
        .env("AWS_DEFAULT_REGION", &env.aws.region)
        .env("AWS_EXECUTION_ENV", "AWS_Lambda_provided.al2023")
        .env("AWS_LAMBDA_LOG_GROUP_NAME", env.lambda_log_group())
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "lambda-e2e")
        .env("LAMBDA_TASK_ROOT", &task_root)
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .env("TZ", ":UTC")
        .env(
            "OPENSEARCH_ENDPOINT",
            env.opensearch_endpoint()
                .expect("the local OpenSearch endpoint"),
        )
        .env("OPENSEARCH_AUTH", "none")
        .env("REQUEST_EVENTS_PREFIX", &indices.request_events_prefix)
        .env("SESSION_SUMMARIES_INDEX", &indices.session_summaries)
        .env("DEAD_LETTERS_INDEX", &indices.dead_letters)
        .stdin(Stdio::null());
    let function = Background::start("bootstrap", function, work.join("function.log"));
    let both = [&watch, &function];

    // Warm up with a CONTROL_MESSAGE (acknowledged, nothing written).
    let control = work.join("control.json");
    write_event(&control, &control_message());
    let answer = cargo_env
        .invoke_until_ready(&both, &function_name, port, &control, WARM_UP_TIMEOUT)
        .await;
    assert_eq!(answer["counts"]["control_messages"], 1, "{answer}");
    function.assert_listens_on_loopback_only(false);
    let ready_secs = t.elapsed().as_secs_f64();
    println!(
        "runtime API on 127.0.0.1:{port}, bootstrap pid {}: answering in {ready_secs:.1}s",
        function.child.id()
    );

    // 4. The real thing: a DATA_MESSAGE with 3 requests of 2 sessions, a
    // health check and a stack trace.
    let payload = work.join("data-message.json");
    write_event(&payload, &data_message());
    let t = Instant::now();
    let answer = cargo_env
        .invoke(&both, &function_name, port, &payload)
        .await;
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

    // 5. The documents arrived.
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
    let again = cargo_env
        .invoke(&both, &function_name, port, &payload)
        .await;
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

    // The function served every invocation and wrote its summary lines.
    let function_log = std::fs::read_to_string(&function.log).unwrap_or_default();
    assert_eq!(
        function_log.matches("invocation summary").count(),
        3,
        "{}",
        function.log_tail()
    );

    drop(function);
    drop(watch);
    cleanup(&client, &env).await;
    let _ = std::fs::remove_dir_all(&work);
    println!(
        "lambda e2e: package {build_secs:.1}s, runtime API and function ready {ready_secs:.1}s, \
         invocations and checks {invoke_secs:.1}s, total {:.1}s",
        started.elapsed().as_secs_f64()
    );
}

/// `build_lambda_zip`, with progress while it runs and a loud failure
/// (its build stopped) when it takes too long.
async fn lambda_package(root: &Path) -> BuiltZip {
    let log = root.join("target/lambda/build-x86_64.log");
    let mut build = tokio::task::spawn_blocking({
        let root = root.to_path_buf();
        move || build_lambda_zip(&root, &BuildOptions::default())
    });
    let started = Instant::now();
    let built = loop {
        match tokio::time::timeout(PROGRESS_EVERY, &mut build).await {
            Ok(joined) => break joined.expect("the build task panicked"),
            Err(_) if started.elapsed() < BUILD_TIMEOUT => println!(
                "build_lambda_zip: still running after {:.0}s ({})",
                started.elapsed().as_secs_f64(),
                last_line(&log)
            ),
            Err(_) => {
                // Only the build can be running under this process now.
                kill_descendants_of(std::process::id());
                panic!(
                    "build_lambda_zip did not finish within {}s; last lines of {}:\n{}",
                    BUILD_TIMEOUT.as_secs(),
                    log.display(),
                    tail(&log, 30)
                );
            }
        }
    };
    let built = built.unwrap_or_else(|e| panic!("build_lambda_zip failed: {e:#}"));
    let build_log = std::fs::read_to_string(&built.log).unwrap_or_default();
    println!(
        "build_lambda_zip in {:.1}s ({})",
        started.elapsed().as_secs_f64(),
        if build_log.contains("Compiling") {
            "compiled"
        } else {
            "up to date"
        }
    );
    built
}

/// Takes `bootstrap` out of the zip, as Lambda does: into `task_root`,
/// with the zip's mode. The zip is read back and checked to be the one the
/// build reported (another process may build meanwhile), and its one entry
/// to be an x86-64 ELF executable.
fn extract_bootstrap(package: &BuiltZip, task_root: &Path) -> PathBuf {
    let zip = std::fs::read(&package.path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", package.path.display()));
    assert_eq!(
        hex::encode(sha2::Sha256::digest(&zip)),
        package.sha256_hex,
        "{} changed after build_lambda_zip returned (another build running?)",
        package.path.display()
    );
    let entry = single_zip_entry(&zip).unwrap_or_else(|e| {
        panic!(
            "{} is not the zip build_lambda_zip writes: {e}",
            package.path.display()
        )
    });
    assert_eq!(entry.name, "bootstrap", "the entry Lambda runs");
    assert_eq!(entry.mode, 0o100_755, "a regular file, mode 0755");
    let elf = &entry.data;
    assert!(
        elf.len() > 64 && elf.starts_with(b"\x7fELF"),
        "bootstrap in {} is not an ELF executable ({} bytes)",
        package.path.display(),
        elf.len()
    );
    assert_eq!(elf[4], 2, "a 64-bit ELF");
    assert_eq!(elf[5], 1, "a little-endian ELF");
    let e_type = u16::from_le_bytes([elf[16], elf[17]]);
    assert!(
        e_type == 2 || e_type == 3,
        "ELF type {e_type}: not executable"
    );
    assert_eq!(u16::from_le_bytes([elf[18], elf[19]]), 0x3e, "x86-64");

    std::fs::create_dir_all(task_root)
        .unwrap_or_else(|e| panic!("creating {}: {e}", task_root.display()));
    let path = task_root.join(&entry.name);
    std::fs::write(&path, elf).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(entry.mode & 0o7777))
        .unwrap_or_else(|e| panic!("chmod {}: {e}", path.display()));
    path
}

struct ZipEntry {
    name: String,
    /// The Unix mode in the external attributes' high half.
    mode: u32,
    data: Vec<u8>,
}

/// The one entry of a zip (no zip64, stored or deflated), its size and
/// CRC-32 checked. Read by hand: the `zip` crate is not a dependency.
fn single_zip_entry(zip: &[u8]) -> Result<ZipEntry, String> {
    let u16_at = |at: usize| -> Result<u16, String> {
        zip.get(at..at + 2)
            .map(|b| u16::from_le_bytes([b[0], b[1]]))
            .ok_or_else(|| format!("truncated at byte {at}"))
    };
    let u32_at = |at: usize| -> Result<u32, String> {
        zip.get(at..at + 4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .ok_or_else(|| format!("truncated at byte {at}"))
    };
    // End of central directory: 22 bytes and a comment of up to 64 KiB.
    let eocd = (0..=zip.len().saturating_sub(22))
        .rev()
        .take(22 + 0xffff)
        .find(|&at| u32_at(at) == Ok(0x0605_4b50))
        .ok_or("no end of central directory")?;
    let entries = u16_at(eocd + 10)?;
    if entries != 1 {
        return Err(format!("{entries} entries, expected 1"));
    }
    let central = u32_at(eocd + 16)? as usize;
    if u32_at(central)? != 0x0201_4b50 {
        return Err("no central directory header".into());
    }
    let method = u16_at(central + 10)?;
    let crc = u32_at(central + 16)?;
    let compressed_size = u32_at(central + 20)? as usize;
    let size = u32_at(central + 24)? as usize;
    let name_len = u16_at(central + 28)? as usize;
    let mode = u32_at(central + 38)? >> 16;
    let local = u32_at(central + 42)? as usize;
    let name = zip
        .get(central + 46..central + 46 + name_len)
        .ok_or("truncated entry name")?;
    let name = String::from_utf8(name.to_vec()).map_err(|e| format!("entry name: {e}"))?;
    if u32_at(local)? != 0x0403_4b50 {
        return Err("no local file header".into());
    }
    let start = local + 30 + u16_at(local + 26)? as usize + u16_at(local + 28)? as usize;
    let raw = zip
        .get(start..start + compressed_size)
        .ok_or("truncated entry data")?;
    let data = match method {
        0 => raw.to_vec(),
        8 => {
            let mut data = Vec::with_capacity(size);
            std::io::Read::read_to_end(&mut flate2::read::DeflateDecoder::new(raw), &mut data)
                .map_err(|e| format!("inflating {name}: {e}"))?;
            data
        }
        other => return Err(format!("compression method {other}")),
    };
    if data.len() != size {
        return Err(format!("{name}: {} bytes, the zip says {size}", data.len()));
    }
    let mut check = flate2::Crc::new();
    check.update(&data);
    if check.sum() != crc {
        return Err(format!("{name}: CRC-32 mismatch"));
    }
    Ok(ZipEntry { name, mode, data })
}

/// The variables watch says a function it does not start must have
/// (`AWS_LAMBDA_RUNTIME_API=http://127.0.0.1:<port>/.rt`,
/// `AWS_LAMBDA_FUNCTION_NAME`, …), as it logs them at start.
fn runtime_variables(watch: &Background, port: u16) -> BTreeMap<String, String> {
    let log = std::fs::read_to_string(&watch.log).unwrap_or_default();
    let vars: BTreeMap<String, String> = log
        .lines()
        .filter_map(|line| {
            let (name, value) = line.trim().strip_prefix("INFO ")?.split_once('=')?;
            name.starts_with("AWS_LAMBDA_")
                .then(|| (name.to_string(), value.trim().to_string()))
        })
        .collect();
    for name in ["AWS_LAMBDA_RUNTIME_API", "AWS_LAMBDA_FUNCTION_NAME"] {
        assert!(
            vars.contains_key(name),
            "cargo lambda watch --only-lambda-apis did not say {name}= (found {vars:?})\n{}",
            watch.log_tail()
        );
    }
    let api = &vars["AWS_LAMBDA_RUNTIME_API"];
    assert!(
        api.starts_with(&format!("http://127.0.0.1:{port}/")),
        "the runtime API is not the one on 127.0.0.1:{port}: {api}"
    );
    println!("runtime variables from cargo lambda watch: {vars:?}");
    vars
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

/// A scratch directory for this run's logs, payloads and task root.
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

    fn invoke_command(&self, function: &str, port: u16, payload: &Path) -> tokio::process::Command {
        let port = port.to_string();
        let mut cmd = self.command(&[
            "lambda",
            "invoke",
            function,
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

    /// One invocation; its answer, or a failure with both processes' logs.
    async fn invoke(
        &self,
        processes: &[&Background],
        function: &str,
        port: u16,
        payload: &Path,
    ) -> Value {
        match self
            .try_invoke(processes, function, port, payload, INVOKE_TIMEOUT)
            .await
        {
            Ok(answer) => answer,
            Err(error) => panic!("{error}\n{}", log_tails(processes)),
        }
    }

    /// Invokes until the function answers, failing as soon as watch or the
    /// function exits.
    async fn invoke_until_ready(
        &self,
        processes: &[&Background],
        function: &str,
        port: u16,
        payload: &Path,
        limit: Duration,
    ) -> Value {
        let started = Instant::now();
        loop {
            let left = limit.saturating_sub(started.elapsed());
            match self
                .try_invoke(processes, function, port, payload, left.min(PROGRESS_EVERY))
                .await
            {
                Ok(answer) => return answer,
                Err(error) if started.elapsed() < limit => {
                    for process in processes {
                        process.assert_running();
                    }
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
                    log_tails(processes)
                ),
            }
        }
    }

    /// One `cargo lambda invoke`; gives up at `limit`, or as soon as watch
    /// or the function exits (an invocation would then wait forever).
    async fn try_invoke(
        &self,
        processes: &[&Background],
        function: &str,
        port: u16,
        payload: &Path,
        limit: Duration,
    ) -> Result<Value, String> {
        let started = Instant::now();
        let mut run = std::pin::pin!(self.invoke_command(function, port, payload).output());
        let out = loop {
            tokio::select! {
                out = &mut run => match out {
                    Ok(out) => break out,
                    Err(e) => return Err(format!("cargo lambda invoke could not run: {e}")),
                },
                () = tokio::time::sleep(Duration::from_millis(250)) => {
                    if let Some(gone) = processes.iter().find(|p| !is_alive(p.child.id())) {
                        return Err(format!(
                            "{} (pid {}) exited during the invocation",
                            gone.name,
                            gone.child.id()
                        ));
                    }
                    if started.elapsed() >= limit {
                        return Err(format!(
                            "cargo lambda invoke timed out after {}s",
                            limit.as_secs()
                        ));
                    }
                }
            }
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

/// Kills what this process started and still runs (the build, when it
/// times out), each checked against its start time.
fn kill_descendants_of(pid: u32) {
    for (child, start) in process_tree(pid).into_iter().skip(1) {
        if start_time(child).as_deref() == Some(start.as_str()) && is_alive(child) {
            let _ = Command::new("kill")
                .args(["-KILL", &child.to_string()])
                .stderr(Stdio::null())
                .status();
        }
    }
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

fn log_tails(processes: &[&Background]) -> String {
    processes
        .iter()
        .map(|p| p.log_tail())
        .collect::<Vec<_>>()
        .join("\n")
}

/// A child in a process group of its own (`cargo lambda watch`, or the
/// function), its output in a log under the work directory; stopped with
/// its group, and anything it started, when dropped, also when the test
/// fails (and then its log's tail is printed).
struct Background {
    name: &'static str,
    child: Child,
    log: PathBuf,
}

impl Background {
    fn start(name: &'static str, mut cmd: Command, log: PathBuf) -> Background {
        let file = File::create(&log).unwrap_or_else(|e| panic!("creating {}: {e}", log.display()));
        cmd.stdout(file.try_clone().unwrap())
            .stderr(file)
            .process_group(0);
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("{name} could not start: {e}"));
        println!("{name}: pid {}, log {}", child.id(), log.display());
        Background { name, child, log }
    }

    fn log_tail(&self) -> String {
        format!(
            "last lines of {} ({}):\n{}",
            self.log.display(),
            self.name,
            tail(&self.log, 40)
        )
    }

    fn assert_running(&self) {
        let pid = self.child.id();
        assert!(
            is_alive(pid),
            "{} (pid {pid}) exited\n{}",
            self.name,
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
                "{} does not listen on {addr} after {}s\n{}",
                self.name,
                limit.as_secs(),
                self.log_tail()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Every TCP socket this process (or anything it started) listens on is
    /// bound to loopback; and there is one, when `must_listen`.
    fn assert_listens_on_loopback_only(&self, must_listen: bool) {
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
            !must_listen || !listening.is_empty(),
            "found no listening socket of {}\n{}",
            self.name,
            self.log_tail()
        );
        assert!(
            listening.iter().all(|(_, loopback)| *loopback),
            "{} listens beyond loopback: {listening:?}",
            self.name
        );
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        let pid = self.child.id();
        if std::thread::panicking() {
            eprintln!("{}", self.log_tail());
        }
        // Anything it started in a session of its own: noted before it goes,
        // so that any left behind can be killed too.
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
