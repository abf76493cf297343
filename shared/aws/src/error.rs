//! Errors of the set-up functions, and helpers to read SDK errors.
//!
//! Every SDK crate re-exports the same smithy error types, so the helpers are written once.

use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};

/// Why [`crate::bootstrap`] or [`crate::resolve`] failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AwsError {
    /// A request to an AWS service failed.
    #[error("{action} {resource}: {reason}")]
    Request {
        action: &'static str,
        resource: String,
        reason: String,
    },
    /// A service answered without something it always sends, or never finished.
    #[error("{action} {resource}: {problem}")]
    Unexpected {
        action: &'static str,
        resource: String,
        problem: String,
    },
}

impl AwsError {
    pub(crate) fn request<E, R>(action: &'static str, resource: &str, err: &SdkError<E, R>) -> Self
    where
        E: std::error::Error + 'static,
        R: std::fmt::Debug,
    {
        AwsError::Request {
            action,
            resource: resource.to_owned(),
            reason: describe(err),
        }
    }

    pub(crate) fn unexpected(
        action: &'static str,
        resource: &str,
        problem: impl Into<String>,
    ) -> Self {
        AwsError::Unexpected {
            action,
            resource: resource.to_owned(),
            problem: problem.into(),
        }
    }
}

/// The error with its whole chain of causes, on one line.
pub(crate) fn describe<E, R>(err: &SdkError<E, R>) -> String
where
    E: std::error::Error + 'static,
    R: std::fmt::Debug,
{
    DisplayErrorContext(err).to_string()
}

/// The service's error code, when the service answered with an error.
pub(crate) fn service_code<E, R>(err: &SdkError<E, R>) -> Option<&str>
where
    E: ProvideErrorMetadata,
{
    match err {
        SdkError::ServiceError(context) => context.err().code(),
        _ => None,
    }
}
