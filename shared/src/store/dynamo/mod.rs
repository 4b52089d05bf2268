//! The DynamoDB adapter: every store port over one table.
//!
//! Correctness under many concurrent Lambda instances comes from DynamoDB itself:
//! creates are conditional puts, assistant updates are transactions conditional on the
//! version read (keeping the token index in step), thread sequence numbers are reserved
//! with an atomic `ADD`, and counters are conditional `ADD`s. Reads never trust that TTL
//! deleted anything: items whose `ttl` has passed are filtered out.

mod errors;
pub mod items;
mod memory;
pub mod schema;
pub mod stream;

use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{
    Delete, Put, PutRequest, ReturnValue, ReturnValuesOnConditionCheckFailure, TransactWriteItem,
    WriteRequest,
};

use crate::clock::Clock;
use crate::domain::assistant::Assistant;
use crate::domain::ids::{AssistantId, UserId};
use crate::domain::thread::{StoredMessage, ThreadKey};
use crate::domain::token::TokenDigest;
use crate::ports::{
    Admission, AssistantStore, CounterStore, DailyUsage, StoreError, ThreadStore,
    USAGE_RETENTION_DAYS, UsageDelta, UsageStore,
};

use errors::{build_err, cancelled_at, classify, condition_failed};
use items::{Item, TTL, n, s};

/// BatchWriteItem takes at most 25 puts per call.
const BATCH: usize = 25;
/// Attempts for unprocessed batch items (DynamoDB returns them under throttling).
const BATCH_ATTEMPTS: u32 = 5;

#[derive(Clone)]
pub struct DynamoStore {
    client: Client,
    table: Arc<str>,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for DynamoStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DynamoStore")
            .field("table", &self.table)
            .finish_non_exhaustive()
    }
}

impl DynamoStore {
    pub fn new(client: Client, table: impl Into<Arc<str>>, clock: Arc<dyn Clock>) -> Self {
        Self {
            client,
            table: table.into(),
            clock,
        }
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    fn put(&self, item: Item, condition: &str) -> Result<Put, StoreError> {
        Put::builder()
            .table_name(&*self.table)
            .set_item(Some(item))
            .condition_expression(condition)
            .build()
            .map_err(build_err)
    }

    /// A put of a token index item that fails only if a live token item of another
    /// assistant holds the digest.
    fn claim_token(
        &self,
        digest: &TokenDigest,
        id: &AssistantId,
        exp: Option<i64>,
        now: i64,
    ) -> Result<TransactWriteItem, StoreError> {
        let put = Put::builder()
            .table_name(&*self.table)
            .set_item(Some(items::token_item(digest, id, exp)))
            .condition_expression("attribute_not_exists(pk) OR assistant_id = :id OR #ttl <= :now")
            .expression_attribute_names("#ttl", TTL)
            .expression_attribute_values(":id", s(id.as_str()))
            .expression_attribute_values(":now", n(now))
            .build()
            .map_err(build_err)?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    /// Runs an assistant transaction whose first operation writes the assistant and whose
    /// others claim or release token index entries: a failed condition on the first is
    /// `first_failed`, on any other a token held by another assistant.
    async fn transact(
        &self,
        ops: Vec<TransactWriteItem>,
        first_failed: StoreError,
    ) -> Result<(), StoreError> {
        match self
            .client
            .transact_write_items()
            .set_transact_items(Some(ops))
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) => Err(match cancelled_at(&e) {
                Some(0) => first_failed,
                Some(_) => StoreError::TokenTaken,
                None => classify("TransactWriteItems", e),
            }),
        }
    }

