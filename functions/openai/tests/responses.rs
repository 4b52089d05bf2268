//! Router tests (`oneshot`) for the Responses API: the streamed event sequence, stored
//! responses and their scope, continuation by `previous_response_id` and `item_reference`,
//! what reaches the upstream, and failures before and after the first event.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

use agentgate_shared::domain::message::Role;
use agentgate_shared::domain::thread::ThreadKey;
use agentgate_shared::testing::{Behavior, TestApp, TestResponse};
use http::StatusCode;
use serde_json::{Value, json};

const TOKEN: &str = "pubkey_responses_test_01";
const OTHER_TOKEN: &str = "pubkey_responses_test_02";
const RESPONSES: &str = "/public/openai/v1/responses";

async fn app() -> TestApp {
    let app = TestApp::new(agentgate_openai::router).await;
    app.openai
        .set_behavior(Behavior::Reply(vec!["Hi".into(), " there".into()]));
    for token in [TOKEN, OTHER_TOKEN] {
        app.assistant(
            "owner",
            json!({
                "type==agent/access_mode": "public_token",
                "type==agent/public_token": token,
                "type==agent/model": "openai:gpt-4o-mini",
                "type==agent/system_message": "You are the shop's assistant.",
            }),
        )
        .await;
    }
    app
}

async fn create(app: &TestApp, body: Value) -> TestResponse {
    app.post(RESPONSES).bearer(TOKEN).json(&body).send().await
}

async fn fetch(app: &TestApp, token: &str, id: &str, end_user: Option<&str>) -> TestResponse {
    let req = app.get(&format!("{RESPONSES}/{id}")).bearer(token);
    match end_user {
        Some(u) => req.header("x-end-user", u),
        None => req,
    }
    .send()
    .await
}

/// The (role, content) pairs of the last request the upstream received.
fn upstream_messages(app: &TestApp) -> Vec<(String, String)> {
    app.openai.seen().last().unwrap().messages()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(r, c)| ((*r).to_owned(), (*c).to_owned()))
        .collect()
}

fn assert_invalid(resp: &TestResponse, param: &str) {
    assert_eq!(resp.status, StatusCode::BAD_REQUEST, "{}", resp.text);
    let e = &resp.json()["error"];
    assert_eq!(e["type"], "invalid_request_error", "{}", resp.text);
    assert_eq!(e["param"], param, "{}", resp.text);
}

