//! The owner API's own failures, rendered with the shared ones as `{"detail": ...}`.
//! Statuses of shared failures (body, JWT, store) are decided in
//! [`agentgate_shared::failure`].

use agentgate_shared::failure::{Failure, Fault, Kind};
use http::StatusCode;

#[derive(Debug, thiserror::Error)]
pub enum AssistantsError {
    #[error(transparent)]
    Shared(#[from] Fault),
    #[error("No memory is kept for this user")]
    NoMemory,
    #[error("No document with this id")]
    NoDocument,
}

agentgate_shared::shared_failures!(AssistantsError, into_detail_response);

impl AssistantsError {
    /// Every case's failure: the shared ones as `agentgate_shared::failure` decides them,
    /// the family's own here.
    fn failure(&self, message: String) -> Failure {
        match self {
            Self::Shared(fault) => fault.failure(),
            Self::NoMemory | Self::NoDocument => {
                Failure::new(Kind::NotFound, StatusCode::NOT_FOUND, message)
            }
        }
    }
}
