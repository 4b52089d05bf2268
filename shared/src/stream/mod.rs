//! Wire encoders: pure functions from run events to the bytes of one wire format.
//!
//! The run engine ([`crate::run`]) knows nothing about SSE dialects; each family picks an
//! [`Encoder`] and the engine feeds it. Keeping encoders pure makes every format testable
//! byte for byte without a server.

pub mod coalesce;
pub mod native;
pub mod openai;
pub mod responses;
pub mod widget;

use bytes::Bytes;

use crate::provider::{FinishReason, ToolCall, Usage};

/// How a run ended successfully.
#[derive(Debug, Clone, PartialEq)]
pub struct Completion {
    pub text: String,
    pub finish: FinishReason,
    pub usage: Usage,
    /// Tools the model asked to call (only turns that offered tools get any).
    pub tool_calls: Vec<ToolCall>,
}

impl Completion {
    /// What the transcript keeps of the reply: its text, or, for a reply that only called
    /// tools, a line naming each call (so the next turn's model knows what it proposed and
    /// no provider receives an empty assistant message).
    pub fn transcript_text(&self) -> String {
        if !self.text.trim().is_empty() || self.tool_calls.is_empty() {
            return self.text.clone();
        }
        self.tool_calls
            .iter()
            .map(|c| format!("[proposed action {} with {}]", c.name, c.arguments))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// Turns run events into frames of one wire format.
pub trait Encoder: Send + 'static {
    /// Frames sent before the first token.
    fn start(&mut self) -> Vec<Bytes>;
    /// A new piece of text; `accumulated` is everything so far including `delta`.
    fn delta(&mut self, delta: &str, accumulated: &str) -> Vec<Bytes>;
    /// The run finished and was persisted.
    fn finish(&mut self, completion: &Completion) -> Vec<Bytes>;
    /// The run failed after the response started; the frames must close the stream cleanly.
    fn error(&mut self, message: &str) -> Vec<Bytes>;
    /// Whether `delta` frames are snapshots of the whole text (which the engine may
    /// coalesce, see [`coalesce`]) rather than increments that must all be sent.
    fn snapshots(&self) -> bool {
        false
    }
    /// A frame that keeps idle connections open and that clients ignore.
    fn keepalive(&self) -> Bytes {
        Bytes::from_static(b": keep-alive\n\n")
    }
}

/// Frames one SSE event with an explicit event name.
pub fn sse_event(name: &str, data: &impl serde::Serialize) -> Bytes {
    let mut out = Vec::with_capacity(128);
    out.extend_from_slice(b"event: ");
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b"\n");
    frame_json(out, data)
}

/// Frames one SSE data-only event.
pub fn sse_data(data: &str) -> Bytes {
    Bytes::from(format!("data: {data}\n\n"))
}

/// [`sse_data`] for a JSON payload (a typed one or a tree), written straight into the
/// frame: the per-token frames are built this way, without a tree made and dropped for
/// each token.
pub fn sse_data_json(data: &impl serde::Serialize) -> Bytes {
    frame_json(Vec::with_capacity(160), data)
}

fn frame_json(mut out: Vec<u8>, data: &impl serde::Serialize) -> Bytes {
    out.extend_from_slice(b"data: ");
    let start = out.len();
    // The payloads are plain structs of strings and numbers: writing them into a Vec
    // cannot fail, and nothing half-written would be sent if it did.
    if serde_json::to_writer(&mut out, data).is_err() {
        out.truncate(start);
        out.extend_from_slice(b"null");
    }
    out.extend_from_slice(b"\n\n");
    Bytes::from(out)
}

/// A per-token frame in which only the token's text changes: the bytes before and after
/// the text, cut once per response from a frame built with empty text. Each token's frame
/// is then those two around its escaped text, not a whole payload serialized again (which
/// cost several thousand instructions per token).
#[derive(Debug, Clone)]
pub(crate) struct TokenFrame {
    head: Vec<u8>,
    tail: Vec<u8>,
}

impl TokenFrame {
    /// Cuts `frame` where `member` (the text's member name, with its quotes) is first
    /// followed by an empty string; `None` if it never is. The caller's payload must put
    /// that member before any string that could hold the same bytes unescaped (a JSON
    /// string's quotes inside a value are always escaped, so only names can).
    pub fn cut(frame: &[u8], member: &str) -> Option<Self> {
        let marker = format!("{member}:\"\"");
        let at = frame
            .windows(marker.len())
            .position(|w| w == marker.as_bytes())?
            + marker.len()
            - 2;
        Some(Self {
            head: frame[..at].to_vec(),
            tail: frame[at + 2..].to_vec(),
        })
    }

    /// The frame holding `text`.
    pub fn with(&self, text: &str) -> Bytes {
        let mut out = Vec::with_capacity(self.head.len() + text.len() + 8 + self.tail.len());
        out.extend_from_slice(&self.head);
        // A string always serializes into a Vec.
        if serde_json::to_writer(&mut out, text).is_err() {
            out.extend_from_slice(b"\"\"");
        }
        out.extend_from_slice(&self.tail);
        Bytes::from(out)
    }
}

/// Texts a token frame must carry exactly as a whole payload would: quotes, backslashes,
/// control characters, characters beyond ASCII, and the bytes the frame is cut at.
#[cfg(test)]
pub(crate) const AWKWARD_TEXTS: [&str; 7] = [
    "Hi",
    "a\"b\\c",
    "line\nbreak\t",
    "\u{e9}\u{1f642}",
    "\u{1}\u{7f}",
    r#""content":"""#,
    r#""delta":"""#,
];
