//! Each saved object as a resource of the engine ([`crate::engine`]): read
//! back through the API and normalised ([`super::normalize`]), created or
//! updated by importing it with overwrite. The engine plans and applies them
//! like the index templates; [`resources`] is the entry point.

use super::client::Dashboards;
use super::{SavedObject, check, load, normalize};
use crate::engine::{Crud, Meta, Observed, Resource};
use crate::env::Environment;
use anyhow::bail;
use serde_json::Value;
use std::path::Path;

/// One saved object of `dashboards/objects/`.
pub struct SavedObjectResource {
    /// Named by the object's id (the kind names its type).
    meta: Meta,
    client: Dashboards,
    object: SavedObject,
}

/// The resource kind of a saved-object type.
pub fn kind_of(saved_object_type: &str) -> &'static str {
    match saved_object_type {
        "index-pattern" => "dashboards_index_pattern",
        "search" => "dashboards_search",
        "visualization" => "dashboards_visualization",
        "dashboard" => "dashboards_dashboard",
        _ => "dashboards_saved_object",
    }
}

/// Import order: what is referenced comes before what references it.
fn rank(saved_object_type: &str) -> u8 {
    match saved_object_type {
        "index-pattern" => 0,
        "search" => 1,
        "visualization" => 2,
        _ => 3,
    }
}

impl SavedObjectResource {
    pub fn new(client: Dashboards, object: SavedObject) -> Self {
        SavedObjectResource {
            meta: Meta::new(kind_of(&object.kind), &object.id, object.normalized()),
            client,
            object,
        }
    }

    pub fn object(&self) -> &SavedObject {
        &self.object
    }

    /// Removes the object from Dashboards; false when it was not there.
    /// (Named apart from the `delete` that main's `Resource` trait gains.)
    pub async fn remove(&self) -> anyhow::Result<bool> {
        self.client.delete(&self.object.kind, &self.object.id).await
    }

    async fn import(&self) -> anyhow::Result<()> {
        let imported = self
            .client
            .import(std::slice::from_ref(&self.object))
            .await?;
        if imported.success_count != 1 {
            bail!(
                "importing {}: Dashboards reported {} objects imported, expected 1",
                self.meta.name,
                imported.success_count
            );
        }
        Ok(())
    }
}

impl Crud for SavedObjectResource {
    fn meta(&self) -> &Meta {
        &self.meta
    }

    async fn read(&self) -> anyhow::Result<Option<Observed>> {
        let Some(found) = self.client.get(&self.object.kind, &self.object.id).await? else {
            return Ok(None);
        };
        Ok(Some(Observed {
            state: normalize(
                &self.object.kind,
                &self.object.id,
                &found["attributes"],
                &found["references"],
            ),
            version: found.get("version").cloned().unwrap_or(Value::Null),
            // Every id of dashboards/objects/ is this project's (`ironman-usage-…`).
            owned: true,
        }))
    }

    async fn create(&self) -> anyhow::Result<()> {
        self.import().await
    }

    async fn update(&self, _observed: &Observed) -> anyhow::Result<()> {
        // Import with overwrite replaces the whole object, whatever its version.
        self.import().await
    }

    async fn delete(&self, _observed: &Observed) -> anyhow::Result<()> {
        self.remove().await.map(|_| ())
    }
}

/// The saved objects of `dashboards/objects/` for `env`, checked against the
/// mappings and in import order; empty when the environment has no
/// `dashboards:` section (deploy then skips Dashboards and says so).
pub fn resources(env: &Environment, root: &Path) -> anyhow::Result<Vec<Box<dyn Resource>>> {
    let Some(client) = Dashboards::for_env(env)? else {
        return Ok(Vec::new());
    };
    Ok(checked_objects(env, root)?
        .into_iter()
        .map(|o| Box::new(SavedObjectResource::new(client.clone(), o)) as Box<dyn Resource>)
        .collect())
}

/// What deploy prints when the environment has no Dashboards (None when it has).
pub fn skipped_note(env: &Environment) -> Option<String> {
    env.dashboards.is_none().then(|| {
        format!(
            "{}: no `dashboards:` section, so the Dashboards saved objects are skipped (`cargo xtask dashboards --env {}` prints them as NDJSON for a manual import)",
            env.source.display(),
            env.name
        )
    })
}

/// The rendered objects, in import order, after every check passed.
pub fn checked_objects(env: &Environment, root: &Path) -> anyhow::Result<Vec<SavedObject>> {
    let rendered = load(root, env)?;
    let mappings = check::index_mappings(&crate::mappings::load_documents(root, env)?);
    let problems = check::check(&rendered, &mappings);
    if !problems.is_empty() {
        bail!(
            "the saved objects in dashboards/ have {} problem(s):\n  {}",
            problems.len(),
            problems.join("\n  ")
        );
    }
    let mut objects: Vec<SavedObject> = rendered.into_iter().map(|r| r.object).collect();
    objects.sort_by_key(|o| rank(&o.kind));
    Ok(objects)
}
