//! The `memory` binary as Lambda runs it: booted from Secrets Manager and DynamoDB (local
//! stand-ins), fed the sample stream event by a local Runtime API.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

use agentgate_shared::testing::{self, Deployment};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_summarises_from_the_sample_stream_event() {
    let d = Deployment::create().await;
    let thread = testing::seed_sample_conversation(&d.state).await;
    let replies = d
        .invoke_samples(env!("CARGO_BIN_EXE_memory"), "memory")
        .await;
    assert_eq!(replies.len(), 1);
    for (name, reply) in replies {
        assert!(!reply.error, "{name}: {:?}", reply.body);
        assert!(
            !reply.streamed,
            "{name}: an event function answers buffered"
        );
        let body: serde_json::Value = serde_json::from_slice(&reply.body).unwrap();
        assert_eq!(body, serde_json::json!({"batchItemFailures": []}), "{name}");
    }
    let memory = d
        .state
        .store
        .memory(thread.memory().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert!(memory.summary.contains("Lisbon"), "{}", memory.summary);
    assert_eq!(memory.pending, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_setting_fails_the_cold_start_clearly() {
    let d = Deployment::create().await;
    d.assert_cold_start_names(env!("CARGO_BIN_EXE_memory"), "AGENTGATE_TABLE")
        .await;
}
