//! The unsealed state: everything that exists only while the vault is unsealed.

use std::path::PathBuf;
use std::sync::{Arc, PoisonError};
use std::time::Duration;

use strongroom_storage::Storage;

use crate::Result;
use crate::audit::Broker;
use crate::clock::Clock;
use crate::leases::LeaseManager;
use crate::mounts::{Router, RouterCell};
use crate::policies::PolicyStore;
use crate::tokens::TokenStore;

/// Everything that exists only while unsealed. Its parts are private: the rest of the core
/// reaches the stores through accessors, and changes the mount and audit tables only through
/// [`change_mounts`](Self::change_mounts) and [`change_audit`](Self::change_audit), which
/// serialise changes and swap the new table in whole once it is stored.
pub(crate) struct Active {
    storage: Arc<dyn Storage>,
    router: RouterCell,
    tokens: TokenStore,
    policies: PolicyStore,
    clock: Arc<dyn Clock>,
    /// Serialises mount table changes.
    mount_lock: tokio::sync::Mutex<()>,
    /// Leases of the secrets engines issued.
    leases: LeaseManager,
    /// The audit devices (copy-on-write: requests take a snapshot).
    audit: std::sync::RwLock<Arc<Broker>>,
    /// Serialises audit table changes (the table is swapped whole under `audit`).
    audit_lock: tokio::sync::Mutex<()>,
    audit_dir: Option<PathBuf>,
    audit_timeout: Duration,
    /// The core's own scheduled rotations (the barrier keyring), when configured.
    rotations: Option<strongroom_rotation::Scheduler>,
    /// The server's user lockout settings.
    user_lockouts: crate::UserLockouts,
    /// Failed login counters and locked logins.
    lockouts: crate::lockout::Lockouts,
    cluster: Cluster,
}

/// The cluster's identity, fixed at init and kept inside the barrier.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct Cluster {
    pub(crate) name: String,
    pub(crate) id: String,
}

/// What an unsealed state is made of (see [`Vault::load`](crate::Vault)).
pub(crate) struct Parts {
    pub(crate) storage: Arc<dyn Storage>,
    pub(crate) router: Router,
    pub(crate) tokens: TokenStore,
    pub(crate) policies: PolicyStore,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) leases: LeaseManager,
    pub(crate) audit: Broker,
    pub(crate) audit_dir: Option<PathBuf>,
    pub(crate) audit_timeout: Duration,
    pub(crate) rotations: Option<strongroom_rotation::Scheduler>,
    pub(crate) user_lockouts: crate::UserLockouts,
    pub(crate) lockouts: crate::lockout::Lockouts,
    pub(crate) cluster: Cluster,
}

/// A mount table change in progress: holds the change lock, and a copy of the router to edit.
/// Dropped without [`commit`](Self::commit), it changes nothing.
pub(crate) struct MountChange<'a> {
    active: &'a Active,
    _serialised: tokio::sync::MutexGuard<'a, ()>,
    /// The router as it will be: edit it, then commit.
    pub(crate) router: Router,
}

impl MountChange<'_> {
    /// Stores the new mount table, then routes new requests with it. A failed write changes
    /// nothing: the running router and the stored table stay as they were.
    pub(crate) async fn commit(self) -> Result<()> {
        let entries: Vec<&crate::MountEntry> = self.router.entries().collect();
        let bytes = serde_json::to_vec(&entries)
            .map_err(|e| crate::VaultError::Internal(format!("encoding the mount table: {e}")))?;
        self.active
            .storage
            .put(crate::mounts::MOUNTS_PATH, bytes)
            .await?;
        self.active.router.replace(self.router);
        Ok(())
    }
}

/// An audit table change in progress: holds the change lock, and the devices as they are.
pub(crate) struct AuditChange<'a> {
    active: &'a Active,
    _serialised: tokio::sync::MutexGuard<'a, ()>,
    /// The devices as they will be: edit them, then commit.
    pub(crate) devices: Vec<Arc<crate::audit::Enabled>>,
}

impl AuditChange<'_> {
    /// Installs the devices; with `persist`, stores the table first (only the devices that can
    /// be rebuilt from it: file devices not declared in the configuration).
    pub(crate) async fn commit(self, persist: bool) -> Result<()> {
        let next = Broker::new(self.devices, self.active.audit_timeout);
        if persist {
            let entries: Vec<&crate::audit::AuditEntry> = next
                .entries()
                .filter(|e| e.kind == "file" && !e.declared)
                .collect();
            let bytes = serde_json::to_vec(&entries).map_err(|e| {
                crate::VaultError::Internal(format!("encoding the audit table: {e}"))
            })?;
            self.active
                .storage
                .put(crate::audit::AUDIT_PATH, bytes)
                .await?;
        }
        *self
            .active
            .audit
            .write()
            .unwrap_or_else(PoisonError::into_inner) = Arc::new(next);
        Ok(())
    }
}

impl Active {
    pub(crate) fn new(parts: Parts) -> Self {
        Self {
            storage: parts.storage,
            router: RouterCell::new(parts.router),
            tokens: parts.tokens,
            policies: parts.policies,
            clock: parts.clock,
            mount_lock: tokio::sync::Mutex::new(()),
            leases: parts.leases,
            audit: std::sync::RwLock::new(Arc::new(parts.audit)),
            audit_lock: tokio::sync::Mutex::new(()),
            audit_dir: parts.audit_dir,
            audit_timeout: parts.audit_timeout,
            rotations: parts.rotations,
            user_lockouts: parts.user_lockouts,
            lockouts: parts.lockouts,
            cluster: parts.cluster,
        }
    }

