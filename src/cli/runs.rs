//! `vigil runs log`, `vigil classify`, `vigil update-baselines`: run monitoring from a shell,
//! on the same code and data as `vigil serve`.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use clap::{Args, Subcommand};
use vigil_core::automation_runs::classify::{self, Classification};
use vigil_core::automation_runs::{RunInput, ScenarioProfile};
use vigil_runtime::App;

use super::print_json;

#[derive(Debug, Subcommand)]
pub enum RunsCommand {
    /// Store one run and print its classification (as `POST /hooks/{tenant}/runs` does).
    Log(LogArgs),
}

#[derive(Debug, Args)]
pub struct LogArgs {
    #[arg(long, env = "VIGIL_TENANT")]
    pub tenant: String,
    #[arg(long)]
    pub run_id: String,
    #[arg(long)]
    pub scenario: String,
    #[arg(long)]
    pub credits: f64,
    #[arg(long)]
    pub scenario_name: Option<String>,
    #[arg(long)]
    pub job_type: Option<String>,
    /// success, failed or partial (any case).
    #[arg(long)]
    pub status: Option<String>,
    /// make, n8n, zapier, ghl or other.
    #[arg(long)]
    pub platform: Option<String>,
    #[arg(long)]
    pub retry_count: Option<u32>,
    #[arg(long)]
    pub execution_time_ms: Option<u64>,
    #[arg(long)]
    pub has_idempotency_key: Option<bool>,
    #[arg(long)]
    pub json: bool,
}

impl LogArgs {
    /// The run as its JSON form, so the CLI validates exactly as the hook does.
    fn as_json(&self) -> serde_json::Value {
        let mut run = serde_json::json!({
            "run_id": self.run_id,
            "scenario_id": self.scenario,
            "credits_total": self.credits,
        });
        let optional = [
            ("scenario_name", self.scenario_name.clone().map(Into::into)),
            ("job_type", self.job_type.clone().map(Into::into)),
            ("status", self.status.clone().map(Into::into)),
            ("platform", self.platform.clone().map(Into::into)),
            ("retry_count", self.retry_count.map(Into::into)),
            ("execution_time_ms", self.execution_time_ms.map(Into::into)),
            (
                "has_idempotency_key",
                self.has_idempotency_key.map(Into::into),
            ),
        ];
        for (field, value) in optional {
            if let (Some(value), Some(map)) = (value, run.as_object_mut()) {
                map.insert(field.to_owned(), value);
            }
        }
        run
    }
}

pub async fn log(app: Arc<App>, args: LogArgs) -> anyhow::Result<()> {
    app.tenants().get(&args.tenant).await?;
    let input = RunInput::from_json(args.as_json(), app.clock.now())?;
    let outcome = app
        .automation_runs()
        .record(&args.tenant, vec![input])
        .await?
        .pop()
        .context("no outcome for the run")?;
    if args.json {
        return print_json(&outcome);
    }
    let state = if outcome.duplicate {
        " (already logged)"
    } else {
        ""
    };
    println!("Severity: {}{state}", outcome.severity);
    match outcome.variance {
        Some(v) => println!("Variance: {v:.2}"),
        None => println!("Variance: n/a (no baseline)"),
    }
    match &outcome.anomaly_id {
        Some(id) => println!("Anomaly: {id}"),
        None => println!("Anomaly: none"),
    }
    Ok(())
}

/// A fixture for `vigil classify`: a run as posted, optionally with `baseline` (expected
/// credits) and the scenario's `credits_p99`, `median_execution_ms` and `writes`.
pub async fn classify_fixture(
    app: Arc<App>,
    tenant: Option<String>,
    fixture: PathBuf,
    json: bool,
) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(&fixture)
        .with_context(|| format!("reading {}", fixture.display()))?;
    let mut value: serde_json::Value = serde_json::from_str(&text)
        .with_context(|| format!("{} is not JSON", fixture.display()))?;
    let overrides = ProfileOverrides::take(&mut value);
    let input = RunInput::from_json(value, app.clock.now())?;
    let stored = match &tenant {
        Some(tenant) => {
            app.automation_runs()
                .scenario(tenant, &input.scenario_id)
                .await?
        }
        None => None,
    };
    let mut profile = stored.as_ref().map(|s| s.profile()).unwrap_or_default();
    let settings = match &tenant {
        Some(tenant) => app.automation_runs().settings(tenant).await?,
        None => Default::default(),
    };
    overrides.apply(&mut profile)?;
    let result = classify::classify(
        &input.report.facts(),
        &profile,
        &settings.severity_thresholds,
    );
    if json {
        return print_json(&serde_json::json!({
            "run_id": input.run_id,
            "scenario_id": input.scenario_id,
            "baseline": profile.expected_credits,
            "classification": result,
        }));
    }
    print_classification(&result, &profile);
    Ok(())
}

/// What a fixture says of its scenario, beside the run.
#[derive(Default)]
struct ProfileOverrides {
    baseline: Option<serde_json::Value>,
    credits_p99: Option<serde_json::Value>,
    median_execution_ms: Option<serde_json::Value>,
    writes: Option<serde_json::Value>,
}

