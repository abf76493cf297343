//! The kinds of trigger and step a workflow may use, with the fields of each, read from the same
//! JSON Schemas the API publishes (`GET /api/v1/workflows/triggers/types` and `/actions/types`),
//! so the builder's forms follow the definition language without a list of their own.

use std::sync::OnceLock;

use serde_json::{Map, Value};
use utoipa::ToSchema;
use vigil_core::workflows::definition::{Action, Control, Trigger};

/// How a field is entered.
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    Text,
    Integer,
    Number,
    /// One of these words.
    Choice(Vec<String>),
    /// Any JSON value (an `http_request` body).
    Json,
}

#[derive(Debug, Clone, PartialEq)]
pub struct FieldSpec {
    pub name: String,
    pub input: Input,
    pub required: bool,
    /// The schema's description of the field.
    pub help: String,
}

/// One kind of trigger or step (`stage_changed`, `create_task`, `delay`, …) and its fields,
/// required ones first.
#[derive(Debug, Clone, PartialEq)]
pub struct KindSpec {
    pub kind: String,
    pub help: String,
    pub fields: Vec<FieldSpec>,
}

pub struct Catalogue {
    pub triggers: Vec<KindSpec>,
    /// Actions, then the control steps a chain holds (`delay`, `approval`); `if` has a form of
    /// its own.
    pub steps: Vec<KindSpec>,
}

impl Catalogue {
    pub fn trigger(&self, kind: &str) -> Option<&KindSpec> {
        self.triggers.iter().find(|k| k.kind == kind)
    }

    pub fn step(&self, kind: &str) -> Option<&KindSpec> {
        self.steps.iter().find(|k| k.kind == kind)
    }
}

/// The catalogue, read from the schemas once.
pub fn catalogue() -> &'static Catalogue {
    static CATALOGUE: OnceLock<Catalogue> = OnceLock::new();
    CATALOGUE.get_or_init(|| {
        let mut steps = kinds_of::<Action>();
        steps.extend(kinds_of::<Control>().into_iter().filter(|k| k.kind != "if"));
        Catalogue {
            triggers: kinds_of::<Trigger>(),
            steps,
        }
    })
}

fn kinds_of<T: ToSchema>() -> Vec<KindSpec> {
    let mut referenced = Vec::new();
    T::schemas(&mut referenced);
    let components: Map<String, Value> = referenced
        .into_iter()
        .map(|(name, schema)| (name, serde_json::to_value(schema).unwrap_or_default()))
        .collect();
    let schema = serde_json::to_value(T::schema()).unwrap_or_default();
    read_kinds(&schema, &components)
}

/// The kinds of a tagged enum's schema: each `oneOf` member with a one-word `type` property.
pub fn read_kinds(schema: &Value, components: &Map<String, Value>) -> Vec<KindSpec> {
    resolve(schema, components)
        .get("oneOf")
        .and_then(Value::as_array)
        .map(|variants| {
            variants
                .iter()
                .filter_map(|v| read_kind(resolve(v, components), components))
                .collect()
        })
        .unwrap_or_default()
}

