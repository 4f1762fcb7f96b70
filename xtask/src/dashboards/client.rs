//! The OpenSearch Dashboards saved-objects API, as documented (the Kibana
//! 7.10 API that Dashboards inherited): every call sends `osd-xsrf: true`,
//! and is signed with SigV4 (service `es`) when the environment's
//! OpenSearch is.
//!
//! - `POST /api/saved_objects/_import?overwrite=true`, multipart form with
//!   one `file` part holding NDJSON; answers
//!   `{"success": bool, "successCount": n, "errors": [{"id","type","error":{"type",…}}]}`;
//! - `GET /api/saved_objects/{type}/{id}`: the object with Dashboards'
//!   additions (`updated_at`, `version`, `namespaces`, `migrationVersion`);
//!   404 when absent;
//! - `DELETE /api/saved_objects/{type}/{id}`.

use super::SavedObject;
use crate::env::{AuthKind, Environment};
use anyhow::{Context as _, anyhow, bail};
use aws_credential_types::Credentials;
use processor::opensearch::Auth;
use processor::opensearch::sign_es;
use serde_json::Value;
use std::time::Duration;

/// The multipart boundary (never occurs in NDJSON of JSON objects: no line
/// starts with `--`).
const BOUNDARY: &str = "ironman-usage-saved-objects-8f3a1c";

#[derive(Clone)]
pub struct Dashboards {
    http: reqwest::Client,
    base: String,
    signing: Option<(String, Credentials)>,
}

/// What `_import` answered.
#[derive(Debug, Clone, PartialEq)]
pub struct Imported {
    pub success_count: u64,
}

impl Dashboards {
    /// A client for `endpoint`, signing with `auth`.
    pub fn new(endpoint: &str, auth: Auth) -> anyhow::Result<Self> {
        // The same URL rules as OpenSearch: https, or http on loopback only.
        processor::opensearch::OpenSearch::new(endpoint, Auth::None)
            .with_context(|| format!("Dashboards endpoint `{endpoint}`"))?;
        let signing = match auth {
            Auth::None => None,
            Auth::SigV4 {
                region,
                credentials,
            } => Some((region, credentials)),
        };
        Ok(Dashboards {
            http: reqwest::Client::builder()
                .connect_timeout(Duration::from_secs(5))
                .timeout(Duration::from_secs(60))
                .build()
                .context("building the HTTP client")?,
            base: endpoint.trim_end_matches('/').to_string(),
            signing,
        })
    }

    /// The environment's Dashboards, or None when it declares none.
    pub fn for_env(env: &Environment) -> anyhow::Result<Option<Self>> {
        let Some(config) = &env.dashboards else {
            return Ok(None);
        };
        env.ensure_filled_in("dashboards")?;
        let auth = match env.opensearch.auth {
            AuthKind::None => Auth::None,
            AuthKind::Sigv4 => {
                let region = env.opensearch.region.as_deref().ok_or_else(|| {
                    anyhow::anyhow!(
                        "{}: field `opensearch.region`: required with `auth: sigv4`",
                        env.source.display()
                    )
                })?;
                Auth::sigv4_from_env(region).with_context(|| {
                    format!(
                        "signing requests to the `{}` Dashboards ({})",
                        env.name, config.endpoint
                    )
                })?
            }
        };
        Self::new(&config.endpoint, auth)
            .with_context(|| format!("{}: field `dashboards.endpoint`", env.source.display()))
            .map(Some)
    }

    pub fn endpoint(&self) -> &str {
        &self.base
    }

