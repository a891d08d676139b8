use std::path::{Path, PathBuf};
use std::str::FromStr as _;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use rusqlite::{ErrorCode, OpenFlags, OptionalExtension as _};

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
    /// Reader connections (reads run in parallel with each other and with the single writer
    /// under WAL). Default 4.
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
///
/// Reads (`get`, `list`) never wait for writes (WAL) and run **on the calling thread**, on one of
/// [`SqliteConfig::readers`] connections: a point read of a page in SQLite's cache takes a few
/// microseconds, where handing it to a driver thread and back (sqlx's model, still used for
/// writes, which wait for `fsync` and must not hold a runtime thread) took ~65 µs. A read of a
/// page that is not in memory blocks the thread for that disk read.
pub struct SqliteStorage {
    limits: Limits,
    path: PathBuf,
    writer: SqlitePool,
    readers: Readers,
    sql: Statements,
}

/// The reader connections, each used by one caller at a time; `None` once closed.
struct Readers {
    connections: Vec<Mutex<Option<rusqlite::Connection>>>,
    /// Where the next read starts looking for a free connection.
    next: AtomicUsize,
}

impl Readers {
    /// Opens `count` connections to the (existing, WAL-mode) database at `path`, read-only.
    fn open(path: &Path, count: u32, busy_timeout: Duration) -> Result<Self> {
        let connections = (0..count)
            .map(|_| {
                let connection = rusqlite::Connection::open_with_flags(
                    path,
                    OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
                )?;
                connection.busy_timeout(busy_timeout)?;
                // These connections only ever read.
                connection.pragma_update(None, "query_only", true)?;
                Ok(Mutex::new(Some(connection)))
            })
            .collect::<rusqlite::Result<_>>()
            .map_err(|e| StorageError::Connection {
                backend: BACKEND,
                source: Box::new(e),
            })?;
        Ok(Self {
            connections,
            next: AtomicUsize::new(0),
        })
    }

    /// Runs `read` on a free connection (or waits for one: reads are short).
    fn with<T>(
        &self,
        read: impl FnOnce(&rusqlite::Connection) -> rusqlite::Result<T>,
    ) -> Result<T> {
        let count = self.connections.len().max(1);
        let start = self.next.fetch_add(1, Ordering::Relaxed) % count;
        let slot = (0..count)
            .filter_map(|i| self.connections.get((start + i) % count))
            .find_map(|slot| slot.try_lock().ok())
            .or_else(|| {
                self.connections
                    .get(start)
                    .map(|slot| slot.lock().unwrap_or_else(PoisonError::into_inner))
            });
        let connection = slot
            .as_ref()
            .and_then(|slot| slot.as_ref())
            .ok_or_else(|| StorageError::Connection {
                backend: BACKEND,
                source: Box::new(std::io::Error::other("the SQLite store is closed")),
            })?;
        read(connection).map_err(read_err)
    }

    /// Closes every connection (waiting for reads in flight); later reads fail.
    fn close(&self) {
        for slot in &self.connections {
            slot.lock().unwrap_or_else(PoisonError::into_inner).take();
        }
    }
}

/// Maps a read's error: SQLite's BUSY and LOCKED are a conflict (retry), as on the write path.
fn read_err(err: rusqlite::Error) -> StorageError {
    if let rusqlite::Error::SqliteFailure(failure, _) = &err
        && matches!(
            failure.code,
            ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked
        )
    {
        return StorageError::Conflict;
    }
    StorageError::Backend {
        backend: BACKEND,
        source: Box::new(err),
    }
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
        let readers = Readers::open(&config.path, config.readers, config.busy_timeout)?;
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

    /// Closes the connections, waiting for in-flight calls; later calls fail with
    /// [`StorageError::Connection`].
    pub async fn close(&self) {
        self.readers.close();
        self.writer.close().await;
    }
}

impl SqliteStorage {
    /// Reads one value (the key is checked).
    #[allow(
        clippy::unused_async,
        reason = "the shared `Storage` implementation awaits every backend's reads"
    )]
    async fn read_value(&self, key: &str) -> Result<Option<Vec<u8>>> {
        self.readers.with(|connection| {
            connection
                .prepare_cached(&self.sql.get)?
                .query_row([key], |row| row.get(0))
                .optional()
        })
    }

    /// The keys at and below the folder `prefix` that [`crate::key::children`] folds into its
    /// listing (the prefix is checked).
    #[allow(
        clippy::unused_async,
        reason = "the shared `Storage` implementation awaits every backend's reads"
    )]
    async fn read_keys(&self, prefix: &str) -> Result<Vec<String>> {
        self.readers.with(|connection| {
            if prefix.is_empty() {
                let mut statement = connection.prepare_cached(&self.sql.list_root)?;
                let rows = statement.query_map([], |row| row.get(0))?;
                rows.collect()
            } else {
                let upper = crate::key::folder_upper_bound(prefix);
                let mut statement = connection.prepare_cached(&self.sql.list_folder)?;
                let rows = statement.query_map([prefix, upper.as_str()], |row| row.get(0))?;
                rows.collect()
            }
        })
    }

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
