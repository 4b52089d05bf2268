//! The local server's connection handling: a client that sends its headers too slowly, or
//! keeps an idle connection open, is cut off, so slow connections cannot pile up.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

use std::time::{Duration, Instant};

use agentgate_shared::testing;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const TIMEOUT: Duration = Duration::from_millis(300);

async fn server() -> (std::net::SocketAddr, tempfile::TempDir) {
    let dir = testing::tempdir();
    let state = testing::state(dir.path(), Default::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = agentgate_local::app(state);
    tokio::spawn(agentgate_local::serve_with(
        listener,
        vec![app],
        TIMEOUT,
        agentgate_local::Threads::single(),
        std::future::pending(),
    ));
    (addr, dir)
}

/// Reads until the server closes the connection; what it sent, and when it closed.
async fn until_closed(stream: &mut tokio::net::TcpStream) -> (String, Duration) {
    let started = Instant::now();
    let mut out = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut out)).await;
    assert!(read.is_ok(), "the server kept the connection open");
    (
        String::from_utf8_lossy(&out).into_owned(),
        started.elapsed(),
    )
}

/// Sends `bytes` on a fresh connection, then reads until the server closes it.
async fn send_raw(bytes: &[u8]) -> (String, Duration) {
    let (addr, _dir) = server().await;
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(bytes).await.unwrap();
    until_closed(&mut stream).await
}

#[tokio::test]
async fn headers_sent_too_slowly_are_cut_off() {
    let (_, waited) = send_raw(b"GET /healthz HTTP/1.1\r\nHost: x\r\n").await;
    assert!(waited < Duration::from_secs(2), "{waited:?}");
}

#[tokio::test]
async fn an_idle_kept_alive_connection_is_closed() {
    let (answer, waited) = send_raw(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.ends_with("ok"), "{answer}");
    assert!(
        waited >= TIMEOUT && waited < Duration::from_secs(2),
        "{waited:?}"
    );
}
