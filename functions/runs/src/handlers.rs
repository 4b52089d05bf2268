//! Thin handlers: parse, authorize, pick the thread, then hand the turn to the turn service
//! with the native encoder.

use agentgate_shared::domain::assistant::Assistant;
use agentgate_shared::domain::ids::ThreadId;
use agentgate_shared::domain::memory::MemoryKey;
use agentgate_shared::domain::thread::ThreadKey;
use agentgate_shared::domain::token;
use agentgate_shared::http::{JsonObject, Owner, SourceIp, sse_response};
use agentgate_shared::memory;
use agentgate_shared::ratelimit;
use agentgate_shared::state::AppState;
use agentgate_shared::stream::native::NativeEncoder;
use agentgate_shared::turn::Turn;
use axum::extract::State;
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
    JsonObject(body, ..): JsonObject<RunsError>,
) -> Result<Response, RunsError> {
    let req = RunRequest::parse(&body, Caller::Public)?;
    let assistant = find(&state, &req, |_| true).await?;
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
    Owner(user, ..): Owner<RunsError>,
    JsonObject(body, ..): JsonObject<RunsError>,
) -> Result<Response, RunsError> {
    let req = RunRequest::parse(&body, Caller::Owner)?;
    // Someone else's assistant is reported as absent, not as forbidden.
    let assistant = find(&state, &req, |a| a.owner == user).await?;
    let thread_id = req.thread_id.clone().unwrap_or_else(ThreadId::mint);
    let key = ThreadKey::owner(&assistant.id, &user, &thread_id).with_memory(memory::scope(
        &assistant,
        MemoryKey::owner(&assistant.id, &user),
    ));
    run_turn(&state, &assistant, key, thread_id, req).await
}

/// The assistant the request names, if `visible` to the caller.
async fn find(
    state: &AppState,
    req: &RunRequest,
    visible: impl Fn(&Assistant) -> bool,
) -> Result<Assistant, RunsError> {
    tracing::Span::current().record("assistant_id", req.assistant_id.as_str());
    state
        .store
        .get_assistant(&req.assistant_id)
        .await?
        .filter(visible)
        .ok_or_else(RunsError::not_found)
}

async fn run_turn(
    state: &AppState,
    assistant: &Assistant,
    key: ThreadKey,
    thread_id: ThreadId,
    req: RunRequest,
) -> Result<Response, RunsError> {
    let turn = Turn::new(assistant, key, req.input).options(req.options);
    let started = state.turns.start(turn).await?;
    let encoder = NativeEncoder::new(started.run_id.as_str(), thread_id.as_str());
    Ok(sse_response(started.stream(encoder)))
}
