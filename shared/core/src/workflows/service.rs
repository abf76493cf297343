//! Workflows as stored: the current definition of each (with its version), and every version
//! kept unchanged for the runs that started on it. Edits make a new version; enabling or
//! disabling does not.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::definition::{Checked, Problem, Refusal, WorkflowSpec, egress_problems, parse_workflow};
use crate::egress::EgressPolicy;
use crate::json::to_json;
use crate::ports::{
    Cursor, DeleteCondition, Index, Item, ItemStore, PutCondition, Query, StoreError, WriteOp,
};
use crate::tenancy::Role;
use crate::tenancy::audit::{self, Actor};
use crate::{Clock, Error, Result, ids, table_keys};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Workflow {
    pub id: String,
    pub version: u32,
    #[serde(flatten)]
    pub spec: WorkflowSpec,
    pub created_by: Actor,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Accepted, but worth a look (e.g. a chain over 50 steps).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<Problem>,
}

impl Workflow {
    /// The workflow as a caller with `role` may see it: below admin, `http_request` URLs are
    /// masked as channel URLs are.
    pub fn as_seen_by(mut self, role: Role) -> Self {
        if !role.at_least(Role::Admin) {
            self.spec.mask_request_urls();
        }
        self
    }
}

/// A posted body read and put through the egress guard; every problem at its JSON path.
fn checked(body: &Value, egress: &EgressPolicy) -> Result<Checked> {
    let invalid = |refusal: Refusal| refusal.into_error("invalid_workflow");
    let checked = parse_workflow(body).map_err(invalid)?;
    let problems = egress_problems(&checked.spec, egress);
    if problems.is_empty() {
        Ok(checked)
    } else {
        Err(invalid(problems))
    }
}

fn head_item(tenant: &str, workflow: &Workflow) -> Result<Item> {
    Ok(Item::new(
        table_keys::workflow(tenant, &workflow.id),
        to_json(workflow)?,
    ))
}

fn version_item(tenant: &str, workflow: &Workflow) -> Result<Item> {
    Ok(Item::new(
        table_keys::workflow_version(tenant, &workflow.id, workflow.version),
        to_json(workflow)?,
    ))
}

pub struct WorkflowService {
    store: Arc<dyn ItemStore>,
    clock: Arc<dyn Clock>,
    egress: Arc<EgressPolicy>,
}

impl WorkflowService {
    pub fn new(
        store: Arc<dyn ItemStore>,
        clock: Arc<dyn Clock>,
        egress: Arc<EgressPolicy>,
    ) -> Self {
        Self {
            store,
            clock,
            egress,
        }
    }

    /// Creates a workflow from a posted body (version 1; audited).
    pub async fn create(&self, tenant: &str, body: &Value, actor: &Actor) -> Result<Workflow> {
        let Checked { spec, warnings } = checked(body, &self.egress)?;
        let now = self.clock.now();
        let workflow = Workflow {
            id: ids::new_id("wf"),
            version: 1,
            spec,
            created_by: actor.clone(),
            created_at: now,
            updated_at: now,
            warnings,
        };
        self.store
            .transact(vec![
                WriteOp::Put {
                    item: head_item(tenant, &workflow)?,
                    condition: PutCondition::Absent,
                },
                WriteOp::Put {
                    item: version_item(tenant, &workflow)?,
                    condition: PutCondition::Absent,
                },
                audit::record(tenant, actor, "workflow.create", &workflow.id, now),
            ])
            .await?;
        Ok(workflow)
    }

    pub async fn get(&self, tenant: &str, id: &str) -> Result<(Workflow, u64)> {
        if !ids::looks_like("wf", id) {
            return Err(Error::NotFound("workflow".into()));
        }
        let item = self
            .store
            .get(&table_keys::workflow(tenant, id))
            .await?
            .ok_or_else(|| Error::NotFound("workflow".into()))?;
        Ok((item.parse()?, item.version))
    }

    /// The definition a run started on, even after later edits or a delete.
    pub async fn version(&self, tenant: &str, id: &str, version: u32) -> Result<Workflow> {
        let item = self
            .store
            .get(&table_keys::workflow_version(tenant, id, version))
            .await?
            .ok_or_else(|| Error::NotFound("workflow version".into()))?;
        Ok(item.parse()?)
    }

    pub async fn list(
        &self,
        tenant: &str,
        limit: u32,
        cursor: Option<Cursor>,
    ) -> Result<(Vec<Workflow>, Option<Cursor>)> {
        let page = self
            .store
            .query(
                Query::partition(Index::Primary, table_keys::workflow(tenant, "").pk)
                    .limit(limit)
                    .after(cursor),
            )
            .await?;
        let workflows = page
            .items
            .iter()
            .map(Item::parse)
            .collect::<std::result::Result<Vec<_>, _>>()?;
        Ok((workflows, page.next_cursor))
    }

