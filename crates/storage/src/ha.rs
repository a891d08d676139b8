//! High availability: one active node among several sharing a store, elected through a lock
//! with a lease, and *fenced*: every write the active makes checks, atomically with the write,
//! that it still holds the lock at the epoch it acquired it with.
//!
//! A lock is an [`HaLock`]. It hands out two stores over the same data: the
//! [`fenced`](HaLock::fenced) one, which refuses every write unless this node holds the lock
//! (and refuses it *in the same transaction* as the write, so no write of a node that lost the
//! lock can land after its successor took over), and the [`unfenced`](HaLock::unfenced) one,
//! for reads and for the one write a cluster makes before any node is active (init, guarded by
//! its own compare-and-swap).
//!
//! Each acquisition gets an epoch one higher than the last, so "the lock is still mine" is one
//! comparison. Lease times are measured on the store's clock (the database server's for
//! PostgreSQL), never on two nodes' clocks compared.
//!
//! | lock | feature | for |
//! |---|---|---|
//! | [`MemoryHa`] | always | tests and simulations of several nodes in one process |
//! | `PostgresHa` | `postgres` | several nodes on one PostgreSQL |

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;

use crate::{MemoryStorage, Op, Result, Storage, StorageError};

/// How long a lease lasts and how often it is renewed or contended for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct HaTiming {
    /// How long an acquisition or renewal holds the lock, on the store's clock. Default 5 s.
    pub lease: Duration,
    /// How often the holder renews. Default 1 s.
    pub renew_interval: Duration,
    /// How often a node that does not hold the lock tries to take it. Default 1 s.
    pub retry_interval: Duration,
}

impl Default for HaTiming {
    fn default() -> Self {
        Self {
            lease: Duration::from_secs(5),
            renew_interval: Duration::from_secs(1),
            retry_interval: Duration::from_secs(1),
        }
    }
}

impl HaTiming {
    /// Sets the lease time.
    #[must_use]
    pub fn lease(mut self, lease: Duration) -> Self {
        self.lease = lease;
        self
    }

    /// Sets the renewal interval.
    #[must_use]
    pub fn renew_interval(mut self, interval: Duration) -> Self {
        self.renew_interval = interval;
        self
    }

    /// Sets the retry interval.
    #[must_use]
    pub fn retry_interval(mut self, interval: Duration) -> Self {
        self.retry_interval = interval;
        self
    }

    /// Checks that the holder renews well within its lease: at least twice per lease, every
    /// interval at least 10 ms, the lease at most an hour.
    ///
    /// # Errors
    ///
    /// [`StorageError::Config`] naming the problem.
    pub fn validate(self) -> Result<Self> {
        let min = Duration::from_millis(10);
        if self.renew_interval < min || self.retry_interval < min {
            return Err(StorageError::Config(
                "the HA renewal and retry intervals must be at least 10ms".into(),
            ));
        }
        if self.lease > Duration::from_secs(3600) {
            return Err(StorageError::Config(
                "the HA lease time must be at most 1h".into(),
            ));
        }
        if self.renew_interval.saturating_mul(2) > self.lease {
            return Err(StorageError::Config(format!(
                "the HA lease time ({:?}) must be at least twice the renewal interval ({:?}), \
                 so that one late renewal does not lose the lock",
                self.lease, self.renew_interval
            )));
        }
        Ok(self)
    }
}

/// What a node tells the others about itself.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct HaNode {
    /// The node's id (a UUID chosen at start).
    pub id: String,
    /// Where clients reach its API (Vault's `api_addr`), e.g. `https://10.0.0.1:8200`.
    pub api_addr: String,
    /// Where other nodes reach it (Vault's `cluster_addr`).
    pub cluster_addr: String,
    /// The host it runs on.
    pub hostname: String,
    /// Its version.
    pub version: String,
}

impl HaNode {
    /// A node with the given id and addresses.
    pub fn new(
        id: impl Into<String>,
        api_addr: impl Into<String>,
        cluster_addr: impl Into<String>,
    ) -> Self {
        Self {
            id: id.into(),
            api_addr: api_addr.into(),
            cluster_addr: cluster_addr.into(),
            ..Self::default()
        }
    }

    /// Sets the host name and version shown in `sys/ha-status`.
    #[must_use]
    pub fn describe(mut self, hostname: impl Into<String>, version: impl Into<String>) -> Self {
        self.hostname = hostname.into();
        self.version = version.into();
        self
    }
}

