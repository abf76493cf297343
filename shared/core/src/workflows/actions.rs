//! What each action step does, rendered from its run's snapshot. Every effect is keyed by the
//! run and the step, so doing a step again (after a crash before its result was written)
//! makes nothing twice: records get ids from the step, notifications a dedupe key, anomalies
//! an occurrence, webhooks a stable `webhook-id` receivers deduplicate on.

use std::sync::Arc;

use chrono::Duration;
use serde_json::{Value, json};

use super::clients::{ClientFields, ClientService};
use super::definition::{Action, ActionStep};
use super::follow_ups::{Origin, RecordFields, RecordKind, RecordService};
use super::messages::{self, Cause};
use super::run::WorkflowRun;
use super::simulate::render_action;
use crate::anomaly::{AnomalyService, Finding};
use crate::delivery::notification::{NewNotification, NotificationType};
use crate::delivery::outbox::OutboxService;
use crate::delivery::retry::{SendOutcome, classify_http};
use crate::delivery::webhook::signed_headers;
use crate::egress::EgressPolicy;
use crate::ingest::DomainEvent;
use crate::ports::wording::Wording;
use crate::ports::{EventBus, HttpPost, HttpSender};
use crate::severity::Severity;
use crate::tenancy::tenants::TenantService;
use crate::{Clock, Error, ids};

/// Why a step did not succeed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepError {
    /// Worth trying again after a while (a backend or the receiver was unavailable).
    Transient(String),
    /// Will fail however often it is tried.
    Permanent(String),
    /// The client the run is about was deleted.
    SubjectGone,
}

impl From<Error> for StepError {
    fn from(e: Error) -> Self {
        if e.is_retryable() {
            StepError::Transient(e.to_string())
        } else {
            StepError::Permanent(e.to_string())
        }
    }
}

/// What the AI model is asked when it drafts a message from a template.
const DRAFT_INSTRUCTIONS: &str = "Rewrite this message to a client so it reads warm and clear. \
Keep every fact, name and number as given; add none. Answer with the message only.";

pub struct ActionRunner {
    pub follow_ups: RecordService,
    pub clients: ClientService,
    pub tenants: TenantService,
    pub outbox: Arc<OutboxService>,
    pub anomalies: Arc<AnomalyService>,
    pub bus: Arc<dyn EventBus>,
    pub http: Arc<dyn HttpSender>,
    /// What outbound requests may reach.
    pub egress: Arc<EgressPolicy>,
    pub wording: Option<Arc<dyn Wording>>,
    pub clock: Arc<dyn Clock>,
}

impl ActionRunner {
    /// Does one action step of `run` (at `pc`); answers what it did, for the timeline.
    pub async fn run(
        &self,
        tenant: &str,
        run: &WorkflowRun,
        pc: usize,
        step: &ActionStep,
    ) -> Result<Value, StepError> {
        let rendered = render_action(&step.action, &run.snapshot);
        let action: Action = serde_json::from_value(rendered.clone())
            .map_err(|e| StepError::Permanent(format!("the rendered step is not valid: {e}")))?;
        let made = match action {
            Action::CreateTask {
                title,
                assignee,
                description,
                due_in_days,
            } => {
                let fields = RecordFields {
                    client_id: client_id_of(run),
                    title: Some(title),
                    body: description,
                    assignee: assignee.filter(|a| !a.is_empty()),
                    due_at: due_in_days.map(|d| run.started_at + Duration::days(i64::from(d))),
                    ..RecordFields::default()
                };
                let task = self.create_record(tenant, run, pc, RecordKind::Task, fields);
                json!({"task_id": task.await?})
            }
            Action::CreateTicket {
                title,
                category,
                description,
            } => {
                let fields = RecordFields {
                    client_id: client_id_of(run),
                    title: Some(title),
                    body: description,
                    category,
                    ..RecordFields::default()
                };
                let ticket = self.create_record(tenant, run, pc, RecordKind::Ticket, fields);
                json!({"ticket_id": ticket.await?})
            }
            Action::DraftMessage {
                to,
                subject,
                template,
            } => {
                self.draft_message(tenant, run, pc, to, subject, &template)
                    .await?
            }
            Action::SendNotification {
                title,
                message,
                severity,
            } => {
                self.send_notification(tenant, run, pc, title, message, severity)
                    .await?
            }
            Action::UpdateClient {
                stage,
                health_score,
                assignee,
            } => {
                self.update_client(tenant, run, pc, stage, health_score, assignee)
                    .await?
            }
            Action::RaiseAlert { title, severity } => {
                self.raise_alert(tenant, run, pc, title, severity).await?
            }
            Action::HttpRequest { url, body } => self.post(tenant, run, pc, url, body).await?,
        };
        Ok(json!({"action": rendered, "result": made}))
    }

