//! Router tests (`oneshot`) for the widget family: both dialects, conversations bound to
//! their visitor, every error code, the caps and CORS.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

use agentgate_shared::domain::assistant::{Assistant, AssistantPatch};
use agentgate_shared::domain::ids::UserId;
use agentgate_shared::state::AppState;
use agentgate_shared::testing::{self, Behavior, MockUpstream};
use axum::body::Body;
use http::{Request, StatusCode};
use serde_json::{Value, json};

async fn bot(state: &AppState, owner: &str, mode: &str, model: &str) -> Assistant {
    let mut configurable = json!({"type==agent/access_mode": mode, "type==agent/model": model});
    if mode == "public_token" {
        configurable["type==agent/public_token"] = json!("pubkey_widget_test_0001");
    }
    let patch = AssistantPatch {
        name: Some("widget bot".into()),
        configurable: configurable.as_object().cloned().unwrap(),
    };
    let a = Assistant::create(UserId::parse(owner).unwrap(), &patch, 0).unwrap();
    state.store.create_assistant(&a).await.unwrap();
    a
}

fn chat(version: Option<&str>, body: Value) -> Request<Body> {
    let mut b = Request::post("/v1/public/chat").header("content-type", "application/json");
    if let Some(v) = version {
        b = b.header("x-widget-version", v);
    }
    b.body(Body::from(body.to_string())).unwrap()
}

fn message(a: &Assistant, visitor: &str, conversation: Option<&str>, text: &str) -> Value {
    json!({"botPublicId": a.id, "visitorId": visitor, "conversationId": conversation,
        "message": text, "hostPageUrl": "https://docs.example.com/start"})
}

async fn send(state: &AppState, req: Request<Body>) -> (StatusCode, http::HeaderMap, String) {
    testing::app::call(agentgate_widget::router(state.clone()), req).await
}

/// The JSON chunks of a UI message stream, checking its framing and final `[DONE]`.
fn chunks(body: &str) -> Vec<Value> {
    assert!(body.ends_with("data: [DONE]\n\n"), "{body}");
    body.split("\n\n")
        .filter(|f| !f.is_empty() && !f.starts_with(':'))
        .map(|f| f.strip_prefix("data: ").unwrap())
        .filter(|d| *d != "[DONE]")
        .map(|d| serde_json::from_str(d).unwrap())
        .collect()
}

