//! `cargo xtask pgo`: trains the processor's profile-guided optimisation.
//!
//! Builds the benchmark instrumented (the release build's own flags plus
//! `-Cprofile-generate`), runs it over a generated corpus, and merges what
//! it counted with `llvm-profdata` into `processor/pgo/processor.profdata`.
//! That file is part of the checkout: every x86_64 release build of the
//! processor (the Lambda's, `cargo xtask build`; the benchmark's) compiles
//! with `-Cprofile-use` on it (`build::rustflags::encoded_rustflags`), so
//! builds need no LLVM tools, only training does. A profile that no longer
//! matches a function (the code changed since) costs that function its
//! optimisation, never correctness; rustc then warns "function control flow
//! change detected", the cue to train again. Beside the profile, training writes
//! the SHA-256 of each of the processor's own sources it was trained on
//! (`processor.profdata.sources`, `sha256sum` format), and a unit test
//! fails as soon as one of them changes. Not covered: new versions of
//! dependencies (`Cargo.lock`) or of the compiler, and the release
//! profile's settings, which can also leave parts of the profile stale.

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
    /// benchmark corpus of docs/performance.md uses, so the benchmark does not measure
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
    // What the profile will describe: the sources as the build reads them.
    let sources = sources_manifest(root)?;
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
        crate::build::rustflags::training_rustflags(arch, &raw)?,
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
    let changed = manifest_changes(&sources, &sources_manifest(root)?);
    if !changed.is_empty() {
        bail!(
            "processor sources changed while the profile was trained; run `cargo xtask pgo` again:\n{}",
            changed.join("\n")
        );
    }
    let stamp = sources_stamp(&out);
    std::fs::write(&stamp, sources).with_context(|| format!("writing {}", stamp.display()))?;
    eprintln!(
        "pgo: wrote {} ({} KB, merged by llvm-profdata of LLVM {}) and {}; commit both: x86_64 release builds use the profile",
        out.display(),
        size / 1024,
        profdata.llvm,
        stamp.display()
    );
    Ok(())
}

/// Where the digests of the sources a profile was trained on are kept:
/// beside it, `<profile>.sources`.
pub fn sources_stamp(profile: &Path) -> PathBuf {
    let mut name = profile.as_os_str().to_owned();
    name.push(".sources");
    PathBuf::from(name)
}

/// The processor sources whose code the profile describes, relative to the
/// root and in name order: its manifest, library, binary and the benchmark
/// example that training runs. Test-only modules (`*_tests.rs`) and the
/// criterion benches are not in a release build, so they are left out.
fn profiled_sources(root: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let processor = root.join("processor");
    let mut files = vec![processor.join("Cargo.toml")];
    for dir in ["src", "examples"] {
        for file in crate::replay::files_in_tree(&processor.join(dir))? {
            let name = file.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if name.ends_with(".rs") && !name.ends_with("_tests.rs") {
                files.push(file);
            }
        }
    }
    files
        .into_iter()
        .map(|file| {
            file.strip_prefix(root)
                .map(Path::to_path_buf)
                .with_context(|| format!("{} is outside {}", file.display(), root.display()))
        })
        .collect()
}

/// `sha256sum`'s format over `profiled_sources`: one `<hex>  <path>` line
/// per file, paths relative to the root with `/` separators.
pub fn sources_manifest(root: &Path) -> anyhow::Result<String> {
    use sha2::{Digest, Sha256};
    let mut manifest = String::new();
    for relative in profiled_sources(root)? {
        let path = root.join(&relative);
        let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        let shown = relative
            .components()
            .map(|c| c.as_os_str().to_string_lossy())
            .collect::<Vec<_>>()
            .join("/");
        manifest.push_str(&format!(
            "{}  {shown}\n",
            hex::encode(Sha256::digest(&bytes))
        ));
    }
    Ok(manifest)
}

/// The lines of two `sources_manifest`s that differ, each side marked
/// (`trained on:` and `now:`), for a message that names the changed files.
pub fn manifest_changes(trained: &str, now: &str) -> Vec<String> {
    use std::collections::BTreeSet;
    let old: BTreeSet<&str> = trained.lines().collect();
    let new: BTreeSet<&str> = now.lines().collect();
    let gone = old.difference(&new).map(|l| format!("trained on: {l}"));
    let added = new.difference(&old).map(|l| format!("now:        {l}"));
    gone.chain(added).collect()
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

    /// The committed profile describes the code that is built with it. It
    /// fails after any change to the processor's sources until
    /// `cargo xtask pgo` has trained the profile again (about two minutes)
    /// and both files are committed: a stale profile silently costs the
    /// changed functions their optimisation.
    #[test]
    fn the_committed_profile_was_trained_on_the_current_sources() {
        let root = crate::project_root();
        let stamp = sources_stamp(&root.join(PROFILE));
        let trained = std::fs::read_to_string(&stamp)
            .unwrap_or_else(|e| panic!("{}: {e}; run `cargo xtask pgo`", stamp.display()));
        let now = sources_manifest(&root).unwrap();
        let changes = manifest_changes(&trained, &now);
        assert!(
            changes.is_empty(),
            "the processor's sources changed since {PROFILE} was trained; run `cargo xtask pgo` and commit {PROFILE} and {}:\n{}",
            sources_stamp(Path::new(PROFILE)).display(),
            changes.join("\n")
        );
    }

    #[test]
    fn a_changed_source_is_named_on_both_sides() {
        let trained = "aa  processor/src/a.rs\nbb  processor/src/b.rs\n";
        let now = "aa  processor/src/a.rs\ncc  processor/src/b.rs\ndd  processor/src/c.rs\n";
        assert_eq!(
            manifest_changes(trained, now),
            [
                "trained on: bb  processor/src/b.rs",
                "now:        cc  processor/src/b.rs",
                "now:        dd  processor/src/c.rs",
            ]
        );
        assert!(manifest_changes(now, now).is_empty());
    }

    #[test]
    fn the_profiled_sources_leave_out_tests() {
        let manifest = sources_manifest(&crate::project_root()).unwrap();
        let paths: Vec<&str> = manifest.lines().map(|l| &l[66..]).collect();
        for wanted in [
            "processor/Cargo.toml",
            "processor/src/decode/fastbatch.rs",
            "processor/src/bin/bootstrap.rs",
            "processor/examples/bench.rs",
        ] {
            assert!(paths.contains(&wanted), "{wanted} not in {paths:?}");
        }
        assert!(!paths.iter().any(|p| p.ends_with("_tests.rs")), "{paths:?}");
        // The test modules exist: their absence above is the filter's doing.
        assert!(
            crate::project_root()
                .join("processor/src/line/record_tests.rs")
                .is_file()
        );
    }

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
