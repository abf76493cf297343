//! One typed configuration, read from environment variables (names in `template.yaml` and the
//! README's configuration reference) and validated at start with an error naming the variable.

use std::num::NonZeroU32;
use std::path::PathBuf;
use std::time::Duration;

use crate::app::AppSettings;
use vigil_aws::AwsResources;
use vigil_core::delivery::dispatcher::DELIVERY_DEADLINE;
use vigil_core::delivery::dispatcher::{DEFAULT_EMAIL_DAILY_QUOTA, DeliverySettings};
use vigil_core::delivery::retry::{RetryPolicy, parse_schedule};
use vigil_core::egress::EgressPolicy;
use vigil_core::ingest::IngestSettings;
use vigil_core::ports::ResourceNames;
use vigil_core::ports::cipher::DataKey;
use vigil_core::rate::Rate;
use vigil_core::secret::Secret;
use vigil_core::workflows::WorkflowSettings;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreKind {
    /// The embedded SQLite store in the data dir.
    Sqlite,
    /// DynamoDB, SQS, EventBridge and EventBridge Scheduler.
    Aws,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{variable}: {problem}")]
pub struct ConfigError {
    pub variable: &'static str,
    pub problem: String,
}

/// Every setting, with defaults for local use.
#[derive(Debug, Clone)]
pub struct Config {
    pub store: StoreKind,
    pub data_dir: PathBuf,
    pub resource_names: ResourceNames,
    pub max_body_bytes: usize,
    pub credentials_cache: Duration,
    pub raw_retention_days: i64,
    /// Each tenant's hook requests (token bucket shared by every instance).
    pub ingest_rate: Rate,
    pub log_filter: String,
    pub log_format: LogFormat,
    pub scheduler_role_arn: String,
    /// AWS resources given one by one (Lambda); when any is missing they are looked up by name.
    pub aws: AwsResourceVars,
    pub delivery: DeliverySettings,
    pub email: EmailConfig,
    pub summary_hour: u32,
    pub workflows: WorkflowSettings,
    /// The OpenAI-compatible endpoint that may reword summaries (`None`: deterministic only).
    pub ai: Option<AiConfig>,
    /// `VIGIL_EGRESS_ALLOW`: local and private targets outbound calls may reach anyway.
    pub egress: EgressPolicy,
    /// `VIGIL_MASTER_KEY` (embedded store): the base64 key stored secrets are sealed with,
    /// instead of the key file in the data directory.
    pub master_key: Option<Secret>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AiConfig {
    pub base_url: String,
    pub model: String,
    pub api_key: Option<AiApiKey>,
    pub timeout: Duration,
}

/// Where the AI model's API key comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AiApiKey {
    /// `VIGIL_AI_API_KEY`: the key itself.
    Value(Secret),
    /// `VIGIL_AI_API_KEY_SSM`: the name of the SSM SecureString holding it (what the template
    /// sets on AWS), read on first use and again when the model refuses it.
    Parameter(String),
}

/// How email channels send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EmailConfig {
    /// Email channels fail with "email is not configured".
    Disabled,
    /// SES v2 from this address (the default on AWS when `VIGIL_EMAIL_FROM` is set).
    Ses { from: String },
    /// SMTP (`smtp://host:port`, `smtps://…`, `smtp+starttls://…`) from this address.
    Smtp { url: String, from: String },
}

#[derive(Debug, Clone, Default)]
pub struct AwsResourceVars {
    pub table: Option<String>,
    pub outbox_queue_url: Option<String>,
    pub outbox_dlq_url: Option<String>,
    pub workflow_queue_url: Option<String>,
    pub workflow_dlq_url: Option<String>,
    pub outbox_queue_arn: Option<String>,
    pub workflow_queue_arn: Option<String>,
    pub event_bus: Option<String>,
    pub schedule_group: Option<String>,
    /// The KMS key secrets are sealed under (default: the alias `alias/<prefix>-secrets`).
    pub secrets_key: Option<String>,
}

/// Where configuration values come from: the process environment, or a map in tests.
pub trait Source {
    fn get(&self, name: &str) -> Option<String>;
}

pub struct Environment;

impl Source for Environment {
    fn get(&self, name: &str) -> Option<String> {
        std::env::var(name).ok().filter(|v| !v.is_empty())
    }
}

impl<const N: usize> Source for [(&str, &str); N] {
    fn get(&self, name: &str) -> Option<String> {
        self.iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.to_string())
    }
}

