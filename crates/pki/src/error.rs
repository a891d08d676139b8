//! The engine's errors.

use strongroom_logical::LogicalError;
use strongroom_storage::StorageError;

/// What went wrong in the PKI engine. Messages go back to API clients (Vault's wording where
/// Vault has one) and never hold key material.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PkiError {
    /// The request is malformed or asks for something the role or CA does not allow (400).
    #[error("{0}")]
    Invalid(String),
    /// Nothing at the path (404 with no body, as Vault answers a missing certificate).
    #[error("not found")]
    NotFound,
    /// Storage failed.
    #[error("storage failure: {0}")]
    Storage(#[from] StorageError),
    /// Something failed on our side; the message is for operators.
    #[error("{0}")]
    Internal(String),
}

impl PkiError {
    /// An [`PkiError::Invalid`].
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::Invalid(message.into())
    }
}

impl From<PkiError> for LogicalError {
    fn from(err: PkiError) -> Self {
        match err {
            PkiError::Invalid(message) => Self::InvalidRequest(message),
            PkiError::NotFound => Self::UnsupportedPath,
            PkiError::Storage(err) => Self::Storage(err),
            PkiError::Internal(message) => Self::Internal(message),
        }
    }
}
