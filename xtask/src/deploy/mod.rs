//! `cargo xtask deploy --env <name>`: plan, confirm, apply, plan again.
//!
//! The desired state is declared in `mappings/*.yaml` (rendered for the
//! environment by [`render`]); each declared thing is a [`resource::Resource`]
//! that reads its actual state through the API. Both states are normalised
//! ([`normalize`]) and diffed into a [`Plan`] (data: printed for people, JSON
//! for machines). Applying is idempotent: an unchanged resource makes no
//! write call, and a deploy succeeds only when planning again finds nothing
//! left to do.

pub mod normalize;
pub mod opensearch_resources;
pub mod plan;
pub mod render;
pub mod resource;

use crate::env::{Environment, IsmMode};
use anyhow::Context as _;
use opensearch_resources::Api;
pub use plan::{Action, Change, FieldChange, Plan};
use resource::Resource;
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

/// The OpenSearch resources of one environment: its index templates and
/// ISM policy, ready to plan and apply.
pub struct OpenSearchResources {
    api: Api,
    resources: Vec<Box<dyn Resource>>,
    ism: IsmMode,
}

/// The resources that apply to this cluster, with what was left out.
struct Targets<'a> {
    resources: Vec<&'a dyn Resource>,
    skipped: Vec<String>,
}

impl OpenSearchResources {
    /// Renders `mappings/*.yaml` for `env` and makes its client; no API
    /// call yet, so every configuration error surfaces first.
    pub fn new(env: &Environment, root: &Path) -> anyhow::Result<Self> {
        let documents = render::load_documents(root, env)?;
        let api = Api::new(env.opensearch_client()?);
        let resources = documents
            .iter()
            .map(|doc| opensearch_resources::resource_for(&api, doc))
            .collect();
        Ok(OpenSearchResources {
            api,
            resources,
            ism: env.opensearch.ism,
        })
    }

    /// The client, with its log of calls.
    pub fn api(&self) -> &Api {
        &self.api
    }

    pub fn endpoint(&self) -> &str {
        self.api.endpoint()
    }

    async fn targets(&self) -> anyhow::Result<Targets<'_>> {
        let mut targets = Targets {
            resources: Vec::new(),
            skipped: Vec::new(),
        };
        let ism_missing = match self.ism {
            IsmMode::Required => false,
            IsmMode::IfInstalled => !self.api.has_ism_plugin().await?,
        };
        for resource in &self.resources {
            if ism_missing && resource.kind() == opensearch_resources::ISM_POLICY {
                targets.skipped.push(format!(
                    "{}: skipped: the Index State Management plugin is not installed on {} \
                     (opensearch.ism: if_installed), so indices are kept until deleted by hand",
                    resource.address(),
                    self.endpoint()
                ));
            } else {
                targets.resources.push(resource.as_ref());
            }
        }
        Ok(targets)
    }

    /// Reads every resource and diffs it against its declaration.
    pub async fn plan(&self) -> anyhow::Result<Plan> {
        let targets = self.targets().await?;
        Ok(resource::plan(&targets.resources).await?.plan)
    }

    /// Plans, applies whatever differs, and plans again; fails unless the
    /// second plan is empty.
    pub async fn deploy(&self) -> anyhow::Result<Deployment> {
        let targets = self.targets().await?;
        let planned = resource::plan(&targets.resources).await?;
        self.apply(&targets, planned).await
    }

    async fn apply(
        &self,
        targets: &Targets<'_>,
        planned: resource::Planned,
    ) -> anyhow::Result<Deployment> {
        let writes_before = self.api.writes().len();
        let applied = resource::apply(&targets.resources, &planned).await?;
        let after = if applied.is_empty() {
            planned.plan.clone()
        } else {
            resource::plan(&targets.resources).await?.plan
        };
        let writes = self.api.writes()[writes_before..].to_vec();
        if !after.is_empty() {
            anyhow::bail!(
                "{}: still differs after applying; the server does not keep what was sent (a normalisation missing in xtask/src/deploy/normalize.rs?):\n{after}",
                self.endpoint()
            );
        }
        Ok(Deployment {
            plan: planned.plan,
            applied,
            writes,
            after,
            skipped: targets.skipped.clone(),
        })
    }
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

pub fn run(root: &Path, args: DeployArgs) -> anyhow::Result<()> {
    let env = Environment::load(root, &args.env)?;
    env.ensure_filled_in("")?;
    let resources = OpenSearchResources::new(&env, root)?;
    block_on(async {
        println!(
            "Planning `{}` ({}) against OpenSearch at {} ...",
            env.name,
            env.source.display(),
            resources.endpoint()
        );
        let targets = resources.targets().await?;
        for note in &targets.skipped {
            println!("  {note}");
        }
        let planned = resource::plan(&targets.resources).await?;
        println!("{}", planned.plan);
        if planned.plan.is_empty() {
            println!("No changes: `{}` already matches mappings/.", env.name);
            return Ok(());
        }
        confirm(&env.name, args.auto_approve)?;
        let deployment = resources.apply(&targets, planned).await?;
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

/// Asks y/N on a terminal; refuses when nobody can answer.
fn confirm(env: &str, auto_approve: bool) -> anyhow::Result<()> {
    if auto_approve {
        return Ok(());
    }
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        anyhow::bail!(
            "nothing applied: stdin is not a terminal, so deploy cannot ask for confirmation; review the plan above and run again with --auto-approve"
        );
    }
    print!("Apply these changes to `{env}`? [y/N] ");
    std::io::stdout().flush()?;
    let mut answer = String::new();
    stdin.lock().read_line(&mut answer)?;
    match answer.trim().to_lowercase().as_str() {
        "y" | "yes" => Ok(()),
        _ => anyhow::bail!("nothing applied: not confirmed"),
    }
}
