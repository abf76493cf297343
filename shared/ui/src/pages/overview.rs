use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use vigil_core::anomaly::{AnomalyFilter, AnomalyStatus};
use vigil_core::severity::Severity;

use super::{Chrome, ErrorPage, render};
use crate::ConsoleState;
use crate::session::SignedIn;

/// Open anomalies counted on the overview.
const OVERVIEW_ANOMALIES: u32 = 200;

#[derive(Template)]
#[template(path = "overview.html")]
struct OverviewPage {
    chrome: Chrome,
    inbox_open: u64,
    /// (severity, open inbox items, open anomalies)
    by_severity: Vec<(&'static str, u64, usize)>,
    anomalies_open: usize,
    /// More open anomalies than were counted.
    anomalies_more: bool,
}

pub async fn overview(
    State(console): State<ConsoleState>,
    signed_in: SignedIn,
) -> Result<Response, ErrorPage> {
    let tenant = &signed_in.session.tenant_id;
    let counts = console.inbox.counts(tenant).await?;
    let filter = AnomalyFilter {
        status: Some(AnomalyStatus::Open),
        ..AnomalyFilter::default()
    };
    let (anomalies, more) = console
        .anomalies
        .list(tenant, &filter, OVERVIEW_ANOMALIES, None)
        .await?;
    let by_severity = Severity::ALL
        .into_iter()
        .map(|severity| {
            let inbox = counts
                .by_severity
                .get(severity.as_str())
                .copied()
                .unwrap_or(0);
            let open = anomalies.iter().filter(|a| a.severity == severity).count();
            (severity.as_str(), inbox, open)
        })
        .collect();
    let page = OverviewPage {
        chrome: Chrome::of(&signed_in.session, "overview"),
        inbox_open: counts.open,
        by_severity,
        anomalies_open: anomalies.len(),
        anomalies_more: more.is_some(),
    };
    Ok(render(&page, StatusCode::OK))
}
