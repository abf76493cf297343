//! The names of a deployment's resources, all derived from one prefix: what each adapter finds
//! its table, queues, bus and schedules by, and what the SAM template and `vigil infra` create.

use serde::{Deserialize, Serialize};

use crate::ports::QueueRole;

/// Names of a deployment's resources, all derived from one prefix (default `vigil`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourceNames {
    pub prefix: String,
    /// Receives after which a message moves to its queue's dead-letter queue.
    pub max_receives: u32,
}

/// Default receives before dead-lettering (the template's `maxReceiveCount`).
pub const DEFAULT_MAX_RECEIVES: u32 = 5;

impl ResourceNames {
    pub fn new(prefix: impl Into<String>) -> Self {
        Self {
            prefix: prefix.into(),
            max_receives: DEFAULT_MAX_RECEIVES,
        }
    }

    pub fn table(&self) -> String {
        format!("{}-table", self.prefix)
    }

    pub fn queue(&self, role: QueueRole) -> String {
        format!("{}-{}", self.prefix, role.base_name())
    }

    pub fn dead_letter_queue(&self, role: QueueRole) -> String {
        format!("{}-{}-dlq", self.prefix, role.base_name())
    }

    pub fn event_bus(&self) -> String {
        format!("{}-bus", self.prefix)
    }

    /// The bus rule that sends the events workflows act on to the workflow queue.
    pub fn bus_rule(&self) -> String {
        format!("{}-events-to-workflows", self.prefix)
    }

    pub fn schedule_group(&self) -> String {
        format!("{}-schedules", self.prefix)
    }

    /// The alias of the KMS key stored secrets are sealed under (AWS backend).
    pub fn secrets_key_alias(&self) -> String {
        format!("alias/{}-secrets", self.prefix)
    }
}

impl Default for ResourceNames {
    fn default() -> Self {
        Self::new("vigil")
    }
}
