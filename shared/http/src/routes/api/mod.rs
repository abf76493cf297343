//! One module per resource of the admin API.

mod alert_settings;
mod anomalies;
mod audit;
mod channels;
mod clients;
mod dead_letters;
mod domain_events;
mod events;
mod follow_ups;
mod health;
mod inbox;
mod keys;
mod reports;
mod routing;
mod rules;
mod runs;
mod scans;
mod sources;
mod tenant;
mod workflow_runs;
mod workflows;

use crate::state::ApiState;
use utoipa_axum::router::OpenApiRouter;
use vigil_core::tenancy::audit::Actor;

pub fn router() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new()
        .merge(health::router())
        .merge(tenant::router())
        .merge(keys::router())
        .merge(audit::router())
        .merge(domain_events::router())
        .merge(events::router())
        .merge(dead_letters::router())
        .merge(channels::router())
        .merge(routing::router())
        .merge(inbox::router())
        .merge(sources::router())
        .merge(anomalies::router())
        .merge(rules::router())
        .merge(reports::router())
        .merge(runs::router())
        .merge(alert_settings::router())
        .merge(scans::router())
        .merge(workflows::router())
        .merge(workflow_runs::router())
        .merge(clients::router())
        .merge(follow_ups::router())
}

/// The audit actor of an API caller.
fn actor(caller: &vigil_core::tenancy::Principal) -> Actor {
    Actor::ApiKey {
        key_id: caller.key_id.clone(),
    }
}