/// The node holding the lock, as the store records it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct HaLeader {
    /// The holder.
    pub node: HaNode,
    /// The epoch of its acquisition.
    pub epoch: u64,
    /// When it acquired the lock (the store's clock).
    pub acquired_at: SystemTime,
}

/// The lock as a standby sees it: which acquisition holds it and where its lease ends (on the
/// store's clock), or that it was released. A standby takes over only after seeing the same
/// observation for a whole lease on its own clock, so a jump of the store's clock cannot hand
/// the lock over early.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct HaObservation {
    /// The holder's epoch.
    pub epoch: u64,
    /// Where its lease ends, in microseconds on the store's clock; `None` once released.
    pub lease_end: Option<i64>,
}

/// What the change feed carries from the active node to the standbys.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum HaChange {
    /// A key under one of the [`WATCHED`] prefixes was written (committed).
    Key(String),
    /// The active node at this epoch is alive; every change it committed before is already on
    /// the feed (changes arrive in commit order).
    Beat(u64),
    /// The feed may have lost changes (its connection dropped, or this receiver fell behind):
    /// whatever a standby derived from it must be rebuilt.
    Reset,
}

/// The key prefixes whose writes are announced on the change feed: what a standby keeps in
/// memory (the mount, audit and keyring records under `core/`, and policies). Data keys are
/// read from the store every time and need no announcement.
pub const WATCHED: &[&str] = &["core/", "sys/policy/"];

/// Whether a write of `key` goes on the change feed.
pub fn watched(key: &str) -> bool {
    WATCHED.iter().any(|prefix| key.starts_with(prefix))
}

/// A node as last heard of (its heartbeat), for `sys/ha-status`.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct HaPeer {
    /// The node.
    pub node: HaNode,
    /// Its last heartbeat (the store's clock).
    pub last_seen: SystemTime,
}

/// A lock electing one active node, with fencing. See the [module docs](self).
#[async_trait]
pub trait HaLock: Send + Sync + std::fmt::Debug {
    /// The lease and intervals this lock runs with.
    fn timing(&self) -> HaTiming;

    /// The store every write of the active goes through: a write succeeds only while this
    /// handle holds the lock, checked in the write's own transaction; otherwise it fails with
    /// [`StorageError::Fenced`], nothing is applied, and [`lost`](Self::lost) fires.
    fn fenced(&self) -> Arc<dyn Storage>;

    /// The same data without the fence: for reads, and for writes that are safe without the
    /// lock because they carry their own compare-and-swap (a cluster's init).
    fn unfenced(&self) -> Arc<dyn Storage>;

    /// Tries once to take the lock for `node`: `Some(epoch)` when it is taken (the lease was free
    /// or ran out), `None` when another node holds a live lease. On success the fence opens for
    /// this epoch.
    ///
    /// # Errors
    ///
    /// A store error (the lock is then not held).
    async fn try_acquire(&self, node: &HaNode) -> Result<Option<u64>>;

    /// Extends the lease held at `epoch`: `false` when the lock is no longer held at that epoch
    /// (another node took it), and the fence then closes.
    ///
    /// # Errors
    ///
    /// A store error: whether the lease was extended is unknown.
    async fn renew(&self, epoch: u64) -> Result<bool>;

    /// Gives up the lock held at `epoch` (nothing when it is not), so another node can take it
    /// at once. The fence closes first.
    ///
    /// # Errors
    ///
    /// A store error (the lease then runs out by itself).
    async fn release(&self, epoch: u64) -> Result<()>;

    /// Closes the fence without touching the store: from now on every write through
    /// [`fenced`](Self::fenced) fails, whatever the store says.
    fn close_fence(&self);

    /// The epoch the fence is open for, if any.
    fn held(&self) -> Option<u64>;

    /// Resolves when a fenced write found the lock taken by another node (the fence is then
    /// closed): the holder must step down.
    async fn lost(&self);

    /// The lock row as it stands, live or not: `None` before the first acquisition.
    ///
    /// # Errors
    ///
    /// A store error.
    async fn observe(&self) -> Result<Option<HaObservation>>;

    /// The node holding a live lease, if any.
    ///
    /// # Errors
    ///
    /// A store error.
    async fn leader(&self) -> Result<Option<HaLeader>>;

    /// Records that `node` is alive (for [`peers`](Self::peers)).
    ///
    /// # Errors
    ///
    /// A store error.
    async fn heartbeat(&self, node: &HaNode) -> Result<()>;

