//! The local server: every family's router on one address, over the embedded store.
//!
//! It mounts exactly the routers the Lambdas run, so what works here works deployed.

use std::net::SocketAddr;
use std::time::Duration;

use agentgate_shared::state::AppState;
use axum::Router;
use axum::extract::ConnectInfo;
use axum::routing::get;
use hyper_util::rt::{TokioIo, TokioTimer};
use tower::ServiceExt;

pub mod threads;

pub use threads::Threads;

/// A client has this long to send a request's headers, and a kept-alive connection this
/// long to start its next request: slow or idle connections cannot pile up.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Every family, merged. Routes do not overlap, so merge order does not matter.
pub fn app(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .merge(agentgate_runs::router(state.clone()))
        .merge(agentgate_openai::router(state.clone()))
        .merge(agentgate_widget::router(state.clone()))
        .merge(agentgate_links::router(state.clone()))
        .merge(agentgate_assistants::router(state))
}

/// Serves `app` on `listener` (HTTP/1.1, the peer's address available as `ConnectInfo`)
/// until `shutdown` completes, with [`HEADER_READ_TIMEOUT`] on every connection, on this
/// thread alone.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Router,
    shutdown: impl std::future::Future<Output = ()>,
) {
    serve_with(
        listener,
        vec![app],
        HEADER_READ_TIMEOUT,
        Threads::single(),
        shutdown,
    )
    .await;
}

/// [`serve`] with another header-read and idle timeout, its connections spread over
/// `threads`, which end with it (their connections closed). Thread `i` serves `apps[i]`
/// (the first when there are fewer): each thread's app may call the models through
/// connection pools of its own.
pub async fn serve_with(
    listener: tokio::net::TcpListener,
    apps: Vec<Router>,
    header_read_timeout: Duration,
    threads: Threads,
    shutdown: impl std::future::Future<Output = ()>,
) {
    let mut shutdown = std::pin::pin!(shutdown);
    let apps: std::sync::Arc<[Router]> = apps.into();
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    continue;
                }
            },
            () = &mut shutdown => return,
        };
        // Small frames (an SSE event, a streamed reply's first bytes) go out at once instead
        // of waiting for the client's delayed ACK (Nagle's algorithm).
        if let Err(e) = stream.set_nodelay(true) {
            tracing::debug!(error = %e, "TCP_NODELAY not set");
        }
        let apps = apps.clone();
        let serve = move |stream, thread: usize| async move {
            let app = apps
                .get(thread)
                .or(apps.first())
                .cloned()
                .unwrap_or_default();
            let service = hyper::service::service_fn(
                move |mut req: hyper::Request<hyper::body::Incoming>| {
                    req.extensions_mut().insert(ConnectInfo::<SocketAddr>(peer));
                    app.clone().oneshot(req.map(axum::body::Body::new))
                },
            );
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(header_read_timeout)
                .serve_connection(TokioIo::new(stream), service);
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "connection ended");
            }
        };
        threads.spawn(stream, serve);
    }
}