    /// Every workflow of the tenant (for matching triggers).
    pub async fn all(&self, tenant: &str) -> Result<Vec<Workflow>> {
        crate::ports::store::all_pages(|limit, cursor| self.list(tenant, limit, cursor)).await
    }

    /// Replaces the fields `patch` names, checks the whole again, and stores it as the next
    /// version (audited). Runs already started keep theirs.
    pub async fn update(
        &self,
        tenant: &str,
        id: &str,
        patch: &Value,
        actor: &Actor,
    ) -> Result<Workflow> {
        let Some(changes) = patch.as_object() else {
            return Err(Error::invalid(
                "invalid_body",
                "a workflow patch must be a JSON object",
            ));
        };
        let (current, version) = self.get(tenant, id).await?;
        let mut merged =
            serde_json::to_value(&current.spec).map_err(|e| Error::Internal(e.to_string()))?;
        if let Some(target) = merged.as_object_mut() {
            for (field, value) in changes {
                target.insert(field.clone(), value.clone());
            }
        }
        let Checked { spec, warnings } = checked(&merged, &self.egress)?;
        let now = self.clock.now();
        let workflow = Workflow {
            version: current.version + 1,
            spec,
            updated_at: now,
            warnings,
            ..current
        };
        self.save(
            tenant,
            &workflow,
            version,
            true,
            actor,
            "workflow.update",
            now,
        )
        .await?;
        Ok(workflow)
    }

    /// Turns a workflow on or off (audited); not a new version.
    pub async fn set_enabled(
        &self,
        tenant: &str,
        id: &str,
        enabled: bool,
        actor: &Actor,
    ) -> Result<Workflow> {
        let (mut workflow, version) = self.get(tenant, id).await?;
        let now = self.clock.now();
        workflow.spec.enabled = enabled;
        workflow.updated_at = now;
        let action = if enabled {
            "workflow.enable"
        } else {
            "workflow.disable"
        };
        self.save(tenant, &workflow, version, false, actor, action, now)
            .await?;
        Ok(workflow)
    }

    /// Deletes the workflow (audited); its versions stay for the runs that used them.
    pub async fn delete(&self, tenant: &str, id: &str, actor: &Actor) -> Result<Workflow> {
        let (workflow, version) = self.get(tenant, id).await?;
        let now = self.clock.now();
        let result = self
            .store
            .transact(vec![
                WriteOp::Delete {
                    key: table_keys::workflow(tenant, id),
                    condition: DeleteCondition::VersionEquals(version),
                },
                audit::record(tenant, actor, "workflow.delete", id, now),
            ])
            .await;
        conflict_if_changed(result)?;
        Ok(workflow)
    }

    /// Test mode: the workflow's current version walked against `subject` (a client, or just an
    /// id when the client is unknown) and `trigger` (a JSON object, or null for none), writing
    /// nothing.
    pub async fn test(
        &self,
        tenant: &str,
        id: &str,
        subject: &str,
        trigger: &Value,
        clients: &super::ClientService,
    ) -> Result<(Workflow, super::simulate::Trace)> {
        let trigger = match trigger {
            Value::Null => Value::Object(Default::default()),
            Value::Object(_) => trigger.clone(),
            _ => {
                return Err(Error::invalid(
                    "invalid_field",
                    "trigger must be a JSON object",
                ));
            }
        };
        let (workflow, _) = self.get(tenant, id).await?;
        let client = match clients.get(tenant, subject).await {
            Ok(client) => Some(client),
            Err(Error::NotFound(_)) => None,
            Err(other) => return Err(other),
        };
        let now = self.clock.now();
        let snapshot = super::simulate::snapshot(
            &super::simulate::client_view(client.as_ref(), subject),
            &trigger,
            now,
        );
        let program = super::program::Program::of(&workflow.spec);
        let trace = super::simulate::simulate(&program, snapshot, now);
        Ok((workflow, trace))
    }

    #[allow(clippy::too_many_arguments)]
    async fn save(
        &self,
        tenant: &str,
        workflow: &Workflow,
        version: u64,
        new_version: bool,
        actor: &Actor,
        action: &str,
        at: DateTime<Utc>,
    ) -> Result<()> {
        let mut ops = vec![WriteOp::Put {
            item: head_item(tenant, workflow)?,
            condition: PutCondition::VersionEquals(version),
        }];
        if new_version {
            ops.push(WriteOp::Put {
                item: version_item(tenant, workflow)?,
                condition: PutCondition::Absent,
            });
        }
        ops.push(audit::record(tenant, actor, action, &workflow.id, at));
        conflict_if_changed(self.store.transact(ops).await)
    }
}

fn conflict_if_changed(result: std::result::Result<(), StoreError>) -> Result<()> {
    match result {
        Ok(()) => Ok(()),
        Err(StoreError::TransactionCancelled { index: 0, .. }) => Err(Error::Conflict(
            "the workflow changed meanwhile; read it again and retry".into(),
        )),
        Err(other) => Err(other.into()),
    }
}
