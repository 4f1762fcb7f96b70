//! `lambda_event_invoke_config`: the function's asynchronous-invoke
//! settings, retries and the on-failure queue.

use super::is_update_in_progress;
use crate::aws::sdk_error;
use crate::deploy::aws::{Context, retry_transient};
use crate::engine::{Crud, Meta, Observed};
use aws_sdk_lambda::types::{DestinationConfig, OnFailure};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

pub const KIND: &str = "lambda_event_invoke_config";

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
            meta: Meta::new(KIND, &ctx.env.lambda.function_name, desired)
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
