//! A mock LLM upstream that speaks the providers' real streaming wire formats (OpenAI chat
//! completions chunks, Anthropic Messages events) and OpenAI's non-streamed
//! `chat.completion`, records what it was asked, and can be told to fail, break mid-stream
//! or go slow.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::response::Response;
use axum::routing::post;
use bytes::Bytes;
use futures::StreamExt;
use serde_json::{Value, json};

/// What the mock upstream does with each request.
#[derive(Debug, Clone)]
pub enum Behavior {
    /// Streams these pieces, then finishes normally.
    Reply(Vec<String>),
    /// Answers with this HTTP status and an error body in the provider's shape.
    Fail(u16, String),
    /// Streams these pieces, then an in-stream error event.
    BreakAfter(Vec<String>),
    /// Refuses with this status and an error body of this many bytes.
    RefuseLarge(u16, usize),
    /// Streams these pieces, then drops the connection in the middle of the body.
    ResetAfter(Vec<String>),
    /// Accepts the connection and never sends the response head.
    StallBeforeHead,
    /// Streams these pieces, then sends nothing, ever.
    StallAfter(Vec<String>),
    /// Streams these pieces, then a frame that is not JSON.
    MalformedAfter(Vec<String>),
    /// Sends SSE comments forever and never any text.
    EndlessComments,
    /// Streams these pieces and finishes, reporting absurd token counts.
    AbsurdUsage(Vec<String>),
}

/// How a reply's stream ends after its pieces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ending {
    Finish,
    InStreamError,
    Reset,
    Stall,
    Malformed,
    Absurd,
}

/// One request the mock received.
#[derive(Debug, Clone)]
pub struct Seen {
    /// When the request arrived.
    pub at: std::time::Instant,
    pub body: Value,
    pub authorization: Option<String>,
    pub api_key: Option<String>,
}

impl Seen {
    /// The role and text of each message the request sent (`messages`, in either
    /// provider's format; a content of text parts reads as their concatenation).
    pub fn messages(&self) -> Vec<(String, String)> {
        let text = |content: &Value| match content {
            Value::String(s) => s.clone(),
            Value::Array(parts) => parts.iter().filter_map(|p| p["text"].as_str()).collect(),
            _ => String::new(),
        };
        self.body["messages"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|m| {
                let role = m["role"].as_str().unwrap_or_default().to_owned();
                (role, text(&m["content"]))
            })
            .collect()
    }
}

/// Which provider's wire format the mock speaks.
#[derive(Debug, Clone, Copy)]
enum Dialect {
    OpenAi,
    Anthropic,
}

/// What the mock answers when a request offers tools: text pieces, then one call of
/// `name` with `arguments` (streamed in fragments), in the dialect's tool-call format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolReply {
    pub pieces: Vec<String>,
    pub name: String,
    pub arguments: String,
}

#[derive(Clone)]
struct MockState {
    dialect: Dialect,
    behavior: Arc<Mutex<Behavior>>,
    tool_reply: Arc<Mutex<Option<ToolReply>>>,
    seen: Arc<Mutex<Vec<Seen>>>,
    delay: Arc<Mutex<Duration>>,
    /// Responses whose stream was dropped before its last frame (the caller hung up).
    cut: Arc<std::sync::atomic::AtomicUsize>,
}

/// Counts a response stream dropped before it finished.
struct CutWatch {
    finished: Arc<std::sync::atomic::AtomicBool>,
    cut: Arc<std::sync::atomic::AtomicUsize>,
}

impl Drop for CutWatch {
    fn drop(&mut self) {
        use std::sync::atomic::Ordering;
        if !self.finished.load(Ordering::SeqCst) {
            self.cut.fetch_add(1, Ordering::SeqCst);
        }
    }
}

