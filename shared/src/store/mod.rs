//! Storage adapters behind the [`crate::ports`] traits.

pub mod sqlite;

pub use sqlite::SqliteStore;

use std::sync::Arc;

use crate::clock::Clock;
use crate::ports::Store;
use crate::state::BootError;

/// The DynamoDB store named by `AGENTGATE_TABLE`, with the SDK's standard configuration.
pub async fn dynamo_from_env(_clock: Arc<dyn Clock>) -> Result<Arc<dyn Store>, BootError> {
    Err(BootError::Invalid {
        var: "AGENTGATE_STORE",
        reason: "the DynamoDB store is not part of this build".into(),
    })
}
