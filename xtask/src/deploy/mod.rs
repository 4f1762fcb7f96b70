//! `cargo xtask diff`, `deploy` and `destroy`: plan, confirm, apply, plan
//! again. This module owns the commands and the resources they drive, one
//! file each: the AWS ones in [`aws`], the OpenSearch ones in [`opensearch`]
//! (with their canonical forms in [`normalize`]); [`stack`] puts them and the
//! Dashboards saved objects ([`crate::dashboards`]) in one ordered list. The
//! engine that plans and applies them is [`crate::engine`].
//!
//! The desired state is declared in the environment and in `mappings/*.yaml`
//! (rendered by [`crate::mappings`]); each declared thing is a resource that
//! reads its actual state through the API. Both states are normalised and
//! diffed into a [`Plan`] (data: printed for people, JSON for machines).
//! Applying is idempotent: an unchanged resource makes no write call, and a
//! deploy succeeds only when planning again finds nothing left to do.

pub mod aws;
pub mod normalize;
pub mod opensearch;
pub mod stack;

pub use crate::engine::{Action, Change, FieldChange, Plan};
use crate::env::Environment;
use anyhow::Context as _;
pub use opensearch::OpenSearchResources;
use std::io::{BufRead as _, IsTerminal as _, Write as _};
use std::path::Path;

#[derive(Debug, clap::Args)]
pub struct DeployArgs {
    /// The environment: a file in infra/environments/ (local, staging, prod).
    #[arg(long, value_name = "NAME")]
    pub env: String,
    /// Apply without asking for confirmation (required when stdin is not a terminal).
    #[arg(long)]
    pub auto_approve: bool,
    #[command(flatten)]
    pub code: CodeArgs,
}

/// What one deploy did.
#[derive(Debug, Clone)]
pub struct Deployment {
    /// The plan that was applied.
    pub plan: Plan,
    /// One line per resource created or updated.
    pub applied: Vec<String>,
    /// Every call that could change something (`PUT /_index_template/x`), in
    /// order; empty when the environment was already up to date.
    pub writes: Vec<String>,
    /// The plan after applying: always empty when the deploy succeeded.
    pub after: Plan,
    /// Declared resources left out, and why (the ISM policy on a cluster
    /// without the plugin, with `opensearch.ism: if_installed`).
    pub skipped: Vec<String>,
}

/// The plan for the environment's OpenSearch resources (read only).
pub async fn plan_opensearch_async(env: &Environment, root: &Path) -> anyhow::Result<Plan> {
    OpenSearchResources::new(env, root)?.plan().await
}

/// Applies the environment's index templates and ISM policy without asking
/// (integration tests, `cargo xtask demo`).
pub async fn deploy_opensearch_async(env: &Environment, root: &Path) -> anyhow::Result<Deployment> {
    OpenSearchResources::new(env, root)?.deploy().await
}

/// [`plan_opensearch_async`] on its own runtime; not from async code.
pub fn plan_opensearch(env: &Environment, root: &Path) -> anyhow::Result<Plan> {
    block_on(plan_opensearch_async(env, root))
}

/// [`deploy_opensearch_async`] on its own runtime; returns the plan that was
/// applied. Not from async code (use the async variant there).
pub fn deploy_opensearch(env: &Environment, root: &Path) -> anyhow::Result<Plan> {
    Ok(block_on(deploy_opensearch_async(env, root))?.plan)
}

fn block_on<T>(future: impl std::future::Future<Output = anyhow::Result<T>>) -> anyhow::Result<T> {
    if tokio::runtime::Handle::try_current().is_ok() {
        anyhow::bail!("called from inside a tokio runtime: use the `_async` variant");
    }
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the tokio runtime")?
        .block_on(future)
}

/// Where the Lambda's code comes from.
#[derive(Debug, Clone, clap::Args)]
pub struct CodeArgs {
    /// Use this zip instead of building the processor (`cargo xtask build`
    /// makes it; CI can build once and pass the artifact).
    #[arg(long, value_name = "ZIP")]
    pub code: Option<std::path::PathBuf>,
}

impl CodeArgs {
    /// The given zip, or a fresh reproducible build.
    pub fn load(&self, root: &Path, env: &Environment) -> anyhow::Result<aws::LambdaCode> {
        match &self.code {
            Some(path) => {
                let zip = std::fs::read(path)
                    .with_context(|| format!("reading the Lambda package {}", path.display()))?;
                Ok(aws::LambdaCode::from_zip(zip, path.display().to_string()))
            }
            None => build_code(root, env),
        }
    }
}

/// Builds the processor's zip for the environment's architecture.
pub fn build_code(root: &Path, env: &Environment) -> anyhow::Result<aws::LambdaCode> {
    let arch = match env.lambda.architecture {
        crate::env::Architecture::X86_64 => crate::build::Arch::X86_64,
        crate::env::Architecture::Arm64 => crate::build::Arch::Arm64,
    };
    let built = crate::build::build_lambda_zip(root, &crate::build::BuildOptions { arch })?;
    let zip = std::fs::read(&built.path)
        .with_context(|| format!("reading the built package {}", built.path.display()))?;
    Ok(aws::LambdaCode::from_zip(
        zip,
        built.path.display().to_string(),
    ))
}

