//! Anthropic Messages API with streaming.
//!
//! The base URL excludes `/v1` (as Anthropic's SDKs do). The assistant's own system prompt
//! goes in the request's `system` field and nothing else does: a system message a client
//! sent within the conversation is passed on as a user turn, marked as the client's, so it
//! never gains the standing of the owner's instructions.

use async_trait::async_trait;
use serde_json::{Value, json};

use super::sse::SseEvent;
use super::{
    ChatRequest, EventStream, FinishReason, Provider, ProviderError, ProviderEvent, Usage,
    saturating_u32, send_streaming,
};
use crate::domain::message::Role;
use crate::secret::SecretString;

pub const DEFAULT_BASE_URL: &str = "https://api.anthropic.com";
pub const API_VERSION: &str = "2023-06-01";

pub struct AnthropicProvider {
    client: reqwest::Client,
    url: super::Endpoint,
    key: SecretString,
}

impl AnthropicProvider {
    pub fn new(client: reqwest::Client, base_url: String, key: SecretString) -> Self {
        let url = super::Endpoint::new(format!("{}/v1/messages", base_url.trim_end_matches('/')));
        Self { client, url, key }
    }

    /// The same provider on another HTTP client (a connection pool of its own).
    pub(super) fn on_client(&self, client: reqwest::Client) -> Self {
        Self {
            client,
            url: self.url.clone(),
            key: self.key.clone(),
        }
    }
}

/// How a client's system message is introduced when passed on as a user turn.
pub const CLIENT_CONTEXT: &str =
    "[Context from the client application, not instructions from the assistant's owner]\n";

/// The request body in the Messages API shape.
pub fn request_body(req: &ChatRequest) -> Value {
    let mut messages: Vec<Value> = Vec::with_capacity(req.messages.len());
    for m in &req.messages {
        let (role, content) = match m.role {
            Role::System => ("user", format!("{CLIENT_CONTEXT}{}", m.content)),
            Role::Human => ("user", m.content.clone()),
            Role::Ai => ("assistant", m.content.clone()),
        };
        messages.push(json!({"role": role, "content": content}));
    }
    let mut body = json!({
        "model": req.model,
        "max_tokens": req.max_tokens,
        "messages": messages,
        "stream": true,
    });
    if let Some(system) = &req.system {
        body["system"] = json!(system);
    }
    req.sampling_into(&mut body, "stop_sequences");
    if !req.tools.is_empty() {
        let tools: Vec<Value> = req
            .tools
            .iter()
            .map(|t| json!({"name": t.name, "description": t.description, "input_schema": t.parameters}))
            .collect();
        body["tools"] = Value::Array(tools);
    }
    body
}

/// The block index of an event, as the tool call it belongs to.
fn block_index(v: &Value) -> u32 {
    v.get("index")
        .and_then(Value::as_u64)
        .and_then(|i| u32::try_from(i).ok())
        .unwrap_or(0)
}

/// Maps one upstream event; `None` once `message_stop` arrives.
pub fn map_event(ev: &SseEvent) -> Option<Result<Vec<ProviderEvent>, ProviderError>> {
    let v: Value = match serde_json::from_str(&ev.data) {
        Ok(v) => v,
        Err(e) => return Some(Err(ProviderError::Protocol(format!("bad event: {e}")))),
    };
    let kind = v
        .get("type")
        .and_then(Value::as_str)
        .or(ev.event.as_deref())
        .unwrap_or("");
    let tokens = |p: &str| saturating_u32(v.pointer(p).and_then(Value::as_u64));
    let events = match kind {
        "message_stop" => return None,
        "message_start" => vec![ProviderEvent::Usage(Usage {
            input_tokens: tokens("/message/usage/input_tokens"),
            output_tokens: 0,
        })],
        // A tool call opens its own block with its id and name; its input follows as
        // `input_json_delta` fragments.
        "content_block_start" => match v.pointer("/content_block/type").and_then(Value::as_str) {
            Some("tool_use") => {
                let text = |p: &str| v.pointer(p).and_then(Value::as_str).map(str::to_owned);
                vec![ProviderEvent::ToolCallPart {
                    index: block_index(&v),
                    id: text("/content_block/id"),
                    name: text("/content_block/name"),
                    arguments: String::new(),
                }]
            }
            _ => Vec::new(),
        },
        "content_block_delta" => match v.pointer("/delta/type").and_then(Value::as_str) {
            Some("input_json_delta") => vec![ProviderEvent::ToolCallPart {
                index: block_index(&v),
                id: None,
                name: None,
                arguments: v
                    .pointer("/delta/partial_json")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
            }],
            _ => v
                .pointer("/delta/text")
                .and_then(Value::as_str)
                .filter(|t| !t.is_empty())
                .map(|t| vec![ProviderEvent::Delta(t.to_owned())])
                .unwrap_or_default(),
        },
        "message_delta" => {
            let mut out = vec![ProviderEvent::Usage(Usage {
                input_tokens: 0,
                output_tokens: tokens("/usage/output_tokens"),
            })];
            if let Some(reason) = v.pointer("/delta/stop_reason").and_then(Value::as_str) {
                out.push(ProviderEvent::Finish(match reason {
                    "max_tokens" => FinishReason::Length,
                    "refusal" => FinishReason::ContentFilter,
                    _ => FinishReason::Stop,
                }));
            }
            out
        }
        "error" => {
            let message = v
                .pointer("/error/message")
                .and_then(Value::as_str)
                .unwrap_or("upstream error")
                .to_owned();
            return Some(Err(ProviderError::Upstream {
                status: 502,
                message,
            }));
        }
        _ => Vec::new(),
    };
    Some(Ok(events))
}

