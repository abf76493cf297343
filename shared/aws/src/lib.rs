//! AWS adapters for every port: DynamoDB, SQS, EventBridge, EventBridge Scheduler.
//!
//! [`AwsBackend`] wires one deployment's resources ([`AwsResources`]) to the ports. In Lambda the
//! resources come from the environment, so building the backend makes no network call;
//! [`bootstrap`] creates them (emulator, dev accounts) and [`resolve`] looks them up by name.
#![forbid(unsafe_code)]
#![cfg_attr(test, allow(clippy::unwrap_used))]

mod bus;
mod cipher;
mod email;
#[cfg(test)]
mod emulator_tests;
mod error;
mod infra;
mod parameters;
mod queue;
mod scheduler;
mod store;
#[cfg(any(test, feature = "testing"))]
pub mod testing;

use std::sync::Arc;

use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use vigil_core::ports::ResourceNames;
use vigil_core::ports::{Ports, Queue, QueueRole, SequentialAnnouncer, UnknownLiveness};

pub use aws_config::SdkConfig;
pub use bus::EventBridgeBus;
pub use cipher::KmsCipher;
pub use email::SesEmailSender;
pub use error::AwsError;
pub use infra::{bootstrap, resolve};
pub use parameters::SsmParameters;
pub use queue::SqsQueue;
pub use scheduler::EventBridgeScheduler;
pub use store::DynamoStore;

/// Every resource a deployment uses. In Lambda all of these come from environment variables
/// set by template.yaml (no network call at start-up).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsResources {
    pub names: ResourceNames,
    pub table: String,
    pub outbox_queue_url: String,
    pub outbox_dlq_url: String,
    pub workflow_queue_url: String,
    pub workflow_dlq_url: String,
    pub outbox_queue_arn: String,
    pub workflow_queue_arn: String,
    pub event_bus: String,
    pub schedule_group: String,
    pub scheduler_role_arn: String,
    /// The KMS key stored secrets are sealed under: id, ARN or alias.
    pub secrets_key: String,
}

/// The AWS backend of one deployment: every port on its own AWS service.
#[derive(Clone)]
pub struct AwsBackend {
    inner: Arc<Inner>,
}

struct Inner {
    sdk: SdkConfig,
    resources: AwsResources,
    store: Arc<DynamoStore>,
    outbox: Arc<SqsQueue>,
    workflows: Arc<SqsQueue>,
    outbox_dlq: Arc<SqsQueue>,
    workflows_dlq: Arc<SqsQueue>,
    bus: Arc<EventBridgeBus>,
    scheduler: Arc<EventBridgeScheduler>,
    liveness: Arc<UnknownLiveness>,
    cipher: Arc<KmsCipher>,
}

impl AwsBackend {
    /// Builds the clients; makes no network call.
    pub fn new(sdk: &SdkConfig, resources: AwsResources) -> Self {
        let dynamodb = aws_sdk_dynamodb::Client::new(sdk);
        let sqs = aws_sdk_sqs::Client::new(sdk);
        let events = aws_sdk_eventbridge::Client::new(sdk);
        let scheduler = aws_sdk_scheduler::Client::new(sdk);
        let kms = aws_sdk_kms::Client::new(sdk);
        let queue = |url: &str| Arc::new(SqsQueue::new(sqs.clone(), url));
        let r = &resources;
        let inner = Inner {
            store: Arc::new(DynamoStore::new(dynamodb, &r.table)),
            outbox: queue(&r.outbox_queue_url),
            workflows: queue(&r.workflow_queue_url),
            outbox_dlq: queue(&r.outbox_dlq_url),
            workflows_dlq: queue(&r.workflow_dlq_url),
            liveness: Arc::new(UnknownLiveness::new()),
            bus: Arc::new(EventBridgeBus::new(events, &r.event_bus)),
            scheduler: Arc::new(EventBridgeScheduler::new(
                scheduler,
                &r.schedule_group,
                &r.scheduler_role_arn,
                &r.outbox_queue_arn,
                &r.workflow_queue_arn,
            )),
            cipher: Arc::new(KmsCipher::new(kms, &r.secrets_key)),
            resources,
            sdk: sdk.clone(),
        };
        Self {
            inner: Arc::new(inner),
        }
    }

    /// The deployment's ports: DynamoDB table, outbox and workflow queues (each redriven to its
    /// DLQ after `names.max_receives` receives), bus (its rule sends every Vigil event to the
    /// workflow queue), scheduler (schedules in the deployment's group, targeting the queues).
    pub fn ports(&self) -> Ports {
        let inner = &self.inner;
        Ports {
            store: inner.store.clone(),
            outbox: inner.outbox.clone(),
            outbox_dead_letters: inner.outbox_dlq.clone(),
            workflow_queue: inner.workflows.clone(),
            bus: inner.bus.clone(),
            scheduler: inner.scheduler.clone(),
            announcer: Arc::new(SequentialAnnouncer {
                store: inner.store.clone(),
                bus: inner.bus.clone(),
                outbox: inner.outbox.clone(),
                workflow_queue: inner.workflows.clone(),
            }),
            liveness: inner.liveness.clone(),
            cipher: inner.cipher.clone(),
        }
    }

    pub fn dead_letter_queue(&self, role: QueueRole) -> Arc<dyn Queue> {
        match role {
            QueueRole::Outbox => self.inner.outbox_dlq.clone(),
            QueueRole::Workflows => self.inner.workflows_dlq.clone(),
        }
    }

    /// The SDK configuration the clients were built with (for clients outside the ports).
    pub fn sdk_config(&self) -> &SdkConfig {
        &self.inner.sdk
    }

    pub fn resources(&self) -> &AwsResources {
        &self.inner.resources
    }
}

/// Loads the SDK config from the environment (honours AWS_ENDPOINT_URL, AWS_REGION, default
/// credential chain). `retries: false` turns SDK retries off (tests).
pub async fn load_sdk_config(retries: bool) -> SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest());
    if !retries {
        loader = loader.retry_config(RetryConfig::disabled());
    }
    loader.load().await
}
