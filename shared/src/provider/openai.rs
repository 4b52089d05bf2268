//! OpenAI-compatible chat completions (OpenAI, Ollama, vLLM, llama.cpp, Groq, OpenRouter).
//!
//! The base URL includes `/v1`, as in the OpenAI SDKs. The key is optional because local
//! OpenAI-compatible servers usually run without one.

use async_trait::async_trait;
use serde_json::{Value, json};

use super::sse::SseEvent;
use super::{
    ChatRequest, EventStream, FinishReason, Provider, ProviderError, ProviderEvent, Usage,
    saturating_u32, send_streaming,
};
use crate::domain::message::Role;
use crate::secret::SecretString;

pub const DEFAULT_BASE_URL: &str = "https://api.openai.com/v1";

pub struct OpenAiProvider {
    client: reqwest::Client,
    url: String,
    key: Option<SecretString>,
}

impl OpenAiProvider {
    pub fn new(client: reqwest::Client, base_url: String, key: Option<SecretString>) -> Self {
        let url = format!("{}/chat/completions", base_url.trim_end_matches('/'));
        Self { client, url, key }
    }
}

#[async_trait]
impl Provider for OpenAiProvider {
    async fn stream(&self, request: ChatRequest) -> Result<EventStream, ProviderError> {
        let mut call = self.client.post(&self.url).json(&request_body(&request));
        if let Some(key) = &self.key {
            call = call.bearer_auth(key.expose());
        }
        send_streaming(call, map_event).await
    }
}

/// The request body in OpenAI's chat-completions shape.
pub fn request_body(req: &ChatRequest) -> Value {
    let mut messages = Vec::with_capacity(req.messages.len() + 1);
    if let Some(system) = &req.system {
        messages.push(json!({"role": "system", "content": system}));
    }
    messages.extend(req.messages.iter().map(|m| {
        let role = match m.role {
            Role::Human => "user",
            Role::Ai => "assistant",
            Role::System => "system",
        };
        json!({"role": role, "content": m.content})
    }));
    let mut body = json!({
        "model": req.model,
        "messages": messages,
        "stream": true,
        "stream_options": {"include_usage": true},
        "max_tokens": req.max_tokens,
    });
    req.sampling_into(&mut body, "stop");
    if !req.tools.is_empty() {
        let tools: Vec<Value> = req
            .tools
            .iter()
            .map(|t| {
                json!({"type": "function", "function": {
                    "name": t.name, "description": t.description, "parameters": t.parameters}})
            })
            .collect();
        body["tools"] = Value::Array(tools);
    }
    body
}

/// The pieces of tool calls in one chunk's `delta.tool_calls`.
fn tool_call_parts(delta: &Value, out: &mut Vec<ProviderEvent>) {
    let Some(calls) = delta.get("tool_calls").and_then(Value::as_array) else {
        return;
    };
    for call in calls {
        let text = |p: &str| call.pointer(p).and_then(Value::as_str).map(str::to_owned);
        out.push(ProviderEvent::ToolCallPart {
            index: call
                .get("index")
                .and_then(Value::as_u64)
                .and_then(|i| u32::try_from(i).ok())
                .unwrap_or(0),
            id: text("/id"),
            name: text("/function/name"),
            arguments: text("/function/arguments").unwrap_or_default(),
        });
    }
}

