//! `sqs_queue`, the failure queue: where Lambda puts a batch whose invocations kept
//! failing, so that it is kept (14 days), not dropped.

use super::{Context, is_managed, tag_changes, tags_value};
use crate::aws::sdk_error;
use crate::engine::{Crud, Meta, Observed};
use aws_sdk_sqs::types::QueueAttributeName;
use serde_json::{Value, json};
use std::sync::Arc;

pub const KIND: &str = "sqs_queue";

/// The longest retention SQS allows: two weeks to notice and replay.
const RETENTION_SECONDS: u32 = 1_209_600;

pub struct FailureQueue {
    meta: Meta,
    ctx: Arc<Context>,
}

impl FailureQueue {
    pub fn new(ctx: Arc<Context>) -> Self {
        let name = ctx.env.failure_queue_name();
        let desired = json!({
            "message_retention_seconds": RETENTION_SECONDS,
            "tags": tags_value(&ctx.env.resource_tags()),
        });
        FailureQueue {
            meta: Meta::new(KIND, name, desired).arn(ctx.env.failure_queue_arn()),
            ctx,
        }
    }

    fn what(&self) -> String {
        format!("SQS queue `{}`", self.meta.name)
    }

    async fn url(&self) -> anyhow::Result<Option<String>> {
        match self
            .ctx
            .aws
            .sqs
            .get_queue_url()
            .queue_name(&self.meta.name)
            .send()
            .await
        {
            Ok(out) => Ok(out.queue_url().map(str::to_string)),
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_queue_does_not_exist()) =>
            {
                Ok(None)
            }
            Err(err) => Err(sdk_error("sqs:GetQueueUrl", &self.what(), err)),
        }
    }
}

impl Crud for FailureQueue {
    fn meta(&self) -> &Meta {
        &self.meta
    }

    async fn read(&self) -> anyhow::Result<Option<Observed>> {
        let Some(url) = self.url().await? else {
            return Ok(None);
        };
        let sqs = &self.ctx.aws.sqs;
        let attributes = sqs
            .get_queue_attributes()
            .queue_url(&url)
            .attribute_names(QueueAttributeName::All)
            .send()
            .await
            .map_err(|e| sdk_error("sqs:GetQueueAttributes", &self.what(), e))?;
        let retention = attributes
            .attributes()
            .and_then(|a| a.get(&QueueAttributeName::MessageRetentionPeriod))
            .and_then(|v| v.parse::<u64>().ok());
        let tags = sqs
            .list_queue_tags()
            .queue_url(&url)
            .send()
            .await
            .map_err(|e| sdk_error("sqs:ListQueueTags", &self.what(), e))?;
        let tags = tags_value(tags.tags().into_iter().flatten());
        Ok(Some(Observed {
            owned: is_managed(&tags),
            state: json!({"message_retention_seconds": retention, "tags": tags}),
            version: Value::String(url),
        }))
    }

    async fn create(&self) -> anyhow::Result<()> {
        let aws = &self.ctx.aws;
        let request = aws
            .sqs
            .create_queue()
            .queue_name(&self.meta.name)
            .attributes(
                QueueAttributeName::MessageRetentionPeriod,
                RETENTION_SECONDS.to_string(),
            )
            .set_tags(Some(self.ctx.env.resource_tags().into_iter().collect()))
            .send();
        aws.write("sqs:CreateQueue", &self.meta.name, &self.what(), request)
            .await?;
        Ok(())
    }

    async fn update(&self, observed: &Observed) -> anyhow::Result<()> {
        let url = observed.version.as_str().unwrap_or_default();
        let aws = &self.ctx.aws;
        if observed.state["message_retention_seconds"]
            != self.meta.desired["message_retention_seconds"]
        {
            let request = aws
                .sqs
                .set_queue_attributes()
                .queue_url(url)
                .attributes(
                    QueueAttributeName::MessageRetentionPeriod,
                    RETENTION_SECONDS.to_string(),
                )
                .send();
            aws.write(
                "sqs:SetQueueAttributes",
                &self.meta.name,
                &self.what(),
                request,
            )
            .await?;
        }
        let (set, remove) = tag_changes(&observed.state["tags"], &self.ctx.env.resource_tags());
        if !set.is_empty() {
            let request = aws
                .sqs
                .tag_queue()
                .queue_url(url)
                .set_tags(Some(set))
                .send();
            aws.write("sqs:TagQueue", &self.meta.name, &self.what(), request)
                .await?;
        }
        if !remove.is_empty() {
            let request = aws
                .sqs
                .untag_queue()
                .queue_url(url)
                .set_tag_keys(Some(remove))
                .send();
            aws.write("sqs:UntagQueue", &self.meta.name, &self.what(), request)
                .await?;
        }
        Ok(())
    }

    async fn delete(&self, observed: &Observed) -> anyhow::Result<()> {
        let aws = &self.ctx.aws;
        let request = aws
            .sqs
            .delete_queue()
            .queue_url(observed.version.as_str().unwrap_or_default())
            .send();
        aws.write("sqs:DeleteQueue", &self.meta.name, &self.what(), request)
            .await?;
        Ok(())
    }
}
