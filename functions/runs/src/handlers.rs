//! Thin handlers: parse, authorize, then hand the turn to the shared run engine.

use agentgate_shared::domain::assistant::Assistant;
use agentgate_shared::domain::ids::{RunId, ThreadId};
use agentgate_shared::domain::memory::MemoryKey;
use agentgate_shared::domain::message::Message;
use agentgate_shared::domain::thread::ThreadKey;
use agentgate_shared::domain::token;
use agentgate_shared::http::sse_response;
use agentgate_shared::http::{SourceIp, json_object};
use agentgate_shared::memory;
use agentgate_shared::ratelimit;
use agentgate_shared::run;
use agentgate_shared::state::AppState;
use agentgate_shared::stream::native::NativeEncoder;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::response::Response;
use http::HeaderMap;

use crate::RunsError;
use crate::request::{Caller, RunRequest};

/// `POST /public/runs/stream`: anyone the assistant's access mode admits.
#[tracing::instrument(name = "public_run", skip_all)]
pub async fn public_stream(
    State(state): State<AppState>,
    SourceIp(ip): SourceIp,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, RunsError> {
    let req = RunRequest::parse(&json_object(body)?, Caller::Public)?;
    tracing::Span::current().record("assistant_id", req.assistant_id.as_str());
    let assistant = state
        .store
        .get_assistant(&req.assistant_id)
        .await?
        .ok_or(RunsError::NotFound)?;
    let presented = token::extract(&headers, req.token.as_deref()).map(|(_, t)| t);
    assistant.admit_public(presented, state.clock.now_secs())?;
    let caps = ratelimit::public_caps(
        &state.settings,
        &assistant.id,
        ip.map(|ip| format!("runs-ip:{ip}")),
    );
    ratelimit::admit(state.store.as_ref(), &caps, state.clock.now_secs()).await?;
    let thread_id = req.thread_id.clone().unwrap_or_else(ThreadId::mint);
    let key = ThreadKey::public(&assistant.id, &thread_id);
    run_turn(&state, &assistant, key, thread_id, req).await
}

/// `POST /runs/stream`: the assistant's owner, with a user JWT.
#[tracing::instrument(name = "owner_run", skip_all)]
pub async fn owner_stream(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, RunsError> {
    let user = state.jwt.verify_headers(&headers)?;
    let req = RunRequest::parse(&json_object(body)?, Caller::Owner)?;
    tracing::Span::current().record("assistant_id", req.assistant_id.as_str());
    let assistant = state
        .store
        .get_assistant(&req.assistant_id)
        .await?
        // Someone else's assistant is reported as absent, not as forbidden.
        .filter(|a| a.owner == user)
        .ok_or(RunsError::NotFound)?;
    let thread_id = req.thread_id.clone().unwrap_or_else(ThreadId::mint);
    let key = ThreadKey::owner(&assistant.id, &user, &thread_id).with_memory(memory::scope(
        &assistant,
        MemoryKey::owner(&assistant.id, &user),
    ));
    run_turn(&state, &assistant, key, thread_id, req).await
}

async fn run_turn(
    state: &AppState,
    assistant: &Assistant,
    key: ThreadKey,
    thread_id: ThreadId,
    mut req: RunRequest,
) -> Result<Response, RunsError> {
    req.options.memory = memory::recall(state, key.memory()).await;
    let history: Vec<Message> = state
        .store
        .recent_messages(&key, state.settings.history_limit)
        .await?
        .into_iter()
        .map(|m| m.message)
        .collect();
    let events = run::start_turn(
        &state.providers,
        assistant,
        history,
        &req.input,
        &req.options,
    )
    .await?;
    let run_id = RunId::mint();
    let encoder = NativeEncoder::new(run_id.as_str(), thread_id.as_str());
    let body = run::stream_body(
        events,
        encoder,
        state.settings.pacing,
        run::save_turn(state, &assistant.id, key, run_id, req.input),
    );
    Ok(sse_response(body))
}
