//! `cargo xtask bench --input DIR`: the processor's offline throughput (an
//! optimised build, one thread, no network) and the peak memory of one
//! invocation on a 1 MB compressed payload. The last line is JSON.
//!
//! `cargo xtask bench --e2e --env E` measures against the environment's
//! OpenSearch instead ([`e2e`]).

mod e2e;

use anyhow::{Context, bail};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// A directory of Lambda event files (e.g. from `cargo xtask gen-logs`).
    #[arg(long, required_unless_present = "session_scaling")]
    pub input: Option<PathBuf>,
    /// Skip the peak-memory measurement.
    #[arg(long, conflicts_with = "e2e")]
    pub no_memory: bool,
    /// The pipeline rules (default: infra/pipeline.yaml).
    #[arg(long)]
    pub pipeline: Option<PathBuf>,
    /// Passes over the corpus; the one with the median rate is reported
    /// (every pass is shown).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=100), conflicts_with = "e2e")]
    pub runs: u32,
    /// End to end against the OpenSearch of --env: a console-style raw
    /// ingest (one `_bulk` per payload, as the AWS console's
    /// LogsToElasticsearch Lambda does), then the pipeline (the Lambda's
    /// handler), over the same payloads with the same --jobs, into
    /// bench-only indices that are deleted at the end.
    #[arg(long, requires = "env")]
    pub e2e: bool,
    /// The environment whose OpenSearch --e2e writes to.
    #[arg(long, value_name = "NAME", requires = "e2e")]
    pub env: Option<String>,
    /// --e2e: payloads in flight at once [default: 4].
    #[arg(long, requires = "e2e", value_parser = clap::value_parser!(u64).range(1..=256))]
    pub jobs: Option<u64>,
    /// --e2e without --input: generates long-session corpora (`gen-logs
    /// --session-events N`) for each N, replays each through the pipeline
    /// into fresh indices and compares the times, e.g. `250,2000`.
    #[arg(
        long,
        value_name = "N,N",
        value_delimiter = ',',
        requires = "e2e",
        conflicts_with = "input"
    )]
    pub session_scaling: Option<Vec<u32>>,
    /// --e2e --input: timed rounds after the warm-up, each the raw ingest
    /// then the pipeline; the median round of each side counts [default: 3].
    #[arg(
        long,
        requires = "e2e",
        conflicts_with = "session_scaling",
        value_parser = clap::value_parser!(u32).range(1..=20)
    )]
    pub rounds: Option<u32>,
    /// --session-scaling: sessions (users) of each corpus [default: 20].
    #[arg(long, requires = "session_scaling")]
    pub sessions: Option<u32>,
    /// --e2e: measure in this xtask as built (`cargo xtask` builds it
    /// unoptimised) instead of building it with the processor optimised
    /// first; for tests of the benchmark, not for its numbers.
    #[arg(long, requires = "e2e")]
    pub no_build: bool,
}

/// The instruction-set extensions that choose code paths at run time in
/// what the benchmark measures (libdeflate's inflate and CRC-32 dispatch on
/// them), so results from two days can be compared: a cloud VM names its
/// CPU only "Intel(R) Xeon(R) Processor" whatever the host generation.
const CPU_FEATURES: [&str; 6] = [
    "avx2",
    "bmi2",
    "pclmulqdq",
    "vpclmulqdq",
    "avx512f",
    "avx512vl",
];

/// The first processor of `/proc/cpuinfo`: model name, family, model,
/// clock and which of [`CPU_FEATURES`] it has.
fn cpu_description(cpuinfo: &str) -> String {
    let first = cpuinfo.split("\n\n").next().unwrap_or_default();
    let field = |key: &str| {
        first.lines().find_map(|line| {
            let (name, value) = line.split_once(':')?;
            (name.trim() == key).then(|| value.trim())
        })
    };
    let mut out = field("model name").unwrap_or("unknown CPU").to_string();
    let mut details = Vec::new();
    if let Some(family) = field("cpu family") {
        details.push(format!("family {family}"));
    }
    if let Some(model) = field("model") {
        details.push(format!("model {model}"));
    }
    if let Some(mhz) = field("cpu MHz").and_then(|m| m.parse::<f64>().ok()) {
        details.push(format!("{mhz:.0} MHz"));
    }
    if let Some(flags) = field("flags") {
        let present: Vec<&str> = CPU_FEATURES
            .into_iter()
            .filter(|f| flags.split_whitespace().any(|g| g == *f))
            .collect();
        details.push(if present.is_empty() {
            format!("none of {}", CPU_FEATURES.join(" "))
        } else {
            present.join(" ")
        });
    }
    if !details.is_empty() {
        out.push_str(&format!(" [{}]", details.join(", ")));
    }
    out
}

/// Builds the benchmark example (release profile, `--target` of `arch`)
/// into `target_dir` with these rustc flags; the path of the executable.
pub(crate) fn build_example(
    root: &Path,
    arch: crate::build::Arch,
    target_dir: &Path,
    rustflags: String,
) -> anyhow::Result<PathBuf> {
    let triple = arch.triple();
    let status = crate::cargo::cargo()
        .current_dir(root)
        .args(["build", "--quiet", "--release", "--target", triple])
        .args(["-p", "processor", "--example", "bench"])
        .env("CARGO_TARGET_DIR", target_dir)
        .env("CARGO_ENCODED_RUSTFLAGS", rustflags)
        .env_remove("RUSTFLAGS")
        .status()
        .context("running cargo build")?;
    if !status.success() {
        bail!("cargo build --release --target {triple} -p processor --example bench failed");
    }
    Ok(target_dir.join(triple).join("release/examples/bench"))
}

