//! Parsing a chat-completions request, naming the offending parameter as OpenAI does.

use agentgate_shared::domain::ids::parse_end_user;
use agentgate_shared::domain::message::{MAX_CONTENT_CHARS, Message, Role};
use agentgate_shared::provider::MAX_TOKENS_CEILING;
use agentgate_shared::run::TurnOptions;
use serde_json::{Map, Value};

use crate::OpenAiError;

/// Stateless clients resend the whole conversation, so this is larger than the native
/// endpoint's per-turn bound; the 256 KiB body limit still applies.
pub const MAX_MESSAGES: usize = 500;
pub const MAX_STOP: usize = 4;
pub const MAX_USER_LEN: usize = agentgate_shared::domain::ids::MAX_END_USER_LEN;

#[derive(Debug)]
pub struct ChatCompletionRequest {
    pub model: Option<String>,
    pub messages: Vec<Message>,
    pub stream: bool,
    pub include_usage: bool,
    pub options: TurnOptions,
    pub user: Option<String>,
}

fn invalid(param: &str, message: impl Into<String>) -> OpenAiError {
    OpenAiError::invalid(param, message)
}

impl ChatCompletionRequest {
    pub fn parse(body: &Map<String, Value>) -> Result<Self, OpenAiError> {
        let model = match body.get("model") {
            None | Some(Value::Null) => None,
            Some(Value::String(m)) if m.len() <= 256 => Some(m.clone()),
            Some(_) => {
                return Err(invalid(
                    "model",
                    "model must be a string of at most 256 characters",
                ));
            }
        };
        let messages = parse_messages(body.get("messages"))?;
        let stream = match body.get("stream") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => return Err(invalid("stream", "stream must be a boolean")),
        };
        let include_usage = match body.get("stream_options") {
            None | Some(Value::Null) => false,
            Some(Value::Object(o)) => match o.get("include_usage") {
                None | Some(Value::Null) => false,
                Some(Value::Bool(b)) => *b,
                Some(_) => {
                    return Err(invalid(
                        "stream_options.include_usage",
                        "include_usage must be a boolean",
                    ));
                }
            },
            Some(_) => {
                return Err(invalid(
                    "stream_options",
                    "stream_options must be an object",
                ));
            }
        };
        if let Some(n) = body.get("n").filter(|v| !v.is_null())
            && n.as_u64() != Some(1)
        {
            return Err(invalid("n", "only n = 1 is supported"));
        }
        let mut options = TurnOptions {
            whole: !stream,
            ..TurnOptions::default()
        };
        if let Some(t) = body.get("temperature").filter(|v| !v.is_null()) {
            let t = t
                .as_f64()
                .filter(|t| (0.0..=2.0).contains(t))
                .ok_or_else(|| {
                    invalid("temperature", "temperature must be a number from 0 to 2")
                })?;
            options.temperature = Some(t as f32);
        }
        for param in ["max_tokens", "max_completion_tokens"] {
            if let Some(v) = body.get(param).filter(|v| !v.is_null()) {
                let n = v
                    .as_u64()
                    .filter(|n| (1..=u64::from(MAX_TOKENS_CEILING)).contains(n))
                    .ok_or_else(|| {
                        invalid(
                            param,
                            format!("{param} must be an integer from 1 to {MAX_TOKENS_CEILING}"),
                        )
                    })?;
                options.max_tokens = u32::try_from(n).ok();
            }
        }
        options.stop = parse_stop(body.get("stop"))?;
        let user = match body.get("user") {
            None | Some(Value::Null) => None,
            Some(Value::String(u)) => Some(parse_user(u, "user")?),
            Some(_) => return Err(invalid("user", "user must be a string")),
        };
        Ok(Self {
            model,
            messages,
            stream,
            include_usage,
            options,
            user,
        })
    }

    /// The messages this turn adds to the end user's transcript (see [`new_turn`]).
    pub fn new_turn(&self) -> Vec<Message> {
        new_turn(&self.messages)
    }
}

/// The messages a turn adds to a transcript when the client sends the conversation itself:
/// those after the last assistant message (the client's new turn), without system
/// prompts. Earlier ones were recorded when their turn happened.
pub fn new_turn(messages: &[Message]) -> Vec<Message> {
    let start = messages
        .iter()
        .rposition(|m| m.role == Role::Ai)
        .map_or(0, |i| i + 1);
    messages[start..]
        .iter()
        .filter(|m| m.role != Role::System)
        .cloned()
        .collect()
}

/// Validates an end-user id from the body or the `X-End-User` header.
pub fn parse_user(raw: &str, param: &str) -> Result<String, OpenAiError> {
    parse_end_user(raw).map(str::to_owned).ok_or_else(|| {
        invalid(
            param,
            format!("{param} must be 1-{MAX_USER_LEN} printable characters"),
        )
    })
}

fn parse_messages(v: Option<&Value>) -> Result<Vec<Message>, OpenAiError> {
    let list = match v {
        Some(Value::Array(l)) if !l.is_empty() => l,
        Some(Value::Array(_)) => {
            return Err(invalid(
                "messages",
                "messages must hold at least one message",
            ));
        }
        None | Some(Value::Null) => return Err(invalid("messages", "messages is required")),
        Some(_) => return Err(invalid("messages", "messages must be an array")),
    };
    if list.len() > MAX_MESSAGES {
        return Err(invalid(
            "messages",
            format!("messages holds more than {MAX_MESSAGES} messages"),
        ));
    }
    list.iter()
        .enumerate()
        .map(|(i, m)| parse_message(i, m))
        .collect()
}

