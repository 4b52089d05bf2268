//! The runs family's own failures, rendered with the shared ones as `{"detail": ...}`.
//! Statuses of shared failures (body, JWT, rate limits, providers, store) are decided in
//! [`agentgate_shared::failure`].

use agentgate_shared::domain::assistant::AccessDenied;
use agentgate_shared::failure::{Failure, Fault, Kind};
use http::StatusCode;

#[derive(Debug, thiserror::Error)]
pub enum RunsError {
    #[error(transparent)]
    Shared(#[from] Fault),
    #[error(transparent)]
    Denied(#[from] AccessDenied),
}

agentgate_shared::shared_failures!(RunsError, into_detail_response);

impl RunsError {
    /// A field breaks a rule (422, with a message naming it).
    pub fn invalid(message: impl Into<String>) -> Self {
        Fault::invalid(message).into()
    }

    /// The assistant is absent, or another owner's (the two are indistinguishable).
    pub fn not_found() -> Self {
        Fault::AssistantNotFound.into()
    }
}

impl RunsError {
    /// Every case's failure: the shared ones as `agentgate_shared::failure` decides them,
    /// the family's own here.
    fn failure(&self, message: String) -> Failure {
        match self {
            Self::Shared(fault) => fault.failure(),
            Self::Denied(AccessDenied::MissingToken) => {
                Failure::new(Kind::Unauthenticated, StatusCode::UNAUTHORIZED, message)
            }
            Self::Denied(AccessDenied::NotPublic | AccessDenied::InvalidToken) => {
                Failure::new(Kind::Forbidden, StatusCode::FORBIDDEN, message)
            }
        }
    }
}
