//! The integration tests, in one binary: each module was a test target of
//! its own, and each target linked xtask's whole dependency graph (the AWS
//! SDK included) again: eleven large binaries on disk and eleven links per
//! build. Tests in different modules now run side by side, which they are
//! written for: each uses its own index prefix, resource names and ports.
//!
//! The modules are grouped like the code they test (a group of one file is
//! that file): `pipeline/` the processor, `deploy/` `xtask::deploy`,
//! `dashboards` `xtask::dashboards`, `report` `xtask::report`, `backfill`
//! `xtask::backfill`, `tools/` the other commands and the CI workflows.
//! `support/` is shared: the local OpenSearch and moto_server, and
//! `support/http.rs`, the one HTTP/1.1 server of the stand-ins (the fault
//! proxy, the saved-objects and ISM doubles). A filter names a group or a
//! file: `cargo test -p xtask --test it -- deploy::` or `-- retries`.

mod support;

/// The processor (`processor/`), as the Lambda runs it: against the real
/// OpenSearch, through a fault-injecting proxy, and the shipped binary.
mod pipeline {
    mod lambda_e2e;
    #[allow(clippy::module_inception)]
    mod pipeline;
    mod retries;
}

/// `xtask::deploy`: the OpenSearch resources, the whole stack against
/// moto_server, and the ISM policy against a double of the plugin.
mod deploy {
    mod deploy_local;
    mod infra;
    mod ism_double;
}

/// `xtask::dashboards`: the saved objects against a double of the API.
mod dashboards;

/// `xtask::report`: the usage report against the generator's model.
mod report;

/// `xtask::backfill`: `cargo xtask backfill` against moto_server and
/// OpenSearch.
mod backfill;

/// The other commands (`bench`, `build`, `pgo`, `demo`) and the CI
/// workflows.
mod tools {
    mod bench;
    mod build;
    mod demo;
    mod leftovers;
    mod pgo;
    mod workflows;
}
