//! Test support for the families (feature `testing`): a mock LLM upstream that speaks the
//! providers' real streaming wire formats, and a ready-made state on a temporary store.

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

use crate::auth::JwtKeys;
use crate::clock::{Clock, SystemClock};
use crate::domain::ids::UserId;
use crate::provider::{ProviderSettings, Providers};
use crate::secret::SecretString;
use crate::state::{AppState, Settings};
use crate::store::SqliteStore;

/// The signing secret of test states.
pub const TEST_JWT_SECRET: &str = "test-secret-test-secret-test-secret-0123";

/// What the mock upstream does with each request.
#[derive(Debug, Clone)]
pub enum Behavior {
    /// Streams these pieces, then finishes normally.
    Reply(Vec<String>),
    /// Answers with this HTTP status and an error body in the provider's shape.
    Fail(u16, String),
    /// Streams these pieces, then an in-stream error event.
    BreakAfter(Vec<String>),
}

/// One request the mock received.
#[derive(Debug, Clone)]
pub struct Seen {
    pub body: Value,
    pub authorization: Option<String>,
    pub api_key: Option<String>,
}

#[derive(Clone)]
struct MockState {
    behavior: Arc<Mutex<Behavior>>,
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
        Self::spawn("/v1/chat/completions", behavior, openai_handler).await
    }

    /// An Anthropic Messages server; its base URL is [`Self::base_url`].
    pub async fn anthropic(behavior: Behavior) -> Self {
        Self::spawn("/v1/messages", behavior, anthropic_handler).await
    }

    async fn spawn<H, T>(path: &str, behavior: Behavior, handler: H) -> Self
    where
        H: axum::handler::Handler<T, MockState> + Clone + Send + Sync + 'static,
        T: 'static,
    {
        let state = MockState {
            behavior: Arc::new(Mutex::new(behavior)),
            seen: Arc::default(),
            delay: Arc::new(Mutex::new(Duration::from_millis(5))),
            cut: Arc::default(),
        };
        let app = Router::new()
            .route(path, post(handler))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind mock upstream");
        let addr = listener.local_addr().expect("mock address");
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
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

fn sse(frames: Vec<String>, state: &MockState) -> Response {
    let delay = state.delay.lock().map(|d| *d).unwrap_or_default();
    let watch = CutWatch {
        finished: Arc::default(),
        cut: state.cut.clone(),
    };
    let finished = watch.finished.clone();
    let stream = futures::stream::iter(frames)
        .then(move |f| async move {
            tokio::time::sleep(delay).await;
            Ok::<_, std::convert::Infallible>(Bytes::from(f))
        })
        .chain(futures::stream::once(async move {
            finished.store(true, std::sync::atomic::Ordering::SeqCst);
            Ok(Bytes::new())
        }))
        .map(move |frame| {
            let _ = &watch;
            frame
        });
    Response::builder()
        .header("content-type", "text/event-stream")
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

async fn openai_handler(
    State(state): State<MockState>,
    headers: http::HeaderMap,
    body: Bytes,
) -> Response {
    let behavior = record(&state, &headers, &body);
    let chunk = |delta: Value, finish: Value| {
        format!(
            "data: {}\n\n",
            json!({"id": "chatcmpl-mock", "object": "chat.completion.chunk", "created": 1,
                   "model": "mock", "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
        )
    };
    let pieces = match &behavior {
        Behavior::Fail(status, msg) => {
            return error_response(
                *status,
                json!({"error": {"message": msg, "type": "invalid_request_error", "param": null, "code": null}}),
            );
        }
        Behavior::Reply(p) | Behavior::BreakAfter(p) => p.clone(),
    };
    let mut frames = vec![chunk(
        json!({"role": "assistant", "content": ""}),
        Value::Null,
    )];
    frames.extend(
        pieces
            .iter()
            .map(|p| chunk(json!({"content": p}), Value::Null)),
    );
    if matches!(behavior, Behavior::BreakAfter(_)) {
        frames.push(format!(
            "data: {}\n\n",
            json!({"error": {"message": "mock upstream broke", "type": "server_error"}})
        ));
    } else {
        frames.push(chunk(json!({}), json!("stop")));
        frames.push(format!(
            "data: {}\n\n",
            json!({"id": "chatcmpl-mock", "object": "chat.completion.chunk", "created": 1, "model": "mock",
                   "choices": [], "usage": {"prompt_tokens": 11, "completion_tokens": pieces.len(), "total_tokens": 11 + pieces.len()}})
        ));
        frames.push("data: [DONE]\n\n".to_owned());
    }
    sse(frames, &state)
}

async fn anthropic_handler(
    State(state): State<MockState>,
    headers: http::HeaderMap,
    body: Bytes,
) -> Response {
    let behavior = record(&state, &headers, &body);
    let ev = |name: &str, data: Value| format!("event: {name}\ndata: {data}\n\n");
    let pieces = match &behavior {
        Behavior::Fail(status, msg) => {
            return error_response(
                *status,
                json!({"type": "error", "error": {"type": "invalid_request_error", "message": msg}}),
            );
        }
        Behavior::Reply(p) | Behavior::BreakAfter(p) => p.clone(),
    };
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
        ev("ping", json!({"type": "ping"})),
    ];
    frames.extend(pieces.iter().map(|p| {
        ev("content_block_delta", json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": p}}))
    }));
    if matches!(behavior, Behavior::BreakAfter(_)) {
        frames.push(ev("error", json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})));
    } else {
        frames.push(ev(
            "content_block_stop",
            json!({"type": "content_block_stop", "index": 0}),
        ));
        frames.push(ev(
            "message_delta",
            json!({"type": "message_delta", "delta": {"stop_reason": "end_turn",
            "stop_sequence": null}, "usage": {"output_tokens": pieces.len()}}),
        ));
        frames.push(ev("message_stop", json!({"type": "message_stop"})));
    }
    sse(frames, &state)
}

/// A state on a fresh embedded store in `dir`, with the given providers, no echo delay,
/// and one `messages/partial` per token (snapshot coalescing has its own tests).
pub fn state(dir: &std::path::Path, mut providers: ProviderSettings) -> AppState {
    providers.echo_delay = Duration::ZERO;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let store = SqliteStore::open(dir, clock.clone()).expect("open test store");
    AppState::new(
        Arc::new(store),
        Providers::new(&providers).expect("providers"),
        JwtKeys::new(&SecretString::new(TEST_JWT_SECRET)).expect("jwt keys"),
        clock,
        Settings {
            pacing: crate::run::Pacing {
                snapshot_interval: Duration::ZERO,
                ..Default::default()
            },
            ..Settings::default()
        },
    )
}

/// Provider settings pointing both providers at mock upstreams.
pub fn mock_providers(
    openai: Option<&MockUpstream>,
    anthropic: Option<&MockUpstream>,
) -> ProviderSettings {
    ProviderSettings {
        openai_base_url: openai.map(MockUpstream::openai_base_url),
        openai_api_key: openai.map(|_| SecretString::new("sk-test-openai")),
        anthropic_base_url: anthropic.map(MockUpstream::base_url),
        anthropic_api_key: anthropic.map(|_| SecretString::new("sk-ant-test")),
        echo_delay: Duration::ZERO,
    }
}

/// A user JWT the test state accepts.
pub fn jwt(state: &AppState, sub: &str) -> String {
    let user = UserId::parse(sub).expect("user id");
    state
        .jwt
        .issue(&user, state.clock.now_secs(), 3600)
        .expect("issue jwt")
}

/// A temporary data folder, removed on drop.
pub fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().expect("temp dir")
}

/// The assistant id the sample events in `events/` name.
pub const SAMPLE_ASSISTANT_ID: &str = "3f1c9a52-7b4e-4d2a-9c1e-5a8b6d0e2f47";
/// The public token the sample events present.
pub const SAMPLE_TOKEN: &str = "pubkey_mybot_abc123";
/// The owner of the sample assistant, whose JWT replaces `{{USER_JWT}}`.
pub const SAMPLE_OWNER: &str = "alice";

/// Stores the assistant the sample events refer to (public_token, echo model, memory on).
pub async fn seed_sample_assistant(state: &AppState) {
    use crate::domain::assistant::{Assistant, AssistantPatch};
    let patch = AssistantPatch {
        name: Some("sample".into()),
        configurable: json!({
            "type==agent/access_mode": "public_token",
            "type==agent/public_token": SAMPLE_TOKEN,
            "type==agent/memory": true,
        })
        .as_object()
        .cloned()
        .unwrap_or_default(),
    };
    let owner = UserId::parse(SAMPLE_OWNER).expect("owner");
    let mut a = Assistant::create(owner, &patch, state.clock.now_ms()).expect("sample assistant");
    a.id = crate::domain::ids::AssistantId::parse(SAMPLE_ASSISTANT_ID).expect("sample id");
    state
        .store
        .create_assistant(&a)
        .await
        .expect("store sample assistant");
}

/// The end user the OpenAI sample events name.
pub const SAMPLE_END_USER: &str = "typebot-session-42";

/// Gives the sample assistant a saved memory of [`SAMPLE_END_USER`], as the memory routes
/// of the owner API read and erase it.
pub async fn seed_sample_memory(state: &AppState) {
    let id = crate::domain::ids::AssistantId::parse(SAMPLE_ASSISTANT_ID).expect("sample id");
    let key = crate::domain::memory::MemoryKey::end_user(&id, SAMPLE_END_USER);
    let read = state.store.add_pending(&key, 5).await.expect("count");
    state
        .store
        .save_summary(
            &key,
            &read,
            "Uses Typebot to book demos; prefers short answers.",
        )
        .await
        .expect("save the sample memory");
}

/// Opens the sample assistant to everyone (`public_no_auth`), as the widget events need.
pub async fn open_sample_assistant(state: &AppState) {
    use crate::domain::assistant::AssistantPatch;
    let id = crate::domain::ids::AssistantId::parse(SAMPLE_ASSISTANT_ID).expect("sample id");
    let current = state
        .store
        .get_assistant(&id)
        .await
        .expect("read sample assistant")
        .expect("sample assistant stored");
    let patch = AssistantPatch {
        name: None,
        configurable: json!({"type==agent/access_mode": "public_no_auth"})
            .as_object()
            .cloned()
            .unwrap_or_default(),
    };
    let open = current
        .patched(&patch, state.clock.now_ms())
        .expect("valid patch");
    state
        .store
        .update_assistant(&current, &open)
        .await
        .expect("store the patch");
}

/// The owner thread whose new messages `events/memory/owner-turn.json` carries.
pub fn sample_memory_thread() -> crate::domain::thread::ThreadKey {
    use crate::domain::ids::{AssistantId, ThreadId};
    use crate::domain::memory::MemoryKey;
    let id = AssistantId::parse(SAMPLE_ASSISTANT_ID).expect("sample id");
    let owner = UserId::parse(SAMPLE_OWNER).expect("owner");
    crate::domain::thread::ThreadKey::owner(
        &id,
        &owner,
        &ThreadId::parse("owner-session").expect("thread id"),
    )
    .with_memory(Some(MemoryKey::owner(&id, &owner)))
}

/// What the store holds when the stream delivers `events/memory/owner-turn.json`: the
/// thread's earlier turn and the turn in the event, with three earlier messages of the
/// user already counted, so the event's two messages make a summary due.
pub async fn seed_sample_conversation(state: &AppState) -> crate::domain::thread::ThreadKey {
    use crate::domain::ids::RunId;
    use crate::domain::message::{Message, Role};
    use crate::domain::thread::StoredMessage;
    let thread = sample_memory_thread();
    let messages: Vec<StoredMessage> = [
        (Role::Human, "Hi"),
        (Role::Ai, "Hello! How can I help?"),
        (
            Role::Human,
            "I'm planning a trip to Lisbon in May and I don't eat meat.",
        ),
        (
            Role::Ai,
            "Lisbon in May is lovely. I'll keep vegetarian places in mind for you.",
        ),
    ]
    .into_iter()
    .map(|(role, text)| StoredMessage {
        message: Message::new(role, text),
        run_id: RunId::mint(),
        created_at: state.clock.now_ms(),
    })
    .collect();
    state
        .store
        .append_messages(&thread, &messages, 3600)
        .await
        .expect("store the sample conversation");
    if let Some(key) = thread.memory() {
        state
            .store
            .add_pending(key, 3)
            .await
            .expect("count earlier messages");
    }
    thread
}

/// Every sample event file of one function, as `(file name, JSON)`, with `{{USER_JWT}}`
/// replaced by `jwt`.
pub fn sample_event_files(function: &str, jwt: &str) -> Vec<(String, String)> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../events")
        .join(function);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|path| {
            let raw = std::fs::read_to_string(&path).expect("read event");
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            (name, raw.replace("{{USER_JWT}}", jwt))
        })
        .collect()
}

