//! The OpenAI family's own failures, and the rendering of every failure in OpenAI's error
//! shape `{"error": {"message", "type", "param", "code"}}`. Statuses of shared failures
//! (body, rate limits, providers, store) are decided in [`agentgate_shared::failure`];
//! this module only names them the way OpenAI's clients expect.

use agentgate_shared::failure::{Failure, Fault, Kind};
use agentgate_shared::stream::openai::error_json;
use axum::response::{IntoResponse, Response};
use http::StatusCode;

#[derive(Debug, thiserror::Error)]
pub enum OpenAiError {
    #[error(transparent)]
    Shared(#[from] Fault),
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
    #[error("No response found with id '{0}'.")]
    ResponseNotFound(String),
}

agentgate_shared::shared_failures!(OpenAiError);

impl OpenAiError {
    pub fn invalid(param: &str, message: impl Into<String>) -> Self {
        Self::Invalid {
            message: message.into(),
            param: Some(param.to_owned()),
        }
    }
}

/// OpenAI's `type` and `code` for a kind of failure.
fn openai_names(kind: Kind) -> (&'static str, Option<&'static str>) {
    match kind {
        Kind::Invalid | Kind::NotFound | Kind::Gone => ("invalid_request_error", None),
        Kind::Unauthenticated => ("invalid_request_error", Some("invalid_api_key")),
        Kind::Forbidden => ("permission_error", None),
        Kind::RateLimited => ("rate_limit_error", Some("rate_limit_exceeded")),
        Kind::Unavailable => ("api_error", Some("provider_not_configured")),
        Kind::UpstreamTimeout => ("api_error", Some("upstream_timeout")),
        Kind::Upstream => ("api_error", Some("upstream_error")),
        Kind::Conflict | Kind::Busy | Kind::Internal => ("api_error", None),
    }
}

impl IntoResponse for OpenAiError {
    fn into_response(self) -> Response {
        let message = self.to_string();
        let (failure, param, code) = match &self {
            Self::Shared(fault) => (fault.failure(), None, None),
            Self::Invalid { param, .. } => (
                Failure::new(Kind::Invalid, StatusCode::BAD_REQUEST, message),
                param.as_deref(),
                None,
            ),
            Self::MissingKey | Self::InvalidKey => (
                Failure::new(Kind::Unauthenticated, StatusCode::UNAUTHORIZED, message),
                None,
                None,
            ),
            Self::NotPublic => (
                Failure::new(Kind::Forbidden, StatusCode::FORBIDDEN, message),
                None,
                Some("assistant_not_public"),
            ),
            Self::ResponseNotFound(_) => (
                Failure::new(Kind::NotFound, StatusCode::NOT_FOUND, message),
                None,
                None,
            ),
            Self::ModelNotFound(_) => (
                Failure::new(Kind::NotFound, StatusCode::NOT_FOUND, message),
                Some("model"),
                Some("model_not_found"),
            ),
        };
        let (kind, default_code) = openai_names(failure.kind);
        let body = error_json(&failure.message, kind, param, code.or(default_code));
        failure.into_response_with(body)
    }
}
