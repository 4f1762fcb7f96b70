//! OpenSearch Dashboards saved objects, as code: `dashboards/objects/*.yaml`
//! (index patterns, one visualization per metric of
//! `dashboards/metrics.yaml`, the "Usage analytics" dashboard, saved searches
//! for CSV export), rendered into the NDJSON that Dashboards imports.
//!
//! - [`render`] — handlebars, strict, JSON-string escaping;
//! - [`check`] — what must hold before anything is imported (index patterns,
//!   fields in the mappings, embedded JSON, references);
//! - [`client`] — the saved-objects API (import, read back, delete; SigV4);
//! - [`resource`] — each object as a resource of [`crate::engine`];
//! - [`command`] — `cargo xtask dashboards` (NDJSON out, or plan/apply).

pub mod check;
pub mod client;
pub mod command;
pub mod render;
pub mod resource;

pub use resource::resources;

use crate::env::{Environment, display_path};
use crate::metrics::Metrics;
use anyhow::{Context as _, bail};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::path::Path;

/// Attributes that Dashboards stores as JSON inside a string. The YAML
/// writes them as structures; the NDJSON carries them as strings.
pub const EMBEDDED_JSON: [&[&str]; 5] = [
    &["visState"],
    &["uiStateJSON"],
    &["panelsJSON"],
    &["optionsJSON"],
    &["kibanaSavedObjectMeta", "searchSourceJSON"],
];

/// One saved object as Dashboards imports and exports it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SavedObject {
    #[serde(rename = "type")]
    pub kind: String,
    pub id: String,
    pub attributes: Value,
    #[serde(default)]
    pub references: Vec<Reference>,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reference {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub id: String,
}

/// A rendered object and the file it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Rendered {
    pub origin: String,
    pub object: SavedObject,
}

/// The saved-object types this project declares.
pub const KINDS: [&str; 4] = ["index-pattern", "visualization", "search", "dashboard"];

/// Renders every `dashboards/objects/*.yaml` for `env`, in file-name order,
/// embedded JSON attributes turned into strings.
pub fn load(root: &Path, env: &Environment) -> anyhow::Result<Vec<Rendered>> {
    load_with(root, env, &Metrics::load(root)?)
}

/// [`load`] with given metric declarations.
pub fn load_with(
    root: &Path,
    env: &Environment,
    metrics: &Metrics,
) -> anyhow::Result<Vec<Rendered>> {
    let dir = root.join("dashboards/objects");
    let mut paths = Vec::new();
    for entry in std::fs::read_dir(&dir).with_context(|| format!("listing {}", dir.display()))? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "yaml") {
            paths.push(path);
        }
    }
    paths.sort();
    let hb = render::engine();
    let ctx = render::context(env, metrics);
    let mut objects: Vec<Rendered> = Vec::new();
    for path in paths {
        let origin = display_path(root, &path);
        let template =
            std::fs::read_to_string(&path).with_context(|| format!("cannot read {origin}"))?;
        let text = render::render(&hb, &origin, &template, &ctx)?;
        let object = parse(&text, &origin)?;
        if let Some(other) = objects
            .iter()
            .find(|o| o.object.kind == object.kind && o.object.id == object.id)
        {
            bail!(
                "{origin} and {} both declare {} `{}`: ids must be unique",
                other.origin,
                object.kind,
                object.id
            );
        }
        objects.push(Rendered { origin, object });
    }
    if objects.is_empty() {
        bail!("{}: no saved objects (*.yaml)", display_path(root, &dir));
    }
    Ok(objects)
}

/// One rendered YAML object to a saved object with embedded JSON as strings.
pub fn parse(text: &str, origin: &str) -> anyhow::Result<SavedObject> {
    let mut object: SavedObject = serde_yaml_ng::from_str(text)
        .map_err(|err| anyhow::anyhow!("{origin} (after rendering): {err}"))?;
    if !KINDS.contains(&object.kind.as_str()) {
        bail!(
            "{origin}: field `type`: expected one of {KINDS:?}, got `{}`",
            object.kind
        );
    }
    if object.id.is_empty()
        || !object
            .id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        bail!(
            "{origin}: field `id`: expected letters, digits, `-` or `_`, got `{}`",
            object.id
        );
    }
    for path in EMBEDDED_JSON {
        if let Some(value) = pointer_mut(&mut object.attributes, path)
            && !value.is_string()
        {
            *value = Value::String(serde_json::to_string(value).expect("values serialize"));
        }
    }
    Ok(object)
}

fn pointer_mut<'a>(value: &'a mut Value, path: &[&str]) -> Option<&'a mut Value> {
    path.iter().try_fold(value, |v, key| v.get_mut(*key))
}

/// The NDJSON body of `_import`: one object per line.
pub fn to_ndjson(objects: &[SavedObject]) -> String {
    let mut out = String::new();
    for object in objects {
        out.push_str(&serde_json::to_string(object).expect("objects serialize"));
        out.push('\n');
    }
    out
}

/// The comparable state of an object, as read back or as rendered:
/// `attributes` (embedded JSON parsed, so a diff names the field inside
/// `visState`) and `references` sorted by name. Whatever Dashboards adds
/// around them (`updated_at`, `version`, `namespaces`, `migrationVersion`,
/// `originId`, `workspaces`, …) is left out.
pub fn normalize(kind: &str, id: &str, attributes: &Value, references: &Value) -> Value {
    let mut attributes = attributes.clone();
    for path in EMBEDDED_JSON {
        if let Some(value) = pointer_mut(&mut attributes, path)
            && let Some(parsed) = value.as_str().and_then(|s| serde_json::from_str(s).ok())
        {
            *value = parsed;
        }
    }
    let mut references: Vec<Value> = references.as_array().cloned().unwrap_or_default();
    references.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
    serde_json::json!({
        "type": kind,
        "id": id,
        "attributes": attributes,
        "references": references,
    })
}

