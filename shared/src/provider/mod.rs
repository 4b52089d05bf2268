//! LLM providers behind one streaming port.
//!
//! Each provider turns a [`ChatRequest`] into a stream of [`ProviderEvent`]s read
//! incrementally from the upstream's own wire format (or, for a reply the caller takes
//! whole, from one response where the provider offers that: the same events, together).
//! [`Providers`] is the closed set of providers a deployment has configured, built once
//! per cold start around one shared HTTP client, and picks the right one for an
//! assistant's [`ModelRef`].

pub mod anthropic;
pub mod bedrock;
pub mod echo;
pub mod openai;
pub mod sse;

use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures::Stream;

use crate::domain::assistant::ModelRef;
use crate::domain::message::Message;
pub use crate::domain::tool::{ToolCall, ToolSpec};
use crate::secret::SecretString;

/// Hard ceiling on `max_tokens`: also the backstop when a client disconnect goes unnoticed.
pub const MAX_TOKENS_CEILING: u32 = 4096;
pub const DEFAULT_MAX_TOKENS: u32 = 1024;

/// What to ask a model.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatRequest {
    /// The provider's own model name.
    pub model: String,
    /// The assistant's system prompt.
    pub system: Option<String>,
    /// The conversation, oldest first (system messages from callers included in place).
    pub messages: Vec<Message>,
    pub max_tokens: u32,
    pub temperature: Option<f32>,
    pub stop: Vec<String>,
    /// Tools the model may call instead of (or after) answering; empty for most turns.
    pub tools: Vec<ToolSpec>,
    /// The caller takes the reply whole (a non-streamed API): a provider that can answer
    /// in one response asks for one, and its events arrive together at the end. Reading
    /// one JSON reply costs the gateway a fraction of reading the same reply as a stream
    /// of chunks.
    pub whole: bool,
}

