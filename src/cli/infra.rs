//! `vigil infra bootstrap`: create the AWS resources on an endpoint, idempotently.

use clap::Subcommand;
use vigil_runtime::Config;

#[derive(Debug, Subcommand)]
pub enum InfraCommand {
    /// Create the table, queues and dead-letter queues, event bus and schedule group (idempotent).
    Bootstrap,
}

pub async fn run(config: &Config, command: InfraCommand) -> anyhow::Result<()> {
    match command {
        InfraCommand::Bootstrap => {
            let sdk = vigil_aws::load_sdk_config(true).await;
            let resources = vigil_aws::bootstrap(
                &sdk,
                &config.resource_names,
                &vigil_runtime::bus_routes(),
                &config.scheduler_role_arn,
            )
            .await?;
            println!(
                "AWS resources ready (prefix {}):",
                config.resource_names.prefix
            );
            println!("  table:          {}", resources.table);
            println!("  outbox queue:   {}", resources.outbox_queue_url);
            println!("  workflow queue: {}", resources.workflow_queue_url);
            println!("  event bus:      {}", resources.event_bus);
            println!("  schedule group: {}", resources.schedule_group);
            Ok(())
        }
    }
}
