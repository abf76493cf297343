//! Tasks, tickets and drafts: Vigil's own records that workflow actions create and people follow
//! up. One shape for the three kinds; each kind has its own statuses.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::json::to_json;
use crate::ports::{
    Cursor, Index, Item, ItemStore, PutCondition, Query, StoreError, query_filtered,
};
use crate::workflows::definition::is_blank;
use crate::{Clock, Error, Result, ids, table_keys};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RecordKind {
    Task,
    Ticket,
    /// A message drafted for review; never sent by Vigil.
    Draft,
}

impl RecordKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RecordKind::Task => "task",
            RecordKind::Ticket => "ticket",
            RecordKind::Draft => "draft",
        }
    }

    fn id_prefix(self) -> &'static str {
        match self {
            RecordKind::Task => "tsk",
            RecordKind::Ticket => "tkt",
            RecordKind::Draft => "drf",
        }
    }

    /// Where a new record of this kind starts.
    pub fn initial_status(self) -> RecordStatus {
        match self {
            RecordKind::Task | RecordKind::Ticket => RecordStatus::Open,
            RecordKind::Draft => RecordStatus::PendingReview,
        }
    }

    pub fn allows(self, status: RecordStatus) -> bool {
        use RecordStatus::*;
        match self {
            RecordKind::Task => matches!(status, Open | Done),
            RecordKind::Ticket => matches!(status, Open | Closed),
            RecordKind::Draft => matches!(status, PendingReview | Approved | Discarded),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RecordStatus {
    Open,
    Done,
    Closed,
    PendingReview,
    Approved,
    Discarded,
}

/// The workflow run that created a record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Origin {
    pub workflow_id: String,
    pub run_id: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Record {
    pub id: String,
    pub kind: RecordKind,
    pub client_id: Option<String>,
    /// A task's or ticket's title; a draft's subject.
    pub title: String,
    /// A description, or a draft's text.
    pub body: Option<String>,
    pub assignee: Option<String>,
    pub category: Option<String>,
    /// A draft's recipient.
    pub to: Option<String>,
    pub due_at: Option<DateTime<Utc>>,
    pub status: RecordStatus,
    pub origin: Option<Origin>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// What `POST` takes: a new record (`title` required).
#[derive(Debug, Clone, PartialEq, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewRecord {
    /// 1–200 characters without `#` or control characters.
    #[serde(default)]
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = "^[^#\\u0000-\\u001f\\u007f-\\u009f]+$"
    )]
    pub client_id: Option<String>,
    /// 1–500 characters, not only blanks.
    #[schema(
        min_length = 1,
        max_length = 500,
        pattern = "[^\\s\\u0000-\\u001f\\u007f-\\u009f]"
    )]
    pub title: String,
    #[serde(default)]
    #[schema(max_length = 20000)]
    pub body: Option<String>,
    #[serde(default)]
    pub assignee: Option<String>,
    #[serde(default)]
    pub category: Option<String>,
    #[serde(default)]
    pub to: Option<String>,
    #[serde(default)]
    pub due_at: Option<DateTime<Utc>>,
    /// One of the kind's statuses: `open`/`done` (task), `open`/`closed` (ticket),
    /// `pending_review`/`approved`/`discarded` (draft); another is 422.
    #[serde(default)]
    pub status: Option<RecordStatus>,
}

impl From<NewRecord> for RecordFields {
    fn from(new: NewRecord) -> Self {
        RecordFields {
            client_id: new.client_id,
            title: Some(new.title),
            body: new.body,
            assignee: new.assignee,
            category: new.category,
            to: new.to,
            due_at: new.due_at,
            status: new.status,
        }
    }
}

/// What `PATCH` changes (only the fields it names); what workflow steps fill in.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecordFields {
    /// 1–200 characters without `#` or control characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = "^[^#\\u0000-\\u001f\\u007f-\\u009f]+$"
    )]
    pub client_id: Option<String>,
    /// 1–500 characters, not only blanks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(
        min_length = 1,
        max_length = 500,
        pattern = "[^\\s\\u0000-\\u001f\\u007f-\\u009f]"
    )]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 20000)]
    pub body: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assignee: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due_at: Option<DateTime<Utc>>,
    /// One of the kind's statuses (see `NewRecord`); another is 422.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<RecordStatus>,
}

const MAX_TITLE_LEN: usize = 500;
const MAX_BODY_LEN: usize = 20_000;

fn check(kind: RecordKind, record: &Record) -> Result<()> {
    if is_blank(&record.title) || record.title.chars().count() > MAX_TITLE_LEN {
        return Err(Error::invalid(
            "invalid_field",
            format!("title must be 1 to {MAX_TITLE_LEN} characters"),
        ));
    }
    if record
        .body
        .as_ref()
        .is_some_and(|b| b.chars().count() > MAX_BODY_LEN)
    {
        return Err(Error::invalid(
            "invalid_field",
            format!("body must be at most {MAX_BODY_LEN} characters"),
        ));
    }
    if !kind.allows(record.status) {
        return Err(Error::unprocessable(
            "invalid_field",
            format!(
                "status {:?} is not a {} status",
                record.status,
                kind.as_str()
            ),
        ));
    }
    if record
        .client_id
        .as_deref()
        .is_some_and(|c| !crate::automation_runs::input::valid_id(c))
    {
        return Err(Error::invalid(
            "invalid_field",
            "client_id is not a valid id",
        ));
    }
    Ok(())
}