    /// Puts a beat for `epoch` on the change feed (the active node, every renewal).
    ///
    /// # Errors
    ///
    /// A store error.
    async fn announce(&self, epoch: u64) -> Result<()>;

    /// A receiver of the change feed: the watched keys the active node writes, its beats, and
    /// resets when the feed may have lost something.
    fn changes(&self) -> tokio::sync::broadcast::Receiver<HaChange>;

    /// The nodes heard from within `within`, oldest id first.
    ///
    /// # Errors
    ///
    /// A store error.
    async fn peers(&self, within: Duration) -> Result<Vec<HaPeer>>;
}

/// The fence every lock implementation keeps: the epoch this handle holds (0: none), and the
/// signal that a write found it lost.
#[derive(Debug, Default)]
pub(crate) struct Fence {
    epoch: AtomicU64,
    lost: tokio::sync::Notify,
}

impl Fence {
    pub(crate) fn held(&self) -> Option<u64> {
        match self.epoch.load(Ordering::Acquire) {
            0 => None,
            epoch => Some(epoch),
        }
    }

    pub(crate) fn open(&self, epoch: u64) {
        self.epoch.store(epoch, Ordering::Release);
    }

    pub(crate) fn close(&self) {
        self.epoch.store(0, Ordering::Release);
    }

    /// A write found the lock no longer held at `epoch`: closes the fence (unless a newer
    /// acquisition opened it meanwhile) and wakes the holder.
    pub(crate) fn found_lost(&self, epoch: u64) -> StorageError {
        if self
            .epoch
            .compare_exchange(epoch, 0, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
        {
            // One waiter (the holder's loop); a permit is kept if it is not waiting yet.
            self.lost.notify_one();
        }
        StorageError::Fenced
    }

    pub(crate) async fn lost(&self) {
        self.lost.notified().await;
    }
}

/// A clock for [`MemoryHa`]: the time since some fixed start. Simulations drive it by hand.
pub type HaClock = Arc<dyn Fn() -> Duration + Send + Sync>;

#[derive(Debug, Default)]
struct MemoryLock {
    epoch: u64,
    holder: Option<(HaNode, Duration, SystemTime)>,
    /// The holder's lease runs until this time on the lock's clock.
    until: Duration,
    peers: std::collections::BTreeMap<String, (HaNode, SystemTime)>,
}

struct MemoryShared {
    data: MemoryStorage,
    feed: tokio::sync::broadcast::Sender<HaChange>,
    lock: tokio::sync::Mutex<MemoryLock>,
    clock: HaClock,
    timing: HaTiming,
}

/// An in-process [`HaLock`] over a [`MemoryStorage`]: several handles from
/// [`handle`](Self::handle) share one store and one lock, as several nodes share one database.
/// Its writes are fenced exactly as the PostgreSQL lock's are (the check and the write under one
/// mutex, which a takeover also takes). For tests and simulations; its clock can be driven by hand
/// ([`with_clock`](Self::with_clock)).
#[derive(Clone)]
pub struct MemoryHa {
    shared: Arc<MemoryShared>,
    fence: Arc<Fence>,
}

impl std::fmt::Debug for MemoryHa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryHa")
            .field("timing", &self.shared.timing)
            .field("held", &self.fence.held())
            .finish_non_exhaustive()
    }
}

impl MemoryHa {
    /// A lock over a fresh memory store, on the process's monotonic clock.
    ///
    /// # Errors
    ///
    /// [`StorageError::Config`] for bad timing.
    pub fn new(timing: HaTiming) -> Result<Self> {
        let start = std::time::Instant::now();
        Self::with_clock(timing, Arc::new(move || start.elapsed()))
    }

    /// A lock over a fresh memory store, on `clock`.
    ///
    /// # Errors
    ///
    /// [`StorageError::Config`] for bad timing.
    pub fn with_clock(timing: HaTiming, clock: HaClock) -> Result<Self> {
        Ok(Self {
            shared: Arc::new(MemoryShared {
                data: MemoryStorage::new(),
                feed: tokio::sync::broadcast::channel(1024).0,
                lock: tokio::sync::Mutex::new(MemoryLock::default()),
                clock,
                timing: timing.validate()?,
            }),
            fence: Arc::new(Fence::default()),
        })
    }

    /// Another node's handle on the same store and lock, with its own fence.
    pub fn handle(&self) -> Self {
        Self {
            shared: Arc::clone(&self.shared),
            fence: Arc::new(Fence::default()),
        }
    }

