//! `cargo xtask build` is reproducible: two builds of the same sources give
//! the same zip, byte for byte, and the zip is what Lambda runs.
//!
//! Needs cargo-lambda (`cargo xtask local up`; `cargo xtask test` provides
//! it); fails, never skips, without it. The first build of a checkout
//! compiles the dependencies for `target/x86_64-unknown-linux-gnu/release`
//! once (minutes on 2 CPUs); the second only the processor, whose release
//! artifacts are removed in between so that it is really compiled again.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use xtask::build::{Arch, BuildOptions, BuiltZip, build_lambda_zip};

#[test]
fn two_builds_give_the_same_zip_with_one_executable_bootstrap() {
    let root = xtask::project_root();
    let opts = BuildOptions::default();
    assert_eq!(opts.arch, Arch::X86_64);

    let first = build(&root, &opts);
    let first_bytes = read(&first.path);

    // Really compile the processor again: drop its release artifacts for
    // this target only (nothing else of the shared target directory),
    // holding the build lock so that no other test's build comes between
    // (nor rewrites the log and zip read below: it is held to the end).
    let lock = xtask::build::lock::lock_builds(&root).expect("the build lock");
    let status = xtask::cargo::cargo()
        // mimalloc's C code too: it stamps the time it is compiled at
        // unless SOURCE_DATE_EPOCH says otherwise, as another machine's
        // build (CI's, a deploy job's) compiles it at another time.
        .args([
            "clean",
            "--release",
            "-p",
            "processor",
            "-p",
            "libmimalloc-sys",
            "--target",
        ])
        .arg(opts.arch.triple())
        .current_dir(&root)
        .env("CARGO_TARGET_DIR", root.join("target"))
        .status()
        .expect("running cargo clean -p processor");
    assert!(status.success(), "cargo clean -p processor: {status}");

    let second = xtask::build::build_lambda_zip_locked(&root, &opts, &lock)
        .unwrap_or_else(|e| panic!("the second build failed: {e:#}"));
    let log = std::fs::read_to_string(&second.log).unwrap();
    for package in ["processor", "libmimalloc-sys"] {
        assert!(
            log.contains(&format!("Compiling {package}")),
            "the second build did not compile {package} again:\n{log}"
        );
    }
    assert_eq!(first.sha256_hex, second.sha256_hex, "{first:?}\n{second:?}");
    assert_eq!(first.code_sha256, second.code_sha256);
    assert_eq!(first_bytes, read(&second.path));
    assert_eq!(second.len, first_bytes.len() as u64);
    println!(
        "two builds, one zip: {} ({} bytes) sha256 {} CodeSha256 {}",
        second.path.display(),
        second.len,
        second.sha256_hex,
        second.code_sha256
    );

    // Read by Python's zipfile, not by our own code.
    let zip = inspect_with_python(&root, &second.path);
    assert_eq!(zip["names"], serde_json::json!(["bootstrap"]), "{zip}");
    assert_eq!(zip["mode"], 0o100_755, "a regular file, mode 0755: {zip}");
    assert_eq!(zip["create_system"], 3, "made on Unix: {zip}");
    assert_eq!(zip["date_time"], serde_json::json!([1980, 1, 1, 0, 0, 0]));
    assert_eq!(zip["bad_crc"], Value::Null, "{zip}");
    assert_eq!(zip["compress_type"], 8, "deflate: {zip}");

    // An x86-64 ELF executable (a PIE is ET_DYN).
    let head = hex_bytes(zip["head"].as_str().unwrap());
    assert_eq!(&head[..4], b"\x7fELF", "{zip}");
    assert_eq!(head[4], 2, "64-bit ELF");
    let e_type = u16::from_le_bytes([head[16], head[17]]);
    assert!(e_type == 2 || e_type == 3, "ELF type {e_type}");
    assert_eq!(u16::from_le_bytes([head[18], head[19]]), 0x3e, "x86-64");

    // Nothing of this machine's layout is in the binary, so that another
    // checkout (CI's) builds the same bytes.
    let binary = read(&root.join("target/lambda/release-x86_64/bootstrap/bootstrap"));
    assert_eq!(zip["size"], binary.len(), "the zip holds the built binary");
    let mut local_paths = vec![root.clone(), root.join("target")];
    local_paths.extend(root.join("target").canonicalize().ok());
    local_paths.extend(std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")));
    for path in local_paths {
        let needle = path.to_str().unwrap().as_bytes();
        assert!(
            !binary.windows(needle.len()).any(|w| w == needle),
            "the binary contains the path {}",
            path.display()
        );
    }
}

/// Without the Rust target for arm64, the build stops before compiling and
/// says what to install; with it, the check passes.
#[test]
fn arm64_needs_its_rust_target_installed() {
    let installed = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .map(|out| String::from_utf8_lossy(&out.stdout).contains("aarch64-unknown-linux-gnu"))
        .unwrap_or(false);
    match xtask::build::require_target(Arch::Arm64) {
        Ok(()) => assert!(installed, "arm64 passed the check without its target"),
        Err(e) => {
            assert!(!installed, "{e:#}");
            let message = format!("{e:#}");
            assert!(
                message.contains("rustup target add aarch64-unknown-linux-gnu"),
                "{message}"
            );
        }
    }
    assert!(xtask::build::require_target(Arch::X86_64).is_ok());
}

fn build(root: &Path, opts: &BuildOptions) -> BuiltZip {
    let cargo_lambda = xtask::local::cargo_lambda_bin(root);
    assert!(
        cargo_lambda.is_file(),
        "cargo-lambda is required at {}: install it with `cargo xtask local up` \
         (or run everything with `cargo xtask test`)",
        cargo_lambda.display()
    );
    let started = std::time::Instant::now();
    let zip = build_lambda_zip(root, opts).unwrap_or_else(|e| panic!("{e:#}"));
    println!(
        "build: {} in {:.1}s",
        zip.sha256_hex,
        started.elapsed().as_secs_f64()
    );
    zip
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

fn hex_bytes(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}

const INSPECT: &str = r#"
import json, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z:
    infos = z.infolist()
    first = infos[0]
    data = z.read(first)
    print(json.dumps({
        "names": [i.filename for i in infos],
        "mode": first.external_attr >> 16,
        "create_system": first.create_system,
        "date_time": list(first.date_time),
        "compress_type": first.compress_type,
        "bad_crc": z.testzip(),
        "size": len(data),
        "head": data[:20].hex(),
    }))
"#;

fn inspect_with_python(root: &Path, zip: &Path) -> Value {
    let python = xtask::local::venv_bin_dir(root).join("python");
    let out = Command::new(&python)
        .args(["-c", INSPECT])
        .arg(zip)
        .output()
        .unwrap_or_else(|e| panic!("running {}: {e}", python.display()));
    assert!(
        out.status.success(),
        "python zipfile could not read {}: {}",
        zip.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}
