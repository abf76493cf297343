//! Dead letters: what delivery gave up on, for people to see and queue again.
//!
//! Two kinds, one list:
//! - a notification with a channel that gave up after its last attempt (its delivery record says
//!   `failed`; the dispatcher put a notice in the inbox when it happened);
//! - an outbox message the queue moved to its dead-letter queue after too many receives (the
//!   dispatcher kept failing on it). The dead-letter queue is the source of truth for these: the
//!   list is read from it, a requeue sends the message back to the outbox queue and deletes it
//!   from the dead-letter queue, and the outbox sweep puts a notice in the inbox for each.
//!
//! A tenant sees and requeues only its own dead letters: a message's tenant is the one its body
//! names, and an id outside the caller's scope is "not found".

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::notification::{NewNotification, NotificationStatus, NotificationType};
use super::outbox::{NotificationFilter, OutboxMessage, OutboxService};
use super::record::DeliveryStatus;
use crate::ports::queue::MAX_RECEIVE_BATCH;
use crate::ports::{Cipher, ItemStore, Queue, ReceivedMessage};
use crate::tenancy::audit::{self, Actor};
use crate::tenancy::tenants::TenantService;
use crate::{Clock, Error, Result};

/// Most dead-lettered messages one scan of the dead-letter queue looks at.
pub const MAX_SCAN: usize = 500;
/// Most notifications with failed deliveries listed per tenant.
pub const MAX_FAILED_PER_TENANT: u32 = 100;
/// Most ids one requeue names.
pub const MAX_REQUEUE_IDS: usize = 100;
/// How long a scan hides the messages it looks at (it shows them again when done).
const SCAN_VISIBILITY: Duration = Duration::from_secs(30);
/// A scan's receives wait this long for a message, so SQS's sampling of its servers does not end
/// a scan early.
const SCAN_WAIT: Duration = Duration::from_secs(1);
/// Ids of dead-lettered messages: this prefix and the queue's message id.
const MESSAGE_ID_PREFIX: &str = "dlm_";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeadLetterKind {
    /// An outbox message the queue gave up on after too many receives.
    Message,
    /// A notification with at least one channel that gave up after its last attempt.
    Delivery,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DeadLetter {
    /// `dlm_…` for a message, the notification id for a delivery. Stable until requeued.
    pub id: String,
    pub kind: DeadLetterKind,
    pub tenant_id: String,
    pub notification_id: String,
    /// The channels that gave up (deliveries).
    pub channels: Vec<String>,
    /// How often the queue handed the message out (messages).
    pub receive_count: Option<u32>,
    /// The last error a channel reported (deliveries).
    pub last_error: Option<String>,
}

/// Which dead letters a requeue takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selection {
    Ids(Vec<String>),
    All,
}

/// A dead-lettered message as scanned, with the receipt that requeues or releases it.
struct Scanned {
    letter: DeadLetter,
    message: ReceivedMessage,
}

pub struct DeadLetterService {
    outbox: Arc<OutboxService>,
    queue: Arc<dyn Queue>,
    dead_letter_queue: Arc<dyn Queue>,
    store: Arc<dyn ItemStore>,
    tenants: TenantService,
    clock: Arc<dyn Clock>,
}

impl DeadLetterService {
    pub fn new(
        outbox: Arc<OutboxService>,
        queue: Arc<dyn Queue>,
        dead_letter_queue: Arc<dyn Queue>,
        store: Arc<dyn ItemStore>,
        clock: Arc<dyn Clock>,
        cipher: Arc<dyn Cipher>,
    ) -> Self {
        Self {
            tenants: TenantService::new(store.clone(), clock.clone(), cipher),
            outbox,
            queue,
            dead_letter_queue,
            store,
            clock,
        }
    }

    /// The dead letters of `tenant` (none: of every tenant): messages first, then deliveries.
    pub async fn list(&self, tenant: Option<&str>) -> Result<Vec<DeadLetter>> {
        let scanned = self.scan(tenant).await?;
        self.release(&scanned).await;
        let mut letters: Vec<DeadLetter> = scanned.into_iter().map(|s| s.letter).collect();
        letters.extend(self.failed_deliveries(tenant).await?);
        Ok(letters)
    }

