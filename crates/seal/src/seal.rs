//! The `Seal` trait — the one joint between the vault and whatever protects its root key — and the
//! seals that need no network: Shamir (key holders) and a static key (development, tests).

use std::path::Path;

use async_trait::async_trait;
use base64ct::{Base64, Encoding};
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use zeroize::Zeroize;

use crate::quorum::ShareDigests;
use crate::rng::random_bytes;
use crate::shamir::split;
use crate::{Result, SealError, SecretBytes, Share};

/// The root key as a seal protects it, stored outside the barrier.
///
/// For the local seals: `[version 1][nonce: 12][AES-256-GCM ciphertext || tag]`, with the seal
/// kind as associated data. A key service's seal stores whatever the service returned.
#[derive(Clone, PartialEq, Eq)]
pub struct WrappedKey(Vec<u8>);

impl WrappedKey {
    /// From stored bytes.
    pub fn from_bytes(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }

    /// The bytes to store.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl std::fmt::Debug for WrappedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "WrappedKey({} bytes)", self.0.len())
    }
}

/// What protects the root key. The vault wraps the root key once (at initialisation and rekey),
/// stores the wrapped form outside the barrier, and unwraps it at unseal.
///
/// Implementations: [`ShamirSeal`] (key holders present shares; the shares combine into the key
/// that wraps the root key), [`StaticKeySeal`] (a key from a file or environment variable, for
/// development), and auto-unseal seals backed by a key service.
#[async_trait]
pub trait Seal: Send + Sync + std::fmt::Debug {
    /// The seal's kind as Vault reports it in `sys/seal-status` (`shamir`, `transit`, ...).
    fn kind(&self) -> &'static str;

    /// Whether unsealing needs key holders to present shares (Shamir), rather than happening by
    /// itself (auto-unseal). Auto-unseal seals use recovery shares for quorum operations instead.
    fn needs_shares(&self) -> bool;

    /// Protects `root`.
    ///
    /// # Errors
    ///
    /// [`SealError::Random`], or the key service's error.
    async fn wrap(&self, root: &SecretBytes) -> Result<WrappedKey>;

    /// Recovers the root key from its wrapped form.
    ///
    /// # Errors
    ///
    /// [`SealError::Unwrap`] when this seal's key does not open it,
    /// [`SealError::MalformedWrappedKey`], or the key service's error.
    async fn unwrap(&self, wrapped: &WrappedKey) -> Result<SecretBytes>;
}

const WRAP_VERSION: u8 = 1;

/// AES-256-GCM under a 32-byte key, the wrap format of the local seals.
struct LocalKey {
    aead: LessSafeKey,
    aad: &'static [u8],
}

impl LocalKey {
    fn new(key: &[u8], aad: &'static [u8]) -> Result<Self> {
        let unbound = UnboundKey::new(&AES_256_GCM, key).map_err(|_| {
            SealError::KeySource(format!("a seal key must be 32 bytes, got {}", key.len()))
        })?;
        Ok(Self {
            aead: LessSafeKey::new(unbound),
            aad,
        })
    }

    fn wrap(&self, root: &SecretBytes) -> Result<WrappedKey> {
        let nonce: [u8; NONCE_LEN] = random_bytes(NONCE_LEN)?
            .try_into()
            .map_err(|_| SealError::Unreachable("12 random bytes"))?;
        let mut out = Vec::with_capacity(1 + NONCE_LEN + root.len() + 16);
        out.push(WRAP_VERSION);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(root.expose_secret());
        let body = out
            .get_mut(1 + NONCE_LEN..)
            .ok_or(SealError::Unreachable("header written"))?;
        let tag = self
            .aead
            .seal_in_place_separate_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(self.aad),
                body,
            )
            .map_err(|_| SealError::Unreachable("AES-GCM refused to seal"))?;
        out.extend_from_slice(tag.as_ref());
        Ok(WrappedKey(out))
    }

    fn unwrap(&self, wrapped: &WrappedKey) -> Result<SecretBytes> {
        let (&version, rest) = wrapped
            .0
            .split_first()
            .ok_or(SealError::MalformedWrappedKey("empty"))?;
        if version != WRAP_VERSION {
            return Err(SealError::MalformedWrappedKey("unknown version"));
        }
        let (nonce, body) = rest
            .split_first_chunk::<NONCE_LEN>()
            .ok_or(SealError::MalformedWrappedKey("truncated"))?;
        let mut buffer = body.to_vec();
        let opened = self.aead.open_in_place(
            Nonce::assume_unique_for_key(*nonce),
            Aad::from(self.aad),
            &mut buffer,
        );
        let len = match opened {
            Ok(plain) => plain.len(),
            Err(_) => {
                buffer.zeroize();
                return Err(SealError::Unwrap);
            }
        };
        buffer.truncate(len);
        Ok(SecretBytes::new(buffer))
    }
}

/// The Shamir seal: key holders' shares combine into a key-encryption key, which wraps the root
/// key. Rekeying the shares then only re-wraps the root key; the data keyring is untouched.
pub struct ShamirSeal {
    key: LocalKey,
}

impl std::fmt::Debug for ShamirSeal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ShamirSeal([REDACTED])")
    }
}

/// A freshly generated Shamir seal with its shares.
#[non_exhaustive]
pub struct NewShamirSeal {
    /// The seal, holding the new key-encryption key.
    pub seal: ShamirSeal,
    /// The shares of the key-encryption key, one per key holder (shown once).
    pub shares: Vec<Share>,
    /// Their digests, to store with the seal configuration.
    pub digests: ShareDigests,
}

