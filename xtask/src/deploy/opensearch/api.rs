//! The OpenSearch HTTP client the OpenSearch resources share, with its log
//! of calls, and the percent-encoding of their paths.

use processor::opensearch::{OpenSearch, Response};
use serde_json::Value;
use std::sync::{Arc, Mutex};

/// The OpenSearch client, keeping a log of every call (`GET /x`), so a
/// deploy can say, and a test can prove, which writes it made.
#[derive(Clone, Debug)]
pub struct Api {
    pub(super) client: OpenSearch,
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

    pub(super) async fn send(
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
    pub(super) async fn expect_ok(
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
pub(super) fn segment(name: &str) -> String {
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
