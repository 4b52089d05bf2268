//! Which bot a widget request names, and whether the page it comes from may use it:
//! shared by the chat, the action results and the launcher's configuration.

use agentgate_shared::domain::assistant::{AccessMode, Assistant};
use agentgate_shared::domain::ids::AssistantId;
use agentgate_shared::state::AppState;
use axum::response::Response;
use http::HeaderValue;

use crate::WidgetError;

/// The bot `id` names, if it is open to everyone (any other is reported as absent, so the
/// widget never reveals that a private assistant exists).
pub async fn find(state: &AppState, id: Option<&AssistantId>) -> Result<Assistant, WidgetError> {
    let id = id.ok_or(WidgetError::NotFound)?;
    tracing::Span::current().record("assistant_id", id.as_str());
    state
        .assistants
        .get(id)
        .await?
        .filter(|a| a.access_mode() == AccessMode::PublicNoAuth)
        .ok_or(WidgetError::NotFound)
}

/// The page origin to answer by name: `None` when the bot is open to every origin (the
/// CORS layer answers `*`) or the request has no `Origin` (not a browser's cross-origin
/// call); refused when the owner listed origins and this is not one of them.
pub fn allowed_origin(
    assistant: &Assistant,
    origin: Option<String>,
) -> Result<Option<String>, WidgetError> {
    let origin = origin.filter(|_| assistant.restricts_origins());
    match &origin {
        Some(o) if !assistant.allows_origin(o) => Err(WidgetError::OriginNotAllowed),
        _ => Ok(origin),
    }
}

/// Answers a restricted bot's allowed origin by name, not `*`.
pub fn echo_origin(mut resp: Response, origin: Option<String>) -> Response {
    if let Some(o) = origin.and_then(|o| HeaderValue::from_str(&o).ok()) {
        let h = resp.headers_mut();
        h.insert(http::header::ACCESS_CONTROL_ALLOW_ORIGIN, o);
        h.insert(http::header::VARY, HeaderValue::from_static("Origin"));
    }
    resp
}
