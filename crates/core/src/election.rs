//! The contention loop of a high-availability node: heartbeats, taking the lock, a term as the
//! active node (renewals, step-down, loss) and standing down; what a node knows of the active
//! one. The state it works on is [`crate::ha`]'s.

use std::sync::atomic::Ordering;
use std::sync::{Arc, PoisonError};
use std::time::{Duration, SystemTime};

use strongroom_storage::{HaChange, HaPeer, Storage};
use tokio::time::Instant;
use zeroize::Zeroizing;

use crate::ha::{
    Advertised, Ended, FORWARDING_KEY_PATH, Ha, HaMember, LEADER_PATH, LeaderStatus, surely_held,
};
use crate::vault::Vault;
use crate::{Result, VaultError};

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

    /// The nodes heard from in the last 30 s (Vault's `sys/ha-status`), by API address.
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
        // Vault's order: by API address, the active node wherever it falls.
        members.sort_by(|a, b| a.node.api_addr.cmp(&b.node.api_addr));
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
        self.spawn_feed(&runtime, generation);
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

    /// Follows the change feed while this contention loop is current: beats, and the changes
    /// that make a standby's read state stale.
    fn spawn_feed(&self, runtime: &tokio::runtime::Handle, generation: u64) {
        let Some(ha) = &self.inner.ha else { return };
        let mut changes = ha.lock.changes();
        let weak = Arc::downgrade(&self.inner);
        runtime.spawn(async move {
            loop {
                let next = tokio::time::timeout(Duration::from_secs(1), changes.recv()).await;
                let Some(inner) = weak.upgrade() else { return };
                let vault = Vault { inner };
                let Some(ha) = vault.inner.ha.as_ref() else {
                    return;
                };
                if ha.generation.load(Ordering::Acquire) != generation {
                    return;
                }
                match next {
                    Err(_) => {}
                    Ok(Ok(HaChange::Beat(epoch))) => {
                        ha.state().beat = Some((epoch, Instant::now()))
                    }
                    Ok(Ok(HaChange::Key(key))) => vault.apply_change(ha, &key).await,
                    Ok(Err(tokio::sync::broadcast::error::RecvError::Closed)) => return,
                    // A reset, a lag, or a change of a kind this version does not know.
                    Ok(_) => {
                        let mut state = ha.state();
                        state.reads = None;
                        state.beat = None;
                        state.stale_count = state.stale_count.wrapping_add(1);
                    }
                }
            }
        });
    }

    /// What a change the active node made means for this standby's read state.
    async fn apply_change(&self, ha: &Ha, key: &str) {
        if ha.serving() {
            return;
        }
        let reads = ha.state().reads.clone();
        if key.starts_with("sys/policy/") {
            if let Some(reads) = reads {
                reads.policies().invalidate();
            }
        } else if key == strongroom_barrier::KEYRING_PATH
            || key == crate::seal_config::SEAL_CONFIG_PATH
        {
            if let Err(err) = self.inner.barrier.reload().await {
                tracing::warn!(error = %err, "reading the keyring again failed; not serving reads");
                let mut state = ha.state();
                state.reads = None;
                state.stale_count = state.stale_count.wrapping_add(1);
            }
        } else if key == crate::mounts::MOUNTS_PATH
            || key == crate::audit::AUDIT_PATH
            || key.starts_with(crate::audit::DECLARED_AUDIT_SALT_PREFIX)
        {
            let mut state = ha.state();
            state.reads = None;
            state.stale_count = state.stale_count.wrapping_add(1);
        }
    }

    /// Whether this node is a standby that serves reads itself right now (see
    /// [`VaultRequest::allow_standby_read`](crate::VaultRequest::allow_standby_read)).
    pub fn serves_standby_reads(&self) -> bool {
        self.standby_reader().is_some()
    }

    /// This standby's read state, when it may serve reads from it: built, and the active
    /// node it follows beat on the change feed within nine tenths of a lease (every change that
    /// node committed before its beat has been applied here), so what it serves is at most that
    /// stale.
    pub(crate) fn standby_reader(&self) -> Option<Arc<crate::active::Active>> {
        let ha = self.inner.ha.as_ref()?;
        if self.inner.barrier.is_sealed() || ha.serving() {
            return None;
        }
        let fresh = surely_held(ha.lock.timing());
        let state = ha.state();
        let (epoch, at) = state.beat?;
        let leader = state.leader.as_ref()?;
        (leader.epoch == epoch && at.elapsed() < fresh)
            .then(|| state.reads.clone())
            .flatten()
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
        let follow = advertised.is_some();
        ha.state().leader = advertised;
        let (missing, stale_count) = {
            let state = ha.state();
            (state.reads.is_none(), state.stale_count)
        };
        if follow && missing {
            match self.load().await {
                Ok(reads) => {
                    let mut state = ha.state();
                    // Only if nothing made it stale while it loaded.
                    if state.stale_count == stale_count {
                        state.reads = Some(Arc::new(reads));
                    }
                }
                Err(err) => tracing::debug!(error = %err, "no read state on this standby yet"),
            }
        }
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
            state.reads = None;
            state.beat = None;
        }
        *self
            .inner
            .active
            .write()
            .unwrap_or_else(PoisonError::into_inner) = Some(Arc::new(active));
        self.spawn_expiry();
        if let Err(err) = bounded(ha.lock.timing().renew_interval, ha.lock.announce(epoch)).await {
            tracing::debug!(error = %err, "the first beat on the change feed failed");
        }
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
                Ok(true) => {
                    ha.state().deadline = Some(sent + surely_held(timing));
                    if let Err(err) = bounded(timing.renew_interval, ha.lock.announce(epoch)).await
                    {
                        tracing::debug!(error = %err, "a beat on the change feed failed");
                    }
                }
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
