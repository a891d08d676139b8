//! The unsealed state: everything that exists only while the vault is unsealed.

use std::path::PathBuf;
use std::sync::{Arc, PoisonError};
use std::time::Duration;

use strongroom_storage::Storage;

use crate::Result;
use crate::audit::Broker;
use crate::clock::Clock;
use crate::leases::LeaseManager;
use crate::mounts::RouterCell;
use crate::policies::PolicyStore;
use crate::tokens::TokenStore;

/// Everything that exists only while unsealed.
pub(crate) struct Active {
    pub(crate) storage: Arc<dyn Storage>,
    /// The mounted engines (copy-on-write: requests route on a snapshot).
    pub(crate) router: RouterCell,
    pub(crate) tokens: TokenStore,
    pub(crate) policies: PolicyStore,
    pub(crate) clock: Arc<dyn Clock>,
    /// Serialises mount table changes.
    pub(crate) mount_lock: tokio::sync::Mutex<()>,
    /// Leases of the secrets engines issued.
    pub(crate) leases: LeaseManager,
    /// The audit devices (copy-on-write: requests take a snapshot).
    pub(crate) audit: std::sync::RwLock<Arc<Broker>>,
    /// Serialises audit table changes (the table is swapped whole under `audit`).
    pub(crate) audit_lock: tokio::sync::Mutex<()>,
    pub(crate) audit_dir: Option<PathBuf>,
    pub(crate) audit_timeout: Duration,
    /// The core's own scheduled rotations (the barrier keyring), when configured.
    pub(crate) rotations: Option<strongroom_rotation::Scheduler>,
    /// The server's user lockout settings.
    pub(crate) user_lockouts: crate::UserLockouts,
    /// Failed login counters and locked logins.
    pub(crate) lockouts: crate::lockout::Lockouts,
}

impl Active {
    /// The audit devices as they are now (a cheap `Arc` clone; changes swap the whole table).
    pub(crate) fn audit_snapshot(&self) -> Arc<Broker> {
        Arc::clone(&*self.audit.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// Replaces the audit devices.
    pub(crate) fn set_audit(&self, broker: Broker) {
        *self.audit.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(broker);
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
