//! `opensearch_security_role` and `opensearch_role_mapping`: fine-grained
//! access control (the security plugin), a role that may write only the
//! pipeline's indices, and the mapping of the processor's IAM role to it;
//! one resource, a document of the security REST API, of either kind. Deployed only when `opensearch.fine_grained_access_control`
//! is set: without it, the domain's access policy and the IAM policy decide.

use super::api::Api;
use crate::engine::{Crud, Meta, Observed};
use crate::env::Environment;
use serde_json::{Map, Value, json};

pub const SECURITY_ROLE: &str = "opensearch_security_role";
pub const ROLE_MAPPING: &str = "opensearch_role_mapping";

/// The security role's body: what the processor's calls need, on its
/// indices only.
pub fn role_body(env: &Environment) -> Value {
    let i = env.indices();
    json!({
        "cluster_permissions": ["indices:data/write/bulk"],
        "index_permissions": [{
            "index_patterns": [
                format!("{}*", i.request_events_prefix),
                i.session_summaries,
                i.session_state(),
                i.dead_letters,
            ],
            "allowed_actions": ["crud", "create_index", "indices:data/read/mget"]
        }]
    })
}

/// The mapping: the Lambda's IAM role is a backend role of the security role.
pub fn mapping_body(env: &Environment) -> Value {
    json!({"backend_roles": [env.role_arn()]})
}

/// Drops what the security API adds to what it returns (`reserved`,
/// `hidden`, `static`, empty lists of features not used here).
pub fn normalize(answer: &Value) -> Value {
    let mut out = Map::new();
    if let Some(object) = answer.as_object() {
        for (key, value) in object {
            if matches!(
                key.as_str(),
                "reserved" | "hidden" | "static" | "description"
            ) {
                continue;
            }
            if value.as_array().is_some_and(Vec::is_empty) {
                continue;
            }
            let value = match key.as_str() {
                "index_permissions" => Value::Array(
                    value
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(normalize)
                        .collect(),
                ),
                _ => value.clone(),
            };
            out.insert(key.clone(), value);
        }
    }
    Value::Object(out)
}

/// One document of the security REST API (`roles/<name>`, `rolesmapping/<name>`).
pub struct SecurityDocument {
    /// Named by the function.
    meta: Meta,
    api: Api,
    path: String,
    body: Value,
}

impl SecurityDocument {
    pub fn role(api: Api, env: &Environment) -> Self {
        Self::new(api, SECURITY_ROLE, "roles", env, role_body(env))
    }

    pub fn mapping(api: Api, env: &Environment) -> Self {
        Self::new(api, ROLE_MAPPING, "rolesmapping", env, mapping_body(env))
    }

    fn new(api: Api, kind: &'static str, collection: &str, env: &Environment, body: Value) -> Self {
        let name = env.lambda.function_name.clone();
        SecurityDocument {
            api,
            path: format!("/_plugins/_security/api/{collection}/{name}"),
            meta: Meta::new(kind, name, normalize(&body)),
            body,
        }
    }
}

impl Crud for SecurityDocument {
    fn meta(&self) -> &Meta {
        &self.meta
    }

    async fn read(&self) -> anyhow::Result<Option<Observed>> {
        match self.api.get_json_or_404(&self.path).await? {
            None => Ok(None),
            Some(answer) => {
                let state = normalize(&answer[&self.meta.name]);
                let owned = true;
                Ok(Some(Observed {
                    state,
                    version: Value::Null,
                    owned,
                }))
            }
        }
    }

    async fn create(&self) -> anyhow::Result<()> {
        self.api.put_json(&self.path, &self.body).await?;
        Ok(())
    }

    async fn update(&self, _observed: &Observed) -> anyhow::Result<()> {
        self.api.put_json(&self.path, &self.body).await?;
        Ok(())
    }

    async fn delete(&self, _observed: &Observed) -> anyhow::Result<()> {
        self.api.delete(&self.path).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env() -> Environment {
        Environment::load(&crate::project_root(), "local").unwrap()
    }

    #[test]
    fn a_role_read_back_equals_the_declared_one() {
        let env = env();
        // The shape GET _plugins/_security/api/roles/<name> documents.
        let mut answer = role_body(&env);
        answer["reserved"] = json!(false);
        answer["hidden"] = json!(false);
        answer["static"] = json!(false);
        answer["tenant_permissions"] = json!([]);
        answer["index_permissions"][0]["fls"] = json!([]);
        answer["index_permissions"][0]["masked_fields"] = json!([]);
        assert_eq!(normalize(&answer), normalize(&role_body(&env)));
    }

    #[test]
    fn a_mapping_read_back_equals_the_declared_one_and_a_changed_one_differs() {
        let env = env();
        let answer = json!({"hosts": [], "users": [], "reserved": false, "hidden": false,
            "backend_roles": [env.role_arn()], "and_backend_roles": []});
        assert_eq!(normalize(&answer), normalize(&mapping_body(&env)));
        let other = json!({"backend_roles": ["arn:aws:iam::1:role/other"], "users": ["admin"]});
        assert_ne!(normalize(&other), normalize(&mapping_body(&env)));
    }

    #[test]
    fn the_role_covers_only_the_pipeline_indices() {
        let env = env();
        let body = role_body(&env);
        let patterns = body["index_permissions"][0]["index_patterns"]
            .as_array()
            .unwrap();
        assert!(!patterns.contains(&json!("*")));
        let i = env.indices();
        assert_eq!(
            patterns,
            &vec![
                json!(format!("{}*", i.request_events_prefix)),
                json!(i.session_summaries),
                json!(i.session_state()),
                json!(i.dead_letters),
            ]
        );
        // Nothing reads by search, scroll or refresh any more.
        let actions = &body["index_permissions"][0]["allowed_actions"];
        assert_eq!(
            actions,
            &json!(["crud", "create_index", "indices:data/read/mget"])
        );
        assert_eq!(
            body["cluster_permissions"],
            json!(["indices:data/write/bulk"])
        );
    }
}
