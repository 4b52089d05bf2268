//! The capabilities the domain needs from storage, as small object-safe traits.
//!
//! Every adapter (the embedded SQLite store for laptops, DynamoDB on AWS) implements the
//! same traits and passes the same contract tests. The contract, which mirrors DynamoDB:
//! creates are conditional, updates are conditional on the version read, counters are
//! exact under concurrency, and items past their expiry are invisible to reads even when
//! the backend has not deleted them yet.

use async_trait::async_trait;

use crate::domain::action::{Execution, Outcome};
use crate::domain::assistant::Assistant;
use crate::domain::ids::{AssistantId, ThreadId, UserId};
use crate::domain::knowledge::Document;
use crate::domain::link::{EmailCode, LinkId, PublicLink, Session, VisitorKey};
use crate::domain::memory::{Memory, MemoryKey};
use crate::domain::response::{ResponseId, StoredResponse};
use crate::domain::thread::{StoredMessage, ThreadKey};
use crate::domain::token::TokenDigest;

#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    #[error("an item with this key already exists")]
    AlreadyExists,
    #[error("the item changed since it was read")]
    Conflict,
    #[error("the public token is already used by another assistant")]
    TokenTaken,
    #[error("the store is throttling requests")]
    Throttled { retry_after_secs: u64 },
    #[error("the store is unavailable: {0}")]
    Unavailable(String),
    #[error("a stored item could not be read: {0}")]
    Corrupt(String),
}

/// Assistants and the index from token digest to assistant.
#[async_trait]
pub trait AssistantStore: Send + Sync {
    /// Stores a new assistant and indexes its tokens; `AlreadyExists` if the id is taken,
    /// `TokenTaken` if another assistant uses the token.
    async fn create_assistant(&self, assistant: &Assistant) -> Result<(), StoreError>;

    async fn get_assistant(&self, id: &AssistantId) -> Result<Option<Assistant>, StoreError>;

    /// The owner's assistants, oldest first.
    async fn list_assistants(&self, owner: &UserId) -> Result<Vec<Assistant>, StoreError>;

    /// Replaces `prev` by `next` if the stored version is still `prev.version`, keeping the
    /// token index in step; `Conflict` otherwise. All or nothing.
    async fn update_assistant(&self, prev: &Assistant, next: &Assistant) -> Result<(), StoreError>;

    /// Which assistant a live token digest opens.
    async fn find_assistant_by_token(
        &self,
        digest: &TokenDigest,
    ) -> Result<Option<AssistantId>, StoreError>;
}

/// Conversation threads.
#[async_trait]
pub trait ThreadStore: Send + Sync {
    /// The last `limit` messages of the thread, oldest first; empty for an unknown or
    /// expired thread.
    async fn recent_messages(
        &self,
        key: &ThreadKey,
        limit: usize,
    ) -> Result<Vec<StoredMessage>, StoreError>;

    /// Appends messages in order. Each message lives `idle_ttl_secs` after it is written
    /// (a rolling window) and the thread lives as long as its newest message, so a thread
    /// idle for the TTL expires. A thread that expired starts afresh: its old messages
    /// never reappear.
    async fn append_messages(
        &self,
        key: &ThreadKey,
        messages: &[StoredMessage],
        idle_ttl_secs: i64,
    ) -> Result<(), StoreError>;

    /// Deletes the thread and every message in it (absent is fine).
    async fn delete_thread(&self, key: &ThreadKey) -> Result<(), StoreError>;
}

/// Outcome of a capped increment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Counted; the value after the increment.
    Admitted(u64),
    /// The counter had already reached the limit; nothing was counted.
    Rejected,
}

/// Fixed-window counters for rate limits and usage.
#[async_trait]
pub trait CounterStore: Send + Sync {
    /// Adds one to `key` unless it already reached `limit`. The counter lives until
    /// `expires_at` (epoch seconds); after that it reads as zero.
    async fn increment_below(
        &self,
        key: &str,
        limit: u64,
        expires_at: i64,
    ) -> Result<Admission, StoreError>;

    /// The current value of a counter (zero when absent or expired).
    async fn counter_value(&self, key: &str) -> Result<u64, StoreError>;

    /// [`Self::increment_below`] on each `(key, limit, expires_at)`, independently (one
    /// refusal does not stop the others), in one round trip: concurrent calls by default,
    /// one transaction where the store can. Outcomes in the order given.
    async fn increment_each(
        &self,
        counters: &[(String, u64, i64)],
    ) -> Vec<Result<Admission, StoreError>> {
        futures::future::join_all(
            counters
                .iter()
                .map(|(key, limit, expires_at)| self.increment_below(key, *limit, *expires_at)),
        )
        .await
    }

