//! `iam_role_policy`: the role's inline least-privilege policy
//! ([`super::policies::processor_policy`]).

use super::policies;
use crate::aws::sdk_error;
use crate::deploy::aws::Context;
use crate::engine::{Crud, Meta, Observed};
use serde_json::{Value, json};
use std::sync::Arc;

pub const KIND: &str = "iam_role_policy";

/// The inline policy's name on the role.
pub const POLICY_NAME: &str = "processor";

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
            meta: Meta::new(KIND, format!("{role}/{POLICY_NAME}"), desired)
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
