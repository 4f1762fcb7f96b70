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

use super::{EMBEDDED_JSON, Reference, Rendered};
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

/// Every problem found, each naming the file and where: each object goes
/// through [`CHECKS`] in order.
pub fn check(objects: &[Rendered], mappings: &[IndexMapping]) -> Vec<String> {
    let pattern_titles: BTreeMap<&str, &Rendered> = objects
        .iter()
        .filter(|o| o.object.kind == "index-pattern")
        .filter_map(|o| o.object.attributes["title"].as_str().map(|t| (t, o)))
        .collect();
    let mut problems = Vec::new();
    for rendered in objects {
        let object = Object::new(rendered, objects, &pattern_titles, mappings);
        for check in CHECKS {
            problems.extend(check(&object));
        }
    }
    problems
}

/// A rule one object must follow; returns what breaks it.
type Check = fn(&Object<'_>) -> Vec<String>;

/// The rules, in the order their findings are reported for each object.
const CHECKS: [Check; 6] = [
    embedded_json_parses,
    references_resolve,
    reference_names_resolve,
    has_index_pattern,
    fields_exist,
    tsvb_keeps_today_and_places_series,
];

/// One saved object, with what its checks look up.
struct Object<'a> {
    rendered: &'a Rendered,
    objects: &'a [Rendered],
    /// Declared index patterns by title.
    pattern_titles: &'a BTreeMap<&'a str, &'a Rendered>,
    mappings: &'a [IndexMapping],
    /// Each embedded JSON string present (dotted path under `attributes`):
    /// its value, or what is wrong with it.
    embedded: Vec<(String, Result<Value, String>)>,
}

impl<'a> Object<'a> {
    fn new(
        rendered: &'a Rendered,
        objects: &'a [Rendered],
        pattern_titles: &'a BTreeMap<&'a str, &'a Rendered>,
        mappings: &'a [IndexMapping],
    ) -> Self {
        let attributes = &rendered.object.attributes;
        let embedded = EMBEDDED_JSON
            .iter()
            .filter_map(|path| {
                let parsed = match path.iter().try_fold(attributes, |v, k| v.get(*k))? {
                    Value::String(text) => serde_json::from_str::<Value>(text)
                        .map_err(|err| format!("is not valid JSON: {err}")),
                    other => Err(format!("must be a JSON string, got {other}")),
                };
                Some((path.join("."), parsed))
            })
            .collect();
        Object {
            rendered,
            objects,
            pattern_titles,
            mappings,
            embedded,
        }
    }

