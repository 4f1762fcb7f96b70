//! `iam_role`: the processor's execution role (trust policy, description,
//! tags).

use super::policies;
use crate::aws::sdk_error;
use crate::deploy::aws::{Context, is_managed, tag_changes, tags_value};
use crate::engine::{Crud, Meta, Observed};
use aws_sdk_iam::types::Tag;
use serde_json::{Value, json};
use std::sync::Arc;

pub const KIND: &str = "iam_role";

const DESCRIPTION: &str =
    "IronMan usage analytics processor: writes the pipeline's OpenSearch indices";

pub struct Role {
    meta: Meta,
    ctx: Arc<Context>,
}

impl Role {
    pub fn new(ctx: Arc<Context>) -> Self {
        let name = ctx.env.role_name();
        let desired = json!({
            "assume_role_policy": policies::normalize(&policies::trust_policy()),
            "description": DESCRIPTION,
            "tags": tags_value(&ctx.env.resource_tags()),
        });
        Role {
            meta: Meta::new(KIND, name, desired).arn(ctx.env.role_arn()),
            ctx,
        }
    }

    fn what(&self) -> String {
        format!("IAM role `{}`", self.meta.name)
    }

    fn tags(&self) -> anyhow::Result<Vec<Tag>> {
        self.ctx
            .env
            .resource_tags()
            .into_iter()
            .map(|(k, v)| Ok(Tag::builder().key(k).value(v).build()?))
            .collect()
    }
}

impl Crud for Role {
    fn meta(&self) -> &Meta {
        &self.meta
    }

    async fn read(&self) -> anyhow::Result<Option<Observed>> {
        let iam = &self.ctx.aws.iam;
        let role = match iam.get_role().role_name(&self.meta.name).send().await {
            Ok(out) => out.role,
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_no_such_entity_exception()) =>
            {
                return Ok(None);
            }
            Err(err) => return Err(sdk_error("iam:GetRole", &self.what(), err)),
        };
        let Some(role) = role else {
            return Ok(None);
        };
        let trust = match role.assume_role_policy_document() {
            Some(text) => policies::normalize(
                &policies::parse_document(text)
                    .map_err(|e| e.context(format!("{}: its trust policy", self.what())))?,
            ),
            None => Value::Null,
        };
        let tags = iam
            .list_role_tags()
            .role_name(&self.meta.name)
            .send()
            .await
            .map_err(|e| sdk_error("iam:ListRoleTags", &self.what(), e))?;
        let tags: Vec<(String, String)> = tags
            .tags()
            .iter()
            .map(|t| (t.key().to_string(), t.value().to_string()))
            .collect();
        let tags = tags_value(tags.iter().map(|(k, v)| (k, v)));
        Ok(Some(Observed {
            owned: is_managed(&tags),
            state: json!({
                "assume_role_policy": trust,
                "description": role.description().unwrap_or_default(),
                "tags": tags,
            }),
            version: Value::Null,
        }))
    }

    async fn create(&self) -> anyhow::Result<()> {
        let aws = &self.ctx.aws;
        let request = aws
            .iam
            .create_role()
            .role_name(&self.meta.name)
            .assume_role_policy_document(policies::trust_policy().to_string())
            .description(DESCRIPTION)
            .set_tags(Some(self.tags()?))
            .send();
        aws.write("iam:CreateRole", &self.meta.name, &self.what(), request)
            .await?;
        Ok(())
    }

    async fn update(&self, observed: &Observed) -> anyhow::Result<()> {
        let aws = &self.ctx.aws;
        if observed.state["assume_role_policy"] != self.meta.desired["assume_role_policy"] {
            let request = aws
                .iam
                .update_assume_role_policy()
                .role_name(&self.meta.name)
                .policy_document(policies::trust_policy().to_string())
                .send();
            aws.write(
                "iam:UpdateAssumeRolePolicy",
                &self.meta.name,
                &self.what(),
                request,
            )
            .await?;
        }
        if observed.state["description"] != self.meta.desired["description"] {
            let request = aws
                .iam
                .update_role()
                .role_name(&self.meta.name)
                .description(DESCRIPTION)
                .send();
            aws.write("iam:UpdateRole", &self.meta.name, &self.what(), request)
                .await?;
        }
        let (set, remove) = tag_changes(&observed.state["tags"], &self.ctx.env.resource_tags());
        if !set.is_empty() {
            let tags = set
                .into_iter()
                .map(|(k, v)| Ok(Tag::builder().key(k).value(v).build()?))
                .collect::<anyhow::Result<Vec<_>>>()?;
            let request = aws
                .iam
                .tag_role()
                .role_name(&self.meta.name)
                .set_tags(Some(tags))
                .send();
            aws.write("iam:TagRole", &self.meta.name, &self.what(), request)
                .await?;
        }
        if !remove.is_empty() {
            let request = aws
                .iam
                .untag_role()
                .role_name(&self.meta.name)
                .set_tag_keys(Some(remove))
                .send();
            aws.write("iam:UntagRole", &self.meta.name, &self.what(), request)
                .await?;
        }
        Ok(())
    }

    async fn delete(&self, _observed: &Observed) -> anyhow::Result<()> {
        let aws = &self.ctx.aws;
        let request = aws.iam.delete_role().role_name(&self.meta.name).send();
        aws.write("iam:DeleteRole", &self.meta.name, &self.what(), request)
            .await?;
        Ok(())
    }
}
