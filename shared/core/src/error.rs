//! The one error type services return. Each variant maps to one HTTP status and one CLI exit,
//! in `vigil-http` and the `vigil` binary respectively.

use crate::ports::{BusError, CipherError, QueueError, SchedulerError, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Input that can never succeed; `code` is a stable machine-readable word.
    #[error("{message}")]
    Invalid { code: &'static str, message: String },
    /// A document with problems in several places, each named by its JSON path.
    #[error("{}", describe_problems(problems))]
    InvalidFields {
        code: &'static str,
        problems: Vec<FieldProblem>,
    },
    /// Well-formed input that breaks a rule between fields, or between a field and stored
    /// state (a status that does not fit the record's kind): a schema cannot say it.
    #[error("{message}")]
    Unprocessable { code: &'static str, message: String },
    /// A document that fits its published schema but holds problems the schema cannot say (a
    /// cron expression, a rule between fields), each at its JSON path.
    #[error("{}", describe_problems(problems))]
    UnprocessableFields {
        code: &'static str,
        problems: Vec<FieldProblem>,
    },
    /// Credentials that do not verify and carry their own reason (a webhook signature that is
    /// missing, stale or wrong): 401 with `code`.
    #[error("{message}")]
    Unverified { code: &'static str, message: String },
    #[error("authentication required: {0}")]
    Unauthenticated(String),
    #[error("not allowed: {0}")]
    Forbidden(String),
    /// Missing, or belonging to another tenant (indistinguishable on purpose).
    #[error("{0} not found")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("request body is larger than {limit} bytes")]
    PayloadTooLarge { limit: usize },
    /// A body in a media type the route does not read.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// The tenant used its share of a rate; a token is there after `retry_after_seconds`.
    #[error("too many requests for this tenant; retry after {retry_after_seconds} s")]
    RateLimited { retry_after_seconds: u64 },
    /// A backend did not answer; the caller may retry.
    #[error("service unavailable: {0}")]
    Unavailable(String),
    #[error("internal error: {0}")]
    Internal(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// One problem of a posted document, at its JSON path (`$.steps[1].then[0].minutes`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct FieldProblem {
    pub path: String,
    pub message: String,
}

fn describe_problems(problems: &[FieldProblem]) -> String {
    let each: Vec<String> = problems
        .iter()
        .map(|p| format!("{}: {}", p.path, p.message))
        .collect();
    format!("{} problem(s): {}", problems.len(), each.join("; "))
}

impl Error {
    pub fn invalid(code: &'static str, message: impl Into<String>) -> Self {
        Error::Invalid {
            code,
            message: message.into(),
        }
    }

    pub fn unprocessable(code: &'static str, message: impl Into<String>) -> Self {
        Error::Unprocessable {
            code,
            message: message.into(),
        }
    }

    /// Whether the same work may succeed if tried again later: the one classification every
    /// queue consumer and workflow step uses. A backend that did not answer, a rate that refills,
    /// a record busy with another writer (a version conflict) or a fault of Vigil's own may do
    /// better later (and a message that keeps failing still ends in its dead-letter queue).
    /// Input that cannot be read, a record that is not there and a caller without the right give
    /// the same answer every time: retrying them only delays the failure.
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Unavailable(_)
            | Error::RateLimited { .. }
            | Error::Conflict(_)
            | Error::Internal(_) => true,
            Error::Invalid { .. }
            | Error::InvalidFields { .. }
            | Error::Unprocessable { .. }
            | Error::UnprocessableFields { .. }
            | Error::Unverified { .. }
            | Error::Unauthenticated(_)
            | Error::Forbidden(_)
            | Error::NotFound(_)
            | Error::PayloadTooLarge { .. }
            | Error::UnsupportedMediaType(_) => false,
        }
    }

    /// Stable machine-readable code for API clients.
    pub fn code(&self) -> &'static str {
        match self {
            Error::Invalid { code, .. }
            | Error::InvalidFields { code, .. }
            | Error::Unprocessable { code, .. }
            | Error::UnprocessableFields { code, .. }
            | Error::Unverified { code, .. } => code,
            Error::Unauthenticated(_) => "unauthenticated",
            Error::Forbidden(_) => "forbidden",
            Error::NotFound(_) => "not_found",
            Error::Conflict(_) => "conflict",
            Error::PayloadTooLarge { .. } => "payload_too_large",
            Error::UnsupportedMediaType(_) => "unsupported_media_type",
            Error::RateLimited { .. } => "rate_limited",
            Error::Unavailable(_) => "unavailable",
            Error::Internal(_) => "internal",
        }
    }
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(m) => Error::Unavailable(m),
            StoreError::InvalidCursor => Error::invalid("invalid_cursor", "cursor is not valid"),
            StoreError::AlreadyExists | StoreError::VersionConflict => {
                Error::Conflict(e.to_string())
            }
            other => Error::Internal(other.to_string()),
        }
    }
}

impl From<QueueError> for Error {
    fn from(e: QueueError) -> Self {
        match e {
            QueueError::Unavailable(m) => Error::Unavailable(m),
            other => Error::Internal(other.to_string()),
        }
    }
}

impl From<CipherError> for Error {
    fn from(e: CipherError) -> Self {
        match e {
            CipherError::Unavailable(m) => Error::Unavailable(m),
            other => Error::Internal(other.to_string()),
        }
    }
}

impl From<BusError> for Error {
    fn from(e: BusError) -> Self {
        Error::Unavailable(e.to_string())
    }
}

impl From<SchedulerError> for Error {
    fn from(e: SchedulerError) -> Self {
        match e {
            SchedulerError::Invalid(m) => Error::invalid("invalid_schedule", m),
            SchedulerError::Unavailable(m) => Error::Unavailable(m),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_what_may_change_is_retried() {
        let retried = [
            Error::Unavailable("store".into()),
            Error::RateLimited {
                retry_after_seconds: 1,
            },
            Error::Conflict("changed meanwhile".into()),
            Error::Internal("bug".into()),
        ];
        assert!(retried.iter().all(Error::is_retryable));
        let dropped = [
            Error::invalid("invalid_body", "bad"),
            Error::unprocessable("bad_cron", "bad"),
            Error::NotFound("workflow w1".into()),
            Error::Forbidden("viewer".into()),
            Error::Unauthenticated("no key".into()),
        ];
        assert!(!dropped.iter().any(Error::is_retryable));
        // Errors of the ports keep their meaning on the way through.
        assert!(Error::from(StoreError::Unavailable("down".into())).is_retryable());
        assert!(!Error::from(StoreError::InvalidCursor).is_retryable());
    }
}