fn parse_message(i: usize, m: &Value) -> Result<Message, OpenAiError> {
    let at = format!("messages[{i}]");
    let obj = m
        .as_object()
        .ok_or_else(|| invalid(&at, format!("{at} must be an object")))?;
    let role = match obj.get("role").and_then(Value::as_str) {
        Some("user") => Role::Human,
        Some("assistant") => Role::Ai,
        Some("system" | "developer") => Role::System,
        Some(other @ ("tool" | "function")) => {
            return Err(invalid(
                &format!("{at}.role"),
                format!("{other} messages are not supported: this endpoint has no tools"),
            ));
        }
        Some(other) => {
            return Err(invalid(
                &format!("{at}.role"),
                format!("{other:?} is not one of system, developer, user, assistant"),
            ));
        }
        None => {
            return Err(invalid(
                &format!("{at}.role"),
                format!("{at}.role is required"),
            ));
        }
    };
    let content = match obj.get("content") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(parts)) => {
            let mut out = String::new();
            for (j, p) in parts.iter().enumerate() {
                match (
                    p.get("type").and_then(Value::as_str),
                    p.get("text").and_then(Value::as_str),
                ) {
                    (Some("text"), Some(t)) => out.push_str(t),
                    _ => {
                        return Err(invalid(
                            &format!("{at}.content[{j}]"),
                            "only text content parts are supported",
                        ));
                    }
                }
            }
            out
        }
        // An assistant turn may come back with null content; it carries no text.
        None | Some(Value::Null) if role == Role::Ai => String::new(),
        _ => {
            return Err(invalid(
                &format!("{at}.content"),
                format!("{at}.content must be a string or text parts"),
            ));
        }
    };
    if content.chars().count() > MAX_CONTENT_CHARS {
        return Err(invalid(
            &format!("{at}.content"),
            format!("{at}.content is longer than {MAX_CONTENT_CHARS} characters"),
        ));
    }
    Ok(Message::new(role, content))
}

fn parse_stop(v: Option<&Value>) -> Result<Vec<String>, OpenAiError> {
    let list: Vec<&Value> = match v {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(s @ Value::String(_)) => vec![s],
        Some(Value::Array(a)) if a.len() <= MAX_STOP => a.iter().collect(),
        Some(_) => {
            return Err(invalid(
                "stop",
                format!("stop must be a string or up to {MAX_STOP} strings"),
            ));
        }
    };
    list.into_iter()
        .map(|s| match s.as_str() {
            Some(t) if !t.is_empty() && t.len() <= 64 => Ok(t.to_owned()),
            _ => Err(invalid(
                "stop",
                "each stop sequence must be a string of 1-64 bytes",
            )),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn any_body_parses_or_is_refused_without_panicking() {
        use agentgate_shared::testing::fuzz::for_all_bodies;
        const KEYS: &str = "model messages role content type text stream stream_options \
            include_usage temperature max_tokens max_completion_tokens stop user n \
            tools";
        for_all_bodies(12, KEYS, 3, |body| {
            if let Ok(req) = ChatCompletionRequest::parse(&body) {
                assert!(!req.messages.is_empty());
            }
        });
    }

    fn parse(v: Value) -> Result<ChatCompletionRequest, OpenAiError> {
        ChatCompletionRequest::parse(v.as_object().unwrap())
    }

    #[test]
    fn the_new_turn_is_what_follows_the_last_reply() {
        let r = parse(json!({"messages": [
            {"role": "system", "content": "s"},
            {"role": "user", "content": "u1"},
            {"role": "assistant", "content": "a1"},
            {"role": "user", "content": [{"type": "text", "text": "u2"}]},
        ]}))
        .unwrap();
        assert_eq!(r.new_turn(), vec![Message::new(Role::Human, "u2")]);
        let first = parse(json!({"messages": [{"role": "developer", "content": "s"}, {"role": "user", "content": "u1"}]})).unwrap();
        assert_eq!(first.new_turn(), vec![Message::new(Role::Human, "u1")]);
    }

    #[test]
    fn bad_params_are_named() {
        let cases = [
            (json!({}), "messages"),
            (json!({"messages": []}), "messages"),
            (
                json!({"messages": [{"role": "tool", "content": "x"}]}),
                "messages[0].role",
            ),
            (
                json!({"messages": [{"role": "user", "content": 5}]}),
                "messages[0].content",
            ),
            (
                json!({"messages": [{"role": "user", "content": "x"}], "temperature": 3}),
                "temperature",
            ),
            (
                json!({"messages": [{"role": "user", "content": "x"}], "max_tokens": 0}),
                "max_tokens",
            ),
            (
                json!({"messages": [{"role": "user", "content": "x"}], "n": 2}),
                "n",
            ),
            (
                json!({"messages": [{"role": "user", "content": "x"}], "stop": [1]}),
                "stop",
            ),
            (
                json!({"messages": [{"role": "user", "content": "x"}], "stream": "yes"}),
                "stream",
            ),
            (
                json!({"messages": [{"role": "user", "content": "x"}], "user": ""}),
                "user",
            ),
        ];
        for (body, want) in cases {
            match parse(body.clone()) {
                Err(OpenAiError::Invalid { param: Some(p), .. }) => assert_eq!(p, want, "{body}"),
                other => panic!("{body}: {other:?}"),
            }
        }
    }
}
