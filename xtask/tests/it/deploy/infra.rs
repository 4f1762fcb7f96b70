//! The whole pipeline as code against moto_server and the real local
//! OpenSearch: deploy from nothing converges, a second deploy writes
//! nothing, out-of-band changes are found field by field and repaired,
//! destroy removes what xtask made, and the wrong account stops a deploy.

use crate::support;

use aws_sdk_lambda::primitives::Blob;
use serde_json::{Value, json};
use support::{fake_lambda_zip, root, test_stack_environment};
use xtask::deploy::aws::LambdaCode;
use xtask::deploy::stack::Stack;
use xtask::engine::{Action, Plan};
use xtask::env::Environment;

fn code(content: &str) -> LambdaCode {
    LambdaCode::from_zip(fake_lambda_zip(content.as_bytes()), "test")
}

async fn stack(env: &Environment, code_content: &str) -> Stack {
    Stack::load(&root(), env, code(code_content))
        .await
        .expect("loading the stack")
}

async fn deploy(stack: &Stack) -> xtask::deploy::Deployment {
    stack
        .deploy(|_, _| {}, || Ok(()))
        .await
        .unwrap_or_else(|e| panic!("deploy failed: {e:#}"))
}

async fn plan(stack: &Stack) -> Plan {
    stack
        .plan()
        .await
        .unwrap_or_else(|e| panic!("plan failed: {e:#}"))
        .0
}

/// The field paths the plan changes on `resource` (`kind.name`).
fn changed_paths(plan: &Plan, kind: &str) -> Vec<(String, Action, Vec<String>)> {
    plan.changes
        .iter()
        .filter(|c| c.kind == kind && c.action != Action::Noop)
        .map(|c| {
            (
                c.name.clone(),
                c.action,
                c.fields.iter().map(|f| f.path.clone()).collect(),
            )
        })
        .collect()
}

const KINDS: [&str; 10] = [
    "sqs_queue",
    "iam_role",
    "iam_role_policy",
    "cloudwatch_log_group",
    "lambda_function",
    "lambda_event_invoke_config",
    "lambda_permission",
    "cloudwatch_subscription_filter",
    "sns_topic",
    "cloudwatch_metric_alarm",
];

#[tokio::test]
async fn deploy_converges_and_a_second_deploy_writes_nothing() {
    let env = test_stack_environment("converge").await;
    let stack = stack(&env, "v1").await;

    let first = deploy(&stack).await;
    for kind in KINDS.iter().chain(["opensearch_index_template"].iter()) {
        assert!(
            first
                .plan
                .changes
                .iter()
                .any(|c| c.kind == *kind && c.action == Action::Create),
            "deploy from nothing did not create a {kind}:\n{}",
            first.plan
        );
    }
    assert!(first.after.is_empty(), "{}", first.after);

    let again = plan(&stack).await;
    assert!(again.is_empty(), "a fresh plan still differs:\n{again}");

    let second = deploy(&stack).await;
    assert!(second.plan.is_empty(), "{}", second.plan);
    assert!(
        second.writes.is_empty(),
        "the second deploy wrote: {:?}",
        second.writes
    );

    // The JSON plan: every resource, with its identifiers.
    let json = again.to_json();
    let changes = json["changes"].as_array().unwrap();
    assert_eq!(changes.len(), again.changes.len());
    for change in changes {
        assert_eq!(change["action"], "noop", "{change}");
        assert!(change["name"].is_string(), "{change}");
        assert!(change["fields"].as_array().unwrap().is_empty(), "{change}");
    }
    let function = changes
        .iter()
        .find(|c| c["kind"] == "lambda_function")
        .unwrap();
    assert_eq!(function["arn"], json!(env.function_arn()));
    support::cleanup(&support::require_opensearch().await, &env).await;
}

