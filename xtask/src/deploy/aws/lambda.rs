//! The processor function, its asynchronous-invoke settings (retries and
//! the on-failure queue) and the permission for CloudWatch Logs to invoke
//! it from each application log group.

use super::{Context, is_managed, retry_transient, tag_changes, tags_value};
use crate::aws::sdk_error;
use crate::engine::{Crud, Meta, Observed};
use crate::env::{Architecture, AuthKind};
use aws_sdk_lambda::error::SdkError;
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::{
    Architecture as LambdaArchitecture, DestinationConfig, Environment as LambdaEnvironment,
    FunctionCode, LastUpdateStatus, OnFailure, Runtime, State,
};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub const FUNCTION: &str = "lambda_function";
pub const EVENT_INVOKE_CONFIG: &str = "lambda_event_invoke_config";
pub const PERMISSION: &str = "lambda_permission";

const RUNTIME: &str = "provided.al2023";
const HANDLER: &str = "bootstrap";
const DESCRIPTION: &str =
    "IronMan usage analytics: CloudWatch Logs request logs to OpenSearch (managed by cargo xtask)";

/// How long to wait for a function to become active or finish updating.
const SETTLE_PATIENCE: Duration = Duration::from_secs(300);

pub struct Function {
    meta: Meta,
    ctx: Arc<Context>,
    variables: BTreeMap<String, String>,
}

/// The variables `processor::handler::LambdaSettings::from_env` reads.
fn environment_variables(ctx: &Context) -> BTreeMap<String, String> {
    let env = &ctx.env;
    let indices = env.indices();
    let mut vars = BTreeMap::new();
    vars.insert(
        "OPENSEARCH_ENDPOINT".to_string(),
        env.opensearch.endpoint.clone().unwrap_or_default(),
    );
    vars.insert(
        "OPENSEARCH_AUTH".to_string(),
        match env.opensearch.auth {
            AuthKind::None => "none",
            AuthKind::Sigv4 => "sigv4",
        }
        .to_string(),
    );
    vars.insert(
        "REQUEST_EVENTS_PREFIX".to_string(),
        indices.request_events_prefix.clone(),
    );
    vars.insert(
        "SESSION_SUMMARIES_INDEX".to_string(),
        indices.session_summaries.clone(),
    );
    vars.insert(
        "DEAD_LETTERS_INDEX".to_string(),
        indices.dead_letters.clone(),
    );
    vars
}

fn architecture(arch: Architecture) -> LambdaArchitecture {
    match arch {
        Architecture::X86_64 => LambdaArchitecture::X8664,
        Architecture::Arm64 => LambdaArchitecture::Arm64,
    }
}

/// The function's configuration fields as the plan shows them.
fn configuration_fields(state: &Value) -> Value {
    let mut fields = state.clone();
    if let Some(object) = fields.as_object_mut() {
        object.remove("code_sha256");
        object.remove("reserved_concurrency");
        object.remove("tags");
    }
    fields
}

impl Function {
    pub fn new(ctx: Arc<Context>) -> Self {
        let env = &ctx.env;
        let variables = environment_variables(&ctx);
        let desired = json!({
            "runtime": RUNTIME,
            "handler": HANDLER,
            "description": DESCRIPTION,
            "role": env.role_arn(),
            "memory_size": env.lambda.memory_mb,
            "timeout": env.lambda.timeout_seconds,
            "architectures": [env.lambda.architecture.as_str()],
            "environment": tags_value(&variables),
            "code_sha256": ctx.code.code_sha256,
            "reserved_concurrency": env.lambda.reserved_concurrency,
            "tags": tags_value(&env.resource_tags()),
        });
        Function {
            meta: Meta::new(FUNCTION, &env.lambda.function_name, desired).arn(env.function_arn()),
            ctx,
            variables,
        }
    }

    fn what(&self) -> String {
        format!("Lambda function `{}`", self.meta.name)
    }

    fn lambda_environment(&self) -> LambdaEnvironment {
        LambdaEnvironment::builder()
            .set_variables(Some(self.variables.clone().into_iter().collect()))
            .build()
    }

