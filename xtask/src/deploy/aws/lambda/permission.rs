//! `lambda_permission`: the statement of the function's resource policy
//! that lets CloudWatch Logs invoke it for one application log group, and
//! the log groups xtask's statements name (to find orphans).

use super::is_update_in_progress;
use crate::aws::sdk_error;
use crate::deploy::aws::{Context, retry_transient};
use crate::engine::{Crud, Meta, Observed};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

pub const KIND: &str = "lambda_permission";

/// Lets CloudWatch Logs invoke the function for one log group of this
/// account, and nothing else.
pub struct LogsPermission {
    /// Named `<function>/<statement id>`.
    meta: Meta,
    ctx: Arc<Context>,
    function: String,
    statement_id: String,
}

/// The prefix of the statements xtask adds (see [`statement_id`]).
const STATEMENT_PREFIX: &str = "logs-";

/// A statement id for a log group: Lambda allows `[a-zA-Z0-9-_]`, at most 100.
pub fn statement_id(group: &str) -> String {
    let cleaned: String = group
        .trim_start_matches('/')
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect();
    let mut id = format!("{STATEMENT_PREFIX}{cleaned}");
    if id.len() > 100 {
        // Keep it unique when the tail is cut: a short hash of the whole name.
        use sha2::Digest as _;
        let digest = hex_prefix(&sha2::Sha256::digest(group.as_bytes()));
        id.truncate(100 - 9);
        id.push('-');
        id.push_str(&digest);
    }
    id
}

fn hex_prefix(bytes: &[u8]) -> String {
    bytes.iter().take(4).map(|b| format!("{b:02x}")).collect()
}

impl LogsPermission {
    pub fn new(ctx: Arc<Context>, group: String) -> Self {
        let env = &ctx.env;
        let statement_id = statement_id(&group);
        let desired = json!({
            "action": "lambda:InvokeFunction",
            "principal": "logs.amazonaws.com",
            "source_arn": format!("{}:*", env.log_group_arn(&group)),
            "source_account": env.aws.account_id,
        });
        LogsPermission {
            meta: Meta::new(
                KIND,
                format!("{}/{statement_id}", env.lambda.function_name),
                desired,
            )
            .arn(env.function_arn())
            .id(&statement_id),
            function: env.lambda.function_name.clone(),
            statement_id,
            ctx,
        }
    }

    /// The permission for a log group the environment no longer lists.
    pub fn orphan(ctx: Arc<Context>, group: String) -> Self {
        let permission = Self::new(ctx, group);
        LogsPermission {
            meta: permission.meta.unwanted(),
            ..permission
        }
    }

    fn what(&self) -> String {
        format!(
            "permission `{}` on Lambda function `{}`",
            self.statement_id, self.function
        )
    }

    async fn add(&self) -> anyhow::Result<()> {
        let aws = &self.ctx.aws;
        let what = self.what();
        let request = retry_transient(
            &what,
            Duration::from_secs(90),
            is_update_in_progress,
            || {
                aws.lambda
                    .add_permission()
                    .function_name(&self.function)
                    .statement_id(&self.statement_id)
                    .action("lambda:InvokeFunction")
                    .principal("logs.amazonaws.com")
                    .source_arn(self.meta.desired["source_arn"].as_str().unwrap_or_default())
                    .source_account(&self.ctx.env.aws.account_id)
                    .send()
            },
        );
        aws.write("lambda:AddPermission", &self.meta.name, &what, request)
            .await?;
        Ok(())
    }

    async fn remove(&self) -> anyhow::Result<()> {
        let aws = &self.ctx.aws;
        let request = aws
            .lambda
            .remove_permission()
            .function_name(&self.function)
            .statement_id(&self.statement_id)
            .send();
        aws.write(
            "lambda:RemovePermission",
            &self.meta.name,
            &self.what(),
            request,
        )
        .await?;
        Ok(())
    }
}

/// The statements of the function's resource policy (none when the
/// function or its policy does not exist).
async fn policy_statements(ctx: &Context, what: &str) -> anyhow::Result<Vec<Value>> {
    let out = match ctx
        .aws
        .lambda
        .get_policy()
        .function_name(&ctx.env.lambda.function_name)
        .send()
        .await
    {
        Ok(out) => out,
        Err(err)
            if err
                .as_service_error()
                .is_some_and(|e| e.is_resource_not_found_exception()) =>
        {
            return Ok(Vec::new());
        }
        Err(err) => return Err(sdk_error("lambda:GetPolicy", what, err)),
    };
    let policy: Value = serde_json::from_str(out.policy().unwrap_or("{}"))
        .map_err(|e| anyhow::anyhow!("lambda:GetPolicy on {what}: not JSON: {e}"))?;
    Ok(match &policy["Statement"] {
        Value::Array(items) => items.clone(),
        Value::Null => Vec::new(),
        single => vec![single.clone()],
    })
}

