//! Indices and index templates that a process left in a local OpenSearch
//! when it was interrupted or failed before deleting them: the integration
//! tests (`t<pid>-…`) and the end-to-end benchmark (`bench-e2e-<pid>-…`)
//! put the id of their process right after their prefix, so anything whose
//! process no longer runs is known to be abandoned. The node keeps its data
//! across `local down` and `up`, so without a sweep they pile up.

use anyhow::Context as _;
use processor::opensearch::{OpenSearch, OpenSearchError};
use serde_json::Value;

/// What a sweep deleted.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Swept {
    pub indices: usize,
    pub templates: usize,
}

/// The process id a name written as `<prefix><pid>-…` carries.
pub fn owner_pid(name: &str, prefix: &str) -> Option<u32> {
    let (digits, _) = name.strip_prefix(prefix)?.split_once('-')?;
    digits.parse().ok()
}

/// Whether `url` is an OpenSearch on this machine, where a process id names
/// a process here; a sweep anywhere else could delete a live run's data.
pub fn is_loopback(url: &str) -> bool {
    let host = url.split("://").nth(1).unwrap_or(url);
    ["127.0.0.1", "localhost", "[::1]"].iter().any(|h| {
        host.starts_with(h) && matches!(host.as_bytes().get(h.len()), None | Some(b':' | b'/'))
    })
}

/// The names among `names` whose process is neither this one nor running.
fn abandoned<'a>(
    names: impl Iterator<Item = &'a str>,
    prefix: &str,
    running: impl Fn(u32) -> bool,
) -> Vec<String> {
    names
        .filter(|name| {
            owner_pid(name, prefix).is_some_and(|pid| pid != std::process::id() && !running(pid))
        })
        .map(str::to_string)
        .collect()
}

fn process_runs(pid: u32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

/// Deletes the indices and index templates named `<prefix><pid>-…` whose
/// process no longer runs. Does nothing unless `url` is loopback.
pub async fn sweep(client: &OpenSearch, url: &str, prefix: &str) -> anyhow::Result<Swept> {
    if !is_loopback(url) {
        return Ok(Swept::default());
    }
    let list = |path: String| async move {
        match client.json(http::Method::GET, &path, None).await {
            Ok(answer) => Ok(answer),
            Err(OpenSearchError::Status { status: 404, .. }) => Ok(Value::Null),
            Err(e) => Err(e).with_context(|| format!("listing leftovers: GET {path}")),
        }
    };
    let rows = list(format!(
        "/_cat/indices/{prefix}*?h=index&format=json&expand_wildcards=all"
    ))
    .await?;
    let indices = abandoned(
        rows.as_array()
            .into_iter()
            .flatten()
            .filter_map(|row| row["index"].as_str()),
        prefix,
        process_runs,
    );
    for chunk in indices.chunks(50) {
        delete(
            client,
            &format!(
                "/{}?expand_wildcards=all&ignore_unavailable=true",
                chunk.join(",")
            ),
        )
        .await?;
    }
    let found = list(format!("/_index_template/{prefix}*")).await?;
    let templates = abandoned(
        found["index_templates"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|t| t["name"].as_str()),
        prefix,
        process_runs,
    );
    for name in &templates {
        delete(client, &format!("/_index_template/{name}")).await?;
    }
    Ok(Swept {
        indices: indices.len(),
        templates: templates.len(),
    })
}

/// A DELETE that succeeded, or found nothing (another sweep was first).
async fn delete(client: &OpenSearch, path: &str) -> anyhow::Result<()> {
    let answer = client
        .send(http::Method::DELETE, path, None)
        .await
        .with_context(|| format!("deleting leftovers: DELETE {path}"))?;
    anyhow::ensure!(
        (200..300).contains(&answer.status) || answer.status == 404,
        "deleting leftovers: DELETE {path}: HTTP {}: {}",
        answer.status,
        String::from_utf8_lossy(&answer.body)
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_carries_its_process_id_right_after_the_prefix() {
        assert_eq!(
            owner_pid("t123-demo-0-ab-request-events-2026.11.02", "t"),
            Some(123)
        );
        assert_eq!(
            owner_pid("bench-e2e-77-1a2b-3-session-summaries", "bench-e2e-"),
            Some(77)
        );
        assert_eq!(owner_pid("t-demo-24033-46-17cea62f-x", "t"), None);
        assert_eq!(owner_pid("request-events-template", "t"), None);
        assert_eq!(owner_pid("t123", "t"), None);
    }

    #[test]
    fn only_names_of_processes_gone_are_abandoned() {
        let me = std::process::id();
        let names = [
            format!("t{me}-mine-0-a-x"),
            "t1-alive-0-a-x".to_string(),
            "t2-gone-0-a-x".to_string(),
            "templates-of-someone".to_string(),
        ];
        let gone = abandoned(names.iter().map(String::as_str), "t", |pid| pid == 1);
        assert_eq!(gone, ["t2-gone-0-a-x"]);
    }

    #[test]
    fn only_a_loopback_opensearch_is_swept() {
        assert!(is_loopback("http://127.0.0.1:9200"));
        assert!(is_loopback("http://localhost:9200/"));
        assert!(is_loopback("http://[::1]:9200"));
        assert!(!is_loopback(
            "https://search-prod.eu-west-1.es.amazonaws.com"
        ));
        assert!(!is_loopback("http://localhost.example.com:9200"));
        assert!(!is_loopback("http://127.0.0.10:9200"));
    }
}
