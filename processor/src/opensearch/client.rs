//! A small OpenSearch HTTP client: one endpoint, optional SigV4 signing
//! (service `es`), JSON in and out. Shared by the Lambda and by xtask.

use aws_credential_types::Credentials;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum OpenSearchError {
    #[error(
        "OpenSearch endpoint `{0}` uses plain http on a non-loopback host; use https (plain http is accepted only for 127.0.0.1, ::1 and localhost)"
    )]
    InsecureEndpoint(String),
    #[error("OpenSearch endpoint `{0}` is not an http(s) URL")]
    BadEndpoint(String),
    #[error("AWS credentials for signing are missing: {0}")]
    MissingCredentials(String),
    #[error("signing {method} {path}: {message}")]
    Signing {
        method: String,
        path: String,
        message: String,
    },
    #[error("{method} {url}: cannot connect to OpenSearch ({source}){hint}")]
    Unreachable {
        method: String,
        url: String,
        /// What to do about it, for a local cluster.
        hint: &'static str,
        #[source]
        source: reqwest::Error,
    },
    /// Connected, but the exchange broke off (a reset, a closed connection,
    /// a body cut short): the server may or may not have acted on it.
    #[error(
        "{method} {url}: the connection to OpenSearch broke before a complete answer ({source})"
    )]
    ConnectionLost {
        method: String,
        url: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("{method} {url}: timed out after {seconds}s")]
    Timeout {
        method: String,
        url: String,
        seconds: u64,
    },
    #[error("{method} {url}: HTTP {status}: {body}")]
    Status {
        method: String,
        url: String,
        status: u16,
        body: String,
    },
    #[error("{method} {url}: response is not JSON: {source}")]
    BadJson {
        method: String,
        url: String,
        source: serde_json::Error,
    },
}

impl OpenSearchError {
    /// Worth retrying: the server or the network may recover.
    pub fn is_transient(&self) -> bool {
        match self {
            OpenSearchError::Unreachable { .. }
            | OpenSearchError::ConnectionLost { .. }
            | OpenSearchError::Timeout { .. } => true,
            OpenSearchError::Status { status, .. } => *status == 429 || *status >= 500,
            _ => false,
        }
    }
}

/// How requests are authenticated.
#[derive(Clone)]
pub enum Auth {
    /// Loopback development clusters without security.
    None,
    /// AWS SigV4 for an Amazon OpenSearch Service domain.
    SigV4 {
        region: String,
        credentials: Credentials,
    },
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Auth::None => f.write_str("Auth::None"),
            Auth::SigV4 { region, .. } => write!(f, "Auth::SigV4 {{ region: {region} }}"),
        }
    }
}

impl Auth {
    /// SigV4 with the credentials of the process environment, as the Lambda
    /// runtime provides them (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
    /// `AWS_SESSION_TOKEN`).
    pub fn sigv4_from_env(region: &str) -> Result<Self, OpenSearchError> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let key = var("AWS_ACCESS_KEY_ID")
            .ok_or_else(|| OpenSearchError::MissingCredentials("AWS_ACCESS_KEY_ID".into()))?;
        let secret = var("AWS_SECRET_ACCESS_KEY")
            .ok_or_else(|| OpenSearchError::MissingCredentials("AWS_SECRET_ACCESS_KEY".into()))?;
        let credentials = Credentials::new(key, secret, var("AWS_SESSION_TOKEN"), None, "env");
        Ok(Auth::SigV4 {
            region: region.to_string(),
            credentials,
        })
    }
}

/// A response with its status; the body is kept as bytes so bulk responses
/// can be parsed lazily.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub body: Vec<u8>,
}

impl Response {
    pub fn json(&self) -> Result<serde_json::Value, serde_json::Error> {
        serde_json::from_slice(&self.body)
    }
    pub fn text(&self) -> String {
        let text = String::from_utf8_lossy(&self.body);
        if text.len() > 2000 {
            let mut end = 2000;
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            format!("{}…", &text[..end])
        } else {
            text.into_owned()
        }
    }
}

