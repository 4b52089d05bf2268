//! The memory function: turns batches of the table's stream into memory updates.
//!
//! Each batch holds the message items just written (the template's filter passes only
//! inserted messages that feed a memory). Messages are counted per thread and handed to
//! [`agentgate_shared::memory::Memories::absorb`], a few threads at a time, since a summary is a
//! model call.
//!
//! Failures are reported per record (`ReportBatchItemFailures`) only when the messages
//! were not counted at all: Lambda then delivers the batch again from that record. A
//! summary that fails after counting is not retried here; the count stays, so the user's
//! next message triggers it again. Redelivery may count a message twice, which only brings
//! the next summary a little earlier.

use agentgate_shared::memory::MemoryError;
use agentgate_shared::state::AppState;
use agentgate_shared::store::dynamo::stream::{self, NewMessages};
use aws_lambda_events::event::dynamodb::Event;
use aws_lambda_events::event::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use futures::StreamExt;
use lambda_http::{Error, LambdaEvent};

/// Threads summarised at once within one batch.
const CONCURRENCY: usize = 4;

/// Handles one batch of stream records.
#[tracing::instrument(name = "memory_batch", skip_all, fields(request_id = %event.context.request_id))]
pub async fn handle(
    state: AppState,
    event: LambdaEvent<Event>,
) -> Result<DynamoDbEventResponse, Error> {
    let groups = stream::new_messages(&event.payload);
    tracing::info!(
        records = event.payload.records.len(),
        threads = groups.len(),
        "batch received"
    );
    let failed: Vec<String> = futures::stream::iter(groups)
        .map(|group| absorb(&state, group))
        .buffer_unordered(CONCURRENCY)
        .filter_map(|failed| async move { failed })
        .collect()
        .await;
    let mut response = DynamoDbEventResponse::default();
    for id in failed {
        let mut failure = DynamoDbBatchItemFailure::default();
        failure.item_identifier = Some(id);
        response.batch_item_failures.push(failure);
    }
    Ok(response)
}

/// Absorbs one thread's new messages; the sequence number to redeliver from if they were
/// not counted.
async fn absorb(state: &AppState, group: NewMessages) -> Option<String> {
    match state.memories.absorb(&group.thread, group.count).await {
        Ok(outcome) => {
            tracing::info!(?outcome, messages = group.count, "messages absorbed");
            None
        }
        Err(MemoryError::NotCounted(e)) => {
            tracing::warn!(error = %e, "messages not counted; asking for redelivery");
            Some(group.first_sequence)
        }
        Err(e) => {
            tracing::warn!(error = %e, "summary failed; the next message retries it");
            None
        }
    }
}
