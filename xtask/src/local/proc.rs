//! Processes: pid files, liveness, stopping, and running tools with their
//! output kept in a log file.

use anyhow::Context as _;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The pid in `pid_file`, if the file exists and holds one.
pub fn read_pid(pid_file: &Path) -> Option<u32> {
    std::fs::read_to_string(pid_file).ok()?.trim().parse().ok()
}

/// Whether `pid` is a live process (a zombie counts as dead).
pub fn is_alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the parenthesised command name.
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state != "Z" && state != "X"),
        Err(_) => false,
    }
}

/// Whether `pid`'s command line contains every one of `needles` (guards
/// against a pid file whose pid the kernel has since given to another process).
pub fn cmdline_matches<S: AsRef<str>>(pid: u32, needles: &[S]) -> bool {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|raw| {
            let cmdline = String::from_utf8_lossy(&raw);
            needles
                .iter()
                .all(|needle| cmdline.contains(needle.as_ref()))
        })
        .unwrap_or(false)
}

/// The live process whose command line contains every one of `needles`:
/// the one recorded in `pid_file`, else one found in `/proc` (whose pid is
/// then written to `pid_file`). A stale pid file is removed.
pub fn running_pid<S: AsRef<str>>(pid_file: &Path, needles: &[S]) -> Option<u32> {
    if let Some(pid) = read_pid(pid_file) {
        if is_alive(pid) && cmdline_matches(pid, needles) {
            return Some(pid);
        }
        let _ = std::fs::remove_file(pid_file);
    }
    let found = std::fs::read_dir("/proc")
        .ok()?
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        .find(|&pid| pid != std::process::id() && is_alive(pid) && cmdline_matches(pid, needles))?;
    let _ = std::fs::write(pid_file, format!("{found}\n"));
    Some(found)
}

/// SIGTERM, up to `grace` for the process to exit, then SIGKILL.
pub fn stop(pid: u32, name: &str, grace: Duration) -> anyhow::Result<()> {
    signal(pid, "TERM")?;
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline {
        if !is_alive(pid) {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    eprintln!(
        "{name} (pid {pid}) still runs {}s after SIGTERM: sending SIGKILL",
        grace.as_secs()
    );
    signal(pid, "KILL")?;
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if !is_alive(pid) {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    anyhow::bail!("{name} (pid {pid}) survived SIGKILL")
}

fn signal(pid: u32, sig: &str) -> anyhow::Result<()> {
    let status = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .stderr(Stdio::null())
        .status()
        .context("running `kill`")?;
    // A failure here mostly means the process is already gone.
    if !status.success() && is_alive(pid) {
        anyhow::bail!("`kill -{sig} {pid}` failed ({status})");
    }
    Ok(())
}

/// Runs `cmd` to completion with stdout and stderr written to `log`; on
/// failure the error names `what` and quotes the log's tail.
pub fn run_logged(cmd: &mut Command, log: &Path, what: &str) -> anyhow::Result<()> {
    let out = File::create(log).with_context(|| format!("creating {}", log.display()))?;
    let err = out.try_clone()?;
    let status = cmd
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .status()
        .with_context(|| format!("{what}: could not run {:?}", cmd.get_program()))?;
    if !status.success() {
        anyhow::bail!(
            "{what} failed ({status}); last lines of {}:\n{}",
            log.display(),
            tail(log, 25)
        );
    }
    Ok(())
}

/// The last `lines` lines of a text file (empty if it cannot be read).
pub fn tail(path: &Path, lines: usize) -> String {
    let Ok(raw) = std::fs::read(path) else {
        return format!("    ({} does not exist)", path.display());
    };
    let text = String::from_utf8_lossy(&raw);
    let all: Vec<&str> = text.lines().collect();
    let start = all.len().saturating_sub(lines);
    all[start..]
        .iter()
        .map(|line| format!("    {line}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Whether this process runs with effective uid 0.
pub fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|line| line.strip_prefix("Uid:"))
                .and_then(|ids| ids.split_whitespace().nth(1).map(|euid| euid == "0"))
        })
        .unwrap_or(false)
}

/// The first executable called `name` on `PATH`.
pub fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| is_executable(candidate))
}

pub fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt as _;
    path.metadata()
        .map(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}
