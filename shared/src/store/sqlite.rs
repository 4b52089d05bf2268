//! The embedded store for local runs: SQLite in a data folder.
//!
//! It honours the same contract as the DynamoDB adapter (conditional creates and updates,
//! exact capped counters, expired items invisible), so the local server behaves like the
//! deployed one. One connection behind a mutex is plenty for a laptop and makes every
//! operation a serialised transaction; calls run on tokio's blocking pool so the async
//! runtime never waits on disk.

use std::path::Path;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use crate::clock::Clock;
use crate::domain::assistant::Assistant;
use crate::domain::ids::{AssistantId, UserId};
use crate::domain::memory::{MEMORY_RETENTION_SECS, Memory, MemoryKey};
use crate::domain::thread::{StoredMessage, ThreadKey};
use crate::domain::token::TokenDigest;
use crate::ports::{
    Admission, AssistantStore, CounterStore, DailyUsage, MemoryStore, StoreError, ThreadStore,
    USAGE_RETENTION_DAYS, UsageDelta, UsageStore,
};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS assistants (
    id TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    version INTEGER NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS assistants_by_owner ON assistants (owner, created_at);
CREATE TABLE IF NOT EXISTS tokens (
    digest TEXT PRIMARY KEY,
    assistant_id TEXT NOT NULL,
    expires_at INTEGER
);
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
CREATE TABLE IF NOT EXISTS usage (
    assistant TEXT NOT NULL,
    day INTEGER NOT NULL,
    requests INTEGER NOT NULL,
    messages INTEGER NOT NULL,
    input_tokens INTEGER NOT NULL,
    output_tokens INTEGER NOT NULL,
    latency_ms INTEGER NOT NULL,
    PRIMARY KEY (assistant, day)
);
CREATE TABLE IF NOT EXISTS memories (
    key TEXT PRIMARY KEY,
    summary TEXT NOT NULL,
    version INTEGER NOT NULL,
    pending INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS counters (
    key TEXT PRIMARY KEY,
    value INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
";

/// SQLite-backed implementation of every store port.
#[derive(Clone)]
pub struct SqliteStore {
    conn: Arc<Mutex<Connection>>,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore").finish_non_exhaustive()
    }
}

fn unavailable(err: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(err.to_string())
}

fn corrupt(err: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(err.to_string())
}

impl SqliteStore {
    /// Opens (creating if needed) the database file `dir/agentgate.sqlite3`.
    pub fn open(dir: &Path, clock: Arc<dyn Clock>) -> Result<Self, StoreError> {
        std::fs::create_dir_all(dir).map_err(unavailable)?;
        let conn = Connection::open(dir.join("agentgate.sqlite3")).map_err(unavailable)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(unavailable)?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(unavailable)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(unavailable)?;
        conn.execute_batch(SCHEMA).map_err(unavailable)?;
        Ok(Self {
            conn: Arc::new(Mutex::new(conn)),
            clock,
        })
    }

    /// Runs `f` inside an immediate (write-locked) transaction on the blocking pool.
    async fn tx<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&rusqlite::Transaction<'_>, i64) -> Result<T, StoreError> + Send + 'static,
    {
        let conn = Arc::clone(&self.conn);
        let now = self.clock.now_secs();
        tokio::task::spawn_blocking(move || {
            let mut guard = conn
                .lock()
                .map_err(|_| unavailable("store lock poisoned"))?;
            let tx = guard
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(unavailable)?;
            let out = f(&tx, now)?;
            tx.commit().map_err(unavailable)?;
            Ok(out)
        })
        .await
        .map_err(unavailable)?
    }
}

/// The tokens whose index rows an assistant owns at `now` (an expired overlap token's row
/// may already belong to another assistant).
fn live_tokens(a: &Assistant, now: i64) -> Vec<(String, Option<i64>)> {
    [a.token.as_ref(), a.previous_token.as_ref()]
        .into_iter()
        .flatten()
        .filter(|t| t.expires_at.is_none_or(|e| e > now))
        .map(|t| (t.digest.to_hex(), t.expires_at))
        .collect()
}

fn claim_token(
    tx: &rusqlite::Transaction<'_>,
    digest: &str,
    id: &str,
    expires_at: Option<i64>,
    now: i64,
) -> Result<(), StoreError> {
    let holder: Option<(String, Option<i64>)> = tx
        .query_row(
            "SELECT assistant_id, expires_at FROM tokens WHERE digest = ?1",
            params![digest],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()
        .map_err(unavailable)?;
    if let Some((owner, exp)) = holder {
        let live = exp.is_none_or(|e| e > now);
        if owner != id && live {
            return Err(StoreError::TokenTaken);
        }
    }
    tx.execute(
        "INSERT INTO tokens (digest, assistant_id, expires_at) VALUES (?1, ?2, ?3)
         ON CONFLICT(digest) DO UPDATE SET assistant_id = excluded.assistant_id, expires_at = excluded.expires_at",
        params![digest, id, expires_at],
    )
    .map_err(unavailable)?;
    Ok(())
}

fn decode_assistant(body: &str) -> Result<Assistant, StoreError> {
    serde_json::from_str(body).map_err(corrupt)
}

#[async_trait]
impl AssistantStore for SqliteStore {
    async fn create_assistant(&self, assistant: &Assistant) -> Result<(), StoreError> {
        let a = assistant.clone();
        let body = serde_json::to_string(&a).map_err(corrupt)?;
        self.tx(move |tx, now| {
            let inserted = tx
                .execute(
                    "INSERT INTO assistants (id, owner, created_at, version, body) VALUES (?1, ?2, ?3, ?4, ?5)
                     ON CONFLICT(id) DO NOTHING",
                    params![a.id.as_str(), a.owner.as_str(), a.created_at, a.version as i64, body],
                )
                .map_err(unavailable)?;
            if inserted == 0 {
                return Err(StoreError::AlreadyExists);
            }
            for (digest, exp) in live_tokens(&a, now) {
                claim_token(tx, &digest, a.id.as_str(), exp, now)?;
            }
            Ok(())
        })
        .await
    }

    async fn get_assistant(&self, id: &AssistantId) -> Result<Option<Assistant>, StoreError> {
        let id = id.as_str().to_owned();
        self.tx(move |tx, _| {
            tx.query_row(
                "SELECT body FROM assistants WHERE id = ?1",
                params![id],
                |r| r.get::<_, String>(0),
            )
            .optional()
            .map_err(unavailable)?
            .map(|b| decode_assistant(&b))
            .transpose()
        })
        .await
    }

    async fn list_assistants(&self, owner: &UserId) -> Result<Vec<Assistant>, StoreError> {
        let owner = owner.as_str().to_owned();
        self.tx(move |tx, _| {
            let mut stmt = tx
                .prepare("SELECT body FROM assistants WHERE owner = ?1 ORDER BY created_at, id")
                .map_err(unavailable)?;
            let rows = stmt
                .query_map(params![owner], |r| r.get::<_, String>(0))
                .map_err(unavailable)?;
            rows.map(|r| r.map_err(unavailable).and_then(|b| decode_assistant(&b)))
                .collect()
        })
        .await
    }

    async fn update_assistant(&self, prev: &Assistant, next: &Assistant) -> Result<(), StoreError> {
        let (prev, next) = (prev.clone(), next.clone());
        let body = serde_json::to_string(&next).map_err(corrupt)?;
        self.tx(move |tx, now| {
            let changed = tx
                .execute(
                    "UPDATE assistants SET body = ?1, version = ?2 WHERE id = ?3 AND version = ?4",
                    params![
                        body,
                        next.version as i64,
                        next.id.as_str(),
                        prev.version as i64
                    ],
                )
                .map_err(unavailable)?;
            if changed == 0 {
                return Err(StoreError::Conflict);
            }
            let keep = live_tokens(&next, now);
            for (digest, _) in live_tokens(&prev, now) {
                if !keep.iter().any(|(d, _)| *d == digest) {
                    tx.execute(
                        "DELETE FROM tokens WHERE digest = ?1 AND assistant_id = ?2",
                        params![digest, next.id.as_str()],
                    )
                    .map_err(unavailable)?;
                }
            }
            for (digest, exp) in keep {
                claim_token(tx, &digest, next.id.as_str(), exp, now)?;
            }
            Ok(())
        })
        .await
    }

    async fn find_assistant_by_token(
        &self,
        digest: &TokenDigest,
    ) -> Result<Option<AssistantId>, StoreError> {
        let digest = digest.to_hex();
        self.tx(move |tx, now| {
            let row: Option<(String, Option<i64>)> = tx
                .query_row(
                    "SELECT assistant_id, expires_at FROM tokens WHERE digest = ?1",
                    params![digest],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()
                .map_err(unavailable)?;
            row.filter(|(_, exp)| exp.is_none_or(|e| e > now))
                .map(|(id, _)| AssistantId::parse(&id).map_err(corrupt))
                .transpose()
        })
        .await
    }
}

#[async_trait]
impl ThreadStore for SqliteStore {
    async fn recent_messages(
        &self,
        key: &ThreadKey,
        limit: usize,
    ) -> Result<Vec<StoredMessage>, StoreError> {
        let key = key.as_str().to_owned();
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.tx(move |tx, now| {
            let generation: Option<i64> = tx
                .query_row(
                    "SELECT generation FROM threads WHERE key = ?1 AND expires_at > ?2",
                    params![key, now],
                    |r| r.get(0),
                )
                .optional()
                .map_err(unavailable)?;
            let Some(generation) = generation else {
                return Ok(Vec::new());
            };
            let mut stmt = tx
                .prepare(
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
            let live: Option<(i64, i64)> = tx
                .query_row(
                    "SELECT generation, next_seq FROM threads WHERE key = ?1 AND expires_at > ?2",
                    params![key, now],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()
                .map_err(unavailable)?;
            // An expired thread restarts with a new generation so its old rows stay hidden.
            let (generation, first_seq) = live.unwrap_or((now_ms, 0));
            let n = i64::try_from(bodies.len()).unwrap_or(i64::MAX);
            tx.execute(
                "INSERT INTO threads (key, generation, next_seq, expires_at) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT(key) DO UPDATE SET generation = excluded.generation,
                   next_seq = excluded.next_seq, expires_at = excluded.expires_at",
                params![key, generation, first_seq + n, expires_at],
            )
            .map_err(unavailable)?;
            for (i, body) in bodies.iter().enumerate() {
                tx.execute(
                    "INSERT INTO messages (thread, generation, seq, expires_at, body) VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![key, generation, first_seq + i as i64, expires_at, body],
                )
                .map_err(unavailable)?;
            }
            Ok(())
        })
        .await
    }
}

#[async_trait]
impl CounterStore for SqliteStore {
    async fn increment_below(
        &self,
        key: &str,
        limit: u64,
        expires_at: i64,
    ) -> Result<Admission, StoreError> {
        let key = key.to_owned();
        self.tx(move |tx, now| {
            let current: u64 = tx
                .query_row(
                    "SELECT value FROM counters WHERE key = ?1 AND expires_at > ?2",
                    params![key, now],
                    |r| r.get::<_, i64>(0),
                )
                .optional()
                .map_err(unavailable)?
                .map_or(0, |v| u64::try_from(v).unwrap_or(0));
            if current >= limit {
                return Ok(Admission::Rejected);
            }
            let next = current + 1;
            tx.execute(
                "INSERT INTO counters (key, value, expires_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT(key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at",
                params![key, next as i64, expires_at],
            )
            .map_err(unavailable)?;
            Ok(Admission::Admitted(next))
        })
        .await
    }

    async fn counter_value(&self, key: &str) -> Result<u64, StoreError> {
        let key = key.to_owned();
        self.tx(move |tx, now| {
            Ok(tx
                .query_row(
                    "SELECT value FROM counters WHERE key = ?1 AND expires_at > ?2",
                    params![key, now],
                    |r| r.get::<_, i64>(0),
                )
                .optional()
                .map_err(unavailable)?
                .map_or(0, |v| u64::try_from(v).unwrap_or(0)))
        })
        .await
    }
}

fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

#[async_trait]
impl UsageStore for SqliteStore {
    async fn record_usage(
        &self,
        assistant: &AssistantId,
        day: i64,
        delta: &UsageDelta,
    ) -> Result<(), StoreError> {
        let id = assistant.as_str().to_owned();
        let d = *delta;
        self.tx(move |tx, _| {
            tx.execute(
                "INSERT INTO usage (assistant, day, requests, messages, input_tokens, output_tokens, latency_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                 ON CONFLICT(assistant, day) DO UPDATE SET
                   requests = requests + excluded.requests, messages = messages + excluded.messages,
                   input_tokens = input_tokens + excluded.input_tokens,
                   output_tokens = output_tokens + excluded.output_tokens,
                   latency_ms = latency_ms + excluded.latency_ms",
                params![id, day, to_i64(d.requests), to_i64(d.messages), to_i64(d.input_tokens), to_i64(d.output_tokens), to_i64(d.latency_ms)],
            )
            .map_err(unavailable)?;
            Ok(())
        })
        .await
    }

    async fn usage(
        &self,
        assistant: &AssistantId,
        first_day: i64,
        last_day: i64,
    ) -> Result<Vec<DailyUsage>, StoreError> {
        let id = assistant.as_str().to_owned();
        self.tx(move |tx, now| {
            // Rows older than the retention read as absent, like expired DynamoDB items.
            let oldest = now.div_euclid(86_400) - USAGE_RETENTION_DAYS;
            let mut stmt = tx
                .prepare(
                    "SELECT day, requests, messages, input_tokens, output_tokens, latency_ms FROM usage
                     WHERE assistant = ?1 AND day BETWEEN ?2 AND ?3 AND day >= ?4 ORDER BY day",
                )
                .map_err(unavailable)?;
            let rows = stmt
                .query_map(params![id, first_day, last_day, oldest], |r| {
                    let n = |i: usize| r.get::<_, i64>(i).map(|v| u64::try_from(v).unwrap_or(0));
                    Ok(DailyUsage {
                        day: r.get(0)?,
                        totals: UsageDelta {
                            requests: n(1)?,
                            messages: n(2)?,
                            input_tokens: n(3)?,
                            output_tokens: n(4)?,
                            latency_ms: n(5)?,
                        },
                    })
                })
                .map_err(unavailable)?;
            rows.map(|r| r.map_err(unavailable)).collect()
        })
        .await
    }
}

fn read_memory(
    tx: &rusqlite::Transaction<'_>,
    key: &str,
    now: i64,
) -> Result<Option<Memory>, StoreError> {
    tx.query_row(
        "SELECT summary, version, pending, updated_at FROM memories WHERE key = ?1 AND expires_at > ?2",
        params![key, now],
        |r| {
            Ok(Memory {
                summary: r.get(0)?,
                version: r.get(1)?,
                pending: u64::try_from(r.get::<_, i64>(2)?).unwrap_or(0),
                updated_at: r.get(3)?,
            })
        },
    )
    .optional()
    .map_err(unavailable)
}

#[async_trait]
impl MemoryStore for SqliteStore {
    async fn memory(&self, key: &MemoryKey) -> Result<Option<Memory>, StoreError> {
        let key = key.as_str().to_owned();
        self.tx(move |tx, now| read_memory(tx, &key, now)).await
    }

    async fn add_pending(&self, key: &MemoryKey, messages: u64) -> Result<Memory, StoreError> {
        let key = key.as_str().to_owned();
        let fresh_version = self.clock.now_ms();
        self.tx(move |tx, now| {
            let mut memory = read_memory(tx, &key, now)?.unwrap_or(Memory {
                version: fresh_version,
                ..Memory::default()
            });
            memory.pending = memory.pending.saturating_add(messages);
            tx.execute(
                "INSERT INTO memories (key, summary, version, pending, updated_at, expires_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT(key) DO UPDATE SET summary = excluded.summary,
                   version = excluded.version, pending = excluded.pending,
                   updated_at = excluded.updated_at, expires_at = excluded.expires_at",
                params![
                    key,
                    memory.summary,
                    memory.version,
                    to_i64(memory.pending),
                    memory.updated_at,
                    now + MEMORY_RETENTION_SECS
                ],
            )
            .map_err(unavailable)?;
            Ok(memory)
        })
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
        let now_ms = self.clock.now_ms();
        self.tx(move |tx, now| {
            let changed = tx
                .execute(
                    "UPDATE memories SET summary = ?1, version = version + 1,
                       pending = MAX(pending - ?2, 0), updated_at = ?3, expires_at = ?4
                     WHERE key = ?5 AND version = ?6 AND expires_at > ?7",
                    params![
                        summary,
                        consumed,
                        now_ms,
                        now + MEMORY_RETENTION_SECS,
                        key,
                        version,
                        now
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
        let key = key.as_str().to_owned();
        self.tx(move |tx, _| {
            tx.execute("DELETE FROM memories WHERE key = ?1", params![key])
                .map_err(unavailable)?;
            Ok(())
        })
        .await
    }
}
