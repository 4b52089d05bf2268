//! A recording proxy in front of DynamoDB Local: every call the SDK makes passes through it
//! and is kept with its operation (`X-Amz-Target`) and when it started and ended. From that
//! a test reads how many store round trips a request waited for in sequence before its
//! model call, and how many it made in all.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::response::Response;

/// One DynamoDB call as the proxy saw it.
#[derive(Debug, Clone)]
pub struct Call {
    /// The operation, such as `Query` or `UpdateItem`.
    pub op: String,
    pub start: Instant,
    pub end: Instant,
}

#[derive(Clone)]
struct ProxyState {
    target: String,
    http: reqwest::Client,
    calls: Arc<Mutex<Vec<Call>>>,
}

/// The proxy; point an SDK client's endpoint at [`Self::url`].
pub struct DynamoRecorder {
    pub url: String,
    calls: Arc<Mutex<Vec<Call>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for DynamoRecorder {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl DynamoRecorder {
    /// Forwards to `target` (DynamoDB Local's URL).
    pub async fn start(target: &str) -> Self {
        let state = ProxyState {
            target: target.trim_end_matches('/').to_owned(),
            http: reqwest::Client::new(),
            calls: Arc::default(),
        };
        let calls = state.calls.clone();
        let app = Router::new().fallback(forward).with_state(state);
        let (addr, task) = super::serve_local(app).await;
        Self {
            url: format!("http://{addr}"),
            calls,
            task,
        }
    }

    /// Every call so far, in the order they started.
    pub fn calls(&self) -> Vec<Call> {
        let mut calls = self.calls.lock().map(|c| c.clone()).unwrap_or_default();
        calls.sort_by_key(|c| c.start);
        calls
    }

    /// Forgets the calls so far.
    pub fn clear(&self) {
        if let Ok(mut c) = self.calls.lock() {
            c.clear();
        }
    }
}

async fn forward(
    State(state): State<ProxyState>,
    method: http::Method,
    uri: http::Uri,
    headers: http::HeaderMap,
    body: Bytes,
) -> Response {
    let start = Instant::now();
    let op = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .and_then(|t| t.rsplit('.').next())
        .unwrap_or("?")
        .to_owned();
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let mut req = state
        .http
        .request(method, format!("{}{path}", state.target))
        .body(body);
    for (name, value) in &headers {
        if name != http::header::HOST && name != http::header::CONTENT_LENGTH {
            req = req.header(name, value);
        }
    }
    let (status, headers, body) = match req.send().await {
        Ok(resp) => {
            let status = resp.status();
            let headers = resp.headers().clone();
            (status, headers, resp.bytes().await.unwrap_or_default())
        }
        Err(e) => (
            http::StatusCode::BAD_GATEWAY,
            http::HeaderMap::new(),
            Bytes::from(e.to_string()),
        ),
    };
    if let Ok(mut calls) = state.calls.lock() {
        calls.push(Call {
            op,
            start,
            end: Instant::now(),
        });
    }
    let mut out = Response::builder().status(status);
    for (name, value) in &headers {
        if name != http::header::CONTENT_LENGTH && name != http::header::TRANSFER_ENCODING {
            out = out.header(name, value);
        }
    }
    out.body(Body::from(body)).unwrap_or_default()
}

/// How the calls of one request fell around its model call at `upstream`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoundTrips {
    /// The longest chain of calls, each started after the one before it ended, among
    /// those that ended before the model call: the round trips the model call waited for.
    pub sequential_before: usize,
    /// Every call that ended before the model call.
    pub before: usize,
    /// Every call.
    pub total: usize,
    /// The operations in start order (for failure messages).
    pub ops: Vec<String>,
}

/// Counts `calls` against the moment the model call arrived.
pub fn round_trips(calls: &[Call], upstream: Instant) -> RoundTrips {
    let before: Vec<&Call> = calls.iter().filter(|c| c.end <= upstream).collect();
    // depth[i] = 1 + the deepest call that ended before call i started.
    let mut depth = vec![0usize; before.len()];
    for i in 0..before.len() {
        depth[i] = 1
            + (0..before.len())
                .filter(|&j| before[j].end <= before[i].start)
                .map(|j| depth[j])
                .max()
                .unwrap_or(0);
    }
    RoundTrips {
        sequential_before: depth.iter().copied().max().unwrap_or(0),
        before: before.len(),
        total: calls.len(),
        ops: calls.iter().map(|c| c.op.clone()).collect(),
    }
}
