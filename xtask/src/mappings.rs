//! `mappings/*.yaml`: the declared OpenSearch resources, with `{{name}}`
//! placeholders filled from the environment. `deploy` makes them resources;
//! `dashboards` checks saved objects' fields against them.
//!
//! Each file declares one resource:
//!
//! ```yaml
//! kind: index_template          # or ism_policy
//! name: "{{session_summaries}}" # the template name / policy id
//! body: { ... }                 # sent as is (after substitution)
//! ```
//!
//! Placeholders are substituted in the parsed YAML, never in its text, so a
//! value cannot change the document's structure. A string that is exactly
//! one placeholder takes the value with its type (`"{{number_of_shards}}"`
//! becomes the number 1); inside a longer string the value is interpolated.
//! An unknown placeholder is an error that names the file, where, and the
//! known names.

use crate::env::{Environment, display_path};
use anyhow::Context as _;
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;

/// The kinds of resource a mapping file can declare.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DocumentKind {
    /// Applied first: indices created by the templates get the policy.
    IsmPolicy,
    IndexTemplate,
}

/// One rendered mapping file.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    /// The file, relative to the workspace root (`mappings/request-events.yaml`).
    pub origin: String,
    pub kind: DocumentKind,
    pub name: String,
    pub body: Value,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDocument {
    kind: DocumentKind,
    name: Value,
    body: Value,
}

/// The values placeholders may name.
pub fn variables(env: &Environment) -> BTreeMap<&'static str, Value> {
    let i = env.indices();
    let s = &env.index_settings;
    let r = &env.retention;
    BTreeMap::from([
        ("environment", Value::from(env.name.clone())),
        (
            "request_events_prefix",
            Value::from(i.request_events_prefix.clone()),
        ),
        (
            "session_summaries",
            Value::from(i.session_summaries.clone()),
        ),
        ("dead_letters", Value::from(i.dead_letters.clone())),
        ("session_state", Value::from(i.session_state())),
        ("number_of_shards", Value::from(s.number_of_shards)),
        ("number_of_replicas", Value::from(s.number_of_replicas)),
        ("refresh_interval", Value::from(s.refresh_interval.clone())),
        ("retention.warm_after_days", Value::from(r.warm_after_days)),
        (
            "retention.delete_after_days",
            Value::from(r.delete_after_days),
        ),
    ])
}

/// Reads every `mappings/*.yaml`, in apply order (ISM policies, then
/// index templates; by file name within a kind).
pub fn load_documents(root: &Path, env: &Environment) -> anyhow::Result<Vec<Document>> {
    let dir = root.join("mappings");
    let mut paths = Vec::new();
    for entry in std::fs::read_dir(&dir).with_context(|| format!("listing {}", dir.display()))? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
            paths.push(path);
        }
    }
    paths.sort();
    let vars = variables(env);
    let mut documents = Vec::new();
    for path in paths {
        let origin = display_path(root, &path);
        let text =
            std::fs::read_to_string(&path).with_context(|| format!("cannot read {origin}"))?;
        documents.push(parse_document(&text, &origin, &vars)?);
    }
    if documents.is_empty() {
        anyhow::bail!("{}: no mapping files (*.yaml)", display_path(root, &dir));
    }
    let mut seen = BTreeMap::new();
    for doc in &documents {
        if let Some(other) = seen.insert((doc.kind, doc.name.clone()), doc.origin.clone()) {
            anyhow::bail!(
                "{} and {other} both declare {:?} `{}`: each resource must be declared once",
                doc.origin,
                doc.kind,
                doc.name
            );
        }
    }
    documents.sort_by(|a, b| a.kind.cmp(&b.kind).then_with(|| a.origin.cmp(&b.origin)));
    Ok(documents)
}

/// Parses one mapping file and fills in its placeholders.
pub fn parse_document(
    text: &str,
    origin: &str,
    vars: &BTreeMap<&'static str, Value>,
) -> anyhow::Result<Document> {
    let raw: RawDocument =
        serde_yaml_ng::from_str(text).map_err(|err| anyhow::anyhow!("{origin}: {err}"))?;
    let name = match render_value(&raw.name, "name", vars)
        .map_err(|e| anyhow::anyhow!("{origin}: {e}"))?
    {
        Value::String(name) => name,
        other => anyhow::bail!("{origin}: field `name`: expected a string, got {other}"),
    };
    if name.is_empty()
        || name != name.to_lowercase()
        || name.contains(['/', '\\', '*', '?', '"', ' ', ',', '#'])
    {
        anyhow::bail!(
            "{origin}: field `name`: expected a lowercase name without `/ \\ * ? \" , #` or spaces, got `{name}`"
        );
    }
    let body =
        render_value(&raw.body, "body", vars).map_err(|e| anyhow::anyhow!("{origin}: {e}"))?;
    if !body.is_object() {
        anyhow::bail!("{origin}: field `body`: expected a mapping (the API request body)");
    }
    Ok(Document {
        origin: origin.to_string(),
        kind: raw.kind,
        name,
        body,
    })
}

