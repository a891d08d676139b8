//! The PostgreSQL [`HaLock`]: one lock row in an HA table, on the database server's clock.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use sqlx::{AssertSqlSafe, PgPool, Row};

use crate::ha::{Fence, HaChange, HaLeader, HaLock, HaNode, HaObservation, HaPeer, HaTiming};
use crate::postgres::check_table_name;
use crate::sql::{incompatible, map_err};
use crate::{PostgresStorage, Result, Storage, StorageError};

const BACKEND: &str = "postgres";

/// The lease row's key in the HA table (holder, addresses, lease end, epoch): acquisitions,
/// renewals and releases change it. Nodes' heartbeats are `node/<id>`.
const LOCK_KEY: &str = "core/lock";
/// The epoch row's key: only acquisitions change it, and every fenced write reads it `FOR
/// SHARE`. Two rows, so that renewals never wait behind writes in flight.
const EPOCH_KEY: &str = "core/epoch";

/// Nodes not heard from for this long are forgotten.
const FORGET_AFTER_SECS: f64 = 3600.0;

/// How to run a [`PostgresHa`].
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct PostgresHaConfig {
    /// The HA table (Vault's `ha_table`): lower-case ASCII letters, digits and `_`, starting
    /// with a letter or `_`, at most 57 bytes (its epoch sequence is named after it). Created if
    /// missing. Default `strongroom_ha_locks`.
    pub table: String,
    /// Lease and intervals.
    pub timing: HaTiming,
}

impl Default for PostgresHaConfig {
    fn default() -> Self {
        Self {
            table: "strongroom_ha_locks".into(),
            timing: HaTiming::default(),
        }
    }
}

impl PostgresHaConfig {
    /// Sets the HA table.
    #[must_use]
    pub fn table(mut self, table: impl Into<String>) -> Self {
        self.table = table.into();
        self
    }

    /// Sets the lease and intervals.
    #[must_use]
    pub fn timing(mut self, timing: HaTiming) -> Self {
        self.timing = timing;
        self
    }
}

/// The fence check a fenced [`PostgresStorage`] runs first in every write transaction.
#[derive(Clone, Debug)]
pub(crate) struct PgFence {
    pub(crate) fence: Arc<Fence>,
    /// `SELECT epoch … FOR SHARE`: holds the lock row against a takeover until the write
    /// commits. Parameters: the lock key, the epoch.
    pub(crate) check: Arc<str>,
    /// A single fenced put in one statement: the check as a locking CTE, the upsert from it
    /// (no row when fenced). Parameters: key, parent, value, the lock key, the epoch.
    pub(crate) put: Arc<str>,
    /// A single fenced delete in one statement; answers the number of fence rows (0 when
    /// fenced). Parameters: key, the lock key, the epoch.
    pub(crate) delete: Arc<str>,
    /// The change feed's channel (`LISTEN`/`NOTIFY`).
    pub(crate) channel: Arc<str>,
}

impl PgFence {
    /// Announces a write of `key` on the change feed, inside the write's transaction (so it
    /// is delivered at the commit, in commit order, and not at all on a rollback).
    pub(crate) async fn notify(&self, conn: &mut sqlx::PgConnection, key: &str) -> Result<()> {
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(&*self.channel)
            .bind(key)
            .execute(conn)
            .await
            .map_err(|e| map_err(BACKEND, e))?;
        Ok(())
    }

    /// One put or delete, fenced, in one statement (one round trip, its own transaction).
    pub(crate) async fn write_one(&self, pool: &PgPool, op: &crate::Op) -> Result<()> {
        let epoch = self.fence.held().ok_or(StorageError::Fenced)?;
        let err = |e| map_err(BACKEND, e);
        let held = match op {
            crate::Op::Put { key, value } => {
                sqlx::query(AssertSqlSafe(Arc::clone(&self.put)))
                    .bind(key.as_str())
                    .bind(crate::sql::parent_of(key))
                    .bind(value.as_slice())
                    .bind(EPOCH_KEY)
                    .bind(epoch_param(epoch))
                    .execute(pool)
                    .await
                    .map_err(err)?
                    .rows_affected()
                    > 0
            }
            crate::Op::Delete { key } => {
                let fences: i64 = sqlx::query_scalar(AssertSqlSafe(Arc::clone(&self.delete)))
                    .bind(key.as_str())
                    .bind(EPOCH_KEY)
                    .bind(epoch_param(epoch))
                    .fetch_one(pool)
                    .await
                    .map_err(err)?;
                fences > 0
            }
            crate::Op::Check { .. } => {
                return Err(StorageError::Config("a check is not a single write".into()));
            }
        };
        if held {
            Ok(())
        } else {
            Err(self.fence.found_lost(epoch))
        }
    }