#[tokio::test]
async fn a_streamed_response_is_the_documented_sequence_and_is_stored_before_it_ends() {
    let app = app().await;
    let resp = create(
        &app,
        json!({"model": "gpt-4o", "input": "Hello!", "stream": true, "user": "alice"}),
    )
    .await;
    assert_eq!(resp.status, StatusCode::OK, "{}", resp.text);
    assert!(resp.header("content-type").starts_with("text/event-stream"));
    assert!(!resp.text.contains("[DONE]"));
    let events = resp.sse();
    let names: Vec<&str> = events.iter().map(|e| e.event.as_deref().unwrap()).collect();
    assert_eq!(
        names,
        [
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.content_part.added",
            "response.output_text.delta",
            "response.output_text.delta",
            "response.output_text.done",
            "response.content_part.done",
            "response.output_item.done",
            "response.completed",
        ]
    );
    let data: Vec<Value> = events.iter().map(|e| e.json()).collect();
    let id = data[0]["response"]["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("resp_"));
    let msg = data[2]["item"]["id"].as_str().unwrap().to_owned();
    assert!(msg.starts_with("msg_"));
    for (i, d) in data.iter().enumerate() {
        assert_eq!(d["type"], names[i]);
        assert_eq!(d["sequence_number"], i);
        if let Some(r) = d.get("response") {
            assert_eq!(r["id"], id.as_str(), "one id in every event");
        }
        if let Some(item) = d.get("item_id") {
            assert_eq!(item, msg.as_str());
        }
    }
    let done = &data[9]["response"];
    assert_eq!(done["status"], "completed");
    assert_eq!(done["model"], "gpt-4o");
    assert_eq!(done["output"][0]["content"][0]["text"], "Hi there");
    assert_eq!(done["usage"]["output_tokens"], 2);
    // Stored before the last event: fetched right away, as it was sent.
    let stored = fetch(&app, TOKEN, &id, Some("alice")).await;
    assert_eq!(stored.status, StatusCode::OK, "{}", stored.text);
    assert_eq!(&stored.json(), done);
    // The turn joined alice's transcript like a chat completion.
    let digest = agentgate_shared::domain::token::TokenDigest::of(TOKEN);
    let a = app
        .state
        .store
        .find_assistant_by_token(&digest)
        .await
        .unwrap()
        .unwrap();
    let t = app.messages(&ThreadKey::openai(&a, "alice")).await;
    let t: Vec<(Role, &str)> = t
        .iter()
        .map(|m| (m.message.role, m.message.content.as_str()))
        .collect();
    assert_eq!(t, [(Role::Human, "Hello!"), (Role::Ai, "Hi there")]);
}

#[tokio::test]
async fn continuations_send_the_earlier_turns_and_resolve_only_the_same_end_users_responses() {
    let app = app().await;
    let first = create(
        &app,
        json!({"input": "first question", "user": "alice", "instructions": "Be brief."}),
    )
    .await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.text);
    let first = first.json();
    assert_eq!(first["object"], "response");
    assert_eq!(first["instructions"], "Be brief.");
    // The caller's instructions come right after the assistant's own system prompt.
    assert_eq!(
        upstream_messages(&app),
        pairs(&[
            ("system", "You are the shop's assistant."),
            ("system", "Be brief."),
            ("user", "first question"),
        ])
    );
    let id = first["id"].as_str().unwrap();
    let msg = first["output"][0]["id"].as_str().unwrap();

    // previous_response_id: the stored turn is the history; instructions do not carry over.
    let second = create(
        &app,
        json!({"input": "second question", "user": "alice", "previous_response_id": id}),
    )
    .await;
    assert_eq!(second.status, StatusCode::OK, "{}", second.text);
    assert_eq!(second.json()["previous_response_id"], id);
    assert_eq!(
        upstream_messages(&app),
        pairs(&[
            ("system", "You are the shop's assistant."),
            ("user", "first question"),
            ("assistant", "Hi there"),
            ("user", "second question"),
        ])
    );
    // A chain: the second response's context holds both turns.
    let third = create(
        &app,
        json!({"input": "third", "user": "alice", "previous_response_id": second.json()["id"]}),
    )
    .await;
    assert_eq!(third.status, StatusCode::OK);
    assert_eq!(upstream_messages(&app).len(), 6);

    // item_reference: the client resends its own messages and points at the reply.
    let referenced = create(
        &app,
        json!({"user": "alice", "input": [
            {"role": "user", "content": [{"type": "input_text", "text": "first question"}]},
            {"type": "item_reference", "id": msg},
            {"role": "user", "content": [{"type": "input_text", "text": "follow-up"}]},
        ]}),
    )
    .await;
    assert_eq!(referenced.status, StatusCode::OK, "{}", referenced.text);
    assert_eq!(
        upstream_messages(&app)[1..],
        pairs(&[
            ("user", "first question"),
            ("assistant", "Hi there"),
            ("user", "follow-up"),
        ])
    );

    // Another end user, the anonymous callers and another assistant's token find nothing.
    let calls = app.openai.seen().len();
    let bob = create(
        &app,
        json!({"input": "x", "user": "bob", "previous_response_id": id}),
    )
    .await;
    assert_invalid(&bob, "previous_response_id");
    let bob = create(&app, json!({"user": "bob", "input": [{"type": "item_reference", "id": msg}, {"role": "user", "content": "x"}]})).await;
    assert_invalid(&bob, "input[0].id");
    let other = app
        .post(RESPONSES)
        .bearer(OTHER_TOKEN)
        .json(&json!({"input": "x", "user": "alice", "previous_response_id": id}))
        .send()
        .await;
    assert_invalid(&other, "previous_response_id");
    assert_eq!(
        app.openai.seen().len(),
        calls,
        "no refused continuation reached the model"
    );
    for (token, user) in [
        (TOKEN, Some("bob")),
        (TOKEN, None),
        (OTHER_TOKEN, Some("alice")),
    ] {
        let resp = fetch(&app, token, id, user).await;
        assert_eq!(
            resp.status,
            StatusCode::NOT_FOUND,
            "{token} {user:?}: {}",
            resp.text
        );
        assert_eq!(resp.json()["error"]["type"], "invalid_request_error");
    }
    assert_eq!(
        fetch(&app, TOKEN, id, Some("alice")).await.status,
        StatusCode::OK
    );
    assert_eq!(
        fetch(&app, TOKEN, "resp_nope", Some("alice")).await.status,
        StatusCode::NOT_FOUND
    );

    // safety_identifier names the end user too; the X-End-User header when neither does.
    let carol = create(&app, json!({"input": "hi", "safety_identifier": "carol"})).await;
    let carol_id = carol.json()["id"].as_str().unwrap().to_owned();
    assert_eq!(
        fetch(&app, TOKEN, &carol_id, Some("carol")).await.status,
        StatusCode::OK
    );
    let dave = app
        .post(RESPONSES)
        .bearer(TOKEN)
        .header("x-end-user", "dave")
        .json(&json!({"input": "hi"}))
        .send()
        .await;
    let dave_id = dave.json()["id"].as_str().unwrap().to_owned();
    assert_eq!(
        fetch(&app, TOKEN, &dave_id, Some("dave")).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn store_false_keeps_nothing_to_continue_or_fetch() {
    let app = app().await;
    let resp = create(&app, json!({"input": "secret", "store": false})).await;
    assert_eq!(resp.status, StatusCode::OK, "{}", resp.text);
    let v = resp.json();
    assert_eq!(v["store"], false);
    let id = v["id"].as_str().unwrap();
    assert_eq!(
        fetch(&app, TOKEN, id, None).await.status,
        StatusCode::NOT_FOUND
    );
    let next = create(&app, json!({"input": "x", "previous_response_id": id})).await;
    assert_invalid(&next, "previous_response_id");
}

#[tokio::test]
async fn failures_are_http_errors_before_the_first_event_and_error_then_failed_after_it() {
    let app = app().await;
    app.openai
        .set_behavior(Behavior::Fail(500, "upstream exploded".into()));
    let resp = create(&app, json!({"input": "x", "stream": true})).await;
    assert_eq!(resp.status, StatusCode::BAD_GATEWAY, "{}", resp.text);
    assert_eq!(resp.json()["error"]["type"], "api_error");

    app.openai
        .set_behavior(Behavior::BreakAfter(vec!["Partial".into()]));
    let resp = create(&app, json!({"input": "x", "stream": true, "user": "erin"})).await;
    assert_eq!(resp.status, StatusCode::OK);
    let events = resp.sse();
    let names: Vec<&str> = events.iter().map(|e| e.event.as_deref().unwrap()).collect();
    assert_eq!(
        names[names.len() - 2..],
        ["error", "response.failed"],
        "{}",
        resp.text
    );
    let failed = events.last().unwrap().json();
    assert_eq!(failed["response"]["status"], "failed");
    assert_eq!(failed["response"]["error"]["code"], "server_error");
    let id = failed["response"]["id"].as_str().unwrap();
    assert_eq!(
        fetch(&app, TOKEN, id, Some("erin")).await.status,
        StatusCode::NOT_FOUND,
        "a failed turn is not stored"
    );
    // A non-streamed reply the upstream breaks off is a 502.
    let resp = create(&app, json!({"input": "x"})).await;
    assert_eq!(resp.status, StatusCode::BAD_GATEWAY, "{}", resp.text);
}

#[tokio::test]
async fn bad_requests_name_the_param_and_reach_no_model() {
    let app = app().await;
    let cases = [
        (json!({}), "input"),
        (
            json!({"input": [{"type": "function_call", "name": "f", "arguments": "{}", "call_id": "c"}]}),
            "input[0].type",
        ),
        (
            json!({"input": [{"role": "user", "content": [{"type": "input_image", "image_url": "https://x/y.png"}]}]}),
            "input[0].content[0]",
        ),
        (
            json!({"input": "x", "tools": [{"type": "function", "name": "lookup", "parameters": {}}]}),
            "tools",
        ),
        (
            json!({"input": "x", "max_output_tokens": 5000}),
            "max_output_tokens",
        ),
        (json!({"input": "x", "temperature": -1}), "temperature"),
        (
            json!({"input": "x", "previous_response_id": "resp_0123"}),
            "previous_response_id",
        ),
        (
            json!({"input": [{"type": "item_reference", "id": "msg_0123456789abcdef0123456789abcdef"}]}),
            "input[0].id",
        ),
    ];
    for (body, param) in cases {
        let resp = create(&app, body.clone()).await;
        assert_invalid(&resp, param);
    }
    assert!(app.openai.seen().is_empty());
    let resp = app
        .post(RESPONSES)
        .json(&json!({"input": "x"}))
        .send()
        .await;
    assert_eq!(resp.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn max_output_tokens_and_temperature_reach_the_upstream() {
    let app = app().await;
    let resp = create(
        &app,
        json!({"input": "x", "max_output_tokens": 7, "temperature": 0.5}),
    )
    .await;
    assert_eq!(resp.status, StatusCode::OK, "{}", resp.text);
    let sent = &app.openai.seen()[0].body;
    assert_eq!(sent["max_tokens"], 7, "{sent}");
    assert_eq!(sent["temperature"], 0.5, "{sent}");
    let v = resp.json();
    assert_eq!(v["max_output_tokens"], 7);
    assert_eq!(v["temperature"], 0.5);
}
