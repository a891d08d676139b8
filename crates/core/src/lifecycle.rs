//! The vault's lifecycle: init, unseal (Shamir shares or auto-unseal), seal.

use std::sync::{Arc, PoisonError};

use serde::Serialize;
use strongroom_barrier::{Barrier, KEYRING_PATH, RootKey};
use strongroom_seal::{
    SealError, SecretBytes, SecretString, ShamirSeal, Share, ShareDigests, ShareProblem, Submitted,
    UnsealProgress,
};
use strongroom_storage::{MemoryStorage, Op, Storage, StorageError};

use crate::mounts::SYSTEM_TTL;
use crate::policies::PolicyStore;
use crate::seal_config::{SEAL_CONFIG_PATH, SealConfig, recovery_check};
use crate::tokens::{SALT_PATH, TokenStore};
use crate::util::{hex, lock};
use crate::vault::Vault;
use crate::{Result, VaultError};

/// What `init` asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct InitRequest {
    /// Number of unseal key shares.
    pub secret_shares: usize,
    /// Shares needed to unseal.
    pub secret_threshold: usize,
}

/// Vault's checks of a Shamir seal's settings, in its order and words.
fn check_seal_config(shares: usize, threshold: usize) -> Result<()> {
    let problem = if shares < 1 {
        "shares must be at least one"
    } else if threshold < 1 {
        "threshold must be at least one"
    } else if shares > 1 && threshold == 1 {
        "threshold must be greater than one for multiple shares"
    } else if shares > 255 {
        "shares must be less than 256"
    } else if threshold > 255 {
        "threshold must be less than 256"
    } else if threshold > shares {
        "threshold cannot be larger than shares"
    } else {
        return Ok(());
    };
    Err(VaultError::invalid(format!(
        "invalid seal configuration: {problem}"
    )))
}

impl InitRequest {
    /// `shares` shares, `threshold` of which unseal.
    pub fn new(shares: usize, threshold: usize) -> Self {
        Self {
            secret_shares: shares,
            secret_threshold: threshold,
        }
    }
}

/// What `init` returns: the unseal key shares and the root token, shown once.
#[non_exhaustive]
pub struct InitResponse {
    /// The shares, hex-encoded (Vault's `keys`).
    pub keys: Vec<SecretString>,
    /// The same shares, base64-encoded (Vault's `keys_base64`).
    pub keys_base64: Vec<SecretString>,
    /// The initial root token.
    pub root_token: crate::ClientToken,
    /// True when the shares are recovery shares (auto-unseal: Vault's `recovery_keys`).
    pub recovery: bool,
}

impl std::fmt::Debug for InitResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InitResponse")
            .field("keys", &self.keys.len())
            .finish_non_exhaustive()
    }
}

/// Vault's `sys/seal-status`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct SealStatus {
    /// The seal type.
    #[serde(rename = "type")]
    pub kind: String,
    /// Whether the vault is initialised.
    pub initialized: bool,
    /// Whether it is sealed.
    pub sealed: bool,
    /// Threshold.
    pub t: usize,
    /// Number of shares.
    pub n: usize,
    /// Shares given in the current unseal attempt.
    pub progress: usize,
    /// The current unseal attempt's nonce.
    pub nonce: String,
    /// Strongroom's version.
    pub version: String,
    /// True when `t` and `n` describe recovery shares (auto-unseal).
    pub recovery_seal: bool,
    /// The cluster's name, fixed at init (`vault-cluster-<8 hex>`, as Vault names it); only
    /// told while unsealed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster_name: Option<String>,
    /// The cluster's id (a UUID fixed at init); only told while unsealed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster_id: Option<String>,
    /// The storage backend's name (`inmem`, `sqlite`, `postgresql`), as Vault's
    /// `storage_type`.
    pub storage_type: String,
}

