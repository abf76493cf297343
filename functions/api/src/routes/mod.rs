//! One module per resource of the admin API.

mod audit;
mod domain_events;
mod health;
mod keys;
mod tenant;

use utoipa_axum::router::OpenApiRouter;
use vigil_http::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(health::router())
        .merge(tenant::router())
        .merge(keys::router())
        .merge(audit::router())
        .merge(domain_events::router())
}
