//! Transit's error type.

use strongroom_logical::LogicalError;

/// What went wrong. Messages never contain key material or plaintext.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TransitError {
    /// Bad input: Vault answers these with 400 and the message.
    #[error("{0}")]
    Invalid(String),
    /// The key does not exist.
    #[error("encryption key not found")]
    NotFound,
    /// Something failed that input cannot cause (randomness, storage).
    #[error("{0}")]
    Internal(String),
}

/// The crate's result type.
pub type Result<T, E = TransitError> = std::result::Result<T, E>;

impl From<TransitError> for LogicalError {
    fn from(err: TransitError) -> Self {
        match err {
            TransitError::Invalid(message) => LogicalError::invalid(message),
            TransitError::NotFound => LogicalError::invalid("encryption key not found"),
            TransitError::Internal(message) => LogicalError::Internal(message),
        }
    }
}
