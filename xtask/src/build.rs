//! `cargo xtask build`: the processor's `bootstrap`, built with cargo-lambda
//! in release, packed into a zip that is the same, byte for byte, every time
//! the same sources are built with the same toolchain. `deploy` compares its
//! SHA-256 with the function's `CodeSha256` to find code drift, so anything
//! that varies between two builds (timestamps, file modes, paths of this
//! machine, compression settings) would be reported as drift.
//!
//! What makes it reproducible:
//! - the zip is written here, not by cargo-lambda: one entry `bootstrap`,
//!   timestamp 1980-01-01 00:00, Unix mode 0755, no extra fields, deflate at
//!   a pinned level through the `flate2` of `Cargo.lock`;
//! - the binary: `--remap-path-prefix` turns `$CARGO_HOME` (where every
//!   dependency's source lives, and so its panic locations) into `/cargo`;
//!   the workspace's own crates are compiled with paths relative to the
//!   workspace root, so the checkout's directory does not reach the binary
//!   (`tests/it/tools/build.rs` checks both); cargo-lambda strips symbols.
//! - the flags come from here, not from the caller's environment:
//!   `RUSTFLAGS`, `CARGO_PROFILE_*` and `CARGO_INCREMENTAL` are ignored.

use crate::local;
use crate::local::progress::Step;
use anyhow::Context as _;
use base64::Engine as _;
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
    fn target_cpu(self) -> &'static str {
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
        .env("CARGO_ENCODED_RUSTFLAGS", encoded_rustflags(root, arch)?)
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
    let zip = zip_single_executable("bootstrap", &bytes)
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

/// The rustc flags of the build, whatever the caller's environment says
/// (`CARGO_ENCODED_RUSTFLAGS` wins over `RUSTFLAGS` and every config file):
/// the target CPU, the path remapping, and for x86_64 the processor's
/// profile (`cargo xtask pgo`) when the checkout has one.
pub(crate) fn encoded_rustflags(root: &Path, arch: Arch) -> anyhow::Result<String> {
    let mut flags = base_rustflags(arch)?;
    let profile = root.join(crate::pgo::PROFILE);
    // Trained on x86_64: an arm64 build would match it only in part.
    if arch == Arch::X86_64 && profile.is_file() {
        let profile = profile
            .to_str()
            .with_context(|| format!("{} is not UTF-8", profile.display()))?;
        flags.push(format!("-Cprofile-use={profile}"));
    }
    Ok(flags.join("\x1f"))
}

/// `encoded_rustflags` without a profile, instrumented to write one into
/// `raw_dir` (`cargo xtask pgo`): the same code but for the counters, so
/// that the profile matches the build that uses it.
pub(crate) fn training_rustflags(arch: Arch, raw_dir: &Path) -> anyhow::Result<String> {
    let mut flags = base_rustflags(arch)?;
    let raw_dir = raw_dir
        .to_str()
        .with_context(|| format!("{} is not UTF-8", raw_dir.display()))?;
    flags.push(format!("-Cprofile-generate={raw_dir}"));
    Ok(flags.join("\x1f"))
}

/// The flags every build of the processor has. Nothing in them depends on
/// the checkout, so a build's bytes do not either.
fn base_rustflags(arch: Arch) -> anyhow::Result<Vec<String>> {
    let cargo_home = cargo_home()?;
    let cargo_home = cargo_home
        .to_str()
        .with_context(|| format!("CARGO_HOME {} is not UTF-8", cargo_home.display()))?;
    Ok(vec![
        "-C".to_string(),
        format!("target-cpu={}", arch.target_cpu()),
        format!("--remap-path-prefix={cargo_home}=/cargo"),
    ])
}

