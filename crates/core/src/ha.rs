//! High availability: several nodes on one store, one of them active.
//!
//! Each node unseals on its own. An unsealed node contends for the store's [`HaLock`]; the
//! holder loads what an active vault serves from (mounts, policies, tokens, audit devices,
//! fresh engine instances with empty caches, the keyring as stored now), runs the background
//! work (lease and token expiry, rotations, periodic functions) and serves requests. The others
//! are standbys: they serve nothing that needs the unsealed state ([`VaultError::Standby`]);
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

use strongroom_storage::{HaLock, HaNode, HaObservation, HaPeer, Storage};
use zeroize::Zeroizing;

use crate::vault::Vault;
use crate::{Result, VaultError};

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
struct HaState {
    /// The epoch this node is active with.
    active: Option<u64>,
    /// When it became active.
    since: Option<SystemTime>,
    /// Until when its lease surely holds, by this process's clock: the send time of the last
    /// successful renewal (the store measured the lease from later) plus nine tenths of the
    /// lease, the rest a margin for the two clocks running at slightly different rates.
    deadline: Option<Instant>,
    /// The active node as last looked up and checked against its advertisement inside the
    /// barrier (standbys, every retry interval).
    leader: Option<Advertised>,
    /// The key authenticating forwarded requests (read from inside the barrier).
    forwarding_key: Option<Arc<Zeroizing<Vec<u8>>>>,
    /// The active state of this node's last term, until every request and task still holding
    /// it is done: no new term starts before (their writes would pass the new term's fence).
    retired: Option<std::sync::Weak<crate::active::Active>>,
    /// The lock as last observed, and since when (this process's clock) unchanged.
    observed: Option<(HaObservation, Instant)>,
    /// A step-down asked of the term with this epoch.
    step_down_for: Option<u64>,
    /// After a step-down, no contending before this.
    quiet_until: Option<Instant>,
}

/// What the active node advertises inside the barrier (so that nobody who can write the
/// store's lock table can send standbys' clients, their tokens and their secrets elsewhere):
/// its id and epoch, which must match the lock row, and its addresses.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
struct Advertised {
    node_id: String,
    epoch: u64,
    api_addr: String,
    cluster_addr: String,
}

/// Where the active node's advertisement is kept (inside the barrier).
const LEADER_PATH: &str = "core/ha/leader";

/// The HA part of a vault.
pub(crate) struct Ha {
    lock: Arc<dyn HaLock>,
    node: HaNode,
    unfenced: Arc<dyn Storage>,
    step_down_wait: Duration,
    state: Mutex<HaState>,
    step_down: tokio::sync::Notify,
    /// One lookup of the active node at a time on the request path, and when the last ended.
    lookup: tokio::sync::Mutex<Option<Instant>>,
    /// Which contention loop is current: each unseal starts one, a seal retires it.
    generation: AtomicU64,
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

    fn state(&self) -> std::sync::MutexGuard<'_, HaState> {
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
fn surely_held(timing: strongroom_storage::HaTiming) -> Duration {
    timing.lease.mul_f64(0.9)
}

/// Why a node stopped being active.
#[derive(Debug, PartialEq, Eq)]
enum Ended {
    Lost,
    SteppedDown,
    Retired,
}

/// A call to the lock, bounded: a store that stops answering (a black-holed connection) counts
/// as a failed call after `limit`.
async fn bounded<T>(
    limit: Duration,
    call: impl std::future::Future<Output = strongroom_storage::Result<T>>,
) -> Result<T> {
    match tokio::time::timeout(limit, call).await {
        Ok(result) => Ok(result?),
        Err(_) => Err(VaultError::Internal(format!(
            "the HA lock did not answer within {limit:?}"
        ))),
    }
}

impl Vault {
    /// Whether this vault runs with HA (several nodes on one store).
    pub fn ha_enabled(&self) -> bool {
        self.inner.ha.is_some()
    }