    /// Waits until the function is active and no update is in progress:
    /// Lambda refuses the next change until then.
    async fn settle(&self) -> anyhow::Result<()> {
        let started = Instant::now();
        let mut told = false;
        loop {
            let config = self
                .ctx
                .aws
                .lambda
                .get_function_configuration()
                .function_name(&self.meta.name)
                .send()
                .await
                .map_err(|e| sdk_error("lambda:GetFunctionConfiguration", &self.what(), e))?;
            let pending = matches!(config.state(), Some(State::Pending))
                || matches!(
                    config.last_update_status(),
                    Some(LastUpdateStatus::InProgress)
                );
            if let Some(State::Failed) = config.state() {
                anyhow::bail!(
                    "{} failed to become active: {}",
                    self.what(),
                    config.state_reason().unwrap_or("no reason given")
                );
            }
            if let Some(LastUpdateStatus::Failed) = config.last_update_status() {
                anyhow::bail!(
                    "the last update of {} failed: {}",
                    self.what(),
                    config
                        .last_update_status_reason()
                        .unwrap_or("no reason given")
                );
            }
            if !pending {
                return Ok(());
            }
            if started.elapsed() > SETTLE_PATIENCE {
                anyhow::bail!(
                    "{} is still updating after {SETTLE_PATIENCE:?}; run deploy again once it has settled",
                    self.what()
                );
            }
            if !told {
                eprintln!("  … waiting for {} to finish updating", self.what());
                told = true;
            }
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
    }

    async fn put_concurrency(&self) -> anyhow::Result<()> {
        let aws = &self.ctx.aws;
        match self.ctx.env.lambda.reserved_concurrency {
            Some(n) => {
                let request = aws
                    .lambda
                    .put_function_concurrency()
                    .function_name(&self.meta.name)
                    .reserved_concurrent_executions(n as i32)
                    .send();
                aws.write(
                    "lambda:PutFunctionConcurrency",
                    &self.meta.name,
                    &self.what(),
                    request,
                )
                .await?;
            }
            None => {
                let request = aws
                    .lambda
                    .delete_function_concurrency()
                    .function_name(&self.meta.name)
                    .send();
                aws.write(
                    "lambda:DeleteFunctionConcurrency",
                    &self.meta.name,
                    &self.what(),
                    request,
                )
                .await?;
            }
        }
        Ok(())
    }

    async fn create_function(&self) -> anyhow::Result<()> {
        let env = &self.ctx.env;
        let aws = &self.ctx.aws;
        let what = self.what();
        // A role created seconds ago cannot be assumed by Lambda yet.
        let request = retry_transient(&what, Duration::from_secs(90), is_role_not_ready, || {
            aws.lambda
                .create_function()
                .function_name(&self.meta.name)
                .runtime(Runtime::from(RUNTIME))
                .handler(HANDLER)
                .description(DESCRIPTION)
                .role(env.role_arn())
                .memory_size(env.lambda.memory_mb as i32)
                .timeout(env.lambda.timeout_seconds as i32)
                .architectures(architecture(env.lambda.architecture))
                .environment(self.lambda_environment())
                .code(
                    FunctionCode::builder()
                        .zip_file(Blob::new(self.ctx.code.zip.as_slice()))
                        .build(),
                )
                .set_tags(Some(env.resource_tags().into_iter().collect()))
                .send()
        });
        aws.write("lambda:CreateFunction", &self.meta.name, &what, request)
            .await?;
        self.settle().await?;
        if env.lambda.reserved_concurrency.is_some() {
            self.put_concurrency().await?;
        }
        Ok(())
    }

    async fn update_function(&self, observed: &Observed) -> anyhow::Result<()> {
        let env = &self.ctx.env;
        let aws = &self.ctx.aws;
        let what = self.what();
        if configuration_fields(&observed.state) != configuration_fields(&self.meta.desired) {
            self.settle().await?;
            let request = retry_transient(
                &what,
                Duration::from_secs(90),
                |err: &SdkError<_, _>| is_update_in_progress(err) || is_role_not_ready(err),
                || {
                    aws.lambda
                        .update_function_configuration()
                        .function_name(&self.meta.name)
                        .runtime(Runtime::from(RUNTIME))
                        .handler(HANDLER)
                        .description(DESCRIPTION)
                        .role(env.role_arn())
                        .memory_size(env.lambda.memory_mb as i32)
                        .timeout(env.lambda.timeout_seconds as i32)
                        .environment(self.lambda_environment())
                        .send()
                },
            );
            aws.write(
                "lambda:UpdateFunctionConfiguration",
                &self.meta.name,
                &what,
                request,
            )
            .await?;
            self.settle().await?;
        }
        if observed.state["code_sha256"] != self.meta.desired["code_sha256"]
            || observed.state["architectures"] != self.meta.desired["architectures"]
        {
            self.settle().await?;
            let request = retry_transient(
                &what,
                Duration::from_secs(90),
                is_update_in_progress,
                || {
                    aws.lambda
                        .update_function_code()
                        .function_name(&self.meta.name)
                        .zip_file(Blob::new(self.ctx.code.zip.as_slice()))
                        .architectures(architecture(env.lambda.architecture))
                        .send()
                },
            );
            aws.write("lambda:UpdateFunctionCode", &self.meta.name, &what, request)
                .await?;
            self.settle().await?;
        }
        if observed.state["reserved_concurrency"] != self.meta.desired["reserved_concurrency"] {
            self.put_concurrency().await?;
        }
        let (set, remove) = tag_changes(&observed.state["tags"], &env.resource_tags());
        if !set.is_empty() {
            let request = aws
                .lambda
                .tag_resource()
                .resource(env.function_arn())
                .set_tags(Some(set))
                .send();
            aws.write("lambda:TagResource", &self.meta.name, &what, request)
                .await?;
        }
        if !remove.is_empty() {
            let request = aws
                .lambda
                .untag_resource()
                .resource(env.function_arn())
                .set_tag_keys(Some(remove))
                .send();
            aws.write("lambda:UntagResource", &self.meta.name, &what, request)
                .await?;
        }
        Ok(())
    }
}

fn is_role_not_ready<E: aws_sdk_lambda::error::ProvideErrorMetadata, R>(
    err: &SdkError<E, R>,
) -> bool {
    err.as_service_error().is_some_and(|e| {
        e.code() == Some("InvalidParameterValueException")
            && e.message().is_some_and(|m| m.contains("cannot be assumed"))
    })
}

fn is_update_in_progress<E: aws_sdk_lambda::error::ProvideErrorMetadata, R>(
    err: &SdkError<E, R>,
) -> bool {
    err.as_service_error()
        .is_some_and(|e| e.code() == Some("ResourceConflictException"))
}

impl Crud for Function {
    fn meta(&self) -> &Meta {
        &self.meta
    }

