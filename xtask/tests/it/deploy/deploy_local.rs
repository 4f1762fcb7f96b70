//! `deploy` against the real local OpenSearch (`cargo xtask local up`, or
//! the cluster at `IRONMAN_OPENSEARCH_URL`), under a unique index prefix so
//! that tests running in parallel do not collide.
//!
//! From nothing, a deploy creates everything; a second deploy makes no write
//! call; a change made out of band shows in the plan at its exact field
//! path, and the next deploy repairs it.

use crate::support::{require_opensearch, unique_prefix};
use processor::opensearch::OpenSearch;
use reqwest::Method;
use serde_json::{Value, json};
use xtask::deploy::{
    Action, Change, OpenSearchResources, Plan, deploy_opensearch_async, plan_opensearch_async,
};
use xtask::env::Environment;
use xtask::mappings::DocumentKind;

/// A test environment, and its client; fails (never skips) when OpenSearch
/// is not there.
async fn test_env(test: &str) -> (Environment, OpenSearch) {
    require_opensearch().await;
    let env = Environment::local_for_test(&xtask::project_root(), &unique_prefix(test)).unwrap();
    let client = env
        .opensearch_client()
        .unwrap()
        .with_timeout(std::time::Duration::from_secs(10));
    (env, client)
}

async fn has_ism(client: &OpenSearch) -> bool {
    let plugins = client
        .json(Method::GET, "/_cat/plugins?format=json", None)
        .await
        .unwrap();
    plugins.as_array().unwrap().iter().any(|p| {
        p["component"]
            .as_str()
            .is_some_and(|c| c.contains("index-management"))
    })
}

/// Removes what a test made (also when it failed halfway).
async fn clean_up(client: &OpenSearch, env: &Environment) {
    let i = env.indices();
    for path in [
        format!("/{}*", i.request_events_prefix),
        format!("/{}", i.session_summaries),
        format!("/{}", i.session_state()),
        format!("/{}", i.dead_letters),
    ] {
        let _ = client
            .send(
                Method::DELETE,
                &format!("{path}?ignore_unavailable=true"),
                None,
            )
            .await;
    }
    for name in [
        format!("{}template", i.request_events_prefix),
        i.session_summaries.clone(),
        i.session_state(),
        i.dead_letters.clone(),
    ] {
        let _ = client
            .send(Method::DELETE, &format!("/_index_template/{name}"), None)
            .await;
    }
    let _ = client
        .send(
            Method::DELETE,
            &format!(
                "/_plugins/_ism/policies/{}retention",
                i.request_events_prefix
            ),
            None,
        )
        .await;
}

fn resources_with(plan: &Plan, action: Action) -> Vec<String> {
    plan.changes
        .iter()
        .filter(|c| c.action == action)
        .map(|c| c.resource.clone())
        .collect()
}

/// What a plan does to one resource.
fn change_of<'p>(plan: &'p Plan, resource: &str) -> &'p Change {
    plan.changes
        .iter()
        .find(|c| c.resource == resource)
        .unwrap_or_else(|| panic!("{resource} is not in the plan:\n{plan}"))
}

/// The fields a plan changes on one resource: (path, before, after).
fn changed_fields<'p>(plan: &'p Plan, resource: &str) -> Vec<(&'p str, &'p Value, &'p Value)> {
    change_of(plan, resource)
        .fields
        .iter()
        .map(|f| (f.path.as_str(), &f.before, &f.after))
        .collect()
}

