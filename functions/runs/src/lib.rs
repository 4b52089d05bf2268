//! The `runs` family: native SSE streaming for assistants.
//!
//! `POST /public/runs/stream` serves anyone the assistant's access mode admits;
//! `POST /runs/stream` serves the assistant's owner with a user JWT. Both stream
//! `metadata`, `messages/partial` (the accumulated AI message) and `end`, and keep the
//! conversation in a thread so later turns send earlier ones to the model. Both are open
//! to web apps on any origin (CORS), locally and on AWS alike.

mod error;
mod handlers;
mod request;
mod thread;

use agentgate_shared::http::Cors;
use agentgate_shared::state::AppState;
use axum::Router;
use axum::routing::post;

pub use error::RunsError;

/// The family's routes with state applied, for `lambda_http` and the local server alike.
pub fn router(state: AppState) -> Router {
    let routes = Router::new()
        .route("/public/runs/stream", post(handlers::public_stream))
        .route("/runs/stream", post(handlers::owner_stream));
    agentgate_shared::http::serve_family(CORS.apply(routes), "runs", state)
}

/// Web apps on any origin may stream runs (the public token or the owner's JWT travels in
/// a header, never in a cookie).
const CORS: Cors = Cors {
    allow_headers: "authorization, content-type, x-public-bot-token",
    expose_headers: "retry-after",
};
