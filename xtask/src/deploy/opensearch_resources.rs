//! OpenSearch resources: index templates and ISM policies, read and written
//! through the HTTP API.

use super::normalize;
use super::resource::{BoxFuture, Observed, Resource};
use crate::mappings::{Document, DocumentKind};
use processor::opensearch::{OpenSearch, Response};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};

/// The OpenSearch client, keeping a log of every call (`GET /x`), so a
/// deploy can say, and a test can prove, which writes it made.
#[derive(Clone, Debug)]
pub struct Api {
    client: OpenSearch,
    calls: Arc<Mutex<Vec<String>>>,
}

impl Api {
    pub fn new(client: OpenSearch) -> Self {
        Api {
            client,
            calls: Arc::default(),
        }
    }

    pub fn endpoint(&self) -> &str {
        self.client.endpoint()
    }

    /// Every call so far, `METHOD /path?query`.
    pub fn calls(&self) -> Vec<String> {
        self.calls
            .lock()
            .expect("the call log is never poisoned")
            .clone()
    }

    /// The calls that could change something (all but GET and HEAD).
    pub fn writes(&self) -> Vec<String> {
        self.calls()
            .into_iter()
            .filter(|c| !c.starts_with("GET ") && !c.starts_with("HEAD "))
            .collect()
    }

    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> anyhow::Result<Response> {
        self.calls
            .lock()
            .expect("the call log is never poisoned")
            .push(format!("{method} {path}"));
        let payload = body.map(|b| {
            (
                serde_json::to_vec(b).expect("JSON values serialize"),
                "application/json",
            )
        });
        Ok(self.client.send(method, path, payload).await?)
    }

    /// A 2xx JSON answer, or an error naming the call and the server's reason.
    async fn expect_ok(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> anyhow::Result<Value> {
        let response = self.send(method.clone(), path, body).await?;
        Ok(self.client.expect_json(method.as_str(), path, response)?)
    }
}

impl Api {
    /// GET, expecting a 2xx JSON answer.
    pub async fn get_json(&self, path: &str) -> anyhow::Result<Value> {
        self.expect_ok(reqwest::Method::GET, path, None).await
    }

    /// GET; None on 404.
    pub async fn get_json_or_404(&self, path: &str) -> anyhow::Result<Option<Value>> {
        let response = self.send(reqwest::Method::GET, path, None).await?;
        if response.status == 404 {
            return Ok(None);
        }
        Ok(Some(self.client.expect_json("GET", path, response)?))
    }

    /// PUT a JSON body, expecting a 2xx answer.
    pub async fn put_json(&self, path: &str, body: &Value) -> anyhow::Result<Value> {
        self.expect_ok(reqwest::Method::PUT, path, Some(body)).await
    }

