//! The quorum ceremonies: rekey (new unseal or recovery shares, optionally a new root key) and
//! root token generation, each a multi-step exchange of shares. Their endpoints are in
//! [`crate::sys`].

use strongroom_barrier::RootKey;
use strongroom_seal::{
    Progress, Rekey, RekeyConfig, RekeyStep, RootGeneration, RootStep, SecretBytes, SecretString,
    ShamirSeal, Share, WrappedKey,
};
use strongroom_storage::{Op, StorageError};

use crate::seal_config::{SEAL_CONFIG_PATH, SealConfig, recovery_check};
use crate::util::{hex, lock};
use crate::vault::{RekeyState, Vault};
use crate::{Result, VaultError};

/// Where a rekey stands (Vault's `sys/rekey/init` and `sys/rekey/verify` status).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RekeyStatus {
    /// The attempt's nonce (the verification nonce once new shares are issued).
    pub nonce: String,
    /// Shares collected in the current stage.
    pub progress: usize,
    /// Shares needed in the current stage.
    pub required: usize,
    /// New number of shares.
    pub n: usize,
    /// New threshold.
    pub t: usize,
    /// Whether the new shares await verification.
    pub verifying: bool,
}

/// What a rekey step returned.
#[non_exhaustive]
pub enum RekeyUpdate {
    /// More shares are needed.
    Pending(RekeyStatus),
    /// New shares (hex and base64) to hand out. If `verification_nonce` is set they are not in
    /// force yet: present a quorum of them to [`Vault::rekey_verify`].
    Issued {
        /// The new shares, hex.
        keys: Vec<SecretString>,
        /// The new shares, base64.
        keys_base64: Vec<SecretString>,
        /// Set when the new shares must be verified before they take effect.
        verification_nonce: Option<String>,
    },
    /// The new shares are in force.
    Complete,
}

impl std::fmt::Debug for RekeyUpdate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Pending(status) => f.debug_tuple("Pending").field(status).finish(),
            Self::Issued {
                keys,
                verification_nonce,
                ..
            } => f
                .debug_struct("Issued")
                .field("keys", &keys.len())
                .field("verification_nonce", verification_nonce)
                .finish_non_exhaustive(),
            Self::Complete => f.write_str("Complete"),
        }
    }
}

/// A started break-glass root generation.
#[non_exhaustive]
pub struct GenerateRootStarted {
    /// The one-time pad: only the person who started the attempt gets it.
    pub otp: SecretString,
    /// The attempt (the starter's share counts).
    pub progress: Progress,
}

impl std::fmt::Debug for GenerateRootStarted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GenerateRootStarted")
            .field("progress", &self.progress)
            .finish_non_exhaustive()
    }
}

/// What a root generation step returned.
#[derive(Debug)]
#[non_exhaustive]
pub enum GenerateRootUpdate {
    /// More shares are needed.
    Pending(Progress),
    /// The quorum is complete: a new root token, XOR'd with the pad and base64-encoded (Vault's
    /// `encoded_token`); decode it with `strongroom_seal::decode_with_otp`.
    Complete {
        /// The encoded token.
        encoded_token: String,
    },
}

