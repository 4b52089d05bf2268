//! Owner API failures, mapped to statuses and `{"detail": ...}` in one place.

use agentgate_shared::auth::AuthError;
use agentgate_shared::http::{BodyError, Failure};
use agentgate_shared::ports::StoreError;
use axum::response::{IntoResponse, Response};
use http::StatusCode;

#[derive(Debug, thiserror::Error)]
pub enum AssistantsError {
    #[error(transparent)]
    Body(#[from] BodyError),
    #[error("{0}")]
    Invalid(String),
    #[error("Assistant not found")]
    NotFound,
    #[error("No memory is kept for this user")]
    NoMemory,
    #[error(transparent)]
    Auth(#[from] AuthError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<agentgate_shared::domain::Invalid> for AssistantsError {
    fn from(e: agentgate_shared::domain::Invalid) -> Self {
        Self::Invalid(e.0)
    }
}

impl IntoResponse for AssistantsError {
    fn into_response(self) -> Response {
        let failure = match &self {
            Self::Body(e) => Failure::new(e.status(), e.to_string()),
            Self::Invalid(m) => Failure::new(StatusCode::UNPROCESSABLE_ENTITY, m.clone()),
            Self::NotFound | Self::NoMemory => {
                Failure::new(StatusCode::NOT_FOUND, self.to_string())
            }
            Self::Auth(_) => Failure::new(
                StatusCode::UNAUTHORIZED,
                "a valid user JWT is required: Authorization: Bearer <jwt>",
            ),
            Self::Store(e) => Failure::from_store(e),
        };
        failure.into_detail_response()
    }
}
