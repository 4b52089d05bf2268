//! Thin handler: parse, find the bot, pick the conversation, then hand the turn to the turn
//! service with the encoder of the widget's dialect. The caps, the turn's reads and the
//! knowledge-base retrieval run at once; the model starts only when all succeeded.

use std::sync::{Arc, OnceLock};

use agentgate_shared::domain::action::{Action, Execution, Proposer};
use agentgate_shared::domain::ids::ThreadId;
use agentgate_shared::domain::message::{Message, Role};
use agentgate_shared::domain::thread::ThreadKey;
use agentgate_shared::domain::tool::ToolCall;
use agentgate_shared::http::{JsonObject, SourceIp, sse_response};
use agentgate_shared::ports::StoreError;
use agentgate_shared::ratelimit;
use agentgate_shared::run::{OnComplete, TurnOptions};
use agentgate_shared::state::AppState;
use agentgate_shared::stream::widget::{
    Extras, LegacyWidgetEncoder, Propose, TurnIds, UiMessageEncoder,
};
use agentgate_shared::turn::{History, Turn};
use axum::extract::State;
use axum::response::Response;
use http::HeaderValue;
use serde_json::json;

use crate::WidgetError;
use crate::bot;
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
    let assistant = bot::find(&state, req.bot.as_ref()).await?;
    let origin = bot::allowed_origin(&assistant, origin)?;
    let caps = ratelimit::widget_caps(
        &state.settings,
        &assistant.id,
        &assistant.owner,
        &req.visitor,
        ip,
    );
    // The caps and the owner's monthly ceiling: a message refused by any of them is
    // counted by none.
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
    // The owner's actions are offered as tools; the calls the model makes become proposals
    // stored with the turn, under ids minted now so the stream names the same ones.
    let actions = assistant.actions();
    let tools = actions.iter().map(Action::tool).collect();
    let planned = (!actions.is_empty()).then(|| {
        Arc::new(Planned {
            proposer: Proposer::new(
                assistant.id.clone(),
                req.visitor.clone(),
                conversation.clone(),
                state.clock.now_secs(),
            ),
            actions,
            executions: OnceLock::new(),
        })
    });
    let options = TurnOptions {
        tools,
        ..TurnOptions::default()
    };
    let mut turn = Turn::new(
        &assistant,
        key,
        vec![Message::new(Role::Human, req.message.clone())],
    )
    .history(History::Given(history))
    .options(options)
    .public();
    if let Some(p) = &planned {
        turn = turn.recorded_by(record_proposals(&state, p.clone()));
    }
    let reads = async { state.turns.prepare(turn).await.map_err(WidgetError::from) };
    let retrieval =
        async { Ok::<_, WidgetError>(state.knowledge.retrieve(&assistant, &req.message).await?) };
    let (prepared, (), retrieved) = tokio::try_join!(reads, admission, retrieval)?;
    let context = retrieved.as_ref().and_then(|r| r.prompt());
    let started = prepared.with_context(context).start().await?;
    let ids = TurnIds::new(started.run_id.as_str(), conversation.as_str());
    let extras = Extras {
        propose: planned.map(proposals),
        retrieved,
    };
    let resp = if modern {
        let encoder = UiMessageEncoder::new(ids).with_extras(extras);
        let mut resp = sse_response(started.stream(encoder));
        resp.headers_mut().insert(
            "x-vercel-ai-ui-message-stream",
            HeaderValue::from_static("v1"),
        );
        resp
    } else {
        sse_response(started.stream(LegacyWidgetEncoder::new(ids).with_extras(extras)))
    };
    Ok(bot::echo_origin(resp, origin))
}

/// A turn's proposals, planned once from the reply's tool calls: stored by the turn's
/// recorder (before the final frame) and streamed by the encoder from the same list.
struct Planned {
    proposer: Proposer,
    actions: Vec<Action>,
    executions: OnceLock<Vec<Execution>>,
}

impl Planned {
    /// The executions for `calls`; calls that name no action or break its schema are
    /// logged and dropped (the first time only).
    fn executions(&self, calls: &[ToolCall]) -> &[Execution] {
        self.executions.get_or_init(|| {
            let (executions, dropped) = self.proposer.plan(&self.actions, calls);
            for why in dropped {
                tracing::warn!(call = %why, "tool call dropped");
            }
            executions
        })
    }
}

/// The stream's proposals as `{id, data}` payloads.
fn proposals(planned: Arc<Planned>) -> Propose {
    Arc::new(move |calls| {
        planned
            .executions(calls)
            .iter()
            .map(|e| json!({"id": e.id, "data": e.proposal()}))
            .collect()
    })
}

/// Stores the turn's proposals with the transcript, before the final frame: a visitor who
/// settles one the moment it appears finds it.
fn record_proposals(state: &AppState, planned: Arc<Planned>) -> OnComplete {
    let store = state.store.clone();
    Box::new(move |completion| {
        Box::pin(async move {
            let executions = planned.executions(&completion.tool_calls);
            if executions.is_empty() {
                return Ok::<(), StoreError>(());
            }
            store.put_executions(executions).await
        })
    })
}
