use strongroom_barrier::BarrierError;
use strongroom_logical::{ErrorKind, LogicalError};
use strongroom_seal::SealError;
use strongroom_storage::StorageError;

/// What went wrong in a vault operation. [`VaultError::kind`] gives Vault's error category, which
/// the HTTP layer turns into a status code. Messages never contain secrets.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VaultError {
    /// The vault is sealed.
    #[error("Vault is sealed")]
    Sealed,
    /// This node is an HA standby (or stopped being the active node during the request): what
    /// was asked needs the active node. Servers forward such requests to it.
    #[error("Vault is in standby mode")]
    Standby,
    /// The vault has not been initialised.
    #[error("Vault is not initialized")]
    NotInitialized,
    /// `init` on a vault that is already initialised.
    #[error("Vault is already initialized")]
    AlreadyInitialized,
    /// No token, an unknown, malformed, expired or used-up token, or a policy refusal.
    #[error("permission denied")]
    PermissionDenied,
    /// Refused, with Vault's reason (a 403 whose message says more than "permission denied").
    #[error("{0}")]
    Denied(String),
    /// A malformed or invalid request.
    #[error("{0}")]
    InvalidRequest(String),
    /// No mount or handler serves the path.
    #[error("unsupported path")]
    UnsupportedPath,
    /// No mount serves the path (Vault's wording names it).
    #[error("no handler for route {0:?}. route entry not found.")]
    NoRoute(String),
    /// An engine's error.
    #[error(transparent)]
    Logical(LogicalError),
    /// A seal (share, quorum, key service) error.
    #[error(transparent)]
    Seal(#[from] SealError),
    /// A barrier error.
    #[error(transparent)]
    Barrier(BarrierError),
    /// A storage error.
    #[error(transparent)]
    Storage(StorageError),
    /// An internal failure; for operators, never holds secrets.
    #[error("internal error: {0}")]
    Internal(String),
    /// A typed call's value or answer did not convert between JSON and the Rust type asked
    /// for (see [`Vault::kv`](crate::Vault::kv)): the message names the mismatch (a missing
    /// field, the type expected), never a value.
    #[error("{0}")]
    Decode(String),
}

impl VaultError {
    /// A [`VaultError::InvalidRequest`].
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::InvalidRequest(message.into())
    }

    /// Vault's category for this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::Sealed | Self::Standby => ErrorKind::Sealed,
            Self::NotInitialized => ErrorKind::Sealed,
            Self::AlreadyInitialized | Self::InvalidRequest(_) | Self::Decode(_) => {
                ErrorKind::InvalidRequest
            }
            Self::PermissionDenied | Self::Denied(_) => ErrorKind::PermissionDenied,
            Self::UnsupportedPath | Self::NoRoute(_) => ErrorKind::UnsupportedPath,
            Self::Logical(err) => err.kind(),
            Self::Seal(err) => match err {
                SealError::Random
                | SealError::KeyService(_)
                | SealError::Unreachable(_)
                | SealError::MalformedWrappedKey(_)
                | SealError::Unwrap => ErrorKind::Internal,
                _ => ErrorKind::InvalidRequest,
            },
            Self::Barrier(BarrierError::Sealed) => ErrorKind::Sealed,
            Self::Barrier(_) | Self::Internal(_) => ErrorKind::Internal,
            Self::Storage(err) => LogicalError::Storage(clone_storage_kind(err)).kind(),
        }
    }
}

/// A stand-in with the same category (storage errors are not `Clone`).
fn clone_storage_kind(err: &StorageError) -> StorageError {
    match err {
        StorageError::InvalidKey { key, rule } => StorageError::InvalidKey {
            key: key.clone(),
            rule: *rule,
        },
        StorageError::CheckFailed { key } => StorageError::CheckFailed { key: key.clone() },
        StorageError::ValueTooLarge { key, len, max } => StorageError::ValueTooLarge {
            key: key.clone(),
            len: *len,
            max: *max,
        },
        _ => StorageError::Conflict,
    }
}

impl From<StorageError> for VaultError {
    fn from(err: StorageError) -> Self {
        if let StorageError::Fenced = err {
            return Self::Standby;
        }
        match BarrierError::find(&err) {
            Some(BarrierError::Sealed) => Self::Sealed,
            Some(BarrierError::Storage(StorageError::Fenced)) => Self::Standby,
            _ => Self::Storage(err),
        }
    }
}

impl From<BarrierError> for VaultError {
    fn from(err: BarrierError) -> Self {
        match err {
            BarrierError::Sealed => Self::Sealed,
            BarrierError::Storage(inner) => inner.into(),
            other => Self::Barrier(other),
        }
    }
}

impl From<LogicalError> for VaultError {
    fn from(err: LogicalError) -> Self {
        match err {
            LogicalError::UnsupportedPath => Self::UnsupportedPath,
            LogicalError::PermissionDenied => Self::PermissionDenied,
            LogicalError::Sealed => Self::Sealed,
            LogicalError::Storage(inner) => inner.into(),
            other => Self::Logical(other),
        }
    }
}

/// Shorthand for vault results.
pub type Result<T, E = VaultError> = std::result::Result<T, E>;

/// Why [`VaultBuilder::build`](crate::VaultBuilder::build) refused its settings: each is a
/// contradiction that would otherwise be dropped silently or surface only at unseal, or at the
/// first request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// [`seal`](crate::VaultBuilder::seal) was given a seal that needs key shares (Shamir).
    /// Shamir is what a vault without an auto-unseal seal uses; the builder's seal is for
    /// auto-unseal seals only.
    #[error(
        "the {kind} seal needs key shares: Shamir is the default, and `seal` takes auto-unseal \
         seals only"
    )]
    SealNeedsShares {
        /// The seal's kind.
        kind: String,
    },
    /// A declared audit device's path is not a valid mount-style path.
    #[error("invalid audit device path {path:?}")]
    AuditPath {
        /// The path as given.
        path: String,
    },
    /// Two declared audit devices at one path.
    #[error("two audit devices are declared at {path}")]
    DuplicateAuditPath {
        /// The path (normalised, with its trailing `/`).
        path: String,
    },
    /// A declared audit device cannot work where it is (a file device whose directory is
    /// missing): every request would be refused, since audit fails closed.
    #[error("the audit device declared at {path} cannot write: {reason}")]
    AuditDevice {
        /// The device's path (normalised).
        path: String,
        /// What the device's check said.
        reason: String,
    },
    /// [`audit_dir`](crate::VaultBuilder::audit_dir) is not an absolute path without `.` or
    /// `..`: no file audit device enabled over the API could ever be inside it.
    #[error("the audit directory {dir:?} must be an absolute path without `.` or `..`")]
    AuditDir {
        /// The directory as given.
        dir: std::path::PathBuf,
    },
    /// [`audit_timeout`](crate::VaultBuilder::audit_timeout) is zero: every audit write would
    /// time out, so every request would be refused.
    #[error("the audit timeout must be longer than zero")]
    AuditTimeout,
    /// An engine registered under a type name no mount could use: empty, with a `/` or
    /// whitespace, or reserved (`system`, `token`, and `kv-v2`, which `sys/mounts` turns into
    /// `kv` version 2).
    #[error("cannot register an engine as {kind:?}: {reason}")]
    EngineKind {
        /// The type name as given.
        kind: String,
        /// Why it is refused.
        reason: &'static str,
    },
}