/// A local server speaking OpenAI's or Anthropic's streaming API.
pub struct MockUpstream {
    pub addr: SocketAddr,
    state: MockState,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for MockUpstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl MockUpstream {
    /// An OpenAI-compatible server; its base URL (with `/v1`) is [`Self::openai_base_url`].
    pub async fn openai(behavior: Behavior) -> Self {
        Self::spawn("/v1/chat/completions", behavior, Dialect::OpenAi).await
    }

    /// An Anthropic Messages server; its base URL is [`Self::base_url`].
    pub async fn anthropic(behavior: Behavior) -> Self {
        Self::spawn("/v1/messages", behavior, Dialect::Anthropic).await
    }

    async fn spawn(path: &str, behavior: Behavior, dialect: Dialect) -> Self {
        let state = MockState {
            dialect,
            behavior: Arc::new(Mutex::new(behavior)),
            tool_reply: Arc::default(),
            seen: Arc::default(),
            delay: Arc::new(Mutex::new(Duration::from_millis(5))),
            cut: Arc::default(),
        };
        let app = Router::new()
            .route(path, post(answer))
            .with_state(state.clone());
        let (addr, task) = super::serve_local(app).await;
        Self { addr, state, task }
    }

    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn openai_base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    pub fn set_behavior(&self, behavior: Behavior) {
        if let Ok(mut b) = self.state.behavior.lock() {
            *b = behavior;
        }
    }

    /// How to answer requests that offer tools (a model calls tools only when offered);
    /// `None` answers them like any other.
    pub fn set_tool_reply(&self, reply: Option<ToolReply>) {
        if let Ok(mut r) = self.state.tool_reply.lock() {
            *r = reply;
        }
    }

    /// Pause between streamed frames.
    pub fn set_delay(&self, delay: Duration) {
        if let Ok(mut d) = self.state.delay.lock() {
            *d = delay;
        }
    }

    /// How many responses were cut off by the caller before their last frame.
    pub fn cut_streams(&self) -> usize {
        self.state.cut.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Every request received so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.state
            .seen
            .lock()
            .map(|s| s.clone())
            .unwrap_or_default()
    }
}

fn record(state: &MockState, headers: &http::HeaderMap, body: &Bytes) -> Behavior {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    if let Ok(mut seen) = state.seen.lock() {
        seen.push(Seen {
            at: std::time::Instant::now(),
            body: serde_json::from_slice(body).unwrap_or(Value::Null),
            authorization: header("authorization"),
            api_key: header("x-api-key"),
        });
    }
    state
        .behavior
        .lock()
        .map(|b| b.clone())
        .unwrap_or(Behavior::Reply(vec![]))
}

fn sse(frames: Vec<String>, state: &MockState, ending: Ending) -> Response {
    body(frames, state, ending, "text/event-stream")
}

/// A 200 response sending `frames`, each after the mock's delay, then ending as `ending`
/// says.
fn body(frames: Vec<String>, state: &MockState, ending: Ending, content_type: &str) -> Response {
    let delay = state.delay.lock().map(|d| *d).unwrap_or_default();
    let watch = CutWatch {
        finished: Arc::default(),
        cut: state.cut.clone(),
    };
    let finished = watch.finished.clone();
    let stream = futures::stream::iter(frames)
        .then(move |f| async move {
            tokio::time::sleep(delay).await;
            Ok::<_, std::io::Error>(Bytes::from(f))
        })
        .chain(futures::stream::once(async move {
            match ending {
                // An error ends the body abruptly: the connection is reset mid-body.
                Ending::Reset => Err(std::io::Error::other("mock upstream reset")),
                Ending::Stall => futures::future::pending().await,
                _ => {
                    finished.store(true, std::sync::atomic::Ordering::SeqCst);
                    Ok(Bytes::new())
                }
            }
        }))
        .map(move |frame| {
            let _ = &watch;
            frame
        });
    Response::builder()
        .header("content-type", content_type)
        .body(Body::from_stream(stream))
        .unwrap_or_default()
}

fn error_response(status: u16, body: Value) -> Response {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .unwrap_or_default()
}

/// Records the request, then answers as the behaviour says in the mock's dialect.
async fn answer(State(state): State<MockState>, headers: http::HeaderMap, body: Bytes) -> Response {
    let behavior = record(&state, &headers, &body);
    let offers_tools = serde_json::from_slice::<Value>(&body)
        .ok()
        .is_some_and(|b| b["tools"].as_array().is_some_and(|t| !t.is_empty()));
    let tool_reply = state.tool_reply.lock().ok().and_then(|r| r.clone());
    let streamed = serde_json::from_slice::<Value>(&body)
        .ok()
        .is_some_and(|b| b["stream"] == true);
    if let Dialect::OpenAi = state.dialect
        && !streamed
    {
        return whole_answer(&state, behavior, tool_reply.filter(|_| offers_tools)).await;
    }
    if let Some(reply) = tool_reply.filter(|_| offers_tools) {
        let frames = match state.dialect {
            Dialect::OpenAi => openai_tool_frames(&reply),
            Dialect::Anthropic => anthropic_tool_frames(&reply),
        };
        return sse(frames, &state, Ending::Finish);
    }
    let (pieces, ending) = match behavior {
        Behavior::Fail(status, msg) => return refusal(state.dialect, status, &msg),
        Behavior::RefuseLarge(status, size) => {
            return refusal(state.dialect, status, &"x".repeat(size));
        }
        Behavior::StallBeforeHead => return futures::future::pending().await,
        Behavior::EndlessComments => return comments_forever(&state),
        Behavior::Reply(p) => (p, Ending::Finish),
        Behavior::BreakAfter(p) => (p, Ending::InStreamError),
        Behavior::ResetAfter(p) => (p, Ending::Reset),
        Behavior::StallAfter(p) => (p, Ending::Stall),
        Behavior::MalformedAfter(p) => (p, Ending::Malformed),
        Behavior::AbsurdUsage(p) => (p, Ending::Absurd),
    };
    let mut frames = match state.dialect {
        Dialect::OpenAi => openai_frames(&pieces, ending),
        Dialect::Anthropic => anthropic_frames(&pieces, ending),
    };
    if ending == Ending::Malformed {
        frames.push("data: {\"choices\": [{\"delta\": \n\n".to_owned());
    }
    sse(frames, &state, ending)
}

/// A non-streamed chat completions answer (`stream` absent or false): the whole
/// `chat.completion` in one body; a reply that breaks off fails with a 500, one that is
/// reset or stalls does so halfway through the body, and a server sending only comments to
/// a stream never answers at all.
async fn whole_answer(state: &MockState, behavior: Behavior, tools: Option<ToolReply>) -> Response {
    let (pieces, ending) = match behavior {
        Behavior::Fail(status, msg) => return refusal(state.dialect, status, &msg),
        Behavior::RefuseLarge(status, size) => {
            return refusal(state.dialect, status, &"x".repeat(size));
        }
        Behavior::BreakAfter(_) => return refusal(state.dialect, 500, "mock upstream broke"),
        Behavior::StallBeforeHead | Behavior::EndlessComments => {
            return futures::future::pending().await;
        }
        Behavior::Reply(p) => (p, Ending::Finish),
        Behavior::ResetAfter(p) => (p, Ending::Reset),
        Behavior::StallAfter(p) => (p, Ending::Stall),
        Behavior::MalformedAfter(p) => (p, Ending::Malformed),
        Behavior::AbsurdUsage(p) => (p, Ending::Absurd),
    };
    let (text, calls, finish, (prompt, completion)) = match tools {
        Some(reply) => (
            reply.pieces.concat(),
            json!([{"id": "call_mock1", "type": "function",
                    "function": {"name": reply.name, "arguments": reply.arguments}}]),
            "tool_calls",
            (json!(11), json!(9)),
        ),
        None => (
            pieces.concat(),
            Value::Null,
            "stop",
            match ending {
                Ending::Absurd => (json!(u64::MAX), json!(u64::from(u32::MAX) + 7)),
                _ => (json!(11), json!(pieces.len())),
            },
        ),
    };
    let mut message = json!({"role": "assistant", "content": text});
    if !calls.is_null() {
        message["tool_calls"] = calls;
    }
    let reply = json!({"id": "chatcmpl-mock", "object": "chat.completion", "created": 1,
        "model": "mock", "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": {"prompt_tokens": prompt, "completion_tokens": completion}})
    .to_string();
    let frames = match ending {
        Ending::Reset | Ending::Stall => vec![reply[..reply.len() / 2].to_owned()],
        Ending::Malformed => vec!["{\"choices\": [{\"message\": ".to_owned()],
        _ => vec![reply],
    };
    let ending = match ending {
        Ending::Malformed => Ending::Finish,
        other => other,
    };
    body(frames, state, ending, "application/json")
}

/// An error answer in the dialect's shape.
fn refusal(dialect: Dialect, status: u16, msg: &str) -> Response {
    let body = match dialect {
        Dialect::OpenAi => {
            json!({"error": {"message": msg, "type": "invalid_request_error", "param": null, "code": null}})
        }
        Dialect::Anthropic => {
            json!({"type": "error", "error": {"type": "invalid_request_error", "message": msg}})
        }
    };
    error_response(status, body)
}

/// A stream of keep-alive comments without end.
fn comments_forever(state: &MockState) -> Response {
    let delay = state.delay.lock().map(|d| *d).unwrap_or_default();
    let stream = futures::stream::repeat(()).then(move |()| async move {
        tokio::time::sleep(delay.max(Duration::from_millis(5))).await;
        Ok::<_, std::convert::Infallible>(Bytes::from_static(b": still thinking\n\n"))
    });
    Response::builder()
        .header("content-type", "text/event-stream")
        .body(Body::from_stream(stream))
        .unwrap_or_default()
}

/// One chat completions chunk carrying `delta` (and `finish_reason`).
fn openai_chunk(delta: Value, finish: Value) -> String {
    format!(
        "data: {}\n\n",
        json!({"id": "chatcmpl-mock", "object": "chat.completion.chunk", "created": 1,
               "model": "mock", "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
    )
}

/// The usage chunk that ends a chat completions stream (`stream_options.include_usage`).
fn openai_usage(prompt: Value, completion: Value) -> String {
    format!(
        "data: {}\n\n",
        json!({"id": "chatcmpl-mock", "object": "chat.completion.chunk", "created": 1, "model": "mock",
               "choices": [], "usage": {"prompt_tokens": prompt, "completion_tokens": completion}})
    )
}

/// Chat completions chunks: a role chunk, one per piece, then either an in-stream error or
/// the finish chunk, a usage chunk and `[DONE]`.
fn openai_frames(pieces: &[String], ending: Ending) -> Vec<String> {
    let chunk = openai_chunk;
    let mut frames = vec![chunk(
        json!({"role": "assistant", "content": ""}),
        Value::Null,
    )];
    frames.extend(
        pieces
            .iter()
            .map(|p| chunk(json!({"content": p}), Value::Null)),
    );
    match ending {
        Ending::InStreamError => frames.push(format!(
            "data: {}\n\n",
            json!({"error": {"message": "mock upstream broke", "type": "server_error"}})
        )),
        Ending::Finish | Ending::Absurd => {
            let (prompt, completion) = match ending {
                Ending::Absurd => (json!(u64::MAX), json!(u64::from(u32::MAX) + 7)),
                _ => (json!(11), json!(pieces.len())),
            };
            frames.push(chunk(json!({}), json!("stop")));
            frames.push(openai_usage(prompt, completion));
            frames.push("data: [DONE]\n\n".to_owned());
        }
        Ending::Reset | Ending::Stall | Ending::Malformed => {}
    }
    frames
}

/// The arguments in three fragments, as providers stream them.
fn fragments(arguments: &str) -> Vec<String> {
    let chars: Vec<char> = arguments.chars().collect();
    let third = chars.len().div_ceil(3).max(1);
    chars.chunks(third).map(|c| c.iter().collect()).collect()
}

/// Chat completions chunks of a reply with text, then one streamed tool call: the first
/// tool-call delta carries the id and name, the next ones argument fragments; it finishes
/// with `tool_calls`.
fn openai_tool_frames(reply: &ToolReply) -> Vec<String> {
    let chunk = openai_chunk;
    let mut frames = vec![chunk(
        json!({"role": "assistant", "content": ""}),
        Value::Null,
    )];
    frames.extend(
        reply
            .pieces
            .iter()
            .map(|p| chunk(json!({"content": p}), Value::Null)),
    );
    frames.push(chunk(
        json!({"tool_calls": [{"index": 0, "id": "call_mock1", "type": "function",
                "function": {"name": reply.name, "arguments": ""}}]}),
        Value::Null,
    ));
    for f in fragments(&reply.arguments) {
        frames.push(chunk(
            json!({"tool_calls": [{"index": 0, "function": {"arguments": f}}]}),
            Value::Null,
        ));
    }
    frames.push(chunk(json!({}), json!("tool_calls")));
    frames.push(openai_usage(json!(11), json!(9)));
    frames.push("data: [DONE]\n\n".to_owned());
    frames
}

/// One Messages API event.
fn anthropic_event(name: &str, data: Value) -> String {
    format!("event: {name}\ndata: {data}\n\n")
}

/// A reply's opening: `message_start`, a text block (a `ping` after its start when asked)
/// and one delta per piece.
fn anthropic_text(pieces: &[String], ping: bool) -> Vec<String> {
    let ev = anthropic_event;
    let mut frames = vec![
        ev(
            "message_start",
            json!({"type": "message_start", "message": {"id": "msg_mock", "type": "message",
            "role": "assistant", "content": [], "model": "mock", "stop_reason": null, "stop_sequence": null,
            "usage": {"input_tokens": 13, "output_tokens": 1}}}),
        ),
        ev(
            "content_block_start",
            json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
        ),
    ];
    if ping {
        frames.push(ev("ping", json!({"type": "ping"})));
    }
    frames.extend(pieces.iter().map(|p| {
        ev("content_block_delta", json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": p}}))
    }));
    frames
}

/// Messages API events of a reply with a text block, then a `tool_use` block whose input
/// arrives as `input_json_delta` fragments; it stops with `tool_use`.
fn anthropic_tool_frames(reply: &ToolReply) -> Vec<String> {
    let ev = anthropic_event;
    let mut frames = anthropic_text(&reply.pieces, false);
    frames.push(ev(
        "content_block_stop",
        json!({"type": "content_block_stop", "index": 0}),
    ));
    frames.push(ev(
        "content_block_start",
        json!({"type": "content_block_start", "index": 1, "content_block": {"type": "tool_use",
               "id": "toolu_mock1", "name": reply.name, "input": {}}}),
    ));
    for f in fragments(&reply.arguments) {
        frames.push(ev(
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": f}}),
        ));
    }
    frames.push(ev(
        "content_block_stop",
        json!({"type": "content_block_stop", "index": 1}),
    ));
    frames.push(ev(
        "message_delta",
        json!({"type": "message_delta", "delta": {"stop_reason": "tool_use", "stop_sequence": null},
               "usage": {"output_tokens": 9}}),
    ));
    frames.push(ev("message_stop", json!({"type": "message_stop"})));
    frames
}

/// Messages API events: start, a text block with one delta per piece, then either an
/// `error` event or the block stop, `message_delta` and `message_stop`.
fn anthropic_frames(pieces: &[String], ending: Ending) -> Vec<String> {
    let ev = anthropic_event;
    let mut frames = anthropic_text(pieces, true);
    if ending == Ending::InStreamError {
        frames.push(ev("error", json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})));
    } else if matches!(ending, Ending::Finish | Ending::Absurd) {
        let output = match ending {
            Ending::Absurd => json!(u64::MAX),
            _ => json!(pieces.len()),
        };
        frames.push(ev(
            "content_block_stop",
            json!({"type": "content_block_stop", "index": 0}),
        ));
        frames.push(ev(
            "message_delta",
            json!({"type": "message_delta", "delta": {"stop_reason": "end_turn",
            "stop_sequence": null}, "usage": {"output_tokens": output}}),
        ));
        frames.push(ev("message_stop", json!({"type": "message_stop"})));
    }
    frames
}
