//! Test support for the families (feature `testing`), one module per purpose:
//!
//! - [`upstream`]: a mock LLM upstream speaking the providers' real streaming formats;
//! - [`app`]: [`TestApp`], a family's router booted on a temporary store with a mock
//!   upstream in one call, and the request helpers its tests read as scenarios with;
//! - [`samples`]: the sample events in `events/` and the data they refer to;
//! - [`fuzz`]: seeded generators for property tests of the parsers of untrusted input;
//! - [`deployment`] and [`runtime`]: a function's real binary under a local Lambda
//!   Runtime API, on DynamoDB Local and a local Secrets Manager.

use std::sync::Arc;
use std::time::Duration;

use crate::auth::JwtKeys;
use crate::clock::{Clock, SystemClock};
use crate::config::{Pacing, Settings};
use crate::domain::ids::UserId;
use crate::provider::{ProviderSettings, Providers};
use crate::secret::SecretString;
use crate::state::AppState;
use crate::store::SqliteStore;

pub mod app;
pub mod bedrock;
pub mod deployment;
pub mod fuzz;
pub mod recorder;
pub mod runtime;
pub mod samples;
pub mod upstream;

pub use app::{TestApp, TestRequest, TestResponse, chunk_types};
pub use deployment::Deployment;
pub use samples::*;
pub use upstream::{Behavior, MockUpstream, Seen, ToolReply};

/// Declares the tests that run a function's real binary (named like the function) under
/// a local Runtime API, on DynamoDB Local and a local Secrets Manager: it answers each of
/// its sample events as `check` expects (as the router tests do), and a cold start without
/// `AGENTGATE_TABLE` fails naming it.
#[macro_export]
macro_rules! binary_answers_sample_events {
    ($function:literal, events = $expected:expr, streamed = $streamed:expr, check = $check:path) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn the_binary_answers_every_sample_event() {
            let binary = env!(concat!("CARGO_BIN_EXE_", $function));
            $crate::testing::Deployment::create()
                .await
                .check_samples(binary, $function, $expected, $streamed, $check)
                .await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn a_missing_setting_fails_the_cold_start_clearly() {
            let binary = env!(concat!("CARGO_BIN_EXE_", $function));
            $crate::testing::Deployment::create()
                .await
                .assert_cold_start_names(binary, "AGENTGATE_TABLE")
                .await;
        }
    };
}

/// Declares the test that sends each of a function's sample events, as Lambda delivers
/// it, through the family's router (on a [`TestApp`]) and checks the response with `check`.
#[macro_export]
macro_rules! router_answers_sample_events {
    ($router:path, $function:literal, events = $expected:expr, check = $check:path) => {
        #[tokio::test]
        async fn every_sample_event_is_handled() {
            let app = $crate::testing::TestApp::new($router).await;
            app.replay($function, $expected, $check).await;
        }
    };
}

/// The signing secret of test states.
pub const TEST_JWT_SECRET: &str = "test-secret-test-secret-test-secret-0123";

/// Test settings: the product defaults, but one `messages/partial` per token (snapshot
/// coalescing has its own tests).
pub fn test_settings() -> Settings {
    Settings {
        pacing: Pacing {
            snapshot_interval: Duration::ZERO,
            ..Default::default()
        },
        ..Settings::default()
    }
}

/// A state on a fresh embedded store in `dir`, with the given providers, no echo delay,
/// and [`test_settings`].
pub fn state(dir: &std::path::Path, providers: ProviderSettings) -> AppState {
    state_with(dir, providers, test_settings())
}

/// Like [`state`], with the test settings changed by `tune` (caps, history limit...).
pub fn state_tuned(
    dir: &std::path::Path,
    providers: ProviderSettings,
    tune: impl FnOnce(&mut Settings),
) -> AppState {
    let mut settings = test_settings();
    tune(&mut settings);
    state_with(dir, providers, settings)
}

/// Like [`state`], with `settings`.
pub fn state_with(
    dir: &std::path::Path,
    providers: ProviderSettings,
    settings: Settings,
) -> AppState {
    state_on(dir, providers, settings, Arc::new(SystemClock))
}

/// Like [`state_with`], on `clock` (a [`crate::clock::ManualClock`] to move time).
pub fn state_on(
    dir: &std::path::Path,
    mut providers: ProviderSettings,
    settings: Settings,
    clock: Arc<dyn Clock>,
) -> AppState {
    providers.echo_delay = Duration::ZERO;
    let providers = Providers::new(&providers).expect("providers");
    state_serving(dir, providers, settings, clock)
}

