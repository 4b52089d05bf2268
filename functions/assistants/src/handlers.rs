//! Owner handlers: authenticate, parse, apply the domain rule, store conditionally.

use agentgate_shared::domain::assistant::{Assistant, DEFAULT_ROTATION_OVERLAP_SECS};
use agentgate_shared::domain::ids::{AssistantId, UserId};
use agentgate_shared::http::json_object;
use agentgate_shared::ports::StoreError;
use agentgate_shared::state::AppState;
use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, RawQuery, State};
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, StatusCode};
use serde_json::{Value, json};

use crate::AssistantsError;
use crate::view::{assistant_json, parse_patch, usage_json};

/// How many times a patch is re-applied when another write raced it.
const UPDATE_ATTEMPTS: usize = 3;

#[tracing::instrument(name = "create_assistant", skip_all)]
pub async fn create(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, AssistantsError> {
    let user = state.jwt.verify_headers(&headers)?;
    let patch = parse_patch(&json_object(body)?)?;
    let assistant = Assistant::create(user, &patch, state.clock.now_ms())?;
    tracing::Span::current().record("assistant_id", assistant.id.as_str());
    state.store.create_assistant(&assistant).await?;
    Ok((StatusCode::CREATED, Json(assistant_json(&assistant))).into_response())
}

#[tracing::instrument(name = "list_assistants", skip_all)]
pub async fn list(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<Value>, AssistantsError> {
    let user = state.jwt.verify_headers(&headers)?;
    let all = state.store.list_assistants(&user).await?;
    Ok(Json(Value::Array(all.iter().map(assistant_json).collect())))
}

#[tracing::instrument(name = "read_assistant", skip_all)]
pub async fn read(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Value>, AssistantsError> {
    let user = state.jwt.verify_headers(&headers)?;
    let assistant = owned(&state, &user, &id).await?;
    Ok(Json(assistant_json(&assistant)))
}

#[tracing::instrument(name = "update_assistant", skip_all)]
pub async fn update(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, AssistantsError> {
    let user = state.jwt.verify_headers(&headers)?;
    let patch = parse_patch(&json_object(body)?)?;
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
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, AssistantsError> {
    let user = state.jwt.verify_headers(&headers)?;
    let overlap = match body.as_ref().map(|b| b.is_empty()) {
        Ok(true) => DEFAULT_ROTATION_OVERLAP_SECS,
        _ => match json_object(body)?.get("overlap_seconds") {
            None | Some(Value::Null) => DEFAULT_ROTATION_OVERLAP_SECS,
            Some(v) => v.as_i64().ok_or_else(|| {
                AssistantsError::Invalid("overlap_seconds must be an integer".into())
            })?,
        },
    };
    let mut minted = None;
    let next = retry_on_conflict(&state, &user, &id, |current| {
        let (next, token) = current.rotated(overlap, state.clock.now_ms())?;
        minted = Some(token);
        Ok(next)
    })
    .await?;
    let token = minted.ok_or(AssistantsError::NotFound)?;
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
    headers: HeaderMap,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, AssistantsError> {
    let user = state.jwt.verify_headers(&headers)?;
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
                AssistantsError::Invalid(format!(
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
    Ok(Json(usage_json(&assistant, days, &rows)))
}

async fn owned(state: &AppState, user: &UserId, id: &str) -> Result<Assistant, AssistantsError> {
    let id = AssistantId::parse(id).map_err(|_| AssistantsError::NotFound)?;
    tracing::Span::current().record("assistant_id", id.as_str());
    state
        .store
        .get_assistant(&id)
        .await?
        // Another owner's assistant is indistinguishable from a missing one.
        .filter(|a| &a.owner == user)
        .ok_or(AssistantsError::NotFound)
}

/// Reads, applies `change`, and writes conditionally on the version read, re-reading when
/// another writer got there first.
async fn retry_on_conflict<F>(
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
            Ok(()) => return Ok(next),
            Err(StoreError::Conflict) if attempt < UPDATE_ATTEMPTS => continue,
            Err(e) => return Err(e.into()),
        }
    }
}
