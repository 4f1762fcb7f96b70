//! IAM policy documents of the processor's role, and their normal form.
//!
//! Pure: documents are built from the environment, and what IAM answers
//! (URL-encoded, `Action` as a string or a list, any key order) is brought to
//! one form so that an unchanged policy never shows a diff.

use crate::env::Environment;
use serde_json::{Map, Value, json};

pub const POLICY_VERSION: &str = "2012-10-17";

/// Only Lambda may assume the role.
pub fn trust_policy() -> Value {
    json!({
        "Version": POLICY_VERSION,
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"Service": "lambda.amazonaws.com"},
            "Action": "sts:AssumeRole"
        }]
    })
}

/// Least privilege for the processor: HTTP on this domain's pipeline
/// indices only (and the two cluster-level paths its calls use), its own
/// log group, its own failure queue.
pub fn processor_policy(env: &Environment) -> Value {
    let domain = env.domain_arn();
    let indices = env.indices();
    let mut index_paths = vec![format!("{domain}/{}*", indices.request_events_prefix)];
    for index in [
        &indices.session_summaries,
        &indices.session_state(),
        &indices.dead_letters,
    ] {
        index_paths.push(format!("{domain}/{index}"));
        index_paths.push(format!("{domain}/{index}/*"));
    }
    let log_group = env.log_group_arn(&env.lambda_log_group());
    json!({
        "Version": POLICY_VERSION,
        "Statement": [
            {
                "Sid": "WritePipelineIndices",
                "Effect": "Allow",
                "Action": ["es:ESHttpGet", "es:ESHttpPost", "es:ESHttpPut"],
                "Resource": index_paths
            },
            {
                // `_bulk` names its indices in the body.
                "Sid": "Bulk",
                "Effect": "Allow",
                "Action": ["es:ESHttpPost"],
                "Resource": [format!("{domain}/_bulk")]
            },
            {
                "Sid": "OwnLogGroup",
                "Effect": "Allow",
                "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                "Resource": [format!("{log_group}:*")]
            },
            {
                "Sid": "OwnFailureQueue",
                "Effect": "Allow",
                "Action": ["sqs:SendMessage"],
                "Resource": [env.failure_queue_arn()]
            }
        ]
    })
}

/// A policy document as IAM returns it: JSON, usually URL-encoded.
pub fn parse_document(text: &str) -> anyhow::Result<Value> {
    let decoded = if text.trim_start().starts_with('{') {
        text.to_string()
    } else {
        urlencoding::decode(text)
            .map_err(|e| anyhow::anyhow!("a policy document that is not URL-encoded UTF-8: {e}"))?
            .into_owned()
    };
    serde_json::from_str(&decoded)
        .map_err(|e| anyhow::anyhow!("a policy document that is not JSON ({e}): {decoded}"))
}

/// One form for equal policies: `Statement` always a list, each
/// `Action`/`Resource`/`NotAction`/`NotResource` and principal list sorted
/// and deduplicated, single values as one-element lists.
pub fn normalize(document: &Value) -> Value {
    let mut out = Map::new();
    if let Some(object) = document.as_object() {
        for (key, value) in object {
            let value = match key.as_str() {
                "Statement" => {
                    Value::Array(as_list(value).iter().map(normalize_statement).collect())
                }
                _ => value.clone(),
            };
            out.insert(key.clone(), value);
        }
    }
    Value::Object(out)
}

fn normalize_statement(statement: &Value) -> Value {
    let Some(object) = statement.as_object() else {
        return statement.clone();
    };
    let mut out = Map::new();
    for (key, value) in object {
        let value = match key.as_str() {
            "Action" | "NotAction" | "Resource" | "NotResource" => sorted_list(value),
            "Principal" | "NotPrincipal" => match value {
                Value::Object(principals) => Value::Object(
                    principals
                        .iter()
                        .map(|(k, v)| (k.clone(), sorted_list(v)))
                        .collect(),
                ),
                other => other.clone(),
            },
            "Condition" => match value {
                Value::Object(operators) => Value::Object(
                    operators
                        .iter()
                        .map(|(op, keys)| {
                            let keys = match keys {
                                Value::Object(keys) => Value::Object(
                                    keys.iter()
                                        .map(|(k, v)| (k.clone(), sorted_list(v)))
                                        .collect(),
                                ),
                                other => other.clone(),
                            };
                            (op.clone(), keys)
                        })
                        .collect(),
                ),
                other => other.clone(),
            },
            _ => value.clone(),
        };
        out.insert(key.clone(), value);
    }
    Value::Object(out)
}

fn as_list(value: &Value) -> Vec<Value> {
    match value {
        Value::Array(items) => items.clone(),
        other => vec![other.clone()],
    }
}

fn sorted_list(value: &Value) -> Value {
    let mut items = as_list(value);
    items.sort_by_key(|v| v.to_string());
    items.dedup();
    Value::Array(items)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env() -> Environment {
        Environment::load(&crate::project_root(), "local").unwrap()
    }

    #[test]
    fn url_encoded_and_reordered_documents_normalise_alike() {
        let ours = normalize(&trust_policy());
        let from_iam = "%7B%22Statement%22%3A%5B%7B%22Action%22%3A%5B%22sts%3AAssumeRole%22%5D%2C%22Principal%22%3A%7B%22Service%22%3A%22lambda.amazonaws.com%22%7D%2C%22Effect%22%3A%22Allow%22%7D%5D%2C%22Version%22%3A%222012-10-17%22%7D";
        assert_eq!(normalize(&parse_document(from_iam).unwrap()), ours);
    }

    #[test]
    fn a_changed_action_still_differs() {
        let mut changed = trust_policy();
        changed["Statement"][0]["Action"] = json!("sts:AssumeRoleWithWebIdentity");
        assert_ne!(normalize(&changed), normalize(&trust_policy()));
    }

    #[test]
    fn processor_policy_is_scoped_to_the_domain_the_log_group_and_the_queue() {
        let env = env();
        let policy = processor_policy(&env);
        let text = policy.to_string();
        let domain = env.domain_arn();
        for statement in policy["Statement"].as_array().unwrap() {
            for resource in statement["Resource"].as_array().unwrap() {
                let resource = resource.as_str().unwrap();
                assert!(
                    resource.starts_with(&format!("{domain}/"))
                        || resource.contains(&env.lambda.function_name),
                    "{resource} is outside the domain and the function's own resources"
                );
                assert_ne!(resource, format!("{domain}/*"), "the whole domain");
            }
        }
        assert!(!text.contains("\"es:*\""), "{text}");
        assert!(!text.contains("ESHttpDelete\"],\"Resource\":[\"arn:aws:es:us-east-1:123456789012:domain/ironman-usage-local/request"), "{text}");
    }

    #[test]
    fn bad_documents_are_named() {
        let err = parse_document("%7Bnot json").unwrap_err().to_string();
        assert!(err.contains("not JSON"), "{err}");
    }
}
