//! The widget family's own failures, rendered with the shared ones in the widget's shape
//! `{"error": {"code": "...", "message": "..."}}`. Statuses of shared failures (body, rate
//! limits, providers, store) are decided in [`agentgate_shared::failure`].

use agentgate_shared::failure::{Failure, Fault, Kind};
use http::StatusCode;

#[derive(Debug, thiserror::Error)]
pub enum WidgetError {
    #[error(transparent)]
    Shared(#[from] Fault),
    #[error("{0}")]
    Invalid(String),
    #[error("no bot with that botPublicId")]
    NotFound,
    #[error("this assistant is unavailable right now")]
    PlanLimit,
    #[error("this page's origin may not use this bot")]
    OriginNotAllowed,
    #[error("no action proposal with that id for this visitor")]
    ExecutionNotFound,
    #[error("this action proposal was already settled")]
    AlreadySettled,
    #[error("this action proposal expired")]
    Expired,
}

agentgate_shared::shared_failures!(WidgetError, into_code_response);

impl WidgetError {
    /// Every case's failure: the shared ones as `agentgate_shared::failure` decides them,
    /// the family's own here.
    fn failure(&self, message: String) -> Failure {
        match self {
            Self::Shared(fault) => fault.failure(),
            Self::Invalid(_) => Failure::new(Kind::Invalid, StatusCode::BAD_REQUEST, message),
            Self::NotFound => Failure::new(Kind::NotFound, StatusCode::NOT_FOUND, message),
            Self::PlanLimit => {
                Failure::own("PLAN_LIMIT_REACHED", StatusCode::PAYMENT_REQUIRED, message)
            }
            Self::OriginNotAllowed => {
                Failure::own("ORIGIN_NOT_ALLOWED", StatusCode::FORBIDDEN, message)
            }
            Self::ExecutionNotFound => Failure::new(Kind::NotFound, StatusCode::NOT_FOUND, message),
            Self::AlreadySettled => Failure::own("ALREADY_SETTLED", StatusCode::CONFLICT, message),
            Self::Expired => Failure::own("EXPIRED", StatusCode::GONE, message),
        }
    }
}
