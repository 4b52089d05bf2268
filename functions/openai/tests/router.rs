//! Router tests (`oneshot`) for the OpenAI-compatible family: every error status in
//! OpenAI's shape, both response modes, and per-end-user transcripts.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

use agentgate_shared::domain::assistant::{Assistant, AssistantPatch};
use agentgate_shared::domain::ids::UserId;
use agentgate_shared::domain::thread::ThreadKey;
use agentgate_shared::state::AppState;
use agentgate_shared::testing::{self, Behavior, MockUpstream};
use axum::body::Body;
use http::{Request, StatusCode};
use serde_json::{Value, json};

const TOKEN: &str = "pubkey_openai_test_0001";

async fn assistant(state: &AppState, configurable: Value) -> Assistant {
    let patch = AssistantPatch {
        name: Some("helper".into()),
        configurable: configurable.as_object().cloned().unwrap(),
    };
    let a = Assistant::create(UserId::parse("owner").unwrap(), &patch, 0).unwrap();
    state.store.create_assistant(&a).await.unwrap();
    a
}

async fn public(state: &AppState, model: &str) -> Assistant {
    assistant(state, json!({"type==agent/access_mode": "public_token", "type==agent/public_token": TOKEN, "type==agent/model": model})).await
}

fn chat(token: Option<&str>, body: Value) -> Request<Body> {
    let mut b = Request::post("/public/openai/v1/chat/completions")
        .header("content-type", "application/json");
    if let Some(t) = token {
        b = b.header("authorization", format!("Bearer {t}"));
    }
    b.body(Body::from(body.to_string())).unwrap()
}

async fn send(state: &AppState, req: Request<Body>) -> (StatusCode, http::HeaderMap, String) {
    testing::app::call(agentgate_openai::router(state.clone()), req).await
}

fn error_of(body: &str) -> Value {
    let v: Value = serde_json::from_str(body).unwrap();
    let e = v["error"].clone();
    for k in ["message", "type", "param", "code"] {
        assert!(e.get(k).is_some(), "error object lacks {k}: {body}");
    }
    e
}

fn hello() -> Value {
    json!({"model": "gpt-4o", "messages": [{"role": "user", "content": "Hello!"}]})
}

