//! Running a family's router on Lambda.
//!
//! The same `Router` a family exposes for the local server is handed to `lambda_http`:
//! streaming families use response streaming (function URLs with `RESPONSE_STREAM`), the
//! others the buffered runner. State is built once per cold start; a missing setting fails
//! the cold start with one clear log line.

use axum::Router;

use crate::state::AppState;

pub use lambda_http::Error;

/// How a family's responses leave the function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Invoke {
    /// Response streaming (`InvokeMode: RESPONSE_STREAM`).
    Streaming,
    /// One buffered response (`InvokeMode: BUFFERED`).
    Buffered,
}

/// The whole `main` of a family's Lambda.
pub async fn run(router: fn(AppState) -> Router, invoke: Invoke) -> Result<(), Error> {
    crate::telemetry::init_lambda();
    let state = match AppState::lambda().await {
        Ok(s) => s,
        Err(err) => {
            tracing::error!(error = %err, "cold start failed: configuration is incomplete");
            report_init_error(&err.to_string()).await;
            return Err(err.into());
        }
    };
    match invoke {
        Invoke::Streaming => lambda_http::run_with_streaming_response(router(state)).await,
        Invoke::Buffered => lambda_http::run(router(state)).await,
    }
}

/// Tells the Runtime API why initialisation failed, so the invocation's error names the
/// missing setting instead of a bare "Runtime exited".
async fn report_init_error(message: &str) {
    let Ok(api) = std::env::var("AWS_LAMBDA_RUNTIME_API") else {
        return;
    };
    let body =
        serde_json::json!({"errorType": "Runtime.ConfigurationError", "errorMessage": message});
    let sent = reqwest::Client::new()
        .post(format!("http://{api}/2018-06-01/runtime/init/error"))
        .header(
            "Lambda-Runtime-Function-Error-Type",
            "Runtime.ConfigurationError",
        )
        .json(&body)
        .send()
        .await;
    if let Err(e) = sent {
        tracing::warn!(error = %e, "could not report the init error to the Runtime API");
    }
}