/// A state on the embedded store in `dir` with these providers (Amazon Bedrock's, say).
pub fn state_serving(
    dir: &std::path::Path,
    providers: Providers,
    settings: Settings,
    clock: Arc<dyn Clock>,
) -> AppState {
    let store = SqliteStore::open(dir, clock.clone()).expect("open test store");
    AppState::new(
        Arc::new(store),
        providers,
        JwtKeys::new(&SecretString::new(TEST_JWT_SECRET)).expect("jwt keys"),
        clock,
        settings,
    )
    .with_mail(
        Arc::new(crate::mail::OutboxMailer::new(dir.join("outbox"))),
        crate::domain::link::CodeKey::derive(TEST_JWT_SECRET.as_bytes()),
    )
}

/// A state on a fresh table of DynamoDB Local (`AWS_ENDPOINT_URL_DYNAMODB`, set by
/// `scripts/test.sh`), with the table's client and name for reading it back.
pub async fn dynamo_state(
    providers: ProviderSettings,
    settings: Settings,
) -> (AppState, aws_sdk_dynamodb::Client, String) {
    dynamo_state_at(providers, settings, None).await
}

/// Like [`dynamo_state`], with the state's calls going through `recorder`.
pub async fn dynamo_state_recorded(
    providers: ProviderSettings,
    settings: Settings,
) -> (AppState, recorder::DynamoRecorder) {
    let target = std::env::var("AWS_ENDPOINT_URL_DYNAMODB")
        .expect("needs DynamoDB Local: run scripts/test.sh");
    let recorder = recorder::DynamoRecorder::start(&target).await;
    let (state, _, _) = dynamo_state_at(providers, settings, Some(&recorder.url)).await;
    (state, recorder)
}

async fn dynamo_state_at(
    mut providers: ProviderSettings,
    settings: Settings,
    endpoint: Option<&str>,
) -> (AppState, aws_sdk_dynamodb::Client, String) {
    providers.echo_delay = Duration::ZERO;
    assert!(
        std::env::var("AWS_ENDPOINT_URL_DYNAMODB").is_ok(),
        "needs DynamoDB Local: run scripts/test.sh"
    );
    let config = aws_config::load_from_env().await;
    let (client, table) = fresh_table(&config).await;
    let store_client = match endpoint {
        Some(url) => aws_sdk_dynamodb::Client::from_conf(
            aws_sdk_dynamodb::config::Builder::from(&config)
                .endpoint_url(url)
                .build(),
        ),
        None => client.clone(),
    };
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let store = crate::store::DynamoStore::new(store_client, table.clone(), clock.clone());
    let state = AppState::new(
        Arc::new(store),
        Providers::new(&providers).expect("providers"),
        JwtKeys::new(&SecretString::new(TEST_JWT_SECRET)).expect("jwt keys"),
        clock,
        settings,
    );
    (state, client, table)
}

/// A new table of the template's definition (named uniquely) and a client for it.
pub async fn fresh_table(config: &aws_config::SdkConfig) -> (aws_sdk_dynamodb::Client, String) {
    let client = aws_sdk_dynamodb::Client::new(config);
    let table = format!("test-{}", uuid::Uuid::new_v4());
    crate::store::dynamo::schema::create_table(&client, &table)
        .await
        .expect("create a DynamoDB Local table");
    (client, table)
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
        ..ProviderSettings::default()
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

/// Serves `app` on a free local port; the task stops when the handle is aborted.
pub async fn serve_local(app: axum::Router) -> (std::net::SocketAddr, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a local port");
    let addr = listener.local_addr().expect("local address");
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (addr, task)
}

/// Everything logged on this thread while the guard lives (the test's own runtime thread
/// under `#[tokio::test]`), as text.
#[derive(Clone, Default)]
pub struct CapturedLogs(Arc<std::sync::Mutex<Vec<u8>>>);

impl CapturedLogs {
    /// Starts capturing every event and span field, at every level.
    pub fn start() -> (Self, tracing::subscriber::DefaultGuard) {
        let logs = Self::default();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(logs.clone())
            .finish();
        (logs, tracing::subscriber::set_default(subscriber))
    }

    pub fn text(&self) -> String {
        let bytes = self.0.lock().map(|b| b.clone()).unwrap_or_default();
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

impl std::io::Write for CapturedLogs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut b) = self.0.lock() {
            b.extend_from_slice(buf);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for CapturedLogs {
    type Writer = Self;

    fn make_writer(&'a self) -> Self {
        self.clone()
    }
}

/// A temporary data folder, removed on drop.
pub fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().expect("temp dir")
}
