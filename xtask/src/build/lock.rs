//! One Lambda build at a time, in this process and across processes.

use anyhow::Context as _;
use std::path::Path;

/// Held while a Lambda build runs: one build at a time in this process and
/// across processes. Tests that must see a step and the build after it
/// with no other build between (a `cargo clean`, then a rebuild) hold it
/// across both.
pub struct BuildLock {
    _file: std::fs::File,
    _in_process: std::sync::MutexGuard<'static, ()>,
}

/// Waits for the build lock. One build at a time in this process (tests
/// call builds from several threads): cargo-lambda copies the binary to the
/// same place after cargo's own lock is released, and one build must not
/// read the copy another is writing. And one at a time across processes (a
/// deploy beside a test run), through `target/lambda/.build.lock`.
pub fn lock_builds(root: &Path) -> anyhow::Result<BuildLock> {
    static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let in_process = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let out_dir = root.join("target").join("lambda");
    std::fs::create_dir_all(&out_dir).with_context(|| format!("creating {}", out_dir.display()))?;
    let lock_path = out_dir.join(".build.lock");
    let file = std::fs::File::create(&lock_path)
        .with_context(|| format!("creating {}", lock_path.display()))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            eprintln!(
                "waiting for another build in target/ to finish ({})…",
                lock_path.display()
            );
            file.lock()
                .with_context(|| format!("waiting for the build lock {}", lock_path.display()))?;
        }
        Err(std::fs::TryLockError::Error(e)) => {
            return Err(e)
                .with_context(|| format!("taking the build lock {}", lock_path.display()));
        }
    }
    Ok(BuildLock {
        _file: file,
        _in_process: in_process,
    })
}
