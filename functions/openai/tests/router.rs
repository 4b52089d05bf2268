//! Router tests (`oneshot`) for the OpenAI-compatible family: every error status in
//! OpenAI's shape, both response modes, and per-end-user transcripts.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

use agentgate_shared::config::Settings;
use agentgate_shared::domain::assistant::Assistant;
use agentgate_shared::domain::message::Role;
use agentgate_shared::domain::thread::ThreadKey;
use agentgate_shared::testing::{Behavior, TestApp, TestRequest, TestResponse};
use http::StatusCode;

mod samples;
use serde_json::{Value, json};

const TOKEN: &str = "pubkey_openai_test_0001";
const CHAT: &str = "/public/openai/v1/chat/completions";

async fn app() -> TestApp {
    TestApp::new(agentgate_openai::router).await
}

async fn public(app: &TestApp, model: &str) -> Assistant {
    app.assistant("owner", json!({"type==agent/access_mode": "public_token", "type==agent/public_token": TOKEN, "type==agent/model": model})).await
}

/// A chat completion request with `token` as the API key.
fn chat<'a>(app: &'a TestApp, token: &str, body: &Value) -> TestRequest<'a> {
    app.post(CHAT).bearer(token).json(body)
}

/// The error object of an OpenAI error body, checking it has all four fields.
fn error_of(resp: &TestResponse) -> Value {
    let e = resp.json()["error"].clone();
    for k in ["message", "type", "param", "code"] {
        assert!(e.get(k).is_some(), "error object lacks {k}: {}", resp.text);
    }
    e
}

/// `GET /public/openai/v1/models{rest}` with the public token.
async fn models(app: &TestApp, rest: &str) -> TestResponse {
    let path = format!("/public/openai/v1/models{rest}");
    app.get(&path).bearer(TOKEN).send().await
}

fn hello() -> Value {
    json!({"model": "gpt-4o", "messages": [{"role": "user", "content": "Hello!"}]})
}

#[tokio::test]
async fn errors_use_openai_shape_and_statuses() {
    let app = app().await;
    public(&app, "echo").await;
    app.assistant(
        "owner",
        json!({"type==agent/public_token": "pubkey_private_bot_01"}),
    )
    .await;

    let x = |extra: Value| {
        let mut body = json!({"messages": [{"role": "user", "content": "x"}]});
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        body
    };
    let cases = vec![
        (
            app.post(CHAT).json(&hello()),
            401,
            "invalid_request_error",
            None,
        ),
        (
            chat(&app, "pubkey_unknown_token_00", &hello()),
            401,
            "invalid_request_error",
            None,
        ),
        (
            chat(&app, "agp_notachecksummedtoken0000000", &hello()),
            401,
            "invalid_request_error",
            None,
        ),
        (
            chat(&app, "pubkey_private_bot_01", &hello()),
            403,
            "permission_error",
            None,
        ),
        (
            chat(&app, TOKEN, &json!({"model": "x"})),
            400,
            "invalid_request_error",
            Some("messages"),
        ),
        (
            chat(&app, TOKEN, &x(json!({"temperature": 9}))),
            400,
            "invalid_request_error",
            Some("temperature"),
        ),
        (
            chat(&app, TOKEN, &x(json!({"max_tokens": 100_000}))),
            400,
            "invalid_request_error",
            Some("max_tokens"),
        ),
        (
            chat(
                &app,
                TOKEN,
                &json!({"messages": [{"role": "tool", "content": "x"}]}),
            ),
            400,
            "invalid_request_error",
            Some("messages[0].role"),
        ),
        (
            app.post(CHAT).bearer(TOKEN).body("{nope"),
            400,
            "invalid_request_error",
            None,
        ),
    ];
    for (req, status, kind, param) in cases {
        let resp = req.send().await;
        assert_eq!(resp.status, status, "{}", resp.text);
        let e = error_of(&resp);
        assert_eq!(e["type"], kind, "{}", resp.text);
        assert_eq!(e["param"].as_str(), param, "{}", resp.text);
    }
    let resp = chat(&app, "pubkey_unknown_token_00", &hello()).send().await;
    assert_eq!(error_of(&resp)["code"], "invalid_api_key");
    let resp = models(&app, "/gpt-5").await;
    assert_eq!(resp.status, StatusCode::NOT_FOUND);
    assert_eq!(error_of(&resp)["code"], "model_not_found");
}

#[tokio::test]
async fn models_list_the_tokens_assistant() {
    let app = app().await;
    let a = public(&app, "echo").await;
    let resp = models(&app, "").await;
    assert_eq!(resp.status, StatusCode::OK);
    let v = resp.json();
    assert_eq!(v["object"], "list");
    assert_eq!(v["data"][0]["id"], a.id.as_str());
    assert_eq!(v["data"][0]["object"], "model");
    assert!(v["data"][0]["created"].is_i64() && v["data"][0]["owned_by"].is_string());
    let one = models(&app, &format!("/{}", a.id)).await;
    assert_eq!(one.status, StatusCode::OK);
}

