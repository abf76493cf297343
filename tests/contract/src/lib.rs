//! Harness of the port contract suite: a fresh backend per test, embedded (SQLite in a temporary
//! directory) or AWS (moto server, every resource under a prefix of its own).
//!
//! A contract test is written once, as `async fn name(b: &Backend)`, and [`contract!`] runs it
//! on both backends as `embedded::name` and `aws::name`.
#![forbid(unsafe_code)]

pub mod sinks;

use std::sync::Arc;

use vigil_core::ports::ResourceNames;
use vigil_core::ports::{Cipher, Ports, Queue, QueueRole};
use vigil_embedded::EmbeddedBackend;

/// Receives before a message is dead-lettered: small, so dead-letter tests stay short.
pub const MAX_RECEIVES: u32 = 2;

/// Role the AWS scheduler would assume; moto accepts any well-formed ARN.
const SCHEDULER_ROLE_ARN: &str = "arn:aws:iam::123456789012:role/vigil-scheduler";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Embedded,
    Aws,
}

/// One deployment's ports on a backend no other test touches.
pub struct Backend {
    pub kind: Kind,
    pub names: ResourceNames,
    pub ports: Ports,
    outbox_dlq: Arc<dyn Queue>,
    workflows_dlq: Arc<dyn Queue>,
    /// Kept so the embedded database can be shut down, then its directory removed.
    embedded: Option<(EmbeddedBackend, tempfile::TempDir)>,
    /// The emulator and the deployment's resources (AWS side).
    aws: Option<(vigil_aws::SdkConfig, vigil_aws::AwsResources)>,
}

impl Backend {
    /// A fresh SQLite database in a temporary directory.
    pub async fn embedded() -> Self {
        let names = test_names();
        let dir = tempfile::tempdir().expect("temporary directory");
        let backend = // The product's routes, so the suite checks the routing the product runs with.
        EmbeddedBackend::open(dir.path(), &names, vigil_runtime::bus_routes())
            .expect("embedded backend opens");
        Self {
            kind: Kind::Embedded,
            ports: backend.ports(),
            outbox_dlq: backend.dead_letter_queue(QueueRole::Outbox),
            workflows_dlq: backend.dead_letter_queue(QueueRole::Workflows),
            names,
            embedded: Some((backend, dir)),
            aws: None,
        }
    }

    /// Fresh AWS resources on moto server (the one `VIGIL_TEST_AWS_ENDPOINT` names, or one
    /// started from `.venv/bin/moto_server`). A missing emulator fails the test.
    pub async fn aws() -> Self {
        let names = test_names();
        // Static test credentials, us-east-1, retries off, nothing from the host's AWS settings.
        let sdk = vigil_aws::testing::sdk_config().await;
        let resources = vigil_aws::bootstrap(
            &sdk,
            &names,
            &vigil_runtime::bus_routes(),
            SCHEDULER_ROLE_ARN,
        )
        .await
        .unwrap_or_else(|e| panic!("bootstrap of {} on moto: {e}", names.prefix));
        let backend = vigil_aws::AwsBackend::new(&sdk, resources.clone());
        Self {
            kind: Kind::Aws,
            ports: backend.ports(),
            outbox_dlq: backend.dead_letter_queue(QueueRole::Outbox),
            workflows_dlq: backend.dead_letter_queue(QueueRole::Workflows),
            names,
            embedded: None,
            aws: Some((sdk, resources)),
        }
    }

    pub fn dead_letter_queue(&self, role: QueueRole) -> &Arc<dyn Queue> {
        match role {
            QueueRole::Outbox => &self.outbox_dlq,
            QueueRole::Workflows => &self.workflows_dlq,
        }
    }

    /// The deployment's cipher as another process builds it (nothing cached, the same key).
    pub fn cipher_of_another_process(&self) -> Arc<dyn Cipher> {
        match (&self.embedded, &self.aws) {
            (Some((_, dir)), _) => Arc::new(
                vigil_embedded::AesGcmCipher::for_data_dir(dir.path(), None)
                    .expect("the data directory's key"),
            ),
            (None, Some((sdk, resources))) => Arc::new(vigil_aws::KmsCipher::new(
                aws_sdk_kms::Client::new(sdk),
                &resources.secrets_key,
            )),
            (None, None) => unreachable!("a backend is embedded or on AWS"),
        }
    }

    /// Ends the test: the embedded writer finishes and stops before its directory goes.
    pub async fn finish(self) {
        if let Some((backend, dir)) = self.embedded {
            backend.shutdown().await;
            drop(dir);
        }
    }
}

/// A prefix no other test uses: `t` and 12 random base-32 characters, so every derived name
/// (`<prefix>-workflows-dlq`, `<prefix>-events-to-workflows`) stays within AWS limits.
fn test_names() -> ResourceNames {
    let random = ulid::Ulid::new().to_string().to_lowercase();
    ResourceNames {
        max_receives: MAX_RECEIVES,
        ..ResourceNames::new(format!("t{}", &random[random.len() - 12..]))
    }
}

/// Runs each listed `async fn name(b: &Backend)` on both backends, as `embedded::name` and
/// `aws::name` (so `cargo test embedded::` or `cargo test aws::` picks one side).
///
/// The AWS runs of the concurrency tests need an emulator that applies each request atomically,
/// as DynamoDB does: `infra/test.sh` starts moto that way. A plain `moto_server` may lose one
/// of two concurrent writes to an item, and those tests then fail now and then.
#[macro_export]
macro_rules! contract {
    ($($name:ident),* $(,)?) => {
        mod embedded {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let backend = $crate::Backend::embedded().await;
                    super::$name(&backend).await;
                    backend.finish().await;
                }
            )*
        }
        mod aws {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let backend = $crate::Backend::aws().await;
                    super::$name(&backend).await;
                    backend.finish().await;
                }
            )*
        }
    };
}