    /// Takes back one count of a live counter (a request admitted by this cap but refused
    /// by another that was checked at the same time); never below zero.
    async fn release(&self, key: &str) -> Result<(), StoreError>;
}

/// What one request adds to an assistant's daily usage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct UsageDelta {
    pub requests: u64,
    /// Messages stored (the caller's and the reply).
    pub messages: u64,
    pub input_tokens: u64,
    pub output_tokens: u64,
    /// Time from the request to the end of the reply.
    pub latency_ms: u64,
}

/// One assistant's usage on one UTC day (`day` = days since 1970-01-01).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DailyUsage {
    pub day: i64,
    pub totals: UsageDelta,
}

/// How long daily usage rows are kept.
pub const USAGE_RETENTION_DAYS: i64 = 400;

/// Per-assistant daily usage, added to atomically.
#[async_trait]
pub trait UsageStore: Send + Sync {
    async fn record_usage(
        &self,
        assistant: &AssistantId,
        day: i64,
        delta: &UsageDelta,
    ) -> Result<(), StoreError>;

    /// Days from `first_day` to `last_day` inclusive that have usage, oldest first.
    async fn usage(
        &self,
        assistant: &AssistantId,
        first_day: i64,
        last_day: i64,
    ) -> Result<Vec<DailyUsage>, StoreError>;
}

/// Per-user memories. Each lives [`crate::domain::memory::MEMORY_RETENTION_SECS`] after
/// its last change; an expired memory reads as absent and starts afresh.
#[async_trait]
pub trait MemoryStore: Send + Sync {
    async fn memory(&self, key: &MemoryKey) -> Result<Option<Memory>, StoreError>;

    /// Atomically counts `messages` more messages awaiting a summary and returns the memory
    /// as it is after the count (created empty if absent).
    async fn add_pending(&self, key: &MemoryKey, messages: u64) -> Result<Memory, StoreError>;

    /// [`Self::add_pending`], noting that the messages were stored in `from`.
    async fn add_pending_from(
        &self,
        key: &MemoryKey,
        from: &ThreadKey,
        messages: u64,
    ) -> Result<Memory, StoreError>;

    /// Stores `summary` if the memory is still at `read.version`, and takes the
    /// `read.pending` messages and `read.threads` it covers off the memory (what was
    /// counted since stays); `Conflict` if another summary was saved first.
    async fn save_summary(
        &self,
        key: &MemoryKey,
        read: &Memory,
        summary: &str,
    ) -> Result<(), StoreError>;

    /// Deletes the memory (absent is fine).
    async fn forget(&self, key: &MemoryKey) -> Result<(), StoreError>;
}

/// Public links and the index from link-token digest to link.
#[async_trait]
pub trait LinkStore: Send + Sync {
    /// Stores a new link and indexes its token; `AlreadyExists` if the id or the token
    /// digest is taken. All or nothing.
    async fn create_link(&self, link: &PublicLink) -> Result<(), StoreError>;

    async fn get_link(
        &self,
        assistant: &AssistantId,
        id: &LinkId,
    ) -> Result<Option<PublicLink>, StoreError>;

    /// The assistant's links, oldest first.
    async fn list_links(&self, assistant: &AssistantId) -> Result<Vec<PublicLink>, StoreError>;

    /// Replaces `prev` by `next` if the stored version is still `prev.version`; `Conflict`
    /// otherwise (also when the link was deleted meanwhile).
    async fn update_link(&self, prev: &PublicLink, next: &PublicLink) -> Result<(), StoreError>;

    /// Deletes the link and its token index entry (absent is fine).
    async fn delete_link(&self, link: &PublicLink) -> Result<(), StoreError>;

    /// The link a token digest opens.
    async fn find_link_by_token(
        &self,
        digest: &TokenDigest,
    ) -> Result<Option<PublicLink>, StoreError>;
}

/// The sessions of public links, the conversations each subject may read, and the email
/// codes that verify addresses.
#[async_trait]
pub trait SessionStore: Send + Sync {
    /// Stores a new session under its digest; `AlreadyExists` if the digest is taken.
    async fn create_session(&self, session: &Session) -> Result<(), StoreError>;

    /// The live session with this digest.
    async fn session(&self, digest: &TokenDigest) -> Result<Option<Session>, StoreError>;

