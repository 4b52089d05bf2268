//! OpenAI-compatible chat completions (OpenAI, Ollama, vLLM, llama.cpp, Groq, OpenRouter).
//!
//! The base URL includes `/v1`, as in the OpenAI SDKs. The key is optional because local
//! OpenAI-compatible servers usually run without one.

use async_trait::async_trait;
use serde::Serialize;
use serde_json::{Value, json};

use super::sse::SseEvent;
use super::{
    ChatRequest, EventStream, FinishReason, Provider, ProviderError, ProviderEvent, Usage,
    saturating_u32, send_streaming, send_whole,
};
use crate::domain::message::Role;
use crate::secret::SecretString;

pub const DEFAULT_BASE_URL: &str = "https://api.openai.com/v1";

pub struct OpenAiProvider {
    client: reqwest::Client,
    url: super::Endpoint,
    key: Option<SecretString>,
}

impl OpenAiProvider {
    pub fn new(client: reqwest::Client, base_url: String, key: Option<SecretString>) -> Self {
        let url = super::Endpoint::new(format!(
            "{}/chat/completions",
            base_url.trim_end_matches('/')
        ));
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

#[async_trait]
impl Provider for OpenAiProvider {
    async fn stream(&self, request: ChatRequest) -> Result<EventStream, ProviderError> {
        let mut call = self.url.post(&self.client).json(&Body::of(&request));
        if let Some(key) = &self.key {
            call = call.bearer_auth(key.expose());
        }
        if request.whole {
            send_whole(call, read_whole).await
        } else {
            send_streaming(call, map_event).await
        }
    }
}

/// The request body, borrowed from the request and serialized straight onto the wire:
/// the runs family sends up to 40 messages of history each turn, and a JSON tree of them
/// was built, serialized and dropped every time.
#[derive(Serialize)]
struct Body<'a> {
    model: &'a str,
    messages: Vec<OutMessage<'a>>,
    stream: bool,
    /// Only with `stream`: OpenAI refuses the member on a non-streamed request.
    #[serde(skip_serializing_if = "Option::is_none")]
    stream_options: Option<StreamOptions>,
    max_tokens: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f32>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    stop: &'a [String],
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tools: Vec<Value>,
}

#[derive(Serialize)]
struct OutMessage<'a> {
    role: &'static str,
    content: &'a str,
}

#[derive(Serialize)]
struct StreamOptions {
    include_usage: bool,
}

impl<'a> Body<'a> {
    fn of(req: &'a ChatRequest) -> Self {
        let mut messages = Vec::with_capacity(req.messages.len() + 1);
        if let Some(system) = &req.system {
            messages.push(OutMessage {
                role: "system",
                content: system,
            });
        }
        messages.extend(req.messages.iter().map(|m| OutMessage {
            role: match m.role {
                Role::Human => "user",
                Role::Ai => "assistant",
                Role::System => "system",
            },
            content: &m.content,
        }));
        Self {
            model: &req.model,
            messages,
            stream: !req.whole,
            stream_options: (!req.whole).then_some(StreamOptions {
                include_usage: true,
            }),
            max_tokens: req.max_tokens,
            temperature: req.temperature,
            stop: &req.stop,
            tools: req
                .tools
                .iter()
                .map(|t| {
                    json!({"type": "function", "function": {
                        "name": t.name, "description": t.description, "parameters": t.parameters}})
                })
                .collect(),
        }
    }
}

