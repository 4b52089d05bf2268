//! Router tests (`oneshot`) for the links family: the owner routes, the page, sessions,
//! the chat stream, history, conversations, email codes and every error code.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

use agentgate_shared::domain::assistant::Assistant;
use agentgate_shared::domain::link::CODE_TTL_SECS;
use agentgate_shared::testing::{Behavior, TestApp, TestResponse, chunk_types};
use http::StatusCode;
use serde_json::{Value, json};

mod samples;

async fn app() -> TestApp {
    TestApp::build(agentgate_links::router)
        .manual_clock()
        .start()
        .await
}

async fn bot(app: &TestApp, configurable: Value) -> Assistant {
    app.assistant("alice", configurable).await
}

/// Creates a link on `a` as its owner; the JSON answer (with `token` and `url`).
async fn link(app: &TestApp, a: &Assistant, body: Value) -> Value {
    let path = format!("/api/agents/{}/public-links", a.id);
    let resp = app.post(&path).user("alice").json(&body).send().await;
    assert_eq!(resp.status, StatusCode::CREATED, "{}", resp.text);
    resp.json()
}

/// A fresh app with an assistant of alice (`configurable`) and one link (`settings`):
/// the app, the assistant and the link's token.
async fn linked(configurable: Value, settings: Value) -> (TestApp, Assistant, String) {
    let app = app().await;
    let a = bot(&app, configurable).await;
    let token = token_of(&link(&app, &a, settings).await);
    (app, a, token)
}

/// Changes a link of `a` as its owner.
async fn put_link(app: &TestApp, a: &Assistant, link: &Value, body: Value) -> TestResponse {
    let path = format!(
        "/api/agents/{}/public-links/{}",
        a.id,
        link["id"].as_str().unwrap()
    );
    app.request(http::Method::PUT, &path)
        .user("alice")
        .json(&body)
        .send()
        .await
}

fn token_of(link: &Value) -> String {
    link["token"].as_str().unwrap().to_owned()
}

/// An anonymous session: (session token, conversation id).
async fn session(app: &TestApp, token: &str) -> (String, String) {
    let resp = app
        .post(&format!("/api/public/sessions/{token}"))
        .send()
        .await;
    assert_eq!(resp.status, StatusCode::CREATED, "{}", resp.text);
    let v = resp.json();
    let s = v["session_token"].as_str().unwrap().to_owned();
    (s, v["conversation_id"].as_str().unwrap().to_owned())
}

async fn chat(app: &TestApp, token: &str, session: &str, body: Value) -> TestResponse {
    app.post(&format!("/api/public/chat/{token}"))
        .bearer(session)
        .json(&body)
        .send()
        .await
}

fn reply_text(parts: &[Value]) -> String {
    parts.iter().filter_map(|p| p["delta"].as_str()).collect()
}

async fn history(app: &TestApp, token: &str, session: &str, query: &str) -> TestResponse {
    app.get(&format!("/api/public/history/{token}{query}"))
        .bearer(session)
        .send()
        .await
}

/// The code of the newest email sent to `to`.
fn code_for(app: &TestApp, to: &str) -> String {
    let mail = app.outbox().into_iter().rev().find(|m| m.to == to).unwrap();
    let digits: String = mail.subject.chars().filter(char::is_ascii_digit).collect();
    assert_eq!(digits.len(), 6, "{}", mail.subject);
    assert!(mail.text.contains(&digits));
    digits
}

async fn verify(app: &TestApp, token: &str, email: &str) -> TestResponse {
    app.post(&format!("/api/public/verify/{token}"))
        .json(&json!({"email": email}))
        .send()
        .await
}

async fn confirm(app: &TestApp, token: &str, email: &str, code: &str) -> TestResponse {
    app.post(&format!("/api/public/verify/{token}/confirm"))
        .json(&json!({"email": email, "code": code}))
        .send()
        .await
}

