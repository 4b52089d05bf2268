//! Finding the assistant a bearer token opens, as an extractor that runs before the body
//! is read (a caller without a valid key learns nothing about its request).

use agentgate_shared::domain::assistant::{AccessMode, Assistant};
use agentgate_shared::domain::token::{self, PublicToken};
use agentgate_shared::http::SourceIp;
use agentgate_shared::ratelimit::Guesses;
use agentgate_shared::state::AppState;
use axum::extract::FromRequestParts;

use crate::OpenAiError;

/// The assistant `raw` is a live token of, if any.
async fn open(state: &AppState, raw: &str, now: i64) -> Result<Option<Assistant>, OpenAiError> {
    let Ok(presented) = PublicToken::parse_presented(raw) else {
        return Ok(None);
    };
    let digest = presented.digest();
    let Some(id) = state.assistants.by_token(&digest).await? else {
        return Ok(None);
    };
    tracing::Span::current().record("assistant_id", id.as_str());
    let found = state.assistants.get(&id).await?;
    Ok(found.filter(|a| a.accepts_digest(&digest, now)))
}

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
        let SourceIp(ip) = SourceIp::from_extensions(&parts.extensions);
        let now = state.clock.now_secs();
        let store = state.store.as_ref();
        let (guesses, found) =
            Guesses::check_while(store, &state.settings, ip, now, open(state, raw, now)).await?;
        let Some(assistant) = found else {
            guesses.failed(state.store.as_ref()).await?;
            return Err(OpenAiError::InvalidKey);
        };
        if assistant.access_mode() == AccessMode::Authenticated {
            return Err(OpenAiError::NotPublic);
        }
        Ok(Self(assistant))
    }
}