/// The pieces of tool calls in one chunk's `delta.tool_calls`.
fn tool_call_parts(calls: Option<&Value>, out: &mut Vec<ProviderEvent>) {
    let Some(calls) = calls.and_then(Value::as_array) else {
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

fn finish_reason(reason: &str) -> FinishReason {
    match reason {
        "length" => FinishReason::Length,
        "content_filter" => FinishReason::ContentFilter,
        _ => FinishReason::Stop,
    }
}

fn usage_event(usage: Option<&Value>, out: &mut Vec<ProviderEvent>) {
    if let Some(usage) = usage.filter(|u| u.is_object()) {
        let get = |k: &str| saturating_u32(usage.get(k).and_then(Value::as_u64));
        out.push(ProviderEvent::Usage(Usage {
            input_tokens: get("prompt_tokens"),
            output_tokens: get("completion_tokens"),
        }));
    }
}

/// Maps one upstream SSE event to zero or more provider events; `None` marks `[DONE]`.
///
/// A chunk of the usual shape is read into borrowed fields (one per token: building a
/// JSON tree for each was a visible share of a stream's CPU); anything else (an error, a
/// field of an unexpected type) takes the general path, with the same outcome.
pub fn map_event(ev: &SseEvent) -> Option<Result<Vec<ProviderEvent>, ProviderError>> {
    if ev.data.trim() == "[DONE]" {
        return None;
    }
    Some(usual_chunk(&ev.data).map_or_else(|| any_chunk(&ev.data), Ok))
}

/// The events of a chunk of the usual shape, or `None` for [`any_chunk`] to read it.
fn usual_chunk(data: &str) -> Option<Vec<ProviderEvent>> {
    // Only an object: the derived reader would also take an array for a struct.
    if !data.trim_start().starts_with('{') {
        return None;
    }
    let chunk = serde_json::from_str::<fast::Chunk<'_>>(data).ok()?;
    if chunk.error.0 {
        return None;
    }
    let mut out = Vec::new();
    if let Some(choice) = chunk.choices.as_deref().and_then(<[_]>::first) {
        if let Some(delta) = &choice.delta {
            if let Some(text) = delta.content.as_deref().filter(|t| !t.is_empty()) {
                out.push(ProviderEvent::Delta(text.to_owned()));
            }
            tool_call_parts(delta.tool_calls.as_ref(), &mut out);
        }
        if let Some(reason) = &choice.finish_reason {
            out.push(ProviderEvent::Finish(finish_reason(reason)));
        }
    }
    usage_event(chunk.usage.as_ref(), &mut out);
    Some(out)
}

/// An `error` member sent in a successful response (some servers report failures so).
fn in_band(err: &Value) -> ProviderError {
    let message = err
        .get("message")
        .and_then(Value::as_str)
        .unwrap_or("upstream error")
        .to_owned();
    ProviderError::Upstream {
        status: 502,
        message,
    }
}

/// The events of any chunk, read as a JSON tree.
fn any_chunk(data: &str) -> Result<Vec<ProviderEvent>, ProviderError> {
    let v: Value = serde_json::from_str(data)
        .map_err(|e| ProviderError::Protocol(format!("bad chunk: {e}")))?;
    if let Some(err) = v.get("error") {
        return Err(in_band(err));
    }
    let mut out = Vec::new();
    if let Some(choice) = v.pointer("/choices/0") {
        if let Some(text) = choice.pointer("/delta/content").and_then(Value::as_str)
            && !text.is_empty()
        {
            out.push(ProviderEvent::Delta(text.to_owned()));
        }
        if let Some(delta) = choice.get("delta") {
            tool_call_parts(delta.get("tool_calls"), &mut out);
        }
        if let Some(reason) = choice.get("finish_reason").and_then(Value::as_str) {
            out.push(ProviderEvent::Finish(finish_reason(reason)));
        }
    }
    usage_event(v.get("usage"), &mut out);
    Ok(out)
}

/// The events of a whole (non-streamed) `chat.completion`: its text, its tool calls (each
/// whole, as one piece), its finish reason and usage, in the order a stream would give
/// them. An `error` member in a successful response fails the turn, as in a stream.
pub fn read_whole(body: &[u8]) -> Result<Vec<ProviderEvent>, ProviderError> {
    let reply: whole::Reply<'_> = serde_json::from_slice(body)
        .map_err(|e| ProviderError::Protocol(format!("bad reply: {e}")))?;
    if let Some(err) = reply.error {
        return Err(in_band(&err));
    }
    let mut out = Vec::new();
    if let Some(choice) = reply.choices.into_iter().flatten().next() {
        if let Some(message) = choice.message {
            if let Some(text) = message.content.filter(|t| !t.is_empty()) {
                out.push(ProviderEvent::Delta(text.into_owned()));
            }
            for (index, call) in message.tool_calls.into_iter().flatten().enumerate() {
                let function = call.function.unwrap_or_default();
                out.push(ProviderEvent::ToolCallPart {
                    index: u32::try_from(index).unwrap_or(u32::MAX),
                    id: call.id,
                    name: function.name,
                    arguments: function.arguments.unwrap_or_default(),
                });
            }
        }
        if let Some(reason) = &choice.finish_reason {
            out.push(ProviderEvent::Finish(finish_reason(reason)));
        }
    }
    usage_event(reply.usage.as_ref(), &mut out);
    Ok(out)
}

/// A whole `chat.completion`'s shape, its text borrowed from the body; fields not named
/// are skipped.
mod whole {
    use std::borrow::Cow;

    use serde::Deserialize;
    use serde_json::Value;

    #[derive(Deserialize)]
    pub struct Reply<'a> {
        #[serde(default, borrow)]
        pub choices: Option<Vec<Choice<'a>>>,
        #[serde(default)]
        pub usage: Option<Value>,
        #[serde(default)]
        pub error: Option<Value>,
    }

    #[derive(Deserialize)]
    pub struct Choice<'a> {
        #[serde(default, borrow)]
        pub message: Option<Message<'a>>,
        #[serde(default, borrow)]
        pub finish_reason: Option<Cow<'a, str>>,
    }

    #[derive(Deserialize)]
    pub struct Message<'a> {
        #[serde(default, borrow)]
        pub content: Option<Cow<'a, str>>,
        #[serde(default)]
        pub tool_calls: Option<Vec<Call>>,
    }

    #[derive(Deserialize)]
    pub struct Call {
        #[serde(default)]
        pub id: Option<String>,
        #[serde(default)]
        pub function: Option<Function>,
    }

    #[derive(Deserialize, Default)]
    pub struct Function {
        #[serde(default)]
        pub name: Option<String>,
        #[serde(default)]
        pub arguments: Option<String>,
    }
}

