//! `GET /public/chat/{token}`: the chat page, one self-contained HTML document compiled
//! into the binary (no build step, no CDN). The server fills in what the page needs to
//! start (or the notice it shows instead) and a fresh CSP nonce for its inline script and
//! style.
//!
//! The token is in the URL, so the page is never cached and sends no referrer; a strict
//! CSP allows only its own script, its own style and requests to this origin.

use agentgate_shared::state::AppState;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use serde_json::{Value, json};

use crate::access::LinkPath;

const PAGE: &str = include_str!("page.html");

#[tracing::instrument(name = "chat_page", skip_all)]
pub async fn page(State(state): State<AppState>, path: LinkPath) -> Response {
    let (status, boot) = match path.open(&state).await {
        Ok((link, assistant)) => (
            StatusCode::OK,
            json!({
                "token": path.token,
                "welcome_message": link.settings.welcome_message,
                "require_email": link.settings.require_email,
                "assistant_name": assistant.name,
            }),
        ),
        Err(e) => {
            let status = e.status();
            let notice = match status {
                StatusCode::NOT_FOUND | StatusCode::GONE => e.to_string(),
                _ => "This chat is unavailable right now. Please try again in a moment.".to_owned(),
            };
            (status, json!({"token": path.token, "notice": notice}))
        }
    };
    render(status, &boot)
}

fn render(status: StatusCode, boot: &Value) -> Response {
    let nonce = agentgate_shared::random::hex_string::<16>();
    // `<` never appears raw inside the data block, so no text can close the script element.
    let boot = boot.to_string().replace('<', "\\u003c");
    let html = PAGE
        .replace("{{NONCE}}", &nonce)
        .replace("{{BOOT_JSON}}", &boot);
    let csp = format!(
        "default-src 'none'; script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'; \
         connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; \
         frame-ancestors 'none'"
    );
    let mut resp = (status, html).into_response();
    let headers = resp.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    if let Ok(v) = HeaderValue::from_str(&csp) {
        headers.insert(header::CONTENT_SECURITY_POLICY, v);
    }
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    resp
}
