//! `vigil channel …` and `vigil dispatch --once`: operators' hands on alert delivery.

use std::sync::Arc;
use std::time::Duration;

use clap::{Subcommand, ValueEnum};
use vigil_core::delivery::channels::{ChannelKind, ChannelView, NewChannel};
use vigil_core::ports::Queue;
use vigil_core::tenancy::audit::Actor;
use vigil_runtime::App;

#[derive(Debug, Subcommand)]
pub enum ChannelCommand {
    /// Add a channel: `vigil channel add slack --tenant T --name sev0 --url https://hooks.slack.com/…`.
    Add {
        kind: KindArg,
        #[arg(long)]
        tenant: String,
        /// The name routes use (`sev0`, `sev1` and `default` are the default routes' names).
        #[arg(long, default_value = "default")]
        name: String,
        /// Slack and webhook channels.
        #[arg(long)]
        url: Option<String>,
        /// Webhook channels: signing secret (`whsec_…`); a new one is made when omitted.
        #[arg(long)]
        secret: Option<String>,
        /// Email channels: a recipient (repeat for several).
        #[arg(long)]
        to: Vec<String>,
        #[arg(long)]
        json: bool,
    },
    /// List a tenant's channels.
    List {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum KindArg {
    Slack,
    Webhook,
    Email,
}

pub async fn run_channel(app: Arc<App>, command: ChannelCommand) -> anyhow::Result<()> {
    match command {
        ChannelCommand::Add {
            kind,
            tenant,
            name,
            url,
            secret,
            to,
            json,
        } => {
            let kind = match kind {
                KindArg::Slack => ChannelKind::Slack,
                KindArg::Webhook => ChannelKind::Webhook,
                KindArg::Email => ChannelKind::Email,
            };
            let (new, generated) = NewChannel {
                name,
                kind,
                url,
                secret,
                to: (!to.is_empty()).then_some(to),
                enabled: true,
            }
            .with_signing_secret();
            let channel = app.channels().create(&tenant, new, &Actor::Cli).await?;
            let view = ChannelView::from(&channel);
            if json {
                let mut value = serde_json::to_value(&view)?;
                if let (Some(secret), Some(object)) = (&generated, value.as_object_mut()) {
                    object.insert("secret".into(), secret.clone().into());
                }
                return super::print_json(&value);
            }
            println!("Added channel {} ({})", view.name, view.id);
            if let Some(secret) = generated {
                println!("  signing secret (shown once): {secret}");
            }
            Ok(())
        }
        ChannelCommand::List { tenant, json } => {
            let views: Vec<ChannelView> = app
                .channels()
                .list(&tenant)
                .await?
                .iter()
                .map(ChannelView::from)
                .collect();
            if json {
                return super::print_json(&views);
            }
            for view in views {
                let target = view
                    .url_hint
                    .clone()
                    .or_else(|| view.to.as_ref().map(|to| to.join(", ")))
                    .unwrap_or_default();
                let state = if view.enabled { "" } else { " (disabled)" };
                println!(
                    "{}\t{:?}\t{}\t{target}{state}",
                    view.id, view.kind, view.name
                );
            }
            Ok(())
        }
    }
}

/// What one drain of the outbox did.
#[derive(Debug, Default, serde::Serialize)]
pub struct Drained {
    pub messages: usize,
    pub sent: usize,
    pub retrying: usize,
    pub dead_lettered: usize,
    pub failed_messages: usize,
}

/// Handles every outbox message visible now, once; retries scheduled for later stay queued.
pub async fn dispatch_once(app: Arc<App>, json: bool) -> anyhow::Result<()> {
    let queue: &Arc<dyn Queue> = &app.ports.outbox;
    let mut drained = Drained::default();
    loop {
        let messages = queue
            .receive(10, Duration::from_secs(60), Duration::ZERO)
            .await?;
        if messages.is_empty() {
            break;
        }
        for message in messages {
            drained.messages += 1;
            match app.dispatcher().handle(&message.body).await {
                Ok(report) => {
                    drained.sent += report.sent.len();
                    drained.retrying += report.retrying.len();
                    drained.dead_lettered += report.dead_lettered.len();
                    queue.delete(&message.receipt).await?;
                }
                Err(error) => {
                    // Left on the queue: it comes back after its visibility timeout.
                    drained.failed_messages += 1;
                    eprintln!("message {}: {error}", message.message_id);
                }
            }
        }
    }
    if json {
        return super::print_json(&drained);
    }
    println!(
        "Handled {} message(s): {} sent, {} retrying, {} dead-lettered, {} failed",
        drained.messages,
        drained.sent,
        drained.retrying,
        drained.dead_lettered,
        drained.failed_messages
    );
    Ok(())
}
