//! Router tests (`oneshot`) for the owner API.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

use agentgate_shared::domain::token::PublicToken;
use agentgate_shared::provider::ProviderSettings;
use agentgate_shared::state::AppState;
use agentgate_shared::testing;
use axum::body::Body;
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

fn req(method: &str, path: &str, jwt: Option<&str>, body: Option<Value>) -> Request<Body> {
    let mut b = Request::builder()
        .method(method)
        .uri(path)
        .header("content-type", "application/json");
    if let Some(j) = jwt {
        b = b.header("authorization", format!("Bearer {j}"));
    }
    b.body(body.map_or_else(Body::empty, |v| Body::from(v.to_string())))
        .unwrap()
}

async fn call(state: &AppState, r: Request<Body>) -> (StatusCode, Value) {
    let resp = agentgate_assistants::router(state.clone())
        .oneshot(r)
        .await
        .unwrap();
    let status = resp.status();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

fn setup() -> (tempfile::TempDir, AppState) {
    let dir = testing::tempdir();
    let state = testing::state(dir.path(), ProviderSettings::default());
    (dir, state)
}

#[tokio::test]
async fn create_read_list_patch_round_trip() {
    let (_d, state) = setup();
    let alice = testing::jwt(&state, "alice");
    let (status, created) = call(&state, req("POST", "/assistants", Some(&alice), Some(json!({
        "name": "Support bot",
        "config": {"configurable": {"type==agent/system_message": "Be brief.", "type==agent/model": "echo", "custom": 1}}
    })))).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["assistant_id"].as_str().unwrap().to_owned();
    assert_eq!(created["access_mode"], "authenticated");
    assert_eq!(created["config"]["configurable"]["custom"], 1);

    let (status, patched) = call(&state, req("PATCH", &format!("/assistants/{id}"), Some(&alice), Some(json!({
        "config": {"configurable": {"type==agent/access_mode": "public_token", "type==agent/public_token": "pubkey_mybot_abc123"}}
    })))).await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    assert_eq!(patched["access_mode"], "public_token");
    let conf = &patched["config"]["configurable"];
    assert_eq!(conf["type==agent/public_token"], "pubkey...c123");
    assert_eq!(
        conf["type==agent/system_message"], "Be brief.",
        "patch merges, it does not replace"
    );

    let (status, read) = call(
        &state,
        req("GET", &format!("/assistants/{id}"), Some(&alice), None),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(read, patched);
    let (status, list) = call(&state, req("GET", "/assistants", Some(&alice), None)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert!(!list.to_string().contains("pubkey_mybot_abc123"));
}

#[tokio::test]
async fn only_the_owner_sees_or_changes_an_assistant() {
    let (_d, state) = setup();
    let alice = testing::jwt(&state, "alice");
    let mallory = testing::jwt(&state, "mallory");
    let (_, created) = call(
        &state,
        req(
            "POST",
            "/assistants",
            Some(&alice),
            Some(json!({"name": "a"})),
        ),
    )
    .await;
    let path = format!("/assistants/{}", created["assistant_id"].as_str().unwrap());
    assert_eq!(
        call(&state, req("GET", &path, Some(&mallory), None))
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    let (status, _) = call(
        &state,
        req(
            "PATCH",
            &path,
            Some(&mallory),
            Some(json!({"name": "pwned"})),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, list) = call(&state, req("GET", "/assistants", Some(&mallory), None)).await;
    assert_eq!(list, json!([]));
    let (_, still) = call(&state, req("GET", &path, Some(&alice), None)).await;
    assert_eq!(still["name"], "a");
    assert_eq!(
        call(&state, req("GET", &path, None, None)).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        call(
            &state,
            req("GET", "/assistants/not-a-uuid", Some(&alice), None)
        )
        .await
        .0,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn bad_input_is_refused_and_changes_nothing() {
    let (_d, state) = setup();
    let alice = testing::jwt(&state, "alice");
    let (_, created) = call(
        &state,
        req(
            "POST",
            "/assistants",
            Some(&alice),
            Some(json!({"name": "a"})),
        ),
    )
    .await;
    let path = format!("/assistants/{}", created["assistant_id"].as_str().unwrap());
    let cases = [
        (
            json!({"config": {"configurable": {"type==agent/access_mode": "everyone"}}}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "access_mode",
        ),
        (
            json!({"config": {"configurable": {"type==agent/access_mode": "public_token"}}}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "public_token",
        ),
        (
            json!({"config": {"configurable": {"type==agent/model": "nope"}}}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "type==agent/model",
        ),
        (
            json!({"config": {"configurable": {"type==agent/public_token": "short"}}}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "at least 16",
        ),
        (
            json!({"config": "x"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "config must be an object",
        ),
        (
            json!({"name": 3}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "name must be a string",
        ),
        (
            json!({"name": ""}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "name must be",
        ),
    ];
    for (body, want, needle) in cases {
        let (status, err) = call(
            &state,
            req("PATCH", &path, Some(&alice), Some(body.clone())),
        )
        .await;
        assert_eq!(status, want, "{body}");
        assert!(err["detail"].as_str().unwrap().contains(needle), "{err}");
    }
    let (status, err) = call(
        &state,
        req(
            "POST",
            "/assistants",
            Some(&alice),
            Some(json!({"config": {}})),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(err["detail"], "name is required");
    let raw = Request::post("/assistants")
        .header("authorization", format!("Bearer {alice}"))
        .body(Body::from("{"))
        .unwrap();
    assert_eq!(call(&state, raw).await.0, StatusCode::BAD_REQUEST);
    let (_, after) = call(&state, req("GET", &path, Some(&alice), None)).await;
    assert_eq!(
        after, created,
        "rejected patches left the assistant unchanged"
    );
}

#[tokio::test]
async fn rotation_returns_a_minted_token_once_and_keeps_the_old_one_for_the_overlap() {
    let (_d, state) = setup();
    let alice = testing::jwt(&state, "alice");
    let (_, created) = call(&state, req("POST", "/assistants", Some(&alice), Some(json!({
        "name": "a", "config": {"configurable": {"type==agent/access_mode": "public_token", "type==agent/public_token": "pubkey_mybot_abc123"}}
    })))).await;
    let id = created["assistant_id"].as_str().unwrap().to_owned();
    let (status, rotated) = call(
        &state,
        req(
            "POST",
            &format!("/assistants/{id}/public-token"),
            Some(&alice),
            Some(json!({"overlap_seconds": 600})),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{rotated}");
    let token = rotated["public_token"].as_str().unwrap();
    assert!(PublicToken::parse_presented(token).is_ok() && token.starts_with("agp_"));
    assert!(rotated["assistant"]["public_token_overlap_until"].is_string());
    let (_, read) = call(
        &state,
        req("GET", &format!("/assistants/{id}"), Some(&alice), None),
    )
    .await;
    assert!(!read.to_string().contains(token));

    let stored = state
        .store
        .get_assistant(&agentgate_shared::domain::ids::AssistantId::parse(&id).unwrap())
        .await
        .unwrap()
        .unwrap();
    let now = state.clock.now_secs();
    assert!(stored.accepts(&PublicToken::parse_presented(token).unwrap(), now));
    assert!(stored.accepts(
        &PublicToken::parse_presented("pubkey_mybot_abc123").unwrap(),
        now
    ));
    let by_token = state
        .store
        .find_assistant_by_token(&PublicToken::parse_presented(token).unwrap().digest())
        .await
        .unwrap();
    assert_eq!(by_token.unwrap().as_str(), id);

    let (status, _) = call(
        &state,
        req(
            "POST",
            &format!("/assistants/{id}/public-token"),
            Some(&alice),
            Some(json!({"overlap_seconds": -5})),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn a_token_cannot_open_two_assistants() {
    let (_d, state) = setup();
    let alice = testing::jwt(&state, "alice");
    let bob = testing::jwt(&state, "bob");
    let body = json!({"name": "a", "config": {"configurable": {"type==agent/public_token": "pubkey_shared_token_1"}}});
    assert_eq!(
        call(
            &state,
            req("POST", "/assistants", Some(&alice), Some(body.clone()))
        )
        .await
        .0,
        StatusCode::CREATED
    );
    let (status, err) = call(&state, req("POST", "/assistants", Some(&bob), Some(body))).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(err["detail"].as_str().unwrap().contains("already used"));
    let (_, list) = call(&state, req("GET", "/assistants", Some(&bob), None)).await;
    assert_eq!(list, json!([]), "the refused create left nothing behind");
}

#[tokio::test]
async fn owners_read_their_assistants_usage() {
    let (_d, state) = setup();
    let alice = testing::jwt(&state, "alice");
    let (_, created) = call(&state, req("POST", "/assistants", Some(&alice), Some(json!({
        "name": "a", "config": {"configurable": {"type==agent/access_mode": "public_no_auth"}}
    })))).await;
    let id = created["assistant_id"].as_str().unwrap().to_owned();
    // Two public turns through the runs family, sharing the store.
    for text in ["one", "two"] {
        let run = Request::post("/public/runs/stream")
            .header("content-type", "application/json")
            .body(Body::from(
                json!({"assistant_id": id, "input": [{"role": "human", "content": text}]})
                    .to_string(),
            ))
            .unwrap();
        let resp = agentgate_runs::router(state.clone())
            .oneshot(run)
            .await
            .unwrap();
        resp.into_body().collect().await.unwrap();
    }
    let (status, usage) = call(
        &state,
        req(
            "GET",
            &format!("/assistants/{id}/usage?days=7"),
            Some(&alice),
            None,
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{usage}");
    assert_eq!(usage["days"], 7);
    assert_eq!(usage["totals"]["requests"], 2);
    assert_eq!(usage["totals"]["messages"], 4);
    assert!(usage["totals"]["output_tokens"].as_u64().unwrap() > 0);
    assert_eq!(usage["daily"].as_array().unwrap().len(), 1);
    assert_eq!(usage["daily"][0]["date"].as_str().unwrap().len(), 10);

    let mallory = testing::jwt(&state, "mallory");
    assert_eq!(
        call(
            &state,
            req(
                "GET",
                &format!("/assistants/{id}/usage"),
                Some(&mallory),
                None
            )
        )
        .await
        .0,
        StatusCode::NOT_FOUND
    );
    let (status, err) = call(
        &state,
        req(
            "GET",
            &format!("/assistants/{id}/usage?days=1000"),
            Some(&alice),
            None,
        ),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(err["detail"].as_str().unwrap().contains("days"));
}

#[tokio::test]
async fn owners_read_and_erase_what_their_assistant_remembers() {
    use agentgate_shared::domain::ids::{AssistantId, UserId};
    use agentgate_shared::domain::memory::MemoryKey;
    let (_d, state) = setup();
    let alice = testing::jwt(&state, "alice");
    let (_, created) = call(
        &state,
        req(
            "POST",
            "/assistants",
            Some(&alice),
            Some(json!({"name": "m", "config": {"configurable": {"type==agent/memory": true}}})),
        ),
    )
    .await;
    let id = created["assistant_id"].as_str().unwrap().to_owned();
    let aid = AssistantId::parse(&id).unwrap();
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
        let read = state.store.add_pending(&key, 5).await.unwrap();
        state.store.save_summary(&key, &read, text).await.unwrap();
    }
    let carol = format!("/assistants/{id}/memories/end-users/carol%40example.com");

    let (status, body) = call(&state, req("GET", &carol, Some(&alice), None)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["summary"], "Carol hikes.");
    assert_eq!(
        body["user"],
        json!({"kind": "end_user", "id": "carol@example.com"})
    );
    assert_eq!(body["pending_messages"], 0);
    assert!(body["updated_at"].as_str().unwrap().ends_with('Z'));
    let (status, body) = call(
        &state,
        req(
            "GET",
            &format!("/assistants/{id}/memories/owner"),
            Some(&alice),
            None,
        ),
    )
    .await;
    assert_eq!(
        (status, body["summary"].as_str()),
        (StatusCode::OK, Some("Alice tests."))
    );

    // Nobody else can read or erase it.
    let mallory = testing::jwt(&state, "mallory");
    for method in ["GET", "DELETE"] {
        let (status, _) = call(&state, req(method, &carol, Some(&mallory), None)).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (status, _) = call(&state, req(method, &carol, None, None)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }

    let (status, _) = call(&state, req("DELETE", &carol, Some(&alice), None)).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = call(&state, req("GET", &carol, Some(&alice), None)).await;
    assert_eq!(
        (status, body["detail"].as_str()),
        (
            StatusCode::NOT_FOUND,
            Some("No memory is kept for this user")
        )
    );
    let (status, _) = call(&state, req("DELETE", &carol, Some(&alice), None)).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "erasing twice is fine");
    let (status, body) = call(
        &state,
        req(
            "GET",
            &format!("/assistants/{id}/memories/owner"),
            Some(&alice),
            None,
        ),
    )
    .await;
    assert_eq!(
        (status, body["summary"].as_str()),
        (StatusCode::OK, Some("Alice tests.")),
        "only Carol's was erased"
    );
}

/// Every sample event in `events/assistants/` goes through the router as Lambda would
/// deliver it.
#[tokio::test]
async fn every_sample_event_is_handled() {
    let app = agentgate_shared::testing::TestApp::new(agentgate_assistants::router).await;
    agentgate_shared::testing::seed_sample_assistant(&app.state).await;
    agentgate_shared::testing::seed_sample_memory(&app.state).await;
    let replies = app.replay("assistants").await;
    assert_eq!(replies.len(), 8, "a new event needs an expectation here");
    for (name, resp) in replies {
        let want = match name.as_str() {
            "create.json" => 201,
            "get.json"
            | "list.json"
            | "patch.json"
            | "rotate-token.json"
            | "usage.json"
            | "end-user-memory.json" => 200,
            "forget-end-user-memory.json" => 204,
            other => panic!("no expectation for events/assistants/{other}"),
        };
        assert_eq!(resp.status, want, "{name}: {}", resp.text);
    }
}
