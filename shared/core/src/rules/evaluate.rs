//! The pure part of the rules: window facts and baselines in, a finding (or none) out.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use serde_json::json;

use super::config::{RuleConfig, RuleKind};
use crate::anomaly::Finding;

/// The subject of account-wide revenue rules.
pub const ACCOUNT: &str = "account";

/// Counter sums of one window, from its 5-minute buckets.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WindowFacts {
    pub counters: BTreeMap<String, i64>,
    /// The largest succeeded charge (amount_spike, one bucket).
    pub largest_charge: Option<i64>,
}

impl WindowFacts {
    /// Sums the buckets whose start is in [from, to) (keys are RFC 3339 starts, which sort).
    pub fn sum(buckets: &BTreeMap<String, BTreeMap<String, i64>>, from: &str, to: &str) -> Self {
        let mut counters = BTreeMap::new();
        for (_, bucket) in buckets.range(from.to_owned()..to.to_owned()) {
            for (name, value) in bucket {
                *counters.entry(name.clone()).or_insert(0) += value;
            }
        }
        WindowFacts {
            counters,
            largest_charge: None,
        }
    }

    pub fn get(&self, name: &str) -> i64 {
        self.counters.get(name).copied().unwrap_or(0)
    }
}

/// Daily totals of the days before a window.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Baseline {
    pub totals: BTreeMap<String, i64>,
    pub days: i64,
}

impl Baseline {
    /// The `days` UTC days before the day of `start`, from per-day counters keyed `YYYY-MM-DD`.
    pub fn before(
        daily: &BTreeMap<String, BTreeMap<String, i64>>,
        start: DateTime<Utc>,
        days: i64,
    ) -> Baseline {
        let to = start.format("%Y-%m-%d").to_string();
        let from = (start - Duration::days(days))
            .format("%Y-%m-%d")
            .to_string();
        let mut totals = BTreeMap::new();
        for (_, day) in daily.range(from..to) {
            for (name, value) in day {
                *totals.entry(name.clone()).or_insert(0) += value;
            }
        }
        Baseline { totals, days }
    }

    fn get(&self, name: &str) -> i64 {
        self.totals.get(name).copied().unwrap_or(0)
    }

    fn daily_average(&self, names: &[&str]) -> f64 {
        let total: i64 = names.iter().map(|n| self.get(n)).sum();
        total as f64 / self.days.max(1) as f64
    }
}

/// What a rule that fires says: its title and its evidence.
type Fired = (String, serde_json::Value);

