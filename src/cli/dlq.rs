//! `vigil dlq …`: dead letters — outbox messages the queue gave up on and notifications with a
//! channel that gave up — listed and queued again, for one tenant or all of them.

use std::sync::Arc;

use clap::Subcommand;
use vigil_core::delivery::dead_letters::{DeadLetter, DeadLetterKind, Selection};
use vigil_core::tenancy::audit::Actor;
use vigil_runtime::App;

#[derive(Debug, Subcommand)]
pub enum DlqCommand {
    /// List dead letters (of one tenant with --tenant, else of every tenant).
    List {
        #[arg(long)]
        tenant: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Queue dead letters again: `--id ID` (repeat for several) or `--all`.
    Requeue {
        #[arg(long)]
        tenant: Option<String>,
        /// A dead letter's id, as `vigil dlq list` shows it.
        #[arg(long = "id", value_name = "ID", required_unless_present = "all")]
        ids: Vec<String>,
        /// Every dead letter in scope.
        #[arg(long, conflicts_with = "ids")]
        all: bool,
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(app: Arc<App>, command: DlqCommand) -> anyhow::Result<()> {
    match command {
        DlqCommand::List { tenant, json } => {
            let letters = app.dead_letters().list(tenant.as_deref()).await?;
            if json {
                return super::print_json(&letters);
            }
            if letters.is_empty() {
                println!("No dead letters.");
            }
            for letter in &letters {
                println!("{}", describe(letter));
            }
            Ok(())
        }
        DlqCommand::Requeue {
            tenant,
            ids,
            all,
            json,
        } => {
            let selection = if all {
                Selection::All
            } else {
                Selection::Ids(ids)
            };
            let requeued = app
                .dead_letters()
                .requeue(tenant.as_deref(), &selection, &Actor::Cli)
                .await?;
            if json {
                return super::print_json(&serde_json::json!({ "requeued": requeued }));
            }
            println!("Requeued {} dead letter(s)", requeued.len());
            for id in requeued {
                println!("  {id}");
            }
            Ok(())
        }
    }
}

fn describe(letter: &DeadLetter) -> String {
    let what = match letter.kind {
        DeadLetterKind::Message => format!(
            "message, received {} time(s)",
            letter.receive_count.unwrap_or_default()
        ),
        DeadLetterKind::Delivery => format!(
            "delivery to {}: {}",
            letter.channels.join(", "),
            letter.last_error.as_deref().unwrap_or("no error recorded")
        ),
    };
    format!(
        "{}\t{}\t{}\t{what}",
        letter.id, letter.tenant_id, letter.notification_id
    )
}
