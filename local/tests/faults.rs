//! The fault matrix: every public wire format (native SSE, OpenAI chat completions and the
//! Responses API streamed and not, the widget's UI message stream and its legacy dialect)
//! against an upstream that misbehaves in each way a real one can, in both provider
//! dialects. Every case must end in that format's own error shape within the deadline,
//! nothing may hang or panic, and a failed turn leaves nothing half-saved.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

use std::time::{Duration, Instant};

use agentgate_shared::domain::assistant::Assistant;
use agentgate_shared::domain::ids::ThreadId;
use agentgate_shared::domain::thread::ThreadKey;
use agentgate_shared::testing::{Behavior, MockUpstream, TestApp, TestResponse};
use serde_json::{Value, json};

const TOKEN: &str = "pubkey_fault_matrix_01";
/// The limits the matrix runs with (the product's are 60 s and 240 s).
const FIRST_TOKEN: Duration = Duration::from_secs(2);
const DEADLINE: Duration = Duration::from_secs(4);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Native,
    OpenAi,
    OpenAiStream,
    Responses,
    ResponsesStream,
    WidgetUi,
    WidgetLegacy,
}

const FORMATS: [Format; 7] = [
    Format::Native,
    Format::OpenAi,
    Format::OpenAiStream,
    Format::Responses,
    Format::ResponsesStream,
    Format::WidgetUi,
    Format::WidgetLegacy,
];

/// How a case ended, as its format says it.
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    /// The whole reply, with the usage it reported (OpenAI non-streamed only).
    Replied(String),
    /// The format's error, before or during the stream.
    Failed,
}

fn faults() -> Vec<(&'static str, Behavior)> {
    let hel = || vec!["Hel".to_owned()];
    vec![
        (
            "refuses with a large body",
            Behavior::RefuseLarge(500, 1 << 20),
        ),
        ("refuses 4xx", Behavior::RefuseLarge(400, 100)),
        ("resets mid-body", Behavior::ResetAfter(hel())),
        ("stalls before the first byte", Behavior::StallBeforeHead),
        ("stalls mid-stream", Behavior::StallAfter(hel())),
        ("sends malformed JSON", Behavior::MalformedAfter(hel())),
        ("sends comments forever", Behavior::EndlessComments),
    ]
}

async fn app(dialect: &str) -> (TestApp, Assistant) {
    let app = TestApp::tuned(agentgate_local::app, |s| {
        s.pacing.first_token = FIRST_TOKEN;
        s.pacing.deadline = DEADLINE;
        s.rate_per_minute = 10_000;
        s.widget_visitor_per_hour = 10_000;
        // Absurd reported usage must not end the matrix at the spend guard.
        s.daily_token_budget = u64::MAX;
    })
    .await;
    let model = format!("{dialect}:some-model");
    let a = app
        .assistant(
            "owner",
            json!({"type==agent/access_mode": "public_no_auth", "type==agent/public_token": TOKEN,
                   "type==agent/model": model}),
        )
        .await;
    (app, a)
}

fn upstream<'a>(app: &'a TestApp, dialect: &str) -> &'a MockUpstream {
    if dialect == "openai" {
        &app.openai
    } else {
        &app.anthropic
    }
}

/// Sends one message in `format`; `id` names the thread, end user or visitor.
async fn send(app: &TestApp, a: &Assistant, format: Format, id: &str) -> TestResponse {
    let hi = [json!({"role": "user", "content": "hi"})];
    let req = match format {
        Format::Native => app
            .post("/public/runs/stream")
            .json(&json!({"assistant_id": a.id, "thread_id": id, "input": hi})),
        Format::OpenAi | Format::OpenAiStream => app
            .post("/public/openai/v1/chat/completions")
            .bearer(TOKEN)
            .json(&json!({
                "model": "m", "messages": hi, "user": id, "stream": format == Format::OpenAiStream
            })),
        Format::Responses | Format::ResponsesStream => app
            .post("/public/openai/v1/responses")
            .bearer(TOKEN)
            .json(&json!({
                "model": "m", "input": "hi", "user": id, "stream": format == Format::ResponsesStream
            })),
        Format::WidgetUi | Format::WidgetLegacy => {
            let req = app
                .post("/v1/public/chat")
                .json(&json!({"botPublicId": a.id, "visitorId": id, "message": "hi"}));
            if format == Format::WidgetUi {
                req.header("x-widget-version", "2")
            } else {
                req
            }
        }
    };
    req.send().await
}

