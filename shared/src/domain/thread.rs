//! Threads: where a conversation's messages live, and who a thread belongs to.
//!
//! A thread is addressed by a [`ThreadKey`] that includes the assistant and the scope of
//! the caller (the public, or one owner), so a thread id chosen by one caller can never
//! reach the history of another assistant or of an owner's private runs. A thread of an
//! identified user of an assistant with memory also names that user's [`MemoryKey`], so
//! whatever stores its messages can tell the background summariser whose memory they feed.

use serde::{Deserialize, Serialize};

use super::ids::{AssistantId, RunId, ThreadId, UserId};
use super::memory::MemoryKey;
use super::message::Message;

/// The full storage address of a thread, and the memory its messages feed, if any.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ThreadKey {
    address: String,
    memory: Option<MemoryKey>,
}

impl ThreadKey {
    fn at(address: String) -> Self {
        Self {
            address,
            memory: None,
        }
    }

    /// A thread of an assistant's public endpoints.
    pub fn public(assistant: &AssistantId, thread: &ThreadId) -> Self {
        Self::at(format!("{assistant}/public/{}", thread.as_str()))
    }

    /// A thread of an owner calling their own assistant with a user JWT.
    pub fn owner(assistant: &AssistantId, user: &UserId, thread: &ThreadId) -> Self {
        Self::at(format!("{assistant}/user:{user}/{}", thread.as_str()))
    }

    /// The transcript of one end user of the OpenAI-compatible endpoint.
    pub fn openai(assistant: &AssistantId, end_user: &str) -> Self {
        Self::at(format!("{assistant}/openai/{end_user}"))
    }

    /// The transcript of the OpenAI-compatible requests that name no end user (no user id
    /// can spell this address: named users live under `openai/`).
    pub fn openai_anonymous(assistant: &AssistantId) -> Self {
        Self::at(format!("{assistant}/openai-anonymous"))
    }

    /// A conversation of one visitor of an assistant's website widget.
    pub fn widget(assistant: &AssistantId, visitor: &str, conversation: &ThreadId) -> Self {
        Self::at(format!(
            "{assistant}/widget:{visitor}/{}",
            conversation.as_str()
        ))
    }

    /// A conversation of one subject (an anonymous session, or a verified email) of a
    /// public link.
    pub fn link(link: &str, subject: &str, conversation: &ThreadId) -> Self {
        Self::at(format!("link:{link}/{subject}/{}", conversation.as_str()))
    }

    /// A thread as a store read it back: its address and the memory it was written for.
    pub fn stored(address: impl Into<String>, memory: Option<MemoryKey>) -> Self {
        Self {
            address: address.into(),
            memory,
        }
    }

    /// The same thread, feeding `memory`.
    #[must_use]
    pub fn with_memory(self, memory: Option<MemoryKey>) -> Self {
        Self { memory, ..self }
    }

    /// The storage address (the memory plays no part in it).
    pub fn as_str(&self) -> &str {
        &self.address
    }

    pub fn memory(&self) -> Option<&MemoryKey> {
        self.memory.as_ref()
    }
}

/// A message as stored in a thread.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredMessage {
    #[serde(flatten)]
    pub message: Message,
    pub run_id: RunId,
    pub created_at: i64,
}
