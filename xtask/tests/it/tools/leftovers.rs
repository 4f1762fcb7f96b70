//! `xtask::local::leftovers` against the real OpenSearch: what a process
//! that no longer runs left is deleted, what a running one owns is kept.

use crate::support::{opensearch_url, require_opensearch};
use http::Method;
use serde_json::json;

/// A process id no process can have: above the kernel's `pid_max`.
fn impossible_pid() -> u64 {
    let max: u64 = std::fs::read_to_string("/proc/sys/kernel/pid_max")
        .expect("reading /proc/sys/kernel/pid_max")
        .trim()
        .parse()
        .expect("pid_max is a number");
    max + 1
}

#[tokio::test]
async fn a_sweep_deletes_what_exited_processes_left_and_keeps_the_rest() {
    let client = require_opensearch().await;
    let gone = format!("lefttest{}-gone-", impossible_pid());
    let mine = format!("lefttest{}-mine-", std::process::id());
    for prefix in [&gone, &mine] {
        let index = format!("/{prefix}request-events-2026.01.01");
        client
            .json(Method::PUT, &index, Some(&json!({})))
            .await
            .unwrap();
        let template = json!({"index_patterns": [format!("{prefix}session-summaries")]});
        let path = format!("/_index_template/{prefix}session-summaries");
        client
            .json(Method::PUT, &path, Some(&template))
            .await
            .unwrap();
    }

    let swept = xtask::local::leftovers::sweep(&client, &opensearch_url(), "lefttest")
        .await
        .unwrap();

    assert_eq!((swept.indices, swept.templates), (1, 1), "{swept:?}");
    let exists = |path: String| {
        let client = &client;
        async move {
            let answer = client.send(Method::HEAD, &path, None).await.unwrap();
            match answer.status {
                200 => true,
                404 => false,
                other => panic!("HEAD {path}: HTTP {other}"),
            }
        }
    };
    assert!(!exists(format!("/{gone}request-events-2026.01.01")).await);
    assert!(!exists(format!("/_index_template/{gone}session-summaries")).await);
    assert!(exists(format!("/{mine}request-events-2026.01.01")).await);
    assert!(exists(format!("/_index_template/{mine}session-summaries")).await);

    let nothing = xtask::local::leftovers::sweep(&client, "https://search.example.com", "lefttest")
        .await
        .unwrap();
    assert_eq!((nothing.indices, nothing.templates), (0, 0));
    client
        .send(Method::DELETE, &format!("/{mine}*"), None)
        .await
        .unwrap();
    client
        .send(
            Method::DELETE,
            &format!("/_index_template/{mine}session-summaries"),
            None,
        )
        .await
        .unwrap();
}
