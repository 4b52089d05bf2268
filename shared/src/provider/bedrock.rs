//! Amazon Bedrock through the Converse API's streaming call (`ConverseStream`).
//!
//! No API key: the SDK signs each call with the credentials of the standard AWS
//! configuration (the function's role on Lambda), and IAM decides which models may be
//! invoked. The region comes from the same configuration, and
//! `AWS_ENDPOINT_URL_BEDROCK_RUNTIME` points the client elsewhere (a VPC endpoint, or the
//! test kit's mock). As with Anthropic, only the assistant's own prompt is the system
//! prompt: a caller's system message is passed on as a user turn marked as the client's.

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_bedrockruntime::Client;
use aws_sdk_bedrockruntime::config::ProvideCredentials;
use aws_sdk_bedrockruntime::config::http::HttpResponse;
use aws_sdk_bedrockruntime::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_bedrockruntime::operation::converse_stream::ConverseStreamError;
use aws_sdk_bedrockruntime::types::error::ConverseStreamOutputError;
use aws_sdk_bedrockruntime::types::{
    ContentBlock, ContentBlockDelta, ContentBlockStart, ConversationRole, ConverseStreamOutput,
    InferenceConfiguration, Message as BedrockMessage, StopReason, SystemContentBlock, Tool,
    ToolConfiguration, ToolInputSchema, ToolSpecification,
};
use aws_smithy_types::{Document, Number};
use futures::StreamExt;

use super::anthropic::CLIENT_CONTEXT;
use super::{
    ChatRequest, EventStream, FinishReason, Provider, ProviderError, ProviderEvent, Usage,
};
use crate::domain::message::Role;

/// How long resolving credentials at start may take before it counts as missing.
const CREDENTIALS_TIMEOUT: Duration = Duration::from_secs(5);

/// Why Bedrock cannot be used by this process.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BedrockSetupError {
    #[error("Amazon Bedrock needs an AWS region: set AWS_REGION (or a profile with a region)")]
    NoRegion,
    #[error(
        "Amazon Bedrock needs AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or run with a role ({0})"
    )]
    NoCredentials(String),
}

/// The Bedrock runtime client.
pub struct BedrockProvider {
    client: Client,
}

impl std::fmt::Debug for BedrockProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BedrockProvider").finish_non_exhaustive()
    }
}

impl BedrockProvider {
    /// A client from the standard AWS configuration. The region and the credentials are
    /// checked now, so a process that cannot call Bedrock says so when it starts rather
    /// than at its first turn.
    pub async fn from_config(config: &aws_config::SdkConfig) -> Result<Self, BedrockSetupError> {
        if config.region().is_none() {
            return Err(BedrockSetupError::NoRegion);
        }
        let provider = config
            .credentials_provider()
            .ok_or_else(|| BedrockSetupError::NoCredentials("no credentials provider".into()))?;
        match tokio::time::timeout(CREDENTIALS_TIMEOUT, provider.provide_credentials()).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => return Err(BedrockSetupError::NoCredentials(e.to_string())),
            Err(_) => {
                return Err(BedrockSetupError::NoCredentials(
                    "resolving them timed out".into(),
                ));
            }
        }
        Ok(Self {
            client: Client::new(config),
        })
    }

    /// The region the client calls.
    pub fn region(&self) -> String {
        self.client
            .config()
            .region()
            .map(ToString::to_string)
            .unwrap_or_default()
    }
}

/// The conversation in Converse's shape: consecutive turns of one role become one message
/// with several text blocks (Converse wants the roles to alternate).
pub fn messages(req: &ChatRequest) -> Result<Vec<BedrockMessage>, ProviderError> {
    let mut out: Vec<(ConversationRole, Vec<ContentBlock>)> = Vec::new();
    for m in &req.messages {
        let (role, text) = match m.role {
            Role::System => (
                ConversationRole::User,
                format!("{CLIENT_CONTEXT}{}", m.content),
            ),
            Role::Human => (ConversationRole::User, m.content.clone()),
            Role::Ai => (ConversationRole::Assistant, m.content.clone()),
        };
        if text.is_empty() {
            continue;
        }
        match out.last_mut() {
            Some((last, blocks)) if *last == role => blocks.push(ContentBlock::Text(text)),
            _ => out.push((role, vec![ContentBlock::Text(text)])),
        }
    }
    out.into_iter()
        .map(|(role, content)| {
            BedrockMessage::builder()
                .role(role)
                .set_content(Some(content))
                .build()
                .map_err(|e| ProviderError::Protocol(e.to_string()))
        })
        .collect()
}

