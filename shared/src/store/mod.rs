//! Storage adapters behind the [`crate::ports`] traits.

pub mod dynamo;
pub mod sqlite;

pub use dynamo::DynamoStore;
pub use sqlite::SqliteStore;

use std::sync::Arc;

use crate::clock::Clock;
use crate::ports::Store;
use crate::state::BootError;

/// The DynamoDB store named by `AGENTGATE_TABLE`, with the SDK's standard configuration
/// (region, credentials, and `AWS_ENDPOINT_URL_DYNAMODB` / `AWS_ENDPOINT_URL` for DynamoDB
/// Local). The SDK config is loaded once and shared.
pub async fn dynamo_from_env(clock: Arc<dyn Clock>) -> Result<Arc<dyn Store>, BootError> {
    let table = std::env::var("AGENTGATE_TABLE")
        .ok()
        .filter(|t| !t.trim().is_empty())
        .ok_or(BootError::Missing("AGENTGATE_TABLE"))?;
    let config = aws_config::load_from_env().await;
    let client = aws_sdk_dynamodb::Client::new(&config);
    Ok(Arc::new(DynamoStore::new(client, table, clock)))
}
