//! Router tests (`oneshot`) for every status of the runs family.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

use agentgate_shared::domain::assistant::{Assistant, AssistantPatch, NOT_PUBLIC_DETAIL};
use agentgate_shared::domain::ids::{ThreadId, UserId};
use agentgate_shared::domain::thread::ThreadKey;
use agentgate_shared::provider::ProviderSettings;
use agentgate_shared::state::AppState;
use agentgate_shared::testing::{self, Behavior, MockUpstream};
use axum::body::Body;
use http::{Request, StatusCode};
use serde_json::{Value, json};

const TOKEN: &str = "pubkey_mybot_abc123";

async fn assistant(state: &AppState, owner: &str, configurable: Value) -> Assistant {
    let patch = AssistantPatch {
        name: Some("bot".into()),
        configurable: configurable.as_object().cloned().unwrap(),
    };
    let a = Assistant::create(UserId::parse(owner).unwrap(), &patch, 0).unwrap();
    state.store.create_assistant(&a).await.unwrap();
    a
}

async fn public_bot(state: &AppState) -> Assistant {
    assistant(
        state,
        "alice",
        json!({"type==agent/access_mode": "public_token", "type==agent/public_token": TOKEN}),
    )
    .await
}

fn post(path: &str, headers: &[(&str, &str)], body: impl Into<Body>) -> Request<Body> {
    let mut b = Request::post(path).header("content-type", "application/json");
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    b.body(body.into()).unwrap()
}

fn run_body(a: &Assistant, thread: &str, text: &str) -> String {
    json!({"assistant_id": a.id, "thread_id": thread, "input": [{"role": "human", "content": text}]}).to_string()
}

async fn send(state: &AppState, req: Request<Body>) -> (StatusCode, http::HeaderMap, String) {
    testing::app::call(agentgate_runs::router(state.clone()), req).await
}