    /// Queues the selected dead letters of `tenant` (none: of every tenant) again; returns the
    /// ids requeued. An id outside the scope is not found, and then nothing is requeued.
    pub async fn requeue(
        &self,
        tenant: Option<&str>,
        selection: &Selection,
        actor: &Actor,
    ) -> Result<Vec<String>> {
        if let Selection::Ids(ids) = selection
            && (ids.is_empty() || ids.len() > MAX_REQUEUE_IDS)
        {
            return Err(Error::invalid(
                "invalid_selection",
                format!("name 1–{MAX_REQUEUE_IDS} ids, or all"),
            ));
        }
        let scanned = self.scan(tenant).await?;
        let deliveries = self.failed_deliveries(tenant).await;
        let deliveries = match deliveries {
            Ok(deliveries) => deliveries,
            Err(error) => {
                self.release(&scanned).await;
                return Err(error);
            }
        };
        let chosen = |id: &str| match selection {
            Selection::All => true,
            Selection::Ids(ids) => ids.iter().any(|wanted| wanted == id),
        };
        if let Selection::Ids(ids) = selection {
            let known = |id: &String| {
                scanned.iter().any(|s| &s.letter.id == id) || deliveries.iter().any(|d| &d.id == id)
            };
            if let Some(missing) = ids.iter().find(|id| !known(id)) {
                self.release(&scanned).await;
                return Err(Error::NotFound(format!("dead letter {missing}")));
            }
        }
        let (take, keep): (Vec<Scanned>, Vec<Scanned>) =
            scanned.into_iter().partition(|s| chosen(&s.letter.id));
        self.release(&keep).await;
        let mut requeued = Vec::new();
        let mut failure = None;
        for scanned in &take {
            match self.requeue_message(scanned, actor).await {
                Ok(()) => requeued.push(scanned.letter.id.clone()),
                Err(error) => failure = Some(error),
            }
        }
        for delivery in deliveries.iter().filter(|d| chosen(&d.id)) {
            match self
                .outbox
                .retry(&delivery.tenant_id, &delivery.notification_id, actor)
                .await
            {
                Ok(_) => requeued.push(delivery.id.clone()),
                // Retried by someone else meanwhile: nothing left to do for it.
                Err(Error::Conflict(_)) => {}
                Err(error) => failure = Some(error),
            }
        }
        match failure {
            // What was requeued stays requeued; the rest can be asked for again.
            Some(error) if requeued.is_empty() => Err(error),
            _ => Ok(requeued),
        }
    }

    /// Puts a notice in the inbox of each tenant with a message in the dead-letter queue, once
    /// per message (the notice's dedupe key is the message's id); returns how many are new.
    pub async fn notify(&self) -> Result<usize> {
        let scanned = self.scan(None).await?;
        self.release(&scanned).await;
        let mut new = 0;
        for letter in scanned.iter().map(|s| &s.letter) {
            let notification = match self
                .outbox
                .get(&letter.tenant_id, &letter.notification_id)
                .await
            {
                Ok(detail) => Some(detail.notification),
                Err(Error::NotFound(_)) => None,
                Err(other) => return Err(other),
            };
            // Never a notice about a notice: that could go round for ever.
            if notification
                .as_ref()
                .is_some_and(|n| n.kind == NotificationType::DeliveryDeadLettered)
            {
                continue;
            }
            let (_, created) = self
                .outbox
                .emit(&letter.tenant_id, notice(letter, notification.as_ref()))
                .await?;
            new += usize::from(created);
        }
        Ok(new)
    }

    /// Receives every message of the dead-letter queue (up to [`MAX_SCAN`]) and keeps those of
    /// `tenant`; the others are shown again at once.
    async fn scan(&self, tenant: Option<&str>) -> Result<Vec<Scanned>> {
        let mut mine = Vec::new();
        let mut others = Vec::new();
        let mut seen = 0;
        while seen < MAX_SCAN {
            let batch = match self
                .dead_letter_queue
                .receive(MAX_RECEIVE_BATCH, SCAN_VISIBILITY, SCAN_WAIT)
                .await
            {
                Ok(batch) => batch,
                Err(error) => {
                    self.release_messages(mine.iter().map(|s: &Scanned| &s.message))
                        .await;
                    self.release_messages(others.iter()).await;
                    return Err(error.into());
                }
            };
            if batch.is_empty() {
                break;
            }
            seen += batch.len();
            for message in batch {
                match letter_of(&message) {
                    Some(letter) if tenant.is_none_or(|t| t == letter.tenant_id) => {
                        mine.push(Scanned { letter, message });
                    }
                    Some(_) => others.push(message),
                    None => {
                        tracing::error!(message_id = %message.message_id,
                            "a dead-lettered outbox message names no notification");
                        others.push(message);
                    }
                }
            }
        }
        self.release_messages(others.iter()).await;
        Ok(mine)
    }

    async fn release(&self, scanned: &[Scanned]) {
        self.release_messages(scanned.iter().map(|s| &s.message))
            .await;
    }

    /// Shows scanned messages again at once. One that cannot be shown comes back by itself when
    /// the scan's visibility timeout ends.
    async fn release_messages(&self, messages: impl Iterator<Item = &ReceivedMessage>) {
        for message in messages {
            if let Err(error) = self
                .dead_letter_queue
                .change_visibility(&message.receipt, Duration::ZERO)
                .await
            {
                tracing::warn!(message_id = %message.message_id, %error,
                    "a scanned dead letter stays hidden until its scan's timeout");
            }
        }
    }

