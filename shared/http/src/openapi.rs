//! The frame of Vigil's OpenAPI document: title, version and the bearer security scheme.
//! Each HTTP function contributes its paths through `utoipa_axum::router::OpenApiRouter`.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::error::{ErrorBody, ErrorDetail};

#[derive(OpenApi)]
#[openapi(
    info(title = "Vigil API", description = "Operations control plane for automations and revenue."),
    components(schemas(ErrorBody, ErrorDetail)),
    modifiers(&BearerAuth),
)]
pub struct ApiDoc;

/// Names the security schemes referenced by paths: `api_key` (admin API) and `ingest_token`.
struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        for name in ["api_key", "ingest_token"] {
            components.add_security_scheme(
                name,
                SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
            );
        }
    }
}

/// The document's frame with the crate version filled in.
pub fn base() -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    doc.info.version = env!("CARGO_PKG_VERSION").to_string();
    doc
}

/// The served document: `doc` (the frame with every route merged in) with what each route can
/// answer besides its own statuses, and with flattened schemas opened.
///
/// Every route shares the extractors and the error mapping of this crate, so the statuses they
/// add are documented here once, each with the `ErrorBody` shape:
/// 400 (a query or body that cannot be read), 401 and 403 (a secured route: no or a bad key, a
/// role too low), 404 (a path id that does not exist), 409 (a write that met a concurrent one),
/// 413 and 415 (a body too large or not JSON), 503 (the store did not answer).
pub fn finish(doc: utoipa::openapi::OpenApi) -> serde_json::Value {
    let mut value = match serde_json::to_value(&doc) {
        Ok(value) => value,
        Err(e) => {
            tracing::error!(error = %e, "the OpenAPI document does not serialise");
            return serde_json::json!({});
        }
    };
    if let Some(paths) = value.get_mut("paths").and_then(|p| p.as_object_mut()) {
        for item in paths.values_mut().filter_map(|i| i.as_object_mut()) {
            for (method, operation) in item.iter_mut() {
                if let Some(operation) = operation.as_object_mut() {
                    add_common_responses(method, operation);
                }
            }
        }
    }
    if let Some(components) = value.get_mut("components").and_then(|c| c.as_object_mut()) {
        let headers = components
            .entry("headers")
            .or_insert_with(|| serde_json::json!({}));
        if let Some(headers) = headers.as_object_mut() {
            headers.insert("RequestId".into(), request_id_header());
        }
    }
    restrict_schemas(&mut value);
    close_workflow_bodies(&mut value);
    open_flattened_schemas(&mut value);
    if let Some(posted_runs) = value.pointer_mut("/components/schemas/PostedRuns") {
        *posted_runs = vigil_core::automation_runs::input::PostedRuns::json_schema();
    }
    value
}

/// A posted workflow is read by hand (every problem at its JSON path), so its schema comes from
/// `WorkflowSpec` without serde's bound on unknown fields: state it here, and derive the
/// `PATCH` body from it (the same fields, none required).
fn close_workflow_bodies(doc: &mut serde_json::Value) {
    close_workflow_steps(doc);
    let Some(spec) = doc.pointer_mut("/components/schemas/WorkflowSpec") else {
        return;
    };
    spec["additionalProperties"] = serde_json::Value::Bool(false);
    let mut patch = spec.clone();
    if let Some(patch) = patch.as_object_mut() {
        patch.remove("required");
        patch.insert(
            "description".into(),
            "`PATCH /api/v1/workflows/{id}`: the fields named replace the workflow's; the whole \
             workflow is then checked again."
                .into(),
        );
    }
    if let Some(schemas) = doc
        .pointer_mut("/components/schemas")
        .and_then(|s| s.as_object_mut())
    {
        schemas.insert("WorkflowPatch".into(), patch);
    }
    if let Some(body) = doc.pointer_mut(
        "/paths/~1api~1v1~1workflows~1{id}/patch/requestBody/content/application~1json/schema",
    ) {
        *body = serde_json::json!({"$ref": "#/components/schemas/WorkflowPatch"});
    }
}

