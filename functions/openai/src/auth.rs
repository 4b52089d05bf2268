//! Finding the assistant a bearer token opens, as an extractor that runs before the body
//! is read (a caller without a valid key learns nothing about its request).

use agentgate_shared::domain::assistant::{AccessMode, Assistant};
use agentgate_shared::domain::token::{self, PublicToken};
use agentgate_shared::state::AppState;
use axum::extract::FromRequestParts;

use crate::OpenAiError;

/// The assistant the request's public token opens.
pub struct KeyAssistant(pub Assistant);

/// The token (from `Authorization: Bearer`, or `X-Public-Bot-Token`) names the assistant.
/// Shape-invalid tokens are refused before any read; `authenticated` assistants never
/// answer here, and a `public_no_auth` one only to its token since nothing else names it.
impl FromRequestParts<AppState> for KeyAssistant {
    type Rejection = OpenAiError;

    async fn from_request_parts(
        parts: &mut http::request::Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let (_, raw) = token::extract(&parts.headers, None).ok_or(OpenAiError::MissingKey)?;
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
        Ok(Self(assistant))
    }
}
