//! The OpenAPI document as a person reads it: operations grouped by tag, each with its method,
//! path, summary, parameters, request body and responses, and every schema with its fields.
//! Built once from the document the API serves (the console cannot import the API's routes, so
//! whoever composes the console hands the document over).

use std::collections::BTreeMap;

use serde_json::{Map, Value};

/// The whole reference.
#[derive(Debug, Default, PartialEq)]
pub struct ApiReference {
    pub title: String,
    pub version: String,
    pub description: String,
    pub groups: Vec<TagGroup>,
    pub schemas: Vec<SchemaDoc>,
}

/// The operations of one tag.
#[derive(Debug, PartialEq)]
pub struct TagGroup {
    pub tag: String,
    pub anchor: String,
    pub operations: Vec<Operation>,
}

#[derive(Debug, PartialEq)]
pub struct Operation {
    /// The fragment this operation's section is reached by (`get-api-v1-inbox`).
    pub anchor: String,
    /// Upper case (`GET`).
    pub method: String,
    /// Lower case, for the method's badge.
    pub method_class: String,
    pub path: String,
    pub summary: String,
    pub description: String,
    /// Which key it takes: `API key`, `ingest token` or none.
    pub auth: Option<&'static str>,
    pub parameters: Vec<Parameter>,
    pub request: Option<TypeText>,
    pub responses: Vec<Response>,
}

#[derive(Debug, PartialEq)]
pub struct Parameter {
    pub name: String,
    /// `path`, `query` or `header`.
    pub location: String,
    pub required: bool,
    pub kind: TypeText,
    pub description: String,
}

#[derive(Debug, PartialEq)]
pub struct Response {
    pub status: String,
    pub description: String,
    pub body: Option<TypeText>,
}

/// A schema in words (`array of Anomaly`), with the named schema it leads to, if any.
#[derive(Debug, Clone, PartialEq)]
pub struct TypeText {
    pub text: String,
    /// The anchor of the component schema mentioned (`schema-Anomaly`).
    pub link: Option<String>,
}

/// A component schema with its fields.
#[derive(Debug, PartialEq)]
pub struct SchemaDoc {
    pub name: String,
    pub anchor: String,
    pub description: String,
    /// What it is when it has no fields of its own (`one of A, B`, `string`).
    pub shape: Option<TypeText>,
    pub fields: Vec<Field>,
}

#[derive(Debug, PartialEq)]
pub struct Field {
    pub name: String,
    pub required: bool,
    pub kind: TypeText,
    pub description: String,
}

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

