//! Canonical forms of OpenSearch resources, so that what a GET returns and
//! what a mapping file declares compare equal when they mean the same.
//!
//! Both sides go through the same function. What the server adds or
//! rewrites, and how it is undone here:
//!
//! Index templates (`GET _index_template/<name>`):
//! - settings come back nested under `index` with every value a string
//!   (`{"index":{"number_of_shards":"1"}}`), whether they were sent as
//!   `number_of_shards: 1` or `index.number_of_shards: "1"`: both sides are
//!   flattened, prefixed with `index.`, stringified and nested again;
//! - `composed_of: []` is added, absent `version`/`priority`/`_meta` come
//!   back as absent or null: empty and null top-level fields are dropped;
//! - mappings are returned as stored, keys reordered; a `_doc` type wrapper
//!   (old clients) is removed, `dynamic` booleans become their string form,
//!   and `type: object` next to `properties` is dropped.
//!
//! ISM policies (`GET _plugins/_ism/policies/<id>`):
//! - the answer wraps the policy with `_id`, `_version`, `_seq_no`,
//!   `_primary_term`; the policy gains `policy_id`, `schema_version`,
//!   `last_updated_time`, `error_notification: null` and, with the security
//!   plugin, `user`: all dropped;
//! - every action gains the default `retry` block `{"count":3,
//!   "backoff":"exponential","delay":"1m"}`: dropped when it is the default;
//! - `ism_template` may be one object or an array, and each gains a
//!   `last_updated_time`: always an array, without the timestamp;
//! - states always carry `actions` and `transitions` arrays: empty ones are
//!   dropped.

use serde_json::{Map, Value};

/// The canonical form of an index template body (`index_patterns`,
/// `template`, `priority`, ...), from a mapping file or from the
/// `index_template` object of a GET answer.
pub fn index_template(body: &Value) -> Value {
    let Some(map) = body.as_object() else {
        return body.clone();
    };
    let mut out = Map::new();
    for (key, value) in map {
        let value = match key.as_str() {
            "index_patterns" => match value {
                Value::String(s) => Value::Array(vec![Value::String(s.clone())]),
                other => other.clone(),
            },
            "template" => template_section(value),
            "priority" | "version" => numeric(value),
            _ => value.clone(),
        };
        if !is_empty(&value) {
            out.insert(key.clone(), value);
        }
    }
    Value::Object(out)
}

fn template_section(template: &Value) -> Value {
    let Some(map) = template.as_object() else {
        return template.clone();
    };
    let mut out = Map::new();
    for (key, value) in map {
        let value = match key.as_str() {
            "settings" => settings(value),
            "mappings" => mappings(value),
            _ => value.clone(),
        };
        if !is_empty(&value) {
            out.insert(key.clone(), value);
        }
    }
    Value::Object(out)
}

/// `{"number_of_shards": 1, "index.refresh_interval": "1s"}` and
/// `{"index": {"number_of_shards": "1", "refresh_interval": "1s"}}` both
/// become the latter.
pub fn settings(settings: &Value) -> Value {
    let mut flat = Vec::new();
    flatten_settings(String::new(), settings, &mut flat);
    let mut out = Map::new();
    for (key, value) in flat {
        let key = if key.starts_with("index.") {
            key
        } else {
            format!("index.{key}")
        };
        insert_nested(&mut out, &key, value);
    }
    Value::Object(out)
}

fn flatten_settings(prefix: String, value: &Value, out: &mut Vec<(String, Value)>) {
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                let path = if prefix.is_empty() {
                    key.clone()
                } else {
                    format!("{prefix}.{key}")
                };
                flatten_settings(path, child, out);
            }
        }
        Value::Null => {}
        Value::Array(items) => out.push((
            prefix,
            Value::Array(items.iter().map(setting_scalar).collect()),
        )),
        scalar => out.push((prefix, setting_scalar(scalar))),
    }
}

fn setting_scalar(value: &Value) -> Value {
    match value {
        Value::String(s) => Value::String(s.clone()),
        Value::Number(n) => Value::String(n.to_string()),
        Value::Bool(b) => Value::String(b.to_string()),
        other => Value::String(other.to_string()),
    }
}

