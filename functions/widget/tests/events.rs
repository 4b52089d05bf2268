//! Every sample event in `events/widget/` goes through the router as Lambda would deliver it.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

use agentgate_shared::testing::{self, TestApp};

#[tokio::test]
async fn every_sample_event_is_handled() {
    let app = TestApp::new(agentgate_widget::router).await;
    testing::seed_sample_assistant(&app.state).await;
    testing::open_sample_assistant(&app.state).await;
    let replies = app.replay("widget").await;
    assert_eq!(replies.len(), 3, "a new event needs an expectation here");
    for (name, resp) in replies {
        assert_eq!(resp.header("access-control-allow-origin"), "*", "{name}");
        let text = &resp.text;
        match name.as_str() {
            "preflight.json" => assert_eq!(resp.status, 204),
            "chat-ui-stream.json" => {
                assert_eq!(resp.status, 200, "{text}");
                assert!(text.starts_with("data: {\"id\":"), "{text}");
                assert!(text.contains("\"type\":\"data-done\""), "{text}");
                assert!(text.ends_with("data: [DONE]\n\n"), "{text}");
            }
            "chat-legacy.json" => {
                assert_eq!(resp.status, 200, "{text}");
                assert!(text.starts_with("event: token\n"), "{text}");
                assert!(text.contains("event: done\n"), "{text}");
            }
            other => panic!("no expectation for {other}"),
        }
    }
}
