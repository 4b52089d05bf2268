//! Capped fixed-window counters: one row per counter key, restarted when expired.

use async_trait::async_trait;
use rusqlite::params;

use super::{SqliteStore, Tx, exec, row, unavailable};
use crate::ports::{Admission, CounterStore, StoreError};

pub(super) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS counters (
    key TEXT PRIMARY KEY,
    value INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
";

/// A counter's value, zero when absent or expired.
fn live_value(tx: &Tx, key: &str, now: i64) -> Result<u64, StoreError> {
    Ok(row(
        tx,
        "SELECT value FROM counters WHERE key = ?1 AND expires_at > ?2",
        params![key, now],
        |r| r.get::<_, i64>(0),
    )?
    .map_or(0, |v| u64::try_from(v).unwrap_or(0)))
}

/// Adds one to `key` unless it reached `limit` (a counter past its window restarts).
fn increment(
    tx: &Tx,
    key: &str,
    limit: u64,
    expires_at: i64,
    now: i64,
) -> Result<Admission, StoreError> {
    let current = live_value(tx, key, now)?;
    if current >= limit {
        return Ok(Admission::Rejected);
    }
    let next = current + 1;
    exec(
        tx,
        "INSERT INTO counters (key, value, expires_at) VALUES (?1, ?2, ?3)
         ON CONFLICT(key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at",
        params![key, next as i64, expires_at],
    )
    .map_err(unavailable)?;
    Ok(Admission::Admitted(next))
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
        self.tx(move |tx, now| increment(tx, &key, limit, expires_at, now))
            .await
    }

    async fn increment_each(
        &self,
        counters: &[(String, u64, i64)],
    ) -> Vec<Result<Admission, StoreError>> {
        let counters = counters.to_vec();
        let n = counters.len();
        let all = self
            .tx(move |tx, now| {
                counters
                    .iter()
                    .map(|(key, limit, expires_at)| increment(tx, key, *limit, *expires_at, now))
                    .collect::<Result<Vec<_>, _>>()
            })
            .await;
        match all {
            Ok(outcomes) => outcomes.into_iter().map(Ok).collect(),
            Err(e) => (0..n).map(|_| Err(e.clone())).collect(),
        }
    }

    async fn counter_value(&self, key: &str) -> Result<u64, StoreError> {
        let key = key.to_owned();
        self.read(move |tx, now| live_value(tx, &key, now)).await
    }

    async fn release(&self, key: &str) -> Result<(), StoreError> {
        self.execute(
            "UPDATE counters SET value = value - 1 WHERE key = ?1 AND value > 0 AND expires_at > ?2",
            params![key, self.clock.now_secs()],
        )?;
        Ok(())
    }
}