#[tokio::test]
async fn out_of_band_changes_are_found_field_by_field_and_repaired() {
    let env = test_stack_environment("drift").await;
    let stack = stack(&env, "v1").await;
    deploy(&stack).await;
    let aws = stack.aws().clone();
    let function = env.lambda.function_name.clone();
    let group = env.logs.log_groups[0].clone();
    let filter = env.logs.subscription_filter.name.clone();

    // Memory and an environment variable, as a console user would.
    aws.lambda
        .update_function_configuration()
        .function_name(&function)
        .memory_size(1024)
        .environment(
            aws_sdk_lambda::types::Environment::builder()
                .variables("OPENSEARCH_ENDPOINT", "http://127.0.0.1:9200")
                .variables("OPENSEARCH_AUTH", "none")
                .variables("REQUEST_EVENTS_PREFIX", &env.indices.request_events_prefix)
                .variables("SESSION_SUMMARIES_INDEX", "somewhere-else")
                .variables("DEAD_LETTERS_INDEX", &env.indices.dead_letters)
                .build(),
        )
        .send()
        .await
        .unwrap();
    // The code.
    aws.lambda
        .update_function_code()
        .function_name(&function)
        .zip_file(Blob::new(fake_lambda_zip(b"hand-uploaded")))
        .send()
        .await
        .unwrap();
    // The role's inline policy and trust policy.
    aws.iam
        .put_role_policy()
        .role_name(env.role_name())
        .policy_name("processor")
        .policy_document(
            json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "es:*", "Resource": "*"}]})
                .to_string(),
        )
        .send()
        .await
        .unwrap();
    aws.iam
        .update_assume_role_policy()
        .role_name(env.role_name())
        .policy_document(
            json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]})
                .to_string(),
        )
        .send()
        .await
        .unwrap();
    // The invoke permission removed.
    let statement = xtask::deploy::aws::lambda::statement_id(&group);
    aws.lambda
        .remove_permission()
        .function_name(&function)
        .statement_id(&statement)
        .send()
        .await
        .unwrap();
    // An index template field, straight through the OpenSearch API.
    let client = support::require_opensearch().await;
    let template = format!("{}template", env.indices.request_events_prefix);
    let mut body = client
        .json(
            http::Method::GET,
            &format!("/_index_template/{template}"),
            None,
        )
        .await
        .unwrap()["index_templates"][0]["index_template"]
        .clone();
    body["template"]["mappings"]["properties"]["path"]["ignore_above"] = json!(17);
    client
        .json(
            http::Method::PUT,
            &format!("/_index_template/{template}"),
            Some(&body),
        )
        .await
        .unwrap();

    let drift = plan(&stack).await;
    let function_fields = &changed_paths(&drift, "lambda_function")[0].2;
    for path in [
        "memory_size",
        "environment.SESSION_SUMMARIES_INDEX",
        "code_sha256",
    ] {
        assert!(
            function_fields.contains(&path.to_string()),
            "{path} not in {function_fields:?}:\n{drift}"
        );
    }
    let memory = drift
        .changes
        .iter()
        .find(|c| c.kind == "lambda_function")
        .unwrap()
        .fields
        .iter()
        .find(|f| f.path == "memory_size")
        .unwrap();
    assert_eq!(
        (memory.before.clone(), memory.after.clone()),
        (json!(1024), json!(env.lambda.memory_mb))
    );
    let policy = &changed_paths(&drift, "iam_role_policy")[0].2;
    assert!(
        policy.iter().any(|p| p.starts_with("policy.Statement[0].")),
        "{policy:?}"
    );
    let role = &changed_paths(&drift, "iam_role")[0].2;
    assert_eq!(
        role,
        &vec!["assume_role_policy.Statement[0].Principal.Service".to_string()]
    );
    assert_eq!(
        changed_paths(&drift, "lambda_permission"),
        vec![(
            format!("{function}/{statement}"),
            Action::Create,
            vec![
                "action".to_string(),
                "principal".to_string(),
                "source_account".to_string(),
                "source_arn".to_string()
            ]
        )]
    );
    assert_eq!(
        changed_paths(&drift, "opensearch_index_template")[0].2,
        vec!["template.mappings.properties.path.ignore_above".to_string()]
    );

    let repaired = deploy(&stack).await;
    assert!(repaired.after.is_empty());
    let after = plan(&stack).await;
    assert!(after.is_empty(), "{after}");

    // The subscription filter: deleted, then its pattern changed.
    aws.logs
        .delete_subscription_filter()
        .log_group_name(&group)
        .filter_name(&filter)
        .send()
        .await
        .unwrap();
    let missing = plan(&stack).await;
    assert_eq!(
        changed_paths(&missing, "cloudwatch_subscription_filter")[0].1,
        Action::Create,
        "{missing}"
    );
    deploy(&stack).await;
    aws.logs
        .put_subscription_filter()
        .log_group_name(&group)
        .filter_name(&filter)
        .filter_pattern("{ $.status = 500 }")
        .destination_arn(env.function_arn())
        .send()
        .await
        .unwrap();
    let changed = plan(&stack).await;
    let filter_change = changed
        .changes
        .iter()
        .find(|c| c.kind == "cloudwatch_subscription_filter")
        .unwrap();
    assert_eq!(filter_change.action, Action::Update);
    assert_eq!(filter_change.fields[0].path, "filter_pattern");
    assert_eq!(filter_change.fields[0].before, json!("{ $.status = 500 }"));
    assert_eq!(
        filter_change.fields[0].after,
        json!(env.logs.subscription_filter.pattern)
    );
    deploy(&stack).await;
    let clean = plan(&stack).await;
    assert!(clean.is_empty(), "{clean}");
    support::cleanup(&support::require_opensearch().await, &env).await;
}