/// Every key `storage` holds, by a walk of `list` (which returns direct children only, folders
/// with a trailing `/`).
async fn all_keys(storage: &dyn Storage) -> Result<Vec<String>> {
    let mut keys = Vec::new();
    let mut folders = vec![String::new()];
    while let Some(folder) = folders.pop() {
        for child in storage.list(&folder).await? {
            let path = format!("{folder}{child}");
            if child.ends_with('/') {
                folders.push(path);
            } else {
                keys.push(path);
            }
        }
    }
    Ok(keys)
}

impl Vault {
    /// Whether the vault has been initialised.
    ///
    /// # Errors
    ///
    /// A storage error.
    pub async fn is_initialized(&self) -> Result<bool> {
        Ok(self.seal_config().await?.is_some())
    }

    /// Initialises the vault: a new root key protected by a Shamir seal of
    /// `request.secret_shares` shares with threshold `request.secret_threshold`, the default
    /// policy, and a root token. The vault stays sealed, as Vault's does (with an auto-unseal
    /// seal it unseals itself).
    ///
    /// Atomic: the whole initial state (keyring, token salt, default policy, root token, seal
    /// configuration) reaches the storage in one transaction, so a crash or a failed write leaves
    /// the storage either untouched (init may simply be run again) or initialised, with the
    /// shares and token this call returns. A storage holding a keyring but no seal configuration
    /// is the remains of an init interrupted before this was so: nobody ever received a share
    /// for it, so nothing in it can be opened by anyone, and init replaces it (every key left
    /// there is deleted in the same transaction).
    ///
    /// # Errors
    ///
    /// [`VaultError::AlreadyInitialized`]; [`VaultError::Seal`] for a bad split; storage errors
    /// (nothing was written).
    pub async fn init(&self, request: InitRequest) -> Result<InitResponse> {
        // Vault checks the settings before whether the vault is initialised.
        if self.inner.auto_seal.is_none() {
            check_seal_config(request.secret_shares, request.secret_threshold)?;
        }
        if self.is_initialized().await? {
            return Err(VaultError::AlreadyInitialized);
        }
        let store = Arc::clone(self.init_store());
        let leftover_keyring = store.get(KEYRING_PATH).await?;
        let root = RootKey::generate()?;
        let root_bytes = SecretBytes::copy_from(root.expose_secret());
        // The quorum shares: unseal shares (Shamir: they reconstruct the key that wraps the root
        // key) or recovery shares (auto-unseal: they reconstruct a recovery key, checked by hash).
        let quorum_key = SecretBytes::new(
            ring::rand::generate::<[u8; 32]>(&ring::rand::SystemRandom::new())
                .map_err(|_| VaultError::Internal("system random source failed".into()))?
                .expose()
                .to_vec(),
        );
        let shares = strongroom_seal::split(
            quorum_key.expose_secret(),
            request.secret_shares,
            request.secret_threshold,
        )?;
        let digests = ShareDigests::compute(&shares)?;
        let (kind, wrapped, recovery) = match &self.inner.auto_seal {
            Some(seal) => (
                seal.kind().to_owned(),
                seal.wrap(&root_bytes).await?,
                Some(recovery_check(&quorum_key)),
            ),
            None => (
                "shamir".to_owned(),
                ShamirSeal::from_key(&quorum_key)?.close(&root_bytes)?,
                None,
            ),
        };
        // The initial state is built on a staging barrier in memory, under the same root key, and
        // then copied, ciphertext as it is, into the real storage in one transaction.
        //
        // Copying is sound. Each ciphertext is bound to its storage key (the associated data),
        // and it lands under the same key. No nonce can repeat: the staging barrier drew a random
        // 96-bit starting point for term 1 when it unsealed, and the real barrier draws another
        // when it unseals from the copied keyring (`Keyring::decode` gives every term a fresh
        // nonce sequence), exactly as after a restart, so the two sequences overlap with the
        // same negligible probability as any two lifetimes of one process (see the nonce section
        // of the strongroom-barrier docs). Nor can the term's encryption count fall: the staging
        // barrier persisted a reservation into its keyring before its first encryption, and the
        // keyring copied is its last one, so the real barrier counts on from at least every
        // encryption the staging barrier did.
        let staging = Arc::new(MemoryStorage::new());
        let root_token = {
            let barrier = Arc::new(Barrier::new(Arc::clone(&staging)));
            barrier.initialize(&root).await?;
            barrier.unseal(&root).await?;
            let token = self.bootstrap(barrier.clone()).await;
            barrier.seal();
            token?
        };
        let auto = recovery.is_some();
        let config = SealConfig {
            kind,
            secret_shares: request.secret_shares,
            secret_threshold: request.secret_threshold,
            digests: hex(&digests.to_bytes()),
            wrapped_root: hex(wrapped.as_bytes()),
            recovery_check: recovery,
        };
        let bytes = config.encode()?;
        let staged = all_keys(staging.as_ref()).await?;
        // Two inits racing: only the first to commit finds no seal configuration, and the keyring
        // as it was read.
        let mut ops = vec![
            Op::check(SEAL_CONFIG_PATH, None),
            Op::check(KEYRING_PATH, leftover_keyring.clone()),
        ];
        if leftover_keyring.is_some() {
            let leftovers = all_keys(store.as_ref()).await?;
            tracing::warn!(
                keys = leftovers.len(),
                "replacing the remains of an interrupted init (a keyring without a seal \
                 configuration)"
            );
            ops.extend(
                leftovers
                    .into_iter()
                    .filter(|key| !staged.contains(key))
                    .map(Op::delete),
            );
        }
        for key in staged {
            let value = staging
                .get(&key)
                .await?
                .ok_or_else(|| VaultError::Internal("a staged key vanished".into()))?;
            ops.push(Op::put(key, value));
        }
        ops.push(Op::put(SEAL_CONFIG_PATH, bytes.clone()));
        if let Err(err) = store.transaction(ops).await {
            if let StorageError::CheckFailed { .. } = err {
                return Err(VaultError::AlreadyInitialized);
            }
            // The record holds fresh random digests: finding exactly it means the transaction
            // committed and only its acknowledgement was lost; the shares are then the ones in
            // force and must be handed out.
            let stored = store.get(SEAL_CONFIG_PATH).await.ok().flatten();
            if stored.as_deref() != Some(bytes.as_slice()) {
                return Err(err.into());
            }
        }
        tracing::info!(
            seal = config.kind.as_str(),
            shares = request.secret_shares,
            threshold = request.secret_threshold,
            "vault initialised"
        );
        if auto {
            // An auto-unseal vault comes up unsealed after init, as Vault's does. The vault is
            // initialised whatever happens here, so the shares and the root token are returned
            // even if unsealing fails (it can be retried with `auto_unseal`).
            if let Err(err) = self.auto_unseal().await {
                tracing::warn!(error = %err, "the vault is initialised but did not unseal");
            }
        }
        Ok(InitResponse {
            keys: shares.iter().map(Share::to_hex).collect(),
            keys_base64: shares.iter().map(Share::to_base64).collect(),
            root_token,
            recovery: auto,
        })
    }

