//! A mock Amazon Bedrock runtime speaking `ConverseStream`'s real wire format: the reply is
//! an `application/vnd.amazon.eventstream` body whose frames carry the `:message-type`,
//! `:event-type` (or `:exception-type`) and `:content-type` headers, encoded with the smithy
//! event-stream crate the SDK itself decodes with. Refusals are HTTP errors with the
//! `x-amzn-errortype` header, as the service sends them. It records every request.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_smithy_types::event_stream::{Header, HeaderValue, Message};
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::post;
use futures::StreamExt;
use serde_json::{Value, json};

/// What the mock does with each request.
#[derive(Debug, Clone)]
pub enum BedrockBehavior {
    /// Streams these text deltas, then stops normally with usage.
    Reply(Vec<String>),
    /// Refuses before the stream: HTTP status, error type (`ThrottlingException`...), message.
    Refuse(u16, &'static str, &'static str),
    /// Streams these deltas, then an exception frame of this type
    /// (`modelStreamErrorException`, `throttlingException`...).
    BreakAfter(Vec<String>, &'static str),
    /// Streams these text deltas, then one `toolUse` block calling `name` with
    /// `arguments` (in fragments), and stops with `tool_use`.
    ToolCall {
        pieces: Vec<String>,
        name: String,
        arguments: String,
    },
}

/// One request the mock received.
#[derive(Debug, Clone)]
pub struct BedrockSeen {
    pub at: Instant,
    /// The model id from the path, decoded.
    pub model: String,
    pub body: Value,
    /// Whether the request was SigV4-signed (`Authorization: AWS4-HMAC-SHA256 ...`).
    pub signed: bool,
}

#[derive(Clone)]
struct MockState {
    behavior: Arc<Mutex<BedrockBehavior>>,
    seen: Arc<Mutex<Vec<BedrockSeen>>>,
}

/// The mock; point `AWS_ENDPOINT_URL_BEDROCK_RUNTIME` (or a client's endpoint) at
/// [`Self::url`].
pub struct MockBedrock {
    pub url: String,
    state: MockState,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for MockBedrock {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl MockBedrock {
    pub async fn start(behavior: BedrockBehavior) -> Self {
        let state = MockState {
            behavior: Arc::new(Mutex::new(behavior)),
            seen: Arc::default(),
        };
        let app = Router::new()
            .route("/model/{model}/converse-stream", post(converse_stream))
            .with_state(state.clone());
        let (addr, task) = super::serve_local(app).await;
        Self {
            url: format!("http://{addr}"),
            state,
            task,
        }
    }

    pub fn set_behavior(&self, behavior: BedrockBehavior) {
        if let Ok(mut b) = self.state.behavior.lock() {
            *b = behavior;
        }
    }

    /// Every request received so far.
    pub fn seen(&self) -> Vec<BedrockSeen> {
        self.state
            .seen
            .lock()
            .map(|s| s.clone())
            .unwrap_or_default()
    }

    /// A state on the embedded store in `dir` whose Bedrock provider is this mock (the
    /// real SDK client, pointed here), with the test settings.
    pub async fn state(&self, dir: &std::path::Path) -> crate::state::AppState {
        let bedrock = crate::provider::bedrock::BedrockProvider::from_config(&self.sdk_config())
            .await
            .expect("bedrock provider for the mock");
        let providers =
            crate::provider::Providers::new(&crate::provider::ProviderSettings::default())
                .expect("providers")
                .with_bedrock(bedrock);
        super::state_serving(
            dir,
            providers,
            super::test_settings(),
            std::sync::Arc::new(crate::clock::SystemClock),
        )
    }

    /// An SDK configuration for the mock: a region and static test credentials.
    pub fn sdk_config(&self) -> aws_config::SdkConfig {
        aws_config::SdkConfig::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new("us-east-1"))
            .endpoint_url(&self.url)
            .credentials_provider(
                aws_sdk_bedrockruntime::config::SharedCredentialsProvider::new(
                    aws_sdk_bedrockruntime::config::Credentials::for_tests(),
                ),
            )
            .build()
    }
}

/// One event-stream frame with the headers the service sets.
fn frame(kind: &str, name: &str, payload: &Value) -> Bytes {
    let type_header = if kind == "exception" {
        ":exception-type"
    } else {
        ":event-type"
    };
    let message = Message::new(payload.to_string().into_bytes())
        .add_header(Header::new(
            ":message-type",
            HeaderValue::String(kind.to_owned().into()),
        ))
        .add_header(Header::new(
            type_header,
            HeaderValue::String(name.to_owned().into()),
        ))
        .add_header(Header::new(
            ":content-type",
            HeaderValue::String("application/json".into()),
        ));
    let mut out = Vec::new();
    aws_smithy_eventstream::frame::write_message_to(&message, &mut out)
        .expect("encode an event-stream frame");
    Bytes::from(out)
}

async fn converse_stream(
    State(state): State<MockState>,
    Path(model): Path<String>,
    headers: http::HeaderMap,
    body: Bytes,
) -> Response {
    let signed = headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("AWS4-HMAC-SHA256"));
    if let Ok(mut seen) = state.seen.lock() {
        seen.push(BedrockSeen {
            at: Instant::now(),
            model,
            body: serde_json::from_slice(&body).unwrap_or(Value::Null),
            signed,
        });
    }
    let behavior = state
        .behavior
        .lock()
        .map(|b| b.clone())
        .unwrap_or(BedrockBehavior::Reply(vec![]));
    let (pieces, exception) = match behavior {
        BedrockBehavior::Refuse(status, kind, message) => {
            return Response::builder()
                .status(status)
                .header("content-type", "application/json")
                .header(
                    "x-amzn-errortype",
                    format!("{kind}:http://internal.amazon.com/coral/com.amazon.bedrock/"),
                )
                .body(Body::from(json!({"message": message}).to_string()))
                .unwrap_or_default();
        }
        BedrockBehavior::Reply(p) => (p, None),
        BedrockBehavior::BreakAfter(p, kind) => (p, Some(kind)),
        BedrockBehavior::ToolCall {
            pieces,
            name,
            arguments,
        } => return respond(tool_frames(&pieces, &name, &arguments)),
    };
    let mut frames = vec![
        frame(
            "event",
            "messageStart",
            &json!({"role": "assistant", "p": "abc"}),
        ),
        // A text block has no contentBlockStart (that event opens tool-use blocks).
    ];
    frames.extend(pieces.iter().map(|p| {
        frame(
            "event",
            "contentBlockDelta",
            &json!({"contentBlockIndex": 0, "delta": {"text": p}}),
        )
    }));
    match exception {
        Some(kind) => frames.push(frame(
            "exception",
            kind,
            &json!({"message": "the model stopped producing output"}),
        )),
        None => {
            frames.push(frame(
                "event",
                "contentBlockStop",
                &json!({"contentBlockIndex": 0}),
            ));
            frames.push(frame(
                "event",
                "messageStop",
                &json!({"stopReason": "end_turn"}),
            ));
            frames.push(frame(
                "event",
                "metadata",
                &json!({"usage": {"inputTokens": 21, "outputTokens": pieces.len(), "totalTokens": 21 + pieces.len()},
                        "metrics": {"latencyMs": 12}}),
            ));
        }
    }
    respond(frames)
}

/// The frames as an event-stream response, a little apart.
fn respond(frames: Vec<Bytes>) -> Response {
    let stream = futures::stream::iter(frames).then(|f| async move {
        tokio::time::sleep(Duration::from_millis(2)).await;
        Ok::<_, std::convert::Infallible>(f)
    });
    Response::builder()
        .header("content-type", "application/vnd.amazon.eventstream")
        .header("x-amzn-requestid", "mock-request-id")
        .body(Body::from_stream(stream))
        .unwrap_or_default()
}

/// A reply with text in block 0, then a tool call in block 1: `contentBlockStart` with the
/// `toolUse` id and name, its input as `toolUse` deltas, `messageStop` with `tool_use`.
fn tool_frames(pieces: &[String], name: &str, arguments: &str) -> Vec<Bytes> {
    let mut frames = vec![frame(
        "event",
        "messageStart",
        &json!({"role": "assistant"}),
    )];
    frames.extend(pieces.iter().map(|p| {
        frame(
            "event",
            "contentBlockDelta",
            &json!({"contentBlockIndex": 0, "delta": {"text": p}}),
        )
    }));
    frames.push(frame(
        "event",
        "contentBlockStop",
        &json!({"contentBlockIndex": 0}),
    ));
    frames.push(frame(
        "event",
        "contentBlockStart",
        &json!({"contentBlockIndex": 1, "start": {"toolUse": {"toolUseId": "tooluse_mock1", "name": name}}}),
    ));
    let chars: Vec<char> = arguments.chars().collect();
    for piece in chars.chunks(chars.len().div_ceil(3).max(1)) {
        frames.push(frame(
            "event",
            "contentBlockDelta",
            &json!({"contentBlockIndex": 1, "delta": {"toolUse": {"input": piece.iter().collect::<String>()}}}),
        ));
    }
    frames.push(frame(
        "event",
        "contentBlockStop",
        &json!({"contentBlockIndex": 1}),
    ));
    frames.push(frame(
        "event",
        "messageStop",
        &json!({"stopReason": "tool_use"}),
    ));
    frames.push(frame(
        "event",
        "metadata",
        &json!({"usage": {"inputTokens": 21, "outputTokens": 9, "totalTokens": 30}, "metrics": {"latencyMs": 12}}),
    ));
    frames
}
