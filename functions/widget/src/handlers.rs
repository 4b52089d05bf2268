//! Thin handler: parse, find the bot, pick the conversation, then hand the turn to the turn
//! service (which reads while the caps are counted) with the encoder of the widget's
//! dialect.

use agentgate_shared::domain::assistant::AccessMode;
use agentgate_shared::domain::ids::ThreadId;
use agentgate_shared::domain::message::{Message, Role};
use agentgate_shared::domain::thread::ThreadKey;
use agentgate_shared::http::{JsonObject, SourceIp, sse_response};
use agentgate_shared::ratelimit;
use agentgate_shared::state::AppState;
use agentgate_shared::stream::widget::{LegacyWidgetEncoder, TurnIds, UiMessageEncoder};
use agentgate_shared::turn::{History, Turn};
use axum::extract::State;
use axum::response::Response;
use http::HeaderValue;

use crate::WidgetError;
use crate::headers::{PageOrigin, UiStream};
use crate::request::ChatRequest;

/// `POST /v1/public/chat`: one visitor message, one streamed reply.
#[tracing::instrument(name = "widget_chat", skip_all)]
pub async fn chat(
    State(state): State<AppState>,
    SourceIp(ip): SourceIp,
    UiStream(modern): UiStream,
    PageOrigin(origin): PageOrigin,
    JsonObject(body, ..): JsonObject<WidgetError>,
) -> Result<Response, WidgetError> {
    let req = ChatRequest::parse(&body).map_err(WidgetError::Invalid)?;
    let bot = req.bot.clone().ok_or(WidgetError::NotFound)?;
    tracing::Span::current().record("assistant_id", bot.as_str());
    // Only assistants open to everyone serve a widget; any other is reported as absent.
    let assistant = state
        .assistants
        .get(&bot)
        .await?
        .filter(|a| a.access_mode() == AccessMode::PublicNoAuth)
        .ok_or(WidgetError::NotFound)?;
    // An owner may restrict which sites embed the bot; pages elsewhere are refused (a
    // request without an Origin is not a browser's cross-origin call).
    let origin = origin.filter(|_| assistant.restricts_origins());
    if let Some(o) = &origin
        && !assistant.allows_origin(o)
    {
        return Err(WidgetError::OriginNotAllowed);
    }
    let caps = ratelimit::widget_caps(
        &state.settings,
        &assistant.id,
        &assistant.owner,
        &req.visitor,
        ip,
    );
    // The caps and the owner's monthly ceiling, counted while the turn's reads run: a
    // message refused by any of them is counted by none.
    let admission = async {
        let store = state.store.as_ref();
        let now = state.clock.now_secs();
        let owner = &assistant.owner;
        match ratelimit::admit_within_plan(store, &state.settings, &caps, owner, now).await? {
            ratelimit::Plan::Within => Ok(()),
            ratelimit::Plan::Reached => Err(WidgetError::PlanLimit),
        }
    };
    // A conversation continues only if it is this visitor's and still alive; otherwise a
    // new one starts, and its id comes back in the final event.
    let mut continued = None;
    if let Some(id) = req.conversation {
        let key = ThreadKey::widget(&assistant.id, &req.visitor, &id);
        continued = state.turns.existing(&key).await?.map(|h| (id, h));
    }
    let (conversation, history) = continued.unwrap_or_else(|| (ThreadId::mint(), Vec::new()));
    let key = ThreadKey::widget(&assistant.id, &req.visitor, &conversation);
    let input = vec![Message::new(Role::Human, req.message)];
    let turn = Turn::new(&assistant, key, input)
        .history(History::Given(history))
        .public();
    let started = state.turns.start_admitted(turn, admission).await?;
    let ids = TurnIds::new(started.run_id.as_str(), conversation.as_str());
    let mut resp = if modern {
        let mut resp = sse_response(started.stream(UiMessageEncoder::new(ids)));
        resp.headers_mut().insert(
            "x-vercel-ai-ui-message-stream",
            HeaderValue::from_static("v1"),
        );
        resp
    } else {
        sse_response(started.stream(LegacyWidgetEncoder::new(ids)))
    };
    // A restricted bot answers its allowed origin by name, not `*`.
    if let Some(o) = origin.and_then(|o| HeaderValue::from_str(&o).ok()) {
        let h = resp.headers_mut();
        h.insert(http::header::ACCESS_CONTROL_ALLOW_ORIGIN, o);
        h.insert(http::header::VARY, HeaderValue::from_static("Origin"));
    }
    Ok(resp)
}
