//! The sample stream event in `events/memory/` goes through the handler as Lambda would
//! deliver it, on a store that holds the conversation the event describes.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

use agentgate_shared::domain::memory::SUMMARISE_EVERY;
use agentgate_shared::state::AppState;
use agentgate_shared::testing;
use aws_lambda_events::event::dynamodb::Event;
use aws_lambda_events::event::streams::DynamoDbEventResponse;
use lambda_http::{Context, LambdaEvent};

fn sample() -> Event {
    let files = testing::sample_event_files("memory", "");
    assert_eq!(files.len(), 1, "a new event needs an expectation here");
    serde_json::from_str(&files[0].1).unwrap()
}

/// Delivers the sample event to the handler, as Lambda would.
async fn replay(state: &AppState) -> DynamoDbEventResponse {
    agentgate_memory::handle(
        state.clone(),
        LambdaEvent::new(sample(), Context::default()),
    )
    .await
    .unwrap()
}

#[tokio::test]
async fn the_sample_turn_makes_a_summary_of_the_conversation() {
    let dir = testing::tempdir();
    let state = testing::state(dir.path(), Default::default());
    testing::seed_sample_assistant(&state).await;
    let thread = testing::seed_sample_conversation(&state).await;
    let key = thread.memory().unwrap().clone();

    let out = replay(&state).await;
    assert!(out.batch_item_failures.is_empty(), "{out:?}");

    let memory = state.store.memory(&key).await.unwrap().unwrap();
    // The echo model repeats its prompt, which quotes the stored conversation.
    assert!(
        memory
            .summary
            .contains("User: I'm planning a trip to Lisbon"),
        "{}",
        memory.summary
    );
    assert_eq!(
        memory.pending, 0,
        "the summary covers every counted message"
    );
}

#[tokio::test]
async fn a_turn_below_the_threshold_is_only_counted() {
    let dir = testing::tempdir();
    let state = testing::state(dir.path(), Default::default());
    testing::seed_sample_assistant(&state).await;
    let key = testing::sample_memory_thread().memory().unwrap().clone();

    let out = replay(&state).await;
    assert!(out.batch_item_failures.is_empty());
    let memory = state.store.memory(&key).await.unwrap().unwrap();
    assert_eq!(memory.pending, 2);
    assert!(memory.pending < SUMMARISE_EVERY);
    assert_eq!(memory.summary, "");
}

#[tokio::test]
async fn messages_of_an_assistant_without_memory_are_dropped() {
    let dir = testing::tempdir();
    let state = testing::state(dir.path(), Default::default());
    testing::seed_sample_assistant(&state).await;
    let id =
        agentgate_shared::domain::ids::AssistantId::parse(testing::SAMPLE_ASSISTANT_ID).unwrap();
    let a = state.store.get_assistant(&id).await.unwrap().unwrap();
    let patch = agentgate_shared::domain::assistant::AssistantPatch {
        name: None,
        configurable: serde_json::json!({"type==agent/memory": false})
            .as_object()
            .cloned()
            .unwrap(),
    };
    let off = a.patched(&patch, state.clock.now_ms()).unwrap();
    state.store.update_assistant(&a, &off).await.unwrap();
    let thread = testing::seed_sample_conversation(&state).await;

    let out = replay(&state).await;
    assert!(out.batch_item_failures.is_empty());
    assert_eq!(
        state.store.memory(thread.memory().unwrap()).await.unwrap(),
        None,
        "memory switched off: nothing is kept"
    );
}