fn code(body: &str) -> String {
    serde_json::from_str::<Value>(body).unwrap()["error"]["code"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn the_ui_message_stream_carries_text_then_done_and_continues_the_conversation() {
    let mock = MockUpstream::openai(Behavior::Reply(vec!["Hel".into(), "lo!".into()])).await;
    let dir = testing::tempdir();
    let state = testing::state(dir.path(), testing::mock_providers(Some(&mock), None));
    let a = bot(&state, "agency", "public_no_auth", "openai:gpt-4o-mini").await;

    let (status, headers, body) =
        send(&state, chat(Some("2"), message(&a, "v1", None, " Hi "))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["x-vercel-ai-ui-message-stream"], "v1");
    assert_eq!(headers["access-control-allow-origin"], "*");
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let c = chunks(&body);
    let types: Vec<&str> = c.iter().map(|c| c["type"].as_str().unwrap()).collect();
    assert_eq!(
        types,
        [
            "text-start",
            "text-delta",
            "text-delta",
            "text-end",
            "data-done"
        ]
    );
    let text: String = c.iter().filter_map(|c| c["delta"].as_str()).collect();
    assert_eq!(text, "Hello!");
    let done = &c[4]["data"];
    let conversation = done["conversationId"].as_str().unwrap().to_owned();
    assert_eq!(conversation.len(), 36, "server-minted UUID");
    assert!(done["messageId"].is_string());
    assert_eq!(
        mock.seen()[0].body["messages"][0]["content"],
        "Hi",
        "trimmed"
    );

    // The same visitor continues; the model sees the first turn.
    send(
        &state,
        chat(Some("2"), message(&a, "v1", Some(&conversation), "Again")),
    )
    .await;
    let second = mock.seen()[1].body["messages"].clone();
    assert_eq!(second.as_array().unwrap().len(), 3, "{second}");
    assert_eq!(second[1]["content"], "Hello!");

    // Another visitor presenting that id gets a fresh conversation, not the history.
    let (_, _, body) = send(
        &state,
        chat(Some("2"), message(&a, "v2", Some(&conversation), "Peek")),
    )
    .await;
    let done = chunks(&body).pop().unwrap();
    assert_ne!(done["data"]["conversationId"], conversation.as_str());
    assert_eq!(mock.seen()[2].body["messages"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn without_the_version_header_the_legacy_dialect_is_sent() {
    let dir = testing::tempdir();
    let state = testing::state(dir.path(), Default::default());
    let a = bot(&state, "agency", "public_no_auth", "echo").await;
    let (status, headers, body) = send(&state, chat(None, message(&a, "v1", None, "Hey"))).await;
    assert_eq!(status, StatusCode::OK);
    assert!(headers.get("x-vercel-ai-ui-message-stream").is_none());
    let events: Vec<(&str, Value)> = body
        .split("\n\n")
        .filter(|f| !f.is_empty())
        .map(|f| {
            let (name, data) = f.split_once('\n').unwrap();
            (
                name.strip_prefix("event: ").unwrap(),
                serde_json::from_str(data.strip_prefix("data: ").unwrap()).unwrap(),
            )
        })
        .collect();
    let (last, tokens) = events.split_last().unwrap();
    assert!(tokens.iter().all(|(n, _)| *n == "token"));
    let text: String = tokens.iter().map(|(_, d)| d.as_str().unwrap()).collect();
    assert_eq!(text, "You said: Hey (message 1 of this conversation)");
    assert_eq!(last.0, "done");
    assert!(last.1["conversationId"].is_string() && last.1["messageId"].is_string());
}

#[tokio::test]
async fn a_failure_mid_stream_is_an_error_chunk_or_a_legacy_refusal() {
    let mock = MockUpstream::openai(Behavior::BreakAfter(vec!["Par".into()])).await;
    let dir = testing::tempdir();
    let state = testing::state(dir.path(), testing::mock_providers(Some(&mock), None));
    let a = bot(&state, "agency", "public_no_auth", "openai:gpt-4o-mini").await;
    let (_, _, body) = send(&state, chat(Some("2"), message(&a, "v1", None, "Hi"))).await;
    let c = chunks(&body);
    let last = c.last().unwrap();
    assert_eq!(last["type"], "error");
    assert!(last["errorText"].is_string());
    assert!(
        c.iter().all(|c| c["type"] != "data-done"),
        "nothing was persisted"
    );

    let (_, _, body) = send(&state, chat(None, message(&a, "v1", None, "Hi"))).await;
    assert!(
        body.ends_with(&format!(
            "event: token\ndata: \"{}\"\n\n",
            agentgate_shared::stream::widget::LEGACY_REFUSAL
        )),
        "{body}"
    );
}

#[tokio::test]
async fn errors_use_the_widget_shape_and_codes() {
    let dir = testing::tempdir();
    let state = testing::state(dir.path(), Default::default());
    let open = bot(&state, "agency", "public_no_auth", "echo").await;
    let tokened = bot(&state, "agency", "public_token", "echo").await;
    let private = bot(&state, "agency", "authenticated", "echo").await;

    for (body, status, want) in [
        (
            json!({"visitorId": "v", "message": "m"}),
            400,
            "INVALID_REQUEST",
        ),
        (message(&open, "v", None, "   "), 400, "INVALID_REQUEST"),
        (
            json!({"botPublicId": "bot_unknown", "visitorId": "v", "message": "m"}),
            400,
            "INVALID_REQUEST",
        ),
        (message(&tokened, "v", None, "hi"), 404, "NOT_FOUND"),
        (message(&private, "v", None, "hi"), 404, "NOT_FOUND"),
        (
            json!({"botPublicId": agentgate_shared::domain::ids::AssistantId::mint(), "visitorId": "v", "message": "m"}),
            404,
            "NOT_FOUND",
        ),
    ] {
        let (s, headers, text) = send(&state, chat(Some("2"), body.clone())).await;
        assert_eq!(s.as_u16(), status, "{body}: {text}");
        assert_eq!(code(&text), want, "{body}");
        assert_eq!(headers["access-control-allow-origin"], "*");
    }
    let req = Request::post("/v1/public/chat")
        .header("content-type", "application/json")
        .body(Body::from("not json"))
        .unwrap();
    let (s, _, text) = send(&state, req).await;
    assert_eq!(
        (s, code(&text).as_str()),
        (StatusCode::BAD_REQUEST, "INVALID_REQUEST")
    );
}

#[tokio::test]
async fn the_visitor_cap_refuses_with_retry_after_and_spares_other_visitors() {
    let dir = testing::tempdir();
    let state = testing::state_tuned(dir.path(), Default::default(), |settings| {
        settings.widget_visitor_per_hour = 2;
    });
    let a = bot(&state, "agency", "public_no_auth", "echo").await;
    for _ in 0..2 {
        let (s, _, _) = send(&state, chat(Some("2"), message(&a, "chatty", None, "hi"))).await;
        assert_eq!(s, StatusCode::OK);
    }
    let (s, headers, body) = send(&state, chat(Some("2"), message(&a, "chatty", None, "hi"))).await;
    assert_eq!(s, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(code(&body), "RATE_LIMITED");
    let retry: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=3600).contains(&retry));
    let (s, _, _) = send(&state, chat(Some("2"), message(&a, "quiet", None, "hi"))).await;
    assert_eq!(s, StatusCode::OK);
}

#[tokio::test]
async fn the_owner_cap_spans_every_bot_of_the_owner() {
    let dir = testing::tempdir();
    let state = testing::state_tuned(dir.path(), Default::default(), |settings| {
        settings.owner_daily_limit = 3;
        settings.daily_shards = 1;
    });
    let one = bot(&state, "agency", "public_no_auth", "echo").await;
    let two = bot(&state, "agency", "public_no_auth", "echo").await;
    let other = bot(&state, "someone-else", "public_no_auth", "echo").await;
    for (b, v) in [(&one, "a"), (&two, "b"), (&one, "c")] {
        let (s, _, _) = send(&state, chat(Some("2"), message(b, v, None, "hi"))).await;
        assert_eq!(s, StatusCode::OK);
    }
    let (s, _, body) = send(&state, chat(Some("2"), message(&two, "d", None, "hi"))).await;
    assert_eq!(
        (s, code(&body).as_str()),
        (StatusCode::TOO_MANY_REQUESTS, "RATE_LIMITED")
    );
    let (s, _, _) = send(&state, chat(Some("2"), message(&other, "e", None, "hi"))).await;
    assert_eq!(s, StatusCode::OK, "another owner's bots are unaffected");
}

#[tokio::test]
async fn preflights_allow_any_origin() {
    let dir = testing::tempdir();
    let state = testing::state(dir.path(), Default::default());
    let req = Request::options("/v1/public/chat")
        .header("origin", "https://shop.example.com")
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "content-type, x-widget-version",
        )
        .body(Body::empty())
        .unwrap();
    let (s, headers, _) = send(&state, req).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    assert_eq!(headers["access-control-allow-origin"], "*");
    assert!(
        headers["access-control-allow-methods"]
            .to_str()
            .unwrap()
            .contains("POST")
    );
    assert!(
        headers["access-control-allow-headers"]
            .to_str()
            .unwrap()
            .contains("x-widget-version")
    );
}

#[tokio::test]
async fn a_conversation_continues_even_when_no_history_is_sent() {
    let mock = MockUpstream::openai(Behavior::Reply(vec!["Ok".into()])).await;
    let dir = testing::tempdir();
    let state = testing::state_tuned(
        dir.path(),
        testing::mock_providers(Some(&mock), None),
        |settings| settings.history_limit = 0,
    );
    let a = bot(&state, "agency", "public_no_auth", "openai:gpt-4o-mini").await;
    let (_, _, body) = send(&state, chat(Some("2"), message(&a, "v1", None, "One"))).await;
    let first = chunks(&body).pop().unwrap()["data"]["conversationId"].clone();
    let (_, _, body) = send(
        &state,
        chat(Some("2"), message(&a, "v1", first.as_str(), "Two")),
    )
    .await;
    assert_eq!(
        chunks(&body).pop().unwrap()["data"]["conversationId"],
        first
    );
    assert_eq!(mock.seen()[1].body["messages"].as_array().unwrap().len(), 1);
}

/// Every sample event in `events/widget/` goes through the router as Lambda would
/// deliver it.
#[tokio::test]
async fn every_sample_event_is_handled() {
    let app = agentgate_shared::testing::TestApp::new(agentgate_widget::router).await;
    agentgate_shared::testing::seed_sample_assistant(&app.state).await;
    agentgate_shared::testing::open_sample_assistant(&app.state).await;
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
