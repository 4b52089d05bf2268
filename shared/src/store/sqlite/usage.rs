//! Per-assistant daily usage: one row per (assistant, day), added to in place.

use async_trait::async_trait;
use rusqlite::params;

use super::{SqliteStore, to_i64, unavailable};
use crate::domain::ids::AssistantId;
use crate::ports::{DailyUsage, StoreError, USAGE_RETENTION_DAYS, UsageDelta, UsageStore};

pub(super) const SCHEMA: &str = "
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
";

#[async_trait]
impl UsageStore for SqliteStore {
    async fn record_usage(
        &self,
        assistant: &AssistantId,
        day: i64,
        delta: &UsageDelta,
    ) -> Result<(), StoreError> {
        let d = delta;
        self.execute(
                "INSERT INTO usage (assistant, day, requests, messages, input_tokens, output_tokens, latency_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                 ON CONFLICT(assistant, day) DO UPDATE SET
                   requests = requests + excluded.requests, messages = messages + excluded.messages,
                   input_tokens = input_tokens + excluded.input_tokens,
                   output_tokens = output_tokens + excluded.output_tokens,
                   latency_ms = latency_ms + excluded.latency_ms",
                params![assistant.as_str(), day, to_i64(d.requests), to_i64(d.messages), to_i64(d.input_tokens), to_i64(d.output_tokens), to_i64(d.latency_ms)],
            )?;
        Ok(())
    }

    async fn usage(
        &self,
        assistant: &AssistantId,
        first_day: i64,
        last_day: i64,
    ) -> Result<Vec<DailyUsage>, StoreError> {
        let id = assistant.as_str().to_owned();
        self.read(move |tx, now| {
            // Rows older than the retention read as absent, like expired DynamoDB items.
            let oldest = now.div_euclid(86_400) - USAGE_RETENTION_DAYS;
            let mut stmt = tx
                .prepare_cached(
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
