//! Storage adapters behind the [`crate::ports`] traits.

pub mod dynamo;
pub mod sqlite;

pub use dynamo::DynamoStore;
pub use sqlite::SqliteStore;

use std::sync::Arc;

use crate::clock::Clock;
use crate::ports::Store;
use crate::state::BootError;

/// The DynamoDB store named by `AGENTGATE_TABLE`, over an SDK config loaded once per
/// process (region, credentials, and `AWS_ENDPOINT_URL_DYNAMODB` / `AWS_ENDPOINT_URL` for
/// DynamoDB Local).
pub fn dynamo_with_config(
    config: &aws_config::SdkConfig,
    clock: Arc<dyn Clock>,
) -> Result<Arc<dyn Store>, BootError> {
    let table = std::env::var("AGENTGATE_TABLE")
        .ok()
        .filter(|t| !t.trim().is_empty())
        .ok_or(BootError::Missing("AGENTGATE_TABLE"))?;
    let client = aws_sdk_dynamodb::Client::new(config);
    Ok(Arc::new(DynamoStore::new(client, table, clock)))
}
