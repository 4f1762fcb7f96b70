//! What must hold of the saved objects before they are imported (pure; run
//! by the tests and before every import):
//!
//! - every embedded JSON string (`visState`, `uiStateJSON`, `panelsJSON`,
//!   `optionsJSON`, `kibanaSavedObjectMeta.searchSourceJSON`) parses;
//! - every reference resolves to a declared object of its type, and every
//!   `indexRefName` / `panelRefName` names a reference of the object;
//! - every visualization and saved search has an index pattern (by
//!   reference, or by title for TSVB);
//! - every field a visualization aggregates, sorts on or uses as time field
//!   exists in the mapping behind that index pattern with an aggregatable
//!   type (keyword, date, numeric, boolean, ip — not text); saved-search
//!   columns exist.

use super::{EMBEDDED_JSON, Rendered};
use crate::mappings::{Document, DocumentKind};
use serde_json::Value;
use std::collections::BTreeMap;

/// Field types OpenSearch can aggregate and sort on.
pub const AGGREGATABLE: [&str; 14] = [
    "keyword",
    "date",
    "date_nanos",
    "long",
    "integer",
    "short",
    "byte",
    "double",
    "float",
    "half_float",
    "scaled_float",
    "unsigned_long",
    "boolean",
    "ip",
];

/// An index template's patterns and its field types.
#[derive(Debug, Clone, PartialEq)]
pub struct IndexMapping {
    pub origin: String,
    pub patterns: Vec<String>,
    /// Field name to mapping type.
    pub fields: BTreeMap<String, String>,
}

/// The index templates of `mappings/` (rendered for an environment).
pub fn index_mappings(documents: &[Document]) -> Vec<IndexMapping> {
    documents
        .iter()
        .filter(|d| d.kind == DocumentKind::IndexTemplate)
        .map(|d| IndexMapping {
            origin: d.origin.clone(),
            patterns: d.body["index_patterns"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|p| p.as_str().map(str::to_string))
                .collect(),
            fields: d.body["template"]["mappings"]["properties"]
                .as_object()
                .into_iter()
                .flatten()
                .map(|(name, m)| {
                    (
                        name.clone(),
                        m["type"].as_str().unwrap_or("object").to_string(),
                    )
                })
                .collect(),
        })
        .collect()
}

/// The mapping whose template applies to an index pattern's title (the same
/// pattern, or a pattern that matches the title).
fn mapping_for<'a>(mappings: &'a [IndexMapping], title: &str) -> Option<&'a IndexMapping> {
    mappings.iter().find(|m| {
        m.patterns.iter().any(|p| {
            p == title
                || p.strip_suffix('*')
                    .is_some_and(|prefix| title.starts_with(prefix) && !title.contains('*'))
        })
    })
}

