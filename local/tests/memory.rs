//! Per-user memory end to end on the local server, where summaries run in process: an end
//! user's turns are summarised by the assistant's model once enough messages are stored,
//! and that summary reaches the system prompt of the same user's next turn only.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod common;

use std::time::Duration;

use agentgate_shared::domain::ids::AssistantId;
use agentgate_shared::domain::memory::{MemoryKey, SUMMARY_INSTRUCTIONS};
use agentgate_shared::testing::{self, Behavior, MockUpstream};
use serde_json::{Value, json};

const TOKEN: &str = "pubkey_memory_0123456789";

async fn chat(base: &str, user: Option<&str>, text: &str) -> Value {
    let mut body = json!({"model": "helper", "messages": [{"role": "user", "content": text}]});
    if let Some(u) = user {
        body["user"] = json!(u);
    }
    let resp = reqwest::Client::new()
        .post(format!("{base}/public/openai/v1/chat/completions"))
        .bearer_auth(TOKEN)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    resp.json().await.unwrap()
}

fn system_of(request: &Value) -> String {
    let first = &request["messages"][0];
    if first["role"] == "system" {
        first["content"].as_str().unwrap().to_owned()
    } else {
        String::new()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_end_users_turns_become_a_memory_for_their_next_turns() {
    let mock = MockUpstream::openai(Behavior::Reply(vec!["Sure.".into()])).await;
    let dir = testing::tempdir();
    let state = testing::state(dir.path(), testing::mock_providers(Some(&mock), None));
    let jwt = testing::jwt(&state, "owner");
    let base = format!("http://{}", common::serve(state.clone()).await.0);
    let created = common::create_assistant(
        &base,
        &jwt,
        "helper",
        json!({
            "type==agent/model": "openai:gpt-4o-mini",
            "type==agent/system_message": "Be brief.",
            "type==agent/memory": true,
            "type==agent/memory_end_users": true,
            "type==agent/access_mode": "public_token",
            "type==agent/public_token": TOKEN,
        }),
    )
    .await;
    let id = AssistantId::parse(&created).unwrap();
    let carol = MemoryKey::end_user(&id, "carol");

    chat(&base, Some("carol"), "Hi, I'm Carol.").await;
    chat(&base, Some("carol"), "I love hiking in the Alps.").await;
    // Four messages stored: not enough for a summary yet.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let memory = state.store.memory(&carol).await.unwrap().unwrap();
    assert_eq!((memory.pending, memory.summary.as_str()), (4, ""));

    mock.set_behavior(Behavior::Reply(vec![
        "Carol loves hiking in the Alps.".into(),
    ]));
    chat(&base, Some("carol"), "Any trail ideas?").await;
    let mut summary = String::new();
    for _ in 0..100 {
        summary = state
            .store
            .memory(&carol)
            .await
            .unwrap()
            .map(|m| m.summary)
            .unwrap_or_default();
        if !summary.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(summary, "Carol loves hiking in the Alps.");

    // The summarisation call used the memory instructions and quoted the conversation.
    let seen = mock.seen();
    let summarise = seen
        .iter()
        .find(|s| system_of(&s.body) == SUMMARY_INSTRUCTIONS)
        .expect("a summarisation request");
    let prompt = summarise.body["messages"][1]["content"].as_str().unwrap();
    assert!(
        prompt.contains("User: I love hiking in the Alps."),
        "{prompt}"
    );
    assert!(prompt.contains("Assistant: Sure."), "{prompt}");
    assert_eq!(summarise.body["max_tokens"], 600);
    assert_eq!(
        summarise.body["stream"], false,
        "a summary is asked for whole"
    );

    // Carol's next turn carries her memory after the assistant's own prompt...
    chat(&base, Some("carol"), "What should I pack?").await;
    let last = mock.seen().last().unwrap().body.clone();
    let system = system_of(&last);
    assert!(system.starts_with("Be brief.\n\n"), "{system}");
    assert!(
        system.ends_with("Carol loves hiking in the Alps."),
        "{system}"
    );
    // ...while another end user and an anonymous caller get none.
    chat(&base, Some("dave"), "Hello").await;
    assert_eq!(system_of(&mock.seen().last().unwrap().body), "Be brief.");
    chat(&base, None, "Hello").await;
    assert_eq!(system_of(&mock.seen().last().unwrap().body), "Be brief.");
}
