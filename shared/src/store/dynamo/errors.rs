//! SDK failures turned into store errors, with the service's code and message logged
//! (never the SDK's bare "service error").

use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;

use crate::ports::StoreError;

const THROTTLING: &[&str] = &[
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
    "TransactionConflictException",
    "TransactionInProgressException",
];

/// Maps and logs an SDK error from `op`.
pub fn classify<E, R>(op: &'static str, err: SdkError<E, R>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let code = err.code().unwrap_or("").to_owned();
    let message = err.message().unwrap_or("").to_owned();
    if THROTTLING.contains(&code.as_str()) {
        tracing::warn!(op, code, message, "DynamoDB throttled the request");
        return StoreError::Throttled {
            retry_after_secs: 1,
        };
    }
    let context = DisplayErrorContext(&err).to_string();
    tracing::error!(op, code, message, error = %context, "DynamoDB request failed");
    StoreError::Unavailable(if code.is_empty() {
        format!("{op}: {context}")
    } else {
        format!("{op}: {code}: {message}")
    })
}

/// Whether a request failed only because its condition did not hold.
pub fn condition_failed<E: ProvideErrorMetadata, R>(err: &SdkError<E, R>) -> bool {
    err.code() == Some("ConditionalCheckFailedException")
}

/// The output of a conditional request, or `None` when only its condition failed.
pub fn conditional<T, E, R>(
    op: &'static str,
    result: Result<T, SdkError<E, R>>,
) -> Result<Option<T>, StoreError>
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match result {
        Ok(out) => Ok(Some(out)),
        Err(e) if condition_failed(&e) => Ok(None),
        Err(e) => Err(classify(op, e)),
    }
}

/// The outcome of a write conditional on the version read: `Conflict` when another write
/// won.
pub fn or_conflict<T, E, R>(
    op: &'static str,
    result: Result<T, SdkError<E, R>>,
) -> Result<(), StoreError>
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    conditional(op, result)?
        .map(drop)
        .ok_or(StoreError::Conflict)
}

/// For a cancelled transaction, the index of the first operation whose condition failed.
/// `None` for any other failure, including cancellations for throttling or conflicts.
pub fn cancelled_at<R>(err: &SdkError<TransactWriteItemsError, R>) -> Option<usize> {
    match err.as_service_error()? {
        TransactWriteItemsError::TransactionCanceledException(c) => c
            .cancellation_reasons()
            .iter()
            .position(|r| r.code() == Some("ConditionalCheckFailed")),
        _ => None,
    }
}

pub fn build_err(e: aws_sdk_dynamodb::error::BuildError) -> StoreError {
    StoreError::Unavailable(format!("request could not be built: {e}"))
}
