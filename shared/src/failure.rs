//! Failures every family shares, decided once.
//!
//! A bad body, a missing JWT, a rate limit, an unreachable or slow model, a busy store:
//! each has one status and one message for every family. A family's error enum wraps
//! [`Fault`] for these, adds only the cases that are its own, and renders the resulting
//! [`Failure`] in the body shape its clients expect (`{"detail"}`, OpenAI's error object,
//! `{"error": {"code", "message"}}`). Internal causes are logged here, never sent.

use axum::response::{IntoResponse, Response};
use http::StatusCode;

use crate::auth::AuthError;
use crate::http::BodyError;
use crate::ports::StoreError;
use crate::provider::ProviderError;
use crate::ratelimit::{Limited, RateLimitError};
use crate::run::TurnError;

/// What went wrong, as a client can act on it. Families derive their machine codes from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The request is malformed or breaks a rule; fixing it may help.
    Invalid,
    /// No or bad credentials.
    Unauthenticated,
    /// Credentials are fine but do not open this.
    Forbidden,
    NotFound,
    /// Gone for good (an expired or disabled resource).
    Gone,
    /// A concurrent change won; read again and retry.
    Conflict,
    /// A cap was reached; retry after the given time.
    RateLimited,
    /// The model this needs is not configured on the server.
    Unavailable,
    /// The model did not answer in time.
    UpstreamTimeout,
    /// The model refused or failed.
    Upstream,
    /// The store is throttling; retry shortly.
    Busy,
    /// Anything else; details are in the logs.
    Internal,
}

impl Kind {
    /// The `SCREAMING_CASE` code of the `{"error": {"code", "message"}}` families.
    pub fn code(self) -> &'static str {
        match self {
            Self::Invalid => "INVALID_REQUEST",
            Self::Unauthenticated => "UNAUTHORIZED",
            Self::Forbidden => "FORBIDDEN",
            Self::NotFound => "NOT_FOUND",
            Self::Gone => "GONE",
            Self::Conflict => "CONFLICT",
            Self::RateLimited => "RATE_LIMITED",
            Self::Unavailable | Self::Busy => "UNAVAILABLE",
            Self::UpstreamTimeout => "UPSTREAM_TIMEOUT",
            Self::Upstream => "UPSTREAM_ERROR",
            Self::Internal => "INTERNAL",
        }
    }
}

/// A decided failure: its kind, status, the message a caller may read, and when to retry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub kind: Kind,
    pub status: StatusCode,
    pub message: String,
    pub retry_after_secs: Option<u64>,
    /// A family's own code for a case only it has (`LINK_EXPIRED`), shown in place of the
    /// kind's.
    pub code: Option<&'static str>,
}