    /// Moves a live session's expiry to `expires_at` (epoch seconds).
    async fn renew_session(&self, digest: &TokenDigest, expires_at: i64) -> Result<(), StoreError>;

    /// The subject's conversations on the link, oldest first (empty when none or expired).
    async fn conversations(&self, visitor: &VisitorKey) -> Result<Vec<ThreadId>, StoreError>;

    /// Adds a conversation (newest last, keeping the newest [`MAX_CONVERSATIONS`](crate::domain::link::MAX_CONVERSATIONS)); the
    /// list lives [`CONVERSATIONS_TTL_SECS`](crate::domain::link::CONVERSATIONS_TTL_SECS) after its last addition. Adding one already
    /// listed only renews the list.
    async fn add_conversation(&self, who: &VisitorKey, id: &ThreadId) -> Result<(), StoreError>;

    /// Stores the current code of `key`, replacing any earlier one (and its tries).
    async fn put_code(&self, key: &str, code: &EmailCode) -> Result<(), StoreError>;

    /// The live code of `key`.
    async fn code(&self, key: &str) -> Result<Option<EmailCode>, StoreError>;

    /// Counts one wrong try against the code whose HMAC is `mac`, if it is still the
    /// current one; returns the tries after the count (`None` when the code is gone or was
    /// replaced).
    async fn count_wrong_try(&self, key: &str, mac: &str) -> Result<Option<u32>, StoreError>;

    /// Deletes the code if it is still the one with HMAC `mac`, live and with fewer than
    /// [`MAX_CODE_TRIES`](crate::domain::link::MAX_CODE_TRIES) wrong tries: `true` for exactly one of any number of racing callers.
    async fn consume_code(&self, key: &str, mac: &str) -> Result<bool, StoreError>;
}

/// Responses of the OpenAI Responses API, kept for continuation and retrieval.
#[async_trait]
pub trait ResponseStore: Send + Sync {
    /// Stores a response (its id is fresh, so nothing is replaced).
    async fn put_response(&self, response: &StoredResponse) -> Result<(), StoreError>;

    /// The live response `id` of the transcript `scope`; `None` when it is unknown,
    /// expired or belongs to another scope.
    async fn response(
        &self,
        scope: &ThreadKey,
        id: &ResponseId,
    ) -> Result<Option<StoredResponse>, StoreError>;
}

/// Knowledge-base documents, each stored whole with its passages.
#[async_trait]
pub trait KnowledgeStore: Send + Sync {
    /// Stores a new document (its id is fresh, so nothing is replaced).
    async fn put_document(&self, document: &Document) -> Result<(), StoreError>;

    /// The assistant's documents, oldest first.
    async fn documents(&self, assistant: &AssistantId) -> Result<Vec<Document>, StoreError>;

    /// Deletes a document; `false` when the assistant has none with that id.
    async fn delete_document(&self, assistant: &AssistantId, id: &str) -> Result<bool, StoreError>;
}

/// Action proposals shown to visitors, and how each ended.
#[async_trait]
pub trait ActionStore: Send + Sync {
    /// Stores new executions (fresh ids); each is kept
    /// [`EXECUTION_RETENTION_SECS`](crate::domain::action::EXECUTION_RETENTION_SECS) after
    /// its expiry.
    async fn put_executions(&self, executions: &[Execution]) -> Result<(), StoreError>;

    /// The execution `id`, settled or not, while it is kept.
    async fn execution(&self, id: &str) -> Result<Option<Execution>, StoreError>;

    /// Records `outcome` if the execution is `visitor`'s, unsettled and not expired at
    /// `now_secs`: `true` for exactly one of any number of racing callers.
    async fn settle_execution(
        &self,
        id: &str,
        visitor: &str,
        outcome: Outcome,
        output: Option<&serde_json::Value>,
        now_secs: i64,
    ) -> Result<bool, StoreError>;
}

/// Everything the functions need from storage.
pub trait Store:
    AssistantStore
    + ThreadStore
    + CounterStore
    + UsageStore
    + MemoryStore
    + LinkStore
    + SessionStore
    + ResponseStore
    + KnowledgeStore
    + ActionStore
{
}

impl<T> Store for T where
    T: AssistantStore
        + ThreadStore
        + CounterStore
        + UsageStore
        + MemoryStore
        + LinkStore
        + SessionStore
        + ResponseStore
        + KnowledgeStore
        + ActionStore
{
}