fn insert_nested(map: &mut Map<String, Value>, dotted: &str, value: Value) {
    match dotted.split_once('.') {
        None => {
            map.insert(dotted.to_string(), value);
        }
        Some((head, rest)) => {
            let child = map
                .entry(head.to_string())
                .or_insert_with(|| Value::Object(Map::new()));
            if !child.is_object() {
                *child = Value::Object(Map::new());
            }
            insert_nested(
                child.as_object_mut().expect("just made an object"),
                rest,
                value,
            );
        }
    }
}

/// Mappings as OpenSearch compares them.
pub fn mappings(mappings: &Value) -> Value {
    let inner = match mappings.as_object() {
        Some(map) if map.len() == 1 && map.get("_doc").is_some_and(Value::is_object) => {
            &map["_doc"]
        }
        _ => mappings,
    };
    object_mapping(inner)
}

/// An object level (the root or a field with `properties`).
fn object_mapping(value: &Value) -> Value {
    let Some(map) = value.as_object() else {
        return value.clone();
    };
    let mut out = Map::new();
    for (key, child) in map {
        let child = match key.as_str() {
            "dynamic" => match child {
                Value::Bool(b) => Value::String(b.to_string()),
                other => other.clone(),
            },
            "properties" => match child.as_object() {
                Some(fields) => Value::Object(
                    fields
                        .iter()
                        .map(|(name, field)| (name.clone(), object_mapping(field)))
                        .collect(),
                ),
                None => child.clone(),
            },
            "fields" if child.is_object() => Value::Object(
                child
                    .as_object()
                    .expect("checked")
                    .iter()
                    .map(|(name, field)| (name.clone(), object_mapping(field)))
                    .collect(),
            ),
            _ => child.clone(),
        };
        out.insert(key.clone(), child);
    }
    if out.contains_key("properties") && out.get("type").is_some_and(|t| t == "object") {
        out.remove("type");
    }
    Value::Object(out)
}

/// The default retry block ISM adds to every action.
fn is_default_retry(value: &Value) -> bool {
    value.as_object().is_some_and(|retry| {
        retry.get("count").and_then(Value::as_u64) == Some(3)
            && retry.get("backoff").is_none_or(|b| b == "exponential")
            && retry.get("delay").is_none_or(|d| d == "1m")
    })
}

/// The canonical form of an ISM policy: `{"policy": {...}}`, from a mapping
/// file's body or from a whole GET answer (with `_seq_no` and friends).
pub fn ism_policy(body: &Value) -> Value {
    let Some(policy) = body.get("policy") else {
        return body.clone();
    };
    let Some(map) = policy.as_object() else {
        return body.clone();
    };
    let mut out = Map::new();
    for (key, value) in map {
        let value = match key.as_str() {
            "policy_id" | "schema_version" | "last_updated_time" | "user" => continue,
            "states" => match value {
                Value::Array(states) => Value::Array(states.iter().map(ism_state).collect()),
                other => other.clone(),
            },
            "ism_template" => match value {
                Value::Array(items) => Value::Array(items.iter().map(ism_template).collect()),
                Value::Object(_) => Value::Array(vec![ism_template(value)]),
                other => other.clone(),
            },
            _ => value.clone(),
        };
        if !value.is_null() {
            out.insert(key.clone(), value);
        }
    }
    let mut wrapped = Map::new();
    wrapped.insert("policy".into(), Value::Object(out));
    Value::Object(wrapped)
}

fn ism_state(state: &Value) -> Value {
    let Some(map) = state.as_object() else {
        return state.clone();
    };
    let mut out = Map::new();
    for (key, value) in map {
        let value = match (key.as_str(), value) {
            ("actions", Value::Array(actions)) => {
                Value::Array(actions.iter().map(ism_action).collect())
            }
            _ => value.clone(),
        };
        if value.is_null()
            || (matches!(key.as_str(), "actions" | "transitions") && is_empty(&value))
        {
            continue;
        }
        out.insert(key.clone(), value);
    }
    Value::Object(out)
}

fn ism_action(action: &Value) -> Value {
    let Some(map) = action.as_object() else {
        return action.clone();
    };
    let mut out = map.clone();
    if out.get("retry").is_some_and(is_default_retry) {
        out.remove("retry");
    }
    out.retain(|_, v| !v.is_null());
    Value::Object(out)
}

