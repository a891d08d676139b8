//! What the SQL backends share: error mapping and the shape of the list query.
//!
//! Both SQL backends keep one table `(key TEXT PRIMARY KEY, value BLOB)` with byte-order collation,
//! so the primary key's B-tree is sorted exactly like a Rust `BTreeMap<String, _>`.
//!
//! `list` must not scan a whole folder's subtree: a folder holding one sub-folder with a million
//! keys lists one child. Both backends therefore run the same *skip scan*, as one recursive query:
//! seek the first key at or after the prefix; report its child; if the child is a folder `x/`,
//! seek next at `x0` (the first string after everything under `x/`), else just past the key. Each
//! step is one index seek, so a list costs O(children · log n) whatever lies below.

use std::sync::Arc;

use sqlx::AssertSqlSafe;

use crate::StorageError;

/// SQLSTATE codes that mean "a concurrent transaction won; nothing was applied; retry":
/// serialization_failure and deadlock_detected (PostgreSQL), and SQLite's BUSY / LOCKED.
const RETRYABLE_CODES: [&str; 4] = ["40001", "40P01", "5", "6"];

/// Maps a driver error to a [`StorageError`]. Driver types never leave this crate.
pub(crate) fn map_err(backend: &'static str, err: sqlx::Error) -> StorageError {
    match &err {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => StorageError::Connection {
            backend,
            source: Box::new(err),
        },
        sqlx::Error::Database(db)
            if db
                .code()
                .is_some_and(|code| RETRYABLE_CODES.contains(&code.as_ref())) =>
        {
            StorageError::Conflict
        }
        _ => StorageError::Backend {
            backend,
            source: Box::new(err),
        },
    }
}

/// Maps a failure to open a connection (pool creation): whatever the driver says, the store is
/// unreachable.
pub(crate) fn connect_err(backend: &'static str, err: sqlx::Error) -> StorageError {
    StorageError::Connection {
        backend,
        source: Box::new(err),
    }
}

/// The statements of one SQL backend, built once at connect time from constants and a checked
/// table name. Values are always bound, never formatted in.
pub(crate) struct Statements {
    /// Reads one value. Parameter: the key.
    pub(crate) get: Arc<str>,
    /// Upserts one value. Parameters: the key, the value.
    pub(crate) put: Arc<str>,
    /// Deletes one key. Parameter: the key.
    pub(crate) delete: Arc<str>,
    /// Lists under a non-empty folder prefix. Parameters: the prefix, and the prefix's upper
    /// bound (everything under the prefix sorts below it).
    pub(crate) list_folder: Arc<str>,
    /// Lists the root. No parameters.
    pub(crate) list_root: Arc<str>,
}

/// Marks one of the [`Statements`] as safe for sqlx: see there.
pub(crate) fn q(sql: &Arc<str>) -> AssertSqlSafe<Arc<str>> {
    AssertSqlSafe(Arc::clone(sql))
}

/// The SQL functions a dialect names differently.
pub(crate) struct Dialect {
    /// The function giving the 1-based character position of a substring: `strpos` or `instr`.
    pub(crate) position: &'static str,
    /// Character length: `char_length` or `length`.
    pub(crate) length: &'static str,
    /// The character with code point 1: `chr(1)` or `char(1)`.
    pub(crate) one: &'static str,
    /// How the nth positional parameter is written: `$1` or `?1`.
    pub(crate) param: &'static str,
}

impl Dialect {
    /// Builds the statements for `table` (already quoted if it needs to be).
    pub(crate) fn statements(&self, table: &str) -> Statements {
        let Dialect {
            position,
            length,
            one,
            param,
        } = self;
        let p1 = format!("{param}1");
        let p2 = format!("{param}2");
        let (first_bound, step_bound, plen) = (
            format!("key >= {p1} AND key < {p2}"),
            format!("AND key < {p2}"),
            format!("{length}({p1})"),
        );
        let build = |first_bound: &str, step_bound: &str, plen: &str| {
            // `rest` = the key after the prefix; `slash` = where its first '/' is (0: none).
            let rest = format!("substr(w.k, {plen} + 1)");
            let slash = format!("{position}({rest}, '/')");
            format!(
                "WITH RECURSIVE walk(k) AS ( \
                   SELECT (SELECT key FROM {table} WHERE {first_bound} ORDER BY key LIMIT 1) \
                   UNION ALL \
                   SELECT (SELECT key FROM {table} \
                           WHERE key >= CASE WHEN {slash} = 0 \
                                             THEN w.k || {one} \
                                             ELSE substr(w.k, 1, {plen} + {slash} - 1) || '0' END \
                           {step_bound} ORDER BY key LIMIT 1) \
                   FROM walk w WHERE w.k IS NOT NULL \
                 ) SELECT k FROM walk WHERE k IS NOT NULL"
            )
        };
        Statements {
            get: format!("SELECT value FROM {table} WHERE key = {p1}").into(),
            put: format!(
                "INSERT INTO {table} (key, value) VALUES ({p1}, {p2}) \
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value"
            )
            .into(),
            delete: format!("DELETE FROM {table} WHERE key = {p1}").into(),
            list_folder: build(&first_bound, &step_bound, &plen).into(),
            list_root: build("key >= ''", "", "0").into(),
        }
    }
}

