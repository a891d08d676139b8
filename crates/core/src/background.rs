//! Background work while unsealed: lease and token expiry, the core's scheduled rotations,
//! the engines' periodic functions and the sweep of expired login locks.

use std::sync::Arc;
use std::time::Duration;

use crate::active::lockout_configs;
use crate::mounts::context;
use crate::vault::Vault;
use crate::{Result, VaultError};

/// Clears a busy flag when dropped.
struct ClearOnDrop(Arc<std::sync::atomic::AtomicBool>);

impl Drop for ClearOnDrop {
    fn drop(&mut self) {
        self.0.store(false, std::sync::atomic::Ordering::Release);
    }
}

impl Vault {
    /// Starts the background pass, when running inside a tokio runtime: lease expiry and the
    /// core's scheduled rotations every second, the engines' periodic functions at their interval,
    /// while unsealed. It holds only a weak handle: dropping every `Vault` clone stops it.
    pub(crate) fn spawn_expiry(&self) {
        if !self.inner.background_expiry {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let weak = Arc::downgrade(&self.inner);
        let spawner = runtime.clone();
        // One background pass per unseal: a seal (or a newer pass) retires this one.
        let epoch = self
            .inner
            .epoch
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel)
            .wrapping_add(1);
        runtime.spawn(async move {
            let started = tokio::time::Instant::now();
            // The engines' periodic functions run on their own task (a slow database must not
            // hold lease expiry back), one pass at a time.
            let periodic_busy = Arc::new(std::sync::atomic::AtomicBool::new(false));
            let mut periodic_at = 0_u64;
            loop {
                tokio::time::sleep(Duration::from_secs(1)).await;
                let seconds = started.elapsed().as_secs();
                let Some(inner) = weak.upgrade() else { return };
                if inner.epoch.load(std::sync::atomic::Ordering::Acquire) != epoch {
                    return;
                }
                let vault = Vault { inner };
                // Other failures are retried on the next pass; nothing else to do from here.
                // Sealed, or no longer the active node: this pass is over.
                if let Err(VaultError::Sealed | VaultError::Standby) =
                    vault.expire_leases(10_000).await
                {
                    return;
                }
                if let Err(err) = vault.expire_tokens(10_000).await {
                    tracing::warn!(error = %err, "token expiry pass failed; retrying");
                }
                if let Err(err) = vault.run_rotations().await {
                    tracing::warn!(error = %err, "scheduled rotations failed; retrying");
                }
                if seconds % 60 == 59
                    && let Err(err) = vault.sweep_lockouts().await
                {
                    tracing::warn!(error = %err, "removing expired login locks failed; retrying");
                }
                if seconds % 60 == 29
                    && let Err(err) = vault.sweep_cubbyholes().await
                {
                    tracing::warn!(error = %err, "clearing orphaned cubbyholes failed; retrying");
                }
                if !periodic_busy.swap(true, std::sync::atomic::Ordering::AcqRel) {
                    let busy = Arc::clone(&periodic_busy);
                    let since = std::mem::replace(&mut periodic_at, seconds);
                    spawner.spawn(async move {
                        // Cleared however the pass ends (a panicking engine included).
                        let _clear = ClearOnDrop(busy);
                        let _ = vault.run_periodic_due(since, seconds).await;
                    });
                }
            }
        });
    }

    /// Runs the core's scheduled rotations that are due (the barrier keyring, when configured
    /// with [`VaultBuilder::barrier_rotation`](crate::VaultBuilder::barrier_rotation)); the
    /// background task calls this every second.
    ///
    /// # Errors
    ///
    /// [`VaultError::Sealed`]; storage errors from the rotation state.
    pub async fn run_rotations(&self) -> Result<strongroom_rotation::TickReport> {
        let active = self.active().await?;
        match &active.rotations() {
            Some(scheduler) => scheduler
                .tick()
                .await
                .map_err(|e| VaultError::Internal(e.to_string())),
            None => Ok(strongroom_rotation::TickReport::default()),
        }
    }

    /// Runs every mount's periodic function once (transit's key auto-rotation, for example);
    /// the background task calls this about once a minute. Returns how many engines failed
    /// (each failure is logged; the others still ran).
    ///
    /// # Errors
    ///
    /// [`VaultError::Sealed`].
    pub async fn run_periodic(&self) -> Result<usize> {
        self.run_periodic_where(|_| true).await
    }

    /// Runs the periodic functions whose interval (each engine's
    /// [`periodic_interval`](strongroom_logical::Backend::periodic_interval)) came round between
    /// `since` and `now`, seconds since the background task started.
    async fn run_periodic_due(&self, since: u64, now: u64) -> Result<usize> {
        self.run_periodic_where(|backend| {
            let every = backend.periodic_interval().as_secs().max(1);
            now / every > since / every
        })
        .await
    }

    async fn run_periodic_where(
        &self,
        due: impl Fn(&dyn strongroom_logical::Backend) -> bool,
    ) -> Result<usize> {
        let active = self.active().await?;
        let mounted: Vec<Arc<crate::mounts::Mounted>> =
            active.router().mounted().cloned().collect();
        let now = active.clock().now();
        let mut failed = 0;
        for mount in mounted.into_iter().filter(|m| due(m.backend.as_ref())) {
            if let Err(err) = mount.backend.periodic(&context(&mount, now)).await {
                failed += 1;
                tracing::warn!(mount = %mount.entry.path, error = %err, "periodic function failed");
            }
        }
        Ok(failed)
    }

    /// Removes the records of login locks that have run out (the background pass does this
    /// once a minute), so locks of made-up identities do not pile up in storage.
    ///
    /// # Errors
    ///
    /// [`VaultError::Sealed`]; a storage failure.
    pub async fn sweep_lockouts(&self) -> Result<()> {
        let active = self.active().await?;
        let configs = lockout_configs(&active).await;
        active
            .lockouts()
            .sweep(active.clock().now(), &configs)
            .await
    }

    /// Clears cubbyholes whose token is gone (the background pass does this once a minute; a
    /// cubbyhole is cleared at the second sweep that finds it without a token).
    ///
    /// # Errors
    ///
    /// [`VaultError::Sealed`]; a storage failure.
    pub async fn sweep_cubbyholes(&self) -> Result<usize> {
        self.active().await?.tokens().sweep_cubbyholes(1024).await
    }

    /// Runs one expiry pass now: revokes (through their engines) up to `limit` leases that are
    /// due, rescheduling failed revocations with backoff. A background task does this every
    /// second while the vault is unsealed; embedders and tests can call it directly.
    ///
    /// # Errors
    ///
    /// [`VaultError::Sealed`]; storage errors.
    pub async fn expire_leases(&self, limit: usize) -> Result<usize> {
        let active = self.active().await?;
        active
            .leases()
            .expire_due(active.routes(), active.clock().now(), limit)
            .await
    }

    /// Runs one token expiry pass now: revokes the trees of up to `limit` tokens whose expiry
    /// has passed, with every lease their tokens created (a child never outlives its parent).
    /// The background task does this every second while unsealed; a lookup refuses an expired
    /// token (or a child of one) at once either way.
    ///
    /// # Errors
    ///
    /// [`VaultError::Sealed`]; storage errors.
    pub async fn expire_tokens(&self, limit: usize) -> Result<usize> {
        let active = self.active().await?;
        let now = active.clock().now();
        let due = active.tokens().due(now, limit).await?;
        for id in &due {
            active.revoke_token_tree(id, now).await?;
        }
        Ok(due.len())
    }
}
