//! What the SQL backends share: schema, statements, error mapping.
//!
//! Both SQL backends keep one table `(key TEXT PRIMARY KEY, parent TEXT, value BLOB)` with
//! byte-order collation, so its B-trees sort exactly like a Rust `BTreeMap<String, _>`. `parent`
//! is the key up to and including its last `/` (`""` at the root), computed on write, with an
//! index on `(parent, key)`.
//!
//! `list(prefix)` must neither scan the whole table nor a folder's whole subtree (a folder holding
//! one sub-folder with a million keys lists one child). It is one query of two parts:
//!
//! * the keys directly in the folder: `WHERE parent = prefix`, one index range scan over exactly
//!   those rows;
//! * the sub-folders: a *skip scan* over the parent index, as a recursive query: seek the first
//!   `parent` deeper than the prefix; its next segment `x` names a sub-folder `x/`; seek next at
//!   `prefix + x + '0'` (the first string after everything under `x/`). One seek per sub-folder,
//!   never touching the keys inside.
//!
//! So a list costs O(keys in the folder + sub-folders · log n), whatever lies deeper.

use std::sync::Arc;

#[cfg(feature = "postgres")]
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

/// The error for a table whose columns are not ours.
pub(crate) fn incompatible(table: &str, err: sqlx::Error) -> StorageError {
    StorageError::Config(format!(
        "table {table:?} exists but is not a Strongroom storage table of this version ({err})"
    ))
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
#[derive(Clone)]
pub(crate) struct Statements {
    /// Reads one value. Parameter: the key.
    pub(crate) get: Arc<str>,
    /// Upserts one value. Parameters: the key, its parent folder, the value.
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
#[cfg(feature = "postgres")]
pub(crate) fn q(sql: &Arc<str>) -> AssertSqlSafe<Arc<str>> {
    AssertSqlSafe(Arc::clone(sql))
}

/// What a SQL dialect spells differently.
pub(crate) struct Dialect {
    /// The function giving the 1-based character position of a substring: `strpos` or `instr`.
    pub(crate) position: &'static str,
    /// Character length: `char_length` or `length`.
    pub(crate) length: &'static str,
    /// How the nth positional parameter is written: `$` (for `$1`) or `?` (for `?1`).
    pub(crate) param: &'static str,
    /// A text column sorted by byte order: `TEXT COLLATE "C"` or `TEXT COLLATE BINARY`.
    pub(crate) text: &'static str,
    /// A binary column: `BYTEA` or `BLOB`.
    pub(crate) blob: &'static str,
    /// Appended to `CREATE TABLE`: `""` or `" WITHOUT ROWID"`.
    pub(crate) table_options: &'static str,
}

/// The key's folder: everything up to and including its last `/`, or `""` at the root.
pub(crate) fn parent_of(key: &str) -> &str {
    key.rfind('/')
        .and_then(|slash| key.get(..=slash))
        .unwrap_or("")
}

impl Dialect {
    /// The statements that create the schema for `table` (a checked identifier), idempotently.
    pub(crate) fn schema(&self, table: &str) -> [String; 2] {
        let Dialect {
            text,
            blob,
            table_options,
            ..
        } = self;
        [
            format!(
                "CREATE TABLE IF NOT EXISTS \"{table}\" (\
                   key {text} NOT NULL PRIMARY KEY, \
                   parent {text} NOT NULL, \
                   value {blob} NOT NULL){table_options}"
            ),
            format!("CREATE INDEX IF NOT EXISTS \"{table}_parent\" ON \"{table}\" (parent, key)"),
        ]
    }

    /// A statement that fails unless `table` has the columns this version uses: run after
    /// [`schema`](Self::schema), it turns a table left by something else into a clear error.
    pub(crate) fn probe(&self, table: &str) -> String {
        format!("SELECT key, parent, value FROM \"{table}\" LIMIT 0")
    }

    /// Builds the statements for `table` (a checked identifier).
    pub(crate) fn statements(&self, table: &str) -> Statements {
        let Dialect {
            position,
            length,
            param,
            ..
        } = self;
        let table = format!("\"{table}\"");
        let (p1, p2, p3) = (
            format!("{param}1"),
            format!("{param}2"),
            format!("{param}3"),
        );
        let list = |lower: &str, upper: &str, plen: &str| {
            // `rest` = the parent after the prefix; it holds at least one '/', so `slash` > 0.
            let rest = format!("substr(w.p, {plen} + 1)");
            let slash = format!("{position}({rest}, '/')");
            format!(
                "WITH RECURSIVE walk(p) AS ( \
                   SELECT (SELECT parent FROM {table} WHERE parent > {lower} {upper} \
                           ORDER BY parent LIMIT 1) \
                   UNION ALL \
                   SELECT (SELECT parent FROM {table} \
                           WHERE parent >= substr(w.p, 1, {plen} + {slash} - 1) || '0' {upper} \
                           ORDER BY parent LIMIT 1) \
                   FROM walk w WHERE w.p IS NOT NULL \
                 ) \
                 SELECT key FROM {table} WHERE parent = {lower} \
                 UNION ALL \
                 SELECT p FROM walk WHERE p IS NOT NULL"
            )
        };
        Statements {
            get: format!("SELECT value FROM {table} WHERE key = {p1}").into(),
            put: format!(
                "INSERT INTO {table} (key, parent, value) VALUES ({p1}, {p2}, {p3}) \
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value"
            )
            .into(),
            delete: format!("DELETE FROM {table} WHERE key = {p1}").into(),
            list_folder: list(
                &p1,
                &format!("AND parent < {p2}"),
                &format!("{length}({p1})"),
            )
            .into(),
            list_root: list("''", "", "0").into(),
        }
    }
}

/// Implements [`Storage`](crate::Storage) for a SQL backend struct with a field `limits` and the
/// methods `async fn read_value(&self, key) -> Result<Option<Vec<u8>>>`, `async fn
/// read_keys(&self, prefix) -> Result<Vec<String>>` (the rows [`children`](crate::key::children)
/// folds into a listing) and `async fn write(&self, ops: Vec<Op>) -> Result<()>` (applies the
/// checked ops atomically).
macro_rules! sql_storage {
    ($ty:ty, $kind:literal) => {
        #[async_trait::async_trait]
        impl $crate::Storage for $ty {
            fn kind(&self) -> &'static str {
                $kind
            }

            async fn get(&self, key: &str) -> $crate::Result<Option<Vec<u8>>> {
                self.limits.check_key(key)?;
                self.read_value(key).await
            }

            async fn put(&self, key: &str, value: Vec<u8>) -> $crate::Result<()> {
                self.limits.check_put(key, &value)?;
                self.write(vec![$crate::Op::put(key, value)]).await
            }

            async fn delete(&self, key: &str) -> $crate::Result<()> {
                self.limits.check_key(key)?;
                self.write(vec![$crate::Op::delete(key)]).await
            }

            async fn list(&self, prefix: &str) -> $crate::Result<Vec<String>> {
                self.limits.check_prefix(prefix)?;
                let keys = self.read_keys(prefix).await?;
                Ok($crate::key::children(
                    prefix,
                    keys.iter().map(String::as_str),
                ))
            }

            async fn transaction(&self, ops: Vec<$crate::Op>) -> $crate::Result<()> {
                self.limits.check_ops(&ops)?;
                self.write(ops).await
            }
        }
    };
}
pub(crate) use sql_storage;

/// Defines `async fn apply(sql: &Statements, conn: &mut <$db as Database>::Connection, ops)
/// -> Result<()>` for a sqlx database type: runs the ops in order on a connection (inside a
/// transaction when there is more than one statement); a failed [`Op::Check`](crate::Op::Check) returns
/// [`StorageError::CheckFailed`] (the caller rolls back). `BACKEND` must be in scope.
#[cfg(feature = "postgres")]
macro_rules! sql_apply {
    ($db:ty) => {
        async fn apply(
            sql: &$crate::sql::Statements,
            conn: &mut <$db as sqlx::Database>::Connection,
            ops: Vec<$crate::Op>,
        ) -> $crate::Result<()> {
            use $crate::Op;
            let err = |e| $crate::sql::map_err(BACKEND, e);
            for op in ops {
                match op {
                    Op::Put { key, value } => {
                        sqlx::query($crate::sql::q(&sql.put))
                            .bind(key.as_str())
                            .bind($crate::sql::parent_of(&key))
                            .bind(value)
                            .execute(&mut *conn)
                            .await
                            .map_err(err)?;
                    }
                    Op::Delete { key } => {
                        sqlx::query($crate::sql::q(&sql.delete))
                            .bind(key)
                            .execute(&mut *conn)
                            .await
                            .map_err(err)?;
                    }
                    Op::Check { key, expected } => {
                        let current: Option<Vec<u8>> = sqlx::query_scalar($crate::sql::q(&sql.get))
                            .bind(&key)
                            .fetch_optional(&mut *conn)
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
            Ok(())
        }
    };
}
#[cfg(feature = "postgres")]
pub(crate) use sql_apply;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parents() {
        assert_eq!(parent_of("a"), "");
        assert_eq!(parent_of("a/b"), "a/");
        assert_eq!(parent_of("a/b/c"), "a/b/");
        assert_eq!(parent_of("é/ü"), "é/");
    }

    #[test]
    fn list_is_one_statement_with_bounded_seeks() {
        let dialect = Dialect {
            position: "strpos",
            length: "char_length",
            param: "$",
            text: "TEXT COLLATE \"C\"",
            blob: "BYTEA",
            table_options: "",
        };
        let sql = dialect.statements("t");
        assert!(sql.list_folder.contains("parent > $1 AND parent < $2"));
        assert!(sql.list_folder.contains("WHERE parent = $1"));
        assert_eq!(sql.list_folder.matches("LIMIT 1").count(), 2);
        assert!(!sql.list_root.contains("$1"));
        assert!(sql.put.contains("VALUES ($1, $2, $3)"));
        let [table, index] = dialect.schema("t");
        assert!(table.contains("CREATE TABLE IF NOT EXISTS \"t\""));
        assert!(index.contains("\"t_parent\" ON \"t\" (parent, key)"));
    }
}
