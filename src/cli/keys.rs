//! `vigil key create`.

use std::sync::Arc;

use clap::Subcommand;
use vigil_core::tenancy::Role;
use vigil_core::tenancy::audit::Actor;
use vigil_runtime::App;

#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Create an API key for a tenant; prints the key once.
    Create {
        #[arg(long)]
        tenant: String,
        /// admin, operator or viewer.
        #[arg(long)]
        role: Role,
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(app: Arc<App>, command: KeyCommand) -> anyhow::Result<()> {
    match command {
        KeyCommand::Create { tenant, role, json } => {
            let created = app.keys().create(&tenant, role, &Actor::Cli).await?;
            if json {
                return super::print_json(&created);
            }
            println!(
                "Created {} key {} for tenant {tenant}",
                role.as_str(),
                created.id
            );
            println!("  API key (shown once): {}", created.api_key.expose());
            Ok(())
        }
    }
}
