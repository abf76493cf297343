//! Which runs an occurrence starts: a domain event off the bus (after which its client is kept
//! current), an anomaly Vigil opened, or the frequent tick looking at clients as they are
//! (inactivity, KPI thresholds) and at the clock (schedule triggers).

use std::collections::BTreeSet;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::clients::Client;
use super::definition::Trigger;
use super::engine::{StartOutcome, TriggerFire, WorkflowEngine};
use super::messages::{OpenedAnomaly, PublishedEvent};
use super::service::Workflow;
use super::triggers::{Occurrence, all_hold};
use crate::json::to_json;
use crate::ports::{DeleteCondition, Index, Item, PutCondition, Query, StoreError};
use crate::{Result, table_keys};

/// A schedule slot missed by more than this (Vigil was down) is not fired late.
const SCHEDULE_CATCH_UP: Duration = Duration::hours(1);

/// How a workflow is started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Starter {
    /// By an event (a stage change, a message, a ticket, an anomaly), its other trigger (if
    /// any) judged on the client at that moment.
    Event,
    /// By the tick: on a schedule, or when a client enters the state its triggers describe.
    Schedule,
    State,
}

fn starter(workflow: &Workflow) -> Starter {
    let triggers = &workflow.spec.triggers;
    let is_event = |t: &Trigger| {
        matches!(
            t,
            Trigger::StageChanged { .. }
                | Trigger::MessageReceived { .. }
                | Trigger::TicketCreated { .. }
                | Trigger::AnomalyOpened { .. }
        )
    };
    if triggers.iter().any(is_event) {
        Starter::Event
    } else if triggers
        .iter()
        .any(|t| matches!(t, Trigger::Schedule { .. }))
    {
        Starter::Schedule
    } else {
        Starter::State
    }
}

/// What `{{trigger.*}}` shows for an event: its data, its type and id.
fn event_trigger_data(published: &PublishedEvent) -> Value {
    let mut data = published.event.data.clone();
    data.insert("type".into(), json!(published.event.event_type));
    data.insert("event_id".into(), json!(published.event.id));
    data.insert("occurred_at".into(), json!(published.event.occurred_at));
    Value::Object(data)
}

#[derive(Debug, Serialize, Deserialize)]
struct ScheduleMark {
    last_slot: DateTime<Utc>,
}

/// The latest slot of `cron` (5 fields, read in `timezone`) after `after` and at or before
/// `now`; None when there is none.
pub fn latest_slot(
    cron: &str,
    timezone: &str,
    after: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    let cron: croner::Cron = cron.parse().ok()?;
    let tz: chrono_tz::Tz = timezone.parse().ok()?;
    let mut cursor = after.with_timezone(&tz);
    let mut latest = None;
    // Bounded: a per-minute cron over the catch-up hour is 60 slots.
    for _ in 0..10_000 {
        match cron.find_next_occurrence(&cursor, false) {
            Ok(next) if next.with_timezone(&Utc) <= now => {
                latest = Some(next.with_timezone(&Utc));
                cursor = next;
            }
            _ => break,
        }
    }
    latest
}

/// The next `count` slots of a schedule trigger after `after`, in its timezone (what a person
/// checks a cron expression against); None when the expression or the timezone is not valid.
pub fn next_slots(
    cron: &str,
    timezone: &str,
    after: DateTime<Utc>,
    count: usize,
) -> Option<Vec<DateTime<chrono_tz::Tz>>> {
    let cron: croner::Cron = cron.parse().ok()?;
    let tz: chrono_tz::Tz = timezone.parse().ok()?;
    let mut cursor = after.with_timezone(&tz);
    let mut slots = Vec::with_capacity(count);
    while slots.len() < count {
        match cron.find_next_occurrence(&cursor, false) {
            Ok(next) => {
                slots.push(next);
                cursor = next;
            }
            Err(_) => break,
        }
    }
    Some(slots)
}

