//! The storage seam of Strongroom.
//!
//! Use this crate to choose *where* a vault's bytes live, or to write a new place for them. It knows
//! nothing of encryption: `strongroom-barrier` wraps any [`Storage`] and is itself a [`Storage`],
//! so what reaches a backend is always ciphertext. If you are embedding a vault, you only pick a
//! backend here and hand it to the vault builder.
//!
//! | backend | feature | for |
//! |---|---|---|
//! | [`MemoryStorage`] | always | tests, ephemeral dev servers |
//! | `SqliteStorage` | `sqlite` (default) | the embedded default: one file, WAL, durable commits |
//! | `PostgresStorage` | `postgres` | several nodes sharing one store |
//!
//! # The contract
//!
//! * Keys are `/`-separated paths checked by [`check_key`]: non-empty, no leading `/`, no empty,
//!   `.` or `..` segment, no NUL, at most [`MAX_KEY_LEN`] bytes. Every backend refuses the same
//!   keys with the same [`KeyRule`], before touching anything.
//! * Values are opaque bytes (the empty value is a value, distinct from absence), at most
//!   [`Limits::max_value_len`] long.
//! * [`Storage::list`] returns the direct children of a folder prefix (`""` or ending in `/`),
//!   sub-folders with a trailing `/`, each once, sorted by byte order — Vault's semantics.
//! * [`Storage::transaction`] applies a batch of [`Op`]s atomically: all or nothing.
//! * An acknowledged write is durable to the degree the backend promises (see each backend).
//!
//! `conformance` (feature `testing`) checks all of this against any implementation; every
//! backend in this crate runs it.
//!
//! ```
//! use strongroom_storage::{MemoryStorage, Op, Storage};
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let store = MemoryStorage::new();
//! store.put("sys/policy/default", b"path \"*\" {}".to_vec()).await?;
//! store.transaction(vec![
//!     Op::put("sys/token/a", b"1".to_vec()),
//!     Op::put("sys/token/b", b"2".to_vec()),
//! ]).await?;
//! assert_eq!(store.list("sys/").await?, ["policy/", "token/"]);
//! assert_eq!(store.get("sys/token/b").await?.as_deref(), Some(&b"2"[..]));
//! # Ok::<_, strongroom_storage::StorageError>(())
//! # }).unwrap();
//! ```
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod error;
pub mod ha;
mod key;
mod memory;
#[cfg(feature = "postgres")]
mod postgres;
#[cfg(feature = "postgres")]
mod postgres_ha;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod sql;
#[cfg(feature = "sqlite")]
mod sqlite;
#[cfg(feature = "postgres")]
pub mod tls;

#[cfg(feature = "testing")]
pub mod conformance;

use std::sync::Arc;

use async_trait::async_trait;

pub use error::{BoxError, Result, StorageError};
pub use ha::{
    HaChange, HaLeader, HaLock, HaNode, HaObservation, HaPeer, HaTiming, MemoryHa, WATCHED, watched,
};
pub use key::{KeyRule, MAX_KEY_LEN, check_key, check_prefix};
pub use memory::MemoryStorage;
#[cfg(feature = "postgres")]
pub use postgres::{PostgresConfig, PostgresStorage};
#[cfg(feature = "postgres")]
pub use postgres_ha::{PostgresHa, PostgresHaConfig};
#[cfg(feature = "sqlite")]
pub use sqlite::{SqliteConfig, SqliteStorage};

/// A key/value store with Vault's path semantics. See the [crate docs](crate) for the contract.
///
/// Implementations must be safe to share between tasks; every method may be called concurrently.
#[async_trait]
pub trait Storage: Send + Sync + std::fmt::Debug {
    /// Reads the value stored under `key`; `None` when there is none.
    ///
    /// # Errors
    ///
    /// [`StorageError::InvalidKey`] for a key that breaks a rule; a backend error otherwise.
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>>;

    /// Stores `value` under `key`, replacing any previous value.
    ///
    /// # Errors
    ///
    /// [`StorageError::InvalidKey`] or [`StorageError::ValueTooLarge`] (nothing is written); a
    /// backend error otherwise.
    async fn put(&self, key: &str, value: Vec<u8>) -> Result<()>;

    /// Removes `key`. Deleting a key that does not exist succeeds (the call is idempotent).
    ///
    /// # Errors
    ///
    /// [`StorageError::InvalidKey`]; a backend error otherwise.
    async fn delete(&self, key: &str) -> Result<()>;

