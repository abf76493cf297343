//! Settings › Revenue rules: the Stripe rules that open anomalies, each enabled or not, with its
//! severity, window and threshold. Admins only, as `GET /rules` and `PATCH /rules/{id}`.

use askama::Template;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use vigil_core::rules::config::WINDOW_MINUTES;
use vigil_core::rules::{RuleConfig, RuleKind, RulePatch};
use vigil_core::severity::Severity;
use vigil_core::tenancy::Role;
use vigil_core::tenancy::sessions::Session;

use super::fields::Problems;
use super::settings::{may_change, sections};
use super::{Chrome, ErrorPage, actor, choices, render, word};
use crate::ConsoleState;
use crate::session::SignedIn;

#[derive(Template)]
#[template(path = "settings_rules.html")]
struct RulesPage {
    chrome: Chrome,
    sections: Vec<(&'static str, &'static str, bool)>,
    rules: Vec<RuleForm>,
}

/// One rule's form, with what was posted to it when it came back refused.
struct RuleForm {
    id: String,
    what: &'static str,
    enabled: bool,
    severities: Vec<(&'static str, bool)>,
    windows: Vec<(u32, bool)>,
    threshold: String,
    problem: Option<String>,
}

/// What a rule looks for, in words.
fn what(kind: RuleKind) -> &'static str {
    match kind {
        RuleKind::PaymentFailureSpike => "Failed payments in a window reach the threshold.",
        RuleKind::RapidPaymentFailures => "Failed payments in a short window reach the threshold.",
        RuleKind::RefundSpike => {
            "Refunds in a day reach the threshold × the daily average of the prior 30 days."
        }
        RuleKind::ChurnSpike => {
            "Cancellations and failed invoices in a day against their 30-day daily average (× threshold)."
        }
        RuleKind::AmountSpike => "One charge reaches the threshold × the 30-day average charge.",
        RuleKind::WebhookIntegrity => {
            "Invalid or unauthenticated webhooks in a window reach the threshold."
        }
    }
}

impl From<&RuleConfig> for RuleForm {
    fn from(rule: &RuleConfig) -> Self {
        Self {
            id: rule.id.clone(),
            what: what(rule.kind),
            enabled: rule.enabled,
            severities: choices(Severity::ALL.map(Severity::as_str), rule.severity.as_str()),
            windows: WINDOW_MINUTES
                .iter()
                .map(|&m| (m, m == rule.window_minutes))
                .collect(),
            threshold: rule.threshold.to_string(),
            problem: None,
        }
    }
}

async fn rules_page(
    console: &ConsoleState,
    session: &Session,
    refused: Option<(&str, RuleForm)>,
) -> Result<Response, ErrorPage> {
    let rules = console.rules.list(&session.tenant_id).await?;
    let mut forms: Vec<RuleForm> = rules.iter().map(RuleForm::from).collect();
    let status = match refused {
        Some((id, form)) => {
            if let Some(slot) = forms.iter_mut().find(|f| f.id == id) {
                *slot = form;
            }
            StatusCode::BAD_REQUEST
        }
        None => StatusCode::OK,
    };
    let page = RulesPage {
        chrome: Chrome::of(session, "settings"),
        sections: sections("/settings/rules"),
        rules: forms,
    };
    Ok(render(&page, status))
}

pub async fn revenue_rules(
    State(console): State<ConsoleState>,
    signed_in: SignedIn,
) -> Result<Response, ErrorPage> {
    let session = &signed_in.session;
    session.principal().require(Role::Admin)?;
    rules_page(&console, session, None).await
}

#[derive(Deserialize)]
pub struct RuleChange {
    csrf: Option<String>,
    enabled: Option<String>,
    severity: Option<String>,
    window_minutes: Option<String>,
    threshold: Option<String>,
}

/// The patch a rule's form describes: every field it shows, as the API would take them.
fn patch_from(form: &RuleChange) -> Result<RulePatch, String> {
    fn number<T: std::str::FromStr>(text: &Option<String>, field: &str) -> Result<T, String> {
        let text = text.as_deref().unwrap_or("").trim();
        text.parse()
            .map_err(|_| format!("{field}: {text:?} is not a number"))
    }
    let severity = word::<Severity>(form.severity.as_deref(), "severity")
        .map_err(|_| "severity: not one of SEV0–SEV4".to_owned())?;
    Ok(RulePatch {
        enabled: Some(form.enabled.is_some()),
        severity,
        window_minutes: Some(number(&form.window_minutes, "window_minutes")?),
        threshold: Some(number(&form.threshold, "threshold")?),
        params: None,
    })
}

pub async fn change_revenue_rule(
    State(console): State<ConsoleState>,
    signed_in: SignedIn,
    Path(id): Path<String>,
    Form(form): Form<RuleChange>,
) -> Result<Response, ErrorPage> {
    let session = &signed_in.session;
    may_change(session, form.csrf.as_deref(), Role::Admin)?;
    let problem = match patch_from(&form) {
        Err(problem) => problem,
        Ok(patch) => {
            let by = actor(session);
            match console
                .rules
                .update(&session.tenant_id, &id, patch, &by)
                .await
            {
                Ok(_) => return Ok(Redirect::to("/settings/rules").into_response()),
                Err(error) => Problems::place(error, &mut [])?.general.unwrap_or_default(),
            }
        }
    };
    // The rule's form again, with what was sent and why it was refused.
    let rules = console.rules.list(&session.tenant_id).await?;
    let rule = rules
        .iter()
        .find(|r| r.id == id)
        .ok_or_else(|| vigil_core::Error::NotFound("rule".into()))?;
    let mut refused = RuleForm::from(rule);
    refused.enabled = form.enabled.is_some();
    refused.threshold = form.threshold.clone().unwrap_or_default();
    refused.problem = Some(problem);
    rules_page(&console, session, Some((&id, refused))).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(window: &str, threshold: &str) -> RuleChange {
        RuleChange {
            csrf: None,
            enabled: None,
            severity: Some("SEV2".into()),
            window_minutes: Some(window.into()),
            threshold: Some(threshold.into()),
        }
    }

    #[test]
    fn a_form_becomes_a_whole_patch_and_bad_numbers_name_their_field() {
        let patch = patch_from(&change("30", "2.5")).expect("a patch");
        assert_eq!(patch.enabled, Some(false));
        assert_eq!(patch.severity, Some(Severity::Sev2));
        assert_eq!(
            (patch.window_minutes, patch.threshold),
            (Some(30), Some(2.5))
        );
        let refused = patch_from(&change("30", "lots")).err().unwrap_or_default();
        assert!(refused.starts_with("threshold"), "{refused}");
    }
}
