//! `cargo xtask build`: the processor's `bootstrap`, built with cargo-lambda
//! in release, packed into a zip that is the same, byte for byte, every time
//! the same sources are built with the same toolchain. `deploy` compares its
//! SHA-256 with the function's `CodeSha256` to find code drift, so anything
//! that varies between two builds (timestamps, file modes, paths of this
//! machine, compression settings) would be reported as drift.
//!
//! What makes it reproducible:
//! - the zip is written here (`zip.rs`), not by cargo-lambda: one entry
//!   `bootstrap`, timestamp 1980-01-01 00:00, Unix mode 0755, no extra
//!   fields, deflate at a pinned level through the `flate2` of `Cargo.lock`;
//! - the binary: `--remap-path-prefix` turns `$CARGO_HOME` (where every
//!   dependency's source lives, and so its panic locations) into `/cargo`;
//!   the workspace's own crates are compiled with paths relative to the
//!   workspace root, so the checkout's directory does not reach the binary
//!   (`tests/it/tools/build.rs` checks both); cargo-lambda strips symbols.
//! - the flags come from here (`rustflags.rs`), not from the caller's
//!   environment: `RUSTFLAGS`, `CARGO_PROFILE_*` and `CARGO_INCREMENTAL` are
//!   ignored.
//!
//! This module is the command itself (cargo-lambda, its log, the zip put in
//! place); `zip.rs` writes the zip, `rustflags.rs` chooses the compiler's
//! flags (with the PGO profile) and `lock.rs` keeps builds one at a time.

pub mod lock;
pub(crate) mod rustflags;
pub mod zip;

use crate::local;
use crate::local::progress::Step;
use anyhow::Context as _;
use base64::Engine as _;
use lock::{BuildLock, lock_builds};
use sha2::Digest as _;
use std::ffi::OsString;
use std::fs::File;
use std::io::{BufRead as _, BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The Lambda architectures, as Lambda and the environment files spell them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Arch {
    #[value(name = "x86_64")]
    X86_64,
    #[value(name = "arm64")]
    Arm64,
}

impl Arch {
    /// The name Lambda uses (`Architectures`).
    pub fn lambda_name(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64",
            Arch::Arm64 => "arm64",
        }
    }

    /// The Rust target `provided.al2023` runs on this architecture.
    pub fn triple(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64-unknown-linux-gnu",
            Arch::Arm64 => "aarch64-unknown-linux-gnu",
        }
    }

    /// The CPU cargo-lambda tunes a release build for (its own default,
    /// which our `CARGO_ENCODED_RUSTFLAGS` would otherwise replace).
    pub(crate) fn target_cpu(self) -> &'static str {
        match self {
            Arch::X86_64 => "haswell",
            Arch::Arm64 => "neoverse-n1",
        }
    }
}

impl std::str::FromStr for Arch {
    type Err = anyhow::Error;

    fn from_str(text: &str) -> anyhow::Result<Arch> {
        match text {
            "x86_64" => Ok(Arch::X86_64),
            "arm64" => Ok(Arch::Arm64),
            other => {
                anyhow::bail!("unknown Lambda architecture {other:?}: expected x86_64 or arm64")
            }
        }
    }
}

#[derive(Debug, Clone)]
pub struct BuildOptions {
    pub arch: Arch,
}

impl Default for BuildOptions {
    fn default() -> Self {
        BuildOptions { arch: Arch::X86_64 }
    }
}

/// The zip `build_lambda_zip` wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuiltZip {
    /// `target/lambda/processor-<arch>.zip`.
    pub path: PathBuf,
    /// The zip's size in bytes.
    pub len: u64,
    /// SHA-256 of the zip, lower-case hex.
    pub sha256_hex: String,
    /// SHA-256 of the zip, standard base64: what Lambda reports as the
    /// function's `CodeSha256`.
    pub code_sha256: String,
    pub arch: Arch,
    /// cargo-lambda's output, `target/lambda/build-<arch>.log`.
    pub log: PathBuf,
}

#[derive(Debug, clap::Args)]
pub struct BuildArgs {
    /// The Lambda architecture to build for.
    #[arg(long, value_enum, default_value = "x86_64")]
    pub arch: Arch,
}

