//! The plan: what differs between the desired and the actual state, as data.
//!
//! Pure: built from normalised JSON values, printed for people and as JSON
//! for machines (`{"changes":[{"resource","kind","action","fields":[{"path",
//! "before","after"}]}]}`).

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Create,
    Update,
    Delete,
    Noop,
}

impl Action {
    fn symbol(self) -> &'static str {
        match self {
            Action::Create => "+",
            Action::Update => "~",
            Action::Delete => "-",
            Action::Noop => "=",
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Action::Create => "create",
            Action::Update => "update",
            Action::Delete => "delete",
            Action::Noop => "no change",
        })
    }
}

/// One leaf that differs. `before` is null for a field being added, `after`
/// null for a field being removed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldChange {
    /// Dotted path into the resource's body, `[i]` for array elements
    /// (`template.mappings.properties.path.ignore_above`).
    pub path: String,
    pub before: Value,
    pub after: Value,
}

/// What happens to one resource.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Change {
    /// The resource's address, `<kind>.<name>`.
    pub resource: String,
    /// The resource type, such as `opensearch_index_template`.
    pub kind: String,
    /// The name the API knows it by.
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arn: Option<String>,
    /// Another identifier when needed to find it (a queue URL, a statement id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub action: Action,
    pub fields: Vec<FieldChange>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    /// Every managed resource, in apply order, unchanged ones included (`noop`).
    pub changes: Vec<Change>,
}

impl Change {
    /// Compares the normalised actual state (None: the resource does not
    /// exist) with the normalised desired state.
    pub fn between(kind: &str, name: &str, actual: Option<&Value>, desired: &Value) -> Change {
        let fields = diff(actual, Some(desired));
        let action = match (actual, fields.is_empty()) {
            (None, _) => Action::Create,
            (Some(_), true) => Action::Noop,
            (Some(_), false) => Action::Update,
        };
        Change {
            resource: format!("{kind}.{name}"),
            kind: kind.to_string(),
            name: name.to_string(),
            arn: None,
            id: None,
            action,
            fields,
        }
    }

    /// Removing an existing resource: every field goes.
    pub fn deleting(kind: &str, name: &str, actual: &Value) -> Change {
        Change {
            resource: format!("{kind}.{name}"),
            kind: kind.to_string(),
            name: name.to_string(),
            arn: None,
            id: None,
            action: Action::Delete,
            fields: diff(Some(actual), None),
        }
    }

    pub fn identified(mut self, ids: super::resource::Identifiers) -> Change {
        self.arn = ids.arn;
        self.id = ids.id;
        self
    }
}

impl Plan {
    /// True when nothing would be created, updated or deleted.
    pub fn is_empty(&self) -> bool {
        self.changes.iter().all(|c| c.action == Action::Noop)
    }

    /// The changes that do something.
    pub fn pending(&self) -> impl Iterator<Item = &Change> {
        self.changes.iter().filter(|c| c.action != Action::Noop)
    }

    pub fn count(&self, action: Action) -> usize {
        self.changes.iter().filter(|c| c.action == action).count()
    }

    pub fn to_json(&self) -> Value {
        serde_json::to_value(self).expect("a plan serializes")
    }

    /// One line: `2 to create, 1 to update, 0 to delete, 1 unchanged`.
    pub fn summary(&self) -> String {
        format!(
            "{} to create, {} to update, {} to delete, {} unchanged",
            self.count(Action::Create),
            self.count(Action::Update),
            self.count(Action::Delete),
            self.count(Action::Noop)
        )
    }
}

/// Field-level, human-readable: every resource with its action, and for
/// each change the path with its value before and after.
impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for change in &self.changes {
            writeln!(
                f,
                "  {} {} ({})",
                change.action.symbol(),
                change.resource,
                change.action
            )?;
            for field in &change.fields {
                match (&field.before, &field.after) {
                    (Value::Null, after) => {
                        writeln!(f, "      + {} = {}", field.path, show(after))?
                    }
                    (before, Value::Null) => {
                        writeln!(f, "      - {} = {}", field.path, show(before))?
                    }
                    (before, after) => {
                        let (before, after) = show_change(before, after);
                        writeln!(f, "      ~ {}: {before} -> {after}", field.path)?
                    }
                }
            }
        }
        write!(f, "Plan: {}.", self.summary())
    }
}

