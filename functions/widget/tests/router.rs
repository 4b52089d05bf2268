//! Router tests (`oneshot`) for the widget family: both dialects, conversations bound to
//! their visitor, every error code, the caps and CORS.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

use agentgate_shared::domain::assistant::Assistant;
use agentgate_shared::domain::ids::AssistantId;
use agentgate_shared::stream::widget::LEGACY_REFUSAL;
use agentgate_shared::testing::{Behavior, TestApp, TestResponse, chunk_types};
use http::StatusCode;

mod samples;
use serde_json::{Value, json};

const CHAT: &str = "/v1/public/chat";

async fn app() -> TestApp {
    TestApp::new(agentgate_widget::router).await
}

async fn bot(app: &TestApp, owner: &str, mode: &str, model: &str) -> Assistant {
    let mut configurable = json!({"type==agent/access_mode": mode, "type==agent/model": model});
    if mode == "public_token" {
        configurable["type==agent/public_token"] = json!("pubkey_widget_test_0001");
    }
    app.assistant(owner, configurable).await
}

fn message(a: &Assistant, visitor: &str, conversation: Option<&str>, text: &str) -> Value {
    json!({"botPublicId": a.id, "visitorId": visitor, "conversationId": conversation,
        "message": text, "hostPageUrl": "https://docs.example.com/start"})
}

/// Sends `body` as a widget of the current version (the UI message stream).
async fn chat(app: &TestApp, body: &Value) -> TestResponse {
    app.post(CHAT)
        .header("x-widget-version", "2")
        .json(body)
        .send()
        .await
}

/// The conversation id the final `data-done` chunk names.
fn conversation_of(resp: &TestResponse) -> Value {
    resp.ui_chunks().pop().unwrap()["data"]["conversationId"].clone()
}

