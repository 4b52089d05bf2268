//! Per-assistant daily usage: one item per (assistant, day), added to with one atomic `ADD`
//! of every sum.

use async_trait::async_trait;

use super::DynamoStore;
use super::errors::classify;
use super::items::{self, TTL, n, s};
use crate::domain::ids::AssistantId;
use crate::ports::{DailyUsage, StoreError, USAGE_RETENTION_DAYS, UsageDelta, UsageStore};

#[async_trait]
impl UsageStore for DynamoStore {
    /// One `ADD` of every sum: atomic, so concurrent requests never lose a count.
    #[tracing::instrument(skip_all)]
    async fn record_usage(
        &self,
        assistant: &AssistantId,
        day: i64,
        delta: &UsageDelta,
    ) -> Result<(), StoreError> {
        let values = [
            delta.requests,
            delta.messages,
            delta.input_tokens,
            delta.output_tokens,
            delta.latency_ms,
        ];
        let mut req = self.update_item()
            .set_key(Some(items::key(items::usage_pk(assistant), &items::usage_sk(day))))
            .update_expression(
                "SET #ttl = :ttl ADD requests :a, messages :b, input_tokens :c, output_tokens :d, latency_ms :e",
            )
            .expression_attribute_names("#ttl", TTL)
            .expression_attribute_values(":ttl", n((day + USAGE_RETENTION_DAYS) * 86_400));
        for (placeholder, v) in [":a", ":b", ":c", ":d", ":e"].into_iter().zip(values) {
            req = req.expression_attribute_values(placeholder, n(v));
        }
        req.send().await.map_err(|e| classify("UpdateItem", e))?;
        Ok(())
    }

    #[tracing::instrument(skip_all)]
    async fn usage(
        &self,
        assistant: &AssistantId,
        first_day: i64,
        last_day: i64,
    ) -> Result<Vec<DailyUsage>, StoreError> {
        let out = self
            .query()
            .key_condition_expression("pk = :pk AND sk BETWEEN :a AND :b")
            .expression_attribute_values(":pk", s(items::usage_pk(assistant)))
            .expression_attribute_values(":a", s(items::usage_sk(first_day)))
            .expression_attribute_values(":b", s(items::usage_sk(last_day)))
            .send()
            .await
            .map_err(|e| classify("Query", e))?;
        let now = self.clock.now_secs();
        out.items()
            .iter()
            .filter(|i| items::live(i, now))
            .map(|i| {
                let day = items::get_s(i, items::SK)?
                    .strip_prefix("D#")
                    .and_then(|d| d.parse().ok())
                    .ok_or_else(|| StoreError::Corrupt("usage sort key".into()))?;
                let v = |k: &str| items::opt_n(i, k).map_or(0, |x| u64::try_from(x).unwrap_or(0));
                Ok(DailyUsage {
                    day,
                    totals: UsageDelta {
                        requests: v("requests"),
                        messages: v("messages"),
                        input_tokens: v("input_tokens"),
                        output_tokens: v("output_tokens"),
                        latency_ms: v("latency_ms"),
                    },
                })
            })
            .collect()
    }
}
