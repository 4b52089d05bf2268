//! Every sample event in `events/assistants/` goes through the router as Lambda would
//! deliver it.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

use agentgate_shared::testing;
use http::StatusCode;
use tower::ServiceExt;

#[tokio::test]
async fn every_sample_event_is_handled() {
    let dir = testing::tempdir();
    let state = testing::state(dir.path(), Default::default());
    testing::seed_sample_assistant(&state).await;
    testing::seed_sample_memory(&state).await;
    let expected = |name: &str| match name {
        "create.json" => StatusCode::CREATED,
        "get.json"
        | "list.json"
        | "patch.json"
        | "rotate-token.json"
        | "usage.json"
        | "end-user-memory.json" => StatusCode::OK,
        "forget-end-user-memory.json" => StatusCode::NO_CONTENT,
        other => panic!("no expectation for events/assistants/{other}"),
    };
    let events = testing::sample_events(&state, "assistants");
    assert_eq!(events.len(), 8);
    for (name, req) in events {
        let resp = agentgate_assistants::router(state.clone())
            .oneshot(req)
            .await
            .unwrap();
        assert_eq!(resp.status(), expected(&name), "{name}");
    }
}