impl Failure {
    pub fn new(kind: Kind, status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            kind,
            status,
            message: message.into(),
            retry_after_secs: None,
            code: None,
        }
    }

    /// A family's own `status` and `code`, for a case no shared kind names.
    pub fn own(code: &'static str, status: StatusCode, message: impl Into<String>) -> Self {
        let kind = match status.as_u16() {
            401 => Kind::Unauthenticated,
            403 => Kind::Forbidden,
            404 => Kind::NotFound,
            409 => Kind::Conflict,
            410 => Kind::Gone,
            429 => Kind::RateLimited,
            s if s >= 500 => Kind::Unavailable,
            _ => Kind::Invalid,
        };
        Self {
            code: Some(code),
            ..Self::new(kind, status, message)
        }
    }

    /// How a store failure is presented to any caller: busy is 503 with `Retry-After`, a
    /// lost race is 409, anything else a logged 500 that reveals nothing. Never a 500 for
    /// a conditional failure.
    pub fn from_store(err: &StoreError) -> Self {
        use StoreError as E;
        match err {
            E::Throttled { retry_after_secs } => Self {
                retry_after_secs: Some((*retry_after_secs).max(1)),
                ..Self::new(
                    Kind::Busy,
                    StatusCode::SERVICE_UNAVAILABLE,
                    "the service is busy; retry shortly",
                )
            },
            E::TokenTaken => Self::new(
                Kind::Conflict,
                StatusCode::CONFLICT,
                "this public token is already used by another assistant; choose another",
            ),
            E::Conflict | E::AlreadyExists => Self::new(
                Kind::Conflict,
                StatusCode::CONFLICT,
                "the item changed concurrently; read it again and retry",
            ),
            E::Unavailable(_) | E::Corrupt(_) => {
                tracing::error!(error = %err, "store failure");
                Self::new(
                    Kind::Internal,
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal error",
                )
            }
        }
    }

    /// A model provider's failure before the response started.
    pub fn from_provider(err: &ProviderError) -> Self {
        /// Seconds a caller is asked to wait when the model's provider throttles.
        const UPSTREAM_RETRY_AFTER_SECS: u64 = 5;
        match err {
            ProviderError::NotConfigured(_) => Self::new(
                Kind::Unavailable,
                StatusCode::SERVICE_UNAVAILABLE,
                err.to_string(),
            ),
            ProviderError::Timeout => Self::new(
                Kind::UpstreamTimeout,
                StatusCode::GATEWAY_TIMEOUT,
                err.to_string(),
            ),
            // The model's provider is throttling this deployment, not the caller: 503 with
            // a short retry.
            ProviderError::Throttled(_) => Self {
                retry_after_secs: Some(UPSTREAM_RETRY_AFTER_SECS),
                ..Self::new(
                    Kind::Unavailable,
                    StatusCode::SERVICE_UNAVAILABLE,
                    err.reported("before the reply"),
                )
            },
            // What access is missing goes to the owner's logs; the caller is told neutrally.
            ProviderError::ModelAccess(_) => Self::new(
                Kind::Unavailable,
                StatusCode::SERVICE_UNAVAILABLE,
                err.reported("before the reply"),
            ),
            _ => Self::new(
                Kind::Upstream,
                StatusCode::BAD_GATEWAY,
                err.reported("before the reply"),
            ),
        }
    }

    /// A cap was reached.
    pub fn rate_limited(limited: &Limited) -> Self {
        Self {
            retry_after_secs: Some(limited.retry_after_secs),
            ..Self::new(
                Kind::RateLimited,
                StatusCode::TOO_MANY_REQUESTS,
                format!(
                    "Too many requests; retry after {} seconds.",
                    limited.retry_after_secs
                ),
            )
        }
    }

    /// Renders the failure with a family's JSON body (and `Retry-After` when set).
    pub fn into_response_with(self, body: serde_json::Value) -> Response {
        let mut resp = (self.status, axum::Json(body)).into_response();
        if let Some(secs) = self.retry_after_secs
            && let Ok(v) = http::HeaderValue::from_str(&secs.to_string())
        {
            resp.headers_mut().insert(http::header::RETRY_AFTER, v);
        }
        resp
    }

    /// `{"detail": message}`, the shape of the runs and assistants families.
    pub fn into_detail_response(self) -> Response {
        let body = serde_json::json!({ "detail": self.message });
        self.into_response_with(body)
    }

    /// `{"error": {"code", "message"}}`, the shape of the widget and links families.
    pub fn into_code_response(self) -> Response {
        let code = self.code.unwrap_or(self.kind.code());
        let body = serde_json::json!({"error": {"code": code, "message": self.message}});
        self.into_response_with(body)
    }
}

