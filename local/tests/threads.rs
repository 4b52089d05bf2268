//! Two serving threads, the second calling the models through its own connection pool:
//! callers on either thread share one store and one conversation.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod common;

use agentgate_shared::testing;
use serde_json::json;

const TOKEN: &str = "pubkey_threads_0123456789";

/// One turn of `thread` through `client` (one kept-alive connection); the SSE text.
async fn turn(client: &reqwest::Client, base: &str, assistant: &str, thread: &str) -> String {
    client
        .post(format!("{base}/public/runs/stream"))
        .header("x-public-bot-token", TOKEN)
        .json(&json!({"assistant_id": assistant, "thread_id": thread,
                      "input": [{"role": "human", "content": "hi"}]}))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

#[tokio::test(flavor = "current_thread")]
async fn callers_on_two_threads_share_the_store_and_the_conversation() {
    let dir = testing::tempdir();
    let state = testing::state(dir.path(), Default::default());
    let jwt = testing::jwt(&state, "owner");
    let own_pool = state.providers.with_own_pool().unwrap();
    let apps = vec![
        agentgate_local::app(state.clone()),
        agentgate_local::app(state.with_providers(own_pool)),
    ];
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(agentgate_local::serve_with(
        listener,
        apps,
        agentgate_local::HEADER_READ_TIMEOUT,
        agentgate_local::Threads::start(2).unwrap(),
        std::future::pending(),
    ));

    // The first caller's connection stays open (kept alive), so the second caller's goes
    // to the other thread.
    let first = reqwest::Client::new();
    let second = reqwest::Client::new();
    let id = common::create_assistant(
        &base,
        &jwt,
        "threads",
        json!({"type==agent/model": "echo",
               "type==agent/access_mode": "public_token",
               "type==agent/public_token": TOKEN}),
    )
    .await;
    let one = turn(&first, &base, &id, "shared").await;
    assert!(one.contains("message 1 of"), "{one}");
    let two = turn(&second, &base, &id, "shared").await;
    assert!(
        two.contains("message 2 of"),
        "history seen on the other thread: {two}"
    );
    let three = turn(&first, &base, &id, "shared").await;
    assert!(three.contains("message 3 of"), "{three}");
}
