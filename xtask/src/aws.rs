//! The AWS side of an environment: SDK clients configured for its account,
//! region and (locally) the emulator, with a log of every call that could
//! change something, so that a deploy can say, and a test can prove, which
//! writes it made.

use crate::env::Environment;
use anyhow::Context as _;
use aws_config::BehaviorVersion;
use aws_credential_types::Credentials;
use aws_smithy_runtime_api::client::result::SdkError;
use std::sync::{Arc, Mutex};

/// Every client the pipeline's resources need, for one environment.
#[derive(Clone, Debug)]
pub struct AwsClients {
    pub iam: aws_sdk_iam::Client,
    pub lambda: aws_sdk_lambda::Client,
    pub logs: aws_sdk_cloudwatchlogs::Client,
    pub sqs: aws_sdk_sqs::Client,
    pub sts: aws_sdk_sts::Client,
    pub opensearch: aws_sdk_opensearch::Client,
    pub sns: aws_sdk_sns::Client,
    pub cloudwatch: aws_sdk_cloudwatch::Client,
    /// Where the calls go, for messages (`AWS` or the emulator's URL).
    pub target: String,
    writes: Arc<Mutex<Vec<String>>>,
}

impl AwsClients {
    /// Clients for `env`: the default credential chain (environment, profile,
    /// SSO, web identity in CI); against an emulator (`aws.endpoint_url`)
    /// without credentials in the environment, fixed test credentials.
    pub async fn new(env: &Environment) -> anyhow::Result<Self> {
        env.ensure_filled_in("aws")?;
        let region = aws_config::Region::new(env.aws.region.clone());
        let mut loader = aws_config::defaults(BehaviorVersion::latest()).region(region);
        let target = match &env.aws.endpoint_url {
            Some(url) => {
                loader = loader.endpoint_url(url);
                if std::env::var_os("AWS_ACCESS_KEY_ID").is_none()
                    && std::env::var_os("AWS_PROFILE").is_none()
                {
                    loader = loader.credentials_provider(Credentials::new(
                        "testing", "testing", None, None, "emulator",
                    ));
                }
                format!("the AWS API emulator at {url}")
            }
            None => format!("AWS ({})", env.aws.region),
        };
        let config = loader.load().await;
        Ok(AwsClients {
            iam: aws_sdk_iam::Client::new(&config),
            lambda: aws_sdk_lambda::Client::new(&config),
            logs: aws_sdk_cloudwatchlogs::Client::new(&config),
            sqs: aws_sdk_sqs::Client::new(&config),
            sts: aws_sdk_sts::Client::new(&config),
            opensearch: aws_sdk_opensearch::Client::new(&config),
            sns: aws_sdk_sns::Client::new(&config),
            cloudwatch: aws_sdk_cloudwatch::Client::new(&config),
            target,
            writes: Arc::default(),
        })
    }

    /// Records a call that changes something (`lambda:UpdateFunctionCode x`).
    pub fn record_write(&self, call: impl Into<String>) {
        self.writes
            .lock()
            .expect("the call log is never poisoned")
            .push(call.into());
    }

    /// Sends a call that changes something: logged as `{call} {name}` in
    /// the write log before it is sent, and a failure names the call and
    /// `what` (see [`sdk_error`]). `request` is the SDK's `send()` (or a
    /// retry around it): it sends nothing until awaited here.
    pub async fn write<T, E, R>(
        &self,
        call: &str,
        name: &str,
        what: &str,
        request: impl Future<Output = Result<T, SdkError<E, R>>>,
    ) -> anyhow::Result<T>
    where
        E: std::error::Error + Send + Sync + 'static,
        R: std::fmt::Debug + Send + Sync + 'static,
    {
        self.record_write(format!("{call} {name}"));
        request.await.map_err(|e| sdk_error(call, what, e))
    }

    /// Every write call so far, in order.
    pub fn writes(&self) -> Vec<String> {
        self.writes
            .lock()
            .expect("the call log is never poisoned")
            .clone()
    }

    /// Fails unless the credentials belong to the environment's account:
    /// deploying prod's configuration into another account must stop
    /// before the first change.
    pub async fn check_account(&self, env: &Environment) -> anyhow::Result<()> {
        let identity = self
            .sts
            .get_caller_identity()
            .send()
            .await
            .map_err(|e| {
                let unreachable = matches!(
                    e,
                    SdkError::DispatchFailure(_) | SdkError::TimeoutError(_)
                );
                let err = sdk_error("sts:GetCallerIdentity", "the caller's account", e);
                match (&env.aws.endpoint_url, unreachable) {
                    (Some(url), true) => err.context(format!(
                        "the AWS API emulator at {url} does not answer: start it with `cargo xtask local up`"
                    )),
                    (None, true) => err.context(format!(
                        "AWS ({}) cannot be reached from here",
                        env.aws.region
                    )),
                    _ => err,
                }
            })?;
        let actual = identity.account().unwrap_or_default();
        if actual != env.aws.account_id {
            anyhow::bail!(
                "the AWS credentials belong to account {actual} ({}), but {} says `aws.account_id: \"{}\"`: nothing was changed. Use credentials for account {} or fix the environment file.",
                identity.arn().unwrap_or("unknown caller"),
                env.source.display(),
                env.aws.account_id,
                env.aws.account_id
            );
        }
        Ok(())
    }
}

/// Fills in the OpenSearch endpoint from the domain (DescribeDomain) when
/// the environment does not give one.
pub async fn resolve_opensearch_endpoint(
    env: &mut Environment,
    aws: &AwsClients,
) -> anyhow::Result<()> {
    if env.opensearch.endpoint.is_some() {
        return Ok(());
    }
    let domain = env.opensearch.domain.clone();
    let described = aws
        .opensearch
        .describe_domain()
        .domain_name(&domain)
        .send()
        .await
        .map_err(|e| {
            sdk_error(
                "es:DescribeDomain",
                &format!("OpenSearch domain `{domain}` (opensearch.domain)"),
                e,
            )
        })?;
    let status = described
        .domain_status()
        .context("DescribeDomain answered without a domain status")?;
    let endpoint = status
        .endpoint()
        .or_else(|| status.endpoints().and_then(|e| e.get("vpc").map(String::as_str)))
        .with_context(|| {
            format!(
                "OpenSearch domain `{domain}` has no endpoint yet (still being created?); set `opensearch.endpoint` in {} or wait",
                env.source.display()
            )
        })?;
    env.opensearch.endpoint = Some(if endpoint.starts_with("http") {
        endpoint.to_string()
    } else {
        format!("https://{endpoint}")
    });
    Ok(())
}

/// An error that names the call, the resource and the service's answer.
pub fn sdk_error<E, R>(call: &str, resource: &str, err: SdkError<E, R>) -> anyhow::Error
where
    E: std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    anyhow::anyhow!(
        "{call} on {resource} failed: {}",
        aws_sdk_iam::error::DisplayErrorContext(&err)
    )
}

/// Loads an environment whose OpenSearch endpoint is known: from the file,
/// or looked up from the domain through the AWS API. Not from async code.
pub fn load_with_endpoint(root: &std::path::Path, name: &str) -> anyhow::Result<Environment> {
    let mut env = Environment::load(root, name)?;
    if env.opensearch.endpoint.is_none() {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("starting the tokio runtime")?
            .block_on(async {
                let aws = AwsClients::new(&env).await?;
                resolve_opensearch_endpoint(&mut env, &aws).await
            })?;
    }
    Ok(env)
}