impl std::fmt::Debug for NewShamirSeal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewShamirSeal")
            .field("shares", &self.shares.len())
            .finish_non_exhaustive()
    }
}

impl ShamirSeal {
    /// The length of the key-encryption key (and so of every share, plus one).
    pub const KEY_LEN: usize = 32;
    const AAD: &'static [u8] = b"strongroom/seal/shamir";

    /// A new random key-encryption key split into `shares` shares with threshold `threshold`.
    ///
    /// # Errors
    ///
    /// [`SealError::InvalidSplit`], [`SealError::Random`].
    pub fn generate(shares: usize, threshold: usize) -> Result<NewShamirSeal> {
        let kek = SecretBytes::new(random_bytes(Self::KEY_LEN)?);
        let split_shares = split(kek.expose_secret(), shares, threshold)?;
        let digests = ShareDigests::compute(&split_shares)?;
        Ok(NewShamirSeal {
            seal: Self::from_key(&kek)?,
            shares: split_shares,
            digests,
        })
    }

    /// The seal for a key-encryption key recombined from shares.
    ///
    /// # Errors
    ///
    /// [`SealError::KeySource`] unless the key is 32 bytes.
    pub fn from_key(kek: &SecretBytes) -> Result<Self> {
        Ok(Self {
            key: LocalKey::new(kek.expose_secret(), Self::AAD)?,
        })
    }

    /// [`Seal::unwrap`] without the async: the Shamir seal never waits, so an unseal verifier
    /// ("do these shares open the stored root key?") can call this directly.
    ///
    /// # Errors
    ///
    /// As [`Seal::unwrap`].
    pub fn open(&self, wrapped: &WrappedKey) -> Result<SecretBytes> {
        self.key.unwrap(wrapped)
    }

    /// [`Seal::wrap`] without the async.
    ///
    /// # Errors
    ///
    /// As [`Seal::wrap`].
    pub fn close(&self, root: &SecretBytes) -> Result<WrappedKey> {
        self.key.wrap(root)
    }
}

#[async_trait]
impl Seal for ShamirSeal {
    fn kind(&self) -> &'static str {
        "shamir"
    }

    fn needs_shares(&self) -> bool {
        true
    }

    async fn wrap(&self, root: &SecretBytes) -> Result<WrappedKey> {
        self.key.wrap(root)
    }

    async fn unwrap(&self, wrapped: &WrappedKey) -> Result<SecretBytes> {
        self.key.unwrap(wrapped)
    }
}

/// A seal whose key comes from a file or an environment variable: auto-unseal without a key
/// service. **For development and tests**: whoever can read the key file or the process
/// environment can unseal the vault.
///
/// The key is 32 bytes, given as 64 hex digits, as standard base64, or (files only) raw.
pub struct StaticKeySeal {
    key: LocalKey,
}

impl std::fmt::Debug for StaticKeySeal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StaticKeySeal([REDACTED])")
    }
}

impl StaticKeySeal {
    const AAD: &'static [u8] = b"strongroom/seal/static";

    /// From the key's bytes.
    ///
    /// # Errors
    ///
    /// [`SealError::KeySource`] unless the key is 32 bytes.
    pub fn from_bytes(key: &[u8]) -> Result<Self> {
        Ok(Self {
            key: LocalKey::new(key, Self::AAD)?,
        })
    }

    /// From a key written as 64 hex digits or standard base64.
    ///
    /// # Errors
    ///
    /// [`SealError::KeySource`] for anything else (the message never contains the text).
    pub fn from_text(text: &str) -> Result<Self> {
        let text = text.trim();
        let mut bytes = if text.len() == 64 {
            base16ct::mixed::decode_vec(text)
                .map_err(|_| SealError::KeySource("64 characters, but not hex".into()))?
        } else {
            Base64::decode_vec(text).map_err(|_| {
                SealError::KeySource("expected 64 hex digits or base64 of 32 bytes".into())
            })?
        };
        let seal = Self::from_bytes(&bytes);
        bytes.zeroize();
        seal
    }

    /// From the environment variable `name`.
    ///
    /// # Errors
    ///
    /// [`SealError::KeySource`] when it is unset or not a key.
    pub fn from_env(name: &str) -> Result<Self> {
        let mut text = std::env::var(name)
            .map_err(|_| SealError::KeySource(format!("environment variable {name} is not set")))?;
        let seal = Self::from_text(&text);
        text.zeroize();
        seal
    }

    /// From a file holding the key as 32 raw bytes, 64 hex digits, or base64.
    ///
    /// # Errors
    ///
    /// [`SealError::KeySource`] when it cannot be read or is not a key.
    pub fn from_file(path: &Path) -> Result<Self> {
        let mut bytes = std::fs::read(path)
            .map_err(|e| SealError::KeySource(format!("{}: {e}", path.display())))?;
        let seal = if bytes.len() == 32 {
            Self::from_bytes(&bytes)
        } else {
            match std::str::from_utf8(&bytes) {
                Ok(text) => Self::from_text(text),
                Err(_) => Err(SealError::KeySource(format!(
                    "{}: neither 32 raw bytes nor text",
                    path.display()
                ))),
            }
        };
        bytes.zeroize();
        seal
    }
}

#[async_trait]
impl Seal for StaticKeySeal {
    fn kind(&self) -> &'static str {
        "static"
    }

    fn needs_shares(&self) -> bool {
        false
    }

    async fn wrap(&self, root: &SecretBytes) -> Result<WrappedKey> {
        self.key.wrap(root)
    }

    async fn unwrap(&self, wrapped: &WrappedKey) -> Result<SecretBytes> {
        self.key.unwrap(wrapped)
    }
}
