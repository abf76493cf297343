//! `vigil demo seed`: deterministic demo anomalies, tagged as demo in their data.

use chrono::{DateTime, Duration, Utc};
use serde_json::json;
use vigil_core::anomaly::Finding;
use vigil_core::severity::Severity;
use vigil_runtime::App;

/// The same anomalies on every run (their windows are fixed), so seeding twice opens nothing new.
pub async fn seed(app: &App, tenant: &str) -> anyhow::Result<usize> {
    app.tenants().get(tenant).await?;
    let day = DateTime::<Utc>::from_timestamp(1_795_000_000 - 1_795_000_000 % 86_400, 0)
        .unwrap_or_default();
    let findings = [
        (
            "payment_failure_spike",
            Severity::Sev1,
            "7 failed payments in 30 minutes",
            30,
            json!({"failed_payments": 7, "threshold": 3}),
        ),
        (
            "refund_spike",
            Severity::Sev1,
            "12 refunds in a day (30-day daily average 2.0)",
            1440,
            json!({"count": 12, "daily_average": 2.0}),
        ),
        (
            "webhook_integrity",
            Severity::Sev3,
            "4 rejected webhooks in 30 minutes",
            30,
            json!({"rejected": 4}),
        ),
    ];
    let mut opened = 0;
    for (i, (rule, severity, title, minutes, evidence)) in findings.into_iter().enumerate() {
        let start = day + Duration::hours(i64::try_from(i).unwrap_or(0) * 3);
        let finding = Finding {
            rule: rule.to_owned(),
            severity,
            title: title.to_owned(),
            subject: "account".to_owned(),
            occurrence: None,
            window_start: start,
            window_end: start + Duration::minutes(minutes),
            evidence,
            demo: true,
        };
        let (_, created) = app.anomalies().open(tenant, finding).await?;
        opened += usize::from(created);
    }
    Ok(opened)
}
