//! `cloudwatch_log_group`: the function's own log group (with retention),
//! and the application's log groups where the environment creates them (the
//! emulator).

use crate::aws::sdk_error;
use crate::deploy::aws::{Context, is_managed, tag_changes, tags_value};
use crate::engine::{Crud, Meta, Observed};
use serde_json::{Value, json};
use std::sync::Arc;

pub const KIND: &str = "cloudwatch_log_group";

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
            meta: Meta::new(KIND, &name, desired).arn(ctx.env.log_group_arn(&name)),
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
