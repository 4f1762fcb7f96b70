//! Shared by the integration tests: the one local OpenSearch, a unique
//! index prefix per test, and reading documents back; `http`, the one
//! HTTP/1.1 server of the tests' stand-ins.
#![allow(dead_code)]

pub mod http;

use processor::opensearch::{Auth, OpenSearch};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use xtask::env::Environment;

pub fn root() -> PathBuf {
    xtask::project_root()
}

pub fn opensearch_url() -> String {
    std::env::var("IRONMAN_OPENSEARCH_URL").unwrap_or_else(|_| "http://127.0.0.1:9200".into())
}

/// Fails the test (never skips it) when OpenSearch is not there.
pub async fn require_opensearch() -> OpenSearch {
    let url = opensearch_url();
    let client = OpenSearch::new(&url, Auth::None).expect("a loopback URL");
    match client.json(::http::Method::GET, "/", None).await {
        Ok(info) => {
            assert!(
                info["version"]["number"].is_string(),
                "{url} is not OpenSearch: {info}"
            );
            static SWEPT: tokio::sync::OnceCell<()> = tokio::sync::OnceCell::const_new();
            SWEPT
                .get_or_init(|| async {
                    xtask::local::leftovers::sweep(&client, &url, "t")
                        .await
                        .unwrap_or_else(|e| panic!("sweeping what earlier test runs left: {e:#}"));
                })
                .await;
            client
        }
        Err(e) => panic!(
            "OpenSearch is required at {url} and is not reachable ({e}). Start it with `cargo xtask local up` (or run everything with `cargo xtask test`)."
        ),
    }
}

/// A prefix no other test (or earlier run) uses: `t<pid>-<test>-<n>-<nanos>-`,
/// the test process's id first so that the first `require_opensearch`
/// (`xtask::local::leftovers`) can tell what exited runs left.
pub fn unique_prefix(test: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("t{}-{test}-{n}-{nanos:x}-", std::process::id())
}

/// A copy of the local environment writing to indices of its own, with the
/// templates and ISM policy deployed.
pub async fn test_environment(test: &str) -> Environment {
    require_opensearch().await;
    let prefix = unique_prefix(test);
    let env = Environment::local_for_test(&root(), &prefix).expect("local environment");
    xtask::deploy::deploy_opensearch_async(&env, &root())
        .await
        .expect("deploying the mappings for the test");
    env
}

/// Makes everything written so far to `pattern` searchable.
pub async fn refresh(client: &OpenSearch, pattern: &str) {
    client
        .json(
            ::http::Method::POST,
            &format!("/{pattern}/_refresh?ignore_unavailable=true&allow_no_indices=true"),
            None,
        )
        .await
        .expect("refresh");
}

/// Every document of an index pattern, by `_id`: `(_index, _version, _source)`.
pub async fn all_documents(
    client: &OpenSearch,
    pattern: &str,
) -> BTreeMap<String, (String, u64, Value)> {
    refresh(client, pattern).await;
    let mut docs = BTreeMap::new();
    let mut page = client
        .json(
            ::http::Method::POST,
            &format!("/{pattern}/_search?scroll=1m&version=true&ignore_unavailable=true&allow_no_indices=true"),
            Some(&json!({"size": 5000, "sort": ["_doc"], "query": {"match_all": {}}})),
        )
        .await
        .expect("search");
    loop {
        let hits = page["hits"]["hits"].as_array().cloned().unwrap_or_default();
        if hits.is_empty() {
            break;
        }
        for hit in hits {
            let id = hit["_id"].as_str().unwrap().to_string();
            let previous = docs.insert(
                id.clone(),
                (
                    hit["_index"].as_str().unwrap().to_string(),
                    hit["_version"].as_u64().unwrap_or(0),
                    hit["_source"].clone(),
                ),
            );
            assert!(
                previous.is_none(),
                "document {id} is stored twice (in {pattern})"
            );
        }
        let scroll_id = page["_scroll_id"].as_str().unwrap().to_string();
        page = client
            .json(
                ::http::Method::POST,
                "/_search/scroll",
                Some(&json!({"scroll": "1m", "scroll_id": scroll_id})),
            )
            .await
            .expect("scroll");
    }
    docs
}

pub async fn count(client: &OpenSearch, pattern: &str) -> u64 {
    refresh(client, pattern).await;
    let answer = client
        .json(
            ::http::Method::GET,
            &format!("/{pattern}/_count?ignore_unavailable=true&allow_no_indices=true"),
            None,
        )
        .await
        .expect("count");
    answer["count"].as_u64().expect("a count")
}

/// Deletes a test's indices and templates (best effort: a failed test
/// keeps them for a look).
pub async fn cleanup(client: &OpenSearch, env: &Environment) {
    let i = env.indices();
    for pattern in [
        i.request_events_pattern(),
        i.session_summaries.clone(),
        i.session_state(),
        i.dead_letters.clone(),
    ] {
        let _ = client
            .send(
                ::http::Method::DELETE,
                &format!("/{pattern}?ignore_unavailable=true&allow_no_indices=true"),
                None,
            )
            .await;
    }
    for template in [
        format!("{}template", i.request_events_prefix),
        i.session_summaries.clone(),
        i.session_state(),
        i.dead_letters.clone(),
    ] {
        let _ = client
            .send(
                ::http::Method::DELETE,
                &format!("/_index_template/{template}"),
                None,
            )
            .await;
    }
}

/// A Lambda package (one executable entry `bootstrap`) whose bytes depend
/// on `content`: the emulator needs a zip, not a working function.
pub fn fake_lambda_zip(content: &[u8]) -> Vec<u8> {
    xtask::build::zip::zip_single_executable("bootstrap", content).expect("zipping a test package")
}

/// Fails the test (never skips it) when moto_server is not there.
pub async fn require_moto() -> String {
    let url = std::env::var("IRONMAN_MOTO_URL").unwrap_or_else(|_| "http://127.0.0.1:5000".into());
    let answer = reqwest::Client::new()
        .get(format!("{url}/moto-api/"))
        .timeout(std::time::Duration::from_secs(10))
        .send()
        .await;
    if let Err(e) = answer {
        panic!(
            "moto_server is required at {url} and is not reachable ({e}). Start it with `cargo xtask local up` (or run everything with `cargo xtask test`)."
        );
    }
    url
}

/// A copy of `local` whose AWS names and index names are this test's own.
pub async fn test_stack_environment(test: &str) -> Environment {
    require_opensearch().await;
    require_moto().await;
    let prefix = unique_prefix(test);
    Environment::local_for_test(&root(), &prefix).expect("local environment")
}
