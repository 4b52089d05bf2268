//! The `widget` family: `POST /v1/public/chat`, the endpoint embeddable chat widgets call.
//!
//! No authentication header: a visitor names the assistant (its id is the widget's public
//! id), an anonymous visitor id and the message. Only assistants open to everyone
//! (`public_no_auth`) answer. With `x-widget-version: 2` the reply is a Vercel AI SDK UI
//! message stream; without it, the legacy SSE dialect. Four caps protect the assistant
//! (visitor, IP, assistant and owner) and a monthly ceiling per owner. Replies carry the
//! assistant's action proposals and knowledge-base citations;
//! `POST /v1/public/actions/{executionId}/result` settles a proposal. The launcher script
//! and each bot's configuration are served here too. The endpoints are open to every
//! origin unless the owner lists some, so the router answers CORS itself (preflights
//! included), identically locally and on Lambda.

mod actions;
mod bot;
mod error;
mod handlers;
mod headers;
pub mod launcher;
mod request;

use agentgate_shared::http::Cors;
use agentgate_shared::state::AppState;
use axum::Router;
use axum::routing::{get, post};

pub use error::WidgetError;

/// Browsers on any site may call the widget endpoints.
const CORS: Cors = Cors {
    allow_headers: "content-type, x-widget-version",
    expose_headers: "retry-after, x-vercel-ai-ui-message-stream",
};

/// The family's routes with state applied, for `lambda_http` and the local server alike.
pub fn router(state: AppState) -> Router {
    let routes = Router::new()
        .route("/v1/public/chat", post(handlers::chat))
        .route(
            "/v1/public/actions/{execution_id}/result",
            post(actions::result),
        )
        .route("/v1/public/bots/{bot_id}/config", get(launcher::config))
        .route("/v1/public/widget.js", get(launcher::current))
        .route(
            "/v1/public/widget/{version}/widget.js",
            get(launcher::pinned),
        );
    agentgate_shared::http::serve_family(CORS.apply(routes), "widget", state)
}
