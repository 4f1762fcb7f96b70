//! `opensearch_index_template`: a composable index template
//! (`_index_template/<name>`), declared by a `mappings/` file.
//!
//! A template shapes only the indices created after it. Where a template
//! names exactly one index (the session summaries, their state, the dead
//! letters), that index lives on across deploys, so the resource also
//! carries the template's dynamic index settings over to it when it
//! exists ([`CONVERGED_SETTINGS`]): they show in the plan as
//! `existing_index_settings`, and a deploy sets them with
//! `PUT /<index>/_settings`. Mappings are not carried over: a changed
//! mapping needs a new index (see docs/operating.md).

use super::api::{Api, segment};
use crate::deploy::normalize;
use crate::engine::{Crud, Meta, Observed};
use serde_json::{Map, Value, json};

pub const KIND: &str = "opensearch_index_template";

/// The dynamic settings a deploy sets on the one existing index a
/// template names, as `index.<name>`. `refresh_interval` is why: the
/// state index was made with OpenSearch's default (1 s) before its
/// template said `-1`.
const CONVERGED_SETTINGS: [&str; 2] = ["refresh_interval", "number_of_replicas"];

/// Where a plan shows the existing index's settings.
const EXISTING: &str = "existing_index_settings";

pub struct IndexTemplate {
    meta: Meta,
    api: Api,
    body: Value,
    /// The one index the template names, and the settings it must have.
    index: Option<(String, Map<String, Value>)>,
}

impl IndexTemplate {
    pub fn new(api: Api, name: String, body: Value) -> Self {
        let mut desired = normalize::index_template(&body);
        let index = single_index(&desired).and_then(|index| {
            let settings = converged_settings(&desired);
            (!settings.is_empty()).then_some((index, settings))
        });
        if let (Some((_, settings)), Some(state)) = (&index, desired.as_object_mut()) {
            state.insert(EXISTING.into(), Value::Object(settings.clone()));
        }
        IndexTemplate {
            meta: Meta::new(KIND, name, desired),
            api,
            body,
            index,
        }
    }

    fn path(&self) -> String {
        format!("/_index_template/{}", segment(&self.meta.name))
    }

    /// The converged settings as the existing index has them (OpenSearch's
    /// defaults included), or `None` when there is no such index.
    async fn existing_settings(&self) -> anyhow::Result<Option<Map<String, Value>>> {
        let Some((index, wanted)) = &self.index else {
            return Ok(None);
        };
        let path = format!(
            "/{}/_settings?flat_settings=true&include_defaults=true",
            segment(index)
        );
        let response = self.api.send(reqwest::Method::GET, &path, None).await?;
        if response.status == 404 {
            return Ok(None);
        }
        let answer = self.api.client.expect_json("GET", &path, response)?;
        let Some(found) = answer.as_object().and_then(|all| all.values().next()) else {
            anyhow::bail!("GET {path}: no index in the answer: {answer}");
        };
        let have = wanted
            .keys()
            .map(|key| {
                let value = found["settings"]
                    .get(key)
                    .or_else(|| found["defaults"].get(key))
                    .cloned()
                    .unwrap_or(Value::Null);
                (key.clone(), value)
            })
            .collect();
        Ok(Some(have))
    }

    /// Sets the template's dynamic settings on the index it names, when
    /// that index exists (`have`: its settings) and differs.
    async fn converge_index(&self, have: Option<Map<String, Value>>) -> anyhow::Result<()> {
        let (Some((index, wanted)), Some(have)) = (&self.index, have) else {
            return Ok(());
        };
        if &have == wanted {
            return Ok(());
        }
        let path = format!("/{}/_settings", segment(index));
        self.api
            .expect_ok(
                reqwest::Method::PUT,
                &path,
                Some(&Value::Object(wanted.clone())),
            )
            .await?;
        Ok(())
    }
}

/// A template's state without the existing index's settings.
fn template_only(state: &Value) -> Value {
    let mut state = state.clone();
    if let Some(fields) = state.as_object_mut() {
        fields.remove(EXISTING);
    }
    state
}

