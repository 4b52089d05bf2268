//! Every sample event in `events/assistants/` goes through the router as Lambda would
//! deliver it.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

use agentgate_shared::testing::{self, TestApp};

#[tokio::test]
async fn every_sample_event_is_handled() {
    let app = TestApp::new(agentgate_assistants::router).await;
    testing::seed_sample_assistant(&app.state).await;
    testing::seed_sample_memory(&app.state).await;
    let replies = app.replay("assistants").await;
    assert_eq!(replies.len(), 8, "a new event needs an expectation here");
    for (name, resp) in replies {
        let want = match name.as_str() {
            "create.json" => 201,
            "get.json"
            | "list.json"
            | "patch.json"
            | "rotate-token.json"
            | "usage.json"
            | "end-user-memory.json" => 200,
            "forget-end-user-memory.json" => 204,
            other => panic!("no expectation for events/assistants/{other}"),
        };
        assert_eq!(resp.status, want, "{name}: {}", resp.text);
    }
}
