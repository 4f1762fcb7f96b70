//! The whole pipeline as code against moto_server and the real local
//! OpenSearch: deploy from nothing converges, a second deploy writes
//! nothing, out-of-band changes are found field by field and repaired,
//! destroy removes what xtask made, and the wrong account stops a deploy.

use crate::support;

use aws_sdk_lambda::primitives::Blob;
use serde_json::{Value, json};
use support::{fake_lambda_zip, root, test_stack_environment};
use xtask::deploy::aws::LambdaCode;
use xtask::deploy::plan::{Action, Plan};
use xtask::deploy::stack::Stack;
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

const KINDS: [&str; 8] = [
    "sqs_queue",
    "iam_role",
    "iam_role_policy",
    "cloudwatch_log_group",
    "lambda_function",
    "lambda_event_invoke_config",
    "lambda_permission",
    "cloudwatch_subscription_filter",
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
        changes: vec![xtask::deploy::plan::Change::between(
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
}
