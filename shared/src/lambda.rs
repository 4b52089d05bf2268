//! Running a family's router on Lambda.
//!
//! The same `Router` a family exposes for the local server is handed to `lambda_http`:
//! streaming families use response streaming (function URLs with `RESPONSE_STREAM`), the
//! others the buffered runner.

use axum::Router;

pub use lambda_http::Error;

/// Serves a streaming family (runs, openai, widget, links chat).
pub async fn serve_streaming(router: Router) -> Result<(), Error> {
    lambda_http::run_with_streaming_response(router).await
}

/// Serves a buffered family (owner APIs).
pub async fn serve_buffered(router: Router) -> Result<(), Error> {
    lambda_http::run(router).await
}