    async fn read(&self) -> anyhow::Result<Option<Observed>> {
        let out = match self
            .ctx
            .aws
            .lambda
            .get_function()
            .function_name(&self.meta.name)
            .send()
            .await
        {
            Ok(out) => out,
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_resource_not_found_exception()) =>
            {
                return Ok(None);
            }
            Err(err) => return Err(sdk_error("lambda:GetFunction", &self.what(), err)),
        };
        let Some(config) = out.configuration() else {
            anyhow::bail!(
                "lambda:GetFunction on {}: no configuration in the answer",
                self.what()
            );
        };
        let variables = config
            .environment()
            .and_then(|e| e.variables())
            .map(|vars| tags_value(vars.iter()))
            .unwrap_or_else(|| json!({}));
        let tags = tags_value(out.tags().into_iter().flatten());
        Ok(Some(Observed {
            owned: is_managed(&tags),
            state: json!({
                "runtime": config.runtime().map(|r| r.as_str()),
                "handler": config.handler(),
                "description": config.description().unwrap_or_default(),
                "role": config.role(),
                "memory_size": config.memory_size(),
                "timeout": config.timeout(),
                "architectures": config.architectures().iter().map(|a| a.as_str()).collect::<Vec<_>>(),
                "environment": variables,
                "code_sha256": config.code_sha256(),
                "reserved_concurrency": out.concurrency().and_then(|c| c.reserved_concurrent_executions()),
                "tags": tags,
            }),
            version: Value::Null,
        }))
    }

