use std::path::{Path, PathBuf};
use std::str::FromStr as _;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use rusqlite::{ErrorCode, OpenFlags, OptionalExtension as _, TransactionBehavior};
use tokio::sync::{mpsc, oneshot};

use sqlx::AssertSqlSafe;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

use crate::sql::{Dialect, Statements, connect_err, incompatible, map_err, sql_storage};
use crate::{Limits, Op, Result, StorageError};

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
/// cut. All writes go through one connection on a thread of its own, in order, `BEGIN IMMEDIATE`,
/// so the writes of one store never conflict with each other and wait (up to the busy timeout)
/// for another process's. **Group commit:** the writes that arrive while one commit waits for
/// the disk are committed together next, in one transaction and one `fsync`, each still
/// all-or-nothing: each runs in a savepoint, and one that fails (a failed [`Op::Check`], say) is
/// rolled back alone and gets its own error. A write is acknowledged only after its commit is on
/// disk.
///
/// Reads (`get`, `list`) never wait for writes (WAL) and run **on the calling thread**, on one of
/// [`SqliteConfig::readers`] connections: a point read of a page in SQLite's cache takes a few
/// microseconds, where handing it to a driver thread and back (sqlx's model) took ~65 µs. A
/// read of a page that is not in memory blocks the thread for that disk read, and with more
/// reads in flight than connections a read waits for a connection to come free.
pub struct SqliteStorage {
    limits: Limits,
    path: PathBuf,
    writer: mpsc::Sender<Message>,
    readers: Readers,
    sql: Arc<Statements>,
}

/// What the writer thread is asked.
enum Message {
    /// Apply these ops atomically and say how it went.
    Write(Vec<Op>, oneshot::Sender<Result<()>>),
    /// Finish what came before, close the connection and stop.
    Close(oneshot::Sender<()>),
}

/// The most writes committed together.
const MAX_BATCH: usize = 256;

/// The writer thread: takes whatever writes are waiting (at least one), commits them, answers.
fn write_loop(
    mut connection: rusqlite::Connection,
    sql: &Statements,
    mut queue: mpsc::Receiver<Message>,
) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while let Some(first) = queue.blocking_recv() {
        let mut message = Some(first);
        let mut close = None;
        while let Some(next) = message.take() {
            match next {
                Message::Write(ops, done) => batch.push((ops, done)),
                Message::Close(ack) => {
                    close = Some(ack);
                    break;
                }
            }
            if batch.len() < MAX_BATCH {
                message = queue.try_recv().ok();
            }
        }
        // A panic here (there is no known one) must not take the writer down with it: the
        // members not yet answered learn that their outcome is unknown, and the next batch
        // starts from a clean connection.
        let committed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            commit(&mut connection, sql, &mut batch);
        }));
        if committed.is_err() {
            batch.clear();
        }
        if let Some(ack) = close {
            drop(connection);
            queue.close();
            // Writes sent meanwhile are refused (nothing of them was applied); other closes are
            // answered.
            while let Ok(message) = queue.try_recv() {
                match message {
                    Message::Write(_, done) => {
                        let _ = done.send(Err(closed()));
                    }
                    Message::Close(other) => {
                        let _ = other.send(());
                    }
                }
            }
            let _ = ack.send(());
            return;
        }
    }
}

/// One member of a batch: its ops and where its outcome goes.
type Member = (Vec<Op>, oneshot::Sender<Result<()>>);

/// Commits `batch` (emptying it) in one transaction, answering every member. Each member runs
/// inside a savepoint, so one that fails (a check, or any other error) is undone alone and
/// gets its own error; the others commit. If the transaction cannot begin or commit, every
/// member gets that error and nothing was committed.
fn commit(connection: &mut rusqlite::Connection, sql: &Statements, batch: &mut Vec<Member>) {
    match commit_together(connection, sql, batch) {
        Ok(outcomes) => {
            for ((_, done), outcome) in batch.drain(..).zip(outcomes) {
                let _ = done.send(outcome);
            }
        }
        Err(err) => {
            for (_, done) in batch.drain(..) {
                let _ = done.send(Err(share(&err)));
            }
        }
    }
}

/// One transaction for the whole batch: each member's outcome, or the error that failed the
/// batch (then nothing was committed).
fn commit_together(
    connection: &mut rusqlite::Connection,
    sql: &Statements,
    batch: &[Member],
) -> Result<Vec<Result<()>>> {
    // A transaction left open by a failed rollback would make every later `BEGIN` fail.
    if !connection.is_autocommit() {
        connection.execute_batch("ROLLBACK").map_err(sqlite_err)?;
    }
    let mut tx = connection
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(sqlite_err)?;
    let mut outcomes = Vec::with_capacity(batch.len());
    for (ops, _) in batch {
        let mut savepoint = tx.savepoint().map_err(sqlite_err)?;
        let outcome = apply(&savepoint, sql, ops);
        if outcome.is_err() {
            // Undo this member only; if even that fails, fail the batch (nothing commits).
            savepoint.rollback().map_err(sqlite_err)?;
        }
        savepoint.commit().map_err(sqlite_err)?;
        outcomes.push(outcome);
    }
    tx.commit().map_err(sqlite_err)?;
    Ok(outcomes)
}

/// The same error for another member of a failed batch (errors are not `Clone`).
fn share(err: &StorageError) -> StorageError {
    match err {
        StorageError::Conflict => StorageError::Conflict,
        other => StorageError::Backend {
            backend: BACKEND,
            source: Box::new(std::io::Error::other(other.to_string())),
        },
    }
}