/// Implements [`Storage`](crate::Storage) for a SQL backend struct with the fields `limits`,
/// `readers` and `writer` (pools), `sql` ([`Statements`]), a `const BACKEND: &str` in scope, and a
/// method `async fn begin(&self, checks: bool) -> Result<Transaction, sqlx::Error>` that opens a
/// write transaction (`checks`: the batch holds an [`Op::Check`](crate::Op::Check)).
macro_rules! sql_storage {
    ($ty:ty) => {
        #[async_trait::async_trait]
        impl $crate::Storage for $ty {
            async fn get(&self, key: &str) -> $crate::Result<Option<Vec<u8>>> {
                self.limits.check_key(key)?;
                sqlx::query_scalar($crate::sql::q(&self.sql.get))
                    .bind(key)
                    .fetch_optional(&self.readers)
                    .await
                    .map_err(|e| $crate::sql::map_err(BACKEND, e))
            }

            async fn put(&self, key: &str, value: Vec<u8>) -> $crate::Result<()> {
                self.limits.check_put(key, &value)?;
                sqlx::query($crate::sql::q(&self.sql.put))
                    .bind(key)
                    .bind(value)
                    .execute(&self.writer)
                    .await
                    .map_err(|e| $crate::sql::map_err(BACKEND, e))?;
                Ok(())
            }

            async fn delete(&self, key: &str) -> $crate::Result<()> {
                self.limits.check_key(key)?;
                sqlx::query($crate::sql::q(&self.sql.delete))
                    .bind(key)
                    .execute(&self.writer)
                    .await
                    .map_err(|e| $crate::sql::map_err(BACKEND, e))?;
                Ok(())
            }

            async fn list(&self, prefix: &str) -> $crate::Result<Vec<String>> {
                self.limits.check_prefix(prefix)?;
                let keys: Vec<String> = if prefix.is_empty() {
                    sqlx::query_scalar($crate::sql::q(&self.sql.list_root))
                        .fetch_all(&self.readers)
                        .await
                } else {
                    sqlx::query_scalar($crate::sql::q(&self.sql.list_folder))
                        .bind(prefix)
                        .bind($crate::key::folder_upper_bound(prefix))
                        .fetch_all(&self.readers)
                        .await
                }
                .map_err(|e| $crate::sql::map_err(BACKEND, e))?;
                Ok($crate::key::children(
                    prefix,
                    keys.iter().map(String::as_str),
                ))
            }

            async fn transaction(&self, ops: Vec<$crate::Op>) -> $crate::Result<()> {
                use $crate::Op;
                self.limits.check_ops(&ops)?;
                let err = |e| $crate::sql::map_err(BACKEND, e);
                let checks = ops.iter().any(|op| matches!(op, Op::Check { .. }));
                // Dropping `tx` before commit (on `?` or a failed check) rolls it all back.
                let mut tx = self.begin(checks).await.map_err(err)?;
                for op in ops {
                    match op {
                        Op::Put { key, value } => {
                            sqlx::query($crate::sql::q(&self.sql.put))
                                .bind(key)
                                .bind(value)
                                .execute(&mut *tx)
                                .await
                                .map_err(err)?;
                        }
                        Op::Delete { key } => {
                            sqlx::query($crate::sql::q(&self.sql.delete))
                                .bind(key)
                                .execute(&mut *tx)
                                .await
                                .map_err(err)?;
                        }
                        Op::Check { key, expected } => {
                            let current: Option<Vec<u8>> =
                                sqlx::query_scalar($crate::sql::q(&self.sql.get))
                                    .bind(&key)
                                    .fetch_optional(&mut *tx)
                                    .await
                                    .map_err(err)?;
                            if current != expected {
                                return Err($crate::StorageError::CheckFailed {
                                    key: $crate::key::shown(&key),
                                });
                            }
                        }
                    }
                }
                tx.commit().await.map_err(err)
            }
        }
    };
}
pub(crate) use sql_storage;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_sql_has_one_seek_per_step() {
        let sql = Dialect {
            position: "strpos",
            length: "char_length",
            one: "chr(1)",
            param: "$",
        }
        .statements("\"t\"");
        assert!(sql.list_folder.contains("key >= $1 AND key < $2"));
        assert_eq!(sql.list_folder.matches("LIMIT 1").count(), 2);
        assert!(!sql.list_root.contains("$1"));
        assert!(sql.put.contains("VALUES ($1, $2)"));
    }
}