#[tokio::test]
async fn owners_create_list_update_and_delete_links_of_their_own_assistants() {
    let app = app().await;
    let a = bot(&app, json!({})).await;
    let created = link(
        &app,
        &a,
        json!({"welcome_message": "Hi! Ask me anything.", "rate_limit_per_hour": 10,
               "expires_at": "2027-01-01T00:00:00Z"}),
    )
    .await;
    let token = token_of(&created);
    assert!(token.starts_with("agp_"), "{created}");
    assert!(
        created["url"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/public/chat/{token}"))
    );
    assert_eq!(created["enabled"], true);
    assert_eq!(created["require_email"], false);
    assert_eq!(created["expires_at"], "2027-01-01T00:00:00.000Z");
    let id = created["id"].as_str().unwrap().to_owned();

    // By id or by the assistant's unique name; the token is never shown again.
    for name in [a.id.as_str(), "bot"] {
        let list = app
            .get(&format!("/api/agents/{name}/public-links"))
            .user("alice")
            .send()
            .await;
        assert_eq!(list.status, StatusCode::OK, "{}", list.text);
        assert_eq!(list.json().as_array().unwrap().len(), 1);
        assert!(!list.text.contains(&token));
    }
    let one = format!("/api/agents/{}/public-links/{id}", a.id);
    let resp = app
        .request(http::Method::PUT, &one)
        .user("alice")
        .json(&json!({"enabled": false, "welcome_message": null}))
        .send()
        .await;
    assert_eq!(resp.status, StatusCode::OK, "{}", resp.text);
    let updated = resp.json();
    assert_eq!(
        (
            updated["enabled"].clone(),
            updated["welcome_message"].clone()
        ),
        (json!(false), Value::Null)
    );
    assert_eq!(
        updated["rate_limit_per_hour"], 10,
        "absent fields keep their values"
    );

    // Bad input changes nothing.
    for (body, needle) in [
        (json!({"rate_limit_per_hour": 0}), "rate_limit_per_hour"),
        (json!({"expires_at": "soon"}), "expires_at"),
        (json!({"enabled": "yes"}), "enabled"),
    ] {
        let resp = app
            .request(http::Method::PUT, &one)
            .user("alice")
            .json(&body)
            .send()
            .await;
        assert_eq!(resp.status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(resp.code(), "INVALID_REQUEST");
        assert!(
            resp.json()["error"]["message"]
                .as_str()
                .unwrap()
                .contains(needle)
        );
    }

    // Nobody else sees or changes them; unknown ids and assistants are 404.
    let mallory = [
        app.get(&format!("/api/agents/{}/public-links", a.id))
            .user("mallory")
            .send()
            .await,
        app.request(http::Method::PUT, &one)
            .user("mallory")
            .json(&json!({"enabled": true}))
            .send()
            .await,
        app.delete(&one).user("mallory").send().await,
        app.get("/api/agents/bot/public-links")
            .user("mallory")
            .send()
            .await,
    ];
    for resp in mallory {
        assert_eq!(resp.status, StatusCode::NOT_FOUND, "{}", resp.text);
    }
    let anon = app
        .get(&format!("/api/agents/{}/public-links", a.id))
        .send()
        .await;
    assert_eq!(anon.status, StatusCode::UNAUTHORIZED);
    let unknown = format!("/api/agents/{}/public-links/{}", a.id, uuid::Uuid::new_v4());
    assert_eq!(
        app.delete(&unknown).user("alice").send().await.status,
        StatusCode::NOT_FOUND
    );

    // Two assistants named alike: the name is ambiguous, the id is not.
    bot(&app, json!({})).await;
    let resp = app
        .get("/api/agents/bot/public-links")
        .user("alice")
        .send()
        .await;
    resp.assert_error(409, "AMBIGUOUS_NAME");

    assert_eq!(
        app.delete(&one).user("alice").send().await.status,
        StatusCode::NO_CONTENT
    );
    let info = app.get(&format!("/api/public/links/{token}")).send().await;
    info.assert_error(404, "LINK_NOT_FOUND");
}

#[tokio::test]
async fn the_page_and_link_info_say_whether_a_link_serves() {
    let app = app().await;
    let a = bot(&app, json!({})).await;
    let created = link(&app, &a, json!({"welcome_message": "Welcome </script><b>"})).await;
    let token = token_of(&created);

    let page = app.get(&format!("/public/chat/{token}")).send().await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.header("content-type").starts_with("text/html"));
    assert_eq!(page.header("referrer-policy"), "no-referrer");
    assert_eq!(page.header("cache-control"), "no-store");
    let csp = page.header("content-security-policy");
    assert!(
        csp.contains("default-src 'none'") && csp.contains("script-src 'nonce-"),
        "{csp}"
    );
    assert!(
        !page.text.contains("</script><b>"),
        "the welcome message cannot close the script"
    );
    assert!(page.text.contains("Welcome \\u003c/script>"));

    let info = app.get(&format!("/api/public/links/{token}")).send().await;
    assert_eq!(
        info.json(),
        json!({"welcome_message": "Welcome </script><b>", "require_email": false, "assistant_name": "bot"})
    );

    // Expired, disabled, unknown: the page's own notice with 410 / 404, and the API's codes.
    let put = |body: Value| put_link(&app, &a, &created, body);
    let clock = app.clock.as_ref().unwrap();
    let now = agentgate_shared::clock::Clock::now_ms(clock);
    let soon = agentgate_shared::domain::time::rfc3339_ms(now + 1_000);
    put(json!({"expires_at": soon})).await;
    clock.advance_secs(2);
    for (status, code) in [(StatusCode::GONE, "LINK_EXPIRED")] {
        let page = app.get(&format!("/public/chat/{token}")).send().await;
        assert_eq!(page.status, status);
        assert!(page.text.contains("This link has expired."));
        let info = app.get(&format!("/api/public/links/{token}")).send().await;
        assert_eq!((info.status, info.code().as_str()), (status, code));
    }
    put(json!({"expires_at": null, "enabled": false})).await;
    let info = app.get(&format!("/api/public/links/{token}")).send().await;
    info.assert_error(410, "LINK_DISABLED");
    let page = app.get(&format!("/public/chat/{token}")).send().await;
    assert_eq!(page.status, StatusCode::GONE);
    assert!(page.text.contains("turned off"));
    for bad in ["agp_unknown0000000000000000000000", "nonsense"] {
        let page = app.get(&format!("/public/chat/{bad}")).send().await;
        assert_eq!(page.status, StatusCode::NOT_FOUND);
        assert!(page.text.contains("This link does not exist."));
    }
}

#[tokio::test]
async fn a_session_chats_with_status_labels_and_reads_its_history() {
    let (app, _, token) = linked(
        json!({"type==agent/model": "openai:gpt-4o-mini"}),
        json!({}),
    )
    .await;
    app.openai
        .set_behavior(Behavior::Reply(vec!["Hel".into(), "lo!".into()]));
    let (s, conversation) = session(&app, &token).await;
    assert!(s.starts_with("ags_") && s.len() >= 36);

    let resp = chat(&app, &token, &s, json!({"message": " Hi there "})).await;
    assert_eq!(resp.status, StatusCode::OK, "{}", resp.text);
    assert_eq!(resp.header("x-vercel-ai-ui-message-stream"), "v1");
    let p = resp.ui_chunks();
    let types = chunk_types(&p).join(" ");
    let want = "data-status text-start data-status text-delta text-delta text-end data-done";
    assert_eq!(types, want);
    assert_eq!(
        (p[0]["data"]["label"].as_str(), p[0]["transient"].as_bool()),
        (Some("Thinking"), Some(true))
    );
    assert_eq!(p[2]["data"]["label"], "Writing");
    assert_eq!(reply_text(&p), "Hello!");
    let done = &p[6]["data"];
    assert_eq!(done["conversationId"], conversation.as_str());
    assert!(done["messageId"].is_string());

    // The second turn reads the history first, and the model sees it.
    let body = json!({"message": "Again", "conversation_id": conversation});
    let resp = chat(&app, &token, &s, body).await;
    assert_eq!(resp.ui_chunks()[0]["data"]["label"], "Reading your history");
    assert_eq!(
        app.openai.seen()[1].body["messages"]
            .as_array()
            .unwrap()
            .len(),
        3
    );

    let h = history(&app, &token, &s, "").await;
    assert_eq!(h.status, StatusCode::OK, "{}", h.text);
    let h = h.json();
    assert_eq!(h["conversation_id"], conversation.as_str());
    let roles: Vec<&str> = h["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["role"].as_str().unwrap())
        .collect();
    assert_eq!(roles, ["user", "assistant", "user", "assistant"]);
    assert_eq!(h["messages"][0]["content"], "Hi there");
    assert!(
        h["messages"][0]["created_at"]
            .as_str()
            .unwrap()
            .ends_with('Z')
    );

    // Errors of the chat route, in the family's shape.
    let no_session = app
        .post(&format!("/api/public/chat/{token}"))
        .json(&json!({"message": "x"}))
        .send()
        .await;
    no_session.assert_error(401, "SESSION_REQUIRED");
    for bad in [
        "ags_0000",
        "ags_000000000000000000000000000000000000000000000000",
    ] {
        let resp = chat(&app, &token, bad, json!({"message": "x"})).await;
        resp.assert_error(401, "SESSION_INVALID");
    }
    for body in [
        json!({}),
        json!({"message": "  "}),
        json!({"message": 3}),
        json!({"message": "x".repeat(8001)}),
    ] {
        let resp = chat(&app, &token, &s, body.clone()).await;
        resp.assert_error(400, "INVALID_REQUEST");
    }
    let resp = app
        .post(&format!("/api/public/chat/{token}"))
        .bearer(&s)
        .body("not json")
        .send()
        .await;
    assert_eq!(resp.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn a_session_never_reads_or_continues_another_sessions_conversation() {
    let (app, a, token) = linked(json!({}), json!({})).await;
    let (alice, alices) = session(&app, &token).await;
    let (bob, _) = session(&app, &token).await;
    chat(
        &app,
        &token,
        &alice,
        json!({"message": "my secret is tangerine"}),
    )
    .await;

    let peek = history(&app, &token, &bob, &format!("?conversation_id={alices}")).await;
    peek.assert_error(404, "CONVERSATION_NOT_FOUND");
    let body = json!({"message": "what did they say?", "conversation_id": alices});
    let resp = chat(&app, &token, &bob, body).await;
    let p = resp.ui_chunks();
    let started = p.last().unwrap()["data"]["conversationId"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(
        started, alices,
        "another session's id starts a new conversation"
    );
    assert!(
        reply_text(&p).contains("message 1 of"),
        "the model saw none of it"
    );
    assert!(!resp.text.contains("tangerine"));
    let mine = history(&app, &token, &alice, "").await.json();
    assert_eq!(mine["messages"].as_array().unwrap().len(), 2, "untouched");

    // A session of one link does not open another link.
    let other = token_of(&link(&app, &a, json!({})).await);
    let resp = history(&app, &other, &alice, "").await;
    assert_eq!(resp.code(), "SESSION_INVALID");
}

#[tokio::test]
async fn a_new_conversation_leaves_the_earlier_one_readable() {
    let (app, _, token) = linked(json!({}), json!({})).await;
    let (s, first) = session(&app, &token).await;
    chat(&app, &token, &s, json!({"message": "one"})).await;
    let resp = app
        .post(&format!("/api/public/conversations/{token}"))
        .bearer(&s)
        .send()
        .await;
    assert_eq!(resp.status, StatusCode::CREATED);
    let second = resp.json()["conversation_id"].as_str().unwrap().to_owned();
    assert_ne!(second, first);
    let body = json!({"message": "two", "conversation_id": second});
    let resp = chat(&app, &token, &s, body).await;
    assert!(
        reply_text(&resp.ui_chunks()).contains("message 1 of"),
        "a fresh conversation"
    );
    let latest = history(&app, &token, &s, "").await.json();
    assert_eq!(latest["conversation_id"], second.as_str());
    let earlier = history(&app, &token, &s, &format!("?conversation_id={first}"))
        .await
        .json();
    assert_eq!(earlier["messages"][0]["content"], "one");
}

#[tokio::test]
async fn disabling_or_deleting_a_link_stops_its_sessions_at_once() {
    let app = app().await;
    let a = bot(&app, json!({})).await;
    let created = link(&app, &a, json!({})).await;
    let token = token_of(&created);
    let (s, _) = session(&app, &token).await;
    let put = |body: Value| put_link(&app, &a, &created, body);
    let hi = || chat(&app, &token, &s, json!({"message": "hi"}));
    put(json!({"enabled": false})).await;
    hi().await.assert_error(410, "LINK_DISABLED");
    put(json!({"enabled": true})).await;
    assert_eq!(hi().await.status, StatusCode::OK);
    // Switched to email verification, the link no longer serves anonymous sessions.
    put(json!({"require_email": true})).await;
    hi().await.assert_error(403, "EMAIL_REQUIRED");
    put(json!({"require_email": false})).await;
    let one = format!(
        "/api/agents/{}/public-links/{}",
        a.id,
        created["id"].as_str().unwrap()
    );
    app.delete(&one).user("alice").send().await;
    let resp = history(&app, &token, &s, "").await;
    resp.assert_error(404, "LINK_NOT_FOUND");
}

#[tokio::test]
async fn messages_are_limited_per_session_and_sessions_per_address() {
    let (app, _, token) = linked(json!({}), json!({"rate_limit_per_hour": 2})).await;
    let (s, _) = session(&app, &token).await;
    for _ in 0..2 {
        assert_eq!(
            chat(&app, &token, &s, json!({"message": "hi"}))
                .await
                .status,
            StatusCode::OK
        );
    }
    let resp = chat(&app, &token, &s, json!({"message": "hi"})).await;
    resp.assert_error(429, "RATE_LIMITED");
    let retry: u64 = resp.header("retry-after").parse().unwrap();
    assert!((1..=3600).contains(&retry));
    let (other, _) = session(&app, &token).await;
    assert_eq!(
        chat(&app, &token, &other, json!({"message": "hi"}))
            .await
            .status,
        StatusCode::OK
    );

    // Minting sessions from one address is capped too.
    let sessions = format!("/api/public/sessions/{token}");
    let mint = |ip: [u8; 4]| app.post(&sessions).from_ip(ip).send();
    let mut last = StatusCode::OK;
    for _ in 0..40 {
        last = mint([10, 0, 0, 9]).await.status;
    }
    assert_eq!(last, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(mint([10, 0, 0, 10]).await.status, StatusCode::CREATED);
}

#[tokio::test]
async fn an_email_link_verifies_by_code_and_follows_the_email_across_devices() {
    let (app, a, token) = linked(json!({}), json!({"require_email": true})).await;
    let info = app
        .get(&format!("/api/public/links/{token}"))
        .send()
        .await
        .json();
    assert_eq!(info["require_email"], true);
    let resp = app
        .post(&format!("/api/public/sessions/{token}"))
        .send()
        .await;
    resp.assert_error(403, "EMAIL_REQUIRED");

    let sent = verify(&app, &token, "Carol@Example.com").await;
    assert_eq!(sent.status, StatusCode::ACCEPTED);
    let code = code_for(&app, "carol@example.com");
    let resp = confirm(&app, &token, "carol@example.com", &code).await;
    assert_eq!(resp.status, StatusCode::OK, "{}", resp.text);
    let phone = resp.json();
    let s = phone["session_token"].as_str().unwrap().to_owned();
    chat(&app, &token, &s, json!({"message": "I live in Lisbon"})).await;

    // Another device, the same email: the same conversation and history.
    verify(&app, &token, "carol@example.com").await;
    let code = code_for(&app, "carol@example.com");
    let laptop = confirm(&app, &token, "carol@example.com", &code)
        .await
        .json();
    assert_eq!(laptop["conversation_id"], phone["conversation_id"]);
    let h = history(&app, &token, laptop["session_token"].as_str().unwrap(), "")
        .await
        .json();
    assert_eq!(h["messages"][0]["content"], "I live in Lisbon");

    // The send answers alike for any address; a malformed one is refused.
    let other = verify(&app, &token, "nobody@example.org").await;
    assert_eq!((other.status, other.json()), (sent.status, sent.json()));
    let bad = verify(&app, &token, "not-an-email").await;
    bad.assert_error(400, "INVALID_REQUEST");
    // A link without email verification takes no codes.
    let open = token_of(&link(&app, &a, json!({})).await);
    let resp = verify(&app, &open, "carol@example.com").await;
    assert_eq!(resp.code(), "EMAIL_NOT_REQUIRED");
}

#[tokio::test]
async fn wrong_expired_and_reused_codes_are_refused_and_the_sixth_try_too() {
    let (app, _, token) = linked(json!({}), json!({"require_email": true})).await;
    let email = "dave@example.com";
    verify(&app, &token, email).await;
    let code = code_for(&app, email);
    let wrong = if code == "000000" { "000001" } else { "000000" };
    for _ in 0..4 {
        let resp = confirm(&app, &token, email, wrong).await;
        resp.assert_error(400, "CODE_INVALID");
    }
    let fifth = confirm(&app, &token, email, "12ab56").await;
    fifth.assert_error(429, "TOO_MANY_ATTEMPTS");
    let sixth = confirm(&app, &token, email, &code).await;
    assert_eq!(
        sixth.code(),
        "TOO_MANY_ATTEMPTS",
        "even the right code is refused now"
    );

    // A new code works once; its reuse does not.
    verify(&app, &token, email).await;
    let code = code_for(&app, email);
    assert_eq!(
        confirm(&app, &token, email, &code).await.status,
        StatusCode::OK
    );
    let again = confirm(&app, &token, email, &code).await;
    again.assert_error(400, "CODE_INVALID");

    // An expired code is refused.
    verify(&app, &token, email).await;
    let code = code_for(&app, email);
    app.clock.as_ref().unwrap().advance_secs(CODE_TTL_SECS + 1);
    let late = confirm(&app, &token, email, &code).await;
    assert_eq!(late.code(), "CODE_INVALID");
}

#[tokio::test]
async fn racing_confirmations_yield_exactly_one_session() {
    let (app, _, token) = linked(json!({}), json!({"require_email": true})).await;
    verify(&app, &token, "erin@example.com").await;
    let code = code_for(&app, "erin@example.com");
    let confirms = (0..6).map(|_| confirm(&app, &token, "erin@example.com", &code));
    let results = futures::future::join_all(confirms).await;
    let ok = results
        .iter()
        .filter(|r| r.status == StatusCode::OK)
        .count();
    assert_eq!(
        ok,
        1,
        "{:?}",
        results.iter().map(|r| r.status).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn a_verified_emails_memory_reaches_its_later_conversations() {
    let (app, a, token) = linked(
        json!({"type==agent/model": "openai:gpt-4o-mini", "type==agent/memory": true}),
        json!({"require_email": true}),
    )
    .await;
    app.openai
        .set_behavior(Behavior::Reply(vec!["Carol hikes in Sintra.".into()]));
    verify(&app, &token, "carol@example.com").await;
    let code = code_for(&app, "carol@example.com");
    let s = confirm(&app, &token, "carol@example.com", &code)
        .await
        .json()["session_token"]
        .as_str()
        .unwrap()
        .to_owned();
    chat(&app, &token, &s, json!({"message": "I love hiking"})).await;
    // The rest in another conversation: the summary reads both.
    app.post(&format!("/api/public/conversations/{token}"))
        .bearer(&s)
        .send()
        .await;
    for m in ["Mostly in Sintra", "On weekends"] {
        chat(&app, &token, &s, json!({"message": m})).await;
    }
    // Six messages: a summary is made in the background (in process here).
    let path = format!("/assistants/{}/memories/emails/carol%40example.com", a.id);
    let mut memory = Value::Null;
    for _ in 0..100 {
        let resp = app
            .get(&path)
            .via(agentgate_assistants::router)
            .user("alice")
            .send()
            .await;
        if resp.status == StatusCode::OK && resp.json()["summary"] != "" {
            memory = resp.json();
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(memory["summary"], "Carol hikes in Sintra.", "{memory}");
    let asked = app.openai.seen();
    let summary_request = asked
        .iter()
        .map(|r| r.body.to_string())
        .find(|b| b.contains("On weekends") && b.contains("I love hiking"));
    assert!(
        summary_request.is_some(),
        "the summary read both conversations"
    );
    assert_eq!(
        memory["user"],
        json!({"kind": "email", "id": "carol@example.com"})
    );

    let resp = app
        .post(&format!("/api/public/conversations/{token}"))
        .bearer(&s)
        .send()
        .await;
    let fresh = resp.json()["conversation_id"].as_str().unwrap().to_owned();
    chat(
        &app,
        &token,
        &s,
        json!({"message": "Any plans?", "conversation_id": fresh}),
    )
    .await;
    let last = app.openai.seen().pop().unwrap();
    let system = last.body["messages"][0].clone();
    assert_eq!(system["role"], "system", "{}", last.body);
    assert!(
        system["content"]
            .as_str()
            .unwrap()
            .contains("Carol hikes in Sintra.")
    );
    assert_eq!(
        last.body["messages"].as_array().unwrap().len(),
        2,
        "a new conversation"
    );

    // Anonymous sessions of the same assistant have no memory.
    let open = token_of(&link(&app, &a, json!({})).await);
    let (anon, _) = session(&app, &open).await;
    chat(&app, &open, &anon, json!({"message": "hi"})).await;
    let last = app.openai.seen().pop().unwrap();
    assert_eq!(last.body["messages"][0]["role"], "user");
}

#[tokio::test]
async fn guessing_link_or_session_tokens_from_one_address_is_throttled() {
    let app = TestApp::tuned(agentgate_links::router, |s| s.guesses_per_window = 4).await;
    let a = bot(&app, json!({})).await;
    let token = token_of(&link(&app, &a, json!({})).await);
    let (s, _) = session(&app, &token).await;
    let get =
        |path: String, bearer: &str, ip: [u8; 4]| app.get(&path).bearer(bearer).from_ip(ip).send();
    let attacker = [10, 5, 5, 5];
    for guess in [
        "agp_unknown0000000000000000000000",
        "link_guess_token_000001",
    ] {
        let resp = get(format!("/api/public/links/{guess}"), "", attacker).await;
        resp.assert_error(404, "LINK_NOT_FOUND");
    }
    let history = format!("/api/public/history/{token}");
    for guess in [
        "ags_000",
        "ags_000000000000000000000000000000000000000000000000",
    ] {
        get(history.clone(), guess, attacker)
            .await
            .assert_error(401, "SESSION_INVALID");
    }
    get(history.clone(), &s, attacker)
        .await
        .assert_error(429, "RATE_LIMITED");
    assert_eq!(get(history, &s, [10, 5, 5, 6]).await.status, StatusCode::OK);
}

#[tokio::test]
async fn no_token_email_or_code_reaches_the_logs() {
    let (logs, _guard) = agentgate_shared::testing::CapturedLogs::start();
    let (app, _, token) = linked(json!({}), json!({"require_email": true})).await;
    app.get(&format!("/public/chat/{token}")).send().await;
    verify(&app, &token, "secret.person@example.com").await;
    let code = code_for(&app, "secret.person@example.com");
    confirm(&app, &token, "secret.person@example.com", "000000").await;
    let confirmed = confirm(&app, &token, "secret.person@example.com", &code)
        .await
        .json();
    let session = confirmed["session_token"].as_str().unwrap().to_owned();
    chat(&app, &token, &session, json!({"message": "hello"})).await;
    history(&app, &token, &session, "").await;
    let text = logs.text();
    assert!(
        text.contains("/api/public/chat/{token}"),
        "routes are logged: {text}"
    );
    for secret in [
        token.as_str(),
        session.as_str(),
        code.as_str(),
        "secret.person",
    ] {
        assert!(!text.contains(secret), "{secret} was logged:\n{text}");
    }
}

agentgate_shared::router_answers_sample_events!(
    agentgate_links::router,
    "links",
    events = samples::EVENTS,
    check = samples::check
);
