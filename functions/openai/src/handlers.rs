//! Thin handlers: authenticate by token, parse, rate-limit, run the turn, encode.

use agentgate_shared::domain::assistant::Assistant;
use agentgate_shared::domain::ids::RunId;
use agentgate_shared::domain::memory::MemoryKey;
use agentgate_shared::domain::thread::ThreadKey;
use agentgate_shared::http::{json_object, sse_response};
use agentgate_shared::memory;
use agentgate_shared::ratelimit;
use agentgate_shared::run;
use agentgate_shared::state::AppState;
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
    // Only a named end user has a memory: the anonymous transcript is shared by everyone.
    let key = ThreadKey::openai(&assistant.id, end_user.as_deref().unwrap_or(ANONYMOUS))
        .with_memory(
            end_user
                .as_deref()
                .and_then(|u| memory::scope(&assistant, MemoryKey::end_user(&assistant.id, u))),
        );
    let mut options = req.options.clone();
    options.memory = memory::recall(&state, key.memory()).await;

    let events = run::start_turn(
        &state.providers,
        &assistant,
        Vec::new(),
        &req.messages,
        &options,
    )
    .await?;
    let model = req
        .model
        .clone()
        .unwrap_or_else(|| assistant.id.to_string());
    let meta = ResponseMeta::new(&model, state.clock.now_secs());
    // Only the new turn joins the transcript: the client resent the rest.
    let persist = run::save_turn(&state, &assistant.id, key, RunId::mint(), req.new_turn());
    if req.stream {
        let encoder = ChunkEncoder::new(meta, req.include_usage);
        return Ok(sse_response(run::stream_body(
            events,
            encoder,
            state.settings.pacing,
            persist,
        )));
    }
    let completion = run::complete(events, persist).await?;
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
