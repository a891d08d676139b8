//! High availability: several nodes on one store, one of them active.
//!
//! Each node unseals on its own. An unsealed node contends for the store's [`HaLock`]; the
//! holder loads what an active vault serves from (mounts, policies, tokens, audit devices,
//! fresh engine instances with empty caches, the keyring as stored now), runs the background
//! work (lease and token expiry, rotations, periodic functions) and serves requests. The others
//! are standbys: they serve nothing that needs the unsealed state ([`crate::VaultError::Standby`]);
//! the HTTP layer forwards such requests to the active node.
//!
//! The holder renews its lease every renewal interval. It stops being active, at once, when a
//! renewal finds the lock taken, when a write through the fenced store is refused (the lock
//! was taken while it was paused or cut off), when it cannot renew before its lease runs out
//! by its own clock, or when asked to step down. Its writes are fenced by the lock's epoch in
//! the store itself, so none of them can land after a successor took over, whatever this
//! process believes.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

// The runtime's clock, so a paused test runtime drives leases and deadlines alike.
use tokio::time::Instant;

use strongroom_storage::{HaLock, HaNode, HaObservation, Storage};
use zeroize::Zeroizing;

/// Where the key authenticating forwarded requests between nodes is kept (inside the barrier).
pub(crate) const FORWARDING_KEY_PATH: &str = "core/ha/forwarding-key";

/// How long a node that stepped down waits before contending again (Vault's
/// `manualStepDownSleepPeriod`), so another node takes over.
pub const DEFAULT_STEP_DOWN_WAIT: Duration = Duration::from_secs(10);

/// A node's HA settings: the lock it contends for and what it tells the others about itself.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct HaConfig {
    /// The lock (and the store it fences).
    pub lock: Arc<dyn HaLock>,
    /// This node as the others see it (`api_addr`, `cluster_addr`).
    pub node: HaNode,
    /// How long a node that stepped down waits before contending again. Default
    /// [`DEFAULT_STEP_DOWN_WAIT`].
    pub step_down_wait: Duration,
}

impl HaConfig {
    /// HA on `lock` for `node`.
    pub fn new(lock: Arc<dyn HaLock>, node: HaNode) -> Self {
        Self {
            lock,
            node,
            step_down_wait: DEFAULT_STEP_DOWN_WAIT,
        }
    }

    /// Sets how long a node that stepped down waits before contending again.
    #[must_use]
    pub fn step_down_wait(mut self, wait: Duration) -> Self {
        self.step_down_wait = wait;
        self
    }
}

/// Vault's `sys/leader`.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct LeaderStatus {
    /// Whether this vault runs with HA.
    pub ha_enabled: bool,
    /// Whether this node is the active one.
    pub is_self: bool,
    /// When this node became active (only on the active node).
    pub active_time: Option<SystemTime>,
    /// The active node's `api_addr` (empty when none is known).
    pub leader_address: String,
    /// The active node's `cluster_addr`.
    pub leader_cluster_address: String,
}

/// One node of `sys/ha-status`.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct HaMember {
    /// The node as it describes itself.
    pub node: HaNode,
    /// Whether it is the active node.
    pub active: bool,
    /// Its last heartbeat (`None` for the active node, as Vault reports it).
    pub last_echo: Option<SystemTime>,
}