/// The index a template's only pattern names literally, if it does.
fn single_index(template: &Value) -> Option<String> {
    match template["index_patterns"].as_array()?.as_slice() {
        [Value::String(name)] if !name.contains(['*', '?', ',']) => Some(name.clone()),
        _ => None,
    }
}

/// The template's [`CONVERGED_SETTINGS`], flat (`index.refresh_interval`),
/// as strings (how an index reports them).
fn converged_settings(template: &Value) -> Map<String, Value> {
    let index = &template["template"]["settings"]["index"];
    CONVERGED_SETTINGS
        .iter()
        .filter_map(|name| {
            let value = match &index[*name] {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                _ => return None,
            };
            Some((format!("index.{name}"), json!(value)))
        })
        .collect()
}

impl Crud for IndexTemplate {
    fn meta(&self) -> &Meta {
        &self.meta
    }

    async fn read(&self) -> anyhow::Result<Option<Observed>> {
        let path = self.path();
        let response = self.api.send(reqwest::Method::GET, &path, None).await?;
        if response.status == 404 {
            return Ok(None);
        }
        let answer = self.api.client.expect_json("GET", &path, response)?;
        let found = answer["index_templates"]
            .as_array()
            .and_then(|all| all.iter().find(|t| t["name"] == self.meta.name.as_str()));
        let Some(found) = found else {
            return Ok(None);
        };
        let mut state = normalize::index_template(&found["index_template"]);
        if let (Some((_, wanted)), Some(state)) = (&self.index, state.as_object_mut()) {
            // No such index yet: the template will give it these settings.
            let have = self.existing_settings().await?.unwrap_or(wanted.clone());
            state.insert(EXISTING.into(), Value::Object(have));
        }
        Ok(Some(Observed::owned(state)))
    }

    async fn create(&self) -> anyhow::Result<()> {
        // `create=true`: fail rather than overwrite one made since the plan.
        let path = format!("{}?create=true", self.path());
        self.api
            .expect_ok(reqwest::Method::PUT, &path, Some(&self.body))
            .await?;
        let have = self.existing_settings().await?;
        self.converge_index(have).await
    }

    async fn update(&self, observed: &Observed) -> anyhow::Result<()> {
        // What the plan read: the template, and the index as it was then
        // (the declared settings when there was no index).
        if template_only(&observed.state) != template_only(&self.meta.desired) {
            self.api
                .expect_ok(reqwest::Method::PUT, &self.path(), Some(&self.body))
                .await?;
        }
        let have = observed.state.get(EXISTING).and_then(Value::as_object);
        self.converge_index(have.cloned()).await
    }

    async fn delete(&self, _observed: &Observed) -> anyhow::Result<()> {
        self.api
            .expect_ok(reqwest::Method::DELETE, &self.path(), None)
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn template(patterns: Value, settings: Value) -> Value {
        normalize::index_template(&json!({
            "index_patterns": patterns,
            "template": {"settings": settings},
        }))
    }

    #[test]
    fn only_a_template_of_one_literal_index_names_an_index() {
        let settings = json!({"refresh_interval": "-1"});
        assert_eq!(
            single_index(&template(json!("state"), settings.clone())),
            Some("state".into())
        );
        assert_eq!(
            single_index(&template(json!(["events-*"]), settings.clone())),
            None
        );
        assert_eq!(single_index(&template(json!(["a", "b"]), settings)), None);
    }

    #[test]
    fn converged_settings_are_the_dynamic_ones_the_template_sets_as_strings() {
        let t = template(
            json!("state"),
            json!({"number_of_shards": 1, "number_of_replicas": 2, "index": {"refresh_interval": "-1"}}),
        );
        assert_eq!(
            Value::Object(converged_settings(&t)),
            json!({"index.refresh_interval": "-1", "index.number_of_replicas": "2"})
        );
        assert!(converged_settings(&template(json!("x"), json!({}))).is_empty());
    }
}
