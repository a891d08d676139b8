use strongroom_storage::StorageError;

/// What went wrong in the barrier.
///
/// No variant carries key material or plaintext. Through the [`Storage`](strongroom_storage::Storage)
/// trait these arrive wrapped in [`StorageError::Backend`] with backend `"barrier"`;
/// [`BarrierError::find`] gets them back.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BarrierError {
    /// The barrier is sealed: nothing can be read or written until it is unsealed.
    #[error("the barrier is sealed")]
    Sealed,
    /// There is no keyring in storage: the barrier has never been initialised.
    #[error("the barrier is not initialised")]
    NotInitialized,
    /// `initialize` was called on storage that already holds a keyring.
    #[error("the barrier is already initialised")]
    AlreadyInitialized,
    /// The root key does not open the stored keyring.
    #[error("the root key does not open the keyring")]
    WrongRootKey,
    /// A root key must be exactly 32 bytes.
    #[error("a root key must be 32 bytes, got {0}")]
    RootKeyLength(usize),
    /// The keyring opened under the root key but its contents do not decode. This means the
    /// stored keyring was written by an incompatible version; it is never the result of a wrong
    /// key (a wrong key fails authentication first).
    #[error("the keyring is corrupt: {0}")]
    KeyringCorrupt(&'static str),
    /// The value is shorter than the smallest possible ciphertext (33 bytes).
    #[error("stored value is truncated: {len} bytes, a ciphertext has at least {min}")]
    Truncated {
        /// The value's length.
        len: usize,
        /// The shortest ciphertext.
        min: usize,
    },
    /// The value does not start with a known ciphertext version: it is not barrier ciphertext
    /// (for instance plaintext written around the barrier) and is refused.
    #[error("stored value is not barrier ciphertext (version byte {version:#04x})")]
    UnknownVersion {
        /// The first byte of the value.
        version: u8,
    },
    /// The ciphertext names a key term the keyring does not hold.
    #[error("stored value is encrypted under unknown key term {term}")]
    UnknownTerm {
        /// The term.
        term: u32,
    },
    /// The ciphertext failed authentication: it was altered, truncated inside its tag, or copied
    /// from another storage key.
    #[error("stored value failed authentication: it was altered or moved from another key")]
    Tampered,
    /// The key is reserved for the barrier's own use (the keyring).
    #[error("storage key {0:?} is reserved for the barrier")]
    ReservedKey(&'static str),
    /// All 2^32 - 1 key terms have been used; no rotation is possible.
    #[error("the keyring has used every key term")]
    TermsExhausted,
    /// The operating system's random source failed.
    #[error("the system random source failed")]
    Random,
    /// The storage under the barrier failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// An internal invariant did not hold. Please file a bug.
    #[error("internal error in the barrier: {0}; please file a bug")]
    Unreachable(&'static str),
}

impl BarrierError {
    /// Finds the barrier error inside a [`StorageError`] returned through the `Storage` trait.
    pub fn find(err: &StorageError) -> Option<&BarrierError> {
        match err {
            StorageError::Backend {
                backend: "barrier",
                source,
            } => source.downcast_ref(),
            _ => None,
        }
    }

    /// True for [`BarrierError::Sealed`], also when wrapped in a [`StorageError`].
    pub fn is_sealed(err: &StorageError) -> bool {
        matches!(Self::find(err), Some(BarrierError::Sealed))
    }
}

impl From<BarrierError> for StorageError {
    fn from(err: BarrierError) -> Self {
        match err {
            // Errors of the storage below pass through unchanged.
            BarrierError::Storage(inner) => inner,
            other => StorageError::Backend {
                backend: "barrier",
                source: Box::new(other),
            },
        }
    }
}

/// Shorthand for barrier results.
pub type Result<T, E = BarrierError> = std::result::Result<T, E>;
