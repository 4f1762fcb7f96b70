//! `cargo xtask replay --env E PATH...`: feeds Lambda event files through
//! the same handler the Lambda runs, against the environment's OpenSearch.

use crate::env::Environment;
use anyhow::{Context, bail};
use indicatif::{ProgressBar, ProgressStyle};
use processor::config::{PipelineConfig, Rules};
use processor::counts::{Counts, Reason};
use processor::handler::Handler;
use processor::sink::Sink;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Debug, clap::Args)]
pub struct ReplayArgs {
    /// The environment (`infra/environments/<env>.yaml`).
    #[arg(long, value_name = "NAME")]
    pub env: String,
    /// Lambda event files (`{"awslogs":{"data":…}}`); a directory means its
    /// files in name order, subdirectories included.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// Invocations in flight at once (Lambda runs many concurrently too).
    #[arg(long, default_value_t = 4)]
    pub jobs: usize,
    /// The pipeline rules (default: infra/pipeline.yaml).
    #[arg(long)]
    pub pipeline: Option<PathBuf>,
}

/// Every file the paths name, directories expanded in name order (a
/// subdirectory where its name falls: a corpus split by day or stream is
/// replayed whole, not silently in part).
pub fn event_files(paths: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for path in paths {
        let meta = std::fs::metadata(path).with_context(|| format!("{}", path.display()))?;
        if meta.is_dir() {
            files_under(path, 0, &mut files)?;
        } else {
            files.push(path.clone());
        }
    }
    Ok(files)
}

/// Every file under `dir`, in name order, subdirectories where their names
/// fall.
pub fn files_in_tree(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    files_under(dir, 0, &mut files)?;
    Ok(files)
}

/// Deeper than this is taken for a symbolic link loop.
const MAX_DIRECTORY_DEPTH: usize = 32;

fn files_under(dir: &Path, depth: usize, files: &mut Vec<PathBuf>) -> anyhow::Result<()> {
    if depth > MAX_DIRECTORY_DEPTH {
        bail!(
            "{}: more than {MAX_DIRECTORY_DEPTH} directories deep (a symbolic link loop?)",
            dir.display()
        );
    }
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("reading directory {}", dir.display()))?
        .map(|entry| entry.map(|e| e.path()))
        .collect::<Result<_, _>>()
        .with_context(|| format!("reading directory {}", dir.display()))?;
    entries.sort_by(|a, b| a.file_name().cmp(&b.file_name()));
    for entry in entries {
        if entry.is_dir() {
            files_under(&entry, depth + 1, files)?;
        } else if entry.is_file() || is_dangling_link(&entry) {
            // A dangling link is kept so that reading it fails and names
            // it, as it would when given on the command line.
            files.push(entry);
        }
    }
    Ok(())
}

fn is_dangling_link(path: &Path) -> bool {
    path.symlink_metadata()
        .is_ok_and(|m| m.file_type().is_symlink())
        && std::fs::metadata(path).is_err()
}

/// The outcome of a replay.
#[derive(Debug, Default)]
pub struct ReplayReport {
    pub counts: Counts,
    pub files: usize,
    /// Files that could not be read or are not JSON, with the reason.
    pub bad_files: Vec<(PathBuf, String)>,
    /// Files with something dead-lettered (an undecodable payload, a
    /// refused document), and how many of their items.
    pub dead_lettered_files: Vec<(PathBuf, u64)>,
}