#[tokio::test]
async fn non_streaming_and_streaming_replies() {
    let app = app().await;
    app.openai
        .set_behavior(Behavior::Reply(vec!["Hi".into(), " there".into()]));
    public(&app, "openai:gpt-4o-mini").await;

    let resp = chat(&app, TOKEN, &hello()).send().await;
    assert_eq!(resp.status, StatusCode::OK, "{}", resp.text);
    let v = resp.json();
    assert_eq!(v["object"], "chat.completion");
    assert_eq!(
        v["model"], "gpt-4o",
        "the requested model name is echoed, not used"
    );
    assert_eq!(v["choices"][0]["message"]["content"], "Hi there");
    assert_eq!(v["choices"][0]["finish_reason"], "stop");
    assert_eq!(v["usage"]["prompt_tokens"], 11);
    let upstream = &app.openai.seen()[0].body;
    assert_eq!(
        upstream["model"], "gpt-4o-mini",
        "the assistant's model is used upstream"
    );
    assert_eq!(
        upstream["stream"], false,
        "a reply taken whole is asked for whole"
    );
    assert!(upstream.get("stream_options").is_none(), "{upstream}");

    let mut req = hello();
    req["stream"] = json!(true);
    req["stream_options"] = json!({"include_usage": true});
    let resp = chat(&app, TOKEN, &req).send().await;
    assert_eq!(resp.status, StatusCode::OK);
    assert!(resp.header("content-type").starts_with("text/event-stream"));
    let events = resp.sse();
    let (done, chunks) = events.split_last().unwrap();
    assert_eq!(done.data, "[DONE]");
    let chunks: Vec<Value> = chunks.iter().map(|e| e.json()).collect();
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
    let upstream = &app.openai.seen()[1].body;
    assert_eq!(upstream["stream"], true);
    assert_eq!(upstream["stream_options"]["include_usage"], true);
}

#[tokio::test]
async fn a_reply_taken_whole_is_bounded_like_a_stream() {
    use agentgate_shared::provider::MAX_WHOLE_REPLY_BYTES;
    use agentgate_shared::run::MAX_REPLY_BYTES;
    let app = app().await;
    let a = public(&app, "openai:gpt-4o-mini").await;
    // Past the bound on a reply's text: cut there, as a stream is, and marked so.
    app.openai
        .set_behavior(Behavior::Reply(vec!["é".repeat(MAX_REPLY_BYTES)]));
    let mut req = hello();
    req["user"] = json!("dana");
    let resp = chat(&app, TOKEN, &req).send().await;
    assert_eq!(resp.status, StatusCode::OK, "{}", &resp.text[..200]);
    let v = resp.json();
    let text = v["choices"][0]["message"]["content"].as_str().unwrap();
    assert!(text.len() <= MAX_REPLY_BYTES && text.len() > MAX_REPLY_BYTES - 2);
    assert_eq!(v["choices"][0]["finish_reason"], "length");
    let stored = app.messages(&ThreadKey::openai(&a.id, "dana")).await;
    assert_eq!(stored[1].message.content.len(), text.len());
    // Past the bound on the body read: refused, nothing stored.
    app.openai
        .set_behavior(Behavior::Reply(vec!["x".repeat(MAX_WHOLE_REPLY_BYTES)]));
    req["user"] = json!("erin");
    let resp = chat(&app, TOKEN, &req).send().await;
    assert_eq!(resp.status, StatusCode::BAD_GATEWAY, "{}", resp.text);
    assert!(
        app.messages(&ThreadKey::openai(&a.id, "erin"))
            .await
            .is_empty()
    );
}

#[tokio::test]
async fn a_reply_taken_whole_may_take_longer_than_the_first_token_limit() {
    // The first text of a reply asked for whole comes with its last, so only the turn
    // deadline applies; a streamed reply as slow to start is cut at the first-token limit.
    let app = TestApp::tuned(agentgate_openai::router, |s| {
        s.pacing.first_token = std::time::Duration::from_millis(400);
        s.pacing.deadline = std::time::Duration::from_secs(5);
    })
    .await;
    app.openai
        .set_behavior(Behavior::Reply(vec!["Slow".into(), " but whole".into()]));
    app.openai.set_delay(std::time::Duration::from_millis(900));
    public(&app, "openai:gpt-4o-mini").await;
    let resp = chat(&app, TOKEN, &hello()).send().await;
    assert_eq!(resp.status, StatusCode::OK, "{}", resp.text);
    assert_eq!(
        resp.json()["choices"][0]["message"]["content"],
        "Slow but whole"
    );

    let mut req = hello();
    req["stream"] = json!(true);
    let resp = chat(&app, TOKEN, &req).send().await;
    assert!(
        resp.text.contains("did not answer in time"),
        "{}",
        resp.text
    );
}

