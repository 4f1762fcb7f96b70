//! The whole pipeline of one environment as one list of resources: the AWS
//! resources, then the OpenSearch ones (the function must exist before its
//! role is mapped into OpenSearch; the templates before data arrives, which
//! only happens once the subscription filter streams).

use super::aws::{self as aws_resources, Context, LambdaCode};
use super::{Deployment, OpenSearchResources};
use crate::aws::{AwsClients, resolve_opensearch_endpoint};
use crate::engine::{self, Plan, Resource};
use crate::env::Environment;
use std::path::Path;
use std::sync::Arc;

pub struct Stack {
    pub env: Environment,
    ctx: Arc<Context>,
    aws: AwsClients,
    aws_resources: Vec<Box<dyn Resource>>,
    opensearch: OpenSearchResources,
    /// The Dashboards saved objects (none without a `dashboards:` section).
    dashboards: Vec<Box<dyn Resource>>,
    dashboards_note: Option<String>,
}

/// What `destroy` did.
#[derive(Debug, Clone)]
pub struct Destruction {
    pub plan: Plan,
    pub kept: Vec<String>,
    pub writes: Vec<String>,
    /// Data indices deleted (`--delete-data`).
    pub deleted_indices: Vec<String>,
}

impl Stack {
    /// Clients, the OpenSearch endpoint (looked up when the environment
    /// names only the domain), and every resource; reads nothing else yet.
    pub async fn load(root: &Path, env: &Environment, code: LambdaCode) -> anyhow::Result<Stack> {
        env.ensure_filled_in("")?;
        let aws = AwsClients::new(env).await?;
        let mut env = env.clone();
        resolve_opensearch_endpoint(&mut env, &aws).await?;
        let opensearch = OpenSearchResources::new(&env, root)?;
        let dashboards = crate::dashboards::resources(&env, root)?;
        let dashboards_note = crate::dashboards::resource::skipped_note(&env);
        let ctx = Arc::new(Context {
            aws: aws.clone(),
            env: env.clone(),
            code,
        });
        Ok(Stack {
            aws_resources: aws_resources::resources(&ctx),
            ctx,
            env,
            aws,
            opensearch,
            dashboards,
            dashboards_note,
        })
    }

    pub fn aws(&self) -> &AwsClients {
        &self.aws
    }

    /// Where the plan is read from, for the operator.
    pub fn describe(&self) -> String {
        format!(
            "{} and OpenSearch at {}",
            self.aws.target,
            self.opensearch.endpoint()
        )
    }

    /// Every write call made so far (AWS and OpenSearch).
    pub fn writes(&self) -> Vec<String> {
        let mut writes = self.aws.writes();
        writes.extend(self.opensearch.api().writes());
        writes
    }

    /// How long each write log is now (AWS, OpenSearch), for
    /// [`Stack::writes_since`]: [`Stack::writes`] concatenates the two
    /// logs, so an offset into it would be wrong once both grow.
    fn write_marks(&self) -> (usize, usize) {
        (
            self.aws.writes().len(),
            self.opensearch.api().writes().len(),
        )
    }

    /// The write calls made since `marks` (AWS ones, then OpenSearch ones).
    fn writes_since(&self, (aws, opensearch): (usize, usize)) -> Vec<String> {
        let mut writes = self.aws.writes().split_off(aws);
        writes.extend(self.opensearch.api().writes().split_off(opensearch));
        writes
    }

    /// What xtask made that the environment no longer declares.
    async fn orphans(&self) -> anyhow::Result<Vec<Box<dyn Resource>>> {
        aws_resources::orphans(&self.ctx).await
    }

