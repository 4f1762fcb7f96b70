//! `cargo xtask report`: the IM-8136 usage report for a period, exact, from
//! the session summaries in OpenSearch.
//!
//! - [`period`] — calendar days in a time zone and their UTC bounds;
//! - [`query`] — composite aggregations (from `dashboards/metrics.yaml`)
//!   paged to the end into a [`Tally`];
//! - [`model`] — the tally folded into the [`Report`] (pure);
//! - [`csv`], [`html`] — the other outputs; JSON is the report serialized.

pub mod csv;
pub mod html;
pub mod model;
pub mod period;
pub mod query;

pub use model::{Report, Tally};
pub use period::Period;

use crate::env::Environment;
use crate::metrics::Metrics;
use anyhow::{Context as _, bail};
use std::io::Write as _;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// The report as one JSON document on stdout.
    Json,
    /// One CSV file per table in --out.
    Csv,
    /// One self-contained HTML page (inline SVG charts, print stylesheet) in --out.
    Html,
}

#[derive(Debug, clap::Args)]
pub struct ReportArgs {
    /// The environment (infra/environments/<env>.yaml).
    #[arg(long, value_name = "NAME")]
    pub env: String,
    /// First day, YYYY-MM-DD (inclusive, in --tz).
    #[arg(long)]
    pub from: String,
    /// Last day, YYYY-MM-DD (inclusive, in --tz).
    #[arg(long)]
    pub to: String,
    /// IANA time zone of the calendar days.
    #[arg(long, default_value = "UTC")]
    pub tz: String,
    /// What to write.
    #[arg(long, value_enum, default_value_t = Format::Json)]
    pub format: Format,
    /// Directory for csv and html [default: target/report/]; json goes to
    /// stdout and takes no directory.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// Reads the report of `period` from the environment's OpenSearch.
pub async fn build(
    env: &Environment,
    metrics: &Metrics,
    period: &Period,
) -> anyhow::Result<Report> {
    let client = env.opensearch_client()?;
    let index = &env.indices().session_summaries;
    let tally = query::tally(&client, index, metrics, period)
        .await
        .with_context(|| format!("reading the report from {} ({index})", client.endpoint()))?;
    model::assemble(period, &metrics.duration_ranges(), &tally)
}

/// The JSON document, one line.
pub fn to_json(report: &Report) -> String {
    serde_json::to_string(report).expect("a report serializes")
}

/// Writes the HTML page into `dir`; returns its path.
pub fn write_html(report: &Report, metrics: &Metrics, dir: &Path) -> anyhow::Result<PathBuf> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let path = dir.join(format!("usage-report-{}-{}.html", report.from, report.to));
    std::fs::write(&path, html::render(report, metrics))
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(path)
}

pub fn run(root: &Path, args: ReportArgs) -> anyhow::Result<()> {
    let period = Period::new(
        Period::parse_date("--from", &args.from)?,
        Period::parse_date("--to", &args.to)?,
        &args.tz,
    )?;
    if args.format == Format::Json
        && let Some(out) = &args.out
    {
        bail!(
            "--out {}: only csv and html are written to files; json goes to stdout (redirect it)",
            out.display()
        );
    }
    // The endpoint is looked up (DescribeDomain) unless the file names it.
    let env = crate::aws::load_with_endpoint(root, &args.env)?;
    let metrics = Metrics::load(root)?;
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    eprintln!(
        "report {}..{} ({}) from environment `{}` ({})",
        period.from,
        period.to,
        period.tz_name(),
        env.name,
        env.indices().session_summaries
    );
    let report = runtime.block_on(build(&env, &metrics, &period))?;
    let out = args.out.unwrap_or_else(|| root.join("target/report"));
    match args.format {
        Format::Json => {
            let mut stdout = std::io::stdout().lock();
            writeln!(stdout, "{}", to_json(&report)).context("writing to stdout")?;
        }
        Format::Csv => {
            for path in csv::write_all(&report, &out)? {
                eprintln!("wrote {}", path.display());
            }
        }
        Format::Html => {
            let path = write_html(&report, &metrics, &out)?;
            eprintln!("wrote {}", path.display());
        }
    }
    Ok(())
}