async fn put(client: &OpenSearch, path: &str, body: &Value) {
    client.json(Method::PUT, path, Some(body)).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deploy_creates_then_changes_nothing_then_repairs_drift() {
    let (env, client) = test_env("deploy").await;
    let root = xtask::project_root();
    clean_up(&client, &env).await;
    let ism = has_ism(&client).await;
    let i = env.indices().clone();
    let events_template = format!(
        "opensearch_index_template.{}template",
        i.request_events_prefix
    );
    let summaries_template = format!("opensearch_index_template.{}", i.session_summaries);
    let policy = format!("opensearch_ism_policy.{}retention", i.request_events_prefix);

    // From nothing: every resource is created, and the deploy ends clean.
    let first = deploy_opensearch_async(&env, &root).await.unwrap();
    let mut expected = vec![
        format!("opensearch_index_template.{}", i.dead_letters),
        events_template.clone(),
        format!("opensearch_index_template.{}", i.session_state()),
        summaries_template.clone(),
    ];
    if ism {
        expected.insert(0, policy.clone());
        assert!(first.skipped.is_empty(), "{:?}", first.skipped);
    } else {
        // The stack at hand has no ISM plugin; local.yaml says `if_installed`.
        assert_eq!(first.skipped.len(), 1, "{:?}", first.skipped);
        assert!(first.skipped[0].contains(&policy), "{:?}", first.skipped);
    }
    assert_eq!(
        resources_with(&first.plan, Action::Create),
        expected,
        "{}",
        first.plan
    );
    assert_eq!(first.writes.len(), expected.len(), "{:?}", first.writes);
    assert!(first.after.is_empty(), "{}", first.after);
    let create = change_of(&first.plan, &events_template);
    assert!(
        create.fields.iter().any(
            |f| f.path == "template.mappings.properties.path.ignore_above"
                && f.after == json!(8191)
        ),
        "{}",
        first.plan
    );

    let policy_path = format!(
        "/_plugins/_ism/policies/{}retention",
        i.request_events_prefix
    );
    let policy_version = if ism {
        let got = client.json(Method::GET, &policy_path, None).await.unwrap();
        Some((got["_seq_no"].clone(), got["_primary_term"].clone()))
    } else {
        None
    };

    // Again: the plan is empty and not one write call is made.
    let resources = OpenSearchResources::new(&env, &root).unwrap();
    let second = resources.deploy().await.unwrap();
    assert!(second.plan.is_empty(), "{}", second.plan);
    assert_eq!(second.writes, Vec::<String>::new());
    assert!(
        resources.api().writes().is_empty(),
        "{:?}",
        resources.api().calls()
    );
    assert!(!resources.api().calls().is_empty());
    if let Some(version) = policy_version {
        let got = client.json(Method::GET, &policy_path, None).await.unwrap();
        assert_eq!(
            (got["_seq_no"].clone(), got["_primary_term"].clone()),
            version,
            "the policy was rewritten"
        );
    }

    // Out of band: someone shortens `path.ignore_above` and adds replicas.
    let template_path = format!("/_index_template/{}template", i.request_events_prefix);
    let mut body = client
        .json(Method::GET, &template_path, None)
        .await
        .unwrap()["index_templates"][0]["index_template"]
        .clone();
    body["template"]["mappings"]["properties"]["path"]["ignore_above"] = json!(1024);
    body["template"]["settings"]["index"]["number_of_replicas"] = json!("2");
    put(&client, &template_path, &body).await;
    if ism {
        let got = client.json(Method::GET, &policy_path, None).await.unwrap();
        let documents = xtask::mappings::load_documents(&root, &env).unwrap();
        let declared = documents
            .iter()
            .find(|d| d.kind == DocumentKind::IsmPolicy)
            .unwrap();
        let mut policy_body = declared.body.clone();
        policy_body["policy"]["states"][1]["transitions"][0]["conditions"]["min_index_age"] =
            json!("99d");
        let path = format!(
            "{policy_path}?if_seq_no={}&if_primary_term={}",
            got["_seq_no"], got["_primary_term"]
        );
        put(&client, &path, &policy_body).await;
    }

    let drift = plan_opensearch_async(&env, &root).await.unwrap();
    let mut updates = vec![events_template.clone()];
    if ism {
        updates.insert(0, policy.clone());
    }
    assert_eq!(resources_with(&drift, Action::Update), updates, "{drift}");
    let fields = changed_fields(&drift, &events_template);
    assert_eq!(
        fields,
        vec![
            (
                "template.mappings.properties.path.ignore_above",
                &json!(1024),
                &json!(8191)
            ),
            (
                "template.settings.index.number_of_replicas",
                &json!("2"),
                &json!("0")
            ),
        ],
        "{drift}"
    );
    let json = drift.to_json();
    let listed = json["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["resource"] == events_template.as_str());
    assert_eq!(listed.unwrap()["action"], "update");
    if ism {
        let change = change_of(&drift, &policy);
        let paths: Vec<&str> = change.fields.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(
            paths,
            vec!["policy.states[1].transitions[0].conditions.min_index_age"],
            "{drift}"
        );
        assert_eq!(change.fields[0].before, json!("99d"));
        assert_eq!(change.fields[0].after, json!("30d"));
    }
    let text = drift.to_string();
    assert!(
        text.contains("~ template.mappings.properties.path.ignore_above: 1024 -> 8191"),
        "{text}"
    );

    // The next deploy repairs exactly that, and leaves nothing to do.
    let repair = deploy_opensearch_async(&env, &root).await.unwrap();
    assert_eq!(resources_with(&repair.plan, Action::Update), updates);
    assert_eq!(repair.writes.len(), updates.len(), "{:?}", repair.writes);
    if ism {
        assert!(
            repair
                .writes
                .iter()
                .any(|w| w.starts_with("PUT /_plugins/_ism/policies/") && w.contains("if_seq_no=")),
            "{:?}",
            repair.writes
        );
    }
    assert!(plan_opensearch_async(&env, &root).await.unwrap().is_empty());

    clean_up(&client, &env).await;
}

/// A template shapes only indices created after it, but the state index
/// lives on: one made before its template (OpenSearch's default refresh
/// every second, one replica) shows in the plan under the state template,
/// the deploy sets the template's dynamic settings on it, and a later
/// change to them by hand is drift that the next deploy puts back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deploy_sets_the_template_settings_on_the_existing_state_index() {
    let (env, client) = test_env("idxset").await;
    let root = xtask::project_root();
    clean_up(&client, &env).await;
    let state = env.indices().session_state();
    let state_template = format!("opensearch_index_template.{state}");
    put(&client, &format!("/{state}"), &json!({})).await;
    let settings = |name: &'static str| {
        let client = client.clone();
        let path = format!("/{state}/_settings?flat_settings=true&include_defaults=true");
        async move {
            let answer = client.json(Method::GET, &path, None).await.unwrap();
            let index = answer.as_object().unwrap().values().next().unwrap().clone();
            index["settings"]
                .get(name)
                .or_else(|| index["defaults"].get(name))
                .cloned()
                .unwrap()
        }
    };
    assert_eq!(settings("index.refresh_interval").await, json!("1s"));

    let first = deploy_opensearch_async(&env, &root).await.unwrap();
    let create = change_of(&first.plan, &state_template);
    assert_eq!(create.action, Action::Create, "{}", first.plan);
    assert!(
        first.writes.contains(&format!("PUT /{state}/_settings")),
        "{:?}",
        first.writes
    );
    assert_eq!(settings("index.refresh_interval").await, json!("-1"));
    assert_eq!(settings("index.number_of_replicas").await, json!("0"));
    assert!(first.after.is_empty(), "{}", first.after);

    // Set by hand: the plan names the existing index's setting.
    put(
        &client,
        &format!("/{state}/_settings"),
        &json!({"index": {"refresh_interval": "5s"}}),
    )
    .await;
    let drift = plan_opensearch_async(&env, &root).await.unwrap();
    assert_eq!(
        resources_with(&drift, Action::Update),
        vec![state_template.clone()],
        "{drift}"
    );
    let fields = changed_fields(&drift, &state_template);
    assert_eq!(fields.len(), 1, "{drift}");
    assert!(
        fields[0].0.starts_with("existing_index_settings"),
        "{drift}"
    );
    assert_eq!((fields[0].1, fields[0].2), (&json!("5s"), &json!("-1")));

    // Only the index changes: the template is as declared.
    let repair = deploy_opensearch_async(&env, &root).await.unwrap();
    assert_eq!(repair.writes, vec![format!("PUT /{state}/_settings")]);
    assert_eq!(settings("index.refresh_interval").await, json!("-1"));
    assert!(plan_opensearch_async(&env, &root).await.unwrap().is_empty());
    clean_up(&client, &env).await;
}

