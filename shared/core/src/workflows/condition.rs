//! Conditions of `if` steps and the `{{...}}` templates of text fields, both read against a
//! run's snapshot: `{"client": {...}, "trigger": {...}, "metrics": {...}, "time": {...}}`, taken
//! when the run started, so data that changes mid-run does not change the run.

use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Operator {
    Equals,
    NotEquals,
    GreaterThan,
    LessThan,
    Contains,
    StartsWith,
    Exists,
}

/// `{"field": "client.mrr", "operator": "greater_than", "value": 1000}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Comparison {
    /// A dotted path under `client`, `trigger`, `metrics` or `time`.
    pub field: String,
    pub operator: Operator,
    /// Any JSON value; none for `exists`.
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub value: Value,
}

/// All of, any of, or one comparison; nested freely.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(untagged, deny_unknown_fields)]
pub enum Condition {
    All {
        #[schema(no_recursion)]
        all: Vec<Condition>,
    },
    Any {
        #[schema(no_recursion)]
        any: Vec<Condition>,
    },
    Compare(Comparison),
}

/// Levels a condition may have, comparisons included: an `any` of `all`s of comparisons (or the
/// other way round) says any rule of ands and ors, and the API document states the bound level
/// by level.
pub const MAX_CONDITION_DEPTH: usize = 3;

/// Roots a field path may start with.
pub const ROOTS: [&str; 4] = ["client", "trigger", "metrics", "time"];

/// The value at a dotted path of the snapshot (`client.metrics.nps`), if any.
pub fn lookup<'a>(snapshot: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.')
        .try_fold(snapshot, |value, key| value.get(key))
        .filter(|v| !v.is_null())
}

impl Condition {
    /// Whether the condition holds for `snapshot`. An empty `all` holds, an empty `any` does not.
    pub fn holds(&self, snapshot: &Value) -> bool {
        match self {
            Condition::All { all } => all.iter().all(|c| c.holds(snapshot)),
            Condition::Any { any } => any.iter().any(|c| c.holds(snapshot)),
            Condition::Compare(c) => c.holds(snapshot),
        }
    }

    /// Levels of the condition: a comparison is one; `all` and `any` are one more than their
    /// deepest member, or than a comparison when they hold none.
    pub fn depth(&self) -> usize {
        match self {
            Condition::All { all: list } | Condition::Any { any: list } => {
                1 + list.iter().map(Condition::depth).max().unwrap_or(1)
            }
            Condition::Compare(_) => 1,
        }
    }

    /// Fields that name no known root, for validation.
    pub fn unknown_roots(&self) -> Vec<&str> {
        match self {
            Condition::All { all: list } | Condition::Any { any: list } => {
                list.iter().flat_map(Condition::unknown_roots).collect()
            }
            Condition::Compare(c) => {
                let root = c.field.split('.').next().unwrap_or_default();
                if ROOTS.contains(&root) {
                    Vec::new()
                } else {
                    vec![c.field.as_str()]
                }
            }
        }
    }
}

impl Comparison {
    pub fn holds(&self, snapshot: &Value) -> bool {
        let found = lookup(snapshot, &self.field);
        let Some(actual) = found else {
            // A missing field equals nothing and is "not equal" to anything.
            return self.operator == Operator::NotEquals;
        };
        match self.operator {
            Operator::Exists => true,
            Operator::Equals => same(actual, &self.value),
            Operator::NotEquals => !same(actual, &self.value),
            Operator::GreaterThan => number(actual)
                .zip(number(&self.value))
                .is_some_and(|(a, b)| a > b),
            Operator::LessThan => number(actual)
                .zip(number(&self.value))
                .is_some_and(|(a, b)| a < b),
            Operator::Contains => match (actual, &self.value) {
                (Value::String(a), Value::String(b)) => {
                    a.to_lowercase().contains(&b.to_lowercase())
                }
                (Value::Array(items), wanted) => items.iter().any(|item| same(item, wanted)),
                _ => false,
            },
            Operator::StartsWith => match (actual, &self.value) {
                (Value::String(a), Value::String(b)) => {
                    a.to_lowercase().starts_with(&b.to_lowercase())
                }
                _ => false,
            },
        }
    }
}

