//! Notices the dispatcher leaves in the inbox when a channel gives up.

use super::{Dispatcher, EMAIL_QUOTA_EXCEEDED, QuotaSpent};
use crate::delivery::notification::{NewNotification, Notification, NotificationType};
use crate::delivery::record::DeliveryRecord;

impl Dispatcher {
    /// Tells the inbox a channel gave up. Never for a notice about a notice.
    pub(super) async fn emit_dead_letter_notice(&self, n: &Notification, record: &DeliveryRecord) {
        if n.kind == NotificationType::DeliveryDeadLettered {
            return;
        }
        let notice = NewNotification {
            kind: NotificationType::DeliveryDeadLettered,
            severity: n.severity,
            title: format!("Delivery to {} failed: {}", record.channel, n.title),
            summary: format!(
                "Gave up after {} attempt(s). Last error: {}",
                record.attempts,
                record.last_error.as_deref().unwrap_or("unknown")
            ),
            link_ref: Some(format!("event:{}", n.id)),
            dedupe_key: format!(
                "dead-letter:{}:{}:{}",
                n.id,
                record.channel,
                record.updated_at.timestamp_millis()
            ),
            payload: serde_json::json!({
                "event_id": n.id,
                "channel": record.channel,
                "attempts": record.attempts,
                "last_error": record.last_error,
            }),
        };
        if let Err(error) = self.parts.outbox.emit(&n.tenant_id, notice).await {
            tracing::error!(notification_id = %n.id, %error, "could not emit the dead-letter notice");
        }
    }

    /// Tells the inbox an email channel used up its quota: once per channel and UTC day (the
    /// dedupe key), however many deliveries it refuses.
    pub(super) async fn emit_quota_notice(
        &self,
        n: &Notification,
        channel: &str,
        spent: &QuotaSpent,
    ) {
        let notice = NewNotification {
            kind: NotificationType::DeliveryDeadLettered,
            severity: n.severity,
            title: format!(
                "Email channel {channel} reached its daily quota of {}",
                spent.quota
            ),
            summary: format!(
                "Emails to {channel} are not sent until the end of {} (UTC); each refused delivery \
                 is recorded as failed with {EMAIL_QUOTA_EXCEEDED}. The first refused: {}",
                spent.day, n.title
            ),
            link_ref: Some(format!("event:{}", n.id)),
            dedupe_key: format!("email-quota:{channel}:{}", spent.day),
            payload: serde_json::json!({
                "code": EMAIL_QUOTA_EXCEEDED,
                "channel": channel,
                "quota": spent.quota.get(),
                "day": spent.day,
                "event_id": n.id,
            }),
        };
        if let Err(error) = self.parts.outbox.emit(&n.tenant_id, notice).await {
            tracing::error!(notification_id = %n.id, %error, "could not emit the email quota notice");
        }
    }
}
