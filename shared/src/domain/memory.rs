//! Per-user memory: a short summary of what an assistant has learnt about one user,
//! carried from one conversation to the next.
//!
//! Memory belongs to an identified user of one assistant (an owner calling with a JWT, or
//! a named end user of the OpenAI-compatible endpoint); anonymous public threads have
//! none, since nothing ties one anonymous visitor to the next. It is opt-in per assistant
//! (`type==agent/memory: true`). The summary is rebuilt in the background every
//! [`SUMMARISE_EVERY`] stored messages, from the previous summary and the conversation
//! that reached the threshold, and is added to the system prompt of the user's next turns.

use std::fmt;

use super::Invalid;
use super::ids::{AssistantId, UserId};
use super::message::{Message, Role};

/// Stored messages between two summaries.
pub const SUMMARISE_EVERY: u64 = 5;
/// Most recent messages of the conversation a summary is built from.
pub const MAX_TRANSCRIPT_MESSAGES: usize = 40;
/// Characters of one message quoted into the summarisation request.
pub const MAX_QUOTED_CHARS: usize = 4_000;
/// Longest summary kept (longer replies are cut at a word boundary).
pub const MAX_SUMMARY_CHARS: usize = 2_000;
/// Output budget of the summarisation call.
pub const SUMMARY_MAX_TOKENS: u32 = 600;
/// A memory untouched for this long is forgotten.
pub const MEMORY_RETENTION_SECS: i64 = 365 * 86_400;

/// Whose memory: one assistant and one identified user of it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MemoryKey {
    /// `<assistant id>/<user scope>`, as stored.
    key: String,
    assistant: AssistantId,
}

impl MemoryKey {
    fn new(assistant: &AssistantId, scope: &str) -> Self {
        Self {
            key: format!("{assistant}/{scope}"),
            assistant: assistant.clone(),
        }
    }

    /// The owner of `assistant`, calling it with a user JWT.
    pub fn owner(assistant: &AssistantId, user: &UserId) -> Self {
        Self::new(assistant, &format!("user:{user}"))
    }

    /// A named end user of the OpenAI-compatible endpoint.
    pub fn end_user(assistant: &AssistantId, end_user: &str) -> Self {
        Self::new(assistant, &format!("openai:{end_user}"))
    }

    /// An email address verified through one of the assistant's public links (shared by
    /// every link of the assistant, never by the OpenAI endpoint's unverified users).
    pub fn verified_email(assistant: &AssistantId, email: &str) -> Self {
        Self::new(assistant, &format!("email:{email}"))
    }

    /// A named end user as an owner writes it (the rule of [`super::ids::parse_end_user`]).
    pub fn parse_end_user(assistant: &AssistantId, raw: &str) -> Result<Self, Invalid> {
        let u = super::ids::parse_end_user(raw).ok_or_else(|| {
            Invalid::new(format!(
                "end user must be 1-{} printable characters",
                super::ids::MAX_END_USER_LEN
            ))
        })?;
        Ok(Self::end_user(assistant, u))
    }

    /// A key read back from storage: `<assistant uuid>/<scope>`.
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let bad = || Invalid::new("memory key must be <assistant id>/<user scope>");
        let (assistant, scope) = raw.split_once('/').ok_or_else(bad)?;
        let id = AssistantId::parse(assistant).map_err(|_| bad())?;
        if scope.is_empty() || scope.chars().any(char::is_control) {
            return Err(bad());
        }
        Ok(Self::new(&id, scope))
    }

    /// The assistant this memory belongs to.
    pub fn assistant(&self) -> &AssistantId {
        &self.assistant
    }

    pub fn as_str(&self) -> &str {
        &self.key
    }
}

impl fmt::Display for MemoryKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.key)
    }
}

/// A user's memory as stored.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Memory {
    /// The current summary; empty until the first one is written.
    pub summary: String,
    /// Changes with every saved summary; saves are conditional on it.
    pub version: i64,
    /// Messages stored since the last summary.
    pub pending: u64,
    /// When the last summary was saved (ms since the epoch; 0 if never).
    pub updated_at: i64,
    /// The threads (storage addresses) whose messages were counted since the last summary:
    /// the next summary reads all of them, so facts said in another conversation count.
    pub threads: Vec<String>,
}

impl Memory {
    pub fn due(&self) -> bool {
        self.pending >= SUMMARISE_EVERY
    }
}

/// Instructions of the summarisation call.
pub const SUMMARY_INSTRUCTIONS: &str = "You keep a short memory about one user of an assistant. \
Update the memory with what the new conversation teaches about the user: stable facts, \
preferences, goals, and open questions worth following up. Leave out small talk and \
anything the user asked to forget. Write plain sentences in the third person, at most 150 \
words, and reply with the updated memory only.";