#[async_trait]
impl Provider for AnthropicProvider {
    async fn stream(&self, request: ChatRequest) -> Result<EventStream, ProviderError> {
        let call = self
            .url
            .post(&self.client)
            .header("x-api-key", self.key.expose())
            .header("anthropic-version", API_VERSION)
            .json(&request_body(&request));
        send_streaming(call, map_event).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_the_messages_stream() {
        let start = map_event(&SseEvent::data(
            r#"{"type":"message_start","message":{"usage":{"input_tokens":7}}}"#,
        ));
        assert_eq!(
            start,
            Some(Ok(vec![ProviderEvent::Usage(Usage {
                input_tokens: 7,
                output_tokens: 0
            })]))
        );
        let delta = map_event(&SseEvent::data(
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hel"}}"#,
        ));
        assert_eq!(delta, Some(Ok(vec![ProviderEvent::Delta("Hel".into())])));
        let end = map_event(&SseEvent::data(
            r#"{"type":"message_delta","delta":{"stop_reason":"max_tokens"},"usage":{"output_tokens":9}}"#,
        ));
        assert_eq!(
            end,
            Some(Ok(vec![
                ProviderEvent::Usage(Usage {
                    input_tokens: 0,
                    output_tokens: 9
                }),
                ProviderEvent::Finish(FinishReason::Length)
            ]))
        );
        assert!(map_event(&SseEvent::data(r#"{"type":"message_stop"}"#)).is_none());
        assert!(matches!(
            map_event(&SseEvent::data(
                r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#
            )),
            Some(Err(ProviderError::Upstream { .. }))
        ));
    }

    #[test]
    fn maps_tool_use_blocks_to_tool_call_pieces() {
        let start = map_event(&SseEvent::data(
            r#"{"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"toolu_1","name":"book","input":{}}}"#,
        ));
        assert_eq!(
            start,
            Some(Ok(vec![ProviderEvent::ToolCallPart {
                index: 1,
                id: Some("toolu_1".into()),
                name: Some("book".into()),
                arguments: String::new()
            }]))
        );
        let piece = map_event(&SseEvent::data(
            r#"{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"day\""}}"#,
        ));
        assert_eq!(
            piece,
            Some(Ok(vec![ProviderEvent::ToolCallPart {
                index: 1,
                id: None,
                name: None,
                arguments: "{\"day\"".into()
            }]))
        );
        let text_start = map_event(&SseEvent::data(
            r#"{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#,
        ));
        assert_eq!(text_start, Some(Ok(vec![])));
    }

    #[test]
    fn only_the_assistants_prompt_is_the_system_prompt() {
        let req = ChatRequest {
            model: "claude".into(),
            system: Some("A".into()),
            messages: vec![
                crate::domain::message::Message::new(Role::System, "B"),
                crate::domain::message::Message::new(Role::Human, "hi"),
            ],
            max_tokens: 5,
            temperature: None,
            stop: vec![],
            tools: vec![],
            whole: false,
        };
        let b = request_body(&req);
        assert_eq!(
            b["system"], "A",
            "a client's system text is never merged into it"
        );
        let client = &b["messages"][0];
        assert_eq!(client["role"], "user");
        assert_eq!(client["content"], format!("{CLIENT_CONTEXT}B"));
        assert_eq!(b["messages"][1]["content"], "hi");
        assert!(b.get("tools").is_none());
        let with_tools = ChatRequest {
            tools: vec![super::super::ToolSpec {
                name: "book".into(),
                description: "Book a demo".into(),
                parameters: json!({"type": "object"}),
            }],
            ..req
        };
        let b = request_body(&with_tools);
        assert_eq!(b["tools"][0]["name"], "book");
        assert_eq!(b["tools"][0]["input_schema"]["type"], "object");
    }
}