fn text(value: &Value, key: &str) -> String {
    value
        .get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

/// A fragment id made of lower-case letters, digits and dashes.
fn slug(parts: &[&str]) -> String {
    let joined = parts.join("-").to_ascii_lowercase();
    let mut slug = String::with_capacity(joined.len());
    for c in joined.chars() {
        if c.is_ascii_alphanumeric() {
            slug.push(c);
        } else if !slug.ends_with('-') {
            slug.push('-');
        }
    }
    slug.trim_matches('-').to_owned()
}

fn schema_anchor(name: &str) -> String {
    format!("schema-{}", slug(&[name]))
}

/// The name a `$ref` points at (`#/components/schemas/Anomaly` → `Anomaly`).
fn ref_name(reference: &str) -> &str {
    reference.rsplit('/').next().unwrap_or(reference)
}

/// A schema in words.
pub fn type_text(schema: &Value) -> TypeText {
    let plain = |text: String| TypeText { text, link: None };
    if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
        let name = ref_name(reference);
        return TypeText {
            text: name.to_owned(),
            link: Some(schema_anchor(name)),
        };
    }
    for (key, joiner) in [("oneOf", " or "), ("anyOf", " or "), ("allOf", " and ")] {
        if let Some(options) = schema.get(key).and_then(Value::as_array) {
            let parts: Vec<TypeText> = options.iter().map(type_text).collect();
            return TypeText {
                text: parts
                    .iter()
                    .map(|p| p.text.as_str())
                    .collect::<Vec<_>>()
                    .join(joiner),
                link: parts.into_iter().find_map(|p| p.link),
            };
        }
    }
    if let Some(values) = schema.get("enum").and_then(Value::as_array) {
        let words: Vec<String> = values.iter().map(Value::to_string).collect();
        return plain(format!("one of {}", words.join(", ")));
    }
    let types: Vec<&str> = match schema.get("type") {
        Some(Value::String(one)) => vec![one.as_str()],
        Some(Value::Array(many)) => many.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    let mut named: Vec<TypeText> = types
        .iter()
        .map(|kind| match *kind {
            "array" => {
                let item = schema.get("items").map(type_text).unwrap_or(TypeText {
                    text: "any".to_owned(),
                    link: None,
                });
                TypeText {
                    text: format!("array of {}", item.text),
                    link: item.link,
                }
            }
            "object" => match schema.get("additionalProperties") {
                Some(values @ Value::Object(_)) => {
                    let value = type_text(values);
                    TypeText {
                        text: format!("map of {}", value.text),
                        link: value.link,
                    }
                }
                _ => plain("object".to_owned()),
            },
            other => match schema.get("format").and_then(Value::as_str) {
                Some(format) => plain(format!("{other} ({format})")),
                None => plain(other.to_owned()),
            },
        })
        .collect();
    match named.len() {
        0 => plain("any".to_owned()),
        1 => named.remove(0),
        _ => TypeText {
            text: named
                .iter()
                .map(|n| n.text.as_str())
                .collect::<Vec<_>>()
                .join(" or "),
            link: named.into_iter().find_map(|n| n.link),
        },
    }
}

/// The JSON body's schema of a request body or response, if it has one.
fn json_body(content_owner: &Value) -> Option<TypeText> {
    let content = content_owner.get("content")?.as_object()?;
    let (_, media) = content
        .iter()
        .find(|(kind, _)| kind.contains("json"))
        .or_else(|| content.iter().next())?;
    media.get("schema").map(type_text)
}

fn parameter(value: &Value) -> Parameter {
    Parameter {
        name: text(value, "name"),
        location: text(value, "in"),
        required: value
            .get("required")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        kind: value.get("schema").map_or(
            TypeText {
                text: "any".to_owned(),
                link: None,
            },
            type_text,
        ),
        description: text(value, "description"),
    }
}

fn auth_of(operation: &Value) -> Option<&'static str> {
    let schemes = operation.get("security")?.as_array()?;
    schemes.iter().find_map(|scheme| {
        let scheme = scheme.as_object()?;
        if scheme.contains_key("api_key") {
            Some("API key (bearer)")
        } else if scheme.contains_key("ingest_token") {
            Some("ingest token (bearer)")
        } else {
            None
        }
    })
}

fn operation(method: &str, path: &str, value: &Value) -> Operation {
    let responses = value
        .get("responses")
        .and_then(Value::as_object)
        .map(|responses| {
            responses
                .iter()
                .map(|(status, response)| Response {
                    status: status.clone(),
                    description: text(response, "description"),
                    body: json_body(response),
                })
                .collect()
        })
        .unwrap_or_default();
    Operation {
        anchor: slug(&[method, path]),
        method: method.to_ascii_uppercase(),
        method_class: method.to_owned(),
        path: path.to_owned(),
        summary: text(value, "summary"),
        description: text(value, "description"),
        auth: auth_of(value),
        parameters: value
            .get("parameters")
            .and_then(Value::as_array)
            .map(|ps| ps.iter().map(parameter).collect())
            .unwrap_or_default(),
        request: value.get("requestBody").and_then(json_body),
        responses,
    }
}

fn schema_doc(name: &str, schema: &Value) -> SchemaDoc {
    let required: Vec<&str> = schema
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let empty = Map::new();
    let properties = schema
        .get("properties")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    SchemaDoc {
        name: name.to_owned(),
        anchor: schema_anchor(name),
        description: text(schema, "description"),
        shape: properties.is_empty().then(|| type_text(schema)),
        fields: properties
            .iter()
            .map(|(field, value)| Field {
                name: field.clone(),
                required: required.contains(&field.as_str()),
                kind: type_text(value),
                description: text(value, "description"),
            })
            .collect(),
    }
}

impl ApiReference {
    /// The reference of an OpenAPI 3 document; parts it does not have are left empty.
    pub fn of(document: &Value) -> ApiReference {
        let info = document.get("info").cloned().unwrap_or_default();
        let mut by_tag: BTreeMap<String, Vec<Operation>> = BTreeMap::new();
        let empty = Map::new();
        let paths = document
            .get("paths")
            .and_then(Value::as_object)
            .unwrap_or(&empty);
        for (path, item) in paths {
            for method in METHODS {
                let Some(value) = item.get(method) else {
                    continue;
                };
                let tag = value
                    .get("tags")
                    .and_then(|t| t.get(0))
                    .and_then(Value::as_str)
                    .unwrap_or("other")
                    .to_owned();
                by_tag
                    .entry(tag)
                    .or_default()
                    .push(operation(method, path, value));
            }
        }
        let schemas = document
            .pointer("/components/schemas")
            .and_then(Value::as_object)
            .map(|schemas| {
                schemas
                    .iter()
                    .map(|(name, schema)| schema_doc(name, schema))
                    .collect()
            })
            .unwrap_or_default();
        ApiReference {
            title: text(&info, "title"),
            version: text(&info, "version"),
            description: text(&info, "description"),
            groups: by_tag
                .into_iter()
                .map(|(tag, operations)| TagGroup {
                    anchor: format!("tag-{}", slug(&[&tag])),
                    tag,
                    operations,
                })
                .collect(),
            schemas,
        }
    }

