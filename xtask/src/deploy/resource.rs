//! The resource model: each managed thing knows how to read its actual
//! state (normalised), and how to create or update itself. The engine plans
//! (read everything, diff against desired) and applies, in order.
//!
//! There is no state file: a resource is found by its name through the API.

use super::plan::{Action, Change, Plan};
use serde_json::Value;
use std::future::Future;
use std::pin::Pin;

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What a read found.
#[derive(Debug, Clone, PartialEq)]
pub struct Observed {
    /// The actual state, normalised like [`Resource::desired`].
    pub state: Value,
    /// What an update must send back for optimistic concurrency (ISM:
    /// `_seq_no` and `_primary_term`); null when the API has none.
    pub version: Value,
}

pub trait Resource: Send + Sync {
    /// The resource type, such as `opensearch_index_template`.
    fn kind(&self) -> &'static str;
    /// The name the API knows it by.
    fn name(&self) -> &str;
    /// The desired state, normalised.
    fn desired(&self) -> &Value;
    /// The actual state, or None when the resource does not exist.
    fn read(&self) -> BoxFuture<'_, anyhow::Result<Option<Observed>>>;
    fn create(&self) -> BoxFuture<'_, anyhow::Result<()>>;
    fn update<'a>(&'a self, observed: &'a Observed) -> BoxFuture<'a, anyhow::Result<()>>;

    fn address(&self) -> String {
        format!("{}.{}", self.kind(), self.name())
    }
}

/// A plan with what was observed, so apply needs no second read.
pub struct Planned {
    pub plan: Plan,
    observed: Vec<Option<Observed>>,
}

/// Reads every resource and diffs it against its desired state.
pub async fn plan(resources: &[&dyn Resource]) -> anyhow::Result<Planned> {
    let mut changes = Vec::with_capacity(resources.len());
    let mut observed = Vec::with_capacity(resources.len());
    for resource in resources {
        let actual = resource.read().await?;
        changes.push(Change::between(
            resource.kind(),
            resource.name(),
            actual.as_ref().map(|o| &o.state),
            resource.desired(),
        ));
        observed.push(actual);
    }
    Ok(Planned {
        plan: Plan { changes },
        observed,
    })
}

/// Applies the planned changes in order; returns what was done, one line
/// per resource. Stops at the first failure (what was applied stays).
pub async fn apply(resources: &[&dyn Resource], planned: &Planned) -> anyhow::Result<Vec<String>> {
    let mut applied = Vec::new();
    for ((resource, change), observed) in resources
        .iter()
        .zip(&planned.plan.changes)
        .zip(&planned.observed)
    {
        debug_assert_eq!(change.resource, resource.address());
        match (change.action, observed) {
            (Action::Noop, _) => continue,
            (Action::Create, _) => resource.create().await,
            (Action::Update, Some(observed)) => resource.update(observed).await,
            (Action::Update, None) => {
                anyhow::bail!("{}: update planned but nothing was read", change.resource)
            }
            (Action::Delete, _) => {
                anyhow::bail!("{}: deleting is not supported yet", change.resource)
            }
        }
        .map_err(|err| {
            let done = if applied.is_empty() {
                "nothing was applied before it".to_string()
            } else {
                format!("applied before it: {}", applied.join("; "))
            };
            err.context(format!(
                "{} {} failed ({done})",
                change.action, change.resource
            ))
        })?;
        applied.push(format!(
            "{} {} ({} field{})",
            change.action,
            change.resource,
            change.fields.len(),
            if change.fields.len() == 1 { "" } else { "s" }
        ));
    }
    Ok(applied)
}
