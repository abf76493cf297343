//! Test mode: a workflow walked against a snapshot with no side effect, returning the trace a
//! run would leave — each action as it would be done (templates rendered), each branch taken,
//! delays and approvals simulated (approvals as granted).

use chrono::{DateTime, Datelike as _, Duration, SecondsFormat, Timelike as _, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::clients::Client;
use super::condition::render_json;
use super::definition::Action;
use super::program::{Next, Program};

/// Steps a simulation walks at most (a compiled program only jumps forward, so this is a bound
/// on the program's length, not on loops).
const MAX_TRACE: usize = 1_000;

/// What a run sees: the client, the trigger, the client's metrics and the time, taken once when
/// the run starts.
pub fn snapshot(client: &Value, trigger: &Value, now: DateTime<Utc>) -> Value {
    json!({
        "client": client,
        "trigger": trigger,
        "metrics": client.get("metrics").cloned().unwrap_or_else(|| json!({})),
        "time": {
            "now": now.to_rfc3339_opts(SecondsFormat::Secs, true),
            "hour": now.hour(),
            "weekday": now.weekday().to_string().to_lowercase(),
            "date": now.date_naive().to_string(),
        },
    })
}

/// A client as a snapshot holds it; a subject Vigil does not know yet is just its id.
pub fn client_view(client: Option<&Client>, subject: &str) -> Value {
    match client.and_then(|c| serde_json::to_value(c).ok()) {
        Some(value) => value,
        None => json!({"id": subject}),
    }
}

/// An action with every text field rendered from the snapshot: what the step would do.
pub fn render_action(action: &Action, snapshot: &Value) -> Value {
    let value = serde_json::to_value(action).unwrap_or(Value::Null);
    render_json(&value, snapshot)
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TraceEntry {
    /// An action, as it would be done.
    Action {
        path: String,
        #[schema(value_type = Object)]
        would_do: Value,
        continue_on_failure: bool,
    },
    Branch {
        path: String,
        condition_held: bool,
    },
    Delay {
        path: String,
        minutes: u32,
        /// When the run would go on (simulated time).
        resumes_at: DateTime<Utc>,
    },
    /// Simulated as granted at once.
    Approval {
        path: String,
        timeout_minutes: u32,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Trace {
    #[schema(value_type = Object)]
    pub snapshot: Value,
    pub steps: Vec<TraceEntry>,
    /// When the run would end (simulated time: now plus every delay).
    pub finishes_at: DateTime<Utc>,
}

/// Walks `program` from its start against `snapshot`, doing nothing.
pub fn simulate(program: &Program, snapshot: Value, now: DateTime<Utc>) -> Trace {
    simulate_from(program, 0, snapshot, now)
}

/// Walks `program` from the step at `pc` (what a run standing there would still do), doing
/// nothing.
pub fn simulate_from(program: &Program, pc: usize, snapshot: Value, now: DateTime<Utc>) -> Trace {
    let mut steps = Vec::new();
    let mut pc = pc;
    let mut clock = now;
    while steps.len() < MAX_TRACE {
        let (branches, next) = program.next(pc, &snapshot);
        steps.extend(branches.into_iter().map(|b| TraceEntry::Branch {
            path: b.path,
            condition_held: b.condition_held,
        }));
        match next {
            Next::Act { pc: at, step, path } => {
                steps.push(TraceEntry::Action {
                    path: path.to_owned(),
                    would_do: render_action(&step.action, &snapshot),
                    continue_on_failure: step.continue_on_failure,
                });
                pc = at + 1;
            }
            Next::Delay {
                pc: at,
                minutes,
                path,
            } => {
                clock += Duration::minutes(i64::from(minutes));
                steps.push(TraceEntry::Delay {
                    path: path.to_owned(),
                    minutes,
                    resumes_at: clock,
                });
                pc = at + 1;
            }
            Next::Approval {
                pc: at,
                timeout_minutes,
                path,
                ..
            } => {
                steps.push(TraceEntry::Approval {
                    path: path.to_owned(),
                    timeout_minutes,
                });
                pc = at + 1;
            }
            Next::Finished => break,
        }
    }
    Trace {
        snapshot,
        steps,
        finishes_at: clock,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workflows::definition::parse_workflow;

    #[test]
    fn a_trace_renders_actions_takes_one_branch_and_adds_up_delays() {
        let body = json!({"name": "n", "triggers": [{"type": "stage_changed", "to": "at_risk"}],
          "steps": [
            {"type": "create_task", "title": "Call {{client.name}} ({{trigger.to}})"},
            {"type": "if", "condition": {"field": "client.mrr", "operator": "greater_than", "value": 1000},
             "then": [{"type": "approval"}],
             "else": [{"type": "delay", "minutes": 90}, {"type": "delay", "minutes": 30}]},
            {"type": "http_request", "url": "https://x.example", "body": {"c": "{{client.id}}"}}]});
        let checked = parse_workflow(&body).unwrap_or_else(|p| panic!("{p:?}"));
        let program = Program::compile(&checked.spec.steps);
        let now = DateTime::parse_from_rfc3339("2026-05-04T09:30:00Z")
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_default();
        let snap = snapshot(
            &json!({"id": "c_1", "name": "Acme", "mrr": 10}),
            &json!({"to": "at_risk"}),
            now,
        );
        assert_eq!(snap["time"]["weekday"], "mon");

        let trace = simulate(&program, snap, now);

        let kinds: Vec<String> = trace
            .steps
            .iter()
            .map(|s| {
                serde_json::to_value(s)
                    .ok()
                    .and_then(|v| v["kind"].as_str().map(str::to_owned))
                    .unwrap_or_default()
            })
            .collect();
        assert_eq!(kinds, ["action", "branch", "delay", "delay", "action"]);
        match &trace.steps[0] {
            TraceEntry::Action { would_do, .. } => {
                assert_eq!(would_do["title"], "Call Acme (at_risk)")
            }
            other => panic!("{other:?}"),
        }
        match &trace.steps[4] {
            TraceEntry::Action { would_do, .. } => {
                assert_eq!(would_do["body"], json!({"c": "c_1"}))
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(trace.finishes_at - now, Duration::minutes(120));
    }
}