/// The user message of the summarisation call: the previous memory and the conversation.
pub fn summary_prompt(previous: &str, transcript: &[Message]) -> String {
    let mut out = String::from("Current memory:\n");
    if previous.trim().is_empty() {
        out.push_str("(none yet)\n");
    } else {
        out.push_str(previous.trim());
        out.push('\n');
    }
    out.push_str("\nNew conversation:\n");
    for m in transcript {
        let who = match m.role {
            Role::Human => "User",
            Role::Ai => "Assistant",
            Role::System => continue,
        };
        out.push_str(who);
        out.push_str(": ");
        out.push_str(&truncate_chars(m.content.trim(), MAX_QUOTED_CHARS));
        out.push('\n');
    }
    out
}

/// A model's reply made into a summary: trimmed and bounded; `None` when nothing is left.
pub fn clean_summary(reply: &str) -> Option<String> {
    let text = reply.trim();
    if text.is_empty() {
        return None;
    }
    Some(truncate_chars(text, MAX_SUMMARY_CHARS))
}

/// The system prompt of a turn for a user the assistant remembers.
pub fn system_with_memory(system: Option<&str>, summary: &str) -> String {
    let note = format!(
        "What you remember about this user from earlier conversations (use it when \
         relevant, do not recite it):\n{}",
        summary.trim()
    );
    match system.map(str::trim).filter(|s| !s.is_empty()) {
        Some(s) => format!("{s}\n\n{note}"),
        None => note,
    }
}

/// At most `max` characters, cut at the last whitespace before the limit when there is one.
fn truncate_chars(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        None => text.to_owned(),
        Some((end, _)) => {
            let head = &text[..end];
            let cut = head.rfind(char::is_whitespace).unwrap_or(end);
            format!("{}…", head[..cut].trim_end())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id() -> AssistantId {
        AssistantId::parse("3f1c9a52-7b4e-4d2a-9c1e-5a8b6d0e2f47").unwrap()
    }

    #[test]
    fn keys_name_the_assistant_and_round_trip() {
        let owner = MemoryKey::owner(&id(), &UserId::parse("alice").unwrap());
        let end_user = MemoryKey::end_user(&id(), "user-42");
        assert_ne!(owner, end_user);
        for k in [owner, end_user] {
            assert_eq!(k.assistant(), &id());
            assert_eq!(MemoryKey::parse(k.as_str()).unwrap(), k);
        }
        for bad in [
            "",
            "x/y",
            "3f1c9a52-7b4e-4d2a-9c1e-5a8b6d0e2f47",
            "3f1c9a52-7b4e-4d2a-9c1e-5a8b6d0e2f47/",
        ] {
            assert!(MemoryKey::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_prompt_quotes_the_conversation_and_the_previous_memory() {
        let t = [
            Message::new(Role::System, "hidden"),
            Message::new(Role::Human, "I am a vegetarian"),
            Message::new(Role::Ai, "Noted!"),
        ];
        let p = summary_prompt("", &t);
        assert!(p.contains("(none yet)"));
        assert!(p.contains("User: I am a vegetarian\nAssistant: Noted!\n"));
        assert!(!p.contains("hidden"));
        let p = summary_prompt("Likes tea.", &t[1..2]);
        assert!(p.starts_with("Current memory:\nLikes tea.\n"));
        let long = "word ".repeat(2_000);
        let p = summary_prompt("", &[Message::new(Role::Human, long)]);
        assert!(p.chars().count() < MAX_QUOTED_CHARS + 100);
    }

    #[test]
    fn summaries_are_trimmed_and_bounded() {
        assert_eq!(clean_summary("  \n "), None);
        assert_eq!(clean_summary(" Likes tea. ").as_deref(), Some("Likes tea."));
        let long = "abc ".repeat(1_000);
        let s = clean_summary(&long).unwrap();
        assert!(s.chars().count() <= MAX_SUMMARY_CHARS + 1);
        assert!(s.ends_with("abc…"));
    }

    #[test]
    fn memory_follows_the_system_prompt() {
        let s = system_with_memory(Some("Be brief."), "Likes tea.");
        assert!(s.starts_with("Be brief.\n\n"));
        assert!(s.ends_with("\nLikes tea."));
        assert!(system_with_memory(None, "Likes tea.").ends_with("Likes tea."));
        assert!(!system_with_memory(Some("  "), "x").starts_with(' '));
    }

    #[test]
    fn a_summary_is_due_every_few_messages() {
        let mut m = Memory {
            pending: SUMMARISE_EVERY - 1,
            ..Memory::default()
        };
        assert!(!m.due());
        m.pending = SUMMARISE_EVERY;
        assert!(m.due());
    }
}