fn parse<T: std::str::FromStr>(
    source: &dyn Source,
    variable: &'static str,
    default: T,
) -> Result<T, ConfigError> {
    match source.get(variable) {
        None => Ok(default),
        Some(text) => text.trim().parse().map_err(|_| ConfigError {
            variable,
            problem: format!("{text:?} is not a valid value"),
        }),
    }
}

/// A whole number of at least 1.
fn parse_positive(
    source: &dyn Source,
    variable: &'static str,
    default: u32,
) -> Result<NonZeroU32, ConfigError> {
    NonZeroU32::new(parse(source, variable, default)?).ok_or_else(|| ConfigError {
        variable,
        problem: "must be at least 1".into(),
    })
}

/// One of a few words (the default when unset).
fn choice<T: Copy>(
    source: &dyn Source,
    variable: &'static str,
    default: T,
    words: &[(&str, T)],
) -> Result<T, ConfigError> {
    let Some(text) = source.get(variable) else {
        return Ok(default);
    };
    words
        .iter()
        .find(|(word, _)| *word == text)
        .map(|(_, value)| *value)
        .ok_or_else(|| {
            let known: Vec<&str> = words.iter().map(|(word, _)| *word).collect();
            ConfigError {
                variable,
                problem: format!("{text:?} is not one of {}", known.join(", ")),
            }
        })
}

/// A number within `range`; `problem` says which.
fn parse_within<T: std::str::FromStr + PartialOrd>(
    source: &dyn Source,
    variable: &'static str,
    default: T,
    range: std::ops::RangeInclusive<T>,
    problem: &str,
) -> Result<T, ConfigError> {
    let value = parse(source, variable, default)?;
    if range.contains(&value) {
        Ok(value)
    } else {
        Err(ConfigError {
            variable,
            problem: problem.into(),
        })
    }
}

/// An http(s) URL, when set.
fn http_url(
    source: &dyn Source,
    variable: &'static str,
    problem: &str,
) -> Result<Option<String>, ConfigError> {
    match source.get(variable) {
        Some(url) if !(url.starts_with("https://") || url.starts_with("http://")) => {
            Err(ConfigError {
                variable,
                problem: problem.into(),
            })
        }
        url => Ok(url),
    }
}

/// The prefix every resource name starts with.
fn resource_prefix(source: &dyn Source) -> Result<String, ConfigError> {
    let prefix = source
        .get("VIGIL_RESOURCE_PREFIX")
        .unwrap_or_else(|| "vigil".into());
    let prefix_ok = !prefix.is_empty()
        && prefix.len() <= 32
        && prefix
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-');
    if prefix_ok {
        Ok(prefix)
    } else {
        Err(ConfigError {
            variable: "VIGIL_RESOURCE_PREFIX",
            problem: "use 1–32 letters, digits or '-'".into(),
        })
    }
}

/// The AI model that words summaries, when one is configured.
fn ai_config(source: &dyn Source) -> Result<Option<AiConfig>, ConfigError> {
    let Some(base_url) = http_url(
        source,
        "VIGIL_AI_BASE_URL",
        "must be an http(s) URL such as https://api.openai.com/v1",
    )?
    else {
        return Ok(None);
    };
    Ok(Some(AiConfig {
        base_url,
        model: source
            .get("VIGIL_AI_MODEL")
            .unwrap_or_else(|| "gpt-4o-mini".into()),
        api_key: ai_api_key(source)?,
        timeout: Duration::from_millis(parse(source, "VIGIL_AI_TIMEOUT_MS", 20_000u64)?),
    }))
}

fn ai_api_key(source: &dyn Source) -> Result<Option<AiApiKey>, ConfigError> {
    let given = |name| source.get(name).filter(|v: &String| !v.trim().is_empty());
    match (given("VIGIL_AI_API_KEY"), given("VIGIL_AI_API_KEY_SSM")) {
        (Some(_), Some(_)) => Err(ConfigError {
            variable: "VIGIL_AI_API_KEY_SSM",
            problem: "set either VIGIL_AI_API_KEY or VIGIL_AI_API_KEY_SSM, not both".into(),
        }),
        (Some(key), None) => Ok(Some(AiApiKey::Value(Secret::from(key)))),
        (None, Some(name)) if name.len() > 2048 => Err(ConfigError {
            variable: "VIGIL_AI_API_KEY_SSM",
            problem: "a parameter name is at most 2048 characters".into(),
        }),
        (None, Some(name)) => Ok(Some(AiApiKey::Parameter(name.trim().to_owned()))),
        (None, None) => Ok(None),
    }
}

