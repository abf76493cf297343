//! DynamoDB's answers as [`StoreError`]s: refused conditions by the kind of write, bad requests
//! as invalid, the rest as unavailable (retryable).

use std::collections::BTreeMap;

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use vigil_core::ports::{DeleteCondition, PutCondition, StoreError, WriteOp};

use super::codec::{Attributes, counter_attribute};
use crate::error::{describe, service_code};

fn invalid(reason: impl Into<String>) -> StoreError {
    StoreError::Invalid(reason.into())
}

/// Any failure other than a refused condition: bad requests are invalid, the rest may pass later.
pub(super) fn request_error<E, R>(err: &SdkError<E, R>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match service_code(err) {
        Some("ValidationException") => StoreError::Invalid(describe(err)),
        _ => StoreError::Unavailable(describe(err)),
    }
}

pub(super) fn is_condition_failure<E, R>(err: &SdkError<E, R>) -> bool
where
    E: ProvideErrorMetadata,
{
    service_code(err) == Some("ConditionalCheckFailedException")
}

/// What a refused condition means for each kind of write.
pub(super) fn condition_failure(op: &WriteOp, old: Option<&Attributes>) -> StoreError {
    match op {
        WriteOp::Put {
            condition: PutCondition::Absent,
            ..
        } => StoreError::AlreadyExists,
        WriteOp::Put { .. } | WriteOp::Check { .. } => StoreError::VersionConflict,
        WriteOp::Delete {
            condition: DeleteCondition::Exists,
            ..
        } => StoreError::NotFound,
        WriteOp::Delete { .. } => StoreError::VersionConflict,
        WriteOp::Add { deltas, .. } => overflow(deltas, old),
    }
}

/// The error of an add whose overflow guard refused it, naming the counter when known.
pub(super) fn overflow(deltas: &BTreeMap<String, i64>, old: Option<&Attributes>) -> StoreError {
    let culprit = deltas.iter().find(|(name, delta)| {
        let stored = old
            .and_then(|attrs| attrs.get(&counter_attribute(name)))
            .and_then(|v| v.as_n().ok())
            .and_then(|text| text.parse::<i64>().ok())
            .unwrap_or(0);
        stored.checked_add(**delta).is_none()
    });
    match culprit {
        Some((name, _)) => invalid(format!("counter {name} would overflow")),
        None => invalid("a counter would overflow"),
    }
}

pub(super) fn transaction_error(
    ops: &[WriteOp],
    err: &SdkError<TransactWriteItemsError, impl std::fmt::Debug>,
) -> StoreError {
    let Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) =
        err.as_service_error()
    else {
        return request_error(err);
    };
    let failed = cancelled
        .cancellation_reasons()
        .iter()
        .enumerate()
        .find(|(_, reason)| !matches!(reason.code(), None | Some("None")));
    let Some((index, reason)) = failed else {
        return StoreError::Unavailable(describe(err));
    };
    let cause = match (reason.code(), ops.get(index)) {
        (Some("ConditionalCheckFailed"), Some(op)) => condition_failure(op, reason.item.as_ref()),
        (Some("ValidationError"), Some(_)) => {
            invalid(reason.message().unwrap_or("validation error"))
        }
        // Conflicts with other writers and throttling are not refusals: try again later.
        _ => return StoreError::Unavailable(describe(err)),
    };
    StoreError::TransactionCancelled {
        index,
        reason: Box::new(cause),
    }
}

pub(super) fn build_error(e: impl std::fmt::Display) -> StoreError {
    invalid(e.to_string())
}
