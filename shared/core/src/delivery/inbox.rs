//! The admin inbox: one item per notification routed to it, with a small lifecycle
//! (open → acknowledged → resolved | dismissed) and a badge of open items by severity.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

use super::notification::{Notification, NotificationType};
use crate::json::to_json;
use crate::ports::{
    Cursor, Index, Item, ItemStore, PutCondition, Query, StoreError, WriteOp, query_filtered,
};
use crate::severity::Severity;
use crate::tenancy::audit::{self, Actor};
use crate::{Clock, Error, Result, table_keys};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum InboxStatus {
    Open,
    Acknowledged,
    Resolved,
    Dismissed,
}

/// What a person does to an inbox item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum InboxAction {
    Acknowledge,
    Resolve,
    Dismiss,
}

impl InboxAction {
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "acknowledge" => Some(InboxAction::Acknowledge),
            "resolve" => Some(InboxAction::Resolve),
            "dismiss" => Some(InboxAction::Dismiss),
            _ => None,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            InboxAction::Acknowledge => "acknowledge",
            InboxAction::Resolve => "resolve",
            InboxAction::Dismiss => "dismiss",
        }
    }
}

impl InboxStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            InboxStatus::Open => "open",
            InboxStatus::Acknowledged => "acknowledged",
            InboxStatus::Resolved => "resolved",
            InboxStatus::Dismissed => "dismissed",
        }
    }

    /// The status after `action`, if the lifecycle allows it. Resolved and dismissed are final.
    pub fn after(self, action: InboxAction) -> Option<InboxStatus> {
        use InboxAction as A;
        use InboxStatus as S;
        match (self, action) {
            (S::Open, A::Acknowledge) => Some(S::Acknowledged),
            (S::Open | S::Acknowledged, A::Resolve) => Some(S::Resolved),
            (S::Open | S::Acknowledged, A::Dismiss) => Some(S::Dismissed),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct InboxItem {
    pub id: String,
    pub notification_id: String,
    #[serde(rename = "type")]
    pub kind: NotificationType,
    pub severity: Severity,
    pub title: String,
    pub summary: String,
    /// What the item is about, e.g. `anomaly:anm_01…`.
    pub link_ref: Option<String>,
    pub status: InboxStatus,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Open items by severity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct InboxCounts {
    pub open: u64,
    pub by_severity: BTreeMap<String, u64>,
}

/// Filters of `GET /api/v1/inbox`.
#[derive(Debug, Clone, Default)]
pub struct InboxFilter {
    pub status: Option<InboxStatus>,
    pub severity: Option<Severity>,
    pub kind: Option<NotificationType>,
}

fn counter_name(severity: Severity) -> String {
    format!("open_{}", severity.as_str().to_ascii_lowercase())
}

fn sort_key(item: &InboxItem) -> String {
    format!(
        "{}#{}",
        item.created_at.to_rfc3339_opts(SecondsFormat::Millis, true),
        item.id
    )
}

fn to_item(tenant: &str, inbox: &InboxItem) -> Result<Item> {
    let sort = sort_key(inbox);
    Ok(
        Item::new(table_keys::inbox_item(tenant, &inbox.id), to_json(inbox)?)
            .with_gsi1(table_keys::inbox_list(tenant, &sort))
            .with_gsi2(table_keys::inbox_status_list(
                tenant,
                inbox.status.as_str(),
                &sort,
            )),
    )
}

/// The inbox item id of a notification: one item per notification, however often delivered.
pub fn item_id(notification_id: &str) -> String {
    let suffix = notification_id
        .split_once('_')
        .map_or(notification_id, |(_, s)| s);
    format!("inb_{suffix}")
}

/// The writes that put `notification` in the inbox (with its badge count): one transaction, to
/// which the caller adds its delivery record. Refused with `AlreadyExists` at index 0 when the
/// item is already there.
pub fn delivery_writes(notification: &Notification) -> Result<Vec<WriteOp>> {
    let item = InboxItem {
        id: item_id(&notification.id),
        notification_id: notification.id.clone(),
        kind: notification.kind,
        severity: notification.severity,
        title: notification.title.clone(),
        summary: notification.summary.clone(),
        link_ref: notification.link_ref.clone(),
        status: InboxStatus::Open,
        created_at: notification.created_at,
        updated_at: notification.created_at,
    };
    let tenant = &notification.tenant_id;
    Ok(vec![
        WriteOp::Put {
            item: to_item(tenant, &item)?,
            condition: PutCondition::Absent,
        },
        WriteOp::Add {
            key: table_keys::inbox_counts(tenant),
            deltas: BTreeMap::from([(counter_name(item.severity), 1)]),
        },
    ])
}

pub struct InboxService {
    store: Arc<dyn ItemStore>,
    clock: Arc<dyn Clock>,
}

impl InboxService {
    pub fn new(store: Arc<dyn ItemStore>, clock: Arc<dyn Clock>) -> Self {
        Self { store, clock }
    }

    /// Newest first. Status uses its index; severity and type filter the pages read.
    pub async fn list(
        &self,
        tenant: &str,
        filter: &InboxFilter,
        limit: u32,
        cursor: Option<Cursor>,
    ) -> Result<(Vec<InboxItem>, Option<Cursor>)> {
        let (index, partition) = match filter.status {
            Some(status) => (
                Index::Gsi2,
                table_keys::inbox_status_list(tenant, status.as_str(), "").pk,
            ),
            None => (Index::Gsi1, table_keys::inbox_list(tenant, "").pk),
        };
        let query = Query::partition(index, partition).descending();
        let (items, cursor) = query_filtered(
            self.store.as_ref(),
            query,
            limit,
            cursor,
            |item: &InboxItem| {
                filter.severity.is_none_or(|s| item.severity == s)
                    && filter.kind.is_none_or(|k| item.kind == k)
            },
        )
        .await?;
        Ok((items, cursor))
    }

    pub async fn get(&self, tenant: &str, id: &str) -> Result<(InboxItem, u64)> {
        if !crate::ids::looks_like("inb", id) {
            return Err(Error::NotFound("inbox item".into()));
        }
        let stored = self
            .store
            .get(&table_keys::inbox_item(tenant, id))
            .await?
            .ok_or_else(|| Error::NotFound("inbox item".into()))?;
        Ok((stored.parse()?, stored.version))
    }

    pub async fn counts(&self, tenant: &str) -> Result<InboxCounts> {
        let counters = match self.store.get(&table_keys::inbox_counts(tenant)).await? {
            Some(item) => item.counters,
            None => BTreeMap::new(),
        };
        let by_severity: BTreeMap<String, u64> = Severity::ALL
            .into_iter()
            .map(|s| {
                let open = counters.get(&counter_name(s)).copied().unwrap_or(0);
                (s.as_str().to_owned(), u64::try_from(open).unwrap_or(0))
            })
            .collect();
        Ok(InboxCounts {
            open: by_severity.values().sum(),
            by_severity,
        })
    }

    /// Applies `action` if the item's status allows it (409 otherwise).
    pub async fn act(
        &self,
        tenant: &str,
        id: &str,
        action: InboxAction,
        actor: &Actor,
    ) -> Result<InboxItem> {
        let (mut item, version) = self.get(tenant, id).await?;
        let next = item.status.after(action).ok_or_else(|| {
            Error::Conflict(format!(
                "cannot {} an item that is {}",
                action.as_str(),
                item.status.as_str()
            ))
        })?;
        let now = self.clock.now();
        let left_open = item.status == InboxStatus::Open;
        item.status = next;
        item.updated_at = now;
        let mut ops = vec![WriteOp::Put {
            item: to_item(tenant, &item)?,
            condition: PutCondition::VersionEquals(version),
        }];
        if left_open {
            ops.push(WriteOp::Add {
                key: table_keys::inbox_counts(tenant),
                deltas: BTreeMap::from([(counter_name(item.severity), -1)]),
            });
        }
        ops.push(audit::record(
            tenant,
            actor,
            &format!("inbox.{}", action.as_str()),
            id,
            now,
        ));
        match self.store.transact(ops).await {
            Ok(()) => Ok(item),
            Err(StoreError::TransactionCancelled { index: 0, .. }) => Err(Error::Conflict(
                "the item changed meanwhile; read it again".into(),
            )),
            Err(other) => Err(other.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_legal_transitions_are_allowed() {
        use InboxAction as A;
        use InboxStatus as S;
        let table = [
            (S::Open, A::Acknowledge, Some(S::Acknowledged)),
            (S::Open, A::Resolve, Some(S::Resolved)),
            (S::Open, A::Dismiss, Some(S::Dismissed)),
            (S::Acknowledged, A::Acknowledge, None),
            (S::Acknowledged, A::Resolve, Some(S::Resolved)),
            (S::Acknowledged, A::Dismiss, Some(S::Dismissed)),
            (S::Resolved, A::Acknowledge, None),
            (S::Resolved, A::Resolve, None),
            (S::Resolved, A::Dismiss, None),
            (S::Dismissed, A::Acknowledge, None),
            (S::Dismissed, A::Resolve, None),
            (S::Dismissed, A::Dismiss, None),
        ];
        for (from, action, expected) in table {
            assert_eq!(from.after(action), expected, "{from:?} {action:?}");
        }
    }

    #[test]
    fn one_inbox_item_per_notification() {
        assert_eq!(item_id("ntf_abc"), "inb_abc");
        assert_eq!(item_id("ntf_abc"), item_id("ntf_abc"));
    }
}