#[tokio::test]
async fn the_ui_message_stream_carries_text_then_done_and_continues_the_conversation() {
    let app = app().await;
    app.openai
        .set_behavior(Behavior::Reply(vec!["Hel".into(), "lo!".into()]));
    let a = bot(&app, "agency", "public_no_auth", "openai:gpt-4o-mini").await;

    let resp = chat(&app, &message(&a, "v1", None, " Hi ")).await;
    assert_eq!(resp.status, StatusCode::OK);
    assert_eq!(resp.header("x-vercel-ai-ui-message-stream"), "v1");
    assert_eq!(resp.header("access-control-allow-origin"), "*");
    assert!(resp.header("content-type").starts_with("text/event-stream"));
    let c = resp.ui_chunks();
    let types = chunk_types(&c);
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
    let seen = || app.openai.seen();
    assert_eq!(seen()[0].body["messages"][0]["content"], "Hi", "trimmed");

    // The same visitor continues; the model sees the first turn.
    chat(&app, &message(&a, "v1", Some(&conversation), "Again")).await;
    let second = seen()[1].body["messages"].clone();
    assert_eq!(second.as_array().unwrap().len(), 3, "{second}");
    assert_eq!(second[1]["content"], "Hello!");

    // Another visitor presenting that id gets a fresh conversation, not the history.
    let resp = chat(&app, &message(&a, "v2", Some(&conversation), "Peek")).await;
    assert_ne!(conversation_of(&resp), conversation.as_str());
    assert_eq!(seen()[2].body["messages"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn without_the_version_header_the_legacy_dialect_is_sent() {
    let app = app().await;
    let a = bot(&app, "agency", "public_no_auth", "echo").await;
    let resp = app
        .post(CHAT)
        .json(&message(&a, "v1", None, "Hey"))
        .send()
        .await;
    assert_eq!(resp.status, StatusCode::OK);
    assert!(resp.headers.get("x-vercel-ai-ui-message-stream").is_none());
    let events = resp.sse();
    let (last, tokens) = events.split_last().unwrap();
    assert!(tokens.iter().all(|e| e.event.as_deref() == Some("token")));
    let text: String = tokens
        .iter()
        .map(|e| e.json().as_str().unwrap().to_owned())
        .collect();
    assert_eq!(text, "You said: Hey (message 1 of this conversation)");
    assert_eq!(last.event.as_deref(), Some("done"));
    let done = last.json();
    assert!(done["conversationId"].is_string() && done["messageId"].is_string());
}

#[tokio::test]
async fn a_failure_mid_stream_is_an_error_chunk_or_a_legacy_refusal() {
    let app = app().await;
    app.openai
        .set_behavior(Behavior::BreakAfter(vec!["Par".into()]));
    let a = bot(&app, "agency", "public_no_auth", "openai:gpt-4o-mini").await;
    let c = chat(&app, &message(&a, "v1", None, "Hi")).await.ui_chunks();
    let last = c.last().unwrap();
    assert_eq!(last["type"], "error");
    assert!(last["errorText"].is_string());
    assert!(
        c.iter().all(|c| c["type"] != "data-done"),
        "nothing was persisted"
    );

    let resp = app
        .post(CHAT)
        .json(&message(&a, "v1", None, "Hi"))
        .send()
        .await;
    assert!(
        resp.text
            .ends_with(&format!("event: token\ndata: \"{LEGACY_REFUSAL}\"\n\n")),
        "{}",
        resp.text
    );
}

#[tokio::test]
async fn errors_use_the_widget_shape_and_codes() {
    let app = app().await;
    let open = bot(&app, "agency", "public_no_auth", "echo").await;
    let tokened = bot(&app, "agency", "public_token", "echo").await;
    let private = bot(&app, "agency", "authenticated", "echo").await;

    for (body, status, want) in [
        (
            json!({"visitorId": "v", "message": "m"}),
            400,
            "INVALID_REQUEST",
        ),
        (message(&open, "v", None, "   "), 400, "INVALID_REQUEST"),
        (
            json!({"botPublicId": "bot_doesnotexist", "visitorId": "v", "message": "m"}),
            404,
            "NOT_FOUND",
        ),
        (
            json!({"botPublicId": 42, "visitorId": "v", "message": "m"}),
            400,
            "INVALID_REQUEST",
        ),
        (message(&tokened, "v", None, "hi"), 404, "NOT_FOUND"),
        (message(&private, "v", None, "hi"), 404, "NOT_FOUND"),
        (
            json!({"botPublicId": AssistantId::mint(), "visitorId": "v", "message": "m"}),
            404,
            "NOT_FOUND",
        ),
    ] {
        let resp = chat(&app, &body).await;
        assert_eq!(resp.status, status, "{body}: {}", resp.text);
        assert_eq!(resp.code(), want, "{body}");
        assert_eq!(resp.header("access-control-allow-origin"), "*");
    }
    let resp = app.post(CHAT).body("not json").send().await;
    assert_eq!(
        (resp.status, resp.code().as_str()),
        (StatusCode::BAD_REQUEST, "INVALID_REQUEST")
    );
}

#[tokio::test]
async fn the_visitor_cap_refuses_with_retry_after_and_spares_other_visitors() {
    let app = TestApp::tuned(agentgate_widget::router, |s| s.widget_visitor_per_hour = 2).await;
    let a = bot(&app, "agency", "public_no_auth", "echo").await;
    for _ in 0..2 {
        let resp = chat(&app, &message(&a, "chatty", None, "hi")).await;
        assert_eq!(resp.status, StatusCode::OK);
    }
    let resp = chat(&app, &message(&a, "chatty", None, "hi")).await;
    assert_eq!(resp.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(resp.code(), "RATE_LIMITED");
    let retry: u64 = resp.header("retry-after").parse().unwrap();
    assert!((1..=3600).contains(&retry));
    let resp = chat(&app, &message(&a, "quiet", None, "hi")).await;
    assert_eq!(resp.status, StatusCode::OK);
}

#[tokio::test]
async fn the_owner_cap_spans_every_bot_of_the_owner() {
    let app = TestApp::tuned(agentgate_widget::router, |s| {
        s.owner_daily_limit = 3;
        s.daily_shards = 1;
    })
    .await;
    let one = bot(&app, "agency", "public_no_auth", "echo").await;
    let two = bot(&app, "agency", "public_no_auth", "echo").await;
    let other = bot(&app, "someone-else", "public_no_auth", "echo").await;
    for (b, v) in [(&one, "a"), (&two, "b"), (&one, "c")] {
        let resp = chat(&app, &message(b, v, None, "hi")).await;
        assert_eq!(resp.status, StatusCode::OK);
    }
    let resp = chat(&app, &message(&two, "d", None, "hi")).await;
    assert_eq!(
        (resp.status, resp.code().as_str()),
        (StatusCode::TOO_MANY_REQUESTS, "RATE_LIMITED")
    );
    let resp = chat(&app, &message(&other, "e", None, "hi")).await;
    assert_eq!(
        resp.status,
        StatusCode::OK,
        "another owner's bots are unaffected"
    );
}

#[tokio::test]
async fn the_owners_monthly_ceiling_answers_402_across_their_bots() {
    let app = TestApp::tuned(agentgate_widget::router, |s| s.owner_monthly_messages = 2).await;
    let one = bot(&app, "agency", "public_no_auth", "echo").await;
    let two = bot(&app, "agency", "public_no_auth", "echo").await;
    let other = bot(&app, "someone-else", "public_no_auth", "echo").await;
    assert_eq!(
        chat(&app, &message(&one, "a", None, "hi")).await.status,
        StatusCode::OK
    );
    assert_eq!(
        chat(&app, &message(&two, "b", None, "hi")).await.status,
        StatusCode::OK
    );
    let resp = chat(&app, &message(&one, "c", None, "hi")).await;
    resp.assert_error(402, "PLAN_LIMIT_REACHED");
    assert_eq!(resp.header("access-control-allow-origin"), "*");
    let resp = chat(&app, &message(&other, "d", None, "hi")).await;
    assert_eq!(resp.status, StatusCode::OK, "another owner's plan");
}

#[tokio::test]
async fn an_owner_may_restrict_the_bot_to_listed_origins() {
    let app = app().await;
    let open = bot(&app, "agency", "public_no_auth", "echo").await;
    let listed = app
        .assistant(
            "agency",
            json!({"type==agent/access_mode": "public_no_auth",
                   "type==agent/allowed_origins": ["https://shop.example.com"]}),
        )
        .await;
    let from = |a: &Assistant, origin: &str| {
        let req = app.post(CHAT).header("x-widget-version", "2");
        let req = if origin.is_empty() {
            req
        } else {
            req.header("origin", origin)
        };
        req.json(&message(a, "v", None, "hi")).send()
    };
    let allowed = from(&listed, "https://shop.example.com").await;
    assert_eq!(allowed.status, StatusCode::OK);
    assert_eq!(
        allowed.header("access-control-allow-origin"),
        "https://shop.example.com"
    );
    assert_eq!(allowed.header("vary"), "Origin");
    let other = from(&listed, "https://evil.example.net").await;
    other.assert_error(403, "ORIGIN_NOT_ALLOWED");
    assert_eq!(
        from(&listed, "").await.status,
        StatusCode::OK,
        "no Origin: not a browser page"
    );
    let anywhere = from(&open, "https://evil.example.net").await;
    assert_eq!(anywhere.status, StatusCode::OK);
    assert_eq!(anywhere.header("access-control-allow-origin"), "*");
}

#[tokio::test]
async fn preflights_allow_any_origin() {
    let app = app().await;
    let resp = app.preflight(CHAT, "content-type, x-widget-version").await;
    assert_eq!(resp.status, StatusCode::NO_CONTENT);
    assert_eq!(resp.header("access-control-allow-origin"), "*");
    assert!(resp.header("access-control-allow-methods").contains("POST"));
    assert!(
        resp.header("access-control-allow-headers")
            .contains("x-widget-version")
    );
}

#[tokio::test]
async fn a_conversation_continues_even_when_no_history_is_sent() {
    let app = TestApp::tuned(agentgate_widget::router, |s| s.history_limit = 0).await;
    app.openai.set_behavior(Behavior::Reply(vec!["Ok".into()]));
    let a = bot(&app, "agency", "public_no_auth", "openai:gpt-4o-mini").await;
    let first = conversation_of(&chat(&app, &message(&a, "v1", None, "One")).await);
    let resp = chat(&app, &message(&a, "v1", first.as_str(), "Two")).await;
    assert_eq!(conversation_of(&resp), first);
    assert_eq!(
        app.openai.seen()[1].body["messages"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

agentgate_shared::router_answers_sample_events!(
    agentgate_widget::router,
    "widget",
    events = samples::EVENTS,
    check = samples::check
);
