use std::time::Duration;

use sqlx::postgres::PgPoolOptions;
use sqlx::{AssertSqlSafe, PgPool};

use crate::Op;
use crate::sql::{Dialect, Statements, connect_err, incompatible, map_err, sql_apply, sql_storage};
use crate::{Limits, Result, StorageError};

const BACKEND: &str = "postgres";

/// How to connect a [`PostgresStorage`].
#[derive(Clone)]
#[non_exhaustive]
pub struct PostgresConfig {
    /// A `postgres://user:password@host:port/database?sslmode=…` URL. It may hold a password, so
    /// it is never shown by `Debug` or in an error. Without `sslmode` the connection needs TLS
    /// (`require`, or `verify-full` when `sslrootcert` names a CA); see [`crate::tls`].
    pub url: String,
    /// The table to keep keys in: lower-case ASCII letters, digits and `_`, starting with a letter
    /// or `_`, at most 63 bytes. Created if missing. Default `strongroom_kv`.
    pub table: String,
    /// Most connections in the pool. Default 10.
    pub max_connections: u32,
    /// How long connecting (or waiting for a pooled connection) may take before the call fails
    /// with [`StorageError::Connection`]. Default 5 s.
    pub connect_timeout: Duration,
    /// Input limits.
    pub limits: Limits,
}

impl std::fmt::Debug for PostgresConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresConfig")
            .field("url", &"[REDACTED]")
            .field("table", &self.table)
            .field("max_connections", &self.max_connections)
            .field("connect_timeout", &self.connect_timeout)
            .field("limits", &self.limits)
            .finish()
    }
}

impl PostgresConfig {
    /// The defaults for the database at `url`.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            table: "strongroom_kv".into(),
            max_connections: 10,
            connect_timeout: Duration::from_secs(5),
            limits: Limits::default(),
        }
    }

    /// Sets the table name.
    #[must_use]
    pub fn table(mut self, table: impl Into<String>) -> Self {
        self.table = table.into();
        self
    }

    /// Sets the pool size.
    #[must_use]
    pub fn max_connections(mut self, max: u32) -> Self {
        self.max_connections = max;
        self
    }

    /// Sets the connect timeout.
    #[must_use]
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Sets the input limits.
    #[must_use]
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }
}

pub(crate) fn check_table_name(table: &str) -> Result<()> {
    let mut chars = table.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_');
    let rest_ok = chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if first_ok && rest_ok && table.len() <= 63 {
        Ok(())
    } else {
        Err(StorageError::Config(format!(
            "PostgreSQL table name {table:?} must be 1 to 63 of [a-z0-9_], not starting with a digit"
        )))
    }
}

/// PostgreSQL, for several nodes sharing one store.
///
/// One table, `key TEXT COLLATE "C" PRIMARY KEY, parent TEXT, value BYTEA`, with an index on
/// `(parent, key)`. Every write is a committed PostgreSQL transaction (durable as the server's
/// `synchronous_commit` says). `list` is one query: an index range scan over the keys directly
/// in the folder plus a skip scan over sub-folders (one index seek each), never a scan of the
/// folder's subtree. Transactions that hold an [`Op::Check`](crate::Op::Check) run `SERIALIZABLE`, so a
/// check cannot be invalidated by a concurrent writer; the loser gets
/// [`StorageError::Conflict`].
pub struct PostgresStorage {
    limits: Limits,
    table: String,
    // One pool serves reads and writes (`PgPool` is a handle; both fields are the same pool).
    readers: PgPool,
    writer: PgPool,
    sql: Statements,
    /// Set on the fenced handle an HA lock hands out: every write checks it first.
    fence: Option<crate::postgres_ha::PgFence>,
}

