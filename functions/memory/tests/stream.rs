//! The deployed path on local stand-ins: owner turns through the runs router on DynamoDB
//! Local, the table's real stream read back through DynamoDB Local's Streams API, and the
//! whole stream (messages, thread meta, counters, usage, the assistant) handed to the
//! memory handler, which must pick out the user's messages and summarise them.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

use agentgate_shared::testing::{self, Deployment, SAMPLE_ASSISTANT_ID};
use aws_lambda_events::event::dynamodb::Event;
use http_body_util::BodyExt;
use lambda_http::{Context, LambdaEvent};
use tower::ServiceExt;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn owner_turns_on_dynamodb_reach_the_memory_through_the_tables_stream() {
    let d = Deployment::create().await;
    for text in ["I'm Alice.", "I don't eat meat.", "Any dinner ideas?"] {
        let req = http::Request::post("/runs/stream")
            .header("authorization", format!("Bearer {}", d.owner_jwt))
            .header("content-type", "application/json")
            .body(axum::body::Body::from(
                serde_json::json!({"assistant_id": SAMPLE_ASSISTANT_ID, "thread_id": "owner-session",
                    "input": [{"role": "human", "content": text}]})
                .to_string(),
            ))
            .unwrap();
        let resp = agentgate_runs::router(d.state.clone())
            .oneshot(req)
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        assert!(String::from_utf8_lossy(&body).ends_with("event: end\ndata: {}\n\n"));
    }
    let key = testing::sample_memory_thread().memory().unwrap().clone();
    assert_eq!(
        d.state.store.memory(&key).await.unwrap(),
        None,
        "on DynamoDB the runs function leaves memories to the stream"
    );

    let raw = d.stream_event().await;
    let records = raw["Records"].as_array().unwrap();
    assert!(records.len() > 6, "the stream holds more than messages");
    let event: Event = serde_json::from_value(raw).unwrap();
    let out =
        agentgate_memory::handle(d.state.clone(), LambdaEvent::new(event, Context::default()))
            .await
            .unwrap();
    assert!(out.batch_item_failures.is_empty(), "{out:?}");

    let memory = d.state.store.memory(&key).await.unwrap().unwrap();
    // Six messages counted, then summarised by the assistant's (echo) model, whose reply
    // repeats the prompt quoting the conversation.
    assert_eq!(memory.pending, 0);
    assert!(
        memory.summary.contains("User: I don't eat meat."),
        "{}",
        memory.summary
    );
}
