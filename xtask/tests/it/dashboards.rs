//! The Dashboards saved-objects client and resources against a local HTTP
//! double of the OpenSearch Dashboards API (Dashboards itself cannot be
//! installed here). The double follows the documented API (the Kibana 7.10
//! saved-objects API that OpenSearch Dashboards inherited):
//!
//! - `POST /api/saved_objects/_import?overwrite=true`, `multipart/form-data`
//!   with a `file` part of NDJSON → `{"success":true,"successCount":N,
//!   "successResults":[{"type","id","meta":{"title"}}]}`; objects whose
//!   references are missing → `{"success":false,"successCount":0,
//!   "errors":[{"id","type","title","error":{"type":"missing_references",
//!   "references":[{"type","id"}]}}]}`; an existing object without
//!   `overwrite` → an error of type `conflict`;
//! - `GET /api/saved_objects/{type}/{id}` → `{"id","type","updated_at",
//!   "version","namespaces","migrationVersion","attributes","references"}`,
//!   or 404 `{"statusCode":404,"error":"Not Found","message":"Saved object
//!   [type/id] not found"}`;
//! - `DELETE /api/saved_objects/{type}/{id}` → `{}`;
//! - a write without the `osd-xsrf` header → 400.
//!
//! Like Dashboards, the double adds its own fields and stores embedded JSON
//! re-serialised (here: pretty-printed), which the diff must not see.

use crate::support;

use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use support::http::{Request, Response, Server};
use xtask::dashboards::client::Dashboards;
use xtask::dashboards::resource::{SavedObjectResource, checked_objects};
use xtask::dashboards::{SavedObject, resources};
use xtask::deploy::Action;
use xtask::engine::{Resource, apply, plan};
use xtask::env::{DashboardsConfig, Environment};

#[derive(Default)]
struct State {
    objects: BTreeMap<(String, String), Value>,
    requests: Vec<Request>,
    writes: u64,
}

struct Double {
    url: String,
    state: Arc<Mutex<State>>,
    _server: Server,
}

impl Double {
    async fn start() -> Double {
        let state = Arc::new(Mutex::new(State::default()));
        let shared = state.clone();
        let server = Server::start_fn(move |request| {
            let (status, body) = handle(&shared, &request);
            shared.lock().unwrap().requests.push(request);
            let mut response = Response::json(status, &body);
            response.reason = Some(if status < 300 { "OK" } else { "Error" }.into());
            response.headers = [("content-type", "application/json; charset=utf-8")]
                .into_iter()
                .collect();
            response
        })
        .await;
        Double {
            url: server.url.clone(),
            state,
            _server: server,
        }
    }

    fn stored(&self, kind: &str, id: &str) -> Option<Value> {
        self.state
            .lock()
            .unwrap()
            .objects
            .get(&(kind.into(), id.into()))
            .cloned()
    }

    fn edit(&self, kind: &str, id: &str, f: impl FnOnce(&mut Value)) {
        let mut state = self.state.lock().unwrap();
        f(state
            .objects
            .get_mut(&(kind.into(), id.into()))
            .expect("stored"));
    }

    fn remove(&self, kind: &str, id: &str) {
        self.state
            .lock()
            .unwrap()
            .objects
            .remove(&(kind.into(), id.into()));
    }

    fn requests(&self) -> Vec<Request> {
        self.state.lock().unwrap().requests.clone()
    }

    fn writes(&self) -> u64 {
        self.state.lock().unwrap().writes
    }
}

fn not_found(kind: &str, id: &str) -> (u16, Value) {
    (
        404,
        json!({"statusCode": 404, "error": "Not Found", "message": format!("Saved object [{kind}/{id}] not found")}),
    )
}

fn bad_request(message: &str) -> (u16, Value) {
    (
        400,
        json!({"statusCode": 400, "error": "Bad Request", "message": message}),
    )
}

/// The `file` part of a multipart/form-data body.
fn file_part(request: &Request) -> Option<String> {
    let ct = request.headers.get("content-type")?;
    let boundary = ct.strip_prefix("multipart/form-data; boundary=")?;
    let body = String::from_utf8(request.body.clone()).ok()?;
    let delimiter = format!("--{boundary}");
    body.split(&delimiter)
        .find(|part| part.contains("name=\"file\""))
        .and_then(|part| part.split_once("\r\n\r\n"))
        .map(|(_, content)| content.trim_end_matches("\r\n").to_string())
}