    /// Runs the check on `conn` (inside the write's transaction): `Ok` when the lock is held
    /// at this handle's epoch, and stays so until the transaction ends.
    pub(crate) async fn check(&self, conn: &mut sqlx::PgConnection) -> Result<()> {
        let epoch = self.fence.held().ok_or(StorageError::Fenced)?;
        let found: Option<i64> = sqlx::query_scalar(AssertSqlSafe(Arc::clone(&self.check)))
            .bind(EPOCH_KEY)
            .bind(epoch_param(epoch))
            .fetch_optional(conn)
            .await
            .map_err(|e| map_err(BACKEND, e))?;
        match found {
            Some(_) => Ok(()),
            None => Err(self.fence.found_lost(epoch)),
        }
    }
}

fn epoch_param(epoch: u64) -> i64 {
    i64::try_from(epoch).unwrap_or(i64::MAX)
}

/// Leader election and fencing on PostgreSQL, Vault's `ha_enabled` for the `postgresql`
/// storage, done so that a node which lost the lock cannot write.
///
/// The HA table holds one lock row: holder, addresses, `epoch`, `acquired_at`, `valid_until`.
/// Acquiring is one upsert that succeeds only when the row's `valid_until` has passed on the
/// database's clock, and adds one to the epoch; renewing moves `valid_until` on, only at the
/// holder's epoch. Every write through [`fenced`](HaLock::fenced) is a transaction that first
/// reads the lock row `FOR SHARE` at the holder's epoch: a takeover must lock that row
/// exclusively, so it waits for every write in flight to commit, and every write after it finds
/// a newer epoch and is refused ([`StorageError::Fenced`]), with nothing applied. Heartbeats of
/// every node (for `sys/ha-status`) are rows of the same table.
///
/// Connections come from the data store's pool; a dropped connection or a restarted server is
/// reconnected on the next call.
pub struct PostgresHa {
    /// The change feed, once somebody asked for it (a task listens for it).
    feed: std::sync::OnceLock<tokio::sync::broadcast::Sender<HaChange>>,
    /// How the feed's listening connection connects.
    listen_options: sqlx::postgres::PgConnectOptions,
    channel: Arc<str>,
    /// The listening task stops when this handle is gone.
    alive: Arc<()>,
    /// The lock's own connections.
    lock_pool: PgPool,
    /// The fenced writes' pool (held by `fenced` too).
    _writers: PgPool,
    table: String,
    timing: HaTiming,
    fence: Arc<Fence>,
    data: Arc<PostgresStorage>,
    fenced: Arc<PostgresStorage>,
    sql: HaStatements,
}

impl std::fmt::Debug for PostgresHa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresHa")
            .field("table", &self.table)
            .field("timing", &self.timing)
            .field("held", &self.fence.held())
            .finish_non_exhaustive()
    }
}

struct HaStatements {
    acquire: String,
    renew: String,
    release: String,
    observe: String,
    leader: String,
    heartbeat: String,
    forget: String,
    peers: String,
}

