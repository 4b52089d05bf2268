//! The public API of a link: what the page shows first, anonymous sessions, the chat turn
//! (a UI message stream with status labels), history and new conversations.

use agentgate_shared::domain::ids::ThreadId;
use agentgate_shared::domain::link::{
    MAX_MESSAGE_CHARS, SESSION_IDLE_SECS, SESSIONS_PER_IP_PER_HOUR, Session, SessionToken, Subject,
    VisitorKey,
};
use agentgate_shared::domain::message::{Message, Role};
use agentgate_shared::domain::ratelimit::Cap;
use agentgate_shared::domain::time::rfc3339_ms;
use agentgate_shared::http::{JsonObject, SourceIp, opt_str, sse_response};
use agentgate_shared::memory;
use agentgate_shared::ratelimit;
use agentgate_shared::state::AppState;
use agentgate_shared::stream::widget::{StatusLabels, TurnIds, UiMessageEncoder};
use agentgate_shared::turn::Turn;
use axum::Json;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode};
use serde_json::{Value, json};

use crate::LinksError;
use crate::access::{LinkPath, LinkSession};

/// How many messages the history of one conversation returns at most.
const HISTORY_LIMIT: usize = 200;

/// `GET /api/public/links/{token}`: what the page shows before the first message.
#[tracing::instrument(name = "link_info", skip_all)]
pub async fn info(
    State(state): State<AppState>,
    path: LinkPath,
) -> Result<Json<Value>, LinksError> {
    let (link, assistant) = path.open(&state).await?;
    Ok(Json(json!({
        "welcome_message": link.settings.welcome_message,
        "require_email": link.settings.require_email,
        "assistant_name": assistant.name,
    })))
}

/// `POST /api/public/sessions/{token}`: an anonymous session and its first conversation.
#[tracing::instrument(name = "create_session", skip_all)]
pub async fn create_session(
    State(state): State<AppState>,
    path: LinkPath,
) -> Result<Response, LinksError> {
    let (link, _) = path.open(&state).await?;
    if link.settings.require_email {
        return Err(LinksError::EmailRequired);
    }
    // Per source address, so minting sessions does not escape the per-session limit.
    if let Some(ip) = path.ip {
        let cap = Cap::new(
            format!("link-sessions:{ip}"),
            SESSIONS_PER_IP_PER_HOUR,
            3_600,
        );
        ratelimit::admit(state.store.as_ref(), &[cap], state.clock.now_secs()).await?;
    }
    let subject = Subject::Anonymous(uuid::Uuid::new_v4().simple().to_string());
    let (token, conversation) = open_session(&state, &link.id, &link.assistant, subject).await?;
    let body = json!({"session_token": token.expose(), "conversation_id": conversation.as_str()});
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

/// Stores a new session of `subject` and returns its token with the conversation it
/// continues: the subject's latest, or a new one.
pub async fn open_session(
    state: &AppState,
    link: &agentgate_shared::domain::link::LinkId,
    assistant: &agentgate_shared::domain::ids::AssistantId,
    subject: Subject,
) -> Result<(SessionToken, ThreadId), LinksError> {
    let token = SessionToken::mint();
    let session = Session {
        digest: token.digest(),
        link: link.clone(),
        assistant: assistant.clone(),
        subject,
        expires_at: state.clock.now_secs() + SESSION_IDLE_SECS,
    };
    state.store.create_session(&session).await?;
    let visitor = session.visitor();
    let latest = state.store.conversations(&visitor).await?.pop();
    let conversation = match latest {
        Some(c) => c,
        None => new_conversation(state, &visitor).await?,
    };
    Ok((token, conversation))
}

async fn new_conversation(state: &AppState, visitor: &VisitorKey) -> Result<ThreadId, LinksError> {
    let id = ThreadId::mint();
    state.store.add_conversation(visitor, &id).await?;
    Ok(id)
}

/// `POST /api/public/conversations/{token}`: a new conversation; earlier ones stay readable.
#[tracing::instrument(name = "new_conversation", skip_all)]
pub async fn create_conversation(
    State(state): State<AppState>,
    LinkSession { session, .. }: LinkSession,
) -> Result<Response, LinksError> {
    let id = new_conversation(&state, &session.visitor()).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"conversation_id": id.as_str()})),
    )
        .into_response())
}

#[derive(Debug, serde::Deserialize)]
pub struct HistoryQuery {
    conversation_id: Option<String>,
}