/// Characters of a value shown; `--json` has it whole.
const SHOWN_CHARS: usize = 200;
/// Characters shown before the first difference of a long change.
const CONTEXT_CHARS: usize = 60;

fn show(value: &Value) -> String {
    window(&value.to_string(), 0)
}

/// Both sides of a change, cut around where they first differ: two long
/// values cut at the same place would otherwise look the same.
fn show_change(before: &Value, after: &Value) -> (String, String) {
    let (before, after) = (before.to_string(), after.to_string());
    let same = before
        .chars()
        .zip(after.chars())
        .take_while(|(b, a)| b == a)
        .count();
    let start = if same + CONTEXT_CHARS < SHOWN_CHARS {
        0
    } else {
        same - CONTEXT_CHARS
    };
    (window(&before, start), window(&after, start))
}

/// `SHOWN_CHARS` characters of `text` from `start`, with `…` where cut.
fn window(text: &str, start: usize) -> String {
    let total = text.chars().count();
    let body: String = text.chars().skip(start).take(SHOWN_CHARS).collect();
    let head = if start > 0 { "…" } else { "" };
    let tail = if start + SHOWN_CHARS < total {
        "…"
    } else {
        ""
    };
    format!("{head}{body}{tail}")
}

/// The leaves of `before` and `after` that differ. Objects are walked key by
/// key; arrays of objects element by element (`states[1]`); arrays of plain
/// values compare as one leaf (`index_patterns`).
pub fn diff(before: Option<&Value>, after: Option<&Value>) -> Vec<FieldChange> {
    let mut out = Vec::new();
    diff_at(String::new(), before, after, &mut out);
    out
}

