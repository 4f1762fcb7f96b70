//! The GitHub Actions workflows: actionlint (the lint step of `cargo xtask
//! test`) finds real mistakes, the deploy workflow keeps the promises the
//! operating guide (docs/operating.md) makes (one deploy at a time, behind `prod`, OIDC, a final diff
//! that must be empty), and so does the monthly usage report (read-only,
//! the previous month computed by `.github/scripts/report-period.sh`).
//!
//! actionlint is installed on first use into the local stack's venv (a
//! minute with Go; see `xtask/src/local/actionlint.rs`); without Go these
//! tests fail with what to install.

use serde_yaml_ng::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Mutex;

/// actionlint in `dir`: with no file, every workflow of the repository
/// `dir` is in; else the files named (a directory outside a repository).
fn run_actionlint(dir: &Path, files: &[&str]) -> Output {
    // One test at a time installs (the first; the others find it there):
    // two `go install`s into one directory at the same time could race.
    static INSTALLING: Mutex<()> = Mutex::new(());
    let mut cmd = {
        let _one_at_a_time = INSTALLING.lock().unwrap_or_else(|e| e.into_inner());
        xtask::local::actionlint_command(&xtask::project_root()).unwrap_or_else(|e| panic!("{e:#}"))
    };
    cmd.arg("-no-color")
        .args(files)
        .current_dir(dir)
        .output()
        .expect("running actionlint")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn actionlint_accepts_the_repository_workflows() {
    let out = run_actionlint(&xtask::project_root(), &[]);
    assert!(out.status.success(), "actionlint:\n{}", text(&out));
}

#[test]
fn actionlint_rejects_a_broken_workflow() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("broken-workflow-{}", std::process::id()));
    let workflows = dir.join(".github/workflows");
    std::fs::create_dir_all(&workflows).unwrap();
    // A typo'd key, an expression on a context that does not exist, a job
    // that needs one that is not there, and an unquoted variable (shellcheck).
    std::fs::write(
        workflows.join("broken.yml"),
        "on: push\n\
         jobs:\n\
         \x20 build:\n\
         \x20   runs-on: ubuntu-24.04\n\
         \x20   steps:\n\
         \x20     - run: echo ${{ github.no_such_field.value }}\n\
         \x20     - run: cat $1\n\
         \x20 deploy:\n\
         \x20   needs: [biuld]\n\
         \x20   run-on: ubuntu-24.04\n\
         \x20   steps:\n\
         \x20     - run: echo deploying\n",
    )
    .unwrap();
    let out = run_actionlint(&dir, &[".github/workflows/broken.yml"]);
    let report = text(&out);
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(out.status.code(), Some(1), "actionlint:\n{report}");
    for finding in ["run-on", "biuld", "no_such_field", "SC2086"] {
        assert!(
            report.contains(finding),
            "actionlint did not report {finding:?}:\n{report}"
        );
    }
}

