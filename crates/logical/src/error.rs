use strongroom_storage::StorageError;

/// Vault's error categories. Only the HTTP layer turns these into status codes; engines and the
/// core speak in categories.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// No handler for the path (Vault: unsupported path; HTTP 404).
    UnsupportedPath,
    /// The path exists but not with this operation (Vault: unsupported operation; HTTP 405).
    UnsupportedOperation,
    /// The request is malformed or fails validation (HTTP 400).
    InvalidRequest,
    /// The caller may not do this (HTTP 403).
    PermissionDenied,
    /// A check-and-set or other precondition failed (HTTP 412).
    PreconditionFailed,
    /// The vault is sealed (HTTP 503).
    Sealed,
    /// Rate limited upstream (HTTP 429).
    RateLimited,
    /// Something failed on our side (HTTP 500).
    Internal,
}

/// An engine's or the core's error, in one of Vault's categories, with a message for the caller.
///
/// Messages go back to API clients: they must never contain secret values.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LogicalError {
    /// No handler for the path.
    #[error("unsupported path")]
    UnsupportedPath,
    /// The path does not support this operation.
    #[error("unsupported operation")]
    UnsupportedOperation,
    /// A malformed or invalid request; the message says what is wrong.
    #[error("{0}")]
    InvalidRequest(String),
    /// The caller may not do this.
    #[error("permission denied")]
    PermissionDenied,
    /// A login's credentials were wrong (Vault's `ErrInvalidCredentials`): the message is the
    /// method's one answer for every wrong credential (`invalid username or password`). The core
    /// counts these toward the login's lockout; HTTP 400 like an invalid request.
    #[error("{0}")]
    InvalidCredentials(String),
    /// A precondition (such as check-and-set) failed; the message says which.
    #[error("{0}")]
    PreconditionFailed(String),
    /// The vault is sealed.
    #[error("Vault is sealed")]
    Sealed,
    /// Rate limited.
    #[error("rate limited")]
    RateLimited,
    /// The storage under the engine failed.
    #[error("storage failure: {0}")]
    Storage(#[source] StorageError),
    /// Any other internal failure; the message is for operators and must not hold secrets.
    #[error("internal error: {0}")]
    Internal(String),
}

impl LogicalError {
    /// A [`LogicalError::InvalidRequest`].
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::InvalidRequest(message.into())
    }

    /// The category.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::UnsupportedPath => ErrorKind::UnsupportedPath,
            Self::UnsupportedOperation => ErrorKind::UnsupportedOperation,
            Self::InvalidRequest(_) | Self::InvalidCredentials(_) => ErrorKind::InvalidRequest,
            Self::PermissionDenied => ErrorKind::PermissionDenied,
            Self::PreconditionFailed(_) => ErrorKind::PreconditionFailed,
            Self::Sealed => ErrorKind::Sealed,
            Self::RateLimited => ErrorKind::RateLimited,
            Self::Storage(err) => match err {
                // Bad keys come from request paths: the caller's mistake.
                StorageError::InvalidKey { .. }
                | StorageError::InvalidPrefix { .. }
                | StorageError::ValueTooLarge { .. }
                | StorageError::TooManyOps { .. } => ErrorKind::InvalidRequest,
                StorageError::CheckFailed { .. } => ErrorKind::PreconditionFailed,
                _ => ErrorKind::Internal,
            },
            Self::Internal(_) => ErrorKind::Internal,
        }
    }
}

impl From<StorageError> for LogicalError {
    fn from(err: StorageError) -> Self {
        Self::Storage(err)
    }
}

/// Shorthand for engine results.
pub type Result<T, E = LogicalError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn storage_errors_fall_into_categories() {
        let bad_key = StorageError::InvalidKey {
            key: "a//b".into(),
            rule: strongroom_storage::KeyRule::EmptySegment,
        };
        assert_eq!(
            LogicalError::from(bad_key).kind(),
            ErrorKind::InvalidRequest
        );
        let check = StorageError::CheckFailed { key: "k".into() };
        assert_eq!(
            LogicalError::from(check).kind(),
            ErrorKind::PreconditionFailed
        );
        assert_eq!(
            LogicalError::from(StorageError::Conflict).kind(),
            ErrorKind::Internal
        );
        assert_eq!(LogicalError::Sealed.to_string(), "Vault is sealed");
    }
}
