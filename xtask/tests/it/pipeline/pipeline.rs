//! The processor end to end against the real local OpenSearch: a generated
//! corpus replayed through the Lambda's handler gives exactly the documents
//! the generator's own model predicts, however it is delivered.

use crate::support;

use indicatif::ProgressBar;
use processor::handler::{Handler, HandlerError};
use processor::sink::{SinkError, Step};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::*;
use xtask::env::Environment;
use xtask::genlogs::{Corpus, GenOptions, generate, write_corpus};
use xtask::replay::{event_files, handler_for, replay_files};

fn corpus(seed: u64) -> (Corpus, tempdir::Dir) {
    let corpus = generate(&GenOptions {
        days: 3,
        users: 12,
        seed,
        ..GenOptions::default()
    });
    let dir = tempdir::Dir::new(&format!("corpus-{seed}"));
    write_corpus(&corpus, dir.path()).expect("writing the corpus");
    (corpus, dir)
}

mod tempdir {
    use std::path::{Path, PathBuf};
    pub struct Dir(PathBuf);
    impl Dir {
        pub fn new(name: &str) -> Self {
            let path = xtask::project_root().join("target/test-tmp").join(format!(
                "{name}-{}-{:x}",
                std::process::id(),
                rand_suffix()
            ));
            let _ = std::fs::remove_dir_all(&path);
            Dir(path)
        }
        pub fn path(&self) -> &Path {
            &self.0
        }
    }
    fn rand_suffix() -> u32 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos()
    }
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

fn handler(env: &Environment) -> Arc<Handler> {
    Arc::new(handler_for(&root(), env, None).expect("handler"))
}

async fn replay(handler: &Arc<Handler>, files: &[PathBuf]) -> processor::counts::Counts {
    let report = replay_files(handler.clone(), files, 4, &ProgressBar::hidden())
        .await
        .expect("replay");
    assert!(report.bad_files.is_empty(), "{:?}", report.bad_files);
    report.counts
}

fn without_last_updated(doc: &Value) -> Value {
    let mut doc = doc.clone();
    doc.as_object_mut().unwrap().remove("last_updated");
    doc
}

