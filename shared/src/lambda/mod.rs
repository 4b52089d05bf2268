//! Running a family on Lambda.
//!
//! The same `Router` a family exposes for the local server answers Lambda's events:
//! streaming families use response streaming (function URLs with `RESPONSE_STREAM`) through
//! this crate's own Runtime API loop ([`streaming`], which exists to send each piece at
//! once), the others `lambda_http`'s buffered runner. Background functions fed by events (the table's stream) run
//! a plain event handler instead. State is built once per cold start; a missing setting
//! fails the cold start with one clear log line.

use std::future::Future;

use axum::Router;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::state::AppState;

mod streaming;

pub use lambda_http::Error;

/// Set to `stock` to stream through `lambda_runtime`'s own loop instead of [`streaming`].
pub const RUNTIME_ENV: &str = "AGENTGATE_LAMBDA_RUNTIME";

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
    let state = cold_start().await?;
    match invoke {
        Invoke::Streaming if std::env::var(RUNTIME_ENV).as_deref() == Ok("stock") => {
            lambda_http::run_with_streaming_response(router(state)).await
        }
        Invoke::Streaming => streaming::run(router(state)).await,
        Invoke::Buffered => lambda_http::run(router(state)).await,
    }
}

/// The whole `main` of a function invoked with events of type `E` (not HTTP requests):
/// each event goes to `handler` with the cold start's state.
pub async fn run_events<E, R, F, Fut>(handler: F) -> Result<(), Error>
where
    E: DeserializeOwned + Send + 'static,
    R: Serialize + Send + 'static,
    F: Fn(AppState, lambda_http::LambdaEvent<E>) -> Fut + Send + 'static,
    Fut: Future<Output = Result<R, Error>> + Send + 'static,
{
    let state = cold_start().await?;
    lambda_http::lambda_runtime::run(lambda_http::service_fn(move |event| {
        handler(state.clone(), event)
    }))
    .await
}

/// Logging, then the state; a failure is logged and reported before the process exits.
async fn cold_start() -> Result<AppState, Error> {
    crate::telemetry::init_lambda();
    match AppState::lambda().await {
        Ok(s) => Ok(s),
        Err(err) => {
            tracing::error!(error = %err, "cold start failed: configuration is incomplete");
            report_init_error(&err.to_string()).await;
            Err(err.into())
        }
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