fn workflow(name: &str) -> Value {
    let path = xtask::project_root().join(".github/workflows").join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_yaml_ng::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn all_runs(job: &Value) -> String {
    job["steps"]
        .as_sequence()
        .expect("steps")
        .iter()
        .filter_map(|step| step["run"].as_str())
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn deploy_runs_one_at_a_time_behind_prod_with_oidc() {
    let deploy = workflow("deploy.yml");
    assert_eq!(
        deploy["on"]["push"]["branches"],
        serde_yaml_ng::from_str::<Value>("[main]").unwrap()
    );
    assert_eq!(
        deploy["concurrency"]["cancel-in-progress"],
        Value::Bool(false)
    );
    assert!(deploy["concurrency"]["group"].is_string());
    assert_eq!(deploy["permissions"]["contents"], "read");

    let job = &deploy["jobs"]["deploy"];
    assert_eq!(job["environment"], "prod");
    assert_eq!(job["permissions"]["id-token"], "write");
    let steps = job["steps"].as_sequence().unwrap();
    assert!(
        steps.iter().any(|s| s["uses"]
            .as_str()
            .is_some_and(|u| u.starts_with("aws-actions/configure-aws-credentials@"))
            && s["with"]["role-to-assume"].is_string()),
        "no OIDC role assumed: {steps:?}"
    );
    let runs = all_runs(job);
    let deploy_at = runs
        .find("cargo xtask deploy --env prod --auto-approve")
        .expect("the deploy step");
    let diff_at = runs
        .rfind("cargo xtask diff --env prod")
        .expect("the diff after the deploy");
    assert!(diff_at > deploy_at, "the diff runs after the deploy");
}

#[test]
fn pull_requests_run_the_tests_and_write_the_plan_to_the_summary() {
    let ci = workflow("ci.yml");
    assert!(ci["on"]["pull_request"].is_mapping());
    assert_eq!(ci["permissions"]["contents"], "read");
    assert!(all_runs(&ci["jobs"]["test"]).contains("bash .ci/run"));
    let plan = &ci["jobs"]["plan"];
    assert_eq!(plan["permissions"]["id-token"], "write");
    let runs = all_runs(plan);
    assert!(runs.contains("cargo xtask diff --env prod"), "{runs}");
    assert!(runs.contains("$GITHUB_STEP_SUMMARY"), "{runs}");
}

/// What a `permissions:` block grants beyond `contents: read` and
/// `id-token: write` (a missing block grants the repository's defaults,
/// `read-all`/`write-all` everything).
fn permissions_beyond_read_and_oidc(permissions: &Value) -> Vec<String> {
    let Some(map) = permissions.as_mapping() else {
        return vec![format!("{permissions:?}")];
    };
    map.iter()
        .filter(|(k, v)| {
            !matches!(
                (k.as_str(), v.as_str()),
                (Some("contents"), Some("read")) | (Some("id-token"), Some("write"))
            )
        })
        .map(|(k, v)| {
            format!(
                "{}: {}",
                k.as_str().unwrap_or("?"),
                v.as_str().unwrap_or("?")
            )
        })
        .collect()
}

#[test]
fn the_usage_report_runs_monthly_by_hand_read_only_and_keeps_html_csv_and_a_summary() {
    let report = workflow("report.yml");

    // On the 1st of every month (minute hour day-of-month month day-of-week).
    let schedule = report["on"]["schedule"].as_sequence().expect("on.schedule");
    assert_eq!(schedule.len(), 1, "{schedule:?}");
    let cron = schedule[0]["cron"].as_str().expect("a cron");
    let fields: Vec<&str> = cron.split_whitespace().collect();
    assert_eq!(fields.len(), 5, "cron `{cron}`");
    for (what, field, max) in [("minute", fields[0], 59), ("hour", fields[1], 23)] {
        assert!(
            field.parse::<u32>().is_ok_and(|v| v <= max),
            "cron `{cron}`: one run a month needs a single {what}"
        );
    }
    assert_eq!(
        &fields[2..],
        ["1", "*", "*"],
        "cron `{cron}`: day 1 of every month"
    );

    // By hand, for any period.
    let inputs = &report["on"]["workflow_dispatch"]["inputs"];
    for name in ["from", "to", "tz"] {
        assert!(
            inputs[name].is_mapping(),
            "workflow_dispatch input `{name}`"
        );
        assert_eq!(inputs[name]["type"], "string", "input `{name}`");
    }
    assert_eq!(inputs["tz"]["default"], "UTC");

    // Read-only: the checkout and an OIDC token, at the top and in every job.
    assert_eq!(report["permissions"]["contents"], "read");
    assert_eq!(report["permissions"]["id-token"], "write");
    assert_eq!(
        permissions_beyond_read_and_oidc(&report["permissions"]),
        Vec::<String>::new()
    );
    let jobs = report["jobs"].as_mapping().expect("jobs");
    for (name, job) in jobs {
        if !job["permissions"].is_null() {
            assert_eq!(
                permissions_beyond_read_and_oidc(&job["permissions"]),
                Vec::<String>::new(),
                "job {name:?}"
            );
        }
    }

    assert_eq!(jobs.len(), 1, "one job");
    let job = jobs.values().next().unwrap();
    let steps = job["steps"].as_sequence().unwrap();
    let position = |what: &str, found: &dyn Fn(&Value) -> bool| {
        steps
            .iter()
            .position(found)
            .unwrap_or_else(|| panic!("no {what} step: {steps:?}"))
    };
    let uses = |s: &Value, action: &str| s["uses"].as_str().is_some_and(|u| u.starts_with(action));

    // Its own read-only role, not the deploy role.
    let oidc = position("OIDC", &|s| {
        uses(s, "aws-actions/configure-aws-credentials@")
    });
    let role = steps[oidc]["with"]["role-to-assume"].as_str().unwrap();
    assert!(role.contains("REPORT_ROLE_ARN"), "{role}");

    // The period from the script, then HTML, CSV and JSON of prod.
    let period = position("period", &|s| {
        s["run"]
            .as_str()
            .is_some_and(|r| r.contains(".github/scripts/report-period.sh"))
    });
    let runs = all_runs(job);
    for format in ["html", "csv", "json"] {
        assert!(
            runs.lines()
                .any(|l| l.contains("cargo xtask report --env prod")
                    && l.contains(&format!("--format {format}"))),
            "no --format {format}: {runs}"
        );
    }
    let written = position("report", &|s| {
        s["run"]
            .as_str()
            .is_some_and(|r| r.contains("cargo xtask report"))
    });
    assert!(
        period < written && oidc < written,
        "period and role before the report"
    );

    // HTML and CSV kept as an artifact, from where the report wrote them.
    let upload = position("upload", &|s| uses(s, "actions/upload-artifact@"));
    assert!(upload > written);
    let path = steps[upload]["with"]["path"].as_str().expect("with.path");
    for ext in ["html", "csv"] {
        assert!(path.contains(&format!("*.{ext}")), "artifact path: {path}");
    }
    let dir = path
        .lines()
        .next()
        .unwrap()
        .trim()
        .rsplit_once('/')
        .unwrap()
        .0;
    assert!(
        runs.contains(&format!("--out {dir}")),
        "the artifact reads {dir}, where the report writes: {runs}"
    );

    // The headline numbers in the job summary.
    let summary = position("summary", &|s| {
        s["run"]
            .as_str()
            .is_some_and(|r| r.contains("$GITHUB_STEP_SUMMARY"))
    });
    assert!(summary > written);
    let summary = steps[summary]["run"].as_str().unwrap();
    for field in [
        ".totals.sessions",
        ".totals.unique_users",
        "avg_session_duration_seconds",
    ] {
        assert!(
            summary.contains(field),
            "summary without {field}: {summary}"
        );
    }
}

/// Runs `.github/scripts/report-period.sh` with the given environment (the
/// `REPORT_*` variables of the test process removed first).
fn report_period(vars: &[(&str, &str)]) -> Result<BTreeMap<String, String>, String> {
    let script = xtask::project_root().join(".github/scripts/report-period.sh");
    let mut cmd = Command::new("bash");
    cmd.arg(&script);
    for name in ["REPORT_FROM", "REPORT_TO", "REPORT_TZ", "REPORT_TODAY"] {
        cmd.env_remove(name);
    }
    cmd.envs(vars.iter().copied());
    let out = cmd.output().expect("running bash");
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    Ok(String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let (k, v) = l.split_once('=').unwrap_or_else(|| panic!("line {l:?}"));
            (k.to_string(), v.to_string())
        })
        .collect())
}

