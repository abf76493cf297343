//! Classifying a run at ingest: how far its credits are from its scenario's baseline (the
//! severity) and what its own facts say about risk. Pure: everything it reads is passed in, so
//! `vigil classify` and the ingest path give the same answer.

use serde::{Deserialize, Serialize};

use super::RunStatus;
use crate::severity::Severity;
use crate::{Error, Result};

/// Variances (credits ÷ baseline) at or above which a run gets each severity; below `sev3` it is
/// SEV4. Per tenant.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VarianceThresholds {
    #[schema(exclusive_minimum = 0)]
    pub sev0: f64,
    #[schema(exclusive_minimum = 0)]
    pub sev1: f64,
    #[schema(exclusive_minimum = 0)]
    pub sev2: f64,
    #[schema(exclusive_minimum = 0)]
    pub sev3: f64,
}

impl Default for VarianceThresholds {
    fn default() -> Self {
        Self {
            sev0: 10.0,
            sev1: 5.0,
            sev2: 2.0,
            sev3: 1.5,
        }
    }
}

/// Ratios computed from decimal credits (0.3 / 0.2) land a hair under their exact value.
const EDGE_TOLERANCE: f64 = 1e-9;

impl VarianceThresholds {
    pub fn validate(&self) -> Result<()> {
        let ordered = [self.sev0, self.sev1, self.sev2, self.sev3];
        let finite = ordered.iter().all(|t| t.is_finite() && *t > 0.0);
        let descending = ordered.windows(2).all(|pair| pair[0] > pair[1]);
        if !finite {
            Err(Error::invalid(
                "invalid_thresholds",
                "severity thresholds must be positive numbers",
            ))
        } else if descending {
            Ok(())
        } else {
            // A rule between the four values: no schema can say it.
            Err(Error::unprocessable(
                "invalid_thresholds",
                "severity thresholds must be positive and strictly decreasing from sev0 to sev3",
            ))
        }
    }

    pub fn severity(&self, variance: f64) -> Severity {
        let reaches = |threshold: f64| variance >= threshold - EDGE_TOLERANCE;
        if reaches(self.sev0) {
            Severity::Sev0
        } else if reaches(self.sev1) {
            Severity::Sev1
        } else if reaches(self.sev2) {
            Severity::Sev2
        } else if reaches(self.sev3) {
            Severity::Sev3
        } else {
            Severity::Sev4
        }
    }
}

#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum RiskFlag {
    /// Three or more retries, or credits above the scenario's 99th percentile.
    RetryLoop,
    /// No idempotency key on a scenario that writes: a retry may write twice.
    MissingIdempotency,
    /// A backfill job: large runs are expected, so misconfiguration is less likely.
    BackfillMode,
    Failed,
    /// At least three times the scenario's median execution time.
    Slow,
    /// The scenario has no baseline yet, so credits cannot be judged.
    NoBaseline,
}

impl RiskFlag {
    /// The flag in words, as risk summaries and the console say it.
    pub fn describe(self) -> &'static str {
        match self {
            RiskFlag::RetryLoop => "retry loop",
            RiskFlag::MissingIdempotency => "missing idempotency key",
            RiskFlag::BackfillMode => "backfill",
            RiskFlag::Failed => "failed",
            RiskFlag::Slow => "slow",
            RiskFlag::NoBaseline => "no baseline",
        }
    }
}

/// How likely the run's cost comes from a misconfigured scenario rather than real work.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema,
)]
pub enum Likelihood {
    Low,
    Medium,
    High,
}

impl Likelihood {
    pub fn as_str(self) -> &'static str {
        match self {
            Likelihood::Low => "low",
            Likelihood::Medium => "medium",
            Likelihood::High => "high",
        }
    }
}

/// What classification reads from a run.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunFacts<'a> {
    pub credits_total: Option<f64>,
    pub status: RunStatus,
    pub retry_count: u32,
    pub has_idempotency_key: Option<bool>,
    pub job_type: Option<&'a str>,
    pub execution_time_ms: Option<u64>,
    pub failed_action_name: Option<&'a str>,
}