impl HaStatements {
    fn new(table: &str) -> Self {
        let t = format!("\"{table}\"");
        let sequence = format!("\"{table}_epoch\"");
        let columns = "ha_identity, ha_value, cluster_addr, hostname, version, epoch";
        Self {
            // One statement: the lease row is taken only if its lease ran out on the database's
            // clock, with the next epoch from the sequence (epochs grow even if the rows are
            // deleted); then the epoch row is set to it, which waits for every fenced write in
            // flight (they hold it `FOR SHARE`) and turns away every later one.
            acquire: format!(
                "WITH lease AS ( \
                   INSERT INTO {t} AS l (ha_key, {columns}, acquired_at, valid_until) \
                   VALUES ($1, $2, $3, $4, $5, $6, nextval('{sequence}'), clock_timestamp(), \
                           clock_timestamp() + make_interval(secs => $7)) \
                   ON CONFLICT (ha_key) DO UPDATE SET \
                     ha_identity = excluded.ha_identity, ha_value = excluded.ha_value, \
                     cluster_addr = excluded.cluster_addr, hostname = excluded.hostname, \
                     version = excluded.version, epoch = excluded.epoch, \
                     acquired_at = excluded.acquired_at, valid_until = excluded.valid_until \
                   WHERE l.valid_until <= clock_timestamp() \
                   RETURNING epoch) \
                 INSERT INTO {t} AS e (ha_key, {columns}, acquired_at, valid_until) \
                 SELECT $8, $2, '', '', '', '', epoch, clock_timestamp(), 'infinity' FROM lease \
                 ON CONFLICT (ha_key) DO UPDATE SET \
                   epoch = excluded.epoch, ha_identity = excluded.ha_identity, \
                   acquired_at = excluded.acquired_at \
                 RETURNING epoch"
            ),
            renew: format!(
                "UPDATE {t} SET valid_until = clock_timestamp() + make_interval(secs => $3) \
                 WHERE ha_key = $1 AND epoch = $2 RETURNING epoch"
            ),
            release: format!(
                "UPDATE {t} SET valid_until = '-infinity' WHERE ha_key = $1 AND epoch = $2"
            ),
            observe: format!(
                "SELECT epoch, CASE WHEN valid_until = '-infinity' THEN NULL \
                   ELSE (extract(epoch FROM valid_until) * 1000000)::bigint END AS lease_end \
                 FROM {t} WHERE ha_key = $1"
            ),
            leader: format!(
                "SELECT {columns}, extract(epoch FROM acquired_at)::float8 AS since FROM {t} \
                 WHERE ha_key = $1 AND valid_until > clock_timestamp()"
            ),
            heartbeat: format!(
                "INSERT INTO {t} AS l (ha_key, {columns}, acquired_at, valid_until) \
                 VALUES ('node/' || $1, $1, $2, $3, $4, $5, 0, clock_timestamp(), \
                         clock_timestamp()) \
                 ON CONFLICT (ha_key) DO UPDATE SET \
                   ha_value = excluded.ha_value, cluster_addr = excluded.cluster_addr, \
                   hostname = excluded.hostname, version = excluded.version, \
                   valid_until = excluded.valid_until"
            ),
            forget: format!(
                "DELETE FROM {t} WHERE ha_key LIKE 'node/%' \
                 AND valid_until < clock_timestamp() - make_interval(secs => $1)"
            ),
            peers: format!(
                "SELECT {columns}, extract(epoch FROM valid_until)::float8 AS since FROM {t} \
                 WHERE ha_key LIKE 'node/%' \
                 AND valid_until > clock_timestamp() - make_interval(secs => $1) \
                 ORDER BY ha_identity"
            ),
        }
    }
}

fn node_of(row: &sqlx::postgres::PgRow) -> Result<(HaNode, i64, SystemTime)> {
    let get = |column: &str| -> Result<String> {
        row.try_get::<String, _>(column)
            .map_err(|e| map_err(BACKEND, e))
    };
    let node = HaNode {
        id: get("ha_identity")?,
        api_addr: get("ha_value")?,
        cluster_addr: get("cluster_addr")?,
        hostname: get("hostname")?,
        version: get("version")?,
    };
    let epoch: i64 = row.try_get("epoch").map_err(|e| map_err(BACKEND, e))?;
    let since: f64 = row.try_get("since").map_err(|e| map_err(BACKEND, e))?;
    let at = Duration::try_from_secs_f64(since)
        .ok()
        .and_then(|d| SystemTime::UNIX_EPOCH.checked_add(d))
        .unwrap_or(SystemTime::UNIX_EPOCH);
    Ok((node, epoch, at))
}