impl SavedObject {
    /// [`normalize`] of this object.
    pub fn normalized(&self) -> Value {
        normalize(
            &self.kind,
            &self.id,
            &self.attributes,
            &serde_json::to_value(&self.references).expect("references serialize"),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env() -> Environment {
        Environment::load(&crate::project_root(), "local").unwrap()
    }

    #[test]
    fn the_shipped_objects_render_with_stable_ids() {
        let objects = load(&crate::project_root(), &env()).unwrap();
        let ids: Vec<(&str, &str)> = objects
            .iter()
            .map(|o| (o.object.kind.as_str(), o.object.id.as_str()))
            .collect();
        for expected in [
            ("index-pattern", "ironman-usage-sessions"),
            ("index-pattern", "ironman-usage-request-events"),
            ("visualization", "ironman-usage-unique-users-per-day"),
            ("visualization", "ironman-usage-sessions-per-user-per-day"),
            ("visualization", "ironman-usage-session-duration-average"),
            (
                "visualization",
                "ironman-usage-session-duration-distribution",
            ),
            ("visualization", "ironman-usage-sessions-per-module"),
            ("visualization", "ironman-usage-sessions-per-site"),
            ("visualization", "ironman-usage-sessions-per-asset-type"),
            ("dashboard", "ironman-usage-analytics"),
            ("search", "ironman-usage-search-sessions"),
            ("search", "ironman-usage-search-request-events"),
        ] {
            assert!(ids.contains(&expected), "{expected:?} in {ids:?}");
        }
        assert_eq!(ids.len(), 12);
        let dashboard = objects
            .iter()
            .find(|o| o.object.kind == "dashboard")
            .unwrap();
        assert_eq!(dashboard.object.attributes["title"], "Usage analytics");
    }

    #[test]
    fn the_ndjson_is_one_object_per_line_with_embedded_json_strings() {
        let objects: Vec<SavedObject> = load(&crate::project_root(), &env())
            .unwrap()
            .into_iter()
            .map(|r| r.object)
            .collect();
        let ndjson = to_ndjson(&objects);
        assert_eq!(ndjson.lines().count(), objects.len());
        for line in ndjson.lines() {
            let v: Value = serde_json::from_str(line).unwrap();
            if v["type"] == "visualization" {
                let vis: Value =
                    serde_json::from_str(v["attributes"]["visState"].as_str().unwrap()).unwrap();
                assert!(vis["type"].is_string(), "{vis}");
            }
        }
        // The metric's range bounds reached the distribution's visState.
        let dist = objects
            .iter()
            .find(|o| o.id.ends_with("-distribution"))
            .unwrap()
            .normalized();
        let ranges = &dist["attributes"]["visState"]["aggs"][1]["params"]["ranges"];
        assert_eq!(ranges[0], serde_json::json!({"from": 0, "to": 60}));
        assert_eq!(ranges[5], serde_json::json!({"from": 3600}));
    }

    #[test]
    fn index_names_come_from_the_environment() {
        let test_env = Environment::local_for_test(&crate::project_root(), "t9-").unwrap();
        let objects = load(&crate::project_root(), &test_env).unwrap();
        let titles: Vec<&Value> = objects
            .iter()
            .filter(|o| o.object.kind == "index-pattern")
            .map(|o| &o.object.attributes["title"])
            .collect();
        assert!(
            titles.contains(&&Value::from("t9-session-summaries")),
            "{titles:?}"
        );
        assert!(
            titles.contains(&&Value::from("t9-request-events-*")),
            "{titles:?}"
        );
    }

    #[test]
    fn titles_reach_the_json_exactly_whatever_they_contain() {
        let root = crate::project_root();
        let mut metrics = Metrics::load(&root).unwrap();
        let evil = "Sessions \"per\" site \\ <script>&amp;</script>\n{{x}} ü";
        metrics
            .metrics
            .iter_mut()
            .find(|m| m.id == "sessions-per-site")
            .unwrap()
            .title = evil.into();
        let objects = load_with(&root, &env(), &metrics).unwrap();
        let vis = objects
            .iter()
            .find(|o| o.object.id == "ironman-usage-sessions-per-site")
            .unwrap();
        let line = to_ndjson(std::slice::from_ref(&vis.object));
        let parsed: Value = serde_json::from_str(line.trim_end()).unwrap();
        assert_eq!(parsed["attributes"]["title"], evil);
        let vis_state: Value =
            serde_json::from_str(parsed["attributes"]["visState"].as_str().unwrap()).unwrap();
        assert_eq!(vis_state["title"], evil);
        assert_eq!(vis_state["aggs"][1]["params"]["customLabel"], evil);
    }

    #[test]
    fn normalizing_drops_what_dashboards_adds() {
        let object = SavedObject {
            kind: "visualization".into(),
            id: "v".into(),
            attributes: serde_json::json!({"title": "T", "visState": "{\"type\":\"line\"}"}),
            references: vec![],
        };
        let read_back = serde_json::json!({
            "id": "v", "type": "visualization", "updated_at": "2026-11-27T10:00:00.000Z",
            "version": "WzEsMV0=", "namespaces": ["default"], "migrationVersion": {"visualization": "7.10.0"},
            "attributes": {"title": "T", "visState": "{\"type\": \"line\"}"}, "references": []
        });
        assert_eq!(
            normalize(
                "visualization",
                "v",
                &read_back["attributes"],
                &read_back["references"]
            ),
            object.normalized()
        );
    }
}
