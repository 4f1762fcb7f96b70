//! `cargo xtask fuzz`: coverage-guided fuzzing of the processor's
//! hand-written readers against the general path, for a given time.
//!
//! The targets are in `processor/fuzz/`, a workspace of its own that the
//! normal build never compiles: `envelope` (a batch document, or a gzip
//! stream, through `envelope`'s fast paths and serde_json) and `line` (a
//! log line through `fastrecord`, as text and escaped in a document, and
//! the serde visitor). Each asserts what the property tests assert
//! (`processor::differential`): the same batch, record or skip reason and
//! error class, and no panic.
//!
//! Engine: libFuzzer, from the `libfuzzer-sys` crate (built from its C++
//! sources, so a C++ compiler is needed), on the stable compiler. The
//! coverage instrumentation is LLVM's SanitizerCoverage, which stable
//! rustc enables with `-Cpasses=sancov-module` and `-Cllvm-args`; only the
//! sanitizers are unstable (`-Zsanitizer`): `--asan` builds with
//! AddressSanitizer on the stable compiler through `RUSTC_BOOTSTRAP=1`.
//! Without it, the run finds panics, disagreements and (with debug
//! assertions and overflow checks on) arithmetic overflow; our crates have
//! no `unsafe` for a sanitizer to check.
//!
//! The corpus grows in `target/fuzz/corpus/<target>/`, seeded on the first
//! run with inputs from the property tests' generator. A failing input is
//! minimised and copied into `processor/fuzz/regressions/<target>/`, which
//! `cargo test` replays (`differential::tests::fuzz_regressions_replay`):
//! commit it with the fix.

use anyhow::{Context, bail};
use std::path::{Path, PathBuf};
use std::process::Command;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Target {
    /// A CloudWatch Logs batch document, or a gzip stream of one.
    Envelope,
    /// One log line.
    Line,
    /// Each target in turn, for --seconds each.
    All,
}

impl Target {
    fn names(self) -> &'static [&'static str] {
        match self {
            Target::Envelope => &["envelope"],
            Target::Line => &["line"],
            Target::All => &["envelope", "line"],
        }
    }
}

#[derive(Debug, clap::Args)]
pub struct FuzzArgs {
    /// Which fuzz target to run.
    #[arg(long, value_enum, default_value = "all")]
    pub target: Target,
    /// How long to fuzz each target, in seconds.
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..))]
    pub seconds: u64,
    /// Fuzzing processes per target (libFuzzer's -fork); the machine's
    /// cores are the useful maximum.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=64))]
    pub jobs: u32,
    /// Build with AddressSanitizer (`-Zsanitizer=address` on the stable
    /// compiler through RUSTC_BOOTSTRAP=1; slower, in target/fuzz-asan).
    #[arg(long)]
    pub asan: bool,
    /// More libFuzzer flags, after `--` (e.g. `-- -max_len=65536`).
    #[arg(last = true)]
    pub libfuzzer_args: Vec<String>,
}

/// The fuzz crate, relative to the project root.
pub const FUZZ_DIR: &str = "processor/fuzz";

/// What cargo-fuzz passes rustc for libFuzzer (SanitizerCoverage: inline
/// 8-bit counters, the PC table, comparison tracing, stack depth), plus
/// `--cfg fuzzing`. Each element is one argument.
pub fn rustflags(asan: bool) -> Vec<&'static str> {
    let mut flags = vec![
        "-Cpasses=sancov-module",
        "-Cllvm-args=-sanitizer-coverage-level=4",
        "-Cllvm-args=-sanitizer-coverage-inline-8bit-counters",
        "-Cllvm-args=-sanitizer-coverage-pc-table",
        "-Cllvm-args=-sanitizer-coverage-trace-compares",
        "--cfg",
        "fuzzing",
    ];
    if cfg!(target_os = "linux") {
        flags.push("-Cllvm-args=-sanitizer-coverage-stack-depth");
    }
    if asan {
        flags.push("-Zsanitizer=address");
    }
    flags
}

/// The host's target triple: the build names it so that RUSTFLAGS reach
/// only the fuzz targets, not build scripts and proc macros (which would
/// then need libFuzzer's symbols to link).
fn host_triple() -> anyhow::Result<String> {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let output = Command::new(&rustc)
        .arg("-vV")
        .output()
        .context("running rustc -vV")?;
    let text = String::from_utf8_lossy(&output.stdout);
    text.lines()
        .find_map(|line| line.strip_prefix("host: "))
        .map(str::to_string)
        .context("rustc -vV printed no host line")
}

/// libfuzzer-sys compiles libFuzzer's C++ sources: say so before cargo
/// fails deep in a build script.
fn check_cxx() -> anyhow::Result<()> {
    let cxx = std::env::var("CXX").unwrap_or_else(|_| "c++".to_string());
    match Command::new(&cxx).arg("--version").output() {
        Ok(output) if output.status.success() => Ok(()),
        _ => bail!(
            "no C++ compiler ({cxx}): libfuzzer-sys builds libFuzzer from C++ sources; \
             install one (apt-get install -y g++) or set CXX"
        ),
    }
}

