//! `cloudwatch_subscription_filter`: the filter on one application log
//! group that streams its events to the processor.

use crate::aws::sdk_error;
use crate::deploy::aws::{Context, retry_transient};
use crate::engine::{Crud, Meta, Observed};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

pub const KIND: &str = "cloudwatch_subscription_filter";

/// The subscription filter that streams one application log group to the
/// processor. Owned through its name and destination.
pub struct SubscriptionFilter {
    meta: Meta,
    ctx: Arc<Context>,
    group: String,
}

impl SubscriptionFilter {
    pub fn new(ctx: Arc<Context>, group: String) -> Self {
        let filter = &ctx.env.logs.subscription_filter;
        let desired = json!({
            "filter_pattern": filter.pattern,
            "destination_arn": ctx.env.function_arn(),
        });
        let meta = Meta::new(KIND, format!("{group}/{}", filter.name), desired)
            .arn(ctx.env.log_group_arn(&group))
            .id(&filter.name);
        SubscriptionFilter { meta, ctx, group }
    }

    /// The filter on a log group the environment no longer lists.
    pub fn orphan(ctx: Arc<Context>, group: String) -> Self {
        let filter = Self::new(ctx, group);
        SubscriptionFilter {
            meta: filter.meta.unwanted(),
            ..filter
        }
    }

    fn filter_name(&self) -> &str {
        &self.ctx.env.logs.subscription_filter.name
    }

    fn what(&self) -> String {
        format!(
            "subscription filter `{}` on log group `{}`",
            self.filter_name(),
            self.group
        )
    }

    async fn put(&self) -> anyhow::Result<()> {
        let aws = &self.ctx.aws;
        let what = self.what();
        // Right after the invoke permission is added, CloudWatch Logs may not
        // see it yet and refuses the filter; that settles within seconds.
        let request = retry_transient(
            &what,
            Duration::from_secs(60),
            |err: &aws_sdk_cloudwatchlogs::error::SdkError<_, _>| {
                err.as_service_error().is_some_and(
                    |e: &aws_sdk_cloudwatchlogs::operation::put_subscription_filter::PutSubscriptionFilterError| {
                        e.is_invalid_parameter_exception()
                            && e.to_string().contains("permission")
                    },
                )
            },
            || {
                aws.logs
                    .put_subscription_filter()
                    .log_group_name(&self.group)
                    .filter_name(self.filter_name())
                    .filter_pattern(&self.ctx.env.logs.subscription_filter.pattern)
                    .destination_arn(self.ctx.env.function_arn())
                    .send()
            },
        );
        aws.write(
            "logs:PutSubscriptionFilter",
            &self.meta.name,
            &what,
            request,
        )
        .await?;
        Ok(())
    }
}

impl Crud for SubscriptionFilter {
    fn meta(&self) -> &Meta {
        &self.meta
    }

    async fn read(&self) -> anyhow::Result<Option<Observed>> {
        let answer = self
            .ctx
            .aws
            .logs
            .describe_subscription_filters()
            .log_group_name(&self.group)
            .filter_name_prefix(self.filter_name())
            .send()
            .await;
        let out = match answer {
            Ok(out) => out,
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_resource_not_found_exception()) =>
            {
                // Created earlier in the same apply (`logs.create_log_groups`),
                // or, for a group no longer listed, gone with its filter.
                if self.ctx.env.logs.create_log_groups || !self.meta.wanted {
                    return Ok(None);
                }
                anyhow::bail!(
                    "{}: the log group `{}` does not exist in {} (the IronMan application creates it when it first logs; check `logs.log_groups` in {})",
                    self.what(),
                    self.group,
                    self.ctx.aws.target,
                    self.ctx.env.source.display()
                );
            }
            Err(err) => {
                return Err(sdk_error(
                    "logs:DescribeSubscriptionFilters",
                    &self.what(),
                    err,
                ));
            }
        };
        let found = out
            .subscription_filters()
            .iter()
            .find(|f| f.filter_name() == Some(self.filter_name()));
        Ok(found.map(|f| {
            Observed::owned(json!({
                "filter_pattern": f.filter_pattern().unwrap_or_default(),
                "destination_arn": f.destination_arn().unwrap_or_default(),
            }))
        }))
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
            .logs
            .delete_subscription_filter()
            .log_group_name(&self.group)
            .filter_name(self.filter_name())
            .send();
        aws.write(
            "logs:DeleteSubscriptionFilter",
            &self.meta.name,
            &self.what(),
            request,
        )
        .await?;
        Ok(())
    }
}