impl Vault {
    /// Starts rekeying the unseal shares (recovery shares under auto-unseal): a quorum of current
    /// shares (through [`rekey_update`](Self::rekey_update)) produces `config.shares` new shares
    /// with threshold `config.threshold`.
    ///
    /// Every rekey splits a *new* secret, as Vault's does: a new key-encryption key that wraps the
    /// root key (Shamir), or a new recovery key (auto-unseal). The old shares are then worth
    /// nothing, even together with a copy of the storage taken later. With `config.rotate` the
    /// barrier's root key is replaced as well (the keyring is re-encrypted under it, data is
    /// untouched), so that a copy of the storage taken *before* the rekey does not open under
    /// the new shares either. With `config.require_verification` the new shares only take
    /// effect once a quorum of them is presented back.
    ///
    /// The new configuration (and, with `rotate`, the re-encrypted keyring) is written in one
    /// transaction, only over the seal configuration this rekey started from: a crash leaves
    /// the old shares or the new ones in force, never neither.
    ///
    /// # Errors
    ///
    /// [`VaultError::Sealed`]; [`VaultError::InvalidRequest`] when a rekey is already running;
    /// [`VaultError::Seal`] for a bad split.
    pub async fn rekey_init(&self, config: RekeyConfig) -> Result<RekeyStatus> {
        self.active().await?;
        let started_from = self
            .inner
            .raw
            .get(SEAL_CONFIG_PATH)
            .await?
            .ok_or(VaultError::NotInitialized)?;
        let seal = SealConfig::decode(&started_from)?;
        let mut slot = lock(&self.inner.rekey);
        if slot.is_some() {
            return Err(VaultError::invalid("rekey already in progress"));
        }
        let digests = seal.digests()?;
        // The seal-level `rotate` means "split a fresh secret": always, so that the old shares
        // reconstruct nothing still in use. The caller's `rotate` is about the root key.
        let rekey = Rekey::start(
            seal.secret_threshold,
            ShamirSeal::KEY_LEN,
            config.rotate(true),
        )?
        .with_digests(digests);
        let state = RekeyState {
            rekey,
            root: None,
            pending_threshold: config.threshold,
            rotate_root: config.rotate,
            started_from,
        };
        let status = Self::rekey_status_of(&state);
        *slot = Some(state);
        Ok(status)
    }

    fn rekey_status_of(state: &RekeyState) -> RekeyStatus {
        let progress = state.rekey.progress();
        let config = state.rekey.config();
        RekeyStatus {
            nonce: progress.nonce,
            progress: progress.have,
            required: progress.need,
            n: config.shares,
            t: config.threshold,
            verifying: state.rekey.is_verifying(),
        }
    }

    /// The rekey in progress, if any.
    pub fn rekey_status(&self) -> Option<RekeyStatus> {
        lock(&self.inner.rekey).as_ref().map(Self::rekey_status_of)
    }

    /// Cancels the rekey in progress (the current shares stay in force).
    pub fn rekey_cancel(&self) {
        *lock(&self.inner.rekey) = None;
    }

    /// What every share submission starts from: the seal configuration, the wrapped root key, and
    /// the share parsed.
    async fn quorum_input(&self, key: &str) -> Result<(SealConfig, WrappedKey, Share)> {
        let seal = self
            .seal_config()
            .await?
            .ok_or(VaultError::NotInitialized)?;
        let wrapped = seal.wrapped()?;
        let share = Share::parse(key, ShamirSeal::KEY_LEN)?;
        Ok((seal, wrapped, share))
    }

    /// Submits one *current* unseal share to the rekey.
    ///
    /// # Errors
    ///
    /// [`VaultError::InvalidRequest`] with no rekey running; [`VaultError::Seal`] for a bad,
    /// unknown or duplicate share, a wrong nonce, or a rejected quorum.
    pub async fn rekey_update(&self, key: &str, nonce: &str) -> Result<RekeyUpdate> {
        let (seal, wrapped, share) = self.quorum_input(key).await?;
        let step = {
            let mut slot = lock(&self.inner.rekey);
            let state = slot
                .as_mut()
                .ok_or_else(|| VaultError::invalid("no rekey in progress"))?;
            let mut recovered = None;
            let step = state.rekey.submit(nonce, share, |kek| {
                recovered = seal.open_quorum(&wrapped, kek)?;
                Ok(())
            })?;
            if recovered.is_some() {
                state.root = recovered;
            }
            step
        };
        self.rekey_step(step).await
    }

