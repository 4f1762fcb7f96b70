//! The OpenSearch side of the pipeline: the resources `mappings/*.yaml`
//! declares (index templates, ISM policies) and, with fine-grained access
//! control, the security role and its mapping; one file per resource, the
//! client they share in [`api`], their canonical forms in
//! [`super::normalize`]. [`OpenSearchResources`] assembles them for an
//! environment.

pub mod api;
pub mod index_template;
pub mod ism_policy;
pub mod security;

pub use api::Api;
pub use index_template::IndexTemplate;
pub use ism_policy::IsmPolicy;

use super::Deployment;
use crate::engine::{self, Plan, Resource};
use crate::env::{Environment, IsmMode};
use crate::mappings::{Document, DocumentKind};
use std::path::Path;

/// The resource a mapping file declares.
pub fn resource_for(api: &Api, document: &Document) -> Box<dyn Resource> {
    match document.kind {
        DocumentKind::IndexTemplate => Box::new(IndexTemplate::new(
            api.clone(),
            document.name.clone(),
            document.body.clone(),
        )),
        DocumentKind::IsmPolicy => Box::new(IsmPolicy::new(
            api.clone(),
            document.name.clone(),
            document.body.clone(),
        )),
    }
}

/// The OpenSearch resources of one environment: its index templates and
/// ISM policy, ready to plan and apply.
pub struct OpenSearchResources {
    api: Api,
    resources: Vec<Box<dyn Resource>>,
    ism: IsmMode,
    indices: processor::config::Indices,
}

/// The resources that apply to this cluster, with what was left out.
pub(super) struct Targets<'a> {
    pub(super) resources: Vec<&'a dyn Resource>,
    pub(super) skipped: Vec<String>,
}

impl OpenSearchResources {
    /// Renders `mappings/*.yaml` for `env` and makes its client; no API
    /// call yet, so every configuration error surfaces first.
    pub fn new(env: &Environment, root: &Path) -> anyhow::Result<Self> {
        let documents = crate::mappings::load_documents(root, env)?;
        let api = Api::new(env.opensearch_client()?);
        let mut resources: Vec<Box<dyn Resource>> = documents
            .iter()
            .map(|doc| resource_for(&api, doc))
            .collect();
        if env.opensearch.fine_grained_access_control {
            resources.push(Box::new(security::SecurityDocument::role(api.clone(), env)));
            resources.push(Box::new(security::SecurityDocument::mapping(
                api.clone(),
                env,
            )));
        }
        Ok(OpenSearchResources {
            api,
            resources,
            ism: env.opensearch.ism,
            indices: env.indices().clone(),
        })
    }

    /// The client, with its log of calls.
    pub fn api(&self) -> &Api {
        &self.api
    }

    pub fn endpoint(&self) -> &str {
        self.api.endpoint()
    }

    /// The data indices that exist: the daily request events, the session
    /// summaries and their state, and the dead letters.
    pub async fn data_indices(&self) -> anyhow::Result<Vec<String>> {
        let i = &self.indices;
        let path = format!(
            "/{}*,{},{},{}/_settings?ignore_unavailable=true&allow_no_indices=true&expand_wildcards=all",
            i.request_events_prefix,
            i.session_summaries,
            i.session_state(),
            i.dead_letters
        );
        let answer = self.api.get_json(&path).await?;
        let mut names: Vec<String> = answer
            .as_object()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default();
        names.sort();
        Ok(names)
    }

    /// Deletes these indices and their documents.
    pub async fn delete_indices(&self, names: &[String]) -> anyhow::Result<()> {
        for name in names {
            self.api.delete(&format!("/{name}")).await?;
        }
        Ok(())
    }

    pub(super) async fn targets(&self) -> anyhow::Result<Targets<'_>> {
        let mut targets = Targets {
            resources: Vec::new(),
            skipped: Vec::new(),
        };
        let ism_missing = match self.ism {
            IsmMode::Required => false,
            IsmMode::IfInstalled => !self.api.has_ism_plugin().await?,
        };
        for resource in &self.resources {
            if ism_missing && resource.kind() == ism_policy::KIND {
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
        Ok(engine::plan(&targets.resources).await?.plan)
    }

    /// Plans, applies whatever differs, and plans again; fails unless the
    /// second plan is empty.
    pub async fn deploy(&self) -> anyhow::Result<Deployment> {
        let targets = self.targets().await?;
        let planned = engine::plan(&targets.resources).await?;
        self.apply(&targets, planned).await
    }

    async fn apply(
        &self,
        targets: &Targets<'_>,
        planned: engine::Planned,
    ) -> anyhow::Result<Deployment> {
        let writes_before = self.api.writes().len();
        let applied = engine::apply(&targets.resources, &planned).await?;
        let after = if applied.is_empty() {
            planned.plan.clone()
        } else {
            engine::plan(&targets.resources).await?.plan
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
