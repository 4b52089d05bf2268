//! Who may use a link: the link a path token opens (and whether it still serves), and the
//! session a bearer token names, as an extractor that runs before the body is read.
//!
//! Every public request checks the link again, so disabling or deleting a link stops all
//! of its sessions (at once on this instance, within the assistant cache window on others,
//! see `agentgate_shared::cache`); a session only works on the link that minted it.

use agentgate_shared::domain::assistant::Assistant;
use agentgate_shared::domain::link::{
    PublicLink, SESSION_IDLE_SECS, Session, SessionToken, Unavailable,
};
use agentgate_shared::domain::token::{PublicToken, bearer_value};
use agentgate_shared::http::SourceIp;
use agentgate_shared::ratelimit::Guesses;
use agentgate_shared::state::AppState;
use axum::extract::{FromRequestParts, Path};
use http::request::Parts;
use std::net::IpAddr;

use crate::LinksError;

/// What every public link route reads first: the link token in its path, and the address
/// the request came from (guesses are counted per address).
pub struct LinkPath {
    pub token: String,
    pub ip: Option<IpAddr>,
}

impl<S: Send + Sync> FromRequestParts<S> for LinkPath {
    type Rejection = LinksError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, LinksError> {
        let Path(token) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|_| LinksError::LinkNotFound)?;
        let SourceIp(ip) = SourceIp::from_extensions(&parts.extensions);
        Ok(Self { token, ip })
    }
}

impl LinkPath {
    /// The serving link this path opens, with its assistant.
    pub async fn open(&self, state: &AppState) -> Result<(PublicLink, Assistant), LinksError> {
        serving_link(state, &self.token, self.ip).await
    }
}

/// The serving link a token opens, with its assistant. Unknown tokens count as guesses
/// of the caller's address (`ip`).
pub async fn serving_link(
    state: &AppState,
    token: &str,
    ip: Option<IpAddr>,
) -> Result<(PublicLink, Assistant), LinksError> {
    open_link(state, token, ip)
        .await
        .map(|(link, assistant, _)| (link, assistant))
}

/// [`serving_link`], also handing back the address's guess counter for the session check.
async fn open_link(
    state: &AppState,
    token: &str,
    ip: Option<IpAddr>,
) -> Result<(PublicLink, Assistant, Guesses), LinksError> {
    let now = state.clock.now_secs();
    let lookup = async {
        Ok::<_, LinksError>(match PublicToken::parse_presented(token) {
            Ok(token) => state.assistants.link_by_token(&token.digest()).await?,
            Err(_) => None,
        })
    };
    let store = state.store.as_ref();
    let (guesses, found) = Guesses::check_while(store, &state.settings, ip, now, lookup).await?;
    let Some(link) = found else {
        guesses.failed(state.store.as_ref()).await?;
        return Err(LinksError::LinkNotFound);
    };
    tracing::Span::current().record("assistant_id", link.assistant.as_str());
    link.serving(state.clock.now_ms())
        .map_err(|why| match why {
            Unavailable::Disabled => LinksError::LinkDisabled,
            Unavailable::Expired => LinksError::LinkExpired,
        })?;
    let assistant = state
        .assistants
        .get(&link.assistant)
        .await?
        .ok_or(LinksError::LinkNotFound)?;
    Ok((link, assistant, guesses))
}

/// A live session of the link in the path, from `Authorization: Bearer <session token>`.
pub struct LinkSession {
    pub link: PublicLink,
    pub assistant: Assistant,
    pub session: Session,
}

impl FromRequestParts<AppState> for LinkSession {
    type Rejection = LinksError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, LinksError> {
        let LinkPath { token, ip } = LinkPath::from_request_parts(parts, state).await?;
        let bearer = parts
            .headers
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(bearer_value)
            .map(str::to_owned);
        // The session is read beside the link; it counts only once the link is known.
        let session = async {
            match bearer.as_deref().and_then(SessionToken::parse) {
                Some(presented) => state.store.session(&presented.digest()).await,
                None => Ok(None),
            }
        };
        let (opened, found) = tokio::join!(open_link(state, &token, ip), session);
        let (link, assistant, guesses) = opened?;
        if bearer.is_none() {
            return Err(LinksError::SessionRequired);
        }
        let found = found?;
        let Some(session) = found.filter(|s| s.link == link.id) else {
            guesses.failed(state.store.as_ref()).await?;
            return Err(LinksError::SessionInvalid);
        };
        // A link switched to email verification no longer serves anonymous sessions.
        if link.settings.require_email && session.subject.email().is_none() {
            return Err(LinksError::EmailRequired);
        }
        // Renewed at most hourly: a session lives `SESSION_IDLE_SECS` after its last use.
        let now = state.clock.now_secs();
        if session.expires_at - now < SESSION_IDLE_SECS - 3_600 {
            state
                .store
                .renew_session(&session.digest, now + SESSION_IDLE_SECS)
                .await?;
        }
        Ok(Self {
            link,
            assistant,
            session,
        })
    }
}
