//! Every way a run request can fail, mapped to a status and a `{"detail": ...}` body in
//! one place. Internal causes are logged, never sent.

use agentgate_shared::auth::AuthError;
use agentgate_shared::domain::assistant::AccessDenied;
use agentgate_shared::http::BodyError;
use agentgate_shared::ports::StoreError;
use agentgate_shared::provider::ProviderError;
use axum::Json;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use serde_json::json;

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

impl IntoResponse for RunsError {
    fn into_response(self) -> Response {
        let (status, detail) = match &self {
            Self::Body(e) => (e.status(), e.to_string()),
            Self::Invalid(m) => (StatusCode::UNPROCESSABLE_ENTITY, m.clone()),
            Self::NotFound => (StatusCode::NOT_FOUND, self.to_string()),
            Self::Denied(AccessDenied::NotPublic) => (StatusCode::FORBIDDEN, self.to_string()),
            Self::Denied(AccessDenied::MissingToken) => {
                (StatusCode::UNAUTHORIZED, self.to_string())
            }
            Self::Denied(AccessDenied::InvalidToken) => (StatusCode::FORBIDDEN, self.to_string()),
            Self::Auth(_) => (
                StatusCode::UNAUTHORIZED,
                "a valid user JWT is required: Authorization: Bearer <jwt>".to_owned(),
            ),
            Self::Provider(e @ ProviderError::NotConfigured(_)) => {
                (StatusCode::SERVICE_UNAVAILABLE, e.to_string())
            }
            Self::Provider(e @ ProviderError::Timeout) => {
                (StatusCode::GATEWAY_TIMEOUT, e.to_string())
            }
            Self::Provider(e) => {
                tracing::warn!(error = %e, "model provider refused the run");
                (StatusCode::BAD_GATEWAY, e.to_string())
            }
            Self::Store(StoreError::Throttled { .. }) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "the service is busy; retry shortly".to_owned(),
            ),
            Self::Store(StoreError::Conflict | StoreError::AlreadyExists) => (
                StatusCode::CONFLICT,
                "the conversation changed concurrently; retry".to_owned(),
            ),
            Self::Store(e) => {
                tracing::error!(error = %e, "store failure");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal error".to_owned(),
                )
            }
        };
        let mut resp = (status, Json(json!({ "detail": detail }))).into_response();
        if let Self::Store(StoreError::Throttled { retry_after_secs }) = self {
            if let Ok(v) = HeaderValue::from_str(&retry_after_secs.max(1).to_string()) {
                resp.headers_mut().insert(header::RETRY_AFTER, v);
            }
        }
        resp
    }
}