    /// Sends the message back to the outbox queue, then deletes it from the dead-letter queue
    /// (in that order: a failure in between leaves a repeat, which delivery records absorb,
    /// never a loss); audited in the message's tenant.
    async fn requeue_message(&self, scanned: &Scanned, actor: &Actor) -> Result<()> {
        self.queue
            .send(&scanned.message.body, Duration::ZERO)
            .await?;
        if let Err(error) = self
            .dead_letter_queue
            .delete(&scanned.message.receipt)
            .await
        {
            tracing::warn!(id = %scanned.letter.id, %error,
                "requeued, but still in the dead-letter queue; it may be listed again");
        }
        let now = self.clock.now();
        self.store
            .transact(vec![audit::record(
                &scanned.letter.tenant_id,
                actor,
                "dead_letter.requeue",
                &scanned.letter.id,
                now,
            )])
            .await?;
        Ok(())
    }

    /// Notifications of `tenant` (none: every tenant) with a channel that gave up.
    async fn failed_deliveries(&self, tenant: Option<&str>) -> Result<Vec<DeadLetter>> {
        let tenants = match tenant {
            Some(tenant) => vec![tenant.to_owned()],
            None => self.tenants.all_ids().await?,
        };
        let failed = NotificationFilter {
            status: Some(NotificationStatus::Failed),
            kind: None,
        };
        let mut letters = Vec::new();
        for tenant in tenants {
            let (notifications, _) = self
                .outbox
                .list(&tenant, &failed, MAX_FAILED_PER_TENANT, None)
                .await?;
            for notification in notifications {
                let detail = self.outbox.get(&tenant, &notification.id).await?;
                let gave_up: Vec<_> = detail
                    .deliveries
                    .iter()
                    .filter(|d| d.status == DeliveryStatus::Failed)
                    .collect();
                letters.push(DeadLetter {
                    id: notification.id.clone(),
                    kind: DeadLetterKind::Delivery,
                    tenant_id: tenant.clone(),
                    notification_id: notification.id,
                    channels: gave_up.iter().map(|d| d.channel.clone()).collect(),
                    receive_count: None,
                    last_error: gave_up.iter().find_map(|d| d.last_error.clone()),
                });
            }
        }
        Ok(letters)
    }
}

/// The dead letter a message of the outbox's dead-letter queue stands for; none when its body is
/// not an outbox message.
fn letter_of(message: &ReceivedMessage) -> Option<DeadLetter> {
    let body: OutboxMessage = serde_json::from_str(&message.body).ok()?;
    Some(DeadLetter {
        id: format!("{MESSAGE_ID_PREFIX}{}", message.message_id),
        kind: DeadLetterKind::Message,
        tenant_id: body.tenant_id,
        notification_id: body.notification_id,
        channels: Vec::new(),
        receive_count: Some(message.receive_count),
        last_error: None,
    })
}

/// The inbox notice for a message the outbox queue gave up on.
fn notice(
    letter: &DeadLetter,
    notification: Option<&super::notification::Notification>,
) -> NewNotification {
    let (title, severity) = match notification {
        Some(n) => (n.title.as_str(), n.severity),
        None => ("a notification", crate::severity::Severity::Sev2),
    };
    let title = format!("Delivery gave up: {title}");
    NewNotification {
        kind: NotificationType::DeliveryDeadLettered,
        severity,
        title: title.chars().take(200).collect(),
        summary: format!(
            "The outbox queue gave up on this notification after {} receive(s). \
             Requeue it with `vigil dlq requeue --id {}` or POST /api/v1/dead-letters/requeue.",
            letter.receive_count.unwrap_or_default(),
            letter.id
        ),
        link_ref: Some(format!("event:{}", letter.notification_id)),
        dedupe_key: format!("dead-letter:{}", letter.id),
        payload: serde_json::json!({
            "dead_letter_id": letter.id,
            "event_id": letter.notification_id,
            "receive_count": letter.receive_count,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dead_lettered_message_names_its_tenant_and_notification() {
        let message = ReceivedMessage {
            message_id: "m-1".into(),
            body: r#"{"tenant_id":"tnt_a","notification_id":"ntf_b"}"#.into(),
            receipt: "r".into(),
            receive_count: 6,
        };
        let letter = letter_of(&message).unwrap();
        assert_eq!(
            (letter.id.as_str(), letter.tenant_id.as_str()),
            ("dlm_m-1", "tnt_a")
        );
        assert_eq!(letter.receive_count, Some(6));
        let notice = notice(&letter, None);
        assert_eq!(notice.dedupe_key, "dead-letter:dlm_m-1");
        assert!(
            notice.summary.contains("6 receive(s)"),
            "{}",
            notice.summary
        );
        let garbage = ReceivedMessage {
            body: "nonsense".into(),
            ..message
        };
        assert!(letter_of(&garbage).is_none());
    }
}