impl std::fmt::Debug for PostgresStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStorage")
            .field("table", &self.table)
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl PostgresStorage {
    /// Connects with the default configuration and creates the table if missing.
    ///
    /// # Errors
    ///
    /// As [`connect_with`](Self::connect_with).
    pub async fn connect(url: &str) -> Result<Self> {
        Self::connect_with(PostgresConfig::new(url)).await
    }

    /// Connects as `config` says and creates the table if missing.
    ///
    /// # Errors
    ///
    /// [`StorageError::Config`] for a bad URL, table name or limit; [`StorageError::Connection`]
    /// when the server cannot be reached within the connect timeout; [`StorageError::Backend`]
    /// if the table cannot be created.
    pub async fn connect_with(config: PostgresConfig) -> Result<Self> {
        let limits = config.limits.validate()?;
        check_table_name(&config.table)?;
        if config.max_connections == 0 {
            return Err(StorageError::Config(
                "a PostgreSQL store needs at least one connection".into(),
            ));
        }
        let (options, warning) = crate::tls::postgres_options(&config.url)?;
        if let Some(warning) = warning {
            tracing::warn!("PostgreSQL storage: {warning}");
        }
        let pool = PgPoolOptions::new()
            .max_connections(config.max_connections)
            .acquire_timeout(config.connect_timeout)
            .connect_with(options.application_name("strongroom"))
            .await
            .map_err(|e| connect_err(BACKEND, e))?;
        let dialect = Dialect {
            position: "strpos",
            length: "char_length",
            param: "$",
            text: "TEXT COLLATE \"C\"",
            blob: "BYTEA",
            table_options: "",
        };
        // Several nodes may start at once: serialise schema creation on an advisory lock.
        let mut tx = pool.begin().await.map_err(|e| map_err(BACKEND, e))?;
        sqlx::query("SELECT pg_advisory_xact_lock(hashtext($1))")
            .bind(&config.table)
            .execute(&mut *tx)
            .await
            .map_err(|e| map_err(BACKEND, e))?;
        let [table_ddl, index_ddl] = dialect.schema(&config.table);
        sqlx::query(AssertSqlSafe(table_ddl))
            .execute(&mut *tx)
            .await
            .map_err(|e| map_err(BACKEND, e))?;
        sqlx::query(AssertSqlSafe(dialect.probe(&config.table)))
            .execute(&mut *tx)
            .await
            .map_err(|e| incompatible(&config.table, e))?;
        sqlx::query(AssertSqlSafe(index_ddl))
            .execute(&mut *tx)
            .await
            .map_err(|e| map_err(BACKEND, e))?;
        tx.commit().await.map_err(|e| map_err(BACKEND, e))?;
        let sql = dialect.statements(&config.table);
        Ok(Self {
            limits,
            table: config.table,
            readers: pool.clone(),
            writer: pool,
            sql,
            fence: None,
        })
    }

    /// The connection pool (shared with an HA lock on the same database).
    pub(crate) fn pool(&self) -> &PgPool {
        &self.writer
    }

    /// A handle on the same table whose every write runs `fence`'s check first, in the same
    /// transaction.
    /// Its writes go through `writer`, a pool on the same database.
    pub(crate) fn with_fence(&self, writer: PgPool, fence: crate::postgres_ha::PgFence) -> Self {
        Self {
            fence: Some(fence),
            writer,
            ..self.with_fence_removed()
        }
    }

    /// A handle on the same table and pool without a fence.
    pub(crate) fn with_fence_removed(&self) -> Self {
        Self {
            limits: self.limits,
            table: self.table.clone(),
            readers: self.readers.clone(),
            writer: self.writer.clone(),
            sql: self.sql.clone(),
            fence: None,
        }
    }

    /// The table this store keeps its keys in.
    pub fn table(&self) -> &str {
        &self.table
    }

    /// Drops this store's table and everything in it. For tests and decommissioning.
    ///
    /// # Errors
    ///
    /// A backend error.
    pub async fn drop_table(&self) -> Result<()> {
        sqlx::query(AssertSqlSafe(format!(
            "DROP TABLE IF EXISTS \"{}\"",
            self.table
        )))
        .execute(&self.writer)
        .await
        .map_err(|e| map_err(BACKEND, e))?;
        Ok(())
    }

    /// Closes the pool, waiting for in-flight calls.
    pub async fn close(&self) {
        self.writer.close().await;
    }
}

