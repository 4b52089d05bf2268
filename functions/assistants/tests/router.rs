//! Router tests (`oneshot`) for the owner API.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

use agentgate_shared::domain::ids::{AssistantId, UserId};
use agentgate_shared::domain::memory::MemoryKey;
use agentgate_shared::domain::token::PublicToken;
use agentgate_shared::testing::{self, TestApp};
use http::StatusCode;

mod samples;
use serde_json::{Value, json};

async fn app() -> TestApp {
    TestApp::new(agentgate_assistants::router).await
}

/// Creates an assistant as `owner` and returns its JSON (asserting the 201).
async fn create(app: &TestApp, owner: &str, body: Value) -> Value {
    let resp = app.post("/assistants").user(owner).json(&body).send().await;
    assert_eq!(resp.status, StatusCode::CREATED, "{}", resp.text);
    resp.json()
}

fn path_of(created: &Value) -> String {
    format!("/assistants/{}", created["assistant_id"].as_str().unwrap())
}

#[tokio::test]
async fn create_read_list_patch_round_trip() {
    let app = app().await;
    let body = json!({
        "name": "Support bot",
        "config": {"configurable": {"type==agent/system_message": "Be brief.", "type==agent/model": "echo", "custom": 1}}
    });
    let created = create(&app, "alice", body).await;
    let path = path_of(&created);
    assert_eq!(created["access_mode"], "authenticated");
    assert_eq!(created["config"]["configurable"]["custom"], 1);

    let resp = app.patch(&path).user("alice").json(&json!({
        "config": {"configurable": {"type==agent/access_mode": "public_token", "type==agent/public_token": "pubkey_mybot_abc123"}}
    })).send().await;
    assert_eq!(resp.status, StatusCode::OK, "{}", resp.text);
    let patched = resp.json();
    assert_eq!(patched["access_mode"], "public_token");
    let conf = &patched["config"]["configurable"];
    assert_eq!(conf["type==agent/public_token"], "****c123");
    assert_eq!(
        conf["type==agent/system_message"], "Be brief.",
        "patch merges, it does not replace"
    );

    let read = app.get(&path).user("alice").send().await;
    assert_eq!(read.status, StatusCode::OK);
    assert_eq!(read.json(), patched);
    let list = app.get("/assistants").user("alice").send().await;
    assert_eq!(list.status, StatusCode::OK);
    assert_eq!(list.json().as_array().unwrap().len(), 1);
    assert!(!list.text.contains("pubkey_mybot_abc123"));
}

