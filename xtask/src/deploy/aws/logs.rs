//! CloudWatch Logs: the function's own log group (with retention), the
//! application's log groups where the environment creates them (the
//! emulator), and the subscription filter on each application log group.

use super::{Context, is_managed, retry_transient, tag_changes, tags_value};
use crate::aws::sdk_error;
use crate::engine::{Crud, Meta, Observed};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

pub const LOG_GROUP: &str = "cloudwatch_log_group";
pub const SUBSCRIPTION_FILTER: &str = "cloudwatch_subscription_filter";

pub struct LogGroup {
    meta: Meta,
    ctx: Arc<Context>,
    retention_days: Option<u32>,
}

impl LogGroup {
    /// `retention_days`: None keeps events forever (an application group
    /// whose retention is the application's business).
    pub fn new(ctx: Arc<Context>, name: String, retention_days: Option<u32>) -> Self {
        let desired = json!({
            "retention_in_days": retention_days,
            "tags": tags_value(&ctx.env.resource_tags()),
        });
        LogGroup {
            meta: Meta::new(LOG_GROUP, &name, desired).arn(ctx.env.log_group_arn(&name)),
            ctx,
            retention_days,
        }
    }

    fn what(&self) -> String {
        format!("log group `{}`", self.meta.name)
    }

    fn arn(&self) -> String {
        self.ctx.env.log_group_arn(&self.meta.name)
    }

    async fn put_retention(&self) -> anyhow::Result<()> {
        let aws = &self.ctx.aws;
        match self.retention_days {
            Some(days) => {
                let request = aws
                    .logs
                    .put_retention_policy()
                    .log_group_name(&self.meta.name)
                    .retention_in_days(days as i32)
                    .send();
                aws.write(
                    "logs:PutRetentionPolicy",
                    &self.meta.name,
                    &self.what(),
                    request,
                )
                .await?;
            }
            None => {
                let request = aws
                    .logs
                    .delete_retention_policy()
                    .log_group_name(&self.meta.name)
                    .send();
                aws.write(
                    "logs:DeleteRetentionPolicy",
                    &self.meta.name,
                    &self.what(),
                    request,
                )
                .await?;
            }
        }
        Ok(())
    }
}

impl Crud for LogGroup {
    fn meta(&self) -> &Meta {
        &self.meta
    }

    async fn read(&self) -> anyhow::Result<Option<Observed>> {
        let logs = &self.ctx.aws.logs;
        let found = logs
            .describe_log_groups()
            .log_group_name_prefix(&self.meta.name)
            .send()
            .await
            .map_err(|e| sdk_error("logs:DescribeLogGroups", &self.what(), e))?;
        let Some(group) = found
            .log_groups()
            .iter()
            .find(|g| g.log_group_name() == Some(self.meta.name.as_str()))
        else {
            return Ok(None);
        };
        let tags = logs
            .list_tags_for_resource()
            .resource_arn(self.arn())
            .send()
            .await
            .map_err(|e| sdk_error("logs:ListTagsForResource", &self.what(), e))?;
        let tags = tags_value(tags.tags().into_iter().flatten());
        Ok(Some(Observed {
            owned: is_managed(&tags),
            state: json!({
                "retention_in_days": group.retention_in_days(),
                "tags": tags,
            }),
            version: Value::Null,
        }))
    }

    async fn create(&self) -> anyhow::Result<()> {
        let aws = &self.ctx.aws;
        let request = aws
            .logs
            .create_log_group()
            .log_group_name(&self.meta.name)
            .set_tags(Some(self.ctx.env.resource_tags().into_iter().collect()))
            .send();
        aws.write(
            "logs:CreateLogGroup",
            &self.meta.name,
            &self.what(),
            request,
        )
        .await?;
        if self.retention_days.is_some() {
            self.put_retention().await?;
        }
        Ok(())
    }

    async fn update(&self, observed: &Observed) -> anyhow::Result<()> {
        if observed.state["retention_in_days"] != self.meta.desired["retention_in_days"] {
            self.put_retention().await?;
        }
        let (set, remove) = tag_changes(&observed.state["tags"], &self.ctx.env.resource_tags());
        let aws = &self.ctx.aws;
        if !set.is_empty() {
            let request = aws
                .logs
                .tag_resource()
                .resource_arn(self.arn())
                .set_tags(Some(set))
                .send();
            aws.write("logs:TagResource", &self.meta.name, &self.what(), request)
                .await?;
        }
        if !remove.is_empty() {
            let request = aws
                .logs
                .untag_resource()
                .resource_arn(self.arn())
                .set_tag_keys(Some(remove))
                .send();
            aws.write("logs:UntagResource", &self.meta.name, &self.what(), request)
                .await?;
        }
        Ok(())
    }

    async fn delete(&self, _observed: &Observed) -> anyhow::Result<()> {
        let aws = &self.ctx.aws;
        let request = aws
            .logs
            .delete_log_group()
            .log_group_name(&self.meta.name)
            .send();
        aws.write(
            "logs:DeleteLogGroup",
            &self.meta.name,
            &self.what(),
            request,
        )
        .await?;
        Ok(())
    }
}

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
        let meta = Meta::new(
            SUBSCRIPTION_FILTER,
            format!("{group}/{}", filter.name),
            desired,
        )
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