    /// Whether this node is an unsealed standby: HA, unsealed, not active. Requests that need
    /// the unsealed state fail here with [`VaultError::Standby`]; a server forwards them.
    pub fn is_standby(&self) -> bool {
        self.inner
            .ha
            .as_ref()
            .is_some_and(|ha| !self.inner.barrier.is_sealed() && !ha.serving())
    }

    /// The active node's `api_addr` when this node is a standby: as last looked up, and only
    /// when the lock row and the advertisement inside the barrier agree.
    pub fn active_address(&self) -> Option<String> {
        let ha = self.inner.ha.as_ref()?;
        ha.state()
            .leader
            .as_ref()
            .filter(|l| l.node_id != ha.node.id)
            .map(|l| l.api_addr.clone())
    }

    /// As [`active_address`](Self::active_address), looking the active node up first when it
    /// is not known yet (just after a failover): one lookup at a time, at most one every 50 ms.
    pub async fn find_active_address(&self) -> Option<String> {
        if let Some(known) = self.active_address() {
            return Some(known);
        }
        let ha = self.inner.ha.as_ref()?;
        if self.inner.barrier.is_sealed() || ha.serving() {
            return None;
        }
        let mut last = ha.lookup.lock().await;
        if let Some(known) = self.active_address() {
            return Some(known);
        }
        if last.is_none_or(|at| at.elapsed() >= Duration::from_millis(50)) {
            self.refresh_standby(ha).await;
            *last = Some(Instant::now());
        }
        drop(last);
        self.active_address()
    }

    /// The key nodes authenticate forwarded requests with (HMAC-SHA256): made by the first
    /// active node, kept inside the barrier, read by every unsealed node. `None` without HA,
    /// while sealed, or before any node was active.
    pub fn forwarding_key(&self) -> Option<Arc<Zeroizing<Vec<u8>>>> {
        let ha = self.inner.ha.as_ref()?;
        if self.inner.barrier.is_sealed() {
            return None;
        }
        ha.state().forwarding_key.clone()
    }

    /// Vault's `sys/leader`: whether HA is on, and which node is active. Answered from what
    /// this node knows (no store call: the endpoint needs no token).
    ///
    /// # Errors
    ///
    /// [`VaultError::Sealed`] while sealed (with HA).
    pub async fn leader_status(&self) -> Result<LeaderStatus> {
        let Some(ha) = &self.inner.ha else {
            return Ok(LeaderStatus {
                ha_enabled: false,
                is_self: false,
                active_time: None,
                leader_address: String::new(),
                leader_cluster_address: String::new(),
            });
        };
        if self.inner.barrier.is_sealed() {
            return Err(VaultError::Sealed);
        }
        let serving = ha.serving();
        let state = ha.state();
        let (leader_address, leader_cluster_address) = if serving {
            (ha.node.api_addr.clone(), ha.node.cluster_addr.clone())
        } else {
            state.leader.as_ref().map_or_else(Default::default, |l| {
                (l.api_addr.clone(), l.cluster_addr.clone())
            })
        };
        Ok(LeaderStatus {
            ha_enabled: true,
            is_self: serving,
            active_time: if serving { state.since } else { None },
            leader_address,
            leader_cluster_address,
        })
    }

    /// The nodes heard from in the last 30 s (Vault's `sys/ha-status`), the active one first.
    pub(crate) async fn ha_members(&self) -> Result<Vec<HaMember>> {
        let Some(ha) = &self.inner.ha else {
            return Err(VaultError::invalid("high availability is not enabled"));
        };
        let limit = ha.lock.timing().lease;
        let leader = bounded(limit, ha.lock.leader()).await?;
        let peers: Vec<HaPeer> = bounded(limit, ha.lock.peers(Duration::from_secs(30))).await?;
        let active_id = leader.map(|l| l.node.id);
        let mut members: Vec<HaMember> = peers
            .into_iter()
            .map(|peer| {
                let active = active_id.as_deref() == Some(peer.node.id.as_str());
                HaMember {
                    last_echo: (!active).then_some(peer.last_seen),
                    active,
                    node: peer.node,
                }
            })
            .collect();
        members.sort_by(|a, b| {
            b.active
                .cmp(&a.active)
                .then_with(|| a.node.api_addr.cmp(&b.node.api_addr))
        });
        Ok(members)
    }

