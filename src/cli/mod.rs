//! Command-line interface: global options, subcommands, and their output (text or `--json`).

mod backup;
mod delivery;
mod demo;
mod dlq;
mod infra;
mod keys;
mod runs;
mod tenants;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use clap::{Parser, Subcommand, ValueEnum};
use vigil_runtime::{App, Backend, Config, StoreKind};

#[derive(Debug, Parser)]
#[command(
    name = "vigil",
    version,
    about = "Vigil: the control plane behind your automations and revenue"
)]
pub struct Cli {
    /// Where the embedded store keeps its data.
    #[arg(long, global = true, env = "VIGIL_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,

    /// Which backend to use: the embedded SQLite store, or AWS (honours AWS_ENDPOINT_URL).
    #[arg(long, global = true, env = "VIGIL_STORE", value_enum)]
    pub store: Option<StoreArg>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum StoreArg {
    Sqlite,
    Aws,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run every HTTP route, queue consumer and scheduled flow in one process.
    Serve {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8080", env = "VIGIL_ADDR")]
        addr: SocketAddr,
        /// Which scheduled flows run in this process: `all`, `none`, or a comma-separated list
        /// (rules_tick, summary_tick, weekly_review, baseline_update, outbox_sweep,
        /// workflow_tick, approval_expiry).
        #[arg(
            long,
            default_value = "all",
            env = "VIGIL_SERVE_FLOWS",
            value_name = "FLOWS",
            value_parser = crate::serve::ScheduledFlows::parse
        )]
        flows: crate::serve::ScheduledFlows,
    },
    /// Copy the embedded store's data directory to one file, consistent while `vigil serve` runs.
    Backup(backup::BackupArgs),
    /// Put a backup in place as a data directory (`--data-dir` names it); stop `vigil serve` first.
    Restore(backup::RestoreArgs),
    /// Create and list tenants.
    #[command(subcommand)]
    Tenant(tenants::TenantCommand),
    /// Create API keys.
    #[command(subcommand)]
    Key(keys::KeyCommand),
    /// Add and list delivery channels (Slack, signed webhook, email).
    #[command(subcommand)]
    Channel(delivery::ChannelCommand),
    /// Dead letters: list what delivery gave up on, and queue it again.
    #[command(subcommand)]
    Dlq(dlq::DlqCommand),
    /// Deliver what the outbox holds now, once, and exit.
    Dispatch {
        /// Required: drain once (a standing dispatcher runs inside `vigil serve`).
        #[arg(long, required = true)]
        once: bool,
        #[arg(long)]
        json: bool,
    },
    /// Build and send the daily ops summary now, as the schedule does.
    #[command(subcommand)]
    Summary(SummaryCommand),
    /// Demo data for trying Vigil.
    #[command(subcommand)]
    Demo(DemoCommand),
    /// Run the revenue rules now, as the 5-minute schedule does.
    #[command(subcommand)]
    Rules(RulesCommand),
    /// Automation runs: log one from the shell.
    #[command(subcommand)]
    Runs(runs::RunsCommand),
    /// Classify a run from a JSON fixture without storing anything.
    Classify {
        /// The run as posted to `/hooks/{tenant}/runs`; may add `baseline` (expected credits),
        /// `credits_p99`, `median_execution_ms` and `writes`.
        #[arg(long)]
        fixture: PathBuf,
        /// Use this tenant's stored scenario baseline and severity thresholds.
        #[arg(long, env = "VIGIL_TENANT")]
        tenant: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Set every scenario's baseline from its last 30 days, as the Sunday schedule does.
    UpdateBaselines {
        #[arg(long)]
        json: bool,
    },
    /// Build and send every tenant's weekly review, as the Monday schedule does.
    WeeklyReview {
        /// The Monday the reviewed week starts (default: the last full week, UTC).
        #[arg(long)]
        week_start: Option<chrono::NaiveDate>,
        #[arg(long)]
        json: bool,
    },
    /// Health scans.
    #[command(subcommand)]
    Scans(ScansCommand),
    /// Create the AWS resources on an endpoint (for `--store aws` against an emulator or account).
    #[command(subcommand)]
    Infra(infra::InfraCommand),
}

