//! The arithmetic of run monitoring: percentiles, spread, failure trends and the baseline
//! decision. Pure functions over plain numbers.

use serde::{Deserialize, Serialize};

/// The value below which `q` (0..=1) of `sorted` lies, by nearest rank. `None` when empty.
pub fn percentile(sorted: &[f64], q: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted.get(rank.clamp(1, sorted.len()) - 1).copied()
}

/// The middle value (mean of the two middle values for an even count).
pub fn median(sorted: &[f64]) -> Option<f64> {
    let n = sorted.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => sorted.get(n / 2).copied(),
        _ => Some((sorted[n / 2 - 1] + sorted[n / 2]) / 2.0),
    }
}

/// Standard deviation ÷ mean (population); `None` for no values or a zero mean.
pub fn coefficient_of_variation(values: &[f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    if mean == 0.0 {
        return None;
    }
    let variance = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
    Some(variance.sqrt() / mean)
}

/// Sorts floats that are known not to be NaN (credits and times from JSON numbers).
pub fn sorted(mut values: Vec<f64>) -> Vec<f64> {
    values.sort_by(f64::total_cmp);
    values
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FailureTrend {
    Increasing,
    Decreasing,
    Stable,
}

impl FailureTrend {
    pub fn as_str(self) -> &'static str {
        match self {
            FailureTrend::Increasing => "increasing",
            FailureTrend::Decreasing => "decreasing",
            FailureTrend::Stable => "stable",
        }
    }
}

/// Runs each window needs before a trend is called; fewer is `stable`.
pub const TREND_MIN_RUNS: u64 = 5;
/// Change of failure rate (absolute) that counts as a trend: ten percentage points.
pub const TREND_MIN_CHANGE: f64 = 0.10;

/// This window's failure rate against the previous window's; `(runs, failed)` each.
pub fn failure_trend(current: (u64, u64), previous: (u64, u64)) -> FailureTrend {
    if current.0 < TREND_MIN_RUNS || previous.0 < TREND_MIN_RUNS {
        return FailureTrend::Stable;
    }
    let rate = |(runs, failed): (u64, u64)| failed as f64 / runs as f64;
    let change = rate(current) - rate(previous);
    if change >= TREND_MIN_CHANGE - 1e-9 {
        FailureTrend::Increasing
    } else if change <= -(TREND_MIN_CHANGE - 1e-9) {
        FailureTrend::Decreasing
    } else {
        FailureTrend::Stable
    }
}

/// Successful runs a scenario needs in the window before its baseline is learned.
pub const BASELINE_MIN_RUNS: usize = 5;
/// Spread above which credits are too irregular to make a baseline of.
pub const BASELINE_MAX_CV: f64 = 0.3;

/// What the baseline update decides for one scenario.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "decision", rename_all = "snake_case")]
pub enum BaselineDecision {
    Set {
        expected_credits: f64,
        sample_size: usize,
        coefficient_of_variation: f64,
    },
    Unchanged {
        reason: String,
    },
}

/// Median credits of successful runs when there are enough of them and they are steady.
pub fn baseline_decision(successful_credits: &[f64]) -> BaselineDecision {
    let n = successful_credits.len();
    if n < BASELINE_MIN_RUNS {
        return BaselineDecision::Unchanged {
            reason: format!(
                "{n} successful runs with credits in 30 days; {BASELINE_MIN_RUNS} needed"
            ),
        };
    }
    let Some(cv) = coefficient_of_variation(successful_credits) else {
        return BaselineDecision::Unchanged {
            reason: "successful runs used no credits".to_owned(),
        };
    };
    if cv >= BASELINE_MAX_CV {
        return BaselineDecision::Unchanged {
            reason: format!(
                "credits vary too much (coefficient of variation {cv:.2}, must be below {BASELINE_MAX_CV})"
            ),
        };
    }
    let sorted = sorted(successful_credits.to_vec());
    match median(&sorted) {
        Some(expected_credits) => BaselineDecision::Set {
            expected_credits,
            sample_size: n,
            coefficient_of_variation: cv,
        },
        None => BaselineDecision::Unchanged {
            reason: "no runs".to_owned(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_by_nearest_rank() {
        let values: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&values, 0.95), Some(95.0));
        assert_eq!(percentile(&values, 0.99), Some(99.0));
        assert_eq!(percentile(&[7.0], 0.95), Some(7.0));
        assert_eq!(percentile(&[], 0.95), None);
        assert_eq!(median(&[1.0, 2.0, 3.0, 4.0]), Some(2.5));
        assert_eq!(median(&[1.0, 9.0, 10.0]), Some(9.0));
    }

    #[test]
    fn trend_needs_enough_runs_and_a_real_change() {
        assert_eq!(failure_trend((10, 5), (10, 1)), FailureTrend::Increasing);
        assert_eq!(failure_trend((10, 1), (10, 5)), FailureTrend::Decreasing);
        assert_eq!(failure_trend((10, 2), (10, 1)), FailureTrend::Increasing);
        assert_eq!(failure_trend((20, 3), (20, 2)), FailureTrend::Stable);
        assert_eq!(failure_trend((4, 4), (10, 0)), FailureTrend::Stable);
        assert_eq!(failure_trend((10, 10), (4, 0)), FailureTrend::Stable);
    }

    #[test]
    fn baseline_rules() {
        assert!(matches!(
            baseline_decision(&[100.0, 100.0, 100.0, 100.0]),
            BaselineDecision::Unchanged { .. }
        ));
        assert_eq!(
            baseline_decision(&[100.0, 110.0, 90.0, 105.0, 95.0]),
            BaselineDecision::Set {
                expected_credits: 100.0,
                sample_size: 5,
                coefficient_of_variation: coefficient_of_variation(&[
                    100.0, 110.0, 90.0, 105.0, 95.0
                ])
                .unwrap_or_default(),
            }
        );
        let BaselineDecision::Unchanged { reason } =
            baseline_decision(&[10.0, 100.0, 10.0, 100.0, 10.0])
        else {
            panic!("irregular credits must not make a baseline");
        };
        assert!(reason.contains("vary too much"), "{reason}");
        assert!(matches!(
            baseline_decision(&[0.0; 6]),
            BaselineDecision::Unchanged { .. }
        ));
    }
}
