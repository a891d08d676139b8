use std::error::Error as StdError;

use crate::key::KeyRule;

/// A boxed error from a backend's driver. Driver types (sqlx) stay out of the public API.
pub type BoxError = Box<dyn StdError + Send + Sync + 'static>;

/// What went wrong in a storage call.
///
/// Every variant that describes bad input ([`InvalidKey`](Self::InvalidKey),
/// [`InvalidPrefix`](Self::InvalidPrefix), [`ValueTooLarge`](Self::ValueTooLarge),
/// [`TooManyOps`](Self::TooManyOps)) is returned before anything is written: the store is left as it
/// was. Messages never contain values; keys are not secret (secrets are never put into keys), and
/// are truncated when long.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StorageError {
    /// The key breaks one of the key rules.
    #[error("invalid storage key {key:?}: {rule}")]
    InvalidKey {
        /// The key, truncated for display.
        key: String,
        /// The rule it breaks.
        rule: KeyRule,
    },
    /// The list prefix is neither empty nor a valid key followed by `/`.
    #[error("invalid list prefix {prefix:?}: {rule}")]
    InvalidPrefix {
        /// The prefix, truncated for display.
        prefix: String,
        /// The rule it breaks.
        rule: KeyRule,
    },
    /// The value is larger than this store's configured maximum.
    #[error("value for key {key:?} is {len} bytes; this store accepts at most {max}")]
    ValueTooLarge {
        /// The key the value was for.
        key: String,
        /// The value's length in bytes.
        len: usize,
        /// The configured maximum ([`Limits::max_value_len`](crate::Limits::max_value_len)).
        max: usize,
    },
    /// A transaction holds more operations than this store's configured maximum.
    #[error("transaction has {len} operations; this store accepts at most {max}")]
    TooManyOps {
        /// The number of operations.
        len: usize,
        /// The configured maximum ([`Limits::max_transaction_ops`](crate::Limits::max_transaction_ops)).
        max: usize,
    },
    /// An [`Op::Check`](crate::Op::Check) in a transaction did not hold; nothing was applied.
    #[error("transaction check failed for key {key:?}: the stored value is not the expected one")]
    CheckFailed {
        /// The key whose check failed.
        key: String,
    },
    /// The transaction collided with a concurrent one and was rolled back; nothing was applied.
    /// Retrying it is safe.
    #[error("transaction conflicted with a concurrent transaction; nothing was applied, retry it")]
    Conflict,
    /// The backend could not be reached (refused, timed out, TLS or authentication failure).
    #[error("{backend} storage is unreachable: {source}")]
    Connection {
        /// Which backend.
        backend: &'static str,
        /// The driver's error.
        #[source]
        source: BoxError,
    },
    /// The backend was reached but the operation failed.
    #[error("{backend} storage failed: {source}")]
    Backend {
        /// Which backend.
        backend: &'static str,
        /// The driver's error.
        #[source]
        source: BoxError,
    },
    /// A write through an HA lock's fenced store, refused because this node does not hold the
    /// lock (any more): another node is active. Nothing was applied.
    #[error(
        "this node is not the active node (it does not hold the HA lock); the write was refused and nothing was applied"
    )]
    Fenced,
    /// The backend's configuration is unusable.
    #[error("invalid storage configuration: {0}")]
    Config(String),
}

impl StorageError {
    pub(crate) fn invalid_key(key: &str, rule: KeyRule) -> Self {
        Self::InvalidKey {
            key: crate::key::shown(key),
            rule,
        }
    }

    /// True when retrying the same call may succeed: a [`Conflict`](Self::Conflict) or a
    /// [`Connection`](Self::Connection) failure.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Conflict | Self::Connection { .. })
    }
}

/// Shorthand for results of storage calls.
pub type Result<T, E = StorageError> = std::result::Result<T, E>;