#[tokio::test]
async fn upstream_failures_are_502_before_and_an_error_chunk_during_the_stream() {
    let app = app().await;
    app.openai
        .set_behavior(Behavior::Fail(500, "upstream exploded".into()));
    public(&app, "openai:gpt-4o-mini").await;
    let resp = chat(&app, TOKEN, &hello()).send().await;
    assert_eq!(resp.status, StatusCode::BAD_GATEWAY);
    assert_eq!(error_of(&resp)["type"], "api_error");

    app.openai
        .set_behavior(Behavior::BreakAfter(vec!["Partial".into()]));
    let mut req = hello();
    req["stream"] = json!(true);
    let resp = chat(&app, TOKEN, &req).send().await;
    assert_eq!(resp.status, StatusCode::OK);
    assert!(resp.text.contains("\"error\":{"), "{}", resp.text);
    assert!(resp.text.ends_with("data: [DONE]\n\n"));
}

#[tokio::test]
async fn rate_limits_answer_429_with_retry_after() {
    let app = TestApp::tuned(agentgate_openai::router, |s| s.rate_per_minute = 2).await;
    public(&app, "echo").await;
    let mut body = hello();
    body["user"] = json!("visitor-1");
    for _ in 0..2 {
        assert_eq!(chat(&app, TOKEN, &body).send().await.status, StatusCode::OK);
    }
    let resp = chat(&app, TOKEN, &body).send().await;
    assert_eq!(resp.status, StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = resp.header("retry-after").parse().unwrap();
    assert!((1..=60).contains(&retry));
    assert_eq!(error_of(&resp)["code"], "rate_limit_exceeded");
    body["user"] = json!("visitor-2");
    assert_eq!(
        chat(&app, TOKEN, &body).send().await.status,
        StatusCode::OK,
        "another end user is not limited"
    );
}

#[tokio::test]
async fn transcripts_hold_each_turn_once_per_end_user() {
    let app = app().await;
    let a = public(&app, "echo").await;
    // Two end users of one token; each client resends its history every turn.
    for user in ["alice", "bob"] {
        let mut history = vec![json!({"role": "system", "content": "client system prompt"})];
        for turn in 1..=3 {
            history.push(json!({"role": "user", "content": format!("{user} turn {turn}")}));
            let resp = chat(&app, TOKEN, &json!({"messages": history, "user": user}))
                .send()
                .await;
            assert_eq!(resp.status, StatusCode::OK);
            history.push(
                json!({"role": "assistant", "content": resp.json()["choices"][0]["message"]["content"]}),
            );
        }
    }
    for user in ["alice", "bob"] {
        let t = app.messages(&ThreadKey::openai(&a.id, user)).await;
        assert_eq!(t.len(), 6, "three turns, each recorded once");
        let humans: Vec<_> = t
            .iter()
            .filter(|m| m.message.role == Role::Human)
            .map(|m| m.message.content.clone())
            .collect();
        assert_eq!(humans, [1, 2, 3].map(|i| format!("{user} turn {i}")));
        assert!(
            t.iter()
                .all(|m| !m.message.content.contains("client system prompt"))
        );
    }
    // The X-End-User header names the end user when the body does not.
    let resp = chat(&app, TOKEN, &hello())
        .header("x-end-user", "carol")
        .send()
        .await;
    assert_eq!(resp.status, StatusCode::OK);
    assert_eq!(
        app.messages(&ThreadKey::openai(&a.id, "carol")).await.len(),
        2
    );
}

#[tokio::test]
async fn a_non_streaming_reply_the_upstream_breaks_off_is_502_and_still_counted() {
    let app = app().await;
    // The connection drops halfway through the whole reply's body.
    app.openai
        .set_behavior(Behavior::ResetAfter(vec!["Par".into(), "tial".into()]));
    let a = public(&app, "openai:gpt-4o-mini").await;
    let mut req = hello();
    req["user"] = json!("erin");
    let resp = chat(&app, TOKEN, &req).send().await;
    assert_eq!(resp.status, StatusCode::BAD_GATEWAY, "{}", resp.text);
    assert_eq!(error_of(&resp)["type"], "api_error");

    let day = app.state.clock.now_secs().div_euclid(86_400);
    let usage = app.state.store.usage(&a.id, day, day).await.unwrap();
    assert_eq!(usage.len(), 1);
    let t = usage[0].totals;
    assert_eq!((t.requests, t.messages), (1, 0), "counted, nothing stored");
    assert!(
        app.messages(&ThreadKey::openai(&a.id, "erin"))
            .await
            .is_empty()
    );
}

#[tokio::test]
async fn named_end_users_get_a_memory_only_when_the_owner_trusts_the_names() {
    use agentgate_shared::domain::memory::MemoryKey;
    let app = app().await;
    let conf = |trust: bool| {
        json!({"type==agent/access_mode": "public_token", "type==agent/public_token": TOKEN,
               "type==agent/memory": true, "type==agent/memory_end_users": trust})
    };
    let a = app.assistant("owner", conf(false)).await;
    let mut body = hello();
    body["user"] = json!("carol");
    chat(&app, TOKEN, &body).send().await;
    let carol = MemoryKey::end_user(&a.id, "carol");
    let thread = app.messages(&ThreadKey::openai(&a.id, "carol")).await;
    assert_eq!(thread.len(), 2);
    assert!(
        app.state.store.memory(&carol).await.unwrap().is_none(),
        "not trusted"
    );
    // A user literally named "anonymous" does not share the unnamed callers' transcript.
    body["user"] = json!("anonymous");
    chat(&app, TOKEN, &body).send().await;
    chat(&app, TOKEN, &hello()).send().await;
    assert_eq!(
        app.messages(&ThreadKey::openai(&a.id, "anonymous"))
            .await
            .len(),
        2
    );
    assert_eq!(
        app.messages(&ThreadKey::openai_anonymous(&a.id))
            .await
            .len(),
        2
    );

    // The owner opts in (through the store here, forgetting the cached assistant as PATCH
    // does).
    let trusted = a.patched(
        &agentgate_shared::domain::assistant::AssistantPatch {
            name: None,
            configurable: conf(true).as_object().unwrap().clone(),
        },
        app.state.clock.now_ms(),
    );
    app.state
        .store
        .update_assistant(&a, &trusted.unwrap())
        .await
        .unwrap();
    app.state.assistants.forget(&a.id);
    body["user"] = json!("carol");
    chat(&app, TOKEN, &body).send().await;
    // Counted in the background, after the reply.
    let mut pending = None;
    for _ in 0..100 {
        pending = app
            .state
            .store
            .memory(&carol)
            .await
            .unwrap()
            .map(|m| m.pending);
        if pending.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(pending, Some(2), "trusted: counted towards a memory");
}

#[tokio::test]
async fn requests_without_a_user_and_from_one_address_are_capped() {
    let caps = |s: &mut Settings| (s.anonymous_per_minute, s.ip_per_minute) = (3, 4);
    let app = TestApp::tuned(agentgate_openai::router, caps).await;
    public(&app, "echo").await;
    let from = |ip: [u8; 4], user: Option<&str>| {
        let mut body = hello();
        if let Some(u) = user {
            body["user"] = json!(u);
        }
        chat(&app, TOKEN, &body).from_ip(ip).send()
    };
    let statuses =
        |list: Vec<TestResponse>| list.iter().map(|r| r.status.as_u16()).collect::<Vec<_>>();
    // No user named: one shared per-minute cap for the token, whatever the address.
    let mut anonymous = Vec::new();
    for i in 0..4u8 {
        anonymous.push(from([10, 0, 1, i], None).await);
    }
    assert_eq!(statuses(anonymous), [200, 200, 200, 429]);
    // Named users from one address: the address cap holds however many names it uses.
    let mut named = Vec::new();
    for user in ["u1", "u2", "u3", "u4", "u5"] {
        named.push(from([10, 0, 2, 1], Some(user)).await);
    }
    let last = named.last().unwrap().clone();
    assert_eq!(statuses(named), [200, 200, 200, 200, 429]);
    assert_eq!(error_of(&last)["code"], "rate_limit_exceeded");
    assert_eq!(from([10, 0, 2, 2], Some("u6")).await.status, StatusCode::OK);
}

#[tokio::test]
async fn guessing_keys_from_one_address_is_throttled() {
    let app = TestApp::tuned(agentgate_openai::router, |s| s.guesses_per_window = 3).await;
    public(&app, "echo").await;
    let attempt = |key: &str, ip: [u8; 4]| chat(&app, key, &hello()).from_ip(ip).send();
    for i in 0..3 {
        let resp = attempt(&format!("pubkey_guess_number_{i:04}"), [10, 9, 9, 9]).await;
        assert_eq!(resp.status, StatusCode::UNAUTHORIZED);
    }
    let resp = attempt(TOKEN, [10, 9, 9, 9]).await;
    assert_eq!(
        resp.status,
        StatusCode::TOO_MANY_REQUESTS,
        "even the right key, for a while"
    );
    assert!(resp.header("retry-after").parse::<u64>().unwrap() <= 600);
    assert_eq!(attempt(TOKEN, [10, 9, 9, 8]).await.status, StatusCode::OK);
}

agentgate_shared::router_answers_sample_events!(
    agentgate_openai::router,
    "openai",
    events = samples::EVENTS,
    check = samples::check
);
