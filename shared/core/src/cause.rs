//! Which workflow run an event is the effect of. It rides on bus events and on the evidence of
//! anomalies a workflow raised, so the workflows it would start can tell a loop.

use serde::{Deserialize, Serialize};

/// The workflow run whose effect an event is, for loop detection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Cause {
    pub workflow_id: String,
    pub run_id: String,
}