/// Compares stored summaries and events with the generator's model.
async fn assert_matches_model(env: &Environment, corpus: &Corpus) {
    let client = env.opensearch_client().unwrap();
    let i = env.indices();
    let summaries = all_documents(&client, &i.session_summaries).await;
    let expected = &corpus.expected;
    assert!(
        expected.sessions.len() >= 20,
        "a corpus worth testing: {} sessions",
        expected.sessions.len()
    );
    assert!(
        expected.kept_event_ids.len() >= 200,
        "a corpus worth testing: {} events",
        expected.kept_event_ids.len()
    );
    let stored_ids: Vec<&String> = summaries.keys().collect();
    let expected_ids: Vec<&String> = expected.sessions.keys().collect();
    assert_eq!(stored_ids, expected_ids, "the set of sessions");
    for (id, session) in &expected.sessions {
        let (_, _, source) = &summaries[id];
        assert_eq!(
            without_last_updated(source),
            session.to_doc(),
            "session {id}"
        );
        assert!(
            source["last_updated"].is_string(),
            "session {id} has last_updated"
        );
    }

    let events = all_documents(&client, &i.request_events_pattern()).await;
    assert_eq!(
        events.len(),
        expected.kept_event_ids.len(),
        "one request event per distinct kept log event"
    );
    for (id, want) in &expected.events {
        let (index, _, source) = events
            .get(id)
            .unwrap_or_else(|| panic!("request event {id} is missing"));
        assert_eq!(source, &want.to_doc(), "request event {id}");
        assert_eq!(
            index,
            &format!("{}{}", i.request_events_prefix, want.index_date()),
            "daily index of {id}"
        );
    }
    assert_eq!(
        count(&client, &i.dead_letters).await,
        0,
        "nothing was dead-lettered"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corpus_gives_the_model_exactly_and_redelivery_in_reverse_changes_nothing() {
    let env = test_environment("corpus").await;
    let (corpus, dir) = corpus(11);
    let files = event_files(&[dir.path().to_path_buf()]).unwrap();
    let handler = handler(&env);

    let counts = replay(&handler, &files).await;
    assert_eq!(counts.dead_lettered, 0);
    assert_eq!(
        counts.events_created,
        corpus.expected.kept_event_ids.len() as u64
    );
    for (reason, n) in &corpus.expected.dropped {
        let reason = processor::counts::Reason::ALL
            .into_iter()
            .find(|r| r.name() == reason)
            .unwrap_or_else(|| panic!("unknown reason {reason}"));
        assert!(
            counts.get(reason) >= *n,
            "{}: counted {} < {n} distinct",
            reason.name(),
            counts.get(reason)
        );
    }
    assert_matches_model(&env, &corpus).await;

    let client = env.opensearch_client().unwrap();
    let i = env.indices();
    let before = (
        all_documents(&client, &i.session_summaries).await,
        all_documents(&client, &i.request_events_pattern()).await,
    );
    let mut reversed = files.clone();
    reversed.reverse();
    let again = replay(&handler, &reversed).await;
    assert_eq!(again.events_created, 0, "a redelivery creates no event");
    assert_eq!(
        again.sessions_written, 0,
        "a redelivery rewrites no summary"
    );
    let after = (
        all_documents(&client, &i.session_summaries).await,
        all_documents(&client, &i.request_events_pattern()).await,
    );
    assert!(
        before == after,
        "redelivering everything in reverse changed stored documents"
    );
    cleanup(&client, &env).await;
}

/// An environment whose state index was made without this project's
/// template (the mappings never deployed, or the template deleted):
/// OpenSearch maps the tallies and states dynamically, and the summaries
/// are still exact, without a field per ten minutes of a session.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_its_template_the_state_index_still_gives_the_model() {
    let env = test_environment("nostate").await;
    let client = env.opensearch_client().unwrap();
    let state = env.indices().session_state();
    client
        .json(
            ::http::Method::DELETE,
            &format!("/_index_template/{state}"),
            None,
        )
        .await
        .expect("deleting the state index's template");
    let (corpus, dir) = corpus(11);
    let files = event_files(&[dir.path().to_path_buf()]).unwrap();
    let counts = replay(&handler(&env), &files).await;
    assert_eq!(counts.dead_lettered, 0, "{counts:?}");
    assert_matches_model(&env, &corpus).await;

    let mapping = client
        .json(::http::Method::GET, &format!("/{state}/_mapping"), None)
        .await
        .expect("the state index's mapping");
    let fields = mapping.to_string().matches("\"type\"").count();
    assert!(
        (5..40).contains(&fields),
        "dynamically mapped, with a bounded set of fields ({fields}): {mapping}"
    );
    cleanup(&client, &env).await;
}

/// `cargo xtask replay` against a loopback cluster without the project's
/// templates (a fresh `local up`) puts them before its first write, so
/// every index it creates has the project's mappings, not dynamic ones.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_puts_the_templates_a_loopback_cluster_lacks_before_writing() {
    require_opensearch().await;
    let env = Environment::local_for_test(&root(), &unique_prefix("puttemplates")).unwrap();
    let client = env.opensearch_client().unwrap();
    let i = env.indices();
    let missing = xtask::replay::missing_templates(&env, &root())
        .await
        .expect("checking the templates")
        .expect("a loopback cluster lets anyone read its templates");
    for name in [
        format!("{}template", i.request_events_prefix),
        i.session_summaries.clone(),
        i.session_state(),
        i.dead_letters.clone(),
    ] {
        assert!(missing.contains(&name), "{name} missing: {missing:?}");
    }
    let (was_missing, applied) = xtask::replay::require_templates(&env, &root())
        .await
        .expect("putting the templates");
    assert_eq!(was_missing, missing);
    assert!(!applied.is_empty(), "nothing applied");
    let after = xtask::replay::missing_templates(&env, &root())
        .await
        .unwrap()
        .unwrap();
    assert!(after.is_empty(), "still missing: {after:?}");

    let (corpus, dir) = corpus(13);
    let files = event_files(&[dir.path().to_path_buf()]).unwrap();
    let counts = replay(&handler(&env), &files).await;
    assert_eq!(counts.dead_lettered, 0, "{counts:?}");
    assert_matches_model(&env, &corpus).await;
    let summaries = client
        .json(
            ::http::Method::GET,
            &format!("/{}/_mapping", i.session_summaries),
            None,
        )
        .await
        .unwrap();
    assert_eq!(
        summaries[&i.session_summaries]["mappings"]["dynamic"],
        json!("strict"),
        "{summaries}"
    );
    let state = client
        .json(
            ::http::Method::GET,
            &format!("/{}/_mapping", i.session_state()),
            None,
        )
        .await
        .unwrap();
    assert_eq!(
        state[i.session_state()]["mappings"]["enabled"],
        json!(false),
        "{state}"
    );
    cleanup(&client, &env).await;
}

/// Credentials that may write documents but not read templates (a
/// processor-like role): the check says it cannot tell, and `replay` goes
/// on with a warning, instead of failing or putting anything.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn templates_these_credentials_may_not_read_are_left_unchecked() {
    use crate::support::http::{Response, Server};
    let server = Server::start_fn(|_| Response::json(403, &json!({"error": "forbidden"}))).await;
    let mut env = Environment::local_for_test(&root(), &unique_prefix("forbidden")).unwrap();
    env.opensearch.endpoint = Some(server.url.clone());
    let missing = xtask::replay::missing_templates(&env, &root())
        .await
        .expect("a refusal is not an error");
    assert_eq!(missing, None);
    let (missing, applied) = xtask::replay::require_templates(&env, &root())
        .await
        .expect("goes on");
    assert!(
        missing.is_empty() && applied.is_empty(),
        "{missing:?} {applied:?}"
    );
    server.assert_healthy();
}

