//! The native streaming flow on DynamoDB Local: the whole API served over the DynamoDB
//! adapter, and the thread's items read back from the table afterwards.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod common;

use agentgate_shared::config::Settings;
use agentgate_shared::testing::{self, Behavior, MockUpstream};
use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::json;

#[tokio::test]
async fn public_runs_persist_threads_in_dynamodb() {
    let mock = MockUpstream::openai(Behavior::Reply(vec!["Stored ".into(), "reply".into()])).await;
    let providers = testing::mock_providers(Some(&mock), None);
    let (state, client, table) = testing::dynamo_state(providers, Settings::default()).await;
    let jwt = testing::jwt(&state, "owner");
    let base = format!("http://{}", common::serve(state).await.0);
    let id = common::create_assistant(
        &base,
        &jwt,
        "ddb",
        json!({
            "type==agent/model": "openai:gpt-4o-mini",
            "type==agent/access_mode": "public_token",
            "type==agent/public_token": "pubkey_dynamo_0123456789",
        }),
    )
    .await;

    for text in ["first question", "second question"] {
        let run = json!({"assistant_id": id, "thread_id": "ddb-thread", "input": [{"role": "human", "content": text}]});
        let sse = common::run_text(&base, Some("pubkey_dynamo_0123456789"), &run).await;
        assert!(sse.contains("\"content\":\"Stored reply\""), "{sse}");
        assert!(sse.ends_with("event: end\ndata: {}\n\n"));
    }
    // The second turn sent the first turn upstream, read back from DynamoDB.
    let second = &mock.seen()[1].body["messages"];
    assert_eq!(second.as_array().unwrap().len(), 3);
    assert_eq!(second[0]["content"], "first question");
    assert_eq!(second[1]["content"], "Stored reply");

    // The thread's items are in the table: a meta item and four messages, all with a TTL.
    let items = client
        .query()
        .table_name(&table)
        .key_condition_expression("pk = :pk")
        .expression_attribute_values(
            ":pk",
            AttributeValue::S(format!("TH#{id}/public/ddb-thread")),
        )
        .send()
        .await
        .unwrap();
    let rows = items.items();
    assert_eq!(rows.len(), 5);
    let messages: Vec<_> = rows
        .iter()
        .filter(|r| r["sk"].as_s().unwrap().starts_with("M#"))
        .map(|r| {
            (
                r["role"].as_s().unwrap().clone(),
                r["content"].as_s().unwrap().clone(),
            )
        })
        .collect();
    assert_eq!(
        messages,
        vec![
            ("human".into(), "first question".into()),
            ("ai".into(), "Stored reply".into()),
            ("human".into(), "second question".into()),
            ("ai".into(), "Stored reply".into()),
        ]
    );
    assert!(rows.iter().all(|r| r.contains_key("ttl")));
    // No item holds the public token in plaintext.
    let scan = client.scan().table_name(&table).send().await.unwrap();
    assert!(!format!("{:?}", scan.items()).contains("pubkey_dynamo_0123456789"));
}
