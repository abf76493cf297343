//! What a workflow is: its triggers and its steps, as posted and stored. Reading a posted body
//! checks each trigger and step on its own, so every problem is reported with its JSON path
//! (`steps[1].then[0].minutes: ...`), not only the first.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::condition::Condition;
use crate::egress::EgressPolicy;
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
    Inactivity { days: u32 },
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
        url: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[schema(value_type = Option<Object>)]
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
        minutes: u32,
    },
    Approval {
        /// Who may decide (operators include admins).
        #[serde(default = "default_approvers")]
        approvers: Role,
        #[serde(default = "default_approval_timeout")]
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
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default = "enabled_by_default")]
    pub enabled: bool,
    pub triggers: Vec<Trigger>,
    pub steps: Vec<Step>,
    /// Every run waits for an approval before its first step.
    #[serde(default)]
    pub requires_approval: bool,
    /// Triggers for the same subject within this many minutes of a run's start start no other
    /// run (0: only the very same trigger is held back).
    #[serde(default = "default_dedupe_minutes")]
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

/// Reads a posted workflow body. Every problem found is returned, each with its JSON path.
pub fn parse_workflow(body: &Value) -> Result<Checked, Vec<Problem>> {
    let mut problems = Vec::new();
    let Some(object) = body.as_object() else {
        return Err(vec![problem("$", "a workflow must be a JSON object")]);
    };
    let known = [
        "name",
        "description",
        "enabled",
        "triggers",
        "steps",
        "requires_approval",
        "dedupe_minutes",
    ];
    for key in object.keys().filter(|k| !known.contains(&k.as_str())) {
        problems.push(problem(&format!("$.{key}"), "unknown field"));
    }
    let name = match object.get("name") {
        Some(Value::String(name)) if !name.trim().is_empty() && name.len() <= MAX_NAME_LEN => {
            name.clone()
        }
        Some(Value::String(_)) => {
            problems.push(problem(
                "$.name",
                &format!("must be 1 to {MAX_NAME_LEN} characters"),
            ));
            String::new()
        }
        Some(_) => {
            problems.push(problem("$.name", "must be a string"));
            String::new()
        }
        None => {
            problems.push(problem("$.name", "is required"));
            String::new()
        }
    };
    let description = match object.get("description") {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(d)) if d.len() <= MAX_DESCRIPTION_LEN => d.clone(),
        Some(_) => {
            problems.push(problem(
                "$.description",
                &format!("must be a string of at most {MAX_DESCRIPTION_LEN} characters"),
            ));
            String::new()
        }
    };
    let flag = |field: &str, default: bool, problems: &mut Vec<Problem>| match object.get(field) {
        None | Some(Value::Null) => default,
        Some(Value::Bool(b)) => *b,
        Some(_) => {
            problems.push(problem(&format!("$.{field}"), "must be true or false"));
            default
        }
    };
    let enabled = flag("enabled", true, &mut problems);
    let requires_approval = flag("requires_approval", false, &mut problems);
    let dedupe_minutes = match object.get("dedupe_minutes") {
        None | Some(Value::Null) => DEFAULT_DEDUPE_MINUTES,
        Some(value) => match value.as_u64().and_then(|m| u32::try_from(m).ok()) {
            Some(minutes) if minutes <= MAX_DELAY_MINUTES => minutes,
            _ => {
                problems.push(problem(
                    "$.dedupe_minutes",
                    &format!("must be a whole number of minutes from 0 to {MAX_DELAY_MINUTES}"),
                ));
                DEFAULT_DEDUPE_MINUTES
            }
        },
    };

    let triggers = match object.get("triggers") {
        Some(Value::Array(items)) => {
            if !(1..=2).contains(&items.len()) {
                problems.push(problem("$.triggers", "must hold one or two triggers"));
            }
            items
                .iter()
                .enumerate()
                .filter_map(|(i, item)| {
                    read_trigger(item, &format!("$.triggers[{i}]"), &mut problems)
                })
                .collect()
        }
        Some(_) => {
            problems.push(problem("$.triggers", "must be an array"));
            Vec::new()
        }
        None => {
            problems.push(problem("$.triggers", "is required"));
            Vec::new()
        }
    };
    let steps = match object.get("steps") {
        Some(Value::Array(items)) if items.is_empty() => {
            problems.push(problem("$.steps", "must hold at least one step"));
            Vec::new()
        }
        Some(Value::Array(items)) => read_steps(items, "$.steps", &mut problems),
        Some(_) => {
            problems.push(problem("$.steps", "must be an array"));
            Vec::new()
        }
        None => {
            problems.push(problem("$.steps", "is required"));
            Vec::new()
        }
    };
    let total = count_steps(&steps);
    if total > MAX_STEPS {
        problems.push(problem(
            "$.steps",
            &format!("holds {total} steps; at most {MAX_STEPS}"),
        ));
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    let mut warnings = Vec::new();
    if total > LONG_CHAIN_STEPS {
        warnings.push(problem(
            "$.steps",
            &format!("a chain of {total} steps (over {LONG_CHAIN_STEPS}) is hard to follow"),
        ));
    }
    Ok(Checked {
        spec: WorkflowSpec {
            name,
            description,
            enabled,
            triggers,
            steps,
            requires_approval,
            dedupe_minutes,
        },
        warnings,
    })
}

