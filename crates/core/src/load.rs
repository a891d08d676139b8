//! What an unsealed vault serves from, loaded from inside the barrier at each unseal: the
//! token salt, policies, the mount table, audit devices, scheduled rotations.

use std::sync::Arc;

use strongroom_logical::StorageView;
use strongroom_storage::Storage;

use crate::active::Active;
use crate::audit::{
    AUDIT_PATH, AuditEntry, Broker, DECLARED_AUDIT_SALT_PREFIX, Enabled, audit_device,
};
use crate::leases::LeaseManager;
use crate::mounts::{MOUNTS_PATH, Mounted, Router, SYSTEM_TTL, storage_root};
use crate::policies::PolicyStore;
use crate::tokens::{SALT_PATH, TokenStore};
use crate::util::hex;
use crate::vault::{DeclaredAudit, Vault};
use crate::{Result, VaultError};

impl Vault {
    /// Loads what an unsealed vault serves from: token salt, policies, the mount table.
    pub(crate) async fn load(&self) -> Result<Active> {
        let storage: Arc<dyn Storage> = self.inner.barrier.clone();
        let salt = storage
            .get(SALT_PATH)
            .await?
            .ok_or_else(|| VaultError::Internal("the token salt is missing".into()))?;
        let mut router = Router::default();
        if let Some(bytes) = storage.get(MOUNTS_PATH).await? {
            let entries: Vec<crate::MountEntry> = serde_json::from_slice(&bytes)
                .map_err(|_| VaultError::Internal("the mount table does not decode".into()))?;
            for entry in entries {
                let backend = self.inner.registry.create(&entry.kind, &entry.options)?;
                let view = StorageView::new(
                    Arc::clone(&storage),
                    format!("{}/{}/", storage_root(&entry.path), entry.uuid),
                )?;
                router.insert(Mounted::new(entry, backend, view));
            }
        }
        let mut devices = Vec::new();
        if let Some(bytes) = storage.get(AUDIT_PATH).await? {
            let entries: Vec<AuditEntry> = serde_json::from_slice(&bytes)
                .map_err(|_| VaultError::Internal("the audit table does not decode".into()))?;
            for entry in entries {
                devices.push(Arc::new(audit_device(entry)?));
            }
        }
        for declared in &self.inner.declared_audit {
            devices.push(Arc::new(self.declared(&storage, declared, &devices).await?));
        }
        let rotations = match &self.inner.barrier_rotation {
            Some(schedule) => Some(self.barrier_scheduler(&storage, schedule.clone()).await?),
            None => None,
        };
        let lockouts = crate::lockout::Lockouts::new(Arc::clone(&storage), &salt);
        let cluster = cluster_identity(storage.as_ref()).await?;
        Ok(Active::new(crate::active::Parts {
            rotations,
            user_lockouts: self.inner.user_lockouts.clone(),
            lockouts,
            audit: Broker::new(devices, self.inner.audit_timeout),
            audit_dir: self.inner.audit_dir.clone(),
            audit_timeout: self.inner.audit_timeout,
            tokens: TokenStore::new(Arc::clone(&storage), &salt, SYSTEM_TTL, SYSTEM_TTL),
            leases: LeaseManager::new(Arc::clone(&storage)),
            policies: PolicyStore::new(Arc::clone(&storage)),
            router,
            clock: Arc::clone(&self.inner.clock),
            cluster,
            storage,
        }))
    }

    /// A declared audit device, ready to install: its path checked against `installed`, its
    /// salt read from storage (created on first use).
    async fn declared(
        &self,
        storage: &Arc<dyn Storage>,
        declared: &DeclaredAudit,
        installed: &[Arc<Enabled>],
    ) -> Result<Enabled> {
        let path = crate::mounts::normalize_mount_path(&declared.path).ok_or_else(|| {
            VaultError::invalid(format!("invalid audit path {:?}", declared.path))
        })?;
        if installed.iter().any(|d| d.entry.path == path) {
            return Err(VaultError::invalid(format!(
                "the audit device declared at {path} is also enabled over the API; disable \
                 one of them"
            )));
        }
        let salt_key = format!("{DECLARED_AUDIT_SALT_PREFIX}{}", path.trim_end_matches('/'));
        let salt = match storage.get(&salt_key).await? {
            Some(salt) => salt,
            None => {
                let salt = ring::rand::generate::<[u8; 32]>(&ring::rand::SystemRandom::new())
                    .map_err(|_| VaultError::Internal("system random source failed".into()))?
                    .expose()
                    .to_vec();
                storage.put(&salt_key, salt.clone()).await?;
                salt
            }
        };
        let entry = AuditEntry {
            path,
            kind: declared.device.kind().into(),
            description: declared.description.clone(),
            options: declared.device.options(),
            salt: hex(&salt),
            declared: true,
        };
        Ok(Enabled::new(entry, Arc::clone(&declared.device), &salt))
    }

