//! Owner handlers: the extractors authenticate and parse; each handler applies the domain
//! rule and stores conditionally.

use agentgate_shared::domain::assistant::{Assistant, DEFAULT_ROTATION_OVERLAP_SECS};
use agentgate_shared::domain::ids::parse_end_user;
use agentgate_shared::domain::ids::{AssistantId, UserId};
use agentgate_shared::domain::link::parse_email;
use agentgate_shared::domain::memory::MemoryKey;
use agentgate_shared::domain::thread::ThreadKey;
use agentgate_shared::failure::Fault;
use agentgate_shared::http::{JsonObject, OptionalJsonObject, Owner};
use agentgate_shared::ports::StoreError;
use agentgate_shared::ratelimit;
use agentgate_shared::state::AppState;
use axum::Json;
use axum::extract::{Path, Query, RawQuery, State};
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use serde_json::{Value, json};

use crate::AssistantsError;
use crate::view::{Budget, assistant_json, memory_json, parse_patch, usage_json};

/// The owner, from the user JWT.
type OwnerJwt = Owner<AssistantsError>;
/// A JSON object body.
type Body = JsonObject<AssistantsError>;

/// How many times a patch is re-applied when another write raced it.
const UPDATE_ATTEMPTS: usize = 3;

#[tracing::instrument(name = "create_assistant", skip_all)]
pub async fn create(
    State(state): State<AppState>,
    Owner(user, ..): OwnerJwt,
    JsonObject(body, ..): Body,
) -> Result<Response, AssistantsError> {
    let patch = parse_patch(&body)?;
    let assistant = Assistant::create(user, &patch, state.clock.now_ms())?;
    tracing::Span::current().record("assistant_id", assistant.id.as_str());
    state.store.create_assistant(&assistant).await?;
    Ok((StatusCode::CREATED, Json(assistant_json(&assistant))).into_response())
}

#[tracing::instrument(name = "list_assistants", skip_all)]
pub async fn list(
    State(state): State<AppState>,
    Owner(user, ..): OwnerJwt,
    Query(page): Query<Page>,
) -> Result<Response, AssistantsError> {
    let limit = match page.limit.as_deref().map(str::parse::<usize>) {
        None => DEFAULT_PAGE,
        Some(Ok(n)) if (1..=MAX_PAGE).contains(&n) => n,
        Some(_) => {
            return Err(Fault::invalid(format!("limit must be from 1 to {MAX_PAGE}")).into());
        }
    };
    let all = state.store.list_assistants(&user).await?;
    // Oldest first; a page starts after the assistant its cursor names.
    let start = match &page.cursor {
        None => 0,
        Some(c) => all
            .iter()
            .position(|a| a.id.as_str() == c)
            .map_or(all.len(), |i| i + 1),
    };
    let shown: Vec<Value> = all
        .iter()
        .skip(start)
        .take(limit)
        .map(assistant_json)
        .collect();
    let next = (start + limit < all.len()).then(|| all[start + limit - 1].id.to_string());
    let mut resp = Json(Value::Array(shown)).into_response();
    if let Some(next) = next.and_then(|n| http::HeaderValue::from_str(&n).ok()) {
        resp.headers_mut().insert(NEXT_CURSOR, next);
    }
    Ok(resp)
}

/// The header naming where the next page of `GET /assistants` starts (absent on the last).
pub const NEXT_CURSOR: &str = "x-next-cursor";
const DEFAULT_PAGE: usize = 100;
const MAX_PAGE: usize = 200;

/// `GET /assistants?limit=&cursor=`.
#[derive(Debug, serde::Deserialize)]
pub struct Page {
    limit: Option<String>,
    cursor: Option<String>,
}

#[tracing::instrument(name = "read_assistant", skip_all)]
pub async fn read(
    State(state): State<AppState>,
    Owner(user, ..): OwnerJwt,
    Path(id): Path<String>,
) -> Result<Json<Value>, AssistantsError> {
    let assistant = owned(&state, &user, &id).await?;
    Ok(Json(assistant_json(&assistant)))
}

#[tracing::instrument(name = "update_assistant", skip_all)]
pub async fn update(
    State(state): State<AppState>,
    Owner(user, ..): OwnerJwt,
    Path(id): Path<String>,
    JsonObject(body, ..): Body,
) -> Result<Json<Value>, AssistantsError> {
    let patch = parse_patch(&body)?;
    let next = retry_on_conflict(&state, &user, &id, |current| {
        current
            .patched(&patch, state.clock.now_ms())
            .map_err(Into::into)
    })
    .await?;
    Ok(Json(assistant_json(&next)))
}

