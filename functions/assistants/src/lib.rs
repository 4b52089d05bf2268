//! The `assistants` family: the owner API.
//!
//! Owners (user JWT) create assistants, read them, list their own, merge configuration
//! with `PATCH` (keys merge; `null` removes one), rotate the public token, read what
//! their assistant's public use costs (daily usage), and read or erase what it remembers
//! about a user (per-user memory: the owner, an end user of the OpenAI-compatible
//! endpoint, or an email verified through a public link), and manage the documents of its
//! knowledge base (what the widget answers from and cites). Tokens are
//! stored as digests and only ever shown masked, except once when the server mints one.

mod documents;
mod error;
mod handlers;
mod view;

use agentgate_shared::state::AppState;
use axum::Router;
use axum::routing::{get, post};

pub use error::AssistantsError;

pub fn router(state: AppState) -> Router {
    let routes = Router::new()
        .route("/assistants", post(handlers::create).get(handlers::list))
        .route(
            "/assistants/{id}",
            get(handlers::read).patch(handlers::update),
        )
        .route(
            "/assistants/{id}/public-token",
            post(handlers::rotate_token),
        )
        .route("/assistants/{id}/usage", get(handlers::usage))
        .route(
            "/assistants/{id}/documents",
            post(documents::add).get(documents::list),
        )
        .route(
            "/assistants/{id}/documents/{document_id}",
            axum::routing::delete(documents::delete),
        )
        .route(
            "/assistants/{id}/memories/owner",
            get(handlers::owner_memory).delete(handlers::forget_owner_memory),
        )
        .route(
            "/assistants/{id}/memories/{kind}/{who}",
            get(handlers::user_memory).delete(handlers::forget_user_memory),
        );
    agentgate_shared::http::serve_family(routes, "assistants", state)
}
