//! The native SSE dialect of `/public/runs/stream` and `/runs/stream`.
//!
//! `metadata` first (the run id, and the thread id so callers that did not choose one can
//! continue), then one `messages/partial` per token holding the whole AI message so far,
//! then `end`. A failure after the stream began is an `error` event followed by `end`, so
//! clients always see the stream close on a well-formed event.

use bytes::Bytes;
use serde_json::json;

use super::{Completion, Encoder, sse_event};

/// The accumulated message in a `messages/partial` event (members in the order a JSON tree
/// writes them).
#[derive(serde::Serialize)]
struct Partial<'a> {
    content: &'a str,
    id: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
}

#[derive(Debug, Clone)]
pub struct NativeEncoder {
    run_id: String,
    thread_id: String,
    message_id: String,
    ignored_thread_id: Option<String>,
}

impl NativeEncoder {
    pub fn new(run_id: &str, thread_id: &str) -> Self {
        Self {
            run_id: run_id.to_owned(),
            thread_id: thread_id.to_owned(),
            message_id: format!("run-{run_id}"),
            ignored_thread_id: None,
        }
    }

    /// The metadata also names the thread id the caller asked for and that was not
    /// continued (`ignored_thread_id`), so the caller knows a new thread started.
    #[must_use]
    pub fn ignoring(self, asked: Option<&str>) -> Self {
        Self {
            ignored_thread_id: asked.map(str::to_owned),
            ..self
        }
    }

    fn partial(&self, content: &str) -> Bytes {
        sse_event(
            "messages/partial",
            &[Partial {
                content,
                id: &self.message_id,
                kind: "ai",
            }],
        )
    }
}

impl Encoder for NativeEncoder {
    fn start(&mut self) -> Vec<Bytes> {
        let mut meta = json!({"run_id": self.run_id, "thread_id": self.thread_id});
        if let Some(asked) = &self.ignored_thread_id {
            meta["ignored_thread_id"] = json!(asked);
        }
        vec![sse_event("metadata", &meta)]
    }

    fn delta(&mut self, _delta: &str, accumulated: &str) -> Vec<Bytes> {
        vec![self.partial(accumulated)]
    }

    fn snapshots(&self) -> bool {
        true
    }

    fn finish(&mut self, _completion: &Completion) -> Vec<Bytes> {
        vec![sse_event("end", &json!({}))]
    }

    fn error(&mut self, message: &str) -> Vec<Bytes> {
        vec![
            sse_event("error", &json!({"error": "RunError", "message": message})),
            sse_event("end", &json!({})),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::{FinishReason, Usage};

    #[test]
    fn frames_match_the_documented_shape() {
        let mut e = NativeEncoder::new("r1", "t1");
        assert_eq!(
            e.start()[0],
            "event: metadata\ndata: {\"run_id\":\"r1\",\"thread_id\":\"t1\"}\n\n"
        );
        assert_eq!(
            e.delta("lo", "Hello")[0],
            "event: messages/partial\ndata: [{\"content\":\"Hello\",\"id\":\"run-r1\",\"type\":\"ai\"}]\n\n"
        );
        let c = Completion {
            text: "Hello".into(),
            finish: FinishReason::Stop,
            usage: Usage::default(),
            tool_calls: vec![],
        };
        assert_eq!(e.finish(&c)[0], "event: end\ndata: {}\n\n");
        let err = e.error("boom");
        assert!(err[0].starts_with(b"event: error\n"));
        assert_eq!(err[1], "event: end\ndata: {}\n\n");
    }
}