fn problem(path: &str, message: &str) -> Problem {
    Problem {
        path: path.to_owned(),
        message: message.to_owned(),
    }
}

fn read_trigger(value: &Value, path: &str, problems: &mut Vec<Problem>) -> Option<Trigger> {
    let trigger: Trigger = match serde_json::from_value(value.clone()) {
        Ok(trigger) => trigger,
        Err(e) => {
            problems.push(problem(path, &e.to_string()));
            return None;
        }
    };
    match &trigger {
        Trigger::Inactivity { days } if *days == 0 || *days > 365 => {
            problems.push(problem(
                &format!("{path}.days"),
                "must be between 1 and 365",
            ));
        }
        Trigger::KpiThreshold { value, .. } if !value.is_finite() => {
            problems.push(problem(&format!("{path}.value"), "must be a number"));
        }
        Trigger::Schedule { cron, timezone } => {
            if cron.parse::<croner::Cron>().is_err() {
                problems.push(problem(
                    &format!("{path}.cron"),
                    "is not a valid cron expression",
                ));
            }
            if timezone.parse::<chrono_tz::Tz>().is_err() {
                problems.push(problem(
                    &format!("{path}.timezone"),
                    "is not an IANA timezone name",
                ));
            }
        }
        _ => {}
    }
    Some(trigger)
}

fn read_steps(items: &[Value], path: &str, problems: &mut Vec<Problem>) -> Vec<Step> {
    items
        .iter()
        .enumerate()
        .filter_map(|(i, item)| read_step(item, &format!("{path}[{i}]"), problems))
        .collect()
}

fn read_step(value: &Value, path: &str, problems: &mut Vec<Problem>) -> Option<Step> {
    let kind = value.get("type").and_then(Value::as_str);
    match kind {
        None => {
            problems.push(problem(&format!("{path}.type"), "is required"));
            None
        }
        Some("if") => {
            // Branches are read item by item, so a problem deep inside names its own path.
            let mut shallow = value.clone();
            let branches = shallow
                .as_object_mut()
                .map(|o| (o.remove("then"), o.remove("else")));
            let (then, otherwise) = branches.unwrap_or((None, None));
            let condition = match shallow.get("condition") {
                Some(c) => match serde_json::from_value::<Condition>(c.clone()) {
                    Ok(c) => {
                        for field in c.unknown_roots() {
                            problems.push(problem(
                                &format!("{path}.condition"),
                                &format!(
                                    "field {field:?} must start with client., trigger., metrics. or time."
                                ),
                            ));
                        }
                        Some(c)
                    }
                    Err(e) => {
                        problems.push(problem(&format!("{path}.condition"), &e.to_string()));
                        None
                    }
                },
                None => {
                    problems.push(problem(&format!("{path}.condition"), "is required"));
                    None
                }
            };
            if let Some(extra) = shallow.as_object().and_then(|o| {
                o.keys()
                    .find(|k| !["type", "condition"].contains(&k.as_str()))
            }) {
                problems.push(problem(&format!("{path}.{extra}"), "unknown field"));
            }
            let branch = |value: Option<Value>, name: &str, problems: &mut Vec<Problem>| match value
            {
                None | Some(Value::Null) => Vec::new(),
                Some(Value::Array(items)) => {
                    read_steps(&items, &format!("{path}.{name}"), problems)
                }
                Some(_) => {
                    problems.push(problem(
                        &format!("{path}.{name}"),
                        "must be an array of steps",
                    ));
                    Vec::new()
                }
            };
            let then = branch(then, "then", problems);
            let otherwise = branch(otherwise, "else", problems);
            if then.is_empty() && otherwise.is_empty() {
                problems.push(problem(path, "an if step needs steps in then or else"));
            }
            condition.map(|condition| {
                Step::Control(Control::If {
                    condition,
                    then,
                    otherwise,
                })
            })
        }
        Some("delay" | "approval") => {
            let control: Control = match serde_json::from_value(value.clone()) {
                Ok(c) => c,
                Err(e) => {
                    problems.push(problem(path, &e.to_string()));
                    return None;
                }
            };
            match &control {
                Control::Delay { minutes } if *minutes > MAX_DELAY_MINUTES => {
                    problems.push(problem(
                        &format!("{path}.minutes"),
                        &format!("must be between 0 and {MAX_DELAY_MINUTES}"),
                    ))
                }
                Control::Approval {
                    timeout_minutes, ..
                } if *timeout_minutes == 0 || *timeout_minutes > MAX_APPROVAL_TIMEOUT_MINUTES => {
                    problems.push(problem(
                        &format!("{path}.timeout_minutes"),
                        &format!("must be between 1 and {MAX_APPROVAL_TIMEOUT_MINUTES}"),
                    ))
                }
                _ => {}
            }
            Some(Step::Control(control))
        }
        Some(_) => match serde_json::from_value::<ActionStep>(value.clone()) {
            Ok(step) => {
                if let Action::HttpRequest { url, .. } = &step.action {
                    if !(url.starts_with("https://") || url.starts_with("http://")) {
                        problems.push(problem(&format!("{path}.url"), "must be an http(s) URL"));
                    } else if templated_target(url) {
                        problems.push(problem(
                            &format!("{path}.url"),
                            "templates may only be used in the path and query, not in the scheme, host or port",
                        ));
                    }
                }
                Some(Step::Action(step))
            }
            Err(e) => {
                problems.push(problem(path, &e.to_string()));
                None
            }
        },
    }
}