/// Runs `ops` in order on a connection inside a transaction; a failed check is
/// [`StorageError::CheckFailed`] (the caller rolls back).
fn apply(connection: &rusqlite::Connection, sql: &Statements, ops: &[Op]) -> Result<()> {
    for op in ops {
        match op {
            Op::Put { key, value } => {
                connection
                    .prepare_cached(&sql.put)
                    .and_then(|mut put| {
                        put.execute(rusqlite::params![key, crate::sql::parent_of(key), value])
                    })
                    .map_err(sqlite_err)?;
            }
            Op::Delete { key } => {
                connection
                    .prepare_cached(&sql.delete)
                    .and_then(|mut delete| delete.execute([key]))
                    .map_err(sqlite_err)?;
            }
            Op::Check { key, expected } => {
                let current: Option<Vec<u8>> = connection
                    .prepare_cached(&sql.get)
                    .and_then(|mut get| get.query_row([key], |row| row.get(0)).optional())
                    .map_err(sqlite_err)?;
                if current != *expected {
                    return Err(StorageError::CheckFailed {
                        key: crate::key::shown(key),
                    });
                }
            }
        }
    }
    Ok(())
}

/// The error of a store that was closed.
fn closed() -> StorageError {
    StorageError::Connection {
        backend: BACKEND,
        source: Box::new(std::io::Error::other("the SQLite store is closed")),
    }
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
                let connection = open_connection(path, busy_timeout)?;
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
            .ok_or_else(closed)?;
        read(connection).map_err(sqlite_err)
    }

    /// Closes every connection (waiting for reads in flight); later reads fail.
    fn close(&self) {
        for slot in &self.connections {
            slot.lock().unwrap_or_else(PoisonError::into_inner).take();
        }
    }
}

/// Makes the database file readable by its owner alone before SQLite opens it. A new file is
/// created with mode 0600 (SQLite gives the `-wal` and `-shm` files it creates the database
/// file's mode). An existing file, and its `-wal`/`-shm` files, lose any access for other users
/// (a vault's file is never meant for everyone; access for the file's group is left as the
/// operator set it). Symbolic links are left alone. On platforms without Unix modes, nothing is
/// changed.
fn restrict_files(path: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
        let failed = |source: std::io::Error| StorageError::Connection {
            backend: BACKEND,
            source: Box::new(source),
        };
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
        {
            Ok(_) => return Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(failed(e)),
        }
        let mut names = vec![path.to_path_buf()];
        for suffix in ["-wal", "-shm"] {
            let mut name = path.as_os_str().to_owned();
            name.push(suffix);
            names.push(PathBuf::from(name));
        }
        for name in names {
            // Links are not followed: a planted `-wal` link must not make us change the mode
            // of whatever it points at (a linked database keeps the mode its owner gave it).
            let Ok(meta) = std::fs::symlink_metadata(&name) else {
                continue;
            };
            if !meta.file_type().is_file() {
                continue;
            }
            let mode = meta.permissions().mode();
            if mode & 0o007 != 0 {
                std::fs::set_permissions(&name, std::fs::Permissions::from_mode(mode & !0o007))
                    .map_err(failed)?;
            }
        }
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

/// Opens a connection to the existing (WAL-mode) database at `path`.
fn open_connection(path: &Path, busy_timeout: Duration) -> rusqlite::Result<rusqlite::Connection> {
    let connection = rusqlite::Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    connection.busy_timeout(busy_timeout)?;
    Ok(connection)
}

/// Maps a SQLite error: BUSY and LOCKED are a conflict (retry).
fn sqlite_err(err: rusqlite::Error) -> StorageError {
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
        restrict_files(&config.path)?;
        let options = SqliteConnectOptions::from_str("sqlite:")
            .map_err(|e| map_err(BACKEND, e))?
            .filename(&config.path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(config.busy_timeout);
        // sqlx comes first: it creates the file, switches it to WAL and makes the schema.
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
        let connection = open_connection(&config.path, config.busy_timeout)
            .and_then(|c| {
                c.pragma_update(None, "synchronous", "FULL")?;
                Ok(c)
            })
            .map_err(|e| StorageError::Connection {
                backend: BACKEND,
                source: Box::new(e),
            })?;
        // The writer thread's connection is open now, so closing sqlx's does not checkpoint
        // the WAL away under the readers.
        writer.close().await;
        let sql = Arc::new(dialect.statements(TABLE));
        let (queue, inbox) = mpsc::channel(MAX_BATCH);
        let thread_sql = Arc::clone(&sql);
        std::thread::Builder::new()
            .name("strongroom-sqlite-writer".into())
            .spawn(move || write_loop(connection, &thread_sql, inbox))
            .map_err(|e| StorageError::Connection {
                backend: BACKEND,
                source: Box::new(e),
            })?;
        Ok(Self {
            limits,
            path: config.path,
            writer: queue,
            readers,
            sql,
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Closes the connections, waiting for in-flight calls (writes sent before are committed);
    /// later calls fail with [`StorageError::Connection`].
    pub async fn close(&self) {
        self.readers.close();
        let (ack, closed) = oneshot::channel();
        if self.writer.send(Message::Close(ack)).await.is_ok() {
            let _ = closed.await;
        }
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

    /// Applies `ops` atomically, through the writer thread's group commit.
    async fn write(&self, ops: Vec<Op>) -> Result<()> {
        let (done, outcome) = oneshot::channel();
        self.writer
            .send(Message::Write(ops, done))
            .await
            .map_err(|_| closed())?;
        outcome.await.map_err(|_| StorageError::Backend {
            backend: BACKEND,
            source: Box::new(std::io::Error::other(
                "the SQLite writer failed before answering: the write may or may not have been \
                 committed",
            )),
        })?
    }
}

sql_storage!(SqliteStorage, "sqlite");
