//! What a resource is. A resource's own file writes two things: its
//! [`Meta`] (kind, name, desired state, identifiers) and [`Crud`] (read,
//! create, update, delete, as plain `async fn`s). One blanket implementation
//! turns every `Crud` into the object-safe [`Resource`] that the engine
//! ([`super::run`]) plans and applies, so the accessors and the boxing of
//! futures are written once, here.
//!
//! There is no state file: a resource is found by its name through the API.

use serde_json::Value;
use std::future::Future;
use std::pin::Pin;

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What a read found.
#[derive(Debug, Clone, PartialEq)]
pub struct Observed {
    /// The actual state, normalised like [`Meta::desired`].
    pub state: Value,
    /// What an update must send back for optimistic concurrency (ISM:
    /// `_seq_no` and `_primary_term`); null when the API has none.
    pub version: Value,
    /// Whether xtask may delete it: it carries the managed-by tag, or (for
    /// what cannot be tagged) it hangs off something that does.
    pub owned: bool,
}

impl Observed {
    /// A read without concurrency token, owned by xtask.
    pub fn owned(state: Value) -> Self {
        Observed {
            state,
            version: Value::Null,
            owned: true,
        }
    }
}

/// How to find a resource outside xtask (console, CLI).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Identifiers {
    pub arn: Option<String>,
    /// An id that is neither the name nor an ARN (a queue URL, a statement id).
    pub id: Option<String>,
}

/// What the engine knows of a resource without calling its API, fixed when
/// the resource is made.
#[derive(Debug, Clone, PartialEq)]
pub struct Meta {
    /// The resource type, such as `opensearch_index_template`.
    pub kind: &'static str,
    /// The name the API knows it by.
    pub name: String,
    /// The desired state, normalised.
    pub desired: Value,
    /// ARN or id, when the resource has more than its name.
    pub identifiers: Identifiers,
    /// False for something xtask made that the environment no longer
    /// declares (a log group taken out of `logs.log_groups`): the plan
    /// deletes it when it exists.
    pub wanted: bool,
}

impl Meta {
    /// A wanted resource known by its name only.
    pub fn new(kind: &'static str, name: impl Into<String>, desired: Value) -> Self {
        Meta {
            kind,
            name: name.into(),
            desired,
            identifiers: Identifiers::default(),
            wanted: true,
        }
    }

    pub fn arn(mut self, arn: impl Into<String>) -> Self {
        self.identifiers.arn = Some(arn.into());
        self
    }

    pub fn id(mut self, id: impl Into<String>) -> Self {
        self.identifiers.id = Some(id.into());
        self
    }

    /// Made by xtask but no longer declared: deleted when it exists.
    pub fn unwanted(mut self) -> Self {
        self.wanted = false;
        self
    }
}

/// What one resource implements: where its [`Meta`] is, and its four calls
/// (Terraform's create/read/update/delete).
pub trait Crud: Send + Sync {
    fn meta(&self) -> &Meta;
    /// The actual state, normalised like [`Meta::desired`], or None when the
    /// resource does not exist.
    fn read(&self) -> impl Future<Output = anyhow::Result<Option<Observed>>> + Send;
    fn create(&self) -> impl Future<Output = anyhow::Result<()>> + Send;
    /// Makes it the desired state; `observed` is what [`Crud::read`] found.
    fn update(&self, observed: &Observed) -> impl Future<Output = anyhow::Result<()>> + Send;
    /// Removes it (`destroy`, or no longer [`Meta::wanted`]).
    fn delete(&self, observed: &Observed) -> impl Future<Output = anyhow::Result<()>> + Send;
}

/// A resource as the engine drives it: object-safe, so that one list holds
/// every kind. Every [`Crud`] is one (the implementation below); a resource
/// implements `Crud`, not this.
pub trait Resource: Send + Sync {
    /// The resource type, such as `opensearch_index_template`.
    fn kind(&self) -> &'static str;
    /// The name the API knows it by.
    fn name(&self) -> &str;
    /// The desired state, normalised.
    fn desired(&self) -> &Value;
    /// ARN or id, when the resource has more than its name.
    fn identifiers(&self) -> Identifiers;
    /// See [`Meta::wanted`].
    fn wanted(&self) -> bool;
    /// The actual state, or None when the resource does not exist.
    fn read(&self) -> BoxFuture<'_, anyhow::Result<Option<Observed>>>;
    fn create(&self) -> BoxFuture<'_, anyhow::Result<()>>;
    fn update<'a>(&'a self, observed: &'a Observed) -> BoxFuture<'a, anyhow::Result<()>>;
    /// Removes it (`destroy`).
    fn delete<'a>(&'a self, observed: &'a Observed) -> BoxFuture<'a, anyhow::Result<()>>;

    fn address(&self) -> String {
        format!("{}.{}", self.kind(), self.name())
    }
}

impl<T: Crud> Resource for T {
    fn kind(&self) -> &'static str {
        self.meta().kind
    }
    fn name(&self) -> &str {
        &self.meta().name
    }
    fn desired(&self) -> &Value {
        &self.meta().desired
    }
    fn identifiers(&self) -> Identifiers {
        self.meta().identifiers.clone()
    }
    fn wanted(&self) -> bool {
        self.meta().wanted
    }
    fn read(&self) -> BoxFuture<'_, anyhow::Result<Option<Observed>>> {
        Box::pin(Crud::read(self))
    }
    fn create(&self) -> BoxFuture<'_, anyhow::Result<()>> {
        Box::pin(Crud::create(self))
    }
    fn update<'a>(&'a self, observed: &'a Observed) -> BoxFuture<'a, anyhow::Result<()>> {
        Box::pin(Crud::update(self, observed))
    }
    fn delete<'a>(&'a self, observed: &'a Observed) -> BoxFuture<'a, anyhow::Result<()>> {
        Box::pin(Crud::delete(self, observed))
    }
}
