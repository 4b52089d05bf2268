//! The `assistants` binary as Lambda runs it (buffered responses), booted from Secrets
//! Manager and DynamoDB stand-ins and fed the sample events by a local Runtime API.

mod samples;

agentgate_shared::binary_answers_sample_events!(
    "assistants",
    events = samples::EVENTS,
    streamed = false,
    check = samples::check
);
