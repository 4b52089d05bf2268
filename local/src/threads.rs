//! Serving threads: each connection lives on one thread, and a crowd spreads over the cores.
//!
//! A turn's work never leaves the thread it runs on (the embedded store answers on the
//! calling thread; nothing is handed to another one). With one thread, callers whose
//! requests arrive together wait for each other: 64 at once, with a few tenths of a
//! millisecond of work each, put ~16 ms of queue in front of the last one. Each extra
//! thread runs a single-thread runtime of its own; a new connection goes to the thread with
//! the fewest open connections, the accepting thread on a tie, so a lone keep-alive caller
//! is served exactly as by one thread while many callers share the cores. A connection is
//! moved to its thread's reactor, so its readiness never wakes another thread, and each
//! thread calls the models through connection pools of its own (see `main.rs`).

use std::future::Future;
use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::JoinHandle;

use tokio::runtime::Handle;
use tokio::sync::oneshot;

/// The most `AGENTGATE_THREADS` may ask for.
const MOST_THREADS: usize = 64;

/// How many serving threads `AGENTGATE_THREADS` asks for (`value`); one by default, which
/// uses the least memory. More serve many simultaneous callers a little sooner (64 at
/// once: 0.95-0.96x the throughput of calling the model directly with two, against
/// 0.93-0.94x with one, in `scripts/bench.sh gateway`) for the same CPU time per request.
pub fn wanted(value: Option<&str>) -> Result<usize, String> {
    match value.map(str::trim).filter(|v| !v.is_empty()) {
        None => Ok(1),
        Some(v) => v
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=MOST_THREADS).contains(n))
            .ok_or_else(|| {
                format!(
                    "AGENTGATE_THREADS must be a whole number from 1 to {MOST_THREADS}, not {v:?}"
                )
            }),
    }
}

/// The accepting thread and the extra ones.
pub struct Threads {
    local: Arc<AtomicUsize>,
    extra: Vec<Extra>,
}

