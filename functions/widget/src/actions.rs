//! `POST /v1/public/actions/{executionId}/result`: the visitor's widget reports how a
//! proposed action ended.
//!
//! Only the visitor it was proposed to may settle it, once, before it expires; each
//! visitor may report at most [`RESULTS_PER_HOUR`] outcomes per bot per hour. An execution
//! id is a credential of sorts: ids that find nothing count as guesses of the caller's
//! address, like wrong tokens. The outcome
//! joins the conversation, so the next turn's model knows whether the visitor went ahead.

use agentgate_shared::domain::action::{Execution, MAX_OUTPUT_BYTES, Outcome};
use agentgate_shared::domain::ids::RunId;
use agentgate_shared::domain::message::{Message, Role};
use agentgate_shared::domain::ratelimit::Cap;
use agentgate_shared::domain::thread::{StoredMessage, ThreadKey};
use agentgate_shared::http::{JsonObject, SourceIp, opt_str};
use agentgate_shared::ratelimit::{self, Guesses};
use agentgate_shared::state::AppState;
use axum::Json;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::WidgetError;
use crate::bot;
use crate::headers::PageOrigin;
use crate::request::valid_visitor;

/// Outcomes one visitor may report per bot per hour.
pub const RESULTS_PER_HOUR: u64 = 30;

#[tracing::instrument(name = "widget_action_result", skip_all)]
pub async fn result(
    State(state): State<AppState>,
    Path(execution_id): Path<String>,
    SourceIp(ip): SourceIp,
    PageOrigin(origin): PageOrigin,
    JsonObject(body, ..): JsonObject<WidgetError>,
) -> Result<Response, WidgetError> {
    let visitor = opt_str(&body, "visitorId")
        .map_err(WidgetError::Invalid)?
        .ok_or_else(|| WidgetError::Invalid("visitorId is required".into()))?;
    let visitor = valid_visitor(visitor).map_err(WidgetError::Invalid)?;
    let status = opt_str(&body, "status").map_err(WidgetError::Invalid)?;
    let outcome = status.and_then(Outcome::parse).ok_or_else(|| {
        WidgetError::Invalid("status must be success, failure or cancelled".into())
    })?;
    let output = body.get("output").filter(|o| !o.is_null()).cloned();
    if output
        .as_ref()
        .is_some_and(|o| o.to_string().len() > MAX_OUTPUT_BYTES)
    {
        return Err(WidgetError::Invalid(format!(
            "output is larger than {MAX_OUTPUT_BYTES} bytes"
        )));
    }
    // Another visitor's execution is reported as absent, like an unknown id.
    let lookup = async {
        if !Execution::is_id(&execution_id) {
            return Ok(None);
        }
        Ok::<_, WidgetError>(state.store.execution(&execution_id).await?)
    };
    let store = state.store.as_ref();
    let now = state.clock.now_secs();
    let (guesses, found) = Guesses::check_while(store, &state.settings, ip, now, lookup).await?;
    let Some(execution) = found.filter(|e| e.visitor == visitor) else {
        guesses.failed(store).await?;
        return Err(WidgetError::ExecutionNotFound);
    };
    let assistant = bot::find(&state, Some(&execution.assistant)).await?;
    let origin = bot::allowed_origin(&assistant, origin)?;
    let cap = Cap::new(
        format!("widget-action:{}:{visitor}", assistant.id),
        RESULTS_PER_HOUR,
        3_600,
    );
    ratelimit::admit(state.store.as_ref(), &[cap], now).await?;
    if execution.outcome.is_some() {
        return Err(WidgetError::AlreadySettled);
    }
    if execution.expires_at <= now {
        return Err(WidgetError::Expired);
    }
    let settled = state
        .store
        .settle_execution(&execution.id, &visitor, outcome, output.as_ref(), now)
        .await?;
    if !settled {
        // Settled by a concurrent report, or expired a moment ago.
        return Err(WidgetError::AlreadySettled);
    }
    let note = Execution {
        outcome: Some(outcome),
        output,
        ..execution
    };
    let key = ThreadKey::widget(&note.assistant, &visitor, &note.conversation);
    let message = StoredMessage {
        // The visitor's report, so a user turn: its `output` is the visitor's words and
        // must never gain the standing of the owner's instructions.
        message: Message::new(Role::Human, note.outcome_note()),
        run_id: RunId::mint(),
        created_at: state.clock.now_ms(),
    };
    state
        .store
        .append_messages(&key, &[message], state.settings.thread_idle_ttl_secs)
        .await?;
    let resp = Json(json!({
        "executionId": note.id,
        "status": outcome.as_str(),
        "conversationId": note.conversation,
    }))
    .into_response();
    Ok(bot::echo_origin(resp, origin))
}