fn is_walkable_array(items: &[Value]) -> bool {
    items.iter().any(|v| v.is_object() || v.is_array())
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

fn diff_at(
    path: String,
    before: Option<&Value>,
    after: Option<&Value>,
    out: &mut Vec<FieldChange>,
) {
    match (before, after) {
        (None, None) => {}
        (Some(Value::Object(b)), Some(Value::Object(a))) => {
            let mut keys: Vec<&String> = b.keys().chain(a.keys()).collect();
            keys.sort();
            keys.dedup();
            for key in keys {
                diff_at(join(&path, key), b.get(key), a.get(key), out);
            }
        }
        (Some(Value::Array(b)), Some(Value::Array(a)))
            if is_walkable_array(b) || is_walkable_array(a) =>
        {
            for i in 0..b.len().max(a.len()) {
                diff_at(format!("{path}[{i}]"), b.get(i), a.get(i), out);
            }
        }
        // A resource or subtree that appears or disappears: list its leaves.
        (None, Some(Value::Object(a))) if !a.is_empty() => {
            for (key, value) in a {
                diff_at(join(&path, key), None, Some(value), out);
            }
        }
        (Some(Value::Object(b)), None) if !b.is_empty() => {
            for (key, value) in b {
                diff_at(join(&path, key), Some(value), None, out);
            }
        }
        (None, Some(Value::Array(a))) if is_walkable_array(a) => {
            for (i, value) in a.iter().enumerate() {
                diff_at(format!("{path}[{i}]"), None, Some(value), out);
            }
        }
        (Some(Value::Array(b)), None) if is_walkable_array(b) => {
            for (i, value) in b.iter().enumerate() {
                diff_at(format!("{path}[{i}]"), Some(value), None, out);
            }
        }
        (b, a) => {
            if b != a {
                out.push(FieldChange {
                    path,
                    before: b.cloned().unwrap_or(Value::Null),
                    after: a.cloned().unwrap_or(Value::Null),
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_long_change_is_shown_where_it_differs() {
        let arn = |last: &str| {
            let mut resources: Vec<String> = (0..8)
                .map(|i| format!("arn:aws:es:us-east-1:123456789012:domain/usage/index-{i}/*"))
                .collect();
            resources.push(last.to_string());
            json!(resources)
        };
        let (before, after) = show_change(&arn("dead-letters/*"), &arn("dead-letters/*-evil"));
        assert_ne!(before, after);
        assert!(after.contains("dead-letters/*-evil"), "{after}");
        assert!(
            before.starts_with('…') && after.starts_with('…'),
            "{before}"
        );
        // Short values, and long ones that differ early, are shown from
        // their start.
        let (b, a) = show_change(&json!("a"), &json!("b"));
        assert_eq!((b.as_str(), a.as_str()), ("\"a\"", "\"b\""));
        let long = "x".repeat(300);
        let (b, _) = show_change(&json!(format!("a{long}")), &json!(format!("b{long}")));
        assert!(b.starts_with("\"a") && b.ends_with('…') && b.chars().count() == 201);
    }

    #[test]
    fn equal_values_have_no_diff() {
        let v = json!({"a": {"b": [1, 2], "c": [{"d": "x"}]}});
        assert!(diff(Some(&v), Some(&v)).is_empty());
        let change = Change::between("k", "n", Some(&v), &v);
        assert_eq!(change.action, Action::Noop);
    }

    #[test]
    fn leaves_are_named_by_path() {
        let before = json!({"template": {"mappings": {"properties": {"path": {"type": "keyword", "ignore_above": 1024}}}},
                            "index_patterns": ["a*"], "states": [{"name": "hot"}, {"name": "warm", "x": 1}]});
        let after = json!({"template": {"mappings": {"properties": {"path": {"type": "keyword", "ignore_above": 8191}}}},
                           "index_patterns": ["a*", "b*"], "states": [{"name": "hot"}, {"name": "warm"}], "priority": 100});
        let fields = diff(Some(&before), Some(&after));
        assert_eq!(
            fields,
            vec![
                FieldChange {
                    path: "index_patterns".into(),
                    before: json!(["a*"]),
                    after: json!(["a*", "b*"])
                },
                FieldChange {
                    path: "priority".into(),
                    before: Value::Null,
                    after: json!(100)
                },
                FieldChange {
                    path: "states[1].x".into(),
                    before: json!(1),
                    after: Value::Null
                },
                FieldChange {
                    path: "template.mappings.properties.path.ignore_above".into(),
                    before: json!(1024),
                    after: json!(8191)
                },
            ]
        );
    }

    #[test]
    fn creates_list_every_leaf_and_json_has_the_documented_shape() {
        let desired = json!({"a": {"b": 1}, "c": [{"d": true}], "e": []});
        let change = Change::between("opensearch_index_template", "t", None, &desired);
        assert_eq!(change.action, Action::Create);
        let paths: Vec<&str> = change.fields.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(paths, vec!["a.b", "c[0].d", "e"]);
        let plan = Plan {
            changes: vec![change],
        };
        assert!(!plan.is_empty());
        let json = plan.to_json();
        assert_eq!(
            json["changes"][0]["resource"],
            "opensearch_index_template.t"
        );
        assert_eq!(json["changes"][0]["kind"], "opensearch_index_template");
        assert_eq!(json["changes"][0]["action"], "create");
        assert_eq!(
            json["changes"][0]["fields"][0],
            json!({"path": "a.b", "before": null, "after": 1})
        );
        let text = plan.to_string();
        assert!(
            text.contains("+ opensearch_index_template.t (create)"),
            "{text}"
        );
        assert!(text.contains("+ a.b = 1"), "{text}");
        assert!(
            text.ends_with("Plan: 1 to create, 0 to update, 0 to delete, 0 unchanged."),
            "{text}"
        );
    }
}
