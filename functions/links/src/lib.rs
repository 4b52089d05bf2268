//! The `links` family: public links, so an owner can share an assistant by URL.
//!
//! - Owner routes (user JWT): `GET/POST /api/agents/{name}/public-links`,
//!   `PUT/DELETE /api/agents/{name}/public-links/{id}`.
//! - The chat page: `GET /public/chat/{token}`.
//! - The public API the page (or any client) uses, no login:
//!   `GET /api/public/links/{token}`, `POST /api/public/sessions/{token}`,
//!   `POST /api/public/verify/{token}` and `.../confirm`, `POST /api/public/chat/{token}`
//!   (a Vercel AI SDK UI message stream), `GET /api/public/history/{token}` and
//!   `POST /api/public/conversations/{token}`.
//!
//! Link and session tokens are stored as digests, email codes as HMACs. Every answer of
//! this family is `Cache-Control: no-store` and `Referrer-Policy: no-referrer`: tokens
//! travel in its URLs and bodies.

mod access;
mod error;
mod owner;
mod page;
mod public;
mod verify;

use agentgate_shared::state::AppState;
use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::Response;
use axum::routing::{get, post, put};

pub use error::LinksError;

pub fn router(state: AppState) -> Router {
    let routes = Router::new()
        .route(
            "/api/agents/{name}/public-links",
            get(owner::list).post(owner::create),
        )
        .route(
            "/api/agents/{name}/public-links/{id}",
            put(owner::update).delete(owner::delete),
        )
        .route("/public/chat/{token}", get(page::page))
        .route("/api/public/links/{token}", get(public::info))
        .route("/api/public/sessions/{token}", post(public::create_session))
        .route("/api/public/verify/{token}", post(verify::send_code))
        .route("/api/public/verify/{token}/confirm", post(verify::confirm))
        .route("/api/public/chat/{token}", post(public::chat))
        .route("/api/public/history/{token}", get(public::history))
        .route(
            "/api/public/conversations/{token}",
            post(public::create_conversation),
        )
        .layer(axum::middleware::map_response(private));
    agentgate_shared::http::serve_family(routes, "links", state)
}

/// Nothing this family answers may be cached or leak its URL through a referrer.
async fn private(mut resp: Response) -> Response {
    let headers = resp.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    resp
}