    /// Unseals through the configured auto-unseal seal (the key service unwraps the root key).
    /// Servers call this at startup.
    ///
    /// # Errors
    ///
    /// [`VaultError::NotInitialized`]; [`VaultError::InvalidRequest`] when the vault has no
    /// auto-unseal seal or was initialised with another kind; the seal's error (key service
    /// unreachable, wrong key).
    pub async fn auto_unseal(&self) -> Result<SealStatus> {
        let config = self
            .seal_config()
            .await?
            .ok_or(VaultError::NotInitialized)?;
        if self.unsealed() {
            return self.seal_status().await;
        }
        let seal = self
            .inner
            .auto_seal
            .as_ref()
            .filter(|s| config.recovery_check.is_some() && s.kind() == config.kind)
            .ok_or_else(|| {
                VaultError::invalid(format!(
                    "this vault was initialised with a {} seal; configure the same seal to unseal it",
                    config.kind
                ))
            })?;
        let root = seal.unwrap(&config.wrapped()?).await?;
        let root = RootKey::from_bytes(root.expose_secret())?;
        self.finish_unseal(&root).await?;
        self.seal_status().await
    }

    /// Whether the vault is unsealed (with HA: whether this node is, active or standby).
    fn unsealed(&self) -> bool {
        if self.inner.ha.is_some() {
            return !self.inner.barrier.is_sealed();
        }
        self.inner
            .active
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .is_some()
    }

