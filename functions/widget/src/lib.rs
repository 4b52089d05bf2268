//! The `widget` family: `POST /v1/public/chat`, the endpoint embeddable chat widgets call.
//!
//! No authentication header: a visitor names the assistant (its id is the widget's public
//! id), an anonymous visitor id and the message. Only assistants open to everyone
//! (`public_no_auth`) answer. With `x-widget-version: 2` the reply is a Vercel AI SDK UI
//! message stream; without it, the legacy SSE dialect. Four caps protect the assistant
//! (visitor, IP, assistant and owner). The endpoint is open to every origin, so the
//! router answers CORS itself (preflights included), identically locally and on Lambda.

mod error;
mod handlers;
mod headers;
mod request;

use agentgate_shared::http::Cors;
use agentgate_shared::state::AppState;
use axum::Router;
use axum::routing::post;

pub use error::WidgetError;

/// Browsers on any site may call the widget endpoint.
const CORS: Cors = Cors {
    allow_headers: "content-type, x-widget-version",
    expose_headers: "retry-after, x-vercel-ai-ui-message-stream",
};

/// The family's routes with state applied, for `lambda_http` and the local server alike.
pub fn router(state: AppState) -> Router {
    let routes = Router::new().route("/v1/public/chat", post(handlers::chat));
    agentgate_shared::http::serve_family(CORS.apply(routes), "widget", state)
}
