//! Rules are data: a kind, whether it is on, its severity, window and threshold, with defaults.

use serde::{Deserialize, Serialize};

use crate::severity::Severity;
use crate::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RuleKind {
    /// Failed payments in a window reach the threshold.
    PaymentFailureSpike,
    /// The same, over a short window.
    RapidPaymentFailures,
    /// Refunds in a day reach `threshold` × the daily average of the prior 30 days.
    RefundSpike,
    /// Subscription deletions + failed invoices in a day against their 30-day daily average.
    ChurnSpike,
    /// One charge reaches `threshold` × the 30-day average charge.
    AmountSpike,
    /// Invalid or unauthenticated webhooks in a window.
    WebhookIntegrity,
}

impl RuleKind {
    pub const ALL: [RuleKind; 6] = [
        RuleKind::PaymentFailureSpike,
        RuleKind::RapidPaymentFailures,
        RuleKind::RefundSpike,
        RuleKind::ChurnSpike,
        RuleKind::AmountSpike,
        RuleKind::WebhookIntegrity,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RuleKind::PaymentFailureSpike => "payment_failure_spike",
            RuleKind::RapidPaymentFailures => "rapid_payment_failures",
            RuleKind::RefundSpike => "refund_spike",
            RuleKind::ChurnSpike => "churn_spike",
            RuleKind::AmountSpike => "amount_spike",
            RuleKind::WebhookIntegrity => "webhook_integrity",
        }
    }

    /// Whether the rule compares against 30-day daily aggregates.
    pub fn needs_baseline(self) -> bool {
        matches!(
            self,
            RuleKind::RefundSpike | RuleKind::ChurnSpike | RuleKind::AmountSpike
        )
    }
}

/// One rule of a tenant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RuleConfig {
    /// The built-in rules' ids are their kinds.
    pub id: String,
    pub kind: RuleKind,
    pub enabled: bool,
    pub severity: Severity,
    /// Window length in minutes; windows are aligned to it (multiples of 5).
    pub window_minutes: u32,
    /// A count, or a multiple of the baseline for the baseline rules.
    pub threshold: f64,
    /// Kind-specific settings, e.g. `min_count` for the baseline rules.
    #[schema(value_type = Object)]
    pub params: serde_json::Value,
}

impl RuleConfig {
    pub fn default_for(kind: RuleKind) -> RuleConfig {
        let (severity, window_minutes, threshold, params) = match kind {
            RuleKind::PaymentFailureSpike => (Severity::Sev1, 30, 3.0, serde_json::json!({})),
            RuleKind::RapidPaymentFailures => (Severity::Sev1, 5, 2.0, serde_json::json!({})),
            RuleKind::RefundSpike => (
                Severity::Sev1,
                1440,
                3.0,
                serde_json::json!({"min_count": 3}),
            ),
            RuleKind::ChurnSpike => (
                Severity::Sev1,
                1440,
                3.0,
                serde_json::json!({"min_count": 3}),
            ),
            RuleKind::AmountSpike => (
                Severity::Sev2,
                5,
                5.0,
                serde_json::json!({"min_charges": 10}),
            ),
            RuleKind::WebhookIntegrity => (Severity::Sev3, 30, 1.0, serde_json::json!({})),
        };
        RuleConfig {
            id: kind.as_str().to_owned(),
            kind,
            enabled: true,
            severity,
            window_minutes,
            threshold,
            params,
        }
    }

    /// A numeric parameter, or `default`.
    pub fn param(&self, name: &str, default: f64) -> f64 {
        self.params[name].as_f64().unwrap_or(default)
    }
}

/// The windows a rule may have: multiples of 5 minutes that divide a day (windows align on days).
pub const WINDOW_MINUTES: [u32; 18] = [
    5, 10, 15, 20, 30, 40, 45, 60, 80, 90, 120, 160, 180, 240, 360, 480, 720, 1440,
];
/// Largest threshold a rule may have.
pub const MAX_THRESHOLD: f64 = 1e9;

/// `PATCH /api/v1/rules/{id}`: absent fields stay as they are.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RulePatch {
    pub enabled: Option<bool>,
    pub severity: Option<Severity>,
    /// One of [`WINDOW_MINUTES`] (the document lists them); `amount_spike` takes only 5 (422
    /// otherwise).
    pub window_minutes: Option<u32>,
    #[schema(exclusive_minimum = 0, maximum = 1e9)]
    pub threshold: Option<f64>,
    #[schema(value_type = Option<Object>)]
    pub params: Option<serde_json::Value>,
}

impl RulePatch {
    pub fn apply(self, mut rule: RuleConfig) -> Result<RuleConfig> {
        let bad = |message: &str| Err(Error::invalid("invalid_rule", message.to_owned()));
        if let Some(enabled) = self.enabled {
            rule.enabled = enabled;
        }
        if let Some(severity) = self.severity {
            rule.severity = severity;
        }
        if let Some(minutes) = self.window_minutes {
            // Windows align on days, so they must divide one.
            if !WINDOW_MINUTES.contains(&minutes) {
                return bad("window_minutes must be a multiple of 5 that divides 1440");
            }
            // A window the schema allows but this rule cannot use: 422.
            if rule.kind == RuleKind::AmountSpike && minutes != 5 {
                return Err(Error::unprocessable(
                    "invalid_rule",
                    "amount_spike looks at each 5-minute bucket; its window is 5",
                ));
            }
            rule.window_minutes = minutes;
        }
        if let Some(threshold) = self.threshold {
            if !threshold.is_finite() || threshold <= 0.0 || threshold > MAX_THRESHOLD {
                return bad("threshold must be a positive number, at most 1e9");
            }
            rule.threshold = threshold;
        }
        if let Some(params) = self.params {
            if !params.is_object() {
                return bad("params must be a JSON object");
            }
            rule.params = params;
        }
        Ok(rule)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patches_are_checked() {
        let rule = RuleConfig::default_for(RuleKind::PaymentFailureSpike);
        let patched = RulePatch {
            threshold: Some(5.0),
            enabled: Some(false),
            ..RulePatch::default()
        }
        .apply(rule.clone())
        .unwrap();
        assert_eq!((patched.threshold, patched.enabled), (5.0, false));
        for bad in [
            RulePatch {
                threshold: Some(-1.0),
                ..RulePatch::default()
            },
            RulePatch {
                window_minutes: Some(7),
                ..RulePatch::default()
            },
            RulePatch {
                window_minutes: Some(35),
                ..RulePatch::default()
            },
            RulePatch {
                params: Some(serde_json::json!(3)),
                ..RulePatch::default()
            },
        ] {
            assert!(bad.apply(rule.clone()).is_err());
        }
    }

    #[test]
    fn the_listed_windows_are_exactly_the_multiples_of_5_that_divide_a_day() {
        let windows: Vec<u32> = (1..=1440).filter(|m| m % 5 == 0 && 1440 % m == 0).collect();
        assert_eq!(windows, WINDOW_MINUTES);
    }

    #[test]
    fn amount_spike_takes_only_a_5_minute_window_as_unprocessable() {
        let rule = RuleConfig::default_for(RuleKind::AmountSpike);
        let patch = |minutes| RulePatch {
            window_minutes: Some(minutes),
            ..RulePatch::default()
        };
        assert!(matches!(
            patch(10).apply(rule.clone()),
            Err(Error::Unprocessable { .. })
        ));
        assert!(matches!(
            patch(7).apply(rule.clone()),
            Err(Error::Invalid { .. })
        ));
        assert_eq!(patch(5).apply(rule).unwrap().window_minutes, 5);
    }
}
