//! Threads: a meta row per thread (generation, next sequence number, expiry) and one row per
//! message; an expired thread restarts with a new generation, so old messages never return.

use async_trait::async_trait;
use rusqlite::params;

use super::{SqliteStore, corrupt, exec, one, row, unavailable};
use crate::domain::thread::{StoredMessage, ThreadKey};
use crate::ports::{StoreError, ThreadStore};

pub(super) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS threads (
    key TEXT PRIMARY KEY,
    generation INTEGER NOT NULL,
    next_seq INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS messages (
    thread TEXT NOT NULL,
    generation INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (thread, generation, seq)
);
";

#[async_trait]
impl ThreadStore for SqliteStore {
    async fn recent_messages(
        &self,
        key: &ThreadKey,
        limit: usize,
    ) -> Result<Vec<StoredMessage>, StoreError> {
        let key = key.as_str().to_owned();
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.read(move |tx, now| {
            let generation: Option<i64> = one(tx, "SELECT generation FROM threads WHERE key = ?1 AND expires_at > ?2", params![key, now])?;
            let Some(generation) = generation else {
                return Ok(Vec::new());
            };
            let mut stmt = tx
                .prepare_cached(
                    "SELECT body FROM messages WHERE thread = ?1 AND generation = ?2 AND expires_at > ?3
                     ORDER BY seq DESC LIMIT ?4",
                )
                .map_err(unavailable)?;
            let rows = stmt
                .query_map(params![key, generation, now, limit], |r| r.get::<_, String>(0))
                .map_err(unavailable)?;
            let mut out = rows
                .map(|r| {
                    r.map_err(unavailable)
                        .and_then(|b| serde_json::from_str::<StoredMessage>(&b).map_err(corrupt))
                })
                .collect::<Result<Vec<_>, _>>()?;
            out.reverse();
            Ok(out)
        })
        .await
    }

    async fn append_messages(
        &self,
        key: &ThreadKey,
        messages: &[StoredMessage],
        idle_ttl_secs: i64,
    ) -> Result<(), StoreError> {
        let key = key.as_str().to_owned();
        let bodies = messages
            .iter()
            .map(serde_json::to_string)
            .collect::<Result<Vec<_>, _>>()
            .map_err(corrupt)?;
        let now_ms = self.clock.now_ms();
        self.tx(move |tx, now| {
            let expires_at = now + idle_ttl_secs;
            let live: Option<(i64, i64)> = row(
                tx,
                "SELECT generation, next_seq FROM threads WHERE key = ?1 AND expires_at > ?2",
                params![key, now],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?;
            // An expired thread restarts with a new generation so its old rows stay hidden.
            let (generation, first_seq) = live.unwrap_or((now_ms, 0));
            let n = i64::try_from(bodies.len()).unwrap_or(i64::MAX);
            exec(tx,
                "INSERT INTO threads (key, generation, next_seq, expires_at) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT(key) DO UPDATE SET generation = excluded.generation,
                   next_seq = excluded.next_seq, expires_at = excluded.expires_at",
                params![key, generation, first_seq + n, expires_at],
            )
            .map_err(unavailable)?;
            for (i, body) in bodies.iter().enumerate() {
                exec(tx,
                    "INSERT INTO messages (thread, generation, seq, expires_at, body) VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![key, generation, first_seq + i as i64, expires_at, body],
                )
                .map_err(unavailable)?;
            }
            Ok(())
        })
        .await
    }

    async fn delete_thread(&self, key: &ThreadKey) -> Result<(), StoreError> {
        let key = key.as_str().to_owned();
        self.tx(move |tx, _| {
            exec(tx, "DELETE FROM messages WHERE thread = ?1", params![key])
                .map_err(unavailable)?;
            exec(tx, "DELETE FROM threads WHERE key = ?1", params![key]).map_err(unavailable)?;
            Ok(())
        })
        .await
    }
}
