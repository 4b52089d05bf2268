//! The `assistants` binary as Lambda runs it (buffered responses), booted from Secrets
//! Manager and DynamoDB stand-ins and fed the sample events by a local Runtime API.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

use agentgate_shared::testing::Deployment;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_answers_every_sample_event() {
    let d = Deployment::create().await;
    let replies = d
        .invoke_samples(env!("CARGO_BIN_EXE_assistants"), "assistants")
        .await;
    assert_eq!(replies.len(), 6);
    for (name, reply) in replies {
        assert!(!reply.error, "{name}");
        assert!(!reply.streamed, "{name}: the owner API is buffered");
        let (status, _, body) = reply.http();
        let want = if name == "create.json" { 201 } else { 200 };
        assert_eq!(status, want, "{name}: {}", String::from_utf8_lossy(&body));
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert!(v.is_object() || v.is_array(), "{name}");
    }
}
