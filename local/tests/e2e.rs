//! End to end over real sockets: the local app on port 0, a mock upstream speaking the
//! provider's real streaming format, and a plain HTTP client reading the SSE as it comes.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod common;

use agentgate_shared::testing::{self, Behavior, MockUpstream};
use common::serve;
use futures::StreamExt;
use serde_json::{Value, json};

async fn create_public_assistant(base: &str, jwt: &str, model: &str) -> String {
    let id = common::create_assistant(
        base,
        jwt,
        "e2e",
        json!({"type==agent/model": model, "type==agent/system_message": "You are terse."}),
    )
    .await;
    let resp = reqwest::Client::new()
        .patch(format!("{base}/assistants/{id}"))
        .bearer_auth(jwt)
        .json(&json!({"config": {"configurable": {
            "type==agent/access_mode": "public_token",
            "type==agent/public_token": "pubkey_e2e_0123456789",
        }}}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    id
}

/// Streams one turn, returning every `messages/partial` content in arrival order, and the
/// names of all events.
async fn turn(base: &str, assistant: &str, thread: &str, text: &str) -> (Vec<String>, Vec<String>) {
    let resp = reqwest::Client::new()
        .post(format!("{base}/public/runs/stream"))
        .header("x-public-bot-token", "pubkey_e2e_0123456789")
        .json(&json!({"assistant_id": assistant, "thread_id": thread, "input": [{"role": "human", "content": text}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let mut body = resp.bytes_stream();
    let mut buf = String::new();
    let (mut partials, mut names) = (Vec::new(), Vec::new());
    while let Some(chunk) = body.next().await {
        buf.push_str(std::str::from_utf8(&chunk.unwrap()).unwrap());
        while let Some(end) = buf.find("\n\n") {
            let frame: String = buf.drain(..end + 2).collect();
            let mut name = None;
            let mut data = String::new();
            for line in frame.lines() {
                if let Some(n) = line.strip_prefix("event: ") {
                    name = Some(n.to_owned());
                } else if let Some(d) = line.strip_prefix("data: ") {
                    data.push_str(d);
                }
            }
            let Some(name) = name else { continue };
            if name == "messages/partial" {
                let v: Value = serde_json::from_str(&data).unwrap();
                assert_eq!(v[0]["type"], "ai");
                partials.push(v[0]["content"].as_str().unwrap().to_owned());
            }
            names.push(name);
        }
    }
    (partials, names)
}

#[tokio::test]
async fn openai_upstream_streams_accumulated_partials_and_keeps_history() {
    let mock = MockUpstream::openai(Behavior::Reply(vec![
        "Hello".into(),
        ", ".into(),
        "world".into(),
        "!".into(),
    ]))
    .await;
    let dir = testing::tempdir();
    let state = testing::state(dir.path(), testing::mock_providers(Some(&mock), None));
    let jwt = testing::jwt(&state, "owner");
    let (addr, _server) = serve(state).await;
    let base = format!("http://{addr}");
    let id = create_public_assistant(&base, &jwt, "openai:gpt-4o-mini").await;

    let (partials, names) = turn(&base, &id, "thread-1", "Hi there").await;
    assert_eq!(
        partials,
        vec!["Hello", "Hello, ", "Hello, world", "Hello, world!"]
    );
    assert_eq!(names.first().map(String::as_str), Some("metadata"));
    assert_eq!(names.last().map(String::as_str), Some("end"));

    mock.set_behavior(Behavior::Reply(vec!["Again".into()]));
    let (partials, _) = turn(&base, &id, "thread-1", "Second question").await;
    assert_eq!(partials, vec!["Again"]);

    let seen = mock.seen();
    assert_eq!(seen.len(), 2);
    assert_eq!(
        seen[0].authorization.as_deref(),
        Some("Bearer sk-test-openai")
    );
    assert_eq!(seen[1].body["model"], "gpt-4o-mini");
    assert_eq!(seen[1].body["stream"], true);
    assert_eq!(
        seen[1].messages(),
        vec![
            ("system".into(), "You are terse.".into()),
            ("user".into(), "Hi there".into()),
            ("assistant".into(), "Hello, world!".into()),
            ("user".into(), "Second question".into()),
        ]
    );
    // Another thread starts empty.
    turn(&base, &id, "thread-2", "Fresh").await;
    assert_eq!(mock.seen()[2].body["messages"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn anthropic_upstream_streams_accumulated_partials_and_keeps_history() {
    let mock = MockUpstream::anthropic(Behavior::Reply(vec!["Bon".into(), "jour".into()])).await;
    let dir = testing::tempdir();
    let state = testing::state(dir.path(), testing::mock_providers(None, Some(&mock)));
    let jwt = testing::jwt(&state, "owner");
    let (addr, _server) = serve(state).await;
    let base = format!("http://{addr}");
    let id = create_public_assistant(&base, &jwt, "anthropic:claude-sonnet-4-5").await;

    let (partials, _) = turn(&base, &id, "t", "Salut").await;
    assert_eq!(partials, vec!["Bon", "Bonjour"]);
    mock.set_behavior(Behavior::Reply(vec!["Encore".into()]));
    let (partials, _) = turn(&base, &id, "t", "Et alors ?").await;
    assert_eq!(partials, vec!["Encore"]);

    let seen = mock.seen();
    assert_eq!(seen[0].api_key.as_deref(), Some("sk-ant-test"));
    let body = &seen[1].body;
    assert_eq!(body["model"], "claude-sonnet-4-5");
    assert_eq!(body["system"], "You are terse.");
    assert_eq!(
        seen[1].messages(),
        vec![
            ("user".into(), "Salut".into()),
            ("assistant".into(), "Bonjour".into()),
            ("user".into(), "Et alors ?".into()),
        ]
    );
}

#[tokio::test]
async fn the_embedded_store_survives_a_restart() {
    let dir = testing::tempdir();
    let (id, jwt) = {
        let state = testing::state(dir.path(), Default::default());
        let jwt = testing::jwt(&state, "owner");
        let (addr, server) = serve(state).await;
        let base = format!("http://{addr}");
        let id = create_public_assistant(&base, &jwt, "echo").await;
        let (partials, _) = turn(&base, &id, "kept", "first").await;
        assert!(partials.last().unwrap().contains("message 1 of"));
        server.abort();
        let _ = server.await;
        (id, jwt)
    };
    let state = testing::state(dir.path(), Default::default());
    let (addr, _server) = serve(state).await;
    let base = format!("http://{addr}");
    let read = common::get_json(&format!("{base}/assistants/{id}"), &jwt).await;
    assert_eq!(read["access_mode"], "public_token");
    let (partials, _) = turn(&base, &id, "kept", "second").await;
    assert!(
        partials.last().unwrap().contains("message 2 of"),
        "history survived: {partials:?}"
    );
}

#[tokio::test]
async fn a_client_that_hangs_up_stops_the_upstream_call_and_saves_nothing() {
    let pieces: Vec<String> = (0..400).map(|i| format!("w{i} ")).collect();
    let mock = MockUpstream::openai(Behavior::Reply(pieces)).await;
    mock.set_delay(std::time::Duration::from_millis(10));
    let dir = testing::tempdir();
    let state = testing::state(dir.path(), testing::mock_providers(Some(&mock), None));
    let store = state.store.clone();
    let jwt = testing::jwt(&state, "owner");
    let (addr, _server) = serve(state).await;
    let base = format!("http://{addr}");
    let id = create_public_assistant(&base, &jwt, "openai:gpt-4o-mini").await;

    let resp = reqwest::Client::new()
        .post(format!("{base}/public/runs/stream"))
        .header("x-public-bot-token", "pubkey_e2e_0123456789")
        .json(&json!({"assistant_id": id, "thread_id": "hangup", "input": [{"role": "human", "content": "long answer please"}]}))
        .send()
        .await
        .unwrap();
    let mut body = resp.bytes_stream();
    let mut seen = String::new();
    while !seen.contains("messages/partial") {
        seen.push_str(std::str::from_utf8(&body.next().await.unwrap().unwrap()).unwrap());
    }
    drop(body); // the visitor closes the tab

    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(3);
    while mock.cut_streams() == 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(
        mock.cut_streams(),
        1,
        "the upstream stream was dropped, long before its 4 s reply ended"
    );
    let key = agentgate_shared::domain::thread::ThreadKey::public(
        &agentgate_shared::domain::ids::AssistantId::parse(&id).unwrap(),
        &agentgate_shared::domain::ids::ThreadId::parse("hangup").unwrap(),
    );
    assert!(
        store.recent_messages(&key, 10).await.unwrap().is_empty(),
        "an abandoned turn is not saved"
    );
}
