//! The Responses API (`POST /responses`, `GET /responses/{id}`): what the Vercel AI SDK's
//! default OpenAI provider, the OpenAI Agents SDKs, Codex and n8n call.
//!
//! A request is a turn like a chat completion (same token, caps, end-user transcript,
//! memory and usage). What the Responses API adds is state: each response is stored with
//! the conversation it ends (unless `store` is false), so a later request can continue it
//! with `previous_response_id` or point at its reply with an `item_reference`. Both are
//! resolved only among the responses of the same assistant and end user, and a response is
//! stored before its final event is sent, so a continuation sent the moment a turn ends
//! finds it.

mod request;

use agentgate_shared::domain::assistant::Assistant;
use agentgate_shared::domain::message::{Message, Role};
use agentgate_shared::domain::response::{RESPONSE_RETENTION_SECS, ResponseId, StoredResponse};
use agentgate_shared::domain::thread::ThreadKey;
use agentgate_shared::http::{JsonObject, SourceIp, sse_response};
use agentgate_shared::ports::Store;
use agentgate_shared::run::{OnComplete, TurnOptions};
use agentgate_shared::state::AppState;
use agentgate_shared::stream::Completion;
use agentgate_shared::stream::responses::{ResponseEncoder, ResponseShape};
use agentgate_shared::turn::{History, Turn, newest_within};
use axum::Json;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use futures::{StreamExt, TryStreamExt, stream};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;

use crate::OpenAiError;
use crate::auth::KeyAssistant;
use crate::handlers::{Caller, EndUserHeader, transcript};
use crate::request::{new_turn, parse_user};
use request::{InputItem, ResponsesRequest};

/// How many stored responses one request reads at a time.
const CONCURRENT_READS: usize = 16;

/// The conversation a request continues (the stored context of `previous_response_id`)
/// and its input with every item reference replaced by the reply it names, both read
/// from `scope` only. Each distinct response is read once, a few at a time, so a request
/// full of references costs a bounded burst of reads.
async fn resolve(
    store: &dyn Store,
    scope: &ThreadKey,
    req: &ResponsesRequest,
) -> Result<(Vec<Message>, Vec<Message>), OpenAiError> {
    let mut wanted: Vec<ResponseId> = req.previous_response_id.iter().cloned().collect();
    for item in &req.input {
        if let InputItem::Reference { response, .. } = item
            && !wanted.contains(response)
        {
            wanted.push(response.clone());
        }
    }
    let found: HashMap<ResponseId, StoredResponse> = stream::iter(wanted)
        .map(|id| async move {
            let r = store.response(scope, &id).await?;
            Ok::<_, OpenAiError>((id, r))
        })
        .buffer_unordered(CONCURRENT_READS)
        .try_filter_map(|(id, r)| async move { Ok(r.map(|r| (id, r))) })
        .try_collect()
        .await?;
    let context = match &req.previous_response_id {
        None => Vec::new(),
        Some(id) => found.get(id).map(|r| r.context.clone()).ok_or_else(|| {
            OpenAiError::invalid(
                "previous_response_id",
                format!("Previous response with id '{id}' not found."),
            )
        })?,
    };
    let input = req
        .input
        .iter()
        .map(|item| match item {
            InputItem::Message(m) => Ok(m.clone()),
            InputItem::Reference {
                response,
                id,
                param,
            } => found
                .get(response)
                .map(|r| Message::new(Role::Ai, r.reply_text()))
                .ok_or_else(|| {
                    OpenAiError::invalid(param, format!("Item with id '{id}' not found."))
                }),
        })
        .collect::<Result<_, _>>()?;
    Ok((context, input))
}

