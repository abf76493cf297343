//! A draft as the workflow body the API takes (and back), and the body's problems placed at the
//! form fields they are about.

use serde_json::{Map, Value, json};

use super::catalogue::{Catalogue, Input, KindSpec};
use super::draft::{Branching, Comparison, ConditionDraft, Draft, Part, StepDraft};

impl Draft {
    /// The body `POST /api/v1/workflows` takes. Values are typed as the kind's schema says; one
    /// that does not read as its type is sent as typed, for the validation to name.
    pub fn to_body(&self, catalogue: &Catalogue) -> Value {
        let mut body = json!({
            "name": self.name,
            "description": self.description,
            "enabled": self.enabled,
            "requires_approval": self.requires_approval,
            "triggers": self.triggers.iter()
                .map(|t| part_body(t, catalogue.trigger(&t.kind)))
                .collect::<Vec<_>>(),
            "steps": steps_body(&self.steps, catalogue),
        });
        let dedupe = self.dedupe_minutes.trim();
        if !dedupe.is_empty() {
            body["dedupe_minutes"] = typed(dedupe, &Input::Integer);
        }
        body
    }

    /// The draft of a workflow body (a stored workflow's, or a template's).
    pub fn from_body(body: &Value) -> Draft {
        let text = |name: &str| body.get(name).map(as_text).unwrap_or_default();
        let flag =
            |name: &str, default: bool| body.get(name).and_then(Value::as_bool).unwrap_or(default);
        let list = |name: &str| {
            body.get(name)
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default()
        };
        Draft {
            name: text("name"),
            description: text("description"),
            enabled: flag("enabled", true),
            requires_approval: flag("requires_approval", false),
            dedupe_minutes: text("dedupe_minutes"),
            triggers: list("triggers").iter().map(part_of_body).collect(),
            steps: steps_of_body(&list("steps")),
        }
    }
}

fn steps_body(steps: &[StepDraft], catalogue: &Catalogue) -> Vec<Value> {
    steps
        .iter()
        .map(|step| match step {
            StepDraft::Do {
                part,
                continue_on_failure,
            } => {
                let mut body = part_body(part, catalogue.step(&part.kind));
                if *continue_on_failure {
                    body["continue_on_failure"] = Value::Bool(true);
                }
                body
            }
            StepDraft::If(branching) => {
                let mut body = json!({
                    "type": "if",
                    "condition": condition_body(&branching.condition),
                    "then": steps_body(&branching.then, catalogue),
                });
                if !branching.otherwise.is_empty() {
                    body["else"] = Value::Array(steps_body(&branching.otherwise, catalogue));
                }
                body
            }
        })
        .collect()
}

/// A trigger or step: `type` and each field filled in, typed by its kind's schema (a field the
/// kind does not have is left out: it was typed for another kind).
fn part_body(part: &Part, kind: Option<&KindSpec>) -> Value {
    let mut body = Map::new();
    body.insert("type".into(), Value::String(part.kind.clone()));
    for field in kind.map(|k| k.fields.as_slice()).unwrap_or_default() {
        let entered = part
            .fields
            .get(&field.name)
            .map(|v| v.trim())
            .unwrap_or_default();
        if !entered.is_empty() {
            body.insert(field.name.clone(), typed(entered, &field.input));
        }
    }
    Value::Object(body)
}

fn typed(entered: &str, input: &Input) -> Value {
    let as_typed = match input {
        Input::Integer => entered.parse::<i64>().ok().map(Value::from),
        // Whole numbers stay whole (`1000`, not `1000.0`), as a person typed them.
        Input::Number => entered.parse::<i64>().ok().map(Value::from).or_else(|| {
            entered
                .parse::<f64>()
                .ok()
                .filter(|n| n.is_finite())
                .map(Value::from)
        }),
        Input::Json => serde_json::from_str(entered).ok(),
        Input::Text | Input::Choice(_) => None,
    };
    as_typed.unwrap_or_else(|| Value::String(entered.to_owned()))
}

fn condition_body(condition: &ConditionDraft) -> Value {
    match condition {
        ConditionDraft::Raw(raw) => {
            serde_json::from_str(raw).unwrap_or_else(|_| Value::String(raw.clone()))
        }
        ConditionDraft::Rows { any, rows } => {
            let mut compared: Vec<Value> = rows.iter().map(comparison_body).collect();
            match (compared.len(), any) {
                (1, _) => compared.remove(0),
                (_, true) => json!({ "any": compared }),
                (_, false) => json!({ "all": compared }),
            }
        }
    }
}

