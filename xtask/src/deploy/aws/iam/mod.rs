//! IAM: the processor's execution role ([`role`]) and its inline policy
//! ([`role_policy`]); [`policies`] builds both documents and normalises what
//! IAM answers.

pub mod policies;
pub mod role;
pub mod role_policy;

pub use role::Role;
pub use role_policy::{POLICY_NAME, RolePolicy};