    async fn finish_unseal(&self, root: &RootKey) -> Result<()> {
        self.inner.barrier.unseal(root).await?;
        if self.inner.ha.is_some() {
            // A standby until it holds the lock; the active state is loaded then.
            tracing::info!("vault unsealed; contending for the HA lock");
            self.spawn_ha();
            return Ok(());
        }
        match self.load().await {
            Ok(active) => {
                *self
                    .inner
                    .active
                    .write()
                    .unwrap_or_else(PoisonError::into_inner) = Some(Arc::new(active));
                self.spawn_expiry();
                // sys/init and sys/unseal cannot reach an audit device (the devices live
                // inside the barrier, as in Vault), so the server log records them, without
                // key material.
                tracing::info!("vault unsealed");
                Ok(())
            }
            Err(err) => {
                self.inner.barrier.seal();
                Err(err)
            }
        }
    }

    /// What a new vault holds inside the barrier, written to `storage` (the staging barrier
    /// `init` builds the initial state on): the token salt, the default policy, the root token.
    async fn bootstrap(&self, storage: Arc<dyn Storage>) -> Result<crate::ClientToken> {
        let salt = ring::rand::generate::<[u8; 32]>(&ring::rand::SystemRandom::new())
            .map_err(|_| VaultError::Internal("system random source failed".into()))?
            .expose();
        storage.put(SALT_PATH, salt.to_vec()).await?;
        let policies = PolicyStore::new(Arc::clone(&storage));
        policies
            .set("default", strongroom_policy::DEFAULT_POLICY_HCL)
            .await?;
        let tokens = TokenStore::new(storage, &salt, SYSTEM_TTL, SYSTEM_TTL);
        let token = tokens.create_root(self.inner.clock.now()).await?;
        Ok(crate::ClientToken::new(token))
    }

    /// Where the seal stands.
    ///
    /// # Errors
    ///
    /// A storage error.
    pub async fn seal_status(&self) -> Result<SealStatus> {
        let config = self.seal_config().await?;
        let mut cluster = self
            .inner
            .active
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
            .map(|active| active.cluster().clone());
        let sealed = !self.unsealed();
        if cluster.is_none() && !sealed {
            // A standby: the identity as the active node stored it.
            cluster = crate::load::stored_cluster(self.inner.barrier.as_ref()).await;
        }
        let (progress, nonce) = lock(&self.inner.progress)
            .as_ref()
            .map(|p| {
                let p = p.progress();
                (p.have, p.nonce)
            })
            .unwrap_or_default();
        Ok(SealStatus {
            kind: config
                .as_ref()
                .map_or_else(|| "shamir".into(), |c| c.kind.clone()),
            initialized: config.is_some(),
            sealed,
            t: config.as_ref().map_or(0, |c| c.secret_threshold),
            n: config.as_ref().map_or(0, |c| c.secret_shares),
            progress: if sealed { progress } else { 0 },
            nonce: if sealed { nonce } else { String::new() },
            version: env!("CARGO_PKG_VERSION").into(),
            recovery_seal: config.as_ref().is_some_and(|c| c.recovery_check.is_some()),
            cluster_name: cluster.as_ref().map(|c| c.name.clone()),
            cluster_id: cluster.map(|c| c.id),
            storage_type: self.inner.raw.kind().into(),
        })
    }

