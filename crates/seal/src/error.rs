/// A boxed error from a caller's verifier or a key service.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// What is wrong with a share. Never carries the share's bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ShareProblem {
    /// Neither valid hex nor valid base64.
    #[error("not valid hex or base64")]
    Encoding,
    /// The decoded share has the wrong length for this seal's key.
    #[error("decodes to {got} bytes; a share of this key is {expected} bytes")]
    Length {
        /// Decoded length.
        got: usize,
        /// Expected length (key length + 1 for the x-coordinate).
        expected: usize,
    },
    /// The x-coordinate is 0, which is where the secret itself lies; no share has it.
    #[error("x-coordinate 0 is not a share")]
    ZeroX,
    /// The share is well-formed but is not one of the shares of this key.
    #[error("is not a share of this key")]
    Unknown,
}

/// What went wrong in the seal. No variant carries key or share bytes.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SealError {
    /// Shares and threshold out of range.
    #[error(
        "invalid split: {shares} shares with threshold {threshold} \
         (need 1 <= threshold <= shares <= 255, and threshold 1 only with 1 share)"
    )]
    InvalidSplit {
        /// Requested number of shares.
        shares: usize,
        /// Requested threshold.
        threshold: usize,
    },
    /// The secret to split is empty.
    #[error("cannot split an empty secret")]
    EmptySecret,
    /// A share could not be used.
    #[error("invalid share: {0}")]
    InvalidShare(ShareProblem),
    /// A share with this x-coordinate was already given in this attempt; it was not counted.
    #[error("share {x} was already provided in this attempt")]
    DuplicateShare {
        /// The x-coordinate.
        x: u8,
    },
    /// The shares do not belong together (different lengths or repeated x-coordinates).
    #[error("the shares do not belong together: {0}")]
    MismatchedShares(&'static str),
    /// Not enough shares to combine.
    #[error("{got} shares given; at least {need} are needed")]
    NotEnoughShares {
        /// Shares given.
        got: usize,
        /// Shares needed.
        need: usize,
    },
    /// The threshold of shares was reached, but the combined key was rejected (wrong shares).
    /// The attempt's progress has been reset; start again with the right shares.
    #[error("the combined key was rejected ({0}); progress was reset")]
    Rejected(#[source] BoxError),
    /// A nonce that does not name the attempt in progress.
    #[error("the nonce does not match the attempt in progress")]
    NonceMismatch,
    /// An operation that needs an attempt in progress, when none is.
    #[error("no attempt is in progress")]
    NoAttempt,
    /// An attempt is already in progress; only one at a time.
    #[error("an attempt is already in progress")]
    AttemptInProgress,
    /// The operation does not fit the attempt's current stage.
    #[error("wrong stage for this operation: {0}")]
    WrongStage(&'static str),
    /// A wrapped key failed to open: wrong key-encryption key, or altered.
    #[error("the wrapped key does not open with this seal")]
    Unwrap,
    /// A malformed wrapped-key blob.
    #[error("malformed wrapped key: {0}")]
    MalformedWrappedKey(&'static str),
    /// A static seal key could not be loaded.
    #[error("cannot load the seal key: {0}")]
    KeySource(String),
    /// The one-time pad and the secret to encode differ in length, or the pad is malformed.
    #[error("one-time pad mismatch: {0}")]
    Otp(&'static str),
    /// The operating system's random source failed.
    #[error("the system random source failed")]
    Random,
    /// A key service (auto-unseal) failed.
    #[error("key service failed: {0}")]
    KeyService(#[source] BoxError),
    /// An internal invariant did not hold. Please file a bug.
    #[error("internal error in the seal: {0}; please file a bug")]
    Unreachable(&'static str),
}

/// Shorthand for seal results.
pub type Result<T, E = SealError> = std::result::Result<T, E>;
