//! `opensearch_index_template`: a composable index template
//! (`_index_template/<name>`), declared by a `mappings/` file.

use super::api::{Api, segment};
use crate::deploy::normalize;
use crate::engine::{Crud, Meta, Observed};
use serde_json::Value;

pub const KIND: &str = "opensearch_index_template";

pub struct IndexTemplate {
    meta: Meta,
    api: Api,
    body: Value,
}

impl IndexTemplate {
    pub fn new(api: Api, name: String, body: Value) -> Self {
        let desired = normalize::index_template(&body);
        IndexTemplate {
            meta: Meta::new(KIND, name, desired),
            api,
            body,
        }
    }

    fn path(&self) -> String {
        format!("/_index_template/{}", segment(&self.meta.name))
    }
}

impl Crud for IndexTemplate {
    fn meta(&self) -> &Meta {
        &self.meta
    }

    async fn read(&self) -> anyhow::Result<Option<Observed>> {
        let path = self.path();
        let response = self.api.send(reqwest::Method::GET, &path, None).await?;
        if response.status == 404 {
            return Ok(None);
        }
        let answer = self.api.client.expect_json("GET", &path, response)?;
        let found = answer["index_templates"]
            .as_array()
            .and_then(|all| all.iter().find(|t| t["name"] == self.meta.name.as_str()));
        Ok(found.map(|t| Observed::owned(normalize::index_template(&t["index_template"]))))
    }

    async fn create(&self) -> anyhow::Result<()> {
        // `create=true`: fail rather than overwrite one made since the plan.
        let path = format!("{}?create=true", self.path());
        self.api
            .expect_ok(reqwest::Method::PUT, &path, Some(&self.body))
            .await?;
        Ok(())
    }

    async fn update(&self, _observed: &Observed) -> anyhow::Result<()> {
        self.api
            .expect_ok(reqwest::Method::PUT, &self.path(), Some(&self.body))
            .await?;
        Ok(())
    }

    async fn delete(&self, _observed: &Observed) -> anyhow::Result<()> {
        self.api
            .expect_ok(reqwest::Method::DELETE, &self.path(), None)
            .await?;
        Ok(())
    }
}
