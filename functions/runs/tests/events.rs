//! Every sample event in `events/runs/` goes through the router as Lambda would deliver it.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

use agentgate_shared::testing;
use http::StatusCode;
use http_body_util::BodyExt;
use tower::ServiceExt;

#[tokio::test]
async fn every_sample_event_is_handled() {
    let dir = testing::tempdir();
    let state = testing::state(dir.path(), Default::default());
    testing::seed_sample_assistant(&state).await;
    let events = testing::sample_events(&state, "runs");
    assert_eq!(events.len(), 2, "a new event needs an expectation here");
    for (name, req) in events {
        let resp = agentgate_runs::router(state.clone())
            .oneshot(req)
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK, "{name}");
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        let text = String::from_utf8(body.to_vec()).unwrap();
        assert!(text.starts_with("event: metadata"), "{name}: {text}");
        assert!(text.ends_with("event: end\ndata: {}\n\n"), "{name}: {text}");
    }
}
