//! The `openai` family: an OpenAI-compatible API (chat completions and the Responses API)
//! for no-code tools and SDKs.
//!
//! The bearer token alone identifies the assistant, so Typebot, Zapier, Make, n8n and the
//! OpenAI or Vercel AI SDKs only need a base URL and a token. Clients resend the whole
//! conversation every turn: the request's messages are the conversation, and only the new
//! turn is added to the end user's transcript (keyed by the request's `user` field or the
//! `X-End-User` header).

mod auth;
mod error;
mod handlers;
mod request;
mod responses;

use agentgate_shared::state::AppState;
use axum::Router;
use axum::routing::{get, post};

pub use error::OpenAiError;

/// Where the API lives; clients use `<function url>/public/openai/v1` as their base URL.
pub const BASE_PATH: &str = "/public/openai/v1";

pub fn router(state: AppState) -> Router {
    let routes = Router::new()
        .route(
            &format!("{BASE_PATH}/chat/completions"),
            post(handlers::chat_completions),
        )
        .route(&format!("{BASE_PATH}/responses"), post(responses::create))
        .route(
            &format!("{BASE_PATH}/responses/{{id}}"),
            get(responses::get),
        )
        .route(&format!("{BASE_PATH}/models"), get(handlers::list_models))
        .route(
            &format!("{BASE_PATH}/models/{{model}}"),
            get(handlers::get_model),
        );
    agentgate_shared::http::serve_family(routes, "openai", state)
}
