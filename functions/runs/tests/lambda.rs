//! The `runs` binary as Lambda runs it: booted from Secrets Manager and DynamoDB (local
//! stand-ins), fed the sample events by a local Runtime API, answering with response
//! streaming.

mod samples;

agentgate_shared::binary_answers_sample_events!(
    "runs",
    events = samples::EVENTS,
    streamed = true,
    check = samples::check
);

/// An event that is not an HTTP request is reported as that invocation's error, and the
/// function goes on to answer the next one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_event_fails_its_invocation_only() {
    let binary = env!("CARGO_BIN_EXE_runs");
    let deployment = agentgate_shared::testing::Deployment::create().await;
    let mut unknown: serde_json::Value =
        serde_json::from_str(include_str!("../../../events/runs/public-runs-stream.json")).unwrap();
    unknown["rawPath"] = "/public/nowhere".into();
    unknown["requestContext"]["http"]["path"] = "/public/nowhere".into();
    let events = vec![
        ("bad".to_owned(), "[1, 2, 3]".to_owned()),
        ("good".to_owned(), unknown.to_string()),
    ];
    let replies = deployment.invoke(binary, "runs", events).await;
    let bad = replies.iter().find(|r| r.request_id == "bad").unwrap();
    assert!(bad.error, "{:?}", bad.body);
    assert!(String::from_utf8_lossy(&bad.body).contains("Runtime.UnmarshalError"));
    let good = replies.iter().find(|r| r.request_id == "good").unwrap();
    assert!(good.streamed && !good.error);
    assert_eq!(good.response().status, 404, "{}", good.response().text);
    assert!(
        good.trailers.is_none(),
        "no error trailers on a complete response"
    );
}