    /// A task, ticket or draft made by the step; answers its id.
    async fn create_record(
        &self,
        tenant: &str,
        run: &WorkflowRun,
        pc: usize,
        kind: RecordKind,
        fields: RecordFields,
    ) -> Result<String, StepError> {
        let origin = Origin {
            workflow_id: run.workflow_id.clone(),
            run_id: run.run_id.clone(),
        };
        let record = self
            .follow_ups
            .create_for_step(tenant, kind, fields, origin, pc)
            .await?;
        Ok(record.id)
    }

    async fn draft_message(
        &self,
        tenant: &str,
        run: &WorkflowRun,
        pc: usize,
        to: Option<String>,
        subject: Option<String>,
        template: &str,
    ) -> Result<Value, StepError> {
        let (text, drafted_by, ai_error) = self.draft(template).await;
        let name = run
            .snapshot
            .pointer("/client/name")
            .and_then(Value::as_str)
            .unwrap_or(&run.subject);
        let fields = RecordFields {
            client_id: client_id_of(run),
            title: Some(subject.unwrap_or_else(|| format!("Message to {name}"))),
            body: Some(text),
            to,
            ..RecordFields::default()
        };
        let draft_id = self
            .create_record(tenant, run, pc, RecordKind::Draft, fields)
            .await?;
        Ok(json!({"draft_id": draft_id, "drafted_by": drafted_by, "ai_error": ai_error}))
    }

    async fn send_notification(
        &self,
        tenant: &str,
        run: &WorkflowRun,
        pc: usize,
        title: String,
        message: String,
        severity: Severity,
    ) -> Result<Value, StepError> {
        let (notification, _) = self
            .outbox
            .emit(
                tenant,
                NewNotification {
                    kind: NotificationType::WorkflowNotification,
                    severity,
                    title,
                    summary: message,
                    link_ref: Some(format!("workflow_run:{}", run.run_id)),
                    dedupe_key: format!("{}#{pc}", run.run_id),
                    payload: json!({"workflow_id": run.workflow_id,
                                    "run_id": run.run_id, "subject": run.subject}),
                },
            )
            .await?;
        Ok(json!({"notification_id": notification.id}))
    }

    async fn raise_alert(
        &self,
        tenant: &str,
        run: &WorkflowRun,
        pc: usize,
        title: String,
        severity: Severity,
    ) -> Result<Value, StepError> {
        let (anomaly, _) = self
            .anomalies
            .open(
                tenant,
                Finding {
                    rule: "workflow_alert".into(),
                    severity,
                    title,
                    subject: run.subject.clone(),
                    occurrence: Some(format!("{}#{pc}", run.run_id)),
                    window_start: run.started_at,
                    window_end: run.started_at,
                    evidence: json!({"workflow_id": run.workflow_id,
                                     "run_id": run.run_id, "caused_by": cause_of(run)}),
                    demo: false,
                },
            )
            .await?;
        Ok(json!({"anomaly_id": anomaly.id}))
    }

    /// The draft's text: the AI model's wording when one is configured and answers, else the
    /// rendered template.
    async fn draft(&self, template: &str) -> (String, &'static str, Option<String>) {
        let Some(wording) = &self.wording else {
            return (template.to_owned(), "template", None);
        };
        match wording.rephrase(DRAFT_INSTRUCTIONS, template).await {
            Ok(text) if !text.trim().is_empty() => (text, "ai", None),
            Ok(_) => (template.to_owned(), "template", Some("empty_answer".into())),
            Err(e) => (template.to_owned(), "template", Some(e.class())),
        }
    }

