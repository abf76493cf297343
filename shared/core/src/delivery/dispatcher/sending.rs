//! Sending one notification to one target: claiming its delivery record, the email quota, the
//! send itself under the deadline, and recording the attempt.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::{Attempt, Dispatcher, EMAIL_QUOTA_EXCEEDED, QuotaSpent, claim_length};
use crate::delivery::channels::{Channel, Destination, INBOX};
use crate::delivery::inbox;
use crate::delivery::notification::Notification;
use crate::delivery::record::{DeliveryRecord, TargetKind};
use crate::delivery::retry::{SendOutcome, classify_email, classify_http};
use crate::delivery::{email, slack, webhook};
use crate::json::to_json;
use crate::ports::{HttpPost, Item, PutCondition, StoreError};
use crate::{Result, table_keys};

impl Dispatcher {
    pub(super) async fn deliver_to_channel(
        &self,
        n: &Notification,
        channel: &Channel,
        existing: Option<&(DeliveryRecord, u64)>,
        now: DateTime<Utc>,
        deadline: tokio::time::Instant,
    ) -> Result<Option<Attempt>> {
        let record = existing.map_or_else(
            || DeliveryRecord::new(&channel.name, channel.destination.kind().into(), now),
            |(record, _)| record.clone(),
        );
        let claim = record.claimed(now, now + claim_length(), self.parts.liveness.instance_id());
        let condition = match existing {
            Some((_, version)) => PutCondition::VersionEquals(*version),
            None => PutCondition::Absent,
        };
        let key = table_keys::delivery(&n.tenant_id, &n.id, &channel.name);
        let claimed_version = match self
            .parts
            .store
            .put(Item::new(key.clone(), to_json(&claim)?), condition)
            .await
        {
            Ok(version) => version,
            // Another dispatcher claimed it first: it is theirs to send.
            Err(StoreError::AlreadyExists | StoreError::VersionConflict) => return Ok(None),
            Err(other) => return Err(other.into()),
        };
        let over_quota = self.spend_email_quota(n, channel, now).await?;
        let outcome = if self.parts.settings.force_fail {
            forced_failure()
        } else if let Some(spent) = &over_quota {
            SendOutcome::Permanent {
                error: format!(
                    "{EMAIL_QUOTA_EXCEEDED}: the channel sent its {} emails of {} (UTC); nothing more is sent to it that day",
                    spent.quota, spent.day
                ),
            }
        } else {
            match tokio::time::timeout_at(deadline, self.send(n, channel)).await {
                Ok(outcome) => outcome,
                Err(_) => SendOutcome::Retry {
                    error: format!(
                        "no answer within the delivery deadline ({} s)",
                        self.parts.settings.deadline.as_secs_f64()
                    ),
                    after: None,
                },
            }
        };
        let mut attempt = self.conclude(&channel.name, &claim, &outcome);
        attempt.over_quota = over_quota;
        match self
            .parts
            .store
            .put(
                Item::new(key, to_json(&attempt.record)?),
                PutCondition::VersionEquals(claimed_version),
            )
            .await
        {
            Ok(_) => Ok(Some(attempt)),
            // The claim was taken over meanwhile: the record is the new holder's now.
            Err(StoreError::VersionConflict) => {
                tracing::warn!(channel = %channel.name, notification_id = %n.id,
                    "the delivery record changed while sending; its outcome is not recorded");
                Ok(None)
            }
            Err(other) => Err(other.into()),
        }
    }

    /// Counts one email of `channel` against its quota for the UTC day (one atomic add on a
    /// counter every instance shares); `Some` when this one is past it. Other kinds of channel
    /// have no quota.
    async fn spend_email_quota(
        &self,
        n: &Notification,
        channel: &Channel,
        now: DateTime<Utc>,
    ) -> Result<Option<QuotaSpent>> {
        if !matches!(channel.destination, Destination::Email { .. }) {
            return Ok(None);
        }
        let day = now.date_naive();
        let counters = self
            .parts
            .store
            .add(
                &table_keys::email_quota(&n.tenant_id, &channel.name, &day.to_string()),
                &BTreeMap::from([("sends".to_owned(), 1)]),
            )
            .await?;
        let quota = self.parts.settings.email_daily_quota;
        let sends = counters.get("sends").copied().unwrap_or(0);
        Ok((sends > i64::from(quota.get())).then_some(QuotaSpent { quota, day }))
    }

