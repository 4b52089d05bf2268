//! Thin handlers: authenticate by token, parse, rate-limit, run the turn, encode.

use agentgate_shared::domain::assistant::Assistant;
use agentgate_shared::domain::ids::RunId;
use agentgate_shared::domain::message::{Message, Role};
use agentgate_shared::domain::thread::{StoredMessage, ThreadKey};
use agentgate_shared::http::{json_object, sse_response};
use agentgate_shared::ratelimit;
use agentgate_shared::run::{self, OnComplete};
use agentgate_shared::state::AppState;
use agentgate_shared::stream::Completion;
use agentgate_shared::stream::openai::{ChunkEncoder, ResponseMeta, completion_json};
use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use http::HeaderMap;
use serde_json::{Value, json};

use crate::OpenAiError;
use crate::auth::assistant_for;
use crate::request::{ChatCompletionRequest, parse_user};

/// Header naming the end user when the body has no `user` field.
pub const END_USER_HEADER: &str = "x-end-user";
/// Transcript of requests that name no end user.
const ANONYMOUS: &str = "anonymous";

#[tracing::instrument(name = "chat_completions", skip_all)]
pub async fn chat_completions(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, OpenAiError> {
    let assistant = assistant_for(&state, &headers).await?;
    let req = ChatCompletionRequest::parse(&json_object(body)?)?;
    let end_user = match (&req.user, headers.get(END_USER_HEADER)) {
        (Some(u), _) => Some(u.clone()),
        (None, Some(h)) => Some(parse_user(h.to_str().unwrap_or_default(), "X-End-User")?),
        (None, None) => None,
    };
    limit(&state, &assistant, end_user.as_deref()).await?;

    let events = run::start_turn(
        &state.providers,
        &assistant,
        Vec::new(),
        &req.messages,
        &req.options,
    )
    .await?;
    let model = req
        .model
        .clone()
        .unwrap_or_else(|| assistant.id.to_string());
    let meta = ResponseMeta::new(&model, state.clock.now_secs());
    let key = ThreadKey::openai(&assistant.id, end_user.as_deref().unwrap_or(ANONYMOUS));
    let persist = record_transcript(&state, key, req.new_turn());
    if req.stream {
        let encoder = ChunkEncoder::new(meta, req.include_usage);
        return Ok(sse_response(run::stream_body(
            events,
            encoder,
            state.settings.keepalive,
            persist,
        )));
    }
    let completion = run::collect(events).await?;
    persist(completion.clone())
        .await
        .map_err(|e| OpenAiError::Store(agentgate_shared::ports::StoreError::Unavailable(e)))?;
    Ok(Json(completion_json(&meta, &completion)).into_response())
}

/// Per end user per minute (when the caller names one), then per assistant per day.
async fn limit(
    state: &AppState,
    assistant: &Assistant,
    end_user: Option<&str>,
) -> Result<(), OpenAiError> {
    let caps = ratelimit::public_caps(
        &state.settings,
        &assistant.id,
        end_user.map(|u| format!("openai-user:{u}")),
    );
    Ok(ratelimit::admit(state.store.as_ref(), &caps, state.clock.now_secs()).await?)
}

/// Adds the client's new turn and the reply to the end user's transcript. History the
/// client resent is not added again.
fn record_transcript(state: &AppState, key: ThreadKey, new_turn: Vec<Message>) -> OnComplete {
    let store = state.store.clone();
    let clock = state.clock.clone();
    let ttl = state.settings.thread_idle_ttl_secs;
    Box::new(move |completion: Completion| {
        Box::pin(async move {
            let now = clock.now_ms();
            let run_id = RunId::mint();
            let mut messages: Vec<StoredMessage> = new_turn
                .into_iter()
                .map(|message| StoredMessage {
                    message,
                    run_id: run_id.clone(),
                    created_at: now,
                })
                .collect();
            messages.push(StoredMessage {
                message: Message::new(Role::Ai, completion.text),
                run_id,
                created_at: now,
            });
            store
                .append_messages(&key, &messages, ttl)
                .await
                .map_err(|e| e.to_string())
        })
    })
}

fn model_json(a: &Assistant) -> Value {
    json!({"id": a.id, "object": "model", "created": a.created_at.div_euclid(1000), "owned_by": "agentgate"})
}

/// `GET /models`: the token's assistant is the one model.
#[tracing::instrument(name = "list_models", skip_all)]
pub async fn list_models(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<Value>, OpenAiError> {
    let assistant = assistant_for(&state, &headers).await?;
    Ok(Json(
        json!({"object": "list", "data": [model_json(&assistant)]}),
    ))
}

/// `GET /models/{model}`: the assistant, by id or name.
#[tracing::instrument(name = "get_model", skip_all)]
pub async fn get_model(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(model): Path<String>,
) -> Result<Json<Value>, OpenAiError> {
    let assistant = assistant_for(&state, &headers).await?;
    if model == assistant.id.as_str() || model == assistant.name {
        Ok(Json(model_json(&assistant)))
    } else {
        Err(OpenAiError::ModelNotFound(model))
    }
}