    /// The resources in apply order (with `orphans` to delete after the
    /// AWS ones), and the notes on what is left out.
    async fn targets<'a>(
        &'a self,
        orphans: &'a [Box<dyn Resource>],
    ) -> anyhow::Result<(Vec<&'a dyn Resource>, Vec<String>)> {
        let os = self.opensearch.targets().await?;
        let mut all: Vec<&dyn Resource> = self.aws_resources.iter().map(|r| r.as_ref()).collect();
        all.extend(orphans.iter().map(|r| r.as_ref()));
        all.extend(os.resources);
        // Saved objects last: their index patterns name indices the
        // templates above shape.
        all.extend(self.dashboards.iter().map(|r| r.as_ref()));
        let mut skipped = os.skipped;
        skipped.extend(self.dashboards_note.clone());
        Ok((all, skipped))
    }

    /// Fails unless the caller's credentials are the environment's account.
    pub async fn check_account(&self) -> anyhow::Result<()> {
        self.aws.check_account(&self.env).await
    }

    /// Reads everything and diffs it; the notes say what was left out.
    pub async fn plan(&self) -> anyhow::Result<(Plan, Vec<String>)> {
        let orphans = self.orphans().await?;
        let (targets, skipped) = self.targets(&orphans).await?;
        Ok((engine::plan(&targets).await?.plan, skipped))
    }

    /// Checks the account, plans, asks `confirm` (skipped when nothing
    /// differs), applies in order and plans again: fails unless nothing is
    /// left to do. `on_plan` sees the plan before confirmation.
    pub async fn deploy(
        &self,
        on_plan: impl FnOnce(&Plan, &[String]),
        confirm: impl FnOnce() -> anyhow::Result<()>,
    ) -> anyhow::Result<Deployment> {
        self.check_account().await?;
        let orphans = self.orphans().await?;
        let (targets, skipped) = self.targets(&orphans).await?;
        let planned = engine::plan(&targets).await?;
        on_plan(&planned.plan, &skipped);
        let writes_before = self.write_marks();
        if planned.plan.is_empty() {
            return Ok(Deployment {
                after: planned.plan.clone(),
                plan: planned.plan,
                applied: Vec::new(),
                writes: Vec::new(),
                skipped,
            });
        }
        confirm()?;
        let applied = engine::apply(&targets, &planned).await?;
        let after = engine::plan(&targets).await?.plan;
        let writes = self.writes_since(writes_before);
        if !after.is_empty() {
            anyhow::bail!(
                "`{}` still differs after applying (the service does not keep what was sent, or something changed it meanwhile; a missing normalisation in xtask/src/deploy/?):\n{after}",
                self.env.name
            );
        }
        Ok(Deployment {
            plan: planned.plan,
            applied,
            writes,
            after,
            skipped,
        })
    }

    /// Deletes what xtask owns, in reverse order; data indices only with
    /// `delete_data`.
    pub async fn destroy(
        &self,
        delete_data: bool,
        on_plan: impl FnOnce(&Plan, &[String]),
        confirm: impl FnOnce() -> anyhow::Result<()>,
    ) -> anyhow::Result<Destruction> {
        self.check_account().await?;
        let orphans = self.orphans().await?;
        let (targets, _skipped) = self.targets(&orphans).await?;
        let destroy = engine::plan_destroy(&targets).await?;
        let data = if delete_data {
            self.opensearch.data_indices().await?
        } else {
            Vec::new()
        };
        let mut kept = destroy.kept.clone();
        if !delete_data {
            kept.push(format!(
                "the data indices ({}*, {}, {}) are kept: pass --delete-data to delete them",
                self.env.indices.request_events_prefix,
                self.env.indices.session_summaries,
                self.env.indices.dead_letters
            ));
        }
        on_plan(&destroy.planned.plan, &kept);
        if destroy.planned.plan.is_empty() && data.is_empty() {
            return Ok(Destruction {
                plan: destroy.planned.plan,
                kept,
                writes: Vec::new(),
                deleted_indices: Vec::new(),
            });
        }
        confirm()?;
        let writes_before = self.write_marks();
        engine::apply(&destroy.resources, &destroy.planned).await?;
        self.opensearch.delete_indices(&data).await?;
        Ok(Destruction {
            plan: destroy.planned.plan,
            kept,
            writes: self.writes_since(writes_before),
            deleted_indices: data,
        })
    }
}
