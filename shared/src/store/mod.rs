//! Storage adapters behind the [`crate::ports`] traits.

pub mod sqlite;

pub use sqlite::SqliteStore;
