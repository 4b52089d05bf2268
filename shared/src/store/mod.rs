//! Storage adapters behind the [`crate::ports`] traits: the embedded SQLite store and
//! DynamoDB. Each adapter has one file per port, with its item mapping beside it; which
//! one a process uses is decided by the composition root ([`crate::state`]).

pub mod dynamo;
pub mod sqlite;

pub use dynamo::DynamoStore;
pub use sqlite::SqliteStore;