/// What classification knows of the run's scenario.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ScenarioProfile {
    /// The baseline: credits a healthy run uses.
    pub expected_credits: Option<f64>,
    pub credits_p99: Option<f64>,
    pub median_execution_ms: Option<f64>,
    /// Whether the scenario writes to other systems (then a retry without an idempotency key
    /// may write twice).
    pub writes: bool,
}

impl Default for ScenarioProfile {
    fn default() -> Self {
        Self {
            expected_credits: None,
            credits_p99: None,
            median_execution_ms: None,
            writes: true,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Classification {
    pub severity: Severity,
    /// Credits ÷ baseline; absent without a baseline or without credits.
    pub variance: Option<f64>,
    pub risk_flags: Vec<RiskFlag>,
    pub misconfig_likelihood: Likelihood,
    pub risk_summary: String,
    pub recommended_actions: Vec<String>,
}

/// Retries at which a run counts as looping.
const RETRY_LOOP_AT: u32 = 3;
/// Execution time, as a multiple of the scenario's median, at which a run is slow.
const SLOW_FACTOR: f64 = 3.0;

pub fn classify(
    run: &RunFacts<'_>,
    scenario: &ScenarioProfile,
    thresholds: &VarianceThresholds,
) -> Classification {
    let baseline = scenario.expected_credits.filter(|b| *b > 0.0);
    let variance = baseline.zip(run.credits_total).map(|(b, c)| c / b);
    let severity = variance.map_or(Severity::Sev4, |v| thresholds.severity(v));

    let mut flags = Vec::new();
    let over_p99 = scenario
        .credits_p99
        .zip(run.credits_total)
        .is_some_and(|(p99, credits)| credits > p99);
    if run.retry_count >= RETRY_LOOP_AT || over_p99 {
        flags.push(RiskFlag::RetryLoop);
    }
    if run.has_idempotency_key == Some(false) && scenario.writes {
        flags.push(RiskFlag::MissingIdempotency);
    }
    let backfill = run
        .job_type
        .is_some_and(|j| j.to_ascii_uppercase().contains("BACKFILL"));
    if backfill {
        flags.push(RiskFlag::BackfillMode);
    }
    if run.status == RunStatus::Failed {
        flags.push(RiskFlag::Failed);
    }
    let slow = scenario
        .median_execution_ms
        .filter(|m| *m > 0.0)
        .zip(run.execution_time_ms)
        .is_some_and(|(median, ms)| ms as f64 >= SLOW_FACTOR * median);
    if slow {
        flags.push(RiskFlag::Slow);
    }
    if baseline.is_none() {
        flags.push(RiskFlag::NoBaseline);
    }

    let likelihood = likelihood(severity, &flags);
    Classification {
        severity,
        variance,
        risk_summary: summary(severity, variance, baseline, &flags, likelihood),
        recommended_actions: actions(severity, &flags, run.failed_action_name),
        misconfig_likelihood: likelihood,
        risk_flags: flags,
    }
}

/// Points for what points at a misconfiguration; a backfill takes some away.
fn likelihood(severity: Severity, flags: &[RiskFlag]) -> Likelihood {
    let mut points: i32 = match severity {
        Severity::Sev0 | Severity::Sev1 => 2,
        Severity::Sev2 => 1,
        Severity::Sev3 | Severity::Sev4 => 0,
    };
    for flag in flags {
        points += match flag {
            RiskFlag::RetryLoop | RiskFlag::MissingIdempotency => 2,
            RiskFlag::Failed | RiskFlag::Slow => 1,
            RiskFlag::BackfillMode => -2,
            RiskFlag::NoBaseline => 0,
        };
    }
    match points {
        p if p >= 4 => Likelihood::High,
        p if p >= 2 => Likelihood::Medium,
        _ => Likelihood::Low,
    }
}

fn summary(
    severity: Severity,
    variance: Option<f64>,
    baseline: Option<f64>,
    flags: &[RiskFlag],
    likelihood: Likelihood,
) -> String {
    let cost = match (variance, baseline) {
        (Some(v), Some(b)) => format!("{v:.2}× the baseline of {b} credits"),
        (None, Some(_)) => "no credits reported".to_owned(),
        _ => "no baseline yet".to_owned(),
    };
    let flags = flags
        .iter()
        .filter(|f| **f != RiskFlag::NoBaseline)
        .map(|f| f.describe())
        .collect::<Vec<_>>();
    let flags = if flags.is_empty() {
        "no risk flags".to_owned()
    } else {
        flags.join(", ")
    };
    format!("{severity}: {cost}; {flags}; misconfiguration likelihood {likelihood:?}")
}

fn actions(severity: Severity, flags: &[RiskFlag], failed_action: Option<&str>) -> Vec<String> {
    let mut actions = Vec::new();
    match severity {
        Severity::Sev0 | Severity::Sev1 => {
            actions.push("Pause the scenario and inspect this run before it runs again".to_owned())
        }
        Severity::Sev2 => actions.push("Compare this run's inputs with a typical run".to_owned()),
        Severity::Sev3 | Severity::Sev4 => {}
    }
    for flag in flags {
        actions.push(match flag {
            RiskFlag::RetryLoop => "Cap retries and add a circuit breaker".to_owned(),
            RiskFlag::MissingIdempotency => {
                "Send an idempotency key with the scenario's writes".to_owned()
            }
            RiskFlag::BackfillMode => "Confirm the backfill is intended and bounded".to_owned(),
            RiskFlag::Failed => match failed_action {
                Some(name) => format!("Inspect the failed action \"{name}\""),
                None => "Inspect the failed run's error".to_owned(),
            },
            RiskFlag::Slow => "Check the slowest step and upstream latency".to_owned(),
            RiskFlag::NoBaseline => {
                "Set a baseline for the scenario, or let the weekly update learn one".to_owned()
            }
        });
    }
    if actions.is_empty() {
        actions.push("No action needed".to_owned());
    }
    actions
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(credits: f64) -> RunFacts<'static> {
        RunFacts {
            credits_total: Some(credits),
            has_idempotency_key: Some(true),
            ..RunFacts::default()
        }
    }

    fn with_baseline(expected: f64) -> ScenarioProfile {
        ScenarioProfile {
            expected_credits: Some(expected),
            ..ScenarioProfile::default()
        }
    }

    #[test]
    fn severity_at_below_and_above_every_edge() {
        let t = VarianceThresholds::default();
        let table = [
            (1000.0, Severity::Sev0),
            (1001.0, Severity::Sev0),
            (999.0, Severity::Sev1),
            (500.0, Severity::Sev1),
            (499.0, Severity::Sev2),
            (200.0, Severity::Sev2),
            (199.0, Severity::Sev3),
            (150.0, Severity::Sev3),
            (149.0, Severity::Sev4),
            (100.0, Severity::Sev4),
            (0.0, Severity::Sev4),
        ];
        for (credits, expected) in table {
            let c = classify(&run(credits), &with_baseline(100.0), &t);
            assert_eq!(c.severity, expected, "{credits} credits");
            assert_eq!(c.variance, Some(credits / 100.0));
        }
    }

    #[test]
    fn decimal_credits_on_an_edge_reach_it() {
        let c = classify(
            &run(0.3),
            &with_baseline(0.2),
            &VarianceThresholds::default(),
        );
        assert_eq!(c.severity, Severity::Sev3);
    }

    #[test]
    fn tenant_thresholds_apply() {
        let t = VarianceThresholds {
            sev0: 4.0,
            sev1: 3.0,
            sev2: 1.2,
            sev3: 1.1,
        };
        let c = classify(&run(130.0), &with_baseline(100.0), &t);
        assert_eq!(c.severity, Severity::Sev2);
    }

    #[test]
    fn thresholds_must_decrease() {
        let bad = VarianceThresholds {
            sev0: 2.0,
            sev1: 5.0,
            ..VarianceThresholds::default()
        };
        assert!(bad.validate().is_err());
        assert!(VarianceThresholds::default().validate().is_ok());
    }

    #[test]
    fn without_a_baseline_a_run_is_sev4_with_no_baseline() {
        let c = classify(
            &run(1_000_000.0),
            &ScenarioProfile::default(),
            &VarianceThresholds::default(),
        );
        assert_eq!(c.severity, Severity::Sev4);
        assert_eq!(c.variance, None);
        assert_eq!(c.risk_flags, vec![RiskFlag::NoBaseline]);
        assert!(c.risk_summary.contains("no baseline"), "{}", c.risk_summary);
    }

    #[test]
    fn a_zero_baseline_counts_as_none() {
        let c = classify(
            &run(5.0),
            &with_baseline(0.0),
            &VarianceThresholds::default(),
        );
        assert_eq!(c.severity, Severity::Sev4);
        assert!(c.risk_flags.contains(&RiskFlag::NoBaseline));
    }

    #[test]
    fn retry_loop_from_retries_or_credits_over_p99() {
        let t = VarianceThresholds::default();
        let mut facts = run(100.0);
        facts.retry_count = 2;
        assert!(
            !classify(&facts, &with_baseline(100.0), &t)
                .risk_flags
                .contains(&RiskFlag::RetryLoop)
        );
        facts.retry_count = 3;
        assert!(
            classify(&facts, &with_baseline(100.0), &t)
                .risk_flags
                .contains(&RiskFlag::RetryLoop)
        );
        let profile = ScenarioProfile {
            credits_p99: Some(120.0),
            ..with_baseline(100.0)
        };
        assert!(
            !classify(&run(120.0), &profile, &t)
                .risk_flags
                .contains(&RiskFlag::RetryLoop)
        );
        assert!(
            classify(&run(121.0), &profile, &t)
                .risk_flags
                .contains(&RiskFlag::RetryLoop)
        );
    }

    #[test]
    fn missing_idempotency_only_on_scenarios_that_write() {
        let t = VarianceThresholds::default();
        let mut facts = run(100.0);
        facts.has_idempotency_key = Some(false);
        assert!(
            classify(&facts, &with_baseline(100.0), &t)
                .risk_flags
                .contains(&RiskFlag::MissingIdempotency)
        );
        let read_only = ScenarioProfile {
            writes: false,
            ..with_baseline(100.0)
        };
        assert!(
            !classify(&facts, &read_only, &t)
                .risk_flags
                .contains(&RiskFlag::MissingIdempotency)
        );
        facts.has_idempotency_key = None;
        assert!(
            !classify(&facts, &with_baseline(100.0), &t)
                .risk_flags
                .contains(&RiskFlag::MissingIdempotency)
        );
    }

    #[test]
    fn backfill_lowers_the_likelihood() {
        let t = VarianceThresholds::default();
        let mut facts = run(1200.0);
        facts.retry_count = 4;
        let plain = classify(&facts, &with_baseline(100.0), &t);
        assert_eq!(plain.misconfig_likelihood, Likelihood::High);
        facts.job_type = Some("nightly_backfill");
        let backfill = classify(&facts, &with_baseline(100.0), &t);
        assert!(backfill.risk_flags.contains(&RiskFlag::BackfillMode));
        assert_eq!(backfill.severity, Severity::Sev0);
        assert_eq!(backfill.misconfig_likelihood, Likelihood::Medium);
    }

    #[test]
    fn failed_and_slow_runs_are_flagged() {
        let t = VarianceThresholds::default();
        let profile = ScenarioProfile {
            median_execution_ms: Some(1000.0),
            ..with_baseline(100.0)
        };
        let mut facts = run(100.0);
        facts.status = RunStatus::Failed;
        facts.execution_time_ms = Some(2999);
        facts.failed_action_name = Some("Create invoice");
        let c = classify(&facts, &profile, &t);
        assert_eq!(c.risk_flags, vec![RiskFlag::Failed]);
        assert!(
            c.recommended_actions
                .iter()
                .any(|a| a.contains("Create invoice"))
        );
        facts.execution_time_ms = Some(3000);
        let c = classify(&facts, &profile, &t);
        assert_eq!(c.risk_flags, vec![RiskFlag::Failed, RiskFlag::Slow]);
        assert_eq!(c.misconfig_likelihood, Likelihood::Medium);
    }

    #[test]
    fn a_healthy_run_needs_nothing() {
        let c = classify(
            &run(100.0),
            &with_baseline(100.0),
            &VarianceThresholds::default(),
        );
        assert_eq!(c.severity, Severity::Sev4);
        assert!(c.risk_flags.is_empty());
        assert_eq!(c.misconfig_likelihood, Likelihood::Low);
        assert_eq!(c.recommended_actions, vec!["No action needed".to_owned()]);
        assert_eq!(
            c.risk_summary,
            "SEV4: 1.00× the baseline of 100 credits; no risk flags; misconfiguration likelihood Low"
        );
    }
}
