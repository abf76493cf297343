//! Product tests: Vigil used as its users use it, through the HTTP routes and the `vigil`
//! binary. Each scenario runs on the embedded store and on the AWS adapters (moto).
#![allow(clippy::unwrap_used)]

mod harness;

mod api;
mod backup;
mod cli;
mod console;
mod console_deliveries;
mod console_overview;
mod console_rules;
mod console_runs;
mod console_settings;
mod console_workflows;
mod crash;
mod delivery;
mod egress;
mod events;
mod fairness;
mod ingest;
mod isolation;
mod logs;
mod rules;
mod run_alerts;
mod runs;
mod secrets;
mod stripe;
mod workflow_runs;
mod workflows;