    /// The epoch of the latest acquisition (0 before the first).
    pub async fn epoch(&self) -> u64 {
        self.shared.lock.lock().await.epoch
    }
}

/// The fenced view of a [`MemoryHa`]'s store.
struct MemoryFenced {
    shared: Arc<MemoryShared>,
    fence: Arc<Fence>,
}

impl std::fmt::Debug for MemoryFenced {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryFenced").finish_non_exhaustive()
    }
}

impl MemoryFenced {
    /// Puts the watched ones of `keys` on the feed (nobody listening is fine).
    fn announce<'k>(&self, keys: impl IntoIterator<Item = &'k str>) {
        for key in keys.into_iter().filter(|k| watched(k)) {
            let _ = self.shared.feed.send(HaChange::Key(key.to_owned()));
        }
    }

    /// Holds the lock state while a write is applied, after checking this handle still holds
    /// the lock: a takeover (which takes the same mutex) cannot come between the check and the
    /// write.
    async fn guard(&self) -> Result<tokio::sync::MutexGuard<'_, MemoryLock>> {
        let epoch = self.fence.held().ok_or(StorageError::Fenced)?;
        let lock = self.shared.lock.lock().await;
        if lock.epoch != epoch {
            return Err(self.fence.found_lost(epoch));
        }
        Ok(lock)
    }
}

#[async_trait]
impl Storage for MemoryFenced {
    fn kind(&self) -> &'static str {
        "inmem"
    }
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        self.shared.data.get(key).await
    }
    async fn put(&self, key: &str, value: Vec<u8>) -> Result<()> {
        self.shared.data.limits().check_put(key, &value)?;
        let _held = self.guard().await?;
        self.shared.data.put(key, value).await?;
        self.announce([key]);
        Ok(())
    }
    async fn delete(&self, key: &str) -> Result<()> {
        self.shared.data.limits().check_key(key)?;
        let _held = self.guard().await?;
        self.shared.data.delete(key).await?;
        self.announce([key]);
        Ok(())
    }
    async fn list(&self, prefix: &str) -> Result<Vec<String>> {
        self.shared.data.list(prefix).await
    }
    async fn transaction(&self, ops: Vec<Op>) -> Result<()> {
        self.shared.data.limits().check_ops(&ops)?;
        let _held = self.guard().await?;
        let keys: Vec<String> = ops
            .iter()
            .filter(|op| !matches!(op, Op::Check { .. }))
            .map(|op| op.key().to_owned())
            .collect();
        self.shared.data.transaction(ops).await?;
        self.announce(keys.iter().map(String::as_str));
        Ok(())
    }
}

/// The unfenced view: the store itself, shared.
#[derive(Debug)]
struct MemoryUnfenced(Arc<MemoryShared>);

impl std::fmt::Debug for MemoryShared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryShared").finish_non_exhaustive()
    }
}

#[async_trait]
impl Storage for MemoryUnfenced {
    fn kind(&self) -> &'static str {
        "inmem"
    }
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        self.0.data.get(key).await
    }
    async fn put(&self, key: &str, value: Vec<u8>) -> Result<()> {
        self.0.data.put(key, value).await
    }
    async fn delete(&self, key: &str) -> Result<()> {
        self.0.data.delete(key).await
    }
    async fn list(&self, prefix: &str) -> Result<Vec<String>> {
        self.0.data.list(prefix).await
    }
    async fn transaction(&self, ops: Vec<Op>) -> Result<()> {
        self.0.data.transaction(ops).await
    }
}

impl MemoryShared {
    fn wall(&self) -> SystemTime {
        SystemTime::now()
    }
}

#[async_trait]
impl HaLock for MemoryHa {
    fn timing(&self) -> HaTiming {
        self.shared.timing
    }

    fn fenced(&self) -> Arc<dyn Storage> {
        Arc::new(MemoryFenced {
            shared: Arc::clone(&self.shared),
            fence: Arc::clone(&self.fence),
        })
    }

    fn unfenced(&self) -> Arc<dyn Storage> {
        Arc::new(MemoryUnfenced(Arc::clone(&self.shared)))
    }

    async fn try_acquire(&self, node: &HaNode) -> Result<Option<u64>> {
        let mut lock = self.shared.lock.lock().await;
        let now = (self.shared.clock)();
        if lock.holder.is_some() && lock.until > now {
            return Ok(None);
        }
        lock.epoch = lock.epoch.saturating_add(1);
        lock.holder = Some((node.clone(), now, self.shared.wall()));
        lock.until = now.saturating_add(self.shared.timing.lease);
        self.fence.open(lock.epoch);
        Ok(Some(lock.epoch))
    }

