//! IF/THEN workflows: definitions (versioned on every edit), their trigger and step types as
//! JSON Schemas, and ready templates.

use crate::error::ApiError;
use crate::extract::{AdminCaller, ApiJson, ApiQuery, Caller, OperatorCaller};
use crate::paging::{ListResponse, PageParams};
use crate::state::ApiState;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::openapi::{RefOr, Schema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use vigil_core::workflows::definition::{Step, Trigger};
use vigil_core::workflows::run::reasons;
use vigil_core::workflows::simulate::Trace;
use vigil_core::workflows::templates::{self, WorkflowTemplate};
use vigil_core::workflows::{Workflow, definition::WorkflowSpec};

use super::actor;

pub fn router() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new()
        .routes(routes!(list_workflows, create_workflow))
        .routes(routes!(get_workflow, update_workflow, delete_workflow))
        .routes(routes!(toggle_workflow))
        .routes(routes!(test_workflow))
        .routes(routes!(trigger_types))
        .routes(routes!(action_types))
        .routes(routes!(list_templates))
}

/// The tenant's workflows. Below the admin role, `http_request` URLs show only their scheme and
/// host (`https://hooks.example.com/…`), as channel URLs do.
#[utoipa::path(get, path = "/api/v1/workflows", tag = "workflows", security(("api_key" = [])), params(PageParams),
    responses((status = 200, body = ListResponse<Workflow>)))]
async fn list_workflows(
    State(api): State<ApiState>,
    Caller(caller): Caller,
    ApiQuery(page): ApiQuery<PageParams>,
) -> Result<Json<ListResponse<Workflow>>, ApiError> {
    let (limit, cursor) = page.resolve()?;
    let (items, next) = api.workflows.list(&caller.tenant_id, limit, cursor).await?;
    let items = items
        .into_iter()
        .map(|workflow| workflow.as_seen_by(caller.role))
        .collect();
    Ok(Json(ListResponse::new(items, next)))
}

/// Create a workflow (admin; audited). An invalid body is refused with every problem at its
/// JSON path (`error.problems`).
#[utoipa::path(post, path = "/api/v1/workflows", tag = "workflows", security(("api_key" = [])),
    request_body = WorkflowSpec,
    responses((status = 201, body = Workflow), (status = 400, body = crate::error::ErrorBody),
              (status = 422, description = "A workflow with problems, each at its JSON path (`error.problems`)", body = crate::error::ErrorBody)))]
async fn create_workflow(
    State(api): State<ApiState>,
    AdminCaller(caller): AdminCaller,
    ApiJson(body): ApiJson<Value>,
) -> Result<(StatusCode, Json<Workflow>), ApiError> {
    let workflow = api
        .workflows
        .create(&caller.tenant_id, &body, &actor(&caller))
        .await?;
    Ok((StatusCode::CREATED, Json(workflow)))
}

/// One workflow; below the admin role its `http_request` URLs are masked as in the list.
#[utoipa::path(get, path = "/api/v1/workflows/{id}", tag = "workflows", security(("api_key" = [])),
    params(("id" = String, Path, description = "Workflow id")),
    responses((status = 200, body = Workflow), (status = 404, body = crate::error::ErrorBody)))]
async fn get_workflow(
    State(api): State<ApiState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
) -> Result<Json<Workflow>, ApiError> {
    let (workflow, _) = api.workflows.get(&caller.tenant_id, &id).await?;
    Ok(Json(workflow.as_seen_by(caller.role)))
}

/// Change the fields named (admin; audited): the whole workflow is checked again and stored as
/// the next version; runs already started keep theirs.
#[utoipa::path(patch, path = "/api/v1/workflows/{id}", tag = "workflows", security(("api_key" = [])),
    params(("id" = String, Path, description = "Workflow id")), request_body = Object,
    responses((status = 200, body = Workflow), (status = 400, body = crate::error::ErrorBody),
              (status = 422, description = "A workflow with problems, each at its JSON path (`error.problems`)", body = crate::error::ErrorBody),
              (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)))]
async fn update_workflow(
    State(api): State<ApiState>,
    AdminCaller(caller): AdminCaller,
    Path(id): Path<String>,
    ApiJson(patch): ApiJson<Value>,
) -> Result<Json<Workflow>, ApiError> {
    let workflow = api
        .workflows
        .update(&caller.tenant_id, &id, &patch, &actor(&caller))
        .await?;
    Ok(Json(workflow))
}

/// Delete a workflow (admin; audited). Its waiting runs are cancelled.
#[utoipa::path(delete, path = "/api/v1/workflows/{id}", tag = "workflows", security(("api_key" = [])),
    params(("id" = String, Path, description = "Workflow id")),
    responses((status = 204), (status = 404, body = crate::error::ErrorBody)))]
