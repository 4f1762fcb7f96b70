//! `cargo xtask bench`: every pass is shown, and the last line of stdout is
//! the JSON of the median pass, counting the corpus's log events (in
//! subdirectories too; a file that is not a Lambda event is named and left
//! out). The optimised build shares the Lambda build's compiled
//! dependencies.

use base64::Engine;
use std::io::Read;
use std::process::{Command, Stdio};

/// Log events of the data messages in a directory of Lambda event files,
/// counted without the processor's code.
fn log_events_in(dir: &std::path::Path) -> u64 {
    let mut count = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let event: serde_json::Value =
            serde_json::from_slice(&std::fs::read(entry.unwrap().path()).unwrap()).unwrap();
        let data = base64::engine::general_purpose::STANDARD
            .decode(event["awslogs"]["data"].as_str().unwrap())
            .unwrap();
        let mut json = String::new();
        flate2::read::MultiGzDecoder::new(&data[..])
            .read_to_string(&mut json)
            .unwrap();
        let doc: serde_json::Value = serde_json::from_str(&json).unwrap();
        // CloudWatch Logs' reachability probes carry no log events of the app.
        if doc["messageType"] == "DATA_MESSAGE" {
            count += doc["logEvents"].as_array().unwrap().len() as u64;
        }
    }
    count
}

#[test]
fn bench_shows_each_run_and_ends_with_the_median_as_json() {
    let root = xtask::project_root();
    let corpus = root.join("target/bench-test/corpus");
    let _ = std::fs::remove_dir_all(&corpus);
    let generated = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .arg("gen-logs")
        .arg(&corpus)
        .args(["--events", "3000", "--seed", "11"])
        .stdin(Stdio::null())
        .output()
        .expect("running xtask gen-logs");
    assert!(generated.status.success(), "{generated:?}");
    let events = log_events_in(&corpus);
    // A corpus as others ship one: part of it in a subdirectory, and a
    // file that is not a Lambda event beside it.
    let nested = corpus.join("day-2");
    std::fs::create_dir(&nested).unwrap();
    let mut files: Vec<_> = std::fs::read_dir(&corpus)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    for file in &files[files.len() / 2..] {
        std::fs::rename(file, nested.join(file.file_name().unwrap())).unwrap();
    }
    std::fs::write(corpus.join("manifest.json"), r#"{"files":"see day-2"}"#).unwrap();

    let out = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .arg("bench")
        .arg("--input")
        .arg(&corpus)
        .args(["--runs", "3", "--no-memory"])
        .stdin(Stdio::null())
        .output()
        .expect("running xtask bench");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let runs: Vec<f64> = stderr
        .lines()
        .filter_map(|l| l.trim().strip_prefix("run "))
        .map(|l| {
            let rate = l.rsplit(", ").next().unwrap();
            rate.trim_end_matches(" events/s").parse().unwrap()
        })
        .collect();
    assert_eq!(runs.len(), 3, "{stderr}");

    let stdout = String::from_utf8_lossy(&out.stdout);
    let last = stdout.lines().last().expect("a JSON line");
    let report: serde_json::Value = serde_json::from_str(last).expect("JSON");
    let mut keys: Vec<&str> = report
        .as_object()
        .unwrap()
        .keys()
        .map(|k| k.as_str())
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "events",
            "events_per_second",
            "log_bytes",
            "mb_per_second",
            "seconds"
        ]
    );
    assert_eq!(report["events"].as_u64(), Some(events), "{stderr}");
    assert!(
        stderr.contains("left out 1 file(s) that are not Lambda events")
            && stderr.contains("manifest.json"),
        "{stderr}"
    );
    let rate = report["events_per_second"].as_f64().unwrap();
    let seconds = report["seconds"].as_f64().unwrap();
    assert!((rate * seconds - report["events"].as_f64().unwrap()).abs() < 1.0);
    // The median of the runs shown (printed rounded to the event).
    let mut sorted = runs.clone();
    sorted.sort_by(f64::total_cmp);
    assert!((rate - sorted[1]).abs() <= 1.0, "{rate} vs {runs:?}");
}

/// A copy of `local` pointed at the test OpenSearch, written under a name
/// of its own into a folder the xtask binary is then pointed at.
fn e2e_environment(test: &str) -> (String, std::path::PathBuf) {
    let prefix = crate::support::unique_prefix(test);
    let mut env = xtask::env::Environment::local_for_test(&crate::support::root(), &prefix)
        .expect("local environment");
    env.name = format!("{test}{}", std::process::id());
    let dir = xtask::project_root()
        .join("target/bench-test")
        .join(prefix.trim_end_matches('-'));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join(format!("{}.yaml", env.name)),
        serde_yaml_ng::to_string(&env).unwrap(),
    )
    .unwrap();
    (env.name, dir)
}