    async fn update_client(
        &self,
        tenant: &str,
        run: &WorkflowRun,
        pc: usize,
        stage: Option<String>,
        health_score: Option<f64>,
        assignee: Option<String>,
    ) -> Result<Value, StepError> {
        let before = match self.clients.get(tenant, &run.subject).await {
            Ok(client) => client,
            Err(Error::NotFound(_)) => return Err(StepError::SubjectGone),
            Err(other) => return Err(other.into()),
        };
        let fields = ClientFields {
            stage: stage.clone(),
            health_score,
            assignee: assignee.filter(|a| !a.is_empty()),
            ..ClientFields::default()
        };
        match self.clients.update(tenant, &run.subject, fields).await {
            Ok(_) => {}
            Err(Error::NotFound(_)) => return Err(StepError::SubjectGone),
            Err(other) => return Err(other.into()),
        }
        // A stage change is a domain event like any other: it may start other workflows (and
        // loop detection watches it).
        let mut published = None;
        if let Some(to) = stage.filter(|to| before.stage.as_deref() != Some(to.as_str())) {
            let event = DomainEvent {
                id: ids::stable_id("evt", &[tenant, &run.run_id, &pc.to_string()]),
                event_type: "client.stage_changed".into(),
                occurred_at: self.clock.now(),
                subject: json!({"client_id": run.subject})
                    .as_object()
                    .cloned()
                    .unwrap_or_default(),
                data: json!({"from": before.stage, "to": to})
                    .as_object()
                    .cloned()
                    .unwrap_or_default(),
            };
            published = Some(event.id.clone());
            self.bus
                .publish(&[messages::effect(tenant, event, cause_of(run))])
                .await
                .map_err(|e| StepError::Transient(e.to_string()))?;
        }
        Ok(json!({"client_id": run.subject, "event_id": published}))
    }

    /// A signed webhook (Standard Webhooks, the tenant's outbound secret, never the inbound
    /// ones); the `webhook-id` is the step's, so a receiver sees a step done again as the same
    /// message. The rendered URL's host is the definition's (templates stay in the path and
    /// query); the egress guard checks it here and again where it is resolved.
    async fn post(
        &self,
        tenant: &str,
        run: &WorkflowRun,
        pc: usize,
        url: String,
        body: Option<Value>,
    ) -> Result<Value, StepError> {
        if let Err(denied) = self.egress.check_url(&url) {
            return Err(StepError::Permanent(
                crate::ports::TransportError::EgressDenied(denied.to_string()).to_string(),
            ));
        }
        let secrets = vec![self.tenants.outbound_secret(tenant).await?];
        let payload = body.unwrap_or_else(|| {
            json!({"workflow_id": run.workflow_id, "run_id": run.run_id, "subject": run.subject})
        });
        let bytes =
            serde_json::to_vec(&payload).map_err(|e| StepError::Permanent(e.to_string()))?;
        let message_id = ids::stable_id("msg", &[tenant, &run.run_id, &pc.to_string()]);
        let headers = signed_headers(&secrets, &message_id, self.clock.now().timestamp(), &bytes)
            .map_err(|e| StepError::Permanent(e.to_string()))?;
        let answer = self
            .http
            .post(HttpPost {
                url,
                headers,
                body: bytes,
            })
            .await;
        match classify_http(&answer) {
            SendOutcome::Delivered { status } => {
                Ok(json!({"status": status, "webhook_id": message_id}))
            }
            SendOutcome::Retry { error, .. } => Err(StepError::Transient(error)),
            SendOutcome::Permanent { error } => Err(StepError::Permanent(error)),
        }
    }
}

/// The client a step's records are about, when the run's subject is a client id.
fn client_id_of(run: &WorkflowRun) -> Option<String> {
    crate::automation_runs::input::valid_id(&run.subject).then(|| run.subject.clone())
}

/// What the step's effects carry, so the workflows they start can tell a loop.
fn cause_of(run: &WorkflowRun) -> Cause {
    Cause {
        workflow_id: run.workflow_id.clone(),
        run_id: run.run_id.clone(),
    }
}
