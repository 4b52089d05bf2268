//! What a website owner pastes into a page: `GET /v1/public/widget.js` (the launcher,
//! built into the binary) and `GET /v1/public/bots/{botPublicId}/config` (what the
//! launcher shows before the first message).
//!
//! The launcher is served two ways: at `/v1/public/widget.js`, cached for five minutes
//! and revalidated by `ETag` (pages always get the current one soon after a deploy), and
//! at `/v1/public/widget/{version}/widget.js`, cached for a year as immutable (for pages
//! that pin a version; the version is the content's hash, printed in the `ETag` and the
//! `x-widget-script-version` header).

use std::sync::LazyLock;

use agentgate_shared::domain::ids::AssistantId;
use agentgate_shared::state::AppState;
use axum::Json;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderValue, StatusCode, header};
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::WidgetError;
use crate::bot;
use crate::headers::PageOrigin;

/// The launcher's source.
pub const SCRIPT: &str = include_str!("../assets/widget.js");

/// The launcher's version: the first 12 hex digits of its SHA-256.
pub static VERSION: LazyLock<String> =
    LazyLock::new(|| hex::encode(Sha256::digest(SCRIPT.as_bytes()))[..12].to_owned());

fn script(headers: &HeaderMap, cache: &'static str) -> Response {
    let etag = format!("\"{}\"", *VERSION);
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag));
    let mut resp = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        SCRIPT.into_response()
    };
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/javascript; charset=utf-8"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, v);
    }
    if let Ok(v) = HeaderValue::from_str(&VERSION) {
        h.insert("x-widget-script-version", v);
    }
    resp
}

/// `GET /v1/public/widget.js`: the current launcher.
pub async fn current(headers: HeaderMap) -> Response {
    script(&headers, "public, max-age=300")
}

/// `GET /v1/public/widget/{version}/widget.js`: the launcher pinned by its hash.
pub async fn pinned(Path(version): Path<String>, headers: HeaderMap) -> Response {
    if version != *VERSION {
        return (StatusCode::NOT_FOUND, "no launcher with that version").into_response();
    }
    script(&headers, "public, max-age=31536000, immutable")
}

/// `GET /v1/public/bots/{botPublicId}/config`: the bot's name, welcome message and colour,
/// and whether it proposes actions and cites sources.
#[tracing::instrument(name = "widget_config", skip_all)]
pub async fn config(
    State(state): State<AppState>,
    Path(id): Path<String>,
    PageOrigin(origin): PageOrigin,
) -> Result<Response, WidgetError> {
    let id = AssistantId::parse(&id).ok();
    let assistant = bot::find(&state, id.as_ref()).await?;
    let origin = bot::allowed_origin(&assistant, origin)?;
    let mut resp = Json(json!({
        "botPublicId": assistant.id,
        "name": assistant.name,
        "welcomeMessage": assistant.welcome_message(),
        "color": assistant.widget_color(),
        "actionsEnabled": !assistant.actions().is_empty(),
        "citationsEnabled": assistant.knowledge_version().is_some(),
    }))
    .into_response();
    resp.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=60"),
    );
    Ok(bot::echo_origin(resp, origin))
}