#[tokio::test]
async fn only_the_owner_sees_or_changes_an_assistant() {
    let app = app().await;
    let path = path_of(&create(&app, "alice", json!({"name": "a"})).await);
    let status = |resp: testing::TestResponse| resp.status;
    assert_eq!(
        status(app.get(&path).user("mallory").send().await),
        StatusCode::NOT_FOUND
    );
    let pwn = json!({"name": "pwned"});
    assert_eq!(
        status(app.patch(&path).user("mallory").json(&pwn).send().await),
        StatusCode::NOT_FOUND
    );
    let list = app.get("/assistants").user("mallory").send().await;
    assert_eq!(list.json(), json!([]));
    let still = app.get(&path).user("alice").send().await;
    assert_eq!(still.json()["name"], "a");
    assert_eq!(
        status(app.get(&path).send().await),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        status(app.get("/assistants/not-a-uuid").user("alice").send().await),
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn bad_input_is_refused_and_changes_nothing() {
    let app = app().await;
    let body = json!({"name": "a"});
    let created = create(&app, "alice", body).await;
    let path = path_of(&created);
    let cases = [
        (
            json!({"config": {"configurable": {"type==agent/access_mode": "everyone"}}}),
            "access_mode",
        ),
        (
            json!({"config": {"configurable": {"type==agent/access_mode": "public_token"}}}),
            "public_token",
        ),
        (
            json!({"config": {"configurable": {"type==agent/model": "nope"}}}),
            "type==agent/model",
        ),
        (
            json!({"config": {"configurable": {"type==agent/public_token": "short"}}}),
            "at least 16",
        ),
        (
            json!({"config": {"configurable": {"type==agent/public_token": "aaaaaaaaaaaaaaaa"}}}),
            "too easy to guess",
        ),
        (
            json!({"config": {"configurable": {"type==agent/allowed_origins": ["shop.example.com"]}}}),
            "allowed_origins",
        ),
        (json!({"config": "x"}), "config must be an object"),
        (json!({"name": 3}), "name must be a string"),
        (json!({"name": ""}), "name must be"),
    ];
    for (body, needle) in cases {
        let resp = app.patch(&path).user("alice").json(&body).send().await;
        assert_eq!(resp.status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert!(resp.detail().contains(needle), "{}", resp.text);
    }
    let resp = app
        .post("/assistants")
        .user("alice")
        .json(&json!({"config": {}}))
        .send()
        .await;
    assert_eq!(resp.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(resp.detail(), "name is required");
    let resp = app.post("/assistants").user("alice").body("{").send().await;
    assert_eq!(resp.status, StatusCode::BAD_REQUEST);
    let after = app.get(&path).user("alice").send().await;
    assert_eq!(
        after.json(),
        created,
        "rejected patches left the assistant unchanged"
    );
}

#[tokio::test]
async fn rotation_returns_a_minted_token_once_and_keeps_the_old_one_for_the_overlap() {
    let app = app().await;
    let body = json!({
        "name": "a", "config": {"configurable": {"type==agent/access_mode": "public_token", "type==agent/public_token": "pubkey_mybot_abc123"}}
    });
    let created = create(&app, "alice", body).await;
    let path = path_of(&created);
    let rotate = |overlap: i64| {
        app.post(&format!("{path}/public-token"))
            .user("alice")
            .json(&json!({"overlap_seconds": overlap}))
            .send()
    };
    let resp = rotate(600).await;
    assert_eq!(resp.status, StatusCode::OK, "{}", resp.text);
    let rotated = resp.json();
    let token = rotated["public_token"].as_str().unwrap();
    assert!(PublicToken::parse_presented(token).is_ok() && token.starts_with("agp_"));
    assert!(rotated["assistant"]["public_token_overlap_until"].is_string());
    let read = app.get(&path).user("alice").send().await;
    assert!(!read.text.contains(token));

    let id = AssistantId::parse(created["assistant_id"].as_str().unwrap()).unwrap();
    let store = &app.state.store;
    let stored = store.get_assistant(&id).await.unwrap().unwrap();
    let now = app.state.clock.now_secs();
    assert!(stored.accepts(&PublicToken::parse_presented(token).unwrap(), now));
    assert!(stored.accepts(
        &PublicToken::parse_presented("pubkey_mybot_abc123").unwrap(),
        now
    ));
    let by_token = store
        .find_assistant_by_token(&PublicToken::parse_presented(token).unwrap().digest())
        .await
        .unwrap();
    assert_eq!(by_token, Some(id));

    assert_eq!(rotate(-5).await.status, StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn an_end_users_transcript_can_be_erased_with_their_memory() {
    use agentgate_shared::domain::message::{Message, Role};
    use agentgate_shared::domain::thread::{StoredMessage, ThreadKey};
    let app = app().await;
    let created = create(&app, "alice", json!({"name": "m"})).await;
    let aid = AssistantId::parse(created["assistant_id"].as_str().unwrap()).unwrap();
    let dave = ThreadKey::openai(&aid, "dave");
    let said = StoredMessage {
        message: Message::new(Role::Human, "my card is 4111"),
        run_id: agentgate_shared::domain::ids::RunId::mint(),
        created_at: 0,
    };
    app.state
        .store
        .append_messages(&dave, &[said], 3600)
        .await
        .unwrap();
    let path = format!("{}/memories/end-users/dave", path_of(&created));
    let resp = app.delete(&path).user("alice").send().await;
    assert_eq!(resp.status, StatusCode::NO_CONTENT);
    assert_eq!(
        app.messages(&dave).await.len(),
        1,
        "the memory alone, by default"
    );
    let erase = |query: &str| app.delete(&format!("{path}{query}")).user("alice").send();
    for bad in ["?transcript=yes", "?transcript=1"] {
        assert_eq!(
            erase(bad).await.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{bad}"
        );
    }
    let resp = app
        .delete(&format!("{path}?transcript=true"))
        .user("mallory")
        .send()
        .await;
    assert_eq!(resp.status, StatusCode::NOT_FOUND);
    assert_eq!(app.messages(&dave).await.len(), 1);
    assert_eq!(
        erase("?transcript=true").await.status,
        StatusCode::NO_CONTENT
    );
    assert!(app.messages(&dave).await.is_empty());
}

#[tokio::test]
async fn the_list_of_assistants_pages() {
    let app = app().await;
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(
            create(&app, "alice", json!({"name": format!("bot {i}")})).await["assistant_id"]
                .clone(),
        );
    }
    let mut seen = Vec::new();
    let mut path = "/assistants?limit=2".to_owned();
    loop {
        let resp = app.get(&path).user("alice").send().await;
        assert_eq!(resp.status, StatusCode::OK, "{}", resp.text);
        seen.extend(
            resp.json()
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a["assistant_id"].clone()),
        );
        match resp.header("x-next-cursor") {
            "" => break,
            next => path = format!("/assistants?limit=2&cursor={next}"),
        }
    }
    // Pages follow the list's order (oldest first; ties by id), each assistant once.
    let all = app.get("/assistants").user("alice").send().await.json();
    let all: Vec<Value> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["assistant_id"].clone())
        .collect();
    assert_eq!(seen, all);
    let mut sorted = seen.clone();
    sorted.sort_by_key(|v| v.to_string());
    let mut want = ids.clone();
    want.sort_by_key(|v| v.to_string());
    assert_eq!(sorted, want, "every assistant once");
    for bad in ["0", "201", "x"] {
        let resp = app
            .get(&format!("/assistants?limit={bad}"))
            .user("alice")
            .send()
            .await;
        assert_eq!(resp.status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
        assert!(resp.detail().contains("limit"));
    }
}

#[tokio::test]
async fn a_token_cannot_open_two_assistants() {
    let app = app().await;
    let body = json!({"name": "a", "config": {"configurable": {"type==agent/public_token": "pubkey_shared_token_1"}}});
    create(&app, "alice", body.clone()).await;
    let resp = app.post("/assistants").user("bob").json(&body).send().await;
    assert_eq!(resp.status, StatusCode::CONFLICT);
    assert!(resp.detail().contains("already used"));
    let list = app.get("/assistants").user("bob").send().await;
    assert_eq!(
        list.json(),
        json!([]),
        "the refused create left nothing behind"
    );
}

#[tokio::test]
async fn owners_read_their_assistants_usage() {
    let app = app().await;
    let body = json!({
        "name": "a", "config": {"configurable": {"type==agent/access_mode": "public_no_auth"}}
    });
    let created = create(&app, "alice", body).await;
    let id = created["assistant_id"].as_str().unwrap();
    // Two public turns through the runs family, sharing the store.
    for text in ["one", "two"] {
        app.post("/public/runs/stream")
            .via(agentgate_runs::router)
            .json(&json!({"assistant_id": id, "input": [{"role": "human", "content": text}]}))
            .send()
            .await;
    }
    let usage = |days: &str, user: &'static str| {
        app.get(&format!("/assistants/{id}/usage{days}"))
            .user(user)
            .send()
    };
    let resp = usage("?days=7", "alice").await;
    assert_eq!(resp.status, StatusCode::OK, "{}", resp.text);
    let usage_json = resp.json();
    assert_eq!(usage_json["days"], 7);
    let totals = &usage_json["totals"];
    assert_eq!(
        (totals["requests"].as_u64(), totals["messages"].as_u64()),
        (Some(2), Some(4))
    );
    assert!(totals["output_tokens"].as_u64().unwrap() > 0);
    assert_eq!(usage_json["daily"].as_array().unwrap().len(), 1);
    let budget = &usage_json["daily_token_budget"];
    assert_eq!(budget["tokens"], 2_000_000);
    assert_eq!(
        budget["spent_today"],
        totals["input_tokens"].as_u64().unwrap() + totals["output_tokens"].as_u64().unwrap()
    );
    assert_eq!(budget["exhausted"], false);
    assert_eq!(usage_json["plan"]["monthly_messages"], 1_000_000);
    assert_eq!(
        usage_json["plan"]["used_this_month"], 0,
        "only widget messages count"
    );
    assert_eq!(usage_json["daily"][0]["date"].as_str().unwrap().len(), 10);

    assert_eq!(usage("", "mallory").await.status, StatusCode::NOT_FOUND);
    let resp = usage("?days=1000", "alice").await;
    assert_eq!(resp.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(resp.detail().contains("days"));
}

#[tokio::test]
async fn owners_read_and_erase_what_their_assistant_remembers() {
    let app = app().await;
    let body = json!({"name": "m", "config": {"configurable": {"type==agent/memory": true}}});
    let created = create(&app, "alice", body).await;
    let path = path_of(&created);
    let aid = AssistantId::parse(created["assistant_id"].as_str().unwrap()).unwrap();
    for (key, text) in [
        (
            MemoryKey::end_user(&aid, "carol@example.com"),
            "Carol hikes.",
        ),
        (
            MemoryKey::owner(&aid, &UserId::parse("alice").unwrap()),
            "Alice tests.",
        ),
    ] {
        let read = app.state.store.add_pending(&key, 5).await.unwrap();
        app.state
            .store
            .save_summary(&key, &read, text)
            .await
            .unwrap();
    }
    let carol = format!("{path}/memories/end-users/carol%40example.com");
    let owner = format!("{path}/memories/owner");

    let resp = app.get(&carol).user("alice").send().await;
    assert_eq!(resp.status, StatusCode::OK, "{}", resp.text);
    let body = resp.json();
    assert_eq!(body["summary"], "Carol hikes.");
    assert_eq!(
        body["user"],
        json!({"kind": "end_user", "id": "carol@example.com"})
    );
    assert_eq!(body["pending_messages"], 0);
    assert!(body["updated_at"].as_str().unwrap().ends_with('Z'));
    let resp = app.get(&owner).user("alice").send().await;
    assert_eq!(resp.json()["summary"], "Alice tests.");

    // Nobody else can read or erase it.
    for method in [http::Method::GET, http::Method::DELETE] {
        let resp = app
            .request(method.clone(), &carol)
            .user("mallory")
            .send()
            .await;
        assert_eq!(resp.status, StatusCode::NOT_FOUND);
        let resp = app.request(method, &carol).send().await;
        assert_eq!(resp.status, StatusCode::UNAUTHORIZED);
    }

    let erase = || app.delete(&carol).user("alice").send();
    assert_eq!(erase().await.status, StatusCode::NO_CONTENT);
    let resp = app.get(&carol).user("alice").send().await;
    assert_eq!(
        (resp.status, resp.detail().as_str()),
        (StatusCode::NOT_FOUND, "No memory is kept for this user")
    );
    assert_eq!(
        erase().await.status,
        StatusCode::NO_CONTENT,
        "erasing twice is fine"
    );
    let resp = app.get(&owner).user("alice").send().await;
    assert_eq!(
        resp.json()["summary"],
        "Alice tests.",
        "only Carol's was erased"
    );
}

agentgate_shared::router_answers_sample_events!(
    agentgate_assistants::router,
    "assistants",
    events = samples::EVENTS,
    check = samples::check
);