impl WorkflowEngine {
    /// Enabled workflows of the tenant started the given way.
    async fn started_by(&self, tenant: &str, how: Starter) -> Result<Vec<Workflow>> {
        Ok(self
            .workflows()
            .all(tenant)
            .await?
            .into_iter()
            .filter(|w| w.spec.enabled && starter(w) == how)
            .collect())
    }

    /// A domain event off the bus: starts the workflows whose triggers hold, then stores what the
    /// event did to its client. (Runs start first so a redelivered event still sees the client
    /// as it was before; each start is idempotent.)
    pub async fn on_event(&self, published: &PublishedEvent) -> Result<Vec<StartOutcome>> {
        let tenant = &published.tenant_id;
        let event = &published.event;
        let Some(pending) = self.clients().preview(tenant, event).await? else {
            return Ok(Vec::new());
        };
        let mut outcomes = Vec::new();
        {
            let change = &pending.change;
            let occurrence = Occurrence::Event {
                event_type: &event.event_type,
                data: &event.data,
                before: change.before.as_ref(),
                client: &change.after,
            };
            for workflow in self.started_by(tenant, Starter::Event).await? {
                if !all_hold(&workflow.spec.triggers, &occurrence) {
                    continue;
                }
                let fire = TriggerFire {
                    data: event_trigger_data(published),
                    key: format!("event:{}", event.id),
                    at: event.occurred_at,
                    caused_by: published.caused_by.clone(),
                };
                let subject = change.after.id.clone();
                outcomes.push(
                    self.start(tenant, &workflow, &subject, Some(&change.after), fire)
                        .await?,
                );
            }
        }
        self.clients().commit(tenant, event, pending).await?;
        Ok(outcomes)
    }

    /// An anomaly Vigil opened: starts the workflows with a matching `anomaly_opened` trigger,
    /// about the anomaly's subject.
    pub async fn on_anomaly(&self, opened: &OpenedAnomaly) -> Result<Vec<StartOutcome>> {
        let tenant = &opened.tenant_id;
        let occurrence = Occurrence::AnomalyOpened {
            rule: &opened.rule,
            severity: opened.severity,
        };
        let mut outcomes = Vec::new();
        let workflows = self.started_by(tenant, Starter::Event).await?;
        let matching: Vec<&Workflow> = workflows
            .iter()
            .filter(|w| all_hold(&w.spec.triggers, &occurrence))
            .collect();
        if matching.is_empty() {
            return Ok(outcomes);
        }
        let client = self.clients().find(tenant, &opened.subject).await?;
        for workflow in matching {
            let fire = TriggerFire {
                data: json!({"type": "anomaly.opened", "anomaly_id": opened.anomaly_id,
                             "rule": opened.rule, "severity": opened.severity,
                             "title": opened.title, "subject": opened.subject}),
                key: format!("anomaly:{}", opened.anomaly_id),
                at: opened.detected_at,
                caused_by: opened.caused_by.clone(),
            };
            outcomes.push(
                self.start(tenant, workflow, &opened.subject, client.as_ref(), fire)
                    .await?,
            );
        }
        Ok(outcomes)
    }

    /// The frequent tick for one tenant: due runs, then schedule and state triggers.
    pub async fn tick(&self, tenant: &str) -> Result<TickReport> {
        let mut report = TickReport {
            resumed: self.resume_due(tenant).await?,
            started: 0,
        };
        let (scheduled, stateful): (Vec<Workflow>, Vec<Workflow>) = self
            .workflows()
            .all(tenant)
            .await?
            .into_iter()
            .filter(|w| w.spec.enabled && starter(w) != Starter::Event)
            .partition(|w| starter(w) == Starter::Schedule);
        if scheduled.is_empty() && stateful.is_empty() {
            return Ok(report);
        }
        let now = self.clock().now();
        let clients = self.clients().all(tenant).await?;
        for workflow in &scheduled {
            report.started += self.fire_schedule(tenant, workflow, &clients, now).await?;
        }
        for workflow in &stateful {
            report.started += self.fire_states(tenant, workflow, &clients, now).await?;
        }
        Ok(report)
    }

