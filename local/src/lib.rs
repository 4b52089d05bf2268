//! The local server: every family's router on one address, over the embedded store.
//!
//! It mounts exactly the routers the Lambdas run, so what works here works deployed.

use agentgate_shared::state::AppState;
use axum::Router;
use axum::routing::get;

/// Every family, merged. Routes do not overlap, so merge order does not matter.
pub fn app(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .merge(agentgate_runs::router(state.clone()))
        .merge(agentgate_openai::router(state.clone()))
        .merge(agentgate_widget::router(state.clone()))
        .merge(agentgate_links::router(state.clone()))
        .merge(agentgate_assistants::router(state))
}