    /// Every documented path, once each, in order.
    pub fn paths(&self) -> Vec<&str> {
        let mut paths: Vec<&str> = self
            .groups
            .iter()
            .flat_map(|g| g.operations.iter().map(|o| o.path.as_str()))
            .collect();
        paths.sort_unstable();
        paths.dedup();
        paths
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn document() -> Value {
        json!({
            "info": {"title": "Vigil API", "version": "0.1.0", "description": "Ops."},
            "paths": {
                "/api/v1/inbox/{id}": {
                    "get": {
                        "tags": ["inbox"], "summary": "One item.",
                        "security": [{"api_key": []}],
                        "parameters": [{"name": "id", "in": "path", "required": true,
                                        "schema": {"type": "string"}, "description": "Item id"}],
                        "responses": {
                            "200": {"description": "", "content": {"application/json":
                                {"schema": {"$ref": "#/components/schemas/InboxItem"}}}},
                            "404": {"description": "Not found"}
                        }
                    },
                    "post": {
                        "tags": ["inbox"],
                        "requestBody": {"content": {"application/json":
                            {"schema": {"type": "array", "items": {"$ref": "#/components/schemas/Note"}}}}},
                        "responses": {"204": {"description": "Done"}}
                    }
                },
                "/hooks/{tenant}/events": {"post": {"tags": ["hooks"], "security": [{"ingest_token": []}], "responses": {}}}
            },
            "components": {"schemas": {
                "InboxItem": {"type": "object", "required": ["id"], "properties": {
                    "id": {"type": "string"},
                    "status": {"oneOf": [{"type": "null"}, {"$ref": "#/components/schemas/Status"}]},
                    "tags": {"type": ["array", "null"], "items": {"type": "string"}}
                }},
                "Status": {"type": "string", "enum": ["open", "resolved"]}
            }}
        })
    }

    #[test]
    fn operations_are_grouped_by_tag_with_their_parts() {
        // GIVEN a document with two tags, three operations and two schemas
        // WHEN it is read
        let reference = ApiReference::of(&document());
        // THEN the tags come in order, each operation with its anchor, key, parameters and bodies
        let tags: Vec<&str> = reference.groups.iter().map(|g| g.tag.as_str()).collect();
        assert_eq!(tags, ["hooks", "inbox"]);
        let inbox = &reference.groups[1].operations;
        let get = &inbox[0];
        assert_eq!(
            (get.method.as_str(), get.anchor.as_str(), get.auth),
            ("GET", "get-api-v1-inbox-id", Some("API key (bearer)"))
        );
        assert_eq!(get.parameters[0].name, "id");
        assert!(get.parameters[0].required);
        assert_eq!(
            get.responses[0].body,
            Some(TypeText {
                text: "InboxItem".into(),
                link: Some("schema-inboxitem".into())
            })
        );
        assert_eq!(get.responses[1].body, None);
        let post = &inbox[1];
        assert_eq!(
            post.request.as_ref().map(|t| t.text.as_str()),
            Some("array of Note")
        );
        assert_eq!(
            reference.groups[0].operations[0].auth,
            Some("ingest token (bearer)")
        );
        assert_eq!(
            reference.paths(),
            ["/api/v1/inbox/{id}", "/hooks/{tenant}/events"]
        );
    }

    #[test]
    fn schemas_read_in_words() {
        let reference = ApiReference::of(&document());
        let item = &reference.schemas[0];
        let fields: Vec<(&str, bool, &str)> = item
            .fields
            .iter()
            .map(|f| (f.name.as_str(), f.required, f.kind.text.as_str()))
            .collect();
        assert_eq!(
            fields,
            [
                ("id", true, "string"),
                ("status", false, "null or Status"),
                ("tags", false, "array of string or null"),
            ]
        );
        assert_eq!(
            reference.schemas[1].shape.as_ref().map(|s| s.text.as_str()),
            Some(r#"one of "open", "resolved""#)
        );
    }

    #[test]
    fn a_document_without_parts_is_an_empty_reference() {
        assert_eq!(ApiReference::of(&json!({})), ApiReference::default());
    }
}