    /// The item at `key` unless it is past its `ttl` (TTL deletes late; a read never trusts
    /// it). `consistent` asks for a strongly consistent read.
    async fn get_live(&self, key: Item, consistent: bool) -> Result<Option<Item>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&*self.table)
            .set_key(Some(key))
            .consistent_read(consistent)
            .send()
            .await
            .map_err(|e| classify("GetItem", e))?;
        let now = self.clock.now_secs();
        Ok(out.item.filter(|i| items::live(i, now)))
    }

    /// Puts `item` unless a live item (its `ttl` still ahead of `now`) holds its key: how an
    /// expired item that TTL has not deleted yet starts afresh. `Ok(false)` when a live one
    /// is there (a concurrent request got there first).
    async fn put_unless_live(&self, item: Item, now: i64) -> Result<bool, StoreError> {
        let put = self
            .client
            .put_item()
            .table_name(&*self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk) OR #ttl <= :now")
            .expression_attribute_names("#ttl", TTL)
            .expression_attribute_values(":now", n(now))
            .send()
            .await;
        match put {
            Ok(_) => Ok(true),
            Err(e) if condition_failed(&e) => Ok(false),
            Err(e) => Err(classify("PutItem", e)),
        }
    }

    async fn write_messages(&self, puts: Vec<Item>) -> Result<(), StoreError> {
        for chunk in puts.chunks(BATCH) {
            let mut pending: Vec<WriteRequest> = chunk
                .iter()
                .map(|item| {
                    PutRequest::builder()
                        .set_item(Some(item.clone()))
                        .build()
                        .map(|p| WriteRequest::builder().put_request(p).build())
                        .map_err(build_err)
                })
                .collect::<Result<_, _>>()?;
            let mut attempt = 0;
            while !pending.is_empty() {
                attempt += 1;
                if attempt > BATCH_ATTEMPTS {
                    return Err(StoreError::Throttled {
                        retry_after_secs: 1,
                    });
                }
                let out = self
                    .client
                    .batch_write_item()
                    .request_items(&*self.table, pending)
                    .send()
                    .await
                    .map_err(|e| classify("BatchWriteItem", e))?;
                pending = out
                    .unprocessed_items()
                    .and_then(|m| m.get(&*self.table))
                    .cloned()
                    .unwrap_or_default();
                if !pending.is_empty() {
                    tokio::time::sleep(std::time::Duration::from_millis(50 << attempt)).await;
                }
            }
        }
        Ok(())
    }
}

/// The tokens whose index entries an assistant owns at `now`. An expired overlap token is
/// left to TTL: its entry is already invisible and may have been claimed by another
/// assistant since.
fn token_digests(a: &Assistant, now: i64) -> Vec<(&TokenDigest, Option<i64>)> {
    [a.token.as_ref(), a.previous_token.as_ref()]
        .into_iter()
        .flatten()
        .filter(|t| t.expires_at.is_none_or(|e| e > now))
        .map(|t| (&t.digest, t.expires_at))
        .collect()
}

#[async_trait]
impl AssistantStore for DynamoStore {
    #[tracing::instrument(skip_all, fields(assistant_id = %assistant.id))]
    async fn create_assistant(&self, assistant: &Assistant) -> Result<(), StoreError> {
        let now = self.clock.now_secs();
        let mut ops = vec![
            TransactWriteItem::builder()
                .put(self.put(Item::from(assistant), "attribute_not_exists(pk)")?)
                .build(),
        ];
        for (digest, exp) in token_digests(assistant, now) {
            ops.push(self.claim_token(digest, &assistant.id, exp, now)?);
        }
        self.transact(ops, StoreError::AlreadyExists).await
    }

    #[tracing::instrument(skip_all, fields(assistant_id = %id))]
    async fn get_assistant(&self, id: &AssistantId) -> Result<Option<Assistant>, StoreError> {
        self.get_live(items::assistant_key(id), true)
            .await?
            .as_ref()
            .map(Assistant::try_from)
            .transpose()
    }