/// The Lambda event files of a corpus, as `serde_json` values.
fn lambda_events(files: &[PathBuf]) -> Vec<Value> {
    files
        .iter()
        .map(|f| serde_json::from_slice(&std::fs::read(f).unwrap()).unwrap())
        .collect()
}

/// Every batch's invocation dies at one step of the usual write path,
/// then the batch is delivered again (in reverse order): for every step,
/// the result is what one clean delivery gives.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_at_every_step_then_redelivery_gives_the_documents_of_one_clean_delivery() {
    let (corpus, dir) = corpus(23);
    let files = event_files(&[dir.path().to_path_buf()]).unwrap();
    let events = lambda_events(&files);
    let kept = corpus.expected.kept_event_ids.len() as u64;
    for step in [
        Step::InEvents,
        Step::AfterEvents,
        Step::AfterTallies,
        Step::InSummaries,
        Step::AfterSummaries,
    ] {
        let env = test_environment(&format!("crash{}", step as u8)).await;
        let clean = handler(&env);
        let crashing = Handler::new(
            clean.rules().clone(),
            clean.sink().clone().crashing_at(step),
        );
        let client = env.opensearch_client().unwrap();
        let i = env.indices();
        let deadline = Instant::now() + Duration::from_secs(120);
        let (mut crashed, mut with_events) = (0, 0);
        for event in &events {
            match crashing.handle(event, deadline).await {
                Err(HandlerError(SinkError::Crashed(at))) => {
                    assert_eq!(at, step);
                    crashed += 1;
                    with_events += 1;
                }
                // A control message, or a batch with nothing kept.
                Ok(counts) => with_events += usize::from(counts.kept > 0),
                Err(other) => panic!("{step:?}: {other}"),
            }
        }
        assert!(
            crashed * 4 >= with_events * 3,
            "{step:?}: {crashed} of {with_events} invocations crashed"
        );
        // What the crash left: the test fails if the fault was not injected.
        let stored = count(&client, &i.request_events_pattern()).await;
        let summaries = count(&client, &i.session_summaries).await;
        let states = count(&client, &i.session_state()).await;
        let sessions = corpus.expected.sessions.len() as u64;
        match step {
            Step::InEvents => {
                assert!(0 < stored && stored < kept, "{step:?}: {stored} of {kept}");
                assert_eq!(summaries, 0, "{step:?}");
            }
            Step::AfterEvents | Step::InTallies | Step::InStates | Step::AfterTallies => {
                assert_eq!((stored, summaries), (kept, 0), "{step:?}");
                assert!(states > 0, "{step:?}: states written");
            }
            Step::InSummaries => {
                assert_eq!(stored, kept, "{step:?}");
                assert!(
                    0 < summaries && summaries < sessions,
                    "{step:?}: {summaries} of {sessions}"
                );
            }
            Step::AfterSummaries => {
                assert_eq!((stored, summaries), (kept, sessions), "{step:?}")
            }
        }
        for event in events.iter().rev() {
            clean.handle(event, deadline).await.expect("redelivery");
        }
        assert_matches_model(&env, &corpus).await;
        cleanup(&client, &env).await;
    }
}

/// The follow-up rounds (buckets frozen and sealed into their tallies,
/// events arriving after their bucket froze) on sessions that last all
/// day: an invocation dies in the tallies' round, in the states' round
/// or after them, then every batch is delivered again in reverse order;
/// the documents are those of one clean delivery.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_in_every_follow_up_round_then_redelivery_gives_the_documents_of_one_clean_delivery()
 {
    let corpus = generate(&GenOptions {
        // Twenty sessions of about eight hours: each outlives what a state
        // keeps inline, and freezes buckets four or five times.
        users: 20,
        seed: 5,
        session_events: Some(1000),
        ..GenOptions::default()
    });
    let dir = tempdir::Dir::new("follow-up");
    write_corpus(&corpus, dir.path()).expect("writing the corpus");
    let files = event_files(&[dir.path().to_path_buf()]).unwrap();
    let events = lambda_events(&files);
    for step in [Step::InTallies, Step::InStates, Step::AfterTallies] {
        let env = test_environment(&format!("follow{}", step as u8)).await;
        let clean = handler(&env);
        let crashing = Handler::new(
            clean.rules().clone(),
            clean.sink().clone().crashing_at(step),
        );
        let client = env.opensearch_client().unwrap();
        let deadline = Instant::now() + Duration::from_secs(120);
        let mut crashed = 0;
        for event in &events {
            match crashing.handle(event, deadline).await {
                Err(HandlerError(SinkError::Crashed(at))) => {
                    assert_eq!(at, step);
                    crashed += 1;
                }
                Ok(_) => {}
                Err(other) => panic!("{step:?}: {other}"),
            }
        }
        assert!(
            crashed >= 10,
            "{step:?}: only {crashed} of {} invocations reached the step",
            events.len()
        );
        for event in events.iter().rev() {
            clean.handle(event, deadline).await.expect("redelivery");
        }
        assert_matches_model(&env, &corpus).await;
        cleanup(&client, &env).await;
    }
}

