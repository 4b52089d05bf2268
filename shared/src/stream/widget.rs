//! The two dialects of the website widget endpoint.
//!
//! [`UiMessageEncoder`] speaks the Vercel AI SDK UI message stream (protocol v1, selected
//! by `x-widget-version: 2`): `text-start`, one `text-delta` per piece, `text-end`, then
//! the custom `data-done` part carrying the ids the widget needs for its next turn, and
//! `data: [DONE]`. The SDK validates every chunk, so each holds exactly the documented
//! fields; a failure is an `error` chunk with `errorText`.
//!
//! [`LegacyWidgetEncoder`] is the older dialect: `event: token` with each delta as a JSON
//! string, then `event: done`; text boundaries are not sent, and a failure becomes a polite
//! refusal token, since old widgets have no error state.
//!
//! Both carry a turn's [`Extras`] after the text: one action proposal per valid tool call
//! (`data-action-proposal` / `event: action_proposal`), the passages the reply used
//! (`data-citations` / `event: citations`) and the retrieval confidence in the final event.

use std::sync::Arc;

use bytes::Bytes;
use serde_json::{Value, json};

use super::{Completion, Encoder, TokenFrame, sse_data, sse_data_json, sse_event};
use crate::domain::tool::ToolCall;
use crate::knowledge::Retrieved;

/// Turns a reply's tool calls into `{id, data}` proposal payloads (the widget's actions,
/// checked against their schemas). A function handed in by the widget family, so that the
/// schema checker is linked only where proposals exist, not into every function that
/// streams a UI message.
pub type Propose = Arc<dyn Fn(&[ToolCall]) -> Vec<Value> + Send + Sync>;

/// What a widget turn adds to its text: the proposals its tool calls make and what its
/// knowledge base retrieved.
#[derive(Clone, Default)]
pub struct Extras {
    pub propose: Option<Propose>,
    pub retrieved: Option<Retrieved>,
}

impl std::fmt::Debug for Extras {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Extras")
            .field("propose", &self.propose.is_some())
            .field("retrieved", &self.retrieved)
            .finish()
    }
}

impl Extras {
    /// `(proposals, citations, confidence)` for a finished turn: the proposals the turn's
    /// recorder stored, the passages the reply used, and the retrieval confidence (`null`
    /// without a knowledge base).
    fn of(&self, completion: &Completion) -> (Vec<Value>, Vec<Value>, Value) {
        let proposals = self
            .propose
            .as_ref()
            .map(|propose| propose(&completion.tool_calls))
            .unwrap_or_default();
        let citations = self
            .retrieved
            .as_ref()
            .map(|r| r.citations(&completion.text))
            .unwrap_or_default();
        let confidence = self
            .retrieved
            .as_ref()
            .map_or(Value::Null, |r| json!(r.confidence));
        (proposals, citations, confidence)
    }
}

/// What the widget keeps from a finished turn.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TurnIds {
    pub message_id: String,
    pub conversation_id: String,
}

impl TurnIds {
    /// The ids of a run (its id is the message id) in a conversation.
    pub fn new(run_id: &str, conversation_id: &str) -> Self {
        Self {
            message_id: run_id.to_owned(),
            conversation_id: conversation_id.to_owned(),
        }
    }

    fn done(&self, confidence: Value) -> Value {
        json!({"messageId": self.message_id, "confidence": confidence, "conversationId": self.conversation_id})
    }
}

/// The refusal old widgets show when a turn fails mid-stream.
pub const LEGACY_REFUSAL: &str = "Sorry, I can't answer right now. Please try again.";

/// A `text-delta` part, one per token (members in the order a JSON tree writes them).
#[derive(serde::Serialize)]
struct TextDelta<'a> {
    delta: &'a str,
    id: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
}

#[derive(Debug, Clone)]
pub struct UiMessageEncoder {
    ids: TurnIds,
    text_open: bool,
    status: Option<StatusLabels>,
    extras: Extras,
    /// The id of the reply's text part, named by every text frame.
    text_id: String,
    /// A `text-delta` part around its text, the same for every token of the turn.
    text_frame: Option<TokenFrame>,
}

/// Transient `data-status` parts that label what the assistant is doing: shown by the
/// public chat page while it waits, never kept in the message.
#[derive(Debug, Clone, Copy)]
pub struct StatusLabels {
    /// The turn continued a conversation whose history was read.
    pub read_history: bool,
    writing: bool,
}

impl StatusLabels {
    pub fn new(read_history: bool) -> Self {
        Self {
            read_history,
            writing: false,
        }
    }
}

