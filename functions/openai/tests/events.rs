//! Every sample event in `events/openai/` goes through the router as Lambda would deliver it.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

use agentgate_shared::testing::{self, TestApp};

#[tokio::test]
async fn every_sample_event_is_handled() {
    let app = TestApp::new(agentgate_openai::router).await;
    testing::seed_sample_assistant(&app.state).await;
    let replies = app.replay("openai").await;
    assert_eq!(replies.len(), 3, "a new event needs an expectation here");
    for (name, resp) in replies {
        assert_eq!(resp.status, 200, "{name}");
        let want = match name.as_str() {
            "chat-completions.json" => "\"object\":\"chat.completion\"",
            "chat-completions-stream.json" => "data: [DONE]",
            "models.json" => "\"object\":\"list\"",
            other => panic!("no expectation for events/openai/{other}"),
        };
        assert!(resp.text.contains(want), "{name}: {}", resp.text);
    }
}