/// `$CARGO_HOME`, else `$HOME/.cargo`, as cargo itself finds it.
fn cargo_home() -> anyhow::Result<PathBuf> {
    if let Some(home) = std::env::var_os("CARGO_HOME").filter(|h| !h.is_empty()) {
        return Ok(PathBuf::from(home));
    }
    let home = std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .context("neither CARGO_HOME nor HOME is set: cannot find cargo's home")?;
    Ok(PathBuf::from(home).join(".cargo"))
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

/// 1980-01-01 00:00:00 in MS-DOS form, the earliest a zip can say: the same
/// for every build.
const DOS_TIME: u16 = 0;
const DOS_DATE: u16 = (1 << 5) | 1;
/// A regular file (`S_IFREG`) with mode 0755, in the high half of the
/// external attributes, as Info-ZIP and Lambda read them.
const UNIX_MODE: u32 = 0o100_755;
/// "Made by" Unix (3), zip specification 2.0.
const VERSION_MADE_BY: u16 = (3 << 8) | 20;
const VERSION_NEEDED: u16 = 20;
const DEFLATE: u16 = 8;
/// Pinned: another level gives other bytes.
const DEFLATE_LEVEL: u32 = 9;

/// A zip with one entry, `name`, holding `data`: deflated, dated
/// 1980-01-01, mode 0755, no extra fields or comments. Written by hand so
/// that every byte is chosen here.
pub fn zip_single_executable(name: &str, data: &[u8]) -> anyhow::Result<Vec<u8>> {
    use flate2::write::DeflateEncoder;
    let mut encoder = DeflateEncoder::new(
        Vec::with_capacity(data.len() / 2),
        flate2::Compression::new(DEFLATE_LEVEL),
    );
    encoder.write_all(data).context("deflating")?;
    let compressed = encoder.finish().context("deflating")?;
    let mut crc = flate2::Crc::new();
    crc.update(data);
    let crc = crc.sum();

    let too_big = || anyhow::anyhow!("{name} is too large for a zip without zip64 (4 GiB)");
    let size = u32::try_from(data.len()).map_err(|_| too_big())?;
    let csize = u32::try_from(compressed.len()).map_err(|_| too_big())?;
    let name_len = u16::try_from(name.len()).context("entry name too long")?;

    let mut zip = Vec::with_capacity(compressed.len() + 2 * name.len() + 128);
    // Local file header.
    put32(&mut zip, 0x0403_4b50);
    put16(&mut zip, VERSION_NEEDED);
    put16(&mut zip, 0); // flags: sizes known, no data descriptor
    put16(&mut zip, DEFLATE);
    put16(&mut zip, DOS_TIME);
    put16(&mut zip, DOS_DATE);
    put32(&mut zip, crc);
    put32(&mut zip, csize);
    put32(&mut zip, size);
    put16(&mut zip, name_len);
    put16(&mut zip, 0); // no extra field
    zip.extend_from_slice(name.as_bytes());
    zip.extend_from_slice(&compressed);

    // Central directory, one entry.
    let central_start = u32::try_from(zip.len()).map_err(|_| too_big())?;
    put32(&mut zip, 0x0201_4b50);
    put16(&mut zip, VERSION_MADE_BY);
    put16(&mut zip, VERSION_NEEDED);
    put16(&mut zip, 0);
    put16(&mut zip, DEFLATE);
    put16(&mut zip, DOS_TIME);
    put16(&mut zip, DOS_DATE);
    put32(&mut zip, crc);
    put32(&mut zip, csize);
    put32(&mut zip, size);
    put16(&mut zip, name_len);
    put16(&mut zip, 0); // extra field length
    put16(&mut zip, 0); // comment length
    put16(&mut zip, 0); // disk number
    put16(&mut zip, 0); // internal attributes
    put32(&mut zip, UNIX_MODE << 16);
    put32(&mut zip, 0); // the local header's offset
    zip.extend_from_slice(name.as_bytes());
    let central_len = u32::try_from(zip.len()).map_err(|_| too_big())? - central_start;

    // End of central directory.
    put32(&mut zip, 0x0605_4b50);
    put16(&mut zip, 0);
    put16(&mut zip, 0);
    put16(&mut zip, 1);
    put16(&mut zip, 1);
    put32(&mut zip, central_len);
    put32(&mut zip, central_start);
    put16(&mut zip, 0); // comment length
    Ok(zip)
}

fn put16(out: &mut Vec<u8>, value: u16) {
    out.extend_from_slice(&value.to_le_bytes());
}

fn put32(out: &mut Vec<u8>, value: u32) {
    out.extend_from_slice(&value.to_le_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u16_at(bytes: &[u8], at: usize) -> u16 {
        u16::from_le_bytes([bytes[at], bytes[at + 1]])
    }
    fn u32_at(bytes: &[u8], at: usize) -> u32 {
        u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap())
    }

    #[test]
    fn the_zip_has_one_fixed_entry_and_round_trips() {
        let data: Vec<u8> = (0..100_000u32)
            .flat_map(|i| (i % 251).to_le_bytes())
            .collect();
        let zip = zip_single_executable("bootstrap", &data).unwrap();
        assert_eq!(zip, zip_single_executable("bootstrap", &data).unwrap());

        // End of central directory: one entry, where the directory starts.
        let eocd = zip.len() - 22;
        assert_eq!(u32_at(&zip, eocd), 0x0605_4b50);
        assert_eq!(u16_at(&zip, eocd + 10), 1);
        let central = u32_at(&zip, eocd + 16) as usize;
        assert_eq!(u32_at(&zip, central), 0x0201_4b50);
        assert_eq!(u16_at(&zip, central + 4) >> 8, 3, "made by Unix");
        assert_eq!(u16_at(&zip, central + 12), 0, "time 00:00:00");
        assert_eq!(u16_at(&zip, central + 14), 0x21, "date 1980-01-01");
        assert_eq!(u32_at(&zip, central + 38) >> 16, 0o100_755);
        assert_eq!(&zip[central + 46..central + 55], b"bootstrap");

        // The local entry inflates back to the data.
        assert_eq!(u32_at(&zip, 0), 0x0403_4b50);
        let csize = u32_at(&zip, 18) as usize;
        let start = 30 + 9;
        let mut inflated = Vec::new();
        std::io::Read::read_to_end(
            &mut flate2::read::DeflateDecoder::new(&zip[start..start + csize]),
            &mut inflated,
        )
        .unwrap();
        assert_eq!(inflated, data);
        let mut crc = flate2::Crc::new();
        crc.update(&data);
        assert_eq!(u32_at(&zip, 14), crc.sum());
    }

    #[test]
    fn architectures_parse_as_lambda_spells_them() {
        assert_eq!("x86_64".parse::<Arch>().unwrap(), Arch::X86_64);
        assert_eq!("arm64".parse::<Arch>().unwrap(), Arch::Arm64);
        assert!("aarch64".parse::<Arch>().is_err());
        assert_eq!(Arch::Arm64.triple(), "aarch64-unknown-linux-gnu");
    }

    #[test]
    fn rustflags_remap_cargo_home_and_keep_cargo_lambdas_cpu() {
        let root = crate::project_root();
        let flags = encoded_rustflags(&root, Arch::X86_64).unwrap();
        let flags: Vec<&str> = flags.split('\x1f').collect();
        assert_eq!(flags[..2], ["-C", "target-cpu=haswell"]);
        assert!(
            flags[2].starts_with("--remap-path-prefix=") && flags[2].ends_with("=/cargo"),
            "{flags:?}"
        );
    }

    #[test]
    fn x86_64_builds_use_the_checkouts_profile_and_training_builds_make_one() {
        let root = crate::project_root();
        let profile = root.join(crate::pgo::PROFILE);
        assert!(
            profile.is_file(),
            "{} is part of the checkout",
            profile.display()
        );
        let x86 = encoded_rustflags(&root, Arch::X86_64).unwrap();
        assert_eq!(
            x86.split('\x1f').next_back(),
            Some(format!("-Cprofile-use={}", profile.display()).as_str())
        );
        let arm = encoded_rustflags(&root, Arch::Arm64).unwrap();
        assert!(!arm.contains("profile-use"), "{arm}");
        // Without a profile (another checkout, say), no flag.
        let elsewhere = std::env::temp_dir().join("not-a-checkout-of-this-project");
        let bare = encoded_rustflags(&elsewhere, Arch::X86_64).unwrap();
        assert!(!bare.contains("profile"), "{bare}");
        // The training build differs only by its instrumentation.
        let training = training_rustflags(Arch::X86_64, Path::new("/tmp/raw")).unwrap();
        assert_eq!(
            training.split('\x1f').collect::<Vec<_>>(),
            bare.split('\x1f')
                .chain(["-Cprofile-generate=/tmp/raw"])
                .collect::<Vec<_>>()
        );
    }
}
