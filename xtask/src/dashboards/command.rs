//! `cargo xtask dashboards`: the saved objects of an environment, checked,
//! as the NDJSON Dashboards imports (stdout or a file, for a manual import
//! through Dashboards' UI), or planned and applied through the API
//! (`--plan`, `--apply`) on their own. `deploy` and `diff` already include
//! them: the stack plans and applies the same saved-object resources
//! (`resource.rs`) with the rest, after the index templates.

use super::resource::{SavedObjectResource, checked_objects};
use super::{client::Dashboards, to_ndjson};
use crate::engine::{Resource, apply, plan};
use crate::env::Environment;
use anyhow::Context as _;
use std::path::{Path, PathBuf};

#[derive(Debug, clap::Args)]
pub struct DashboardsArgs {
    /// The environment (infra/environments/<env>.yaml).
    #[arg(long, value_name = "NAME")]
    pub env: String,
    /// Write the NDJSON here instead of stdout.
    #[arg(long, conflicts_with_all = ["plan", "apply"])]
    pub out: Option<PathBuf>,
    /// Compare each object in the environment's Dashboards with its declaration.
    #[arg(long)]
    pub plan: bool,
    /// Plan, then import what differs, then plan again (must be empty).
    #[arg(long)]
    pub apply: bool,
}

pub fn run(root: &Path, args: DashboardsArgs) -> anyhow::Result<()> {
    let env = Environment::load(root, &args.env)?;
    let objects = checked_objects(&env, root)?;
    if !args.plan && !args.apply {
        let ndjson = to_ndjson(&objects);
        match &args.out {
            Some(path) => {
                std::fs::write(path, ndjson)
                    .with_context(|| format!("cannot write {}", path.display()))?;
                eprintln!(
                    "wrote {} saved objects to {}",
                    objects.len(),
                    path.display()
                );
            }
            None => print!("{ndjson}"),
        }
        return Ok(());
    }
    let Some(client) = Dashboards::for_env(&env)? else {
        anyhow::bail!(
            "{}: no `dashboards:` section, so there is no Dashboards to compare with (`cargo xtask dashboards --env {}` prints the NDJSON)",
            env.source.display(),
            env.name
        );
    };
    let resources: Vec<SavedObjectResource> = objects
        .into_iter()
        .map(|o| SavedObjectResource::new(client.clone(), o))
        .collect();
    let all: Vec<&dyn Resource> = resources.iter().map(|r| r as &dyn Resource).collect();
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async {
        let planned = plan(&all).await?;
        println!("{}", planned.plan);
        println!("{}", planned.plan.summary());
        if args.apply && !planned.plan.is_empty() {
            for line in apply(&all, &planned).await? {
                println!("{line}");
            }
            let after = plan(&all).await?;
            if !after.plan.is_empty() {
                anyhow::bail!("after applying, Dashboards still differs:\n{}", after.plan);
            }
            println!("applied; Dashboards now matches dashboards/");
        }
        Ok(())
    })
}
