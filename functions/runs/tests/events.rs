//! Every sample event in `events/runs/` goes through the router as Lambda would deliver it.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

use agentgate_shared::testing::{self, TestApp};

#[tokio::test]
async fn every_sample_event_is_handled() {
    let app = TestApp::new(agentgate_runs::router).await;
    testing::seed_sample_assistant(&app.state).await;
    let replies = app.replay("runs").await;
    assert_eq!(replies.len(), 2, "a new event needs an expectation here");
    for (name, resp) in replies {
        assert_eq!(resp.status, 200, "{name}");
        assert!(
            resp.text.starts_with("event: metadata"),
            "{name}: {}",
            resp.text
        );
        assert!(
            resp.text.ends_with("event: end\ndata: {}\n\n"),
            "{name}: {}",
            resp.text
        );
    }
}
