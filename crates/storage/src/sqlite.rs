use std::path::{Path, PathBuf};
use std::str::FromStr as _;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{AssertSqlSafe, SqlitePool};

use crate::sql::{Dialect, Statements, connect_err, incompatible, map_err, sql_storage};
use crate::{Limits, Result, StorageError};

const BACKEND: &str = "sqlite";

/// How to open a [`SqliteStorage`].
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct SqliteConfig {
    /// The database file. Created, with its schema, if missing.
    pub path: PathBuf,
    /// Input limits.
    pub limits: Limits,
    /// Reader connections (reads run in parallel with the single writer under WAL). Default 4.
    pub readers: u32,
    /// How long a write waits for a lock held by another process before failing with
    /// [`StorageError::Conflict`]. Default 5 s.
    pub busy_timeout: Duration,
}

impl SqliteConfig {
    /// The defaults for a database file at `path`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            limits: Limits::default(),
            readers: 4,
            busy_timeout: Duration::from_secs(5),
        }
    }

    /// Sets the input limits.
    #[must_use]
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Sets the number of reader connections.
    #[must_use]
    pub fn readers(mut self, readers: u32) -> Self {
        self.readers = readers;
        self
    }
}

/// The embedded default: one SQLite file.
///
/// Durability: the database runs in WAL mode with `synchronous = FULL`, so a write is on disk
/// (fsynced) before the call returns; an acknowledged write survives a process crash and a power
/// cut. All writes go through one connection, in order, each transaction `BEGIN IMMEDIATE`, so
/// transactions never conflict inside one process and wait (up to the busy timeout) for another.
/// Reads use a separate pool and never wait for writes.
pub struct SqliteStorage {
    limits: Limits,
    path: PathBuf,
    writer: SqlitePool,
    readers: SqlitePool,
    sql: Statements,
}

impl std::fmt::Debug for SqliteStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStorage")
            .field("path", &self.path)
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

const TABLE: &str = "strongroom_kv";

impl SqliteStorage {
    /// Opens (creating if needed) the database at `path` with the default configuration.
    ///
    /// # Errors
    ///
    /// [`StorageError::Connection`] if the file cannot be opened or created.
    pub async fn open(path: impl AsRef<Path>) -> Result<Self> {
        Self::open_with(SqliteConfig::new(path.as_ref())).await
    }

    /// Opens (creating if needed) a database as `config` says.
    ///
    /// # Errors
    ///
    /// [`StorageError::Config`] for an unusable configuration; [`StorageError::Connection`] if the
    /// file cannot be opened or created; [`StorageError::Backend`] if the schema cannot be made.
    pub async fn open_with(config: SqliteConfig) -> Result<Self> {
        let limits = config.limits.validate()?;
        if config.readers == 0 {
            return Err(StorageError::Config(
                "a SQLite store needs at least one reader connection".into(),
            ));
        }
        let options = SqliteConnectOptions::from_str("sqlite:")
            .map_err(|e| map_err(BACKEND, e))?
            .filename(&config.path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(config.busy_timeout);
        // The writer comes first: it creates the file, switches it to WAL and makes the schema.
        // Pinned open (no idle timeout) so the WAL is not checkpointed away under the readers.
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .acquire_timeout(config.busy_timeout.saturating_mul(4))
            .connect_with(options.clone())
            .await
            .map_err(|e| connect_err(BACKEND, e))?;
        let dialect = Dialect {
            position: "instr",
            length: "length",
            param: "?",
            text: "TEXT COLLATE BINARY",
            blob: "BLOB",
            table_options: " WITHOUT ROWID",
        };
        let [table_ddl, index_ddl] = dialect.schema(TABLE);
        sqlx::query(AssertSqlSafe(table_ddl))
            .execute(&writer)
            .await
            .map_err(|e| map_err(BACKEND, e))?;
        sqlx::query(AssertSqlSafe(dialect.probe(TABLE)))
            .execute(&writer)
            .await
            .map_err(|e| incompatible(TABLE, e))?;
        sqlx::query(AssertSqlSafe(index_ddl))
            .execute(&writer)
            .await
            .map_err(|e| map_err(BACKEND, e))?;
        let readers = SqlitePoolOptions::new()
            .max_connections(config.readers)
            .idle_timeout(None)
            .acquire_timeout(config.busy_timeout.saturating_mul(4))
            .connect_with(options)
            .await
            .map_err(|e| connect_err(BACKEND, e))?;
        let sql = dialect.statements(TABLE);
        Ok(Self {
            limits,
            path: config.path,
            writer,
            readers,
            sql,
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Closes both pools, waiting for in-flight calls; later calls fail with
    /// [`StorageError::Connection`].
    pub async fn close(&self) {
        self.readers.close().await;
        self.writer.close().await;
    }
}

impl SqliteStorage {
    /// Opens a write transaction. `BEGIN IMMEDIATE` takes the write lock up front, so a batch
    /// that reads (an `Op::Check`) and then writes cannot be invalidated halfway.
    async fn begin(
        &self,
        _checks: bool,
    ) -> Result<sqlx::Transaction<'static, sqlx::Sqlite>, sqlx::Error> {
        self.writer.begin_with("BEGIN IMMEDIATE").await
    }
}

sql_storage!(SqliteStorage);
