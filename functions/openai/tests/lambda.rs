//! The `openai` binary as Lambda runs it (response streaming), booted from Secrets Manager
//! and DynamoDB stand-ins and fed the sample events by a local Runtime API.

mod samples;

agentgate_shared::binary_answers_sample_events!(
    "openai",
    events = samples::EVENTS,
    streamed = true,
    check = samples::check
);
