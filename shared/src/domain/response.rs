//! Stored responses of the OpenAI Responses API: what a later request continues from
//! (`previous_response_id`) or points into (an `item_reference` to an earlier reply), and
//! what `GET /responses/{id}` returns.
//!
//! A response belongs to the transcript it was made in (one assistant and one end user, or
//! the assistant's anonymous callers) and is read only through that scope, so an id seen by
//! another end user or used with another assistant's token finds nothing. Ids carry 128
//! random bits, and the reply's message item shares them with its response
//! (`msg_<hex>` is the reply of `resp_<hex>`): resolving an item reference is one read.

use serde_json::Value;

use super::message::Message;

/// How long a stored response can be continued or fetched (OpenAI keeps them 30 days).
pub const RESPONSE_RETENTION_SECS: i64 = 30 * 86_400;

const RESPONSE_PREFIX: &str = "resp_";
const MESSAGE_PREFIX: &str = "msg_";

/// A response's id: `resp_` and 32 lowercase hex digits.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ResponseId(String);

fn hex_part<'a>(raw: &'a str, prefix: &str) -> Option<&'a str> {
    raw.strip_prefix(prefix)
        .filter(|h| h.len() == 32 && h.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
}

impl ResponseId {
    pub fn mint() -> Self {
        Self(format!(
            "{RESPONSE_PREFIX}{}",
            uuid::Uuid::new_v4().simple()
        ))
    }

    /// A well-formed response id, or `None`.
    pub fn parse(raw: &str) -> Option<Self> {
        hex_part(raw, RESPONSE_PREFIX).map(|h| Self(format!("{RESPONSE_PREFIX}{h}")))
    }

    /// The response whose reply is the message item `raw` (`msg_<hex>`), or `None`.
    pub fn of_message(raw: &str) -> Option<Self> {
        hex_part(raw, MESSAGE_PREFIX).map(|h| Self(format!("{RESPONSE_PREFIX}{h}")))
    }

    /// The id of this response's reply message item.
    pub fn message_id(&self) -> String {
        format!("{MESSAGE_PREFIX}{}", &self.0[RESPONSE_PREFIX.len()..])
    }
}

super::ids::text_id!(ResponseId);

/// One stored response.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredResponse {
    pub id: ResponseId,
    /// The address of the transcript it belongs to ([`super::thread::ThreadKey::as_str`]).
    pub scope: String,
    /// The conversation a continuation starts from: what the model saw (bounded like any
    /// history) and the reply, without the request's `instructions`.
    pub context: Vec<Message>,
    /// The `response` object as the API returned it.
    pub body: Value,
    /// Epoch seconds after which it is gone.
    pub expires_at: i64,
}

impl StoredResponse {
    /// The text of the reply message item: what an `item_reference` to it stands for.
    pub fn reply_text(&self) -> String {
        let items = self.body.get("output").and_then(Value::as_array);
        items
            .into_iter()
            .flatten()
            .filter(|item| item.get("type").and_then(Value::as_str) == Some("message"))
            .flat_map(|item| {
                item.get("content")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
            })
            .filter_map(|part| part.get("text").and_then(Value::as_str))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ids_round_trip_and_name_their_reply() {
        let id = ResponseId::mint();
        assert_eq!(ResponseId::parse(id.as_str()), Some(id.clone()));
        let msg = id.message_id();
        assert!(msg.starts_with("msg_"));
        assert_eq!(ResponseId::of_message(&msg), Some(id));
        for bad in [
            "resp_",
            "resp_XYZ",
            "msg_0123456789abcdef0123456789abcdef",
            "resp_0123456789ABCDEF0123456789abcdef",
            "resp_0123456789abcdef0123456789abcdef0",
        ] {
            assert_eq!(ResponseId::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn the_reply_is_read_from_the_message_items() {
        let r = StoredResponse {
            id: ResponseId::mint(),
            scope: "a/openai/u".into(),
            context: vec![],
            body: json!({"output": [{"type": "message", "content": [
                {"type": "output_text", "text": "Hel"}, {"type": "output_text", "text": "lo"}
            ]}]}),
            expires_at: 0,
        };
        assert_eq!(r.reply_text(), "Hello");
    }
}