/// Runs `xtask bench --e2e --no-build --env NAME ARGS…` and returns the
/// JSON of its last stdout line (and the whole stdout).
fn e2e_bench(name: &str, dir: &std::path::Path, args: &[&str]) -> (serde_json::Value, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["bench", "--e2e", "--no-build", "--env", name])
        .args(args)
        .env(xtask::env::ENVIRONMENTS_DIR_VAR, dir)
        .stdin(Stdio::null())
        .output()
        .expect("running xtask bench --e2e");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let last = stdout.lines().last().expect("a JSON line");
    (serde_json::from_str(last).expect("JSON"), stdout)
}

/// Nothing is left under the bench's index prefixes: no index, no template.
async fn nothing_left_under(client: &processor::opensearch::OpenSearch, prefixes: &[&str]) {
    for prefix in prefixes {
        assert!(prefix.starts_with("bench-e2e-"), "{prefix}");
        let indices = client
            .json(
                http::Method::GET,
                &format!("/_cat/indices/{prefix}*?format=json&expand_wildcards=all"),
                None,
            )
            .await
            .expect("listing indices");
        assert_eq!(indices, serde_json::json!([]), "left behind: {indices}");
        let templates = client
            .send(
                http::Method::GET,
                &format!("/_index_template/{prefix}*"),
                None,
            )
            .await
            .expect("listing templates");
        let left = if templates.status == 404 {
            0
        } else {
            templates.json().unwrap()["index_templates"]
                .as_array()
                .map_or(0, Vec::len)
        };
        assert_eq!(left, 0, "templates left behind: {}", templates.text());
    }
}

