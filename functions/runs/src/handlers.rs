//! Thin handlers: parse, authorize, pick the thread, then hand the turn to the turn service
//! with the native encoder.

use agentgate_shared::domain::assistant::{AccessDenied, AccessMode, Assistant};
use agentgate_shared::domain::ids::ThreadId;
use agentgate_shared::domain::memory::MemoryKey;
use agentgate_shared::domain::ratelimit::Cap;
use agentgate_shared::domain::thread::ThreadKey;
use agentgate_shared::domain::token;
use agentgate_shared::http::{JsonObject, Owner, SourceIp, sse_response};
use agentgate_shared::memory;
use agentgate_shared::ratelimit::{self, Guesses};
use agentgate_shared::state::AppState;
use agentgate_shared::stream::native::NativeEncoder;
use agentgate_shared::turn::{History, Turn};
use axum::extract::State;
use axum::response::Response;
use http::HeaderMap;

use crate::RunsError;
use crate::request::{Caller, RunRequest};
use crate::thread::{RunThread, public_thread};

/// `POST /public/runs/stream`: anyone the assistant's access mode admits.
#[tracing::instrument(name = "public_run", skip_all)]
pub async fn public_stream(
    State(state): State<AppState>,
    SourceIp(ip): SourceIp,
    headers: HeaderMap,
    JsonObject(body, ..): JsonObject<RunsError>,
) -> Result<Response, RunsError> {
    let mut req = RunRequest::parse(&body, Caller::Public)?;
    let assistant = find(&state, &req, |_| true).await?;
    let presented = token::extract(&headers, req.token.as_deref()).map(|(_, t)| t);
    let now = state.clock.now_secs();
    // Only a presented token can be a guess: open assistants skip the read.
    let guesses = match (assistant.access_mode(), presented) {
        (AccessMode::PublicToken, Some(_)) => {
            Some(Guesses::check(state.store.as_ref(), &state.settings, ip, now).await?)
        }
        _ => None,
    };
    if let Err(denied) = assistant.admit_public(presented, now) {
        if let (AccessDenied::InvalidToken, Some(g)) = (denied, &guesses) {
            g.failed(state.store.as_ref()).await?;
        }
        return Err(denied.into());
    }
    let caps = ratelimit::public_caps(
        &state.settings,
        &assistant.id,
        ip.map(|ip| format!("runs-ip:{ip}")),
    );
    let thread = public_thread(&state, &assistant, req.thread_id.take()).await?;
    run_turn(&state, &assistant, thread, req.public(), &caps).await
}

/// `POST /runs/stream`: the assistant's owner, with a user JWT.
#[tracing::instrument(name = "owner_run", skip_all)]
pub async fn owner_stream(
    State(state): State<AppState>,
    Owner(user, ..): Owner<RunsError>,
    JsonObject(body, ..): JsonObject<RunsError>,
) -> Result<Response, RunsError> {
    let mut req = RunRequest::parse(&body, Caller::Owner)?;
    // Someone else's assistant is reported as absent, not as forbidden.
    let assistant = find(&state, &req, |a| a.owner == user).await?;
    let memory = memory::scope(&assistant, MemoryKey::owner(&assistant.id, &user));
    let key =
        |id: &ThreadId| ThreadKey::owner(&assistant.id, &user, id).with_memory(memory.clone());
    let id = req.thread_id.take().unwrap_or_else(ThreadId::mint);
    run_turn(
        &state,
        &assistant,
        RunThread::new(id, key, History::Stored),
        req,
        &[],
    )
    .await
}

/// The assistant the request names, if `visible` to the caller.
async fn find(
    state: &AppState,
    req: &RunRequest,
    visible: impl Fn(&Assistant) -> bool,
) -> Result<Assistant, RunsError> {
    tracing::Span::current().record("assistant_id", req.assistant_id.as_str());
    state
        .assistants
        .get(&req.assistant_id)
        .await?
        .filter(visible)
        .ok_or_else(RunsError::not_found)
}

/// The turn, counted against `caps` while its history is read.
async fn run_turn(
    state: &AppState,
    assistant: &Assistant,
    thread: RunThread,
    req: RunRequest,
    caps: &[Cap],
) -> Result<Response, RunsError> {
    let mut turn = Turn::new(assistant, thread.key, req.input)
        .history(thread.history)
        .options(req.options);
    if req.public {
        turn = turn.public();
    }
    let admission = async {
        let now = state.clock.now_secs();
        Ok::<_, RunsError>(ratelimit::admit(state.store.as_ref(), caps, now).await?)
    };
    let started = state.turns.start_admitted(turn, admission).await?;
    let encoder = NativeEncoder::new(started.run_id.as_str(), thread.id.as_str())
        .ignoring(thread.ignored.as_ref().map(ThreadId::as_str));
    Ok(sse_response(started.stream(encoder)))
}