impl ChatRequest {
    /// Adds the sampling options that were set to a provider's request body; the
    /// providers name the stop sequences differently (`stop_key`).
    pub fn sampling_into(&self, body: &mut serde_json::Value, stop_key: &str) {
        if let Some(t) = self.temperature {
            body["temperature"] = serde_json::json!(t);
        }
        if !self.stop.is_empty() {
            body[stop_key] = serde_json::json!(self.stop);
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Usage {
    pub input_tokens: u32,
    pub output_tokens: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FinishReason {
    Stop,
    Length,
    ContentFilter,
}

impl FinishReason {
    pub fn as_openai(self) -> &'static str {
        match self {
            Self::Stop => "stop",
            Self::Length => "length",
            Self::ContentFilter => "content_filter",
        }
    }
}

/// One step of a streamed reply.
#[derive(Debug, Clone, PartialEq)]
pub enum ProviderEvent {
    Delta(String),
    Usage(Usage),
    Finish(FinishReason),
    /// A piece of the tool call at `index`: the first piece carries its id and name, later
    /// ones more of its arguments (providers stream the JSON text in fragments).
    ToolCallPart {
        index: u32,
        id: Option<String>,
        name: Option<String>,
        arguments: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProviderError {
    #[error("the {0} provider is not configured on this server")]
    NotConfigured(&'static str),
    #[error("the model provider answered {status}: {message}")]
    Upstream { status: u16, message: String },
    #[error("the model provider did not answer in time")]
    Timeout,
    #[error("the model provider could not be reached: {0}")]
    Transport(String),
    #[error("the model provider sent a stream that could not be read: {0}")]
    Protocol(String),
    /// The provider is throttling or briefly unavailable; retrying later may work.
    #[error("the model provider is busy: {0}")]
    Throttled(String),
    /// The deployment may not use the model (access not enabled, not permitted, or absent
    /// in this region); the message says what to change.
    #[error("the model is not available to this deployment: {0}")]
    ModelAccess(String),
}

/// A token count as a provider reported it, absurd values capped rather than wrapped.
pub fn saturating_u32(count: Option<u64>) -> u32 {
    count.map_or(0, |c| u32::try_from(c).unwrap_or(u32::MAX))
}

/// The most of an upstream error body read (the rest is dropped unread).
pub const MAX_ERROR_BODY_BYTES: usize = 16 * 1024;

impl ProviderError {
    /// What a public caller is told: the provider's own words stay in the logs (they can
    /// name keys, accounts or internal hosts), under a `reference` the caller can quote.
    pub fn public_message(&self, reference: &str) -> String {
        match self {
            Self::NotConfigured(_) | Self::Timeout => self.to_string(),
            Self::Throttled(_) => {
                format!("the model provider is busy; please retry shortly (reference {reference})")
            }
            Self::ModelAccess(_) => {
                format!("this assistant's model is not available right now (reference {reference})")
            }
            Self::Upstream { .. } | Self::Transport(_) | Self::Protocol(_) => {
                format!("the model provider could not complete this reply (reference {reference})")
            }
        }
    }

    /// Logs the error under a fresh reference and returns what a caller may be told.
    pub fn reported(&self, context: &'static str) -> String {
        let reference = crate::random::hex_string::<6>();
        tracing::warn!(reference, error = %self, context, "model provider failed");
        self.public_message(&reference)
    }

    fn from_reqwest(err: reqwest::Error) -> Self {
        if err.is_timeout() {
            Self::Timeout
        } else {
            // Without the URL: some providers take keys in query strings.
            Self::Transport(err.without_url().to_string())
        }
    }
}

pub type EventStream = Pin<Box<dyn Stream<Item = Result<ProviderEvent, ProviderError>> + Send>>;

/// A streaming chat model.
#[async_trait]
pub trait Provider: Send + Sync {
    /// Starts a reply. Errors before the first byte (bad key, unknown model) come back
    /// here; errors after it come through the stream.
    async fn stream(&self, request: ChatRequest) -> Result<EventStream, ProviderError>;
}

/// The read timeout of [`ProviderSettings::default`]: the default turn deadline (the
/// settings read from the environment use the configured one).
pub const DEFAULT_READ_TIMEOUT: Duration = Duration::from_secs(240);

/// Where each provider lives and how to authenticate to it.
#[derive(Debug, Clone)]
pub struct ProviderSettings {
    pub openai_base_url: Option<String>,
    pub openai_api_key: Option<SecretString>,
    pub anthropic_base_url: Option<String>,
    pub anthropic_api_key: Option<SecretString>,
    /// Pause between the echo model's words, to make streaming visible locally.
    pub echo_delay: Duration,
    /// The longest the HTTP providers wait for any one read: a reply taken whole sends
    /// nothing until the model is done, so this is the turn deadline.
    pub read_timeout: Duration,
}

impl Default for ProviderSettings {
    fn default() -> Self {
        Self {
            openai_base_url: None,
            openai_api_key: None,
            anthropic_base_url: None,
            anthropic_api_key: None,
            echo_delay: Duration::from_millis(30),
            read_timeout: DEFAULT_READ_TIMEOUT,
        }
    }
}

/// The providers this deployment can use.
#[derive(Clone)]
pub struct Providers {
    echo: Arc<echo::EchoProvider>,
    openai: Option<Arc<openai::OpenAiProvider>>,
    anthropic: Option<Arc<anthropic::AnthropicProvider>>,
    bedrock: Option<Arc<bedrock::BedrockProvider>>,
    /// The HTTP clients' read timeout, for the pools [`Providers::with_own_pool`] makes.
    read_timeout: Duration,
}

impl std::fmt::Debug for Providers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Providers")
            .field("openai", &self.openai.is_some())
            .field("anthropic", &self.anthropic.is_some())
            .field("bedrock", &self.bedrock.is_some())
            .finish()
    }
}

/// The HTTP client the OpenAI-compatible and Anthropic providers share.
fn http_client(read_timeout: Duration) -> Result<reqwest::Client, ProviderError> {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .read_timeout(read_timeout)
        .pool_idle_timeout(Duration::from_secs(60))
        // Small request bodies and the upstream's frames go out at once.
        .tcp_nodelay(true)
        .build()
        .map_err(|e| ProviderError::Transport(e.to_string()))
}

impl Providers {
    /// Builds every configured provider around one HTTP client. OpenAI-compatible servers
    /// such as Ollama need no key, so a base URL alone enables that provider.
    pub fn new(settings: &ProviderSettings) -> Result<Self, ProviderError> {
        let client = http_client(settings.read_timeout)?;
        let openai = (settings.openai_api_key.is_some() || settings.openai_base_url.is_some())
            .then(|| {
                let base = or_default(&settings.openai_base_url, openai::DEFAULT_BASE_URL);
                Arc::new(openai::OpenAiProvider::new(
                    client.clone(),
                    base,
                    settings.openai_api_key.clone(),
                ))
            });
        let anthropic = settings.anthropic_api_key.clone().map(|key| {
            let base = or_default(&settings.anthropic_base_url, anthropic::DEFAULT_BASE_URL);
            Arc::new(anthropic::AnthropicProvider::new(client.clone(), base, key))
        });
        Ok(Self {
            echo: Arc::new(echo::EchoProvider::new(settings.echo_delay)),
            openai,
            anthropic,
            bedrock: None,
            read_timeout: settings.read_timeout,
        })
    }

    /// These providers, the HTTP ones on a connection pool of their own: a serving thread's,
    /// whose requests then drive their upstream connections themselves instead of waking
    /// the thread that opened them. Amazon Bedrock's client and the echo provider are shared.
    pub fn with_own_pool(&self) -> Result<Self, ProviderError> {
        let client = http_client(self.read_timeout)?;
        Ok(Self {
            echo: self.echo.clone(),
            openai: self
                .openai
                .as_ref()
                .map(|p| Arc::new(p.on_client(client.clone()))),
            anthropic: self
                .anthropic
                .as_ref()
                .map(|p| Arc::new(p.on_client(client.clone()))),
            bedrock: self.bedrock.clone(),
            read_timeout: self.read_timeout,
        })
    }

    /// The region Amazon Bedrock is called in, when it is on.
    pub fn bedrock_region(&self) -> Option<String> {
        self.bedrock.as_ref().map(|b| b.region())
    }

    /// These providers and Amazon Bedrock.
    #[must_use]
    pub fn with_bedrock(mut self, bedrock: bedrock::BedrockProvider) -> Self {
        self.bedrock = Some(Arc::new(bedrock));
        self
    }

    /// The provider serving `model`, or `NotConfigured`.
    pub fn for_model(&self, model: &ModelRef) -> Result<Arc<dyn Provider>, ProviderError> {
        match model {
            ModelRef::Echo => Ok(self.echo.clone()),
            ModelRef::OpenAi(_) => self
                .openai
                .clone()
                .map(|p| p as Arc<dyn Provider>)
                .ok_or(ProviderError::NotConfigured("openai")),
            ModelRef::Anthropic(_) => self
                .anthropic
                .clone()
                .map(|p| p as Arc<dyn Provider>)
                .ok_or(ProviderError::NotConfigured("anthropic")),
            ModelRef::Bedrock(_) => self
                .bedrock
                .clone()
                .map(|p| p as Arc<dyn Provider>)
                .ok_or(ProviderError::NotConfigured("bedrock")),
        }
    }
}

/// A provider's endpoint, its URL parsed once when the provider is built rather than on
/// every call (parsing took about 1% of a turn's CPU). A URL that does not parse is kept
/// as written, so each call fails with the transport's message as it always did.
#[derive(Debug, Clone)]
struct Endpoint(Result<reqwest::Url, String>);

impl Endpoint {
    fn new(url: String) -> Self {
        Self(reqwest::Url::parse(&url).map_err(|_| url))
    }

    fn post(&self, client: &reqwest::Client) -> reqwest::RequestBuilder {
        match &self.0 {
            Ok(url) => client.post(url.clone()),
            Err(raw) => client.post(raw),
        }
    }
}

/// Maps one upstream SSE event to provider events; `None` marks the end of the reply.
type EventMapper = fn(&sse::SseEvent) -> Option<Result<Vec<ProviderEvent>, ProviderError>>;

/// Sends a streaming request: a refusal before the stream (non-2xx) becomes an
/// `Upstream` error with the provider's message; otherwise the response's events.
async fn send_streaming(
    request: reqwest::RequestBuilder,
    map: EventMapper,
) -> Result<EventStream, ProviderError> {
    Ok(event_stream(send_accepted(request).await?, map))
}

/// Sends `request`; a refusal (non-2xx) becomes an `Upstream` error with the provider's
/// message.
async fn send_accepted(
    request: reqwest::RequestBuilder,
) -> Result<reqwest::Response, ProviderError> {
    let resp = request.send().await.map_err(ProviderError::from_reqwest)?;
    if !resp.status().is_success() {
        return Err(upstream_error(resp).await);
    }
    Ok(resp)
}

/// Reads a whole (non-streamed) reply's body into provider events.
type WholeReader = fn(&[u8]) -> Result<Vec<ProviderEvent>, ProviderError>;

/// The most of a whole reply's body read: far above what [`MAX_TOKENS_CEILING`] tokens
/// of text and tool calls take, so only a misbehaving server reaches it.
pub const MAX_WHOLE_REPLY_BYTES: usize = 1024 * 1024;

/// Sends a request for a whole reply: a refusal (non-2xx) becomes an `Upstream` error as
/// for a stream; otherwise the body is read and its events come through the stream, so a
/// reply broken off mid-body fails the turn the way a broken stream does.
async fn send_whole(
    request: reqwest::RequestBuilder,
    read: WholeReader,
) -> Result<EventStream, ProviderError> {
    use futures::StreamExt;
    let resp = send_accepted(request).await?;
    let events = futures::stream::once(async move {
        one_by_one(whole_body(resp).await.and_then(|body| read(&body)))
    })
    .flatten();
    Ok(Box::pin(events))
}

/// A successful response's body, refused past [`MAX_WHOLE_REPLY_BYTES`].
async fn whole_body(mut resp: reqwest::Response) -> Result<Vec<u8>, ProviderError> {
    let expected = resp.content_length().unwrap_or(0);
    let mut body =
        Vec::with_capacity(usize::try_from(expected).map_or(0, |n| n.min(MAX_WHOLE_REPLY_BYTES)));
    while let Some(chunk) = resp.chunk().await.map_err(ProviderError::from_reqwest)? {
        if body.len() + chunk.len() > MAX_WHOLE_REPLY_BYTES {
            return Err(ProviderError::Protocol(format!(
                "the reply exceeded {MAX_WHOLE_REPLY_BYTES} bytes"
            )));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Turns a successful upstream SSE response into provider events, read incrementally and
/// ending at the provider's end-of-reply marker or at the first error.
fn event_stream(resp: reqwest::Response, map: EventMapper) -> EventStream {
    use futures::StreamExt;
    let bytes = resp
        .bytes_stream()
        .map(|r| r.map_err(ProviderError::from_reqwest));
    let events = sse::decode(Box::pin(bytes), || {
        ProviderError::Protocol("event too large".into())
    })
    .map(move |ev| match ev {
        Err(e) => Some(Err(e)),
        Ok(ev) => map(&ev),
    })
    .take_while(|item| futures::future::ready(item.is_some()))
    .flat_map(|item| one_by_one(item.unwrap_or(Ok(Vec::new()))));
    Box::pin(events)
}

/// The events read from one piece of upstream output, or its error, as stream items.
pub(crate) fn one_by_one(
    read: Result<Vec<ProviderEvent>, ProviderError>,
) -> futures::stream::Iter<std::vec::IntoIter<Result<ProviderEvent, ProviderError>>> {
    let items: Vec<Result<ProviderEvent, ProviderError>> = match read {
        Ok(list) => list.into_iter().map(Ok).collect(),
        Err(e) => vec![Err(e)],
    };
    futures::stream::iter(items)
}

/// Reads an upstream error body into a short message (the provider's `error.message` when
/// it has one), never echoing more than a bounded prefix.
async fn upstream_error(mut resp: reqwest::Response) -> ProviderError {
    let status = resp.status().as_u16();
    let mut body = Vec::new();
    while let Ok(Some(chunk)) = resp.chunk().await {
        let room = MAX_ERROR_BODY_BYTES - body.len();
        body.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if body.len() >= MAX_ERROR_BODY_BYTES {
            break;
        }
    }
    let text = String::from_utf8_lossy(&body);
    let message = serde_json::from_str::<serde_json::Value>(&text)
        .ok()
        .and_then(|v| {
            v.pointer("/error/message")
                .and_then(|m| m.as_str())
                .map(str::to_owned)
        })
        .unwrap_or_else(|| text.chars().take(300).collect());
    ProviderError::Upstream { status, message }
}

/// A configured base URL, or the provider's public one.
fn or_default(configured: &Option<String>, default: &str) -> String {
    configured.clone().unwrap_or_else(|| default.to_owned())
}
