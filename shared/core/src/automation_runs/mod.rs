//! Automation-run monitoring: every run posted by Make, n8n, Zapier or GoHighLevel is stored once
//! by its `run_id`, classified against its scenario's baseline at ingest, and counted in the
//! scenario's hourly aggregates. Costly runs (SEV0–SEV2) open a `credit_spike` anomaly.
//!
//! Store cost per new run: one transaction holding the run (its own idempotency record) and the
//! add to its scenario's hour counters; reads: the tenant's run settings and the scenario (once
//! per request, for all the runs of a batch). A scenario's first run also puts the scenario.

pub mod alerts;
pub mod baselines;
pub mod classify;
pub mod days;
pub mod input;
pub mod metrics;
mod queries;
pub mod scans;
pub mod schedule;
pub mod stats;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

pub use alerts::RunSettings;
pub use classify::{
    Classification, Likelihood, RiskFlag, RunFacts, ScenarioProfile, VarianceThresholds,
};
pub use input::{RunInput, RunReport};
pub use queries::RunFilter;
pub use stats::{BaselineDecision, FailureTrend};

use crate::anomaly::{AnomalyService, Finding, anomaly_id};
use crate::cache::TtlCache;
use crate::delivery::outbox::OutboxService;
use crate::json::to_json;
use crate::ports::{Item, ItemStore, PutCondition, StoreError, WriteOp};
use crate::severity::Severity;
use crate::tenancy::audit::{self, Actor};
use crate::{Clock, Error, Result, table_keys};

#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    #[default]
    Success,
    Failed,
    Partial,
}

impl RunStatus {
    pub const ALL: [RunStatus; 3] = [RunStatus::Success, RunStatus::Failed, RunStatus::Partial];

    /// The word the API writes and reads (`failed`).
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Success => "success",
            RunStatus::Failed => "failed",
            RunStatus::Partial => "partial",
        }
    }

    /// Case-insensitive: platforms send `Success`, `SUCCESS` or `success`.
    pub fn parse(text: &str) -> Option<RunStatus> {
        match text.trim().to_ascii_lowercase().as_str() {
            "success" => Some(RunStatus::Success),
            "failed" => Some(RunStatus::Failed),
            "partial" => Some(RunStatus::Partial),
            _ => None,
        }
    }
}

#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Platform {
    Make,
    N8n,
    Zapier,
    Ghl,
    #[default]
    Other,
}

impl Platform {
    /// The platform's name as people know it.
    pub fn label(self) -> &'static str {
        match self {
            Platform::Make => "Make",
            Platform::N8n => "n8n",
            Platform::Zapier => "Zapier",
            Platform::Ghl => "GoHighLevel",
            Platform::Other => "Other",
        }
    }

    pub fn parse(text: &str) -> Option<Platform> {
        match text.trim().to_ascii_lowercase().as_str() {
            "make" => Some(Platform::Make),
            "n8n" => Some(Platform::N8n),
            "zapier" => Some(Platform::Zapier),
            "ghl" => Some(Platform::Ghl),
            "other" => Some(Platform::Other),
            _ => None,
        }
    }
}

/// A stored run: what was posted, and how Vigil classified it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Run {
    pub run_id: String,
    pub scenario_id: String,
    pub timestamp: DateTime<Utc>,
    pub received_at: DateTime<Utc>,
    #[serde(flatten)]
    pub report: RunReport,
    /// The scenario's expected credits when the run was classified.
    pub baseline_credits: Option<f64>,
    #[serde(flatten)]
    pub classification: Classification,
    /// The `credit_spike` anomaly this run opened (SEV0–SEV2).
    pub anomaly_id: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BaselineSource {
    /// Learned by the weekly baseline update.
    Auto,
    /// Set by a person; the weekly update leaves it alone.
    Manual,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Baseline {
    pub expected_credits: f64,
    pub sample_size: u32,
    pub coefficient_of_variation: Option<f64>,
    pub updated_at: DateTime<Utc>,
    pub source: BaselineSource,
}

/// Figures the baseline update learns from a scenario's recent runs, for risk flags.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ScenarioStats {
    pub credits_p99: Option<f64>,
    pub median_execution_ms: Option<f64>,
    pub runs: u32,
    pub computed_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Scenario {
    pub id: String,
    pub name: Option<String>,
    pub platform: Platform,
    pub first_seen_at: DateTime<Utc>,
    /// Whether its runs write to other systems (then a missing idempotency key is a risk).
    pub writes: bool,
    pub baseline: Option<Baseline>,
    pub stats: Option<ScenarioStats>,
}

impl Scenario {
    pub fn profile(&self) -> ScenarioProfile {
        ScenarioProfile {
            expected_credits: self.baseline.as_ref().map(|b| b.expected_credits),
            credits_p99: self.stats.as_ref().and_then(|s| s.credits_p99),
            median_execution_ms: self.stats.as_ref().and_then(|s| s.median_execution_ms),
            writes: self.writes,
        }
    }
}

/// What happened to one posted run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RunOutcome {
    pub run_id: String,
    /// Already stored: nothing was written, and the stored classification is returned.
    pub duplicate: bool,
    pub severity: Severity,
    pub variance: Option<f64>,
    pub risk_flags: Vec<RiskFlag>,
    pub anomaly_id: Option<String>,
    /// The `failure_threshold` anomaly of the scenario's window, when this failed run crossed
    /// (or found crossed) its alert limits.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alert_anomaly_id: Option<String>,
}

