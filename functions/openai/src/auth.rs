//! Finding the assistant a bearer token opens.

use agentgate_shared::domain::assistant::{AccessMode, Assistant};
use agentgate_shared::domain::token::{self, PublicToken};
use agentgate_shared::state::AppState;
use http::HeaderMap;

use crate::OpenAiError;

/// The token (from `Authorization: Bearer`, or `X-Public-Bot-Token`) names the assistant.
/// Shape-invalid tokens are refused before any read; `authenticated` assistants never
/// answer here, and a `public_no_auth` one only to its token since nothing else names it.
pub async fn assistant_for(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<Assistant, OpenAiError> {
    let (_, raw) = token::extract(headers, None).ok_or(OpenAiError::MissingKey)?;
    let presented = PublicToken::parse_presented(raw).map_err(|_| OpenAiError::InvalidKey)?;
    let id = state
        .store
        .find_assistant_by_token(&presented.digest())
        .await?
        .ok_or(OpenAiError::InvalidKey)?;
    tracing::Span::current().record("assistant_id", id.as_str());
    let assistant = state
        .store
        .get_assistant(&id)
        .await?
        .filter(|a| a.accepts(&presented, state.clock.now_secs()))
        .ok_or(OpenAiError::InvalidKey)?;
    if assistant.access_mode() == AccessMode::Authenticated {
        return Err(OpenAiError::NotPublic);
    }
    Ok(assistant)
}
