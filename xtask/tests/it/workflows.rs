//! The GitHub Actions workflows: actionlint (the lint step of `cargo xtask
//! test`) finds real mistakes, and the deploy workflow keeps the promises
//! the README makes (one deploy at a time, behind `prod`, OIDC, a final
//! diff that must be empty).
//!
//! actionlint is installed on first use into the local stack's venv (a
//! minute with Go; see `xtask/src/local/actionlint.rs`); without Go these
//! tests fail with what to install.

use serde_yaml_ng::Value;
use std::path::{Path, PathBuf};
use std::process::Output;
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
