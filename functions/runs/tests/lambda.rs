//! The `runs` binary as Lambda runs it: booted from Secrets Manager and DynamoDB (local
//! stand-ins), fed the sample events by a local Runtime API, answering with response
//! streaming.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

use agentgate_shared::testing::Deployment;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_streams_every_sample_event() {
    let d = Deployment::create().await;
    let replies = d.invoke_samples(env!("CARGO_BIN_EXE_runs"), "runs").await;
    assert_eq!(replies.len(), 2);
    for (name, reply) in replies {
        assert!(!reply.error, "{name}: {:?}", reply.body);
        assert!(reply.streamed, "{name} must use response streaming");
        let (status, headers, body) = reply.http();
        assert_eq!(status, 200, "{name}");
        assert_eq!(headers["x-accel-buffering"], "no");
        let text = String::from_utf8(body).unwrap();
        assert!(text.starts_with("event: metadata"), "{name}: {text}");
        assert!(text.contains("event: messages/partial"), "{name}: {text}");
        assert!(text.ends_with("event: end\ndata: {}\n\n"), "{name}: {text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_setting_fails_the_cold_start_clearly() {
    let d = Deployment::create().await;
    d.assert_cold_start_names(env!("CARGO_BIN_EXE_runs"), "AGENTGATE_TABLE")
        .await;
}