impl RunOutcome {
    fn of(run: &Run, duplicate: bool, alert_anomaly_id: Option<String>) -> Self {
        RunOutcome {
            run_id: run.run_id.clone(),
            duplicate,
            severity: run.classification.severity,
            variance: run.classification.variance,
            risk_flags: run.classification.risk_flags.clone(),
            anomaly_id: run.anomaly_id.clone(),
            alert_anomaly_id,
        }
    }
}

/// The rule name of anomalies opened by costly runs.
pub const CREDIT_SPIKE_RULE: &str = "credit_spike";
/// Runs in one posted batch, at most.
pub const MAX_BATCH: usize = 100;

/// Credits are decimals; hour counters are integers, so they hold thousandths.
fn milli(credits: f64) -> i64 {
    (credits * 1000.0).round() as i64
}

fn milli_to_credits(milli: i64) -> f64 {
    milli as f64 / 1000.0
}

fn hour_of(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%dT%H").to_string()
}

fn run_sort(run: &Run) -> String {
    format!(
        "{}#{}",
        run.timestamp.to_rfc3339_opts(SecondsFormat::Millis, true),
        run.run_id
    )
}

fn time_sort(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn run_item(tenant: &str, run: &Run, expires_at: DateTime<Utc>) -> Result<Item> {
    let sort = run_sort(run);
    Ok(
        Item::new(table_keys::run(tenant, &run.run_id), to_json(run)?)
            .with_gsi1(table_keys::run_list(tenant, &sort))
            .with_gsi2(table_keys::scenario_run_list(
                tenant,
                &run.scenario_id,
                &sort,
            ))
            .with_expiry(expires_at.timestamp()),
    )
}

fn scenario_item(tenant: &str, scenario: &Scenario) -> Result<Item> {
    Ok(Item::new(
        table_keys::scenario(tenant, &scenario.id),
        to_json(scenario)?,
    ))
}

fn hour_deltas(run: &Run) -> BTreeMap<String, i64> {
    let mut deltas = BTreeMap::from([("runs".to_owned(), 1)]);
    let status = match run.report.status {
        RunStatus::Success => "succeeded",
        RunStatus::Failed => "failed",
        RunStatus::Partial => "partial",
    };
    deltas.insert(status.to_owned(), 1);
    if let Some(credits) = run.report.credits_total {
        deltas.insert("credits_milli".to_owned(), milli(credits));
    }
    if let Some(ms) = run.report.execution_time_ms {
        deltas.insert(
            "execution_ms".to_owned(),
            i64::try_from(ms).unwrap_or(i64::MAX),
        );
        deltas.insert("timed_runs".to_owned(), 1);
    }
    deltas
}

/// How long runs are kept.
pub const RUN_RETENTION_DAYS: i64 = 90;

pub struct RunService {
    store: Arc<dyn ItemStore>,
    anomalies: Arc<AnomalyService>,
    outbox: Arc<OutboxService>,
    clock: Arc<dyn Clock>,
    /// What every posted run needs, read once per time to live: run settings by tenant and
    /// scenarios by `tenant/scenario`.
    settings_cache: TtlCache<RunSettings>,
    scenario_cache: TtlCache<Scenario>,
}

/// Bound on cached scenarios and settings.
const MAX_CACHED: usize = 10_000;

fn scenario_cache_key(tenant: &str, id: &str) -> String {
    format!("{tenant}/{id}")
}

impl RunService {
    pub fn new(
        store: Arc<dyn ItemStore>,
        anomalies: Arc<AnomalyService>,
        outbox: Arc<OutboxService>,
        clock: Arc<dyn Clock>,
        cache_ttl: std::time::Duration,
    ) -> Self {
        Self {
            store,
            anomalies,
            outbox,
            settings_cache: TtlCache::new(clock.clone(), cache_ttl, MAX_CACHED),
            scenario_cache: TtlCache::new(clock.clone(), cache_ttl, MAX_CACHED),
            clock,
        }
    }

    /// The run settings, from the cache while fresh (for the ingest path).
    async fn cached_settings(&self, tenant: &str) -> Result<RunSettings> {
        if let Some(hit) = self.settings_cache.get(tenant) {
            return Ok(hit);
        }
        let settings = self.settings(tenant).await?;
        self.settings_cache.put(tenant, settings.clone());
        Ok(settings)
    }

    /// A scenario, from the cache while fresh (for the ingest path); a missing one is read
    /// again next time.
    async fn cached_scenario(&self, tenant: &str, id: &str) -> Result<Option<Scenario>> {
        let key = scenario_cache_key(tenant, id);
        if let Some(hit) = self.scenario_cache.get(&key) {
            return Ok(Some(hit));
        }
        let found = self.scenario(tenant, id).await?;
        if let Some(scenario) = &found {
            self.scenario_cache.put(key, scenario.clone());
        }
        Ok(found)
    }

    pub async fn settings(&self, tenant: &str) -> Result<RunSettings> {
        match self.store.get(&table_keys::run_settings(tenant)).await? {
            Some(item) => Ok(item.parse()?),
            None => Ok(RunSettings::default()),
        }
    }

    /// Stores and classifies runs posted together; each gets its own outcome. Runs of one
    /// scenario share one read of it.
    pub async fn record(&self, tenant: &str, runs: Vec<RunInput>) -> Result<Vec<RunOutcome>> {
        let settings = self.cached_settings(tenant).await?;
        let mut scenarios: HashMap<String, Option<Scenario>> = HashMap::new();
        for run in &runs {
            if !scenarios.contains_key(&run.scenario_id) {
                let found = match self.cached_scenario(tenant, &run.scenario_id).await? {
                    Some(known) => Some(known),
                    None => {
                        self.create_scenario(tenant, &run.scenario_id, &run.report)
                            .await?;
                        None
                    }
                };
                scenarios.insert(run.scenario_id.clone(), found);
            }
        }
        // A run id repeated within the batch is written once; its repeats report that outcome.
        let mut first_of: HashMap<String, usize> = HashMap::new();
        let mut unique = Vec::new();
        let mut repeats = Vec::new();
        for (position, run) in runs.into_iter().enumerate() {
            match first_of.get(&run.run_id) {
                Some(first) => repeats.push((position, *first)),
                None => {
                    first_of.insert(run.run_id.clone(), unique.len());
                    unique.push((position, run));
                }
            }
        }
        let scenarios = &scenarios;
        let settings = &settings;
        let written = futures_util::future::join_all(unique.into_iter().map(
            |(position, input)| async move {
                let known = scenarios.get(&input.scenario_id).cloned().flatten();
                (
                    position,
                    self.record_one(tenant, input, known, settings).await,
                )
            },
        ))
        .await;
        let mut outcomes: Vec<Option<RunOutcome>> = Vec::new();
        outcomes.resize_with(written.len() + repeats.len(), || None);
        let mut by_first = Vec::with_capacity(written.len());
        for (position, outcome) in written {
            let outcome = outcome?;
            by_first.push(outcome.clone());
            outcomes[position] = Some(outcome);
        }
        for (position, first) in repeats {
            let mut repeat = by_first[first].clone();
            repeat.duplicate = true;
            outcomes[position] = Some(repeat);
        }
        Ok(outcomes.into_iter().flatten().collect())
    }

    /// Creates a scenario on its first run; one created meanwhile by another request stands.
    async fn create_scenario(&self, tenant: &str, id: &str, first: &RunReport) -> Result<()> {
        let scenario = Scenario {
            id: id.to_owned(),
            name: first.scenario_name.clone(),
            platform: first.platform,
            first_seen_at: self.clock.now(),
            writes: true,
            baseline: None,
            stats: None,
        };
        match self
            .store
            .put(scenario_item(tenant, &scenario)?, PutCondition::Absent)
            .await
        {
            Ok(_) | Err(StoreError::AlreadyExists) => Ok(()),
            Err(other) => Err(other.into()),
        }
    }

    async fn record_one(
        &self,
        tenant: &str,
        input: RunInput,
        known: Option<Scenario>,
        settings: &RunSettings,
    ) -> Result<RunOutcome> {
        let now = self.clock.now();
        let timestamp = input.timestamp.unwrap_or(now);
        let profile = known.as_ref().map(Scenario::profile).unwrap_or_default();
        let classification = classify::classify(
            &input.report.facts(),
            &profile,
            &settings.severity_thresholds,
        );
        let spike = classification.severity.at_least(Severity::Sev2);
        let run = Run {
            anomaly_id: spike.then(|| {
                anomaly_id(
                    tenant,
                    CREDIT_SPIKE_RULE,
                    &input.scenario_id,
                    timestamp,
                    Some(&input.run_id),
                )
            }),
            baseline_credits: profile.expected_credits,
            classification,
            run_id: input.run_id,
            scenario_id: input.scenario_id,
            timestamp,
            received_at: now,
            report: input.report,
        };
        let ops = vec![
            WriteOp::Put {
                item: run_item(tenant, &run, now + Duration::days(RUN_RETENTION_DAYS))?,
                condition: PutCondition::Absent,
            },
            WriteOp::Add {
                key: table_keys::scenario_hour(tenant, &run.scenario_id, &hour_of(timestamp)),
                deltas: hour_deltas(&run),
            },
        ];
        match self.store.transact(ops).await {
            Ok(()) => {}
            Err(StoreError::TransactionCancelled { index: 0, .. }) => {
                return self.duplicate(tenant, &run.run_id, settings).await;
            }
            Err(other) => return Err(other.into()),
        }
        if run.anomaly_id.is_some() {
            self.open_spike(tenant, &run).await?;
        }
        let alert = self.check_failure_alert(tenant, &run, settings).await?;
        Ok(RunOutcome::of(&run, false, alert))
    }

    /// A run posted again: its stored outcome. A missing anomaly or alert is opened now, so a
    /// first attempt that stored the run but failed before opening it heals on the sender's retry.
    async fn duplicate(
        &self,
        tenant: &str,
        run_id: &str,
        settings: &RunSettings,
    ) -> Result<RunOutcome> {
        let run = self.get(tenant, run_id).await?;
        if let Some(id) = &run.anomaly_id {
            match self.anomalies.get(tenant, id).await {
                Ok(_) => {}
                Err(Error::NotFound(_)) => self.open_spike(tenant, &run).await?,
                Err(other) => return Err(other),
            }
        }
        let alert = self.check_failure_alert(tenant, &run, settings).await?;
        Ok(RunOutcome::of(&run, true, alert))
    }

    async fn open_spike(&self, tenant: &str, run: &Run) -> Result<()> {
        let c = &run.classification;
        let name = run
            .report
            .scenario_name
            .as_deref()
            .unwrap_or(&run.scenario_id);
        let title = match c.variance {
            Some(v) => format!("Credit spike: {name} used {v:.1}× its baseline"),
            None => format!("Credit spike: {name}"),
        };
        let finding = Finding {
            rule: CREDIT_SPIKE_RULE.to_owned(),
            severity: c.severity,
            title,
            subject: run.scenario_id.clone(),
            occurrence: Some(run.run_id.clone()),
            window_start: run.timestamp,
            window_end: run.timestamp,
            evidence: serde_json::json!({
                "run_id": run.run_id,
                "credits_total": run.report.credits_total,
                "baseline_credits": run.baseline_credits,
                "variance": c.variance,
                "risk_flags": c.risk_flags,
                "misconfig_likelihood": c.misconfig_likelihood,
                "risk_summary": c.risk_summary,
            }),
            demo: false,
        };
        self.anomalies.open(tenant, finding).await.map(drop)
    }

    /// Sets a scenario's baseline by hand (audited). The weekly update leaves it alone after.
    pub async fn set_baseline(
        &self,
        tenant: &str,
        id: &str,
        expected_credits: f64,
        actor: &Actor,
    ) -> Result<Scenario> {
        if !expected_credits.is_finite() || expected_credits <= 0.0 {
            return Err(Error::invalid(
                "invalid_baseline",
                "expected_credits must be a positive number",
            ));
        }
        let now = self.clock.now();
        let (mut scenario, version) = self.get_scenario(tenant, id).await?;
        scenario.baseline = Some(Baseline {
            expected_credits,
            sample_size: 0,
            coefficient_of_variation: None,
            updated_at: now,
            source: BaselineSource::Manual,
        });
        self.save_scenario(
            tenant,
            &scenario,
            version,
            actor,
            "scenario.baseline.set",
            now,
        )
        .await?;
        Ok(scenario)
    }

    async fn save_scenario(
        &self,
        tenant: &str,
        scenario: &Scenario,
        version: u64,
        actor: &Actor,
        action: &str,
        at: DateTime<Utc>,
    ) -> Result<()> {
        let result = self
            .store
            .transact(vec![
                WriteOp::Put {
                    item: scenario_item(tenant, scenario)?,
                    condition: PutCondition::VersionEquals(version),
                },
                audit::record(tenant, actor, action, &scenario.id, at),
            ])
            .await;
        self.scenario_cache
            .invalidate(&scenario_cache_key(tenant, &scenario.id));
        match result {
            Ok(()) => Ok(()),
            Err(StoreError::TransactionCancelled { index: 0, .. }) => Err(Error::Conflict(
                "the scenario changed meanwhile; try again".into(),
            )),
            Err(other) => Err(other.into()),
        }
    }
}
