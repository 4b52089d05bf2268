//! DynamoDB round trips per public turn, counted by a recording proxy in front of DynamoDB
//! Local: on AWS each sequential call before the model call is a network round trip added
//! to the time to first token, so the counts are pinned here and a regression fails.
//!
//! Each family's turn is measured on an existing conversation with warm caches (the second
//! turn of the same caller), which is the common case on a warm Lambda instance.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod common;

use std::time::Duration;

use agentgate_shared::config::Settings;
use agentgate_shared::testing::recorder::{DynamoRecorder, RoundTrips, round_trips};
use agentgate_shared::testing::{self, Behavior, MockUpstream};
use serde_json::json;

const TOKEN: &str = "pubkey_roundtrip_0123456789";

struct Bench {
    base: String,
    jwt: String,
    mock: MockUpstream,
    recorder: DynamoRecorder,
    token_assistant: String,
    widget_assistant: String,
}

async fn bench() -> Bench {
    let mock = MockUpstream::openai(Behavior::Reply(vec!["Counted ".into(), "reply".into()])).await;
    mock.set_delay(Duration::ZERO);
    let providers = testing::mock_providers(Some(&mock), None);
    let (state, recorder) = testing::dynamo_state_recorded(providers, Settings::default()).await;
    let jwt = testing::jwt(&state, "owner");
    let base = format!("http://{}", common::serve(state).await.0);
    let token_assistant = common::create_assistant(
        &base,
        &jwt,
        "counted",
        json!({"type==agent/model": "openai:gpt-4o-mini", "type==agent/access_mode": "public_token",
               "type==agent/public_token": TOKEN}),
    )
    .await;
    let widget_assistant = common::create_assistant(
        &base,
        &jwt,
        "counted-widget",
        json!({"type==agent/model": "openai:gpt-4o-mini", "type==agent/access_mode": "public_no_auth"}),
    )
    .await;
    Bench {
        base,
        jwt,
        mock,
        recorder,
        token_assistant,
        widget_assistant,
    }
}

/// Sends `req`, reads the whole body, waits for the writes after the reply, and counts
/// the calls since the last [`DynamoRecorder::clear`] against the model call.
async fn counted(b: &Bench, req: reqwest::RequestBuilder) -> (RoundTrips, String) {
    let resp = req.send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let body = resp.text().await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let upstream = b.mock.seen().last().unwrap().at;
    (round_trips(&b.recorder.calls(), upstream), body)
}

/// The first turn creates the conversation and warms the caches; the second is counted.
async fn second_turn(
    b: &Bench,
    req: impl Fn(Option<&str>) -> reqwest::RequestBuilder,
) -> RoundTrips {
    let (_, first) = counted(b, req(None)).await;
    let conversation = first
        .split("\"conversationId\":\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .map(str::to_owned);
    b.recorder.clear();
    counted(b, req(conversation.as_deref())).await.0
}

#[tokio::test]
async fn public_turns_wait_for_few_store_round_trips() {
    let b = bench().await;
    let http = reqwest::Client::new();
    let hi = json!([{"role": "user", "content": "hi"}]);
    let mut report: Vec<(&str, RoundTrips)> = Vec::new();

    report.push((
        "runs",
        second_turn(&b, |_| {
            http.post(format!("{}/public/runs/stream", b.base))
                .header("x-public-bot-token", TOKEN)
                .json(
                    &json!({"assistant_id": b.token_assistant, "thread_id": "counted-thread",
                              "input": [{"role": "human", "content": "hi"}]}),
                )
        })
        .await,
    ));
    for stream in [true, false] {
        report.push((
            if stream { "openai (stream)" } else { "openai" },
            second_turn(&b, |_| {
                http.post(format!("{}/public/openai/v1/chat/completions", b.base))
                    .bearer_auth(TOKEN)
                    .json(
                        &json!({"model": b.token_assistant, "messages": hi, "stream": stream,
                                  "user": "counted-user"}),
                    )
            })
            .await,
        ));
    }
    report.push((
        "widget",
        second_turn(&b, |conversation| {
            http.post(format!("{}/v1/public/chat", b.base))
                .header("x-widget-version", "2")
                .json(
                    &json!({"botPublicId": b.widget_assistant, "visitorId": "counted-visitor",
                              "conversationId": conversation, "message": "hi"}),
                )
        })
        .await,
    ));

    // A public link's session, chatting in the conversation the session opened.
    let url = format!("{}/api/agents/{}/public-links", b.base, b.widget_assistant);
    let link = common::answer(http.post(url).bearer_auth(&b.jwt).json(&json!({}))).await;
    let token = link["token"].as_str().unwrap().to_owned();
    let url = format!("{}/api/public/sessions/{token}", b.base);
    let session = common::answer(http.post(url)).await;
    let session = session["session_token"].as_str().unwrap().to_owned();
    // The chat page names its conversation on every turn, as the widget does.
    report.push((
        "links",
        second_turn(&b, |conversation| {
            http.post(format!("{}/api/public/chat/{token}", b.base))
                .bearer_auth(&session)
                .json(&json!({"message": "hi", "conversation_id": conversation}))
        })
        .await,
    ));

    println!(
        "| family | sequential before the model call | calls before it | calls in all | operations |"
    );
    println!("|---|---|---|---|---|");
    for (family, r) in &report {
        println!(
            "| {family} | {} | {} | {} | {} |",
            r.sequential_before,
            r.before,
            r.total,
            r.ops.join(", ")
        );
    }
    // (family, sequential round trips before the model call, calls in all). Before: the
    // assistant, the token, the guess counter and each cap were read one after another
    // (runs 5, openai 7, widget 8 in sequence). Now: the guess counter beside the token
    // (both cached after the first turn: assistant and token), then the caps, the budget,
    // the history and the memory at once; after the reply, the transcript (before the
    // final frame) and usage (after the last byte).
    let pinned: Vec<(&str, usize, usize)> = report
        .iter()
        .map(|(f, r)| (*f, r.sequential_before, r.total))
        .collect();
    assert_eq!(
        pinned,
        vec![
            ("runs", 2, 8),
            ("openai (stream)", 2, 8),
            ("openai", 2, 8),
            ("widget", 2, 10),
            // The session and the guess counter at once (the link is cached like the
            // assistant); then the caps, the session's conversations and the named
            // conversation's history, budget and memory at once (was eight, then four).
            ("links", 2, 11),
        ]
    );
    // A warm instance reads neither the assistant nor the token again (the links family
    // reads its session and conversations by design).
    for (family, r) in report.iter().filter(|(f, _)| *f != "links") {
        let gets = r.ops.iter().filter(|op| op.as_str() == "GetItem").count();
        assert!(gets <= 1, "{family}: {:?}", r.ops);
    }
}
