//! Failures in OpenAI's error shape `{"error": {"message", "type", "param", "code"}}` with
//! the statuses OpenAI uses, mapped in one place.

use agentgate_shared::http::{BodyError, Failure};
use agentgate_shared::ports::StoreError;
use agentgate_shared::provider::ProviderError;
use agentgate_shared::ratelimit::{Limited, RateLimitError};
use agentgate_shared::run;
use agentgate_shared::stream::openai::error_json;
use axum::response::{IntoResponse, Response};
use http::StatusCode;

#[derive(Debug, thiserror::Error)]
pub enum OpenAiError {
    #[error(transparent)]
    Body(#[from] BodyError),
    #[error("{message}")]
    Invalid {
        message: String,
        param: Option<String>,
    },
    #[error(
        "You didn't provide an API key. Send the assistant's public token as Authorization: Bearer <token>."
    )]
    MissingKey,
    #[error("Incorrect API key provided.")]
    InvalidKey,
    #[error("{}", agentgate_shared::domain::assistant::NOT_PUBLIC_DETAIL)]
    NotPublic,
    #[error(
        "The model '{0}' does not exist; this token serves one assistant, listed by GET /models."
    )]
    ModelNotFound(String),
    #[error("Rate limit reached; retry after {} seconds.", .0.retry_after_secs)]
    RateLimited(Limited),
    #[error(transparent)]
    Provider(#[from] ProviderError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl OpenAiError {
    pub fn invalid(param: &str, message: impl Into<String>) -> Self {
        Self::Invalid {
            message: message.into(),
            param: Some(param.to_owned()),
        }
    }
}

impl From<RateLimitError> for OpenAiError {
    fn from(e: RateLimitError) -> Self {
        match e {
            RateLimitError::Limited(l) => Self::RateLimited(l),
            RateLimitError::Store(e) => Self::Store(e),
        }
    }
}

impl From<run::TurnError> for OpenAiError {
    fn from(e: run::TurnError) -> Self {
        match e {
            run::TurnError::Provider(e) => Self::Provider(e),
            run::TurnError::NotSaved(msg) => Self::Store(StoreError::Unavailable(msg)),
        }
    }
}

impl IntoResponse for OpenAiError {
    fn into_response(self) -> Response {
        let message = self.to_string();
        let (failure, kind, param, code): (Failure, &str, Option<&str>, Option<&str>) = match &self
        {
            Self::Body(e) => (
                Failure::new(e.status(), &message),
                "invalid_request_error",
                None,
                None,
            ),
            Self::Invalid { param, .. } => (
                Failure::new(StatusCode::BAD_REQUEST, &message),
                "invalid_request_error",
                param.as_deref(),
                None,
            ),
            Self::MissingKey | Self::InvalidKey => (
                Failure::new(StatusCode::UNAUTHORIZED, &message),
                "invalid_request_error",
                None,
                Some("invalid_api_key"),
            ),
            Self::NotPublic => (
                Failure::new(StatusCode::FORBIDDEN, &message),
                "permission_error",
                None,
                Some("assistant_not_public"),
            ),
            Self::ModelNotFound(_) => (
                Failure::new(StatusCode::NOT_FOUND, &message),
                "invalid_request_error",
                Some("model"),
                Some("model_not_found"),
            ),
            Self::RateLimited(l) => (
                Failure {
                    status: StatusCode::TOO_MANY_REQUESTS,
                    message: message.clone(),
                    retry_after_secs: Some(l.retry_after_secs),
                },
                "rate_limit_error",
                None,
                Some("rate_limit_exceeded"),
            ),
            Self::Provider(ProviderError::NotConfigured(_)) => (
                Failure::new(StatusCode::SERVICE_UNAVAILABLE, &message),
                "api_error",
                None,
                Some("provider_not_configured"),
            ),
            Self::Provider(ProviderError::Timeout) => (
                Failure::new(StatusCode::GATEWAY_TIMEOUT, &message),
                "api_error",
                None,
                Some("upstream_timeout"),
            ),
            Self::Provider(e) => {
                tracing::warn!(error = %e, "model provider refused the request");
                (
                    Failure::new(StatusCode::BAD_GATEWAY, &message),
                    "api_error",
                    None,
                    Some("upstream_error"),
                )
            }
            Self::Store(e) => (Failure::from_store(e), "api_error", None, None),
        };
        let body = error_json(&failure.message, kind, param, code);
        failure.into_response_with(body)
    }
}