    /// Makes the active node give up the lock (Vault's `sys/step-down`); it contends again
    /// after its step-down wait. Nothing on a standby or without HA.
    pub(crate) fn request_step_down(&self) {
        if let Some(ha) = &self.inner.ha
            && ha.serving()
        {
            let mut state = ha.state();
            state.step_down_for = state.active;
            drop(state);
            ha.step_down.notify_one();
        }
    }

    /// Starts contending for the lock (after an unseal), when running inside a tokio runtime.
    pub(crate) fn spawn_ha(&self) {
        let Some(ha) = &self.inner.ha else { return };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            tracing::warn!("HA needs a tokio runtime: this node stays a standby");
            return;
        };
        let generation = ha.generation.fetch_add(1, Ordering::AcqRel).wrapping_add(1);
        let weak = Arc::downgrade(&self.inner);
        runtime.spawn(async move {
            loop {
                let Some(inner) = weak.upgrade() else { return };
                let vault = Vault { inner };
                let Some(wait) = vault.contend_once(generation).await else {
                    return;
                };
                drop(vault);
                tokio::time::sleep(wait).await;
            }
        });
    }

    /// Whether this standby may try to take the lock now: its last term is fully over, it is
    /// not resting after a step-down, and the lock was released or has shown no renewal for a
    /// whole lease on this process's clock (whatever the store's clock says).
    async fn may_contend(&self, ha: &Ha) -> bool {
        let timing = ha.lock.timing();
        {
            let mut state = ha.state();
            if let Some(retired) = &state.retired {
                if retired.strong_count() > 0 {
                    return false;
                }
                state.retired = None;
            }
            if state
                .quiet_until
                .is_some_and(|until| Instant::now() < until)
            {
                return false;
            }
        }
        let observed = match bounded(timing.lease, ha.lock.observe()).await {
            Ok(observed) => observed,
            Err(err) => {
                tracing::warn!(error = %err, "could not reach the HA lock; retrying");
                return false;
            }
        };
        let Some(observed) = observed.filter(|o| o.lease_end.is_some()) else {
            // Never taken, or released.
            return true;
        };
        let mut state = ha.state();
        match state.observed {
            Some((seen, since)) if seen == observed => since.elapsed() >= timing.lease,
            _ => {
                state.observed = Some((observed, Instant::now()));
                false
            }
        }
    }