/// Triggers, steps and conditions as the workflow reader takes them: each kind with exactly its
/// own fields (serde's tags and flattening leave them open in the derived
/// schema), every action with the step options, and an `if` whose branches may be absent or
/// null (that one of them must hold steps is a rule between fields: 422).
fn close_workflow_steps(doc: &mut serde_json::Value) {
    use serde_json::{Value, json};
    let Some(schemas) = doc
        .pointer_mut("/components/schemas")
        .and_then(|s| s.as_object_mut())
    else {
        return;
    };
    let close = |variant: &mut Value| {
        if variant.get("properties").is_some() {
            variant["additionalProperties"] = Value::Bool(false);
        }
    };
    for name in ["Trigger", "Control", "Condition"] {
        if let Some(variants) = schemas
            .get_mut(name)
            .and_then(|s| s.get_mut("oneOf"))
            .and_then(Value::as_array_mut)
        {
            variants.iter_mut().for_each(close);
        }
    }
    if let Some(variants) = schemas
        .get_mut("Control")
        .and_then(|s| s.get_mut("oneOf"))
        .and_then(Value::as_array_mut)
    {
        for step in variants
            .iter_mut()
            .filter(|v| v.pointer("/properties/type/enum/0") == Some(&json!("if")))
        {
            step["required"] = json!(["condition", "type"]);
            for branch in ["then", "else"] {
                step["properties"][branch]["type"] = json!(["array", "null"]);
            }
        }
    }
    let options = schemas
        .get("ActionStep")
        .and_then(|s| s.pointer("/allOf/1/properties"))
        .cloned();
    let actions = schemas
        .get("Action")
        .and_then(|s| s.get("oneOf"))
        .and_then(Value::as_array)
        .cloned();
    if let (Some(Value::Object(options)), Some(mut actions), Some(step)) =
        (options, actions, schemas.get_mut("ActionStep"))
    {
        for action in &mut actions {
            if let Some(properties) = action.get_mut("properties").and_then(Value::as_object_mut) {
                properties.extend(options.clone());
            }
            close(action);
        }
        *step = json!({"description": step["description"], "oneOf": actions});
    }
    unroll_levels(schemas);
}

/// `Step` and `Condition` refer to themselves, and a generator walking such a schema may not
/// end. The reader bounds both, so the document states one schema per level instead: `Step`
/// for a workflow's own steps, `Step2` for the steps of their `if`s and so on, the last level
/// without `if`; `Condition` for an `if`'s condition, `Condition2` for what its `all` or `any`
/// holds and so on, the last level comparisons only.
fn unroll_levels(schemas: &mut serde_json::Map<String, serde_json::Value>) {
    use serde_json::{Value, json};
    use vigil_core::workflows::condition::MAX_CONDITION_DEPTH;
    use vigil_core::workflows::definition::MAX_STEP_DEPTH;
    let name = |base: &str, level: usize| match level {
        1 => base.to_owned(),
        _ => format!("{base}{level}"),
    };
    let reference = |target: String| json!({"$ref": format!("#/components/schemas/{target}")});
    let is_if = |variant: &Value| variant.pointer("/properties/type/enum/0") == Some(&json!("if"));

    if let Some(condition) = schemas.get("Condition").cloned() {
        for level in 1..=MAX_CONDITION_DEPTH {
            let mut schema = condition.clone();
            if let Some(variants) = schema.get_mut("oneOf").and_then(Value::as_array_mut) {
                // `all` and `any` are the variants with properties; a comparison is a `$ref`.
                if level == MAX_CONDITION_DEPTH {
                    variants.retain(|v| v.get("properties").is_none());
                }
                for variant in variants.iter_mut() {
                    for list in ["all", "any"] {
                        if let Some(items) =
                            variant.pointer_mut(&format!("/properties/{list}/items"))
                        {
                            *items = reference(name("Condition", level + 1));
                        }
                    }
                }
            }
            schemas.insert(name("Condition", level), schema);
        }
    }
    let (Some(control), Some(step)) = (
        schemas.get("Control").cloned(),
        schemas.get("Step").cloned(),
    ) else {
        return;
    };
    for level in 1..=MAX_STEP_DEPTH {
        let mut schema = control.clone();
        if let Some(variants) = schema.get_mut("oneOf").and_then(Value::as_array_mut) {
            if level == MAX_STEP_DEPTH {
                variants.retain(|v| !is_if(v));
            }
            for variant in variants.iter_mut().filter(|v| is_if(v)) {
                for branch in ["then", "else"] {
                    variant["properties"][branch]["items"] = reference(name("Step", level + 1));
                }
            }
        }
        schemas.insert(name("Control", level), schema);
        let mut level_step = step.clone();
        level_step["oneOf"] = json!([
            reference(name("Control", level)),
            reference("ActionStep".into())
        ]);
        schemas.insert(name("Step", level), level_step);
    }
}