/// The templates do what they promise on a real index: a complete document
/// (nulls included) is accepted, an unknown field is rejected, a path
/// longer than 8191 characters is kept, and the settings apply.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn templates_shape_new_indices() {
    let (env, client) = test_env("shape").await;
    let root = xtask::project_root();
    clean_up(&client, &env).await;
    deploy_opensearch_async(&env, &root).await.unwrap();
    let i = env.indices().clone();
    let index = format!("{}2026.11.02", i.request_events_prefix);

    let doc = json!({
        "timestamp": "2026-11-02T14:03:11.482Z", "session_id": "s1", "user": "ana@example.com",
        "method": "GET", "path": format!("/{}", "a".repeat(9000)), "status_code": 200, "response_time": 41,
        "module": null, "site_token": "ST-0042", "asset_types": ["pump", "valve"],
        "log_group": "/ironman/app", "log_stream": "ecs/web/1"
    });
    put(&client, &format!("/{index}/_create/e1?refresh=true"), &doc).await;
    let mut unknown = doc.clone();
    unknown["extra"] = json!(1);
    let response = client
        .send(
            Method::PUT,
            &format!("/{index}/_create/e2"),
            Some((serde_json::to_vec(&unknown).unwrap(), "application/json")),
        )
        .await
        .unwrap();
    assert_eq!(response.status, 400, "{}", response.text());
    assert!(
        response.text().contains("strict_dynamic_mapping_exception"),
        "{}",
        response.text()
    );

    let settings = client
        .json(Method::GET, &format!("/{index}/_settings"), None)
        .await
        .unwrap();
    let index_settings = &settings[&index]["settings"]["index"];
    assert_eq!(index_settings["number_of_shards"], "1");
    assert_eq!(index_settings["number_of_replicas"], "0");

    let summary = json!({
        "session_id": "s1", "user": "ana@example.com", "modules": [], "assetTypes": ["pump"], "siteTokens": [],
        "paths": ["/a"], "start_time": "2026-11-02T14:03:11.482Z", "end_time": "2026-11-02T14:05:11.482Z",
        "duration_seconds": 120.0, "event_count": 2, "last_updated": "2026-11-02T14:06:00Z"
    });
    put(
        &client,
        &format!("/{}/_doc/s1", i.session_summaries),
        &summary,
    )
    .await;
    let letter = json!({
        "failed_at": "2026-11-02T14:06:00Z", "reason": "mapper_parsing_exception", "error": "failed to parse",
        "raw": "2026-11-02T14:03:11.482Z\tINFO\t{\"type\":\"request\"}", "log_group": "/ironman/app",
        "log_stream": "ecs/web/1", "log_event_id": "3797", "log_event_timestamp": "2026-11-02T14:03:11.482Z",
        "target_index": index
    });
    put(&client, &format!("/{}/_doc/x", i.dead_letters), &letter).await;

    clean_up(&client, &env).await;
}
