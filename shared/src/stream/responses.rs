//! OpenAI's Responses API wire format: the `response` object and the streamed events of a
//! text reply.
//!
//! A streamed reply is the full sequence OpenAI sends, each event named by its `type` and
//! numbered from 0: `response.created`, `response.in_progress`, `response.output_item.added`,
//! `response.content_part.added`, one `response.output_text.delta` per piece,
//! `response.output_text.done`, `response.content_part.done`, `response.output_item.done`,
//! then `response.completed` (or `response.incomplete` when the token limit cut the reply).
//! There is no `[DONE]`. A failure after the first event is an `error` event followed by
//! `response.failed`. The official SDKs validate these shapes strictly (`logprobs: []` on
//! text events, every `usage` detail), so every field they require is always present.

use bytes::Bytes;
use serde_json::{Map, Value, json};

use super::{Completion, Encoder, sse_event};
use crate::domain::response::ResponseId;
use crate::provider::{FinishReason, Usage};

/// What every event and the stored object of one response repeat: its id, when and for
/// which model it was made, and the request parameters OpenAI echoes back.
#[derive(Debug, Clone)]
pub struct ResponseShape {
    pub id: ResponseId,
    pub created_at: i64,
    pub model: String,
    pub instructions: Option<String>,
    pub max_output_tokens: Option<u32>,
    pub temperature: Option<f64>,
    pub previous_response_id: Option<String>,
    pub metadata: Map<String, Value>,
    pub user: Option<String>,
    pub store: bool,
}

/// The Responses API's `usage` object.
pub fn usage_json(u: &Usage) -> Value {
    json!({
        "input_tokens": u.input_tokens,
        "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
        "output_tokens": u.output_tokens,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": u.input_tokens.saturating_add(u.output_tokens),
    })
}

/// How a finished reply reads: `completed`, or `incomplete` when the token limit cut it.
fn ended(finish: FinishReason) -> (&'static str, Option<&'static str>) {
    match finish {
        FinishReason::Length => ("incomplete", Some("max_output_tokens")),
        _ => ("completed", None),
    }
}

impl ResponseShape {
    /// The `response` object with `status`, `output` and, once known, `usage`.
    fn object(&self, status: &str, output: Value, usage: Option<&Usage>) -> Value {
        json!({
            "id": self.id.as_str(),
            "object": "response",
            "created_at": self.created_at,
            "status": status,
            "background": false,
            "error": null,
            "incomplete_details": null,
            "instructions": self.instructions,
            "max_output_tokens": self.max_output_tokens,
            "model": self.model,
            "output": output,
            "parallel_tool_calls": true,
            "previous_response_id": self.previous_response_id,
            "reasoning": {"effort": null, "summary": null},
            "store": self.store,
            "temperature": self.temperature,
            "text": {"format": {"type": "text"}},
            "tool_choice": "auto",
            "tools": [],
            "top_p": null,
            "truncation": "disabled",
            "usage": usage.map(usage_json),
            "user": self.user,
            "metadata": self.metadata,
        })
    }

    fn text_part(text: &str) -> Value {
        json!({"type": "output_text", "text": text, "annotations": [], "logprobs": []})
    }

    /// The reply's message item.
    fn message(&self, status: &str, content: Value) -> Value {
        json!({
            "id": self.id.message_id(),
            "type": "message",
            "status": status,
            "role": "assistant",
            "content": content,
        })
    }

    /// The whole response of a finished reply: what a non-streamed request returns, the
    /// last event carries and `GET /responses/{id}` reads back.
    pub fn finished(&self, c: &Completion) -> Value {
        let (status, reason) = ended(c.finish);
        let item = self.message(status, json!([Self::text_part(&c.text)]));
        let mut object = self.object(status, json!([item]), Some(&c.usage));
        if let Some(reason) = reason {
            object["incomplete_details"] = json!({"reason": reason});
        }
        object
    }
}

/// Streams the events of one text reply.
#[derive(Debug, Clone)]
pub struct ResponseEncoder {
    shape: ResponseShape,
    sequence: u64,
}

impl ResponseEncoder {
    pub fn new(shape: ResponseShape) -> Self {
        Self { shape, sequence: 0 }
    }

    /// One event: `event:` equal to the payload's `type`, and the next sequence number.
    fn event(&mut self, kind: &str, mut payload: Value) -> Bytes {
        payload["type"] = json!(kind);
        payload["sequence_number"] = json!(self.sequence);
        self.sequence += 1;
        sse_event(kind, &payload)
    }

    /// The fields that place an event on the reply's one text part.
    fn on_text(&self, mut payload: Value) -> Value {
        payload["item_id"] = json!(self.shape.id.message_id());
        payload["output_index"] = json!(0);
        payload["content_index"] = json!(0);
        payload
    }
}

impl Encoder for ResponseEncoder {
    fn start(&mut self) -> Vec<Bytes> {
        let pending = self.shape.object("in_progress", json!([]), None);
        let item = self.shape.message("in_progress", json!([]));
        let part = self.on_text(json!({"part": ResponseShape::text_part("")}));
        vec![
            self.event("response.created", json!({"response": pending})),
            self.event("response.in_progress", json!({"response": pending})),
            self.event(
                "response.output_item.added",
                json!({"output_index": 0, "item": item}),
            ),
            self.event("response.content_part.added", part),
        ]
    }

