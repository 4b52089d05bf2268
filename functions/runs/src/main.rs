//! The `runs` Lambda: the family's router under response streaming.

use agentgate_shared::{lambda, state::AppState, telemetry};

#[tokio::main]
async fn main() -> Result<(), lambda::Error> {
    telemetry::init_lambda();
    let state = match AppState::lambda().await {
        Ok(s) => s,
        Err(err) => {
            tracing::error!(error = %err, "cold start failed: configuration is incomplete");
            return Err(err.into());
        }
    };
    lambda::serve_streaming(agentgate_runs::router(state)).await
}
