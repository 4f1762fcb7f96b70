//! `cargo xtask demo`: the whole pipeline on this machine. Starts the local
//! stack, deploys the mappings, generates a week of synthetic logs, replays
//! them through the processor, then reads sessions and unique users per day
//! back from OpenSearch and writes the HTML usage report of those days.

use crate::env::Environment;
use crate::genlogs::{GenOptions, generate, write_corpus};
use crate::replay::{event_files, handler_for, print_counts, replay_files};
use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use processor::opensearch::OpenSearch;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;

#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Days of synthetic logs.
    #[arg(long, default_value_t = 7)]
    pub days: u32,
    /// Synthetic users.
    #[arg(long, default_value_t = 40)]
    pub users: u32,
    #[arg(long, default_value_t = 2026)]
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

pub fn run(root: &Path, args: DemoArgs) -> anyhow::Result<()> {
    println!("== 1/5 local stack");
    crate::local::ensure_up(root)?;

    println!("== 2/5 deploy mappings and ISM policy to `local`");
    let env = Environment::load(root, "local")?;
    let plan = crate::deploy::deploy_opensearch(&env, root)?;
    println!("{plan}");

    println!("== 3/5 synthetic logs");
    let out = root.join("target/demo/corpus");
    if out.exists() {
        std::fs::remove_dir_all(&out).with_context(|| format!("clearing {}", out.display()))?;
    }
    let corpus = generate(&GenOptions {
        days: args.days,
        users: args.users,
        seed: args.seed,
        ..GenOptions::default()
    });
    write_corpus(&corpus, &out)?;
    println!(
        "{} Lambda event files in {}",
        corpus.files.len(),
        out.display()
    );

    println!("== 4/5 replay through the processor");
    let handler = Arc::new(handler_for(root, &env, None)?);
    let files = event_files(std::slice::from_ref(&out))?;
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
    let start = crate::genlogs::default_start_date();
    let last = start + chrono::Days::new(u64::from(args.days.max(1) - 1));
    let period = crate::report::Period::new(start, last, "UTC")?;
    let metrics = crate::metrics::Metrics::load(root)?;
    let report = runtime.block_on(crate::report::build(&env, &metrics, &period))?;
    let page = crate::report::write_html(&report, &metrics, &root.join("target/demo"))?;
    println!(
        "Usage report {start} to {last} (UTC): {}\n  (open it in a browser; print it to PDF for the mailed report; `cargo xtask report --help` for other periods and formats)",
        page.display()
    );
    Ok(())
}