    /// Submits one *new* share back, while the new shares await verification.
    ///
    /// # Errors
    ///
    /// As [`rekey_update`](Self::rekey_update).
    pub async fn rekey_verify(&self, key: &str, nonce: &str) -> Result<RekeyUpdate> {
        let share = Share::parse(key, ShamirSeal::KEY_LEN)?;
        let step = {
            let mut slot = lock(&self.inner.rekey);
            let state = slot
                .as_mut()
                .ok_or_else(|| VaultError::invalid("no rekey in progress"))?;
            state.rekey.verify(nonce, share)?
        };
        self.rekey_step(step).await
    }

    async fn rekey_step(&self, step: RekeyStep) -> Result<RekeyUpdate> {
        match step {
            RekeyStep::Pending(_) => Ok(RekeyUpdate::Pending(
                self.rekey_status()
                    .ok_or_else(|| VaultError::invalid("no rekey in progress"))?,
            )),
            RekeyStep::Issued {
                shares,
                verification,
            } => Ok(RekeyUpdate::Issued {
                keys: shares.iter().map(Share::to_hex).collect(),
                keys_base64: shares.iter().map(Share::to_base64).collect(),
                verification_nonce: Some(verification.nonce),
            }),
            RekeyStep::Complete { shares, output } => {
                let state = lock(&self.inner.rekey)
                    .take()
                    .ok_or_else(|| VaultError::invalid("no rekey in progress"))?;
                let current = SealConfig::decode(&state.started_from)?;
                let config = state.rekey.config();
                // `output.secret` is always a fresh secret (see `rekey_init`); the root key is
                // replaced only when the caller asked.
                let new_root = if state.rotate_root {
                    Some(RootKey::generate()?)
                } else {
                    None
                };
                let (wrapped_root, recovery) = match &current.recovery_check {
                    // Auto-unseal: the shares are recovery shares; the root key stays with the
                    // key service (rotated too when asked).
                    Some(_) => {
                        let wrapped = match &new_root {
                            Some(new_root) => {
                                let seal = self.inner.auto_seal.as_ref().ok_or_else(|| {
                                    VaultError::invalid("no auto-unseal seal configured")
                                })?;
                                let wrapped = seal
                                    .wrap(&SecretBytes::copy_from(new_root.expose_secret()))
                                    .await?;
                                hex(wrapped.as_bytes())
                            }
                            None => current.wrapped_root.clone(),
                        };
                        (wrapped, Some(recovery_check(&output.secret)))
                    }
                    None => {
                        let root = match &new_root {
                            Some(new_root) => SecretBytes::copy_from(new_root.expose_secret()),
                            None => state.root.ok_or_else(|| {
                                VaultError::Internal("rekey finished without the root key".into())
                            })?,
                        };
                        let wrapped = ShamirSeal::from_key(&output.secret)?.close(&root)?;
                        (hex(wrapped.as_bytes()), None)
                    }
                };
                let config_record = SealConfig {
                    kind: current.kind.clone(),
                    secret_shares: config.shares,
                    secret_threshold: state.pending_threshold,
                    digests: hex(&output.digests.to_bytes()),
                    wrapped_root,
                    recovery_check: recovery,
                };
                let bytes = config_record.encode()?;
                // Only over the configuration this rekey started from.
                let swap = vec![
                    Op::check(SEAL_CONFIG_PATH, Some(state.started_from.clone())),
                    Op::put(SEAL_CONFIG_PATH, bytes.clone()),
                ];
                let written = match &new_root {
                    // The keyring under the new root key and the configuration that wraps it
                    // commit together (the barrier reads an unacknowledged commit back itself).
                    Some(new_root) => self
                        .inner
                        .barrier
                        .rekey_root_with(new_root, swap)
                        .await
                        .map_err(VaultError::from),
                    None => match self.inner.raw.transaction(swap).await {
                        Ok(()) => Ok(()),
                        // The record holds fresh digests: finding exactly it means the commit
                        // happened and only its acknowledgement was lost.
                        Err(err) => match self.inner.raw.get(SEAL_CONFIG_PATH).await {
                            Ok(Some(stored)) if stored == bytes => Ok(()),
                            _ => Err(err.into()),
                        },
                    },
                };
                if let Err(err) = written {
                    return Err(match err {
                        VaultError::Storage(StorageError::CheckFailed { .. }) => {
                            VaultError::invalid(
                                "the seal configuration changed while this rekey ran; nothing \
                                 was changed, start a new rekey",
                            )
                        }
                        other => other,
                    });
                }
                if shares.is_empty() {
                    Ok(RekeyUpdate::Complete)
                } else {
                    Ok(RekeyUpdate::Issued {
                        keys: shares.iter().map(Share::to_hex).collect(),
                        keys_base64: shares.iter().map(Share::to_base64).collect(),
                        verification_nonce: None,
                    })
                }
            }
            _ => Err(VaultError::Internal("unexpected rekey step".into())),
        }
    }