    async fn renew(&self, epoch: u64) -> Result<bool> {
        if self.fence.held() != Some(epoch) {
            return Ok(false);
        }
        let mut lock = self.shared.lock.lock().await;
        if lock.epoch != epoch || lock.holder.is_none() {
            drop(lock);
            self.fence.found_lost(epoch);
            return Ok(false);
        }
        lock.until = (self.shared.clock)().saturating_add(self.shared.timing.lease);
        Ok(true)
    }

    async fn release(&self, epoch: u64) -> Result<()> {
        self.fence.close();
        let mut lock = self.shared.lock.lock().await;
        if lock.epoch == epoch {
            lock.holder = None;
        }
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
        let lock = self.shared.lock.lock().await;
        if lock.epoch == 0 {
            return Ok(None);
        }
        Ok(Some(HaObservation {
            epoch: lock.epoch,
            lease_end: lock
                .holder
                .as_ref()
                .map(|_| i64::try_from(lock.until.as_micros()).unwrap_or(i64::MAX)),
        }))
    }

    async fn leader(&self) -> Result<Option<HaLeader>> {
        let lock = self.shared.lock.lock().await;
        let now = (self.shared.clock)();
        Ok(lock
            .holder
            .as_ref()
            .filter(|_| lock.until > now)
            .map(|(node, _, wall)| HaLeader {
                node: node.clone(),
                epoch: lock.epoch,
                acquired_at: *wall,
            }))
    }

    async fn announce(&self, epoch: u64) -> Result<()> {
        let _ = self.shared.feed.send(HaChange::Beat(epoch));
        Ok(())
    }

    fn changes(&self) -> tokio::sync::broadcast::Receiver<HaChange> {
        self.shared.feed.subscribe()
    }

    async fn heartbeat(&self, node: &HaNode) -> Result<()> {
        let mut lock = self.shared.lock.lock().await;
        let wall = self.shared.wall();
        lock.peers.insert(node.id.clone(), (node.clone(), wall));
        Ok(())
    }

    async fn peers(&self, within: Duration) -> Result<Vec<HaPeer>> {
        let lock = self.shared.lock.lock().await;
        let now = self.shared.wall();
        Ok(lock
            .peers
            .values()
            .filter(|(_, seen)| now.duration_since(*seen).unwrap_or_default() <= within)
            .map(|(node, seen)| HaPeer {
                node: node.clone(),
                last_seen: *seen,
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    fn manual() -> (HaClock, Arc<Mutex<Duration>>) {
        let now = Arc::new(Mutex::new(Duration::ZERO));
        let read = Arc::clone(&now);
        (
            Arc::new(move || {
                *read
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
            }),
            now,
        )
    }

    #[test]
    fn timing_rules() {
        assert!(HaTiming::default().validate().is_ok());
        let slow = HaTiming::default().renew_interval(Duration::from_secs(3));
        assert!(slow.validate().is_err());
        let tiny = HaTiming::default().retry_interval(Duration::from_millis(1));
        assert!(tiny.validate().is_err());
    }

    #[tokio::test]
    async fn a_taken_over_holder_cannot_write() {
        let (clock, now) = manual();
        let a = MemoryHa::with_clock(HaTiming::default(), clock).unwrap();
        let b = a.handle();
        let node = HaNode::new("a", "http://a", "http://a");
        assert!(
            a.fenced().put("k", b"x".to_vec()).await.is_err(),
            "no lock, no write"
        );
        let e1 = a.try_acquire(&node).await.unwrap().unwrap();
        a.fenced().put("k", b"1".to_vec()).await.unwrap();
        assert_eq!(b.try_acquire(&node).await.unwrap(), None, "lease is live");
        *now.lock().unwrap() = Duration::from_secs(6);
        let e2 = b.try_acquire(&node).await.unwrap().unwrap();
        assert!(e2 > e1);
        assert!(matches!(
            a.fenced().put("k", b"stale".to_vec()).await,
            Err(StorageError::Fenced)
        ));
        assert_eq!(a.held(), None, "a fenced write closes the fence");
        assert!(!a.renew(e1).await.unwrap());
        b.fenced().put("k", b"2".to_vec()).await.unwrap();
        assert_eq!(
            a.unfenced().get("k").await.unwrap().as_deref(),
            Some(&b"2"[..])
        );
    }
}
