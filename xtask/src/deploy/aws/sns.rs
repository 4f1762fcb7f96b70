//! `sns_topic`, the alarm topic: `<function_name>-alarms`, which the CloudWatch alarms
//! publish to, with an email subscription per address in `alarms.emails`.
//!
//! The subscriptions are part of the topic's state (`email_subscriptions`,
//! sorted): one removed by hand shows as that field and deploy subscribes
//! the address again. SNS lists a subscription the recipient has not yet
//! confirmed with the ARN `PendingConfirmation`: it counts as present (the
//! mail went out), and it cannot be unsubscribed, so one no longer wanted
//! is left to lapse (SNS drops unconfirmed subscriptions after a few days)
//! rather than planned for removal forever. Only `email` subscriptions are
//! managed; other protocols added by hand are left alone.

use super::{Context, is_managed, tag_changes};
use crate::aws::sdk_error;
use crate::engine::{Crud, Meta, Observed};
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

pub const KIND: &str = "sns_topic";

/// What SNS lists instead of an ARN for a subscription not yet confirmed.
pub const PENDING_CONFIRMATION: &str = "PendingConfirmation";

pub struct AlarmTopic {
    meta: Meta,
    ctx: Arc<Context>,
    arn: String,
}

/// One listed subscription: (protocol, endpoint, subscription ARN).
pub type Listed = (String, String, String);

/// The email subscriptions to report from what SNS lists: every confirmed
/// one, and the pending ones that are wanted (a pending one that is not
/// wanted cannot be removed, so it is not reported). Returns the sorted
/// addresses and, per address, the ARN to unsubscribe with (None when
/// pending).
pub fn email_subscriptions(
    listed: &[Listed],
    wanted: &BTreeSet<String>,
) -> BTreeMap<String, Option<String>> {
    let mut out = BTreeMap::new();
    for (protocol, endpoint, arn) in listed {
        if protocol != "email" {
            continue;
        }
        let confirmed = arn.starts_with("arn:");
        if confirmed {
            out.insert(endpoint.clone(), Some(arn.clone()));
        } else if wanted.contains(endpoint) {
            out.entry(endpoint.clone()).or_insert(None);
        }
    }
    out
}

impl AlarmTopic {
    pub fn new(ctx: Arc<Context>) -> Self {
        let name = ctx.env.alarm_topic_name();
        let arn = ctx.env.alarm_topic_arn();
        let emails: BTreeSet<&String> = ctx.env.alarms.emails.iter().collect();
        let desired = json!({
            "email_subscriptions": emails,
            "tags": super::tags_value(&ctx.env.resource_tags()),
        });
        AlarmTopic {
            meta: Meta::new(KIND, name, desired).arn(&arn),
            ctx,
            arn,
        }
    }

    fn what(&self) -> String {
        format!("SNS topic `{}`", self.meta.name)
    }

    fn wanted_emails(&self) -> BTreeSet<String> {
        self.ctx.env.alarms.emails.iter().cloned().collect()
    }

    async fn list_subscriptions(&self) -> anyhow::Result<Vec<Listed>> {
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page = self
                .ctx
                .aws
                .sns
                .list_subscriptions_by_topic()
                .topic_arn(&self.arn)
                .set_next_token(token.clone())
                .send()
                .await
                .map_err(|e| sdk_error("sns:ListSubscriptionsByTopic", &self.what(), e))?;
            for sub in page.subscriptions() {
                out.push((
                    sub.protocol().unwrap_or_default().to_string(),
                    sub.endpoint().unwrap_or_default().to_string(),
                    sub.subscription_arn().unwrap_or_default().to_string(),
                ));
            }
            match page.next_token() {
                Some(next) if !next.is_empty() => token = Some(next.to_string()),
                _ => break,
            }
        }
        Ok(out)
    }

    fn sns_tags(
        tags: impl IntoIterator<Item = (String, String)>,
    ) -> anyhow::Result<Vec<aws_sdk_sns::types::Tag>> {
        tags.into_iter()
            .map(|(k, v)| {
                aws_sdk_sns::types::Tag::builder()
                    .key(k)
                    .value(v)
                    .build()
                    .map_err(anyhow::Error::from)
            })
            .collect()
    }

    /// Subscribes every wanted address not in `present`.
    async fn subscribe_missing(&self, present: &BTreeSet<String>) -> anyhow::Result<()> {
        let aws = &self.ctx.aws;
        for email in self.wanted_emails() {
            if present.contains(&email) {
                continue;
            }
            let request = aws
                .sns
                .subscribe()
                .topic_arn(&self.arn)
                .protocol("email")
                .endpoint(&email)
                .send();
            aws.write(
                "sns:Subscribe",
                &format!("{} {email}", self.meta.name),
                &self.what(),
                request,
            )
            .await?;
        }
        Ok(())
    }
}

