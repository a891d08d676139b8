//! The rotation crate's errors.

/// What went wrong.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RotationError {
    /// A schedule or scheduler setting that cannot work; caught when it is built.
    #[error("rotation configuration: {0}")]
    Config(String),
    /// No secret of that id is registered.
    #[error("no secret {0:?} is registered for rotation")]
    UnknownSecret(String),
    /// Storage failed; the rotation's persisted state is as it was before the failed write.
    #[error("rotation state storage: {0}")]
    Storage(#[from] strongroom_storage::StorageError),
    /// A stored state does not decode.
    #[error("rotation state of {0:?} does not decode")]
    Corrupt(String),
}

/// The crate's result type.
pub type Result<T, E = RotationError> = std::result::Result<T, E>;

/// A step of a [`Rotator`](crate::Rotator) failed; the message is for operators (never put a
/// credential in it).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct StepError(pub String);

impl StepError {
    /// A step error with `message`.
    pub fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }
}
