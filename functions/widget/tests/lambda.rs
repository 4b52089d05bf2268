//! The `widget` binary as Lambda runs it: booted from Secrets Manager and DynamoDB (local
//! stand-ins), fed the sample events by a local Runtime API, answering with response
//! streaming (CORS preflight included).

#![allow(clippy::unwrap_used)] // tests fail loudly by design

use agentgate_shared::testing::{self, Deployment};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_streams_every_sample_event() {
    let d = Deployment::create().await;
    testing::open_sample_assistant(&d.state).await;
    let replies = d
        .invoke_samples(env!("CARGO_BIN_EXE_widget"), "widget")
        .await;
    assert_eq!(replies.len(), 3);
    for (name, reply) in replies {
        assert!(!reply.error, "{name}: {:?}", reply.body);
        assert!(reply.streamed, "{name} must use response streaming");
        let (status, headers, body) = reply.http();
        assert_eq!(headers["access-control-allow-origin"], "*", "{name}");
        let text = String::from_utf8(body).unwrap();
        if name == "preflight.json" {
            assert_eq!(status, 204);
        } else {
            assert_eq!(status, 200, "{name}: {text}");
            assert!(
                text.contains("data-done") || text.contains("event: done"),
                "{name}: {text}"
            );
        }
    }
}