pub fn run(root: &Path, args: BuildArgs) -> anyhow::Result<()> {
    let zip = build_lambda_zip(root, &BuildOptions { arch: args.arch })?;
    println!("{}", zip.path.display());
    println!("  architecture  {}", zip.arch.lambda_name());
    println!("  size          {} bytes", zip.len);
    println!("  sha256        {}", zip.sha256_hex);
    println!("  CodeSha256    {}", zip.code_sha256);
    Ok(())
}

/// Builds `bootstrap` with cargo-lambda (release) and writes the
/// reproducible zip; its path, size and hashes.
pub fn build_lambda_zip(root: &Path, opts: &BuildOptions) -> anyhow::Result<BuiltZip> {
    let lock = lock_builds(root)?;
    build_lambda_zip_locked(root, opts, &lock)
}

/// `build_lambda_zip` for a caller that already holds the build lock.
pub fn build_lambda_zip_locked(
    root: &Path,
    opts: &BuildOptions,
    _lock: &BuildLock,
) -> anyhow::Result<BuiltZip> {
    let out_dir = root.join("target").join("lambda");
    let arch = opts.arch;
    require_target(arch)?;
    // Cheap when installed; on a fresh machine (a deploy job) it installs
    // cargo-lambda without starting the local services.
    local::ensure_tools(root).context("installing cargo-lambda into the local stack's venv")?;
    let cargo_lambda = local::cargo_lambda_bin(root);

    // A directory of its own per architecture, apart from what a plain
    // `cargo lambda build` writes (`target/lambda/bootstrap/`).
    let lambda_dir = out_dir.join(format!("release-{}", arch.lambda_name()));
    std::fs::create_dir_all(&lambda_dir)
        .with_context(|| format!("creating {}", lambda_dir.display()))?;
    let log = out_dir.join(format!("build-{}.log", arch.lambda_name()));

    // Why cargo-lambda with `--target`: it puts the artifacts in
    // `target/<triple>/release`, where our RUSTFLAGS (target CPU, path
    // remapping) apply to every crate, while build scripts and proc macros
    // (host artifacts, which RUSTFLAGS do not reach under `--target`) stay
    // in `target/release`. `cargo xtask bench` builds its example the same
    // way, into the same directory, so it measures this code and shares
    // these compiled dependencies. The end-to-end test (lambda_e2e) runs the
    // binary of this very zip.
    let mut cmd = Command::new(&cargo_lambda);
    crate::cargo::clean_env(&mut cmd);
    cmd.args(["lambda", "build", "--release", "--compiler", "cargo"])
        .args(["--target", arch.triple()])
        // Checked above, with a better message than cargo-lambda's.
        .arg("--skip-target-check")
        // `--package`: features are then resolved for the processor alone;
        // without it they are unified with xtask's (rand, for one), and the
        // Lambda's bytes would depend on the build tool's dependencies.
        .args(["--bin", "bootstrap", "--package", "processor"])
        .arg("--lambda-dir")
        .arg(&lambda_dir)
        .current_dir(root)
        .env("PATH", local::path_with_venv(root)?)
        .env("CARGO_TARGET_DIR", root.join("target"))
        .env(
            "CARGO_ENCODED_RUSTFLAGS",
            rustflags::encoded_rustflags(root, arch)?,
        )
        .env("CARGO_INCREMENTAL", "0")
        .env("CARGO_TERM_COLOR", "never")
        // mimalloc's C code stamps __DATE__ and __TIME__ into the binary;
        // GCC and Clang take them from here instead of the clock, so the
        // bytes do not depend on when (on which machine) the build ran.
        .env("SOURCE_DATE_EPOCH", SOURCE_DATE_EPOCH)
        .env_remove("RUSTFLAGS")
        .stdin(Stdio::null());
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("CARGO_PROFILE_") {
            cmd.env_remove(name);
        }
    }
    run_streamed(&mut cmd, &log, arch)?;

    let binary = lambda_dir.join("bootstrap").join("bootstrap");
    let bytes = std::fs::read(&binary)
        .with_context(|| format!("reading the built {}", binary.display()))?;
    anyhow::ensure!(
        bytes.starts_with(b"\x7fELF"),
        "{} is not an ELF executable ({} bytes)",
        binary.display(),
        bytes.len()
    );
    let zip = zip::zip_single_executable("bootstrap", &bytes)
        .with_context(|| format!("zipping {}", binary.display()))?;

    let path = out_dir.join(format!("processor-{}.zip", arch.lambda_name()));
    // Written beside and renamed, so that a reader never sees half a zip.
    let partial = path.with_extension(format!("zip.partial-{}", std::process::id()));
    std::fs::write(&partial, &zip).with_context(|| format!("writing {}", partial.display()))?;
    std::fs::rename(&partial, &path)
        .with_context(|| format!("renaming {} to {}", partial.display(), path.display()))?;

    let digest = sha2::Sha256::digest(&zip);
    Ok(BuiltZip {
        path,
        len: zip.len() as u64,
        sha256_hex: hex::encode(digest),
        code_sha256: base64::engine::general_purpose::STANDARD.encode(digest),
        arch,
        log,
    })
}