    /// The scheduler rotating the barrier keyring, its state kept inside the barrier.
    async fn barrier_scheduler(
        &self,
        storage: &Arc<dyn Storage>,
        schedule: strongroom_rotation::Schedule,
    ) -> Result<strongroom_rotation::Scheduler> {
        let mut config = strongroom_rotation::SchedulerConfig::default();
        config.prefix = crate::rotation::ROTATION_PREFIX.into();
        let internal = |e: strongroom_rotation::RotationError| VaultError::Internal(e.to_string());
        let scheduler = strongroom_rotation::Scheduler::new(
            Arc::clone(storage),
            Arc::new(crate::rotation::ClockAdapter(Arc::clone(&self.inner.clock))),
            Arc::clone(&self.inner.alerts),
            config,
        )
        .map_err(internal)?;
        let term = self.inner.barrier.status()?.term;
        scheduler
            .register(
                crate::rotation::BARRIER_SECRET,
                schedule,
                Arc::new(crate::rotation::BarrierRotator {
                    barrier: Arc::clone(&self.inner.barrier),
                }),
                Some(format!("term-{term}")),
            )
            .await
            .map_err(internal)?;
        Ok(scheduler)
    }
}

/// Where the cluster's identity is kept (inside the barrier).
const CLUSTER_PATH: &str = "core/cluster";

/// The cluster's name and id: made once, at the first unseal after init (vaults initialised
/// before this record existed get theirs at their next unseal), and the same ever after.
async fn cluster_identity(storage: &dyn Storage) -> Result<crate::active::Cluster> {
    // A write that met a concurrent transaction (a retryable conflict) is tried once more.
    match cluster_identity_once(storage).await {
        Err(VaultError::Storage(strongroom_storage::StorageError::Conflict)) => {
            cluster_identity_once(storage).await
        }
        other => other,
    }
}

/// The cluster's identity if one is stored (a standby reads it; only the active node makes it).
pub(crate) async fn stored_cluster(storage: &dyn Storage) -> Option<crate::active::Cluster> {
    let bytes = storage.get(CLUSTER_PATH).await.ok().flatten()?;
    serde_json::from_slice(&bytes).ok()
}

async fn cluster_identity_once(storage: &dyn Storage) -> Result<crate::active::Cluster> {
    if let Some(bytes) = storage.get(CLUSTER_PATH).await? {
        return serde_json::from_slice(&bytes)
            .map_err(|_| VaultError::Internal("the cluster record does not decode".into()));
    }
    let id = crate::util::uuid()?;
    let cluster = crate::active::Cluster {
        name: format!("vault-cluster-{}", id.get(..8).unwrap_or_default()),
        id,
    };
    let bytes = serde_json::to_vec(&cluster)
        .map_err(|e| VaultError::Internal(format!("encoding the cluster record: {e}")))?;
    // Only where none is: two unseals racing keep one identity.
    match storage
        .transaction(vec![
            strongroom_storage::Op::check(CLUSTER_PATH, None),
            strongroom_storage::Op::put(CLUSTER_PATH, bytes),
        ])
        .await
    {
        Ok(()) => Ok(cluster),
        // Another unseal wrote one first: use what is stored.
        Err(strongroom_storage::StorageError::CheckFailed { .. }) => {
            let bytes = storage
                .get(CLUSTER_PATH)
                .await?
                .ok_or_else(|| VaultError::Internal("the cluster record vanished".into()))?;
            serde_json::from_slice(&bytes)
                .map_err(|_| VaultError::Internal("the cluster record does not decode".into()))
        }
        Err(err) => Err(err.into()),
    }
}
