//! [`TestApp`]: one family's router on a temporary embedded store, with mock OpenAI and
//! Anthropic upstreams, booted in one call; and the request helpers that let a family's
//! tests read as the scenario instead of as setup.

use axum::Router;
use axum::body::Body;
use http::{HeaderMap, Method, StatusCode};
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

use super::upstream::{Behavior, MockUpstream};
use super::{jwt, mock_providers, state_on, tempdir, test_settings};
use crate::clock::{Clock, ManualClock, SystemClock};
use crate::config::Settings;
use crate::domain::assistant::{Assistant, AssistantPatch};
use crate::domain::ids::UserId;
use crate::provider::ProviderSettings;
use crate::state::AppState;
use std::sync::Arc;

/// A family under test.
pub struct TestApp {
    pub state: AppState,
    /// The OpenAI-compatible upstream (`openai:<model>` assistants).
    pub openai: MockUpstream,
    /// The Anthropic upstream (`anthropic:<model>` assistants).
    pub anthropic: MockUpstream,
    /// The clock to move, when built with [`TestAppBuilder::manual_clock`].
    pub clock: Option<ManualClock>,
    router: fn(AppState) -> Router,
    dir: tempfile::TempDir,
}

/// How a [`TestApp`] is built: [`TestApp::build`], then options, then [`Self::start`].
pub struct TestAppBuilder {
    router: fn(AppState) -> Router,
    settings: Settings,
    providers: bool,
    clock: Option<ManualClock>,
}

impl TestAppBuilder {
    /// Changes the settings (caps, history limit...) before the state is built.
    #[must_use]
    pub fn settings(mut self, change: impl FnOnce(&mut Settings)) -> Self {
        change(&mut self.settings);
        self
    }

    /// Runs on a clock the test moves (starting now: user JWTs are checked against the
    /// system time), reachable as [`TestApp::clock`].
    #[must_use]
    pub fn manual_clock(mut self) -> Self {
        self.clock = Some(ManualClock::new(SystemClock.now_ms()));
        self
    }

    /// Configures no provider at all (only `echo` assistants answer).
    #[must_use]
    pub fn without_providers(mut self) -> Self {
        self.providers = false;
        self
    }

    pub async fn start(self) -> TestApp {
        let openai = MockUpstream::openai(Behavior::Reply(vec!["Hello".into(), "!".into()])).await;
        let anthropic = MockUpstream::anthropic(Behavior::Reply(vec!["Hi".into()])).await;
        let providers = if self.providers {
            mock_providers(Some(&openai), Some(&anthropic))
        } else {
            ProviderSettings::default()
        };
        let dir = tempdir();
        let clock: Arc<dyn Clock> = match &self.clock {
            Some(manual) => Arc::new(manual.clone()),
            None => Arc::new(SystemClock),
        };
        let state = state_on(dir.path(), providers, self.settings, clock);
        TestApp {
            state,
            openai,
            anthropic,
            clock: self.clock,
            router: self.router,
            dir,
        }
    }
}

impl TestApp {
    /// `router`'s family with default settings and both mock upstreams.
    pub async fn new(router: fn(AppState) -> Router) -> Self {
        Self::build(router).start().await
    }

    /// `router`'s family with the test settings changed by `tune` (caps, history...).
    pub async fn tuned(router: fn(AppState) -> Router, tune: impl FnOnce(&mut Settings)) -> Self {
        Self::build(router).settings(tune).start().await
    }

    pub fn build(router: fn(AppState) -> Router) -> TestAppBuilder {
        TestAppBuilder {
            router,
            settings: test_settings(),
            providers: true,
            clock: None,
        }
    }

    /// The family's router over this app's state.
    pub fn router(&self) -> Router {
        (self.router)(self.state.clone())
    }

    /// A user JWT for `sub`.
    pub fn jwt(&self, sub: &str) -> String {
        jwt(&self.state, sub)
    }

