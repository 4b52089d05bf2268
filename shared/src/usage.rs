//! Usage accounting: what each completed turn adds to its assistant's daily totals.
//!
//! Recording is best effort by design: a failed usage write is logged and never turns a
//! delivered reply into an error.

use std::time::Instant;

use crate::clock::Clock;
use crate::domain::ids::AssistantId;
use crate::ports::{UsageDelta, UsageStore};
use crate::stream::Completion;

/// The usage of one completed turn that stored `messages` messages.
pub fn of_turn(completion: &Completion, messages: usize, started: Instant) -> UsageDelta {
    UsageDelta {
        requests: 1,
        messages: messages as u64,
        input_tokens: u64::from(completion.usage.input_tokens),
        output_tokens: u64::from(completion.usage.output_tokens),
        latency_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
    }
}

/// Adds `delta` to today's totals of `assistant`.
pub async fn record(
    store: &dyn UsageStore,
    clock: &dyn Clock,
    assistant: &AssistantId,
    delta: UsageDelta,
) {
    let day = clock.now_secs().div_euclid(86_400);
    if let Err(e) = store.record_usage(assistant, day, &delta).await {
        tracing::warn!(error = %e, "usage could not be recorded");
    }
}