fn status(label: &str) -> Bytes {
    sse_data_json(
        &json!({"type": "data-status", "id": "status", "data": {"label": label}, "transient": true}),
    )
}

impl UiMessageEncoder {
    pub fn new(ids: TurnIds) -> Self {
        let text_id = format!("text-{}", ids.message_id);
        let empty = sse_data_json(&TextDelta {
            delta: "",
            id: &text_id,
            kind: "text-delta",
        });
        Self {
            ids,
            text_open: false,
            status: None,
            extras: Extras::default(),
            text_id,
            // `delta` is the part's first member.
            text_frame: TokenFrame::cut(&empty, "\"delta\""),
        }
    }

    /// The same stream with the turn's proposals, citations and confidence.
    #[must_use]
    pub fn with_extras(self, extras: Extras) -> Self {
        Self { extras, ..self }
    }

    /// The same stream with `data-status` labels: "Reading your history" (when it was),
    /// "Thinking" until the first text, then "Writing".
    #[must_use]
    pub fn with_status(self, labels: StatusLabels) -> Self {
        Self {
            status: Some(labels),
            ..self
        }
    }
}

impl Encoder for UiMessageEncoder {
    fn start(&mut self) -> Vec<Bytes> {
        self.text_open = true;
        let mut frames = Vec::with_capacity(3);
        if let Some(labels) = self.status {
            if labels.read_history {
                frames.push(status("Reading your history"));
            }
            frames.push(status("Thinking"));
        }
        frames.push(sse_data_json(
            &json!({"type": "text-start", "id": self.text_id}),
        ));
        frames
    }

    fn delta(&mut self, delta: &str, _accumulated: &str) -> Vec<Bytes> {
        if delta.is_empty() {
            return Vec::new();
        }
        let mut frames = Vec::with_capacity(2);
        if let Some(labels) = self.status.as_mut().filter(|l| !l.writing) {
            labels.writing = true;
            frames.push(status("Writing"));
        }
        frames.push(match &self.text_frame {
            Some(frame) => frame.with(delta),
            None => sse_data_json(&TextDelta {
                delta,
                id: &self.text_id,
                kind: "text-delta",
            }),
        });
        frames
    }

    fn finish(&mut self, completion: &Completion) -> Vec<Bytes> {
        self.text_open = false;
        let (proposals, citations, confidence) = self.extras.of(completion);
        let mut frames = vec![sse_data_json(
            &json!({"type": "text-end", "id": self.text_id}),
        )];
        for mut p in proposals {
            p["type"] = json!("data-action-proposal");
            frames.push(sse_data_json(&p));
        }
        if !citations.is_empty() {
            frames.push(sse_data_json(
                &json!({"type": "data-citations", "data": citations}),
            ));
        }
        frames.push(sse_data_json(
            &json!({"type": "data-done", "data": self.ids.done(confidence)}),
        ));
        frames.push(sse_data("[DONE]"));
        frames
    }

    fn error(&mut self, message: &str) -> Vec<Bytes> {
        let mut frames = Vec::with_capacity(3);
        if std::mem::take(&mut self.text_open) {
            frames.push(sse_data_json(
                &json!({"type": "text-end", "id": self.text_id}),
            ));
        }
        frames.push(sse_data_json(
            &json!({"type": "error", "errorText": message}),
        ));
        frames.push(sse_data("[DONE]"));
        frames
    }
}

#[derive(Debug, Clone)]
pub struct LegacyWidgetEncoder {
    ids: TurnIds,
    extras: Extras,
}

impl LegacyWidgetEncoder {
    pub fn new(ids: TurnIds) -> Self {
        Self {
            ids,
            extras: Extras::default(),
        }
    }

    /// The same stream with the turn's proposals, citations and confidence.
    #[must_use]
    pub fn with_extras(self, extras: Extras) -> Self {
        Self { extras, ..self }
    }
}

impl Encoder for LegacyWidgetEncoder {
    fn start(&mut self) -> Vec<Bytes> {
        Vec::new()
    }

    fn delta(&mut self, delta: &str, _accumulated: &str) -> Vec<Bytes> {
        if delta.is_empty() {
            return Vec::new();
        }
        vec![sse_event("token", &delta)]
    }

    fn finish(&mut self, completion: &Completion) -> Vec<Bytes> {
        let (proposals, citations, confidence) = self.extras.of(completion);
        let mut frames: Vec<Bytes> = proposals
            .iter()
            .map(|p| sse_event("action_proposal", &p["data"]))
            .collect();
        if !citations.is_empty() {
            frames.push(sse_event("citations", &Value::Array(citations)));
        }
        frames.push(sse_event("done", &self.ids.done(confidence)));
        frames
    }

