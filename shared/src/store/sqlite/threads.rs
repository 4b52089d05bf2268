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

/// A thread's latest messages, newest first.
const RECENT: &str = "SELECT body FROM messages WHERE thread = ?1 AND generation = ?2
     AND expires_at > ?3 ORDER BY seq DESC LIMIT ?4";

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
            let generation: Option<i64> = one(
                tx,
                "SELECT generation FROM threads WHERE key = ?1 AND expires_at > ?2",
                params![key, now],
            )?;
            let Some(generation) = generation else {
                return Ok(Vec::new());
            };
            let mut stmt = tx.prepare_cached(RECENT).map_err(unavailable)?;
            let mut rows = stmt
                .query(params![key, generation, now, limit])
                .map_err(unavailable)?;
            let mut out = Vec::new();
            // Each body is parsed where SQLite holds it, not copied out first.
            while let Some(r) = rows.next().map_err(unavailable)? {
                let body = r.get_ref(0).map_err(unavailable)?;
                out.push(
                    serde_json::from_str::<StoredMessage>(body.as_str().map_err(corrupt)?)
                        .map_err(corrupt)?,
                );
            }
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::sync::Arc;

    use rusqlite::StatementStatus;

    use super::*;
    use crate::clock::ManualClock;
    use crate::domain::ids::RunId;
    use crate::domain::message::{Message, Role};

    #[tokio::test(flavor = "current_thread")]
    async fn the_history_read_is_compiled_once_whatever_it_is_bound_to() {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(ManualClock::new(1_000_000));
        let store = SqliteStore::open_exclusive(dir.path(), clock.clone()).unwrap();
        let key = ThreadKey::stored("t", None);
        let said = |text: &str| StoredMessage {
            message: Message::new(Role::Human, text),
            run_id: RunId::mint(),
            created_at: 0,
        };
        store
            .append_messages(&key, &[said("a"), said("b"), said("c")], 3_600)
            .await
            .unwrap();
        // Other limits and another second each time: other bindings for the same statement.
        for limit in [2, 40, 3] {
            clock.advance_secs(1);
            let got = store.recent_messages(&key, limit).await.unwrap();
            assert_eq!(got.len(), limit.min(3));
            assert_eq!(got.last().unwrap().message.content, "c");
        }
        let db = store.lock().unwrap();
        let stmt = db.conn.prepare_cached(RECENT).unwrap();
        assert_eq!(stmt.get_status(StatementStatus::RePrepare), 0);
    }
}