async fn delete_workflow(
    State(api): State<ApiState>,
    AdminCaller(caller): AdminCaller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    api.workflows
        .delete(&caller.tenant_id, &id, &actor(&caller))
        .await?;
    api.engine
        .cancel_waiting(&caller.tenant_id, &id, reasons::WORKFLOW_DELETED)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Toggle {
    /// The new state; without it, the workflow flips.
    pub enabled: Option<bool>,
}

/// Turn a workflow on or off (admin; audited; not a new version). Turning it off cancels its
/// waiting runs (delays, approvals).
#[utoipa::path(patch, path = "/api/v1/workflows/{id}/toggle", tag = "workflows", security(("api_key" = [])),
    params(("id" = String, Path, description = "Workflow id")), request_body = Toggle,
    responses((status = 200, body = Workflow), (status = 404, body = crate::error::ErrorBody)))]
async fn toggle_workflow(
    State(api): State<ApiState>,
    AdminCaller(caller): AdminCaller,
    Path(id): Path<String>,
    ApiJson(toggle): ApiJson<Toggle>,
) -> Result<Json<Workflow>, ApiError> {
    let workflow = api
        .engine
        .set_enabled(&caller.tenant_id, &id, toggle.enabled, &actor(&caller))
        .await?;
    Ok(Json(workflow))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TestRun {
    /// The client the run would be about (an unknown id is tested as a client with only an id).
    pub subject: String,
    /// What the trigger would carry, e.g. `{"type": "stage_changed", "to": "at_risk"}`.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub trigger: Value,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = WorkflowTestResult)]
pub struct TestResult {
    pub workflow_id: String,
    pub version: u32,
    #[serde(flatten)]
    pub trace: Trace,
}

/// Test mode (operator): walk the workflow against the subject's snapshot and the given trigger
/// without any side effect, and answer the step-by-step trace (each action as it would be done,
/// each branch taken, delays and approvals simulated).
#[utoipa::path(post, path = "/api/v1/workflows/{id}/test", tag = "workflows", security(("api_key" = [])),
    params(("id" = String, Path, description = "Workflow id")), request_body = TestRun,
    responses((status = 200, body = TestResult), (status = 400, body = crate::error::ErrorBody),
              (status = 404, body = crate::error::ErrorBody)))]
async fn test_workflow(
    State(api): State<ApiState>,
    OperatorCaller(caller): OperatorCaller,
    Path(id): Path<String>,
    ApiJson(request): ApiJson<TestRun>,
) -> Result<Json<TestResult>, ApiError> {
    let (workflow, trace) = api
        .workflows
        .test(
            &caller.tenant_id,
            &id,
            &request.subject,
            &request.trigger,
            &api.clients,
        )
        .await?;
    Ok(Json(TestResult {
        workflow_id: workflow.id,
        version: workflow.version,
        trace,
    }))
}

/// A JSON Schema with the schemas it refers to (`#/components/schemas/...`).
#[derive(Serialize, utoipa::ToSchema)]
pub struct TypeSchemas {
    #[schema(value_type = Object)]
    pub schema: RefOr<Schema>,
    #[schema(value_type = Object)]
    pub components: std::collections::BTreeMap<String, RefOr<Schema>>,
}

fn schemas_of<T: utoipa::ToSchema>() -> TypeSchemas {
    let mut components = Vec::new();
    T::schemas(&mut components);
    TypeSchemas {
        schema: T::schema(),
        components: components.into_iter().collect(),
    }
}

/// The trigger types a workflow may use, as JSON Schema (the reference for workflow bodies).
#[utoipa::path(get, path = "/api/v1/workflows/triggers/types", tag = "workflows", security(("api_key" = [])),
    responses((status = 200, body = TypeSchemas)))]
async fn trigger_types(Caller(_caller): Caller) -> Json<TypeSchemas> {
    Json(schemas_of::<Trigger>())
}

/// The step types (actions, `if`, `delay`, `approval`), as JSON Schema.
#[utoipa::path(get, path = "/api/v1/workflows/actions/types", tag = "workflows", security(("api_key" = [])),
    responses((status = 200, body = TypeSchemas)))]
async fn action_types(Caller(_caller): Caller) -> Json<TypeSchemas> {
    Json(schemas_of::<Step>())
}

/// Ready workflows to start from; post a template's `workflow` to create it.
#[utoipa::path(get, path = "/api/v1/workflow-templates", tag = "workflows", security(("api_key" = [])),
    responses((status = 200, body = ListResponse<WorkflowTemplate>)))]
async fn list_templates(Caller(_caller): Caller) -> Json<ListResponse<WorkflowTemplate>> {
    Json(ListResponse::new(templates::all(), None))
}