    fn delta(&mut self, delta: &str, _accumulated: &str) -> Vec<Bytes> {
        let payload = self.on_text(json!({"delta": delta, "logprobs": []}));
        vec![self.event("response.output_text.delta", payload)]
    }

    fn finish(&mut self, c: &Completion) -> Vec<Bytes> {
        let text_done = self.on_text(json!({"text": c.text, "logprobs": []}));
        let part_done = self.on_text(json!({"part": ResponseShape::text_part(&c.text)}));
        let whole = self.shape.finished(c);
        let item = whole["output"][0].clone();
        let last = if whole["status"] == "completed" {
            "response.completed"
        } else {
            "response.incomplete"
        };
        vec![
            self.event("response.output_text.done", text_done),
            self.event("response.content_part.done", part_done),
            self.event(
                "response.output_item.done",
                json!({"output_index": 0, "item": item}),
            ),
            self.event(last, json!({"response": whole})),
        ]
    }

    fn error(&mut self, message: &str) -> Vec<Bytes> {
        let code = "upstream_error";
        let error = json!({
            "code": code,
            "message": message,
            "param": null,
            "error": {"type": "api_error", "code": code, "message": message, "param": null},
        });
        let mut failed = self.shape.object("failed", json!([]), None);
        failed["error"] = json!({"code": "server_error", "message": message});
        vec![
            self.event("error", error),
            self.event("response.failed", json!({"response": failed})),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape() -> ResponseShape {
        ResponseShape {
            id: ResponseId::mint(),
            created_at: 7,
            model: "bot".into(),
            instructions: Some("Be brief.".into()),
            max_output_tokens: Some(50),
            temperature: None,
            previous_response_id: None,
            metadata: Map::new(),
            user: None,
            store: true,
        }
    }

    /// (event name, payload) of each frame.
    fn parse(frames: &[Bytes]) -> Vec<(String, Value)> {
        frames
            .iter()
            .map(|f| {
                let s = std::str::from_utf8(f).unwrap();
                let (event, data) = s.trim_end().split_once('\n').unwrap();
                let data: Value =
                    serde_json::from_str(data.strip_prefix("data: ").unwrap()).unwrap();
                (event.strip_prefix("event: ").unwrap().to_owned(), data)
            })
            .collect()
    }

    fn completion(finish: FinishReason) -> Completion {
        Completion {
            text: "Hi there".into(),
            finish,
            usage: Usage {
                input_tokens: 3,
                output_tokens: 2,
            },
            tool_calls: vec![],
        }
    }

    #[test]
    fn a_reply_is_the_documented_sequence_with_one_id() {
        let s = shape();
        let mut e = ResponseEncoder::new(s.clone());
        let mut frames = e.start();
        frames.extend(e.delta("Hi", "Hi"));
        frames.extend(e.delta(" there", "Hi there"));
        frames.extend(e.finish(&completion(FinishReason::Stop)));
        let events = parse(&frames);
        let names: Vec<&str> = events.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "response.created",
                "response.in_progress",
                "response.output_item.added",
                "response.content_part.added",
                "response.output_text.delta",
                "response.output_text.delta",
                "response.output_text.done",
                "response.content_part.done",
                "response.output_item.done",
                "response.completed",
            ]
        );
        for (i, (name, data)) in events.iter().enumerate() {
            assert_eq!(&data["type"], name);
            assert_eq!(data["sequence_number"], i);
            if let Some(r) = data.get("response") {
                assert_eq!(r["id"], s.id.as_str());
            }
            if let Some(item) = data.get("item_id") {
                assert_eq!(item, &json!(s.id.message_id()));
            }
        }
        let done = &events[9].1["response"];
        assert_eq!(done["status"], "completed");
        assert_eq!(done["output"][0]["content"][0]["text"], "Hi there");
        assert_eq!(done["usage"]["total_tokens"], 5);
        assert_eq!(done["instructions"], "Be brief.");
        assert_eq!(events[6].1["text"], "Hi there");
        assert_eq!(events[4].1["logprobs"], json!([]));
        assert_eq!(done, &s.finished(&completion(FinishReason::Stop)));
    }

    #[test]
    fn a_cut_reply_is_incomplete_and_a_failure_ends_with_response_failed() {
        let mut e = ResponseEncoder::new(shape());
        e.start();
        let end = parse(&e.finish(&completion(FinishReason::Length)));
        assert_eq!(end[3].0, "response.incomplete");
        assert_eq!(
            end[3].1["response"]["incomplete_details"]["reason"],
            "max_output_tokens"
        );
        let mut e = ResponseEncoder::new(shape());
        e.start();
        let failed = parse(&e.error("upstream broke"));
        assert_eq!(failed[0].0, "error");
        assert_eq!(failed[0].1["sequence_number"], 4);
        assert_eq!(failed[0].1["error"]["message"], "upstream broke");
        assert_eq!(failed[1].0, "response.failed");
        assert_eq!(failed[1].1["response"]["status"], "failed");
    }
}
