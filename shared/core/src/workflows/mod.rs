//! IF/THEN workflows: definitions (triggers and steps, read with every problem at its JSON
//! path), versioned storage and ready templates, the clients they act on, trigger matching,
//! conditions and templates over a run's snapshot, the program a run walks through and the
//! states a run moves between.

pub mod actions;
pub mod analytics;
pub mod clients;
pub mod condition;
pub mod definition;
pub mod engine;
pub mod follow_ups;
pub mod messages;
pub mod program;
pub mod run;
pub mod run_status;
pub mod service;
pub mod simulate;
pub mod starts;
pub mod templates;
pub mod triggers;

pub use clients::{Client, ClientService};
pub use engine::{WorkflowEngine, WorkflowSettings};
pub use follow_ups::{Record, RecordKind, RecordService};
pub use service::{Workflow, WorkflowService};