/// Whether `rule` fires on the window [start, end).
pub fn evaluate(
    rule: &RuleConfig,
    facts: &WindowFacts,
    baseline: Option<&Baseline>,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Option<Finding> {
    let (title, evidence) = match rule.kind {
        RuleKind::PaymentFailureSpike | RuleKind::RapidPaymentFailures => {
            payment_failures(rule, facts)
        }
        RuleKind::WebhookIntegrity => rejected_webhooks(rule, facts),
        RuleKind::RefundSpike | RuleKind::ChurnSpike => daily_spike(rule, facts, baseline?),
        RuleKind::AmountSpike => amount_spike(rule, facts, baseline?),
    }?;
    Some(Finding {
        rule: rule.id.clone(),
        severity: rule.severity,
        title,
        subject: ACCOUNT.to_owned(),
        occurrence: None,
        window_start: start,
        window_end: end,
        evidence,
        demo: false,
    })
}

fn payment_failures(rule: &RuleConfig, facts: &WindowFacts) -> Option<Fired> {
    let minutes = rule.window_minutes;
    let failed = facts.get("payment_failed");
    (failed as f64 >= rule.threshold).then(|| {
        (
            format!("{failed} failed payments in {minutes} minutes"),
            json!({"failed_payments": failed, "threshold": rule.threshold, "window_minutes": minutes}),
        )
    })
}

fn rejected_webhooks(rule: &RuleConfig, facts: &WindowFacts) -> Option<Fired> {
    let minutes = rule.window_minutes;
    let failures = facts.get("failures");
    (failures as f64 >= rule.threshold).then(|| {
        let reasons: BTreeMap<&String, &i64> = facts
            .counters
            .iter()
            .filter(|(name, _)| name.as_str() != "failures")
            .collect();
        (
            format!("{failures} rejected webhooks in {minutes} minutes"),
            json!({"rejected": failures, "by_reason": reasons, "threshold": rule.threshold}),
        )
    })
}

/// Refunds, or cancellations and failed invoices, in a day against their daily average.
fn daily_spike(rule: &RuleConfig, facts: &WindowFacts, baseline: &Baseline) -> Option<Fired> {
    let (names, what): (&[&str], &str) = if rule.kind == RuleKind::RefundSpike {
        (&["refund"], "refunds")
    } else {
        (
            &["subscription_deleted", "invoice_failed"],
            "cancellations and failed invoices",
        )
    };
    let count: i64 = names.iter().map(|n| facts.get(n)).sum();
    let average = baseline.daily_average(names);
    let min_count = rule.param("min_count", 3.0);
    let fires = count as f64 >= min_count && count as f64 >= rule.threshold * average;
    fires.then(|| {
        (
            format!("{count} {what} in a day (30-day daily average {average:.1})"),
            json!({"count": count, "daily_average": average, "threshold": rule.threshold,
                   "min_count": min_count, "baseline_days": baseline.days}),
        )
    })
}

fn amount_spike(rule: &RuleConfig, facts: &WindowFacts, baseline: &Baseline) -> Option<Fired> {
    let largest = facts.largest_charge?;
    let charges = baseline.get("charge_succeeded");
    let min_charges = rule.param("min_charges", 10.0);
    if (charges as f64) < min_charges {
        return None;
    }
    let average = baseline.get("charge_amount") as f64 / charges as f64;
    (largest as f64 >= rule.threshold * average).then(|| {
        (
            format!(
                "A charge of {largest} is {:.1}× the 30-day average",
                largest as f64 / average.max(1.0)
            ),
            json!({"amount": largest, "average_amount": average, "threshold": rule.threshold,
                   "charges_in_baseline": charges}),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(minutes: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_795_000_000 - 1_795_000_000 % 86_400, 0).unwrap()
            + Duration::minutes(minutes)
    }

    fn facts(pairs: &[(&str, i64)]) -> WindowFacts {
        WindowFacts {
            counters: pairs.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect(),
            largest_charge: None,
        }
    }

    fn fires(kind: RuleKind, f: &WindowFacts, b: Option<&Baseline>) -> bool {
        evaluate(&RuleConfig::default_for(kind), f, b, at(0), at(30)).is_some()
    }

    #[test]
    fn count_rules_fire_at_their_threshold() {
        let k = RuleKind::PaymentFailureSpike;
        assert!(!fires(k, &facts(&[("payment_failed", 2)]), None), "below");
        assert!(fires(k, &facts(&[("payment_failed", 3)]), None), "at");
        assert!(fires(k, &facts(&[("payment_failed", 4)]), None), "above");
        let k = RuleKind::RapidPaymentFailures;
        assert!(!fires(k, &facts(&[("payment_failed", 1)]), None));
        assert!(fires(k, &facts(&[("payment_failed", 2)]), None));
        let k = RuleKind::WebhookIntegrity;
        assert!(!fires(k, &facts(&[]), None));
        assert!(fires(
            k,
            &facts(&[("failures", 1), ("invalid_signature", 1)]),
            None
        ));
    }

    #[test]
    fn baseline_rules_compare_with_the_daily_average() {
        // 30 refunds over 30 days: an average of 1 a day; the threshold is 3× (and at least 3).
        let baseline = Baseline {
            totals: BTreeMap::from([("refund".to_owned(), 30)]),
            days: 30,
        };
        let k = RuleKind::RefundSpike;
        assert!(
            !fires(k, &facts(&[("refund", 2)]), Some(&baseline)),
            "below"
        );
        assert!(fires(k, &facts(&[("refund", 3)]), Some(&baseline)), "at");
        assert!(fires(k, &facts(&[("refund", 9)]), Some(&baseline)), "above");
        let busy = Baseline {
            totals: BTreeMap::from([("refund".to_owned(), 300)]),
            days: 30,
        };
        assert!(!fires(k, &facts(&[("refund", 29)]), Some(&busy)));
        assert!(fires(k, &facts(&[("refund", 30)]), Some(&busy)));
        let churn = Baseline {
            totals: BTreeMap::from([
                ("subscription_deleted".to_owned(), 15),
                ("invoice_failed".to_owned(), 15),
            ]),
            days: 30,
        };
        let k = RuleKind::ChurnSpike;
        assert!(!fires(
            k,
            &facts(&[("subscription_deleted", 1), ("invoice_failed", 1)]),
            Some(&churn)
        ));
        assert!(fires(
            k,
            &facts(&[("subscription_deleted", 2), ("invoice_failed", 1)]),
            Some(&churn)
        ));
    }

    #[test]
    fn amount_spike_needs_history_and_a_large_charge() {
        let baseline = Baseline {
            totals: BTreeMap::from([
                ("charge_succeeded".to_owned(), 100),
                ("charge_amount".to_owned(), 100_000),
            ]),
            days: 30,
        };
        let charge = |amount| WindowFacts {
            largest_charge: Some(amount),
            ..WindowFacts::default()
        };
        let k = RuleKind::AmountSpike;
        assert!(
            !fires(k, &charge(4_999), Some(&baseline)),
            "below 5× of 1000"
        );
        assert!(fires(k, &charge(5_000), Some(&baseline)), "at");
        let thin = Baseline {
            totals: BTreeMap::from([
                ("charge_succeeded".to_owned(), 2),
                ("charge_amount".to_owned(), 200),
            ]),
            days: 30,
        };
        assert!(
            !fires(k, &charge(100_000), Some(&thin)),
            "too little history"
        );
    }

    #[test]
    fn windows_sum_the_buckets_inside_them_only() {
        let bucket = |n| BTreeMap::from([("payment_failed".to_owned(), n)]);
        let key = |m| at(m).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let buckets = BTreeMap::from([
            (key(-5), bucket(10)),
            (key(0), bucket(1)),
            (key(25), bucket(2)),
            (key(30), bucket(100)),
        ]);
        let f = WindowFacts::sum(&buckets, &key(0), &key(30));
        assert_eq!(
            f.get("payment_failed"),
            3,
            "the buckets at 0 and 25, not -5 or 30"
        );
    }
}