#[tokio::test]
async fn errors_use_openai_shape_and_statuses() {
    let dir = testing::tempdir();
    let state = testing::state(dir.path(), Default::default());
    public(&state, "echo").await;
    assistant(
        &state,
        json!({"type==agent/public_token": "pubkey_private_bot_01"}),
    )
    .await;

    let cases: Vec<(Request<Body>, StatusCode, &str, Option<&str>)> = vec![
        (
            chat(None, hello()),
            StatusCode::UNAUTHORIZED,
            "invalid_request_error",
            None,
        ),
        (
            chat(Some("pubkey_unknown_token_00"), hello()),
            StatusCode::UNAUTHORIZED,
            "invalid_request_error",
            None,
        ),
        (
            chat(Some("agp_notachecksummedtoken0000000"), hello()),
            StatusCode::UNAUTHORIZED,
            "invalid_request_error",
            None,
        ),
        (
            chat(Some("pubkey_private_bot_01"), hello()),
            StatusCode::FORBIDDEN,
            "permission_error",
            None,
        ),
        (
            chat(Some(TOKEN), json!({"model": "x"})),
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            Some("messages"),
        ),
        (
            chat(
                Some(TOKEN),
                json!({"messages": [{"role": "user", "content": "x"}], "temperature": 9}),
            ),
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            Some("temperature"),
        ),
        (
            chat(
                Some(TOKEN),
                json!({"messages": [{"role": "user", "content": "x"}], "max_tokens": 100000}),
            ),
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            Some("max_tokens"),
        ),
        (
            chat(
                Some(TOKEN),
                json!({"messages": [{"role": "tool", "content": "x"}]}),
            ),
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            Some("messages[0].role"),
        ),
    ];
    for (req, status, kind, param) in cases {
        let (got, _, body) = send(&state, req).await;
        assert_eq!(got, status, "{body}");
        let e = error_of(&body);
        assert_eq!(e["type"], kind, "{body}");
        assert_eq!(e["param"].as_str(), param, "{body}");
    }
    let (_, _, body) = send(&state, chat(Some("pubkey_unknown_token_00"), hello())).await;
    assert_eq!(error_of(&body)["code"], "invalid_api_key");
    let raw = Request::post("/public/openai/v1/chat/completions")
        .header("authorization", format!("Bearer {TOKEN}"))
        .body(Body::from("{nope"))
        .unwrap();
    let (status, _, body) = send(&state, raw).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    error_of(&body);
    let get = |path: &str| {
        Request::get(path)
            .header("authorization", format!("Bearer {TOKEN}"))
            .body(Body::empty())
            .unwrap()
    };
    let (status, _, body) = send(&state, get("/public/openai/v1/models/gpt-5")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(error_of(&body)["code"], "model_not_found");
}

#[tokio::test]
async fn models_list_the_tokens_assistant() {
    let dir = testing::tempdir();
    let state = testing::state(dir.path(), Default::default());
    let a = public(&state, "echo").await;
    let get = |path: &str| {
        Request::get(path)
            .header("authorization", format!("Bearer {TOKEN}"))
            .body(Body::empty())
            .unwrap()
    };
    let (status, _, body) = send(&state, get("/public/openai/v1/models")).await;
    assert_eq!(status, StatusCode::OK);
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["object"], "list");
    assert_eq!(v["data"][0]["id"], a.id.as_str());
    assert_eq!(v["data"][0]["object"], "model");
    assert!(v["data"][0]["created"].is_i64() && v["data"][0]["owned_by"].is_string());
    let (status, _, _) = send(&state, get(&format!("/public/openai/v1/models/{}", a.id))).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn non_streaming_and_streaming_replies() {
    let mock = MockUpstream::openai(Behavior::Reply(vec!["Hi".into(), " there".into()])).await;
    let dir = testing::tempdir();
    let state = testing::state(dir.path(), testing::mock_providers(Some(&mock), None));
    public(&state, "openai:gpt-4o-mini").await;

    let (status, _, body) = send(&state, chat(Some(TOKEN), hello())).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["object"], "chat.completion");
    assert_eq!(
        v["model"], "gpt-4o",
        "the requested model name is echoed, not used"
    );
    assert_eq!(v["choices"][0]["message"]["content"], "Hi there");
    assert_eq!(v["choices"][0]["finish_reason"], "stop");
    assert_eq!(v["usage"]["prompt_tokens"], 11);
    assert_eq!(
        mock.seen()[0].body["model"],
        "gpt-4o-mini",
        "the assistant's model is used upstream"
    );

    let mut req = hello();
    req["stream"] = json!(true);
    req["stream_options"] = json!({"include_usage": true});
    let (status, headers, sse) = send(&state, chat(Some(TOKEN), req)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let frames: Vec<&str> = sse.split("\n\n").filter(|f| !f.is_empty()).collect();
    assert_eq!(*frames.last().unwrap(), "data: [DONE]");
    let chunks: Vec<Value> = frames[..frames.len() - 1]
        .iter()
        .map(|f| serde_json::from_str(f.strip_prefix("data: ").unwrap()).unwrap())
        .collect();
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    let text: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(text, "Hi there");
    assert!(
        chunks
            .iter()
            .all(|c| c["object"] == "chat.completion.chunk")
    );
    assert_eq!(chunks.last().unwrap()["usage"]["completion_tokens"], 2);
}

#[tokio::test]
async fn upstream_failures_are_502_before_and_an_error_chunk_during_the_stream() {
    let mock = MockUpstream::openai(Behavior::Fail(500, "upstream exploded".into())).await;
    let dir = testing::tempdir();
    let state = testing::state(dir.path(), testing::mock_providers(Some(&mock), None));
    public(&state, "openai:gpt-4o-mini").await;
    let (status, _, body) = send(&state, chat(Some(TOKEN), hello())).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY);
    assert_eq!(error_of(&body)["type"], "api_error");

    mock.set_behavior(Behavior::BreakAfter(vec!["Partial".into()]));
    let mut req = hello();
    req["stream"] = json!(true);
    let (status, _, sse) = send(&state, chat(Some(TOKEN), req)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(sse.contains("\"error\":{"), "{sse}");
    assert!(sse.ends_with("data: [DONE]\n\n"));
}

#[tokio::test]
async fn rate_limits_answer_429_with_retry_after() {
    let dir = testing::tempdir();
    let state = testing::state_tuned(dir.path(), Default::default(), |settings| {
        settings.rate_per_minute = 2;
    });
    public(&state, "echo").await;
    let mut body = hello();
    body["user"] = json!("visitor-1");
    for _ in 0..2 {
        assert_eq!(
            send(&state, chat(Some(TOKEN), body.clone())).await.0,
            StatusCode::OK
        );
    }
    let (status, headers, text) = send(&state, chat(Some(TOKEN), body.clone())).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry));
    assert_eq!(error_of(&text)["code"], "rate_limit_exceeded");
    body["user"] = json!("visitor-2");
    assert_eq!(
        send(&state, chat(Some(TOKEN), body)).await.0,
        StatusCode::OK,
        "another end user is not limited"
    );
}

