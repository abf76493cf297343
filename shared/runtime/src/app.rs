//! The composition root: every service of Vigil, wired on top of the ports. Each is built once,
//! on first use, so a function that asks for two services builds those two (and what they stand
//! on) and nothing else, while `vigil serve`, which asks for all of them, shares one of each
//! between its routes, consumers and jobs.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use vigil_core::Clock;
use vigil_core::anomaly::AnomalyService;
use vigil_core::automation_runs::RunService;
use vigil_core::delivery::channels::ChannelService;
use vigil_core::delivery::dead_letters::DeadLetterService;
use vigil_core::delivery::dispatcher::{DeliverySettings, Dispatcher, DispatcherParts};
use vigil_core::delivery::inbox::InboxService;
use vigil_core::delivery::outbox::OutboxService;
use vigil_core::delivery::routing::RoutingService;
use vigil_core::egress::EgressPolicy;
use vigil_core::ingest::{IngestService, IngestSettings};
use vigil_core::ports::{Notifiers, Ports};
use vigil_core::reports::ReportService;
use vigil_core::rules::RuleService;
use vigil_core::tenancy::keys::KeyService;
use vigil_core::tenancy::sessions::SessionService;
use vigil_core::tenancy::tenants::TenantService;
use vigil_core::workflows::actions::ActionRunner;
use vigil_core::workflows::engine::EngineParts;
use vigil_core::workflows::{
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

/// The ports, the clock, the settings, and each service once built.
pub struct App {
    pub ports: Ports,
    pub clock: Arc<dyn Clock>,
    pub settings: AppSettings,
    notifiers: Notifiers,
    egress: Arc<EgressPolicy>,
    built: Built,
}

/// One cell per service, filled on first use.
#[derive(Default)]
struct Built {
    tenants: OnceLock<Arc<TenantService>>,
    keys: OnceLock<Arc<KeyService>>,
    sessions: OnceLock<Arc<SessionService>>,
    ingest: OnceLock<Arc<IngestService>>,
    outbox: OnceLock<Arc<OutboxService>>,
    channels: OnceLock<Arc<ChannelService>>,
    routing: OnceLock<Arc<RoutingService>>,
    inbox: OnceLock<Arc<InboxService>>,
    dispatcher: OnceLock<Arc<Dispatcher>>,
    dead_letters: OnceLock<Arc<DeadLetterService>>,
    anomalies: OnceLock<Arc<AnomalyService>>,
    rules: OnceLock<Arc<RuleService>>,
    reports: OnceLock<Arc<ReportService>>,
    automation_runs: OnceLock<Arc<RunService>>,
    workflows: OnceLock<Arc<WorkflowService>>,
    clients: OnceLock<Arc<ClientService>>,
    follow_ups: OnceLock<Arc<RecordService>>,
    engine: OnceLock<Arc<WorkflowEngine>>,
}

impl App {
    pub fn new(
        ports: Ports,
        notifiers: Notifiers,
        clock: Arc<dyn Clock>,
        settings: AppSettings,
    ) -> Self {
        Self {
            egress: Arc::new(settings.egress.clone()),
            ports,
            clock,
            settings,
            notifiers,
            built: Built::default(),
        }
    }

    /// The services built so far, by name: what the functions' states made this process build.
    pub fn built(&self) -> Vec<&'static str> {
        let b = &self.built;
        [
            ("anomalies", b.anomalies.get().is_some()),
            ("automation_runs", b.automation_runs.get().is_some()),
            ("channels", b.channels.get().is_some()),
            ("clients", b.clients.get().is_some()),
            ("dead_letters", b.dead_letters.get().is_some()),
            ("dispatcher", b.dispatcher.get().is_some()),
            ("engine", b.engine.get().is_some()),
            ("follow_ups", b.follow_ups.get().is_some()),
            ("inbox", b.inbox.get().is_some()),
            ("ingest", b.ingest.get().is_some()),
            ("keys", b.keys.get().is_some()),
            ("outbox", b.outbox.get().is_some()),
            ("reports", b.reports.get().is_some()),
            ("routing", b.routing.get().is_some()),
            ("sessions", b.sessions.get().is_some()),
            ("rules", b.rules.get().is_some()),
            ("tenants", b.tenants.get().is_some()),
            ("workflows", b.workflows.get().is_some()),
        ]
        .into_iter()
        .filter_map(|(name, built)| built.then_some(name))
        .collect()
    }

    pub fn tenants(&self) -> &Arc<TenantService> {
        self.built.tenants.get_or_init(|| {
            Arc::new(TenantService::new(
                self.ports.store.clone(),
                self.clock.clone(),
                self.ports.cipher.clone(),
            ))
        })
    }

    /// API keys.
    pub fn keys(&self) -> &Arc<KeyService> {
        self.built.keys.get_or_init(|| {
            Arc::new(KeyService::new(
                self.ports.store.clone(),
                self.clock.clone(),
            ))
        })
    }

    /// Console sessions, opened with an API key.
    pub fn sessions(&self) -> &Arc<SessionService> {
        self.built.sessions.get_or_init(|| {
            Arc::new(SessionService::new(
                self.ports.store.clone(),
                self.keys().clone(),
                self.clock.clone(),
            ))
        })
    }

    pub fn ingest(&self) -> &Arc<IngestService> {
        self.built.ingest.get_or_init(|| {
            Arc::new(IngestService::new(
                &self.ports,
                self.clock.clone(),
                self.settings.credentials_ttl,
                self.settings.ingest.clone(),
            ))
        })
    }

    pub fn outbox(&self) -> &Arc<OutboxService> {
        self.built.outbox.get_or_init(|| {
            Arc::new(OutboxService::new(
                self.ports.store.clone(),
                self.ports.announcer.clone(),
                self.ports.outbox.clone(),
                self.clock.clone(),
            ))
        })
    }

    pub fn channels(&self) -> &Arc<ChannelService> {
        self.built.channels.get_or_init(|| {
            Arc::new(ChannelService::new(
                self.ports.store.clone(),
                self.ports.cipher.clone(),
                self.clock.clone(),
                self.egress.clone(),
            ))
        })
    }

    pub fn routing(&self) -> &Arc<RoutingService> {
        self.built.routing.get_or_init(|| {
            Arc::new(RoutingService::new(
                self.ports.store.clone(),
                self.clock.clone(),
            ))
        })
    }

    pub fn inbox(&self) -> &Arc<InboxService> {
        self.built.inbox.get_or_init(|| {
            Arc::new(InboxService::new(
                self.ports.store.clone(),
                self.clock.clone(),
            ))
        })
    }

    pub fn dispatcher(&self) -> &Arc<Dispatcher> {
        self.built.dispatcher.get_or_init(|| {
            Arc::new(Dispatcher::new(DispatcherParts {
                store: self.ports.store.clone(),
                outbox: self.outbox().clone(),
                channels: self.channels().clone(),
                routing: self.routing().clone(),
                notifiers: self.notifiers.clone(),
                liveness: self.ports.liveness.clone(),
                clock: self.clock.clone(),
                settings: self.settings.delivery.clone(),
            }))
        })
    }

    /// What delivery gave up on, listed and requeued.
    pub fn dead_letters(&self) -> &Arc<DeadLetterService> {
        self.built.dead_letters.get_or_init(|| {
            Arc::new(DeadLetterService::new(
                self.outbox().clone(),
                self.ports.outbox.clone(),
                self.ports.outbox_dead_letters.clone(),
                self.ports.store.clone(),
                self.clock.clone(),
                self.ports.cipher.clone(),
            ))
        })
    }

    pub fn anomalies(&self) -> &Arc<AnomalyService> {
        self.built.anomalies.get_or_init(|| {
            Arc::new(AnomalyService::new(
                self.ports.store.clone(),
                self.ports.announcer.clone(),
                self.outbox().clone(),
                self.clock.clone(),
            ))
        })
    }

    pub fn rules(&self) -> &Arc<RuleService> {
        self.built.rules.get_or_init(|| {
            Arc::new(RuleService::new(
                self.ports.store.clone(),
                self.anomalies().clone(),
                self.clock.clone(),
            ))
        })
    }

    pub fn reports(&self) -> &Arc<ReportService> {
        self.built.reports.get_or_init(|| {
            Arc::new(ReportService::new(
                self.ports.store.clone(),
                self.anomalies().clone(),
                self.outbox().clone(),
                self.notifiers.wording.clone(),
                self.clock.clone(),
            ))
        })
    }

    /// Automation runs, scenarios, baselines and scans.
    pub fn automation_runs(&self) -> &Arc<RunService> {
        self.built.automation_runs.get_or_init(|| {
            Arc::new(RunService::new(
                self.ports.store.clone(),
                self.anomalies().clone(),
                self.outbox().clone(),
                self.clock.clone(),
                self.settings.credentials_ttl,
            ))
        })
    }

    /// Workflow definitions.
    pub fn workflows(&self) -> &Arc<WorkflowService> {
        self.built.workflows.get_or_init(|| {
            Arc::new(WorkflowService::new(
                self.ports.store.clone(),
                self.clock.clone(),
                self.egress.clone(),
            ))
        })
    }

    pub fn clients(&self) -> &Arc<ClientService> {
        self.built.clients.get_or_init(|| {
            Arc::new(ClientService::new(
                self.ports.store.clone(),
                self.clock.clone(),
            ))
        })
    }

    /// Tasks, tickets and drafts.
    pub fn follow_ups(&self) -> &Arc<RecordService> {
        self.built.follow_ups.get_or_init(|| {
            Arc::new(RecordService::new(
                self.ports.store.clone(),
                self.clock.clone(),
            ))
        })
    }

    /// Workflow runs: starts, steps, delays, approvals.
    pub fn engine(&self) -> &Arc<WorkflowEngine> {
        self.built
            .engine
            .get_or_init(|| Arc::new(WorkflowEngine::new(self.engine_parts())))
    }

    fn engine_parts(&self) -> EngineParts {
        let store = &self.ports.store;
        let clock = &self.clock;
        EngineParts {
            store: store.clone(),
            clock: clock.clone(),
            anomalies: self.anomalies().clone(),
            outbox: self.outbox().clone(),
            queue: self.ports.workflow_queue.clone(),
            scheduler: self.ports.scheduler.clone(),
            actions: ActionRunner {
                follow_ups: RecordService::new(store.clone(), clock.clone()),
                clients: ClientService::new(store.clone(), clock.clone()),
                tenants: TenantService::new(
                    store.clone(),
                    clock.clone(),
                    self.ports.cipher.clone(),
                ),
                outbox: self.outbox().clone(),
                anomalies: self.anomalies().clone(),
                bus: self.ports.bus.clone(),
                http: self.notifiers.http.clone(),
                egress: self.egress.clone(),
                wording: self.notifiers.wording.clone(),
                clock: clock.clone(),
            },
            settings: self.settings.workflows.clone(),
        }
    }
}