impl PostgresHa {
    /// Creates the HA table if missing, beside `storage`'s data table and on its pool.
    ///
    /// # Errors
    ///
    /// [`StorageError::Config`] for a bad table name or timing, or an HA table that is not ours
    /// (Vault's own `vault_ha_locks` has no epoch: give Strongroom a table of its own);
    /// a backend error otherwise.
    pub async fn connect(storage: &PostgresStorage, config: PostgresHaConfig) -> Result<Self> {
        check_table_name(&config.table)?;
        if config.table.len() > 57 {
            return Err(StorageError::Config(format!(
                "the HA table name {:?} is longer than 57 bytes",
                config.table
            )));
        }
        if config.table == storage.table() {
            return Err(StorageError::Config(
                "the HA table must not be the data table".into(),
            ));
        }
        let timing = config.timing.validate()?;
        // The lock and the fenced writes get a pool of their own, whose sessions PostgreSQL
        // ends when they sit inside a transaction for a lease time: a node paused (or cut off)
        // in the middle of a fenced write holds the lock row `FOR SHARE`, and would otherwise
        // keep every successor from taking over for as long as it is paused.
        let idle = timing.lease.as_millis().max(1).to_string();
        let options = (*storage.pool().connect_options())
            .clone()
            .options([("idle_in_transaction_session_timeout", idle.as_str())]);
        let pool = storage
            .pool()
            .options()
            .clone()
            .connect_with(options)
            .await
            .map_err(|e| crate::sql::connect_err(BACKEND, e))?;
        let t = format!("\"{}\"", config.table);
        let err = |e| map_err(BACKEND, e);
        let mut tx = pool.begin().await.map_err(err)?;
        sqlx::query("SELECT pg_advisory_xact_lock(hashtext($1))")
            .bind(&config.table)
            .execute(&mut *tx)
            .await
            .map_err(err)?;
        sqlx::query(AssertSqlSafe(format!(
            "CREATE TABLE IF NOT EXISTS {t} (\
               ha_key TEXT COLLATE \"C\" NOT NULL PRIMARY KEY, \
               ha_identity TEXT COLLATE \"C\" NOT NULL, \
               ha_value TEXT COLLATE \"C\" NOT NULL, \
               cluster_addr TEXT NOT NULL, \
               hostname TEXT NOT NULL, \
               version TEXT NOT NULL, \
               epoch BIGINT NOT NULL, \
               acquired_at TIMESTAMPTZ NOT NULL, \
               valid_until TIMESTAMPTZ NOT NULL)"
        )))
        .execute(&mut *tx)
        .await
        .map_err(err)?;
        sqlx::query(AssertSqlSafe(format!(
            "SELECT ha_key, ha_identity, ha_value, cluster_addr, hostname, version, epoch, \
             acquired_at, valid_until FROM {t} LIMIT 0"
        )))
        .execute(&mut *tx)
        .await
        .map_err(|e| incompatible(&config.table, e))?;
        sqlx::query(AssertSqlSafe(format!(
            "CREATE SEQUENCE IF NOT EXISTS \"{}_epoch\"",
            config.table
        )))
        .execute(&mut *tx)
        .await
        .map_err(err)?;
        tx.commit().await.map_err(err)?;
        // The lock's own calls on two connections of their own: a burst of writes (or of
        // `sys/leader` reads) cannot keep a renewal waiting for a connection.
        let lock_pool = storage
            .pool()
            .options()
            .clone()
            .max_connections(2)
            .min_connections(0)
            .connect_with((*storage.pool().connect_options()).clone())
            .await
            .map_err(|e| crate::sql::connect_err(BACKEND, e))?;
        let fence = Arc::new(Fence::default());
        let check: Arc<str> =
            format!("SELECT epoch FROM {t} WHERE ha_key = $1 AND epoch = $2 FOR SHARE").into();
        let channel: Arc<str> = format!("{}_feed", config.table).into();
        let data = format!("\"{}\"", storage.table());
        let put: Arc<str> = format!(
            "WITH fence AS (SELECT epoch FROM {t} WHERE ha_key = $4 AND epoch = $5 FOR SHARE) \
             INSERT INTO {data} (key, parent, value) SELECT $1, $2, $3 FROM fence \
             ON CONFLICT (key) DO UPDATE SET value = excluded.value"
        )
        .into();
        let delete: Arc<str> = format!(
            "WITH fence AS (SELECT epoch FROM {t} WHERE ha_key = $2 AND epoch = $3 FOR SHARE), \
             gone AS (DELETE FROM {data} WHERE key = $1 AND EXISTS (SELECT 1 FROM fence)) \
             SELECT count(*) FROM fence"
        )
        .into();
        Ok(Self {
            fenced: Arc::new(storage.with_fence(
                pool.clone(),
                PgFence {
                    fence: Arc::clone(&fence),
                    check,
                    put,
                    delete,
                    channel: Arc::clone(&channel),
                },
            )),
            data: Arc::new(storage.with_fence_removed()),
            sql: HaStatements::new(&config.table),
            feed: std::sync::OnceLock::new(),
            listen_options: (*storage.pool().connect_options()).clone(),
            channel,
            alive: Arc::new(()),
            lock_pool,
            _writers: pool,
            table: config.table,
            timing,
            fence,
        })
    }

