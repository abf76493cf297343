//! Reports: the daily ops summary, built deterministically from aggregates and rule signals
//! (never raw events), stored once per tenant and day, and announced as `summary.ready`.

pub mod daily;

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Duration, NaiveDate, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

use crate::anomaly::{AnomalyFilter, AnomalyService};
use crate::delivery::outbox::OutboxService;
use crate::delivery::{NewNotification, NotificationType};
use crate::ports::wording::Wording;
use crate::ports::{Cursor, Index, Item, ItemStore, PutCondition, Query, StoreError};
use crate::severity::Severity;
use crate::tenancy::tenants::to_json;
use crate::{Clock, Error, Result, keys};
pub use daily::{DailyFacts, Rendered};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReportKind {
    DailySummary,
}

impl ReportKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ReportKind::DailySummary => "daily_summary",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Report {
    pub id: String,
    pub tenant_id: String,
    pub kind: ReportKind,
    /// The day reported on (UTC).
    #[schema(value_type = String)]
    pub date: NaiveDate,
    pub period_start: DateTime<Utc>,
    pub period_end: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub facts: DailyFacts,
    pub rendered: Rendered,
    /// Whether the wording came from the AI endpoint (the facts never do).
    pub used_ai: bool,
    /// The AI's rewording of `rendered`, when it was asked and its answer passed the checks.
    pub ai_text: Option<String>,
    /// Why the AI wording was not used (`timeout`, `http_500`, `malformed_answer`, …).
    pub ai_error: Option<String>,
}

/// The report id of a tenant, kind and day: a second run finds the first.
pub fn report_id(tenant: &str, kind: ReportKind, date: NaiveDate) -> String {
    crate::ids::stable_id("rpt", &[tenant, kind.as_str(), &date.to_string()])
}

pub struct ReportService {
    wording: Option<Arc<dyn Wording>>,
    store: Arc<dyn ItemStore>,
    anomalies: Arc<AnomalyService>,
    outbox: Arc<OutboxService>,
    clock: Arc<dyn Clock>,
}

/// Anomalies a summary looks at, at most.
const MAX_ANOMALIES: u32 = 500;