/// Numbers compare by value (`1000` equals `1000.0`, and `"1000"` from a form equals `1000`);
/// everything else exactly.
fn same(a: &Value, b: &Value) -> bool {
    match (number(a), number(b)) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

fn number(value: &Value) -> Option<f64> {
    match value {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// Longest rendered text field, in bytes: a template is short, but a placeholder may stand for a
/// long value (`{{client}}` renders the whole client), and a template may repeat it.
pub const MAX_RENDERED_FIELD_BYTES: usize = 8 * 1024;
/// Longest total of one action's rendered text fields, in bytes.
pub const MAX_RENDERED_ACTION_BYTES: usize = 32 * 1024;

/// Appends as much of `text` as keeps `out` within `cap` bytes, cut at a character boundary;
/// false once `out` is full.
fn push_within(out: &mut String, text: &str, cap: usize) -> bool {
    let room = cap.saturating_sub(out.len());
    if text.len() <= room {
        out.push_str(text);
        return true;
    }
    let mut end = room;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    out.push_str(&text[..end]);
    false
}

/// Renders `{{path}}` placeholders from the snapshot; an unknown path renders empty. The output
/// is cut at [`MAX_RENDERED_FIELD_BYTES`].
pub fn render(template: &str, snapshot: &Value) -> String {
    render_within(template, snapshot, MAX_RENDERED_FIELD_BYTES)
}

/// [`render`], stopping as soon as the output reaches `cap` bytes.
fn render_within(template: &str, snapshot: &Value, cap: usize) -> String {
    let mut out = String::with_capacity(template.len().min(cap));
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        if !push_within(&mut out, &rest[..start], cap) {
            return out;
        }
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            push_within(&mut out, &rest[start..], cap);
            return out;
        };
        let fits = match lookup(snapshot, after[..end].trim()) {
            Some(Value::String(s)) => push_within(&mut out, s, cap),
            // Whole numbers read as people write them (20, not 20.0).
            Some(Value::Number(n)) => match n.as_f64() {
                Some(x) if x.fract() == 0.0 && x.abs() < 1e15 => {
                    push_within(&mut out, &format!("{}", x as i64), cap)
                }
                _ => push_within(&mut out, &n.to_string(), cap),
            },
            Some(other) => push_within(&mut out, &other.to_string(), cap),
            None => true,
        };
        if !fits {
            return out;
        }
        rest = &after[end + 2..];
    }
    push_within(&mut out, rest, cap);
    out
}

/// Renders every string inside a JSON value (an action's fields, `http_request` bodies): each
/// within [`MAX_RENDERED_FIELD_BYTES`], all together within [`MAX_RENDERED_ACTION_BYTES`] (fields
/// past that render cut, or empty).
pub fn render_json(value: &Value, snapshot: &Value) -> Value {
    let mut budget = MAX_RENDERED_ACTION_BYTES;
    render_json_within(value, snapshot, &mut budget)
}

fn render_json_within(value: &Value, snapshot: &Value, budget: &mut usize) -> Value {
    match value {
        Value::String(s) => {
            let out = render_within(s, snapshot, MAX_RENDERED_FIELD_BYTES.min(*budget));
            *budget = budget.saturating_sub(out.len());
            Value::String(out)
        }
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|v| render_json_within(v, snapshot, budget))
                .collect(),
        ),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), render_json_within(v, snapshot, budget)))
                .collect(),
        ),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn snapshot() -> Value {
        json!({"client": {"id": "c_42", "name": "Acme", "mrr": 1500, "stage": "at_risk",
                          "tags": ["vip"], "assignee": null},
               "trigger": {"type": "stage_changed", "to": "at_risk"},
               "metrics": {"health_score": 41.5},
               "time": {"weekday": "mon", "hour": 9}})
    }

    fn compare(field: &str, operator: Operator, value: Value) -> Condition {
        Condition::Compare(Comparison {
            field: field.into(),
            operator,
            value,
        })
    }

    #[test]
    fn every_operator_compares_as_a_person_expects() {
        let s = snapshot();
        let table = [
            ("client.mrr", Operator::GreaterThan, json!(1000), true),
            ("client.mrr", Operator::GreaterThan, json!(1500), false),
            ("client.mrr", Operator::LessThan, json!("2000"), true),
            ("client.mrr", Operator::Equals, json!(1500.0), true),
            ("client.stage", Operator::Equals, json!("at_risk"), true),
            ("client.stage", Operator::NotEquals, json!("active"), true),
            ("client.name", Operator::Contains, json!("acm"), true),
            ("client.tags", Operator::Contains, json!("vip"), true),
            ("client.name", Operator::StartsWith, json!("AC"), true),
            ("client.name", Operator::StartsWith, json!("me"), false),
            ("metrics.health_score", Operator::LessThan, json!(50), true),
            ("client.assignee", Operator::Exists, Value::Null, false),
            ("client.id", Operator::Exists, Value::Null, true),
            ("client.nope", Operator::Equals, json!("x"), false),
            ("client.nope", Operator::NotEquals, json!("x"), true),
            ("client.name", Operator::GreaterThan, json!(3), false),
        ];
        for (field, operator, value, expected) in table {
            let c = compare(field, operator, value.clone());
            assert_eq!(c.holds(&s), expected, "{field} {operator:?} {value}");
        }
    }

    #[test]
    fn all_and_any_combine_and_nest() {
        let s = snapshot();
        let yes = compare("client.mrr", Operator::GreaterThan, json!(1000));
        let no = compare("client.stage", Operator::Equals, json!("active"));
        assert!(
            Condition::All {
                all: vec![yes.clone()]
            }
            .holds(&s)
        );
        assert!(
            !Condition::All {
                all: vec![yes.clone(), no.clone()]
            }
            .holds(&s)
        );
        assert!(
            Condition::Any {
                any: vec![no.clone(), yes.clone()]
            }
            .holds(&s)
        );
        let nested = Condition::All {
            all: vec![Condition::Any { any: vec![no, yes] }],
        };
        assert!(nested.holds(&s));
        let parsed: Condition = serde_json::from_value(json!(
            {"any": [{"field": "time.hour", "operator": "less_than", "value": 12},
                     {"all": [{"field": "trigger.to", "operator": "equals", "value": "churned"}]}]}
        ))
        .unwrap_or_else(|e| panic!("{e}"));
        assert!(parsed.holds(&s));
        assert!(parsed.unknown_roots().is_empty());
        assert_eq!(
            compare("account.x", Operator::Exists, Value::Null).unknown_roots(),
            ["account.x"]
        );
    }

    #[test]
    fn templates_render_from_the_snapshot() {
        let s = snapshot();
        assert_eq!(
            render("Call {{client.name}} ({{ client.mrr }}/mo)", &s),
            "Call Acme (1500/mo)"
        );
        assert_eq!(
            render("{{client.assignee}}|{{nope.x}}|{{unclosed", &s),
            "||{{unclosed"
        );
        assert_eq!(
            render_json(
                &json!({"client": "{{client.id}}", "n": 1, "list": ["{{trigger.to}}"]}),
                &s
            ),
            json!({"client": "c_42", "n": 1, "list": ["at_risk"]})
        );
    }

    #[test]
    fn rendered_output_is_capped_per_field_and_per_action() {
        // GIVEN a client whose notes are 5 KiB of multi-byte text
        let notes = "é".repeat(2_560);
        let s = json!({"client": {"notes": notes}});
        // WHEN a field repeats the notes a thousand times
        let field = "{{client.notes}}".repeat(1_000);
        let one = render(&field, &s);
        // THEN it is cut at the field cap, on a character boundary
        assert_eq!(one.len(), MAX_RENDERED_FIELD_BYTES);
        assert!(one.chars().all(|c| c == 'é'));
        // AND an action of ten such fields is cut at the action cap
        let action = json!({"fields": vec![field; 10], "n": 1});
        let rendered = render_json(&action, &s);
        let lengths: Vec<usize> = rendered["fields"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f.as_str().unwrap().len())
            .collect();
        assert_eq!(lengths.iter().sum::<usize>(), MAX_RENDERED_ACTION_BYTES);
        assert_eq!(
            &lengths[..5],
            &[
                MAX_RENDERED_FIELD_BYTES,
                MAX_RENDERED_FIELD_BYTES,
                MAX_RENDERED_FIELD_BYTES,
                MAX_RENDERED_FIELD_BYTES,
                0
            ]
        );
        assert_eq!(rendered["n"], 1);
        // AND short templates are unchanged
        assert_eq!(
            render("{{client.notes}}", &json!({"client": {"notes": "hi"}})),
            "hi"
        );
    }
}
