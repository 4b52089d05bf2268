//! The runs family's own failures, rendered with the shared ones as `{"detail": ...}`.
//! Statuses of shared failures (body, JWT, rate limits, providers, store) are decided in
//! [`agentgate_shared::failure`].

use agentgate_shared::domain::assistant::AccessDenied;
use agentgate_shared::failure::{Failure, Fault, Kind};
use axum::response::{IntoResponse, Response};
use http::StatusCode;

#[derive(Debug, thiserror::Error)]
pub enum RunsError {
    #[error(transparent)]
    Shared(#[from] Fault),
    #[error("{0}")]
    Invalid(String),
    #[error("Assistant not found")]
    NotFound,
    #[error(transparent)]
    Denied(#[from] AccessDenied),
}

agentgate_shared::shared_failures!(RunsError);

impl From<agentgate_shared::domain::Invalid> for RunsError {
    fn from(e: agentgate_shared::domain::Invalid) -> Self {
        Self::Invalid(e.0)
    }
}

impl IntoResponse for RunsError {
    fn into_response(self) -> Response {
        let message = self.to_string();
        let failure = match &self {
            Self::Shared(fault) => fault.failure(),
            Self::Invalid(_) => {
                Failure::new(Kind::Invalid, StatusCode::UNPROCESSABLE_ENTITY, message)
            }
            Self::NotFound => Failure::new(Kind::NotFound, StatusCode::NOT_FOUND, message),
            Self::Denied(AccessDenied::MissingToken) => {
                Failure::new(Kind::Unauthenticated, StatusCode::UNAUTHORIZED, message)
            }
            Self::Denied(AccessDenied::NotPublic | AccessDenied::InvalidToken) => {
                Failure::new(Kind::Forbidden, StatusCode::FORBIDDEN, message)
            }
        };
        failure.into_detail_response()
    }
}