impl PostgresStorage {
    /// Reads one value (the key is checked).
    async fn read_value(&self, key: &str) -> Result<Option<Vec<u8>>> {
        sqlx::query_scalar(crate::sql::q(&self.sql.get))
            .bind(key)
            .fetch_optional(&self.readers)
            .await
            .map_err(|e| map_err(BACKEND, e))
    }

    /// The keys at and below the folder `prefix` that [`crate::key::children`] folds into its
    /// listing (the prefix is checked).
    async fn read_keys(&self, prefix: &str) -> Result<Vec<String>> {
        if prefix.is_empty() {
            sqlx::query_scalar(crate::sql::q(&self.sql.list_root))
                .fetch_all(&self.readers)
                .await
        } else {
            sqlx::query_scalar(crate::sql::q(&self.sql.list_folder))
                .bind(prefix)
                .bind(crate::key::folder_upper_bound(prefix))
                .fetch_all(&self.readers)
                .await
        }
        .map_err(|e| map_err(BACKEND, e))
    }

    /// Applies `ops` atomically. A single put or delete is one statement; anything else is a
    /// transaction, `SERIALIZABLE` when it holds an `Op::Check`, so that the check and the writes
    /// after it see one consistent state, or the commit fails.
    async fn write(&self, ops: Vec<Op>) -> Result<()> {
        let err = |e| map_err(BACKEND, e);
        if let Some(fence) = &self.fence {
            let announced: Vec<String> = ops
                .iter()
                .filter(|op| !matches!(op, Op::Check { .. }) && crate::ha::watched(op.key()))
                .map(|op| op.key().to_owned())
                .collect();
            if let ([op @ (Op::Put { .. } | Op::Delete { .. })], true) =
                (ops.as_slice(), announced.is_empty())
            {
                return fence.write_one(&self.writer, op).await;
            }
            // Fenced: the check and the writes in one transaction. The check holds the lock row
            // (`FOR SHARE`) until the commit, so a takeover waits for this write or refuses it.
            let mut tx = self.begin(&ops).await?;
            fence.check(&mut tx).await?;
            apply(&self.sql, &mut tx, ops).await?;
            for key in &announced {
                fence.notify(&mut tx, key).await?;
            }
            return tx.commit().await.map_err(err);
        }
        if let [Op::Put { .. } | Op::Delete { .. }] = ops.as_slice() {
            let mut conn = self.writer.acquire().await.map_err(err)?;
            return apply(&self.sql, &mut conn, ops).await;
        }
        // Dropping `tx` before commit (on `?` or a failed check) rolls it all back.
        let mut tx = self.begin(&ops).await?;
        apply(&self.sql, &mut tx, ops).await?;
        tx.commit().await.map_err(err)
    }

    /// A write transaction for `ops`: `SERIALIZABLE` when they hold an `Op::Check`, so that the
    /// check and the writes after it see one consistent state, or the commit fails.
    async fn begin(&self, ops: &[Op]) -> Result<sqlx::Transaction<'static, sqlx::Postgres>> {
        let checks = ops.iter().any(|op| matches!(op, Op::Check { .. }));
        if checks {
            self.writer
                .begin_with("BEGIN ISOLATION LEVEL SERIALIZABLE")
                .await
        } else {
            self.writer.begin().await
        }
        .map_err(|e| map_err(BACKEND, e))
    }
}

sql_storage!(PostgresStorage, "postgresql");
sql_apply!(sqlx::Postgres);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_names() {
        for ok in ["strongroom_kv", "_t", "t1", &"a".repeat(63)] {
            assert!(check_table_name(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "1t",
            "T",
            "t-1",
            "t\"; DROP TABLE x; --",
            &"a".repeat(64),
        ] {
            assert!(check_table_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn config_debug_hides_the_url() {
        let config = PostgresConfig::new("postgres://u:hunter2@db/x");
        assert!(!format!("{config:?}").contains("hunter2"));
    }
}
