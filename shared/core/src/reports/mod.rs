//! Reports: the daily ops summary, built deterministically from aggregates and rule signals
//! (never raw events), stored once per tenant and day, and announced as `summary.ready`.

pub mod daily;
pub mod rewording;
pub mod weekly;

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{
    DateTime, Datelike as _, Duration, NaiveDate, NaiveTime, SecondsFormat, Utc, Weekday,
};
use serde::{Deserialize, Serialize};

use crate::anomaly::{AnomalyFilter, AnomalyService};
use crate::automation_runs::RunService;
use crate::delivery::outbox::OutboxService;
use crate::delivery::{NewNotification, NotificationType};
use crate::json::to_json;
use crate::ports::wording::Wording;
use crate::ports::{Cursor, Index, Item, ItemStore, PutCondition, Query, StoreError};
use crate::severity::Severity;
use crate::{Clock, Error, Result, table_keys};
pub use daily::{DailyFacts, Rendered};
pub use rewording::AllowedFigures;
pub use weekly::WeeklyFacts;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReportKind {
    DailySummary,
    WeeklyReview,
}

impl ReportKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ReportKind::DailySummary => "daily_summary",
            ReportKind::WeeklyReview => "weekly_review",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Report {
    pub id: String,
    pub tenant_id: String,
    pub kind: ReportKind,
    /// The day reported on, or the Monday the reviewed week starts (UTC).
    #[schema(value_type = String)]
    pub date: NaiveDate,
    pub period_start: DateTime<Utc>,
    pub period_end: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub facts: ReportFacts,
    /// SHA-256 (hex) of `facts` as JSON: the same data gives the same digest.
    #[serde(default)]
    pub digest: String,
    pub rendered: Rendered,
    /// Whether the wording came from the AI endpoint (the facts never do).
    pub used_ai: bool,
    /// The AI's rewording of `rendered`, when it was asked and its answer passed the checks.
    pub ai_text: Option<String>,
    /// Why the AI wording was not used (`timeout`, `http_500`, `malformed_answer`, …).
    pub ai_error: Option<String>,
}

/// What a report found, by kind (the JSON of each kind's facts, untagged).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum ReportFacts {
    WeeklyReview(WeeklyFacts),
    Daily(DailyFacts),
}

