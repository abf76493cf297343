//! Start-up and composition shared by every Lambda function and by the `vigil` binary: read the
//! typed configuration, choose the backend (embedded SQLite or AWS), wire the services ([`App`]),
//! name the functions and their scheduled jobs, set up tracing.
#![forbid(unsafe_code)]

pub mod app;
pub mod config;
pub mod deployment;
pub mod jobs;

use std::sync::Arc;

use vigil_aws::{AwsBackend, AwsResources};
use vigil_core::SystemClock;
use vigil_core::ports::notify::NoEmail;
use vigil_core::ports::{BusRoutes, EmailSender, Notifiers, Parameters, Ports, QueueRole};
#[cfg(feature = "embedded")]
use vigil_embedded::EmbeddedBackend;

pub use app::{App, AppSettings};
pub use config::{AiApiKey, Config, ConfigError, EmailConfig, LogFormat, StoreKind};

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("this build has no embedded store (a Lambda build): set VIGIL_STORE=aws")]
    NoEmbeddedStore,
    #[error("cannot open the embedded store in {dir}: {reason}")]
    Embedded { dir: String, reason: String },
    #[error("email: {0}")]
    Email(String),
    #[error("AI wording: {0}")]
    Ai(String),
    #[error(
        "cannot find the AWS resources named {prefix}-*: {reason} (run `vigil infra bootstrap` against this endpoint first)"
    )]
    AwsResources { prefix: String, reason: String },
}

/// The backend every port runs on.
#[derive(Clone)]
pub enum Backend {
    #[cfg(feature = "embedded")]
    Embedded(EmbeddedBackend),
    Aws(AwsBackend),
}

impl Backend {
    /// Opens the configured backend. On AWS, resources named in the environment are used as they
    /// are (no network call: what Lambda does); missing ones are looked up by name (local runs).
    pub async fn connect(config: &Config) -> Result<Self, StartError> {
        match config.store {
            #[cfg(not(feature = "embedded"))]
            StoreKind::Sqlite => Err(StartError::NoEmbeddedStore),
            #[cfg(feature = "embedded")]
            StoreKind::Sqlite => EmbeddedBackend::open_with_master_key(
                &config.data_dir,
                &config.resource_names,
                bus_routes(),
                config.master_key.as_deref(),
            )
            .map(Backend::Embedded)
            .map_err(|e| StartError::Embedded {
                dir: config.data_dir.display().to_string(),
                reason: e.to_string(),
            }),
            StoreKind::Aws => {
                let sdk = vigil_aws::load_sdk_config(true).await;
                let resources = match config.aws_resources() {
                    Some(resources) => resources,
                    None => resolve(&sdk, config).await?,
                };
                Ok(Backend::Aws(AwsBackend::new(&sdk, resources)))
            }
        }
    }

    pub fn ports(&self) -> Ports {
        match self {
            #[cfg(feature = "embedded")]
            Backend::Embedded(b) => b.ports(),
            Backend::Aws(b) => b.ports(),
        }
    }

    pub fn dead_letter_queue(&self, role: QueueRole) -> Arc<dyn vigil_core::ports::Queue> {
        match self {
            #[cfg(feature = "embedded")]
            Backend::Embedded(b) => b.dead_letter_queue(role),
            Backend::Aws(b) => b.dead_letter_queue(role),
        }
    }

    /// Finishes pending writes (embedded) before the process exits.
    pub async fn shutdown(&self) {
        #[cfg(feature = "embedded")]
        if let Backend::Embedded(b) = self {
            b.shutdown().await;
        }
    }
}

/// Where the bus sends events: the types workflows act on go to the workflow queue (the
/// embedded bus routes them itself; on AWS, `vigil_aws::bootstrap` makes the rule from them).
pub fn bus_routes() -> BusRoutes {
    BusRoutes::to_workflow_queue(vigil_core::workflows::messages::routed_detail_types())
}

async fn resolve(sdk: &vigil_aws::SdkConfig, config: &Config) -> Result<AwsResources, StartError> {
    vigil_aws::resolve(sdk, &config.resource_names, &config.scheduler_role_arn)
        .await
        .map_err(|e| StartError::AwsResources {
            prefix: config.resource_names.prefix.clone(),
            reason: e.to_string(),
        })
}

/// Builds the application on a connected backend.
pub fn build_app(config: &Config, backend: &Backend) -> Result<Arc<App>, StartError> {
    build(config, backend, Arc::new(SystemClock), None)
}

/// The same, reading the parameters the configuration names (the AI key's SSM parameter)
/// with `parameters`: only the functions that word text pass [`ssm_parameters`], so the others
/// do not link the SSM client.
pub fn build_app_reading(
    config: &Config,
    backend: &Backend,
    parameters: ParameterReader,
) -> Result<Arc<App>, StartError> {
    build(config, backend, Arc::new(SystemClock), parameters(backend))
}

/// How a function reads parameters, given its backend (none: that backend has no such store).
pub type ParameterReader = fn(&Backend) -> Option<Arc<dyn Parameters>>;

