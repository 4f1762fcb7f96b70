//! `lambda_function`: the processor function (configuration, code,
//! reserved concurrency, tags), waiting for it to settle between changes.

use super::is_update_in_progress;
use crate::aws::sdk_error;
use crate::deploy::aws::{Context, is_managed, retry_transient, tag_changes, tags_value};
use crate::engine::{Crud, Meta, Observed};
use crate::env::{Architecture, AuthKind};
use aws_sdk_lambda::error::SdkError;
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::{
    Architecture as LambdaArchitecture, Environment as LambdaEnvironment, FunctionCode,
    LastUpdateStatus, Runtime, State,
};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub const KIND: &str = "lambda_function";

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
            meta: Meta::new(KIND, &env.lambda.function_name, desired).arn(env.function_arn()),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configuration_fields_leave_out_what_has_its_own_call() {
        let state =
            json!({"memory_size": 1, "code_sha256": "x", "reserved_concurrency": 2, "tags": {}});
        assert_eq!(configuration_fields(&state), json!({"memory_size": 1}));
    }
}
