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
    body
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
    fn body_carries_system_and_roles() {
        let req = ChatRequest {
            model: "m".into(),
            system: Some("be brief".into()),
            messages: vec![crate::domain::message::Message::new(Role::Human, "hi")],
            max_tokens: 10,
            temperature: Some(0.5),
            stop: vec!["\n".into()],
        };
        let b = request_body(&req);
        assert_eq!(b["messages"][0]["role"], "system");
        assert_eq!(b["messages"][1]["role"], "user");
        assert_eq!(b["stream"], true);
        assert_eq!(b["stop"][0], "\n");
    }
}
