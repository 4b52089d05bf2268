//! Threads: where a conversation's messages live, and who a thread belongs to.
//!
//! A thread is addressed by a [`ThreadKey`] that includes the assistant and the scope of
//! the caller (the public, or one owner), so a thread id chosen by one caller can never
//! reach the history of another assistant or of an owner's private runs.

use serde::{Deserialize, Serialize};

use super::ids::{AssistantId, RunId, ThreadId, UserId};
use super::message::Message;

/// The full storage address of a thread.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ThreadKey(String);

impl ThreadKey {
    /// A thread of an assistant's public endpoints.
    pub fn public(assistant: &AssistantId, thread: &ThreadId) -> Self {
        Self(format!("{assistant}/public/{}", thread.as_str()))
    }

    /// A thread of an owner calling their own assistant with a user JWT.
    pub fn owner(assistant: &AssistantId, user: &UserId, thread: &ThreadId) -> Self {
        Self(format!("{assistant}/user:{user}/{}", thread.as_str()))
    }

    /// The transcript of one end user of the OpenAI-compatible endpoint.
    pub fn openai(assistant: &AssistantId, end_user: &str) -> Self {
        Self(format!("{assistant}/openai/{end_user}"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
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
