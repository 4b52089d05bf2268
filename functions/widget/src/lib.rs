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
mod request;

use agentgate_shared::state::AppState;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;

pub use error::WidgetError;

/// Headers a browser may send cross-origin.
const ALLOWED_HEADERS: &str = "content-type, x-widget-version";

/// The family's routes with state applied, for `lambda_http` and the local server alike.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/v1/public/chat", post(handlers::chat).options(preflight))
        .layer(DefaultBodyLimit::max(
            agentgate_shared::http::MAX_BODY_BYTES,
        ))
        .layer(axum::middleware::map_response(allow_any_origin))
        .layer(axum::middleware::from_fn(|req, next| {
            agentgate_shared::http::request_span("widget", req, next)
        }))
        .with_state(state)
}

/// Every answer, errors included, may be read by any page.
async fn allow_any_origin(mut resp: Response) -> Response {
    let h = resp.headers_mut();
    h.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    h.insert(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static("retry-after, x-vercel-ai-ui-message-stream"),
    );
    resp
}

/// `OPTIONS /v1/public/chat`: the CORS preflight.
async fn preflight() -> Response {
    let mut resp = StatusCode::NO_CONTENT.into_response();
    let h = resp.headers_mut();
    h.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("POST, OPTIONS"),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static(ALLOWED_HEADERS),
    );
    h.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static("600"),
    );
    resp
}