/// Whether a template (`{{…}}`) appears before the URL's path: in its scheme, user, host or
/// port, where it could aim the request somewhere the definition does not say.
fn templated_target(url: &str) -> bool {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    scheme.contains("{{") || authority.contains("{{")
}

/// The egress guard over a read workflow: each `http_request` whose URL names a refused address
/// (or `localhost`), at its JSON path. Names are checked again when they are resolved.
pub fn egress_problems(spec: &WorkflowSpec, egress: &EgressPolicy) -> Vec<Problem> {
    fn walk(steps: &[Step], path: &str, egress: &EgressPolicy, problems: &mut Vec<Problem>) {
        for (i, step) in steps.iter().enumerate() {
            let here = format!("{path}[{i}]");
            match step {
                Step::Action(ActionStep {
                    action: Action::HttpRequest { url, .. },
                    ..
                }) => {
                    if let Err(denied) = egress.check_url(url) {
                        problems.push(problem(
                            &format!("{here}.url"),
                            &format!(
                                "{denied}: requests may not go to local or private addresses (VIGIL_EGRESS_ALLOW)"
                            ),
                        ));
                    }
                }
                Step::Control(Control::If {
                    then, otherwise, ..
                }) => {
                    walk(then, &format!("{here}.then"), egress, problems);
                    walk(otherwise, &format!("{here}.else"), egress, problems);
                }
                _ => {}
            }
        }
    }
    let mut problems = Vec::new();
    walk(&spec.steps, "$.steps", egress, &mut problems);
    problems
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
mod tests {
    use serde_json::json;

    use super::*;

    fn at_risk_follow_up() -> Value {
        json!({"name": "At-risk follow-up", "enabled": true,
         "triggers": [{"type": "stage_changed", "to": "at_risk"},
                      {"type": "kpi_threshold", "metric": "health_score", "operator": "below", "value": 50}],
         "steps": [
           {"type": "create_task", "title": "Call {{client.name}}", "assignee": "{{client.assignee}}"},
           {"type": "if", "condition": {"all": [{"field": "client.mrr", "operator": "greater_than", "value": 1000}]},
            "then": [{"type": "approval", "timeout_minutes": 1440},
                     {"type": "http_request", "url": "https://hooks.example.com/at-risk", "body": {"client": "{{client.id}}"}}],
            "else": [{"type": "delay", "minutes": 60}, {"type": "create_ticket", "title": "Check on {{client.name}}"}]}]})
    }

    #[test]
    fn the_issue_example_reads_and_round_trips() {
        let checked = parse_workflow(&at_risk_follow_up()).unwrap_or_else(|p| panic!("{p:?}"));
        assert_eq!(checked.spec.triggers.len(), 2);
        assert_eq!(count_steps(&checked.spec.steps), 6);
        assert!(checked.warnings.is_empty());
        let again = serde_json::to_value(&checked.spec).unwrap_or_default();
        let reread = parse_workflow(&again).unwrap_or_else(|p| panic!("{p:?}"));
        assert_eq!(reread.spec, checked.spec);
    }

    #[test]
    fn every_problem_is_reported_at_its_path() {
        let body = json!({"name": "", "triggers": [{"type": "stage_changed"}, {"type": "inactivity", "days": 0}, {"type": "nope"}],
          "steps": [{"type": "create_task"},
                    {"type": "if", "condition": {"all": []},
                     "then": [{"type": "delay", "minutes": 1441}, {"type": "http_request", "url": "ftp://x"}]},
                    {"type": "approval", "timeout_minutes": 0}, {"titel": "x"}],
          "colour": "red"});
        let problems = parse_workflow(&body).err().unwrap_or_default();
        let paths: Vec<&str> = problems.iter().map(|p| p.path.as_str()).collect();
        for expected in [
            "$.colour",
            "$.name",
            "$.triggers",
            "$.triggers[0]",
            "$.triggers[1].days",
            "$.triggers[2]",
            "$.steps[0]",
            "$.steps[1].then[0].minutes",
            "$.steps[1].then[1].url",
            "$.steps[2].timeout_minutes",
            "$.steps[3].type",
        ] {
            assert!(
                paths.contains(&expected),
                "{expected} missing from {problems:#?}"
            );
        }
        let create_task = problems.iter().find(|p| p.path == "$.steps[0]");
        assert!(
            create_task.is_some_and(|p| p.message.contains("title")),
            "{problems:#?}"
        );
    }

    #[test]
    fn http_request_targets_are_fixed_and_guarded() {
        let with_url = |url: &str| {
            json!({"name": "Hook", "triggers": [{"type": "ticket_created"}],
                   "steps": [{"type": "if", "condition": {"all": [{"field": "client.mrr", "operator": "greater_than", "value": 1}]},
                              "then": [{"type": "http_request", "url": url}]}]})
        };
        for url in [
            "https://{{trigger.data.host}}/",
            "{{trigger.data.scheme}}://hooks.example.com/",
            "https://hooks.example.com:{{trigger.data.port}}/",
            "https://{{trigger.data.user}}@hooks.example.com/",
            "https://hooks.example.com{{trigger.data.rest}}",
            "https://hooks.{{client.id}}.example.com/x",
        ] {
            let problems = parse_workflow(&with_url(url)).err().unwrap_or_default();
            assert_eq!(
                problems.iter().map(|p| p.path.as_str()).collect::<Vec<_>>(),
                ["$.steps[0].then[0].url"],
                "{url}"
            );
        }
        let templated_path =
            with_url("https://hooks.example.com/c/{{client.id}}?stage={{trigger.to}}#{{x}}");
        let checked = parse_workflow(&templated_path).unwrap_or_else(|p| panic!("{p:?}"));
        assert!(egress_problems(&checked.spec, &EgressPolicy::default()).is_empty());

        let local = parse_workflow(&with_url("http://169.254.169.254/latest/{{client.id}}"))
            .unwrap_or_else(|p| panic!("{p:?}"));
        let problems = egress_problems(&local.spec, &EgressPolicy::default());
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].path, "$.steps[0].then[0].url");
        let allowed = EgressPolicy::parse("169.254.0.0/16").unwrap_or_default();
        assert!(egress_problems(&local.spec, &allowed).is_empty());
    }

    #[test]
    fn long_chains_are_accepted_with_a_warning() {
        let steps: Vec<Value> = (0..51)
            .map(|i| json!({"type": "create_task", "title": format!("t{i}")}))
            .collect();
        let body =
            json!({"name": "Long", "triggers": [{"type": "ticket_created"}], "steps": steps});
        let checked = parse_workflow(&body).unwrap_or_else(|p| panic!("{p:?}"));
        assert_eq!(checked.warnings.len(), 1);
    }

    #[test]
    fn schedule_triggers_need_a_valid_cron_and_zone() {
        let body = json!({"name": "Weekly", "triggers": [{"type": "schedule", "cron": "every day", "timezone": "Mars/Base"}],
                          "steps": [{"type": "create_task", "title": "t"}]});
        let problems = parse_workflow(&body).err().unwrap_or_default();
        let paths: Vec<&str> = problems.iter().map(|p| p.path.as_str()).collect();
        assert_eq!(paths, ["$.triggers[0].cron", "$.triggers[0].timezone"]);
    }
}
