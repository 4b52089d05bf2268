//! The widget's request body, parsed once into trusted values.
//!
//! Clients such as the AI SDK's `useChat` transport add their own fields (`id`,
//! `messages`, `trigger`...); unknown fields are ignored, the documented ones are checked.

use agentgate_shared::domain::ids::{AssistantId, ThreadId};
use agentgate_shared::http::opt_str;
use serde_json::{Map, Value};

/// Longest message a visitor may send, in characters.
pub const MAX_MESSAGE_CHARS: usize = 4_000;
/// Longest visitor id.
pub const MAX_VISITOR_ID_LEN: usize = 128;
/// Longest host page URL.
pub const MAX_URL_LEN: usize = 2_048;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatRequest {
    /// The bot the request names; `None` for a well-formed id no bot can have (404, not 400:
    /// only a body that breaks the schema is a bad request).
    pub bot: Option<AssistantId>,
    pub visitor: String,
    /// The conversation to continue; a malformed id counts as none (a new one is minted).
    pub conversation: Option<ThreadId>,
    pub message: String,
    pub host_page_url: Option<String>,
}

impl ChatRequest {
    pub fn parse(body: &Map<String, Value>) -> Result<Self, String> {
        let required = |field: &str| -> Result<&str, String> {
            opt_str(body, field)?.ok_or_else(|| format!("{field} is required"))
        };
        // An id that is not a bot's is a bot that does not exist.
        let bot = AssistantId::parse(required("botPublicId")?).ok();
        let visitor = valid_visitor(required("visitorId")?)?;
        let conversation = opt_str(body, "conversationId")?.and_then(|c| ThreadId::parse(c).ok());
        let message = required("message")?.trim();
        if message.is_empty() {
            return Err("message is empty".into());
        }
        if message.chars().count() > MAX_MESSAGE_CHARS {
            return Err(format!(
                "message is longer than {MAX_MESSAGE_CHARS} characters"
            ));
        }
        let host_page_url = opt_str(body, "hostPageUrl")?
            .map(|u| {
                let ok = (u.starts_with("https://") || u.starts_with("http://"))
                    && u.len() <= MAX_URL_LEN
                    && !u.chars().any(char::is_whitespace);
                ok.then(|| u.to_owned())
                    .ok_or_else(|| "hostPageUrl must be an http(s) URL".to_owned())
            })
            .transpose()?;
        Ok(Self {
            bot,
            visitor,
            conversation,
            message: message.to_owned(),
            host_page_url,
        })
    }
}

/// A visitor id as the widget sends it, trimmed: 1-128 printable characters without `/`.
pub fn valid_visitor(raw: &str) -> Result<String, String> {
    let visitor = raw.trim();
    if visitor.is_empty()
        || visitor.len() > MAX_VISITOR_ID_LEN
        || visitor.chars().any(|c| c.is_control() || c == '/')
    {
        return Err(format!(
            "visitorId must be 1-{MAX_VISITOR_ID_LEN} printable characters without '/'"
        ));
    }
    Ok(visitor.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn any_body_parses_or_is_refused_without_panicking() {
        use agentgate_shared::testing::fuzz::for_all_bodies;
        const KEYS: &str = "botPublicId visitorId conversationId message hostPageUrl";
        for_all_bodies(13, KEYS, 2, |body| {
            if let Ok(req) = ChatRequest::parse(&body) {
                assert!(!req.message.trim().is_empty());
            }
        });
    }

    const BOT: &str = "3f1c9a52-7b4e-4d2a-9c1e-5a8b6d0e2f47";

    fn parse(v: Value) -> Result<ChatRequest, String> {
        ChatRequest::parse(v.as_object().unwrap())
    }

    #[test]
    fn a_useful_request_is_parsed_and_extra_fields_ignored() {
        let r = parse(
            json!({"botPublicId": BOT, "visitorId": "v1", "conversationId": null,
            "message": "  Hello  ", "hostPageUrl": "https://docs.example.com/x",
            "id": "chat-1", "messages": [], "trigger": "submit-message"}),
        )
        .unwrap();
        assert_eq!(r.message, "Hello");
        assert_eq!(r.conversation, None);
        assert_eq!(
            r.host_page_url.as_deref(),
            Some("https://docs.example.com/x")
        );
    }

    #[test]
    fn bad_fields_are_named() {
        for (body, field) in [
            (json!({"visitorId": "v", "message": "m"}), "botPublicId"),
            (json!({"botPublicId": BOT, "message": "m"}), "visitorId"),
            (
                json!({"botPublicId": BOT, "visitorId": "a/b", "message": "m"}),
                "visitorId",
            ),
            (
                json!({"botPublicId": BOT, "visitorId": "v", "message": "   "}),
                "message",
            ),
            (
                json!({"botPublicId": BOT, "visitorId": "v", "message": "x".repeat(4_001)}),
                "message",
            ),
            (
                json!({"botPublicId": BOT, "visitorId": "v", "message": 5}),
                "message",
            ),
            (
                json!({"botPublicId": BOT, "visitorId": "v", "message": "m", "hostPageUrl": "javascript:x"}),
                "hostPageUrl",
            ),
        ] {
            let err = parse(body.clone()).unwrap_err();
            assert!(err.contains(field), "{body}: {err}");
        }
        assert!(
            parse(json!({"botPublicId": BOT, "visitorId": "v", "message": "x".repeat(4_000)}))
                .is_ok()
        );
    }
}
