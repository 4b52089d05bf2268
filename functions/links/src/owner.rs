//! The owner's routes: list, create, update and delete the public links of one of their
//! assistants. `{name}` is the assistant's id, or its name when exactly one of the owner's
//! assistants has it; anyone else's assistant is 404.

use agentgate_shared::domain::assistant::Assistant;
use agentgate_shared::domain::ids::{AssistantId, UserId};
use agentgate_shared::domain::link::{LinkId, LinkSettings, MAX_LINKS_PER_ASSISTANT, PublicLink};
use agentgate_shared::domain::token::PublicToken;
use agentgate_shared::failure::Fault;
use agentgate_shared::http::{JsonObject, OptionalJsonObject, Owner};
use agentgate_shared::state::AppState;
use axum::Json;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, StatusCode};
use serde_json::{Value, json};

use crate::LinksError;

type OwnerJwt = Owner<LinksError>;

async fn owned_assistant(
    state: &AppState,
    user: &UserId,
    name: &str,
) -> Result<Assistant, LinksError> {
    if let Ok(id) = AssistantId::parse(name) {
        return state
            .store
            .get_assistant(&id)
            .await?
            .filter(|a| &a.owner == user)
            .ok_or(LinksError::Shared(Fault::AssistantNotFound));
    }
    let mut named: Vec<Assistant> = state
        .store
        .list_assistants(user)
        .await?
        .into_iter()
        .filter(|a| a.name == name)
        .collect();
    match named.len() {
        0 => Err(LinksError::Shared(Fault::AssistantNotFound)),
        1 => Ok(named.swap_remove(0)),
        _ => Err(LinksError::AmbiguousName),
    }
}

async fn owned_link(
    state: &AppState,
    user: &UserId,
    name: &str,
    id: &str,
) -> Result<PublicLink, LinksError> {
    let assistant = owned_assistant(state, user, name).await?;
    let id = LinkId::parse(id).map_err(|_| LinksError::UnknownLink)?;
    state
        .store
        .get_link(&assistant.id, &id)
        .await?
        .ok_or(LinksError::UnknownLink)
}

/// Email verification can only be switched on where mail can be sent.
fn check_mail(state: &AppState, settings: &LinkSettings) -> Result<(), LinksError> {
    if settings.require_email && !state.mailer.configured() {
        return Err(LinksError::MailUnavailable);
    }
    Ok(())
}

/// The page's address as the caller reached this API (the same function serves both).
fn page_url(headers: &HeaderMap, token: &str) -> String {
    let path = format!("/public/chat/{token}");
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    match header("host") {
        Some(host) if !host.contains(['/', ' ', '@']) => {
            let scheme = header("x-forwarded-proto")
                .filter(|p| *p == "https")
                .unwrap_or("http");
            format!("{scheme}://{host}{path}")
        }
        _ => path,
    }
}

#[tracing::instrument(name = "list_links", skip_all)]
pub async fn list(
    State(state): State<AppState>,
    Owner(user, ..): OwnerJwt,
    Path(name): Path<String>,
) -> Result<Json<Value>, LinksError> {
    let assistant = owned_assistant(&state, &user, &name).await?;
    let links = state.store.list_links(&assistant.id).await?;
    Ok(Json(Value::Array(
        links.iter().map(PublicLink::to_json).collect(),
    )))
}

/// `POST`: 201 with the link, and its token and page URL, shown this once.
#[tracing::instrument(name = "create_link", skip_all)]
pub async fn create(
    State(state): State<AppState>,
    Owner(user, ..): OwnerJwt,
    Path(name): Path<String>,
    headers: HeaderMap,
    OptionalJsonObject(body, ..): OptionalJsonObject<LinksError>,
) -> Result<Response, LinksError> {
    let assistant = owned_assistant(&state, &user, &name).await?;
    let settings = LinkSettings::default().patched(&body.unwrap_or_default())?;
    check_mail(&state, &settings)?;
    if state.store.list_links(&assistant.id).await?.len() >= MAX_LINKS_PER_ASSISTANT {
        return Err(LinksError::TooManyLinks(MAX_LINKS_PER_ASSISTANT));
    }
    let token = PublicToken::mint();
    let now = state.clock.now_ms();
    let link = PublicLink::new(&assistant.id, &user, token.digest(), settings, now);
    state.store.create_link(&link).await?;
    let mut out = link.to_json();
    out["token"] = json!(token.expose());
    out["url"] = json!(page_url(&headers, token.expose()));
    Ok((StatusCode::CREATED, Json(out)).into_response())
}

/// `PUT`: changes the fields present (the others keep their values).
#[tracing::instrument(name = "update_link", skip_all)]
pub async fn update(
    State(state): State<AppState>,
    Owner(user, ..): OwnerJwt,
    Path((name, id)): Path<(String, String)>,
    JsonObject(body, ..): JsonObject<LinksError>,
) -> Result<Json<Value>, LinksError> {
    let link = owned_link(&state, &user, &name, &id).await?;
    let settings = link.settings.patched(&body)?;
    check_mail(&state, &settings)?;
    let next = link.with_settings(settings, state.clock.now_ms());
    state.store.update_link(&link, &next).await?;
    state.assistants.forget_links(&link.assistant);
    Ok(Json(next.to_json()))
}

/// `DELETE`: the link and every session of it stop at once.
#[tracing::instrument(name = "delete_link", skip_all)]
pub async fn delete(
    State(state): State<AppState>,
    Owner(user, ..): OwnerJwt,
    Path((name, id)): Path<(String, String)>,
) -> Result<StatusCode, LinksError> {
    let link = owned_link(&state, &user, &name, &id).await?;
    state.store.delete_link(&link).await?;
    state.assistants.forget_links(&link.assistant);
    Ok(StatusCode::NO_CONTENT)
}
