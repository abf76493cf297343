//! The audit log: one entry per mutating call, written in the same transaction as the change.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

use crate::ports::{Cursor, Item, ItemStore, PutCondition, Query, WriteOp};
use crate::{Result, ids, table_keys};

/// Who made a change: an API key, or an operator at the CLI.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Actor {
    ApiKey {
        key_id: String,
    },
    Cli,
    /// Vigil itself (scheduled flows, automations).
    System,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AuditEntry {
    pub id: String,
    pub actor: Actor,
    /// What was done, `<resource>.<verb>`, e.g. `key.create`.
    pub action: String,
    /// The id of what it was done to.
    pub target: String,
    pub at: DateTime<Utc>,
}

/// The write that records `action` on `target`; put it in the change's transaction.
pub fn record(
    tenant: &str,
    actor: &Actor,
    action: &str,
    target: &str,
    at: DateTime<Utc>,
) -> WriteOp {
    let entry = AuditEntry {
        id: ids::new_id("aud"),
        actor: actor.clone(),
        action: action.to_string(),
        target: target.to_string(),
        at,
    };
    // Newest-first listing sorts on the time, then the id for entries in the same millisecond.
    let sort = format!(
        "{}#{}",
        at.to_rfc3339_opts(SecondsFormat::Millis, true),
        entry.id
    );
    let body = serde_json::to_string(&entry).unwrap_or_default();
    WriteOp::Put {
        item: Item::new(table_keys::audit_entry(tenant, &sort), body),
        condition: PutCondition::Absent,
    }
}

/// One page of a tenant's audit log, newest first.
pub async fn list(
    store: &dyn ItemStore,
    tenant: &str,
    limit: u32,
    cursor: Option<Cursor>,
) -> Result<(Vec<AuditEntry>, Option<Cursor>)> {
    let query = Query::partition(
        crate::ports::Index::Primary,
        table_keys::audit_partition(tenant),
    )
    .descending()
    .limit(limit)
    .after(cursor);
    let page = store.query(query).await?;
    let entries = page
        .items
        .iter()
        .map(Item::parse)
        .collect::<Result<Vec<_>, _>>()?;
    Ok((entries, page.next_cursor))
}