    /// Stores an assistant of `owner` named "bot" with `configurable`.
    pub async fn assistant(&self, owner: &str, configurable: Value) -> Assistant {
        let patch = AssistantPatch {
            name: Some("bot".into()),
            configurable: configurable.as_object().cloned().unwrap_or_default(),
        };
        let owner = UserId::parse(owner).expect("owner id");
        let a = Assistant::create(owner, &patch, self.state.clock.now_ms()).expect("assistant");
        self.state
            .store
            .create_assistant(&a)
            .await
            .expect("store assistant");
        a
    }

    /// A browser's CORS preflight for a `POST` to `path` sending `headers`.
    pub async fn preflight(&self, path: &str, headers: &str) -> TestResponse {
        self.request(Method::OPTIONS, path)
            .header("origin", "https://app.example.com")
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", headers)
            .send()
            .await
    }

    pub fn request(&self, method: Method, path: &str) -> TestRequest<'_> {
        TestRequest {
            app: self,
            builder: http::Request::builder().method(method).uri(path),
            body: Body::empty(),
            router: None,
        }
    }

    pub fn get(&self, path: &str) -> TestRequest<'_> {
        self.request(Method::GET, path)
    }

    pub fn post(&self, path: &str) -> TestRequest<'_> {
        self.request(Method::POST, path)
    }

    pub fn patch(&self, path: &str) -> TestRequest<'_> {
        self.request(Method::PATCH, path)
    }

    pub fn delete(&self, path: &str) -> TestRequest<'_> {
        self.request(Method::DELETE, path)
    }

    /// Every email sent so far (the local outbox of this app's data folder), oldest first.
    pub fn outbox(&self) -> Vec<crate::mail::Email> {
        let Ok(entries) = std::fs::read_dir(self.dir.path().join("outbox")) else {
            return Vec::new();
        };
        let mut files: Vec<_> = entries.filter_map(Result::ok).map(|e| e.path()).collect();
        files.sort();
        files
            .iter()
            .map(|f| {
                let bytes = std::fs::read(f).expect("read outbox file");
                serde_json::from_slice(&bytes).expect("outbox file is an email")
            })
            .collect()
    }

    /// The stored messages of a thread (up to 1,000), oldest first.
    pub async fn messages(
        &self,
        key: &crate::domain::thread::ThreadKey,
    ) -> Vec<crate::domain::thread::StoredMessage> {
        self.state
            .store
            .recent_messages(key, 1000)
            .await
            .expect("read thread")
    }

    /// Sends every sample event of `function` (in `events/<function>/`; there must be
    /// `expected` of them) through the router as Lambda would deliver it, after storing
    /// what the events refer to, and checks each response with `check`.
    pub async fn replay(&self, function: &str, expected: usize, check: fn(&str, &TestResponse)) {
        super::samples::prepare_samples(&self.state, function).await;
        let events = super::samples::sample_events(&self.state, function);
        assert_eq!(events.len(), expected, "events/{function}");
        for (name, req) in events {
            check(&name, &self.send(req).await);
        }
    }

    /// Sends a ready-made request (a sample event, say) through the router.
    pub async fn send(&self, req: http::Request<Body>) -> TestResponse {
        let resp = self.router().oneshot(req).await.expect("router answers");
        TestResponse::read(resp).await
    }
}

/// A request being built for a [`TestApp`].
pub struct TestRequest<'a> {
    app: &'a TestApp,
    builder: http::request::Builder,
    body: Body,
    router: Option<fn(AppState) -> Router>,
}

