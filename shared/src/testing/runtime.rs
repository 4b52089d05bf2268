//! A local Lambda Runtime API, so tests can run a function's real binary as Lambda would:
//! the binary polls `/invocation/next`, receives sample events, and posts its (buffered or
//! streamed) responses back. It notes when each part arrives, so the Lambda benchmark can
//! report how long after its event a function's first body byte and its end came.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use http_body_util::BodyExt;
use tokio::sync::Notify;

/// What the function sent back for one invocation.
#[derive(Debug, Clone)]
pub struct Reply {
    pub request_id: String,
    /// `Lambda-Runtime-Function-Response-Mode: streaming` was set.
    pub streamed: bool,
    pub body: Bytes,
    /// Posted to `/error` instead of `/response`.
    pub error: bool,
    /// From handing out the event to the first byte of the body (after a streamed
    /// response's prelude).
    pub first_byte: Option<Duration>,
    /// From handing out the event to the end of the response.
    pub done: Duration,
    /// The error trailers of a streamed response, if it sent any.
    pub trailers: Option<HeaderMap>,
}

impl Reply {
    /// The HTTP response the function produced, read like a router's.
    pub fn response(&self) -> super::TestResponse {
        let (status, headers, body) = self.http();
        let mut map = http::HeaderMap::new();
        for (name, value) in headers.as_object().into_iter().flatten() {
            if let (Ok(name), Some(Ok(value))) = (
                http::HeaderName::try_from(name.as_str()),
                value.as_str().map(http::HeaderValue::from_str),
            ) {
                map.insert(name, value);
            }
        }
        super::TestResponse {
            status: http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::BAD_GATEWAY),
            headers: map,
            text: String::from_utf8_lossy(&body).into_owned(),
        }
    }

    /// Status, headers and body of the HTTP response the function produced: from the
    /// streaming prelude (JSON, eight NUL bytes, payload) or the buffered JSON response.
    pub fn http(&self) -> (u16, serde_json::Value, Vec<u8>) {
        if self.streamed {
            let sep = self
                .body
                .windows(8)
                .position(|w| w == [0u8; 8])
                .unwrap_or(self.body.len());
            let prelude: serde_json::Value =
                serde_json::from_slice(&self.body[..sep]).unwrap_or_default();
            let status = prelude["statusCode"].as_u64().unwrap_or(0) as u16;
            let payload = self.body.get(sep + 8..).unwrap_or_default().to_vec();
            (status, prelude["headers"].clone(), payload)
        } else {
            let v: serde_json::Value = serde_json::from_slice(&self.body).unwrap_or_default();
            let status = v["statusCode"].as_u64().unwrap_or(0) as u16;
            let body = v["body"].as_str().unwrap_or_default();
            let bytes = if v["isBase64Encoded"].as_bool() == Some(true) {
                use base64::Engine;
                base64::engine::general_purpose::STANDARD
                    .decode(body)
                    .unwrap_or_default()
            } else {
                body.as_bytes().to_vec()
            };
            (status, v["headers"].clone(), bytes)
        }
    }
}

#[derive(Default)]
struct Inner {
    events: Mutex<VecDeque<(String, String)>>,
    replies: Mutex<Vec<Reply>>,
    init_error: Mutex<Option<String>>,
    changed: Notify,
    /// When each event was handed out, by request id.
    served: Mutex<HashMap<String, Instant>>,
    /// When the function first asked for an event.
    first_poll: Mutex<Option<Instant>>,
}