    /// Starts a root token generation (Vault's `sys/generate-root/attempt`): a quorum of unseal
    /// (or recovery) shares, entered with [`generate_root_update`](Self::generate_root_update),
    /// then mints a new root token, returned XOR'd with the one-time pad returned here, which
    /// only the starter sees. Only one attempt runs at a time. Who may start one is the
    /// caller's decision: over the API, `sys/generate-root-token/attempt` is ACL-checked.
    ///
    /// # Errors
    ///
    /// [`VaultError::Sealed`]; [`VaultError::Seal`] when an attempt is already running.
    pub async fn generate_root_init(&self) -> Result<GenerateRootStarted> {
        self.active().await?;
        let seal = self
            .seal_config()
            .await?
            .ok_or(VaultError::NotInitialized)?;
        let mut slot = lock(&self.inner.generate_root);
        let generation = match slot.as_mut() {
            Some(generation) => generation,
            None => {
                let digests = seal.digests()?;
                slot.insert(RootGeneration::new(
                    seal.secret_threshold,
                    ShamirSeal::KEY_LEN,
                    crate::tokens::TOKEN_LEN,
                    digests,
                )?)
            }
        };
        let started = generation.begin()?;
        Ok(GenerateRootStarted {
            otp: started.otp,
            progress: started.progress,
        })
    }

    /// The root generation attempt in progress, if any.
    pub fn generate_root_status(&self) -> Option<Progress> {
        lock(&self.inner.generate_root)
            .as_ref()
            .and_then(RootGeneration::progress)
    }

    /// Adds a share to the attempt. At the threshold, if the shares open the stored root key, a
    /// new root token is minted and returned encoded with the pad.
    ///
    /// # Errors
    ///
    /// [`VaultError::Seal`] for no attempt, a wrong nonce, an unknown or duplicate share, or a
    /// rejected quorum (the attempt ends).
    pub async fn generate_root_update(&self, key: &str, nonce: &str) -> Result<GenerateRootUpdate> {
        let active = self.active().await?;
        let (seal, wrapped, share) = self.quorum_input(key).await?;
        let step = {
            let mut slot = lock(&self.inner.generate_root);
            let generation = slot
                .as_mut()
                .ok_or(VaultError::Seal(strongroom_seal::SealError::NoAttempt))?;
            generation.submit(nonce, share, |kek| {
                seal.open_quorum(&wrapped, kek)?;
                Ok(())
            })?
        };
        match step {
            RootStep::Pending(progress) => Ok(GenerateRootUpdate::Pending(progress)),
            RootStep::Ready(quorum) => {
                let token = active.tokens().create_root(active.clock().now()).await?;
                let encoded_token = quorum.encode(token.as_bytes())?;
                Ok(GenerateRootUpdate::Complete { encoded_token })
            }
            _ => Err(VaultError::Internal(
                "unexpected root generation step".into(),
            )),
        }
    }

    /// Cancels the root generation attempt in progress, if any.
    pub fn generate_root_cancel(&self) {
        if let Some(generation) = lock(&self.inner.generate_root).as_mut() {
            generation.abort();
        }
    }
}
