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

/// A message as stored in a thread: one flat JSON object, the message's members first
/// (`{"role":…,"content":…,"run_id":…,"created_at":…}`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(from = "StoredRow")]
pub struct StoredMessage {
    pub message: Message,
    pub run_id: RunId,
    pub created_at: i64,
}

/// The stored object read member by member. A history read parses every message of the
/// thread's window on each turn; `#[serde(flatten)]` would first buffer each object into
/// a generic tree and then read that again.
#[derive(Deserialize)]
struct StoredRow {
    role: super::message::Role,
    content: String,
    run_id: RunId,
    created_at: i64,
}

impl Serialize for StoredMessage {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut row = s.serialize_struct("StoredMessage", 4)?;
        row.serialize_field("role", &self.message.role)?;
        row.serialize_field("content", &self.message.content)?;
        row.serialize_field("run_id", &self.run_id)?;
        row.serialize_field("created_at", &self.created_at)?;
        row.end()
    }
}

impl From<StoredRow> for StoredMessage {
    fn from(row: StoredRow) -> Self {
        Self {
            message: Message {
                role: row.role,
                content: row.content,
            },
            run_id: row.run_id,
            created_at: row.created_at,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::message::Role;

    #[test]
    fn a_stored_message_is_one_flat_object_read_back_whatever_its_member_order() {
        let run_id = RunId::parse("5b0f9f57-3c3e-4d8e-9a51-1f0a4c9b7e21").unwrap();
        let m = StoredMessage {
            message: Message::new(Role::Ai, "said \"hi\"\n"),
            run_id: run_id.clone(),
            created_at: 1_700_000_000_123,
        };
        let json = serde_json::to_string(&m).unwrap();
        assert_eq!(
            json,
            r#"{"role":"ai","content":"said \"hi\"\n","run_id":"5b0f9f57-3c3e-4d8e-9a51-1f0a4c9b7e21","created_at":1700000000123}"#
        );
        assert_eq!(serde_json::from_str::<StoredMessage>(&json).unwrap(), m);
        // Rows written in another member order, or with members this version ignores.
        let other = r#"{"created_at":1700000000123,"run_id":"5b0f9f57-3c3e-4d8e-9a51-1f0a4c9b7e21","extra":{"a":[1]},"content":"said \"hi\"\n","role":"ai"}"#;
        assert_eq!(serde_json::from_str::<StoredMessage>(other).unwrap(), m);
        assert!(
            serde_json::from_str::<StoredMessage>(r#"{"role":"ai","run_id":"x","created_at":1}"#)
                .is_err()
        );
    }
}