struct Extra {
    handle: Handle,
    open: Arc<AtomicUsize>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

/// Counts a connection open until its task ends, however it ends.
struct Open(Arc<AtomicUsize>);

impl Open {
    fn new(count: &Arc<AtomicUsize>) -> Self {
        count.fetch_add(1, Ordering::Relaxed);
        Self(count.clone())
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Threads {
    /// The calling thread alone (which must be in a Tokio runtime when connections are
    /// spawned).
    pub fn single() -> Self {
        Self {
            local: Arc::new(AtomicUsize::new(0)),
            extra: Vec::new(),
        }
    }

    /// The calling thread and `total - 1` more, each with a single-thread runtime.
    pub fn start(total: usize) -> io::Result<Self> {
        let mut extra = Vec::new();
        for i in 1..total.max(1) {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let handle = runtime.handle().clone();
            let (stop, stopped) = oneshot::channel::<()>();
            let thread = std::thread::Builder::new()
                .name(format!("agentgate-{i}"))
                .spawn(move || {
                    runtime.block_on(async {
                        let _ = stopped.await;
                    });
                    // Dropping the runtime ends its connections' tasks here, before the
                    // thread is joined (what they hold, the store included, goes with them).
                    drop(runtime);
                })?;
            extra.push(Extra {
                handle,
                open: Arc::new(AtomicUsize::new(0)),
                stop: Some(stop),
                thread: Some(thread),
            });
        }
        Ok(Self {
            local: Arc::new(AtomicUsize::new(0)),
            extra,
        })
    }

    /// How many threads serve connections.
    pub fn count(&self) -> usize {
        1 + self.extra.len()
    }

    /// Serves `stream` with `serve` on the thread with the fewest open connections; `serve`
    /// is told which (0 for the accepting thread, then 1, 2, ...).
    pub fn spawn<S, F>(&self, stream: tokio::net::TcpStream, serve: S)
    where
        S: FnOnce(tokio::net::TcpStream, usize) -> F + Send + 'static,
        F: Future<Output = ()> + Send + 'static,
    {
        let least = self
            .extra
            .iter()
            .enumerate()
            .filter(|(_, e)| e.open.load(Ordering::Relaxed) < self.local.load(Ordering::Relaxed))
            .min_by_key(|(_, e)| e.open.load(Ordering::Relaxed));
        let Some((i, extra)) = least else {
            let open = Open::new(&self.local);
            tokio::spawn(async move {
                let _open = open;
                serve(stream, 0).await;
            });
            return;
        };
        let open = Open::new(&extra.open);
        // Registered with that thread's reactor: readiness wakes that thread only.
        let stream = match stream.into_std() {
            Ok(s) => s,
            Err(e) => {
                tracing::debug!(error = %e, "connection not moved");
                return;
            }
        };
        extra.handle.spawn(async move {
            let _open = open;
            match tokio::net::TcpStream::from_std(stream) {
                Ok(stream) => serve(stream, i + 1).await,
                Err(e) => tracing::debug!(error = %e, "connection not moved"),
            }
        });
    }
}

impl Drop for Threads {
    fn drop(&mut self) {
        for extra in &mut self.extra {
            if let Some(stop) = extra.stop.take() {
                let _ = stop.send(());
            }
        }
        for extra in &mut self.extra {
            if let Some(thread) = extra.thread.take() {
                let _ = thread.join();
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[test]
    fn the_thread_count_is_whole_and_bounded() {
        assert_eq!(wanted(Some("1")), Ok(1));
        assert_eq!(wanted(Some(" 3 ")), Ok(3));
        assert_eq!(wanted(None), Ok(1));
        assert_eq!(wanted(Some("")), Ok(1));
        for bad in ["0", "65", "two", "-1", "1.5"] {
            let err = wanted(Some(bad)).unwrap_err();
            assert!(err.contains("AGENTGATE_THREADS"), "{err}");
        }
    }

    /// Accepts one connection and serves it on `threads`: the name of the thread that
    /// served it comes back, after an echo through the (possibly moved) socket.
    async fn connect_and_serve(
        threads: &Threads,
        listener: &tokio::net::TcpListener,
    ) -> (tokio::net::TcpStream, String) {
        let mut client = tokio::net::TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (stream, _) = listener.accept().await.unwrap();
        let (tx, rx) = oneshot::channel();
        threads.spawn(stream, move |mut stream, _| async move {
            let mut byte = [0u8; 1];
            stream.read_exact(&mut byte).await.unwrap();
            stream.write_all(&byte).await.unwrap();
            let name = std::thread::current().name().unwrap_or("").to_owned();
            let _ = tx.send(name);
            // Open until the client goes.
            let _ = stream.read(&mut byte).await;
        });
        client.write_all(b"x").await.unwrap();
        let mut echo = [0u8; 1];
        client.read_exact(&mut echo).await.unwrap();
        assert_eq!(&echo, b"x");
        (client, rx.await.unwrap())
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_lone_caller_stays_on_the_accepting_thread_and_a_crowd_spreads() {
        let threads = Threads::start(2).unwrap();
        assert_eq!(threads.count(), 2);
        let here = std::thread::current().name().unwrap_or("").to_owned();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let (first, on) = connect_and_serve(&threads, &listener).await;
        assert_eq!(on, here, "a tie goes to the accepting thread");
        let (_second, on) = connect_and_serve(&threads, &listener).await;
        assert_eq!(
            on, "agentgate-1",
            "the thread with fewer connections takes the next"
        );
        // Once the first caller has gone, the accepting thread has fewer again.
        drop(first);
        for _ in 0..200 {
            if threads.local.load(Ordering::Relaxed) == 0 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        let (_third, on) = connect_and_serve(&threads, &listener).await;
        assert_eq!(on, here);
        // Dropping the threads ends their connections and joins them.
        drop(threads);
    }
}
