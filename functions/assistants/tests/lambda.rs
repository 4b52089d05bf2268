//! The `assistants` binary as Lambda runs it (buffered responses), booted from Secrets
//! Manager and DynamoDB stand-ins and fed the sample events by a local Runtime API.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

use agentgate_shared::testing::{self, Deployment};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_answers_every_sample_event() {
    let d = Deployment::create().await;
    testing::seed_sample_memory(&d.state).await;
    let replies = d
        .invoke_samples(env!("CARGO_BIN_EXE_assistants"), "assistants")
        .await;
    assert_eq!(replies.len(), 8);
    for (name, reply) in replies {
        assert!(!reply.error, "{name}");
        assert!(!reply.streamed, "{name}: the owner API is buffered");
        let (status, _, body) = reply.http();
        let want = match name.as_str() {
            "create.json" => 201,
            "forget-end-user-memory.json" => 204,
            _ => 200,
        };
        assert_eq!(status, want, "{name}: {}", String::from_utf8_lossy(&body));
        if want == 204 {
            assert!(body.is_empty(), "{name}");
            continue;
        }
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert!(v.is_object() || v.is_array(), "{name}");
    }
}