/// The failures every family shares.
#[derive(Debug, thiserror::Error)]
pub enum Fault {
    #[error(transparent)]
    Body(#[from] BodyError),
    /// A value breaks a rule of the domain (the message names the field).
    #[error(transparent)]
    Invalid(#[from] crate::domain::Invalid),
    /// The named assistant does not exist or is not the caller's to see.
    #[error("Assistant not found")]
    AssistantNotFound,
    #[error(transparent)]
    Auth(#[from] AuthError),
    #[error("rate limited by {}", .0.scope)]
    RateLimited(Limited),
    #[error(transparent)]
    Provider(#[from] ProviderError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<RateLimitError> for Fault {
    fn from(e: RateLimitError) -> Self {
        match e {
            RateLimitError::Limited(l) => Self::RateLimited(l),
            RateLimitError::Store(e) => Self::Store(e),
        }
    }
}

impl From<TurnError> for Fault {
    fn from(e: TurnError) -> Self {
        match e {
            TurnError::Provider(e) => Self::Provider(e),
            TurnError::Store(e) => Self::Store(e),
            TurnError::OverBudget { retry_after_secs } => Self::RateLimited(Limited {
                scope: "daily token budget".into(),
                retry_after_secs,
            }),
        }
    }
}

impl Fault {
    /// A field breaks a rule of the domain (422, with a message naming it).
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::Invalid(crate::domain::Invalid::new(message))
    }

    /// The one decision for every family.
    pub fn failure(&self) -> Failure {
        match self {
            Self::Body(e) => Failure::new(Kind::Invalid, e.status(), e.to_string()),
            Self::Invalid(e) => Failure::new(
                Kind::Invalid,
                StatusCode::UNPROCESSABLE_ENTITY,
                e.to_string(),
            ),
            Self::AssistantNotFound => {
                Failure::new(Kind::NotFound, StatusCode::NOT_FOUND, self.to_string())
            }
            Self::Auth(_) => Failure::new(
                Kind::Unauthenticated,
                StatusCode::UNAUTHORIZED,
                "a valid user JWT is required: Authorization: Bearer <jwt>",
            ),
            Self::RateLimited(l) => Failure::rate_limited(l),
            Self::Provider(e) => Failure::from_provider(e),
            Self::Store(e) => Failure::from_store(e),
        }
    }
}

/// Lets a family error built around [`Fault`] take every shared failure with `?`. With a
/// renderer (`into_detail_response`, `into_code_response`), it also answers with the
/// [`Failure`] the family's `fn failure(&self, message: String) -> Failure` decides.
#[macro_export]
macro_rules! shared_failures {
    ($family:ty, $render:ident) => {
        $crate::shared_failures!($family);

        /// The failure the family's `failure` decides, in the family's body shape.
        impl ::axum::response::IntoResponse for $family {
            fn into_response(self) -> ::axum::response::Response {
                self.failure(self.to_string()).$render()
            }
        }
    };
    ($family:ty) => {
        $crate::shared_failures!(@each $family:
            $crate::http::BodyError,
            $crate::auth::AuthError,
            $crate::ports::StoreError,
            $crate::provider::ProviderError,
            $crate::ratelimit::RateLimitError,
            $crate::run::TurnError,
            $crate::domain::Invalid);
    };
    (@each $family:ty: $($source:ty),+) => {
        $(impl From<$source> for $family {
            fn from(e: $source) -> Self {
                Self::from($crate::failure::Fault::from(e))
            }
        })+
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_failures_map_to_retryable_statuses_and_never_500_for_conditions() {
        let busy = Failure::from_store(&StoreError::Throttled {
            retry_after_secs: 0,
        });
        assert_eq!(
            (busy.status.as_u16(), busy.retry_after_secs),
            (503, Some(1))
        );
        let resp = busy.into_detail_response();
        assert_eq!(resp.headers()[http::header::RETRY_AFTER], "1");
        for e in [
            StoreError::Conflict,
            StoreError::AlreadyExists,
            StoreError::TokenTaken,
        ] {
            assert_eq!(Failure::from_store(&e).status, StatusCode::CONFLICT, "{e}");
        }
        let hidden = Failure::from_store(&StoreError::Unavailable("GetItem: secret detail".into()));
        assert_eq!(hidden.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(!hidden.message.contains("secret detail"));
    }

    #[test]
    fn provider_failures_are_503_504_or_502() {
        let cases = [
            (
                ProviderError::NotConfigured("openai"),
                503,
                Kind::Unavailable,
            ),
            (ProviderError::Timeout, 504, Kind::UpstreamTimeout),
            (
                ProviderError::Upstream {
                    status: 400,
                    message: "bad".into(),
                },
                502,
                Kind::Upstream,
            ),
        ];
        for (err, status, kind) in cases {
            let f = Fault::from(err).failure();
            assert_eq!((f.status.as_u16(), f.kind), (status, kind));
        }
    }

    #[test]
    fn a_rate_limit_says_when_to_retry() {
        let f = Fault::from(RateLimitError::Limited(Limited {
            scope: "x".into(),
            retry_after_secs: 42,
        }))
        .failure();
        assert_eq!(f.status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(f.retry_after_secs, Some(42));
        let resp = f.into_code_response();
        assert_eq!(resp.headers()[http::header::RETRY_AFTER], "42");
    }
}
