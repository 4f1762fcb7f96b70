//! The ISM policy's drift detection and repair, against a stand-in for the
//! Index State Management API.
//!
//! Why a double: Maven Central publishes no index-management plugin for
//! the OpenSearch versions that run here, so the local cluster has no ISM
//! (README, "What was verified where"). The double answers the way the
//! plugin documents and does (2.x and 3.x): the `_id/_seq_no/_primary_term`
//! envelope, `policy_id`, `schema_version`, `last_updated_time`,
//! `error_notification: null`, a default `retry` on every action,
//! `ism_template` as an array with its own `last_updated_time`, and
//! optimistic concurrency through `if_seq_no`/`if_primary_term` (409 on a
//! stale pair).

use crate::support;

use processor::opensearch::{Auth, OpenSearch};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use xtask::deploy::opensearch_resources::{Api, IsmPolicy};
use xtask::deploy::plan::Action;
use xtask::deploy::render::{DocumentKind, load_documents};
use xtask::deploy::resource::{self, Resource};

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

fn respond(stream: &mut std::net::TcpStream, status: u16, body: &Value) {
    let text = body.to_string();
    let reason = match status {
        200 => "OK",
        201 => "Created",
        404 => "Not Found",
        409 => "Conflict",
        _ => "Bad Request",
    };
    let _ = write!(
        stream,
        "HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{text}",
        text.len()
    );
}

fn handle(stream: std::net::TcpStream, store: &Mutex<Store>) {
    let mut stream = stream;
    let mut reader = BufReader::new(stream.try_clone().expect("clone"));
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() {
        return;
    }
    let mut length = 0usize;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
            break;
        }
        if let Some((name, value)) = line.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0; length];
    let _ = reader.read_exact(&mut body);
    let mut parts = request_line.split_whitespace();
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let Some(id) = path.strip_prefix("/_plugins/_ism/policies/") else {
        return respond(
            &mut stream,
            400,
            &json!({"error": format!("no handler found for uri [{path}]")}),
        );
    };
    let mut store = store.lock().unwrap();
    match method {
        "GET" => match &store.policy {
            Some(policy) => respond(&mut stream, 200, policy),
            None => respond(
                &mut stream,
                404,
                &json!({"error": {"type": "status_exception", "reason": "Policy not found"}, "status": 404}),
            ),
        },
        "PUT" => {
            let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            let if_seq_no = query
                .split('&')
                .find_map(|kv| kv.strip_prefix("if_seq_no="))
                .and_then(|v| v.parse::<u64>().ok());
            match (&store.policy, if_seq_no) {
                (Some(_), None) => respond(
                    &mut stream,
                    409,
                    &json!({"error": {"type": "version_conflict_engine_exception", "reason": "document already exists"}, "status": 409}),
                ),
                (Some(_), Some(seq)) if seq != store.seq_no => respond(
                    &mut stream,
                    409,
                    &json!({"error": {"type": "version_conflict_engine_exception", "reason": "stale seq_no"}, "status": 409}),
                ),
                (None, Some(_)) => respond(&mut stream, 404, &json!({"status": 404})),
                (existing, _) => {
                    let seq_no = if existing.is_some() {
                        store.seq_no + 1
                    } else {
                        0
                    };
                    let stored = as_stored(id, &body, seq_no);
                    store.seq_no = seq_no;
                    store.policy = Some(stored.clone());
                    respond(&mut stream, if seq_no == 0 { 201 } else { 200 }, &stored);
                }
            }
        }
        _ => respond(&mut stream, 400, &json!({"error": "unsupported"})),
    }
}

/// Serves the ISM policies API on a loopback port until the test ends.
fn start_double() -> (String, Arc<Mutex<Store>>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a loopback port");
    let url = format!("http://{}", listener.local_addr().unwrap());
    let store = Arc::new(Mutex::new(Store::default()));
    let shared = store.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            handle(stream, &shared);
        }
    });
    (url, store)
}

#[tokio::test]
async fn an_edited_ism_policy_is_found_by_field_and_put_back() {
    let (url, store) = start_double();
    let env = xtask::env::Environment::load(&support::root(), "local").unwrap();
    let document = load_documents(&support::root(), &env)
        .unwrap()
        .into_iter()
        .find(|d| d.kind == DocumentKind::IsmPolicy)
        .expect("mappings/ declares an ISM policy");
    let api = Api::new(OpenSearch::new(&url, Auth::None).unwrap());
    let policy = IsmPolicy::new(api.clone(), document.name.clone(), document.body.clone());
    let resources: Vec<&dyn Resource> = vec![&policy];

    let first = resource::plan(&resources).await.unwrap();
    assert_eq!(first.plan.changes[0].action, Action::Create);
    resource::apply(&resources, &first).await.unwrap();
    let again = resource::plan(&resources).await.unwrap();
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
    let drift = resource::plan(&resources).await.unwrap();
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

    resource::apply(&resources, &drift).await.unwrap();
    let repaired = resource::plan(&resources).await.unwrap();
    assert!(repaired.plan.is_empty(), "{}", repaired.plan);
    assert!(
        api.writes().iter().any(|w| w.contains("if_seq_no=")),
        "the update did not use optimistic concurrency: {:?}",
        api.writes()
    );
}
