//! The named resources of one deployment and the cron flows it runs. Both backends, the SAM
//! template and `vigil serve` read these, so there is one source of truth.

use serde::{Deserialize, Serialize};

use crate::ports::QueueRole;

/// Names of a deployment's resources, all derived from one prefix (default `vigil`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourceNames {
    pub prefix: String,
    /// Receives after which a message moves to its queue's dead-letter queue.
    pub max_receives: u32,
}

/// The event pattern of the bus rule ([`ResourceNames::bus_rule`]): Vigil's events of the types
/// workflows act on ([`crate::workflows::messages::routed_detail_types`]).
pub fn bus_rule_pattern() -> serde_json::Value {
    let detail_types: Vec<&str> = crate::workflows::messages::routed_detail_types().collect();
    serde_json::json!({
        "source": [crate::ports::bus::EVENT_SOURCE],
        "detail-type": detail_types,
    })
}

/// Default receives before dead-lettering (the template's `maxReceiveCount`).
pub const DEFAULT_MAX_RECEIVES: u32 = 5;

pub use crate::delivery::dispatcher::{
    DELIVERY_CLAIM, DELIVERY_DEADLINE, DISPATCHER_TIMEOUT_SECONDS,
};

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

/// The Lambda functions of a deployment. Folder, binary and SAM logical id match
/// (`dispatcher` ↔ `DispatcherFunction`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FunctionName {
    Ingest,
    Api,
    Rules,
    Summary,
    Dispatcher,
    Workflows,
    Approvals,
}

impl FunctionName {
    pub const ALL: [FunctionName; 7] = [
        FunctionName::Ingest,
        FunctionName::Api,
        FunctionName::Rules,
        FunctionName::Summary,
        FunctionName::Dispatcher,
        FunctionName::Workflows,
        FunctionName::Approvals,
    ];

    pub fn binary(self) -> &'static str {
        match self {
            FunctionName::Ingest => "ingest",
            FunctionName::Api => "api",
            FunctionName::Rules => "rules",
            FunctionName::Summary => "summary",
            FunctionName::Dispatcher => "dispatcher",
            FunctionName::Workflows => "workflows",
            FunctionName::Approvals => "approvals",
        }
    }

    pub fn logical_id(self) -> &'static str {
        match self {
            FunctionName::Ingest => "IngestFunction",
            FunctionName::Api => "ApiFunction",
            FunctionName::Rules => "RulesFunction",
            FunctionName::Summary => "SummaryFunction",
            FunctionName::Dispatcher => "DispatcherFunction",
            FunctionName::Workflows => "WorkflowsFunction",
            FunctionName::Approvals => "ApprovalsFunction",
        }
    }
}

/// A scheduled flow: what EventBridge Scheduler invokes in AWS and the in-process scheduler
/// runs under `vigil serve`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Flow {
    /// Evaluate due rule windows.
    RulesTick,
    /// Daily summaries, due scans and other per-tenant timed work.
    SummaryTick,
    WeeklyReview,
    BaselineUpdate,
    /// Re-queue outbox events that were stored but never queued.
    OutboxSweep,
    /// Inactivity and KPI triggers, schedule triggers.
    WorkflowTick,
    /// Auto-reject approvals past their time-out.
    ApprovalExpiry,
}

/// The payload a scheduled invocation carries: `{"flow":"rules_tick"}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlowInvocation {
    pub flow: Flow,
}

/// One cron flow of the deployment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CronFlow {
    pub flow: Flow,
    pub function: FunctionName,
    /// EventBridge cron fields (`minutes hours day-of-month month day-of-week year`), UTC.
    pub cron: &'static str,
    /// SAM logical id of its `AWS::Scheduler::Schedule`.
    pub logical_id: &'static str,
}

impl CronFlow {
    /// The schedule expression as written in the template: `cron(...)`.
    pub fn schedule_expression(&self) -> String {
        format!("cron({})", self.cron)
    }

    /// The JSON input the schedule sends.
    pub fn input(&self) -> String {
        serde_json::to_string(&FlowInvocation { flow: self.flow }).unwrap_or_default()
    }
}

/// Every cron flow. `template.yaml` must declare exactly these (checked by a test).
pub const CRON_FLOWS: &[CronFlow] = &[
    CronFlow {
        flow: Flow::RulesTick,
        function: FunctionName::Rules,
        cron: "0/5 * * * ? *",
        logical_id: "RulesTickSchedule",
    },
    CronFlow {
        flow: Flow::SummaryTick,
        function: FunctionName::Summary,
        cron: "0/5 * * * ? *",
        logical_id: "SummaryTickSchedule",
    },
    CronFlow {
        flow: Flow::WeeklyReview,
        function: FunctionName::Summary,
        cron: "0 9 ? * MON *",
        logical_id: "WeeklyReviewSchedule",
    },
    CronFlow {
        flow: Flow::BaselineUpdate,
        function: FunctionName::Summary,
        cron: "0 23 ? * SUN *",
        logical_id: "BaselineUpdateSchedule",
    },
    CronFlow {
        flow: Flow::OutboxSweep,
        function: FunctionName::Dispatcher,
        cron: "* * * * ? *",
        logical_id: "OutboxSweepSchedule",
    },
    CronFlow {
        flow: Flow::WorkflowTick,
        function: FunctionName::Workflows,
        cron: "* * * * ? *",
        logical_id: "WorkflowTickSchedule",
    },
    CronFlow {
        flow: Flow::ApprovalExpiry,
        function: FunctionName::Approvals,
        cron: "* * * * ? *",
        logical_id: "ApprovalExpirySchedule",
    },
];