fn ism_template(template: &Value) -> Value {
    let Some(map) = template.as_object() else {
        return template.clone();
    };
    let mut out = map.clone();
    out.remove("last_updated_time");
    if let Some(Value::String(pattern)) = out.get("index_patterns") {
        let pattern = pattern.clone();
        out.insert(
            "index_patterns".into(),
            Value::Array(vec![Value::String(pattern)]),
        );
    }
    out.retain(|_, v| !v.is_null());
    Value::Object(out)
}

/// Numbers sent as strings (`"100"`) compare as numbers.
fn numeric(value: &Value) -> Value {
    match value {
        Value::String(s) => s
            .parse::<i64>()
            .map(Value::from)
            .unwrap_or_else(|_| value.clone()),
        other => other.clone(),
    }
}

fn is_empty(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::plan::diff;
    use crate::env::Environment;
    use crate::mappings::{DocumentKind, load_documents};
    use serde_json::json;

    fn shipped(kind: DocumentKind, name: &str) -> Value {
        let root = crate::project_root();
        let env = Environment::load(&root, "local").unwrap();
        load_documents(&root, &env)
            .unwrap()
            .into_iter()
            .find(|d| d.kind == kind && d.name == name)
            .unwrap_or_else(|| panic!("no {kind:?} {name}"))
            .body
    }

    fn assert_same(actual: &Value, desired: &Value) {
        let fields = diff(Some(actual), Some(desired));
        assert!(fields.is_empty(), "{fields:#?}");
    }

    /// What OpenSearch answered to `GET _index_template/usage-dead-letters`
    /// after `PUT` of the shipped body (recorded from a real node: 3.3, then
    /// 3.6.0 when `log_event_id` got `ignore_above`; the same answer but for
    /// that field).
    #[test]
    fn index_template_get_from_opensearch_3_has_no_diff() {
        let get = json!({"index_templates":[{"name":"usage-dead-letters","index_template":{
            "index_patterns":["usage-dead-letters"],
            "template":{"settings":{"index":{"number_of_shards":"1","number_of_replicas":"0","refresh_interval":"1s"}},
              "mappings":{"_meta":{"description":"A document that could not be written, with why.","fields":{
                  "target_index":"The index the document was meant for.",
                  "reason":"Short machine-readable reason (e.g. the OpenSearch error type).",
                  "log_group":"CloudWatch Logs group of the event.",
                  "raw":"The original log line (stored, not searchable).",
                  "failed_at":"When the write was rejected.",
                  "log_event_id":"CloudWatch Logs event id; longer than 8191 characters is kept but not indexed.",
                  "error":"The full error OpenSearch returned.",
                  "log_stream":"CloudWatch Logs stream of the event.",
                  "log_event_timestamp":"The log event's own timestamp."}},
                "dynamic":"strict",
                "properties":{"target_index":{"type":"keyword"},"reason":{"type":"keyword"},"log_group":{"type":"keyword"},
                  "raw":{"index":false,"type":"text"},"failed_at":{"type":"date"},"log_event_id":{"ignore_above":8191,"type":"keyword"},
                  "error":{"type":"text"},"log_stream":{"type":"keyword"},"log_event_timestamp":{"type":"date"}}}},
            "composed_of":[],"priority":100,
            "_meta":{"managed_by":"ironman-usage-analytics xtask","source":"mappings/dead-letters.yaml"}}}]});
        let actual = index_template(&get["index_templates"][0]["index_template"]);
        let desired = index_template(&shipped(DocumentKind::IndexTemplate, "usage-dead-letters"));
        assert_same(&actual, &desired);
    }

    /// OpenSearch 2.x answers the same way; settings given flat with the
    /// `index.` prefix, a `_doc` wrapper and boolean `dynamic` also match.
    #[test]
    fn index_template_variants_normalise_alike() {
        let sent = json!({"index_patterns":"x-*","priority":"7","version":null,
            "template":{"settings":{"number_of_shards":2,"index.refresh_interval":"1s","index":{"codec":"best_compression"}},
              "mappings":{"_doc":{"dynamic":false,"properties":{"a":{"type":"object","dynamic":true,"properties":{"b":{"type":"keyword"}}}}}},
              "aliases":{}}});
        let got = json!({"index_patterns":["x-*"],"priority":7,"composed_of":[],
            "template":{"settings":{"index":{"codec":"best_compression","refresh_interval":"1s","number_of_shards":"2"}},
              "mappings":{"dynamic":"false","properties":{"a":{"dynamic":"true","properties":{"b":{"type":"keyword"}}}}}}});
        assert_same(&index_template(&got), &index_template(&sent));
        assert_eq!(
            index_template(&got)["template"]["settings"]["index"]["number_of_shards"],
            "2"
        );
    }

    #[test]
    fn real_differences_survive_normalisation() {
        let desired = index_template(&shipped(
            DocumentKind::IndexTemplate,
            "request-events-template",
        ));
        let mut actual = desired.clone();
        actual["template"]["mappings"]["properties"]["path"]["ignore_above"] = json!(1024);
        actual["template"]["settings"]["index"]["number_of_replicas"] = json!("1");
        let fields = diff(Some(&index_template(&actual)), Some(&desired));
        let paths: Vec<&str> = fields.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(
            paths,
            vec![
                "template.mappings.properties.path.ignore_above",
                "template.settings.index.number_of_replicas"
            ]
        );
        assert_eq!(fields[0].before, json!(1024));
        assert_eq!(fields[0].after, json!(8191));
    }

    /// The shape ISM (2.x and 3.x) answers `GET _plugins/_ism/policies/<id>`
    /// with: envelope, policy_id, schema_version, timestamps, null
    /// error_notification, a default retry on every action, an ism_template
    /// array with last_updated_time, and the security plugin's `user`.
    #[test]
    fn ism_policy_get_has_no_diff() {
        let get = json!({
            "_id": "request-events-retention", "_version": 3, "_seq_no": 12, "_primary_term": 1,
            "policy": {
                "policy_id": "request-events-retention",
                "description": "Request events (request-events-*): warm after 7d, delete after 30d. Managed by ironman-usage-analytics xtask (mappings/ism-request-events.yaml).",
                "last_updated_time": 1793628191482_u64,
                "schema_version": 21,
                "error_notification": null,
                "default_state": "hot",
                "states": [
                    {"name": "hot", "actions": [], "transitions": [
                        {"state_name": "warm", "conditions": {"min_index_age": "7d"}}]},
                    {"name": "warm", "actions": [
                        {"retry": {"count": 3, "backoff": "exponential", "delay": "1m"}, "read_only": {}},
                        {"retry": {"count": 3, "backoff": "exponential", "delay": "1m"}, "force_merge": {"max_num_segments": 1}}
                    ], "transitions": [{"state_name": "delete", "conditions": {"min_index_age": "30d"}}]},
                    {"name": "delete", "actions": [
                        {"retry": {"count": 3, "backoff": "exponential", "delay": "1m"}, "delete": {}}
                    ], "transitions": []}
                ],
                "ism_template": [{"index_patterns": ["request-events-*"], "priority": 100, "last_updated_time": 1793628191482_u64}],
                "user": {"name": "admin", "backend_roles": [], "roles": ["all_access"], "custom_attribute_names": []}
            }
        });
        let desired = ism_policy(&shipped(
            DocumentKind::IsmPolicy,
            "request-events-retention",
        ));
        assert_same(&ism_policy(&get), &desired);

        // A single ism_template object (older answers) is the same policy.
        let mut single = get.clone();
        single["policy"]["ism_template"] = get["policy"]["ism_template"][0].clone();
        assert_same(&ism_policy(&single), &desired);

        // A retry that is not the default is a real difference.
        let mut tuned = get.clone();
        tuned["policy"]["states"][2]["actions"][0]["retry"]["count"] = json!(5);
        let fields = diff(Some(&ism_policy(&tuned)), Some(&desired));
        let paths: Vec<&str> = fields.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(
            paths,
            vec![
                "policy.states[2].actions[0].retry.backoff",
                "policy.states[2].actions[0].retry.count",
                "policy.states[2].actions[0].retry.delay"
            ]
        );
    }
}