    async fn send(
        &self,
        method: http::Method,
        path: &str,
        body: Option<(Vec<u8>, String)>,
    ) -> anyhow::Result<(u16, Vec<u8>)> {
        let url = format!("{}{}", self.base, path);
        let mut headers: Vec<(&'static str, String)> = vec![("osd-xsrf", "true".into())];
        let body = match body {
            Some((bytes, content_type)) => {
                headers.push(("content-type", content_type));
                bytes
            }
            None => Vec::new(),
        };
        if let Some((region, credentials)) = &self.signing {
            headers.extend(sign_request(
                &method,
                &url,
                &headers,
                &body,
                region,
                credentials,
            )?);
        }
        let mut request = self.http.request(method.clone(), &url);
        for (name, value) in &headers {
            request = request.header(*name, value);
        }
        if !body.is_empty() {
            request = request.body(body);
        }
        let response = request
            .send()
            .await
            .with_context(|| format!("{method} {url}: Dashboards is not reachable"))?;
        let status = response.status().as_u16();
        let bytes = response
            .bytes()
            .await
            .with_context(|| format!("{method} {url}: reading the answer"))?;
        Ok((status, bytes.to_vec()))
    }

    fn json(method: &str, path: &str, status: u16, body: &[u8]) -> anyhow::Result<Value> {
        if !(200..300).contains(&status) {
            bail!(
                "{method} {path}: Dashboards answered {status}: {}",
                String::from_utf8_lossy(body)
                    .chars()
                    .take(2000)
                    .collect::<String>()
            );
        }
        serde_json::from_slice(body)
            .with_context(|| format!("{method} {path}: the answer is not JSON"))
    }

    /// Imports the objects, replacing any with the same type and id. Fails,
    /// naming each object and error, unless Dashboards reports success.
    pub async fn import(&self, objects: &[SavedObject]) -> anyhow::Result<Imported> {
        let path = "/api/saved_objects/_import?overwrite=true";
        let body = multipart(&super::to_ndjson(objects));
        let (status, answer) = self
            .send(
                http::Method::POST,
                path,
                Some((body, format!("multipart/form-data; boundary={BOUNDARY}"))),
            )
            .await?;
        let answer = Self::json("POST", path, status, &answer)?;
        let errors: Vec<String> = answer["errors"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|e| {
                format!(
                    "{} `{}`: {}",
                    e["type"].as_str().unwrap_or("?"),
                    e["id"].as_str().unwrap_or("?"),
                    e["error"]
                )
            })
            .collect();
        if answer["success"] != Value::Bool(true) || !errors.is_empty() {
            bail!(
                "POST {path}: the import failed: {answer}{}",
                if errors.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", errors.join("; "))
                }
            );
        }
        Ok(Imported {
            success_count: answer["successCount"].as_u64().unwrap_or(0),
        })
    }

    /// The stored object as Dashboards returns it, or None (404).
    pub async fn get(&self, kind: &str, id: &str) -> anyhow::Result<Option<Value>> {
        let path = format!("/api/saved_objects/{kind}/{id}");
        let (status, body) = self.send(http::Method::GET, &path, None).await?;
        if status == 404 {
            return Ok(None);
        }
        Self::json("GET", &path, status, &body).map(Some)
    }

    /// Deletes an object; false when it did not exist.
    pub async fn delete(&self, kind: &str, id: &str) -> anyhow::Result<bool> {
        let path = format!("/api/saved_objects/{kind}/{id}");
        let (status, body) = self.send(http::Method::DELETE, &path, None).await?;
        if status == 404 {
            return Ok(false);
        }
        Self::json("DELETE", &path, status, &body).map(|_| true)
    }
}

/// The multipart/form-data body with the NDJSON as the `file` part.
pub fn multipart(ndjson: &str) -> Vec<u8> {
    format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"ironman-usage.ndjson\"\r\nContent-Type: application/ndjson\r\n\r\n{ndjson}\r\n--{BOUNDARY}--\r\n"
    )
    .into_bytes()
}

/// SigV4 headers for one request (service `es`, as Amazon OpenSearch
/// Service's Dashboards expects).
fn sign_request(
    method: &http::Method,
    url: &str,
    headers: &[(&'static str, String)],
    body: &[u8],
    region: &str,
    credentials: &Credentials,
) -> anyhow::Result<Vec<(&'static str, String)>> {
    sign_es(method, url, headers, body, region, credentials)
        .map_err(|message| anyhow!("signing {method} {url}: {message}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_multipart_body_holds_the_ndjson_as_the_file_part() {
        let body = String::from_utf8(multipart("{\"a\":1}\n{\"b\":2}\n")).unwrap();
        assert!(body.starts_with(&format!("--{BOUNDARY}\r\n")));
        assert!(body.contains("name=\"file\"; filename=\"ironman-usage.ndjson\""));
        assert!(body.contains("\r\n\r\n{\"a\":1}\n{\"b\":2}\n\r\n"));
        assert!(body.ends_with(&format!("--{BOUNDARY}--\r\n")));
    }

    /// The signing itself is tested in `processor::opensearch::sign_es`; here, that the
    /// Dashboards' own header is part of the signature.
    #[test]
    fn the_xsrf_header_is_signed() {
        let credentials = Credentials::new("AKIDEXAMPLE", "secret", None, None, "test");
        let headers = sign_request(
            &http::Method::POST,
            "https://search-x.eu-west-1.es.amazonaws.com/_dashboards/api/saved_objects/_import?overwrite=true",
            &[("osd-xsrf", "true".into())],
            b"body",
            "eu-west-1",
            &credentials,
        )
        .unwrap();
        let (_, auth) = headers.iter().find(|(n, _)| *n == "authorization").unwrap();
        assert!(auth.contains("SignedHeaders=host;osd-xsrf;"), "{auth}");
    }

    #[test]
    fn plain_http_only_on_loopback() {
        assert!(Dashboards::new("http://127.0.0.1:5601", Auth::None).is_ok());
        assert!(Dashboards::new("http://dashboards.example.com", Auth::None).is_err());
    }
}
