//! The functions of one deployment and the cron jobs it runs. The SAM template and `vigil serve`
//! read these, so there is one source of truth (a test holds the template to them).

use serde::{Deserialize, Serialize};

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
    Console,
}

impl FunctionName {
    pub const ALL: [FunctionName; 8] = [
        FunctionName::Ingest,
        FunctionName::Api,
        FunctionName::Rules,
        FunctionName::Summary,
        FunctionName::Dispatcher,
        FunctionName::Workflows,
        FunctionName::Approvals,
        FunctionName::Console,
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
            FunctionName::Console => "console",
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
            FunctionName::Console => "ConsoleFunction",
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
