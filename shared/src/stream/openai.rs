//! OpenAI's chat-completions wire format: `chat.completion` objects and streamed
//! `chat.completion.chunk`s ending with `data: [DONE]`.
//!
//! Only the fields OpenAI documents are sent, so strict clients (the official SDKs in
//! strict mode, the Vercel AI SDK's schemas) accept every frame. A failure mid-stream is
//! a chunk holding `{"error": ...}`, which the SDKs raise as an API error.

use bytes::Bytes;
use serde::Serialize;
use serde_json::{Value, json};

use super::{Completion, Encoder, TokenFrame, sse_data, sse_data_json};
use crate::provider::Usage;

/// What every chunk and completion of one response shares.
#[derive(Debug, Clone)]
pub struct ResponseMeta {
    pub id: String,
    pub created: i64,
    pub model: String,
}

impl ResponseMeta {
    pub fn new(model: &str, created: i64) -> Self {
        Self {
            id: format!("chatcmpl-{}", uuid::Uuid::new_v4().simple()),
            created,
            model: model.to_owned(),
        }
    }
}

pub fn usage_json(u: &Usage) -> Value {
    json!({
        "prompt_tokens": u.input_tokens,
        "completion_tokens": u.output_tokens,
        "total_tokens": u.input_tokens.saturating_add(u.output_tokens),
    })
}

/// A whole (non-streamed) `chat.completion`, written from the reply's own fields. Members
/// in alphabetical order, as the JSON tree it replaces wrote them.
#[derive(Serialize)]
pub struct WholeCompletion<'a> {
    choices: [WholeChoice<'a>; 1],
    created: i64,
    id: &'a str,
    model: &'a str,
    object: &'static str,
    system_fingerprint: Option<()>,
    usage: UsageCounts,
}

#[derive(Serialize)]
struct WholeChoice<'a> {
    finish_reason: &'static str,
    index: u32,
    logprobs: Option<()>,
    message: WholeMessage<'a>,
}

#[derive(Serialize)]
struct WholeMessage<'a> {
    content: &'a str,
    refusal: Option<()>,
    role: &'static str,
}

/// Token counts in OpenAI's names.
#[derive(Serialize)]
struct UsageCounts {
    completion_tokens: u32,
    prompt_tokens: u32,
    total_tokens: u32,
}

impl<'a> WholeCompletion<'a> {
    pub fn of(meta: &'a ResponseMeta, c: &'a Completion) -> Self {
        Self {
            choices: [WholeChoice {
                finish_reason: c.finish.as_openai(),
                index: 0,
                logprobs: None,
                message: WholeMessage {
                    content: &c.text,
                    refusal: None,
                    role: "assistant",
                },
            }],
            created: meta.created,
            id: &meta.id,
            model: &meta.model,
            object: "chat.completion",
            system_fingerprint: None,
            usage: UsageCounts {
                completion_tokens: c.usage.output_tokens,
                prompt_tokens: c.usage.input_tokens,
                total_tokens: c.usage.input_tokens.saturating_add(c.usage.output_tokens),
            },
        }
    }
}

/// The OpenAI error object.
pub fn error_json(message: &str, kind: &str, param: Option<&str>, code: Option<&str>) -> Value {
    json!({"error": {"message": message, "type": kind, "param": param, "code": code}})
}

/// Streams `chat.completion.chunk`s.
#[derive(Debug, Clone)]
pub struct ChunkEncoder {
    meta: ResponseMeta,
    include_usage: bool,
    /// A content chunk around its text, the same for every token of the response.
    content_frame: Option<TokenFrame>,
}

impl ChunkEncoder {
    pub fn new(meta: ResponseMeta, include_usage: bool) -> Self {
        let mut encoder = Self {
            meta,
            include_usage,
            content_frame: None,
        };
        encoder.content_frame = encoder.split_content_frame();
        encoder
    }

    /// A content chunk cut where its text goes: `choices` is the chunk's first member and
    /// `content` its delta's first, so no other member name comes before it.
    fn split_content_frame(&self) -> Option<TokenFrame> {
        let frame = self.chunk(&Self::choice(Self::content(""), None), None);
        TokenFrame::cut(&frame, "\"content\"")
    }

    fn content(text: &str) -> Delta<'_> {
        Delta {
            role: None,
            content: Some(text),
        }
    }

    /// One `data:` frame, serialized straight from borrowed fields: there is one per
    /// token, and a JSON tree built and dropped for each was a visible share of a stream's
    /// CPU.
    fn chunk(&self, choices: &[Choice<'_>], usage: Option<Value>) -> Bytes {
        let chunk = Chunk {
            id: &self.meta.id,
            object: "chat.completion.chunk",
            created: self.meta.created,
            model: &self.meta.model,
            system_fingerprint: None,
            choices,
            usage,
        };
        sse_data_json(&chunk)
    }

    fn choice<'a>(delta: Delta<'a>, finish: Option<&'a str>) -> [Choice<'a>; 1] {
        [Choice {
            index: 0,
            delta,
            logprobs: None,
            finish_reason: finish,
        }]
    }
}