impl ProfileOverrides {
    /// Takes the scenario's fields out of the fixture, leaving the run.
    fn take(fixture: &mut serde_json::Value) -> Self {
        let Some(map) = fixture.as_object_mut() else {
            return Self::default();
        };
        Self {
            baseline: map.remove("baseline"),
            credits_p99: map.remove("credits_p99"),
            median_execution_ms: map.remove("median_execution_ms"),
            writes: map.remove("writes"),
        }
    }

    fn apply(self, profile: &mut ScenarioProfile) -> anyhow::Result<()> {
        let number = |field: &str, v: Option<serde_json::Value>| -> anyhow::Result<Option<f64>> {
            match v {
                None | Some(serde_json::Value::Null) => Ok(None),
                Some(v) => v
                    .as_f64()
                    .map(Some)
                    .with_context(|| format!("{field} must be a number")),
            }
        };
        if let Some(b) = number("baseline", self.baseline)? {
            profile.expected_credits = Some(b);
        }
        if let Some(p) = number("credits_p99", self.credits_p99)? {
            profile.credits_p99 = Some(p);
        }
        if let Some(m) = number("median_execution_ms", self.median_execution_ms)? {
            profile.median_execution_ms = Some(m);
        }
        if let Some(w) = self.writes {
            profile.writes = w.as_bool().context("writes must be true or false")?;
        }
        Ok(())
    }
}

fn print_classification(result: &Classification, profile: &ScenarioProfile) {
    println!("Severity: {}", result.severity);
    match (result.variance, profile.expected_credits) {
        (Some(v), Some(b)) => println!("Variance: {v:.2} (baseline {b} credits)"),
        _ => println!("Variance: n/a (no baseline)"),
    }
    let flags: Vec<String> = result
        .risk_flags
        .iter()
        .map(|f| {
            serde_json::to_value(f)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default()
        })
        .collect();
    println!(
        "Risk flags: {}",
        if flags.is_empty() {
            "none".to_owned()
        } else {
            flags.join(", ")
        }
    );
    println!(
        "Misconfiguration likelihood: {:?}",
        result.misconfig_likelihood
    );
    println!("Summary: {}", result.risk_summary);
    println!("Recommended actions:");
    for action in &result.recommended_actions {
        println!("  - {action}");
    }
}

pub async fn update_baselines(app: Arc<App>, json: bool) -> anyhow::Result<()> {
    let outcome = vigil_summary::update_baselines(&vigil_summary::Services::new(&app)).await?;
    let reports = outcome.done;
    if json {
        let all: Vec<_> = reports
            .iter()
            .map(|(tenant, report)| serde_json::json!({"tenant_id": tenant, "report": report}))
            .chain(outcome.failed.iter().map(
                |failed| serde_json::json!({"tenant_id": failed.tenant, "error": failed.error}),
            ))
            .collect();
        print_json(&all)?;
        return failures(&outcome.failed);
    }
    for failed in &outcome.failed {
        eprintln!("{}: failed: {}", failed.tenant, failed.error);
    }
    for (tenant, report) in &reports {
        println!(
            "{tenant}: {} baseline(s) updated, {} unchanged",
            report.updated.len(),
            report.unchanged.len()
        );
        for change in &report.unchanged {
            if let vigil_core::automation_runs::BaselineDecision::Unchanged { reason } =
                &change.decision
            {
                println!("  {}: {reason}", change.scenario_id);
            }
        }
    }
    failures(&outcome.failed)
}

/// A non-zero exit when some tenant's part failed (each was printed).
fn failures(failed: &[vigil_runtime::jobs::TenantFailure]) -> anyhow::Result<()> {
    if failed.is_empty() {
        Ok(())
    } else {
        anyhow::bail!("{} tenant(s) failed", failed.len())
    }
}

/// `vigil weekly-review`: every tenant's review of the week from `week_start` (default: the
/// last full week).
pub async fn weekly_review(
    app: Arc<App>,
    week_start: Option<chrono::NaiveDate>,
    json: bool,
) -> anyhow::Result<()> {
    let week = week_start.unwrap_or_else(|| vigil_summary::previous_week(app.clock.now()));
    let mut reports = Vec::new();
    for tenant in app.tenants().all_ids().await? {
        reports.push(
            app.reports()
                .weekly_review(&tenant, week, app.automation_runs())
                .await?,
        );
    }
    super::print_reports(&reports, json)
}

/// `vigil scans run-due`: every scan schedule due now, as the summary tick does.
pub async fn run_due_scans(app: Arc<App>, json: bool) -> anyhow::Result<()> {
    let report = app.automation_runs().run_due_scans().await?;
    if json {
        return print_json(&report);
    }
    println!(
        "Ran {} due scan(s); {} scenario(s) scored below {}",
        report.scans.len(),
        report.anomalies_opened,
        vigil_core::automation_runs::scans::ALERT_BELOW
    );
    Ok(())
}
