//! `cargo xtask report` against the real local OpenSearch: a generated
//! corpus around the end of US daylight saving time (2026-11-01) is replayed
//! through the processor, and the JSON report equals the one computed from
//! the generator's own model (`Expected::report`, which shares no code with
//! the report), in UTC and in America/Chicago. Then the HTML report is opened
//! in headless Chromium.

use crate::support;

use chrono::NaiveDate;
use indicatif::ProgressBar;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use support::*;
use xtask::env::Environment;
use xtask::genlogs::{Corpus, GenOptions, generate, write_corpus};
use xtask::metrics::Metrics;
use xtask::replay::{event_files, handler_for, replay_files};
use xtask::report::{Period, Report, build, to_json, write_html};

fn date(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

/// A corpus from Thursday 2026-10-29 to Tuesday 2026-11-03 (UTC), so that
/// Chicago's 25-hour Sunday 2026-11-01 lies inside it.
fn corpus() -> Corpus {
    generate(&GenOptions {
        days: 6,
        users: 14,
        seed: 8136,
        start_date: date("2026-10-29"),
        ..GenOptions::default()
    })
}

/// Replays the corpus into a fresh test environment.
async fn loaded(test: &str, corpus: &Corpus) -> Environment {
    let env = test_environment(test).await;
    let dir = root()
        .join("target/test-tmp")
        .join(format!("{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    write_corpus(corpus, &dir).expect("writing the corpus");
    let handler = std::sync::Arc::new(handler_for(&root(), &env, None).expect("handler"));
    let files = event_files(std::slice::from_ref(&dir)).expect("event files");
    let replayed = replay_files(handler, &files, 4, &ProgressBar::hidden())
        .await
        .expect("replay");
    assert!(replayed.bad_files.is_empty(), "{:?}", replayed.bad_files);
    let _ = std::fs::remove_dir_all(&dir);
    let client = env.opensearch_client().unwrap();
    refresh(&client, &env.indices().session_summaries).await;
    env
}

async fn report(env: &Environment, from: &str, to: &str, tz: &str) -> Report {
    let metrics = Metrics::load(&root()).expect("dashboards/metrics.yaml");
    let period = Period::new(date(from), date(to), tz).expect("period");
    build(env, &metrics, &period).await.expect("report")
}

/// Compares field by field so a failure names the first difference. The
/// report is compared as the value it prints (serde_json's default parser
/// may be one ulp off on reading floats back, its writer is exact).
fn assert_same(actual: &Report, expected: &Value, what: &str) {
    let text = to_json(actual);
    let reparsed: Value = serde_json::from_str(&text).expect("the JSON parses");
    assert_eq!(
        reparsed["days"].as_array().map(Vec::len),
        Some(actual.days.len())
    );
    let actual = serde_json::to_value(actual).expect("a report serializes");
    for field in [
        "from",
        "to",
        "timezone",
        "days",
        "duration_distribution",
        "modules",
        "sites",
        "asset_types",
        "totals",
    ] {
        assert_eq!(actual[field], expected[field], "{what}: field `{field}`");
    }
    assert_eq!(&actual, expected, "{what}: the whole document");
}

/// How many sessions start on a different calendar day in `tz` than in UTC.
fn sessions_moved_by_zone(corpus: &Corpus, tz: &str) -> usize {
    let tz: chrono_tz::Tz = tz.parse().unwrap();
    corpus
        .expected
        .sessions
        .values()
        .filter(|s| {
            let utc = chrono::DateTime::from_timestamp_millis(s.start_time_ms).unwrap();
            utc.date_naive() != utc.with_timezone(&tz).date_naive()
        })
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_report_equals_the_model_in_utc_and_across_dst_in_chicago() {
    let corpus = corpus();
    let expected = &corpus.expected;
    assert!(
        expected.sessions.len() >= 100,
        "{} sessions",
        expected.sessions.len()
    );
    assert!(
        sessions_moved_by_zone(&corpus, "America/Chicago") >= 10,
        "the corpus must have sessions whose day differs between UTC and Chicago"
    );
    let env = loaded("report-model", &corpus).await;

    // The whole corpus in UTC, with an empty day after it.
    let utc = report(&env, "2026-10-29", "2026-11-04", "UTC").await;
    let want = expected.report(date("2026-10-29"), date("2026-11-04"), "UTC");
    assert_same(&utc, &want, "UTC");
    assert_eq!(utc.totals.sessions, expected.sessions.len() as u64);
    assert_eq!(utc.days.last().unwrap().sessions, 0, "2026-11-04 is empty");
    assert!(!utc.modules.is_empty() && !utc.sites.is_empty() && !utc.asset_types.is_empty());

    // Chicago over the DST change: Oct 31 (CDT) .. Nov 2 (CST), cutting
    // sessions off at both ends.
    let chicago = report(&env, "2026-10-31", "2026-11-02", "America/Chicago").await;
    let want = expected.report(date("2026-10-31"), date("2026-11-02"), "America/Chicago");
    assert_same(&chicago, &want, "America/Chicago");
    assert!(chicago.totals.sessions < utc.totals.sessions);
    assert_ne!(
        chicago.days[1].sessions,
        utc.days
            .iter()
            .find(|d| d.date == "2026-11-01")
            .unwrap()
            .sessions,
        "Nov 1 differs between the zones (otherwise the test proves nothing)"
    );

    // A single day, and a period with no sessions at all.
    let one = report(&env, "2026-11-01", "2026-11-01", "America/Chicago").await;
    assert_same(
        &one,
        &expected.report(date("2026-11-01"), date("2026-11-01"), "America/Chicago"),
        "one day",
    );
    let none = report(&env, "2026-12-01", "2026-12-03", "Europe/Berlin").await;
    assert_same(
        &none,
        &expected.report(date("2026-12-01"), date("2026-12-03"), "Europe/Berlin"),
        "an empty period",
    );
    assert_eq!(none.days.len(), 3);
    assert_eq!(none.totals.sessions, 0);

    cleanup(&env.opensearch_client().unwrap(), &env).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_report_equals_the_model_across_the_spring_change() {
    // US DST starts 2026-03-08 at 02:00 CST: that Sunday lasts 23 hours in Chicago.
    let corpus = generate(&GenOptions {
        days: 5,
        users: 16,
        seed: 3082,
        start_date: date("2026-03-05"),
        ..GenOptions::default()
    });
    let moved = sessions_moved_by_zone(&corpus, "America/Chicago");
    assert!(moved >= 5, "{moved} sessions change day in Chicago");
    let env = loaded("report-spring", &corpus).await;
    for (from, to, tz) in [
        ("2026-03-07", "2026-03-09", "America/Chicago"),
        ("2026-03-05", "2026-03-09", "UTC"),
        ("2026-03-07", "2026-03-09", "Asia/Kolkata"),
    ] {
        let actual = report(&env, from, to, tz).await;
        assert_same(
            &actual,
            &corpus.expected.report(date(from), date(to), tz),
            tz,
        );
    }
    cleanup(&env.opensearch_client().unwrap(), &env).await;
}

/// Runs headless Chromium on `page`; returns the DOM after load and stderr.
fn chromium(args: &[&str], page: &Path) -> (String, String) {
    let binary = ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|b| {
            Command::new(b)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        })
        .unwrap_or_else(|| {
            panic!("headless Chromium is required: `apt-get install -y chromium` (.ci/run does it)")
        });
    let out = Command::new(binary)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .args(args)
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("running chromium");
    assert!(
        out.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_html_report_renders_every_chart_in_chromium() {
    let corpus = corpus();
    let env = loaded("report-html", &corpus).await;
    let metrics = Metrics::load(&root()).unwrap();
    let report = report(&env, "2026-10-29", "2026-11-03", "America/Chicago").await;
    let dir: PathBuf = root().join("target/report-test");
    let page = write_html(&report, &metrics, &dir).expect("writing the page");
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(
        !html.contains("src=\"http") && !html.contains("href=\"http"),
        "no network"
    );

    let (dom, stderr) = chromium(&["--dump-dom"], &page);
    // The probe script wrote how many charts have a layout box.
    let charts = dom.matches("<svg class=\"chart\" data-metric=").count();
    let distinct = metrics.metrics.len();
    for m in &metrics.metrics {
        assert!(
            dom.contains(&format!("data-metric=\"{}\"", m.id)),
            "chart of {}",
            m.id
        );
    }
    assert!(charts >= distinct, "{charts} charts in the DOM");
    assert!(
        dom.contains(&format!("data-charts-rendered=\"{charts}\"")),
        "every chart has a non-empty layout box (body says: {:?})",
        dom.split("data-charts-rendered=")
            .nth(1)
            .map(|s| &s[..8.min(s.len())])
    );
    assert!(
        !dom.contains("data-errors="),
        "script errors recorded in the page"
    );
    for line in stderr.lines() {
        let l = line.to_ascii_lowercase();
        assert!(
            !(l.contains("console") && (l.contains("error") || l.contains("uncaught"))),
            "console error: {line}"
        );
    }
    // Bars carry the report's numbers.
    let top = &report.modules[0];
    assert!(dom.contains(&format!(
        "data-label=\"{}\" data-value=\"{}\"",
        top.key, top.sessions
    )));

    let shot = root().join("target/report-screenshot.png");
    let _ = std::fs::remove_file(&shot);
    chromium(
        &[
            &format!("--screenshot={}", shot.display()),
            "--window-size=800,2400",
            "--hide-scrollbars",
        ],
        &page,
    );
    let size = std::fs::metadata(&shot).map(|m| m.len()).unwrap_or(0);
    assert!(
        size > 10_000,
        "a screenshot at {} ({size} bytes)",
        shot.display()
    );

    cleanup(&env.opensearch_client().unwrap(), &env).await;
}

#[tokio::test]
async fn a_missing_session_index_is_an_error_not_a_report_of_zeros() {
    require_opensearch().await;
    let env = Environment::local_for_test(&root(), &unique_prefix("report-missing")).unwrap();
    let metrics = Metrics::load(&root()).unwrap();
    let period = Period::new(date("2026-11-02"), date("2026-11-03"), "UTC").unwrap();
    let err = format!("{:#}", build(&env, &metrics, &period).await.unwrap_err());
    assert!(err.contains("does not exist"), "{err}");
    assert!(err.contains(&env.indices().session_summaries), "{err}");
}
