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