impl TestRequest<'_> {
    #[must_use]
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.builder = self.builder.header(name, value);
        self
    }

    #[must_use]
    pub fn bearer(self, token: &str) -> Self {
        self.header("authorization", &format!("Bearer {token}"))
    }

    /// A bearer JWT for the user `sub`.
    #[must_use]
    pub fn user(self, sub: &str) -> Self {
        let jwt = self.app.jwt(sub);
        self.bearer(&jwt)
    }

    /// The request as if it came from `ip` (the address Lambda or the local server sees).
    #[must_use]
    pub fn from_ip(mut self, ip: [u8; 4]) -> Self {
        let addr = std::net::SocketAddr::from((ip, 4000));
        self.builder = self.builder.extension(axum::extract::ConnectInfo(addr));
        self
    }

    /// Sends through another family's router over the same state (a run before a usage
    /// read, say).
    #[must_use]
    pub fn via(mut self, router: fn(AppState) -> Router) -> Self {
        self.router = Some(router);
        self
    }

    /// A JSON body (with its content type).
    #[must_use]
    pub fn json(self, body: &Value) -> Self {
        self.header("content-type", "application/json")
            .body(body.to_string())
    }

    /// A raw body.
    #[must_use]
    pub fn body(mut self, body: impl Into<Body>) -> Self {
        self.body = body.into();
        self
    }

    pub async fn send(self) -> TestResponse {
        let req = self.builder.body(self.body).expect("valid request");
        match self.router {
            Some(router) => {
                let resp = router(self.app.state.clone())
                    .oneshot(req)
                    .await
                    .expect("router answers");
                TestResponse::read(resp).await
            }
            None => self.app.send(req).await,
        }
    }
}

/// A response read whole.
#[derive(Debug, Clone)]
pub struct TestResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub text: String,
}

/// One server-sent event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    pub event: Option<String>,
    pub data: String,
}

impl SseEvent {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.data)
            .unwrap_or_else(|e| panic!("event data is not JSON ({e}): {}", self.data))
    }
}

impl TestResponse {
    pub async fn read(resp: http::Response<Body>) -> Self {
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = resp.into_body().collect().await.expect("body").to_bytes();
        Self {
            status,
            headers,
            text: String::from_utf8(bytes.to_vec()).expect("UTF-8 body"),
        }
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {}", self.text))
    }

    /// The `detail` of a `{"detail": ...}` error.
    pub fn detail(&self) -> String {
        self.json()["detail"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// The `error.code` of a `{"error": {"code", ...}}` error.
    pub fn code(&self) -> String {
        self.json()["error"]["code"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// Asserts an error answer: its status and its `error.code`.
    #[track_caller]
    pub fn assert_error(&self, status: u16, code: &str) {
        assert_eq!(
            (self.status.as_u16(), self.code().as_str()),
            (status, code),
            "{}",
            self.text
        );
    }

    /// The JSON chunks of a Vercel AI SDK UI message stream, checking that it ends with
    /// `data: [DONE]`.
    pub fn ui_chunks(&self) -> Vec<Value> {
        let events = self.sse();
        let (done, chunks) = events.split_last().expect("a non-empty stream");
        assert_eq!(done.data, "[DONE]", "{}", self.text);
        chunks.iter().map(SseEvent::json).collect()
    }

    /// A header as text ("" when absent).
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }

    /// The events of an SSE body, comments dropped.
    pub fn sse(&self) -> Vec<SseEvent> {
        parse_sse(&self.text)
    }
}

/// The `type` of each UI message stream chunk.
pub fn chunk_types(chunks: &[Value]) -> Vec<&str> {
    chunks
        .iter()
        .map(|c| c["type"].as_str().unwrap_or_default())
        .collect()
}

/// Sends `req` through `router` and reads the whole response as status, headers, text.
pub async fn call(router: Router, req: http::Request<Body>) -> (StatusCode, HeaderMap, String) {
    let resp = TestResponse::read(router.oneshot(req).await.expect("router answers")).await;
    (resp.status, resp.headers, resp.text)
}

/// The events of an SSE text, comments dropped.
pub fn parse_sse(text: &str) -> Vec<SseEvent> {
    text.split("\n\n")
        .filter_map(|frame| {
            let mut event = None;
            let mut data: Vec<&str> = Vec::new();
            for line in frame.lines() {
                if let Some(name) = line.strip_prefix("event: ") {
                    event = Some(name.to_owned());
                } else if let Some(d) = line.strip_prefix("data: ") {
                    data.push(d);
                }
            }
            (event.is_some() || !data.is_empty()).then(|| SseEvent {
                event,
                data: data.join("\n"),
            })
        })
        .collect()
}