    /// Submits one unseal key share (hex or base64). At the threshold the shares are combined;
    /// if they open the stored root key the vault unseals (loading mounts, policies and tokens),
    /// otherwise the attempt is reset and [`VaultError::Seal`] says why.
    ///
    /// # Errors
    ///
    /// [`VaultError::NotInitialized`]; [`VaultError::Seal`] for a malformed, unknown or duplicate
    /// share (not counted) or a rejected quorum (progress reset).
    pub async fn unseal(&self, key: &str) -> Result<SealStatus> {
        let config = self
            .seal_config()
            .await?
            .ok_or(VaultError::NotInitialized)?;
        if self.unsealed() {
            return self.seal_status().await;
        }
        if config.recovery_check.is_some() {
            return Err(VaultError::invalid(
                "this vault unseals through its key service (auto-unseal); recovery shares only \
                 authorise rekey and root generation",
            ));
        }
        let wrapped = config.wrapped()?;
        let digests = config.digests()?;
        let share = Share::parse(key, ShamirSeal::KEY_LEN).map_err(|err| match err {
            SealError::InvalidShare(ShareProblem::Encoding) => {
                VaultError::invalid("'key' must be a valid hex or base64 string")
            }
            other => other.into(),
        })?;
        let outcome = {
            let mut slot = lock(&self.inner.progress);
            let progress = match slot.as_mut() {
                Some(progress) => progress,
                None => slot.insert(
                    UnsealProgress::new(config.secret_threshold, ShamirSeal::KEY_LEN)?
                        .with_digests(digests),
                ),
            };
            progress.submit(share, |kek| {
                config
                    .open_quorum(&wrapped, kek)?
                    .ok_or_else(|| "no root key from a Shamir quorum".into())
            })?
        };
        if let Submitted::Complete(root) = outcome {
            let root = RootKey::from_bytes(root.expose_secret())?;
            self.finish_unseal(&root).await?;
            *lock(&self.inner.progress) = None;
        } else {
            tracing::info!(
                threshold = config.secret_threshold,
                "unseal key share accepted"
            );
        }
        self.seal_status().await
    }

    /// Creates a root token whose id the operator chose, like Vault's `-dev-root-token-id`. For
    /// development servers: a guessable id is a root credential.
    ///
    /// # Errors
    ///
    /// [`VaultError::Sealed`]; [`VaultError::InvalidRequest`] for an id that is not 1 to 128
    /// letters, digits, `.`, `-` or `_`, or that is taken.
    pub async fn dev_root_token(&self, id: &str) -> Result<()> {
        let active = self.active().await?;
        active
            .tokens()
            .create_root_with_id(id, active.clock().now())
            .await
            .map_err(|e| match e {
                VaultError::Storage(strongroom_storage::StorageError::CheckFailed { .. }) => {
                    VaultError::invalid("that token id is already in use")
                }
                other => other,
            })
    }

    /// Discards the current unseal attempt's shares.
    pub fn unseal_reset(&self) {
        *lock(&self.inner.progress) = None;
    }

    /// Seals the vault: every key is dropped from memory; requests fail with
    /// [`VaultError::Sealed`] until the next unseal.
    pub async fn seal(&self) {
        if let Some(ha) = &self.inner.ha {
            ha.retire().await;
        }
        self.inner
            .epoch
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        let old = self
            .inner
            .active
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(ha) = &self.inner.ha {
            ha.retired(old.as_ref());
        }
        drop(old);
        self.inner.barrier.seal();
        self.unseal_reset();
        self.rekey_cancel();
        *lock(&self.inner.generate_root) = None;
        tracing::info!("vault sealed");
    }
}