/// What outbound calls may reach besides the public internet.
fn egress_policy(source: &dyn Source) -> Result<EgressPolicy, ConfigError> {
    EgressPolicy::parse(&source.get("VIGIL_EGRESS_ALLOW").unwrap_or_default()).map_err(|e| {
        ConfigError {
            variable: "VIGIL_EGRESS_ALLOW",
            problem: e.to_string(),
        }
    })
}

/// The role EventBridge Scheduler assumes; locally a placeholder account's, as emulators accept.
fn scheduler_role_arn(source: &dyn Source, prefix: &str) -> String {
    source
        .get("VIGIL_SCHEDULER_ROLE_ARN")
        .unwrap_or_else(|| format!("arn:aws:iam::123456789012:role/{prefix}-scheduler"))
}

/// The key secrets are sealed under on the embedded store, checked to be one.
fn master_key(source: &dyn Source) -> Result<Option<Secret>, ConfigError> {
    let Some(text) = source.get("VIGIL_MASTER_KEY") else {
        return Ok(None);
    };
    DataKey::decode_base64(&text).map_err(|e| ConfigError {
        variable: "VIGIL_MASTER_KEY",
        problem: e.to_string(),
    })?;
    Ok(Some(Secret::new(text)))
}

impl AwsResourceVars {
    fn from_source(source: &dyn Source) -> Self {
        Self {
            table: source.get("VIGIL_TABLE_NAME"),
            outbox_queue_url: source.get("VIGIL_OUTBOX_QUEUE_URL"),
            outbox_dlq_url: source.get("VIGIL_OUTBOX_DLQ_URL"),
            workflow_queue_url: source.get("VIGIL_WORKFLOW_QUEUE_URL"),
            workflow_dlq_url: source.get("VIGIL_WORKFLOW_DLQ_URL"),
            outbox_queue_arn: source.get("VIGIL_OUTBOX_QUEUE_ARN"),
            workflow_queue_arn: source.get("VIGIL_WORKFLOW_QUEUE_ARN"),
            event_bus: source.get("VIGIL_EVENT_BUS_NAME"),
            schedule_group: source.get("VIGIL_SCHEDULE_GROUP"),
            secrets_key: source.get("VIGIL_KMS_KEY_ID"),
        }
    }
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_source(&Environment)
    }

    pub fn from_source(source: &dyn Source) -> Result<Self, ConfigError> {
        let store = choice(
            source,
            "VIGIL_STORE",
            StoreKind::Sqlite,
            &[("sqlite", StoreKind::Sqlite), ("aws", StoreKind::Aws)],
        )?;
        let prefix = resource_prefix(source)?;
        let max_body_bytes = parse_within(
            source,
            "VIGIL_MAX_BODY_BYTES",
            256 * 1024usize,
            1024..=10 * 1024 * 1024,
            "must be between 1024 and 10485760",
        )?;
        let log_format = choice(
            source,
            "VIGIL_LOG_FORMAT",
            LogFormat::Text,
            &[("text", LogFormat::Text), ("json", LogFormat::Json)],
        )?;
        let raw_retention_days = parse_within(
            source,
            "VIGIL_RAW_RETENTION_DAYS",
            30i64,
            1..=3650,
            "must be between 1 and 3650",
        )?;
        let delivery = delivery_settings(source)?;
        let summary_hour = parse_within(
            source,
            "VIGIL_SUMMARY_HOUR",
            8u32,
            0..=23,
            "must be an hour from 0 to 23 (UTC)",
        )?;
        let ai = ai_config(source)?;
        let email = email_config(source, store)?;
        let workflows = WorkflowSettings {
            runs_per_minute: parse_positive(source, "VIGIL_WORKFLOW_RUNS_PER_MINUTE", 6_000)?,
            loop_bound: parse_positive(source, "VIGIL_WORKFLOW_LOOP_BOUND", 5)?.get(),
        };
        let ingest_rate = Rate::per_second(
            parse_positive(source, "VIGIL_INGEST_RATE_PER_SECOND", 50_000)?,
            parse_positive(source, "VIGIL_INGEST_BURST", 100_000)?,
        );
        let egress = egress_policy(source)?;
        let master_key = master_key(source)?;
        Ok(Config {
            store,
            data_dir: source
                .get("VIGIL_DATA_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from(".vigil")),
            scheduler_role_arn: scheduler_role_arn(source, &prefix),
            resource_names: ResourceNames::new(prefix),
            max_body_bytes,
            credentials_cache: Duration::from_secs(parse(
                source,
                "VIGIL_CREDENTIALS_CACHE_SECONDS",
                30u64,
            )?),
            raw_retention_days,
            ingest_rate,
            log_filter: source.get("VIGIL_LOG").unwrap_or_else(|| "info".into()),
            log_format,
            aws: AwsResourceVars::from_source(source),
            delivery,
            email,
            summary_hour,
            workflows,
            ai,
            egress,
            master_key,
        })
    }

    /// The AWS resources when every one is named in the environment.
    pub fn aws_resources(&self) -> Option<AwsResources> {
        let v = &self.aws;
        Some(AwsResources {
            names: self.resource_names.clone(),
            table: v.table.clone()?,
            outbox_queue_url: v.outbox_queue_url.clone()?,
            outbox_dlq_url: v.outbox_dlq_url.clone()?,
            workflow_queue_url: v.workflow_queue_url.clone()?,
            workflow_dlq_url: v.workflow_dlq_url.clone()?,
            outbox_queue_arn: v.outbox_queue_arn.clone()?,
            workflow_queue_arn: v.workflow_queue_arn.clone()?,
            event_bus: v.event_bus.clone()?,
            schedule_group: v.schedule_group.clone()?,
            scheduler_role_arn: self.scheduler_role_arn.clone(),
            secrets_key: v
                .secrets_key
                .clone()
                .unwrap_or_else(|| self.resource_names.secrets_key_alias()),
        })
    }

    pub fn app_settings(&self) -> AppSettings {
        AppSettings {
            max_body_bytes: self.max_body_bytes,
            credentials_ttl: self.credentials_cache,
            ingest: IngestSettings {
                retention: chrono::Duration::days(self.raw_retention_days),
                rate: self.ingest_rate,
            },
            delivery: self.delivery.clone(),
            summary_hour: self.summary_hour,
            workflows: self.workflows.clone(),
            egress: self.egress.clone(),
        }
    }
}

