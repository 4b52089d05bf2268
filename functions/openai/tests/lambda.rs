//! The `openai` binary as Lambda runs it (response streaming), booted from Secrets Manager
//! and DynamoDB stand-ins and fed the sample events by a local Runtime API.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

use agentgate_shared::testing::Deployment;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_answers_every_sample_event() {
    let d = Deployment::create().await;
    let replies = d
        .invoke_samples(env!("CARGO_BIN_EXE_openai"), "openai")
        .await;
    assert_eq!(replies.len(), 3);
    for (name, reply) in replies {
        assert!(!reply.error && reply.streamed, "{name}");
        let (status, _, body) = reply.http();
        assert_eq!(status, 200, "{name}");
        // A buffered (JSON) response under the streaming runner must arrive whole.
        let text = String::from_utf8(body).unwrap();
        let want = match name.as_str() {
            "chat-completions.json" => "\"object\":\"chat.completion\"",
            "chat-completions-stream.json" => "data: [DONE]",
            "models.json" => "\"object\":\"list\"",
            other => panic!("no expectation for {other}"),
        };
        assert!(text.contains(want), "{name}: {text:?}");
    }
}
