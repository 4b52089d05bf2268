//! Per-user memories: one item each, counted with an atomic `ADD` and replaced by a save
//! conditional on the version that was summarised.
//!
//! Two summarisers may race for one memory (stream shards are processed in parallel); the
//! version condition lets exactly one save win and the other learn it lost (`Conflict`).
//! A memory past its `ttl` is restarted empty, never resurrected.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};

use super::DynamoStore;
use super::errors::{classify, condition_failed, or_conflict};
use super::items::{self, Item, TTL, get_n, n, opt_n, s};
use crate::domain::memory::{MEMORY_RETENTION_SECS, Memory, MemoryKey};
use crate::domain::thread::ThreadKey;
use crate::ports::{MemoryStore, StoreError};

impl DynamoStore {
    /// Counts `messages` more on the memory (created empty if absent or expired), adding the
    /// thread they came from to its set.
    #[tracing::instrument(skip_all)]
    async fn count(
        &self,
        key: &MemoryKey,
        from: Option<&str>,
        messages: u64,
    ) -> Result<Memory, StoreError> {
        let now = self.clock.now_secs();
        let ttl = now + MEMORY_RETENTION_SECS;
        // A live (or new) memory is counted in place; an expired one is replaced by a fresh
        // item, unless a concurrent request replaced it first, in which case count again.
        for _ in 0..3 {
            let (update, threads) = match from {
                Some(t) => (
                    "SET #ttl = :ttl, version = if_not_exists(version, :v) ADD pending :n, threads :t",
                    Some(AttributeValue::Ss(vec![t.to_owned()])),
                ),
                None => (
                    "SET #ttl = :ttl, version = if_not_exists(version, :v) ADD pending :n",
                    None,
                ),
            };
            let counted = self
                .update(
                    items::memory_key(key),
                    update,
                    "attribute_not_exists(pk) OR #ttl > :now",
                )
                .set_expression_attribute_values(Some(
                    threads
                        .map(|t| [(":t".to_owned(), t)].into())
                        .unwrap_or_default(),
                ))
                .expression_attribute_values(":now", n(now))
                .expression_attribute_values(":ttl", n(ttl))
                .expression_attribute_values(":v", n(self.clock.now_ms()))
                .expression_attribute_values(":n", n(messages))
                .return_values(ReturnValue::AllNew)
                .send()
                .await;
            match counted {
                Ok(out) => {
                    return Memory::try_from(&out.attributes().cloned().unwrap_or_default());
                }
                Err(e) if !condition_failed(&e) => return Err(classify("UpdateItem", e)),
                Err(_) => {}
            }
            let mut fresh = items::memory_key(key);
            let version = self.clock.now_ms();
            fresh.insert("version".into(), n(version));
            fresh.insert("pending".into(), n(messages));
            fresh.insert(TTL.into(), n(ttl));
            if let Some(t) = from {
                fresh.insert("threads".into(), AttributeValue::Ss(vec![t.to_owned()]));
            }
            if self.put_unless_live(fresh, now).await? {
                return Ok(Memory {
                    version,
                    pending: messages,
                    threads: from.map(|t| vec![t.to_owned()]).unwrap_or_default(),
                    ..Memory::default()
                });
            }
        }
        Err(StoreError::Conflict)
    }
}

#[async_trait]
impl MemoryStore for DynamoStore {
    #[tracing::instrument(skip_all)]
    async fn memory(&self, key: &MemoryKey) -> Result<Option<Memory>, StoreError> {
        self.read(items::memory_key(key), true, |i| Memory::try_from(i))
            .await
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
        self.count(key, Some(from.as_str()), messages).await
    }

    #[tracing::instrument(skip_all)]
    async fn save_summary(
        &self,
        key: &MemoryKey,
        read: &Memory,
        summary: &str,
    ) -> Result<(), StoreError> {
        let now = self.clock.now_secs();
        let consumed = i64::try_from(read.pending).unwrap_or(i64::MAX);
        // Threads counted since the read stay in the set for the next summary.
        let (update, covered) = match read.threads.is_empty() {
            true => (
                "SET summary = :s, updated_at = :at, #ttl = :ttl ADD version :one, pending :minus",
                None,
            ),
            false => (
                "SET summary = :s, updated_at = :at, #ttl = :ttl ADD version :one, pending :minus DELETE threads :read",
                Some(AttributeValue::Ss(read.threads.clone())),
            ),
        };
        let saved = self
            .update(
                items::memory_key(key),
                update,
                "version = :v AND #ttl > :now",
            )
            .set_expression_attribute_values(Some(
                covered
                    .map(|t| [(":read".to_owned(), t)].into())
                    .unwrap_or_default(),
            ))
            .expression_attribute_values(":now", n(now))
            .expression_attribute_values(":s", s(summary))
            .expression_attribute_values(":at", n(self.clock.now_ms()))
            .expression_attribute_values(":ttl", n(now + MEMORY_RETENTION_SECS))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":minus", n(-consumed))
            .expression_attribute_values(":v", n(read.version))
            .send()
            .await;
        or_conflict("UpdateItem", saved)
    }

    #[tracing::instrument(skip_all)]
    async fn forget(&self, key: &MemoryKey) -> Result<(), StoreError> {
        self.delete_item()
            .set_key(Some(items::memory_key(key)))
            .send()
            .await
            .map_err(|e| classify("DeleteItem", e))?;
        Ok(())
    }
}

impl TryFrom<&Item> for Memory {
    type Error = StoreError;
    fn try_from(item: &Item) -> Result<Self, StoreError> {
        Ok(Self {
            summary: item
                .get("summary")
                .and_then(|v| v.as_s().ok())
                .cloned()
                .unwrap_or_default(),
            version: get_n(item, "version")?,
            pending: u64::try_from(opt_n(item, "pending").unwrap_or(0)).unwrap_or(0),
            updated_at: opt_n(item, "updated_at").unwrap_or(0),
            threads: item
                .get("threads")
                .and_then(|v| v.as_ss().ok())
                .cloned()
                .unwrap_or_default(),
        })
    }
}