    /// One round of the contention loop: a standby's heartbeat, upkeep and attempt at the
    /// lock, or, when it is taken, a whole term as the active node. Returns how long to wait
    /// before the next round, `None` when the loop is retired.
    async fn contend_once(&self, generation: u64) -> Option<Duration> {
        let ha = self.inner.ha.as_ref()?;
        if ha.generation.load(Ordering::Acquire) != generation || self.inner.barrier.is_sealed() {
            return None;
        }
        let timing = ha.lock.timing();
        if let Err(err) = bounded(timing.lease, ha.lock.heartbeat(&ha.node)).await {
            tracing::debug!(error = %err, "HA heartbeat failed");
        }
        if !self.may_contend(ha).await {
            self.refresh_standby(ha).await;
            return Some(timing.retry_interval);
        }
        let sent = Instant::now();
        let epoch = match bounded(timing.lease, ha.lock.try_acquire(&ha.node)).await {
            Ok(Some(epoch)) => epoch,
            Ok(None) => {
                self.refresh_standby(ha).await;
                return Some(timing.retry_interval);
            }
            Err(err) => {
                tracing::warn!(error = %err, "could not reach the HA lock; retrying");
                return Some(timing.retry_interval);
            }
        };
        let ended = match self
            .become_active(ha, epoch, generation, sent + surely_held(timing))
            .await
        {
            Ok(()) => {
                tracing::info!(epoch, "this node is now the active node");
                self.hold(ha, epoch, generation).await
            }
            Err(err) => {
                tracing::warn!(error = %err, "could not become the active node; giving the lock up");
                ha.lock.close_fence();
                if let Err(err) = bounded(timing.lease, ha.lock.release(epoch)).await {
                    tracing::warn!(error = %err, "releasing the HA lock failed; its lease runs out by itself");
                }
                return Some(timing.retry_interval);
            }
        };
        self.stand_down(ha, epoch).await;
        match ended {
            Ended::Retired => None,
            Ended::SteppedDown => {
                tracing::info!("stepped down: this node is a standby");
                ha.state().quiet_until = Some(Instant::now() + ha.step_down_wait);
                Some(timing.retry_interval)
            }
            Ended::Lost => {
                tracing::warn!(epoch, "lost the HA lock: this node is a standby");
                Some(timing.retry_interval)
            }
        }
    }

    /// A standby's upkeep: the forwarding key (the keyring is read again when it cannot be
    /// opened with the terms known here), and who is active, believed only when the lock row and
    /// the advertisement inside the barrier agree.
    async fn refresh_standby(&self, ha: &Ha) {
        let missing = ha.state().forwarding_key.is_none();
        if missing && let Some(key) = self.read_fresh(FORWARDING_KEY_PATH).await {
            ha.state().forwarding_key = Some(Arc::new(Zeroizing::new(key)));
        }
        let row = match bounded(ha.lock.timing().lease, ha.lock.leader()).await {
            Ok(row) => row,
            Err(err) => {
                tracing::debug!(error = %err, "looking the active node up failed");
                return;
            }
        };
        let advertised = match &row {
            Some(row) => {
                let believed = ha.state().leader.clone();
                match believed {
                    Some(known) if known.node_id == row.node.id && known.epoch == row.epoch => {
                        Some(known)
                    }
                    _ => self
                        .read_fresh(LEADER_PATH)
                        .await
                        .and_then(|bytes| serde_json::from_slice::<Advertised>(&bytes).ok())
                        .filter(|ad| ad.node_id == row.node.id && ad.epoch == row.epoch),
                }
            }
            None => None,
        };
        ha.state().leader = advertised;
    }

    /// A value from inside the barrier, reading the keyring again once if it is under a term
    /// this node does not know yet.
    async fn read_fresh(&self, key: &str) -> Option<Vec<u8>> {
        match self.inner.barrier.get(key).await {
            Ok(value) => value,
            Err(_) => {
                if let Err(err) = self.inner.barrier.reload().await {
                    tracing::warn!(error = %err, "reading the keyring again failed");
                }
                self.inner.barrier.get(key).await.ok().flatten()
            }
        }
    }

