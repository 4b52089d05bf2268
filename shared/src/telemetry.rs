//! Logging setup: JSON lines on Lambda (CloudWatch indexes them), readable text locally.
//! The level comes from `RUST_LOG` (default `info`).

use tracing_subscriber::EnvFilter;

fn filter() -> EnvFilter {
    EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"))
}

/// For Lambda: JSON with the current span's fields, no timestamp (CloudWatch adds one).
pub fn init_lambda() {
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter())
        .with_current_span(true)
        .with_span_list(false)
        .without_time()
        .with_target(false)
        .try_init();
}

/// For the local server: colours only on a terminal (a file or a pipe gets plain text,
/// and no time is spent on escape codes nobody sees).
pub fn init_local() {
    use std::io::IsTerminal;
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter())
        .with_target(false)
        .with_ansi(std::io::stdout().is_terminal())
        .try_init();
}