/// Builds the fuzz targets; returns the directory holding their binaries.
pub fn build(root: &Path, asan: bool) -> anyhow::Result<PathBuf> {
    check_cxx()?;
    let triple = host_triple()?;
    let target_dir = root.join(if asan {
        "target/fuzz-asan"
    } else {
        "target/fuzz"
    });
    eprintln!(
        "fuzz: building the fuzz targets (release with debug assertions, --target {triple}{}; minutes on a cold {})…",
        if asan { ", AddressSanitizer" } else { "" },
        target_dir.display()
    );
    let mut cmd = crate::cargo::cargo();
    cmd.current_dir(root.join(FUZZ_DIR))
        .args(["build", "--release", "--bins", "--target", &triple])
        .env("CARGO_TARGET_DIR", &target_dir)
        .env("CARGO_ENCODED_RUSTFLAGS", rustflags(asan).join("\u{1f}"))
        .env_remove("RUSTFLAGS");
    if asan {
        cmd.env("RUSTC_BOOTSTRAP", "1");
    }
    let status = cmd.status().context("running cargo build")?;
    if !status.success() {
        bail!("building the fuzz targets in {FUZZ_DIR} failed");
    }
    Ok(target_dir.join(triple).join("release"))
}

pub fn run(root: &Path, args: FuzzArgs) -> anyhow::Result<()> {
    let bin = build(root, args.asan)?;
    let work = root.join("target/fuzz");
    let mut found = Vec::new();
    for name in args.target.names() {
        found.extend(fuzz_one(root, &bin, &work, name, &args)?);
    }
    if !found.is_empty() {
        bail!(
            "the fuzzer found {} failing input(s), kept for `cargo test` to replay:\n  {}\n\
             fix the reader (see docs/testing.md#fuzzing), then commit them with the fix",
            found.len(),
            found
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join("\n  ")
        );
    }
    eprintln!("fuzz: nothing found");
    Ok(())
}

/// Fuzzes one target; returns the failing inputs it kept.
fn fuzz_one(
    root: &Path,
    bin: &Path,
    work: &Path,
    name: &str,
    args: &FuzzArgs,
) -> anyhow::Result<Vec<PathBuf>> {
    let exe = bin.join(name);
    let corpus = work.join("corpus").join(name);
    let artifacts = work.join("artifacts").join(name);
    let regressions = root.join(FUZZ_DIR).join("regressions").join(name);
    for dir in [&corpus, &artifacts] {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let before = files_in(&artifacts)?;
    eprintln!(
        "fuzz: {name} for {} s (corpus {}, seeded when empty; regressions {})…",
        args.seconds,
        corpus.display(),
        regressions.display()
    );
    let mut cmd = Command::new(&exe);
    cmd.env("IRONMAN_FUZZ_SEEDS", &corpus)
        .arg(format!("-max_total_time={}", args.seconds))
        .arg(format!("-artifact_prefix={}/", artifacts.display()))
        .arg("-max_len=65536")
        .arg("-timeout=20")
        .arg("-rss_limit_mb=4096")
        .arg("-print_final_stats=1");
    if args.jobs > 1 {
        cmd.arg(format!("-fork={}", args.jobs))
            .arg("-ignore_crashes=1");
    }
    cmd.args(&args.libfuzzer_args).arg(&corpus);
    // Read only: libFuzzer adds what it finds to the first directory.
    if regressions.is_dir() {
        cmd.arg(&regressions);
    }
    let status = cmd
        .status()
        .with_context(|| format!("running {}", exe.display()))?;
    let new: Vec<PathBuf> = files_in(&artifacts)?
        .into_iter()
        .filter(|f| !before.contains(f))
        .collect();
    if new.is_empty() {
        if !status.success() {
            bail!(
                "{} failed ({status}) without leaving an input",
                exe.display()
            );
        }
        return Ok(Vec::new());
    }
    std::fs::create_dir_all(&regressions)
        .with_context(|| format!("creating {}", regressions.display()))?;
    let mut kept = Vec::new();
    for crash in new {
        let file_name = crash.file_name().context("an artifact has a name")?;
        let keep = regressions.join(file_name);
        eprintln!("fuzz: minimising {}…", crash.display());
        // libFuzzer's own minimisation: smaller inputs that still crash.
        let minimised = Command::new(&exe)
            .arg("-minimize_crash=1")
            .arg("-max_total_time=60")
            .arg(format!("-exact_artifact_path={}", keep.display()))
            .arg(&crash)
            .status();
        if !(minimised.is_ok() && keep.is_file()) {
            std::fs::copy(&crash, &keep)
                .with_context(|| format!("copying {} to {}", crash.display(), keep.display()))?;
        }
        kept.push(keep);
    }
    Ok(kept)
}

fn files_in(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry?.path();
        if path.is_file() {
            files.push(path);
        }
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fuzz_crate_is_outside_the_workspace() {
        let root = crate::project_root();
        let manifest = std::fs::read_to_string(root.join("Cargo.toml")).unwrap();
        assert!(
            manifest.contains("exclude = [\"processor/fuzz\"]"),
            "{manifest}"
        );
        let fuzz = std::fs::read_to_string(root.join(FUZZ_DIR).join("Cargo.toml")).unwrap();
        assert!(fuzz.contains("[workspace]"), "{fuzz}");
        for name in Target::All.names() {
            assert!(
                root.join(FUZZ_DIR)
                    .join("fuzz_targets")
                    .join(format!("{name}.rs"))
                    .is_file(),
                "{name}"
            );
            assert!(fuzz.contains(&format!("name = \"{name}\"")), "{name}");
        }
    }

    #[test]
    fn rustflags_instrument_for_libfuzzer_and_asan_only_when_asked() {
        let plain = rustflags(false);
        assert!(plain.contains(&"-Cpasses=sancov-module"));
        assert!(!plain.iter().any(|f| f.starts_with("-Z")), "{plain:?}");
        assert!(rustflags(true).contains(&"-Zsanitizer=address"));
    }
}