    /// Loads the active state from the store as it is now and starts serving.
    async fn become_active(
        &self,
        ha: &Ha,
        epoch: u64,
        generation: u64,
        deadline: Instant,
    ) -> Result<()> {
        // Terms the previous active node added; then everything else, read fresh.
        self.inner.barrier.reload().await?;
        let key = match self.inner.barrier.get(FORWARDING_KEY_PATH).await? {
            Some(key) => Zeroizing::new(key),
            None => {
                let key = Zeroizing::new(
                    ring::rand::generate::<[u8; 32]>(&ring::rand::SystemRandom::new())
                        .map_err(|_| VaultError::Internal("system random source failed".into()))?
                        .expose()
                        .to_vec(),
                );
                self.inner
                    .barrier
                    .put(FORWARDING_KEY_PATH, key.to_vec())
                    .await?;
                key
            }
        };
        let advertised = Advertised {
            node_id: ha.node.id.clone(),
            epoch,
            api_addr: ha.node.api_addr.clone(),
            cluster_addr: ha.node.cluster_addr.clone(),
        };
        let bytes = serde_json::to_vec(&advertised)
            .map_err(|e| VaultError::Internal(format!("encoding the advertisement: {e}")))?;
        self.inner.barrier.put(LEADER_PATH, bytes).await?;
        let active = self.load().await?;
        // Still this term (no seal, no newer loop, the lock not lost meanwhile)?
        if ha.generation.load(Ordering::Acquire) != generation
            || self.inner.barrier.is_sealed()
            || ha.lock.held() != Some(epoch)
        {
            return Err(VaultError::Standby);
        }
        {
            let mut state = ha.state();
            state.active = Some(epoch);
            state.since = Some(SystemTime::now());
            state.deadline = Some(deadline);
            state.leader = Some(advertised);
            state.forwarding_key = Some(Arc::new(key));
            state.step_down_for = None;
            state.observed = None;
        }
        *self
            .inner
            .active
            .write()
            .unwrap_or_else(PoisonError::into_inner) = Some(Arc::new(active));
        self.spawn_expiry();
        Ok(())
    }

    /// Holds the lock: renews it every renewal interval until it is lost, this node is asked
    /// to step down, or the loop is retired.
    async fn hold(&self, ha: &Ha, epoch: u64, generation: u64) -> Ended {
        let timing = ha.lock.timing();
        loop {
            tokio::select! {
                () = tokio::time::sleep(timing.renew_interval) => {}
                () = ha.lock.lost() => {
                    if ha.lock.held() != Some(epoch) {
                        return Ended::Lost;
                    }
                    continue;
                }
                () = ha.step_down.notified() => {
                    if ha.state().step_down_for.take() == Some(epoch) {
                        return Ended::SteppedDown;
                    }
                    continue;
                }
            }
            if ha.generation.load(Ordering::Acquire) != generation || self.inner.barrier.is_sealed()
            {
                return Ended::Retired;
            }
            let sent = Instant::now();
            match bounded(timing.renew_interval, ha.lock.renew(epoch)).await {
                Ok(true) => ha.state().deadline = Some(sent + surely_held(timing)),
                Ok(false) => return Ended::Lost,
                Err(err) => {
                    let deadline = ha.state().deadline;
                    if deadline.is_none_or(|d| Instant::now() >= d) {
                        tracing::warn!(error = %err, "could not renew the HA lock before its lease ran out");
                        return Ended::Lost;
                    }
                    tracing::warn!(error = %err, "renewing the HA lock failed; retrying");
                }
            }
            if let Err(err) = bounded(timing.renew_interval, ha.lock.heartbeat(&ha.node)).await {
                tracing::debug!(error = %err, "HA heartbeat failed");
            }
        }
    }

    /// Stops serving the term `epoch` (nothing if this node is not active in it any more):
    /// drops the active state (the background pass ends with it; requests still holding it
    /// finish, and no new term starts before they have), closes the fence and gives the lock up
    /// if it is still held at `epoch`.
    async fn stand_down(&self, ha: &Ha, epoch: u64) {
        {
            let mut state = ha.state();
            if state.active != Some(epoch) {
                return;
            }
            state.active = None;
            state.deadline = None;
            state.since = None;
            state.leader = None;
        }
        ha.lock.close_fence();
        self.inner.epoch.fetch_add(1, Ordering::AcqRel);
        let old = self
            .inner
            .active
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        ha.state().retired = old.as_ref().map(Arc::downgrade);
        drop(old);
        if let Err(err) = bounded(ha.lock.timing().lease, ha.lock.release(epoch)).await {
            tracing::warn!(error = %err, "releasing the HA lock failed; its lease runs out by itself");
        }
    }
}