fn delivery_settings(source: &dyn Source) -> Result<DeliverySettings, ConfigError> {
    let defaults = RetryPolicy::default();
    let schedule = match source.get("VIGIL_RETRY_SCHEDULE") {
        None => defaults.schedule,
        Some(text) => parse_schedule(&text).map_err(|e| ConfigError {
            variable: "VIGIL_RETRY_SCHEDULE",
            problem: e.to_string(),
        })?,
    };
    let max_attempts = parse(source, "VIGIL_MAX_ATTEMPTS", defaults.max_attempts)?;
    let retry = RetryPolicy::new(schedule, max_attempts).map_err(|e| ConfigError {
        variable: "VIGIL_MAX_ATTEMPTS",
        problem: e.to_string(),
    })?;
    let force_fail = choice(
        source,
        "VIGIL_DISPATCH_FORCE_FAIL",
        false,
        &[("0", false), ("1", true), ("true", true), ("false", false)],
    )?;
    let public_url = http_url(source, "VIGIL_PUBLIC_URL", "must be an http(s) URL")?;
    let deadline = match source.get("VIGIL_DELIVERY_DEADLINE_SECONDS") {
        None => DELIVERY_DEADLINE,
        Some(text) => match text.trim().parse::<u64>() {
            Ok(seconds) if (1..=DELIVERY_DEADLINE.as_secs()).contains(&seconds) => {
                Duration::from_secs(seconds)
            }
            _ => {
                return Err(ConfigError {
                    variable: "VIGIL_DELIVERY_DEADLINE_SECONDS",
                    problem: format!(
                        "{text:?} is not a whole number of seconds from 1 to {}",
                        DELIVERY_DEADLINE.as_secs()
                    ),
                });
            }
        },
    };
    Ok(DeliverySettings {
        retry,
        deadline,
        force_fail,
        public_url,
        email_daily_quota: parse_positive(
            source,
            "VIGIL_EMAIL_DAILY_QUOTA",
            DEFAULT_EMAIL_DAILY_QUOTA.get(),
        )?,
    })
}

