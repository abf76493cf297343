//! When a workflow starts: each trigger judged against what just happened to a client (an event
//! off the bus) or against the client as it is (the frequent tick, for inactivity and KPI
//! thresholds). A workflow with two triggers starts only when both hold.

use chrono::{DateTime, Duration, Utc};
use serde_json::Value;

use super::clients::Client;
use super::definition::{KpiOperator, Trigger};
use crate::severity::Severity;

/// What a trigger is judged against.
#[derive(Debug, Clone, PartialEq)]
pub enum Occurrence<'a> {
    /// A domain event that changed (or concerned) `client`; `before` is the client before it.
    Event {
        event_type: &'a str,
        data: &'a serde_json::Map<String, Value>,
        before: Option<&'a Client>,
        client: &'a Client,
    },
    /// An anomaly Vigil opened.
    AnomalyOpened { rule: &'a str, severity: Severity },
    /// The frequent tick looking at a client as it is.
    Tick {
        client: &'a Client,
        now: DateTime<Utc>,
    },
}

/// Whether one trigger holds for `occurrence`. Event triggers hold only for their own event;
/// state triggers (`inactivity`, `kpi_threshold`) hold whenever the client is in that state, so
/// a KPI threshold can pair with a stage change.
pub fn holds(trigger: &Trigger, occurrence: &Occurrence<'_>) -> bool {
    match (trigger, occurrence) {
        (
            Trigger::StageChanged { from, to },
            Occurrence::Event {
                event_type: "client.stage_changed",
                data,
                before,
                ..
            },
        ) => stage_changed(from.as_deref(), to, data, *before),
        (
            Trigger::MessageReceived { channel, contains },
            Occurrence::Event {
                event_type: "message.received",
                data,
                ..
            },
        ) => message_received(channel.as_deref(), contains.as_deref(), data),
        (
            Trigger::TicketCreated { category },
            Occurrence::Event {
                event_type: "ticket.created",
                data,
                ..
            },
        ) => category
            .as_ref()
            .is_none_or(|c| text(data, "category").as_deref() == Some(c.as_str())),
        (
            Trigger::AnomalyOpened { rule, min_severity },
            Occurrence::AnomalyOpened {
                rule: opened,
                severity,
            },
        ) => {
            rule.as_ref().is_none_or(|r| r == opened)
                && min_severity.is_none_or(|min| severity.at_least(min))
        }
        (
            Trigger::KpiThreshold {
                metric,
                operator,
                value,
            },
            Occurrence::Event { client, .. } | Occurrence::Tick { client, .. },
        ) => kpi_crossed(client, metric, *operator, *value),
        (Trigger::Inactivity { days }, Occurrence::Tick { client, now }) => {
            let since = client.last_activity_at.unwrap_or(client.created_at);
            *now - since >= Duration::days(i64::from(*days))
        }
        _ => false,
    }
}

/// A text field of an event's data.
fn text(data: &serde_json::Map<String, Value>, key: &str) -> Option<String> {
    data.get(key).and_then(Value::as_str).map(str::to_owned)
}

/// The client moved to `to` (from `from`, when given); a move to the stage it was in is none.
fn stage_changed(
    from: Option<&str>,
    to: &str,
    data: &serde_json::Map<String, Value>,
    before: Option<&Client>,
) -> bool {
    let new = text(data, "to");
    let old = text(data, "from").or_else(|| before.and_then(|c| c.stage.clone()));
    new.as_deref() == Some(to) && from.is_none_or(|f| old.as_deref() == Some(f)) && old != new
}

/// A message on `channel` (when given) whose text holds `contains` (when given, any case).
fn message_received(
    channel: Option<&str>,
    contains: Option<&str>,
    data: &serde_json::Map<String, Value>,
) -> bool {
    let channel_ok = channel.is_none_or(|c| text(data, "channel").as_deref() == Some(c));
    let text_ok = contains.is_none_or(|wanted| {
        text(data, "text")
            .or_else(|| text(data, "body"))
            .is_some_and(|t| t.to_lowercase().contains(&wanted.to_lowercase()))
    });
    channel_ok && text_ok
}

/// The client's `metric` is past `value` as `operator` says.
fn kpi_crossed(client: &Client, metric: &str, operator: KpiOperator, value: f64) -> bool {
    client
        .metrics
        .get(metric)
        .is_some_and(|actual| match operator {
            KpiOperator::Above => *actual > value,
            KpiOperator::Below => *actual < value,
            KpiOperator::Equals => (actual - value).abs() < 1e-9,
        })
}