/// The runtime API server; dropping it stops it.
pub struct FakeRuntime {
    pub addr: SocketAddr,
    inner: Arc<Inner>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeRuntime {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FakeRuntime {
    /// Serves `events` (request id, event JSON) in order; `next` waits once they run out.
    pub async fn start(events: Vec<(String, String)>) -> Self {
        let inner = Arc::new(Inner {
            events: Mutex::new(events.into()),
            ..Inner::default()
        });
        let app = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route(
                "/2018-06-01/runtime/invocation/{id}/response",
                post(response),
            )
            .route(
                "/2018-06-01/runtime/invocation/{id}/error",
                post(invocation_error),
            )
            .route("/2018-06-01/runtime/init/error", post(init_error))
            .with_state(inner.clone());
        let (addr, task) = super::serve_local(app).await;
        Self { addr, inner, task }
    }

    /// Waits until `n` replies arrived (or an init error), for at most `secs` seconds.
    pub async fn wait_for(&self, n: usize, secs: u64) -> Vec<Reply> {
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(secs);
        loop {
            let notified = self.inner.changed.notified();
            {
                let replies = self
                    .inner
                    .replies
                    .lock()
                    .map(|r| r.clone())
                    .unwrap_or_default();
                let failed = self
                    .inner
                    .init_error
                    .lock()
                    .map(|e| e.is_some())
                    .unwrap_or(false);
                if replies.len() >= n || failed || tokio::time::Instant::now() >= deadline {
                    return replies;
                }
            }
            let _ = tokio::time::timeout_at(deadline, notified).await;
        }
    }

    /// When the function first polled for an event (its cold start ended).
    pub fn first_poll(&self) -> Option<Instant> {
        self.inner.first_poll.lock().ok().and_then(|p| *p)
    }

    /// Queues one more event.
    pub fn push(&self, id: String, event: String) {
        if let Ok(mut q) = self.inner.events.lock() {
            q.push_back((id, event));
        }
        self.inner.changed.notify_waiters();
    }

    /// The body the function posted to `/runtime/init/error`, if its cold start failed.
    pub fn init_error(&self) -> Option<String> {
        self.inner.init_error.lock().ok().and_then(|e| e.clone())
    }
}

async fn next(State(inner): State<Arc<Inner>>) -> Response {
    if let Ok(mut first) = inner.first_poll.lock() {
        first.get_or_insert_with(Instant::now);
    }
    let (id, event) = loop {
        let notified = inner.changed.notified();
        let item = inner.events.lock().ok().and_then(|mut q| q.pop_front());
        match item {
            Some(item) => break item,
            // No more work: park the poll until an event is pushed, as Lambda does
            // between invocations.
            None => notified.await,
        }
    };
    if let Ok(mut served) = inner.served.lock() {
        served.insert(id.clone(), Instant::now());
    }
    let deadline = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() + 60_000)
        .unwrap_or_default();
    (
        [
            ("lambda-runtime-aws-request-id", id),
            ("lambda-runtime-deadline-ms", deadline.to_string()),
            (
                "lambda-runtime-invoked-function-arn",
                "arn:aws:lambda:us-east-1:123456789012:function:agentgate".into(),
            ),
            (
                "lambda-runtime-trace-id",
                "Root=1-67a1b2c3-0123456789abcdef01234567;Sampled=0".into(),
            ),
            ("content-type", "application/json".into()),
        ],
        event,
    )
        .into_response()
}

fn record(inner: &Inner, reply: Reply) {
    if let Ok(mut r) = inner.replies.lock() {
        r.push(reply);
    }
    inner.changed.notify_waiters();
}

fn served_at(inner: &Inner, id: &str) -> Instant {
    inner
        .served
        .lock()
        .ok()
        .and_then(|s| s.get(id).copied())
        .unwrap_or_else(Instant::now)
}

async fn response(
    State(inner): State<Arc<Inner>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Response {
    let streamed = headers
        .get("lambda-runtime-function-response-mode")
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"streaming"));
    let served = served_at(&inner, &id);
    let (mut received, mut first_byte, mut trailers) = (Vec::new(), None, None);
    let mut body = body;
    while let Some(Ok(frame)) = body.frame().await {
        match frame.into_data() {
            Ok(data) => {
                received.extend_from_slice(&data);
                let past_prelude = || {
                    !streamed
                        || received
                            .windows(8)
                            .position(|w| w == [0u8; 8])
                            .is_some_and(|sep| received.len() > sep + 8)
                };
                if first_byte.is_none() && past_prelude() {
                    first_byte = Some(served.elapsed());
                }
            }
            Err(frame) => trailers = frame.into_trailers().ok(),
        }
    }
    record(
        &inner,
        Reply {
            request_id: id,
            streamed,
            body: received.into(),
            error: false,
            first_byte,
            done: served.elapsed(),
            trailers,
        },
    );
    axum::http::StatusCode::ACCEPTED.into_response()
}

async fn invocation_error(
    State(inner): State<Arc<Inner>>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let done = served_at(&inner, &id).elapsed();
    record(
        &inner,
        Reply {
            request_id: id,
            streamed: false,
            body,
            error: true,
            first_byte: None,
            done,
            trailers: None,
        },
    );
    axum::http::StatusCode::ACCEPTED.into_response()
}

async fn init_error(State(inner): State<Arc<Inner>>, body: Bytes) -> Response {
    if let Ok(mut e) = inner.init_error.lock() {
        *e = Some(String::from_utf8_lossy(&body).into_owned());
    }
    inner.changed.notify_waiters();
    axum::http::StatusCode::ACCEPTED.into_response()
}