    async fn create(&self) -> anyhow::Result<()> {
        self.create_function().await
    }

    async fn update(&self, observed: &Observed) -> anyhow::Result<()> {
        self.update_function(observed).await
    }

    async fn delete(&self, _observed: &Observed) -> anyhow::Result<()> {
        let aws = &self.ctx.aws;
        let request = aws
            .lambda
            .delete_function()
            .function_name(&self.meta.name)
            .send();
        aws.write(
            "lambda:DeleteFunction",
            &self.meta.name,
            &self.what(),
            request,
        )
        .await?;
        Ok(())
    }
}

/// Retries and the on-failure destination of asynchronous invocations
/// (CloudWatch Logs invokes asynchronously).
pub struct EventInvokeConfig {
    /// Named by the function.
    meta: Meta,
    ctx: Arc<Context>,
}

impl EventInvokeConfig {
    pub fn new(ctx: Arc<Context>) -> Self {
        let desired = json!({
            "maximum_retry_attempts": ctx.env.lambda.retry_attempts,
            "on_failure_destination": ctx.env.failure_queue_arn(),
        });
        EventInvokeConfig {
            meta: Meta::new(EVENT_INVOKE_CONFIG, &ctx.env.lambda.function_name, desired)
                .arn(ctx.env.function_arn()),
            ctx,
        }
    }

    fn what(&self) -> String {
        format!(
            "asynchronous invoke settings of Lambda function `{}`",
            self.meta.name
        )
    }

    async fn put(&self) -> anyhow::Result<()> {
        let aws = &self.ctx.aws;
        let what = self.what();
        let request = retry_transient(
            &what,
            Duration::from_secs(90),
            is_update_in_progress,
            || {
                aws.lambda
                    .put_function_event_invoke_config()
                    .function_name(&self.meta.name)
                    .maximum_retry_attempts(self.ctx.env.lambda.retry_attempts as i32)
                    .destination_config(
                        DestinationConfig::builder()
                            .on_failure(
                                OnFailure::builder()
                                    .destination(self.ctx.env.failure_queue_arn())
                                    .build(),
                            )
                            .build(),
                    )
                    .send()
            },
        );
        aws.write(
            "lambda:PutFunctionEventInvokeConfig",
            &self.meta.name,
            &what,
            request,
        )
        .await?;
        Ok(())
    }
}

impl Crud for EventInvokeConfig {
    fn meta(&self) -> &Meta {
        &self.meta
    }

    async fn read(&self) -> anyhow::Result<Option<Observed>> {
        let out = match self
            .ctx
            .aws
            .lambda
            .get_function_event_invoke_config()
            .function_name(&self.meta.name)
            .send()
            .await
        {
            Ok(out) => out,
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_resource_not_found_exception()) =>
            {
                return Ok(None);
            }
            Err(err) => {
                return Err(sdk_error(
                    "lambda:GetFunctionEventInvokeConfig",
                    &self.what(),
                    err,
                ));
            }
        };
        Ok(Some(Observed::owned(json!({
            "maximum_retry_attempts": out.maximum_retry_attempts(),
            "on_failure_destination": out
                .destination_config()
                .and_then(|d| d.on_failure())
                .and_then(|f| f.destination()),
        }))))
    }

    async fn create(&self) -> anyhow::Result<()> {
        self.put().await
    }

    async fn update(&self, _observed: &Observed) -> anyhow::Result<()> {
        self.put().await
    }

    async fn delete(&self, _observed: &Observed) -> anyhow::Result<()> {
        let aws = &self.ctx.aws;
        let request = aws
            .lambda
            .delete_function_event_invoke_config()
            .function_name(&self.meta.name)
            .send();
        aws.write(
            "lambda:DeleteFunctionEventInvokeConfig",
            &self.meta.name,
            &self.what(),
            request,
        )
        .await?;
        Ok(())
    }
}

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
                PERMISSION,
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

    #[test]
    fn configuration_fields_leave_out_what_has_its_own_call() {
        let state =
            json!({"memory_size": 1, "code_sha256": "x", "reserved_concurrency": 2, "tags": {}});
        assert_eq!(configuration_fields(&state), json!({"memory_size": 1}));
    }
}