/// Where a node stands (inside [`Ha`]).
#[derive(Default)]
pub(crate) struct HaState {
    /// The epoch this node is active with.
    pub(crate) active: Option<u64>,
    /// When it became active.
    pub(crate) since: Option<SystemTime>,
    /// Until when its lease surely holds, by this process's clock: the send time of the last
    /// successful renewal (the store measured the lease from later) plus nine tenths of the
    /// lease, the rest a margin for the two clocks running at slightly different rates.
    pub(crate) deadline: Option<Instant>,
    /// The active node as last looked up and checked against its advertisement inside the
    /// barrier (standbys, every retry interval).
    pub(crate) leader: Option<Advertised>,
    /// The key authenticating forwarded requests (read from inside the barrier).
    pub(crate) forwarding_key: Option<Arc<Zeroizing<Vec<u8>>>>,
    /// The active state of this node's last term, until every request and task still holding
    /// it is done: no new term starts before (their writes would pass the new term's fence).
    pub(crate) retired: Option<std::sync::Weak<crate::active::Active>>,
    /// The lock as last observed, and since when (this process's clock) unchanged.
    pub(crate) observed: Option<(HaObservation, Instant)>,
    /// A step-down asked of the term with this epoch.
    pub(crate) step_down_for: Option<u64>,
    /// After a step-down, no contending before this.
    pub(crate) quiet_until: Option<Instant>,
    /// A standby's read state: what the active node serves from, loaded here with the fence
    /// closed (every write fails), for the reads a standby serves itself; rebuilt when the
    /// change feed says the mounts or audit devices changed, or may have lost something.
    pub(crate) reads: Option<Arc<crate::active::Active>>,
    /// The last beat on the change feed: the active node's epoch, and when it arrived.
    pub(crate) beat: Option<(u64, Instant)>,
    /// Counts the changes that make a read state stale (and resets of the feed): a read state
    /// loaded while it moved is thrown away.
    pub(crate) stale_count: u64,
}

/// What the active node advertises inside the barrier (so that nobody who can write the
/// store's lock table can send standbys' clients, their tokens and their secrets elsewhere):
/// its id and epoch, which must match the lock row, and its addresses.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct Advertised {
    pub(crate) node_id: String,
    pub(crate) epoch: u64,
    pub(crate) api_addr: String,
    pub(crate) cluster_addr: String,
}

/// Where the active node's advertisement is kept (inside the barrier).
pub(crate) const LEADER_PATH: &str = "core/ha/leader";

/// The HA part of a vault.
pub(crate) struct Ha {
    pub(crate) lock: Arc<dyn HaLock>,
    pub(crate) node: HaNode,
    pub(crate) unfenced: Arc<dyn Storage>,
    pub(crate) step_down_wait: Duration,
    pub(crate) state: Mutex<HaState>,
    pub(crate) step_down: tokio::sync::Notify,
    /// One lookup of the active node at a time on the request path, and when the last ended.
    pub(crate) lookup: tokio::sync::Mutex<Option<Instant>>,
    /// Which contention loop is current: each unseal starts one, a seal retires it.
    pub(crate) generation: AtomicU64,
}

impl Ha {
    pub(crate) fn new(config: HaConfig) -> Self {
        Self {
            unfenced: config.lock.unfenced(),
            lock: config.lock,
            node: config.node,
            step_down_wait: config.step_down_wait,
            state: Mutex::new(HaState::default()),
            step_down: tokio::sync::Notify::new(),
            lookup: tokio::sync::Mutex::new(None),
            generation: AtomicU64::new(0),
        }
    }

    pub(crate) fn state(&self) -> std::sync::MutexGuard<'_, HaState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The store without the fence: for init, which runs before any node is active.
    pub(crate) fn unfenced(&self) -> &Arc<dyn Storage> {
        &self.unfenced
    }

    /// Whether this node is active and its lease surely still holds.
    pub(crate) fn serving(&self) -> bool {
        let state = self.state();
        state.active.is_some()
            && state.deadline.is_some_and(|d| Instant::now() < d)
            && self.lock.held() == state.active
    }

    /// Remembers the active state a seal just dropped: no new term starts while requests still
    /// hold it.
    pub(crate) fn retired(&self, old: Option<&Arc<crate::active::Active>>) {
        if let Some(old) = old {
            self.state().retired = Some(Arc::downgrade(old));
        }
    }

    /// Retires the contention loop (the vault is sealing) and gives the lock up if held.
    pub(crate) async fn retire(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        let held = self.state().active.take();
        self.lock.close_fence();
        if let Some(epoch) = held
            && let Err(err) = self.lock.release(epoch).await
        {
            tracing::warn!(error = %err, "releasing the HA lock failed; its lease runs out by itself");
        }
    }
}

/// How long after sending a successful acquisition or renewal this node may count on holding
/// the lock: nine tenths of the lease.
pub(crate) fn surely_held(timing: strongroom_storage::HaTiming) -> Duration {
    timing.lease.mul_f64(0.9)
}

/// Why a node stopped being active.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Ended {
    Lost,
    SteppedDown,
    Retired,
}
