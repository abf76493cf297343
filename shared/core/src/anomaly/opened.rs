//! The `anomaly.opened` event Vigil publishes on the bus when it opens an anomaly; workflows with
//! an `anomaly_opened` trigger start from it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::Anomaly;
use crate::cause::Cause;
use crate::ports::BusEvent;
use crate::severity::Severity;

/// `detail-type` of the event Vigil publishes when it opens an anomaly.
pub const ANOMALY_OPENED: &str = "anomaly.opened";

/// An anomaly Vigil opened, as published on the bus.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OpenedAnomaly {
    pub tenant_id: String,
    pub anomaly_id: String,
    pub rule: String,
    pub severity: Severity,
    pub title: String,
    pub subject: String,
    pub detected_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caused_by: Option<Cause>,
}

/// The bus event announcing an opened anomaly (its evidence names the run that raised it, if any).
pub fn anomaly_opened(anomaly: &Anomaly) -> BusEvent {
    let caused_by: Option<Cause> = anomaly
        .evidence
        .get("caused_by")
        .and_then(|c| serde_json::from_value(c.clone()).ok());
    let detail = OpenedAnomaly {
        tenant_id: anomaly.tenant_id.clone(),
        anomaly_id: anomaly.id.clone(),
        rule: anomaly.rule.clone(),
        severity: anomaly.severity,
        title: anomaly.title.clone(),
        subject: anomaly.subject.clone(),
        detected_at: anomaly.detected_at,
        caused_by,
    };
    BusEvent {
        detail_type: ANOMALY_OPENED.into(),
        detail: serde_json::to_value(&detail).unwrap_or_else(|_| json!({})),
        time: anomaly.detected_at,
    }
}
