//! `vigil tenant create|list`.

use std::sync::Arc;

use clap::Subcommand;
use vigil_core::App;
use vigil_core::tenancy::audit::Actor;
use vigil_core::tenancy::tenants::TenantView;

#[derive(Debug, Subcommand)]
pub enum TenantCommand {
    /// Create a tenant; prints its admin API key, ingest token and webhook secret once.
    Create {
        name: String,
        /// Stripe endpoint secret (whsec_...) for /hooks/{tenant}/stripe.
        #[arg(long)]
        stripe_secret: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// List tenants.
    List {
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(app: Arc<App>, command: TenantCommand) -> anyhow::Result<()> {
    match command {
        TenantCommand::Create {
            name,
            stripe_secret,
            json,
        } => {
            let created = app
                .tenants
                .create(&name, stripe_secret.as_deref(), &Actor::Cli)
                .await?;
            if json {
                return super::print_json(&created);
            }
            println!("Created tenant {} ({})", created.name, created.tenant_id);
            println!("These secrets are shown once; store them now.");
            println!("  admin API key:  {}", created.api_key);
            println!("  ingest token:   {}", created.ingest_token);
            println!(
                "  webhook secret: {}  (signs hooks you send)",
                created.webhook_secret
            );
            println!(
                "  outbound secret: {}  (verifies requests workflows send)",
                created.outbound_secret
            );
            Ok(())
        }
        TenantCommand::List { json } => {
            let mut all = Vec::new();
            let mut cursor = None;
            loop {
                let (tenants, next) = app.tenants.list(200, cursor).await?;
                all.extend(tenants.iter().map(TenantView::from));
                match next {
                    Some(next) => cursor = Some(next),
                    None => break,
                }
            }
            if json {
                return super::print_json(&all);
            }
            for tenant in &all {
                println!(
                    "{}\t{}\t{}",
                    tenant.id,
                    tenant.name,
                    tenant.created_at.to_rfc3339()
                );
            }
            Ok(())
        }
    }
}