impl ReportService {
    pub fn new(
        store: Arc<dyn ItemStore>,
        anomalies: Arc<AnomalyService>,
        outbox: Arc<OutboxService>,
        wording: Option<Arc<dyn Wording>>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            wording,
            store,
            anomalies,
            outbox,
            clock,
        }
    }

    /// Builds, stores and announces the daily summary of `date` (the UTC day), once: a second
    /// run returns the stored report and sends nothing new. Returns it and whether it is new.
    pub async fn daily_summary(&self, tenant: &str, date: NaiveDate) -> Result<(Report, bool)> {
        let id = report_id(tenant, ReportKind::DailySummary, date);
        if let Some(existing) = self.find(tenant, &id).await? {
            return Ok((existing, false));
        }
        let start = date
            .and_hms_opt(0, 0, 0)
            .map(|t| t.and_utc())
            .ok_or_else(|| Error::invalid("invalid_date", "not a valid date"))?;
        let end = start + Duration::days(1);
        let day = self
            .store
            .get(&keys::revenue_day(
                tenant,
                &date.format("%Y-%m-%d").to_string(),
            ))
            .await?
            .map(|item| item.counters)
            .unwrap_or_default();
        let (anomalies, _) = self
            .anomalies
            .list(tenant, &AnomalyFilter::default(), MAX_ANOMALIES, None)
            .await?;
        let in_period: Vec<_> = anomalies
            .into_iter()
            .filter(|a| a.detected_at >= start && a.detected_at < end && !a.demo)
            .collect();
        let facts = DailyFacts::from_aggregates(&day, &in_period);
        let rendered = daily::render(&facts, date);
        let (ai_text, ai_error) = self.reword(tenant, &rendered).await;
        let report = Report {
            id: id.clone(),
            tenant_id: tenant.to_owned(),
            kind: ReportKind::DailySummary,
            date,
            period_start: start,
            period_end: end,
            created_at: self.clock.now(),
            facts,
            rendered,
            used_ai: ai_text.is_some(),
            ai_text,
            ai_error,
        };
        let sort = format!("{}#{}", report.date, report.id);
        let item = Item::new(keys::report(tenant, &id), to_json(&report)?).with_gsi1(
            keys::report_list(tenant, ReportKind::DailySummary.as_str(), &sort),
        );
        let created = match self.store.put(item, PutCondition::Absent).await {
            Ok(_) => true,
            Err(StoreError::AlreadyExists) => false,
            Err(other) => return Err(other.into()),
        };
        let report = if created {
            report
        } else {
            self.find(tenant, &id)
                .await?
                .ok_or_else(|| Error::Internal("report vanished".into()))?
        };
        // Dedupe key = report id: announcing again after a crash sends nothing twice.
        self.outbox
            .emit(tenant, summary_notification(&report))
            .await?;
        Ok((report, created))
    }

    /// Asks the AI model, if any, to reword the summary. Any failure is classified and the
    /// deterministic wording ships: the summary never waits on, or depends on, the model.
    async fn reword(&self, tenant: &str, rendered: &Rendered) -> (Option<String>, Option<String>) {
        let Some(wording) = &self.wording else {
            return (None, None);
        };
        let text = daily::as_text(rendered);
        let answer = wording
            .rephrase(daily::AI_INSTRUCTIONS, &text)
            .await
            .and_then(|answer| daily::check_rewording(&text, answer));
        match answer {
            Ok(answer) => (Some(answer), None),
            Err(error) => {
                tracing::warn!(tenant, %error, "AI wording failed; the deterministic summary ships");
                (None, Some(error.class()))
            }
        }
    }

    async fn find(&self, tenant: &str, id: &str) -> Result<Option<Report>> {
        match self.store.get(&keys::report(tenant, id)).await? {
            Some(item) => Ok(Some(item.parse()?)),
            None => Ok(None),
        }
    }

    pub async fn get(&self, tenant: &str, id: &str) -> Result<Report> {
        if !crate::ids::looks_like("rpt", id) {
            return Err(Error::NotFound("report".into()));
        }
        self.find(tenant, id)
            .await?
            .ok_or_else(|| Error::NotFound("report".into()))
    }

    /// Newest first.
    pub async fn list(
        &self,
        tenant: &str,
        kind: ReportKind,
        limit: u32,
        cursor: Option<Cursor>,
    ) -> Result<(Vec<Report>, Option<Cursor>)> {
        let page = self
            .store
            .query(
                Query::partition(Index::Gsi1, keys::report_list(tenant, kind.as_str(), "").pk)
                    .descending()
                    .limit(limit)
                    .after(cursor),
            )
            .await?;
        let reports = page
            .items
            .iter()
            .map(Item::parse)
            .collect::<std::result::Result<Vec<_>, _>>()?;
        Ok((reports, page.next_cursor))
    }
}

fn summary_notification(report: &Report) -> NewNotification {
    let summary = report
        .ai_text
        .clone()
        .unwrap_or_else(|| daily::as_text(&report.rendered));
    let worst = report
        .facts
        .anomalies_by_severity
        .keys()
        .filter_map(|s| s.parse::<Severity>().ok())
        .min()
        .map_or(Severity::Sev4, |s| s.max(Severity::Sev2));
    NewNotification {
        kind: NotificationType::SummaryReady,
        severity: worst,
        title: format!("Daily ops summary for {}", report.date),
        summary,
        link_ref: Some(format!("report:{}", report.id)),
        dedupe_key: report.id.clone(),
        payload: serde_json::json!({
            "report_id": report.id,
            "date": report.date.to_string(),
            "period_end": report.period_end.to_rfc3339_opts(SecondsFormat::Secs, true),
        }),
    }
}

/// Counts by key, for rendering.
pub(crate) type Counts = BTreeMap<String, i64>;