/// `GET /api/public/history/{token}`: one of the session's conversations, oldest first.
#[tracing::instrument(name = "link_history", skip_all)]
pub async fn history(
    State(state): State<AppState>,
    LinkSession { session, .. }: LinkSession,
    Query(q): Query<HistoryQuery>,
) -> Result<Json<Value>, LinksError> {
    let mine = state.store.conversations(&session.visitor()).await?;
    let conversation = match q.conversation_id {
        Some(raw) => mine
            .into_iter()
            .find(|c| c.as_str() == raw)
            .ok_or(LinksError::ConversationNotFound)?,
        None => match mine.last() {
            Some(c) => c.clone(),
            None => return Ok(Json(json!({"conversation_id": null, "messages": []}))),
        },
    };
    let key = session.thread(&conversation, None);
    let stored = state.store.recent_messages(&key, HISTORY_LIMIT).await?;
    let messages: Vec<Value> = stored
        .iter()
        .map(|m| {
            let role = match m.message.role {
                Role::Human => "user",
                _ => "assistant",
            };
            json!({"role": role, "content": m.message.content, "created_at": rfc3339_ms(m.created_at)})
        })
        .collect();
    Ok(Json(
        json!({"conversation_id": conversation.as_str(), "messages": messages}),
    ))
}

/// `POST /api/public/chat/{token}`: one message, one streamed reply.
#[tracing::instrument(name = "link_chat", skip_all)]
pub async fn chat(
    State(state): State<AppState>,
    SourceIp(ip): SourceIp,
    LinkSession {
        link,
        assistant,
        session,
    }: LinkSession,
    JsonObject(body, ..): JsonObject<LinksError>,
) -> Result<Response, LinksError> {
    let text = match body.get("message") {
        Some(Value::String(s))
            if !s.trim().is_empty() && s.chars().count() <= MAX_MESSAGE_CHARS =>
        {
            s.trim().to_owned()
        }
        _ => {
            return Err(LinksError::Invalid(format!(
                "message must be a non-empty string of at most {MAX_MESSAGE_CHARS} characters"
            )));
        }
    };
    let asked = opt_str(&body, "conversation_id").map_err(LinksError::Invalid)?;
    // Per session (or verified email) per hour, as the owner set it, then the assistant's
    // daily cap shared with every public endpoint.
    let mut caps = vec![Cap::new(
        format!("link:{}:{}", link.id, session.subject.as_key()),
        u64::from(link.settings.rate_limit_per_hour),
        3_600,
    )];
    caps.extend(ratelimit::ip_cap(
        &state.settings,
        "link",
        &assistant.id,
        ip,
    ));
    caps.extend(ratelimit::public_caps(&state.settings, &assistant.id, None));
    // The caps are counted while the session's conversations are read and, when the
    // request names a conversation (the chat page always does), while that conversation's
    // history, the budget and the memory are read too: one round trip. The thread key holds
    // the session's subject, so a conversation that is not the session's reads nothing,
    // and it is dropped below anyway.
    let visitor = session.visitor();
    let memory = session
        .memory_key()
        .and_then(|k| memory::scope(&assistant, k));
    let text = vec![Message::new(Role::Human, text)];
    let admission = async {
        let now = state.clock.now_secs();
        Ok::<_, LinksError>(ratelimit::admit(state.store.as_ref(), &caps, now).await?)
    };
    let conversations = async { Ok::<_, LinksError>(state.store.conversations(&visitor).await?) };
    let named = asked.and_then(|id| ThreadId::parse(id).ok());
    let early = async {
        let Some(id) = &named else { return Ok(None) };
        let turn = Turn::new(&assistant, session.thread(id, memory.clone()), text.clone()).public();
        Ok::<_, LinksError>(Some(state.turns.prepare(turn).await?))
    };
    let ((), mine, early) = tokio::try_join!(admission, conversations, early)?;

    // Only the session's own conversations continue; any other id starts a new one.
    let (conversation, prepared) = match (named, early) {
        (Some(id), Some(prepared)) if mine.contains(&id) => (id, prepared),
        _ => {
            let conversation = match (asked, mine.last()) {
                (None, Some(last)) => last.clone(),
                _ => new_conversation(&state, &visitor).await?,
            };
            let key = session.thread(&conversation, memory);
            let turn = Turn::new(&assistant, key, text).public();
            (conversation, state.turns.prepare(turn).await?)
        }
    };
    let labels = StatusLabels::new(prepared.continues());
    let started = prepared.start().await?;
    let ids = TurnIds::new(started.run_id.as_str(), conversation.as_str());
    let mut resp = sse_response(started.stream(UiMessageEncoder::new(ids).with_status(labels)));
    resp.headers_mut().insert(
        "x-vercel-ai-ui-message-stream",
        HeaderValue::from_static("v1"),
    );
    Ok(resp)
}