#[test]
fn the_report_period_is_the_previous_month_unless_given() {
    let period = |from: &str, to: &str, tz: &str| {
        BTreeMap::from([
            ("from".to_string(), from.to_string()),
            ("to".to_string(), to.to_string()),
            ("tz".to_string(), tz.to_string()),
        ])
    };
    // The previous calendar month of "today": January, February (leap or
    // not), 30-day months, and a run delayed past the 1st.
    for (today, from, to) in [
        ("2026-01-01", "2025-12-01", "2025-12-31"),
        ("2026-03-01", "2026-02-01", "2026-02-28"),
        ("2028-03-01", "2028-02-01", "2028-02-29"),
        ("2026-05-01", "2026-04-01", "2026-04-30"),
        ("2026-07-15", "2026-06-01", "2026-06-30"),
    ] {
        assert_eq!(
            report_period(&[("REPORT_TODAY", today)]),
            Ok(period(from, to, "UTC")),
            "today {today}"
        );
    }
    // A scheduled run gives the inputs empty.
    assert_eq!(
        report_period(&[
            ("REPORT_TODAY", "2026-01-01"),
            ("REPORT_FROM", ""),
            ("REPORT_TO", ""),
            ("REPORT_TZ", ""),
        ]),
        Ok(period("2025-12-01", "2025-12-31", "UTC"))
    );
    // Given by hand: passed through.
    assert_eq!(
        report_period(&[
            ("REPORT_TODAY", "2026-01-01"),
            ("REPORT_FROM", "2026-10-31"),
            ("REPORT_TO", "2026-11-02"),
            ("REPORT_TZ", "America/Chicago"),
        ]),
        Ok(period("2026-10-31", "2026-11-02", "America/Chicago"))
    );

    // A bad value fails, naming the input and the value.
    for (vars, names) in [
        (
            &[("REPORT_FROM", "2026-13-01"), ("REPORT_TO", "2026-12-31")][..],
            &["`from`", "2026-13-01", "YYYY-MM-DD"][..],
        ),
        (
            &[("REPORT_FROM", "2026-02-01"), ("REPORT_TO", "2026-02-30")],
            &["`to`", "2026-02-30"],
        ),
        (
            &[("REPORT_FROM", "2026-02-01"), ("REPORT_TO", "26-2-3")],
            &["`to`", "26-2-3"],
        ),
        (&[("REPORT_FROM", "2026-02-01")], &["`to`", "give both"]),
        (&[("REPORT_TO", "2026-02-01")], &["`from`", "give both"]),
        (
            &[("REPORT_FROM", "2026-02-03"), ("REPORT_TO", "2026-02-01")],
            &["`to`", "before", "`from`"],
        ),
        (&[("REPORT_TZ", "UTC\nfrom=2020-01-01")], &["`tz`"]),
        (
            &[("REPORT_TODAY", "yesterday")],
            &["REPORT_TODAY", "yesterday"],
        ),
    ] {
        let err = report_period(vars).expect_err(&format!("{vars:?} fails"));
        for name in names {
            assert!(err.contains(name), "{vars:?}: {name} not in {err:?}");
        }
    }
}
