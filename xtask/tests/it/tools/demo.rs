//! `cargo xtask demo`, the README's first command: deploy, a generated week
//! of logs replayed through the processor, and the per-day table and usage
//! report read back from the real OpenSearch. The test runs steps 2 to 5 on
//! indices of its own (step 1, the local stack, is what `cargo xtask test`
//! starts); the numbers must be the generator model's, not merely present.

use crate::support::{require_opensearch, root, unique_prefix};
use std::collections::BTreeMap;
use xtask::demo::{DemoArgs, run_in};
use xtask::env::Environment;

#[test]
fn demo_reads_back_the_sessions_and_users_of_the_generated_week() {
    tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(require_opensearch());
    let root = root();
    let prefix = unique_prefix("demo");
    let env = Environment::local_for_test(&root, &prefix).unwrap();
    let out = root
        .join("target/demo-test")
        .join(prefix.trim_end_matches('-'));
    let args = DemoArgs::default();

    let outcome = run_in(&root, &env, &args, &out).unwrap_or_else(|e| panic!("demo: {e:#}"));

    // Sessions and distinct users per UTC day of `start_time`, from the
    // generator's model of the same corpus (its expected usage report).
    let (first, last) = args.days_covered();
    let report = xtask::genlogs::generate(&args.options())
        .expected
        .report(first, last, "UTC");
    let expected_per_day: BTreeMap<String, (u64, u64)> = report["days"]
        .as_array()
        .unwrap()
        .iter()
        .map(|day| {
            let count = |key: &str| day[key].as_u64().unwrap();
            (
                day["date"].as_str().unwrap().to_string(),
                (count("sessions"), count("unique_users")),
            )
        })
        .collect();
    // Every day of the week has sessions (the table lists only such days).
    assert!(
        expected_per_day.values().all(|&(sessions, _)| sessions > 0),
        "{expected_per_day:?}"
    );
    assert_eq!(outcome.per_day, expected_per_day);

    // The report page of the week, named after its days.
    assert_eq!(
        outcome.report_page,
        out.join(format!("usage-report-{first}-{last}.html"))
    );
    let page = std::fs::read_to_string(&outcome.report_page).unwrap();
    assert!(page.contains("<html") && page.contains(&first.to_string()));
    tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(async { crate::support::cleanup(&require_opensearch().await, &env).await });
}
