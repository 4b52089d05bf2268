//! Conversation messages and the input shapes callers may send.
//!
//! The native endpoint accepts LangChain-style roles (`human`, `ai`, `system`) and the
//! OpenAI spellings (`user`, `assistant`); either `role` or `type` names it. Content is a
//! string or an array of `{"type":"text","text":...}` parts. Input is parsed by hand from a
//! `serde_json::Value` so every rejection names the offending field.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::Invalid;

pub const MAX_INPUT_MESSAGES: usize = 99;
pub const MAX_CONTENT_CHARS: usize = 32_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Human,
    Ai,
    System,
}

impl Role {
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "human" | "user" => Some(Self::Human),
            "ai" | "assistant" => Some(Self::Ai),
            "system" => Some(Self::System),
            _ => None,
        }
    }
}

/// One message of a conversation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    pub role: Role,
    pub content: String,
}

impl Message {
    pub fn new(role: Role, content: impl Into<String>) -> Self {
        Self {
            role,
            content: content.into(),
        }
    }
}

/// Parses the native endpoint's `input`: an array of messages or `{"messages": [...]}`.
pub fn parse_input(input: Option<&Value>) -> Result<Vec<Message>, Invalid> {
    let list = match input {
        None | Some(Value::Null) => {
            return Err(Invalid::new(
                "input is required and must hold at least one message",
            ));
        }
        Some(Value::Array(items)) => items,
        Some(Value::Object(state)) => match state.get("messages") {
            Some(Value::Array(items)) => items,
            Some(_) => return Err(Invalid::new("input.messages must be an array")),
            None => {
                return Err(Invalid::new(
                    "input must be an array of messages or {\"messages\": [...]}",
                ));
            }
        },
        Some(_) => {
            return Err(Invalid::new(
                "input must be an array of messages or {\"messages\": [...]}",
            ));
        }
    };
    parse_messages(list, "input")
}

/// Parses a list of message objects, naming `field[i]` in every error.
pub fn parse_messages(list: &[Value], field: &str) -> Result<Vec<Message>, Invalid> {
    if list.is_empty() {
        return Err(Invalid::new(format!(
            "{field} must hold at least one message"
        )));
    }
    if list.len() > MAX_INPUT_MESSAGES {
        return Err(Invalid::new(format!(
            "{field} holds more than {MAX_INPUT_MESSAGES} messages"
        )));
    }
    list.iter()
        .enumerate()
        .map(|(i, item)| parse_message(item, &format!("{field}[{i}]")))
        .collect()
}

fn parse_message(item: &Value, at: &str) -> Result<Message, Invalid> {
    let obj = item
        .as_object()
        .ok_or_else(|| Invalid::new(format!("{at} must be an object with role and content")))?;
    let role_raw = obj
        .get("role")
        .or_else(|| obj.get("type"))
        .ok_or_else(|| Invalid::new(format!("{at}.role is required")))?
        .as_str()
        .ok_or_else(|| Invalid::new(format!("{at}.role must be a string")))?;
    let role = Role::parse(role_raw).ok_or_else(|| {
        Invalid::new(format!(
            "{at}.role {role_raw:?} is not one of human, user, ai, assistant, system"
        ))
    })?;
    let content = match obj.get("content") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(parts)) => text_parts(parts, at)?,
        Some(_) => {
            return Err(Invalid::new(format!(
                "{at}.content must be a string or an array of text parts"
            )));
        }
        None => return Err(Invalid::new(format!("{at}.content is required"))),
    };
    if content.chars().count() > MAX_CONTENT_CHARS {
        return Err(Invalid::new(format!(
            "{at}.content is longer than {MAX_CONTENT_CHARS} characters"
        )));
    }
    Ok(Message { role, content })
}

fn text_parts(parts: &[Value], at: &str) -> Result<String, Invalid> {
    let mut out = String::new();
    for (j, part) in parts.iter().enumerate() {
        match (part.get("type").and_then(Value::as_str), part.get("text")) {
            (Some("text"), Some(Value::String(t))) => out.push_str(t),
            _ => {
                return Err(Invalid::new(format!(
                    "{at}.content[{j}] must be {{\"type\":\"text\",\"text\":\"...\"}}"
                )));
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn accepts_both_input_shapes_and_role_spellings() {
        let a = parse_input(Some(&json!([{"role": "human", "content": "Hi"}]))).unwrap();
        let b = parse_input(Some(
            &json!({"messages": [{"type": "user", "content": [{"type": "text", "text": "Hi"}]}]}),
        ))
        .unwrap();
        assert_eq!(a, b);
        assert_eq!(a[0], Message::new(Role::Human, "Hi"));
    }

    #[test]
    fn rejections_name_the_field() {
        let cases = [
            (json!(null), "input is required"),
            (json!([]), "at least one"),
            (json!("hi"), "must be an array"),
            (
                json!([{"role": "robot", "content": "x"}]),
                "input[0].role \"robot\"",
            ),
            (json!([{"role": "human"}]), "input[0].content is required"),
            (
                json!([{"role": "human", "content": 3}]),
                "input[0].content must be",
            ),
            (json!({"messages": {}}), "input.messages must be an array"),
        ];
        for (value, needle) in cases {
            let err = parse_input(Some(&value)).unwrap_err().0;
            assert!(err.contains(needle), "{err} should contain {needle}");
        }
        let long = "x".repeat(MAX_CONTENT_CHARS + 1);
        assert!(parse_input(Some(&json!([{"role": "human", "content": long}]))).is_err());
    }
}