/// `POST /assistants/{id}/public-token`: mints a new token, returned once. The previous
/// token keeps working for `overlap_seconds` (default one day; 0 revokes it at once).
#[tracing::instrument(name = "rotate_token", skip_all)]
pub async fn rotate_token(
    State(state): State<AppState>,
    Owner(user, ..): OwnerJwt,
    Path(id): Path<String>,
    OptionalJsonObject(body, ..): OptionalJsonObject<AssistantsError>,
) -> Result<Json<Value>, AssistantsError> {
    let overlap = match body.as_ref().and_then(|b| b.get("overlap_seconds")) {
        None | Some(Value::Null) => DEFAULT_ROTATION_OVERLAP_SECS,
        Some(v) => v
            .as_i64()
            .ok_or_else(|| Fault::invalid("overlap_seconds must be an integer"))?,
    };
    let mut minted = None;
    let next = retry_on_conflict(&state, &user, &id, |current| {
        let (next, token) = current.rotated(overlap, state.clock.now_ms())?;
        minted = Some(token);
        Ok(next)
    })
    .await?;
    let token = minted.ok_or(Fault::AssistantNotFound)?;
    Ok(Json(json!({
        "public_token": token.expose(),
        "note": "store this token now: it is not shown again",
        "assistant": assistant_json(&next),
    })))
}

/// Longest usage window an owner can ask for.
const MAX_USAGE_DAYS: i64 = 90;

