//! The links family's own failures, rendered with the shared ones as
//! `{"error": {"code": "...", "message": "..."}}`. Statuses of shared failures (body, JWT,
//! rate limits, providers, store) are decided in [`agentgate_shared::failure`]; the codes
//! here are the ones the chat page and integrators branch on.

use agentgate_shared::failure::{Failure, Fault};
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

agentgate_shared::shared_failures!(LinksError, into_code_response);

impl LinksError {
    /// Every case's failure: the shared ones as `agentgate_shared::failure` decides them,
    /// the family's own with the codes the chat page and integrators branch on.
    fn failure(&self, message: String) -> Failure {
        use StatusCode as S;
        let (code, status) = match self {
            Self::Shared(fault) => return fault.failure(),
            Self::TooManyAttempts { retry_after_secs } => {
                return Failure {
                    retry_after_secs: *retry_after_secs,
                    ..Failure::own("TOO_MANY_ATTEMPTS", S::TOO_MANY_REQUESTS, message)
                };
            }
            Self::Invalid(_) => ("INVALID_REQUEST", S::BAD_REQUEST),
            Self::LinkNotFound => ("LINK_NOT_FOUND", S::NOT_FOUND),
            Self::LinkDisabled => ("LINK_DISABLED", S::GONE),
            Self::LinkExpired => ("LINK_EXPIRED", S::GONE),
            Self::EmailRequired => ("EMAIL_REQUIRED", S::FORBIDDEN),
            Self::EmailNotUsed => ("EMAIL_NOT_REQUIRED", S::BAD_REQUEST),
            Self::SessionRequired => ("SESSION_REQUIRED", S::UNAUTHORIZED),
            Self::SessionInvalid => ("SESSION_INVALID", S::UNAUTHORIZED),
            Self::CodeInvalid => ("CODE_INVALID", S::BAD_REQUEST),
            Self::ConversationNotFound => ("CONVERSATION_NOT_FOUND", S::NOT_FOUND),
            Self::MailUnavailable => ("EMAIL_UNAVAILABLE", S::SERVICE_UNAVAILABLE),
            Self::TooManyLinks(_) => ("TOO_MANY_LINKS", S::CONFLICT),
            Self::AmbiguousName => ("AMBIGUOUS_NAME", S::CONFLICT),
            Self::UnknownLink => ("NOT_FOUND", S::NOT_FOUND),
        };
        Failure::own(code, status, message)
    }

    /// The status of this failure, as the JSON answer would give it.
    pub fn status(&self) -> StatusCode {
        self.failure(String::new()).status
    }
}