#[derive(Debug, Subcommand)]
pub enum ScansCommand {
    /// Run every scan schedule that is due now, as the summary tick does.
    RunDue {
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum RulesCommand {
    /// Evaluate every tenant's due rule windows once.
    Run {
        /// Evaluate as of this time (RFC 3339) instead of now.
        #[arg(long)]
        now: Option<chrono::DateTime<chrono::Utc>>,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum SummaryCommand {
    /// Every tenant's summary of one UTC day (sent once per tenant and day).
    Daily {
        /// The day to summarise (default: yesterday, UTC).
        #[arg(long)]
        date: Option<chrono::NaiveDate>,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum DemoCommand {
    /// Opens deterministic demo anomalies for a tenant (tagged `demo`, filtered by `demo_only=true`).
    Seed {
        #[arg(long)]
        tenant: String,
    },
}

/// The configuration from the environment, with command-line options on top.
fn config(cli: &Cli) -> anyhow::Result<Config> {
    let mut config = Config::from_env().context("configuration")?;
    if let Some(dir) = &cli.data_dir {
        config.data_dir = dir.clone();
    }
    if let Some(store) = cli.store {
        config.store = match store {
            StoreArg::Sqlite => StoreKind::Sqlite,
            StoreArg::Aws => StoreKind::Aws,
        };
    }
    Ok(config)
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let config = config(&cli)?;
    // Logs go to stderr, filtered by VIGIL_LOG; a command's own output stays on stdout.
    vigil_runtime::init_tracing(&config);
    match cli.command {
        Command::Serve { addr, flows } => crate::serve::run(&config, addr, flows).await,
        Command::Infra(command) => infra::run(&config, command).await,
        Command::Backup(args) => {
            embedded_only(&config)?;
            backup::back_up(&config.data_dir, &args)
        }
        Command::Restore(args) => {
            embedded_only(&config)?;
            // The directory a restore replaces is never a default the operator did not name.
            let data_dir = cli
                .data_dir
                .as_deref()
                .context("restore needs --data-dir DIR (or VIGIL_DATA_DIR)")?;
            backup::restore(data_dir, &args)
        }
        Command::Tenant(command) => with_app(&config, |app| tenants::run(app, command)).await,
        Command::Key(command) => with_app(&config, |app| keys::run(app, command)).await,
        Command::Channel(command) => {
            with_app(&config, |app| delivery::run_channel(app, command)).await
        }
        Command::Summary(SummaryCommand::Daily { date, json }) => {
            with_app(&config, |app| daily_summaries(app, date, json)).await
        }
        Command::Demo(DemoCommand::Seed { tenant }) => {
            with_app(&config, |app| async move {
                let opened = demo::seed(&app, &tenant).await?;
                println!(
                    "Seeded {opened} demo anomalies for {tenant} (list them with demo_only=true)"
                );
                Ok(())
            })
            .await
        }
        Command::Rules(RulesCommand::Run { now, json }) => {
            with_app(&config, |app| run_rules(app, now, json)).await
        }
        Command::Runs(runs::RunsCommand::Log(args)) => {
            with_app(&config, |app| runs::log(app, args)).await
        }
        Command::Classify {
            fixture,
            tenant,
            json,
        } => {
            with_app(&config, |app| {
                runs::classify_fixture(app, tenant, fixture, json)
            })
            .await
        }
        Command::WeeklyReview { week_start, json } => {
            with_app(&config, |app| runs::weekly_review(app, week_start, json)).await
        }
        Command::Scans(ScansCommand::RunDue { json }) => {
            with_app(&config, |app| runs::run_due_scans(app, json)).await
        }
        Command::UpdateBaselines { json } => {
            with_app(&config, |app| runs::update_baselines(app, json)).await
        }
        Command::Dlq(command) => with_app(&config, |app| dlq::run(app, command)).await,
        Command::Dispatch { once: _, json } => {
            with_app(&config, |app| delivery::dispatch_once(app, json)).await
        }
    }
}

/// Refuses a command that works on the embedded store's files when the backend is AWS.
fn embedded_only(config: &Config) -> anyhow::Result<()> {
    match config.store {
        StoreKind::Sqlite => Ok(()),
        StoreKind::Aws => anyhow::bail!(
            "backup and restore copy the embedded store's data directory; on AWS use DynamoDB's backups"
        ),
    }
}

/// `vigil summary daily`: every tenant's daily summary of `date` (default: yesterday).
async fn daily_summaries(
    app: Arc<App>,
    date: Option<chrono::NaiveDate>,
    json: bool,
) -> anyhow::Result<()> {
    let date = date.unwrap_or_else(|| (app.clock.now() - chrono::Duration::days(1)).date_naive());
    let mut reports = Vec::new();
    for tenant in app.tenants().all_ids().await? {
        reports.push(app.reports().daily_summary(&tenant, date).await?);
    }
    print_reports(&reports, json)
}

/// `vigil rules run`: every tenant's due rule windows as of `now` (default: the clock's now).
async fn run_rules(
    app: Arc<App>,
    now: Option<chrono::DateTime<chrono::Utc>>,
    json: bool,
) -> anyhow::Result<()> {
    let now = now.unwrap_or_else(|| app.clock.now());
    let services = vigil_rules::Services::new(&app);
    let tick = vigil_runtime::jobs::run_logged(
        vigil_runtime::deployment::Flow::RulesTick,
        vigil_rules::rules_tick(&services, now),
    )
    .await?;
    let report: vigil_core::rules::EvaluationReport = serde_json::from_value(tick.detail)?;
    let failed = tick.failed_tenants;
    if json {
        let mut answer = serde_json::to_value(&report)?;
        if let Some(fields) = answer.as_object_mut().filter(|_| !failed.is_empty()) {
            fields.insert("failed_tenants".into(), serde_json::to_value(&failed)?);
        }
        print_json(&answer)?;
    } else {
        println!(
            "Evaluated {} window(s); opened {} anomaly(ies); store reads {}, writes {}",
            report.windows_evaluated,
            report.anomalies_opened,
            report.store_reads,
            report.store_writes
        );
        for failure in &failed {
            eprintln!("{}: failed: {}", failure.tenant, failure.error);
        }
    }
    if failed.is_empty() {
        Ok(())
    } else {
        anyhow::bail!("the rule run failed for {} tenant(s)", failed.len())
    }
}

/// Runs a command against the configured backend, then flushes the backend.
async fn with_app<F, Fut>(config: &Config, command: F) -> anyhow::Result<()>
where
    F: FnOnce(Arc<App>) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    let backend = Backend::connect(config).await?;
    let app = vigil_runtime::build_app_reading(config, &backend, vigil_runtime::ssm_parameters)?;
    let result = command(app).await;
    backend.shutdown().await;
    result
}

/// Prints reports built by a command, and whether each was new, as text or JSON.
fn print_reports(
    reports: &[(vigil_core::reports::Report, bool)],
    json: bool,
) -> anyhow::Result<()> {
    if json {
        let all: Vec<_> = reports.iter().map(|(r, _)| r).collect();
        return print_json(&all);
    }
    for (report, created) in reports {
        let state = if *created { "sent" } else { "already sent" };
        println!(
            "{} ({state}): {}",
            report.tenant_id, report.rendered.overall
        );
        println!("  digest {}", report.digest);
    }
    Ok(())
}

/// Prints `value` as pretty JSON.
fn print_json<T: serde::Serialize>(value: &T) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}