/// SSM Parameter Store, on AWS.
pub fn ssm_parameters(backend: &Backend) -> Option<Arc<dyn Parameters>> {
    match backend {
        Backend::Aws(aws) => Some(Arc::new(vigil_aws::SsmParameters::new(aws.sdk_config()))),
        #[cfg(feature = "embedded")]
        Backend::Embedded(_) => None,
    }
}

/// With another clock (tests that move time); parameters are read as `vigil serve` reads them.
pub fn build_app_with_clock(
    config: &Config,
    backend: &Backend,
    clock: Arc<dyn vigil_core::Clock>,
) -> Result<Arc<App>, StartError> {
    build(config, backend, clock, ssm_parameters(backend))
}

fn build(
    config: &Config,
    backend: &Backend,
    clock: Arc<dyn vigil_core::Clock>,
    parameters: Option<Arc<dyn Parameters>>,
) -> Result<Arc<App>, StartError> {
    Ok(Arc::new(App::new(
        backend.ports(),
        notifiers(config, backend, parameters)?,
        clock,
        config.app_settings(),
    )))
}

/// The ways out: one HTTP client for Slack and webhooks, the configured email sender, and the
/// AI model for summary wording when one is configured.
fn notifiers(
    config: &Config,
    backend: &Backend,
    parameters: Option<Arc<dyn Parameters>>,
) -> Result<Notifiers, StartError> {
    let email: Arc<dyn EmailSender> = match &config.email {
        EmailConfig::Disabled => Arc::new(NoEmail),
        #[cfg(feature = "embedded")]
        EmailConfig::Smtp { url, from } => Arc::new(
            vigil_notify::SmtpEmailSender::new(url, from)
                .map_err(|e| StartError::Email(e.to_string()))?,
        ),
        #[cfg(not(feature = "embedded"))]
        EmailConfig::Smtp { .. } => {
            return Err(StartError::Email(
                "this build sends email through SES only: set VIGIL_EMAIL=ses".into(),
            ));
        }
        EmailConfig::Ses { from } => match backend {
            Backend::Aws(aws) => Arc::new(vigil_aws::SesEmailSender::new(aws.sdk_config(), from)),
            #[cfg(feature = "embedded")]
            Backend::Embedded(_) => {
                return Err(StartError::Email(
                    "VIGIL_EMAIL=ses needs VIGIL_STORE=aws; use VIGIL_SMTP_URL locally".into(),
                ));
            }
        },
    };
    let wording: Option<Arc<dyn vigil_core::ports::wording::Wording>> = match &config.ai {
        None => None,
        Some(ai) => Some(Arc::new(
            vigil_notify::OpenAiWording::new(
                &ai.base_url,
                &ai.model,
                ai_key(ai.api_key.as_ref(), backend, parameters)?,
                Some(ai.timeout),
            )
            .map_err(|e| StartError::Ai(e.to_string()))?,
        )),
    };
    Ok(Notifiers {
        http: Arc::new(
            vigil_notify::ReqwestHttpSender::new(config.egress.clone())
                .map_err(|e| StartError::Email(e.to_string()))?,
        ),
        email,
        wording,
    })
}

/// The AI model's key as the wording asks with it. A parameter is read with `parameters`; a
/// function that reads none (it never words text) answers each wording with why.
fn ai_key(
    key: Option<&AiApiKey>,
    backend: &Backend,
    parameters: Option<Arc<dyn Parameters>>,
) -> Result<vigil_notify::AiKey, StartError> {
    use vigil_notify::AiKey;
    Ok(match (key, parameters) {
        (None, _) => AiKey::None,
        (Some(AiApiKey::Value(key)), _) => AiKey::Fixed(key.expose().to_owned()),
        (Some(AiApiKey::Parameter(name)), Some(parameters)) => AiKey::Parameter(
            vigil_core::ports::CachedParameter::new(parameters, name.clone()),
        ),
        (Some(AiApiKey::Parameter(name)), None) => match backend {
            Backend::Aws(_) => AiKey::Unreadable(format!(
                "this function does not read parameters; {name} is read where summaries and drafts are worded"
            )),
            #[cfg(feature = "embedded")]
            Backend::Embedded(_) => {
                return Err(StartError::Ai(
                    "VIGIL_AI_API_KEY_SSM needs VIGIL_STORE=aws; use VIGIL_AI_API_KEY locally"
                        .into(),
                ));
            }
        },
    })
}

/// Logs to stderr: JSON in Lambda (CloudWatch), text locally. `VIGIL_LOG` filters.
pub fn init_tracing(config: &Config) {
    let filter = tracing_subscriber::EnvFilter::try_new(&config.log_filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let result = match config.log_format {
        LogFormat::Json => builder.json().with_current_span(false).try_init(),
        LogFormat::Text => builder.compact().try_init(),
    };
    // A second init (tests, or the CLI calling twice) keeps the first subscriber.
    drop(result);
}
