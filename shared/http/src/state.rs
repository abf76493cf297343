//! What each HTTP function's routes use, taken from the wired services: the admin API reaches
//! most of Vigil, the ingest function its ingest service alone (so it builds nothing else).

use std::sync::Arc;

use vigil_core::Clock;
use vigil_core::anomaly::AnomalyService;
use vigil_core::automation_runs::RunService;
use vigil_core::delivery::channels::ChannelService;
use vigil_core::delivery::dead_letters::DeadLetterService;
use vigil_core::delivery::dispatcher::Dispatcher;
use vigil_core::delivery::inbox::InboxService;
use vigil_core::delivery::outbox::OutboxService;
use vigil_core::delivery::routing::RoutingService;
use vigil_core::ingest::IngestService;
use vigil_core::ports::ItemStore;
use vigil_core::reports::ReportService;
use vigil_core::rules::RuleService;
use vigil_core::tenancy::keys::KeyService;
use vigil_core::tenancy::tenants::TenantService;
use vigil_core::workflows::{ClientService, RecordService, WorkflowEngine, WorkflowService};
use vigil_runtime::App;

/// The state of every admin API route.
pub type ApiState = Arc<ApiServices>;

/// The state of every hook route.
pub type IngestState = Arc<IngestServices>;

/// The services of the admin API.
pub struct ApiServices {
    pub tenants: Arc<TenantService>,
    pub keys: Arc<KeyService>,
    pub ingest: Arc<IngestService>,
    pub outbox: Arc<OutboxService>,
    pub channels: Arc<ChannelService>,
    pub routing: Arc<RoutingService>,
    pub inbox: Arc<InboxService>,
    /// Sends a channel's test message.
    pub dispatcher: Arc<Dispatcher>,
    pub dead_letters: Arc<DeadLetterService>,
    pub anomalies: Arc<AnomalyService>,
    pub rules: Arc<RuleService>,
    pub reports: Arc<ReportService>,
    pub automation_runs: Arc<RunService>,
    pub workflows: Arc<WorkflowService>,
    pub clients: Arc<ClientService>,
    pub follow_ups: Arc<RecordService>,
    pub engine: Arc<WorkflowEngine>,
    /// The audit log and the health check read the store directly.
    pub store: Arc<dyn ItemStore>,
    pub clock: Arc<dyn Clock>,
    pub max_body_bytes: usize,
}

impl ApiServices {
    pub fn new(app: &App) -> ApiState {
        Arc::new(Self {
            tenants: app.tenants().clone(),
            keys: app.keys().clone(),
            ingest: app.ingest().clone(),
            outbox: app.outbox().clone(),
            channels: app.channels().clone(),
            routing: app.routing().clone(),
            inbox: app.inbox().clone(),
            dispatcher: app.dispatcher().clone(),
            dead_letters: app.dead_letters().clone(),
            anomalies: app.anomalies().clone(),
            rules: app.rules().clone(),
            reports: app.reports().clone(),
            automation_runs: app.automation_runs().clone(),
            workflows: app.workflows().clone(),
            clients: app.clients().clone(),
            follow_ups: app.follow_ups().clone(),
            engine: app.engine().clone(),
            store: app.ports.store.clone(),
            clock: app.clock.clone(),
            max_body_bytes: app.settings.max_body_bytes,
        })
    }
}

/// The services of the hook routes.
pub struct IngestServices {
    pub ingest: Arc<IngestService>,
    /// Automation runs posted to `/hooks/{tenant}/runs` are classified and stored by it.
    pub automation_runs: Arc<RunService>,
    pub max_body_bytes: usize,
}

impl IngestServices {
    pub fn new(app: &App) -> IngestState {
        Arc::new(Self {
            ingest: app.ingest().clone(),
            automation_runs: app.automation_runs().clone(),
            max_body_bytes: app.settings.max_body_bytes,
        })
    }
}

/// A state whose routes read bodies up to a limit.
pub trait BodyLimit {
    fn max_body_bytes(&self) -> usize;
}

impl BodyLimit for ApiState {
    fn max_body_bytes(&self) -> usize {
        self.max_body_bytes
    }
}

impl BodyLimit for IngestState {
    fn max_body_bytes(&self) -> usize {
        self.max_body_bytes
    }
}

/// A state whose routes authenticate callers by API key.
pub trait ApiKeys {
    fn keys(&self) -> &KeyService;
}

impl ApiKeys for ApiState {
    fn keys(&self) -> &KeyService {
        &self.keys
    }
}