/// A comparison's value read as a person means it: a number, `true`/`false`, else the text;
/// none for `exists`.
fn comparison_body(row: &Comparison) -> Value {
    let mut body = json!({"field": row.field.trim(), "operator": row.operator});
    let value = row.value.trim();
    if !value.is_empty() {
        body["value"] = match value {
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            _ => typed(value, &Input::Number),
        };
    }
    body
}

/// A value as a form field shows it.
fn as_text(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(text) => text.clone(),
        Value::Number(_) | Value::Bool(_) => value.to_string(),
        Value::Array(_) | Value::Object(_) => value.to_string(),
    }
}

fn part_of_body(body: &Value) -> Part {
    let object = body.as_object().cloned().unwrap_or_default();
    Part {
        kind: object.get("type").map(as_text).unwrap_or_default(),
        fields: object
            .iter()
            .filter(|(k, _)| !["type", "continue_on_failure"].contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), as_text(v)))
            .collect(),
    }
}

fn steps_of_body(steps: &[Value]) -> Vec<StepDraft> {
    steps
        .iter()
        .map(|step| {
            if step.get("type").and_then(Value::as_str) != Some("if") {
                return StepDraft::Do {
                    part: part_of_body(step),
                    continue_on_failure: step
                        .get("continue_on_failure")
                        .and_then(Value::as_bool)
                        .unwrap_or(false),
                };
            }
            let branch = |name: &str| {
                steps_of_body(
                    step.get(name)
                        .and_then(Value::as_array)
                        .map(Vec::as_slice)
                        .unwrap_or_default(),
                )
            };
            StepDraft::If(Branching {
                condition: condition_of_body(step.get("condition").unwrap_or(&Value::Null)),
                then: branch("then"),
                otherwise: branch("else"),
            })
        })
        .collect()
}

/// A comparison, or an `all`/`any` of comparisons, as rows; anything deeper as its JSON.
fn condition_of_body(condition: &Value) -> ConditionDraft {
    let row = |c: &Value| -> Option<Comparison> {
        Some(Comparison {
            field: c.get("field")?.as_str()?.to_owned(),
            operator: c.get("operator")?.as_str()?.to_owned(),
            value: c.get("value").map(as_text).unwrap_or_default(),
        })
    };
    let rows =
        |list: &Value| -> Option<Vec<Comparison>> { list.as_array()?.iter().map(row).collect() };
    let read = match (condition.get("all"), condition.get("any")) {
        (Some(all), None) => rows(all).map(|rows| (false, rows)),
        (None, Some(any)) => rows(any).map(|rows| (true, rows)),
        _ => row(condition).map(|row| (false, vec![row])),
    };
    match read {
        Some((any, rows)) => ConditionDraft::Rows { any, rows },
        None => ConditionDraft::Raw(serde_json::to_string_pretty(condition).unwrap_or_default()),
    }
}

/// The form field a problem at a JSON path is about (`$.steps[2].then[0].title` →
/// `s.2.then.0.f.title`, `$.triggers[1]` → `t.1`); serde's "missing field `x`" at a step is
/// placed at the field `x` of that step.
pub fn field_of_problem(path: &str, message: &str) -> String {
    let mut words: Vec<String> = Vec::new();
    for piece in path
        .trim_start_matches('$')
        .split('.')
        .filter(|p| !p.is_empty())
    {
        let (name, index) = match piece.split_once('[') {
            Some((name, index)) => (name, Some(index.trim_end_matches(']'))),
            None => (piece, None),
        };
        words.push(match (words.is_empty(), name) {
            (true, "triggers") => "t".into(),
            (true, "steps") => "s".into(),
            (false, "then" | "else") => name.into(),
            (false, "condition") => "cond".into(),
            (false, field) => format!("f.{field}"),
            (true, field) => field.into(),
        });
        words.extend(index.map(str::to_owned));
    }
    let placed = words.join(".");
    let at_a_part = words.len() >= 2 && words.last().is_some_and(|w| w.parse::<usize>().is_ok());
    match message
        .strip_prefix("missing field `")
        .and_then(|rest| rest.split('`').next())
    {
        Some(field) if at_a_part => format!("{placed}.f.{field}"),
        _ => placed,
    }
}