    /// DELETE, expecting a 2xx answer.
    pub async fn delete(&self, path: &str) -> anyhow::Result<Value> {
        self.expect_ok(reqwest::Method::DELETE, path, None).await
    }
}

/// The resource kinds defined here.
pub const INDEX_TEMPLATE: &str = "opensearch_index_template";
pub const ISM_POLICY: &str = "opensearch_ism_policy";

impl Api {
    /// Whether the Index State Management plugin answers on this cluster.
    pub async fn has_ism_plugin(&self) -> anyhow::Result<bool> {
        let plugins = self
            .expect_ok(reqwest::Method::GET, "/_cat/plugins?format=json", None)
            .await?;
        Ok(plugins.as_array().is_some_and(|all| {
            all.iter().any(|p| {
                p["component"].as_str().is_some_and(|c| {
                    c.ends_with("index-management") || c.ends_with("index_management")
                })
            })
        }))
    }
}

/// Percent-encodes one path segment.
fn segment(name: &str) -> String {
    let mut out = String::new();
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A composable index template (`_index_template/<name>`).
pub struct IndexTemplate {
    api: Api,
    name: String,
    body: Value,
    desired: Value,
}

impl IndexTemplate {
    pub fn new(api: Api, name: String, body: Value) -> Self {
        let desired = normalize::index_template(&body);
        IndexTemplate {
            api,
            name,
            body,
            desired,
        }
    }

    fn path(&self) -> String {
        format!("/_index_template/{}", segment(&self.name))
    }

    async fn read_state(&self) -> anyhow::Result<Option<Observed>> {
        let path = self.path();
        let response = self.api.send(reqwest::Method::GET, &path, None).await?;
        if response.status == 404 {
            return Ok(None);
        }
        let answer = self.api.client.expect_json("GET", &path, response)?;
        let found = answer["index_templates"]
            .as_array()
            .and_then(|all| all.iter().find(|t| t["name"] == self.name.as_str()));
        Ok(found.map(|t| Observed::owned(normalize::index_template(&t["index_template"]))))
    }
}

impl Resource for IndexTemplate {
    fn kind(&self) -> &'static str {
        INDEX_TEMPLATE
    }
    fn name(&self) -> &str {
        &self.name
    }
    fn desired(&self) -> &Value {
        &self.desired
    }
    fn read(&self) -> BoxFuture<'_, anyhow::Result<Option<Observed>>> {
        Box::pin(self.read_state())
    }
    fn create(&self) -> BoxFuture<'_, anyhow::Result<()>> {
        Box::pin(async move {
            // `create=true`: fail rather than overwrite one made since the plan.
            let path = format!("{}?create=true", self.path());
            self.api
                .expect_ok(reqwest::Method::PUT, &path, Some(&self.body))
                .await?;
            Ok(())
        })
    }
    fn update<'a>(&'a self, _observed: &'a Observed) -> BoxFuture<'a, anyhow::Result<()>> {
        Box::pin(async move {
            self.api
                .expect_ok(reqwest::Method::PUT, &self.path(), Some(&self.body))
                .await?;
            Ok(())
        })
    }
    fn delete<'a>(&'a self, _observed: &'a Observed) -> BoxFuture<'a, anyhow::Result<()>> {
        Box::pin(async move {
            self.api
                .expect_ok(reqwest::Method::DELETE, &self.path(), None)
                .await?;
            Ok(())
        })
    }
}

/// An Index State Management policy (`_plugins/_ism/policies/<id>`).
pub struct IsmPolicy {
    api: Api,
    id: String,
    body: Value,
    desired: Value,
}

impl IsmPolicy {
    pub fn new(api: Api, id: String, body: Value) -> Self {
        let desired = normalize::ism_policy(&body);
        IsmPolicy {
            api,
            id,
            body,
            desired,
        }
    }

    fn path(&self) -> String {
        format!("/_plugins/_ism/policies/{}", segment(&self.id))
    }

    async fn read_state(&self) -> anyhow::Result<Option<Observed>> {
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
}

impl Resource for IsmPolicy {
    fn kind(&self) -> &'static str {
        ISM_POLICY
    }
    fn name(&self) -> &str {
        &self.id
    }
    fn desired(&self) -> &Value {
        &self.desired
    }
    fn read(&self) -> BoxFuture<'_, anyhow::Result<Option<Observed>>> {
        Box::pin(self.read_state())
    }
    fn create(&self) -> BoxFuture<'_, anyhow::Result<()>> {
        Box::pin(async move {
            self.api
                .expect_ok(reqwest::Method::PUT, &self.path(), Some(&self.body))
                .await?;
            Ok(())
        })
    }
    fn update<'a>(&'a self, observed: &'a Observed) -> BoxFuture<'a, anyhow::Result<()>> {
        Box::pin(async move {
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
        })
    }
    fn delete<'a>(&'a self, _observed: &'a Observed) -> BoxFuture<'a, anyhow::Result<()>> {
        Box::pin(async move {
            self.api
                .expect_ok(reqwest::Method::DELETE, &self.path(), None)
                .await?;
            Ok(())
        })
    }
}

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

#[cfg(test)]
mod tests {
    use super::segment;

    #[test]
    fn names_are_encoded_as_path_segments() {
        assert_eq!(
            segment("request-events-template"),
            "request-events-template"
        );
        assert_eq!(segment("a&b=c/d"), "a%26b%3Dc%2Fd");
    }
}