fn email_config(source: &dyn Source, store: StoreKind) -> Result<EmailConfig, ConfigError> {
    let from = source.get("VIGIL_EMAIL_FROM");
    let smtp = source.get("VIGIL_SMTP_URL");
    let mode = source.get("VIGIL_EMAIL");
    let need_from = |from: Option<String>| {
        from.ok_or(ConfigError {
            variable: "VIGIL_EMAIL_FROM",
            problem: "email needs a sender address".into(),
        })
    };
    match mode.as_deref() {
        Some("none") => Ok(EmailConfig::Disabled),
        Some("ses") => Ok(EmailConfig::Ses {
            from: need_from(from)?,
        }),
        Some("smtp") => Ok(EmailConfig::Smtp {
            url: smtp.ok_or(ConfigError {
                variable: "VIGIL_SMTP_URL",
                problem: "VIGIL_EMAIL=smtp needs an SMTP URL".into(),
            })?,
            from: need_from(from)?,
        }),
        Some(other) => Err(ConfigError {
            variable: "VIGIL_EMAIL",
            problem: format!("{other:?} is not one of none, ses, smtp"),
        }),
        // Unset: SMTP when a URL is given, SES on AWS when a sender is given, else none.
        None => match (smtp, from, store) {
            (Some(url), from, _) => Ok(EmailConfig::Smtp {
                url,
                from: from.unwrap_or_else(|| "vigil@localhost".into()),
            }),
            (None, Some(from), StoreKind::Aws) => Ok(EmailConfig::Ses { from }),
            _ => Ok(EmailConfig::Disabled),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_run_locally_on_sqlite() {
        let config = Config::from_source(&[("UNRELATED", "x")]).unwrap();
        assert_eq!(config.store, StoreKind::Sqlite);
        assert_eq!(config.data_dir, PathBuf::from(".vigil"));
        assert_eq!(config.max_body_bytes, 256 * 1024);
        assert!(config.aws_resources().is_none());
        assert_eq!(config.egress, EgressPolicy::default());
    }

    #[test]
    fn the_ai_key_is_given_or_named_as_a_parameter_not_both() {
        const URL: (&str, &str) = ("VIGIL_AI_BASE_URL", "https://models.example.com/v1");
        let key = |source: &dyn Source| {
            Config::from_source(source).map(|c| c.ai.and_then(|ai| ai.api_key))
        };
        assert_eq!(
            key(&[URL, ("VIGIL_AI_API_KEY_SSM", "/vigil/ai-key")]),
            Ok(Some(AiApiKey::Parameter("/vigil/ai-key".into())))
        );
        assert_eq!(
            key(&[
                URL,
                ("VIGIL_AI_API_KEY", "sk-1"),
                ("VIGIL_AI_API_KEY_SSM", "")
            ]),
            Ok(Some(AiApiKey::Value(Secret::from("sk-1"))))
        );
        assert_eq!(key(&[URL]), Ok(None));
        let both = key(&[
            URL,
            ("VIGIL_AI_API_KEY", "sk-1"),
            ("VIGIL_AI_API_KEY_SSM", "/k"),
        ]);
        assert_eq!(both.err().map(|e| e.variable), Some("VIGIL_AI_API_KEY_SSM"));
    }

    #[test]
    fn bad_values_name_their_variable() {
        let cases: [(&str, &str); 13] = [
            ("VIGIL_MASTER_KEY", "not base64!"),
            ("VIGIL_MASTER_KEY", "c2hvcnQ="),
            ("VIGIL_EGRESS_ALLOW", "127.0.0.0/33"),
            ("VIGIL_EGRESS_ALLOW", "10.0.0.0/8, not a host"),
            ("VIGIL_RETRY_SCHEDULE", "1s,soon"),
            ("VIGIL_MAX_ATTEMPTS", "0"),
            ("VIGIL_DISPATCH_FORCE_FAIL", "yes"),
            ("VIGIL_EMAIL", "pigeon"),
            ("VIGIL_STORE", "postgres"),
            ("VIGIL_MAX_BODY_BYTES", "lots"),
            ("VIGIL_MAX_BODY_BYTES", "10"),
            ("VIGIL_LOG_FORMAT", "xml"),
            ("VIGIL_RESOURCE_PREFIX", "has space"),
        ];
        for (variable, value) in cases {
            let err = Config::from_source(&[(variable, value)]).unwrap_err();
            assert_eq!(err.variable, variable);
        }
    }
}
