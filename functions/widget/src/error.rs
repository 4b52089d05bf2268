//! Every way a widget request can fail, mapped in one place to a status and the widget's
//! error shape, `{"error": {"code": "...", "message": "..."}}`. Internal causes are logged,
//! never sent.

use agentgate_shared::http::{BodyError, Failure};
use agentgate_shared::ports::StoreError;
use agentgate_shared::provider::ProviderError;
use agentgate_shared::ratelimit::{Limited, RateLimitError};
use axum::response::{IntoResponse, Response};
use http::StatusCode;

#[derive(Debug, thiserror::Error)]
pub enum WidgetError {
    #[error(transparent)]
    Body(#[from] BodyError),
    #[error("{0}")]
    Invalid(String),
    #[error("no bot with that botPublicId")]
    NotFound,
    #[error("too many messages; retry after {} seconds", .0.retry_after_secs)]
    RateLimited(Limited),
    #[error(transparent)]
    Provider(#[from] ProviderError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<RateLimitError> for WidgetError {
    fn from(e: RateLimitError) -> Self {
        match e {
            RateLimitError::Limited(l) => Self::RateLimited(l),
            RateLimitError::Store(e) => Self::Store(e),
        }
    }
}

impl IntoResponse for WidgetError {
    fn into_response(self) -> Response {
        let message = self.to_string();
        let (failure, code) = match &self {
            Self::Body(e) => (Failure::new(e.status(), &message), "INVALID_REQUEST"),
            Self::Invalid(_) => (
                Failure::new(StatusCode::BAD_REQUEST, &message),
                "INVALID_REQUEST",
            ),
            Self::NotFound => (Failure::new(StatusCode::NOT_FOUND, &message), "NOT_FOUND"),
            Self::RateLimited(l) => (
                Failure {
                    status: StatusCode::TOO_MANY_REQUESTS,
                    message,
                    retry_after_secs: Some(l.retry_after_secs),
                },
                "RATE_LIMITED",
            ),
            Self::Provider(ProviderError::NotConfigured(_)) => (
                Failure::new(StatusCode::SERVICE_UNAVAILABLE, &message),
                "UNAVAILABLE",
            ),
            Self::Provider(ProviderError::Timeout) => (
                Failure::new(StatusCode::GATEWAY_TIMEOUT, &message),
                "UPSTREAM_TIMEOUT",
            ),
            Self::Provider(e) => {
                tracing::warn!(error = %e, "model provider refused the widget turn");
                (
                    Failure::new(StatusCode::BAD_GATEWAY, &message),
                    "UPSTREAM_ERROR",
                )
            }
            Self::Store(e) => {
                let failure = Failure::from_store(e);
                let code = if failure.status == StatusCode::SERVICE_UNAVAILABLE {
                    "UNAVAILABLE"
                } else {
                    "INTERNAL"
                };
                (failure, code)
            }
        };
        let body = serde_json::json!({"error": {"code": code, "message": failure.message}});
        failure.into_response_with(body)
    }
}