/// Fails, saying what to install, when the Rust standard library for the
/// architecture's target is not installed. x86_64 on an x86_64 Linux host is
/// the host target and always there.
pub fn require_target(arch: Arch) -> anyhow::Result<()> {
    let host_is_x86_64_linux = cfg!(all(
        target_arch = "x86_64",
        target_os = "linux",
        target_env = "gnu"
    ));
    if arch == Arch::X86_64 && host_is_x86_64_linux {
        return Ok(());
    }
    let triple = arch.triple();
    let installed = match Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
    {
        Ok(out) if out.status.success() => String::from_utf8_lossy(&out.stdout)
            .lines()
            .any(|line| line.trim() == triple),
        // No rustup (a distribution's Rust): look in the sysroot.
        _ => {
            rustc_sysroot().is_some_and(|sysroot| sysroot.join("lib/rustlib").join(triple).is_dir())
        }
    };
    anyhow::ensure!(
        installed,
        "building for Lambda {} needs the Rust target {triple}, which is not installed: \
         run `rustup target add {triple}`, and make a linker for it known to cargo \
         (e.g. Debian's gcc-aarch64-linux-gnu with \
         CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc); \
         or build for x86_64",
        arch.lambda_name()
    );
    Ok(())
}

fn rustc_sysroot() -> Option<PathBuf> {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| OsString::from("rustc"));
    let out = Command::new(rustc)
        .args(["--print", "sysroot"])
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
}

/// Runs the build with its output in `log`. On a terminal a spinner shows
/// the crate being compiled; elsewhere (CI, tests) cargo's lines are passed
/// through. A failure quotes the log's tail.
fn run_streamed(cmd: &mut Command, log: &Path, arch: Arch) -> anyhow::Result<()> {
    let what = format!(
        "cargo lambda build --release --target {} (log: {})",
        arch.triple(),
        log.display()
    );
    let mut file = File::create(log).with_context(|| format!("creating {}", log.display()))?;
    let step = Step::start(&what);
    let mut child = cmd
        .stdout(file.try_clone()?)
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("could not start {:?}", cmd.get_program()))?;
    let stderr = child.stderr.take().expect("piped");
    let on_terminal = step.on_terminal();
    for line in BufReader::new(stderr).lines() {
        let line = line.context("reading cargo-lambda's output")?;
        writeln!(file, "{line}").with_context(|| format!("writing {}", log.display()))?;
        if on_terminal {
            step.update(line.trim());
        } else {
            eprintln!("    {line}");
        }
    }
    let status = child.wait().context("waiting for cargo-lambda")?;
    if !status.success() {
        drop(step);
        anyhow::bail!(
            "{what} failed ({status}); last lines:\n{}",
            local::proc::tail(log, 25)
        );
    }
    step.done("");
    Ok(())
}

/// 1980-01-01 00:00:00 UTC in Unix seconds: the date the zip's entry and
/// the C code's `__DATE__`/`__TIME__` say.
const SOURCE_DATE_EPOCH: &str = "315532800";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn architectures_parse_as_lambda_spells_them() {
        assert_eq!("x86_64".parse::<Arch>().unwrap(), Arch::X86_64);
        assert_eq!("arm64".parse::<Arch>().unwrap(), Arch::Arm64);
        assert!("aarch64".parse::<Arch>().is_err());
        assert_eq!(Arch::Arm64.triple(), "aarch64-unknown-linux-gnu");
    }
}
