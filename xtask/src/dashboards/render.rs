//! `dashboards/objects/*.yaml` are handlebars templates of YAML. They are
//! rendered in strict mode (a missing variable is an error, never an empty
//! string) with a JSON-string escape instead of handlebars' HTML escape, so
//! a value placed inside a double-quoted YAML string stays exactly that
//! value whatever it contains (quotes, backslashes, newlines, `<&>`).

use crate::env::Environment;
use crate::metrics::Metrics;
use handlebars::Handlebars;
use serde_json::{Value, json};

/// The content of a JSON string literal for `text`, without the quotes
/// (also valid inside a YAML double-quoted string).
pub fn json_string_escape(text: &str) -> String {
    let quoted = serde_json::to_string(text).expect("strings serialize");
    quoted[1..quoted.len() - 1].to_string()
}

/// A strict handlebars engine with the JSON-string escape.
pub fn engine() -> Handlebars<'static> {
    let mut hb = Handlebars::new();
    hb.set_strict_mode(true);
    hb.register_escape_fn(json_string_escape);
    hb
}

/// What the templates may name: the environment's index names and the
/// metric declarations (`metrics.<id>.title`, `.field`, `.ranges`, …).
pub fn context(env: &Environment, metrics: &Metrics) -> Value {
    let i = env.indices();
    let mut by_id = serde_json::Map::new();
    for m in &metrics.metrics {
        let mut value = serde_json::to_value(m).expect("metrics serialize");
        if !m.bounds.is_empty() {
            value["ranges"] = m
                .bounds
                .iter()
                .enumerate()
                .map(|(k, from)| json!({"from": from, "to": m.bounds.get(k + 1)}))
                .collect();
        }
        by_id.insert(m.id.clone(), value);
    }
    json!({
        "environment": env.name,
        "session_summaries": i.session_summaries,
        "request_events_pattern": i.request_events_pattern(),
        "day_field": metrics.day_field,
        "events_field": metrics.events_field,
        "metrics": by_id,
    })
}

/// Renders one template; errors name the file and line.
pub fn render(
    hb: &Handlebars<'_>,
    origin: &str,
    template: &str,
    ctx: &Value,
) -> anyhow::Result<String> {
    hb.render_template(template, ctx)
        .map_err(|err| anyhow::anyhow!("{origin}: {err}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_escaped_for_json_not_html() {
        let hb = engine();
        let evil = "Work \"Orders\" \\ <b>&amp;</b> 'x'\n\ttab {{x}} é 𝄞 \u{1}";
        let ctx = json!({"name": evil});
        let out = render(&hb, "t.yaml", "title: \"{{name}}\"\n", &ctx).unwrap();
        assert!(!out.contains("&lt;") && !out.contains("&quot;"), "{out}");
        // The YAML reads back the exact value, and so does JSON.
        let yaml: serde_yaml_ng::Value = serde_yaml_ng::from_str(&out).unwrap();
        assert_eq!(yaml["title"].as_str(), Some(evil));
        let json_text = render(&hb, "t.json", "{\"title\": \"{{name}}\"}", &ctx).unwrap();
        let parsed: Value = serde_json::from_str(&json_text).unwrap();
        assert_eq!(parsed["title"], evil);
    }

    #[test]
    fn a_missing_variable_is_an_error_naming_the_file() {
        let err = render(
            &engine(),
            "dashboards/objects/x.yaml",
            "title: \"{{nope}}\"",
            &json!({}),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("dashboards/objects/x.yaml"), "{err}");
        assert!(err.contains("nope"), "{err}");
        let err = render(
            &engine(),
            "x.yaml",
            "t: {{metrics.missing-id.title}}",
            &json!({"metrics": {}}),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("missing-id"), "{err}");
    }
}
