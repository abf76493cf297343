//! Workflows in words: what a trigger waits for, what a step does, what a test-mode trace or a
//! waiting run would still do, for pages a person reads rather than JSON.

use serde_json::Value;
use vigil_core::secret::url_hint;
use vigil_core::workflows::condition::Condition;
use vigil_core::workflows::definition::{Control, Step, Trigger};
use vigil_core::workflows::simulate::TraceEntry;

/// `kpi_threshold` → `kpi threshold`.
fn spaced(word: &str) -> String {
    word.replace('_', " ")
}

fn text<'a>(value: &'a Value, field: &str) -> &'a str {
    value.get(field).and_then(Value::as_str).unwrap_or_default()
}

/// A trigger: its type, then what it names (`stage changed: to at_risk`).
pub fn trigger_words(trigger: &Trigger) -> String {
    let value = serde_json::to_value(trigger).unwrap_or_default();
    let kind = spaced(text(&value, "type"));
    let named: Vec<String> = value
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(k, _)| k.as_str() != "type")
        .map(|(k, v)| match v {
            Value::String(s) => format!("{} {s}", spaced(k)),
            other => format!("{} {other}", spaced(k)),
        })
        .collect();
    match named.is_empty() {
        true => kind,
        false => format!("{kind}: {}", named.join(", ")),
    }
}

/// An action (as defined, or as a run would do it with its templates filled in). Request URLs
/// show their host only: they may carry tokens.
pub fn action_words(action: &Value) -> String {
    let quoted = |field: &str| format!("“{}”", text(action, field));
    match text(action, "type") {
        "create_task" => format!("Create the task {}", quoted("title")),
        "send_notification" => format!(
            "Send the notification {} ({})",
            quoted("title"),
            text(action, "severity")
        ),
        "draft_message" => match text(action, "subject") {
            "" => "Draft a message for review".to_owned(),
            _ => format!("Draft the message {} for review", quoted("subject")),
        },
        "create_ticket" => format!("Open the ticket {}", quoted("title")),
        "update_client" => {
            let changes: Vec<String> = ["stage", "health_score", "assignee"]
                .iter()
                .filter_map(|f| action.get(*f).map(|v| (f, v)))
                .map(|(f, v)| match v {
                    Value::String(s) => format!("{} to {s}", spaced(f)),
                    other => format!("{} to {other}", spaced(f)),
                })
                .collect();
            format!("Update the client: {}", changes.join(", "))
        }
        "raise_alert" => format!(
            "Raise the alert {} ({})",
            quoted("title"),
            text(action, "severity")
        ),
        "http_request" => format!("Send a signed request to {}", url_hint(text(action, "url"))),
        other => spaced(other),
    }
}

/// A condition: `client.mrr greater than 1000 and …`.
pub fn condition_words(condition: &Condition) -> String {
    match condition {
        Condition::All { all } => join(all, " and "),
        Condition::Any { any } => join(any, " or "),
        Condition::Compare(c) => {
            let operator = serde_json::to_value(c.operator).unwrap_or_default();
            let operator = spaced(operator.as_str().unwrap_or_default());
            match &c.value {
                Value::Null => format!("{} {operator}", c.field),
                value => format!("{} {operator} {value}", c.field),
            }
        }
    }
}

fn join(conditions: &[Condition], with: &str) -> String {
    let parts: Vec<String> = conditions
        .iter()
        .map(|c| match c {
            Condition::Compare(_) => condition_words(c),
            nested => format!("({})", condition_words(nested)),
        })
        .collect();
    parts.join(with)
}

/// The steps of a definition, one line each, with how deep in branches each sits.
pub fn step_lines(steps: &[Step], depth: usize, lines: &mut Vec<(usize, String)>) {
    for step in steps {
        match step {
            Step::Action(step) => {
                let value = serde_json::to_value(&step.action).unwrap_or_default();
                let mut line = action_words(&value);
                if step.continue_on_failure {
                    line.push_str(" (goes on if it fails)");
                }
                lines.push((depth, line));
            }
            Step::Control(Control::Delay { minutes }) => {
                lines.push((depth, format!("Wait {minutes} minutes")));
            }
            Step::Control(Control::Approval {
                approvers,
                timeout_minutes,
            }) => lines.push((
                depth,
                format!(
                    "Wait for an approval by {} or above (rejected after {timeout_minutes} minutes)",
                    approvers.as_str()
                ),
            )),
            Step::Control(Control::If {
                condition,
                then,
                otherwise,
            }) => {
                lines.push((depth, format!("If {}:", condition_words(condition))));
                step_lines(then, depth + 1, lines);
                if !otherwise.is_empty() {
                    lines.push((depth, "Else:".to_owned()));
                    step_lines(otherwise, depth + 1, lines);
                }
            }
        }
    }
}

/// One entry of a test-mode trace, or of what a waiting run would still do.
pub fn trace_words(entry: &TraceEntry) -> String {
    match entry {
        TraceEntry::Action {
            would_do,
            continue_on_failure,
            ..
        } => {
            let words = action_words(would_do);
            match continue_on_failure {
                true => format!("{words} (goes on if it fails)"),
                false => words,
            }
        }
        TraceEntry::Branch {
            condition_held: true,
            ..
        } => "The condition holds: the then branch".to_owned(),
        TraceEntry::Branch { .. } => "The condition does not hold: the else branch".to_owned(),
        TraceEntry::Delay { minutes, .. } => format!("Wait {minutes} minutes"),
        TraceEntry::Approval { .. } => "Wait for an approval".to_owned(),
    }
}

/// The JSON path of a trace entry's step.
pub fn trace_path(entry: &TraceEntry) -> &str {
    match entry {
        TraceEntry::Action { path, .. }
        | TraceEntry::Branch { path, .. }
        | TraceEntry::Delay { path, .. }
        | TraceEntry::Approval { path, .. } => path,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use vigil_core::workflows::definition::parse_workflow;

    #[test]
    fn a_definition_reads_as_sentences() {
        let body = json!({"name": "n", "triggers": [{"type": "stage_changed", "to": "at_risk"}],
          "steps": [
            {"type": "create_task", "title": "Call {{client.name}}"},
            {"type": "if", "condition": {"any": [
                {"field": "client.mrr", "operator": "greater_than", "value": 1000},
                {"field": "client.vip", "operator": "exists"}]},
             "then": [{"type": "approval", "approvers": "admin", "timeout_minutes": 60}],
             "else": [{"type": "http_request", "url": "https://hooks.example.com/t/secret"}]}]});
        let spec = parse_workflow(&body)
            .unwrap_or_else(|p| panic!("{p:?}"))
            .spec;
        assert_eq!(
            trigger_words(&spec.triggers[0]),
            "stage changed: to at_risk"
        );
        let mut lines = Vec::new();
        step_lines(&spec.steps, 0, &mut lines);
        let lines: Vec<(usize, &str)> = lines.iter().map(|(d, l)| (*d, l.as_str())).collect();
        assert_eq!(
            lines,
            [
                (0, "Create the task “Call {{client.name}}”"),
                (0, "If client.mrr greater than 1000 or client.vip exists:"),
                (
                    1,
                    "Wait for an approval by admin or above (rejected after 60 minutes)"
                ),
                (0, "Else:"),
                (1, "Send a signed request to https://hooks.example.com/…"),
            ]
        );
    }
}