    /// The inbox needs no claim: its item is written once, conditionally, in one transaction
    /// with its badge count; its delivery record follows.
    pub(super) async fn deliver_to_inbox(
        &self,
        n: &Notification,
        existing: Option<&(DeliveryRecord, u64)>,
        now: DateTime<Utc>,
    ) -> Result<Attempt> {
        let record = existing.map_or_else(
            || DeliveryRecord::new(INBOX, TargetKind::Inbox, now),
            |(record, _)| record.clone(),
        );
        let outcome = if self.parts.settings.force_fail {
            forced_failure()
        } else {
            match self.parts.store.transact(inbox::delivery_writes(n)?).await {
                Ok(()) => SendOutcome::Delivered { status: None },
                // Already in the inbox (an earlier attempt whose record was not written).
                Err(StoreError::TransactionCancelled { index: 0, .. }) => {
                    SendOutcome::Delivered { status: None }
                }
                Err(other) => return Err(other.into()),
            }
        };
        let attempt = self.conclude(INBOX, &record, &outcome);
        let condition = match existing {
            Some((_, version)) => PutCondition::VersionEquals(*version),
            None => PutCondition::Absent,
        };
        let key = table_keys::delivery(&n.tenant_id, &n.id, INBOX);
        match self
            .parts
            .store
            .put(Item::new(key, to_json(&attempt.record)?), condition)
            .await
        {
            // Written meanwhile by another dispatcher handling the same message: the item is in
            // the inbox once either way.
            Ok(_) | Err(StoreError::VersionConflict | StoreError::AlreadyExists) => Ok(attempt),
            Err(other) => Err(other.into()),
        }
    }

    pub(super) async fn send(&self, n: &Notification, channel: &Channel) -> SendOutcome {
        let link = self.link_url(n);
        match &channel.destination {
            Destination::Slack { url } => {
                let body = slack::slack_message(n, link.as_deref()).to_string();
                let post = HttpPost {
                    url: url.expose().to_owned(),
                    headers: Vec::new(),
                    body: body.into_bytes(),
                };
                classify_http(&self.parts.notifiers.http.post(post).await)
            }
            Destination::Webhook { url, secrets } => {
                let body = webhook::webhook_body(n).to_string().into_bytes();
                let timestamp = self.parts.clock.now().timestamp();
                // The webhook id is the notification's, the same on every retry, so the
                // receiver can drop repeats.
                let headers = match webhook::signed_headers(secrets, &n.id, timestamp, &body) {
                    Ok(headers) => headers,
                    Err(e) => {
                        return SendOutcome::Permanent {
                            error: format!("signing failed: {e}"),
                        };
                    }
                };
                let post = HttpPost {
                    url: url.expose().to_owned(),
                    headers,
                    body,
                };
                classify_http(&self.parts.notifiers.http.post(post).await)
            }
            Destination::Email { to } => {
                let message = email::email_message(n, to, link.as_deref());
                classify_email(&self.parts.notifiers.email.send(&message).await)
            }
        }
    }

    fn link_url(&self, n: &Notification) -> Option<String> {
        let base = self.parts.settings.public_url.as_deref()?;
        Some(format!("{}{}", base.trim_end_matches('/'), console_path(n)))
    }
}

/// The console page of what a notification is about ("Open in Vigil"): an anomaly's, a report's or
/// another notification's own page, otherwise the notification's inbox item. A signed-out visitor
/// is brought there after signing in.
pub fn console_path(n: &Notification) -> String {
    let about = n.link_ref.as_deref().and_then(|r| r.split_once(':'));
    match about {
        Some(("anomaly", id)) => format!("/anomalies/{id}"),
        Some(("report", id)) => format!("/reports/{id}"),
        Some(("event", id)) => format!("/deliveries/{id}"),
        _ => format!("/inbox/{}", inbox::item_id(&n.id)),
    }
}

fn forced_failure() -> SendOutcome {
    SendOutcome::Retry {
        error: "forced failure (VIGIL_DISPATCH_FORCE_FAIL is set)".into(),
        after: None,
    }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;
    use serde_json::json;

    use super::*;
    use crate::delivery::{NotificationStatus, NotificationType};
    use crate::severity::Severity;

    fn about(link_ref: Option<&str>) -> Notification {
        Notification {
            id: "ntf_01jdx7p2c9r4t6v8x0z2b4d6f8".into(),
            tenant_id: "tnt_1".into(),
            kind: NotificationType::AnomalyOpened,
            severity: Severity::Sev1,
            title: "Spike".into(),
            summary: "3 failures".into(),
            link_ref: link_ref.map(str::to_owned),
            dedupe_key: "k".into(),
            payload: json!({}),
            status: NotificationStatus::Pending,
            created_at: Utc::now(),
            updated_at: Utc::now(),
        }
    }

    #[test]
    fn open_in_vigil_is_the_page_of_what_it_is_about_or_the_inbox_item() {
        let page = |link_ref| console_path(&about(Some(link_ref)));
        assert_eq!(page("anomaly:anm_9"), "/anomalies/anm_9");
        assert_eq!(page("report:rpt_2"), "/reports/rpt_2");
        assert_eq!(page("event:ntf_1"), "/deliveries/ntf_1");
        let item = inbox::item_id("ntf_01jdx7p2c9r4t6v8x0z2b4d6f8");
        for other in [None, Some("scan:scn_1"), Some("elsewhere")] {
            assert_eq!(console_path(&about(other)), format!("/inbox/{item}"));
        }
    }
}
