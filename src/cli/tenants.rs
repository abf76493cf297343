//! `vigil tenant create|list|rotate`.

use std::sync::Arc;

use clap::Subcommand;
use vigil_core::tenancy::audit::Actor;
use vigil_core::tenancy::tenants::{Credential, DEFAULT_OVERLAP_MINUTES, RotationRequest};
use vigil_runtime::App;

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
    /// Replace a tenant's ingest token and/or webhook secret; prints the new values once. The
    /// replaced ones keep working for the overlap, then are refused.
    Rotate {
        #[arg(long)]
        tenant: String,
        /// ingest_token or webhook_secret; repeat for both.
        #[arg(long = "credential", required = true)]
        credentials: Vec<Credential>,
        /// Minutes the replaced credentials keep working (0–10080).
        #[arg(long, default_value_t = DEFAULT_OVERLAP_MINUTES)]
        overlap_minutes: u32,
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
        } => create(&app, &name, stripe_secret.as_deref(), json).await,
        TenantCommand::Rotate {
            tenant,
            credentials,
            overlap_minutes,
            json,
        } => {
            let request = RotationRequest {
                credentials,
                overlap_minutes,
            };
            rotate(&app, &tenant, &request, json).await
        }
        TenantCommand::List { json } => list(&app, json).await,
    }
}

async fn create(
    app: &App,
    name: &str,
    stripe_secret: Option<&str>,
    json: bool,
) -> anyhow::Result<()> {
    let created = app
        .tenants()
        .create(name, stripe_secret, &Actor::Cli)
        .await?;
    if json {
        return super::print_json(&created);
    }
    println!("Created tenant {} ({})", created.name, created.tenant_id);
    println!("These secrets are shown once; store them now.");
    println!("  admin API key:  {}", created.api_key.expose());
    println!("  ingest token:   {}", created.ingest_token.expose());
    println!(
        "  webhook secret: {}  (signs hooks you send)",
        created.webhook_secret.expose()
    );
    println!(
        "  outbound secret: {}  (verifies requests workflows send)",
        created.outbound_secret.expose()
    );
    Ok(())
}

async fn rotate(
    app: &App,
    tenant: &str,
    request: &RotationRequest,
    json: bool,
) -> anyhow::Result<()> {
    let rotated = app.tenants().rotate(tenant, request, &Actor::Cli).await?;
    if json {
        return super::print_json(&rotated);
    }
    println!("Rotated credentials of tenant {tenant}; the new values are shown once.");
    if let Some(token) = &rotated.ingest_token {
        println!("  ingest token:   {}", token.expose());
    }
    if let Some(secret) = &rotated.webhook_secret {
        println!("  webhook secret: {}", secret.expose());
    }
    println!(
        "The replaced ones work until {}.",
        rotated.previous_valid_until.to_rfc3339()
    );
    Ok(())
}

async fn list(app: &App, json: bool) -> anyhow::Result<()> {
    let mut all = Vec::new();
    let mut cursor = None;
    loop {
        let (tenants, next) = app.tenants().list(200, cursor).await?;
        all.extend(tenants);
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
