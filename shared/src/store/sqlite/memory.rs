//! Per-user memories: one row per memory key with its summary, version and pending count.

use async_trait::async_trait;
use rusqlite::params;

use super::{SqliteStore, Tx, corrupt, exec, row, to_i64, unavailable};
use crate::domain::memory::{MEMORY_RETENTION_SECS, Memory, MemoryKey};
use crate::domain::thread::ThreadKey;
use crate::ports::{MemoryStore, StoreError};

pub(super) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS memories (
    key TEXT PRIMARY KEY,
    summary TEXT NOT NULL,
    version INTEGER NOT NULL,
    pending INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    threads TEXT NOT NULL DEFAULT '[]'
);
";

/// Adds the `threads` column to a memory table created before it existed.
pub(super) fn migrate(conn: &rusqlite::Connection) -> Result<(), StoreError> {
    if conn
        .prepare("SELECT threads FROM memories LIMIT 0")
        .is_err()
    {
        conn.execute_batch("ALTER TABLE memories ADD COLUMN threads TEXT NOT NULL DEFAULT '[]'")
            .map_err(unavailable)?;
    }
    Ok(())
}

fn read_memory(tx: &Tx, key: &str, now: i64) -> Result<Option<Memory>, StoreError> {
    row(
        tx,
        "SELECT summary, version, pending, updated_at, threads FROM memories WHERE key = ?1 AND expires_at > ?2",
        params![key, now],
        |r| {
            let threads: String = r.get(4)?;
            Ok(Memory {
                summary: r.get(0)?,
                version: r.get(1)?,
                pending: u64::try_from(r.get::<_, i64>(2)?).unwrap_or(0),
                updated_at: r.get(3)?,
                threads: serde_json::from_str(&threads).unwrap_or_default(),
            })
        },
    )
}

impl SqliteStore {
    /// Counts `messages` more on the memory (created empty if absent or expired), noting the
    /// thread they came from.
    async fn count(
        &self,
        key: &MemoryKey,
        from: Option<String>,
        messages: u64,
    ) -> Result<Memory, StoreError> {
        let key = key.as_str().to_owned();
        let fresh_version = self.clock.now_ms();
        self.tx(move |tx, now| {
            let mut memory = read_memory(tx, &key, now)?.unwrap_or(Memory {
                version: fresh_version,
                ..Memory::default()
            });
            memory.pending = memory.pending.saturating_add(messages);
            if let Some(from) = from.filter(|f| !memory.threads.contains(f)) {
                memory.threads.push(from);
            }
            let threads = serde_json::to_string(&memory.threads).map_err(corrupt)?;
            exec(tx,
                "INSERT INTO memories (key, summary, version, pending, updated_at, expires_at, threads)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                 ON CONFLICT(key) DO UPDATE SET summary = excluded.summary,
                   version = excluded.version, pending = excluded.pending,
                   updated_at = excluded.updated_at, expires_at = excluded.expires_at,
                   threads = excluded.threads",
                params![
                    key,
                    memory.summary,
                    memory.version,
                    to_i64(memory.pending),
                    memory.updated_at,
                    now + MEMORY_RETENTION_SECS,
                    threads
                ],
            )
            .map_err(unavailable)?;
            Ok(memory)
        })
        .await
    }
}

#[async_trait]
impl MemoryStore for SqliteStore {
    async fn memory(&self, key: &MemoryKey) -> Result<Option<Memory>, StoreError> {
        let key = key.as_str().to_owned();
        self.read(move |tx, now| read_memory(tx, &key, now)).await
    }

    async fn add_pending(&self, key: &MemoryKey, messages: u64) -> Result<Memory, StoreError> {
        self.count(key, None, messages).await
    }

    async fn add_pending_from(
        &self,
        key: &MemoryKey,
        from: &ThreadKey,
        messages: u64,
    ) -> Result<Memory, StoreError> {
        self.count(key, Some(from.as_str().to_owned()), messages)
            .await
    }

    async fn save_summary(
        &self,
        key: &MemoryKey,
        read: &Memory,
        summary: &str,
    ) -> Result<(), StoreError> {
        let key = key.as_str().to_owned();
        let (version, consumed, summary) = (read.version, to_i64(read.pending), summary.to_owned());
        let covered = read.threads.clone();
        let now_ms = self.clock.now_ms();
        self.tx(move |tx, now| {
            // Threads noted since the read stay for the next summary.
            let current = read_memory(tx, &key, now)?.map(|m| m.threads).unwrap_or_default();
            let left: Vec<String> = current.into_iter().filter(|t| !covered.contains(t)).collect();
            let left = serde_json::to_string(&left).map_err(corrupt)?;
            let changed = exec(
                tx,
                    "UPDATE memories SET summary = ?1, version = version + 1,
                       pending = MAX(pending - ?2, 0), updated_at = ?3, expires_at = ?4, threads = ?8
                     WHERE key = ?5 AND version = ?6 AND expires_at > ?7",
                    params![
                        summary,
                        consumed,
                        now_ms,
                        now + MEMORY_RETENTION_SECS,
                        key,
                        version,
                        now,
                        left
                    ],
                )
                .map_err(unavailable)?;
            if changed == 1 {
                Ok(())
            } else {
                Err(StoreError::Conflict)
            }
        })
        .await
    }

    async fn forget(&self, key: &MemoryKey) -> Result<(), StoreError> {
        let key = rusqlite::types::Value::Text(key.as_str().to_owned());
        self.run("DELETE FROM memories WHERE key = ?1".to_owned(), vec![key])
            .await
            .map(drop)
    }
}