#[derive(Clone, Debug)]
pub struct OpenSearch {
    http: reqwest::Client,
    base: String,
    auth: Auth,
    timeout: Duration,
}

fn is_loopback_host(host: &str) -> bool {
    host == "localhost"
        || host == "[::1]"
        || host
            .parse::<std::net::Ipv4Addr>()
            .is_ok_and(|ip| ip.is_loopback())
}

impl OpenSearch {
    pub fn new(endpoint: &str, auth: Auth) -> Result<Self, OpenSearchError> {
        let base = endpoint.trim_end_matches('/').to_string();
        let rest = if let Some(rest) = base.strip_prefix("http://") {
            let host = rest.split('/').next().unwrap_or("");
            let host = if host.starts_with('[') {
                host.split(']')
                    .next()
                    .map(|h| format!("{h}]"))
                    .unwrap_or_default()
            } else {
                host.split(':').next().unwrap_or("").to_string()
            };
            if !is_loopback_host(&host) {
                return Err(OpenSearchError::InsecureEndpoint(endpoint.to_string()));
            }
            rest
        } else if let Some(rest) = base.strip_prefix("https://") {
            rest
        } else {
            return Err(OpenSearchError::BadEndpoint(endpoint.to_string()));
        };
        if rest.is_empty() {
            return Err(OpenSearchError::BadEndpoint(endpoint.to_string()));
        }
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .pool_idle_timeout(Duration::from_secs(50))
            .build()
            .expect("a client with default TLS settings builds");
        Ok(OpenSearch {
            http,
            base,
            auth,
            timeout: Duration::from_secs(60),
        })
    }