    #[tracing::instrument(skip_all)]
    async fn list_assistants(&self, owner: &UserId) -> Result<Vec<Assistant>, StoreError> {
        let mut out = Vec::new();
        let mut start = None;
        loop {
            let page = self
                .client
                .query()
                .table_name(&*self.table)
                .index_name(items::GSI1)
                .key_condition_expression("gsi1pk = :o")
                .expression_attribute_values(":o", s(items::owner_gsi_pk(owner)))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| classify("Query", e))?;
            for item in page.items() {
                out.push(Assistant::try_from(item)?);
            }
            start = page.last_evaluated_key().cloned();
            if start.is_none() {
                return Ok(out);
            }
        }
    }

    #[tracing::instrument(skip_all, fields(assistant_id = %next.id))]
    async fn update_assistant(&self, prev: &Assistant, next: &Assistant) -> Result<(), StoreError> {
        let now = self.clock.now_secs();
        let condition = |put: aws_sdk_dynamodb::types::builders::PutBuilder| {
            put.condition_expression("version = :v")
                .expression_attribute_values(":v", n(prev.version))
        };
        let old = token_digests(prev, now);
        let new = token_digests(next, now);
        if old == new {
            // No token change: one conditional put, half the cost of a transaction.
            let put = self
                .client
                .put_item()
                .table_name(&*self.table)
                .set_item(Some(Item::from(next)))
                .condition_expression("version = :v")
                .expression_attribute_values(":v", n(prev.version));
            return match put.send().await {
                Ok(_) => Ok(()),
                Err(e) if condition_failed(&e) => Err(StoreError::Conflict),
                Err(e) => Err(classify("PutItem", e)),
            };
        }
        let assistant_put = condition(
            Put::builder()
                .table_name(&*self.table)
                .set_item(Some(Item::from(next))),
        )
        .build()
        .map_err(build_err)?;
        let mut ops = vec![TransactWriteItem::builder().put(assistant_put).build()];
        for (digest, _) in &old {
            if !new.iter().any(|(d, _)| d == digest) {
                let delete = Delete::builder()
                    .table_name(&*self.table)
                    .set_key(Some(items::token_key(digest)))
                    .condition_expression("attribute_not_exists(pk) OR assistant_id = :id")
                    .expression_attribute_values(":id", s(next.id.as_str()))
                    .build()
                    .map_err(build_err)?;
                ops.push(TransactWriteItem::builder().delete(delete).build());
            }
        }
        for (digest, exp) in new {
            ops.push(self.claim_token(digest, &next.id, exp, now)?);
        }
        self.transact(ops, StoreError::Conflict).await
    }

    #[tracing::instrument(skip_all)]
    async fn find_assistant_by_token(
        &self,
        digest: &TokenDigest,
    ) -> Result<Option<AssistantId>, StoreError> {
        self.get_live(items::token_key(digest), false)
            .await?
            .map(|i| {
                AssistantId::parse(items::get_s(&i, "assistant_id")?)
                    .map_err(|_| StoreError::Corrupt("token index assistant_id".into()))
            })
            .transpose()
    }
}

#[async_trait]
impl ThreadStore for DynamoStore {
    /// One Query, newest first: the newest message's `ttl` is the thread's last activity
    /// plus the idle TTL, so an expired newest message means an expired thread, and a
    /// change of generation marks where an earlier (expired) life of the thread ends.
    #[tracing::instrument(skip_all)]
    async fn recent_messages(
        &self,
        key: &ThreadKey,
        limit: usize,
    ) -> Result<Vec<StoredMessage>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let out = self
            .client
            .query()
            .table_name(&*self.table)
            .key_condition_expression("pk = :pk AND begins_with(sk, :m)")
            .expression_attribute_values(":pk", s(items::thread_pk(key)))
            .expression_attribute_values(":m", s("M#"))
            .scan_index_forward(false)
            .limit(i32::try_from(limit).unwrap_or(i32::MAX))
            .send()
            .await
            .map_err(|e| classify("Query", e))?;
        let now = self.clock.now_secs();
        let rows = out.items();
        let Some(newest) = rows.first() else {
            return Ok(Vec::new());
        };
        if !items::live(newest, now) {
            return Ok(Vec::new());
        }
        let generation = items::message_generation(newest);
        let mut messages = rows
            .iter()
            .take_while(|i| items::message_generation(i) == generation)
            .filter(|i| items::live(i, now))
            .map(StoredMessage::try_from)
            .collect::<Result<Vec<_>, _>>()?;
        messages.reverse();
        Ok(messages)
    }

    #[tracing::instrument(skip_all, fields(count = messages.len()))]
    async fn append_messages(
        &self,
        key: &ThreadKey,
        messages: &[StoredMessage],
        idle_ttl_secs: i64,
    ) -> Result<(), StoreError> {
        if messages.is_empty() {
            return Ok(());
        }
        let now = self.clock.now_secs();
        let ttl = now + idle_ttl_secs;
        let count = i64::try_from(messages.len()).unwrap_or(i64::MAX);
        // Reserve `count` sequence numbers in the live generation; if the thread is new or
        // expired, start a new generation. Two racing starters: one wins, the other retries
        // the reservation on the winner's generation.
        let mut reserved = None;
        for _ in 0..3 {
            let update = self
                .client
                .update_item()
                .table_name(&*self.table)
                .set_key(Some(items::thread_meta_key(key)))
                .update_expression("SET #ttl = :ttl ADD next_seq :n")
                .condition_expression("attribute_exists(pk) AND #ttl > :now")
                .expression_attribute_names("#ttl", TTL)
                .expression_attribute_values(":ttl", n(ttl))
                .expression_attribute_values(":n", n(count))
                .expression_attribute_values(":now", n(now))
                .return_values(ReturnValue::AllNew)
                .send()
                .await;
            match update {
                Ok(out) => {
                    let attrs = out.attributes().cloned().unwrap_or_default();
                    let generation = items::get_n(&attrs, "generation")?;
                    let next = items::get_n(&attrs, "next_seq")?;
                    reserved = Some((generation, next - count));
                    break;
                }
                Err(e) if !condition_failed(&e) => return Err(classify("UpdateItem", e)),
                Err(_) => {}
            }
            let generation = self.clock.now_ms();
            let mut meta = items::thread_meta_key(key);
            meta.insert("generation".into(), n(generation));
            meta.insert("next_seq".into(), n(count));
            meta.insert(TTL.into(), n(ttl));
            if self.put_unless_live(meta, now).await? {
                reserved = Some((generation, 0));
                break;
            }
        }
        let (generation, first) = reserved.ok_or(StoreError::Conflict)?;
        let puts = messages
            .iter()
            .enumerate()
            .map(|(i, m)| items::message_item(key, generation, first + i as i64, m, ttl))
            .collect();
        self.write_messages(puts).await
    }
}