#[derive(Debug, clap::Args)]
pub struct DiffArgs {
    /// The environment: a file in infra/environments/ (local, staging, prod).
    #[arg(long, value_name = "NAME")]
    pub env: String,
    /// Print the plan as JSON (`{"changes":[...]}`), unchanged resources included.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub code: CodeArgs,
}

#[derive(Debug, clap::Args)]
pub struct DestroyArgs {
    /// The environment: a file in infra/environments/ (local, staging, prod).
    #[arg(long, value_name = "NAME")]
    pub env: String,
    /// Destroy without asking for confirmation (required when stdin is not a terminal).
    #[arg(long)]
    pub auto_approve: bool,
    /// Also delete the data indices (request events, session summaries, dead letters).
    #[arg(long)]
    pub delete_data: bool,
}

/// `cargo xtask diff`: 0 when nothing differs, 2 when something does
/// (errors are 1, from main).
pub fn diff(root: &Path, args: DiffArgs) -> anyhow::Result<std::process::ExitCode> {
    let env = Environment::load(root, &args.env)?;
    env.ensure_filled_in("")?;
    let code = args.code.load(root, &env)?;
    block_on(async {
        let stack = stack::Stack::load(root, &env, code).await?;
        stack.check_account().await?;
        eprintln!("Reading `{}` from {} ...", env.name, stack.describe());
        let (plan, skipped) = stack.plan().await?;
        if args.json {
            println!("{}", serde_json::to_string_pretty(&plan.to_json())?);
        } else {
            for note in &skipped {
                println!("  {note}");
            }
            println!("{plan}");
            if plan.is_empty() {
                println!("No changes: `{}` matches the repository.", env.name);
            }
        }
        Ok(if plan.is_empty() {
            std::process::ExitCode::SUCCESS
        } else {
            std::process::ExitCode::from(2)
        })
    })
}

pub fn run(root: &Path, args: DeployArgs) -> anyhow::Result<()> {
    let env = Environment::load(root, &args.env)?;
    env.ensure_filled_in("")?;
    let code = args.code.load(root, &env)?;
    block_on(async {
        let stack = stack::Stack::load(root, &env, code).await?;
        println!(
            "Planning `{}` ({}) against {} ...",
            env.name,
            env.source.display(),
            stack.describe()
        );
        let deployment = stack
            .deploy(
                |plan, skipped| {
                    for note in skipped {
                        println!("  {note}");
                    }
                    println!("{plan}");
                },
                || {
                    confirm(
                        &format!("Apply these changes to `{}`?", env.name),
                        args.auto_approve,
                    )
                },
            )
            .await?;
        if deployment.applied.is_empty() {
            println!("No changes: `{}` already matches the repository.", env.name);
            return Ok(());
        }
        println!("Applied:");
        for line in &deployment.applied {
            println!("  {line}");
        }
        for call in &deployment.writes {
            println!("    {call}");
        }
        println!(
            "Deploy of `{}` complete: planning again finds no changes ({}).",
            env.name,
            deployment.after.summary()
        );
        Ok(())
    })
}

/// `cargo xtask destroy`: removes what xtask made in the environment.
pub fn destroy(root: &Path, args: DestroyArgs) -> anyhow::Result<()> {
    let env = Environment::load(root, &args.env)?;
    env.ensure_filled_in("")?;
    // Deleting needs no code; the package only sets the desired state.
    let code = aws::LambdaCode::from_zip(Vec::new(), "none (destroy)");
    block_on(async {
        let stack = stack::Stack::load(root, &env, code).await?;
        println!("Reading `{}` from {} ...", env.name, stack.describe());
        let done = stack
            .destroy(
                args.delete_data,
                |plan, kept| {
                    for note in kept {
                        println!("  {note}");
                    }
                    println!("{plan}");
                },
                || {
                    confirm(
                        &format!("Delete these resources of `{}`?", env.name),
                        args.auto_approve,
                    )
                },
            )
            .await?;
        for call in &done.writes {
            println!("    {call}");
        }
        for index in &done.deleted_indices {
            println!("    deleted index {index}");
        }
        println!(
            "Destroy of `{}` complete: {} resources deleted{}.",
            env.name,
            done.plan.count(Action::Delete),
            if done.deleted_indices.is_empty() {
                String::new()
            } else {
                format!(", {} data indices deleted", done.deleted_indices.len())
            }
        );
        Ok(())
    })
}

/// Asks y/N on a terminal; refuses when nobody can answer.
fn confirm(question: &str, auto_approve: bool) -> anyhow::Result<()> {
    if auto_approve {
        return Ok(());
    }
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        anyhow::bail!(
            "nothing applied: stdin is not a terminal, so deploy cannot ask for confirmation; review the plan above and run again with --auto-approve"
        );
    }
    print!("{question} [y/N] ");
    std::io::stdout().flush()?;
    let mut answer = String::new();
    stdin.lock().read_line(&mut answer)?;
    match answer.trim().to_lowercase().as_str() {
        "y" | "yes" => Ok(()),
        _ => anyhow::bail!("nothing applied: not confirmed"),
    }
}