    /// The HA table.
    pub fn table(&self) -> &str {
        &self.table
    }

    fn lease_secs(&self) -> f64 {
        self.timing.lease.as_secs_f64()
    }
}

#[async_trait]
impl HaLock for PostgresHa {
    fn timing(&self) -> HaTiming {
        self.timing
    }

    fn fenced(&self) -> Arc<dyn Storage> {
        Arc::clone(&self.fenced) as Arc<dyn Storage>
    }

    fn unfenced(&self) -> Arc<dyn Storage> {
        Arc::clone(&self.data) as Arc<dyn Storage>
    }

    async fn try_acquire(&self, node: &HaNode) -> Result<Option<u64>> {
        let epoch: Option<i64> = sqlx::query_scalar(AssertSqlSafe(self.sql.acquire.as_str()))
            .bind(LOCK_KEY)
            .bind(&node.id)
            .bind(&node.api_addr)
            .bind(&node.cluster_addr)
            .bind(&node.hostname)
            .bind(&node.version)
            .bind(self.lease_secs())
            .bind(EPOCH_KEY)
            .fetch_optional(&self.lock_pool)
            .await
            .map_err(|e| map_err(BACKEND, e))?;
        Ok(epoch.map(|epoch| {
            let epoch = u64::try_from(epoch).unwrap_or(0);
            self.fence.open(epoch);
            epoch
        }))
    }

    async fn renew(&self, epoch: u64) -> Result<bool> {
        if self.fence.held() != Some(epoch) {
            return Ok(false);
        }
        let renewed: Option<i64> = sqlx::query_scalar(AssertSqlSafe(self.sql.renew.as_str()))
            .bind(LOCK_KEY)
            .bind(epoch_param(epoch))
            .bind(self.lease_secs())
            .fetch_optional(&self.lock_pool)
            .await
            .map_err(|e| map_err(BACKEND, e))?;
        if renewed.is_none() {
            self.fence.found_lost(epoch);
        }
        Ok(renewed.is_some())
    }

    async fn release(&self, epoch: u64) -> Result<()> {
        self.fence.close();
        sqlx::query(AssertSqlSafe(self.sql.release.as_str()))
            .bind(LOCK_KEY)
            .bind(epoch_param(epoch))
            .execute(&self.lock_pool)
            .await
            .map_err(|e| map_err(BACKEND, e))?;
        Ok(())
    }

    fn close_fence(&self) {
        self.fence.close();
    }

    fn held(&self) -> Option<u64> {
        self.fence.held()
    }

    async fn lost(&self) {
        self.fence.lost().await;
    }

    async fn observe(&self) -> Result<Option<HaObservation>> {
        let row: Option<(i64, Option<i64>)> =
            sqlx::query_as(AssertSqlSafe(self.sql.observe.as_str()))
                .bind(LOCK_KEY)
                .fetch_optional(&self.lock_pool)
                .await
                .map_err(|e| map_err(BACKEND, e))?;
        Ok(row.map(|(epoch, lease_end)| HaObservation {
            epoch: u64::try_from(epoch).unwrap_or(0),
            lease_end,
        }))
    }