/// Keeps the response once its turn is saved: the conversation a continuation starts from
/// (bounded like any history) and the `response` object.
fn keep(
    state: &AppState,
    scope: &ThreadKey,
    shape: &ResponseShape,
    conversation: Vec<Message>,
    budget: usize,
) -> OnComplete {
    let store: Arc<dyn Store> = Arc::clone(&state.store);
    let (scope, shape) = (scope.as_str().to_owned(), shape.clone());
    let expires_at = shape.created_at + RESPONSE_RETENTION_SECS;
    Box::new(move |c: Completion| {
        Box::pin(async move {
            let mut context = conversation;
            context.push(Message::new(Role::Ai, c.text.clone()));
            let response = StoredResponse {
                id: shape.id.clone(),
                scope,
                context: newest_within(context, budget),
                body: shape.finished(&c),
                expires_at,
            };
            store.put_response(&response).await
        })
    })
}

fn shape(state: &AppState, assistant: &Assistant, req: &ResponsesRequest) -> ResponseShape {
    ResponseShape {
        id: ResponseId::mint(),
        created_at: state.clock.now_secs(),
        model: req
            .model
            .clone()
            .unwrap_or_else(|| assistant.id.to_string()),
        instructions: req.instructions.clone(),
        max_output_tokens: req.max_output_tokens,
        temperature: req.temperature,
        previous_response_id: req.previous_response_id.as_ref().map(ToString::to_string),
        metadata: req.metadata.clone(),
        user: req.user.clone(),
        store: req.store,
    }
}

/// `POST /responses`.
#[tracing::instrument(name = "create_response", skip_all)]
pub async fn create(
    State(state): State<AppState>,
    KeyAssistant(assistant): KeyAssistant,
    SourceIp(ip): SourceIp,
    EndUserHeader(header): EndUserHeader,
    JsonObject(body, ..): JsonObject<OpenAiError>,
) -> Result<Response, OpenAiError> {
    let req = ResponsesRequest::parse(&body)?;
    let caller = Caller::of(&state, &assistant, ip, req.user.clone(), header)?;
    let scope = caller.transcript.clone();
    let (context, input) = resolve(state.store.as_ref(), &scope, &req).await?;
    let shape = shape(&state, &assistant, &req);
    let options = TurnOptions {
        max_tokens: req.max_output_tokens,
        temperature: req.temperature.map(|t| t as f32),
        instructions: req.instructions.clone(),
        whole: !req.stream,
        ..TurnOptions::default()
    };
    // Only the new turn joins the end user's transcript; what came before it was recorded
    // when it happened.
    let mut turn = Turn::new(&assistant, scope.clone(), input.clone())
        .history(History::Given(context.clone()))
        .saving(new_turn(&input))
        .options(options)
        .public();
    if req.store {
        let mut conversation = context;
        conversation.extend(input);
        let budget = state.turns.history_budget(&assistant);
        turn = turn.recorded_by(keep(&state, &scope, &shape, conversation, budget));
    }
    let started = state
        .turns
        .start_admitted(turn, caller.admission(&state))
        .await?;
    if req.stream {
        return Ok(sse_response(started.stream(ResponseEncoder::new(shape))));
    }
    let completion = started.complete().await?;
    Ok(Json(shape.finished(&completion)).into_response())
}

/// `GET /responses/{id}`: a stored response of the token's assistant and the end user the
/// `X-End-User` header names (the anonymous callers' without it).
#[tracing::instrument(name = "get_response", skip_all)]
pub async fn get(
    State(state): State<AppState>,
    KeyAssistant(assistant): KeyAssistant,
    EndUserHeader(header): EndUserHeader,
    Path(id): Path<String>,
) -> Result<Json<Value>, OpenAiError> {
    let end_user = header.map(|h| parse_user(&h, "X-End-User")).transpose()?;
    let scope = transcript(&assistant, end_user.as_deref());
    let found = match ResponseId::parse(&id) {
        Some(rid) => state.store.response(&scope, &rid).await?,
        None => None,
    };
    found
        .map(|r| Json(r.body))
        .ok_or(OpenAiError::ResponseNotFound(id))
}
