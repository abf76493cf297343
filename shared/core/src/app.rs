//! The application: every service, wired once on top of the ports. HTTP handlers, queue
//! consumers, scheduled flows and the CLI all go through it.

use std::sync::Arc;
use std::time::Duration;

use crate::Clock;
use crate::anomaly::AnomalyService;
use crate::delivery::channels::ChannelService;
use crate::delivery::dead_letters::DeadLetterService;
use crate::delivery::dispatcher::{DeliverySettings, Dispatcher, DispatcherParts};
use crate::delivery::inbox::InboxService;
use crate::delivery::outbox::OutboxService;
use crate::delivery::routing::RoutingService;
use crate::egress::EgressPolicy;
use crate::ingest::{IngestService, IngestSettings};
use crate::ports::{Notifiers, Ports};
use crate::reports::ReportService;
use crate::rules::RuleService;
use crate::runs::RunService;
use crate::tenancy::keys::KeyService;
use crate::tenancy::tenants::TenantService;
use crate::tenancy::tenants::TenantService as Tenants;
use crate::workflows::actions::ActionRunner;
use crate::workflows::engine::EngineParts;
use crate::workflows::{
    ClientService, RecordService, WorkflowEngine, WorkflowService, WorkflowSettings,
};

/// Settings that shape behaviour (not wiring); read from configuration at start-up.
#[derive(Debug, Clone)]
pub struct AppSettings {
    /// Largest request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// How long a tenant's ingest credentials are cached.
    pub credentials_ttl: Duration,
    pub ingest: IngestSettings,
    pub delivery: DeliverySettings,
    /// UTC hour after which the daily summary of the previous day is sent.
    pub summary_hour: u32,
    pub workflows: WorkflowSettings,
    /// What outbound calls a tenant can aim (channels, workflow `http_request`) may reach.
    pub egress: EgressPolicy,
}

impl Default for AppSettings {
    fn default() -> Self {
        Self {
            max_body_bytes: 256 * 1024,
            credentials_ttl: Duration::from_secs(30),
            ingest: IngestSettings::default(),
            delivery: DeliverySettings::default(),
            summary_hour: 8,
            workflows: WorkflowSettings::default(),
            egress: EgressPolicy::default(),
        }
    }
}

pub struct App {
    pub ports: Ports,
    pub clock: Arc<dyn Clock>,
    pub settings: AppSettings,
    pub tenants: TenantService,
    pub keys: KeyService,
    pub ingest: IngestService,
    pub outbox: Arc<OutboxService>,
    pub channels: Arc<ChannelService>,
    pub routing: Arc<RoutingService>,
    pub inbox: InboxService,
    pub dispatcher: Dispatcher,
    /// What delivery gave up on, listed and requeued.
    pub dead_letters: DeadLetterService,
    pub anomalies: Arc<AnomalyService>,
    pub rules: RuleService,
    pub reports: ReportService,
    pub runs: RunService,
    pub workflows: WorkflowService,
    pub clients: ClientService,
    /// Tasks, tickets and drafts.
    pub records: RecordService,
    /// Workflow runs: starts, steps, delays, approvals.
    pub engine: WorkflowEngine,
}

impl App {
    pub fn new(
        ports: Ports,
        notifiers: Notifiers,
        clock: Arc<dyn Clock>,
        settings: AppSettings,
    ) -> Self {
        let store = ports.store.clone();
        let wording = notifiers.wording.clone();
        let outbox = Arc::new(OutboxService::new(
            store.clone(),
            ports.announcer.clone(),
            ports.outbox.clone(),
            clock.clone(),
        ));
        let egress = Arc::new(settings.egress.clone());
        let channels = Arc::new(ChannelService::new(
            store.clone(),
            ports.cipher.clone(),
            clock.clone(),
            egress.clone(),
        ));
        let routing = Arc::new(RoutingService::new(store.clone(), clock.clone()));
        let anomalies = Arc::new(AnomalyService::new(
            store.clone(),
            ports.announcer.clone(),
            outbox.clone(),
            clock.clone(),
        ));
        let engine = WorkflowEngine::new(EngineParts {
            store: store.clone(),
            clock: clock.clone(),
            anomalies: anomalies.clone(),
            outbox: outbox.clone(),
            queue: ports.workflow_queue.clone(),
            scheduler: ports.scheduler.clone(),
            actions: ActionRunner {
                records: RecordService::new(store.clone(), clock.clone()),
                clients: ClientService::new(store.clone(), clock.clone()),
                tenants: Tenants::new(store.clone(), clock.clone(), ports.cipher.clone()),
                outbox: outbox.clone(),
                anomalies: anomalies.clone(),
                bus: ports.bus.clone(),
                http: notifiers.http.clone(),
                egress: egress.clone(),
                wording: notifiers.wording.clone(),
                clock: clock.clone(),
            },
            settings: settings.workflows.clone(),
        });
        Self {
            engine,
            dispatcher: Dispatcher::new(DispatcherParts {
                store: store.clone(),
                outbox: outbox.clone(),
                channels: channels.clone(),
                routing: routing.clone(),
                notifiers,
                liveness: ports.liveness.clone(),
                clock: clock.clone(),
                settings: settings.delivery.clone(),
            }),
            dead_letters: DeadLetterService::new(
                outbox.clone(),
                ports.outbox.clone(),
                ports.outbox_dead_letters.clone(),
                store.clone(),
                clock.clone(),
                ports.cipher.clone(),
            ),
            inbox: InboxService::new(store.clone(), clock.clone()),
            rules: RuleService::new(store.clone(), anomalies.clone(), clock.clone()),
            workflows: WorkflowService::new(store.clone(), clock.clone(), egress),
            clients: ClientService::new(store.clone(), clock.clone()),
            records: RecordService::new(store.clone(), clock.clone()),
            runs: RunService::new(
                store.clone(),
                anomalies.clone(),
                outbox.clone(),
                clock.clone(),
                settings.credentials_ttl,
            ),
            reports: ReportService::new(
                store.clone(),
                anomalies.clone(),
                outbox.clone(),
                wording,
                clock.clone(),
            ),
            anomalies,
            outbox,
            channels,
            routing,
            tenants: TenantService::new(store.clone(), clock.clone(), ports.cipher.clone()),
            keys: KeyService::new(store.clone(), clock.clone()),
            ingest: IngestService::new(
                &ports,
                clock.clone(),
                settings.credentials_ttl,
                settings.ingest.clone(),
            ),
            ports,
            clock,
            settings,
        }
    }
}