/// `GET /assistants/{id}/usage?days=N`: daily requests, messages, tokens and latency for
/// the last N days (default 30, at most 90), with totals.
#[tracing::instrument(name = "assistant_usage", skip_all)]
pub async fn usage(
    State(state): State<AppState>,
    Owner(user, ..): OwnerJwt,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, AssistantsError> {
    let days = match query
        .as_deref()
        .and_then(|q| q.split('&').find_map(|kv| kv.strip_prefix("days=")))
    {
        None => 30,
        Some(raw) => raw
            .parse::<i64>()
            .ok()
            .filter(|d| (1..=MAX_USAGE_DAYS).contains(d))
            .ok_or_else(|| {
                Fault::invalid(format!(
                    "days must be an integer from 1 to {MAX_USAGE_DAYS}"
                ))
            })?,
    };
    let assistant = owned(&state, &user, &id).await?;
    let today = state.clock.now_secs().div_euclid(86_400);
    let rows = state
        .store
        .usage(&assistant.id, today - days + 1, today)
        .await?;
    let budget = Budget {
        tokens: assistant
            .daily_token_budget()
            .unwrap_or(state.settings.daily_token_budget),
        today,
    };
    let mut out = usage_json(&assistant, days, &rows, budget);
    // The owner's widget messages this month, against their plan's ceiling.
    let now = state.clock.now_secs();
    let used = ratelimit::plan_used(state.store.as_ref(), &user, now).await?;
    out["plan"] = json!({
        "monthly_messages": state.settings.owner_monthly_messages,
        "used_this_month": used,
    });
    Ok(Json(out))
}

/// Whose memory a memory route names: the caller (`memories/owner`), a named end user of
/// the OpenAI-compatible endpoint (`memories/end-users/{id}`) or an email verified through
/// a public link (`memories/emails/{email}`).
#[derive(Debug, Clone, Copy)]
enum Whose<'a> {
    Owner,
    EndUser(&'a str),
    Email(&'a str),
}

impl<'a> Whose<'a> {
    fn of(kind: &str, who: &'a str) -> Result<Self, AssistantsError> {
        match kind {
            "end-users" => Ok(Self::EndUser(who)),
            "emails" => Ok(Self::Email(who)),
            _ => Err(AssistantsError::NoMemory),
        }
    }
}

async fn memory_of(
    state: &AppState,
    user: &UserId,
    id: &str,
    whose: Whose<'_>,
) -> Result<(MemoryKey, Value), AssistantsError> {
    let assistant = owned(state, user, id).await?;
    Ok(match whose {
        Whose::Owner => (
            MemoryKey::owner(&assistant.id, user),
            json!({"kind": "owner", "id": user.as_str()}),
        ),
        Whose::EndUser(raw) => {
            let key = MemoryKey::parse_end_user(&assistant.id, raw)?;
            (key, json!({"kind": "end_user", "id": raw.trim()}))
        }
        Whose::Email(raw) => {
            let email = parse_email(raw)?;
            let key = MemoryKey::verified_email(&assistant.id, &email);
            (key, json!({"kind": "email", "id": email}))
        }
    })
}

async fn read_memory(
    state: &AppState,
    user: &UserId,
    id: &str,
    whose: Whose<'_>,
) -> Result<Json<Value>, AssistantsError> {
    let (key, who) = memory_of(state, user, id, whose).await?;
    let memory = state
        .store
        .memory(&key)
        .await?
        .ok_or(AssistantsError::NoMemory)?;
    Ok(Json(memory_json(key.assistant(), who, &memory)))
}

async fn forget_memory(
    state: &AppState,
    user: &UserId,
    id: &str,
    whose: Whose<'_>,
    transcript: bool,
) -> Result<StatusCode, AssistantsError> {
    let (key, _) = memory_of(state, user, id, whose).await?;
    if transcript {
        // What the OpenAI endpoint recorded for this end user goes with the memory.
        let Whose::EndUser(raw) = whose else {
            return Err(Fault::invalid("transcript=true applies to end users").into());
        };
        let end_user = parse_end_user(raw).ok_or_else(|| Fault::invalid("bad end user"))?;
        let thread = ThreadKey::openai(key.assistant(), end_user);
        state.store.delete_thread(&thread).await?;
    }
    state.store.forget(&key).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `?transcript=true` on an erase.
#[derive(Debug, serde::Deserialize)]
pub struct Erase {
    transcript: Option<String>,
}

impl Erase {
    fn transcript(&self) -> Result<bool, AssistantsError> {
        match self.transcript.as_deref() {
            None | Some("false") => Ok(false),
            Some("true") => Ok(true),
            Some(_) => Err(Fault::invalid("transcript must be true or false").into()),
        }
    }
}

/// `GET /assistants/{id}/memories/owner`: what the assistant remembers about its owner.
#[tracing::instrument(name = "read_owner_memory", skip_all)]
pub async fn owner_memory(
    State(state): State<AppState>,
    Owner(user, ..): OwnerJwt,
    Path(id): Path<String>,
) -> Result<Json<Value>, AssistantsError> {
    read_memory(&state, &user, &id, Whose::Owner).await
}

/// `DELETE /assistants/{id}/memories/owner`.
#[tracing::instrument(name = "forget_owner_memory", skip_all)]
pub async fn forget_owner_memory(
    State(state): State<AppState>,
    Owner(user, ..): OwnerJwt,
    Path(id): Path<String>,
) -> Result<StatusCode, AssistantsError> {
    forget_memory(&state, &user, &id, Whose::Owner, false).await
}

/// `GET /assistants/{id}/memories/{end-users|emails}/{who}`: what the assistant remembers
/// about one named end user of the OpenAI-compatible endpoint, or one email verified
/// through a public link.
#[tracing::instrument(name = "read_user_memory", skip_all)]
pub async fn user_memory(
    State(state): State<AppState>,
    Owner(user, ..): OwnerJwt,
    Path((id, kind, who)): Path<(String, String, String)>,
) -> Result<Json<Value>, AssistantsError> {
    read_memory(&state, &user, &id, Whose::of(&kind, &who)?).await
}

/// `DELETE /assistants/{id}/memories/{end-users|emails}/{who}`: forgets that user (for
/// example on their request); absent is fine. With `?transcript=true`, an end user's
/// transcript of the OpenAI-compatible endpoint is erased too.
#[tracing::instrument(name = "forget_user_memory", skip_all)]
pub async fn forget_user_memory(
    State(state): State<AppState>,
    Owner(user, ..): OwnerJwt,
    Path((id, kind, who)): Path<(String, String, String)>,
    Query(erase): Query<Erase>,
) -> Result<StatusCode, AssistantsError> {
    let whose = Whose::of(&kind, &who)?;
    forget_memory(&state, &user, &id, whose, erase.transcript()?).await
}

pub(crate) async fn owned(
    state: &AppState,
    user: &UserId,
    id: &str,
) -> Result<Assistant, AssistantsError> {
    let id = AssistantId::parse(id).map_err(|_| Fault::AssistantNotFound)?;
    tracing::Span::current().record("assistant_id", id.as_str());
    state
        .store
        .get_assistant(&id)
        .await?
        // Another owner's assistant is indistinguishable from a missing one.
        .filter(|a| &a.owner == user)
        .ok_or(Fault::AssistantNotFound.into())
}

/// Reads, applies `change`, and writes conditionally on the version read, re-reading when
/// another writer got there first.
pub(crate) async fn retry_on_conflict<F>(
    state: &AppState,
    user: &UserId,
    id: &str,
    mut change: F,
) -> Result<Assistant, AssistantsError>
where
    F: FnMut(&Assistant) -> Result<Assistant, AssistantsError>,
{
    let mut attempt = 0;
    loop {
        attempt += 1;
        let current = owned(state, user, id).await?;
        let next = change(&current)?;
        match state.store.update_assistant(&current, &next).await {
            Ok(()) => {
                // This process's public families see the change at once; other
                // instances within the cache window (see `agentgate_shared::cache`).
                state.assistants.forget(&next.id);
                return Ok(next);
            }
            Err(StoreError::Conflict) if attempt < UPDATE_ATTEMPTS => continue,
            Err(e) => return Err(e.into()),
        }
    }
}