/// Maps one upstream SSE event to zero or more provider events; `None` marks `[DONE]`.
pub fn map_event(ev: &SseEvent) -> Option<Result<Vec<ProviderEvent>, ProviderError>> {
    if ev.data.trim() == "[DONE]" {
        return None;
    }
    let v: Value = match serde_json::from_str(&ev.data) {
        Ok(v) => v,
        Err(e) => return Some(Err(ProviderError::Protocol(format!("bad chunk: {e}")))),
    };
    if let Some(err) = v.get("error") {
        let message = err
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or("upstream error")
            .to_owned();
        return Some(Err(ProviderError::Upstream {
            status: 502,
            message,
        }));
    }
    let mut out = Vec::new();
    if let Some(choice) = v.pointer("/choices/0") {
        if let Some(text) = choice.pointer("/delta/content").and_then(Value::as_str)
            && !text.is_empty()
        {
            out.push(ProviderEvent::Delta(text.to_owned()));
        }
        if let Some(delta) = choice.get("delta") {
            tool_call_parts(delta, &mut out);
        }
        if let Some(reason) = choice.get("finish_reason").and_then(Value::as_str) {
            out.push(ProviderEvent::Finish(match reason {
                "length" => FinishReason::Length,
                "content_filter" => FinishReason::ContentFilter,
                _ => FinishReason::Stop,
            }));
        }
    }
    if let Some(usage) = v.get("usage").filter(|u| u.is_object()) {
        let get = |k: &str| saturating_u32(usage.get(k).and_then(Value::as_u64));
        out.push(ProviderEvent::Usage(Usage {
            input_tokens: get("prompt_tokens"),
            output_tokens: get("completion_tokens"),
        }));
    }
    Some(Ok(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_deltas_finish_usage_and_errors() {
        let d = map_event(&SseEvent::data(
            r#"{"choices":[{"index":0,"delta":{"content":"Hi"},"finish_reason":null}]}"#,
        ));
        assert_eq!(d, Some(Ok(vec![ProviderEvent::Delta("Hi".into())])));
        let f = map_event(&SseEvent::data(
            r#"{"choices":[{"index":0,"delta":{},"finish_reason":"length"}]}"#,
        ));
        assert_eq!(
            f,
            Some(Ok(vec![ProviderEvent::Finish(FinishReason::Length)]))
        );
        let u = map_event(&SseEvent::data(
            r#"{"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":5}}"#,
        ));
        assert_eq!(
            u,
            Some(Ok(vec![ProviderEvent::Usage(Usage {
                input_tokens: 3,
                output_tokens: 5
            })]))
        );
        assert!(matches!(
            map_event(&SseEvent::data(r#"{"error":{"message":"boom"}}"#)),
            Some(Err(ProviderError::Upstream { .. }))
        ));
        assert!(map_event(&SseEvent::data("[DONE]")).is_none());
    }

    #[test]
    fn maps_streamed_tool_call_pieces() {
        let first = map_event(&SseEvent::data(
            r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"book","arguments":""}}]},"finish_reason":null}]}"#,
        ));
        let more = map_event(&SseEvent::data(
            r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"day\":"}}]},"finish_reason":null}]}"#,
        ));
        assert_eq!(
            first,
            Some(Ok(vec![ProviderEvent::ToolCallPart {
                index: 0,
                id: Some("call_1".into()),
                name: Some("book".into()),
                arguments: String::new()
            }]))
        );
        assert_eq!(
            more,
            Some(Ok(vec![ProviderEvent::ToolCallPart {
                index: 0,
                id: None,
                name: None,
                arguments: "{\"day\":".into()
            }]))
        );
    }

    #[test]
    fn body_carries_system_and_roles() {
        let req = ChatRequest {
            model: "m".into(),
            system: Some("be brief".into()),
            messages: vec![crate::domain::message::Message::new(Role::Human, "hi")],
            max_tokens: 10,
            temperature: Some(0.5),
            stop: vec!["\n".into()],
            tools: vec![],
        };
        let b = request_body(&req);
        assert_eq!(b["messages"][0]["role"], "system");
        assert_eq!(b["messages"][1]["role"], "user");
        assert_eq!(b["stream"], true);
        assert_eq!(b["stop"][0], "\n");
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
        assert_eq!(b["tools"][0]["type"], "function");
        assert_eq!(b["tools"][0]["function"]["name"], "book");
        assert_eq!(b["tools"][0]["function"]["parameters"]["type"], "object");
    }
}