    fn error(&mut self, _message: &str) -> Vec<Bytes> {
        vec![sse_event("token", &json!(LEGACY_REFUSAL))]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::{FinishReason, Usage};

    fn ids() -> TurnIds {
        TurnIds {
            message_id: "m1".into(),
            conversation_id: "c1".into(),
        }
    }

    fn done() -> Completion {
        Completion {
            text: "Hi there".into(),
            finish: FinishReason::Stop,
            usage: Usage::default(),
            tool_calls: vec![],
        }
    }

    fn text(frames: Vec<Bytes>) -> String {
        frames
            .iter()
            .map(|f| String::from_utf8_lossy(f).into_owned())
            .collect()
    }

    #[test]
    fn ui_message_stream_frames_are_the_documented_chunks() {
        let mut e = UiMessageEncoder::new(ids());
        let mut out = text(e.start());
        out += &text(e.delta("Hi", "Hi"));
        out += &text(e.delta("", "Hi"));
        out += &text(e.delta(" there", "Hi there"));
        out += &text(e.finish(&done()));
        assert_eq!(
            out,
            "data: {\"id\":\"text-m1\",\"type\":\"text-start\"}\n\n\
             data: {\"delta\":\"Hi\",\"id\":\"text-m1\",\"type\":\"text-delta\"}\n\n\
             data: {\"delta\":\" there\",\"id\":\"text-m1\",\"type\":\"text-delta\"}\n\n\
             data: {\"id\":\"text-m1\",\"type\":\"text-end\"}\n\n\
             data: {\"data\":{\"confidence\":null,\"conversationId\":\"c1\",\"messageId\":\"m1\"},\"type\":\"data-done\"}\n\n\
             data: [DONE]\n\n"
        );
    }

    #[test]
    fn a_text_delta_is_the_part_serialized_whole() {
        let mut e = UiMessageEncoder::new(TurnIds::new("m\"delta\":\"\"", "c1"));
        assert!(e.text_frame.is_some());
        for text in crate::stream::AWKWARD_TEXTS {
            let whole = sse_data_json(&TextDelta {
                delta: text,
                id: &e.text_id,
                kind: "text-delta",
            });
            assert_eq!(e.delta(text, text), vec![whole], "{text:?}");
        }
    }

    #[test]
    fn status_labels_are_transient_parts_before_the_text() {
        let mut e = UiMessageEncoder::new(ids()).with_status(StatusLabels::new(true));
        let labels = |frames: &str| -> Vec<String> {
            frames
                .split("\n\n")
                .filter_map(|f| f.strip_prefix("data: "))
                .filter_map(|d| serde_json::from_str::<Value>(d).ok())
                .filter(|v| v["type"] == "data-status")
                .inspect(|v| assert_eq!(v["transient"], true))
                .map(|v| v["data"]["label"].as_str().unwrap_or_default().to_owned())
                .collect()
        };
        assert_eq!(
            labels(&text(e.start())),
            ["Reading your history", "Thinking"]
        );
        assert_eq!(labels(&text(e.delta("Hi", "Hi"))), ["Writing"]);
        assert!(labels(&text(e.delta(" there", "Hi there"))).is_empty());
        let mut fresh = UiMessageEncoder::new(ids()).with_status(StatusLabels::new(false));
        assert_eq!(labels(&text(fresh.start())), ["Thinking"]);
    }

    #[test]
    fn a_ui_stream_failure_closes_the_text_and_reports_error_text() {
        let mut e = UiMessageEncoder::new(ids());
        e.start();
        let out = text(e.error("upstream failed"));
        assert_eq!(
            out,
            "data: {\"id\":\"text-m1\",\"type\":\"text-end\"}\n\n\
             data: {\"errorText\":\"upstream failed\",\"type\":\"error\"}\n\n\
             data: [DONE]\n\n"
        );
    }

    #[test]
    fn legacy_frames_are_tokens_then_done_and_failures_a_refusal() {
        let mut e = LegacyWidgetEncoder::new(ids());
        assert!(e.start().is_empty());
        let mut out = text(e.delta("Hi \"you\"", "Hi \"you\""));
        out += &text(e.finish(&done()));
        assert_eq!(
            out,
            "event: token\ndata: \"Hi \\\"you\\\"\"\n\n\
             event: done\ndata: {\"confidence\":null,\"conversationId\":\"c1\",\"messageId\":\"m1\"}\n\n"
        );
        assert_eq!(
            text(e.error("x")),
            format!("event: token\ndata: \"{LEGACY_REFUSAL}\"\n\n")
        );
    }
}