fn read_kind(variant: &Value, components: &Map<String, Value>) -> Option<KindSpec> {
    let properties = variant.get("properties")?.as_object()?;
    let kind = properties
        .get("type")?
        .get("enum")?
        .get(0)?
        .as_str()?
        .to_owned();
    let required: Vec<&str> = variant
        .get("required")
        .and_then(Value::as_array)
        .map(|names| names.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let mut fields: Vec<FieldSpec> = properties
        .iter()
        .filter(|(name, _)| name.as_str() != "type")
        .map(|(name, property)| FieldSpec {
            name: name.clone(),
            input: input_of(property, components),
            required: required.contains(&name.as_str()),
            help: description(property),
        })
        .collect();
    // Required fields first; the schema's own order is alphabetical.
    fields.sort_by_key(|f| !f.required);
    Some(KindSpec {
        kind,
        help: description(variant),
        fields,
    })
}

fn description(schema: &Value) -> String {
    schema
        .get("description")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

/// A `$ref` to the component it names.
fn resolve<'a>(schema: &'a Value, components: &'a Map<String, Value>) -> &'a Value {
    schema
        .get("$ref")
        .and_then(Value::as_str)
        .and_then(|r| r.rsplit('/').next())
        .and_then(|name| components.get(name))
        .unwrap_or(schema)
}

fn input_of(schema: &Value, components: &Map<String, Value>) -> Input {
    let schema = resolve(schema, components);
    if let Some(words) = schema.get("enum").and_then(Value::as_array) {
        return Input::Choice(
            words
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect(),
        );
    }
    // An optional field is "one of null and the type"; the type is what a person enters.
    for key in ["oneOf", "anyOf", "allOf"] {
        if let Some(member) = schema
            .get(key)
            .and_then(Value::as_array)
            .and_then(|members| {
                members
                    .iter()
                    .find(|m| m.get("type") != Some(&"null".into()))
            })
        {
            return input_of(member, components);
        }
    }
    let named = match schema.get("type") {
        Some(Value::String(name)) => name.as_str(),
        Some(Value::Array(names)) => names
            .iter()
            .filter_map(Value::as_str)
            .find(|n| *n != "null")
            .unwrap_or_default(),
        _ => "",
    };
    match named {
        "integer" => Input::Integer,
        "number" => Input::Number,
        "string" => Input::Text,
        _ => Input::Json,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field<'a>(kind: &'a KindSpec, name: &str) -> &'a FieldSpec {
        kind.fields
            .iter()
            .find(|f| f.name == name)
            .unwrap_or_else(|| panic!("{} has no field {name}: {kind:?}", kind.kind))
    }

    #[test]
    fn every_trigger_type_of_the_definition_has_its_fields() {
        let c = catalogue();
        let kinds: Vec<&str> = c.triggers.iter().map(|k| k.kind.as_str()).collect();
        assert_eq!(
            kinds,
            [
                "stage_changed",
                "inactivity",
                "kpi_threshold",
                "message_received",
                "ticket_created",
                "anomaly_opened",
                "schedule"
            ]
        );
        let stage = c.trigger("stage_changed").unwrap_or_else(|| panic!());
        assert_eq!(field(stage, "to").input, Input::Text);
        assert!(field(stage, "to").required && !field(stage, "from").required);
        assert_eq!(stage.fields[0].name, "to", "required fields come first");
        let kpi = c.trigger("kpi_threshold").unwrap_or_else(|| panic!());
        assert_eq!(
            field(kpi, "operator").input,
            Input::Choice(vec!["above".into(), "below".into(), "equals".into()])
        );
        assert_eq!(field(kpi, "value").input, Input::Number);
        let anomaly = c.trigger("anomaly_opened").unwrap_or_else(|| panic!());
        assert!(
            matches!(&field(anomaly, "min_severity").input, Input::Choice(w) if w.contains(&"SEV1".to_owned()))
        );
        let inactivity = c.trigger("inactivity").unwrap_or_else(|| panic!());
        assert_eq!(field(inactivity, "days").input, Input::Integer);
    }

    #[test]
    fn actions_and_control_steps_have_their_fields() {
        let c = catalogue();
        let task = c.step("create_task").unwrap_or_else(|| panic!());
        assert_eq!(field(task, "due_in_days").input, Input::Integer);
        assert!(field(task, "title").required);
        let request = c.step("http_request").unwrap_or_else(|| panic!());
        assert_eq!(field(request, "body").input, Input::Json);
        let approval = c.step("approval").unwrap_or_else(|| panic!());
        assert_eq!(
            field(approval, "approvers").input,
            Input::Choice(vec!["viewer".into(), "operator".into(), "admin".into()])
        );
        assert_eq!(field(approval, "timeout_minutes").input, Input::Integer);
        assert!(c.step("delay").is_some() && c.step("if").is_none());
    }
}