#[async_trait]
impl CounterStore for DynamoStore {
    #[tracing::instrument(skip_all)]
    async fn increment_below(
        &self,
        key: &str,
        limit: u64,
        expires_at: i64,
    ) -> Result<Admission, StoreError> {
        if limit == 0 {
            return Ok(Admission::Rejected);
        }
        let now = self.clock.now_secs();
        let result = self
            .client
            .update_item()
            .table_name(&*self.table)
            .set_key(Some(items::counter_key(key)))
            .update_expression("SET #ttl = if_not_exists(#ttl, :exp) ADD #count :one")
            .condition_expression(
                "attribute_not_exists(#count) OR (#count < :limit AND #ttl > :now)",
            )
            .expression_attribute_names("#count", "count")
            .expression_attribute_names("#ttl", TTL)
            .expression_attribute_values(":exp", n(expires_at))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":limit", n(limit))
            .expression_attribute_values(":now", n(now))
            .return_values(ReturnValue::UpdatedNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        let err = match result {
            Ok(out) => {
                let value = out
                    .attributes()
                    .map(|a| items::get_n(a, "count"))
                    .transpose()?
                    .unwrap_or(1);
                return Ok(Admission::Admitted(u64::try_from(value).unwrap_or(0)));
            }
            Err(e) => e,
        };
        let Some(old) = err.as_service_error().and_then(|s| match s {
            aws_sdk_dynamodb::operation::update_item::UpdateItemError::ConditionalCheckFailedException(c) => Some(c.item().cloned().unwrap_or_default()),
            _ => None,
        }) else {
            return Err(classify("UpdateItem", err));
        };
        if items::live(&old, now) {
            return Ok(Admission::Rejected);
        }
        // The counter outlived its window (TTL deletes late): restart it, unless another
        // request restarted it first, in which case that one's count decides.
        let mut fresh = items::counter_key(key);
        fresh.insert("count".into(), n(1));
        fresh.insert(TTL.into(), n(expires_at));
        if self.put_unless_live(fresh, now).await? {
            Ok(Admission::Admitted(1))
        } else {
            Box::pin(self.increment_below(key, limit, expires_at)).await
        }
    }

    async fn counter_value(&self, key: &str) -> Result<u64, StoreError> {
        Ok(self
            .get_live(items::counter_key(key), true)
            .await?
            .and_then(|i| items::opt_n(&i, "count"))
            .map_or(0, |v| u64::try_from(v).unwrap_or(0)))
    }
}

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
        let mut req = self
            .client
            .update_item()
            .table_name(&*self.table)
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
            .client
            .query()
            .table_name(&*self.table)
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
