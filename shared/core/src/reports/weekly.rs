//! The weekly forensics review of automation runs: credits, the costliest scenarios, the
//! largest variances, anomalies by severity and failure rates over one week (Monday to Monday,
//! UTC). Facts are computed from the week's runs in their stored order, so the same data always
//! gives the same facts and the same digest.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::Rendered;
use crate::anomaly::Anomaly;
use crate::automation_runs::{Run, RunStatus};
use crate::severity::Severity;

/// Entries in each ranked list.
pub const TOP: usize = 10;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ScenarioWeek {
    pub scenario_id: String,
    pub name: Option<String>,
    pub runs: u64,
    pub failed: u64,
    pub failure_rate: f64,
    pub credits: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct VarianceEntry {
    pub run_id: String,
    pub scenario_id: String,
    pub variance: f64,
    pub credits_total: Option<f64>,
    pub baseline_credits: Option<f64>,
    pub severity: Severity,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct WeeklyFacts {
    pub total_runs: u64,
    pub failed_runs: u64,
    pub total_credits: f64,
    /// The ten scenarios that used the most credits.
    pub top_scenarios: Vec<ScenarioWeek>,
    /// The ten runs furthest above their baseline.
    pub largest_variances: Vec<VarianceEntry>,
    pub anomalies_by_severity: BTreeMap<String, i64>,
    /// Scenarios with failures, highest failure rate first (at most ten).
    pub failure_rates: Vec<ScenarioWeek>,
}

/// Credits are summed in thousandths, so the order of addition cannot change the total.
fn milli(credits: f64) -> i64 {
    (credits * 1000.0).round() as i64
}

/// One scenario's runs of the week, added up.
#[derive(Default)]
struct Tally {
    name: Option<String>,
    runs: u64,
    failed: u64,
    credits_milli: i64,
}

impl WeeklyFacts {
    pub fn from_runs(runs: &[Run], anomalies: &[Anomaly]) -> WeeklyFacts {
        let weeks = scenario_weeks(runs);
        let mut top_scenarios = weeks.clone();
        top_scenarios.sort_by(|a, b| {
            b.credits
                .total_cmp(&a.credits)
                .then_with(|| a.scenario_id.cmp(&b.scenario_id))
        });
        top_scenarios.truncate(TOP);
        let mut failure_rates: Vec<ScenarioWeek> =
            weeks.iter().filter(|w| w.failed > 0).cloned().collect();
        failure_rates.sort_by(|a, b| {
            b.failure_rate
                .total_cmp(&a.failure_rate)
                .then_with(|| b.failed.cmp(&a.failed))
                .then_with(|| a.scenario_id.cmp(&b.scenario_id))
        });
        failure_rates.truncate(TOP);
        let mut anomalies_by_severity = BTreeMap::new();
        for a in anomalies {
            *anomalies_by_severity
                .entry(a.severity.as_str().to_owned())
                .or_insert(0) += 1;
        }
        WeeklyFacts {
            total_runs: weeks.iter().map(|w| w.runs).sum(),
            failed_runs: weeks.iter().map(|w| w.failed).sum(),
            total_credits: weeks.iter().map(|w| milli(w.credits)).sum::<i64>() as f64 / 1000.0,
            top_scenarios,
            largest_variances: largest_variances(runs),
            anomalies_by_severity,
            failure_rates,
        }
    }
}

/// Each scenario's week, in scenario id order.
fn scenario_weeks(runs: &[Run]) -> Vec<ScenarioWeek> {
    let mut by_scenario: BTreeMap<&str, Tally> = BTreeMap::new();
    for run in runs {
        let tally = by_scenario.entry(run.scenario_id.as_str()).or_default();
        tally.runs += 1;
        tally.failed += u64::from(run.report.status == RunStatus::Failed);
        tally.credits_milli += run.report.credits_total.map_or(0, milli);
        if tally.name.is_none() {
            tally.name = run.report.scenario_name.clone();
        }
    }
    by_scenario
        .into_iter()
        .map(|(id, t)| ScenarioWeek {
            scenario_id: id.to_owned(),
            name: t.name,
            runs: t.runs,
            failed: t.failed,
            failure_rate: if t.runs == 0 {
                0.0
            } else {
                t.failed as f64 / t.runs as f64
            },
            credits: t.credits_milli as f64 / 1000.0,
        })
        .collect()
}

/// The runs furthest above their baseline, at most [`TOP`].
fn largest_variances(runs: &[Run]) -> Vec<VarianceEntry> {
    let mut variances: Vec<VarianceEntry> = runs
        .iter()
        .filter_map(|run| {
            let variance = run.classification.variance?;
            Some(VarianceEntry {
                run_id: run.run_id.clone(),
                scenario_id: run.scenario_id.clone(),
                variance,
                credits_total: run.report.credits_total,
                baseline_credits: run.baseline_credits,
                severity: run.classification.severity,
            })
        })
        .collect();
    variances.sort_by(|a, b| {
        b.variance
            .total_cmp(&a.variance)
            .then_with(|| a.run_id.cmp(&b.run_id))
    });
    variances.truncate(TOP);
    variances
}

/// The review in words, computed only from `facts`.
pub fn render(facts: &WeeklyFacts, week_start: NaiveDate) -> Rendered {
    let rate = if facts.total_runs == 0 {
        0.0
    } else {
        facts.failed_runs as f64 * 100.0 / facts.total_runs as f64
    };
    let overall = format!(
        "Week of {week_start}: {} runs used {:.1} credits; {} failed ({rate:.1}%).",
        facts.total_runs, facts.total_credits, facts.failed_runs
    );
    let mut highlights: Vec<String> = facts
        .top_scenarios
        .iter()
        .take(3)
        .map(|s| {
            format!(
                "{}: {:.1} credits over {} runs.",
                s.name.as_deref().unwrap_or(&s.scenario_id),
                s.credits,
                s.runs
            )
        })
        .collect();
    highlights.extend(super::daily::anomalies_line(&facts.anomalies_by_severity));
    let mut watch: Vec<String> = facts
        .largest_variances
        .iter()
        .filter(|v| v.severity.at_least(Severity::Sev2))
        .map(|v| {
            format!(
                "Run {} of {} used {:.1}× its baseline.",
                v.run_id, v.scenario_id, v.variance
            )
        })
        .collect();
    watch.extend(
        facts
            .failure_rates
            .iter()
            .filter(|s| s.failure_rate >= 0.2)
            .map(|s| {
                format!(
                    "{} failed {} of {} runs ({:.0}%).",
                    s.name.as_deref().unwrap_or(&s.scenario_id),
                    s.failed,
                    s.runs,
                    s.failure_rate * 100.0
                )
            }),
    );
    Rendered {
        overall,
        highlights,
        watch,
    }
}