fn apply(record: &mut Record, fields: RecordFields) {
    let RecordFields {
        client_id,
        title,
        body,
        assignee,
        category,
        to,
        due_at,
        status,
    } = fields;
    if let Some(v) = client_id {
        record.client_id = Some(v);
    }
    if let Some(v) = title {
        record.title = v;
    }
    record.body = body.or(record.body.take());
    record.assignee = assignee.or(record.assignee.take());
    record.category = category.or(record.category.take());
    record.to = to.or(record.to.take());
    record.due_at = due_at.or(record.due_at);
    if let Some(v) = status {
        record.status = v;
    }
}

fn item(tenant: &str, record: &Record) -> Result<Item> {
    let sort = format!("{}#{}", record.created_at.timestamp_millis(), record.id);
    let item = Item::new(
        table_keys::record(tenant, record.kind.as_str(), &record.id),
        to_json(record)?,
    )
    .with_gsi1(table_keys::record_list(tenant, record.kind.as_str(), &sort));
    Ok(match &record.client_id {
        Some(client) => item.with_gsi2(table_keys::client_records(
            tenant,
            record.kind.as_str(),
            client,
            &sort,
        )),
        None => item,
    })
}

pub struct RecordService {
    store: Arc<dyn ItemStore>,
    clock: Arc<dyn Clock>,
}

impl RecordService {
    pub fn new(store: Arc<dyn ItemStore>, clock: Arc<dyn Clock>) -> Self {
        Self { store, clock }
    }

    pub async fn create(
        &self,
        tenant: &str,
        kind: RecordKind,
        fields: RecordFields,
        origin: Option<Origin>,
    ) -> Result<Record> {
        self.insert(tenant, kind, ids::new_id(kind.id_prefix()), fields, origin)
            .await
    }

    /// Creates the record a workflow step makes, once: its id comes from the run and the step,
    /// so a step done again answers the record it made the first time.
    pub async fn create_for_step(
        &self,
        tenant: &str,
        kind: RecordKind,
        fields: RecordFields,
        origin: Origin,
        step: usize,
    ) -> Result<Record> {
        let id = ids::stable_id(
            kind.id_prefix(),
            &[tenant, &origin.run_id, &step.to_string()],
        );
        match self
            .insert(tenant, kind, id.clone(), fields, Some(origin))
            .await
        {
            Err(Error::Conflict(_)) => Ok(self.get(tenant, kind, &id).await?.0),
            other => other,
        }
    }

    async fn insert(
        &self,
        tenant: &str,
        kind: RecordKind,
        id: String,
        fields: RecordFields,
        origin: Option<Origin>,
    ) -> Result<Record> {
        let now = self.clock.now();
        let mut record = Record {
            id,
            kind,
            client_id: None,
            title: String::new(),
            body: None,
            assignee: None,
            category: None,
            to: None,
            due_at: None,
            status: kind.initial_status(),
            origin,
            created_at: now,
            updated_at: now,
        };
        apply(&mut record, fields);
        check(kind, &record)?;
        match self
            .store
            .put(item(tenant, &record)?, PutCondition::Absent)
            .await
        {
            Ok(_) => Ok(record),
            Err(StoreError::AlreadyExists) => Err(Error::Conflict(format!(
                "{} {} exists",
                kind.as_str(),
                record.id
            ))),
            Err(other) => Err(other.into()),
        }
    }

    pub async fn get(&self, tenant: &str, kind: RecordKind, id: &str) -> Result<(Record, u64)> {
        let not_found = || Error::NotFound(kind.as_str().into());
        if !ids::looks_like(kind.id_prefix(), id) {
            return Err(not_found());
        }
        let found = self
            .store
            .get(&table_keys::record(tenant, kind.as_str(), id))
            .await?;
        let item = found.ok_or_else(not_found)?;
        Ok((item.parse()?, item.version))
    }

    /// Newest first; only a client's when `client_id` is given, only one status when `status` is.
    pub async fn list(
        &self,
        tenant: &str,
        kind: RecordKind,
        client_id: Option<&str>,
        status: Option<RecordStatus>,
        limit: u32,
        cursor: Option<Cursor>,
    ) -> Result<(Vec<Record>, Option<Cursor>)> {
        let query = match client_id {
            Some(client) => Query::partition(
                Index::Gsi2,
                table_keys::client_records(tenant, kind.as_str(), client, "").pk,
            ),
            None => Query::partition(
                Index::Gsi1,
                table_keys::record_list(tenant, kind.as_str(), "").pk,
            ),
        }
        .descending();
        let keep = |r: &Record| status.is_none_or(|s| r.status == s);
        Ok(query_filtered(self.store.as_ref(), query, limit, cursor, keep).await?)
    }

    pub async fn update(
        &self,
        tenant: &str,
        kind: RecordKind,
        id: &str,
        fields: RecordFields,
    ) -> Result<Record> {
        let (mut record, version) = self.get(tenant, kind, id).await?;
        apply(&mut record, fields);
        record.updated_at = self.clock.now();
        check(kind, &record)?;
        match self
            .store
            .put(item(tenant, &record)?, PutCondition::VersionEquals(version))
            .await
        {
            Ok(_) => Ok(record),
            Err(StoreError::VersionConflict) => Err(Error::Conflict(format!(
                "the {} changed meanwhile; read it again and retry",
                kind.as_str()
            ))),
            Err(other) => Err(other.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_has_its_own_statuses() {
        assert!(RecordKind::Task.allows(RecordStatus::Done));
        assert!(!RecordKind::Task.allows(RecordStatus::Closed));
        assert!(RecordKind::Ticket.allows(RecordStatus::Closed));
        assert!(!RecordKind::Draft.allows(RecordStatus::Open));
        assert_eq!(
            RecordKind::Draft.initial_status(),
            RecordStatus::PendingReview
        );
    }
}