/// Replays files with a handler; usable from tests with any environment.
pub async fn replay_files(
    handler: Arc<Handler>,
    files: &[PathBuf],
    jobs: usize,
    progress: &ProgressBar,
) -> anyhow::Result<ReplayReport> {
    let mut report = ReplayReport {
        files: files.len(),
        ..ReplayReport::default()
    };
    let mut tasks = tokio::task::JoinSet::new();
    let mut next = 0;
    let jobs = jobs.max(1);
    loop {
        while tasks.len() < jobs && next < files.len() {
            let path = files[next].clone();
            let handler = handler.clone();
            tasks.spawn(async move {
                let bytes = match tokio::fs::read(&path).await {
                    Ok(bytes) => bytes,
                    Err(e) => return (path, Err(format!("cannot read: {e}"))),
                };
                let event: serde_json::Value = match serde_json::from_slice(&bytes) {
                    Ok(v) => v,
                    Err(e) => return (path, Err(format!("not a JSON Lambda event: {e}"))),
                };
                let deadline = Instant::now() + Duration::from_secs(300);
                let result = handler.handle(&event, deadline).await;
                (path, Ok(result))
            });
            next += 1;
        }
        let Some(joined) = tasks.join_next().await else {
            break;
        };
        let (path, outcome) = joined.context("a replay task panicked")?;
        progress.inc(1);
        match outcome {
            Ok(Ok(counts)) => {
                if counts.dead_lettered > 0 {
                    report
                        .dead_lettered_files
                        .push((path.clone(), counts.dead_lettered));
                }
                report.counts.add(&counts);
            }
            Ok(Err(e)) => {
                tasks.abort_all();
                return Err(anyhow::Error::new(e))
                    .with_context(|| format!("replaying {}", path.display()));
            }
            Err(reason) => {
                progress.suspend(|| eprintln!("error: {}: {reason}", path.display()));
                report.bad_files.push((path, reason));
            }
        }
    }
    report.dead_lettered_files.sort();
    Ok(report)
}

/// Refreshes the environment's indices, so that a search right after a
/// replay sees everything it wrote: the Lambda writes summaries and dead
/// letters without a refresh (they become searchable within the indices'
/// `refresh_interval`), which is right for it but would let a read-back
/// that follows at once miss the last batches.
pub async fn make_searchable(env: &Environment) -> anyhow::Result<()> {
    let indices = env.indices();
    let path = format!(
        "/{}*,{},{}/_refresh?ignore_unavailable=true&allow_no_indices=true",
        indices.request_events_prefix, indices.session_summaries, indices.dead_letters
    );
    env.opensearch_client()?
        .json(http::Method::POST, &path, None)
        .await
        .with_context(|| format!("refreshing the indices of `{}` (POST {path})", env.name))?;
    Ok(())
}

pub fn handler_for(
    root: &Path,
    env: &Environment,
    pipeline: Option<&Path>,
) -> anyhow::Result<Handler> {
    let pipeline_path = pipeline
        .map(Path::to_path_buf)
        .unwrap_or_else(|| root.join("infra/pipeline.yaml"));
    let config = PipelineConfig::from_file(&pipeline_path)?;
    let client = env.opensearch_client()?;
    Ok(Handler::new(
        Rules::compile(&config),
        Sink::new(client, env.indices().clone()),
    ))
}

/// Prints the counts per reason as an aligned table.
pub fn print_counts(counts: &Counts) {
    println!("log events          {:>10}", counts.log_events);
    println!("  kept              {:>10}", counts.kept);
    for reason in Reason::ALL {
        println!("  {:<18}{:>10}", reason.name(), counts.get(reason));
    }
    println!("  duplicate_in_batch{:>10}", counts.duplicate_in_batch);
    println!("request events created {:>7}", counts.events_created);
    println!("request events existing {:>6}", counts.events_existing);
    println!(
        "  backfilled into read-only days {:>3}",
        counts.events_backfilled
    );
    println!("sessions written    {:>10}", counts.sessions_written);
    println!("sessions unchanged  {:>10}", counts.sessions_unchanged);
    println!("control messages    {:>10}", counts.control_messages);
    println!("dead-lettered       {:>10}", counts.dead_lettered);
    println!("retries             {:>10}", counts.retries);
    println!("late events         {:>10}", counts.late_events);
    println!("tally changes       {:>10}", counts.tally_changes);
    println!("OpenSearch requests {:>10}", counts.opensearch_requests);
    println!("documents read      {:>10}", counts.documents_read);
}

