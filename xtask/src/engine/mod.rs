//! The deploy engine, apart from the resources it drives (as Terraform
//! keeps its plan engine apart from providers): what a resource is
//! ([`resource`]: the [`Crud`] a resource implements and the [`Resource`]
//! the engine drives), the plan as data ([`plan`](mod@plan): field-level diff, printed
//! or JSON), and planning and applying ([`run`]).
//!
//! It depends on no resource: `deploy` (AWS and OpenSearch) and `dashboards`
//! (saved objects) bring theirs. Each resource normalises its own states
//! (`deploy::normalize` for OpenSearch, `dashboards::normalize`).

pub mod plan;
pub mod resource;
pub mod run;

pub use plan::{Action, Change, FieldChange, Plan};
pub use resource::{BoxFuture, Crud, Identifiers, Meta, Observed, Resource};
pub use run::{DestroyPlan, Planned, apply, plan, plan_destroy};
