//! The failure queue: where Lambda puts a batch whose invocations kept
//! failing, so that it is kept (14 days), not dropped.

use super::{Context, is_managed, tag_changes, tags_value};
use crate::aws::sdk_error;
use crate::deploy::resource::{BoxFuture, Identifiers, Observed, Resource};
use aws_sdk_sqs::types::QueueAttributeName;
use serde_json::{Value, json};
use std::sync::Arc;

pub const KIND: &str = "sqs_queue";

/// The longest retention SQS allows: two weeks to notice and replay.
const RETENTION_SECONDS: u32 = 1_209_600;

pub struct FailureQueue {
    ctx: Arc<Context>,
    name: String,
    desired: Value,
}

impl FailureQueue {
    pub fn new(ctx: Arc<Context>) -> Self {
        let name = ctx.env.failure_queue_name();
        let desired = json!({
            "message_retention_seconds": RETENTION_SECONDS,
            "tags": tags_value(&ctx.env.resource_tags()),
        });
        FailureQueue { ctx, name, desired }
    }

    fn what(&self) -> String {
        format!("SQS queue `{}`", self.name)
    }

    async fn url(&self) -> anyhow::Result<Option<String>> {
        match self
            .ctx
            .aws
            .sqs
            .get_queue_url()
            .queue_name(&self.name)
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

    async fn read_state(&self) -> anyhow::Result<Option<Observed>> {
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
}

impl Resource for FailureQueue {
    fn kind(&self) -> &'static str {
        KIND
    }
    fn name(&self) -> &str {
        &self.name
    }
    fn desired(&self) -> &Value {
        &self.desired
    }
    fn identifiers(&self) -> Identifiers {
        Identifiers {
            arn: Some(self.ctx.env.failure_queue_arn()),
            id: None,
        }
    }
    fn read(&self) -> BoxFuture<'_, anyhow::Result<Option<Observed>>> {
        Box::pin(self.read_state())
    }
    fn create(&self) -> BoxFuture<'_, anyhow::Result<()>> {
        Box::pin(async move {
            let aws = &self.ctx.aws;
            let request = aws
                .sqs
                .create_queue()
                .queue_name(&self.name)
                .attributes(
                    QueueAttributeName::MessageRetentionPeriod,
                    RETENTION_SECONDS.to_string(),
                )
                .set_tags(Some(self.ctx.env.resource_tags().into_iter().collect()))
                .send();
            aws.write("sqs:CreateQueue", &self.name, &self.what(), request)
                .await?;
            Ok(())
        })
    }
    fn update<'a>(&'a self, observed: &'a Observed) -> BoxFuture<'a, anyhow::Result<()>> {
        Box::pin(async move {
            let url = observed.version.as_str().unwrap_or_default();
            let aws = &self.ctx.aws;
            if observed.state["message_retention_seconds"]
                != self.desired["message_retention_seconds"]
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
                aws.write("sqs:SetQueueAttributes", &self.name, &self.what(), request)
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
                aws.write("sqs:TagQueue", &self.name, &self.what(), request)
                    .await?;
            }
            if !remove.is_empty() {
                let request = aws
                    .sqs
                    .untag_queue()
                    .queue_url(url)
                    .set_tag_keys(Some(remove))
                    .send();
                aws.write("sqs:UntagQueue", &self.name, &self.what(), request)
                    .await?;
            }
            Ok(())
        })
    }
    fn delete<'a>(&'a self, observed: &'a Observed) -> BoxFuture<'a, anyhow::Result<()>> {
        Box::pin(async move {
            let aws = &self.ctx.aws;
            let request = aws
                .sqs
                .delete_queue()
                .queue_url(observed.version.as_str().unwrap_or_default())
                .send();
            aws.write("sqs:DeleteQueue", &self.name, &self.what(), request)
                .await?;
            Ok(())
        })
    }
}