#[tokio::test]
async fn destroy_removes_what_xtask_made_and_diff_then_plans_every_create() {
    let env = test_stack_environment("destroy").await;
    let stack = stack(&env, "v1").await;
    deploy(&stack).await;
    // Data in the pipeline's index survives a destroy without --delete-data.
    let client = support::require_opensearch().await;
    client
        .json(
            http::Method::PUT,
            &format!("/{}/_doc/kept?refresh=true", env.indices.dead_letters),
            Some(&json!({})),
        )
        .await
        .ok();

    let done = stack
        .destroy(false, |_, _| {}, || Ok(()))
        .await
        .unwrap_or_else(|e| panic!("destroy failed: {e:#}"));
    assert!(done.deleted_indices.is_empty());
    assert!(
        done.kept.iter().any(|k| k.contains("--delete-data")),
        "{:?}",
        done.kept
    );
    let fresh = plan(&stack).await;
    for change in &fresh.changes {
        assert_eq!(
            change.action,
            Action::Create,
            "{} survived destroy:\n{fresh}",
            change.resource
        );
    }
    let indices = client
        .json(
            http::Method::GET,
            &format!("/{}/_settings", env.indices.dead_letters),
            None,
        )
        .await;
    assert!(
        indices.is_ok(),
        "the data index was deleted without --delete-data"
    );

    // Redeploying works from there, and --delete-data removes the data too.
    deploy(&stack).await;
    let done = stack.destroy(true, |_, _| {}, || Ok(())).await.unwrap();
    assert!(
        done.deleted_indices.contains(&env.indices.dead_letters),
        "{:?}",
        done.deleted_indices
    );
}

