//! What a handled message leaves behind: the notification's status as its deliveries add up,
//! and the message queued again for the earliest pending retry.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::{Attempt, Dispatcher};
use crate::Result;
use crate::delivery::notification::NotificationStatus;
use crate::delivery::outbox::{DeliveryState, StoredNotification};
use crate::delivery::record::{DeliveryRecord, DeliveryStatus, Next};
use crate::ports::PutCondition;
use crate::ports::StoreError;
use crate::ports::queue::MAX_DELAY;

impl Dispatcher {
    /// Writes the notification's status as its deliveries now add up (each attempt's record is
    /// written already); re-reads them when someone else wrote meanwhile.
    pub(super) async fn update_status(
        &self,
        tenant: &str,
        state: &DeliveryState,
        targets: &[String],
        attempts: &[Attempt],
    ) -> Result<()> {
        let Some(updated) = self.updated_notification(state, targets, attempts) else {
            return Ok(());
        };
        if self.write_status(&updated, state.version).await? {
            return Ok(());
        }
        self.refresh_status(tenant, &state.notification.notification.id, targets)
            .await
    }

    /// Re-reads a notification and writes its status if its records say otherwise.
    async fn refresh_status(&self, tenant: &str, id: &str, targets: &[String]) -> Result<()> {
        for _ in 0..3 {
            let Some(state) = self.parts.outbox.state(tenant, id).await? else {
                return Ok(());
            };
            let Some(updated) = self.updated_notification(&state, targets, &[]) else {
                return Ok(());
            };
            if self.write_status(&updated, state.version).await? {
                return Ok(());
            }
        }
        Ok(())
    }

    /// Writes the notification if it is still at `version`; false when someone wrote meanwhile.
    async fn write_status(&self, updated: &StoredNotification, version: u64) -> Result<bool> {
        match self
            .parts
            .store
            .put(updated.to_item()?, PutCondition::VersionEquals(version))
            .await
        {
            Ok(_) => Ok(true),
            Err(StoreError::VersionConflict) => Ok(false),
            Err(other) => Err(other.into()),
        }
    }

    /// The notification with the status its deliveries add up to, if that differs from what
    /// is stored (or it was never handled).
    fn updated_notification(
        &self,
        state: &DeliveryState,
        targets: &[String],
        attempts: &[Attempt],
    ) -> Option<StoredNotification> {
        let latest = |name: &String| -> Option<&DeliveryRecord> {
            attempts
                .iter()
                .find(|a| &a.channel == name)
                .map(|a| &a.record)
                .or_else(|| state.records.get(name).map(|(r, _)| r))
        };
        let records: Vec<Option<&DeliveryRecord>> = targets.iter().map(latest).collect();
        let status = if records
            .iter()
            .all(|r| r.is_some_and(|r| r.status == DeliveryStatus::Sent))
        {
            NotificationStatus::Sent
        } else if records
            .iter()
            .any(|r| r.is_none_or(|r| r.status == DeliveryStatus::Pending))
        {
            NotificationStatus::Pending
        } else {
            NotificationStatus::Failed
        };
        let due_at = if status == NotificationStatus::Pending {
            records
                .iter()
                .flatten()
                .filter(|r| r.status == DeliveryStatus::Pending)
                .filter_map(|r| r.next_attempt_at.or(r.in_flight_until))
                .min()
                .or(state.notification.due_at)
        } else {
            None
        };
        let stored = &state.notification;
        let now = self.parts.clock.now();
        if stored.notification.status == status
            && stored.handled_at.is_some()
            && stored.due_at == due_at
        {
            return None;
        }
        let mut updated = stored.clone();
        updated.notification.status = status;
        updated.notification.updated_at = now;
        updated.handled_at = stored.handled_at.or(Some(now));
        updated.due_at = due_at;
        Some(updated)
    }

    /// Queues the notification again for its earliest pending retry (in steps of at most the
    /// queue's longest delay).
    pub(super) async fn schedule_next(
        &self,
        tenant: &str,
        state: &DeliveryState,
        attempts: &[Attempt],
        now: DateTime<Utc>,
    ) -> Result<()> {
        let mut due: BTreeMap<&str, DateTime<Utc>> = BTreeMap::new();
        for (name, (record, _)) in &state.records {
            if let Next::WaitUntil(at) = record.next(now) {
                due.insert(name, at);
            }
        }
        for attempt in attempts {
            due.remove(attempt.channel.as_str());
            if let Some(at) = attempt.record.next_attempt_at
                && attempt.record.status == DeliveryStatus::Pending
            {
                due.insert(&attempt.channel, at);
            }
        }
        let Some(earliest) = due.values().min() else {
            return Ok(());
        };
        let wait = (*earliest - now)
            .to_std()
            .unwrap_or_default()
            .min(MAX_DELAY);
        self.parts
            .outbox
            .queue(tenant, &state.notification.notification.id, wait)
            .await
    }
}