    /// The cluster's name and id.
    pub(crate) fn cluster(&self) -> &Cluster {
        &self.cluster
    }

    /// The storage under the barrier.
    pub(crate) fn storage(&self) -> &Arc<dyn Storage> {
        &self.storage
    }

    /// The router as it is now (a snapshot: route on it for the whole request).
    pub(crate) fn router(&self) -> Arc<Router> {
        self.router.snapshot()
    }

    /// The router cell, for long passes that take a fresh snapshot per batch.
    pub(crate) fn routes(&self) -> &RouterCell {
        &self.router
    }

    /// Starts a mount table change (waits for any other to finish).
    pub(crate) async fn change_mounts(&self) -> MountChange<'_> {
        let serialised = self.mount_lock.lock().await;
        MountChange {
            active: self,
            _serialised: serialised,
            router: Router::clone(&self.router.snapshot()),
        }
    }

    /// Starts an audit table change (waits for any other to finish).
    pub(crate) async fn change_audit(&self) -> AuditChange<'_> {
        let serialised = self.audit_lock.lock().await;
        AuditChange {
            active: self,
            _serialised: serialised,
            devices: self.audit_snapshot().devices().to_vec(),
        }
    }

    /// The token store.
    pub(crate) fn tokens(&self) -> &TokenStore {
        &self.tokens
    }

    /// The policy store.
    pub(crate) fn policies(&self) -> &PolicyStore {
        &self.policies
    }

    /// The leases of issued secrets.
    pub(crate) fn leases(&self) -> &LeaseManager {
        &self.leases
    }

    /// The clock.
    pub(crate) fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// Where file audit devices may write, when confined.
    pub(crate) fn audit_dir(&self) -> Option<&std::path::Path> {
        self.audit_dir.as_deref()
    }

    /// How long an audit device may take to record a line.
    pub(crate) fn audit_timeout(&self) -> Duration {
        self.audit_timeout
    }

    /// The core's scheduled rotations, when configured.
    pub(crate) fn rotations(&self) -> Option<&strongroom_rotation::Scheduler> {
        self.rotations.as_ref()
    }

    /// The server's user lockout settings.
    pub(crate) fn user_lockouts(&self) -> &crate::UserLockouts {
        &self.user_lockouts
    }

    /// Failed login counters and locked logins.
    pub(crate) fn lockouts(&self) -> &crate::lockout::Lockouts {
        &self.lockouts
    }

    /// The audit devices as they are now (a cheap `Arc` clone; changes swap the whole table).
    pub(crate) fn audit_snapshot(&self) -> Arc<Broker> {
        Arc::clone(&*self.audit.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// Looks a token up. A token past its expiry, or below an ancestor past its expiry, is
    /// refused, and the expired tree is revoked on the spot, leases included.
    pub(crate) async fn lookup_token(
        &self,
        token: &str,
        now: std::time::SystemTime,
    ) -> Result<Option<crate::tokens::TokenEntry>> {
        let resolved = self.tokens.resolve(token, now).await?;
        self.settle(resolved, now).await
    }

    /// As [`lookup_token`](Self::lookup_token), by the token's hash.
    pub(crate) async fn lookup_token_id(
        &self,
        id: &str,
        now: std::time::SystemTime,
    ) -> Result<Option<crate::tokens::TokenEntry>> {
        let resolved = self.tokens.resolve_id(id, now).await?;
        self.settle(resolved, now).await
    }

    /// As [`lookup_token`](Self::lookup_token), by accessor.
    pub(crate) async fn lookup_accessor(
        &self,
        accessor: &str,
        now: std::time::SystemTime,
    ) -> Result<Option<crate::tokens::TokenEntry>> {
        match self.tokens.accessor_id(accessor).await? {
            Some(id) => self.lookup_token_id(&id, now).await,
            None => Ok(None),
        }
    }

    async fn settle(
        &self,
        resolved: crate::tokens::Resolved,
        now: std::time::SystemTime,
    ) -> Result<Option<crate::tokens::TokenEntry>> {
        match resolved {
            crate::tokens::Resolved::Live(entry) => Ok(Some(entry)),
            crate::tokens::Resolved::Unknown => Ok(None),
            crate::tokens::Resolved::Expired { revoke } => {
                self.revoke_token_tree(&revoke, now).await?;
                Ok(None)
            }
        }
    }

    /// Revokes a token's tree and every lease its tokens created.
    pub(crate) async fn revoke_token_tree(
        &self,
        id: &str,
        now: std::time::SystemTime,
    ) -> Result<()> {
        let gone = self.tokens.revoke_tree(id).await?;
        self.revoke_leases_of(&gone, now).await
    }

    /// Revokes the leases of tokens that were just revoked.
    pub(crate) async fn revoke_leases_of(
        &self,
        token_hashes: &[String],
        now: std::time::SystemTime,
    ) -> Result<()> {
        self.leases
            .revoke_for_tokens(&self.router.snapshot(), token_hashes, now)
            .await
    }
}

/// The lockout settings of every auth mount, by accessor.
pub(crate) async fn lockout_configs(
    active: &Active,
) -> std::collections::HashMap<String, crate::UserLockoutConfig> {
    active
        .router
        .snapshot()
        .entries()
        .filter(|e| e.path.starts_with("auth/"))
        .map(|entry| {
            (
                entry.accessor.clone(),
                crate::lockout::resolve(
                    &active.user_lockouts,
                    &entry.kind,
                    entry.config.user_lockout_config.as_ref(),
                ),
            )
        })
        .collect()
}