fn handle(state: &Mutex<State>, request: &Request) -> (u16, Value) {
    if request.method != "GET"
        && request.headers.get("osd-xsrf").map(String::as_str) != Some("true")
    {
        return bad_request("Request must contain a osd-xsrf header.");
    }
    let (path, query) = request.path.split_once('?').unwrap_or((&request.path, ""));
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match (request.method.as_str(), parts.as_slice()) {
        ("POST", ["api", "saved_objects", "_import"]) => {
            let overwrite = query.split('&').any(|q| q == "overwrite=true");
            let Some(ndjson) = file_part(request) else {
                return bad_request(
                    "[request body.file]: expected value of type [object] but got [undefined]",
                );
            };
            let mut incoming = Vec::new();
            for line in ndjson.lines().filter(|l| !l.trim().is_empty()) {
                match serde_json::from_str::<Value>(line) {
                    Ok(v)
                        if v["type"].is_string()
                            && v["id"].is_string()
                            && v["attributes"].is_object() =>
                    {
                        incoming.push(v)
                    }
                    _ => return bad_request(&format!("Unexpected token in NDJSON: {line}")),
                }
            }
            let mut state = state.lock().unwrap();
            let mut errors = Vec::new();
            let mut results = Vec::new();
            for object in &incoming {
                let (kind, id) = (
                    object["type"].as_str().unwrap(),
                    object["id"].as_str().unwrap(),
                );
                let missing: Vec<Value> = object["references"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|r| {
                        let key = (
                            r["type"].as_str().unwrap_or("").to_string(),
                            r["id"].as_str().unwrap_or("").to_string(),
                        );
                        !state.objects.contains_key(&key)
                            && !incoming
                                .iter()
                                .any(|o| o["type"] == r["type"] && o["id"] == r["id"])
                    })
                    .map(|r| json!({"type": r["type"], "id": r["id"]}))
                    .collect();
                let title = object["attributes"]["title"].clone();
                if !missing.is_empty() {
                    errors.push(json!({"id": id, "type": kind, "title": title, "error": {"type": "missing_references", "references": missing}}));
                    continue;
                }
                let key = (kind.to_string(), id.to_string());
                if state.objects.contains_key(&key) && !overwrite {
                    errors.push(json!({"id": id, "type": kind, "title": title, "error": {"type": "conflict"}}));
                    continue;
                }
                state.writes += 1;
                let mut attributes = object["attributes"].clone();
                // Dashboards stores embedded JSON as its own serialiser writes it.
                for path in [
                    &["visState"][..],
                    &["panelsJSON"],
                    &["optionsJSON"],
                    &["uiStateJSON"],
                    &["kibanaSavedObjectMeta", "searchSourceJSON"],
                ] {
                    if let Some(v) = path.iter().try_fold(&mut attributes, |v, k| v.get_mut(*k))
                        && let Some(parsed) = v
                            .as_str()
                            .and_then(|s| serde_json::from_str::<Value>(s).ok())
                    {
                        *v = Value::String(serde_json::to_string_pretty(&parsed).unwrap());
                    }
                }
                let stored = json!({
                    "id": id,
                    "type": kind,
                    "namespaces": ["default"],
                    "updated_at": "2026-11-27T12:00:00.000Z",
                    "version": format!("WzEsJHt7e30sMV0={}", state.writes),
                    "migrationVersion": {kind: "7.10.0"},
                    "attributes": attributes,
                    "references": object["references"].clone(),
                });
                state.objects.insert(key, stored);
                results.push(json!({"type": kind, "id": id, "meta": {"title": title, "icon": "visualizeApp"}}));
            }
            if errors.is_empty() {
                (
                    200,
                    json!({"success": true, "successCount": results.len(), "successResults": results}),
                )
            } else {
                (
                    200,
                    json!({"success": false, "successCount": results.len(), "successResults": results, "errors": errors}),
                )
            }
        }
        ("GET", ["api", "saved_objects", kind, id]) => {
            match state
                .lock()
                .unwrap()
                .objects
                .get(&(kind.to_string(), id.to_string()))
            {
                Some(object) => (200, object.clone()),
                None => not_found(kind, id),
            }
        }
        ("DELETE", ["api", "saved_objects", kind, id]) => {
            match state
                .lock()
                .unwrap()
                .objects
                .remove(&(kind.to_string(), id.to_string()))
            {
                Some(_) => (200, json!({})),
                None => not_found(kind, id),
            }
        }
        _ => (
            404,
            json!({"statusCode": 404, "error": "Not Found", "message": "Not Found"}),
        ),
    }
}