/// The log groups that xtask's statements on the function let invoke it
/// (read from their `SourceArn`), so that a group taken out of the
/// environment can have its permission and filter removed.
pub async fn permitted_log_groups(ctx: &Context) -> anyhow::Result<Vec<String>> {
    let what = format!(
        "the resource policy of Lambda function `{}`",
        ctx.env.lambda.function_name
    );
    let statements = policy_statements(ctx, &what).await?;
    let mut groups: Vec<String> = statements
        .iter()
        .filter(|s| {
            s["Sid"]
                .as_str()
                .is_some_and(|sid| sid.starts_with(STATEMENT_PREFIX))
        })
        .filter_map(|s| log_group_of(permission_state(s)["source_arn"].as_str()?))
        .collect();
    groups.sort();
    groups.dedup();
    Ok(groups)
}

/// `arn:aws:logs:<region>:<account>:log-group:<name>:*` to `<name>`.
fn log_group_of(source_arn: &str) -> Option<String> {
    let (_, rest) = source_arn.split_once(":log-group:")?;
    Some(rest.strip_suffix(":*").unwrap_or(rest).to_string())
}

/// A resource-policy statement in the form the plan compares.
fn permission_state(statement: &Value) -> Value {
    let principal = match &statement["Principal"] {
        Value::Object(p) => p.get("Service").cloned().unwrap_or(Value::Null),
        other => other.clone(),
    };
    let condition_value = |operator: &str, key: &str| -> Value {
        let by_operator = &statement["Condition"][operator];
        by_operator
            .as_object()
            .and_then(|keys| {
                keys.iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(key))
                    .map(|(_, v)| v.clone())
            })
            .unwrap_or(Value::Null)
    };
    json!({
        "action": statement["Action"],
        "principal": principal,
        "source_arn": condition_value("ArnLike", "AWS:SourceArn"),
        "source_account": condition_value("StringEquals", "AWS:SourceAccount"),
    })
}

impl Crud for LogsPermission {
    fn meta(&self) -> &Meta {
        &self.meta
    }

    async fn read(&self) -> anyhow::Result<Option<Observed>> {
        let statements = policy_statements(&self.ctx, &self.what()).await?;
        Ok(statements
            .iter()
            .find(|s| s["Sid"] == self.statement_id.as_str())
            .map(|s| Observed::owned(permission_state(s))))
    }

    async fn create(&self) -> anyhow::Result<()> {
        self.add().await
    }

    async fn update(&self, _observed: &Observed) -> anyhow::Result<()> {
        // Lambda has no update for a statement: replace it.
        self.remove().await?;
        self.add().await
    }

    async fn delete(&self, _observed: &Observed) -> anyhow::Result<()> {
        self.remove().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statement_ids_are_valid_and_distinct() {
        assert_eq!(
            statement_id("/ironman/app/requests"),
            "logs-ironman-app-requests"
        );
        let long_a = format!("/{}a", "x".repeat(200));
        let long_b = format!("/{}b", "x".repeat(200));
        let (a, b) = (statement_id(&long_a), statement_id(&long_b));
        assert!(a.len() <= 100 && b.len() <= 100);
        assert_ne!(a, b);
        assert!(
            a.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        );
    }

    #[test]
    fn permission_statements_read_whatever_the_shape() {
        let statement = json!({
            "Sid": "logs-x", "Effect": "Allow",
            "Principal": {"Service": "logs.amazonaws.com"},
            "Action": "lambda:InvokeFunction",
            "Resource": "arn:aws:lambda:us-east-1:123456789012:function:f",
            "Condition": {
                "StringEquals": {"AWS:SourceAccount": "123456789012"},
                "ArnLike": {"AWS:SourceArn": "arn:aws:logs:us-east-1:123456789012:log-group:/x:*"}
            }
        });
        assert_eq!(
            permission_state(&statement),
            json!({
                "action": "lambda:InvokeFunction",
                "principal": "logs.amazonaws.com",
                "source_arn": "arn:aws:logs:us-east-1:123456789012:log-group:/x:*",
                "source_account": "123456789012",
            })
        );
    }

    #[test]
    fn log_groups_are_read_back_from_source_arns() {
        assert_eq!(
            log_group_of("arn:aws:logs:us-east-1:123456789012:log-group:/a/b:*").as_deref(),
            Some("/a/b")
        );
        assert_eq!(log_group_of("arn:aws:s3:::bucket"), None);
    }
}
