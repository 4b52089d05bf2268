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
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;

pub use error::WidgetError;

/// Headers a browser may send cross-origin.
const ALLOWED_HEADERS: &str = "content-type, x-widget-version";

/// The family's routes with state applied, for `lambda_http` and the local server alike.
pub fn router(state: AppState) -> Router {
    let routes = Router::new()
        .route("/v1/public/chat", post(handlers::chat).options(preflight))
        .layer(axum::middleware::map_response(allow_any_origin));
    agentgate_shared::http::serve_family(routes, "widget", state)
}

/// Every answer, errors included, may be read by any page.
async fn allow_any_origin(resp: Response) -> Response {
    with_headers(
        resp,
        [
            (header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"),
            (
                header::ACCESS_CONTROL_EXPOSE_HEADERS,
                "retry-after, x-vercel-ai-ui-message-stream",
            ),
        ],
    )
}

/// `OPTIONS /v1/public/chat`: the CORS preflight.
async fn preflight() -> Response {
    with_headers(
        StatusCode::NO_CONTENT.into_response(),
        [
            (header::ACCESS_CONTROL_ALLOW_METHODS, "POST, OPTIONS"),
            (header::ACCESS_CONTROL_ALLOW_HEADERS, ALLOWED_HEADERS),
            (header::ACCESS_CONTROL_MAX_AGE, "600"),
        ],
    )
}

fn with_headers<const N: usize>(
    mut resp: Response,
    headers: [(header::HeaderName, &'static str); N],
) -> Response {
    for (name, value) in headers {
        resp.headers_mut()
            .insert(name, HeaderValue::from_static(value));
    }
    resp
}