/// Fails at once, saying how to fix it, when the environment's OpenSearch
/// does not answer: otherwise every file would spend its whole deadline
/// retrying the connection, in silence.
pub(crate) async fn require_reachable(env: &Environment) -> anyhow::Result<()> {
    let client = env.opensearch_client()?;
    let call = client.json(http::Method::GET, "/", None);
    match tokio::time::timeout(Duration::from_secs(15), call).await {
        Ok(Ok(_)) => Ok(()),
        // An HTTP answer, even a refusal (a role allowed to write documents
        // but not to read `GET /`), means the cluster is there.
        Ok(Err(processor::opensearch::OpenSearchError::Status { .. })) => Ok(()),
        // The client's error names the URL and, on loopback, `local up`.
        Ok(Err(error)) => bail!("the OpenSearch of `{}`: {error}", env.name),
        Err(_) => bail!(
            "the OpenSearch of `{}` at {} did not answer within 15 s: check the endpoint, the network path and the credentials",
            env.name,
            env.opensearch_endpoint()?
        ),
    }
}

/// The environment's index templates that its OpenSearch lacks; `None`
/// when these credentials may not read templates (a role that may only
/// write documents). Without the templates the first invocation creates
/// each index with dynamic mappings, which no template changes
/// afterwards: keywords become text, the internal state index gets a
/// field per key, and the report's aggregations no longer fit.
pub async fn missing_templates(
    env: &Environment,
    root: &Path,
) -> anyhow::Result<Option<Vec<String>>> {
    let client = env.opensearch_client()?;
    let mut missing = Vec::new();
    for document in crate::mappings::load_documents(root, env)? {
        if document.kind != crate::mappings::DocumentKind::IndexTemplate {
            continue;
        }
        let path = format!("/_index_template/{}", document.name);
        match client.json(http::Method::GET, &path, None).await {
            Ok(_) => {}
            Err(processor::opensearch::OpenSearchError::Status { status: 404, .. }) => {
                missing.push(document.name)
            }
            Err(processor::opensearch::OpenSearchError::Status {
                status: 401 | 403, ..
            }) => return Ok(None),
            Err(error) => {
                return Err(error).with_context(|| {
                    format!(
                        "checking the index templates of `{}` (GET {path})",
                        env.name
                    )
                });
            }
        }
    }
    Ok(Some(missing))
}

/// Puts the templates a loopback development cluster lacks (as `deploy`
/// would); refuses to write into any other environment that lacks them.
/// Returns the templates that were missing and what was applied.
pub async fn require_templates(
    env: &Environment,
    root: &Path,
) -> anyhow::Result<(Vec<String>, Vec<String>)> {
    let Some(missing) = missing_templates(env, root).await? else {
        eprintln!(
            "warning: these credentials may not read the index templates of `{}`: not checked (`cargo xtask diff --env {}` shows them)",
            env.name, env.name
        );
        return Ok((Vec::new(), Vec::new()));
    };
    if missing.is_empty() {
        return Ok((missing, Vec::new()));
    }
    if env.opensearch.auth != crate::env::AuthKind::None {
        bail!("{}", refusal(env, &missing));
    }
    let deployment = crate::deploy::deploy_opensearch_async(env, root)
        .await
        .with_context(|| format!("putting the index templates of `{}`", env.name))?;
    Ok((missing, deployment.applied))
}

fn refusal(env: &Environment, missing: &[String]) -> String {
    format!(
        "the OpenSearch of `{}` has no index template {}: the indices this replay would create would take dynamic mappings that no template changes afterwards. Run `cargo xtask deploy --env {}` first.",
        env.name,
        missing
            .iter()
            .map(|name| format!("`{name}`"))
            .collect::<Vec<_>>()
            .join(", "),
        env.name
    )
}

fn plural(n: usize, one: &str) -> String {
    if n == 1 {
        format!("{n} {one}")
    } else {
        format!("{n} {one}s")
    }
}