#[tokio::test]
async fn a_resource_xtask_did_not_make_is_not_destroyed() {
    let env = test_stack_environment("foreign").await;
    let stack = stack(&env, "v1").await;
    // Someone else's queue under the name xtask would use.
    let aws = stack.aws().clone();
    aws.sqs
        .create_queue()
        .queue_name(env.failure_queue_name())
        .send()
        .await
        .unwrap();
    let done = stack.destroy(false, |_, _| {}, || Ok(())).await.unwrap();
    assert!(
        done.kept
            .iter()
            .any(|k| k.contains(&env.failure_queue_name()) && k.contains("managed-by")),
        "{:?}",
        done.kept
    );
    assert!(
        aws.sqs
            .get_queue_url()
            .queue_name(env.failure_queue_name())
            .send()
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn the_wrong_account_stops_deploy_before_any_change() {
    let mut env = test_stack_environment("account").await;
    env.aws.account_id = "999999999999".into();
    let stack = stack(&env, "v1").await;
    let err = stack
        .deploy(|_, _| panic!("planned in the wrong account"), || Ok(()))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("999999999999"), "{err}");
    assert!(err.contains("nothing was changed"), "{err}");
    assert!(stack.writes().is_empty(), "{:?}", stack.writes());
}

#[test]
fn plan_json_has_the_documented_shape() {
    let plan = Plan {
        changes: vec![xtask::engine::Change::between(
            "lambda_function",
            "f",
            Some(&json!({"memory_size": 128})),
            &json!({"memory_size": 256}),
        )],
    };
    let value: Value = plan.to_json();
    assert_eq!(
        value,
        json!({"changes": [{
            "resource": "lambda_function.f", "kind": "lambda_function", "name": "f",
            "action": "update",
            "fields": [{"path": "memory_size", "before": 128, "after": 256}]
        }]})
    );
}

/// Runs the xtask binary with the test's environment folder.
fn xtask_cli(dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(args)
        .env(xtask::env::ENVIRONMENTS_DIR_VAR, dir)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("running the xtask binary")
}

#[tokio::test]
async fn diff_exit_codes_json_and_deploy_confirmation_from_the_command_line() {
    let mut env = test_stack_environment("cli").await;
    let name = format!("cli{}", std::process::id());
    env.name = name.clone();
    let dir = std::env::temp_dir().join(format!("xtask-env-{name}-{}", env.lambda.function_name));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join(format!("{name}.yaml")),
        serde_yaml_ng::to_string(&env).unwrap(),
    )
    .unwrap();
    let zip = dir.join("code.zip");
    std::fs::write(&zip, fake_lambda_zip(b"cli")).unwrap();
    let zip = zip.to_str().unwrap();

    let diff = xtask_cli(&dir, &["diff", "--env", &name, "--code", zip]);
    assert_eq!(
        diff.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&diff.stderr)
    );
    let shown = String::from_utf8_lossy(&diff.stdout);
    assert!(shown.contains("to create"), "not a plan: {shown}");
    // A usage error is 1, never the 2 of "changes" (clap's own code).
    let typo = xtask_cli(&dir, &["diff", "--env", &name, "--jsn"]);
    assert_eq!(
        typo.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&typo.stderr)
    );
    assert!(String::from_utf8_lossy(&typo.stderr).contains("--jsn"));

    let json = xtask_cli(&dir, &["diff", "--env", &name, "--code", zip, "--json"]);
    assert_eq!(json.status.code(), Some(2));
    let plan: Value = serde_json::from_slice(&json.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not the JSON plan alone ({e}): {}",
            String::from_utf8_lossy(&json.stdout)
        )
    });
    let changes = plan["changes"].as_array().unwrap();
    assert!(!changes.is_empty());
    assert!(changes.iter().all(|c| c["action"] == "create"), "{plan}");

    // No terminal, no --auto-approve: nothing happens.
    let refused = xtask_cli(&dir, &["deploy", "--env", &name, "--code", zip]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--auto-approve"));
    let still = xtask_cli(&dir, &["diff", "--env", &name, "--code", zip]);
    assert_eq!(still.status.code(), Some(2));

    let deploy = xtask_cli(
        &dir,
        &["deploy", "--env", &name, "--code", zip, "--auto-approve"],
    );
    assert_eq!(
        deploy.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&deploy.stderr)
    );
    let clean = xtask_cli(&dir, &["diff", "--env", &name, "--code", zip]);
    assert_eq!(
        clean.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&clean.stdout)
    );
    assert!(String::from_utf8_lossy(&clean.stdout).contains("No changes"));

    // A broken environment file: exit 1, naming the file and the field.
    let broken = std::fs::read_to_string(dir.join(format!("{name}.yaml")))
        .unwrap()
        .replace(
            &format!("memory_mb: {}", env.lambda.memory_mb),
            "memory_mb: 64",
        );
    std::fs::write(dir.join(format!("{name}.yaml")), broken).unwrap();
    let bad = xtask_cli(&dir, &["diff", "--env", &name, "--code", zip]);
    assert_eq!(bad.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(
        stderr.contains("lambda.memory_mb") && stderr.contains(&format!("{name}.yaml")),
        "{stderr}"
    );
    std::fs::remove_dir_all(&dir).ok();
    support::cleanup(&support::require_opensearch().await, &env).await;
}

