//! A minimal blocking HTTP/1.0 GET over `std::net`, enough for health checks
//! against services on 127.0.0.1 (no TLS, no redirects, no runtime).

use anyhow::Context as _;
use std::io::{Read as _, Write as _};
use std::net::{TcpStream, ToSocketAddrs as _};
use std::time::Duration;

pub struct Response {
    pub status: u16,
    pub body: String,
}

/// `GET base_url + path`, e.g. `get("http://127.0.0.1:9200", "/_cluster/health")`.
pub fn get(base_url: &str, path: &str, timeout: Duration) -> anyhow::Result<Response> {
    let authority = base_url
        .strip_prefix("http://")
        .with_context(|| format!("only plain http:// URLs are supported, not {base_url}"))?
        .trim_end_matches('/');
    let addr = authority
        .to_socket_addrs()
        .with_context(|| format!("resolving {authority}"))?
        .next()
        .with_context(|| format!("{authority} resolves to no address"))?;
    let mut stream = TcpStream::connect_timeout(&addr, timeout)
        .with_context(|| format!("connecting to {authority}"))?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    write!(
        stream,
        "GET {path} HTTP/1.0\r\nHost: {authority}\r\nAccept: */*\r\nConnection: close\r\n\r\n"
    )
    .with_context(|| format!("sending GET {path} to {authority}"))?;
    let mut raw = Vec::new();
    stream
        .read_to_end(&mut raw)
        .with_context(|| format!("reading the answer to GET {path} from {authority}"))?;
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .lines()
        .next()
        .and_then(|line| line.split_whitespace().nth(1))
        .and_then(|code| code.parse().ok())
        .with_context(|| format!("malformed HTTP answer from {authority}: {head:.200}"))?;
    Ok(Response {
        status,
        body: body.to_string(),
    })
}

/// `GET` whose body is JSON, on a 2xx status.
pub fn get_json(
    base_url: &str,
    path: &str,
    timeout: Duration,
) -> anyhow::Result<serde_json::Value> {
    let response = get(base_url, path, timeout)?;
    anyhow::ensure!(
        (200..300).contains(&response.status),
        "GET {base_url}{path} answered {}: {:.300}",
        response.status,
        response.body
    );
    serde_json::from_str(&response.body).with_context(|| {
        format!(
            "GET {base_url}{path} did not answer JSON: {:.300}",
            response.body
        )
    })
}