/// Substitutes placeholders everywhere in `value` (keys included); `path`
/// names the value in errors.
pub fn render_value(
    value: &Value,
    path: &str,
    vars: &BTreeMap<&'static str, Value>,
) -> Result<Value, String> {
    Ok(match value {
        Value::String(s) => render_string(s, path, vars)?,
        Value::Array(items) => Value::Array(
            items
                .iter()
                .enumerate()
                .map(|(i, item)| render_value(item, &format!("{path}[{i}]"), vars))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(map) => {
            let mut out = serde_json::Map::new();
            for (key, item) in map {
                let child = format!("{path}.{key}");
                let key = match render_string(key, &child, vars)? {
                    Value::String(s) => s,
                    other => other.to_string(),
                };
                out.insert(key, render_value(item, &child, vars)?);
            }
            Value::Object(out)
        }
        other => other.clone(),
    })
}

fn render_string(
    s: &str,
    path: &str,
    vars: &BTreeMap<&'static str, Value>,
) -> Result<Value, String> {
    if !s.contains("{{") && !s.contains("}}") {
        return Ok(Value::String(s.to_string()));
    }
    let lookup = |name: &str| -> Result<&Value, String> {
        vars.get(name).ok_or_else(|| {
            format!(
                "field `{path}`: unknown placeholder `{{{{{name}}}}}`; known: {}",
                vars.keys()
                    .map(|k| format!("{{{{{k}}}}}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })
    };
    if let Some(inner) = s.strip_prefix("{{").and_then(|r| r.strip_suffix("}}"))
        && !inner.contains("{{")
        && !inner.contains("}}")
    {
        return lookup(inner.trim()).cloned();
    }
    let unopened = || format!("field `{path}`: `}}}}` without an opening `{{{{` in `{s}`");
    let mut out = String::new();
    let mut rest = s;
    while let Some(start) = rest.find("{{") {
        let before = &rest[..start];
        if before.contains("}}") {
            return Err(unopened());
        }
        let Some(len) = rest[start + 2..].find("}}") else {
            return Err(format!(
                "field `{path}`: `{{{{` without a closing `}}}}` in `{s}`"
            ));
        };
        let name = rest[start + 2..start + 2 + len].trim();
        out.push_str(before);
        match lookup(name)? {
            Value::String(v) => out.push_str(v),
            v => out.push_str(&v.to_string()),
        }
        rest = &rest[start + 2 + len + 2..];
    }
    if rest.contains("}}") {
        return Err(unopened());
    }
    out.push_str(rest);
    Ok(Value::String(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn vars() -> BTreeMap<&'static str, Value> {
        let env = Environment::local_for_test(&crate::project_root(), "t1-").unwrap();
        variables(&env)
    }

    #[test]
    fn whole_placeholders_keep_their_type_and_partial_ones_interpolate() {
        let vars = vars();
        let value = json!({
            "shards": "{{number_of_shards}}",
            "spaced": "{{ number_of_replicas }}",
            "age": "{{retention.delete_after_days}}d",
            "patterns": ["{{request_events_prefix}}*"],
            "{{session_summaries}}": "x {{dead_letters}} y",
            "plain": "no braces", "n": 3
        });
        let out = render_value(&value, "body", &vars).unwrap();
        assert_eq!(
            out,
            json!({
                "shards": 1, "spaced": 0, "age": "30d",
                "patterns": ["t1-request-events-*"],
                "t1-session-summaries": "x t1-usage-dead-letters y",
                "plain": "no braces", "n": 3
            })
        );
    }

    #[test]
    fn unknown_or_broken_placeholders_fail_naming_file_and_field() {
        let vars = vars();
        let text = "kind: index_template\nname: x\nbody:\n  settings:\n    shards: \"{{number_of_shardz}}\"\n";
        let err = parse_document(text, "mappings/x.yaml", &vars)
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("mappings/x.yaml: "), "{err}");
        assert!(err.contains("body.settings.shards"), "{err}");
        assert!(
            err.contains("unknown placeholder `{{number_of_shardz}}`"),
            "{err}"
        );
        assert!(err.contains("{{number_of_shards}}"), "{err}");

        let text = "kind: index_template\nname: \"{{retention}}\"\nbody: {}\n";
        let err = parse_document(text, "mappings/x.yaml", &vars)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("field `name`: unknown placeholder `{{retention}}`"),
            "{err}"
        );

        for broken in ["\"{{dead_letters\"", "\"dead_letters}}\""] {
            let text = format!("kind: index_template\nname: x\nbody:\n  a: {broken}\n");
            let err = parse_document(&text, "mappings/x.yaml", &vars)
                .unwrap_err()
                .to_string();
            assert!(err.contains("field `body.a`"), "{err}");
        }

        let text = "kind: index_templates\nname: x\nbody: {}\n";
        let err = parse_document(text, "mappings/x.yaml", &vars)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("mappings/x.yaml") && err.contains("unknown variant"),
            "{err}"
        );
    }

    #[test]
    fn shipped_mappings_render_for_any_environment() {
        let root = crate::project_root();
        let env = Environment::local_for_test(&root, "t1-").unwrap();
        let docs = load_documents(&root, &env).unwrap();
        let names: Vec<(DocumentKind, &str)> =
            docs.iter().map(|d| (d.kind, d.name.as_str())).collect();
        assert_eq!(
            names,
            vec![
                (DocumentKind::IsmPolicy, "t1-request-events-retention"),
                (DocumentKind::IndexTemplate, "t1-usage-dead-letters"),
                (DocumentKind::IndexTemplate, "t1-request-events-template"),
                (DocumentKind::IndexTemplate, "t1-session-summaries-state"),
                (DocumentKind::IndexTemplate, "t1-session-summaries"),
            ]
        );
        let text =
            serde_json::to_string(&docs.iter().map(|d| &d.body).collect::<Vec<_>>()).unwrap();
        assert!(!text.contains("{{"), "{text}");
        let ism = &docs[0].body["policy"];
        assert_eq!(
            ism["states"][0]["transitions"][0]["conditions"]["min_index_age"],
            "7d"
        );
        assert_eq!(
            ism["states"][1]["transitions"][0]["conditions"]["min_index_age"],
            "30d"
        );
        assert_eq!(
            ism["ism_template"][0]["index_patterns"],
            json!(["t1-request-events-*"])
        );
        let events = &docs[2].body;
        assert_eq!(events["index_patterns"], json!(["t1-request-events-*"]));
        assert_eq!(events["template"]["settings"]["number_of_shards"], json!(1));
        assert_eq!(
            events["template"]["settings"]["refresh_interval"],
            json!("1s")
        );
    }

    /// Every object level of every mapping is strict, every field is
    /// described in `_meta`, and the fields are the ones the contract names;
    /// the processor's own state index is the one that indexes nothing.
    #[test]
    fn shipped_mappings_are_strict_and_described() {
        let root = crate::project_root();
        let env = Environment::load(&root, "local").unwrap();
        let docs = load_documents(&root, &env).unwrap();
        let mut fields_of = BTreeMap::new();
        for doc in docs
            .iter()
            .filter(|d| d.kind == DocumentKind::IndexTemplate)
        {
            let mappings = &doc.body["template"]["mappings"];
            if doc.name == env.indices().session_state() {
                assert_eq!(mappings["enabled"], false, "{}", doc.origin);
                assert!(mappings.get("properties").is_none(), "{}", doc.origin);
                // Nothing searches the states: no scheduled refresh.
                assert_eq!(
                    doc.body["template"]["settings"]["refresh_interval"], "-1",
                    "{}",
                    doc.origin
                );
                continue;
            }
            assert_eq!(mappings["dynamic"], "strict", "{}", doc.origin);
            let properties = mappings["properties"].as_object().unwrap();
            let described = mappings["_meta"]["fields"].as_object().unwrap();
            for (field, spec) in properties {
                assert!(
                    spec.get("properties").is_none(),
                    "{}: {field} is an object: make it strict too",
                    doc.origin
                );
                assert!(
                    described.contains_key(field),
                    "{}: {field} has no _meta description",
                    doc.origin
                );
            }
            for field in described.keys() {
                assert!(
                    properties.contains_key(field),
                    "{}: _meta describes unknown {field}",
                    doc.origin
                );
            }
            let mut names: Vec<&str> = properties.keys().map(String::as_str).collect();
            names.sort();
            fields_of.insert(doc.name.clone(), names);
        }
        assert_eq!(
            fields_of["request-events-template"],
            vec![
                "asset_types",
                "log_group",
                "log_stream",
                "method",
                "module",
                "path",
                "response_time",
                "session_id",
                "site_token",
                "status_code",
                "timestamp",
                "user"
            ]
        );
        assert_eq!(
            fields_of["session-summaries"],
            vec![
                "assetTypes",
                "duration_seconds",
                "end_time",
                "event_count",
                "last_updated",
                "modules",
                "paths",
                "session_id",
                "siteTokens",
                "start_time",
                "user"
            ]
        );
        assert_eq!(
            fields_of["usage-dead-letters"],
            vec![
                "error",
                "failed_at",
                "log_event_id",
                "log_event_timestamp",
                "log_group",
                "log_stream",
                "raw",
                "reason",
                "target_index"
            ]
        );
    }
}