    /// Lists the direct children of the folder `prefix` (`""` for the root, else ending in `/`):
    /// keys by their last segment, sub-folders by their segment with a trailing `/`, each once,
    /// sorted by byte order. A folder with nothing in it lists as empty.
    ///
    /// # Errors
    ///
    /// [`StorageError::InvalidPrefix`]; a backend error otherwise.
    async fn list(&self, prefix: &str) -> Result<Vec<String>>;

    /// Applies `ops` in order, atomically: either all of them take effect, or none does (on any
    /// error, including a failed [`Op::Check`]).
    ///
    /// # Errors
    ///
    /// Any validation error of any op (checked before anything is applied),
    /// [`StorageError::TooManyOps`], [`StorageError::CheckFailed`], [`StorageError::Conflict`]
    /// (safe to retry), or a backend error.
    async fn transaction(&self, ops: Vec<Op>) -> Result<()>;

    /// The backend's name as Vault's `storage_type` reports it (`inmem`, `sqlite`,
    /// `postgresql`); wrappers forward their inner storage's. The default is `strongroom`.
    fn kind(&self) -> &'static str {
        "strongroom"
    }
}

/// One operation of a [`Storage::transaction`].
///
/// Deliberately exhaustive: every `Storage` implementation must handle every op, so a new op is a
/// breaking change however it is spelled.
#[derive(Clone, PartialEq, Eq)]
pub enum Op {
    /// Store `value` under `key`.
    Put {
        /// The key.
        key: String,
        /// The value.
        value: Vec<u8>,
    },
    /// Remove `key` (no error if absent).
    Delete {
        /// The key.
        key: String,
    },
    /// Fail the whole transaction with [`StorageError::CheckFailed`] unless `key` currently holds
    /// `expected` (`None`: unless `key` is absent). Sees the effects of earlier ops in the same
    /// transaction. This is the building block for compare-and-swap.
    Check {
        /// The key.
        key: String,
        /// The value it must hold, or `None` for "must be absent".
        expected: Option<Vec<u8>>,
    },
}

impl Op {
    /// An [`Op::Put`].
    pub fn put(key: impl Into<String>, value: Vec<u8>) -> Self {
        Self::Put {
            key: key.into(),
            value,
        }
    }

    /// An [`Op::Delete`].
    pub fn delete(key: impl Into<String>) -> Self {
        Self::Delete { key: key.into() }
    }

    /// An [`Op::Check`].
    pub fn check(key: impl Into<String>, expected: Option<Vec<u8>>) -> Self {
        Self::Check {
            key: key.into(),
            expected,
        }
    }

    /// The key this op is about.
    pub fn key(&self) -> &str {
        match self {
            Self::Put { key, .. } | Self::Delete { key } | Self::Check { key, .. } => key,
        }
    }
}

/// Values are elided: in the vault they are ciphertext, but an `Op` built by an embedder may not be.
impl std::fmt::Debug for Op {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Put { key, value } => f
                .debug_struct("Put")
                .field("key", key)
                .field("value_len", &value.len())
                .finish(),
            Self::Delete { key } => f.debug_struct("Delete").field("key", key).finish(),
            Self::Check { key, expected } => f
                .debug_struct("Check")
                .field("key", key)
                .field("expected_len", &expected.as_ref().map(Vec::len))
                .finish(),
        }
    }
}

/// Size limits a store enforces on its input. Every backend takes one and applies it identically.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// The largest value accepted, in bytes. Default [`Limits::DEFAULT_MAX_VALUE_LEN`] (2 MiB).
    pub max_value_len: usize,
    /// The most operations one transaction may hold. Default
    /// [`Limits::DEFAULT_MAX_TRANSACTION_OPS`] (1024).
    pub max_transaction_ops: usize,
}

impl Limits {
    /// The default maximum value length: 2 MiB, so that a 1 MiB secret (the limit Vault
    /// documents for its integrated storage, and what OpenBao accepts) fits with the framing
    /// an engine and the barrier add to it.
    pub const DEFAULT_MAX_VALUE_LEN: usize = 2 * 1024 * 1024;
    /// The default maximum number of operations in one transaction.
    pub const DEFAULT_MAX_TRANSACTION_OPS: usize = 1024;

    /// Sets the largest value accepted, in bytes.
    #[must_use]
    pub fn with_max_value_len(mut self, max: usize) -> Self {
        self.max_value_len = max;
        self
    }

    /// Sets the most operations one transaction may hold.
    #[must_use]
    pub fn with_max_transaction_ops(mut self, max: usize) -> Self {
        self.max_transaction_ops = max;
        self
    }

    /// Checks a key for a read or delete.
    ///
    /// # Errors
    ///
    /// [`StorageError::InvalidKey`] naming the rule broken.
    pub fn check_key(&self, key: &str) -> Result<()> {
        check_key(key).map_err(|rule| StorageError::invalid_key(key, rule))
    }

