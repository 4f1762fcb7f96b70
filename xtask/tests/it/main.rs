//! The integration tests, in one binary: each module was a test target of
//! its own, and each target linked xtask's whole dependency graph (the AWS
//! SDK included) again: eleven large binaries on disk and eleven links per
//! build. Tests in different modules now run side by side, which they are
//! written for: each uses its own index prefix, resource names and ports.

mod support;

mod backfill;
mod bench;
mod build;
mod dashboards;
mod demo;
mod deploy_local;
mod infra;
mod ism_double;
mod lambda_e2e;
mod pgo;
mod pipeline;
mod report;
mod retries;
mod workflows;