    fn kind(&self) -> &'a str {
        &self.rendered.object.kind
    }

    fn attributes(&self) -> &'a Value {
        &self.rendered.object.attributes
    }

    /// A finding about this object.
    fn at(&self, what: &str) -> String {
        let o = &self.rendered.object;
        format!("{} ({} `{}`): {what}", self.rendered.origin, o.kind, o.id)
    }

    /// A declared object.
    fn find(&self, kind: &str, id: &str) -> Option<&'a Rendered> {
        self.objects
            .iter()
            .find(|o| o.object.kind == kind && o.object.id == id)
    }

    /// This object's reference of that name.
    fn reference(&self, name: &str) -> Option<&'a Reference> {
        self.rendered
            .object
            .references
            .iter()
            .find(|r| r.name == name)
    }

    /// An embedded JSON string, parsed (absent when it is missing or broken).
    fn embedded(&self, path: &str) -> Option<&Value> {
        self.embedded
            .iter()
            .find(|(p, _)| p == path)
            .and_then(|(_, parsed)| parsed.as_ref().ok())
    }

    /// The index pattern behind a visualization or search (by reference,
    /// or by title for TSVB); `Ok(None)` for other objects, `Err` with the
    /// finding when it has none.
    fn index_pattern(&self) -> Result<Option<&'a Rendered>, String> {
        let via_ref = self
            .embedded("kibanaSavedObjectMeta.searchSourceJSON")
            .and_then(|s| s["indexRefName"].as_str())
            .and_then(|name| self.reference(name))
            .filter(|r| r.kind == "index-pattern")
            .and_then(|r| self.find("index-pattern", &r.id));
        let tsvb_title = self
            .embedded("visState")
            .filter(|v| v["type"] == "metrics")
            .and_then(|v| v["params"]["index_pattern"].as_str());
        match (self.kind(), via_ref, tsvb_title) {
            ("visualization" | "search", Some(p), _) => Ok(Some(p)),
            ("visualization", None, Some(title)) => match self.pattern_titles.get(title) {
                Some(p) => Ok(Some(*p)),
                None => Err(self.at(&format!(
                    "visState.params.index_pattern `{title}` is the title of no declared index pattern"
                ))),
            },
            ("visualization" | "search", None, _) => Err(self.at(
                "no index pattern (kibanaSavedObjectMeta.searchSourceJSON.indexRefName)",
            )),
            _ => Ok(None),
        }
    }

    /// The index template behind this object's index pattern (or behind
    /// itself, for an index pattern): `None` when it has no pattern, `Err`
    /// with the finding when no template applies.
    fn mapping(&self) -> Option<Result<&'a IndexMapping, String>> {
        let title = match self.kind() {
            "index-pattern" => self.attributes()["title"].as_str(),
            _ => self
                .index_pattern()
                .ok()
                .flatten()
                .and_then(|p| p.object.attributes["title"].as_str()),
        }?;
        Some(mapping_for(self.mappings, title).ok_or_else(|| {
            self.at(&format!(
                "index pattern `{title}` matches no index template in mappings/"
            ))
        }))
    }

    /// A finding when `field` is not in `mapping`, or (when `aggregatable`)
    /// has a type that cannot be aggregated; `place` says where it is named.
    fn need(
        &self,
        mapping: &IndexMapping,
        field: &str,
        aggregatable: bool,
        place: String,
    ) -> Option<String> {
        match mapping.fields.get(field) {
            None => Some(self.at(&format!(
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
                Some(self.at(&format!(
                    "{place}: field `{field}` has type `{t}` in {}, which cannot be aggregated",
                    mapping.origin
                )))
            }
            Some(_) => None,
        }
    }
}

/// Every embedded JSON string parses.
fn embedded_json_parses(o: &Object<'_>) -> Vec<String> {
    o.embedded
        .iter()
        .filter_map(|(path, parsed)| {
            let problem = parsed.as_ref().err()?;
            Some(o.at(&format!("attributes.{path} {problem}")))
        })
        .collect()
}

/// Every reference points to a declared object of its type.
fn references_resolve(o: &Object<'_>) -> Vec<String> {
    o.rendered
        .object
        .references
        .iter()
        .filter(|r| o.find(&r.kind, &r.id).is_none())
        .map(|r| {
            o.at(&format!(
                "reference `{}` points to {} `{}`, which is not declared",
                r.name, r.kind, r.id
            ))
        })
        .collect()
}

/// Every panel has a `panelRefName`, and every `indexRefName` and
/// `panelRefName` names a reference of the object.
fn reference_names_resolve(o: &Object<'_>) -> Vec<String> {
    let mut problems = Vec::new();
    let mut ref_names = Vec::new();
    if let Some(search) = o.embedded("kibanaSavedObjectMeta.searchSourceJSON")
        && let Some(name) = search["indexRefName"].as_str()
    {
        ref_names.push(name.to_string());
    }
    if let Some(Value::Array(panels)) = o.embedded("panelsJSON") {
        for panel in panels {
            match panel["panelRefName"].as_str() {
                Some(name) => ref_names.push(name.to_string()),
                None => problems.push(o.at(&format!("a panel without panelRefName: {panel}"))),
            }
        }
    }
    for name in &ref_names {
        if o.reference(name).is_none() {
            problems.push(o.at(&format!("`{name}` names no entry of references")));
        }
    }
    problems
}

/// Every visualization and saved search has an index pattern.
fn has_index_pattern(o: &Object<'_>) -> Vec<String> {
    o.index_pattern().err().into_iter().collect()
}

/// Every field an object aggregates, sorts on, shows or uses as time field
/// exists in the mapping behind its index pattern, with a type that
/// aggregates where it must.
fn fields_exist(o: &Object<'_>) -> Vec<String> {
    let mapping = match o.mapping() {
        None => return Vec::new(),
        Some(Err(problem)) => return vec![problem],
        Some(Ok(mapping)) => mapping,
    };
    let mut problems = Vec::new();
    let mut need = |field: &str, aggregatable: bool, place: String| {
        problems.extend(o.need(mapping, field, aggregatable, place));
    };
    let attributes = o.attributes();
    match o.kind() {
        "index-pattern" => {
            if let Some(f) = attributes["timeFieldName"].as_str() {
                need(f, true, "attributes.timeFieldName".into());
            }
        }
        "search" => {
            for (k, c) in attributes["columns"]
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
            for (k, s) in attributes["sort"]
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
            let Some(vis) = o.embedded("visState") else {
                return vec![o.at("no attributes.visState")];
            };
            for (k, agg) in vis["aggs"].as_array().into_iter().flatten().enumerate() {
                if let Some(f) = agg["params"]["field"].as_str() {
                    need(f, true, format!("visState.aggs[{k}].params.field"));
                }
            }
            if vis["type"] == "metrics" {
                let p = &vis["params"];
                if let Some(f) = p["time_field"].as_str() {
                    need(f, true, "visState.params.time_field".into());
                }
                for (s, series) in p["series"].as_array().into_iter().flatten().enumerate() {
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
        }
        _ => {}
    }
    problems
}

/// A TSVB panel shows today's bucket and gives each series an axis
/// position (checked, like its fields, once its index template is found).
fn tsvb_keeps_today_and_places_series(o: &Object<'_>) -> Vec<String> {
    let mut problems = Vec::new();
    if o.kind() != "visualization" || !matches!(o.mapping(), Some(Ok(_))) {
        return problems;
    }
    let Some(vis) = o.embedded("visState").filter(|v| v["type"] == "metrics") else {
        return problems;
    };
    let p = &vis["params"];
    if p["drop_last_bucket"] != 0 {
        // Otherwise TSVB hides today's bucket while every other panel shows it.
        problems.push(o.at("visState.params.drop_last_bucket must be 0"));
    }
    for (s, series) in p["series"].as_array().into_iter().flatten().enumerate() {
        // A key of TSVB's series schema: missing, every data request logs a
        // validation warning.
        if !series["axis_position"].is_string() {
            problems.push(o.at(&format!(
                "visState.params.series[{s}].axis_position is missing"
            )));
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
        // The three indices Dashboards reads, and the processor's own
        // state index, which maps no field.
        assert_eq!(mappings.len(), 4, "{mappings:?}");
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
