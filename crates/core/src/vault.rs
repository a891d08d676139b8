//! The vault handle and the state every part of it shares. What the vault does lives beside
//! this: [`crate::builder`] (configuration), [`crate::lifecycle`] (init, unseal, seal),
//! [`crate::quorum`] (rekey, root generation), [`crate::pipeline`] (the request pipeline),
//! [`crate::background`] (expiry, periodic functions, rotations, lockout sweeps) and
//! [`crate::sys`] (the system endpoints).

use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use strongroom_barrier::Barrier;
use strongroom_logical::Registry;
use strongroom_seal::{Rekey, RootGeneration, Seal, SecretBytes, UnsealProgress};
use strongroom_storage::Storage;

use crate::active::Active;
use crate::clock::Clock;
use crate::{Result, VaultError};

/// The embeddable vault. Cheap to clone (a handle); every clone is the same vault.
#[derive(Clone)]
pub struct Vault {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vault").finish_non_exhaustive()
    }
}

pub(crate) struct Inner {
    pub(crate) raw: Arc<dyn Storage>,
    pub(crate) barrier: Arc<Barrier<Arc<dyn Storage>>>,
    pub(crate) registry: Registry,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) audit_dir: Option<PathBuf>,
    pub(crate) audit_timeout: Duration,
    pub(crate) background_expiry: bool,
    pub(crate) declared_audit: Vec<DeclaredAudit>,
    pub(crate) barrier_rotation: Option<strongroom_rotation::Schedule>,
    pub(crate) alerts: Arc<dyn strongroom_rotation::AlertSink>,
    pub(crate) user_lockouts: crate::UserLockouts,
    pub(crate) auto_seal: Option<Arc<dyn Seal>>,
    pub(crate) active: std::sync::RwLock<Option<Arc<Active>>>,
    pub(crate) progress: Mutex<Option<UnsealProgress>>,
    pub(crate) rekey: Mutex<Option<RekeyState>>,
    pub(crate) generate_root: Mutex<Option<RootGeneration>>,
    /// High availability, when on.
    pub(crate) ha: Option<crate::ha::Ha>,
    /// Which background pass is current (each unseal starts one; a seal retires it).
    pub(crate) epoch: std::sync::atomic::AtomicU64,
}

/// An audit device declared on the builder: installed at every unseal.
#[derive(Clone)]
pub(crate) struct DeclaredAudit {
    pub(crate) path: String,
    pub(crate) description: String,
    pub(crate) device: Arc<dyn crate::AuditDevice>,
}

/// A rekey in progress, with the root key recovered from the old quorum (zeroizing) once it is
/// reached, for re-wrapping under the new shares.
pub(crate) struct RekeyState {
    /// The seal-level rekey. It always splits a fresh secret (a new key-encryption key, or a new
    /// recovery key under auto-unseal), whatever the caller asked.
    pub(crate) rekey: Rekey,
    pub(crate) root: Option<SecretBytes>,
    /// The finished output waiting for verification (set when the new shares were issued).
    pub(crate) pending_threshold: usize,
    /// Also replace the barrier's root key (the caller's [`RekeyConfig::rotate`]).
    pub(crate) rotate_root: bool,
    /// The stored seal configuration this rekey started from, byte for byte: the new one is
    /// written only in its place (compare-and-swap), so a rekey or init that finished meanwhile
    /// is never overwritten.
    pub(crate) started_from: Vec<u8>,
}

impl Vault {
    /// The barrier's active term, its age and use.
    ///
    /// # Errors
    ///
    /// [`VaultError::Sealed`].
    pub fn barrier_status(&self) -> Result<strongroom_barrier::BarrierStatus> {
        Ok(self.inner.barrier.status()?)
    }

    pub(crate) async fn active(&self) -> Result<Arc<Active>> {
        if let Some(ha) = &self.inner.ha
            && !ha.serving()
        {
            return Err(if self.inner.barrier.is_sealed() {
                VaultError::Sealed
            } else {
                VaultError::Standby
            });
        }
        self.inner
            .active
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
            .ok_or(VaultError::Sealed)
    }

    /// The store init writes to: without HA the storage; with HA the store without the fence
    /// (no node is active before init; init's own compare-and-swap keeps it to one).
    pub(crate) fn init_store(&self) -> &Arc<dyn Storage> {
        self.inner
            .ha
            .as_ref()
            .map_or(&self.inner.raw, |ha| ha.unfenced())
    }

    pub(crate) fn registry(&self) -> &Registry {
        &self.inner.registry
    }
}