pub fn run(root: &Path, args: BenchArgs) -> anyhow::Result<()> {
    if args.e2e {
        return e2e::run(root, &args);
    }
    let Some(input) = args.input.clone() else {
        bail!("--input DIR: the directory of Lambda event files to measure");
    };
    if !input.is_dir() {
        bail!(
            "--input {}: not a directory of Lambda event files",
            input.display()
        );
    }
    let pipeline = args
        .pipeline
        .clone()
        .unwrap_or_else(|| root.join("infra/pipeline.yaml"));
    // Built as the Lambda is (`cargo xtask build`): the release profile,
    // `--target` and the same RUSTFLAGS (its target CPU among them), so the
    // numbers are those of the code Lambda runs; it also shares the Lambda
    // build's compiled dependencies.
    // The Lambda architecture of this machine: the benchmark runs here.
    let arch = if cfg!(target_arch = "aarch64") {
        crate::build::Arch::Arm64
    } else {
        crate::build::Arch::X86_64
    };
    let triple = arch.triple();
    // Held to the end: the benchmark is built into, and run from, the
    // release directory that Lambda builds share, and a build that cleans
    // the processor's artifacts there (the reproducibility test does) must
    // not remove the executable between its build and its run.
    let _lock = crate::build::lock::lock_builds(root)?;
    eprintln!(
        "building the processor benchmark (release profile, --target {triple}, the Lambda's RUSTFLAGS)…"
    );
    let exe = build_example(
        root,
        arch,
        &root.join("target"),
        crate::build::rustflags::encoded_rustflags(root, arch)?,
    )?;
    eprintln!(
        "machine: {} ({} logical CPUs); one thread",
        cpu_description(&std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default()),
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    );

    if !args.no_memory {
        let payload = root.join("target/bench/payload-1mb.json");
        std::fs::create_dir_all(payload.parent().expect("has a parent"))?;
        let made = Command::new(&exe)
            .arg("--make-payload")
            .arg(&payload)
            .arg("--input")
            .arg(&input)
            .arg("--pipeline")
            .arg(&pipeline)
            .status()?;
        // 3: the corpus is smaller than the payload (the example says so).
        if made.code() == Some(3) {
            eprintln!("memory: skipped, the corpus is too small to make a 1 MB payload");
        } else if !made.success() {
            bail!(
                "reading the corpus in {} failed (see above)",
                input.display()
            );
        } else {
            let out = Command::new(&exe)
                .arg("--one")
                .arg(&payload)
                .arg("--pipeline")
                .arg(&pipeline)
                .stderr(Stdio::inherit())
                .output()?;
            if !out.status.success() {
                bail!("the one-invocation memory run failed");
            }
            let report: serde_json::Value =
                serde_json::from_slice(&out.stdout).context("reading the memory report")?;
            let peak = report["peak_rss_bytes"].as_u64().unwrap_or(0);
            eprintln!(
                "memory: one invocation on a {:.2} MB payload ({} log events, {:.1} MB inflated): peak RSS {:.1} MB (target: under 64 MB)",
                report["payload_bytes"].as_f64().unwrap_or(0.0) / 1e6,
                report["log_events"],
                report["log_bytes"].as_f64().unwrap_or(0.0) / 1e6,
                peak as f64 / 1e6
            );
        }
    }

    eprintln!("throughput over {}, {} run(s)…", input.display(), args.runs);
    let status = Command::new(&exe)
        .arg("--input")
        .arg(&input)
        .arg("--runs")
        .arg(args.runs.to_string())
        .arg("--pipeline")
        .arg(&pipeline)
        .status()
        .context("running the benchmark")?;
    if !status.success() {
        bail!("the throughput run failed");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::cpu_description;

    #[test]
    fn the_cpu_is_described_by_model_clock_and_the_features_that_pick_code_paths() {
        let cpuinfo = "processor\t: 0\nvendor_id\t: GenuineIntel\ncpu family\t: 6\nmodel\t\t: 167\nmodel name\t: Intel(R) Xeon(R) Processor\ncpu MHz\t\t: 2600.000\nflags\t\t: fpu sse2 avx2 bmi2 pclmulqdq avx512f avx512vlx\n\nprocessor\t: 1\nmodel name\t: Other\nflags\t\t: vpclmulqdq\n";
        assert_eq!(
            cpu_description(cpuinfo),
            "Intel(R) Xeon(R) Processor [family 6, model 167, 2600 MHz, avx2 bmi2 pclmulqdq avx512f]"
        );
    }

    #[test]
    fn missing_fields_are_left_out_not_guessed() {
        assert_eq!(cpu_description(""), "unknown CPU");
        assert_eq!(
            cpu_description("model name\t: Some CPU\nflags\t: fpu sse2\n"),
            "Some CPU [none of avx2 bmi2 pclmulqdq vpclmulqdq avx512f avx512vl]"
        );
    }
}
