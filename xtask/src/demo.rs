//! `cargo xtask demo`: the whole pipeline on this machine. Starts the local
//! stack, deploys the mappings, generates a week of synthetic logs, replays
//! them through the processor, then reads sessions and unique users per day
//! back from OpenSearch and writes the HTML usage report of those days.

use crate::env::Environment;
use crate::genlogs::{GenOptions, generate, write_corpus};
use crate::replay::{event_files, handler_for, make_searchable, print_counts, replay_files};
use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use processor::opensearch::OpenSearch;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

const DEMO_DAYS: u32 = 7;
const DEMO_USERS: u32 = 40;
const DEMO_SEED: u64 = 2026;

#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Days of synthetic logs.
    #[arg(long, default_value_t = DEMO_DAYS)]
    pub days: u32,
    /// Synthetic users.
    #[arg(long, default_value_t = DEMO_USERS)]
    pub users: u32,
    #[arg(long, default_value_t = DEMO_SEED)]
    pub seed: u64,
}

/// Sessions and distinct users per UTC day of `start_time`, exact (a
/// composite aggregation paged to the end, never a cardinality estimate).
pub async fn sessions_and_users_per_day(
    client: &OpenSearch,
    sessions_index: &str,
) -> anyhow::Result<BTreeMap<String, (u64, u64)>> {
    let mut per_day: BTreeMap<String, (u64, BTreeSet<String>)> = BTreeMap::new();
    let mut after: Option<Value> = None;
    loop {
        let mut composite = json!({
            "size": 1000,
            "sources": [
                {"day": {"date_histogram": {"field": "start_time", "calendar_interval": "1d", "format": "yyyy-MM-dd"}}},
                {"user": {"terms": {"field": "user"}}}
            ]
        });
        if let Some(key) = &after {
            composite["after"] = key.clone();
        }
        let body = json!({"size": 0, "aggs": {"days": {"composite": composite}}});
        let answer = client
            .json(
                http_method_post(),
                &format!("/{sessions_index}/_search"),
                Some(&body),
            )
            .await
            .with_context(|| format!("aggregating {sessions_index}"))?;
        let agg = &answer["aggregations"]["days"];
        let buckets = agg["buckets"].as_array().cloned().unwrap_or_default();
        for bucket in &buckets {
            let day = bucket["key"]["day"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            let user = bucket["key"]["user"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            let entry = per_day.entry(day).or_default();
            entry.0 += bucket["doc_count"].as_u64().unwrap_or(0);
            entry.1.insert(user);
        }
        match agg.get("after_key") {
            Some(key) if !buckets.is_empty() => after = Some(key.clone()),
            _ => break,
        }
    }
    Ok(per_day
        .into_iter()
        .map(|(day, (sessions, users))| (day, (sessions, users.len() as u64)))
        .collect())
}

fn http_method_post() -> reqwest::Method {
    reqwest::Method::POST
}

/// What a demo read back: sessions and distinct users per UTC day, and the
/// usage report it wrote.
#[derive(Debug)]
pub struct DemoOutcome {
    pub per_day: BTreeMap<String, (u64, u64)>,
    pub report_page: PathBuf,
}

pub fn run(root: &Path, args: DemoArgs) -> anyhow::Result<()> {
    println!("== 1/5 local stack");
    crate::local::ensure_up(root)?;
    let env = Environment::load(root, "local")?;
    run_in(root, &env, &args, &root.join("target/demo")).map(drop)
}

/// Steps 2 to 5 of the demo against `env` (the `local` environment; tests
/// give it indices of its own), with the corpus and the report under `out`.
pub fn run_in(
    root: &Path,
    env: &Environment,
    args: &DemoArgs,
    out: &Path,
) -> anyhow::Result<DemoOutcome> {
    println!("== 2/5 deploy mappings and ISM policy to `{}`", env.name);
    let plan = crate::deploy::deploy_opensearch(env, root)?;
    println!("{plan}");

    println!("== 3/5 synthetic logs");
    let corpus_dir = out.join("corpus");
    if corpus_dir.exists() {
        std::fs::remove_dir_all(&corpus_dir)
            .with_context(|| format!("clearing {}", corpus_dir.display()))?;
    }
    let corpus = generate(&args.options());
    write_corpus(&corpus, &corpus_dir)?;
    println!(
        "{} Lambda event files in {}",
        corpus.files.len(),
        corpus_dir.display()
    );

    println!("== 4/5 replay through the processor");
    let handler = Arc::new(handler_for(root, env, None)?);
    let files = event_files(std::slice::from_ref(&corpus_dir))?;
    let progress = ProgressBar::new(files.len() as u64);
    progress.set_style(
        ProgressStyle::with_template("{spinner} replay [{bar:30}] {pos}/{len} files {elapsed}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    let runtime = tokio::runtime::Runtime::new()?;
    let report = runtime.block_on(replay_files(handler, &files, 4, &progress))?;
    progress.finish_and_clear();
    print_counts(&report.counts);
    // The table below must see every summary just written.
    runtime.block_on(make_searchable(env))?;

    println!(
        "== 5/5 read back from OpenSearch ({})",
        env.opensearch_endpoint()?
    );
    let client = env.opensearch_client()?;
    let per_day = runtime.block_on(sessions_and_users_per_day(
        &client,
        &env.indices().session_summaries,
    ))?;
    println!(
        "{:<12} {:>9} {:>13}",
        "day (UTC)", "sessions", "unique users"
    );
    for (day, (sessions, users)) in &per_day {
        println!("{day:<12} {sessions:>9} {users:>13}");
    }
    println!(
        "\nExplore: curl -s '{}/{}/_search?size=3&pretty'",
        env.opensearch_endpoint()?,
        env.indices().session_summaries
    );

    // The IM-8136 report of the demo's days, as people receive it.
    let (start, last) = args.days_covered();
    let period = crate::report::Period::new(start, last, "UTC")?;
    let metrics = crate::metrics::Metrics::load(root)?;
    let report = runtime.block_on(crate::report::build(env, &metrics, &period))?;
    let report_page = crate::report::write_html(&report, &metrics, out)?;
    println!(
        "Usage report {start} to {last} (UTC): {}\n  (open it in a browser; print it to PDF for the mailed report; `cargo xtask report --help` for other periods and formats)",
        report_page.display()
    );
    Ok(DemoOutcome {
        per_day,
        report_page,
    })
}

impl DemoArgs {
    /// The generator's options for this demo.
    pub fn options(&self) -> GenOptions {
        GenOptions {
            days: self.days,
            users: self.users,
            seed: self.seed,
            ..GenOptions::default()
        }
    }

    /// The first and last UTC day of the demo's logs.
    pub fn days_covered(&self) -> (chrono::NaiveDate, chrono::NaiveDate) {
        let start = crate::genlogs::default_start_date();
        (
            start,
            start + chrono::Days::new(u64::from(self.days.max(1) - 1)),
        )
    }
}

impl Default for DemoArgs {
    /// The command line's defaults.
    fn default() -> Self {
        DemoArgs {
            days: DEMO_DAYS,
            users: DEMO_USERS,
            seed: DEMO_SEED,
        }
    }
}