/// Every sample event of one function, as `(file name, request)`, parsed the way the
/// Lambda runtime parses them (`lambda_http::request::from_str`).
pub fn sample_events(state: &AppState, function: &str) -> Vec<(String, http::Request<Body>)> {
    sample_event_files(function, &jwt(state, SAMPLE_OWNER))
        .into_iter()
        .map(|(name, raw)| {
            let req = lambda_http::request::from_str(&raw)
                .unwrap_or_else(|e| panic!("{name} is not a valid Lambda event: {e}"));
            let (parts, body) = req.into_parts();
            (
                name,
                http::Request::from_parts(parts, Body::from(body.to_vec())),
            )
        })
        .collect()
}

/// A deployment-like backend for running a function's real binary: a fresh table in
/// DynamoDB Local, the deployment secret in a local Secrets Manager, and the sample
/// assistant stored. Needs `AWS_ENDPOINT_URL_DYNAMODB` and
/// `AWS_ENDPOINT_URL_SECRETS_MANAGER` (set by `scripts/test.sh`).
pub struct Deployment {
    /// Environment for the function process, as the template would set it.
    pub env: Vec<(String, String)>,
    /// A state on the deployment's table, to prepare data and check results. Like the
    /// deployed functions, it leaves memories to the table's stream.
    pub state: AppState,
    pub table: String,
    /// A user JWT of the sample owner, signed with the deployment's secret.
    pub owner_jwt: String,
}

