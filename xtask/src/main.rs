//! `cargo xtask`: builds, deploys, runs and checks the usage-analytics pipeline.

use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "cargo xtask",
    bin_name = "cargo xtask",
    about = "IronMan usage analytics: the pipeline as code"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// The local stack: OpenSearch on 127.0.0.1:9200 and moto_server on 127.0.0.1:5000.
    Local {
        #[command(subcommand)]
        action: xtask::local::Action,
    },
    /// Builds the processor with cargo-lambda into a byte-for-byte reproducible Lambda zip.
    Build(xtask::build::BuildArgs),
    /// Shows what deploy would change: 0 = nothing, 2 = changes, 1 = error.
    Diff(xtask::deploy::DiffArgs),
    /// Plans, confirms and applies the whole pipeline to an environment, then checks nothing is left.
    Deploy(xtask::deploy::DeployArgs),
    /// Deletes what xtask made in an environment (data indices only with --delete-data).
    Destroy(xtask::deploy::DestroyArgs),
    /// Feeds Lambda event files through the processor's handler into an environment.
    Replay(xtask::replay::ReplayArgs),
    /// Reads a period of the environment's log groups (FilterLogEvents) through the processor's handler into its OpenSearch; resumable.
    Backfill(xtask::backfill::BackfillArgs),
    /// Writes a synthetic corpus of Lambda event files that follows the log contract.
    GenLogs(xtask::genlogs::GenLogsArgs),
    /// Local stack, deploy, synthetic logs, replay, then sessions and users per day.
    Demo(xtask::demo::DemoArgs),
    /// Processor throughput over Lambda event files: offline (no network), or end to end against an environment's OpenSearch (--e2e).
    Bench(xtask::bench::BenchArgs),
    /// Trains the processor's profile-guided optimisation (processor/pgo/processor.profdata).
    Pgo(xtask::pgo::PgoArgs),
    /// Coverage-guided fuzzing (libFuzzer) of the processor's hand-written readers against the general path.
    Fuzz(xtask::fuzz::FuzzArgs),
    /// The usage report (IM-8136) of a period: JSON on stdout, CSV or HTML files.
    Report(xtask::report::ReportArgs),
    /// The Dashboards saved objects of an environment: NDJSON, or plan/apply through the API.
    Dashboards(xtask::dashboards::command::DashboardsArgs),
    /// Starts the local stack and runs every test, as CI does.
    Test(xtask::test::TestArgs),
}

fn main() -> ExitCode {
    // clap exits with 2 on a usage error, which `diff` reserves for "changes":
    // a mistyped flag in CI would then pass as a plan. Usage errors are 1.
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            let _ = err.print();
            return if err.use_stderr() {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    let root = xtask::project_root();
    let result = match cli.command {
        Command::Diff(args) => match xtask::deploy::diff(&root, args) {
            Ok(code) => return code,
            Err(err) => Err(err),
        },
        Command::Destroy(args) => xtask::deploy::destroy(&root, args),
        Command::Local { action } => xtask::local::run(&root, action),
        Command::Build(args) => xtask::build::run(&root, args),
        Command::Deploy(args) => xtask::deploy::run(&root, args),
        Command::Replay(args) => xtask::replay::run(&root, args),
        Command::Backfill(args) => xtask::backfill::run(&root, args),
        Command::GenLogs(args) => xtask::genlogs::run(&root, args),
        Command::Demo(args) => xtask::demo::run(&root, args),
        Command::Bench(args) => xtask::bench::run(&root, args),
        Command::Pgo(args) => xtask::pgo::run(&root, args),
        Command::Fuzz(args) => xtask::fuzz::run(&root, args),
        Command::Report(args) => xtask::report::run(&root, args),
        Command::Dashboards(args) => xtask::dashboards::command::run(&root, args),
        Command::Test(args) => xtask::test::run(&root, args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
