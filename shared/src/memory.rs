//! Keeping per-user memories up to date, and reading them into a turn.
//!
//! Summarising takes a model call, so it never runs on the reply path. On AWS the table's
//! stream invokes the `memory` function with the message items just written; the local
//! server runs the same [`Memories::absorb`] on a background task after saving a turn
//! ([`Trigger::InProcess`]). Either way the work for one batch of new messages is: count
//! them on the user's memory, and once enough are pending, summarise the conversation with
//! the assistant's own model and save the result conditionally (a concurrent summariser
//! that saved first wins; the loser's work is dropped, never merged twice).
//!
//! A failed summary leaves the pending count in place, so the next message retries it;
//! nothing is retried in a loop and a reply is never held up by memory.

use std::sync::Arc;

use crate::clock::Clock;
use crate::config::{Pacing, Trigger};
use crate::domain::assistant::Assistant;
use crate::domain::memory::{
    self, MAX_TRANSCRIPT_MESSAGES, Memory, MemoryKey, SUMMARY_INSTRUCTIONS, SUMMARY_MAX_TOKENS,
};
use crate::domain::message::{Message, Role};
use crate::domain::thread::ThreadKey;
use crate::ports::{Store, StoreError, UsageDelta};
use crate::provider::{ProviderError, Providers};
use crate::run::{self, TurnOptions};

#[derive(Debug, thiserror::Error)]
pub enum MemoryError {
    /// The new messages were not counted: the caller should deliver them again.
    #[error("the new messages could not be counted: {0}")]
    NotCounted(StoreError),
    /// Counted, but the summary failed; the next message retries it.
    #[error("the memory could not be read or saved: {0}")]
    Store(StoreError),
    #[error("the model could not summarise: {0}")]
    Provider(#[from] ProviderError),
    #[error("the model returned an empty summary")]
    EmptySummary,
}

/// What [`absorb`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Absorbed {
    /// Counted; this many messages now wait for the next summary.
    Pending(u64),
    /// A new summary was saved.
    Summarised,
    /// Another summariser saved first; its summary stands.
    Superseded,
    /// The assistant is gone or no longer keeps memories; the count was reset.
    Disabled,
}

/// The memory `scope` of `assistant`'s user, if the assistant keeps memories.
pub fn scope(assistant: &Assistant, scope: MemoryKey) -> Option<MemoryKey> {
    assistant.memory_enabled().then_some(scope)
}

/// The memory service: recall for a turn, and summaries after it. Cheap to clone.
#[derive(Clone)]
pub struct Memories {
    store: Arc<dyn Store>,
    providers: Providers,
    clock: Arc<dyn Clock>,
    trigger: Trigger,
}

impl std::fmt::Debug for Memories {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Memories {{ trigger: {:?}, .. }}", self.trigger)
    }
}

impl Memories {
    pub fn new(
        store: Arc<dyn Store>,
        providers: Providers,
        clock: Arc<dyn Clock>,
        trigger: Trigger,
    ) -> Self {
        Self {
            store,
            providers,
            clock,
            trigger,
        }
    }

    /// What the assistant remembers about a user, for the system prompt of their turn. A
    /// memory that cannot be read is logged and left out: the turn goes on without it.
    pub async fn recall(&self, key: Option<&MemoryKey>) -> Option<String> {
        let key = key?;
        match self.store.memory(key).await {
            Ok(m) => m.map(|m| m.summary).filter(|s| !s.trim().is_empty()),
            Err(e) => {
                tracing::warn!(error = %e, "memory could not be read; the turn goes on without it");
                None
            }
        }
    }

    /// Starts [`Self::absorb`] in the background when this process is the one that
    /// summarises (`Trigger::InProcess`) and `thread` feeds a memory.
    pub fn after_save(&self, thread: &ThreadKey, added: usize) {
        if self.trigger != Trigger::InProcess || thread.memory().is_none() {
            return;
        }
        let (this, thread) = (self.clone(), thread.clone());
        tokio::spawn(async move {
            if let Err(e) = this.absorb(&thread, added as u64).await {
                tracing::warn!(error = %e, "memory not updated");
            }
        });
    }