/// Reads a response in its format's own shapes, failing on anything else.
fn outcome(format: Format, resp: &TestResponse) -> Outcome {
    let text = &resp.text;
    if resp.status != 200 {
        assert!(
            [502, 503, 504].contains(&resp.status.as_u16()),
            "{format:?}: {} {text}",
            resp.status
        );
        let v = resp.json();
        let message = match format {
            Format::Native => v["detail"].as_str(),
            Format::OpenAi | Format::OpenAiStream => v["error"]["message"].as_str(),
            Format::Responses | Format::ResponsesStream => v["error"]["message"].as_str(),
            Format::WidgetUi | Format::WidgetLegacy => v["error"]["message"].as_str(),
        };
        let message = message.unwrap_or_else(|| panic!("{format:?}: no error message in {text}"));
        assert!(
            message.len() < 300 && !message.contains("xxxx"),
            "{message}"
        );
        return Outcome::Failed;
    }
    match format {
        Format::Native => {
            assert!(text.ends_with("event: end\ndata: {}\n\n"), "{text}");
            if text.contains("event: error\n") {
                return Outcome::Failed;
            }
            let last = resp
                .sse()
                .into_iter()
                .rev()
                .find(|e| e.event.as_deref() == Some("messages/partial"));
            Outcome::Replied(
                last.map(|e| e.json()[0]["content"].as_str().unwrap().to_owned())
                    .unwrap_or_default(),
            )
        }
        Format::OpenAi => {
            let v = resp.json();
            let usage = &v["usage"];
            assert!(
                usage["total_tokens"].as_u64().unwrap() <= u64::from(u32::MAX),
                "{v}"
            );
            Outcome::Replied(
                v["choices"][0]["message"]["content"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
            )
        }
        Format::OpenAiStream => {
            assert!(text.ends_with("data: [DONE]\n\n"), "{text}");
            let events = resp.sse();
            let chunks: Vec<Value> = events[..events.len() - 1]
                .iter()
                .map(|e| e.json())
                .collect();
            if chunks.iter().any(|c| c.get("error").is_some()) {
                return Outcome::Failed;
            }
            Outcome::Replied(
                chunks
                    .iter()
                    .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
                    .collect(),
            )
        }
        Format::Responses => {
            let v = resp.json();
            assert_eq!(v["object"], "response", "{v}");
            assert!(
                v["usage"]["total_tokens"].as_u64().unwrap() <= u64::from(u32::MAX),
                "{v}"
            );
            Outcome::Replied(
                v["output"][0]["content"][0]["text"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
            )
        }
        Format::ResponsesStream => {
            assert!(!text.contains("[DONE]"), "{text}");
            let events = resp.sse();
            let last = events.last().unwrap();
            if last.event.as_deref() == Some("response.failed") {
                let before = &events[events.len() - 2];
                assert_eq!(before.event.as_deref(), Some("error"), "{text}");
                assert!(before.json()["error"]["message"].is_string(), "{text}");
                return Outcome::Failed;
            }
            assert_eq!(last.event.as_deref(), Some("response.completed"), "{text}");
            Outcome::Replied(
                last.json()["response"]["output"][0]["content"][0]["text"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
            )
        }
        Format::WidgetUi => {
            let chunks = resp.ui_chunks();
            if chunks.iter().any(|c| c["type"] == "error") {
                assert!(chunks.iter().all(|c| c["type"] != "data-done"), "{text}");
                return Outcome::Failed;
            }
            Outcome::Replied(chunks.iter().filter_map(|c| c["delta"].as_str()).collect())
        }
        Format::WidgetLegacy => {
            let events = resp.sse();
            let refusal = agentgate_shared::stream::widget::LEGACY_REFUSAL;
            if events
                .last()
                .is_some_and(|e| e.event.as_deref() == Some("token") && e.json() == refusal)
            {
                return Outcome::Failed;
            }
            assert_eq!(
                events.last().unwrap().event.as_deref(),
                Some("done"),
                "{text}"
            );
            Outcome::Replied(
                events
                    .iter()
                    .filter(|e| e.event.as_deref() == Some("token"))
                    .map(|e| e.json().as_str().unwrap().to_owned())
                    .collect(),
            )
        }
    }
}

/// What a format stored under `id` (threads are looked up where each family keeps them).
async fn stored(app: &TestApp, a: &Assistant, format: Format, id: &str) -> usize {
    let key = match format {
        Format::Native => ThreadKey::public(&a.id, &ThreadId::parse(id).unwrap()),
        Format::OpenAi | Format::OpenAiStream | Format::Responses | Format::ResponsesStream => {
            ThreadKey::openai(&a.id, id)
        }
        // The widget mints its conversation ids; nothing under this visitor may exist.
        Format::WidgetUi | Format::WidgetLegacy => return 0,
    };
    app.messages(&key).await.len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_format_ends_every_upstream_fault_in_its_own_error_shape() {
    let mut cases = 0;
    for dialect in ["openai", "anthropic"] {
        for (fault, behavior) in faults() {
            let (app, a) = app(dialect).await;
            upstream(&app, dialect).set_behavior(behavior);
            let started = Instant::now();
            let runs = FORMATS.map(|format| {
                let (app, a) = (&app, &a);
                async move {
                    // A fresh UUID: the native endpoint would not continue a made-up id.
                    let id = uuid::Uuid::new_v4().to_string();
                    let resp = tokio::time::timeout(DEADLINE * 3, send(app, a, format, &id))
                        .await
                        .unwrap_or_else(|_| panic!("{dialect} {fault} {format:?}: hung"));
                    (format, id, resp)
                }
            });
            for (format, id, resp) in futures::future::join_all(runs).await {
                let what = format!("{dialect} / {fault} / {format:?}");
                assert_eq!(
                    outcome(format, &resp),
                    Outcome::Failed,
                    "{what}: {}",
                    resp.text
                );
                assert!(
                    !resp.text.contains("xxxxxxxx"),
                    "{what}: upstream text leaked"
                );
                assert_eq!(stored(&app, &a, format, &id).await, 0, "{what}: half-saved");
                cases += 1;
            }
            assert!(
                started.elapsed() < DEADLINE * 2,
                "{dialect} {fault}: {:?}",
                started.elapsed()
            );
        }
    }
    println!("fault matrix: {cases} cases, all ended in their format's error shape");
    assert_eq!(cases, 2 * 7 * FORMATS.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn absurd_token_counts_are_capped_not_wrapped() {
    for dialect in ["openai", "anthropic"] {
        let (app, a) = app(dialect).await;
        upstream(&app, dialect).set_behavior(Behavior::AbsurdUsage(vec!["Hi".into()]));
        for format in FORMATS {
            let id = uuid::Uuid::new_v4().to_string();
            let resp = send(&app, &a, format, &id).await;
            assert_eq!(
                outcome(format, &resp),
                Outcome::Replied("Hi".into()),
                "{dialect} {format:?}"
            );
        }
        let day = app.state.clock.now_secs().div_euclid(86_400);
        let usage = app.state.store.usage(&a.id, day, day).await.unwrap();
        let t = usage[0].totals;
        assert_eq!(t.requests, FORMATS.len() as u64);
        assert!(
            t.output_tokens <= FORMATS.len() as u64 * u64::from(u32::MAX),
            "{t:?}"
        );
    }
}