/// A `chat.completion.chunk` as sent. Members in alphabetical order, as a JSON tree
/// writes them, so the bytes are the same as before this was typed.
#[derive(Serialize)]
struct Chunk<'a> {
    choices: &'a [Choice<'a>],
    created: i64,
    id: &'a str,
    model: &'a str,
    object: &'static str,
    system_fingerprint: Option<()>,
    #[serde(skip_serializing_if = "Option::is_none")]
    usage: Option<Value>,
}

#[derive(Serialize)]
struct Choice<'a> {
    delta: Delta<'a>,
    finish_reason: Option<&'a str>,
    index: u32,
    logprobs: Option<()>,
}

/// A chunk's `delta`: the role once, then content; empty at the end.
#[derive(Serialize, Default)]
struct Delta<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    content: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    role: Option<&'static str>,
}

impl Encoder for ChunkEncoder {
    fn start(&mut self) -> Vec<Bytes> {
        let opening = Delta {
            role: Some("assistant"),
            content: Some(""),
        };
        vec![self.chunk(&Self::choice(opening, None), None)]
    }

    fn delta(&mut self, delta: &str, _accumulated: &str) -> Vec<Bytes> {
        if let Some(frame) = &self.content_frame {
            return vec![frame.with(delta)];
        }
        vec![self.chunk(&Self::choice(Self::content(delta), None), None)]
    }

    fn finish(&mut self, completion: &Completion) -> Vec<Bytes> {
        let last = Self::choice(Delta::default(), Some(completion.finish.as_openai()));
        let mut out = vec![self.chunk(&last, None)];
        if self.include_usage {
            out.push(self.chunk(&[], Some(usage_json(&completion.usage))));
        }
        out.push(sse_data("[DONE]"));
        out
    }

    fn error(&mut self, message: &str) -> Vec<Bytes> {
        vec![
            sse_data(&error_json(message, "api_error", None, Some("upstream_error")).to_string()),
            sse_data("[DONE]"),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::FinishReason;

    fn parse(frame: &Bytes) -> Value {
        let s = std::str::from_utf8(frame).unwrap();
        serde_json::from_str(s.strip_prefix("data: ").unwrap().trim_end()).unwrap()
    }

    #[test]
    fn a_token_frame_is_the_chunk_serialized_whole() {
        let meta = ResponseMeta {
            id: "chatcmpl-\"content\":\"\"".into(),
            created: 7,
            model: "m\u{e9}\n".into(),
        };
        let mut e = ChunkEncoder::new(meta, false);
        assert!(e.content_frame.is_some());
        for text in crate::stream::AWKWARD_TEXTS.into_iter().chain([""]) {
            let whole = e.chunk(
                &ChunkEncoder::choice(ChunkEncoder::content(text), None),
                None,
            );
            assert_eq!(e.delta(text, text), vec![whole], "{text:?}");
        }
    }

    #[test]
    fn chunks_follow_the_documented_sequence() {
        let meta = ResponseMeta::new("bot", 7);
        let mut e = ChunkEncoder::new(meta.clone(), true);
        let first = parse(&e.start()[0]);
        assert_eq!(first["object"], "chat.completion.chunk");
        assert_eq!(first["choices"][0]["delta"]["role"], "assistant");
        assert_eq!(
            parse(&e.delta("Hi", "Hi")[0])["choices"][0]["delta"]["content"],
            "Hi"
        );
        let c = Completion {
            text: "Hi".into(),
            finish: FinishReason::Stop,
            usage: Usage {
                input_tokens: 2,
                output_tokens: 1,
            },
            tool_calls: vec![],
        };
        let end = e.finish(&c);
        assert_eq!(parse(&end[0])["choices"][0]["finish_reason"], "stop");
        assert_eq!(parse(&end[1])["usage"]["total_tokens"], 3);
        assert_eq!(parse(&end[1])["choices"], json!([]));
        assert_eq!(end[2], "data: [DONE]\n\n");
        let whole = serde_json::to_value(WholeCompletion::of(&meta, &c)).unwrap();
        assert_eq!(whole["id"], first["id"]);
        assert_eq!(whole["choices"][0]["message"]["content"], "Hi");
        let expected = json!({
            "id": meta.id, "object": "chat.completion", "created": 7, "model": "bot",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hi", "refusal": null},
                         "logprobs": null, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 2, "completion_tokens": 1, "total_tokens": 3},
            "system_fingerprint": null,
        });
        assert_eq!(
            serde_json::to_string(&WholeCompletion::of(&meta, &c)).unwrap(),
            expected.to_string(),
            "the same bytes as the tree it replaces"
        );
    }
}
