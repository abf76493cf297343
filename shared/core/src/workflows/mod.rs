//! IF/THEN workflows: definitions (triggers and steps, read with every problem at its JSON
//! path), conditions and templates over a run's snapshot, and the program a run walks through.

pub mod clients;
pub mod condition;
pub mod definition;
pub mod program;
pub mod service;
pub mod templates;

pub use clients::{Client, ClientService};
pub use service::{Workflow, WorkflowService};
