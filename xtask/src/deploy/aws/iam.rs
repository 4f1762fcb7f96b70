//! The processor's execution role and its inline least-privilege policy.

use super::{Context, is_managed, policies, tag_changes, tags_value};
use crate::aws::sdk_error;
use crate::engine::{Crud, Meta, Observed};
use aws_sdk_iam::types::Tag;
use serde_json::{Value, json};
use std::sync::Arc;

pub const ROLE: &str = "iam_role";
pub const ROLE_POLICY: &str = "iam_role_policy";

/// The inline policy's name on the role.
pub const POLICY_NAME: &str = "processor";

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
            meta: Meta::new(ROLE, name, desired).arn(ctx.env.role_arn()),
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

/// The role's inline policy. Owned through the role: its name is ours on a
/// role xtask made.
pub struct RolePolicy {
    meta: Meta,
    ctx: Arc<Context>,
    role: String,
    document: Value,
}

impl RolePolicy {
    pub fn new(ctx: Arc<Context>) -> Self {
        let role = ctx.env.role_name();
        let document = policies::processor_policy(&ctx.env);
        let desired = json!({"policy": policies::normalize(&document)});
        RolePolicy {
            meta: Meta::new(ROLE_POLICY, format!("{role}/{POLICY_NAME}"), desired)
                .arn(ctx.env.role_arn())
                .id(POLICY_NAME),
            ctx,
            role,
            document,
        }
    }

    fn what(&self) -> String {
        format!("inline policy `{POLICY_NAME}` of IAM role `{}`", self.role)
    }

    async fn put(&self) -> anyhow::Result<()> {
        let aws = &self.ctx.aws;
        let request = aws
            .iam
            .put_role_policy()
            .role_name(&self.role)
            .policy_name(POLICY_NAME)
            .policy_document(self.document.to_string())
            .send();
        aws.write("iam:PutRolePolicy", &self.meta.name, &self.what(), request)
            .await?;
        Ok(())
    }
}

impl Crud for RolePolicy {
    fn meta(&self) -> &Meta {
        &self.meta
    }

    async fn read(&self) -> anyhow::Result<Option<Observed>> {
        let answer = self
            .ctx
            .aws
            .iam
            .get_role_policy()
            .role_name(&self.role)
            .policy_name(POLICY_NAME)
            .send()
            .await;
        let out = match answer {
            Ok(out) => out,
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_no_such_entity_exception()) =>
            {
                return Ok(None);
            }
            Err(err) => return Err(sdk_error("iam:GetRolePolicy", &self.what(), err)),
        };
        let document =
            policies::parse_document(out.policy_document()).map_err(|e| e.context(self.what()))?;
        Ok(Some(Observed::owned(
            json!({"policy": policies::normalize(&document)}),
        )))
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
            .iam
            .delete_role_policy()
            .role_name(&self.role)
            .policy_name(POLICY_NAME)
            .send();
        aws.write(
            "iam:DeleteRolePolicy",
            &self.meta.name,
            &self.what(),
            request,
        )
        .await?;
        Ok(())
    }
}
