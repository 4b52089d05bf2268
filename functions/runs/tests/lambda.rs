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