impl ReportFacts {
    pub fn digest(&self) -> Result<String> {
        use sha2::{Digest as _, Sha256};
        let json = serde_json::to_vec(self).map_err(|e| Error::Internal(e.to_string()))?;
        Ok(hex::encode(Sha256::digest(&json)))
    }
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
            .get(&table_keys::revenue_day(
                tenant,
                &date.format("%Y-%m-%d").to_string(),
            ))
            .await?
            .map(|item| item.counters)
            .unwrap_or_default();
        let in_period = self.anomalies_between(tenant, start, end).await?;
        let facts = DailyFacts::from_aggregates(&day, &in_period);
        let rendered = daily::render(&facts, date);
        let allowed = AllowedFigures::of_daily(&facts, date);
        let (ai_text, ai_error) = self.reword(tenant, &rendered, &allowed).await;
        let facts = ReportFacts::Daily(facts);
        let report = Report {
            id,
            tenant_id: tenant.to_owned(),
            kind: ReportKind::DailySummary,
            date,
            period_start: start,
            period_end: end,
            created_at: self.clock.now(),
            digest: facts.digest()?,
            facts,
            rendered,
            used_ai: ai_text.is_some(),
            ai_text,
            ai_error,
        };
        self.store_and_announce(tenant, report).await
    }

    /// The weekly review of the week starting `week_start` (a Monday, UTC), once: a second run
    /// returns the stored report and sends nothing new. Returns it and whether it is new.
    pub async fn weekly_review(
        &self,
        tenant: &str,
        week_start: NaiveDate,
        runs: &RunService,
    ) -> Result<(Report, bool)> {
        if week_start.weekday() != Weekday::Mon {
            return Err(Error::invalid(
                "invalid_date",
                format!(
                    "a review week starts on a Monday; {week_start} is a {}",
                    week_start.weekday()
                ),
            ));
        }
        let id = report_id(tenant, ReportKind::WeeklyReview, week_start);
        if let Some(existing) = self.find(tenant, &id).await? {
            return Ok((existing, false));
        }
        let start = week_start.and_time(NaiveTime::MIN).and_utc();
        let end = start + Duration::days(7);
        let week_runs = runs.runs_between(tenant, start, end).await?;
        let anomalies = self.anomalies_between(tenant, start, end).await?;
        let facts = WeeklyFacts::from_runs(&week_runs, &anomalies);
        let rendered = weekly::render(&facts, week_start);
        let facts = ReportFacts::WeeklyReview(facts);
        let report = Report {
            id,
            tenant_id: tenant.to_owned(),
            kind: ReportKind::WeeklyReview,
            date: week_start,
            period_start: start,
            period_end: end,
            created_at: self.clock.now(),
            digest: facts.digest()?,
            facts,
            rendered,
            used_ai: false,
            ai_text: None,
            ai_error: None,
        };
        self.store_and_announce(tenant, report).await
    }

    /// Anomalies detected in `[start, end)`, demo ones left out.
    async fn anomalies_between(
        &self,
        tenant: &str,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<Vec<crate::anomaly::Anomaly>> {
        let (anomalies, _) = self
            .anomalies
            .list(tenant, &AnomalyFilter::default(), MAX_ANOMALIES, None)
            .await?;
        Ok(anomalies
            .into_iter()
            .filter(|a| a.detected_at >= start && a.detected_at < end && !a.demo)
            .collect())
    }

    /// Stores `report` once and announces it (the announcement's dedupe key is the report id,
    /// so announcing again after a crash sends nothing twice).
    async fn store_and_announce(&self, tenant: &str, report: Report) -> Result<(Report, bool)> {
        let sort = format!("{}#{}", report.date, report.id);
        let item = Item::new(table_keys::report(tenant, &report.id), to_json(&report)?)
            .with_gsi1(table_keys::report_list(tenant, report.kind.as_str(), &sort));
        let created = match self.store.put(item, PutCondition::Absent).await {
            Ok(_) => true,
            Err(StoreError::AlreadyExists) => false,
            Err(other) => return Err(other.into()),
        };
        let report = if created {
            report
        } else {
            self.find(tenant, &report.id)
                .await?
                .ok_or_else(|| Error::Internal("report vanished".into()))?
        };
        self.outbox
            .emit(tenant, report_notification(&report))
            .await?;
        Ok((report, created))
    }

    /// Asks the AI model, if any, to reword the summary. Any failure is classified and the
    /// deterministic wording ships: the summary never waits on, or depends on, the model.
    async fn reword(
        &self,
        tenant: &str,
        rendered: &Rendered,
        allowed: &AllowedFigures,
    ) -> (Option<String>, Option<String>) {
        let Some(wording) = &self.wording else {
            return (None, None);
        };
        let text = daily::as_text(rendered);
        let answer = wording
            .rephrase(daily::AI_INSTRUCTIONS, &text)
            .await
            .and_then(|answer| allowed.check(answer));
        match answer {
            Ok(answer) => (Some(answer), None),
            Err(error) => {
                tracing::warn!(tenant, %error, "AI wording failed; the deterministic summary ships");
                (None, Some(error.class()))
            }
        }
    }

    async fn find(&self, tenant: &str, id: &str) -> Result<Option<Report>> {
        match self.store.get(&table_keys::report(tenant, id)).await? {
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
                Query::partition(
                    Index::Gsi1,
                    table_keys::report_list(tenant, kind.as_str(), "").pk,
                )
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

fn report_notification(report: &Report) -> NewNotification {
    let summary = report
        .ai_text
        .clone()
        .unwrap_or_else(|| daily::as_text(&report.rendered));
    let by_severity = match &report.facts {
        ReportFacts::Daily(f) => &f.anomalies_by_severity,
        ReportFacts::WeeklyReview(f) => &f.anomalies_by_severity,
    };
    let worst = by_severity
        .keys()
        .filter_map(|s| s.parse::<Severity>().ok())
        .min()
        .map_or(Severity::Sev4, |s| s.max(Severity::Sev2));
    let title = match report.kind {
        ReportKind::DailySummary => format!("Daily ops summary for {}", report.date),
        ReportKind::WeeklyReview => format!("Weekly review for the week of {}", report.date),
    };
    NewNotification {
        kind: NotificationType::SummaryReady,
        severity: worst,
        title,
        summary,
        link_ref: Some(format!("report:{}", report.id)),
        dedupe_key: report.id.clone(),
        payload: serde_json::json!({
            "report_id": report.id,
            "kind": report.kind,
            "date": report.date.to_string(),
            "period_end": report.period_end.to_rfc3339_opts(SecondsFormat::Secs, true),
            "digest": report.digest,
        }),
    }
}

/// Counts by key, for rendering.
pub(crate) type Counts = BTreeMap<String, i64>;
