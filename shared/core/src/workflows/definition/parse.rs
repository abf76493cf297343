//! Reading a posted workflow body: each field, trigger and step on its own, so every problem is
//! reported at its JSON path, not only the first.

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use super::{
    Action, ActionStep, Checked, Control, DEFAULT_DEDUPE_MINUTES, LONG_CHAIN_STEPS,
    MAX_APPROVAL_TIMEOUT_MINUTES, MAX_DELAY_MINUTES, MAX_DESCRIPTION_LEN, MAX_NAME_LEN,
    MAX_STEP_DEPTH, MAX_STEPS, Refusal, Step, Trigger, WorkflowSpec, count_steps, is_blank,
    problem,
};
use crate::egress::EgressPolicy;
use crate::target_url::{TargetUrlProblem, check_target_url};
use crate::workflows::condition::{Condition, MAX_CONDITION_DEPTH};

/// The fields a workflow body may hold.
const KNOWN_FIELDS: [&str; 7] = [
    "name",
    "description",
    "enabled",
    "triggers",
    "steps",
    "requires_approval",
    "dedupe_minutes",
];

/// Reads a posted workflow body. Every problem found is returned, each with its JSON path.
pub fn parse_workflow(body: &Value) -> Result<Checked, Refusal> {
    let mut problems = Refusal::default();
    let Some(object) = body.as_object() else {
        problems.shape("$", "a workflow must be a JSON object");
        return Err(problems);
    };
    for key in object
        .keys()
        .filter(|k| !KNOWN_FIELDS.contains(&k.as_str()))
    {
        problems.shape(&format!("$.{key}"), "unknown field");
    }
    // Read in the order the problems are reported.
    let name = read_name(object, &mut problems);
    let description = read_description(object, &mut problems);
    let enabled = read_flag(object, "enabled", true, &mut problems);
    let requires_approval = read_flag(object, "requires_approval", false, &mut problems);
    let dedupe_minutes = read_dedupe_minutes(object, &mut problems);
    let triggers = read_triggers(object, &mut problems);
    let steps = read_workflow_steps(object, &mut problems);
    let total = count_steps(&steps);
    if total > MAX_STEPS {
        problems.meaning(
            "$.steps",
            &format!("holds {total} steps; at most {MAX_STEPS}"),
        );
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

fn read_name(object: &Map<String, Value>, problems: &mut Refusal) -> String {
    match object.get("name") {
        Some(Value::String(name)) if !is_blank(name) && name.chars().count() <= MAX_NAME_LEN => {
            name.clone()
        }
        Some(Value::String(_)) => {
            problems.shape("$.name", &format!("must be 1 to {MAX_NAME_LEN} characters"));
            String::new()
        }
        Some(_) => {
            problems.shape("$.name", "must be a string");
            String::new()
        }
        None => {
            problems.shape("$.name", "is required");
            String::new()
        }
    }
}

fn read_description(object: &Map<String, Value>, problems: &mut Refusal) -> String {
    match object.get("description") {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(d)) if d.chars().count() <= MAX_DESCRIPTION_LEN => d.clone(),
        Some(_) => {
            problems.shape(
                "$.description",
                &format!("must be a string of at most {MAX_DESCRIPTION_LEN} characters"),
            );
            String::new()
        }
    }
}

fn read_flag(
    object: &Map<String, Value>,
    field: &str,
    default: bool,
    problems: &mut Refusal,
) -> bool {
    match object.get(field) {
        None | Some(Value::Null) => default,
        Some(Value::Bool(b)) => *b,
        Some(_) => {
            problems.shape(&format!("$.{field}"), "must be true or false");
            default
        }
    }
}

fn read_dedupe_minutes(object: &Map<String, Value>, problems: &mut Refusal) -> u32 {
    match object.get("dedupe_minutes") {
        None | Some(Value::Null) => DEFAULT_DEDUPE_MINUTES,
        Some(value) => match value.as_u64().and_then(|m| u32::try_from(m).ok()) {
            Some(minutes) if minutes <= MAX_DELAY_MINUTES => minutes,
            _ => {
                problems.shape(
                    "$.dedupe_minutes",
                    &format!("must be a whole number of minutes from 0 to {MAX_DELAY_MINUTES}"),
                );
                DEFAULT_DEDUPE_MINUTES
            }
        },
    }
}

fn read_triggers(object: &Map<String, Value>, problems: &mut Refusal) -> Vec<Trigger> {
    match object.get("triggers") {
        Some(Value::Array(items)) => {
            if !(1..=2).contains(&items.len()) {
                problems.shape("$.triggers", "must hold one or two triggers");
            }
            items
                .iter()
                .enumerate()
                .filter_map(|(i, item)| read_trigger(item, &format!("$.triggers[{i}]"), problems))
                .collect()
        }
        Some(_) => {
            problems.shape("$.triggers", "must be an array");
            Vec::new()
        }
        None => {
            problems.shape("$.triggers", "is required");
            Vec::new()
        }
    }
}

/// The workflow's own steps (the first level).
fn read_workflow_steps(object: &Map<String, Value>, problems: &mut Refusal) -> Vec<Step> {
    match object.get("steps") {
        Some(Value::Array(items)) if items.is_empty() => {
            problems.shape("$.steps", "must hold at least one step");
            Vec::new()
        }
        Some(Value::Array(items)) => read_steps(items, "$.steps", 1, problems),
        Some(_) => {
            problems.shape("$.steps", "must be an array");
            Vec::new()
        }
        None => {
            problems.shape("$.steps", "is required");
            Vec::new()
        }
    }
}

/// `value` read as a `T`; the serde error is the problem at `path` when it is not one.
fn read_as<T: DeserializeOwned>(value: &Value, path: &str, problems: &mut Refusal) -> Option<T> {
    match serde_json::from_value(value.clone()) {
        Ok(read) => Some(read),
        Err(e) => {
            problems.shape(path, &e.to_string());
            None
        }
    }
}

fn read_trigger(value: &Value, path: &str, problems: &mut Refusal) -> Option<Trigger> {
    let trigger: Trigger = read_as(value, path, problems)?;
    match &trigger {
        Trigger::Inactivity { days } if *days == 0 || *days > 365 => {
            problems.shape(&format!("{path}.days"), "must be between 1 and 365");
        }
        Trigger::KpiThreshold { value, .. } if !value.is_finite() => {
            problems.shape(&format!("{path}.value"), "must be a number");
        }
        Trigger::Schedule { cron, timezone } => {
            if cron.parse::<croner::Cron>().is_err() {
                problems.meaning(&format!("{path}.cron"), "is not a valid cron expression");
            }
            if timezone.parse::<chrono_tz::Tz>().is_err() {
                problems.meaning(&format!("{path}.timezone"), "is not an IANA timezone name");
            }
        }
        _ => {}
    }
    Some(trigger)
}

fn read_steps(items: &[Value], path: &str, depth: usize, problems: &mut Refusal) -> Vec<Step> {
    items
        .iter()
        .enumerate()
        .filter_map(|(i, item)| read_step(item, &format!("{path}[{i}]"), depth, problems))
        .collect()
}

fn read_step(value: &Value, path: &str, depth: usize, problems: &mut Refusal) -> Option<Step> {
    match value.get("type").and_then(Value::as_str) {
        None => {
            problems.shape(&format!("{path}.type"), "is required");
            None
        }
        Some("if") => read_if(value, path, depth, problems),
        Some("delay" | "approval") => read_control(value, path, problems),
        Some(_) => read_action(value, path, problems),
    }
}

fn read_if(value: &Value, path: &str, depth: usize, problems: &mut Refusal) -> Option<Step> {
    if depth >= MAX_STEP_DEPTH {
        problems.shape(
            path,
            &format!("if steps nest at most {} deep", MAX_STEP_DEPTH - 1),
        );
    }
    // Branches are read item by item, so a problem deep inside names its own path.
    let mut shallow = value.clone();
    let branches = shallow
        .as_object_mut()
        .map(|o| (o.remove("then"), o.remove("else")));
    let (then, otherwise) = branches.unwrap_or((None, None));
    let condition = read_condition(shallow.get("condition"), path, problems);
    if let Some(extra) = shallow.as_object().and_then(|o| {
        o.keys()
            .find(|k| !["type", "condition"].contains(&k.as_str()))
    }) {
        problems.shape(&format!("{path}.{extra}"), "unknown field");
    }
    let then = read_branch(then, &format!("{path}.then"), depth, problems);
    let otherwise = read_branch(otherwise, &format!("{path}.else"), depth, problems);
    if then.is_empty() && otherwise.is_empty() {
        problems.meaning(path, "an if step needs steps in then or else");
    }
    condition.map(|condition| {
        Step::Control(Control::If {
            condition,
            then,
            otherwise,
        })
    })
}

/// An `if` step's condition, at `{path}.condition`.
fn read_condition(value: Option<&Value>, path: &str, problems: &mut Refusal) -> Option<Condition> {
    let at = format!("{path}.condition");
    let Some(value) = value else {
        problems.shape(&at, "is required");
        return None;
    };
    let condition: Condition = read_as(value, &at, problems)?;
    if condition.depth() > MAX_CONDITION_DEPTH {
        problems.shape(
            &at,
            &format!("a condition has at most {MAX_CONDITION_DEPTH} levels"),
        );
    }
    for field in condition.unknown_roots() {
        problems.meaning(
            &at,
            &format!("field {field:?} must start with client., trigger., metrics. or time."),
        );
    }
    Some(condition)
}

/// One branch of an `if` step (`then` or `else`, at `path`), a level deeper than the `if`.
fn read_branch(
    value: Option<Value>,
    path: &str,
    depth: usize,
    problems: &mut Refusal,
) -> Vec<Step> {
    match value {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => read_steps(&items, path, depth + 1, problems),
        Some(_) => {
            problems.shape(path, "must be an array of steps");
            Vec::new()
        }
    }
}

/// A `delay` or `approval` step.
fn read_control(value: &Value, path: &str, problems: &mut Refusal) -> Option<Step> {
    let control: Control = read_as(value, path, problems)?;
    match &control {
        Control::Delay { minutes } if *minutes > MAX_DELAY_MINUTES => problems.shape(
            &format!("{path}.minutes"),
            &format!("must be between 0 and {MAX_DELAY_MINUTES}"),
        ),
        Control::Approval {
            timeout_minutes, ..
        } if *timeout_minutes == 0 || *timeout_minutes > MAX_APPROVAL_TIMEOUT_MINUTES => problems
            .shape(
                &format!("{path}.timeout_minutes"),
                &format!("must be between 1 and {MAX_APPROVAL_TIMEOUT_MINUTES}"),
            ),
        _ => {}
    }
    Some(Step::Control(control))
}

fn read_action(value: &Value, path: &str, problems: &mut Refusal) -> Option<Step> {
    let step: ActionStep = read_as(value, path, problems)?;
    if let Action::HttpRequest { url, .. } = &step.action {
        let at = format!("{path}.url");
        match check_target_url(url) {
            Ok(()) => {}
            Err(problem @ TargetUrlProblem::NotAnAddress) => {
                problems.meaning(&at, &problem.to_string());
            }
            Err(problem) => problems.shape(&at, &problem.to_string()),
        }
    }
    Some(Step::Action(step))
}

/// The egress guard over a read workflow: each `http_request` whose URL names a refused address
/// (or `localhost`), at its JSON path. Names are checked again when they are resolved.
pub fn egress_problems(spec: &WorkflowSpec, egress: &EgressPolicy) -> Refusal {
    fn walk(steps: &[Step], path: &str, egress: &EgressPolicy, problems: &mut Refusal) {
        for (i, step) in steps.iter().enumerate() {
            let here = format!("{path}[{i}]");
            match step {
                Step::Action(ActionStep {
                    action: Action::HttpRequest { url, .. },
                    ..
                }) => {
                    // Whether an address may be reached is the deployment's rule
                    // (`VIGIL_EGRESS_ALLOW`), not something the API document can state.
                    if let Err(denied) = egress.check_url(url) {
                        problems.meaning(
                            &format!("{here}.url"),
                            &format!(
                                "{denied}: requests may not go to local or private addresses (VIGIL_EGRESS_ALLOW)"
                            ),
                        );
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
    let mut problems = Refusal::default();
    walk(&spec.steps, "$.steps", egress, &mut problems);
    problems
}