#[tokio::test]
async fn a_log_group_taken_out_of_the_environment_loses_its_filter_and_permission() {
    let mut env = test_stack_environment("orphan").await;
    let kept = env.logs.log_groups[0].clone();
    let dropped = format!("{kept}-old");
    env.logs.log_groups.push(dropped.clone());
    deploy(&stack(&env, "v1").await).await;

    env.logs.log_groups.retain(|g| g != &dropped);
    let stack = stack(&env, "v1").await;
    let planned = plan(&stack).await;
    let deletes: Vec<&str> = planned
        .changes
        .iter()
        .filter(|c| c.action == Action::Delete)
        .map(|c| c.kind.as_str())
        .collect();
    assert_eq!(
        deletes,
        vec!["cloudwatch_subscription_filter", "lambda_permission"],
        "{planned}"
    );
    assert!(
        planned
            .changes
            .iter()
            .filter(|c| c.action == Action::Delete)
            .all(|c| c.name.contains(&dropped) || c.name.contains("old")),
        "{planned}"
    );
    deploy(&stack).await;
    let filters = stack
        .aws()
        .logs
        .describe_subscription_filters()
        .log_group_name(&dropped)
        .send()
        .await
        .unwrap();
    assert!(filters.subscription_filters().is_empty());
    let clean = plan(&stack).await;
    assert!(clean.is_empty(), "{clean}");
    support::cleanup(&support::require_opensearch().await, &env).await;
}

/// Puts alarm `name` again as it is, but for what `change` alters: a
/// change by hand (PutMetricAlarm replaces the whole configuration).
async fn put_alarm_by_hand(
    aws: &xtask::aws::AwsClients,
    name: &str,
    change: impl FnOnce(
        aws_sdk_cloudwatch::operation::put_metric_alarm::builders::PutMetricAlarmFluentBuilder,
    )
        -> aws_sdk_cloudwatch::operation::put_metric_alarm::builders::PutMetricAlarmFluentBuilder,
) {
    let described = aws
        .cloudwatch
        .describe_alarms()
        .alarm_names(name)
        .send()
        .await
        .unwrap();
    let alarm = described.metric_alarms()[0].clone();
    let request = aws
        .cloudwatch
        .put_metric_alarm()
        .alarm_name(name)
        .set_alarm_description(alarm.alarm_description().map(str::to_string))
        .set_namespace(alarm.namespace().map(str::to_string))
        .set_metric_name(alarm.metric_name().map(str::to_string))
        .set_dimensions(Some(alarm.dimensions().to_vec()))
        .set_statistic(alarm.statistic().cloned())
        .set_period(alarm.period())
        .set_evaluation_periods(alarm.evaluation_periods())
        .set_threshold(alarm.threshold())
        .set_comparison_operator(alarm.comparison_operator().cloned())
        .set_treat_missing_data(alarm.treat_missing_data().map(str::to_string))
        .set_actions_enabled(alarm.actions_enabled())
        .set_alarm_actions(Some(alarm.alarm_actions().to_vec()))
        .set_ok_actions(Some(alarm.ok_actions().to_vec()))
        .set_insufficient_data_actions(Some(alarm.insufficient_data_actions().to_vec()));
    change(request).send().await.unwrap();
}

