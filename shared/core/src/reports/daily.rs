//! The deterministic daily summary: facts from the day's aggregates and anomalies, rendered as
//! Overall / Highlights / Watch.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::Counts;
use crate::anomaly::{Anomaly, AnomalyStatus};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DailyFacts {
    pub payments_succeeded: i64,
    pub payments_failed: i64,
    /// Succeeded charges' total, in minor units.
    pub charge_volume: i64,
    pub refunds: i64,
    pub refund_volume: i64,
    pub subscriptions_created: i64,
    pub subscriptions_cancelled: i64,
    pub invoices_failed: i64,
    pub anomalies_by_status: BTreeMap<String, i64>,
    pub anomalies_by_severity: BTreeMap<String, i64>,
    /// Rules that fired most, with how often.
    pub top_rules: Vec<(String, i64)>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Rendered {
    pub overall: String,
    pub highlights: Vec<String>,
    pub watch: Vec<String>,
}

impl DailyFacts {
    pub fn from_aggregates(day: &Counts, anomalies: &[Anomaly]) -> DailyFacts {
        let get = |name: &str| day.get(name).copied().unwrap_or(0);
        let mut by_status = BTreeMap::new();
        let mut by_severity = BTreeMap::new();
        let mut by_rule: BTreeMap<String, i64> = BTreeMap::new();
        for a in anomalies {
            *by_status.entry(a.status.as_str().to_owned()).or_insert(0) += 1;
            *by_severity
                .entry(a.severity.as_str().to_owned())
                .or_insert(0) += 1;
            *by_rule.entry(a.rule.clone()).or_insert(0) += 1;
        }
        let mut top_rules: Vec<(String, i64)> = by_rule.into_iter().collect();
        top_rules.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        top_rules.truncate(3);
        DailyFacts {
            payments_succeeded: get("charge_succeeded") + get("payment_succeeded"),
            payments_failed: get("payment_failed"),
            charge_volume: get("charge_amount"),
            refunds: get("refund"),
            refund_volume: get("refund_amount"),
            subscriptions_created: get("subscription_created"),
            subscriptions_cancelled: get("subscription_deleted"),
            invoices_failed: get("invoice_failed"),
            anomalies_by_status: by_status,
            anomalies_by_severity: by_severity,
            top_rules,
        }
    }

    /// Payment attempts: succeeded and failed.
    pub fn attempts(&self) -> i64 {
        self.payments_succeeded + self.payments_failed
    }

    /// Failed attempts in percent of all attempts (0 without attempts).
    pub fn failure_rate(&self) -> f64 {
        let attempts = self.attempts();
        if attempts > 0 {
            self.payments_failed as f64 * 100.0 / attempts as f64
        } else {
            0.0
        }
    }

    pub fn open_anomalies(&self) -> i64 {
        [AnomalyStatus::Open, AnomalyStatus::Acknowledged]
            .iter()
            .map(|s| {
                self.anomalies_by_status
                    .get(s.as_str())
                    .copied()
                    .unwrap_or(0)
            })
            .sum()
    }
}

/// An amount in minor units as the summary prints it ("1234.56").
pub fn money(minor: i64) -> String {
    format!("{}.{:02}", minor / 100, (minor % 100).abs())
}

/// A percentage as the summary prints it, without its sign ("33.3").
pub fn percent(rate: f64) -> String {
    format!("{rate:.1}")
}

/// The summary in words, computed only from `facts`.
pub fn render(facts: &DailyFacts, date: NaiveDate) -> Rendered {
    let attempts = facts.attempts();
    let failure_rate = facts.failure_rate();
    let open = facts.open_anomalies();
    let overall = if open == 0 && failure_rate < 5.0 {
        format!("{date}: a quiet day — {attempts} payment attempts, no open anomalies.")
    } else {
        format!(
            "{date}: {attempts} payment attempts with {}% failing; {open} anomaly(ies) still need attention.",
            percent(failure_rate)
        )
    };
    let mut highlights = vec![
        format!(
            "Payments: {} succeeded ({} volume), {} failed.",
            facts.payments_succeeded,
            money(facts.charge_volume),
            facts.payments_failed
        ),
        format!(
            "Refunds: {} ({}). Subscriptions: {} new, {} cancelled; {} invoice(s) failed.",
            facts.refunds,
            money(facts.refund_volume),
            facts.subscriptions_created,
            facts.subscriptions_cancelled,
            facts.invoices_failed
        ),
    ];
    highlights.extend(anomalies_line(&facts.anomalies_by_severity));
    let mut watch = Vec::new();
    if failure_rate >= 5.0 {
        watch.push(format!(
            "Payment failure rate is {}%.",
            percent(failure_rate)
        ));
    }
    for (rule, n) in &facts.top_rules {
        watch.push(format!("Rule {rule} fired {n} time(s)."));
    }
    if open > 0 {
        watch.push(format!(
            "{open} anomaly(ies) open or acknowledged from this day."
        ));
    }
    Rendered {
        overall,
        highlights,
        watch,
    }
}

/// "Anomalies detected: 2 SEV1, 1 SEV3." (none when there were none).
pub fn anomalies_line(by_severity: &BTreeMap<String, i64>) -> Option<String> {
    if by_severity.is_empty() {
        return None;
    }
    let by: Vec<String> = by_severity
        .iter()
        .map(|(severity, n)| format!("{n} {severity}"))
        .collect();
    Some(format!("Anomalies detected: {}.", by.join(", ")))
}

/// What the AI model is told: reword, never compute.
pub const AI_INSTRUCTIONS: &str = "You reword a daily operations summary for a busy team. Keep \
the three parts Overall, Highlights and Watch. Use only the facts and numbers given; do not \
compute, estimate or add any number, and do not drop a Watch item. Answer with the summary only.";

/// Longest summary text sent to the model (the facts are short; this bounds the cost).
const MAX_AI_INPUT: usize = 4000;

/// The summary as plain text: what the notification carries and what the model rewords.
pub fn as_text(r: &Rendered) -> String {
    let mut text = format!("Overall: {}\nHighlights:\n", r.overall);
    for line in &r.highlights {
        text.push_str(&format!("• {line}\n"));
    }
    if !r.watch.is_empty() {
        text.push_str("Watch:\n");
        for line in &r.watch {
            text.push_str(&format!("• {line}\n"));
        }
    }
    text.chars().take(MAX_AI_INPUT).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_quiet_day_and_a_bad_day_read_differently() {
        let date = NaiveDate::from_ymd_opt(2026, 11, 21).unwrap();
        let quiet = DailyFacts {
            payments_succeeded: 40,
            charge_volume: 123_456,
            ..DailyFacts::default()
        };
        let r = render(&quiet, date);
        assert!(r.overall.contains("quiet"), "{}", r.overall);
        assert!(r.highlights[0].contains("1234.56"));
        assert!(r.watch.is_empty());

        let bad = DailyFacts {
            payments_succeeded: 10,
            payments_failed: 5,
            anomalies_by_status: BTreeMap::from([("open".into(), 2)]),
            anomalies_by_severity: BTreeMap::from([("SEV1".into(), 2)]),
            top_rules: vec![("payment_failure_spike".into(), 2)],
            ..DailyFacts::default()
        };
        let r = render(&bad, date);
        assert!(r.overall.contains("33.3% failing"), "{}", r.overall);
        assert!(r.watch.iter().any(|w| w.contains("payment_failure_spike")));
        assert_eq!(render(&bad, date), r, "the same facts give the same words");
    }
}