/// Limits utoipa's attributes cannot state: the shape of a URL Vigil will call (a pattern kept
/// in one constant, which the attributes cannot name), the windows a rule may take (an enum of
/// integers) and the ids that key the per-scenario alert overrides (`propertyNames`).
fn restrict_schemas(doc: &mut serde_json::Value) {
    let pattern = serde_json::json!(vigil_core::target_url::TARGET_URL_PATTERN);
    for url in [
        "/components/schemas/NewChannel/properties/url",
        "/components/schemas/ChannelPatch/properties/url",
    ] {
        if let Some(url) = doc.pointer_mut(url) {
            url["pattern"] = pattern.clone();
        }
    }
    if let Some(patterns) =
        doc.pointer_mut("/components/schemas/RedactionRules/properties/extra_patterns")
    {
        use vigil_core::delivery::redaction::{MAX_EXTRA_PATTERNS, MAX_PATTERN_LEN};
        patterns["maxItems"] = serde_json::json!(MAX_EXTRA_PATTERNS);
        patterns["items"]["maxLength"] = serde_json::json!(MAX_PATTERN_LEN);
    }
    let actions = doc
        .pointer_mut("/components/schemas/Action/oneOf")
        .and_then(|a| a.as_array_mut());
    for action in actions.into_iter().flatten() {
        if action.pointer("/properties/type/enum/0") == Some(&serde_json::json!("http_request")) {
            action["properties"]["url"]["pattern"] = pattern.clone();
        }
    }
    if let Some(window) = doc.pointer_mut("/components/schemas/RulePatch/properties/window_minutes")
    {
        let mut allowed: Vec<serde_json::Value> = vec![serde_json::Value::Null];
        allowed.extend(
            vigil_core::rules::config::WINDOW_MINUTES
                .iter()
                .map(|m| serde_json::json!(m)),
        );
        *window = serde_json::json!({
            "type": ["integer", "null"],
            "enum": allowed,
            "description": "Minutes: a multiple of 5 that divides a day (1440); `amount_spike` takes only 5 (422 otherwise)",
        });
    }
    if let Some(names) =
        doc.pointer_mut("/components/schemas/RunSettings/properties/scenarios/propertyNames")
    {
        *names = vigil_core::automation_runs::input::scenario_id_schema();
    }
}

const ERROR_BODY_REF: &str = "#/components/schemas/ErrorBody";

fn error_response(description: &str) -> serde_json::Value {
    serde_json::json!({
        "description": description,
        "content": {"application/json": {"schema": {"$ref": ERROR_BODY_REF}}}
    })
}

fn add_common_responses(method: &str, operation: &mut serde_json::Map<String, serde_json::Value>) {
    let parameters: Vec<&serde_json::Value> = operation
        .get("parameters")
        .and_then(|p| p.as_array())
        .map(|p| p.iter().collect())
        .unwrap_or_default();
    let in_place = |place: &str| parameters.iter().any(|p| p["in"] == place);
    let has_path_params = in_place("path");
    let has_query_or_header = in_place("query") || in_place("header");
    let has_body = operation.contains_key("requestBody");
    let schemes: Vec<&str> = operation
        .get("security")
        .and_then(|s| s.as_array())
        .map(|requirements| {
            requirements
                .iter()
                .filter_map(|r| r.as_object())
                .flat_map(|r| r.keys().map(String::as_str))
                .collect()
        })
        .unwrap_or_default();
    let is_meta = method == "get" && schemes.is_empty() && !has_body && !has_path_params;

    let mut wanted: Vec<(&str, &str)> = Vec::new();
    if has_query_or_header || has_body {
        wanted.push(("400", "The query, a header or the body cannot be read"));
    }
    if !schemes.is_empty() {
        wanted.push(("401", "Missing or invalid credentials"));
    }
    if schemes.contains(&"api_key") {
        wanted.push(("403", "The key's role is too low for this route"));
    }
    if has_path_params {
        wanted.push(("404", "Not found (or another tenant's)"));
    }
    if method != "get" && !is_meta {
        wanted.push((
            "409",
            "A concurrent change, or a state that does not allow it; read again and retry",
        ));
    }
    if has_body {
        wanted.push(("413", "The body is larger than VIGIL_MAX_BODY_BYTES"));
        wanted.push(("415", "The body is not sent as application/json"));
    }
    if !is_meta {
        wanted.push(("503", "The store did not answer; try again"));
    }
    let responses = operation
        .entry("responses")
        .or_insert_with(|| serde_json::json!({}));
    if let Some(responses) = responses.as_object_mut() {
        for (status, description) in wanted {
            responses
                .entry(status)
                .or_insert_with(|| error_response(description));
        }
        // A response utoipa left without a description gets the status's own words.
        for (status, response) in responses.iter_mut() {
            if let Some(response) = response.as_object_mut() {
                add_request_id_header(response);
            }
            if let Some(response) = response.as_object_mut()
                && response
                    .get("description")
                    .and_then(|d| d.as_str())
                    .is_none_or(str::is_empty)
            {
                let reason = status
                    .parse::<u16>()
                    .ok()
                    .and_then(|code| axum::http::StatusCode::from_u16(code).ok())
                    .and_then(|code| code.canonical_reason())
                    .unwrap_or("Response");
                response.insert("description".into(), reason.into());
            }
        }
    }
}

