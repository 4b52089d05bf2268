//! Every sample event in `events/widget/` goes through the router as Lambda would deliver it.

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
    testing::open_sample_assistant(&state).await;
    let events = testing::sample_events(&state, "widget");
    assert_eq!(events.len(), 3, "a new event needs an expectation here");
    for (name, req) in events {
        let resp = agentgate_widget::router(state.clone())
            .oneshot(req)
            .await
            .unwrap();
        assert_eq!(resp.headers()["access-control-allow-origin"], "*", "{name}");
        let status = resp.status();
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        let text = String::from_utf8(body.to_vec()).unwrap();
        match name.as_str() {
            "preflight.json" => assert_eq!(status, StatusCode::NO_CONTENT),
            "chat-ui-stream.json" => {
                assert_eq!(status, StatusCode::OK, "{text}");
                assert!(text.starts_with("data: {\"id\":"), "{text}");
                assert!(text.contains("\"type\":\"data-done\""), "{text}");
                assert!(text.ends_with("data: [DONE]\n\n"), "{text}");
            }
            "chat-legacy.json" => {
                assert_eq!(status, StatusCode::OK, "{text}");
                assert!(text.starts_with("event: token\n"), "{text}");
                assert!(text.contains("event: done\n"), "{text}");
            }
            other => panic!("no expectation for {other}"),
        }
    }
}
