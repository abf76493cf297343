//! Ready workflows to start from (`GET /api/v1/workflow-templates`): each body is a valid
//! workflow as `POST /api/v1/workflows` takes it.

use serde::Serialize;
use serde_json::{Value, json};

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct WorkflowTemplate {
    pub id: &'static str,
    pub name: &'static str,
    pub description: &'static str,
    /// The workflow body to post.
    #[schema(value_type = Object)]
    pub workflow: Value,
}

fn template(
    id: &'static str,
    name: &'static str,
    description: &'static str,
    triggers: Value,
    steps: Value,
) -> WorkflowTemplate {
    WorkflowTemplate {
        id,
        name,
        description,
        workflow: json!({"name": name, "description": description, "enabled": true,
                         "triggers": triggers, "steps": steps}),
    }
}

/// Every template. Over 80 lines on purpose: it is a data table, one entry per template, and
/// splitting it would only scatter the catalogue.
pub fn all() -> Vec<WorkflowTemplate> {
    vec![
        template(
            "at_risk_follow_up",
            "At-risk follow-up",
            "When a client turns at-risk with a low health score: a call task, a check-in draft for review, and for large accounts an approval-gated escalation.",
            json!([{"type": "stage_changed", "to": "at_risk"},
                   {"type": "kpi_threshold", "metric": "health_score", "operator": "below", "value": 50}]),
            json!([{"type": "create_task", "title": "Call {{client.name}}", "assignee": "{{client.assignee}}"},
                   {"type": "draft_message", "to": "{{client.name}}", "subject": "Checking in",
                    "template": "Hi {{client.name}}, we noticed things have been quieter lately. Can we find 20 minutes this week?"},
                   {"type": "if", "condition": {"all": [{"field": "client.mrr", "operator": "greater_than", "value": 1000}]},
                    "then": [{"type": "approval", "timeout_minutes": 1440},
                             {"type": "create_ticket", "title": "Escalate {{client.name}}", "category": "retention"}],
                    "else": [{"type": "delay", "minutes": 1440},
                             {"type": "create_ticket", "title": "Check on {{client.name}}", "category": "retention"}]}]),
        ),
        template(
            "onboarding_nudges",
            "Onboarding nudges",
            "A welcome task when a client starts onboarding, then a nudge draft a day later.",
            json!([{"type": "stage_changed", "to": "onboarding"}]),
            json!([{"type": "create_task", "title": "Welcome call with {{client.name}}", "due_in_days": 2},
                   {"type": "delay", "minutes": 1440},
                   {"type": "draft_message", "subject": "How is setup going?",
                    "template": "Hi {{client.name}}, how is the setup going? Reply with anything that is in your way."}]),
        ),
        template(
            "failed_payment_outreach",
            "Failed-payment outreach",
            "When a payment-failure anomaly opens: alert finance and draft a polite payment reminder.",
            json!([{"type": "anomaly_opened", "rule": "payment_failure_spike"}]),
            json!([{"type": "send_notification", "title": "Payment failures for {{client.name}}", "severity": "SEV2",
                    "message": "Rule {{trigger.rule}} opened; check the billing dashboard."},
                   {"type": "draft_message", "subject": "Your payment did not go through",
                    "template": "Hi {{client.name}}, your last payment did not go through. Could you update your card?"}]),
        ),
        template(
            "ticket_escalation",
            "Ticket escalation",
            "Urgent tickets page the on-call channel; the others become a task.",
            json!([{"type": "ticket_created"}]),
            json!([{"type": "if", "condition": {"field": "trigger.category", "operator": "equals", "value": "urgent"},
                    "then": [{"type": "send_notification", "title": "Urgent ticket from {{client.name}}", "severity": "SEV1"}],
                    "else": [{"type": "create_task", "title": "Answer {{client.name}}'s ticket"}]}]),
        ),
        template(
            "weekly_client_digest",
            "Weekly client digest",
            "Every Monday at 9:00 Chicago time, a digest task for the account manager.",
            json!([{"type": "schedule", "cron": "0 9 * * MON", "timezone": "America/Chicago"}]),
            json!([{"type": "create_task", "title": "Send the weekly digest to {{client.name}}", "assignee": "{{client.assignee}}"}]),
        ),
        template(
            "inactivity_re_engagement",
            "Inactivity re-engagement",
            "A client silent for 14 days gets a re-engagement draft and a follow-up task.",
            json!([{"type": "inactivity", "days": 14}]),
            json!([{"type": "draft_message", "subject": "It has been a while",
                    "template": "Hi {{client.name}}, it has been a couple of weeks. Anything we can help with?"},
                   {"type": "create_task", "title": "Follow up with {{client.name}}", "due_in_days": 3}]),
        ),
        template(
            "anomaly_to_ticket",
            "Anomaly to ticket",
            "Every SEV1 or worse anomaly becomes a ticket.",
            json!([{"type": "anomaly_opened", "min_severity": "SEV1"}]),
            json!([{"type": "create_ticket", "title": "{{trigger.title}}", "category": "incident",
                    "description": "Anomaly {{trigger.anomaly_id}} ({{trigger.rule}})"}]),
        ),
        template(
            "approval_gated_client_update",
            "Approval-gated client update",
            "When a client's health score drops below 30, move them to at-risk once an operator approves.",
            json!([{"type": "kpi_threshold", "metric": "health_score", "operator": "below", "value": 30}]),
            json!([{"type": "approval", "timeout_minutes": 480},
                   {"type": "update_client", "stage": "at_risk"},
                   {"type": "send_notification", "title": "{{client.name}} moved to at-risk"}]),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workflows::definition::parse_workflow;

    #[test]
    fn every_template_is_a_valid_workflow() {
        let templates = all();
        assert!(templates.len() >= 8);
        for t in templates {
            if let Err(problems) = parse_workflow(&t.workflow) {
                panic!("{}: {problems:?}", t.id);
            }
        }
    }
}
