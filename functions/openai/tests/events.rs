//! Every sample event in `events/openai/` goes through the router as Lambda would deliver it.

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
    let events = testing::sample_events(&state, "openai");
    assert_eq!(events.len(), 3, "a new event needs an expectation here");
    for (name, req) in events {
        let resp = agentgate_openai::router(state.clone())
            .oneshot(req)
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK, "{name}");
        let body = String::from_utf8(
            resp.into_body()
                .collect()
                .await
                .unwrap()
                .to_bytes()
                .to_vec(),
        )
        .unwrap();
        let want = match name.as_str() {
            "chat-completions.json" => "\"object\":\"chat.completion\"",
            "chat-completions-stream.json" => "data: [DONE]",
            "models.json" => "\"object\":\"list\"",
            other => panic!("no expectation for events/openai/{other}"),
        };
        assert!(body.contains(want), "{name}: {body}");
    }
}
