//! Identifiers as newtypes: parsed once at the edge, trusted everywhere after.

use serde::{Deserialize, Serialize};

use super::Invalid;

/// `as_str` and `Display` for an id that is a `String` inside.
macro_rules! text_id {
    ($name:ident) => {
        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

/// A server-minted UUID v4 id; `parse` accepts only a canonical UUID, so a malformed id
/// never reaches the store (`$what` names the id in the refusal).
macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident, $what:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub fn mint() -> Self {
                Self(uuid::Uuid::new_v4().to_string())
            }

            pub fn parse(raw: &str) -> Result<Self, $crate::domain::Invalid> {
                uuid::Uuid::parse_str(raw.trim())
                    .map(|u| Self(u.to_string()))
                    .map_err(|_| $crate::domain::Invalid::new(concat!($what, " must be a UUID")))
            }
        }

        $crate::domain::ids::text_id!($name);
    };
}

pub(crate) use {text_id, uuid_id};

uuid_id!(
    /// An assistant's id.
    AssistantId,
    "assistant_id"
);

/// The subject of a verified user JWT: the owner of assistants.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct UserId(String);

impl UserId {
    pub const MAX_LEN: usize = 128;

    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let raw = raw.trim();
        if raw.is_empty() || raw.len() > Self::MAX_LEN || raw.chars().any(char::is_control) {
            return Err(Invalid::new("user id must be 1-128 printable characters"));
        }
        Ok(Self(raw.to_owned()))
    }
}

text_id!(UserId);

/// A caller-chosen conversation id (any string may name a session).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ThreadId(String);

impl ThreadId {
    pub const MAX_LEN: usize = 128;

    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        if raw.is_empty() || raw.len() > Self::MAX_LEN || raw.chars().any(char::is_control) {
            return Err(Invalid::new(
                "thread_id must be 1-128 characters without control characters",
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    /// A fresh id for callers that did not name their session.
    pub fn mint() -> Self {
        Self(uuid::Uuid::new_v4().to_string())
    }
}

text_id!(ThreadId);

uuid_id!(
    /// One run: one request that produced one model reply.
    RunId,
    "run_id"
);

/// Longest end-user id a client may name (OpenAI's `user` field, `X-End-User`).
pub const MAX_END_USER_LEN: usize = 256;

/// An end-user id as clients name it: trimmed, 1-256 printable characters. One rule for
/// the endpoint that receives it and the owner routes that look its memory up.
pub fn parse_end_user(raw: &str) -> Option<&str> {
    let u = raw.trim();
    (!u.is_empty() && u.len() <= MAX_END_USER_LEN && !u.chars().any(char::is_control)).then_some(u)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assistant_id_requires_uuid() {
        assert!(AssistantId::parse("abc-123").is_err());
        let id = AssistantId::mint();
        assert_eq!(AssistantId::parse(id.as_str()).unwrap(), id);
    }

    #[test]
    fn thread_id_bounds() {
        assert!(ThreadId::parse("").is_err());
        assert!(ThreadId::parse(&"x".repeat(129)).is_err());
        assert!(ThreadId::parse("a\nb").is_err());
        assert!(ThreadId::parse("session-12345").is_ok());
    }
}