/// Sixteen invocations at once over a shuffled corpus in which about half
/// the batches are delivered two or three times: one clean delivery's
/// documents.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixteen_concurrent_invocations_with_redeliveries_give_the_model() {
    let env = test_environment("concurrent").await;
    let (corpus, dir) = corpus(47);
    let files = event_files(&[dir.path().to_path_buf()]).unwrap();
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut next = move |n: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % n
    };
    let mut deliveries: Vec<PathBuf> = Vec::new();
    for file in &files {
        for _ in 0..1 + next(2) + next(2) {
            deliveries.push(file.clone());
        }
    }
    for i in (1..deliveries.len()).rev() {
        deliveries.swap(i, next(i as u64 + 1) as usize);
    }
    assert!(deliveries.len() > files.len() * 5 / 4, "redeliveries");
    let handler = handler(&env);
    let counts = replay_files(handler, &deliveries, 16, &ProgressBar::hidden())
        .await
        .expect("replay");
    assert_eq!(
        counts.counts.events_created,
        corpus.expected.kept_event_ids.len() as u64
    );
    assert!(counts.counts.sessions_rebuilt == 0, "{:?}", counts.counts);
    assert_matches_model(&env, &corpus).await;
    cleanup(&env.opensearch_client().unwrap(), &env).await;
}

/// Summaries deleted document by document (`_delete_by_query`, as an
/// operator resetting them would), then their batches delivered again:
/// each is written again, whole, over its deletion's tombstone, and keeps
/// following its session's later events; and a summary deleted by id whose
/// session then only brings a new event comes back whole, not started
/// afresh.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn summaries_deleted_by_query_are_written_again_and_keep_updating() {
    let env = test_environment("deleted").await;
    let (corpus, dir) = corpus(31);
    let files = event_files(&[dir.path().to_path_buf()]).unwrap();
    let (first, rest) = files.split_at(files.len() / 2);
    let handler = handler(&env);
    let client = env.opensearch_client().unwrap();
    let summaries = env.indices().session_summaries.clone();

    replay(&handler, first).await;
    let stored = count(&client, &summaries).await;
    assert!(
        stored >= 10,
        "a first half worth testing: {stored} summaries"
    );
    let deleted = client
        .json(
            ::http::Method::POST,
            &format!("/{summaries}/_delete_by_query?refresh=true"),
            Some(&json!({"query": {"match_all": {}}})),
        )
        .await
        .expect("deleting the summaries by query");
    assert_eq!(deleted["deleted"], json!(stored), "{deleted}");
    assert_eq!(count(&client, &summaries).await, 0);

    let again = replay(&handler, first).await;
    assert_eq!(
        (again.events_created, again.sessions_written),
        (0, stored),
        "no event is new, and every deleted summary is written again: {again:?}"
    );
    assert_eq!(again.sessions_rebuilt, stored, "{again:?}");
    assert_eq!(count(&client, &summaries).await, stored);

    replay(&handler, rest).await;
    assert_matches_model(&env, &corpus).await;

    // One summary deleted by id; its session's next batch holds only a
    // new event: the summary comes back with every earlier event too.
    let docs = all_documents(&client, &summaries).await;
    let (id, (_, _, before)) = docs
        .iter()
        .find(|(_, (_, _, doc))| doc["event_count"].as_u64().unwrap() >= 3)
        .expect("a session of three events or more");
    client
        .json(
            ::http::Method::DELETE,
            &format!("/{summaries}/_doc/{id}"),
            None,
        )
        .await
        .expect("deleting one summary");
    let line = format!(
        r#"INFO {{"type":"request","sessionId":{},"user":{},"url":"/after-the-deletion","timestamp":{}}}"#,
        json!(id),
        before["user"],
        before["end_time"]
    );
    let late = lambda_event(json!([{"id": "99999999990001", "timestamp": 1, "message": line}]));
    let counts = handler
        .handle(&late, Instant::now() + Duration::from_secs(60))
        .await
        .expect("handled");
    assert_eq!(
        (counts.events_created, counts.sessions_written),
        (1, 1),
        "{counts:?}"
    );
    let (_, version, after) = all_documents(&client, &summaries).await[id].clone();
    assert_eq!(
        after["event_count"],
        json!(before["event_count"].as_u64().unwrap() + 1),
        "{after}"
    );
    assert_eq!(after["start_time"], before["start_time"]);
    assert!(
        after["paths"]
            .as_array()
            .unwrap()
            .contains(&json!("/after-the-deletion")),
        "{after}"
    );

    // Its redelivery changes nothing.
    let counts = handler
        .handle(&late, Instant::now() + Duration::from_secs(60))
        .await
        .expect("handled");
    assert_eq!(
        (
            counts.events_created,
            counts.sessions_written,
            counts.sessions_unchanged
        ),
        (0, 0, 1),
        "{counts:?}"
    );
    assert_eq!(
        all_documents(&client, &summaries).await[id],
        (summaries.clone(), version, after),
        "the redelivered summary, its version and last_updated included"
    );
    cleanup(&client, &env).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strict_mappings_refuse_unknown_fields() {
    let env = test_environment("strict").await;
    let client = env.opensearch_client().unwrap();
    let i = env.indices();
    for (index, doc) in [
        (
            format!("{}2026.11.02", i.request_events_prefix),
            json!({"timestamp": "2026-11-02T00:00:00.000Z", "surprise": 1}),
        ),
        (
            i.session_summaries.clone(),
            json!({"session_id": "s", "surprise": 1}),
        ),
        (
            i.dead_letters.clone(),
            json!({"reason": "x", "surprise": 1}),
        ),
    ] {
        let response = client
            .send(
                ::http::Method::PUT,
                &format!("/{index}/_doc/x"),
                Some((serde_json::to_vec(&doc).unwrap(), "application/json")),
            )
            .await
            .unwrap();
        assert_eq!(
            response.status,
            400,
            "{index} took an unknown field: {}",
            response.text()
        );
        assert!(
            response.text().contains("strict_dynamic_mapping_exception"),
            "{}",
            response.text()
        );
    }
    cleanup(&client, &env).await;
}

