//! Thin handler: parse, find the bot, count the caps, then hand the turn to the shared run
//! engine with the encoder of the widget's dialect.

use agentgate_shared::domain::assistant::AccessMode;
use agentgate_shared::domain::ids::{RunId, ThreadId};
use agentgate_shared::domain::message::{Message, Role};
use agentgate_shared::domain::thread::ThreadKey;
use agentgate_shared::http::{SourceIp, json_object, sse_response};
use agentgate_shared::ratelimit;
use agentgate_shared::run::{self, TurnOptions};
use agentgate_shared::state::AppState;
use agentgate_shared::stream::widget::{LegacyWidgetEncoder, TurnIds, UiMessageEncoder};
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::response::Response;
use http::{HeaderMap, HeaderValue};

use crate::WidgetError;
use crate::request::ChatRequest;

/// The header that selects the UI message stream.
pub const VERSION_HEADER: &str = "x-widget-version";

/// Whether the caller asked for the UI message stream (widget version 2 or later).
fn modern(headers: &HeaderMap) -> bool {
    headers
        .get(VERSION_HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u32>().ok())
        .is_some_and(|v| v >= 2)
}

/// `POST /v1/public/chat`: one visitor message, one streamed reply.
#[tracing::instrument(name = "widget_chat", skip_all)]
pub async fn chat(
    State(state): State<AppState>,
    SourceIp(ip): SourceIp,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, WidgetError> {
    let req = ChatRequest::parse(&json_object(body)?).map_err(WidgetError::Invalid)?;
    tracing::Span::current().record("assistant_id", req.bot.as_str());
    // Only assistants open to everyone serve a widget; any other is reported as absent.
    let assistant = state
        .store
        .get_assistant(&req.bot)
        .await?
        .filter(|a| a.access_mode() == AccessMode::PublicNoAuth)
        .ok_or(WidgetError::NotFound)?;
    let caps = ratelimit::widget_caps(
        &state.settings,
        &assistant.id,
        &assistant.owner,
        &req.visitor,
        ip,
    );
    ratelimit::admit(state.store.as_ref(), &caps, state.clock.now_secs()).await?;

    // A conversation continues only if it is this visitor's and still alive; otherwise a
    // new one starts, and its id comes back in the final event.
    // (At least one message is read, so a conversation is recognised even when no history
    // goes to the model.)
    let limit = state.settings.history_limit;
    let mut history = Vec::new();
    let mut conversation = None;
    if let Some(id) = req.conversation {
        let key = ThreadKey::widget(&assistant.id, &req.visitor, &id);
        let found = state.store.recent_messages(&key, limit.max(1)).await?;
        if !found.is_empty() {
            let skip = found.len().saturating_sub(limit);
            history = found.into_iter().skip(skip).map(|m| m.message).collect();
            conversation = Some(id);
        }
    }
    let conversation = conversation.unwrap_or_else(ThreadId::mint);
    let key = ThreadKey::widget(&assistant.id, &req.visitor, &conversation);
    let input = vec![Message::new(Role::Human, req.message)];
    let events = run::start_turn(
        &state.providers,
        &assistant,
        history,
        &input,
        &TurnOptions::default(),
    )
    .await?;
    let run_id = RunId::mint();
    let ids = TurnIds {
        message_id: run_id.as_str().to_owned(),
        conversation_id: conversation.as_str().to_owned(),
    };
    let hooks = run::save_turn(&state, &assistant.id, key, run_id, input);
    let pacing = state.settings.pacing;
    if modern(&headers) {
        let body = run::stream_body(events, UiMessageEncoder::new(ids), pacing, hooks);
        let mut resp = sse_response(body);
        resp.headers_mut().insert(
            "x-vercel-ai-ui-message-stream",
            HeaderValue::from_static("v1"),
        );
        Ok(resp)
    } else {
        let body = run::stream_body(events, LegacyWidgetEncoder::new(ids), pacing, hooks);
        Ok(sse_response(body))
    }
}
