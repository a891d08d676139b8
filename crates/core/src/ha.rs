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

use strongroom_storage::{HaLeader, HaLock, HaNode, HaPeer, Storage};
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
    /// The active node as last looked up (standbys, every retry interval).
    leader: Option<HaLeader>,
    /// The key authenticating forwarded requests (read from inside the barrier).
    forwarding_key: Option<Arc<Zeroizing<Vec<u8>>>>,
}

/// The HA part of a vault.
pub(crate) struct Ha {
    lock: Arc<dyn HaLock>,
    node: HaNode,
    unfenced: Arc<dyn Storage>,
    step_down_wait: Duration,
    state: Mutex<HaState>,
    step_down: tokio::sync::Notify,
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

    /// The active node's `api_addr`, as last looked up, when this node is a standby.
    pub fn active_address(&self) -> Option<String> {
        let ha = self.inner.ha.as_ref()?;
        ha.state()
            .leader
            .as_ref()
            .filter(|l| l.node.id != ha.node.id)
            .map(|l| l.node.api_addr.clone())
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

    /// Vault's `sys/leader`: whether HA is on, and which node is active.
    ///
    /// # Errors
    ///
    /// [`VaultError::Sealed`] while sealed (with HA); storage errors looking the leader up.
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
        let leader = ha.lock.leader().await?;
        let is_self = ha.serving() && leader.as_ref().is_some_and(|l| l.node.id == ha.node.id);
        let since = ha.state().since;
        Ok(LeaderStatus {
            ha_enabled: true,
            is_self,
            active_time: if is_self { since } else { None },
            leader_address: leader
                .as_ref()
                .map(|l| l.node.api_addr.clone())
                .unwrap_or_default(),
            leader_cluster_address: leader.map(|l| l.node.cluster_addr).unwrap_or_default(),
        })
    }

    /// The nodes heard from in the last 30 s (Vault's `sys/ha-status`), the active one first.
    pub(crate) async fn ha_members(&self) -> Result<Vec<HaMember>> {
        let Some(ha) = &self.inner.ha else {
            return Err(VaultError::invalid("high availability is not enabled"));
        };
        let leader = ha.lock.leader().await?;
        let peers: Vec<HaPeer> = ha.lock.peers(Duration::from_secs(30)).await?;
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

    /// One round of the contention loop: a standby's heartbeat and attempt at the lock, or, when
    /// it is taken, a whole term as the active node. Returns how long to wait before the next
    /// round, `None` when the loop is retired.
    async fn contend_once(&self, generation: u64) -> Option<Duration> {
        let ha = self.inner.ha.as_ref()?;
        if ha.generation.load(Ordering::Acquire) != generation || self.inner.barrier.is_sealed() {
            return None;
        }
        let timing = ha.lock.timing();
        if let Err(err) = ha.lock.heartbeat(&ha.node).await {
            tracing::debug!(error = %err, "HA heartbeat failed");
        }
        let sent = Instant::now();
        let epoch = match ha.lock.try_acquire(&ha.node).await {
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
            .become_active(ha, epoch, sent + surely_held(timing))
            .await
        {
            Ok(()) => {
                tracing::info!(epoch, "this node is now the active node");
                self.hold(ha, epoch, generation).await
            }
            Err(err) => {
                tracing::warn!(error = %err, "could not become the active node; giving the lock up");
                Ended::Lost
            }
        };
        self.stand_down(ha, epoch).await;
        match ended {
            Ended::Retired => None,
            Ended::SteppedDown => {
                tracing::info!("stepped down: this node is a standby");
                Some(ha.step_down_wait)
            }
            Ended::Lost => {
                tracing::warn!(epoch, "lost the HA lock: this node is a standby");
                Some(timing.retry_interval)
            }
        }
    }

    /// A standby's upkeep: who is active, and the forwarding key (the keyring is read again
    /// when the key cannot be opened with the terms known here).
    async fn refresh_standby(&self, ha: &Ha) {
        match ha.lock.leader().await {
            Ok(leader) => ha.state().leader = leader,
            Err(err) => tracing::debug!(error = %err, "looking the active node up failed"),
        }
        if ha.state().forwarding_key.is_some() {
            return;
        }
        let key = match self.inner.barrier.get(FORWARDING_KEY_PATH).await {
            Ok(key) => key,
            Err(_) => {
                if let Err(err) = self.inner.barrier.reload().await {
                    tracing::warn!(error = %err, "reading the keyring again failed");
                }
                self.inner
                    .barrier
                    .get(FORWARDING_KEY_PATH)
                    .await
                    .ok()
                    .flatten()
            }
        };
        if let Some(key) = key {
            ha.state().forwarding_key = Some(Arc::new(Zeroizing::new(key)));
        }
    }

    /// Loads the active state from the store as it is now and starts serving.
    async fn become_active(&self, ha: &Ha, epoch: u64, deadline: Instant) -> Result<()> {
        // Terms the previous active node added; then everything else, read fresh.
        self.inner.barrier.reload().await?;
        let key = match self.inner.barrier.get(FORWARDING_KEY_PATH).await? {
            Some(key) => key,
            None => {
                let key = ring::rand::generate::<[u8; 32]>(&ring::rand::SystemRandom::new())
                    .map_err(|_| VaultError::Internal("system random source failed".into()))?
                    .expose()
                    .to_vec();
                self.inner
                    .barrier
                    .put(FORWARDING_KEY_PATH, key.clone())
                    .await?;
                key
            }
        };
        let active = self.load().await?;
        if ha.lock.held() != Some(epoch) {
            return Err(VaultError::Standby);
        }
        {
            let mut state = ha.state();
            state.active = Some(epoch);
            state.since = Some(SystemTime::now());
            state.deadline = Some(deadline);
            state.leader = None;
            state.forwarding_key = Some(Arc::new(Zeroizing::new(key)));
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
                () = ha.step_down.notified() => return Ended::SteppedDown,
            }
            if ha.generation.load(Ordering::Acquire) != generation || self.inner.barrier.is_sealed()
            {
                return Ended::Retired;
            }
            let sent = Instant::now();
            match ha.lock.renew(epoch).await {
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
            if let Err(err) = ha.lock.heartbeat(&ha.node).await {
                tracing::debug!(error = %err, "HA heartbeat failed");
            }
        }
    }

    /// Stops serving: drops the active state (the background pass ends with it), closes the
    /// fence and gives the lock up if it is still held at `epoch`.
    async fn stand_down(&self, ha: &Ha, epoch: u64) {
        {
            let mut state = ha.state();
            if state.active == Some(epoch) {
                state.active = None;
                state.deadline = None;
                state.since = None;
            }
        }
        ha.lock.close_fence();
        self.inner.epoch.fetch_add(1, Ordering::AcqRel);
        *self
            .inner
            .active
            .write()
            .unwrap_or_else(PoisonError::into_inner) = None;
        if let Err(err) = ha.lock.release(epoch).await {
            tracing::warn!(error = %err, "releasing the HA lock failed; its lease runs out by itself");
        }
    }
}