fn environment(double: &Double) -> Environment {
    let mut env = Environment::local_for_test(&xtask::project_root(), "").expect("local");
    env.dashboards = Some(DashboardsConfig {
        endpoint: double.url.clone(),
    });
    env
}

fn refs(resources: &[Box<dyn Resource>]) -> Vec<&dyn Resource> {
    resources.iter().map(|r| r.as_ref()).collect()
}

#[tokio::test]
async fn import_read_back_drift_found_and_repaired() {
    let double = Double::start().await;
    let env = environment(&double);
    let root = xtask::project_root();
    let resources = resources(&env, &root).expect("resources");
    assert_eq!(resources.len(), 12);
    let all = refs(&resources);

    // From nothing: everything is created, index patterns first.
    let planned = plan(&all).await.expect("plan");
    assert_eq!(planned.plan.count(Action::Create), 12, "{}", planned.plan);
    assert!(
        all[0].kind() == "dashboards_index_pattern" && all[1].kind() == "dashboards_index_pattern"
    );
    apply(&all, &planned).await.expect("apply");
    assert_eq!(double.writes(), 12);

    // Read back: Dashboards' additions and its re-serialised JSON are no diff.
    let stored = double
        .stored("visualization", "ironman-usage-sessions-per-module")
        .unwrap();
    assert!(
        stored["attributes"]["visState"]
            .as_str()
            .unwrap()
            .contains("\n  "),
        "the double re-serialises"
    );
    assert!(stored["migrationVersion"].is_object() && stored["updated_at"].is_string());
    let again = plan(&all).await.expect("plan");
    assert!(
        again.plan.is_empty(),
        "a second plan changes nothing:\n{}",
        again.plan
    );

    // Drift out of band: a field inside visState, a dashboard attribute, a
    // reference, and an object deleted.
    double.edit("visualization", "ironman-usage-sessions-per-module", |o| {
        let mut vis: Value =
            serde_json::from_str(o["attributes"]["visState"].as_str().unwrap()).unwrap();
        vis["aggs"][1]["params"]["size"] = json!(5);
        o["attributes"]["visState"] = Value::String(vis.to_string());
    });
    double.edit("dashboard", "ironman-usage-analytics", |o| {
        o["attributes"]["title"] = json!("Usage (edited by hand)");
        o["references"][0]["id"] = json!("someone-elses-vis");
    });
    double.remove("search", "ironman-usage-search-request-events");
    let drift = plan(&all).await.expect("plan");
    let pending: Vec<(String, Action, Vec<String>)> = drift
        .plan
        .pending()
        .map(|c| {
            (
                c.resource.clone(),
                c.action,
                c.fields.iter().map(|f| f.path.clone()).collect(),
            )
        })
        .collect();
    assert_eq!(pending.len(), 3, "{}", drift.plan);
    let find = |name: &str| {
        pending
            .iter()
            .find(|(r, _, _)| r.ends_with(name))
            .unwrap_or_else(|| panic!("{name} in {pending:?}"))
    };
    let (resource, action, fields) = find(".ironman-usage-sessions-per-module");
    assert_eq!(
        resource,
        "dashboards_visualization.ironman-usage-sessions-per-module"
    );
    assert_eq!(*action, Action::Update);
    assert_eq!(fields, &["attributes.visState.aggs[1].params.size"]);
    let (_, action, fields) = find(".ironman-usage-analytics");
    assert_eq!(*action, Action::Update);
    assert!(
        fields.contains(&"attributes.title".to_string()),
        "{fields:?}"
    );
    assert!(
        fields.iter().any(|f| f.starts_with("references[0]")),
        "{fields:?}"
    );
    let (_, action, _) = find(".ironman-usage-search-request-events");
    assert_eq!(*action, Action::Create);

    let writes = double.writes();
    apply(&all, &drift).await.expect("repair");
    assert_eq!(
        double.writes(),
        writes + 3,
        "only the drifted objects are imported again"
    );
    let repaired = plan(&all).await.expect("plan");
    assert!(repaired.plan.is_empty(), "repaired:\n{}", repaired.plan);
    assert_eq!(
        double
            .stored("dashboard", "ironman-usage-analytics")
            .unwrap()["attributes"]["title"],
        "Usage analytics"
    );

    // Every call followed the documented API.
    let requests = double.requests();
    for r in &requests {
        assert_eq!(
            r.headers.get("osd-xsrf").map(String::as_str),
            Some("true"),
            "{} {}",
            r.method,
            r.path
        );
        if r.method == "POST" {
            assert_eq!(r.path, "/api/saved_objects/_import?overwrite=true");
            assert!(r.headers["content-type"].starts_with("multipart/form-data; boundary="));
            let part = file_part(r).expect("a file part");
            for line in part.lines() {
                let object: SavedObject =
                    serde_json::from_str(line).expect("each line is a saved object");
                assert!(!object.id.is_empty());
            }
        }
    }
    assert!(requests.iter().any(|r| r.method == "GET"
        && r.path == "/api/saved_objects/index-pattern/ironman-usage-sessions"));

    // Delete.
    let search = SavedObjectResource::new(
        Dashboards::for_env(&env).unwrap().unwrap(),
        checked_objects(&env, &root)
            .unwrap()
            .into_iter()
            .find(|o| o.kind == "search")
            .unwrap(),
    );
    assert!(search.remove().await.expect("delete"));
    assert!(double.stored("search", &search.object().id).is_none());
    assert!(
        !search
            .remove()
            .await
            .expect("a second delete finds nothing")
    );
}