pub fn run(root: &Path, args: ReplayArgs) -> anyhow::Result<()> {
    let env = crate::aws::load_with_endpoint(root, &args.env)?;
    let handler = Arc::new(handler_for(root, &env, args.pipeline.as_deref())?);
    let files = event_files(&args.paths)?;
    if files.is_empty() {
        bail!("no files to replay in {:?}", args.paths);
    }
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(require_reachable(&env))?;
    let (missing, applied) = runtime.block_on(require_templates(&env, root))?;
    if !missing.is_empty() {
        println!(
            "`{}` had no index template {}; applied, as `cargo xtask deploy` would:",
            env.name,
            missing.join(", ")
        );
        for line in applied {
            println!("  {line}");
        }
    }
    let progress = ProgressBar::new(files.len() as u64);
    progress.set_style(
        ProgressStyle::with_template(
            "{spinner} replay [{bar:30}] {pos}/{len} files {elapsed} (eta {eta})",
        )
        .expect("valid template")
        .progress_chars("=> "),
    );
    let started = Instant::now();
    let report = runtime.block_on(replay_files(handler, &files, args.jobs, &progress))?;
    progress.finish_and_clear();
    println!(
        "replayed {} of {} into {} ({}) in {:.1}s",
        report.files - report.bad_files.len(),
        plural(report.files, "file"),
        env.name,
        env.opensearch_endpoint()?,
        started.elapsed().as_secs_f64()
    );
    print_counts(&report.counts);
    if !report.dead_lettered_files.is_empty() {
        const SHOWN: usize = 10;
        println!(
            "dead letters came from {} (query `{}` for the reasons):",
            plural(report.dead_lettered_files.len(), "file"),
            env.indices().dead_letters
        );
        for (path, n) in report.dead_lettered_files.iter().take(SHOWN) {
            println!("  {} ({n})", path.display());
        }
        if report.dead_lettered_files.len() > SHOWN {
            println!("  … and {} more", report.dead_lettered_files.len() - SHOWN);
        }
    }
    // What was written stays written: a failed refresh only delays when a
    // search sees the last of it.
    if let Err(error) = runtime.block_on(make_searchable(&env)) {
        eprintln!(
            "warning: {error:#}; the last writes become searchable within the indices' refresh_interval"
        );
    }
    if !report.bad_files.is_empty() {
        bail!(
            "{} of {} could not be replayed (see the errors above); every other file was",
            report.bad_files.len(),
            plural(report.files, "file")
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_remote_environment_without_templates_is_refused_with_what_to_run() {
        let env = Environment::load(&crate::project_root(), "staging").unwrap();
        let message = refusal(&env, &["a-template".into(), "b".into()]);
        assert!(
            message.contains("`staging`") && message.contains("`a-template`, `b`"),
            "{message}"
        );
        assert!(
            message.contains("cargo xtask deploy --env staging"),
            "{message}"
        );
    }

    #[test]
    fn directories_expand_to_their_files_in_name_order_subdirectories_included() {
        let root = std::env::temp_dir().join(format!("replay-files-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        for file in ["b.json", "a/2.json", "a/1.json", "c/d/e.json", "0.json"] {
            let path = root.join(file);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, "{}").unwrap();
        }
        std::fs::create_dir_all(root.join("empty")).unwrap();
        // A dangling link is listed, so that reading it fails and names it.
        std::os::unix::fs::symlink(root.join("gone.json"), root.join("a/3.json")).unwrap();
        let single = root.join("b.json");
        let files = event_files(&[root.clone(), single.clone()]).unwrap();
        let names: Vec<String> = files
            .iter()
            .map(|f| f.strip_prefix(&root).unwrap().display().to_string())
            .collect();
        assert_eq!(
            names,
            [
                "0.json",
                "a/1.json",
                "a/2.json",
                "a/3.json",
                "b.json",
                "c/d/e.json",
                "b.json"
            ]
        );
        std::fs::remove_dir_all(&root).unwrap();
    }
}