/// Every answer carries the request's id (`request_log`), whatever route gave it: one header
/// in the components, referred to by every response.
const REQUEST_ID_HEADER_REF: &str = "#/components/headers/RequestId";

fn add_request_id_header(response: &mut serde_json::Map<String, serde_json::Value>) {
    let headers = response
        .entry("headers")
        .or_insert_with(|| serde_json::json!({}));
    if let Some(headers) = headers.as_object_mut() {
        headers.insert(
            crate::request_log::REQUEST_ID_HEADER.into(),
            serde_json::json!({"$ref": REQUEST_ID_HEADER_REF}),
        );
    }
}

fn request_id_header() -> serde_json::Value {
    serde_json::json!({
        "description": "The request's id: the request's own `x-request-id` when it is 1 to 128 visible ASCII characters, else API Gateway's request id or one Vigil made. It is in the request's log line and in any error body.",
        "schema": {"type": "string", "minLength": 1, "maxLength": crate::request_log::MAX_REQUEST_ID_LEN},
    })
}

/// A `#[serde(flatten)]`ed struct is documented as `allOf: [{$ref: Inner}, {the rest}]`. When
/// `Inner` refuses unknown fields (`additionalProperties: false`, for request bodies), the
/// composition could never validate: inside `allOf` such a member is used without that bound.
fn open_flattened_schemas(doc: &mut serde_json::Value) {
    let Some(schemas) = doc
        .pointer("/components/schemas")
        .and_then(|s| s.as_object())
    else {
        return;
    };
    let closed: std::collections::BTreeMap<String, serde_json::Value> = schemas
        .iter()
        .filter(|(_, schema)| schema["additionalProperties"] == serde_json::Value::Bool(false))
        .map(|(name, schema)| {
            let mut open = schema.clone();
            if let Some(open) = open.as_object_mut() {
                open.remove("additionalProperties");
            }
            (format!("#/components/schemas/{name}"), open)
        })
        .collect();
    // Generic types (`ListResponse<T>`) inline their parameter: walk the whole document.
    fn walk(
        value: &mut serde_json::Value,
        closed: &std::collections::BTreeMap<String, serde_json::Value>,
    ) {
        match value {
            serde_json::Value::Object(map) => {
                if let Some(members) = map.get_mut("allOf").and_then(|a| a.as_array_mut()) {
                    for member in members.iter_mut() {
                        let target = member["$ref"].as_str().and_then(|r| closed.get(r)).cloned();
                        if let Some(open) = target {
                            *member = open;
                        }
                    }
                }
                map.values_mut().for_each(|inner| walk(inner, closed));
            }
            serde_json::Value::Array(items) => items.iter_mut().for_each(|i| walk(i, closed)),
            _ => {}
        }
    }
    walk(doc, &closed);
}

/// Every `$ref` of `doc` that does not resolve to something inside it.
pub fn dangling_refs(doc: &serde_json::Value) -> Vec<String> {
    fn walk<'a>(value: &'a serde_json::Value, refs: &mut Vec<&'a str>) {
        match value {
            serde_json::Value::Object(map) => {
                for (key, inner) in map {
                    match (key.as_str(), inner.as_str()) {
                        ("$ref", Some(target)) => refs.push(target),
                        _ => walk(inner, refs),
                    }
                }
            }
            serde_json::Value::Array(items) => items.iter().for_each(|i| walk(i, refs)),
            _ => {}
        }
    }
    let mut refs = Vec::new();
    walk(doc, &mut refs);
    let mut dangling: Vec<String> = refs
        .into_iter()
        .filter(|target| {
            target
                .strip_prefix('#')
                .is_none_or(|pointer| doc.pointer(pointer).is_none())
        })
        .map(str::to_string)
        .collect();
    dangling.sort();
    dangling.dedup();
    dangling
}