#[tokio::test]
async fn an_import_the_api_refuses_fails_with_its_errors() {
    let double = Double::start().await;
    let env = environment(&double);
    let client = Dashboards::for_env(&env).unwrap().unwrap();
    let objects = checked_objects(&env, &xtask::project_root()).unwrap();
    // A visualization alone: its index pattern is missing on the server.
    let vis = objects
        .iter()
        .find(|o| o.id == "ironman-usage-sessions-per-module")
        .unwrap();
    let err = client
        .import(std::slice::from_ref(vis))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("missing_references"), "{err}");
    assert!(err.contains("ironman-usage-sessions-per-module"), "{err}");
    assert!(double.stored("visualization", &vis.id).is_none());
    // Absent objects read as None; all objects at once import in one call.
    assert_eq!(
        client
            .get("dashboard", "ironman-usage-analytics")
            .await
            .unwrap(),
        None
    );
    let imported = client.import(&objects).await.expect("import");
    assert_eq!(imported.success_count, objects.len() as u64);
}

#[test]
fn an_environment_without_dashboards_has_no_saved_object_resources() {
    let env = Environment::load(&xtask::project_root(), "local").unwrap();
    assert!(env.dashboards.is_none());
    assert!(resources(&env, &xtask::project_root()).unwrap().is_empty());
    let note = xtask::dashboards::resource::skipped_note(&env).unwrap();
    assert!(
        note.contains("local.yaml") && note.contains("skipped"),
        "{note}"
    );
    let double_env = {
        let mut e = env.clone();
        e.dashboards = Some(DashboardsConfig {
            endpoint: "http://127.0.0.1:5601".into(),
        });
        e
    };
    assert_eq!(xtask::dashboards::resource::skipped_note(&double_env), None);
}

/// The saved objects are part of the whole deploy: `deploy` imports them
/// after the AWS and OpenSearch resources, a second plan is empty, and a
/// drifted object shows in the stack's plan.
#[tokio::test]
async fn deploy_and_diff_of_the_whole_stack_include_the_saved_objects() {
    let double = Double::start().await;
    let mut env = support::test_stack_environment("dash-stack").await;
    env.dashboards = Some(DashboardsConfig {
        endpoint: double.url.clone(),
    });
    let code = xtask::deploy::aws::LambdaCode::from_zip(support::fake_lambda_zip(b"d"), "test");
    let stack = xtask::deploy::stack::Stack::load(&xtask::project_root(), &env, code)
        .await
        .expect("stack");
    let deployed = stack.deploy(|_, _| {}, || Ok(())).await.expect("deploy");
    let created: Vec<&str> = deployed
        .plan
        .changes
        .iter()
        .filter(|c| c.action == Action::Create)
        .map(|c| c.kind.as_str())
        .collect();
    assert!(
        created.iter().any(|k| k.starts_with("dashboards_")),
        "no saved object in the deploy: {created:?}"
    );
    assert!(created.contains(&"lambda_function"), "{created:?}");
    let (plan, _) = stack.plan().await.expect("plan");
    assert!(plan.is_empty(), "{plan}");

    let dashboard = plan
        .changes
        .iter()
        .find(|c| c.kind == "dashboards_dashboard")
        .expect("the dashboard is planned")
        .clone();
    double.remove("dashboard", &dashboard.name);
    let (drift, _) = stack.plan().await.expect("plan");
    assert!(
        drift
            .changes
            .iter()
            .any(|c| c.resource == dashboard.resource && c.action == Action::Create),
        "{drift}"
    );
    support::cleanup(&support::require_opensearch().await, &env).await;
}
