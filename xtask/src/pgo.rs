//! `cargo xtask pgo`: trains the processor's profile-guided optimisation.
//!
//! Builds the benchmark instrumented (the release build's own flags plus
//! `-Cprofile-generate`), runs it over a generated corpus, and merges what
//! it counted with `llvm-profdata` into `processor/pgo/processor.profdata`.
//! That file is part of the checkout: every x86_64 release build of the
//! processor (the Lambda's, `cargo xtask build`; the benchmark's) compiles
//! with `-Cprofile-use` on it (`build::encoded_rustflags`), so builds need
//! no LLVM tools, only training does. A profile that no longer matches a
//! function (the code changed since) costs that function its optimisation,
//! never correctness; rustc then warns "function control flow change
//! detected", the cue to train again.

use anyhow::{Context, bail};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The profile, relative to the project root.
pub const PROFILE: &str = "processor/pgo/processor.profdata";

/// The lowest LLVM whose `llvm-profdata` reads the raw profiles of the
/// instrumented build (format version 10).
const MIN_LLVM: u32 = 19;

#[derive(Debug, clap::Args)]
pub struct PgoArgs {
    /// Where to write the merged profile (default: processor/pgo/processor.profdata).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Log events in the training corpus.
    #[arg(long, default_value_t = 200_000)]
    pub events: u64,
    /// Seed of the training corpus; not gen-logs' default seed, which the
    /// README's benchmark corpus uses, so the benchmark does not measure
    /// the profile on its own training data.
    #[arg(long, default_value_t = 5)]
    pub seed: u64,
}

pub fn run(root: &Path, args: PgoArgs) -> anyhow::Result<()> {
    // The architecture the profile is for, which training runs on.
    if !cfg!(target_arch = "x86_64") {
        bail!("cargo xtask pgo trains the x86_64 profile and must run on an x86_64 machine");
    }
    let arch = crate::build::Arch::X86_64;
    let out = args.out.clone().unwrap_or_else(|| root.join(PROFILE));
    let profdata = llvm_profdata()?;
    let work = root.join("target/pgo");
    let (corpus, raw) = (work.join("corpus"), work.join("raw"));
    for dir in [&corpus, &raw] {
        if dir.exists() {
            std::fs::remove_dir_all(dir).with_context(|| format!("removing {}", dir.display()))?;
        }
    }

    eprintln!(
        "pgo: generating the training corpus ({} log events, seed {})…",
        args.events, args.seed
    );
    // Shaped as the benchmark corpus is (gen-logs --events N: its default days).
    let options = crate::genlogs::GenOptions::for_events(
        args.events,
        crate::genlogs::DEFAULT_DAYS,
        args.seed,
    );
    crate::genlogs::write_corpus(&crate::genlogs::generate(&options), &corpus)?;

    let triple = arch.triple();
    eprintln!(
        "pgo: building the instrumented benchmark (release, --target {triple}; minutes on a cold target/pgo)…"
    );
    // Its own target directory: instrumented artifacts must not replace
    // the Lambda's in target/.
    let exe = crate::bench::build_example(
        root,
        arch,
        &work.join("build"),
        crate::build::training_rustflags(arch, &raw)?,
    )
    .context("the instrumented build failed")?;

    eprintln!("pgo: training on {}…", corpus.display());
    let status = Command::new(&exe)
        .arg("--input")
        .arg(&corpus)
        .arg("--pipeline")
        .arg(root.join("infra/pipeline.yaml"))
        .status()
        .with_context(|| format!("running {}", exe.display()))?;
    if !status.success() {
        bail!(
            "the training run failed: {} --input {}",
            exe.display(),
            corpus.display()
        );
    }
    let profiles: Vec<PathBuf> = std::fs::read_dir(&raw)
        .with_context(|| format!("reading {}", raw.display()))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.extension().is_some_and(|e| e == "profraw"))
        .collect();
    if profiles.is_empty() {
        bail!("the training run wrote no profile into {}", raw.display());
    }

    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    // Sparse: only what ran, a tenth of the size of a full profile.
    let merged = Command::new(&profdata.path)
        .args(["merge", "--sparse", "-o"])
        .arg(&out)
        .args(&profiles)
        .output()
        .with_context(|| format!("running {}", profdata.path.display()))?;
    if !merged.status.success() {
        bail!(
            "{} merge failed: {}",
            profdata.path.display(),
            String::from_utf8_lossy(&merged.stderr).trim()
        );
    }
    let size = std::fs::metadata(&out)
        .with_context(|| format!("reading {}", out.display()))?
        .len();
    eprintln!(
        "pgo: wrote {} ({} KB, merged by llvm-profdata of LLVM {}); commit it: x86_64 release builds use it",
        out.display(),
        size / 1024,
        profdata.llvm
    );
    Ok(())
}

/// An `llvm-profdata` and the LLVM major version it belongs to.
#[derive(Debug)]
pub struct ProfData {
    pub path: PathBuf,
    pub llvm: u32,
}

/// `$LLVM_PROFDATA`, else the newest `llvm-profdata-N` on PATH, else
/// `llvm-profdata`; it must come from LLVM 19 or newer.
pub fn llvm_profdata() -> anyhow::Result<ProfData> {
    let mut candidates: Vec<PathBuf> = Vec::new();
    if let Some(explicit) = std::env::var_os("LLVM_PROFDATA").filter(|p| !p.is_empty()) {
        candidates.push(PathBuf::from(explicit));
    }
    candidates.extend(
        (MIN_LLVM..=30)
            .rev()
            .map(|v| PathBuf::from(format!("llvm-profdata-{v}"))),
    );
    candidates.push(PathBuf::from("llvm-profdata"));
    let mut too_old = Vec::new();
    for candidate in candidates {
        let Ok(output) = Command::new(&candidate).arg("--version").output() else {
            continue;
        };
        let text = String::from_utf8_lossy(&output.stdout);
        match llvm_major(&text) {
            Some(llvm) if llvm >= MIN_LLVM => {
                return Ok(ProfData {
                    path: candidate,
                    llvm,
                });
            }
            found => too_old.push(format!(
                "{} (LLVM {})",
                candidate.display(),
                found.map_or("unknown".to_string(), |v| v.to_string())
            )),
        }
    }
    let seen = if too_old.is_empty() {
        String::new()
    } else {
        format!(" (found only {})", too_old.join(", "))
    };
    bail!(
        "cargo xtask pgo needs llvm-profdata from LLVM {MIN_LLVM} or newer{seen}: on Debian or Ubuntu `apt-get install llvm-{MIN_LLVM}`, or set LLVM_PROFDATA to one"
    )
}

/// The major version in `llvm-profdata --version` output
/// (`LLVM version 19.1.7`, or `Ubuntu LLVM version 19.1.7`).
fn llvm_major(version_text: &str) -> Option<u32> {
    let rest = &version_text[version_text.find("LLVM version ")? + "LLVM version ".len()..];
    rest.split(['.', ' ', '\n']).next()?.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_llvm_version_is_read_from_what_profdata_prints() {
        let debian = "Debian LLVM version 19.1.7\n  Optimized build.\n";
        assert_eq!(llvm_major(debian), Some(19));
        assert_eq!(
            llvm_major("LLVM (http://llvm.org/):\n  LLVM version 22.1.2\n"),
            Some(22)
        );
        assert_eq!(llvm_major("llvm-profdata 14"), None);
    }
}