/// `cargo xtask bench --e2e` on a small generated corpus against the test
/// OpenSearch: the raw ingest and the pipeline both ran over every log
/// event (the pipeline stored exactly the corpus's kept events and
/// sessions, as the generator's expectation says), the last line has the
/// documented keys, and every bench index and template is gone afterwards.
#[tokio::test]
async fn e2e_bench_measures_raw_ingest_and_pipeline_side_by_side_then_cleans_up() {
    let client = crate::support::require_opensearch().await;
    let (name, dir) = e2e_environment("benche2e");
    let corpus = dir.join("corpus");
    let expect = dir.join("expect.json");
    let generated = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .arg("gen-logs")
        .arg(&corpus)
        .args(["--events", "2000", "--seed", "12", "--expect"])
        .arg(&expect)
        .stdin(Stdio::null())
        .output()
        .expect("running xtask gen-logs");
    assert!(generated.status.success(), "{generated:?}");
    let events = log_events_in(&corpus);
    let expected: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&expect).unwrap()).unwrap();

    let (report, stdout) = e2e_bench(
        &name,
        &dir,
        &[
            "--input",
            corpus.to_str().unwrap(),
            "--jobs",
            "2",
            "--rounds",
            "3",
        ],
    );
    let e2e = &report["e2e"];
    for key in [
        "log_events",
        "jobs",
        "raw_events_per_s",
        "pipeline_events_per_s",
        "ratio",
        "raw_seconds",
        "pipeline_seconds",
    ] {
        assert!(e2e[key].is_number(), "{key} in {report}");
    }
    assert_eq!(e2e["log_events"].as_u64(), Some(events), "{stdout}");
    assert_eq!(e2e["jobs"], 2);
    let raw = e2e["raw_events_per_s"].as_f64().unwrap();
    let pipeline = e2e["pipeline_events_per_s"].as_f64().unwrap();
    assert!(raw > 0.0 && pipeline > 0.0, "{report}");
    assert!((e2e["ratio"].as_f64().unwrap() - pipeline / raw).abs() < 0.01);
    // Three rounds, each side's median counting.
    assert_eq!(e2e["rounds"], 3, "{stdout}");
    let rates = |key: &str| -> Vec<f64> {
        let mut rates: Vec<f64> = e2e[key]
            .as_array()
            .unwrap_or_else(|| panic!("{key} in {report}"))
            .iter()
            .map(|r| r.as_f64().unwrap())
            .collect();
        assert_eq!(rates.len(), 3, "{key} in {report}");
        rates.sort_by(f64::total_cmp);
        rates
    };
    assert!((rates("raw_rates")[1] - raw).abs() < 0.1, "{report}");
    assert!(
        (rates("pipeline_rates")[1] - pipeline).abs() < 0.1,
        "{report}"
    );
    assert_eq!(e2e["round_ratios"].as_array().map(Vec::len), Some(3));
    // CPU seconds per wall second of the median rounds: both sides' CPU
    // over their time.
    for side in ["raw", "pipeline"] {
        let busy = e2e[format!("{side}_cpu_per_second")].as_f64().unwrap();
        let cpu = e2e[format!("{side}_client_cpu_s")].as_f64().unwrap()
            + e2e[format!("{side}_opensearch_cpu_s")].as_f64().unwrap();
        let seconds = e2e[format!("{side}_seconds")].as_f64().unwrap();
        assert!(
            busy > 0.0 && (busy - cpu / seconds).abs() < 0.02,
            "{report}"
        );
    }
    assert_eq!(stdout.matches("  round ").count(), 3, "{stdout}");
    for (rate, seconds) in [(raw, "raw_seconds"), (pipeline, "pipeline_seconds")] {
        let seconds = e2e[seconds].as_f64().unwrap();
        assert!((rate * seconds - events as f64).abs() < 0.01 * events as f64);
    }
    // The pipeline stored what the generator's model says it must.
    assert_eq!(
        e2e["pipeline_request_events"].as_u64(),
        Some(expected["kept_event_ids"].as_array().unwrap().len() as u64),
        "{stdout}"
    );
    assert_eq!(
        e2e["pipeline_sessions"].as_u64(),
        Some(expected["sessions"].as_object().unwrap().len() as u64)
    );
    assert_eq!(e2e["pipeline_dead_letters"], 0);
    assert!(e2e["pipeline_requests"].as_u64().unwrap() > 0);
    // The raw ingest sent one _bulk per data payload and stored the
    // distinct log events; its mappings refuse almost none of them.
    let distinct = expected["log_events_total"].as_u64().unwrap();
    let stored = e2e["raw_documents"].as_u64().unwrap();
    let refused = e2e["raw_refused"].as_u64().unwrap();
    assert!(stored <= distinct && refused * 50 < distinct, "{stdout}");
    assert!(stored + refused >= distinct, "{stdout}");
    assert!(e2e["raw_requests"].as_u64().unwrap() > 0);

    let prefixes: Vec<&str> = e2e["index_prefixes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect();
    assert_eq!(
        prefixes.len(),
        6,
        "a raw and a pipeline run per round: {report}"
    );
    nothing_left_under(&client, &prefixes).await;
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `--session-scaling`: one long-session corpus per value, the first once
/// untimed, then each timed three times through the pipeline (which must
/// store every kept event and session of it, or the bench fails), and the
/// ratio of the median times on the last line.
#[tokio::test]
async fn e2e_bench_session_scaling_reports_the_time_ratio() {
    let client = crate::support::require_opensearch().await;
    let (name, dir) = e2e_environment("benchscale");
    let (report, stdout) = e2e_bench(
        &name,
        &dir,
        &[
            "--session-scaling",
            "10,40",
            "--sessions",
            "3",
            "--jobs",
            "2",
        ],
    );
    let scaling = &report["session_scaling"];
    assert_eq!(scaling["sessions"], 3, "{stdout}");
    assert_eq!(scaling["events_per_session"], serde_json::json!([10, 40]));
    assert_eq!(scaling["events_ratio"], 4.0);
    let seconds: Vec<f64> = scaling["seconds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_f64().unwrap())
        .collect();
    assert!(seconds.len() == 2 && seconds.iter().all(|&s| s > 0.0));
    // Each corpus three times, the median counting.
    let runs = scaling["runs_seconds"].as_array().unwrap();
    assert_eq!(runs.len(), 2, "{report}");
    for (runs, median) in runs.iter().zip(&seconds) {
        let mut runs: Vec<f64> = runs
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_f64().unwrap())
            .collect();
        assert_eq!(runs.len(), 3, "{report}");
        runs.sort_by(f64::total_cmp);
        assert!((runs[1] - median).abs() < 0.001, "{report}");
    }
    assert!(stdout.contains("warm-up, untimed"), "{stdout}");
    let ratio = scaling["time_ratio"].as_f64().unwrap();
    assert!((ratio - seconds[1] / seconds[0]).abs() < 0.01, "{report}");
    let prefixes: Vec<&str> = scaling["index_prefixes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect();
    assert_eq!(prefixes.len(), 2);
    nothing_left_under(&client, &prefixes).await;
    std::fs::remove_dir_all(&dir).unwrap();
}