    /// Starts one run per client (whose other triggers hold) for the schedule's latest slot,
    /// once per slot.
    async fn fire_schedule(
        &self,
        tenant: &str,
        workflow: &Workflow,
        clients: &[Client],
        now: DateTime<Utc>,
    ) -> Result<usize> {
        let Some(Trigger::Schedule { cron, timezone }) = workflow
            .spec
            .triggers
            .iter()
            .find(|t| matches!(t, Trigger::Schedule { .. }))
        else {
            return Ok(0);
        };
        let key = table_keys::workflow_schedule_mark(tenant, &workflow.id);
        let stored = self.store().get(&key).await?;
        let (last, condition) = match &stored {
            Some(item) => (
                Some(item.parse::<ScheduleMark>()?.last_slot),
                PutCondition::VersionEquals(item.version),
            ),
            None => (None, PutCondition::Absent),
        };
        // A new schedule starts counting from its creation (or the catch-up limit).
        let after = last
            .unwrap_or(workflow.updated_at)
            .max(now - SCHEDULE_CATCH_UP);
        let Some(slot) = latest_slot(cron, timezone, after, now) else {
            return Ok(0);
        };
        let others: Vec<Trigger> = workflow
            .spec
            .triggers
            .iter()
            .filter(|t| !matches!(t, Trigger::Schedule { .. }))
            .cloned()
            .collect();
        let mut started = 0;
        for client in clients {
            let holds = others.is_empty() || all_hold(&others, &Occurrence::Tick { client, now });
            if !holds {
                continue;
            }
            let fire = TriggerFire {
                data: json!({"type": "schedule", "slot": slot, "cron": cron, "timezone": timezone}),
                key: format!("schedule:{}", slot.timestamp()),
                at: slot,
                caused_by: None,
            };
            started += usize::from(self.starts_for(tenant, workflow, client, fire).await?);
        }
        let mark = Item::new(key, to_json(&ScheduleMark { last_slot: slot })?);
        match self.store().put(mark, condition).await {
            Ok(_) | Err(StoreError::AlreadyExists | StoreError::VersionConflict) => Ok(started),
            Err(other) => Err(other.into()),
        }
    }

    /// Starts a run of `workflow` for `client` on the tick; whether one started.
    async fn starts_for(
        &self,
        tenant: &str,
        workflow: &Workflow,
        client: &Client,
        fire: TriggerFire,
    ) -> Result<bool> {
        let outcome = self
            .start(tenant, workflow, &client.id, Some(client), fire)
            .await?;
        Ok(matches!(outcome, StartOutcome::Started { .. }))
    }

    /// Starts a run for each client that entered the state the workflow's triggers describe
    /// since the last tick; clients that left it may start one again later.
    async fn fire_states(
        &self,
        tenant: &str,
        workflow: &Workflow,
        clients: &[Client],
        now: DateTime<Utc>,
    ) -> Result<usize> {
        let latch_partition = table_keys::workflow_latch(tenant, &workflow.id, "").pk;
        let mut latched = BTreeSet::new();
        let mut cursor = None;
        for _ in 0..crate::ports::store::MAX_PAGES_PER_LIST {
            let page = self
                .store()
                .query(
                    Query::partition(Index::Primary, latch_partition.clone())
                        .limit(crate::ports::store::MAX_PAGE)
                        .after(cursor),
                )
                .await?;
            latched.extend(page.items.into_iter().map(|i| i.key.sk));
            cursor = page.next_cursor;
            if cursor.is_none() {
                break;
            }
        }
        let mut started = 0;
        for client in clients {
            let holds = all_hold(&workflow.spec.triggers, &Occurrence::Tick { client, now });
            let was = latched.contains(&client.id);
            let latch = table_keys::workflow_latch(tenant, &workflow.id, &client.id);
            if holds && !was {
                let fire = TriggerFire {
                    data: state_trigger_data(&workflow.spec.triggers, client, now),
                    key: format!("state:{}", now.timestamp() / 60),
                    at: now,
                    caused_by: None,
                };
                started += usize::from(self.starts_for(tenant, workflow, client, fire).await?);
                match self
                    .store()
                    .put(Item::new(latch, "{}"), PutCondition::Absent)
                    .await
                {
                    Ok(_) | Err(StoreError::AlreadyExists) => {}
                    Err(other) => return Err(other.into()),
                }
            } else if !holds && was {
                self.store().delete(&latch, DeleteCondition::None).await?;
            }
        }
        Ok(started)
    }
}

