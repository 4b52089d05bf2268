//! Thin handlers: authenticate by token, parse, rate-limit, hand the turn to the turn
//! service, encode as OpenAI does.

use agentgate_shared::domain::assistant::Assistant;
use agentgate_shared::domain::memory::MemoryKey;
use agentgate_shared::domain::ratelimit::Cap;
use agentgate_shared::domain::thread::ThreadKey;
use agentgate_shared::http::{JsonObject, SourceIp, sse_response};
use agentgate_shared::ratelimit;
use agentgate_shared::state::AppState;
use agentgate_shared::stream::openai::{ChunkEncoder, ResponseMeta, WholeCompletion};
use agentgate_shared::turn::{History, Turn};
use axum::Json;
use axum::extract::FromRequestParts;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use http::request::Parts;
use serde_json::{Value, json};
use std::convert::Infallible;

use crate::OpenAiError;
use crate::auth::KeyAssistant;
use crate::request::{ChatCompletionRequest, parse_user};

/// Header naming the end user when the body has no `user` field.
pub const END_USER_HEADER: &str = "x-end-user";

/// The raw `X-End-User` header, checked only when the body names no user.
pub struct EndUserHeader(pub Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for EndUserHeader {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Infallible> {
        let header = parts.headers.get(END_USER_HEADER);
        // A header that is not text reads as empty, which the check refuses.
        Ok(Self(
            header.map(|h| h.to_str().unwrap_or_default().to_owned()),
        ))
    }
}

/// The end user a request names: its body's (already checked), else the header's.
fn end_user(
    from_body: Option<String>,
    header: Option<String>,
) -> Result<Option<String>, OpenAiError> {
    match (from_body, header) {
        (Some(u), _) => Ok(Some(u)),
        (None, Some(h)) => parse_user(&h, "X-End-User").map(Some),
        (None, None) => Ok(None),
    }
}

/// The transcript of `end_user` (or of the anonymous callers) of `assistant`. A named end
/// user has a memory only if the owner trusts the names this integration sends (anyone
/// with the token can name anyone); the anonymous transcript has none.
pub fn transcript(assistant: &Assistant, end_user: Option<&str>) -> ThreadKey {
    match end_user {
        Some(u) => {
            let memory = assistant
                .end_user_memory()
                .then(|| MemoryKey::end_user(&assistant.id, u));
            ThreadKey::openai(&assistant.id, u).with_memory(memory)
        }
        None => ThreadKey::openai_anonymous(&assistant.id),
    }
}

/// Who a turn of this family is for: the end user (body, else header), named by their
/// transcript, and the caps the request counts against.
pub struct Caller {
    pub transcript: ThreadKey,
    caps: Vec<Cap>,
}

impl Caller {
    pub fn of(
        state: &AppState,
        assistant: &Assistant,
        ip: Option<std::net::IpAddr>,
        from_body: Option<String>,
        header: Option<String>,
    ) -> Result<Self, OpenAiError> {
        let end_user = end_user(from_body, header)?;
        Ok(Self {
            caps: ratelimit::openai_caps(&state.settings, &assistant.id, end_user.as_deref(), ip),
            transcript: transcript(assistant, end_user.as_deref()),
        })
    }

    /// Counts the request against the caller's caps (run beside the turn's reads).
    pub async fn admission(&self, state: &AppState) -> Result<(), OpenAiError> {
        let now = state.clock.now_secs();
        Ok(ratelimit::admit(state.store.as_ref(), &self.caps, now).await?)
    }
}

#[tracing::instrument(name = "chat_completions", skip_all)]
pub async fn chat_completions(
    State(state): State<AppState>,
    KeyAssistant(assistant): KeyAssistant,
    SourceIp(ip): SourceIp,
    EndUserHeader(header): EndUserHeader,
    JsonObject(body, ..): JsonObject<OpenAiError>,
) -> Result<Response, OpenAiError> {
    let req = ChatCompletionRequest::parse(&body)?;
    let caller = Caller::of(&state, &assistant, ip, req.user.clone(), header)?;
    // The client resends the conversation; only its new turn joins the transcript.
    let turn = Turn::new(&assistant, caller.transcript.clone(), req.messages.clone())
        .history(History::Sent)
        .saving(req.new_turn())
        .options(req.options.clone())
        .public();
    let started = state
        .turns
        .start_admitted(turn, caller.admission(&state))
        .await?;
    let model = req
        .model
        .clone()
        .unwrap_or_else(|| assistant.id.to_string());
    let meta = ResponseMeta::new(&model, state.clock.now_secs());
    if req.stream {
        let encoder = ChunkEncoder::new(meta, req.include_usage);
        return Ok(sse_response(started.stream(encoder)));
    }
    let completion = started.complete().await?;
    Ok(Json(WholeCompletion::of(&meta, &completion)).into_response())
}

fn model_json(a: &Assistant) -> Value {
    json!({"id": a.id, "object": "model", "created": a.created_at.div_euclid(1000), "owned_by": "agentgate"})
}

/// `GET /models`: the token's assistant is the one model.
#[tracing::instrument(name = "list_models", skip_all)]
pub async fn list_models(KeyAssistant(assistant): KeyAssistant) -> Json<Value> {
    Json(json!({"object": "list", "data": [model_json(&assistant)]}))
}

/// `GET /models/{model}`: the assistant, by id or name.
#[tracing::instrument(name = "get_model", skip_all)]
pub async fn get_model(
    KeyAssistant(assistant): KeyAssistant,
    Path(model): Path<String>,
) -> Result<Json<Value>, OpenAiError> {
    if model == assistant.id.as_str() || model == assistant.name {
        Ok(Json(model_json(&assistant)))
    } else {
        Err(OpenAiError::ModelNotFound(model))
    }
}