/// The email addresses subscribed to the alarm topic.
async fn subscribed(aws: &xtask::aws::AwsClients, topic: &str) -> Vec<(String, String)> {
    aws.sns
        .list_subscriptions_by_topic()
        .topic_arn(topic)
        .send()
        .await
        .unwrap()
        .subscriptions()
        .iter()
        .map(|s| {
            (
                s.endpoint().unwrap_or_default().to_string(),
                s.subscription_arn().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

#[tokio::test]
async fn alarms_and_their_topic_drift_field_by_field_are_repaired_and_destroyed() {
    let env = test_stack_environment("alarms").await;
    let stack = stack(&env, "v1").await;
    let first = deploy(&stack).await;
    let alarms: Vec<String> = first
        .plan
        .changes
        .iter()
        .filter(|c| c.kind == "cloudwatch_metric_alarm" && c.action == Action::Create)
        .map(|c| c.name.clone())
        .collect();
    let function = &env.lambda.function_name;
    assert_eq!(
        alarms,
        [
            "errors",
            "throttles",
            "duration",
            "failure-queue",
            "dead-lettered",
            "silence"
        ]
        .map(|what| format!("{function}-{what}")),
        "{}",
        first.plan
    );
    assert!(first.after.is_empty(), "{}", first.after);
    let clean = plan(&stack).await;
    assert!(clean.is_empty(), "{clean}");

    let aws = stack.aws().clone();
    let topic = env.alarm_topic_arn();
    let errors = format!("{function}-errors");

    // What was deployed: the topic with its subscriber, the alarms pointing
    // at it, everything tagged.
    assert_eq!(
        subscribed(&aws, &topic)
            .await
            .into_iter()
            .map(|(email, _)| email)
            .collect::<Vec<_>>(),
        env.alarms.emails
    );
    let described = aws
        .cloudwatch
        .describe_alarms()
        .alarm_names(format!("{function}-duration"))
        .alarm_names(format!("{function}-silence"))
        .send()
        .await
        .unwrap();
    let duration = described
        .metric_alarms()
        .iter()
        .find(|a| a.alarm_name() == Some(&format!("{function}-duration")))
        .unwrap();
    assert_eq!(duration.namespace(), Some("AWS/Lambda"));
    assert_eq!(
        duration.threshold(),
        Some(
            f64::from(env.lambda.timeout_seconds * 1000)
                * f64::from(env.alarms.duration_percent_of_timeout)
                / 100.0
        )
    );
    assert_eq!(duration.alarm_actions(), std::slice::from_ref(&topic));
    assert_eq!(duration.ok_actions(), std::slice::from_ref(&topic));
    let silence = described
        .metric_alarms()
        .iter()
        .find(|a| a.alarm_name() == Some(&format!("{function}-silence")))
        .unwrap();
    assert_eq!(silence.namespace(), Some("IronManUsage/Processor"));
    assert_eq!(silence.metric_name(), Some("log_events"));
    assert_eq!(silence.treat_missing_data(), Some("breaching"));
    assert_eq!(
        silence.period(),
        Some(env.alarms.silence_hours as i32 * 3600)
    );
    let tags = aws
        .cloudwatch
        .list_tags_for_resource()
        .resource_arn(env.alarm_arn(&errors))
        .send()
        .await
        .unwrap();
    assert!(
        tags.tags()
            .iter()
            .any(|t| t.key() == Some("managed-by") && t.value() == Some("ironman-usage-xtask")),
        "{tags:?}"
    );

    // A threshold changed by hand.
    put_alarm_by_hand(&aws, &errors, |put| put.threshold(50.0)).await;
    let drift = plan(&stack).await;
    assert_eq!(
        changed_paths(&drift, "cloudwatch_metric_alarm"),
        vec![(
            errors.clone(),
            Action::Update,
            vec!["threshold".to_string()]
        )],
        "{drift}"
    );
    let threshold = &drift
        .changes
        .iter()
        .find(|c| c.name == errors)
        .unwrap()
        .fields[0];
    assert_eq!(
        (threshold.before.clone(), threshold.after.clone()),
        (json!(50.0), json!(f64::from(env.alarms.errors_threshold)))
    );
    let repaired = deploy(&stack).await;
    assert_eq!(
        repaired.writes,
        vec![format!("cloudwatch:PutMetricAlarm {errors}")]
    );
    let clean = plan(&stack).await;
    assert!(clean.is_empty(), "{clean}");

    // Its actions changed by hand: alarms to somewhere else, no OK action.
    let elsewhere = env.arn("sns", "somewhere-else");
    put_alarm_by_hand(&aws, &errors, |put| {
        put.set_alarm_actions(Some(vec![elsewhere.clone()]))
            .set_ok_actions(Some(Vec::new()))
    })
    .await;
    let drift = plan(&stack).await;
    assert_eq!(
        changed_paths(&drift, "cloudwatch_metric_alarm"),
        vec![(
            errors.clone(),
            Action::Update,
            vec!["alarm_actions".to_string(), "ok_actions".to_string()]
        )],
        "{drift}"
    );
    deploy(&stack).await;
    let clean = plan(&stack).await;
    assert!(clean.is_empty(), "{clean}");

    // The email subscription removed by hand.
    for (_, arn) in subscribed(&aws, &topic).await {
        aws.sns
            .unsubscribe()
            .subscription_arn(arn)
            .send()
            .await
            .unwrap();
    }
    let drift = plan(&stack).await;
    assert_eq!(
        changed_paths(&drift, "sns_topic"),
        vec![(
            env.alarm_topic_name(),
            Action::Update,
            vec!["email_subscriptions".to_string()]
        )],
        "{drift}"
    );
    let repaired = deploy(&stack).await;
    assert_eq!(
        repaired.writes,
        vec![format!(
            "sns:Subscribe {} {}",
            env.alarm_topic_name(),
            env.alarms.emails[0]
        )]
    );
    assert_eq!(subscribed(&aws, &topic).await.len(), 1);
    let clean = plan(&stack).await;
    assert!(clean.is_empty(), "{clean}");

    // An address subscribed by hand is unsubscribed.
    aws.sns
        .subscribe()
        .topic_arn(&topic)
        .protocol("email")
        .endpoint("someone-else@example.com")
        .send()
        .await
        .unwrap();
    let drift = plan(&stack).await;
    let change = drift
        .changes
        .iter()
        .find(|c| c.kind == "sns_topic")
        .unwrap();
    assert_eq!(change.action, Action::Update, "{drift}");
    assert_eq!(change.fields[0].path, "email_subscriptions");
    assert_eq!(
        change.fields[0].before,
        json!([env.alarms.emails[0].clone(), "someone-else@example.com"])
    );
    let repaired = deploy(&stack).await;
    assert_eq!(
        repaired.writes,
        vec![format!(
            "sns:Unsubscribe {} someone-else@example.com",
            env.alarm_topic_name()
        )]
    );
    let clean = plan(&stack).await;
    assert!(clean.is_empty(), "{clean}");

    // Destroy removes the alarms and the topic.
    stack
        .destroy(false, |_, _| {}, || Ok(()))
        .await
        .unwrap_or_else(|e| panic!("destroy failed: {e:#}"));
    let left = aws
        .cloudwatch
        .describe_alarms()
        .alarm_name_prefix(format!("{function}-"))
        .send()
        .await
        .unwrap();
    assert!(
        left.metric_alarms().is_empty(),
        "{:?}",
        left.metric_alarms()
    );
    let topic_left = aws
        .sns
        .get_topic_attributes()
        .topic_arn(&topic)
        .send()
        .await;
    assert!(topic_left.is_err(), "the topic survived destroy");
}
