//! What a widget reply carries besides text: action proposals from each provider's
//! streamed tool calls (checked against the action's schema, stored, settled once by their
//! visitor and seen by the next turn's model), knowledge-base citations and confidence,
//! and the launcher with each bot's configuration.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

use agentgate_shared::domain::assistant::Assistant;
use agentgate_shared::domain::ids::ThreadId;
use agentgate_shared::domain::thread::ThreadKey;
use agentgate_shared::testing::{TestApp, TestResponse, ToolReply, chunk_types};
use http::{Method, StatusCode};
use serde_json::{Value, json};

const CHAT: &str = "/v1/public/chat";

async fn app() -> TestApp {
    TestApp::new(agentgate_widget::router).await
}

fn book_demo() -> Value {
    json!([{
        "name": "book_demo", "label": "Book a demo", "description": "Books a 30-minute demo call",
        "kind": "form", "executionMode": "confirm",
        "parameters": {"type": "object", "properties": {"day": {"type": "string", "enum": ["mon", "tue"]}},
                       "required": ["day"], "additionalProperties": false}
    }])
}

async fn bot(app: &TestApp, model: &str, extra: Value) -> Assistant {
    let mut configurable =
        json!({"type==agent/access_mode": "public_no_auth", "type==agent/model": model});
    for (k, v) in extra.as_object().unwrap() {
        configurable[k] = v.clone();
    }
    app.assistant("agency", configurable).await
}

async fn chat(
    app: &TestApp,
    a: &Assistant,
    visitor: &str,
    conversation: Option<&str>,
    text: &str,
    modern: bool,
) -> TestResponse {
    let body = json!({"botPublicId": a.id, "visitorId": visitor, "conversationId": conversation, "message": text});
    let mut req = app.post(CHAT).json(&body);
    if modern {
        req = req.header("x-widget-version", "2");
    }
    req.send().await
}

fn tool_reply(arguments: &str) -> Option<ToolReply> {
    Some(ToolReply {
        pieces: vec!["Sure, ".into(), "let's book it.".into()],
        name: "book_demo".into(),
        arguments: arguments.into(),
    })
}

/// A request to the owner API (another family's router over the same state) as `user`.
async fn owner_api(
    app: &TestApp,
    method: Method,
    path: &str,
    user: &str,
    body: Option<&Value>,
) -> TestResponse {
    let mut req = app.request(method, path).user(user);
    if let Some(body) = body {
        req = req.json(body);
    }
    req.via(agentgate_assistants::router).send().await
}

async fn result(app: &TestApp, execution: &str, body: Value) -> TestResponse {
    app.post(&format!("/v1/public/actions/{execution}/result"))
        .json(&body)
        .send()
        .await
}