impl Deployment {
    pub async fn create() -> Self {
        for var in [
            "AWS_ENDPOINT_URL_DYNAMODB",
            "AWS_ENDPOINT_URL_SECRETS_MANAGER",
        ] {
            assert!(
                std::env::var(var).is_ok(),
                "{var} is not set: run scripts/test.sh"
            );
        }
        let config = aws_config::load_from_env().await;
        let ddb = aws_sdk_dynamodb::Client::new(&config);
        let table = format!("lambda-{}", uuid::Uuid::new_v4());
        crate::store::dynamo::schema::create_table(&ddb, &table)
            .await
            .expect("create table");
        let jwt_secret = crate::random::hex_string::<32>();
        let secret = aws_sdk_secretsmanager::Client::new(&config)
            .create_secret()
            .name(format!("agentgate-{}", uuid::Uuid::new_v4()))
            .secret_string(json!({"AGENTGATE_JWT_SECRET": jwt_secret, "OPENAI_API_KEY": "", "ANTHROPIC_API_KEY": ""}).to_string())
            .send()
            .await
            .expect("create secret");
        let arn = secret.arn().unwrap_or_default().to_owned();
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let state = AppState::new(
            Arc::new(crate::store::DynamoStore::new(
                ddb,
                table.clone(),
                clock.clone(),
            )),
            Providers::new(&ProviderSettings::default()).expect("providers"),
            JwtKeys::new(&SecretString::new(jwt_secret)).expect("jwt keys"),
            clock,
            Settings {
                memory_trigger: crate::memory::Trigger::Stream,
                ..Settings::default()
            },
        );
        seed_sample_assistant(&state).await;
        let mut env: Vec<(String, String)> = [
            ("AGENTGATE_STORE", "dynamodb".to_owned()),
            ("AGENTGATE_TABLE", table.clone()),
            ("AGENTGATE_SECRET_ARN", arn),
            ("AGENTGATE_ECHO_DELAY_MS", "0".to_owned()),
            ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256".to_owned()),
            ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".to_owned()),
            (
                "AWS_LAMBDA_LOG_GROUP_NAME",
                "/aws/lambda/agentgate".to_owned(),
            ),
            (
                "AWS_LAMBDA_LOG_STREAM_NAME",
                "2026/11/22/[$LATEST]0123".to_owned(),
            ),
            ("RUST_LOG", "info".to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        for var in [
            "AWS_ENDPOINT_URL_DYNAMODB",
            "AWS_ENDPOINT_URL_SECRETS_MANAGER",
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
            "AWS_REGION",
        ] {
            if let Ok(v) = std::env::var(var) {
                env.push((var.to_owned(), v));
            }
        }
        Self {
            env,
            owner_jwt: jwt(&state, SAMPLE_OWNER),
            state,
            table,
        }
    }

    /// Everything the table's stream holds so far, as the Lambda event that would deliver
    /// it (`{"Records": [...]}`), read from DynamoDB Local's Streams API. Its records are
    /// what Lambda's poller passes on; the template's filter would drop some before.
    pub async fn stream_event(&self) -> serde_json::Value {
        let endpoint = std::env::var("AWS_ENDPOINT_URL_DYNAMODB").expect("DynamoDB Local");
        let http = reqwest::Client::new();
        // DynamoDB Local checks that a request is signed, not the signature; it keeps the
        // tables of each access key and region apart, so those must be the SDK's.
        let credential = format!(
            "AWS4-HMAC-SHA256 Credential={}/20261122/{}/dynamodb/aws4_request, SignedHeaders=host, Signature=00",
            std::env::var("AWS_ACCESS_KEY_ID").unwrap_or_default(),
            std::env::var("AWS_REGION").unwrap_or_default(),
        );
        let call = |target: &'static str, body: serde_json::Value| {
            let req = http
                .post(&endpoint)
                .header("x-amz-target", target)
                .header("content-type", "application/x-amz-json-1.0")
                .header("authorization", credential.as_str())
                .body(body.to_string());
            async move {
                let resp = req.send().await.expect("DynamoDB Local answers");
                let status = resp.status();
                let v: serde_json::Value = resp.json().await.expect("JSON answer");
                assert!(status.is_success(), "{target}: {v}");
                v
            }
        };
        let table = call(
            "DynamoDB_20120810.DescribeTable",
            json!({"TableName": self.table}),
        )
        .await;
        let arn = table["Table"]["LatestStreamArn"]
            .as_str()
            .expect("the table has a stream")
            .to_owned();
        let stream = call(
            "DynamoDBStreams_20120810.DescribeStream",
            json!({"StreamArn": arn}),
        )
        .await;
        let mut records = Vec::new();
        for shard in stream["StreamDescription"]["Shards"]
            .as_array()
            .cloned()
            .unwrap_or_default()
        {
            let it = call(
                "DynamoDBStreams_20120810.GetShardIterator",
                json!({"StreamArn": arn, "ShardId": shard["ShardId"], "ShardIteratorType": "TRIM_HORIZON"}),
            )
            .await;
            let mut iterator = it["ShardIterator"].clone();
            for _ in 0..20 {
                if iterator.is_null() {
                    break;
                }
                let page = call(
                    "DynamoDBStreams_20120810.GetRecords",
                    json!({"ShardIterator": iterator}),
                )
                .await;
                let got = page["Records"].as_array().cloned().unwrap_or_default();
                if got.is_empty() {
                    break;
                }
                records.extend(got.into_iter().map(|mut r| {
                    r["eventSourceARN"] = json!(arn);
                    r
                }));
                iterator = page["NextShardIterator"].clone();
            }
        }
        json!({ "Records": records })
    }

    /// Runs `binary` (a function's Lambda executable) against a local Runtime API serving
    /// `function`'s sample events, and returns each event's name with the reply to it.
    pub async fn invoke_samples(
        &self,
        binary: &str,
        function: &str,
    ) -> Vec<(String, runtime::Reply)> {
        let files = sample_event_files(function, &self.owner_jwt);
        let events: Vec<(String, String)> = files
            .iter()
            .enumerate()
            .map(|(i, (_, raw))| (format!("req-{i}"), raw.clone()))
            .collect();
        let rt = runtime::FakeRuntime::start(events).await;
        let mut child = self.spawn(binary, function, &rt);
        let replies = rt.wait_for(files.len(), 60).await;
        let _ = child.kill().await;
        assert!(
            rt.init_error().is_none(),
            "cold start failed: {:?}",
            rt.init_error()
        );
        files
            .into_iter()
            .enumerate()
            .map(|(i, (name, _))| {
                let id = format!("req-{i}");
                let reply = replies
                    .iter()
                    .find(|r| r.request_id == id)
                    .cloned()
                    .unwrap_or_else(|| panic!("no reply to {name}"));
                (name, reply)
            })
            .collect()
    }

    /// Starts `binary` with this deployment's environment less `drop_var`, and returns
    /// what it posted to `/runtime/init/error`.
    pub async fn cold_start_error(&self, binary: &str, drop_var: &str) -> Option<String> {
        let rt = runtime::FakeRuntime::start(Vec::new()).await;
        let mut cmd = tokio::process::Command::new(binary);
        cmd.envs(self.env.iter().filter(|(k, _)| k != drop_var).cloned())
            .env_remove(drop_var)
            .env("AWS_LAMBDA_RUNTIME_API", rt.addr.to_string())
            .env("AWS_LAMBDA_FUNCTION_NAME", "agentgate-test")
            .kill_on_drop(true);
        let mut child = cmd.spawn().expect("spawn function");
        let _ = tokio::time::timeout(std::time::Duration::from_secs(30), child.wait()).await;
        let _ = child.kill().await;
        rt.init_error()
    }

    fn spawn(
        &self,
        binary: &str,
        function: &str,
        rt: &runtime::FakeRuntime,
    ) -> tokio::process::Child {
        tokio::process::Command::new(binary)
            .envs(self.env.iter().cloned())
            .env("AWS_LAMBDA_RUNTIME_API", rt.addr.to_string())
            .env("AWS_LAMBDA_FUNCTION_NAME", format!("agentgate-{function}"))
            .kill_on_drop(true)
            .spawn()
            .expect("spawn function")
    }
}

pub mod runtime;
