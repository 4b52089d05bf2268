//! Owner API failures, mapped to statuses and `{"detail": ...}` in one place.

use agentgate_shared::auth::AuthError;
use agentgate_shared::http::BodyError;
use agentgate_shared::ports::StoreError;
use axum::Json;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use serde_json::json;

#[derive(Debug, thiserror::Error)]
pub enum AssistantsError {
    #[error(transparent)]
    Body(#[from] BodyError),
    #[error("{0}")]
    Invalid(String),
    #[error("Assistant not found")]
    NotFound,
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
        let (status, detail) = match &self {
            Self::Body(e) => (e.status(), e.to_string()),
            Self::Invalid(m) => (StatusCode::UNPROCESSABLE_ENTITY, m.clone()),
            Self::NotFound => (StatusCode::NOT_FOUND, self.to_string()),
            Self::Auth(_) => (
                StatusCode::UNAUTHORIZED,
                "a valid user JWT is required: Authorization: Bearer <jwt>".to_owned(),
            ),
            Self::Store(StoreError::TokenTaken) => (
                StatusCode::CONFLICT,
                "this public token is already used by another assistant; choose another".to_owned(),
            ),
            Self::Store(StoreError::Conflict | StoreError::AlreadyExists) => (
                StatusCode::CONFLICT,
                "the assistant changed concurrently; read it again and retry".to_owned(),
            ),
            Self::Store(StoreError::Throttled { .. }) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "the service is busy; retry shortly".to_owned(),
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