/// The usual chunk's shape, borrowed from the frame; fields not named are skipped.
mod fast {
    use std::borrow::Cow;

    use serde::Deserialize;
    use serde_json::Value;

    #[derive(Deserialize)]
    pub struct Chunk<'a> {
        #[serde(default, borrow)]
        pub choices: Option<Vec<Choice<'a>>>,
        #[serde(default)]
        pub usage: Option<Value>,
        /// Any `error` member, even `null`, sends the chunk down the general path.
        #[serde(default)]
        pub error: Seen,
    }

    #[derive(Deserialize)]
    pub struct Choice<'a> {
        #[serde(default, borrow)]
        pub delta: Option<Delta<'a>>,
        #[serde(default, borrow)]
        pub finish_reason: Option<Cow<'a, str>>,
    }

    #[derive(Deserialize)]
    pub struct Delta<'a> {
        #[serde(default, borrow)]
        pub content: Option<Cow<'a, str>>,
        #[serde(default)]
        pub tool_calls: Option<Value>,
    }

    /// Whether a member was present, whatever its value.
    #[derive(Default)]
    pub struct Seen(pub bool);

    impl<'de> Deserialize<'de> for Seen {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            serde::de::IgnoredAny::deserialize(d).map(|_| Seen(true))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The request body as the upstream reads it.
    fn request_body(req: &ChatRequest) -> Value {
        serde_json::to_value(Body::of(req)).unwrap()
    }

    #[test]
    fn the_usual_chunk_reading_agrees_with_the_general_one() {
        let taken = [
            r#"{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}"#,
            r#"{"choices":[{"index":0,"delta":{"content":"caf\u00e9 \"q\""},"logprobs":null,"finish_reason":null}]}"#,
            r#"{"choices":[{"delta":{},"finish_reason":"length"}],"usage":null}"#,
            r#"{"choices":[],"usage":{"prompt_tokens":9,"completion_tokens":16,"total_tokens":25}}"#,
            r#"{"choices":[{"delta":{"tool_calls":[{"index":1,"id":"t","function":{"name":"f","arguments":"{}"}}]}}]}"#,
            r#"{"choices":null,"usage":"n/a"}"#,
            r#"{"choices":[{"delta":null,"finish_reason":"content_filter"},{"delta":{"content":"second"}}]}"#,
            r#"{}"#,
        ];
        for data in taken {
            let usual = usual_chunk(data).unwrap_or_else(|| panic!("not read: {data}"));
            assert_eq!(Ok(usual), any_chunk(data), "{data}");
        }
        // Errors and odd types go to the general reading.
        let left = [
            r#"{"error":{"message":"quota"}}"#,
            r#"{"error":null,"choices":[]}"#,
            r#"{"choices":[{"delta":{"content":7}}]}"#,
            r#"{"choices":{"0":{}}}"#,
            r#"[[{"delta":{"content":"x"}}]]"#,
            r#"{"choices":[],"choices":[]}"#,
            "not json",
        ];
        for data in left {
            assert_eq!(usual_chunk(data), None, "{data}");
        }
        assert!(matches!(
            any_chunk(left[1]),
            Err(ProviderError::Upstream { .. })
        ));
    }

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
    fn reads_a_whole_reply_as_a_stream_would_give_it() {
        let text = br#"{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"m",
            "choices":[{"index":0,"message":{"role":"assistant","content":"caf\u00e9 \"q\"","refusal":null},
            "logprobs":null,"finish_reason":"length"}],
            "usage":{"prompt_tokens":9,"completion_tokens":16,"total_tokens":25},"system_fingerprint":null}"#;
        assert_eq!(
            read_whole(text),
            Ok(vec![
                ProviderEvent::Delta("café \"q\"".into()),
                ProviderEvent::Finish(FinishReason::Length),
                ProviderEvent::Usage(Usage {
                    input_tokens: 9,
                    output_tokens: 16
                }),
            ])
        );
        let calls = br#"{"choices":[{"index":0,"message":{"role":"assistant","content":null,
            "tool_calls":[{"id":"call_1","type":"function","function":{"name":"book","arguments":"{\"day\":1}"}},
                          {"id":"call_2","type":"function","function":{"name":"ask","arguments":"{}"}}]},
            "finish_reason":"tool_calls"}]}"#;
        assert_eq!(
            read_whole(calls),
            Ok(vec![
                ProviderEvent::ToolCallPart {
                    index: 0,
                    id: Some("call_1".into()),
                    name: Some("book".into()),
                    arguments: "{\"day\":1}".into()
                },
                ProviderEvent::ToolCallPart {
                    index: 1,
                    id: Some("call_2".into()),
                    name: Some("ask".into()),
                    arguments: "{}".into()
                },
                ProviderEvent::Finish(FinishReason::Stop),
            ])
        );
        // No choices, an error in a successful response, and what is not a reply at all.
        assert_eq!(read_whole(br#"{"choices":[],"usage":null}"#), Ok(vec![]));
        assert_eq!(
            read_whole(br#"{"error":{"message":"quota"}}"#),
            Err(ProviderError::Upstream {
                status: 502,
                message: "quota".into()
            })
        );
        for bad in [&br#"{"choices": [{"message": "#[..], b"[1]", b"", b"\xff"] {
            assert!(
                matches!(read_whole(bad), Err(ProviderError::Protocol(_))),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn a_whole_reply_is_asked_for_without_stream_options() {
        let req = ChatRequest {
            model: "m".into(),
            system: None,
            messages: vec![crate::domain::message::Message::new(Role::Human, "hi")],
            max_tokens: 10,
            temperature: None,
            stop: vec![],
            tools: vec![],
            whole: true,
        };
        let b = request_body(&req);
        assert_eq!(b["stream"], false);
        assert!(b.get("stream_options").is_none(), "{b}");
        let b = request_body(&ChatRequest {
            whole: false,
            ..req
        });
        assert_eq!(b["stream"], true);
        assert_eq!(b["stream_options"]["include_usage"], true);
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
            whole: false,
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