    /// Checks a list prefix.
    ///
    /// # Errors
    ///
    /// [`StorageError::InvalidPrefix`] naming the rule broken.
    pub fn check_prefix(&self, prefix: &str) -> Result<()> {
        check_prefix(prefix).map_err(|rule| StorageError::InvalidPrefix {
            prefix: key::shown(prefix),
            rule,
        })
    }

    /// Checks a key and value for a write.
    ///
    /// # Errors
    ///
    /// [`StorageError::InvalidKey`] or [`StorageError::ValueTooLarge`].
    pub fn check_put(&self, key: &str, value: &[u8]) -> Result<()> {
        self.check_key(key)?;
        if value.len() > self.max_value_len {
            return Err(StorageError::ValueTooLarge {
                key: key::shown(key),
                len: value.len(),
                max: self.max_value_len,
            });
        }
        Ok(())
    }

    /// Checks every op of a transaction, so that a bad op anywhere fails the batch before
    /// anything is applied.
    ///
    /// # Errors
    ///
    /// [`StorageError::TooManyOps`] or the first op's key or value error.
    pub fn check_ops(&self, ops: &[Op]) -> Result<()> {
        if ops.len() > self.max_transaction_ops {
            return Err(StorageError::TooManyOps {
                len: ops.len(),
                max: self.max_transaction_ops,
            });
        }
        for op in ops {
            match op {
                Op::Put { key, value } => self.check_put(key, value)?,
                Op::Delete { key } => self.check_key(key)?,
                Op::Check { key, expected } => match expected {
                    Some(value) => self.check_put(key, value)?,
                    None => self.check_key(key)?,
                },
            }
        }
        Ok(())
    }

    fn validate(self) -> Result<Self> {
        if self.max_value_len == 0 {
            return Err(StorageError::Config(
                "max_value_len must be at least 1 byte".into(),
            ));
        }
        if self.max_transaction_ops == 0 {
            return Err(StorageError::Config(
                "max_transaction_ops must be at least 1".into(),
            ));
        }
        Ok(self)
    }
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_value_len: Self::DEFAULT_MAX_VALUE_LEN,
            max_transaction_ops: Self::DEFAULT_MAX_TRANSACTION_OPS,
        }
    }
}

macro_rules! forward_storage {
    ($($ty:ty),*) => {$(
        #[async_trait]
        impl<S: Storage + ?Sized> Storage for $ty {
            async fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
                (**self).get(key).await
            }
            async fn put(&self, key: &str, value: Vec<u8>) -> Result<()> {
                (**self).put(key, value).await
            }
            async fn delete(&self, key: &str) -> Result<()> {
                (**self).delete(key).await
            }
            async fn list(&self, prefix: &str) -> Result<Vec<String>> {
                (**self).list(prefix).await
            }
            async fn transaction(&self, ops: Vec<Op>) -> Result<()> {
                (**self).transaction(ops).await
            }
            fn kind(&self) -> &'static str {
                (**self).kind()
            }
        }
    )*};
}

forward_storage!(Arc<S>, Box<S>, &S);

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send_sync<T: Send + Sync>() {}

    #[test]
    fn public_types_are_send_and_sync() {
        assert_send_sync::<MemoryStorage>();
        assert_send_sync::<Arc<dyn Storage>>();
        assert_send_sync::<StorageError>();
        assert_send_sync::<Op>();
    }

    #[test]
    fn op_debug_hides_values() {
        let op = Op::put("k", b"hunter2".to_vec());
        let shown = format!("{op:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("value_len: 7"), "{shown}");
        let op = Op::check("k", Some(b"hunter2".to_vec()));
        assert!(!format!("{op:?}").contains("hunter2"));
    }

    #[test]
    fn limits_reject_nonsense() {
        assert!(Limits::default().with_max_value_len(0).validate().is_err());
        assert!(
            Limits::default()
                .with_max_transaction_ops(0)
                .validate()
                .is_err()
        );
        assert!(Limits::default().validate().is_ok());
    }

    #[test]
    fn check_ops_rejects_before_anything() {
        let limits = Limits::default().with_max_value_len(4);
        let ops = vec![Op::put("a", vec![1]), Op::put("b", vec![0; 5])];
        assert!(matches!(
            limits.check_ops(&ops),
            Err(StorageError::ValueTooLarge { len: 5, max: 4, .. })
        ));
        let many = vec![Op::delete("a"); 1025];
        assert!(matches!(
            Limits::default().check_ops(&many),
            Err(StorageError::TooManyOps { len: 1025, .. })
        ));
    }
}
