//! The seal configuration record, kept outside the barrier: the seal's kind, the quorum, the
//! share digests and the wrapped root key.

use serde::{Deserialize, Serialize};
use strongroom_seal::{SecretBytes, ShamirSeal, ShareDigests, WrappedKey};

use crate::util::{hex, unhex};
use crate::vault::Vault;
use crate::{Result, VaultError};

/// Outside the barrier: the seal's configuration and the wrapped root key, one record.
pub(crate) const SEAL_CONFIG_PATH: &str = "core/seal-config";

#[derive(Serialize, Deserialize)]
pub(crate) struct SealConfig {
    #[serde(rename = "type")]
    pub(crate) kind: String,
    pub(crate) secret_shares: usize,
    pub(crate) secret_threshold: usize,
    /// Hex of the share digests.
    pub(crate) digests: String,
    /// Hex of the wrapped root key.
    pub(crate) wrapped_root: String,
    /// With an auto-unseal seal: hex SHA-256 of the recovery key, which the quorum shares (then
    /// recovery shares) reconstruct. `None` for Shamir, where the shares open `wrapped_root`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) recovery_check: Option<String>,
}

impl SealConfig {
    /// The record as stored at [`SEAL_CONFIG_PATH`].
    pub(crate) fn decode(bytes: &[u8]) -> Result<Self> {
        serde_json::from_slice(bytes).map_err(|_| {
            VaultError::Internal("the stored seal configuration does not decode".into())
        })
    }

    /// The record to store at [`SEAL_CONFIG_PATH`].
    pub(crate) fn encode(&self) -> Result<Vec<u8>> {
        serde_json::to_vec(self)
            .map_err(|e| VaultError::Internal(format!("encoding seal configuration: {e}")))
    }

    pub(crate) fn wrapped(&self) -> Result<WrappedKey> {
        Ok(WrappedKey::from_bytes(
            unhex(&self.wrapped_root)
                .ok_or_else(|| VaultError::Internal("stored wrapped root key is not hex".into()))?,
        ))
    }

    pub(crate) fn digests(&self) -> Result<ShareDigests> {
        Ok(ShareDigests::from_bytes(
            &unhex(&self.digests)
                .ok_or_else(|| VaultError::Internal("stored share digests are not hex".into()))?,
        )?)
    }

    /// Checks a secret a quorum of shares reconstructed. Shamir: it is the key-encryption key,
    /// and opening the wrapped root key proves it (the root key is returned). Auto-unseal: it is
    /// the recovery key, checked against its stored hash (no root key involved).
    pub(crate) fn open_quorum(
        &self,
        wrapped: &WrappedKey,
        secret: &SecretBytes,
    ) -> std::result::Result<Option<SecretBytes>, strongroom_seal::BoxError> {
        match &self.recovery_check {
            None => Ok(Some(ShamirSeal::from_key(secret)?.open(wrapped)?)),
            Some(check) => {
                let digest = ring::digest::digest(&ring::digest::SHA256, secret.expose_secret());
                let expected = unhex(check).unwrap_or_default();
                if subtle::ConstantTimeEq::ct_eq(digest.as_ref(), expected.as_slice()).into() {
                    Ok(None)
                } else {
                    Err("the recovery shares do not reconstruct the recovery key".into())
                }
            }
        }
    }
}

pub(crate) fn recovery_check(recovery_key: &SecretBytes) -> String {
    hex(ring::digest::digest(&ring::digest::SHA256, recovery_key.expose_secret()).as_ref())
}

impl Vault {
    pub(crate) async fn seal_config(&self) -> Result<Option<SealConfig>> {
        let Some(bytes) = self.inner.raw.get(SEAL_CONFIG_PATH).await? else {
            return Ok(None);
        };
        serde_json::from_slice(&bytes).map(Some).map_err(|_| {
            VaultError::Internal("the stored seal configuration does not decode".into())
        })
    }
}