fn lambda_event(log_events: Value) -> Value {
    use base64::Engine;
    use std::io::Write;
    let doc = json!({"messageType": "DATA_MESSAGE", "owner": "1", "logGroup": "/ironman/app", "logStream": "s-1", "subscriptionFilters": ["f"], "logEvents": log_events});
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(doc.to_string().as_bytes()).unwrap();
    json!({"awslogs": {"data": base64::engine::general_purpose::STANDARD.encode(gz.finish().unwrap())}})
}

/// What ISM's `read_only` action does to a warm index.
async fn make_read_only(client: &processor::opensearch::OpenSearch, index: &str) {
    client
        .json(
            ::http::Method::PUT,
            &format!("/{index}/_settings"),
            Some(&json!({"index": {"blocks": {"write": true}}})),
        )
        .await
        .expect("setting index.blocks.write");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backfill_into_a_read_only_day_goes_to_its_backfill_index_exactly_once() {
    let env = test_environment("backfill").await;
    let client = env.opensearch_client().unwrap();
    let handler = handler(&env);
    let deadline = Instant::now() + Duration::from_secs(60);
    let prefix = &env.indices().request_events_prefix;
    let daily = format!("{prefix}2026.06.01");
    let backfill = format!("{prefix}backfill-2026.06.01");
    let line = |n: u32| {
        format!(
            r#"INFO {{"type":"request","sessionId":"bf-1","user":"ann","url":"/work-orders/{n}","timestamp":"2026-06-01T10:00:0{n}Z"}}"#
        )
    };
    let log_event =
        |n: u32| json!({"id": format!("{}", 500 + n), "timestamp": 1, "message": line(n)});

    // Months ago, while the day was hot: two events of the session.
    let early = lambda_event(json!([log_event(1), log_event(2)]));
    let counts = handler.handle(&early, deadline).await.expect("handled");
    assert_eq!(counts.events_created, 2);
    // ISM has since moved the day to warm.
    make_read_only(&client, &daily).await;

    // The backfill: the whole session again, two events of it new.
    let replayed = lambda_event(json!([
        log_event(1),
        log_event(2),
        log_event(3),
        log_event(4)
    ]));
    let counts = handler.handle(&replayed, deadline).await.expect("handled");
    assert_eq!(
        (
            counts.events_existing,
            counts.events_created,
            counts.events_backfilled,
            counts.dead_lettered
        ),
        (2, 2, 2, 0),
        "{counts:?}"
    );
    let events = all_documents(&client, &env.indices().request_events_pattern()).await;
    let placed: BTreeMap<&str, &str> = events
        .iter()
        .map(|(id, (index, _, _))| (id.as_str(), index.as_str()))
        .collect();
    assert_eq!(
        placed,
        BTreeMap::from([
            ("501", daily.as_str()),
            ("502", daily.as_str()),
            ("503", backfill.as_str()),
            ("504", backfill.as_str()),
        ])
    );
    let summaries = all_documents(&client, &env.indices().session_summaries).await;
    let (_, _, summary) = &summaries["bf-1"];
    assert_eq!(summary["event_count"].as_u64(), Some(4));
    assert_eq!(summary["end_time"], "2026-06-01T10:00:04.000Z");

    // Delivered again, in any order: nothing new anywhere.
    let reversed = lambda_event(json!([
        log_event(4),
        log_event(3),
        log_event(2),
        log_event(1)
    ]));
    let counts = handler.handle(&reversed, deadline).await.expect("handled");
    assert_eq!(
        (
            counts.events_existing,
            counts.events_created,
            counts.dead_lettered
        ),
        (4, 0, 0),
        "{counts:?}"
    );
    assert_eq!(counts.sessions_unchanged, 1);
    assert_eq!(
        all_documents(&client, &env.indices().request_events_pattern())
            .await
            .len(),
        4
    );
    assert_eq!(count(&client, &env.indices().dead_letters).await, 0);

    // The backfill index turns read-only too: then, and only then, an
    // event that is in neither index is dead-lettered, with its reason.
    make_read_only(&client, &backfill).await;
    let later = lambda_event(json!([log_event(5)]));
    let counts = handler.handle(&later, deadline).await.expect("handled");
    assert_eq!(
        (counts.events_created, counts.dead_lettered),
        (0, 1),
        "{counts:?}"
    );
    let letters = all_documents(&client, &env.indices().dead_letters).await;
    let letter = &letters["505"].2;
    assert_eq!(letter["target_index"], backfill.as_str());
    assert!(
        letter["error"]
            .as_str()
            .unwrap()
            .contains("cluster_block_exception"),
        "{letter}"
    );
    cleanup(&client, &env).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_opensearch_refuses_and_broken_envelopes_go_to_the_dead_letter_index() {
    let env = test_environment("dlq").await;
    let client = env.opensearch_client().unwrap();
    let handler = handler(&env);
    let deadline = Instant::now() + Duration::from_secs(60);

    // A user too long for a keyword term is refused by OpenSearch for good;
    // its neighbour in the batch is stored.
    let huge_user = "u".repeat(40_000);
    let good = r#"INFO {"type":"request","sessionId":"dl-1","user":"ok","url":"/a","timestamp":"2026-11-02T10:00:00Z"}"#;
    let bad = format!(
        r#"INFO {{"type":"request","sessionId":"dl-2","user":"{huge_user}","url":"/a","timestamp":"2026-11-02T10:00:01Z"}}"#
    );
    let event = lambda_event(json!([
        {"id": "100", "timestamp": 1, "message": good},
        {"id": "101", "timestamp": 1, "message": bad},
    ]));
    let counts = handler.handle(&event, deadline).await.expect("handled");
    assert_eq!((counts.events_created, counts.dead_lettered), (1, 1));

    // An event its index refuses in a session whose other event is stored:
    // only what is stored is counted. The day's index is made (before the
    // template's mapping applies) with a `path` that only numbers fit, as a
    // mapping changed by hand would be.
    client
        .json(
            ::http::Method::PUT,
            &format!("/{}2026.11.03", env.indices().request_events_prefix),
            Some(&json!({"mappings": {"properties": {"path": {"type": "integer"}}}})),
        )
        .await
        .expect("creating a day whose mapping refuses paths");
    let fine = r#"INFO {"type":"request","sessionId":"dl-3","user":"ok","url":"/a","timestamp":"2026-11-02T10:00:00Z"}"#;
    let too_big = r#"INFO {"type":"request","sessionId":"dl-3","user":"ok","url":"/b","timestamp":"2026-11-03T11:00:00Z"}"#;
    let mixed = lambda_event(json!([
        {"id": "200", "timestamp": 1, "message": fine},
        {"id": "201", "timestamp": 1, "message": too_big},
    ]));
    let counts = handler.handle(&mixed, deadline).await.expect("handled");
    assert_eq!(
        (counts.events_created, counts.dead_lettered),
        (1, 1),
        "{counts:?}"
    );
    let dl3 = &all_documents(&client, &env.indices().session_summaries).await["dl-3"].2;
    assert_eq!(dl3["event_count"], 1, "{dl3}");
    assert_eq!(dl3["paths"], json!(["/a"]), "{dl3}");
    assert_eq!(dl3["end_time"], "2026-11-02T10:00:00.000Z", "{dl3}");

    let broken = json!({"awslogs": {"data": "%%% not base64 %%%"}});
    let counts = handler
        .handle(&broken, deadline)
        .await
        .expect("a broken envelope is not a failure");
    assert_eq!(counts.dead_lettered, 1);
    let not_logs = json!({"hello": "world"});
    handler.handle(&not_logs, deadline).await.expect("handled");

    let letters = all_documents(&client, &env.indices().dead_letters).await;
    let reasons: BTreeMap<String, (String, String)> = letters
        .iter()
        .map(|(id, (_, _, d))| {
            (
                id.clone(),
                (
                    d["reason"].as_str().unwrap().to_string(),
                    d["raw"].as_str().unwrap().to_string(),
                ),
            )
        })
        .collect();
    assert_eq!(letters.len(), 4, "{reasons:?}");
    // Neither refused event is counted: dl-2 has no summary at all.
    assert_eq!(reasons["101"], ("event_rejected".into(), bad.clone()));
    assert_eq!(reasons["201"], ("event_rejected".into(), too_big.into()));
    let others: BTreeMap<&str, &str> = reasons
        .values()
        .map(|(reason, raw)| (reason.as_str(), raw.as_str()))
        .collect();
    assert_eq!(others["bad_base64"], "%%% not base64 %%%");
    assert!(others["bad_envelope"].contains("hello"));
    let rejected = letters.get("101").expect("keyed by the log event id");
    assert_eq!(rejected.2["log_event_id"], "101");
    assert_eq!(rejected.2["log_stream"], "s-1");
    assert_eq!(
        rejected.2["target_index"],
        format!("{}2026.11.02", env.indices().request_events_prefix)
    );

    // Delivered again: the dead letters are overwritten, not duplicated.
    handler.handle(&event, deadline).await.unwrap();
    handler.handle(&broken, deadline).await.unwrap();
    handler.handle(&mixed, deadline).await.unwrap();
    assert_eq!(count(&client, &env.indices().dead_letters).await, 4);
    let summaries = all_documents(&client, &env.indices().session_summaries).await;
    assert_eq!(summaries.keys().collect::<Vec<_>>(), vec!["dl-1", "dl-3"]);
    assert_eq!(summaries["dl-3"].2["event_count"], 1);
    cleanup(&client, &env).await;
}

/// A refused event among invocations that write its session at the same
/// time: sixteen batches of one session, run eight at once with the batch
/// holding the refused event delivered three times, its last redelivery
/// after a crash between its events' request and the rest. The refused
/// event is the session's earliest, with a path and module of its own:
/// if the fields merged in with its batch survived the rebuild, the
/// summary's user, start and sets would show it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_event_among_concurrent_writers_leaves_only_stored_events_in_its_summary() {
    let env = test_environment("refused-race").await;
    let client = env.opensearch_client().unwrap();
    let clean = handler(&env);
    let crashing = Arc::new(Handler::new(
        clean.rules().clone(),
        clean.sink().clone().crashing_at(Step::AfterEvents),
    ));
    let line = |user: &str, url: &str, at: &str| {
        format!(
            r#"INFO {{"type":"request","sessionId":"race","user":"{user}","url":"{url}","module":"m-{url}","timestamp":"{at}"}}"#
        )
    };
    let huge_user = "u".repeat(40_000);
    let mut batches = Vec::new();
    for b in 0..16u32 {
        let mut events = Vec::new();
        for e in 0..5u32 {
            // An hour apart within a batch, a minute between batches: the
            // session spans more than a state keeps inline, so buckets
            // freeze while the batches run.
            let minutes = b + e * 60;
            let at = format!("2026-11-04T{:02}:{:02}:00Z", 8 + minutes / 60, minutes % 60);
            let id = format!("{}", 1000 + b * 10 + e);
            events.push(
                json!({"id": id, "timestamp": 1, "message": line("ok", &format!("/p{}", e), &at)}),
            );
        }
        if b == 7 {
            let refused = line(&huge_user, "/refused", "2026-11-04T07:59:00Z");
            events.push(json!({"id": "999", "timestamp": 1, "message": refused}));
        }
        batches.push(lambda_event(json!(events)));
    }
    let refused_batch = batches[7].clone();
    let deliveries: Vec<Value> = batches
        .iter()
        .chain([&refused_batch, &refused_batch])
        .cloned()
        .collect();
    for wave in deliveries.chunks(8).enumerate() {
        let (w, wave) = wave;
        let mut running = tokio::task::JoinSet::new();
        for (n, event) in wave.iter().enumerate() {
            let handler = if w * 8 + n == 17 {
                crashing.clone()
            } else {
                clean.clone()
            };
            let event = event.clone();
            running.spawn(async move {
                handler
                    .handle(&event, Instant::now() + Duration::from_secs(60))
                    .await
            });
        }
        while let Some(result) = running.join_next().await {
            match result.expect("no panic") {
                Ok(_) | Err(HandlerError(SinkError::Crashed(Step::AfterEvents))) => {}
                Err(other) => panic!("{other}"),
            }
        }
    }
    // The crashed delivery's retry.
    clean
        .handle(&refused_batch, Instant::now() + Duration::from_secs(60))
        .await
        .expect("the retry");

    let summaries = all_documents(&client, &env.indices().session_summaries).await;
    let race = &summaries["race"].2;
    assert_eq!(race["event_count"], 80, "{race}");
    assert_eq!(race["user"], "ok", "{race}");
    assert_eq!(race["start_time"], "2026-11-04T08:00:00.000Z", "{race}");
    assert_eq!(race["end_time"], "2026-11-04T12:15:00.000Z", "{race}");
    assert_eq!(
        race["paths"],
        json!(["/p0", "/p1", "/p2", "/p3", "/p4"]),
        "{race}"
    );
    assert!(!race["modules"].to_string().contains("refused"), "{race}");
    let letters = all_documents(&client, &env.indices().dead_letters).await;
    let reasons: Vec<(&String, &Value)> = letters
        .iter()
        .map(|(id, (_, _, d))| (id, &d["reason"]))
        .collect();
    assert_eq!(
        reasons,
        [(&"999".to_string(), &json!("event_rejected"))],
        "{letters:?}"
    );
    cleanup(&client, &env).await;
}

/// OpenSearch refuses a whole `_bulk` request over one `_id` longer than 512
/// bytes: a session id (or log event id) that long must not cost its
/// neighbours their summaries, nor fail the batch for ever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ids_too_long_for_an_opensearch_id_are_stored_under_a_digest() {
    let env = test_environment("long-ids").await;
    let client = env.opensearch_client().unwrap();
    let handler = handler(&env);
    let deadline = Instant::now() + Duration::from_secs(60);

    let long_session = format!("long-{}", "s".repeat(600));
    let long_event_id = "7".repeat(600);
    let line = |session: &str, second: u32| {
        format!(
            r#"INFO {{"type":"request","sessionId":"{session}","user":"u","url":"/a/{second}","timestamp":"2026-11-02T10:00:{second:02}Z"}}"#
        )
    };
    // Refused for good (a user too long for a keyword term), with an id too
    // long for a keyword term too: its dead letter must still be kept.
    let refused_id = "9".repeat(40_000);
    let refused = format!(
        r#"INFO {{"type":"request","sessionId":"short-2","user":"{}","url":"/b","timestamp":"2026-11-02T10:00:05Z"}}"#,
        "u".repeat(40_000)
    );
    let event = lambda_event(json!([
        {"id": "200", "timestamp": 1, "message": line(&long_session, 1)},
        {"id": "201", "timestamp": 1, "message": line(&long_session, 2)},
        {"id": "202", "timestamp": 1, "message": line("short-1", 3)},
        {"id": long_event_id, "timestamp": 1, "message": line("short-1", 4)},
        {"id": refused_id, "timestamp": 1, "message": refused},
    ]));
    let counts = handler.handle(&event, deadline).await.expect("handled");
    assert_eq!(
        (counts.events_created, counts.dead_lettered),
        (4, 1),
        "{counts:?}"
    );
    let letters = all_documents(&client, &env.indices().dead_letters).await;
    let letter = &letters[processor::output::document_id(&refused_id).as_ref()].2;
    assert_eq!(letter["log_event_id"], refused_id.as_str());
    assert_eq!(letter["raw"], refused.as_str());

    let long_key = processor::output::document_id(&long_session).into_owned();
    assert!(long_key.starts_with("sha256:"), "{long_key}");
    let summaries = all_documents(&client, &env.indices().session_summaries).await;
    assert_eq!(summaries.keys().map(String::as_str).collect::<Vec<_>>(), {
        let mut keys = vec![long_key.as_str(), "short-1"];
        keys.sort();
        keys
    });
    let long = &summaries[&long_key].2;
    assert_eq!(long["session_id"], long_session.as_str());
    assert_eq!(long["event_count"], 2);
    assert_eq!(long["paths"], json!(["/a/1", "/a/2"]));
    assert_eq!(summaries["short-1"].2["event_count"], 2);

    let events = all_documents(&client, &env.indices().request_events_pattern()).await;
    let event_key = processor::output::document_id(&long_event_id).into_owned();
    assert_eq!(events.len(), 4);
    assert_eq!(events[&event_key].2["path"], "/a/4");

    // Delivered again: nothing new, nothing rewritten.
    let again = handler.handle(&event, deadline).await.expect("handled");
    assert_eq!(
        (again.events_created, again.events_existing),
        (0, 4),
        "{again:?}"
    );
    assert_eq!(count(&client, &env.indices().dead_letters).await, 1);
    assert_eq!(again.sessions_written, 0, "{again:?}");
    assert_eq!(
        all_documents(&client, &env.indices().session_summaries).await,
        summaries
    );
    cleanup(&client, &env).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_messages_write_nothing() {
    let env = test_environment("control").await;
    let client = env.opensearch_client().unwrap();
    let handler = handler(&env);
    use base64::Engine;
    use std::io::Write;
    let doc = json!({"messageType": "CONTROL_MESSAGE", "owner": "CloudwatchLogs", "logGroup": "", "logStream": "", "subscriptionFilters": [], "logEvents": [{"id": "", "timestamp": 1, "message": "CWL CONTROL MESSAGE: Checking health of destination Firehose."}]});
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(doc.to_string().as_bytes()).unwrap();
    let event = json!({"awslogs": {"data": base64::engine::general_purpose::STANDARD.encode(gz.finish().unwrap())}});
    let counts = handler
        .handle(&event, Instant::now() + Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(counts.control_messages, 1);
    let i = env.indices();
    for pattern in [
        i.request_events_pattern(),
        i.session_summaries.clone(),
        i.dead_letters.clone(),
    ] {
        assert_eq!(count(&client, &pattern).await, 0, "{pattern}");
    }
    support::cleanup(&support::require_opensearch().await, &env).await;
}

#[tokio::test]
async fn an_unreachable_opensearch_says_how_to_start_it() {
    let client = processor::opensearch::OpenSearch::new(
        "http://127.0.0.1:9",
        processor::opensearch::Auth::None,
    )
    .unwrap();
    let err = client
        .json(::http::Method::GET, "/", None)
        .await
        .unwrap_err();
    assert!(err.is_transient());
    assert!(err.to_string().contains("cargo xtask local up"), "{err}");
}