/// Whether a workflow's triggers all hold (one or two of them).
pub fn all_hold(triggers: &[Trigger], occurrence: &Occurrence<'_>) -> bool {
    !triggers.is_empty() && triggers.iter().all(|t| holds(t, occurrence))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde_json::json;

    use super::*;

    fn client(stage: &str, health: f64, last_activity: &str) -> Client {
        let at = |s: &str| {
            DateTime::parse_from_rfc3339(s)
                .map(|t| t.with_timezone(&Utc))
                .unwrap_or_default()
        };
        Client {
            id: "c_42".into(),
            name: Some("Acme".into()),
            stage: Some(stage.into()),
            health_score: Some(health),
            assignee: None,
            mrr: Some(1500.0),
            metrics: BTreeMap::from([("health_score".to_owned(), health)]),
            last_activity_at: Some(at(last_activity)),
            created_at: at("2026-01-01T00:00:00Z"),
            updated_at: at(last_activity),
            deleted_at: None,
        }
    }

    fn map(value: Value) -> serde_json::Map<String, Value> {
        value.as_object().cloned().unwrap_or_default()
    }

    fn trigger(value: Value) -> Trigger {
        serde_json::from_value(value).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn a_stage_change_fires_for_its_target_and_source_only() {
        let before = client("active", 60.0, "2026-05-01T00:00:00Z");
        let after = client("at_risk", 60.0, "2026-05-01T00:00:00Z");
        let data = map(json!({"to": "at_risk"}));
        let event = Occurrence::Event {
            event_type: "client.stage_changed",
            data: &data,
            before: Some(&before),
            client: &after,
        };
        assert!(holds(
            &trigger(json!({"type": "stage_changed", "to": "at_risk"})),
            &event
        ));
        assert!(holds(
            &trigger(json!({"type": "stage_changed", "from": "active", "to": "at_risk"})),
            &event
        ));
        assert!(!holds(
            &trigger(json!({"type": "stage_changed", "from": "onboarding", "to": "at_risk"})),
            &event
        ));
        assert!(!holds(
            &trigger(json!({"type": "stage_changed", "to": "churned"})),
            &event
        ));
        // The same stage again is no change.
        let again = Occurrence::Event {
            event_type: "client.stage_changed",
            data: &data,
            before: Some(&after),
            client: &after,
        };
        assert!(!holds(
            &trigger(json!({"type": "stage_changed", "to": "at_risk"})),
            &again
        ));
        // Another event type never fires it.
        let other = Occurrence::Event {
            event_type: "client.activity",
            data: &data,
            before: Some(&before),
            client: &after,
        };
        assert!(!holds(
            &trigger(json!({"type": "stage_changed", "to": "at_risk"})),
            &other
        ));
    }

    #[test]
    fn two_triggers_must_both_hold() {
        let before = client("active", 40.0, "2026-05-01T00:00:00Z");
        let low = client("at_risk", 40.0, "2026-05-01T00:00:00Z");
        let healthy = client("at_risk", 70.0, "2026-05-01T00:00:00Z");
        let data = map(json!({"to": "at_risk"}));
        let triggers = [
            trigger(json!({"type": "stage_changed", "to": "at_risk"})),
            trigger(
                json!({"type": "kpi_threshold", "metric": "health_score", "operator": "below", "value": 50}),
            ),
        ];
        let fires = Occurrence::Event {
            event_type: "client.stage_changed",
            data: &data,
            before: Some(&before),
            client: &low,
        };
        let holds_back = Occurrence::Event {
            event_type: "client.stage_changed",
            data: &data,
            before: Some(&before),
            client: &healthy,
        };
        assert!(all_hold(&triggers, &fires));
        assert!(!all_hold(&triggers, &holds_back));
        assert!(!all_hold(&[], &fires));
    }

    #[test]
    fn inactivity_and_kpis_are_judged_on_the_tick() {
        let now = DateTime::parse_from_rfc3339("2026-05-10T00:00:00Z")
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_default();
        let quiet = client("active", 80.0, "2026-05-02T00:00:00Z");
        let busy = client("active", 80.0, "2026-05-09T00:00:00Z");
        let week = trigger(json!({"type": "inactivity", "days": 7}));
        assert!(holds(
            &week,
            &Occurrence::Tick {
                client: &quiet,
                now
            }
        ));
        assert!(!holds(&week, &Occurrence::Tick { client: &busy, now }));
        let above = trigger(
            json!({"type": "kpi_threshold", "metric": "health_score", "operator": "above", "value": 75}),
        );
        assert!(holds(&above, &Occurrence::Tick { client: &busy, now }));
        let nps = trigger(
            json!({"type": "kpi_threshold", "metric": "nps", "operator": "equals", "value": 7}),
        );
        assert!(
            !holds(&nps, &Occurrence::Tick { client: &busy, now }),
            "a metric never reported"
        );
    }

    #[test]
    fn messages_tickets_and_anomalies_match_their_filters() {
        let c = client("active", 80.0, "2026-05-02T00:00:00Z");
        let data = map(
            json!({"channel": "email", "text": "Please CANCEL my plan", "category": "billing"}),
        );
        let message = Occurrence::Event {
            event_type: "message.received",
            data: &data,
            before: None,
            client: &c,
        };
        assert!(holds(
            &trigger(json!({"type": "message_received", "contains": "cancel"})),
            &message
        ));
        assert!(!holds(
            &trigger(json!({"type": "message_received", "channel": "sms"})),
            &message
        ));
        let ticket = Occurrence::Event {
            event_type: "ticket.created",
            data: &data,
            before: None,
            client: &c,
        };
        assert!(holds(
            &trigger(json!({"type": "ticket_created", "category": "billing"})),
            &ticket
        ));
        assert!(!holds(
            &trigger(json!({"type": "ticket_created", "category": "tech"})),
            &ticket
        ));
        let anomaly = Occurrence::AnomalyOpened {
            rule: "credit_spike",
            severity: Severity::Sev1,
        };
        assert!(holds(
            &trigger(json!({"type": "anomaly_opened", "min_severity": "SEV2"})),
            &anomaly
        ));
        assert!(!holds(
            &trigger(json!({"type": "anomaly_opened", "min_severity": "SEV0"})),
            &anomaly
        ));
        assert!(!holds(
            &trigger(json!({"type": "anomaly_opened", "rule": "refund_spike"})),
            &anomaly
        ));
    }
}