fn detail(body: &str) -> String {
    serde_json::from_str::<Value>(body).unwrap()["detail"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// The `data` of every `messages/partial` event, as the AI message's content.
fn partials(sse: &str) -> Vec<String> {
    sse.split("\n\n")
        .filter_map(|ev| ev.strip_prefix("event: messages/partial\ndata: "))
        .map(|d| {
            serde_json::from_str::<Value>(d).unwrap()[0]["content"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect()
}

#[tokio::test]
async fn token_is_accepted_from_each_documented_place() {
    let dir = testing::tempdir();
    let state = testing::state(dir.path(), ProviderSettings::default());
    let a = public_bot(&state).await;
    let body = run_body(&a, "t1", "hello");
    let with_body_token =
        json!({"assistant_id": a.id, "input": [{"role": "user", "content": "hi"}], "token": TOKEN})
            .to_string();
    let bearer = format!("Bearer {TOKEN}");
    for req in [
        post(
            "/public/runs/stream",
            &[("authorization", &bearer)],
            body.clone(),
        ),
        post(
            "/public/runs/stream",
            &[("x-public-bot-token", TOKEN)],
            body.clone(),
        ),
        post("/public/runs/stream", &[], with_body_token),
    ] {
        let (status, headers, sse) = send(&state, req).await;
        assert_eq!(status, StatusCode::OK, "{sse}");
        assert!(
            headers["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/event-stream")
        );
        assert_eq!(headers["x-accel-buffering"], "no");
        assert!(sse.starts_with("event: metadata\ndata: {\"run_id\":"));
        assert!(sse.ends_with("event: end\ndata: {}\n\n"));
        let p = partials(&sse);
        assert!(p.len() > 2);
        assert!(
            p.windows(2)
                .all(|w| w[1].starts_with(&w[0]) && w[1].len() > w[0].len())
        );
    }
}

#[tokio::test]
async fn bearer_wins_over_a_correct_header_token() {
    let dir = testing::tempdir();
    let state = testing::state(dir.path(), ProviderSettings::default());
    let a = public_bot(&state).await;
    let req = post(
        "/public/runs/stream",
        &[
            ("authorization", "Bearer pubkey_wrong_token_0000"),
            ("x-public-bot-token", TOKEN),
        ],
        run_body(&a, "t", "x"),
    );
    let (status, _, body) = send(&state, req).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
}

#[tokio::test]
async fn every_refusal_has_its_own_status_and_detail() {
    let dir = testing::tempdir();
    let state = testing::state(dir.path(), ProviderSettings::default());
    let a = public_bot(&state).await;
    let private = assistant(&state, "alice", json!({})).await;
    let unknown = uuid::Uuid::new_v4().to_string();
    let big = "x".repeat(300 * 1024);
    let cases: Vec<(Request<Body>, StatusCode, &str)> = vec![
        (
            post("/public/runs/stream", &[], run_body(&a, "t", "x")),
            StatusCode::UNAUTHORIZED,
            "needs a public token",
        ),
        (
            post(
                "/public/runs/stream",
                &[("x-public-bot-token", "pubkey_wrong_token_0000")],
                run_body(&a, "t", "x"),
            ),
            StatusCode::FORBIDDEN,
            "not valid",
        ),
        (
            post(
                "/public/runs/stream",
                &[("x-public-bot-token", TOKEN)],
                run_body(&private, "t", "x"),
            ),
            StatusCode::FORBIDDEN,
            NOT_PUBLIC_DETAIL,
        ),
        (
            post(
                "/public/runs/stream",
                &[],
                json!({"assistant_id": unknown, "input": [{"role": "human", "content": "x"}]})
                    .to_string(),
            ),
            StatusCode::NOT_FOUND,
            "Assistant not found",
        ),
        (
            post("/public/runs/stream", &[], "not json"),
            StatusCode::BAD_REQUEST,
            "not valid JSON",
        ),
        (
            post("/public/runs/stream", &[], ""),
            StatusCode::BAD_REQUEST,
            "empty",
        ),
        (
            post("/public/runs/stream", &[], "[1,2]"),
            StatusCode::BAD_REQUEST,
            "JSON object",
        ),
        (
            post("/public/runs/stream", &[], json!({"input": []}).to_string()),
            StatusCode::UNPROCESSABLE_ENTITY,
            "assistant_id is required",
        ),
        (
            post(
                "/public/runs/stream",
                &[],
                json!({"assistant_id": a.id, "input": "hi"}).to_string(),
            ),
            StatusCode::UNPROCESSABLE_ENTITY,
            "input must be",
        ),
        (
            post(
                "/public/runs/stream",
                &[],
                json!({"assistant_id": a.id, "input": []}).to_string(),
            ),
            StatusCode::UNPROCESSABLE_ENTITY,
            "at least one",
        ),
        (
            post(
                "/public/runs/stream",
                &[],
                json!({"assistant_id": a.id, "input": [{"role": "wizard", "content": "x"}]})
                    .to_string(),
            ),
            StatusCode::UNPROCESSABLE_ENTITY,
            "input[0].role",
        ),
        (
            post(
                "/public/runs/stream",
                &[],
                json!({"assistant_id": a.id, "input": [{"role": "human", "content": big}]})
                    .to_string(),
            ),
            StatusCode::PAYLOAD_TOO_LARGE,
            "larger than",
        ),
        (
            post("/runs/stream", &[], run_body(&a, "t", "x")),
            StatusCode::UNAUTHORIZED,
            "user JWT",
        ),
        (
            post(
                "/runs/stream",
                &[("authorization", "Bearer not.a.jwt")],
                run_body(&a, "t", "x"),
            ),
            StatusCode::UNAUTHORIZED,
            "user JWT",
        ),
    ];
    for (req, want, needle) in cases {
        let path = req.uri().path().to_owned();
        let (status, _, body) = send(&state, req).await;
        assert_eq!(status, want, "{path}: {body}");
        let d = detail(&body);
        assert!(d.contains(needle), "{d:?} should contain {needle:?}");
    }
    // Nothing was stored by any of the rejected requests.
    let key = ThreadKey::public(&a.id, &ThreadId::parse("t").unwrap());
    assert!(
        state
            .store
            .recent_messages(&key, 10)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn public_no_auth_needs_no_token_and_unknown_fields_are_ignored() {
    let dir = testing::tempdir();
    let state = testing::state(dir.path(), ProviderSettings::default());
    let open = assistant(
        &state,
        "bob",
        json!({"type==agent/access_mode": "public_no_auth"}),
    )
    .await;
    let body = json!({"assistant_id": open.id, "input": {"messages": [{"role": "human", "content": "hi"}]}, "surprise": true});
    let (status, _, sse) = send(&state, post("/public/runs/stream", &[], body.to_string())).await;
    assert_eq!(status, StatusCode::OK);
    assert!(partials(&sse).last().unwrap().contains("You said: hi"));
}

#[tokio::test]
async fn owner_runs_need_the_owner() {
    let dir = testing::tempdir();
    let state = testing::state(dir.path(), ProviderSettings::default());
    let a = assistant(&state, "alice", json!({})).await;
    let mallory = format!("Bearer {}", testing::jwt(&state, "mallory"));
    let (status, _, _) = send(
        &state,
        post(
            "/runs/stream",
            &[("authorization", &mallory)],
            run_body(&a, "t", "x"),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let alice = format!("Bearer {}", testing::jwt(&state, "alice"));
    let (status, _, sse) = send(
        &state,
        post(
            "/runs/stream",
            &[("authorization", &alice)],
            run_body(&a, "t", "x"),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(sse.ends_with("event: end\ndata: {}\n\n"));
    // The owner's thread "t" is not the public thread "t".
    let public = ThreadKey::public(&a.id, &ThreadId::parse("t").unwrap());
    let owner = ThreadKey::owner(
        &a.id,
        &UserId::parse("alice").unwrap(),
        &ThreadId::parse("t").unwrap(),
    );
    assert!(
        state
            .store
            .recent_messages(&public, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        state.store.recent_messages(&owner, 10).await.unwrap().len(),
        2
    );
}

#[tokio::test]
async fn unconfigured_and_failing_providers_are_clear_errors() {
    let dir = testing::tempdir();
    let state = testing::state(dir.path(), ProviderSettings::default());
    let a = assistant(&state, "alice", json!({"type==agent/access_mode": "public_no_auth", "type==agent/model": "openai:gpt-4o-mini"})).await;
    let (status, _, body) = send(
        &state,
        post("/public/runs/stream", &[], run_body(&a, "t", "x")),
    )
    .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(detail(&body).contains("openai provider is not configured"));

    let mock = MockUpstream::openai(Behavior::Fail(401, "Incorrect API key provided".into())).await;
    let dir = testing::tempdir();
    let state = testing::state(dir.path(), testing::mock_providers(Some(&mock), None));
    let a = assistant(&state, "alice", json!({"type==agent/access_mode": "public_no_auth", "type==agent/model": "openai:gpt-4o-mini"})).await;
    let (status, _, body) = send(
        &state,
        post("/public/runs/stream", &[], run_body(&a, "t", "x")),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_GATEWAY);
    assert!(detail(&body).contains("Incorrect API key"));
}

#[tokio::test]
async fn a_mid_stream_failure_ends_with_error_then_end_and_saves_nothing() {
    let mock = MockUpstream::openai(Behavior::BreakAfter(vec!["Hel".into(), "lo".into()])).await;
    let dir = testing::tempdir();
    let state = testing::state(dir.path(), testing::mock_providers(Some(&mock), None));
    let a = assistant(&state, "alice", json!({"type==agent/access_mode": "public_no_auth", "type==agent/model": "openai:gpt-4o-mini"})).await;
    let (status, _, sse) = send(
        &state,
        post("/public/runs/stream", &[], run_body(&a, "t", "x")),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(partials(&sse), vec!["Hel", "Hello"]);
    assert!(sse.contains("event: error\ndata: "), "{sse}");
    assert!(sse.ends_with("event: end\ndata: {}\n\n"));
    let key = ThreadKey::public(&a.id, &ThreadId::parse("t").unwrap());
    assert!(
        state
            .store
            .recent_messages(&key, 10)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn threads_are_scoped_to_their_assistant() {
    let dir = testing::tempdir();
    let state = testing::state(dir.path(), ProviderSettings::default());
    let one = assistant(
        &state,
        "alice",
        json!({"type==agent/access_mode": "public_no_auth"}),
    )
    .await;
    let two = assistant(
        &state,
        "bob",
        json!({"type==agent/access_mode": "public_no_auth"}),
    )
    .await;
    send(
        &state,
        post(
            "/public/runs/stream",
            &[],
            run_body(&one, "shared-id", "secret of one"),
        ),
    )
    .await;
    let (_, _, sse) = send(
        &state,
        post(
            "/public/runs/stream",
            &[],
            run_body(&two, "shared-id", "hi"),
        ),
    )
    .await;
    // The echo model counts the human turns it was sent: bob's assistant saw only one.
    assert!(partials(&sse).last().unwrap().contains("message 1 of"));
    let key = ThreadKey::public(&two.id, &ThreadId::parse("shared-id").unwrap());
    let stored = state.store.recent_messages(&key, 10).await.unwrap();
    assert!(
        stored
            .iter()
            .all(|m| !m.message.content.contains("secret of one"))
    );
}

#[tokio::test]
async fn a_missing_thread_id_is_minted_and_returned() {
    let dir = testing::tempdir();
    let state = testing::state(dir.path(), ProviderSettings::default());
    let open = assistant(
        &state,
        "bob",
        json!({"type==agent/access_mode": "public_no_auth"}),
    )
    .await;
    let body = json!({"assistant_id": open.id, "input": [{"role": "human", "content": "hi"}]});
    let (_, _, sse) = send(&state, post("/public/runs/stream", &[], body.to_string())).await;
    let meta: Value = serde_json::from_str(
        sse.split("\n\n")
            .next()
            .unwrap()
            .strip_prefix("event: metadata\ndata: ")
            .unwrap(),
    )
    .unwrap();
    let thread = meta["thread_id"].as_str().unwrap();
    assert!(uuid::Uuid::parse_str(thread).is_ok());
    let key = ThreadKey::public(&open.id, &ThreadId::parse(thread).unwrap());
    assert_eq!(
        state.store.recent_messages(&key, 10).await.unwrap().len(),
        2
    );
}

#[tokio::test]
async fn public_runs_are_limited_per_source_ip_not_per_forwarded_header() {
    let dir = testing::tempdir();
    let state = testing::state_tuned(dir.path(), ProviderSettings::default(), |settings| {
        settings.rate_per_minute = 2;
    });
    let open = assistant(
        &state,
        "bob",
        json!({"type==agent/access_mode": "public_no_auth"}),
    )
    .await;
    let from = |ip: [u8; 4], spoof: &str| {
        let mut req = post(
            "/public/runs/stream",
            &[("x-forwarded-for", spoof)],
            run_body(&open, "t", "hi"),
        );
        req.extensions_mut()
            .insert(axum::extract::ConnectInfo(std::net::SocketAddr::from((
                ip, 4000,
            ))));
        req
    };
    assert_eq!(
        send(&state, from([10, 0, 0, 1], "1.1.1.1")).await.0,
        StatusCode::OK
    );
    assert_eq!(
        send(&state, from([10, 0, 0, 1], "2.2.2.2")).await.0,
        StatusCode::OK
    );
    let (status, headers, body) = send(&state, from([10, 0, 0, 1], "3.3.3.3")).await;
    assert_eq!(
        status,
        StatusCode::TOO_MANY_REQUESTS,
        "a new X-Forwarded-For does not reset the limit"
    );
    assert!(
        headers["retry-after"]
            .to_str()
            .unwrap()
            .parse::<u64>()
            .unwrap()
            >= 1
    );
    assert!(detail(&body).contains("Too many requests"));
    assert_eq!(
        send(&state, from([10, 0, 0, 2], "3.3.3.3")).await.0,
        StatusCode::OK,
        "another address is not limited"
    );
}

#[tokio::test]
async fn an_owner_run_carries_the_owners_memory_and_a_public_run_none() {
    use agentgate_shared::domain::memory::MemoryKey;
    let mock = MockUpstream::openai(Behavior::Reply(vec!["Ok".into()])).await;
    let dir = testing::tempdir();
    let state = testing::state(dir.path(), testing::mock_providers(Some(&mock), None));
    let a = assistant(
        &state,
        "alice",
        json!({"type==agent/access_mode": "public_token", "type==agent/public_token": TOKEN,
               "type==agent/model": "openai:gpt-4o-mini", "type==agent/memory": true}),
    )
    .await;
    let key = MemoryKey::owner(&a.id, &UserId::parse("alice").unwrap());
    let read = state.store.add_pending(&key, 5).await.unwrap();
    state
        .store
        .save_summary(&key, &read, "Alice is vegetarian.")
        .await
        .unwrap();

    let jwt = testing::jwt(&state, "alice");
    let auth = format!("Bearer {jwt}");
    let (status, _, _) = send(
        &state,
        post(
            "/runs/stream",
            &[("authorization", auth.as_str())],
            run_body(&a, "t1", "Dinner ideas?"),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let system = mock.seen()[0].body["messages"][0].clone();
    assert_eq!(system["role"], "system");
    assert!(
        system["content"]
            .as_str()
            .unwrap()
            .ends_with("\nAlice is vegetarian."),
        "{system}"
    );

    let (status, _, _) = send(
        &state,
        post(
            "/public/runs/stream",
            &[("x-public-bot-token", TOKEN)],
            run_body(&a, "t2", "hi"),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(mock.seen()[1].body["messages"][0]["role"], "user");

    // The owner's turn was counted towards the next summary (in process, in the background);
    // the public one was not.
    let mut pending = 0;
    for _ in 0..100 {
        pending = state.store.memory(&key).await.unwrap().unwrap().pending;
        if pending == 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(pending, 2);
}

/// Every sample event in `events/runs/` goes through the router as Lambda would
/// deliver it.
#[tokio::test]
async fn every_sample_event_is_handled() {
    let app = agentgate_shared::testing::TestApp::new(agentgate_runs::router).await;
    agentgate_shared::testing::seed_sample_assistant(&app.state).await;
    let replies = app.replay("runs").await;
    assert_eq!(replies.len(), 2, "a new event needs an expectation here");
    for (name, resp) in replies {
        assert_eq!(resp.status, 200, "{name}");
        assert!(
            resp.text.starts_with("event: metadata"),
            "{name}: {}",
            resp.text
        );
        assert!(
            resp.text.ends_with("event: end\ndata: {}\n\n"),
            "{name}: {}",
            resp.text
        );
    }
}
