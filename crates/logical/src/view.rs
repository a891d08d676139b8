use std::sync::Arc;

use async_trait::async_trait;
use strongroom_storage::{Op, Result, Storage, StorageError, check_key, check_prefix};

/// An engine's window on storage: every key it uses is placed under its mount's prefix, and
/// nothing it is given can reach outside.
///
/// A view checks the engine's key against the storage key rules *before* prefixing it, so `..`,
/// `.`, empty segments, a leading `/` or NUL in a request path are refused (they are refused
/// again by the storage itself); since the prefix ends in `/` and the key cannot climb, the
/// prefixed key always lies inside the mount.
#[derive(Clone)]
pub struct StorageView {
    inner: Arc<dyn Storage>,
    prefix: Arc<str>,
}

impl std::fmt::Debug for StorageView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StorageView")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl StorageView {
    /// A view of `inner` under `prefix`, which must be a folder (`""` or ending in `/`).
    ///
    /// # Errors
    ///
    /// [`StorageError::InvalidPrefix`] for a prefix that is not a folder.
    pub fn new(inner: Arc<dyn Storage>, prefix: impl Into<String>) -> Result<Self> {
        let prefix = prefix.into();
        check_prefix(&prefix).map_err(|rule| StorageError::InvalidPrefix {
            prefix: prefix.clone(),
            rule,
        })?;
        Ok(Self {
            inner,
            prefix: prefix.into(),
        })
    }

    /// A view of a sub-folder of this view.
    ///
    /// # Errors
    ///
    /// [`StorageError::InvalidPrefix`] for a sub-folder that is not a folder.
    pub fn sub_view(&self, folder: &str) -> Result<Self> {
        check_prefix(folder).map_err(|rule| StorageError::InvalidPrefix {
            prefix: folder.into(),
            rule,
        })?;
        Self::new(Arc::clone(&self.inner), concat(&self.prefix, folder))
    }

    /// The prefix (ends in `/`, or is empty).
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    fn full(&self, key: &str) -> Result<String> {
        check_key(key).map_err(|rule| StorageError::InvalidKey {
            key: key.chars().take(96).collect(),
            rule,
        })?;
        Ok(concat(&self.prefix, key))
    }

    fn full_prefix(&self, prefix: &str) -> Result<String> {
        check_prefix(prefix).map_err(|rule| StorageError::InvalidPrefix {
            prefix: prefix.chars().take(96).collect(),
            rule,
        })?;
        Ok(concat(&self.prefix, prefix))
    }

    /// Errors name keys as the engine knows them, without the mount's prefix.
    fn relative(&self, err: StorageError) -> StorageError {
        let strip = |key: String| match key.strip_prefix(&*self.prefix) {
            Some(rest) => rest.to_owned(),
            None => key,
        };
        match err {
            StorageError::CheckFailed { key } => StorageError::CheckFailed { key: strip(key) },
            StorageError::InvalidKey { key, rule } => StorageError::InvalidKey {
                key: strip(key),
                rule,
            },
            StorageError::ValueTooLarge { key, len, max } => StorageError::ValueTooLarge {
                key: strip(key),
                len,
                max,
            },
            other => other,
        }
    }

    /// Deletes everything under the view (used when a mount is disabled), in batches.
    ///
    /// # Errors
    ///
    /// A storage error; what was deleted before it stays deleted.
    pub async fn clear(&self) -> Result<usize> {
        let mut deleted = 0;
        let mut folders = vec![String::new()];
        while let Some(folder) = folders.pop() {
            let mut batch = Vec::new();
            for child in self.list(&folder).await? {
                let path = format!("{folder}{child}");
                if child.ends_with('/') {
                    folders.push(path);
                } else {
                    batch.push(Op::delete(self.full(&path)?));
                }
            }
            for chunk in batch.chunks(256) {
                deleted += chunk.len();
                self.inner.transaction(chunk.to_vec()).await?;
            }
        }
        Ok(deleted)
    }
}

/// `a` then `b`, in one allocation of the right size (on every storage call of every engine).
fn concat(a: &str, b: &str) -> String {
    let mut out = String::with_capacity(a.len() + b.len());
    out.push_str(a);
    out.push_str(b);
    out
}

#[async_trait]
impl Storage for StorageView {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        self.inner.get(&self.full(key)?).await
    }

    async fn put(&self, key: &str, value: Vec<u8>) -> Result<()> {
        self.inner
            .put(&self.full(key)?, value)
            .await
            .map_err(|err| self.relative(err))
    }

    async fn delete(&self, key: &str) -> Result<()> {
        self.inner.delete(&self.full(key)?).await
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>> {
        self.inner.list(&self.full_prefix(prefix)?).await
    }

    async fn transaction(&self, ops: Vec<Op>) -> Result<()> {
        let ops = ops
            .into_iter()
            .map(|op| {
                Ok(match op {
                    Op::Put { key, value } => Op::put(self.full(&key)?, value),
                    Op::Delete { key } => Op::delete(self.full(&key)?),
                    Op::Check { key, expected } => Op::check(self.full(&key)?, expected),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        self.inner
            .transaction(ops)
            .await
            .map_err(|err| self.relative(err))
    }
}
