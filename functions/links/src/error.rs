//! The links family's own failures, rendered with the shared ones as
//! `{"error": {"code": "...", "message": "..."}}`. Statuses of shared failures (body, JWT,
//! rate limits, providers, store) are decided in [`agentgate_shared::failure`]; the codes
//! here are the ones the chat page and integrators branch on.

use agentgate_shared::failure::{Failure, Fault, Kind};
use axum::response::{IntoResponse, Response};
use http::StatusCode;

#[derive(Debug, thiserror::Error)]
pub enum LinksError {
    #[error(transparent)]
    Shared(#[from] Fault),
    #[error("{0}")]
    Invalid(String),
    #[error("This link does not exist.")]
    LinkNotFound,
    #[error("This link has been turned off by its owner.")]
    LinkDisabled,
    #[error("This link has expired.")]
    LinkExpired,
    #[error("This link asks for your email address first.")]
    EmailRequired,
    #[error("This link does not ask for an email address.")]
    EmailNotUsed,
    #[error("Start a session first: send its token as Authorization: Bearer.")]
    SessionRequired,
    #[error("This session has ended; start a new one.")]
    SessionInvalid,
    #[error("The code is wrong or has expired.")]
    CodeInvalid,
    #[error("Too many wrong codes; request a new code later.")]
    TooManyAttempts { retry_after_secs: Option<u64> },
    #[error("No such conversation in this session.")]
    ConversationNotFound,
    #[error(
        "Email verification is not available: no mail sender is configured (AGENTGATE_MAIL_FROM)."
    )]
    MailUnavailable,
    #[error("An assistant may have at most {0} links.")]
    TooManyLinks(usize),
    #[error("Several of your assistants have this name; use the assistant id.")]
    AmbiguousName,
    #[error("No public link with this id.")]
    UnknownLink,
}

agentgate_shared::shared_failures!(LinksError);

impl LinksError {
    /// The family's code and status for its own cases; `None` for the shared ones.
    fn own(&self) -> Option<(&'static str, StatusCode)> {
        use StatusCode as S;
        Some(match self {
            Self::Shared(_) => return None,
            Self::Invalid(_) => ("INVALID_REQUEST", S::BAD_REQUEST),
            Self::LinkNotFound => ("LINK_NOT_FOUND", S::NOT_FOUND),
            Self::LinkDisabled => ("LINK_DISABLED", S::GONE),
            Self::LinkExpired => ("LINK_EXPIRED", S::GONE),
            Self::EmailRequired => ("EMAIL_REQUIRED", S::FORBIDDEN),
            Self::EmailNotUsed => ("EMAIL_NOT_REQUIRED", S::BAD_REQUEST),
            Self::SessionRequired => ("SESSION_REQUIRED", S::UNAUTHORIZED),
            Self::SessionInvalid => ("SESSION_INVALID", S::UNAUTHORIZED),
            Self::CodeInvalid => ("CODE_INVALID", S::BAD_REQUEST),
            Self::TooManyAttempts { .. } => ("TOO_MANY_ATTEMPTS", S::TOO_MANY_REQUESTS),
            Self::ConversationNotFound => ("CONVERSATION_NOT_FOUND", S::NOT_FOUND),
            Self::MailUnavailable => ("EMAIL_UNAVAILABLE", S::SERVICE_UNAVAILABLE),
            Self::TooManyLinks(_) => ("TOO_MANY_LINKS", S::CONFLICT),
            Self::AmbiguousName => ("AMBIGUOUS_NAME", S::CONFLICT),
            Self::UnknownLink => ("NOT_FOUND", S::NOT_FOUND),
        })
    }
}

impl LinksError {
    /// The status of this failure, as [`IntoResponse`] answers it.
    pub fn status(&self) -> StatusCode {
        match (self.own(), self) {
            (Some((_, status)), _) => status,
            (None, Self::Shared(fault)) => fault.failure().status,
            (None, _) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for LinksError {
    fn into_response(self) -> Response {
        let message = self.to_string();
        let Some((code, status)) = self.own() else {
            let failure = match &self {
                Self::Shared(fault) => fault.failure(),
                _ => Failure::new(Kind::Internal, StatusCode::INTERNAL_SERVER_ERROR, message),
            };
            return failure.into_code_response();
        };
        let mut failure = Failure::new(Kind::Invalid, status, message.clone());
        if let Self::TooManyAttempts { retry_after_secs } = self {
            failure.retry_after_secs = retry_after_secs;
        }
        failure.into_response_with(serde_json::json!({"error": {"code": code, "message": message}}))
    }
}
