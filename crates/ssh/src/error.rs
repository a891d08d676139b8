//! The engine's errors.

use strongroom_logical::LogicalError;
use strongroom_pki::PkiError;
use strongroom_storage::StorageError;

/// What went wrong in the SSH engine. Messages go back to API clients (Vault's wording where
/// Vault has one) and never hold key material.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SshError {
    /// The request is malformed or asks for what the role does not allow (400).
    #[error("{0}")]
    Invalid(String),
    /// Storage failed.
    #[error("storage failure: {0}")]
    Storage(#[from] StorageError),
    /// Something failed on our side, or a key could not be made (500, as Vault answers).
    #[error("{0}")]
    Internal(String),
}

impl SshError {
    /// An [`SshError::Invalid`].
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::Invalid(message.into())
    }
}

impl From<PkiError> for SshError {
    fn from(err: PkiError) -> Self {
        match err {
            PkiError::Invalid(message) => Self::Invalid(message),
            PkiError::Storage(err) => Self::Storage(err),
            other => Self::Internal(other.to_string()),
        }
    }
}

impl From<SshError> for LogicalError {
    fn from(err: SshError) -> Self {
        match err {
            SshError::Invalid(message) => Self::InvalidRequest(message),
            SshError::Storage(err) => Self::Storage(err),
            SshError::Internal(message) => Self::Internal(message),
        }
    }
}
