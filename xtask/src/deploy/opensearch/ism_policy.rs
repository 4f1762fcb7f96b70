//! `opensearch_ism_policy`: an Index State Management policy
//! (`_plugins/_ism/policies/<id>`), declared by a `mappings/` file; updated
//! with optimistic concurrency (`if_seq_no`, `if_primary_term`).

use super::api::{Api, segment};
use crate::deploy::normalize;
use crate::engine::{Crud, Meta, Observed};
use serde_json::{Value, json};

pub const KIND: &str = "opensearch_ism_policy";

pub struct IsmPolicy {
    /// Named by the policy id.
    meta: Meta,
    api: Api,
    body: Value,
}

impl IsmPolicy {
    pub fn new(api: Api, id: String, body: Value) -> Self {
        let desired = normalize::ism_policy(&body);
        IsmPolicy {
            meta: Meta::new(KIND, id, desired),
            api,
            body,
        }
    }

    fn path(&self) -> String {
        format!("/_plugins/_ism/policies/{}", segment(&self.meta.name))
    }
}

impl Crud for IsmPolicy {
    fn meta(&self) -> &Meta {
        &self.meta
    }

    async fn read(&self) -> anyhow::Result<Option<Observed>> {
        let path = self.path();
        let response = self.api.send(reqwest::Method::GET, &path, None).await?;
        let text = response.text();
        if text.contains("no handler found for uri") {
            anyhow::bail!(
                "{}: the Index State Management plugin is not installed (GET {path} answered HTTP {}: {text}); \
                 Amazon OpenSearch Service domains have it, and so does `cargo xtask local up`",
                self.api.endpoint(),
                response.status
            );
        }
        if response.status == 404 {
            return Ok(None);
        }
        let answer = self.api.client.expect_json("GET", &path, response)?;
        let (Some(seq_no), Some(primary_term)) =
            (answer["_seq_no"].as_i64(), answer["_primary_term"].as_i64())
        else {
            anyhow::bail!(
                "GET {path}: expected `_seq_no` and `_primary_term` in the answer, got {answer}"
            );
        };
        Ok(Some(Observed {
            state: normalize::ism_policy(&answer),
            version: json!({"seq_no": seq_no, "primary_term": primary_term}),
            owned: true,
        }))
    }

    async fn create(&self) -> anyhow::Result<()> {
        self.api
            .expect_ok(reqwest::Method::PUT, &self.path(), Some(&self.body))
            .await?;
        Ok(())
    }

    async fn update(&self, observed: &Observed) -> anyhow::Result<()> {
        let path = format!(
            "{}?if_seq_no={}&if_primary_term={}",
            self.path(),
            observed.version["seq_no"],
            observed.version["primary_term"]
        );
        self.api
            .expect_ok(reqwest::Method::PUT, &path, Some(&self.body))
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
