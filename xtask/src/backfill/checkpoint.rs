//! The record of what a backfill has read completely, so that an
//! interrupted run (Ctrl-C, a crash, a lost network) goes on where it
//! stopped: a small JSON file per backfill (environment, log groups,
//! period), rewritten atomically after each window whose events are all in
//! OpenSearch. What it records is time, not CloudWatch's `nextToken`, which
//! expires and means nothing to a later run.

use super::period::{Period, fmt_ms};
use super::plan::Window;
use anyhow::{Context as _, bail};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};

/// Bumped when the file's meaning changes; an older file is refused.
const FORMAT_VERSION: u32 = 1;

/// What makes two runs the same backfill.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key {
    pub env: String,
    /// Sorted: `--log-group a --log-group b` and `b a` are one backfill.
    pub log_groups: Vec<String>,
    pub period: Period,
}

impl Key {
    pub fn new(env: &str, log_groups: &[String], period: Period) -> Key {
        let mut log_groups = log_groups.to_vec();
        log_groups.sort();
        log_groups.dedup();
        Key {
            env: env.to_string(),
            log_groups,
            period,
        }
    }

    /// `<env>_<from>_<to>_<digest of the log groups>.json`: readable where
    /// it can be, and log group names (slashes and all) only as a digest.
    pub fn file_name(&self) -> String {
        let compact = |ms| fmt_ms(ms).replace(['-', ':'], "");
        let digest = Sha256::digest(self.log_groups.join("\n").as_bytes());
        format!(
            "{}_{}_{}_{}.json",
            self.env,
            compact(self.period.from_ms),
            compact(self.period.to_ms),
            &hex::encode(digest)[..12]
        )
    }

    pub fn path_in(&self, dir: &Path) -> PathBuf {
        dir.join(self.file_name())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub version: u32,
    pub env: String,
    pub log_groups: Vec<String>,
    /// The period for people; `from_ms` and `to_ms` are what is compared.
    pub period: String,
    pub from_ms: i64,
    pub to_ms: i64,
    /// Per log group, the time read completely as half-open
    /// `[start_ms, end_ms)` ranges, merged and in order.
    pub done: BTreeMap<String, Vec<[i64; 2]>>,
}

impl Checkpoint {
    pub fn new(key: &Key) -> Checkpoint {
        Checkpoint {
            version: FORMAT_VERSION,
            env: key.env.clone(),
            log_groups: key.log_groups.clone(),
            period: key.period.to_string(),
            from_ms: key.period.from_ms,
            to_ms: key.period.to_ms,
            done: BTreeMap::new(),
        }
    }

    fn belongs_to(&self, key: &Key) -> bool {
        self.env == key.env
            && self.log_groups == key.log_groups
            && self.from_ms == key.period.from_ms
            && self.to_ms == key.period.to_ms
    }

    /// Whether every millisecond of `window` was read for `group`.
    pub fn is_done(&self, group: &str, window: Window) -> bool {
        self.done.get(group).is_some_and(|ranges| {
            ranges
                .iter()
                .any(|[start, end]| *start <= window.start_ms && window.end_ms <= *end)
        })
    }

    pub fn mark_done(&mut self, group: &str, window: Window) {
        let ranges = self.done.entry(group.to_string()).or_default();
        ranges.push([window.start_ms, window.end_ms]);
        ranges.sort_unstable();
        let mut merged: Vec<[i64; 2]> = Vec::with_capacity(ranges.len());
        for &[start, end] in ranges.iter() {
            match merged.last_mut() {
                Some(last) if start <= last[1] => last[1] = last[1].max(end),
                _ => merged.push([start, end]),
            }
        }
        *ranges = merged;
    }
}

/// The checkpoint of `key` at `path`, if there is one. A file that cannot
/// be read, is not a checkpoint, or is another backfill's is an error, not
/// a fresh start: silently starting over could cost hours of reading.
pub fn load(path: &Path, key: &Key) -> anyhow::Result<Option<Checkpoint>> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(e).with_context(|| format!("reading the checkpoint {}", path.display()));
        }
    };
    let checkpoint: Checkpoint = serde_json::from_str(&text).map_err(|e| {
        anyhow::anyhow!(
            "{}: not a backfill checkpoint ({e}); run with --restart to start over (or delete the file)",
            path.display()
        )
    })?;
    if checkpoint.version != FORMAT_VERSION {
        bail!(
            "{}: a checkpoint of format {} (this xtask writes {FORMAT_VERSION}); run with --restart to start over",
            path.display(),
            checkpoint.version
        );
    }
    if !checkpoint.belongs_to(key) {
        bail!(
            "{}: the checkpoint of another backfill ({} {:?} {}); run with --restart to start over",
            path.display(),
            checkpoint.env,
            checkpoint.log_groups,
            checkpoint.period
        );
    }
    Ok(Some(checkpoint))
}

