//! The `links` binary as Lambda runs it: booted from Secrets Manager and DynamoDB (local
//! stand-ins), fed the sample events by a local Runtime API, answering with response
//! streaming.

use agentgate_shared::testing::Deployment;

mod samples;

agentgate_shared::binary_answers_sample_events!(
    "links",
    events = samples::EVENTS,
    streamed = true,
    check = samples::check
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_setting_fails_the_cold_start_clearly() {
    let d = Deployment::create().await;
    d.assert_cold_start_names(env!("CARGO_BIN_EXE_links"), "AGENTGATE_TABLE")
        .await;
}