    async fn leader(&self) -> Result<Option<HaLeader>> {
        let row = sqlx::query(AssertSqlSafe(self.sql.leader.as_str()))
            .bind(LOCK_KEY)
            .fetch_optional(&self.lock_pool)
            .await
            .map_err(|e| map_err(BACKEND, e))?;
        row.map(|row| {
            let (node, epoch, acquired_at) = node_of(&row)?;
            Ok(HaLeader {
                node,
                epoch: u64::try_from(epoch).unwrap_or(0),
                acquired_at,
            })
        })
        .transpose()
    }

    async fn announce(&self, epoch: u64) -> Result<()> {
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(&*self.channel)
            .bind(format!("beat:{epoch}"))
            .execute(&self.lock_pool)
            .await
            .map_err(|e| map_err(BACKEND, e))?;
        Ok(())
    }

    fn changes(&self) -> tokio::sync::broadcast::Receiver<HaChange> {
        self.feed
            .get_or_init(|| {
                let (sender, _) = tokio::sync::broadcast::channel(4096);
                if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                    runtime.spawn(listen(
                        self.listen_options.clone(),
                        Arc::clone(&self.channel),
                        sender.clone(),
                        Arc::downgrade(&self.alive),
                    ));
                }
                sender
            })
            .subscribe()
    }

    async fn heartbeat(&self, node: &HaNode) -> Result<()> {
        let err = |e| map_err(BACKEND, e);
        sqlx::query(AssertSqlSafe(self.sql.heartbeat.as_str()))
            .bind(&node.id)
            .bind(&node.api_addr)
            .bind(&node.cluster_addr)
            .bind(&node.hostname)
            .bind(&node.version)
            .execute(&self.lock_pool)
            .await
            .map_err(err)?;
        sqlx::query(AssertSqlSafe(self.sql.forget.as_str()))
            .bind(FORGET_AFTER_SECS)
            .execute(&self.lock_pool)
            .await
            .map_err(err)?;
        Ok(())
    }

    async fn peers(&self, within: Duration) -> Result<Vec<HaPeer>> {
        let rows = sqlx::query(AssertSqlSafe(self.sql.peers.as_str()))
            .bind(within.as_secs_f64())
            .fetch_all(&self.lock_pool)
            .await
            .map_err(|e| map_err(BACKEND, e))?;
        rows.iter()
            .map(|row| {
                let (node, _, last_seen) = node_of(row)?;
                Ok(HaPeer { node, last_seen })
            })
            .collect()
    }
}

/// The change feed's listener: one connection of its own `LISTEN`ing on the channel; every
/// notification becomes an [`HaChange`], and every (re)connection a [`HaChange::Reset`] (what was
/// sent while it was away is lost). Reconnects while the lock handle lives.
async fn listen(
    options: sqlx::postgres::PgConnectOptions,
    channel: Arc<str>,
    feed: tokio::sync::broadcast::Sender<HaChange>,
    alive: std::sync::Weak<()>,
) {
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect_lazy_with(options);
    while alive.strong_count() > 0 {
        let listener = async {
            let mut listener = sqlx::postgres::PgListener::connect_with(&pool).await?;
            listener.listen(&channel).await?;
            Ok::<_, sqlx::Error>(listener)
        };
        let mut listener = match listener.await {
            Ok(listener) => listener,
            Err(err) => {
                tracing::warn!(error = %err, "the HA change feed cannot listen; retrying");
                let _ = feed.send(HaChange::Reset);
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        // Listening (again): whatever was sent while it was not is lost.
        let _ = feed.send(HaChange::Reset);
        loop {
            match listener.try_recv().await {
                Ok(Some(notification)) => {
                    let payload = notification.payload();
                    let change = payload
                        .strip_prefix("beat:")
                        .and_then(|epoch| epoch.parse().ok())
                        .map_or_else(|| HaChange::Key(payload.to_owned()), HaChange::Beat);
                    let _ = feed.send(change);
                }
                // The connection was lost: listen again on a new one, and only then reset (a
                // reset before the gap would let a state built during it stand).
                Ok(None) => break,
                Err(err) => {
                    tracing::warn!(error = %err, "the HA change feed failed; listening again");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    break;
                }
            }
        }
    }
}
