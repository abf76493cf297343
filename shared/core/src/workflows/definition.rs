//! What a workflow is: its triggers and its steps, as posted and stored. Reading a posted body
//! checks each trigger and step on its own, so every problem is reported with its JSON path
//! (`steps[1].then[0].minutes: ...`), not only the first.

use serde::{Deserialize, Serialize};
use serde_json::Value;

mod parse;

pub use parse::{egress_problems, parse_workflow};

use super::condition::Condition;
use crate::secret::url_hint;
use crate::severity::Severity;
use crate::tenancy::Role;

/// Longest delay step: one day.
pub const MAX_DELAY_MINUTES: u32 = 1440;
/// Approvals time out after a day unless the step says otherwise.
pub const DEFAULT_APPROVAL_TIMEOUT_MINUTES: u32 = 1440;
/// Longest approval wait: a week.
pub const MAX_APPROVAL_TIMEOUT_MINUTES: u32 = 7 * 1440;
/// Triggers for one (workflow, subject) within this many minutes start one run, by default.
pub const DEFAULT_DEDUPE_MINUTES: u32 = 10;
/// Chains longer than this are accepted with a warning.
pub const LONG_CHAIN_STEPS: usize = 50;
/// Steps a workflow may hold at all (nested ones counted).
pub const MAX_STEPS: usize = 500;
/// Levels of steps: the workflow's own steps are the first, an `if`'s branches one deeper; the
/// last level holds no `if` (so `if`s nest two deep). The API document states the bound level by
/// level.
pub const MAX_STEP_DEPTH: usize = 3;
const MAX_NAME_LEN: usize = 200;
const MAX_DESCRIPTION_LEN: usize = 2_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum KpiOperator {
    Above,
    Below,
    Equals,
}

/// What starts a run. A workflow has one or two; all of them must hold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Trigger {
    /// A client moved to `to` (from `from`, when given).
    StageChanged {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        from: Option<String>,
        to: String,
    },
    /// No activity event for the client for `days` days.
    Inactivity {
        #[schema(minimum = 1, maximum = 365)]
        days: u32,
    },
    /// A client metric crossed a value.
    KpiThreshold {
        metric: String,
        operator: KpiOperator,
        value: f64,
    },
    MessageReceived {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        channel: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        contains: Option<String>,
    },
    TicketCreated {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        category: Option<String>,
    },
    AnomalyOpened {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        rule: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        min_severity: Option<Severity>,
    },
    /// A cron expression (5 fields) in an IANA timezone.
    Schedule { cron: String, timezone: String },
}

/// What an action step does. Text fields may hold `{{client.name}}`-style templates.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Action {
    CreateTask {
        title: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        assignee: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        description: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        due_in_days: Option<u32>,
    },
    /// Through the outbox, to the channels routed for its severity (and the inbox).
    SendNotification {
        title: String,
        #[serde(default)]
        message: String,
        #[serde(default = "default_notification_severity")]
        severity: Severity,
    },
    /// Drafted (by the AI model when configured, else from the template) and queued for review;
    /// never sent by the workflow.
    DraftMessage {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        to: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        subject: Option<String>,
        template: String,
    },
    CreateTicket {
        title: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        category: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        description: Option<String>,
    },
    UpdateClient {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        stage: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        health_score: Option<f64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        assignee: Option<String>,
    },
    /// Opens an anomaly (rule `workflow_alert`, subject the client).
    RaiseAlert {
        title: String,
        #[serde(default = "default_alert_severity")]
        severity: Severity,
    },
    /// A signed outbound webhook (Standard Webhooks, the tenant's outbound secret). Templates
    /// may fill the URL's path and query, never its scheme, host or port.
    HttpRequest {
        /// `http(s)://`, with templates only after the host and port (pattern:
        /// `TARGET_URL_PATTERN`).
        url: String,
        /// Any JSON value, sent as the request's body.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        body: Option<Value>,
    },
}

fn default_notification_severity() -> Severity {
    Severity::Sev3
}

fn default_alert_severity() -> Severity {
    Severity::Sev2
}

/// One step: an action or a control step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum Step {
    Control(Control),
    Action(ActionStep),
}

/// An action with the step options every action takes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ActionStep {
    #[serde(flatten)]
    pub action: Action,
    /// A failure is recorded and the run goes on, instead of halting at this step.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub continue_on_failure: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Control {
    If {
        condition: Condition,
        #[schema(no_recursion)]
        then: Vec<Step>,
        #[serde(default, rename = "else", skip_serializing_if = "Vec::is_empty")]
        #[schema(no_recursion)]
        otherwise: Vec<Step>,
    },
    Delay {
        #[schema(maximum = 1440)]
        minutes: u32,
    },
    Approval {
        /// Who may decide (operators include admins).
        #[serde(default = "default_approvers")]
        approvers: Role,
        #[serde(default = "default_approval_timeout")]
        #[schema(minimum = 1, maximum = 10080)]
        timeout_minutes: u32,
    },
}