    /// The per-request timeout (default 60 s).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    pub fn endpoint(&self) -> &str {
        &self.base
    }

    /// Sends one request; any status is returned, only transport failures
    /// are errors.
    pub async fn send(
        &self,
        method: http::Method,
        path_and_query: &str,
        body: Option<(Vec<u8>, &'static str)>,
    ) -> Result<Response, OpenSearchError> {
        let url = format!("{}{}", self.base, path_and_query);
        let (body, content_type) = match body {
            Some((bytes, ct)) => (bytes, Some(ct)),
            None => (Vec::new(), None),
        };
        let mut headers: Vec<(&'static str, String)> = Vec::new();
        if let Some(ct) = content_type {
            headers.push(("content-type", ct.to_string()));
        }
        if let Auth::SigV4 {
            region,
            credentials,
        } = &self.auth
        {
            let signed =
                crate::opensearch::sign_es(&method, &url, &headers, &body, region, credentials)
                    .map_err(|message| OpenSearchError::Signing {
                        method: method.to_string(),
                        path: url.clone(),
                        message,
                    })?;
            headers.extend(signed);
        }
        let mut request = self
            .http
            .request(method.clone(), &url)
            .timeout(self.timeout);
        for (name, value) in &headers {
            request = request.header(*name, value);
        }
        if !body.is_empty() || content_type.is_some() {
            request = request.body(body);
        }
        let response = request
            .send()
            .await
            .map_err(|source| self.transport_error(method.as_str(), &url, source))?;
        let status = response.status().as_u16();
        let body = response
            .bytes()
            .await
            .map_err(|source| self.transport_error(method.as_str(), &url, source))?
            .to_vec();
        Ok(Response { status, body })
    }

    fn transport_error(&self, method: &str, url: &str, source: reqwest::Error) -> OpenSearchError {
        if source.is_timeout() {
            OpenSearchError::Timeout {
                method: method.to_string(),
                url: url.to_string(),
                seconds: self.timeout.as_secs(),
            }
        } else if source.is_connect() {
            // Plain http is only ever a loopback development cluster.
            let hint = if self.base.starts_with("http://") {
                "; is it running? Locally: `cargo xtask local up`"
            } else {
                ""
            };
            OpenSearchError::Unreachable {
                method: method.to_string(),
                url: url.to_string(),
                hint,
                source,
            }
        } else {
            OpenSearchError::ConnectionLost {
                method: method.to_string(),
                url: url.to_string(),
                source,
            }
        }
    }

    /// Sends JSON (or nothing) and expects a 2xx JSON answer.
    pub async fn json(
        &self,
        method: http::Method,
        path_and_query: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<serde_json::Value, OpenSearchError> {
        let payload = body.map(|b| {
            (
                serde_json::to_vec(b).expect("JSON values serialize"),
                "application/json",
            )
        });
        let response = self.send(method.clone(), path_and_query, payload).await?;
        self.expect_json(method.as_str(), path_and_query, response)
    }

    /// Turns a response into JSON, or an error that names the call.
    pub fn expect_json(
        &self,
        method: &str,
        path_and_query: &str,
        response: Response,
    ) -> Result<serde_json::Value, OpenSearchError> {
        self.expect(method, path_and_query, response)
    }

    /// A successful answer read as `T` (straight from its bytes).
    pub fn expect<T: serde::de::DeserializeOwned>(
        &self,
        method: &str,
        path_and_query: &str,
        response: Response,
    ) -> Result<T, OpenSearchError> {
        let url = format!("{}{}", self.base, path_and_query);
        if !(200..300).contains(&response.status) {
            return Err(OpenSearchError::Status {
                method: method.to_string(),
                url,
                status: response.status,
                body: response.text(),
            });
        }
        serde_json::from_slice(&response.body).map_err(|source| OpenSearchError::BadJson {
            method: method.to_string(),
            url,
            source,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(endpoint: &str) -> OpenSearchError {
        let client = OpenSearch::new(endpoint, Auth::None).unwrap();
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(client.send(reqwest::Method::GET, "/", None))
            .unwrap_err()
    }

    #[test]
    fn nothing_listening_is_unreachable_with_the_local_hint() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let err = call(&format!("http://127.0.0.1:{port}"));
        assert!(matches!(err, OpenSearchError::Unreachable { .. }), "{err}");
        assert!(err.is_transient());
        assert!(err.to_string().contains("cargo xtask local up"), "{err}");
    }

    #[test]
    fn a_connection_dropped_mid_call_is_lost_not_unreachable() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            // Read the request, then hang up without answering.
            if let Ok((mut stream, _)) = listener.accept() {
                let mut buf = [0u8; 1024];
                let _ = std::io::Read::read(&mut stream, &mut buf);
            }
        });
        let err = call(&format!("http://127.0.0.1:{port}"));
        assert!(
            matches!(err, OpenSearchError::ConnectionLost { .. }),
            "{err}"
        );
        assert!(err.is_transient());
        assert!(!err.to_string().contains("local up"), "{err}");
    }

    #[test]
    fn plain_http_only_on_loopback() {
        assert!(OpenSearch::new("http://127.0.0.1:9200", Auth::None).is_ok());
        assert!(OpenSearch::new("http://localhost:9200/", Auth::None).is_ok());
        assert!(OpenSearch::new("http://[::1]:9200", Auth::None).is_ok());
        assert!(matches!(
            OpenSearch::new("http://search.example.com", Auth::None),
            Err(OpenSearchError::InsecureEndpoint(_))
        ));
        assert!(matches!(
            OpenSearch::new("http://127.0.0.1.example.com:9200", Auth::None),
            Err(OpenSearchError::InsecureEndpoint(_))
        ));
        assert!(OpenSearch::new("https://search-x.eu-west-1.es.amazonaws.com", Auth::None).is_ok());
        assert!(matches!(
            OpenSearch::new("ftp://x", Auth::None),
            Err(OpenSearchError::BadEndpoint(_))
        ));
    }
}
