//! Every way a run request can fail, mapped to a status and a `{"detail": ...}` body in
//! one place. Internal causes are logged, never sent.

use agentgate_shared::auth::AuthError;
use agentgate_shared::domain::assistant::AccessDenied;
use agentgate_shared::http::{BodyError, Failure};
use agentgate_shared::ports::StoreError;
use agentgate_shared::provider::ProviderError;
use agentgate_shared::ratelimit::RateLimitError;
use axum::response::{IntoResponse, Response};
use http::StatusCode;

#[derive(Debug, thiserror::Error)]
pub enum RunsError {
    #[error(transparent)]
    Body(#[from] BodyError),
    #[error("{0}")]
    Invalid(String),
    #[error("Assistant not found")]
    NotFound,
    #[error(transparent)]
    Denied(#[from] AccessDenied),
    #[error(transparent)]
    Auth(#[from] AuthError),
    #[error("Too many requests; retry after {} seconds.", .0.retry_after_secs)]
    RateLimited(agentgate_shared::ratelimit::Limited),
    #[error(transparent)]
    Provider(#[from] ProviderError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<agentgate_shared::domain::Invalid> for RunsError {
    fn from(e: agentgate_shared::domain::Invalid) -> Self {
        Self::Invalid(e.0)
    }
}

impl From<RateLimitError> for RunsError {
    fn from(e: RateLimitError) -> Self {
        match e {
            RateLimitError::Limited(l) => Self::RateLimited(l),
            RateLimitError::Store(e) => Self::Store(e),
        }
    }
}

impl IntoResponse for RunsError {
    fn into_response(self) -> Response {
        let failure = match &self {
            Self::Body(e) => Failure::new(e.status(), e.to_string()),
            Self::Invalid(m) => Failure::new(StatusCode::UNPROCESSABLE_ENTITY, m.clone()),
            Self::NotFound => Failure::new(StatusCode::NOT_FOUND, self.to_string()),
            Self::Denied(AccessDenied::MissingToken) => {
                Failure::new(StatusCode::UNAUTHORIZED, self.to_string())
            }
            Self::Denied(AccessDenied::NotPublic | AccessDenied::InvalidToken) => {
                Failure::new(StatusCode::FORBIDDEN, self.to_string())
            }
            Self::Auth(_) => Failure::new(
                StatusCode::UNAUTHORIZED,
                "a valid user JWT is required: Authorization: Bearer <jwt>",
            ),
            Self::RateLimited(l) => Failure {
                status: StatusCode::TOO_MANY_REQUESTS,
                message: self.to_string(),
                retry_after_secs: Some(l.retry_after_secs),
            },
            Self::Provider(e @ ProviderError::NotConfigured(_)) => {
                Failure::new(StatusCode::SERVICE_UNAVAILABLE, e.to_string())
            }
            Self::Provider(e @ ProviderError::Timeout) => {
                Failure::new(StatusCode::GATEWAY_TIMEOUT, e.to_string())
            }
            Self::Provider(e) => {
                tracing::warn!(error = %e, "model provider refused the run");
                Failure::new(StatusCode::BAD_GATEWAY, e.to_string())
            }
            Self::Store(e) => Failure::from_store(e),
        };
        failure.into_detail_response()
    }
}