/// An OpenAI bot offering `book_demo`, after visitor `v1`'s turn in which the model called
/// it: the bot, the proposal's execution id and the streamed reply.
async fn proposed(app: &TestApp) -> (Assistant, String, TestResponse) {
    app.openai.set_tool_reply(tool_reply(r#"{"day":"tue"}"#));
    let a = bot(
        app,
        "openai:gpt-4o-mini",
        json!({"type==agent/actions": book_demo()}),
    )
    .await;
    let resp = chat(app, &a, "v1", None, "Demo?", true).await;
    let chunks = resp.ui_chunks();
    let proposal = chunks
        .iter()
        .find(|c| c["type"] == "data-action-proposal")
        .unwrap_or_else(|| panic!("no proposal in {}", resp.text));
    let execution = proposal["data"]["executionId"].as_str().unwrap().to_owned();
    (a, execution, resp)
}

#[tokio::test]
async fn an_openai_tool_call_becomes_a_proposal_the_visitor_settles_once() {
    let app = app().await;
    app.openai.set_tool_reply(tool_reply(r#"{"day":"tue"}"#));
    let a = bot(
        &app,
        "openai:gpt-4o-mini",
        json!({"type==agent/actions": book_demo()}),
    )
    .await;

    let resp = chat(&app, &a, "v1", None, "Can I see a demo?", true).await;
    assert_eq!(resp.status, StatusCode::OK, "{}", resp.text);
    // The model was offered the action as a function tool with its schema.
    let offered = &app.openai.seen()[0].body["tools"][0];
    assert_eq!(offered["type"], "function");
    assert_eq!(offered["function"]["name"], "book_demo");
    assert_eq!(offered["function"]["parameters"]["required"][0], "day");
    let chunks = resp.ui_chunks();
    assert_eq!(
        chunk_types(&chunks),
        [
            "text-start",
            "text-delta",
            "text-delta",
            "text-end",
            "data-action-proposal",
            "data-done"
        ]
    );
    let proposal = &chunks[4];
    let data = &proposal["data"];
    let execution = data["executionId"].as_str().unwrap().to_owned();
    assert_eq!(proposal["id"], execution.as_str());
    assert!(execution.starts_with("exe_"));
    assert_eq!(data["actionId"], "book_demo");
    assert_eq!(data["kind"], "form");
    assert_eq!(data["label"], "Book a demo");
    assert_eq!(data["description"], "Books a 30-minute demo call");
    assert_eq!(data["executionMode"], "confirm");
    assert_eq!(data["params"], json!({"day": "tue"}));
    assert!(data["expiresAt"].as_str().unwrap().ends_with('Z'));
    assert_eq!(
        chunks[5]["data"]["confidence"],
        Value::Null,
        "no knowledge base"
    );
    let conversation = chunks[5]["data"]["conversationId"]
        .as_str()
        .unwrap()
        .to_owned();

    // Only its visitor may settle it (others learn nothing), with a known status, once.
    result(
        &app,
        &execution,
        json!({"visitorId": "v2", "status": "success"}),
    )
    .await
    .assert_error(404, "NOT_FOUND");
    result(
        &app,
        &execution,
        json!({"visitorId": "v1", "status": "done"}),
    )
    .await
    .assert_error(400, "INVALID_REQUEST");
    result(
        &app,
        "exe_nope",
        json!({"visitorId": "v1", "status": "success"}),
    )
    .await
    .assert_error(404, "NOT_FOUND");
    let ok = result(
        &app,
        &execution,
        json!({"visitorId": "v1", "status": "success", "output": {"booked": "tue 10:00"}}),
    )
    .await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.text);
    assert_eq!(ok.json()["status"], "success");
    assert_eq!(ok.header("access-control-allow-origin"), "*");
    result(
        &app,
        &execution,
        json!({"visitorId": "v1", "status": "cancelled"}),
    )
    .await
    .assert_error(409, "ALREADY_SETTLED");

    // The next turn's model sees what was proposed and how it ended.
    app.openai.set_tool_reply(None);
    let next = chat(&app, &a, "v1", Some(&conversation), "Thanks!", true).await;
    assert_eq!(next.status, StatusCode::OK);
    let seen = app.openai.seen();
    let sent: Vec<String> = seen
        .last()
        .unwrap()
        .messages()
        .into_iter()
        .map(|(_, t)| t)
        .collect();
    assert!(
        sent.iter().any(|t| t.contains("Sure, let's book it.")),
        "{sent:?}"
    );
    let note = sent
        .iter()
        .find(|t| t.starts_with("[action result]"))
        .expect("outcome in history");
    assert!(
        note.contains("book_demo") && note.contains("success") && note.contains("tue 10:00"),
        "{note}"
    );
}

#[tokio::test]
async fn an_anthropic_tool_call_is_proposed_in_the_legacy_dialect_too() {
    let app = app().await;
    app.anthropic
        .set_tool_reply(tool_reply(r#"{"day": "mon"}"#));
    let a = bot(
        &app,
        "anthropic:claude-sonnet-4-5",
        json!({"type==agent/actions": book_demo()}),
    )
    .await;
    let resp = chat(&app, &a, "v1", None, "Demo please", false).await;
    assert_eq!(resp.status, StatusCode::OK, "{}", resp.text);
    assert_eq!(
        app.anthropic.seen()[0].body["tools"][0]["input_schema"]["type"],
        "object"
    );
    let events = resp.sse();
    let names: Vec<&str> = events
        .iter()
        .map(|e| e.event.as_deref().unwrap_or(""))
        .collect();
    assert_eq!(names, ["token", "token", "action_proposal", "done"]);
    let proposal = events[2].json();
    assert_eq!(proposal["actionId"], "book_demo");
    assert_eq!(proposal["params"], json!({"day": "mon"}));
    // The proposal was stored: its visitor can settle it.
    let execution = proposal["executionId"].as_str().unwrap();
    let ok = result(
        &app,
        execution,
        json!({"visitorId": "v1", "status": "cancelled"}),
    )
    .await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.text);
}

#[tokio::test]
async fn a_call_that_breaks_the_schema_or_names_no_action_is_never_proposed() {
    let app = app().await;
    let a = bot(
        &app,
        "openai:gpt-4o-mini",
        json!({"type==agent/actions": book_demo()}),
    )
    .await;
    for arguments in [
        r#"{"day":"sun"}"#,
        r#"{"day":"mon","admin":true}"#,
        "{broken",
    ] {
        app.openai.set_tool_reply(tool_reply(arguments));
        let resp = chat(&app, &a, "v1", None, "Demo?", true).await;
        let types = chunk_types(&resp.ui_chunks()).join(",");
        assert!(
            !types.contains("data-action-proposal"),
            "{arguments}: {types}"
        );
    }
    app.openai.set_tool_reply(Some(ToolReply {
        pieces: vec![],
        name: "delete_account".into(),
        arguments: "{}".into(),
    }));
    let resp = chat(&app, &a, "v1", None, "Delete me", true).await;
    let types = chunk_types(&resp.ui_chunks()).join(",");
    assert!(!types.contains("data-action-proposal"), "{types}");
    // An assistant without actions offers no tools.
    let plain = bot(&app, "openai:gpt-4o-mini", json!({})).await;
    chat(&app, &plain, "v1", None, "Hi", true).await;
    assert!(
        app.openai
            .seen()
            .last()
            .unwrap()
            .body
            .get("tools")
            .is_none()
    );
}

#[tokio::test]
async fn an_expired_proposal_cannot_be_settled() {
    let app = TestApp::build(agentgate_widget::router)
        .manual_clock()
        .start()
        .await;
    let (_, execution, _) = proposed(&app).await;
    app.clock
        .as_ref()
        .unwrap()
        .advance_secs(agentgate_shared::domain::action::PROPOSAL_TTL_SECS);
    result(
        &app,
        &execution,
        json!({"visitorId": "v1", "status": "success"}),
    )
    .await
    .assert_error(410, "EXPIRED");
}

const RETURNS: &str = "# Returns\n\nRefunds are issued within 14 days of receiving the returned parcel. \
    Keep the original packaging and the order number.\n\n# Shipping\n\nParcels leave the Lyon warehouse every weekday.";

#[tokio::test]
async fn the_knowledge_base_answers_with_citations_and_a_higher_confidence_on_topic() {
    let app = app().await;
    app.openai
        .set_behavior(agentgate_shared::testing::Behavior::Reply(vec![
            "Refunds are issued within 14 days ".into(),
            "[1].".into(),
        ]));
    let a = bot(&app, "openai:gpt-4o-mini", json!({})).await;
    // Through the owner API: upload, list.
    let docs = format!("/assistants/{}/documents", a.id);
    let up = owner_api(&app, Method::POST, &docs, "agency", Some(&json!({"title": "Help centre", "url": "https://shop.example.com/help", "format": "markdown", "content": RETURNS}))).await;
    assert_eq!(up.status, StatusCode::CREATED, "{}", up.text);
    let doc_id = up.json()["id"].as_str().unwrap().to_owned();
    assert_eq!(up.json()["chunks"], 2);
    let listed = owner_api(&app, Method::GET, &docs, "agency", None).await;
    assert_eq!(listed.json()["documents"][0]["id"], doc_id.as_str());
    // Another owner cannot see or add to it.
    let stranger = owner_api(&app, Method::GET, &docs, "someone", None).await;
    assert_eq!(stranger.status, StatusCode::NOT_FOUND);

    let on_topic = chat(
        &app,
        &a,
        "v1",
        None,
        "How long until my refund is issued?",
        true,
    )
    .await;
    let chunks = on_topic.ui_chunks();
    assert_eq!(
        chunk_types(&chunks),
        [
            "text-start",
            "text-delta",
            "text-delta",
            "text-end",
            "data-citations",
            "data-done"
        ]
    );
    let citation = &chunks[4]["data"][0];
    assert_eq!(citation["documentId"], doc_id.as_str());
    assert_eq!(citation["title"], "Help centre");
    assert_eq!(citation["url"], "https://shop.example.com/help");
    assert!(
        citation["snippet"]
            .as_str()
            .unwrap()
            .contains("Refunds are issued")
    );
    assert!(citation["score"].as_f64().unwrap() > 0.0);
    assert_eq!(chunks[4]["data"].as_array().unwrap().len(), 1);
    // The model was given the passage, numbered.
    let system = app.openai.seen()[0].body["messages"][0]["content"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        system.contains("[1] Help centre") && system.contains("14 days"),
        "{system}"
    );
    let high = chunks[5]["data"]["confidence"].as_f64().unwrap();

    app.openai
        .set_behavior(agentgate_shared::testing::Behavior::Reply(vec![
            "I don't know.".into(),
        ]));
    let off_topic = chat(&app, &a, "v2", None, "Which planet is the largest?", true).await;
    let chunks = off_topic.ui_chunks();
    assert!(!chunk_types(&chunks).contains(&"data-citations"));
    let low = chunks.last().unwrap()["data"]["confidence"]
        .as_f64()
        .unwrap();
    assert!(high > low, "on topic {high} vs off topic {low}");
    assert!((0.0..=1.0).contains(&high));

    // The legacy dialect carries the same citations.
    app.openai
        .set_behavior(agentgate_shared::testing::Behavior::Reply(vec![
            "Within 14 days [1].".into(),
        ]));
    let legacy = chat(&app, &a, "v3", None, "When is my refund issued?", false).await;
    let events = legacy.sse();
    let citations = events
        .iter()
        .find(|e| e.event.as_deref() == Some("citations"))
        .unwrap()
        .json();
    assert_eq!(citations[0]["documentId"], doc_id.as_str());
    assert!(
        events.last().unwrap().json()["confidence"]
            .as_f64()
            .unwrap()
            > 0.0
    );

    // Deleting the document empties the knowledge base: confidence is null again.
    let document = format!("{docs}/{doc_id}");
    let delete = || owner_api(&app, Method::DELETE, &document, "agency", None);
    assert_eq!(delete().await.status, StatusCode::NO_CONTENT);
    assert_eq!(delete().await.status, StatusCode::NOT_FOUND);
    let after = chat(
        &app,
        &a,
        "v4",
        None,
        "How long until my refund is issued?",
        true,
    )
    .await;
    assert_eq!(
        after.ui_chunks().last().unwrap()["data"]["confidence"],
        Value::Null
    );
}

#[tokio::test]
async fn uploads_are_checked() {
    let app = app().await;
    let a = bot(&app, "echo", json!({})).await;
    let docs = format!("/assistants/{}/documents", a.id);
    for (body, needle) in [
        (json!({"content": "x"}), "title"),
        (json!({"title": "t"}), "content"),
        (json!({"title": "t", "content": "   "}), "empty"),
        (
            json!({"title": "t", "content": "x", "format": "pdf"}),
            "format",
        ),
        (
            json!({"title": "t", "content": "x".repeat(agentgate_shared::knowledge::MAX_DOCUMENT_BYTES + 1)}),
            "larger",
        ),
    ] {
        let resp = owner_api(&app, Method::POST, &docs, "agency", Some(&body)).await;
        // The owner API's status for a body it cannot use.
        assert_eq!(resp.status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert!(resp.detail().contains(needle), "{}", resp.text);
    }
    // The knowledge version is the documents API's: a patch cannot set it.
    let patch = owner_api(&app, Method::PATCH, &format!("/assistants/{}", a.id), "agency", Some(&json!({"config": {"configurable": {"type==agent/knowledge": {"version": "x", "documents": 9}}}}))).await;
    assert_eq!(
        patch.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        patch.text
    );
    assert!(patch.detail().contains("documents API"), "{}", patch.text);
}

#[tokio::test]
async fn the_launcher_and_each_bots_configuration_are_served() {
    let app = app().await;
    let a = bot(
        &app,
        "echo",
        json!({
            "type==agent/welcome_message": "Hi! Ask me about returns.",
            "type==agent/widget_color": "#0a7d5a",
            "type==agent/actions": book_demo(),
        }),
    )
    .await;
    let cfg = app
        .get(&format!("/v1/public/bots/{}/config", a.id))
        .send()
        .await;
    assert_eq!(cfg.status, StatusCode::OK, "{}", cfg.text);
    assert_eq!(
        cfg.json(),
        json!({"botPublicId": a.id, "name": "bot", "welcomeMessage": "Hi! Ask me about returns.",
               "color": "#0a7d5a", "actionsEnabled": true, "citationsEnabled": false})
    );
    assert_eq!(cfg.header("access-control-allow-origin"), "*");
    // Private, unknown or malformed bots are all absent.
    let private = app
        .assistant(
            "agency",
            json!({"type==agent/access_mode": "authenticated"}),
        )
        .await;
    for id in [
        private.id.to_string(),
        "bot_doesnotexist".into(),
        uuid_like(),
    ] {
        app.get(&format!("/v1/public/bots/{id}/config"))
            .send()
            .await
            .assert_error(404, "NOT_FOUND");
    }
    let js = app.get("/v1/public/widget.js").send().await;
    assert_eq!(js.status, StatusCode::OK);
    assert!(js.header("content-type").starts_with("text/javascript"));
    assert!(js.header("cache-control").contains("max-age=300"));
    assert!(js.text.contains("attachShadow"));
    let etag = js.header("etag").to_owned();
    let version = js.header("x-widget-script-version").to_owned();
    assert_eq!(etag, format!("\"{version}\""));
    let cached = app
        .get("/v1/public/widget.js")
        .header("if-none-match", &etag)
        .send()
        .await;
    assert_eq!(cached.status, StatusCode::NOT_MODIFIED);
    let pinned = app
        .get(&format!("/v1/public/widget/{version}/widget.js"))
        .send()
        .await;
    assert_eq!(pinned.status, StatusCode::OK);
    assert!(pinned.header("cache-control").contains("immutable"));
    assert_eq!(pinned.text, js.text);
    let stale = app
        .get("/v1/public/widget/000000000000/widget.js")
        .send()
        .await;
    assert_eq!(stale.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn restricted_origins_apply_to_results_and_configuration() {
    let app = app().await;
    app.openai.set_tool_reply(tool_reply(r#"{"day":"tue"}"#));
    let a = bot(
        &app,
        "openai:gpt-4o-mini",
        json!({
            "type==agent/actions": book_demo(),
            "type==agent/allowed_origins": ["https://shop.example.com"],
        }),
    )
    .await;
    let config = format!("/v1/public/bots/{}/config", a.id);
    app.get(&config)
        .header("origin", "https://evil.example.net")
        .send()
        .await
        .assert_error(403, "ORIGIN_NOT_ALLOWED");
    let ok = app
        .get(&config)
        .header("origin", "https://shop.example.com")
        .send()
        .await;
    assert_eq!(
        ok.header("access-control-allow-origin"),
        "https://shop.example.com"
    );
    assert_eq!(ok.header("vary"), "Origin");
    let resp = app
        .post(CHAT)
        .header("origin", "https://shop.example.com")
        .header("x-widget-version", "2")
        .json(&json!({"botPublicId": a.id, "visitorId": "v1", "message": "Demo?"}))
        .send()
        .await;
    let execution = resp.ui_chunks()[4]["data"]["executionId"]
        .as_str()
        .unwrap()
        .to_owned();
    app.post(&format!("/v1/public/actions/{execution}/result"))
        .header("origin", "https://evil.example.net")
        .json(&json!({"visitorId": "v1", "status": "success"}))
        .send()
        .await
        .assert_error(403, "ORIGIN_NOT_ALLOWED");
    // The outcome reached the stored conversation only once it was accepted.
    let conversation = ThreadId::parse(
        resp.ui_chunks().last().unwrap()["data"]["conversationId"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    let key = ThreadKey::widget(&a.id, "v1", &conversation);
    assert!(
        app.messages(&key)
            .await
            .iter()
            .all(|m| !m.message.content.starts_with("[action result]"))
    );
}

fn uuid_like() -> String {
    "3f1c9a52-7b4e-4d2a-9c1e-5a8b6d0e2f47".into()
}

#[tokio::test]
async fn each_visitor_reports_at_most_thirty_outcomes_an_hour() {
    let app = app().await;
    let (_, execution, _) = proposed(&app).await;
    let body = json!({"visitorId": "v1", "status": "success"});
    assert_eq!(
        result(&app, &execution, body.clone()).await.status,
        StatusCode::OK
    );
    // Every report counts, repeated ones too: 29 more are answered, the 31st is refused.
    for _ in 1..30 {
        result(&app, &execution, body.clone())
            .await
            .assert_error(409, "ALREADY_SETTLED");
    }
    let capped = result(&app, &execution, body).await;
    capped.assert_error(429, "RATE_LIMITED");
    assert!(capped.header("retry-after").parse::<u64>().unwrap() > 0);
}

#[tokio::test]
async fn guessing_execution_ids_is_throttled_per_address() {
    let app = app().await;
    let (_, execution, _) = proposed(&app).await;
    let limit = app.state.settings.guesses_per_window;
    let guess = |id: String| {
        app.post(&format!("/v1/public/actions/{id}/result"))
            .from_ip([198, 51, 100, 7])
            .json(&json!({"visitorId": "v1", "status": "success"}))
            .send()
    };
    for i in 0..limit {
        guess(format!("exe_{i:032x}"))
            .await
            .assert_error(404, "NOT_FOUND");
    }
    // Past the limit the address is refused, its own proposal included; others are not.
    guess(execution.clone())
        .await
        .assert_error(429, "RATE_LIMITED");
    let ok = result(
        &app,
        &execution,
        json!({"visitorId": "v1", "status": "success"}),
    )
    .await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.text);
}
