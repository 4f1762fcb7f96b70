//! The engine: plan (read every resource and diff it against its desired
//! state), apply the plan in order, and plan a destroy. It knows resources
//! only through [`Resource`].

use super::plan::{Action, Change, Plan};
use super::resource::{Observed, Resource};

/// A plan with what was observed, so apply needs no second read.
pub struct Planned {
    pub plan: Plan,
    observed: Vec<Option<Observed>>,
    /// For each change, its resource's position in the planned slice.
    index: Vec<usize>,
}

/// Reads every resource and diffs it against its desired state; a resource
/// no longer wanted is deleted when it exists and xtask owns it.
pub async fn plan(resources: &[&dyn Resource]) -> anyhow::Result<Planned> {
    let mut planned = Planned {
        plan: Plan::default(),
        observed: Vec::with_capacity(resources.len()),
        index: Vec::with_capacity(resources.len()),
    };
    for (i, resource) in resources.iter().enumerate() {
        let actual = resource.read().await?;
        let change = if resource.wanted() {
            Change::between(
                resource.kind(),
                resource.name(),
                actual.as_ref().map(|o| &o.state),
                resource.desired(),
            )
        } else {
            match &actual {
                Some(found) if found.owned => {
                    Change::deleting(resource.kind(), resource.name(), &found.state)
                }
                _ => continue,
            }
        };
        planned
            .plan
            .changes
            .push(change.identified(resource.identifiers()));
        planned.observed.push(actual);
        planned.index.push(i);
    }
    Ok(planned)
}

/// What `destroy` will do: the resources to delete (reverse apply order,
/// aligned with the plan's changes, for [`apply`]) and what it keeps.
pub struct DestroyPlan<'r> {
    pub resources: Vec<&'r dyn Resource>,
    pub planned: Planned,
    /// Found but not made by xtask (no managed-by tag), with why.
    pub kept: Vec<String>,
}

/// Plans deleting every resource that exists and xtask owns.
pub async fn plan_destroy<'r>(resources: &[&'r dyn Resource]) -> anyhow::Result<DestroyPlan<'r>> {
    let mut destroy = DestroyPlan {
        resources: Vec::new(),
        planned: Planned {
            plan: Plan::default(),
            observed: Vec::new(),
            index: Vec::new(),
        },
        kept: Vec::new(),
    };
    for resource in resources.iter().rev() {
        let Some(actual) = resource.read().await? else {
            continue;
        };
        if !actual.owned {
            destroy.kept.push(format!(
                "{}: kept: it exists but does not carry the managed-by tag, so xtask did not create it",
                resource.address()
            ));
            continue;
        }
        destroy.planned.plan.changes.push(
            Change::deleting(resource.kind(), resource.name(), &actual.state)
                .identified(resource.identifiers()),
        );
        destroy.planned.observed.push(Some(actual));
        destroy.planned.index.push(destroy.resources.len());
        destroy.resources.push(*resource);
    }
    Ok(destroy)
}

/// Applies the planned changes in order; returns what was done, one line
/// per resource. Stops at the first failure (what was applied stays).
pub async fn apply(resources: &[&dyn Resource], planned: &Planned) -> anyhow::Result<Vec<String>> {
    let mut applied = Vec::new();
    for ((change, observed), &i) in planned
        .plan
        .changes
        .iter()
        .zip(&planned.observed)
        .zip(&planned.index)
    {
        let resource = resources[i];
        debug_assert_eq!(change.resource, resource.address());
        if change.action != Action::Noop {
            // Progress on stderr: stdout keeps the plan and the summary.
            eprintln!("  {} {} …", change.action, change.resource);
        }
        match (change.action, observed) {
            (Action::Noop, _) => continue,
            (Action::Create, _) => resource.create().await,
            (Action::Update, Some(observed)) => resource.update(observed).await,
            (Action::Update, None) => {
                anyhow::bail!("{}: update planned but nothing was read", change.resource)
            }
            (Action::Delete, Some(observed)) => resource.delete(observed).await,
            (Action::Delete, None) => {
                anyhow::bail!("{}: delete planned but nothing was read", change.resource)
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
