//! Vigil's domain: types, rules and ports. Pure and deterministic — time comes from a [`Clock`],
//! and nothing here knows whether it runs on AWS or on the embedded store.
#![forbid(unsafe_code)]

pub mod anomaly;
pub mod automation_runs;
pub mod cache;
pub mod cause;
pub mod clock;
pub mod delivery;
pub mod egress;
pub mod error;
pub mod ids;
pub mod ingest;
mod json;
pub mod ports;
pub mod rate;
pub mod reports;
pub mod rules;
pub mod secret;
pub mod severity;
pub mod standard_webhooks;
pub mod stripe;
pub mod table_keys;
pub mod target_url;
pub mod tenancy;
pub mod workflows;

pub use clock::{Clock, ManualClock, SystemClock};
pub use error::{Error, Result};