impl Crud for AlarmTopic {
    fn meta(&self) -> &Meta {
        &self.meta
    }

    async fn read(&self) -> anyhow::Result<Option<Observed>> {
        let sns = &self.ctx.aws.sns;
        match sns.get_topic_attributes().topic_arn(&self.arn).send().await {
            Ok(_) => {}
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_not_found_exception()) =>
            {
                return Ok(None);
            }
            Err(err) => return Err(sdk_error("sns:GetTopicAttributes", &self.what(), err)),
        }
        let subscriptions =
            email_subscriptions(&self.list_subscriptions().await?, &self.wanted_emails());
        let tags = sns
            .list_tags_for_resource()
            .resource_arn(&self.arn)
            .send()
            .await
            .map_err(|e| sdk_error("sns:ListTagsForResource", &self.what(), e))?;
        let tags = Value::Object(
            tags.tags()
                .iter()
                .map(|t| (t.key().to_string(), Value::String(t.value().to_string())))
                .collect::<BTreeMap<_, _>>()
                .into_iter()
                .collect::<Map<_, _>>(),
        );
        let emails: Vec<&String> = subscriptions.keys().collect();
        Ok(Some(Observed {
            owned: is_managed(&tags),
            state: json!({"email_subscriptions": emails, "tags": tags}),
            // Per address, the ARN to unsubscribe with (null: pending).
            version: json!(subscriptions),
        }))
    }

    async fn create(&self) -> anyhow::Result<()> {
        let aws = &self.ctx.aws;
        let request = aws
            .sns
            .create_topic()
            .name(&self.meta.name)
            .set_tags(Some(Self::sns_tags(self.ctx.env.resource_tags())?))
            .send();
        aws.write("sns:CreateTopic", &self.meta.name, &self.what(), request)
            .await?;
        self.subscribe_missing(&BTreeSet::new()).await
    }

    async fn update(&self, observed: &Observed) -> anyhow::Result<()> {
        let aws = &self.ctx.aws;
        let found: BTreeMap<String, Option<String>> =
            serde_json::from_value(observed.version.clone()).unwrap_or_default();
        let wanted = self.wanted_emails();
        for (email, arn) in &found {
            if wanted.contains(email) {
                continue;
            }
            // Pending ones are not reported unless wanted: always an ARN here.
            let Some(arn) = arn else { continue };
            let request = aws.sns.unsubscribe().subscription_arn(arn).send();
            aws.write(
                "sns:Unsubscribe",
                &format!("{} {email}", self.meta.name),
                &self.what(),
                request,
            )
            .await?;
        }
        self.subscribe_missing(&found.keys().cloned().collect())
            .await?;
        let (set, remove) = tag_changes(&observed.state["tags"], &self.ctx.env.resource_tags());
        if !set.is_empty() {
            let request = aws
                .sns
                .tag_resource()
                .resource_arn(&self.arn)
                .set_tags(Some(Self::sns_tags(set)?))
                .send();
            aws.write("sns:TagResource", &self.meta.name, &self.what(), request)
                .await?;
        }
        if !remove.is_empty() {
            let request = aws
                .sns
                .untag_resource()
                .resource_arn(&self.arn)
                .set_tag_keys(Some(remove))
                .send();
            aws.write("sns:UntagResource", &self.meta.name, &self.what(), request)
                .await?;
        }
        Ok(())
    }

    async fn delete(&self, _observed: &Observed) -> anyhow::Result<()> {
        // Deleting a topic deletes its subscriptions.
        let aws = &self.ctx.aws;
        let request = aws.sns.delete_topic().topic_arn(&self.arn).send();
        aws.write("sns:DeleteTopic", &self.meta.name, &self.what(), request)
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listed(protocol: &str, endpoint: &str, arn: &str) -> Listed {
        (protocol.into(), endpoint.into(), arn.into())
    }

    #[test]
    fn pending_subscriptions_count_when_wanted_and_are_never_to_remove() {
        let wanted: BTreeSet<String> = ["a@example.com".to_string()].into();
        let found = email_subscriptions(
            &[
                listed("email", "a@example.com", PENDING_CONFIRMATION),
                listed("email", "b@example.com", PENDING_CONFIRMATION),
                listed("email", "c@example.com", "arn:aws:sns:us-east-1:1:t:abc"),
                listed(
                    "https",
                    "https://hooks.example.com",
                    "arn:aws:sns:us-east-1:1:t:d",
                ),
            ],
            &wanted,
        );
        assert_eq!(
            found,
            BTreeMap::from([
                ("a@example.com".to_string(), None),
                (
                    "c@example.com".to_string(),
                    Some("arn:aws:sns:us-east-1:1:t:abc".to_string())
                ),
            ])
        );
    }
}
