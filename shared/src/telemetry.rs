//! Logging setup: JSON lines on Lambda (CloudWatch indexes them), readable text locally.
//! The level comes from `RUST_LOG` (default `info`).
//!
//! The local server writes its log lines in batches: each line written straight to
//! standard output was a system call that woke whatever reads it (a terminal, a pipe), and
//! at the default level a turn logs two lines, which made logging a tenth of a turn's CPU.
//! Lines are kept in memory and written together [`LOG_FLUSH_EVERY`] after the first of
//! them (or at once past [`LOG_FLUSH_AT`] bytes, or outside the async runtime), and
//! [`flush`] writes what is left when the server stops.

use std::io::Write;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use tracing_subscriber::EnvFilter;

/// How long a local log line may wait for the ones after it.
pub const LOG_FLUSH_EVERY: Duration = Duration::from_millis(50);
/// Lines waiting past this size are written at once.
pub const LOG_FLUSH_AT: usize = 16 * 1024;

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
/// and no time is spent on escape codes nobody sees), lines written in batches.
pub fn init_local() {
    use std::io::IsTerminal;
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter())
        .with_target(false)
        .with_ansi(std::io::stdout().is_terminal())
        .with_writer(|| Batched)
        .try_init();
}

/// Lines written but not yet on standard output.
static PENDING: Mutex<Vec<u8>> = Mutex::new(Vec::new());

/// Writes the waiting lines to standard output. Call before the process exits.
pub fn flush() {
    print("");
}

/// Writes `text` to standard output after the log lines waiting before it.
pub fn print(text: &str) {
    let mut pending = PENDING.lock().unwrap_or_else(PoisonError::into_inner);
    pending.extend_from_slice(text.as_bytes());
    write_out(&mut pending);
}

fn write_out(pending: &mut Vec<u8>) {
    if pending.is_empty() {
        return;
    }
    let mut out = std::io::stdout().lock();
    // Nowhere to report a failed log write; the lines are dropped, never retried forever.
    let _ = out.write_all(pending).and_then(|()| out.flush());
    pending.clear();
}

/// The local server's log writer: appends each formatted line to [`PENDING`].
struct Batched;

impl Write for Batched {
    fn write(&mut self, line: &[u8]) -> std::io::Result<usize> {
        let runtime = tokio::runtime::Handle::try_current().ok();
        let mut pending = PENDING.lock().unwrap_or_else(PoisonError::into_inner);
        let first = pending.is_empty();
        pending.extend_from_slice(line);
        match runtime {
            Some(_) if pending.len() < LOG_FLUSH_AT && !first => {}
            Some(runtime) if pending.len() < LOG_FLUSH_AT => {
                drop(pending);
                runtime.spawn(async {
                    tokio::time::sleep(LOG_FLUSH_EVERY).await;
                    flush();
                });
            }
            _ => write_out(&mut pending),
        }
        Ok(line.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn pending() -> usize {
        PENDING.lock().unwrap().len()
    }

    // One test: the lines waiting are the process's, shared by every test in it.
    #[tokio::test(flavor = "current_thread", start_paused = true)]
    async fn lines_wait_for_the_window_then_go_out_together() {
        // Outside a runtime (another thread), a line is written at once.
        std::thread::spawn(|| Batched.write_all(b"now\n").unwrap())
            .join()
            .unwrap();
        assert_eq!(pending(), 0);
        Batched.write_all(b"first\n").unwrap();
        Batched.write_all(b"second\n").unwrap();
        assert_eq!(pending(), 13);
        tokio::time::sleep(LOG_FLUSH_EVERY * 2).await;
        assert_eq!(pending(), 0, "written by the timer");
        // A burst past the size limit is written without waiting.
        Batched.write_all(&vec![b'x'; LOG_FLUSH_AT]).unwrap();
        assert_eq!(pending(), 0);
    }
}