/// Every problem found, each naming the file and where.
pub fn check(objects: &[Rendered], mappings: &[IndexMapping]) -> Vec<String> {
    let mut problems = Vec::new();
    let find = |kind: &str, id: &str| {
        objects
            .iter()
            .find(|o| o.object.kind == kind && o.object.id == id)
    };
    let pattern_titles: BTreeMap<&str, &Rendered> = objects
        .iter()
        .filter(|o| o.object.kind == "index-pattern")
        .filter_map(|o| o.object.attributes["title"].as_str().map(|t| (t, o)))
        .collect();

    for rendered in objects {
        let o = &rendered.object;
        let at = |what: &str| format!("{} ({} `{}`): {what}", rendered.origin, o.kind, o.id);

        // Embedded JSON parses.
        let mut embedded: BTreeMap<String, Value> = BTreeMap::new();
        for path in EMBEDDED_JSON {
            let value = path.iter().try_fold(&o.attributes, |v, k| v.get(*k));
            match value {
                Some(Value::String(text)) => match serde_json::from_str::<Value>(text) {
                    Ok(parsed) => {
                        embedded.insert(path.join("."), parsed);
                    }
                    Err(err) => problems.push(at(&format!(
                        "attributes.{} is not valid JSON: {err}",
                        path.join(".")
                    ))),
                },
                Some(other) => problems.push(at(&format!(
                    "attributes.{} must be a JSON string, got {other}",
                    path.join(".")
                ))),
                None => {}
            }
        }

        // References resolve.
        for r in &o.references {
            if find(&r.kind, &r.id).is_none() {
                problems.push(at(&format!(
                    "reference `{}` points to {} `{}`, which is not declared",
                    r.name, r.kind, r.id
                )));
            }
        }
        let reference = |name: &str| o.references.iter().find(|r| r.name == name);
        let mut ref_names = Vec::new();
        if let Some(search) = embedded.get("kibanaSavedObjectMeta.searchSourceJSON")
            && let Some(name) = search["indexRefName"].as_str()
        {
            ref_names.push(name.to_string());
        }
        if let Some(Value::Array(panels)) = embedded.get("panelsJSON") {
            for panel in panels {
                match panel["panelRefName"].as_str() {
                    Some(name) => ref_names.push(name.to_string()),
                    None => problems.push(at(&format!("a panel without panelRefName: {panel}"))),
                }
            }
        }
        for name in &ref_names {
            if reference(name).is_none() {
                problems.push(at(&format!("`{name}` names no entry of references")));
            }
        }

        // The index pattern behind a visualization or search.
        let via_ref = embedded
            .get("kibanaSavedObjectMeta.searchSourceJSON")
            .and_then(|s| s["indexRefName"].as_str())
            .and_then(reference)
            .filter(|r| r.kind == "index-pattern")
            .and_then(|r| find("index-pattern", &r.id));
        let vis = embedded.get("visState");
        let tsvb_title = vis
            .filter(|v| v["type"] == "metrics")
            .and_then(|v| v["params"]["index_pattern"].as_str());
        let pattern = match (o.kind.as_str(), via_ref, tsvb_title) {
            ("visualization" | "search", Some(p), _) => Some(p),
            ("visualization", None, Some(title)) => match pattern_titles.get(title) {
                Some(p) => Some(*p),
                None => {
                    problems.push(at(&format!(
                        "visState.params.index_pattern `{title}` is the title of no declared index pattern"
                    )));
                    None
                }
            },
            ("visualization" | "search", None, _) => {
                problems.push(at(
                    "no index pattern (kibanaSavedObjectMeta.searchSourceJSON.indexRefName)",
                ));
                None
            }
            _ => None,
        };

        // Fields exist, with a type that aggregates.
        let pattern_title = match o.kind.as_str() {
            "index-pattern" => o.attributes["title"].as_str(),
            _ => pattern.and_then(|p| p.object.attributes["title"].as_str()),
        };
        let Some(title) = pattern_title else { continue };
        let Some(mapping) = mapping_for(mappings, title) else {
            problems.push(at(&format!(
                "index pattern `{title}` matches no index template in mappings/"
            )));
            continue;
        };
        let mut need =
            |field: &str, aggregatable: bool, place: String| match mapping.fields.get(field) {
                None => problems.push(at(&format!(
                    "{place}: field `{field}` is not in {} (fields: {})",
                    mapping.origin,
                    mapping
                        .fields
                        .keys()
                        .cloned()
                        .collect::<Vec<_>>()
                        .join(", ")
                ))),
                Some(t) if aggregatable && !AGGREGATABLE.contains(&t.as_str()) => {
                    problems.push(at(&format!(
                        "{place}: field `{field}` has type `{t}` in {}, which cannot be aggregated",
                        mapping.origin
                    )))
                }
                Some(_) => {}
            };
        match o.kind.as_str() {
            "index-pattern" => {
                if let Some(f) = o.attributes["timeFieldName"].as_str() {
                    need(f, true, "attributes.timeFieldName".into());
                }
            }
            "search" => {
                for (k, c) in o.attributes["columns"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .enumerate()
                {
                    need(
                        c.as_str().unwrap_or_default(),
                        false,
                        format!("attributes.columns[{k}]"),
                    );
                }
                for (k, s) in o.attributes["sort"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .enumerate()
                {
                    need(
                        s[0].as_str().unwrap_or_default(),
                        true,
                        format!("attributes.sort[{k}]"),
                    );
                }
            }
            "visualization" => {
                let Some(vis) = vis else {
                    problems.push(at("no attributes.visState"));
                    continue;
                };
                for (k, agg) in vis["aggs"].as_array().into_iter().flatten().enumerate() {
                    if let Some(f) = agg["params"]["field"].as_str() {
                        need(f, true, format!("visState.aggs[{k}].params.field"));
                    }
                }
                // TSVB shape problems, added once `need` (which holds `problems`) is done.
                let mut shape = Vec::new();
                if vis["type"] == "metrics" {
                    let p = &vis["params"];
                    if let Some(f) = p["time_field"].as_str() {
                        need(f, true, "visState.params.time_field".into());
                    }
                    if p["drop_last_bucket"] != 0 {
                        // Otherwise TSVB hides today's bucket while every other panel shows it.
                        shape.push(at("visState.params.drop_last_bucket must be 0"));
                    }
                    for (s, series) in p["series"].as_array().into_iter().flatten().enumerate() {
                        // A key of TSVB's series schema: missing, every data request logs a
                        // validation warning.
                        if !series["axis_position"].is_string() {
                            shape.push(at(&format!(
                                "visState.params.series[{s}].axis_position is missing"
                            )));
                        }
                        for (k, metric) in series["metrics"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .enumerate()
                        {
                            // A math metric's `field`s name other metrics, not index fields.
                            if metric["type"] != "math"
                                && let Some(f) = metric["field"].as_str()
                            {
                                need(
                                    f,
                                    true,
                                    format!("visState.params.series[{s}].metrics[{k}].field"),
                                );
                            }
                        }
                        if let Some(f) = series["terms_field"].as_str() {
                            need(f, true, format!("visState.params.series[{s}].terms_field"));
                        }
                    }
                }
                problems.extend(shape);
            }
            _ => {}
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dashboards::{load, parse};
    use crate::env::Environment;

    fn shipped() -> (Vec<Rendered>, Vec<IndexMapping>) {
        let root = crate::project_root();
        let env = Environment::load(&root, "local").unwrap();
        let objects = load(&root, &env).unwrap();
        let docs = crate::mappings::load_documents(&root, &env).unwrap();
        (objects, index_mappings(&docs))
    }

    fn replace(objects: &mut [Rendered], id: &str, f: impl FnOnce(&mut Value)) {
        let o = objects.iter_mut().find(|o| o.object.id == id).unwrap();
        let mut v = serde_json::to_value(&o.object).unwrap();
        f(&mut v);
        o.object = serde_json::from_value(v).unwrap();
    }

    #[test]
    fn the_shipped_objects_pass_every_check() {
        let (objects, mappings) = shipped();
        assert_eq!(mappings.len(), 3, "{mappings:?}");
        assert_eq!(check(&objects, &mappings), Vec::<String>::new());
    }

    #[test]
    fn a_field_missing_from_the_mappings_is_found() {
        let (mut objects, mappings) = shipped();
        replace(&mut objects, "ironman-usage-sessions-per-module", |v| {
            let s = v["attributes"]["visState"]
                .as_str()
                .unwrap()
                .replace("\"modules\"", "\"module\"");
            v["attributes"]["visState"] = s.into();
        });
        let problems = check(&objects, &mappings);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            problems[0].contains("visualization-sessions-per-module.yaml"),
            "{problems:?}"
        );
        assert!(
            problems[0].contains("field `module` is not in mappings/session-summaries.yaml"),
            "{problems:?}"
        );
    }

    #[test]
    fn a_tsvb_panel_must_keep_today_and_place_its_series() {
        let (mut objects, mappings) = shipped();
        let tsvb = objects
            .iter()
            .find(|o| o.object.kind == "visualization" && o.object.id.contains("sessions-per-user"))
            .map(|o| o.object.id.clone())
            .expect("the shipped sessions-per-user TSVB panel");
        replace(&mut objects, &tsvb, |v| {
            let mut vis: Value =
                serde_json::from_str(v["attributes"]["visState"].as_str().unwrap()).unwrap();
            vis["params"]["drop_last_bucket"] = 1.into();
            vis["params"]["series"][0]
                .as_object_mut()
                .unwrap()
                .remove("axis_position");
            v["attributes"]["visState"] = vis.to_string().into();
        });
        let problems = check(&objects, &mappings).join("\n");
        assert!(
            problems.contains("visState.params.drop_last_bucket must be 0"),
            "{problems}"
        );
        assert!(
            problems.contains("visState.params.series[0].axis_position is missing"),
            "{problems}"
        );
    }

    #[test]
    fn a_text_field_cannot_be_aggregated() {
        let (objects, mut mappings) = shipped();
        for m in &mut mappings {
            if let Some(t) = m.fields.get_mut("siteTokens") {
                *t = "text".into();
            }
        }
        let problems = check(&objects, &mappings);
        assert!(
            problems
                .iter()
                .any(|p| p.contains("sessions-per-site") && p.contains("type `text`")),
            "{problems:?}"
        );
    }

    #[test]
    fn broken_json_and_dangling_references_are_found() {
        let (mut objects, mappings) = shipped();
        replace(&mut objects, "ironman-usage-analytics", |v| {
            v["attributes"]["panelsJSON"] = "[{\"panelRefName\": \"panel_0\"".into();
            v["references"][0]["id"] = "ironman-usage-gone".into();
        });
        replace(
            &mut objects,
            "ironman-usage-sessions-per-user-per-day",
            |v| {
                let s = v["attributes"]["visState"].as_str().unwrap().replace(
                    "\"index_pattern\":\"session-summaries\"",
                    "\"index_pattern\":\"sessions-old\"",
                );
                v["attributes"]["visState"] = s.into();
            },
        );
        replace(&mut objects, "ironman-usage-search-sessions", |v| {
            v["references"] = serde_json::json!([]);
        });
        let problems = check(&objects, &mappings).join("\n");
        assert!(
            problems.contains("attributes.panelsJSON is not valid JSON"),
            "{problems}"
        );
        assert!(
            problems
                .contains("points to visualization `ironman-usage-gone`, which is not declared"),
            "{problems}"
        );
        assert!(
            problems.contains("`sessions-old` is the title of no declared index pattern"),
            "{problems}"
        );
        assert!(
            problems.contains(
                "`kibanaSavedObjectMeta.searchSourceJSON.index` names no entry of references"
            ),
            "{problems}"
        );
    }

    #[test]
    fn an_object_of_unknown_type_or_bad_id_is_refused() {
        let err = parse("type: lens\nid: x\nattributes: {}\n", "o.yaml")
            .unwrap_err()
            .to_string();
        assert!(err.contains("o.yaml: field `type`"), "{err}");
        let err = parse("type: search\nid: \"a b\"\nattributes: {}\n", "o.yaml")
            .unwrap_err()
            .to_string();
        assert!(err.contains("field `id`"), "{err}");
    }
}
