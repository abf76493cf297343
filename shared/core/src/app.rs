//! The application: every service, wired once on top of the ports. HTTP handlers, queue
//! consumers, scheduled flows and the CLI all go through it.

use std::sync::Arc;
use std::time::Duration;

use crate::Clock;
use crate::ingest::{IngestService, IngestSettings};
use crate::ports::Ports;
use crate::tenancy::keys::KeyService;
use crate::tenancy::tenants::TenantService;

/// Settings that shape behaviour (not wiring); read from configuration at start-up.
#[derive(Debug, Clone)]
pub struct AppSettings {
    /// Largest request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// How long a tenant's ingest credentials are cached.
    pub credentials_ttl: Duration,
    pub ingest: IngestSettings,
}

impl Default for AppSettings {
    fn default() -> Self {
        Self {
            max_body_bytes: 256 * 1024,
            credentials_ttl: Duration::from_secs(30),
            ingest: IngestSettings::default(),
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
}

impl App {
    pub fn new(ports: Ports, clock: Arc<dyn Clock>, settings: AppSettings) -> Self {
        let store = ports.store.clone();
        Self {
            tenants: TenantService::new(store.clone(), clock.clone()),
            keys: KeyService::new(store.clone(), clock.clone()),
            ingest: IngestService::new(
                store,
                ports.bus.clone(),
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
