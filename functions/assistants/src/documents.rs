//! The knowledge base of an assistant: `POST`, `GET` and `DELETE` on
//! `/assistants/{id}/documents`. Each change gives the assistant a new knowledge version,
//! so every warm widget instance rebuilds its index on its next turn (within the assistant
//! cache window on other instances).

use agentgate_shared::domain::assistant::Assistant;
use agentgate_shared::domain::ids::UserId;
use agentgate_shared::failure::Fault;
use agentgate_shared::http::{JsonObject, Owner, opt_str};
use agentgate_shared::knowledge::{Document, MAX_DOCUMENTS};
use agentgate_shared::state::AppState;
use axum::Json;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use serde_json::{Value, json};

use crate::AssistantsError;
use crate::handlers::{owned, retry_on_conflict};

type OwnerJwt = Owner<AssistantsError>;

/// Records the knowledge base's new size and version on `assistant` (already found to be
/// the owner's).
async fn bump(
    state: &AppState,
    owner: &UserId,
    id: &str,
    assistant: &Assistant,
) -> Result<(), AssistantsError> {
    let count = state.store.documents(&assistant.id).await?.len();
    retry_on_conflict(state, owner, id, |current| {
        Ok(current.with_knowledge(count, state.clock.now_ms()))
    })
    .await?;
    Ok(())
}

/// `POST /assistants/{id}/documents` `{title, content, url?, format?}`: adds a text or
/// Markdown document (at most [`agentgate_shared::knowledge::MAX_DOCUMENT_BYTES`]).
#[tracing::instrument(name = "add_document", skip_all)]
pub async fn add(
    State(state): State<AppState>,
    Owner(user, ..): OwnerJwt,
    Path(id): Path<String>,
    JsonObject(body, ..): JsonObject<AssistantsError>,
) -> Result<Response, AssistantsError> {
    let field = |name: &str| opt_str(&body, name).map_err(Fault::invalid);
    let title = field("title")?.ok_or_else(|| Fault::invalid("title is required"))?;
    let content = field("content")?.ok_or_else(|| Fault::invalid("content is required"))?;
    let url = field("url")?;
    match field("format")? {
        None | Some("text" | "markdown") => {}
        Some(_) => return Err(Fault::invalid("format must be text or markdown").into()),
    }
    let assistant = owned(&state, &user, &id).await?;
    let existing = state.store.documents(&assistant.id).await?.len();
    if existing >= MAX_DOCUMENTS {
        return Err(Fault::invalid(format!(
            "an assistant holds at most {MAX_DOCUMENTS} documents; delete one first"
        ))
        .into());
    }
    let document = Document::create(
        assistant.id.clone(),
        title,
        url,
        content,
        state.clock.now_ms(),
    )
    .map_err(|e| Fault::invalid(e.to_string()))?;
    state.store.put_document(&document).await?;
    bump(&state, &user, &id, &assistant).await?;
    Ok((StatusCode::CREATED, Json(document.summary())).into_response())
}

/// `GET /assistants/{id}/documents`: the documents, oldest first, without their text.
#[tracing::instrument(name = "list_documents", skip_all)]
pub async fn list(
    State(state): State<AppState>,
    Owner(user, ..): OwnerJwt,
    Path(id): Path<String>,
) -> Result<Json<Value>, AssistantsError> {
    let assistant = owned(&state, &user, &id).await?;
    let docs = state.store.documents(&assistant.id).await?;
    Ok(Json(json!({
        "documents": docs.iter().map(Document::summary).collect::<Vec<_>>(),
        "version": assistant.knowledge_version(),
    })))
}

/// `DELETE /assistants/{id}/documents/{document_id}`.
#[tracing::instrument(name = "delete_document", skip_all)]
pub async fn delete(
    State(state): State<AppState>,
    Owner(user, ..): OwnerJwt,
    Path((id, document)): Path<(String, String)>,
) -> Result<StatusCode, AssistantsError> {
    let assistant = owned(&state, &user, &id).await?;
    if !state
        .store
        .delete_document(&assistant.id, &document)
        .await?
    {
        return Err(AssistantsError::NoDocument);
    }
    bump(&state, &user, &id, &assistant).await?;
    Ok(StatusCode::NO_CONTENT)
}