#[tokio::test]
async fn transcripts_hold_each_turn_once_per_end_user() {
    let dir = testing::tempdir();
    let state = testing::state(dir.path(), Default::default());
    let a = public(&state, "echo").await;
    // Two end users of one token; each client resends its history every turn.
    for user in ["alice", "bob"] {
        let mut history = vec![json!({"role": "system", "content": "client system prompt"})];
        for turn in 1..=3 {
            history.push(json!({"role": "user", "content": format!("{user} turn {turn}")}));
            let (status, _, body) = send(
                &state,
                chat(Some(TOKEN), json!({"messages": history, "user": user})),
            )
            .await;
            assert_eq!(status, StatusCode::OK);
            let v: Value = serde_json::from_str(&body).unwrap();
            history.push(
                json!({"role": "assistant", "content": v["choices"][0]["message"]["content"]}),
            );
        }
    }
    for user in ["alice", "bob"] {
        let t = state
            .store
            .recent_messages(&ThreadKey::openai(&a.id, user), 100)
            .await
            .unwrap();
        assert_eq!(t.len(), 6, "three turns, each recorded once");
        let humans: Vec<_> = t
            .iter()
            .filter(|m| m.message.role == agentgate_shared::domain::message::Role::Human)
            .map(|m| m.message.content.clone())
            .collect();
        assert_eq!(humans, [1, 2, 3].map(|i| format!("{user} turn {i}")));
        assert!(
            t.iter()
                .all(|m| !m.message.content.contains("client system prompt"))
        );
    }
    // The X-End-User header names the end user when the body does not.
    let req = Request::post("/public/openai/v1/chat/completions")
        .header("authorization", format!("Bearer {TOKEN}"))
        .header("x-end-user", "carol")
        .body(Body::from(hello().to_string()))
        .unwrap();
    assert_eq!(send(&state, req).await.0, StatusCode::OK);
    assert_eq!(
        state
            .store
            .recent_messages(&ThreadKey::openai(&a.id, "carol"), 10)
            .await
            .unwrap()
            .len(),
        2
    );
}

#[tokio::test]
async fn a_non_streaming_reply_the_upstream_breaks_off_is_502_and_still_counted() {
    let mock = MockUpstream::openai(Behavior::BreakAfter(vec!["Par".into(), "tial".into()])).await;
    let dir = testing::tempdir();
    let state = testing::state(dir.path(), testing::mock_providers(Some(&mock), None));
    let a = public(&state, "openai:gpt-4o-mini").await;
    let mut req = hello();
    req["user"] = json!("erin");
    let (status, _, body) = send(&state, chat(Some(TOKEN), req)).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{body}");
    assert_eq!(error_of(&body)["type"], "api_error");

    let day = state.clock.now_secs().div_euclid(86_400);
    let usage = state.store.usage(&a.id, day, day).await.unwrap();
    assert_eq!(usage.len(), 1);
    let t = usage[0].totals;
    assert_eq!((t.requests, t.messages), (1, 0), "counted, nothing stored");
    assert!(t.output_tokens >= 2, "the deltas received stand in: {t:?}");
    assert!(
        state
            .store
            .recent_messages(&ThreadKey::openai(&a.id, "erin"), 10)
            .await
            .unwrap()
            .is_empty()
    );
}

/// Every sample event in `events/openai/` goes through the router as Lambda would
/// deliver it.
#[tokio::test]
async fn every_sample_event_is_handled() {
    let app = agentgate_shared::testing::TestApp::new(agentgate_openai::router).await;
    agentgate_shared::testing::seed_sample_assistant(&app.state).await;
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