/// Replaces the file at `path` in one step (a temporary file beside it,
/// flushed to disk, then renamed over it): a crash leaves the old
/// checkpoint or the new one, never half of one.
pub fn save(path: &Path, checkpoint: &Checkpoint) -> anyhow::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut tmp_name = path.file_name().unwrap_or_default().to_os_string();
    tmp_name.push(format!(".tmp-{}", std::process::id()));
    let tmp = path.with_file_name(tmp_name);
    let json = serde_json::to_vec_pretty(checkpoint).expect("a checkpoint serializes");
    let written = (|| {
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(&json)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(e).with_context(|| format!("writing the checkpoint {}", path.display()));
    }
    // The rename itself survives a power cut only once the directory is on
    // disk; where that cannot be done, the worst case is a redone window.
    if let Ok(dir) = std::fs::File::open(dir) {
        let _ = dir.sync_all();
    }
    Ok(())
}

/// Deletes the checkpoint (a finished backfill, or `--restart`).
pub fn remove(path: &Path) -> anyhow::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(e).with_context(|| format!("deleting the checkpoint {}", path.display()))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: i64 = 3_600_000;

    fn key() -> Key {
        Key::new(
            "local",
            &[
                "/b/app".to_string(),
                "/a/app".to_string(),
                "/b/app".to_string(),
            ],
            Period::parse("2026-12-01", "2026-12-02").unwrap(),
        )
    }

    fn hour(key: &Key, n: i64) -> Window {
        let start = key.period.from_ms + n * HOUR;
        Window {
            start_ms: start,
            end_ms: start + HOUR,
        }
    }

    fn temp_dir(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("backfill-checkpoint-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn the_key_ignores_the_order_of_log_groups_and_names_a_readable_file() {
        let k = key();
        assert_eq!(k.log_groups, ["/a/app", "/b/app"]);
        let swapped = Key::new(
            "local",
            &["/a/app".to_string(), "/b/app".to_string()],
            k.period,
        );
        assert_eq!(k.file_name(), swapped.file_name());
        let name = k.file_name();
        assert!(
            name.starts_with("local_20261201T000000Z_20261203T000000Z_") && name.ends_with(".json"),
            "{name}"
        );
        let other = Key::new("local", &["/a/app".to_string()], k.period);
        assert_ne!(other.file_name(), name, "other log groups, another file");
    }

    #[test]
    fn done_windows_merge_into_ranges_and_survive_a_round_trip() {
        let k = key();
        let mut cp = Checkpoint::new(&k);
        for n in [0, 2, 1, 5] {
            cp.mark_done("/a/app", hour(&k, n));
        }
        cp.mark_done("/b/app", hour(&k, 3));
        let start = k.period.from_ms;
        assert_eq!(
            cp.done["/a/app"],
            [
                [start, start + 3 * HOUR],
                [start + 5 * HOUR, start + 6 * HOUR]
            ]
        );
        assert!(cp.is_done("/a/app", hour(&k, 1)));
        assert!(!cp.is_done("/a/app", hour(&k, 3)));
        assert!(cp.is_done("/b/app", hour(&k, 3)));
        assert!(!cp.is_done("/c/app", hour(&k, 0)));
        // A smaller window inside a done range is done; one that sticks out
        // is not.
        let inside = Window {
            start_ms: start + 10,
            end_ms: start + 20,
        };
        assert!(cp.is_done("/a/app", inside));
        let across = Window {
            start_ms: start + 2 * HOUR,
            end_ms: start + 4 * HOUR,
        };
        assert!(!cp.is_done("/a/app", across));

        let dir = temp_dir("round-trip");
        let path = k.path_in(&dir);
        assert_eq!(load(&path, &k).unwrap(), None, "no file, no checkpoint");
        save(&path, &cp).unwrap();
        assert_eq!(load(&path, &k).unwrap(), Some(cp.clone()));
        cp.mark_done("/b/app", hour(&k, 4));
        save(&path, &cp).unwrap();
        assert_eq!(load(&path, &k).unwrap(), Some(cp));
        let left: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
        assert_eq!(left.len(), 1, "no temporary file is left behind");
        remove(&path).unwrap();
        remove(&path).unwrap();
        assert_eq!(load(&path, &k).unwrap(), None);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_corrupt_or_foreign_checkpoint_is_an_error_naming_the_file() {
        let k = key();
        let dir = temp_dir("corrupt");
        std::fs::create_dir_all(&dir).unwrap();
        let path = k.path_in(&dir);
        std::fs::write(&path, "{\"version\": 1, \"env\": \"lo").unwrap();
        let err = load(&path, &k).unwrap_err().to_string();
        assert!(err.starts_with(&path.display().to_string()), "{err}");
        assert!(err.contains("not a backfill checkpoint"), "{err}");
        assert!(err.contains("--restart"), "{err}");

        let other = Key::new("prod", &k.log_groups, k.period);
        save(&path, &Checkpoint::new(&other)).unwrap();
        let err = load(&path, &k).unwrap_err().to_string();
        assert!(err.contains(&path.display().to_string()), "{err}");
        assert!(err.contains("another backfill"), "{err}");

        let mut future = Checkpoint::new(&k);
        future.version = FORMAT_VERSION + 1;
        save(&path, &future).unwrap();
        let err = load(&path, &k).unwrap_err().to_string();
        assert!(err.contains("format"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
