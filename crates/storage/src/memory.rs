use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::{PoisonError, RwLock};

use async_trait::async_trait;

use crate::key::{child_of, folder_upper_bound};
use crate::{Limits, Op, Result, Storage, StorageError};

/// An in-process store: a sorted map behind a lock. Nothing survives the process.
///
/// For tests, examples and dev servers. It enforces exactly the same rules as the durable backends
/// and passes the same conformance suite, so code tested against it behaves the same on SQLite or
/// PostgreSQL. Inside a vault it only ever holds ciphertext (the barrier sits above it).
#[derive(Default)]
pub struct MemoryStorage {
    limits: Limits,
    map: RwLock<BTreeMap<String, Vec<u8>>>,
}

impl std::fmt::Debug for MemoryStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryStorage")
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl MemoryStorage {
    /// An empty store with the default [`Limits`].
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty store with the given limits.
    ///
    /// # Errors
    ///
    /// [`StorageError::Config`] if a limit is zero.
    pub fn with_limits(limits: Limits) -> Result<Self> {
        Ok(Self {
            limits: limits.validate()?,
            map: RwLock::default(),
        })
    }

    /// The limits this store enforces.
    pub(crate) fn limits(&self) -> &Limits {
        &self.limits
    }

    // A panic while holding the lock cannot leave the map half-updated (every mutation is a single
    // `BTreeMap` call, and transactions undo on the way out), so a poisoned lock is still usable.
    fn read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<String, Vec<u8>>> {
        self.map.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, BTreeMap<String, Vec<u8>>> {
        self.map.write().unwrap_or_else(PoisonError::into_inner)
    }
}

#[async_trait]
impl Storage for MemoryStorage {
    fn kind(&self) -> &'static str {
        "inmem"
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        self.limits.check_key(key)?;
        Ok(self.read().get(key).cloned())
    }

    async fn put(&self, key: &str, value: Vec<u8>) -> Result<()> {
        self.limits.check_put(key, &value)?;
        self.write().insert(key.to_owned(), value);
        Ok(())
    }

    async fn delete(&self, key: &str) -> Result<()> {
        self.limits.check_key(key)?;
        self.write().remove(key);
        Ok(())
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>> {
        self.limits.check_prefix(prefix)?;
        let map = self.read();
        let mut out = Vec::new();
        // One seek per child: a folder's descendants are skipped over, not walked.
        let mut from = Bound::Included(prefix.to_owned());
        while let Some((key, _)) = map
            .range::<String, _>((from.clone(), Bound::Unbounded))
            .next()
        {
            let Some(child) = child_of(prefix, key) else {
                break;
            };
            from = if child.ends_with('/') {
                Bound::Included(format!("{prefix}{}", folder_upper_bound(child)))
            } else {
                Bound::Excluded(key.clone())
            };
            out.push(child.to_owned());
        }
        // Children come out sorted: a folder `x/` is emitted at its first descendant, and every
        // key between `x` and that descendant (such as `x-1`) sorts before `x/` too.
        debug_assert!(out.is_sorted());
        Ok(out)
    }

    async fn transaction(&self, ops: Vec<Op>) -> Result<()> {
        self.limits.check_ops(&ops)?;
        let mut map = self.write();
        // Apply in order, remembering what each op overwrote; undo everything on a failed check.
        let mut undo: Vec<(String, Option<Vec<u8>>)> = Vec::with_capacity(ops.len());
        let mut failed = None;
        for op in ops {
            match op {
                Op::Put { key, value } => {
                    let old = map.insert(key.clone(), value);
                    undo.push((key, old));
                }
                Op::Delete { key } => {
                    let old = map.remove(&key);
                    undo.push((key, old));
                }
                Op::Check { key, expected } => {
                    if map.get(&key) != expected.as_ref() {
                        failed = Some(key);
                        break;
                    }
                }
            }
        }
        if let Some(key) = failed {
            for (key, old) in undo.into_iter().rev() {
                match old {
                    Some(value) => map.insert(key, value),
                    None => map.remove(&key),
                };
            }
            return Err(StorageError::CheckFailed {
                key: crate::key::shown(&key),
            });
        }
        Ok(())
    }
}