    /// Counts `added` new messages of `thread` on the memory it feeds, and summarises when
    /// enough are pending.
    #[tracing::instrument(skip_all, fields(assistant_id = thread.memory().map(|k| k.assistant().as_str())))]
    pub async fn absorb(&self, thread: &ThreadKey, added: u64) -> Result<Absorbed, MemoryError> {
        let Some(key) = thread.memory() else {
            return Ok(Absorbed::Pending(0));
        };
        let read = self
            .store
            .add_pending_from(key, thread, added)
            .await
            .map_err(MemoryError::NotCounted)?;
        if !read.due() {
            return Ok(Absorbed::Pending(read.pending));
        }
        let assistant = self
            .store
            .get_assistant(key.assistant())
            .await
            .map_err(MemoryError::Store)?;
        let Some(assistant) = assistant.filter(Assistant::memory_enabled) else {
            self.store.forget(key).await.map_err(MemoryError::Store)?;
            return Ok(Absorbed::Disabled);
        };
        let limit = usize::try_from(read.pending)
            .unwrap_or(usize::MAX)
            .min(MAX_TRANSCRIPT_MESSAGES);
        let transcript = self.transcript(thread, &read, limit).await?;
        let summary = self.summarise(&assistant, &read, &transcript).await?;
        match self.store.save_summary(key, &read, &summary).await {
            Ok(()) => {
                tracing::info!(outcome = "summarised", "memory updated");
                Ok(Absorbed::Summarised)
            }
            Err(StoreError::Conflict) => Ok(Absorbed::Superseded),
            Err(e) => Err(MemoryError::Store(e)),
        }
    }

    /// The newest `limit` messages across every thread that fed the count since the last
    /// summary (the user may have spoken in several conversations), oldest first.
    async fn transcript(
        &self,
        thread: &ThreadKey,
        read: &Memory,
        limit: usize,
    ) -> Result<Vec<Message>, MemoryError> {
        let mut addresses = read.threads.clone();
        if !addresses.iter().any(|a| a == thread.as_str()) {
            addresses.push(thread.as_str().to_owned());
        }
        let mut messages = Vec::new();
        for address in addresses {
            let key = ThreadKey::stored(address, None);
            let found = self.store.recent_messages(&key, limit).await;
            messages.extend(found.map_err(MemoryError::Store)?);
        }
        messages.sort_by_key(|m| m.created_at);
        let skip = messages.len().saturating_sub(limit);
        Ok(messages.into_iter().skip(skip).map(|m| m.message).collect())
    }

    /// One call to the assistant's model: the previous memory and the conversation in, the
    /// new memory out. Its tokens count in the assistant's usage.
    async fn summarise(
        &self,
        assistant: &Assistant,
        read: &Memory,
        transcript: &[Message],
    ) -> Result<String, MemoryError> {
        let started = std::time::Instant::now();
        let prompt = Message::new(
            Role::Human,
            memory::summary_prompt(&read.summary, transcript),
        );
        let options = TurnOptions {
            max_tokens: Some(SUMMARY_MAX_TOKENS),
            temperature: Some(0.2),
            system: Some(SUMMARY_INSTRUCTIONS.to_owned()),
            // Nobody watches a summary arrive: it is asked for whole.
            whole: true,
            ..TurnOptions::default()
        };
        let events =
            run::start_turn(&self.providers, assistant, Vec::new(), &[prompt], &options).await?;
        let completion = run::collect(events, options.pacing(Pacing::default())).await?;
        let delta = UsageDelta {
            input_tokens: u64::from(completion.usage.input_tokens),
            output_tokens: u64::from(completion.usage.output_tokens),
            latency_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            ..UsageDelta::default()
        };
        crate::usage::record(
            self.store.as_ref(),
            self.clock.as_ref(),
            &assistant.id,
            delta,
        )
        .await;
        memory::clean_summary(&completion.text).ok_or(MemoryError::EmptySummary)
    }
}