fn default_approvers() -> Role {
    Role::Operator
}

fn default_approval_timeout() -> u32 {
    DEFAULT_APPROVAL_TIMEOUT_MINUTES
}

/// A workflow body as posted (`POST /api/v1/workflows`, `PATCH` replaces what it names).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct WorkflowSpec {
    /// 1–200 characters, not only blanks.
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = "[^\\s\\u0000-\\u001f\\u007f-\\u009f]"
    )]
    pub name: String,
    #[serde(default)]
    #[schema(max_length = 2000, nullable)]
    pub description: String,
    #[serde(default = "enabled_by_default")]
    #[schema(nullable)]
    pub enabled: bool,
    #[schema(min_items = 1, max_items = 2)]
    pub triggers: Vec<Trigger>,
    /// At least one; at most 500 counting the steps nested in `if` branches.
    #[schema(min_items = 1, max_items = 500)]
    pub steps: Vec<Step>,
    /// Every run waits for an approval before its first step.
    #[serde(default)]
    #[schema(nullable)]
    pub requires_approval: bool,
    /// Triggers for the same subject within this many minutes of a run's start start no other
    /// run (0: only the very same trigger is held back).
    #[serde(default = "default_dedupe_minutes")]
    #[schema(maximum = 1440, nullable)]
    pub dedupe_minutes: u32,
}

fn enabled_by_default() -> bool {
    true
}

fn default_dedupe_minutes() -> u32 {
    DEFAULT_DEDUPE_MINUTES
}

pub use crate::error::FieldProblem as Problem;

/// A workflow that was read, with what is worth knowing but not wrong.
#[derive(Debug, Clone, PartialEq)]
pub struct Checked {
    pub spec: WorkflowSpec,
    pub warnings: Vec<Problem>,
}

/// Why a posted workflow was refused: every problem, each at its JSON path, and whether the
/// body breaks the published schema (types, required fields, lengths, ranges) or fits it and
/// only breaks what a schema cannot say (a cron expression, a rule between fields).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Refusal {
    problems: Vec<Problem>,
    breaks_schema: bool,
}

impl Refusal {
    /// A problem the published schema names too.
    fn shape(&mut self, path: &str, message: &str) {
        self.problems.push(problem(path, message));
        self.breaks_schema = true;
    }

    /// A problem of a body that fits the schema.
    fn meaning(&mut self, path: &str, message: &str) {
        self.problems.push(problem(path, message));
    }

    /// Both refusals' problems, in order.
    pub fn and(mut self, other: Refusal) -> Refusal {
        self.problems.extend(other.problems);
        self.breaks_schema |= other.breaks_schema;
        self
    }

    /// The answer: 400 when the body breaks the schema, 422 when it only breaks what the schema
    /// cannot say.
    pub fn into_error(self, code: &'static str) -> crate::Error {
        if self.breaks_schema {
            crate::Error::InvalidFields {
                code,
                problems: self.problems,
            }
        } else {
            crate::Error::UnprocessableFields {
                code,
                problems: self.problems,
            }
        }
    }
}

impl std::ops::Deref for Refusal {
    type Target = [Problem];

    fn deref(&self) -> &[Problem] {
        &self.problems
    }
}

/// Whether a text holds nothing but blanks and control characters.
pub(crate) fn is_blank(text: &str) -> bool {
    text.chars().all(|c| c.is_whitespace() || c.is_control())
}

impl WorkflowSpec {
    /// Every `http_request` URL cut to its scheme and host ([`url_hint`]): how a workflow is
    /// shown to callers who may read it but not change it (its URLs may carry tokens).
    pub fn mask_request_urls(&mut self) {
        fn walk(steps: &mut [Step]) {
            for step in steps {
                match step {
                    Step::Action(ActionStep {
                        action: Action::HttpRequest { url, .. },
                        ..
                    }) => *url = url_hint(url),
                    Step::Control(Control::If {
                        then, otherwise, ..
                    }) => {
                        walk(then);
                        walk(otherwise);
                    }
                    _ => {}
                }
            }
        }
        walk(&mut self.steps);
    }
}

fn problem(path: &str, message: &str) -> Problem {
    Problem {
        path: path.to_owned(),
        message: message.to_owned(),
    }
}

/// Steps in a chain, nested ones included.
pub fn count_steps(steps: &[Step]) -> usize {
    steps
        .iter()
        .map(|step| match step {
            Step::Control(Control::If {
                then, otherwise, ..
            }) => 1 + count_steps(then) + count_steps(otherwise),
            _ => 1,
        })
        .sum()
}

#[cfg(test)]
mod tests;