/// Max tokens, temperature and stop sequences as Converse's inference configuration.
pub fn inference(req: &ChatRequest) -> InferenceConfiguration {
    InferenceConfiguration::builder()
        .max_tokens(i32::try_from(req.max_tokens).unwrap_or(i32::MAX))
        .set_temperature(req.temperature)
        .set_stop_sequences((!req.stop.is_empty()).then(|| req.stop.clone()))
        .build()
}

/// A JSON value as a Smithy document (what Converse takes a tool's input schema as).
fn document(value: &serde_json::Value) -> Document {
    use serde_json::Value;
    match value {
        Value::Null => Document::Null,
        Value::Bool(b) => Document::Bool(*b),
        Value::Number(n) => Document::Number(if let Some(u) = n.as_u64() {
            Number::PosInt(u)
        } else if let Some(i) = n.as_i64() {
            Number::NegInt(i)
        } else {
            Number::Float(n.as_f64().unwrap_or_default())
        }),
        Value::String(s) => Document::String(s.clone()),
        Value::Array(items) => Document::Array(items.iter().map(document).collect()),
        Value::Object(map) => {
            Document::Object(map.iter().map(|(k, v)| (k.clone(), document(v))).collect())
        }
    }
}

/// The tools a request offers, as Converse's tool configuration (`None` when it offers
/// none).
pub fn tool_config(req: &ChatRequest) -> Result<Option<ToolConfiguration>, ProviderError> {
    if req.tools.is_empty() {
        return Ok(None);
    }
    let tools = req
        .tools
        .iter()
        .map(|t| {
            ToolSpecification::builder()
                .name(&t.name)
                .description(&t.description)
                .input_schema(ToolInputSchema::Json(document(&t.parameters)))
                .build()
                .map(Tool::ToolSpec)
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ProviderError::Protocol(e.to_string()))?;
    ToolConfiguration::builder()
        .set_tools(Some(tools))
        .build()
        .map(Some)
        .map_err(|e| ProviderError::Protocol(e.to_string()))
}

/// The block index of a streamed block, as the tool call it belongs to.
fn block(index: i32) -> u32 {
    u32::try_from(index).unwrap_or(0)
}

/// One streamed event as provider events.
fn map_event(event: ConverseStreamOutput) -> Vec<ProviderEvent> {
    match event {
        // A tool call opens its own block with its id and name; its input follows as
        // `toolUse` deltas of JSON text.
        ConverseStreamOutput::ContentBlockStart(s) => match s.start {
            Some(ContentBlockStart::ToolUse(t)) => vec![ProviderEvent::ToolCallPart {
                index: block(s.content_block_index),
                id: Some(t.tool_use_id),
                name: Some(t.name),
                arguments: String::new(),
            }],
            _ => Vec::new(),
        },
        ConverseStreamOutput::ContentBlockDelta(d) => match d.delta {
            Some(ContentBlockDelta::Text(t)) if !t.is_empty() => vec![ProviderEvent::Delta(t)],
            Some(ContentBlockDelta::ToolUse(t)) => vec![ProviderEvent::ToolCallPart {
                index: block(d.content_block_index),
                id: None,
                name: None,
                arguments: t.input,
            }],
            _ => Vec::new(),
        },
        ConverseStreamOutput::MessageStop(stop) => {
            vec![ProviderEvent::Finish(match stop.stop_reason {
                StopReason::MaxTokens => FinishReason::Length,
                StopReason::ContentFiltered | StopReason::GuardrailIntervened => {
                    FinishReason::ContentFilter
                }
                _ => FinishReason::Stop,
            })]
        }
        ConverseStreamOutput::Metadata(meta) => meta
            .usage
            .map(|u| {
                vec![ProviderEvent::Usage(Usage {
                    input_tokens: u32::try_from(u.input_tokens).unwrap_or(0),
                    output_tokens: u32::try_from(u.output_tokens).unwrap_or(0),
                })]
            })
            .unwrap_or_default(),
        _ => Vec::new(),
    }
}

/// A refusal before the stream, in the provider port's terms.
fn start_error(model: &str, err: SdkError<ConverseStreamError, HttpResponse>) -> ProviderError {
    let message = |e: &dyn ProvideErrorMetadata| e.message().unwrap_or("no message").to_owned();
    match &err {
        SdkError::ServiceError(se) => match se.err() {
            ConverseStreamError::ThrottlingException(e) => ProviderError::Throttled(message(e)),
            ConverseStreamError::ServiceUnavailableException(e) => {
                ProviderError::Throttled(message(e))
            }
            ConverseStreamError::ModelNotReadyException(e) => ProviderError::Throttled(message(e)),
            ConverseStreamError::AccessDeniedException(e) => ProviderError::ModelAccess(format!(
                "Amazon Bedrock refused model {model}: {}. Enable access to this model in the \
                 Bedrock console (Model access) in this region, and list it in the template's \
                 BedrockModelArns parameter so the function may invoke it",
                message(e)
            )),
            ConverseStreamError::ResourceNotFoundException(e) => {
                ProviderError::ModelAccess(format!(
                    "Amazon Bedrock has no model {model} in this region: {}",
                    message(e)
                ))
            }
            ConverseStreamError::ModelTimeoutException(_) => ProviderError::Timeout,
            ConverseStreamError::ValidationException(e) => ProviderError::Upstream {
                status: 400,
                message: message(e),
            },
            other => ProviderError::Upstream {
                status: se.raw().status().as_u16(),
                message: format!("{}: {}", other.code().unwrap_or("error"), message(other)),
            },
        },
        SdkError::TimeoutError(_) => ProviderError::Timeout,
        _ => ProviderError::Transport(
            aws_smithy_types::error::display::DisplayErrorContext(&err).to_string(),
        ),
    }
}

/// A failure in the middle of the stream.
fn stream_error<R: std::fmt::Debug>(err: SdkError<ConverseStreamOutputError, R>) -> ProviderError {
    match &err {
        SdkError::ServiceError(se) => {
            let e = se.err();
            let message = format!(
                "{}: {}",
                e.code().unwrap_or("error"),
                e.message().unwrap_or("no message")
            );
            match e {
                ConverseStreamOutputError::ThrottlingException(_)
                | ConverseStreamOutputError::ServiceUnavailableException(_) => {
                    ProviderError::Throttled(message)
                }
                _ => ProviderError::Upstream {
                    status: 502,
                    message,
                },
            }
        }
        SdkError::TimeoutError(_) => ProviderError::Timeout,
        _ => ProviderError::Protocol(
            aws_smithy_types::error::display::DisplayErrorContext(&err).to_string(),
        ),
    }
}

#[async_trait]
impl Provider for BedrockProvider {
    async fn stream(&self, request: ChatRequest) -> Result<EventStream, ProviderError> {
        let mut call = self
            .client
            .converse_stream()
            .model_id(&request.model)
            .set_messages(Some(messages(&request)?))
            .inference_config(inference(&request))
            .set_tool_config(tool_config(&request)?);
        if let Some(system) = &request.system {
            call = call.system(SystemContentBlock::Text(system.clone()));
        }
        let output = call
            .send()
            .await
            .map_err(|e| start_error(&request.model, e))?;
        let events = futures::stream::unfold(Some(output.stream), |receiver| async move {
            let mut receiver = receiver?;
            match receiver.recv().await {
                Ok(Some(event)) => Some((Ok(map_event(event)), Some(receiver))),
                Ok(None) => None,
                // Nothing follows an error.
                Err(e) => Some((Err(stream_error(e)), None)),
            }
        });
        Ok(Box::pin(events.flat_map(super::one_by_one)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::message::Message;

    fn request(messages: Vec<Message>) -> ChatRequest {
        ChatRequest {
            model: "anthropic.claude-3-5-haiku-20241022-v1:0".into(),
            system: Some("Be brief.".into()),
            messages,
            max_tokens: 300,
            temperature: Some(0.5),
            stop: vec!["END".into()],
            tools: vec![],
            whole: false,
        }
    }

    #[test]
    fn turns_of_one_role_are_merged_and_client_system_text_is_a_user_turn() {
        let req = request(vec![
            Message::new(Role::System, "from the app"),
            Message::new(Role::Human, "hi"),
            Message::new(Role::Ai, "hello"),
            Message::new(Role::Human, "again"),
        ]);
        let out = messages(&req).unwrap();
        assert_eq!(out.len(), 3);
        assert_eq!(out[0].role, ConversationRole::User);
        assert_eq!(
            out[0].content,
            vec![
                ContentBlock::Text(format!("{CLIENT_CONTEXT}from the app")),
                ContentBlock::Text("hi".into())
            ]
        );
        assert_eq!(out[1].role, ConversationRole::Assistant);
        assert_eq!(out[2].content, vec![ContentBlock::Text("again".into())]);
        let cfg = inference(&req);
        assert_eq!(cfg.max_tokens, Some(300));
        assert_eq!(cfg.temperature, Some(0.5));
        assert_eq!(cfg.stop_sequences, Some(vec!["END".to_owned()]));
    }

    #[tokio::test]
    async fn a_missing_region_or_credentials_is_reported_at_start() {
        let no_region = aws_config::SdkConfig::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .build();
        assert_eq!(
            BedrockProvider::from_config(&no_region).await.unwrap_err(),
            BedrockSetupError::NoRegion
        );
        let no_credentials = aws_config::SdkConfig::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new("us-east-1"))
            .build();
        let err = BedrockProvider::from_config(&no_credentials)
            .await
            .unwrap_err();
        assert!(matches!(err, BedrockSetupError::NoCredentials(_)), "{err}");
        assert!(err.to_string().contains("AWS credentials"));
    }
}