/// What `{{trigger.*}}` shows for a state trigger: the kind, and the figure that made it hold.
fn state_trigger_data(triggers: &[Trigger], client: &Client, now: DateTime<Utc>) -> Value {
    let mut data = serde_json::Map::new();
    for trigger in triggers {
        match trigger {
            Trigger::Inactivity { days } => {
                let since = client.last_activity_at.unwrap_or(client.created_at);
                data.insert("type".into(), json!("inactivity"));
                data.insert("days".into(), json!(days));
                data.insert("days_inactive".into(), json!((now - since).num_days()));
            }
            Trigger::KpiThreshold { metric, value, .. } => {
                data.insert("type".into(), json!("kpi_threshold"));
                data.insert("metric".into(), json!(metric));
                data.insert("threshold".into(), json!(value));
                data.insert("value".into(), json!(client.metrics.get(metric)));
            }
            _ => {}
        }
    }
    Value::Object(data)
}

/// What one tick did for one tenant.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct TickReport {
    pub resumed: usize,
    pub started: usize,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_default()
    }

    #[test]
    fn the_latest_slot_is_found_in_the_schedules_timezone() {
        // Mondays 09:00 in Chicago = 15:00 UTC in winter.
        let cron = "0 9 * * MON";
        let tz = "America/Chicago";
        assert_eq!(
            latest_slot(
                cron,
                tz,
                at("2026-11-30T14:00:00Z"),
                at("2026-11-30T15:00:30Z")
            ),
            Some(at("2026-11-30T15:00:00Z"))
        );
        assert_eq!(
            latest_slot(
                cron,
                tz,
                at("2026-11-30T14:00:00Z"),
                at("2026-11-30T14:59:59Z")
            ),
            None
        );
        // Already fired for that slot: nothing new.
        assert_eq!(
            latest_slot(
                cron,
                tz,
                at("2026-11-30T15:00:00Z"),
                at("2026-11-30T15:10:00Z")
            ),
            None
        );
    }

    #[test]
    fn the_next_slots_are_given_in_the_schedules_timezone() {
        // GIVEN Mondays 09:00 in Chicago, asked on a Tuesday
        let slots = next_slots(
            "0 9 * * MON",
            "America/Chicago",
            at("2026-12-01T12:00:00Z"),
            5,
        )
        .unwrap_or_default();
        // THEN five Mondays at 09:00 local, a week apart
        let local: Vec<String> = slots
            .iter()
            .map(|s| s.format("%a %Y-%m-%d %H:%M %Z").to_string())
            .collect();
        assert_eq!(local[0], "Mon 2026-12-07 09:00 CST");
        assert_eq!(local[4], "Mon 2027-01-04 09:00 CST");
        assert_eq!(slots.len(), 5);
        // AND a wrong expression or timezone has none
        assert!(next_slots("61 * * * *", "UTC", at("2026-12-01T12:00:00Z"), 5).is_none());
        assert!(next_slots("0 9 * * *", "Mars/Base", at("2026-12-01T12:00:00Z"), 5).is_none());
    }
}
