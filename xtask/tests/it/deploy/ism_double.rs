//! The ISM policy's drift detection and repair, against a stand-in for the
//! Index State Management API.
//!
//! Why a double: Maven Central publishes no index-management plugin for
//! the OpenSearch versions that run here, so the local cluster has no ISM
//! (docs/local-stack.md, "No ISM locally"). The double answers the way the
//! plugin documents and does (2.x and 3.x): the `_id/_seq_no/_primary_term`
//! envelope, `policy_id`, `schema_version`, `last_updated_time`,
//! `error_notification: null`, a default `retry` on every action,
//! `ism_template` as an array with its own `last_updated_time`, and
//! optimistic concurrency through `if_seq_no`/`if_primary_term` (409 on a
//! stale pair).

use crate::support;

use processor::opensearch::{Auth, OpenSearch};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use support::http::{Request, Response, Server};
use xtask::deploy::opensearch::{Api, IsmPolicy};
use xtask::engine::{self, Action, Resource};
use xtask::mappings::{DocumentKind, load_documents};

#[derive(Default)]
struct Store {
    policy: Option<Value>,
    seq_no: u64,
}

/// What the plugin stores and returns for a PUT body.
fn as_stored(id: &str, body: &Value, seq_no: u64) -> Value {
    let mut policy = body["policy"].clone();
    policy["policy_id"] = json!(id);
    policy["schema_version"] = json!(21);
    policy["last_updated_time"] = json!(1_793_628_191_482_u64 + seq_no);
    if policy.get("error_notification").is_none() {
        policy["error_notification"] = Value::Null;
    }
    for state in policy["states"].as_array_mut().into_iter().flatten() {
        for action in state["actions"].as_array_mut().into_iter().flatten() {
            if action.get("retry").is_none() {
                action["retry"] = json!({"count": 3, "backoff": "exponential", "delay": "1m"});
            }
        }
    }
    let templates = match policy["ism_template"].take() {
        Value::Array(items) => items,
        Value::Null => Vec::new(),
        single => vec![single],
    };
    policy["ism_template"] = Value::Array(
        templates
            .into_iter()
            .map(|mut t| {
                t["last_updated_time"] = json!(1_793_628_191_482_u64);
                t
            })
            .collect(),
    );
    json!({"_id": id, "_version": seq_no + 1, "_seq_no": seq_no, "_primary_term": 1, "policy": policy})
}

/// The plugin's answer to one request.
fn handle(request: Request, store: &Mutex<Store>) -> Response {
    let respond = Response::json;
    let (path, query) = request.path.split_once('?').unwrap_or((&request.path, ""));
    let Some(id) = path.strip_prefix("/_plugins/_ism/policies/") else {
        return respond(
            400,
            &json!({"error": format!("no handler found for uri [{path}]")}),
        );
    };
    let mut store = store.lock().unwrap();
    match request.method.as_str() {
        "GET" => match &store.policy {
            Some(policy) => respond(200, policy),
            None => respond(
                404,
                &json!({"error": {"type": "status_exception", "reason": "Policy not found"}, "status": 404}),
            ),
        },
        "PUT" => {
            let body: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
            let if_seq_no = query
                .split('&')
                .find_map(|kv| kv.strip_prefix("if_seq_no="))
                .and_then(|v| v.parse::<u64>().ok());
            match (&store.policy, if_seq_no) {
                (Some(_), None) => respond(
                    409,
                    &json!({"error": {"type": "version_conflict_engine_exception", "reason": "document already exists"}, "status": 409}),
                ),
                (Some(_), Some(seq)) if seq != store.seq_no => respond(
                    409,
                    &json!({"error": {"type": "version_conflict_engine_exception", "reason": "stale seq_no"}, "status": 409}),
                ),
                (None, Some(_)) => respond(404, &json!({"status": 404})),
                (existing, _) => {
                    let seq_no = if existing.is_some() {
                        store.seq_no + 1
                    } else {
                        0
                    };
                    let stored = as_stored(id, &body, seq_no);
                    store.seq_no = seq_no;
                    store.policy = Some(stored.clone());
                    respond(if seq_no == 0 { 201 } else { 200 }, &stored)
                }
            }
        }
        _ => respond(400, &json!({"error": "unsupported"})),
    }
}

/// Serves the ISM policies API on a loopback port until the server is
/// dropped.
async fn start_double() -> (Server, Arc<Mutex<Store>>) {
    let store = Arc::new(Mutex::new(Store::default()));
    let shared = store.clone();
    let server = Server::start_fn(move |request| handle(request, &shared)).await;
    (server, store)
}

#[tokio::test]
async fn an_edited_ism_policy_is_found_by_field_and_put_back() {
    let (double, store) = start_double().await;
    let url = &double.url;
    let env = xtask::env::Environment::load(&support::root(), "local").unwrap();
    let document = load_documents(&support::root(), &env)
        .unwrap()
        .into_iter()
        .find(|d| d.kind == DocumentKind::IsmPolicy)
        .expect("mappings/ declares an ISM policy");
    let api = Api::new(OpenSearch::new(url, Auth::None).unwrap());
    let policy = IsmPolicy::new(api.clone(), document.name.clone(), document.body.clone());
    let resources: Vec<&dyn Resource> = vec![&policy];

    let first = engine::plan(&resources).await.unwrap();
    assert_eq!(first.plan.changes[0].action, Action::Create);
    engine::apply(&resources, &first).await.unwrap();
    let again = engine::plan(&resources).await.unwrap();
    assert!(
        again.plan.is_empty(),
        "what the plugin adds shows as a diff:\n{}",
        again.plan
    );

    // A console user changes the delete age.
    {
        let mut store = store.lock().unwrap();
        let stored = store.policy.as_mut().unwrap();
        stored["policy"]["states"][1]["transitions"][0]["conditions"]["min_index_age"] =
            json!("365d");
        store.seq_no += 1;
        let seq = store.seq_no;
        store.policy.as_mut().unwrap()["_seq_no"] = json!(seq);
    }
    let drift = engine::plan(&resources).await.unwrap();
    let change = &drift.plan.changes[0];
    assert_eq!(change.action, Action::Update, "{}", drift.plan);
    assert_eq!(change.fields.len(), 1, "{}", drift.plan);
    assert_eq!(
        change.fields[0].path,
        "policy.states[1].transitions[0].conditions.min_index_age"
    );
    assert_eq!(change.fields[0].before, json!("365d"));
    assert_eq!(
        change.fields[0].after,
        json!(format!("{}d", env.retention.delete_after_days))
    );

    engine::apply(&resources, &drift).await.unwrap();
    let repaired = engine::plan(&resources).await.unwrap();
    assert!(repaired.plan.is_empty(), "{}", repaired.plan);
    assert!(
        api.writes().iter().any(|w| w.contains("if_seq_no=")),
        "the update did not use optimistic concurrency: {:?}",
        api.writes()
    );
}
