//! A named transit key: its settings, its versions, and every cryptographic operation on it.
//!
//! Formats, as Vault's transit writes them: ciphertext `vault:v<N>:<base64(nonce ‖ ciphertext ‖
//! tag)>` (12-byte nonce, 16-byte tag), signatures and HMACs `vault:v<N>:<base64>` (base64url
//! without padding for `marshaling_algorithm=jws`). Derived keys are
//! `HKDF-SHA256(ikm = version key, salt = none, info = context)`. Convergent encryption takes its
//! nonce from `HMAC-SHA256(derived key, "strongroom-transit-convergent-v1" ‖ len(aad) as u64 BE ‖
//! aad ‖ plaintext)[..12]`:
//! the same plaintext under the same context always gives the same ciphertext (that equality is
//! what convergent encryption is for, and all it reveals), and distinct plaintexts get distinct
//! nonces, so a nonce is never reused with different data.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64ct::{Base64, Encoding};
use ring::rand::{SecureRandom, SystemRandom};
use ring::{aead, digest, hkdf, hmac, signature};
use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::error::{Result, TransitError};

/// The key types transit offers. RSA is not offered: `ring` cannot generate RSA keys, and a
/// second crypto library for one key type is not worth its weight here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum KeyType {
    /// AES-256 in GCM mode with a 96-bit nonce (the default).
    #[serde(rename = "aes256-gcm96")]
    Aes256Gcm96,
    /// AES-128 in GCM mode with a 96-bit nonce.
    #[serde(rename = "aes128-gcm96")]
    Aes128Gcm96,
    /// ChaCha20-Poly1305.
    #[serde(rename = "chacha20-poly1305")]
    Chacha20Poly1305,
    /// Ed25519 signatures.
    #[serde(rename = "ed25519")]
    Ed25519,
    /// ECDSA on P-256 with SHA-256.
    #[serde(rename = "ecdsa-p256")]
    EcdsaP256,
    /// ECDSA on P-384 with SHA-384.
    #[serde(rename = "ecdsa-p384")]
    EcdsaP384,
    /// An HMAC key (HMAC only).
    #[serde(rename = "hmac")]
    Hmac,
}

impl KeyType {
    /// Parses Vault's name for a key type.
    ///
    /// # Errors
    ///
    /// [`TransitError::Invalid`] for an unknown or unsupported type.
    pub fn parse(name: &str) -> Result<Self> {
        Ok(match name {
            "aes256-gcm96" => Self::Aes256Gcm96,
            "aes128-gcm96" => Self::Aes128Gcm96,
            "chacha20-poly1305" => Self::Chacha20Poly1305,
            "ed25519" => Self::Ed25519,
            "ecdsa-p256" => Self::EcdsaP256,
            "ecdsa-p384" => Self::EcdsaP384,
            "hmac" => Self::Hmac,
            "rsa-2048" | "rsa-3072" | "rsa-4096" => {
                return Err(TransitError::Invalid(format!(
                    "key type {name} is not supported by Strongroom (no RSA key generation); \
                     use ed25519 or ecdsa-p256 for signatures"
                )));
            }
            other => return Err(TransitError::Invalid(format!("unknown key type {other}"))),
        })
    }

    /// Vault's name for the type.
    pub fn name(self) -> &'static str {
        match self {
            Self::Aes256Gcm96 => "aes256-gcm96",
            Self::Aes128Gcm96 => "aes128-gcm96",
            Self::Chacha20Poly1305 => "chacha20-poly1305",
            Self::Ed25519 => "ed25519",
            Self::EcdsaP256 => "ecdsa-p256",
            Self::EcdsaP384 => "ecdsa-p384",
            Self::Hmac => "hmac",
        }
    }

    /// Whether the type encrypts.
    pub fn encrypts(self) -> bool {
        self.aead().is_some()
    }

    /// Whether the type signs.
    pub fn signs(self) -> bool {
        matches!(self, Self::Ed25519 | Self::EcdsaP256 | Self::EcdsaP384)
    }

    fn aead(self) -> Option<&'static aead::Algorithm> {
        match self {
            Self::Aes256Gcm96 => Some(&aead::AES_256_GCM),
            Self::Aes128Gcm96 => Some(&aead::AES_128_GCM),
            Self::Chacha20Poly1305 => Some(&aead::CHACHA20_POLY1305),
            _ => None,
        }
    }

    /// Whether keys of this type may be derived per context (symmetric encryption and
    /// Ed25519, as in Vault).
    pub fn derivable(self) -> bool {
        self.encrypts() || self == Self::Ed25519
    }
}

/// The secret material of one key version. Zeroed when dropped; `Debug` shows no bytes.
#[derive(Clone, Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
pub(crate) struct Version {
    /// The version number.
    #[zeroize(skip)]
    pub(crate) version: u32,
    /// Creation time, Unix seconds.
    #[zeroize(skip)]
    pub(crate) created: u64,
    /// The AEAD key, the Ed25519 seed, the ECDSA PKCS#8 document, or the HMAC key.
    #[serde(with = "b64")]
    pub(crate) key: Vec<u8>,
    /// The version's HMAC key (every key type can compute HMACs, as in Vault).
    #[serde(with = "b64")]
    pub(crate) hmac_key: Vec<u8>,
    /// The AEAD key, expanded once on first use (non-derived keys only).
    #[serde(skip)]
    #[zeroize(skip)]
    pub(crate) aead: OnceLock<aead::LessSafeKey>,
    /// The parsed signing key pair(s), once on first use (non-derived keys only).
    #[serde(skip)]
    #[zeroize(skip)]
    pub(crate) signer: OnceLock<Arc<Signer>>,
}

/// A version's signing key, parsed once: parsing costs as much as a signature (it checks the
/// key pair with a scalar multiplication).
pub(crate) enum Signer {
    Ed25519(signature::Ed25519KeyPair),
    Ecdsa {
        asn1: Box<signature::EcdsaKeyPair>,
        fixed: Box<signature::EcdsaKeyPair>,
    },
}

impl Signer {
    fn new(key_type: KeyType, material: &[u8]) -> Result<Self> {
        let rng = SystemRandom::new();
        match key_type {
            KeyType::Ed25519 => Ok(Self::Ed25519(
                signature::Ed25519KeyPair::from_seed_unchecked(material)
                    .map_err(|_| TransitError::Internal("the Ed25519 seed is unusable".into()))?,
            )),
            KeyType::EcdsaP256 | KeyType::EcdsaP384 => {
                let parse = |fixed| {
                    signature::EcdsaKeyPair::from_pkcs8(ecdsa_alg(key_type, fixed)?, material, &rng)
                        .map_err(|_| TransitError::Internal("the ECDSA key is unusable".into()))
                };
                Ok(Self::Ecdsa {
                    asn1: Box::new(parse(false)?),
                    fixed: Box::new(parse(true)?),
                })
            }
            other => Err(TransitError::Invalid(format!(
                "key type {} does not support signing",
                other.name()
            ))),
        }
    }

    fn sign(&self, input: &[u8], marshaling: Marshaling) -> Result<Vec<u8>> {
        match self {
            Self::Ed25519(pair) => Ok(pair.sign(input).as_ref().to_vec()),
            Self::Ecdsa { asn1, fixed } => {
                let pair = if marshaling == Marshaling::Jws {
                    fixed
                } else {
                    asn1
                };
                Ok(pair
                    .sign(&SystemRandom::new(), input)
                    .map_err(|_| TransitError::Internal("signing failed".into()))?
                    .as_ref()
                    .to_vec())
            }
        }
    }

    fn public_key(&self) -> Vec<u8> {
        use signature::KeyPair as _;
        match self {
            Self::Ed25519(pair) => pair.public_key().as_ref().to_vec(),
            Self::Ecdsa { asn1, .. } => asn1.public_key().as_ref().to_vec(),
        }
    }
}

impl Version {
    /// The expanded AEAD key of this version.
    fn aead_key(&self, alg: &'static aead::Algorithm) -> Result<&aead::LessSafeKey> {
        if let Some(key) = self.aead.get() {
            return Ok(key);
        }
        let key = less_safe_key(alg, &self.key)?;
        // A racing thread may have set it first: both hold the same key.
        let _ = self.aead.set(key);
        self.aead
            .get()
            .ok_or_else(|| TransitError::Internal("the key cache is empty".into()))
    }

    /// The parsed signing key of this version.
    fn signer(&self, key_type: KeyType) -> Result<Arc<Signer>> {
        if let Some(signer) = self.signer.get() {
            return Ok(Arc::clone(signer));
        }
        let signer = Arc::new(Signer::new(key_type, &self.key)?);
        let _ = self.signer.set(Arc::clone(&signer));
        Ok(signer)
    }
}

impl std::fmt::Debug for Version {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Version")
            .field("version", &self.version)
            .field("created", &self.created)
            .finish_non_exhaustive()
    }
}

/// Base64 (de)serialisation for key bytes, constant-time.
mod b64 {
    use base64ct::{Base64, Encoding};
    use serde::{Deserialize, Deserializer, Serializer};
    use zeroize::Zeroizing;

    pub(crate) fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&Zeroizing::new(Base64::encode_string(bytes)))
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = Zeroizing::new(String::deserialize(d)?);
        Base64::decode_vec(&text).map_err(|_| serde::de::Error::custom("key bytes are not base64"))
    }
}

/// A key's settings: everything but the key material.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct KeyConfig {
    /// A random id, new for every created or restored key (caches key on it).
    pub id: String,
    /// The key's name.
    pub name: String,
    /// The key type.
    #[serde(rename = "type")]
    pub key_type: KeyType,
    /// Per-context keys derived with HKDF; every operation then needs a `context`.
    pub derived: bool,
    /// Deterministic encryption (needs `derived`).
    pub convergent_encryption: bool,
    /// Whether the key material may be exported.
    pub exportable: bool,
    /// Whether a plaintext backup may be taken.
    pub allow_plaintext_backup: bool,
    /// Whether the key may be deleted.
    pub deletion_allowed: bool,
    /// The newest version.
    pub latest_version: u32,
    /// Versions below this were trimmed away.
    pub min_available_version: u32,
    /// Ciphertexts of older versions are refused.
    pub min_decryption_version: u32,
    /// Encryption uses this version or newer (0: the latest).
    pub min_encryption_version: u32,
    /// Rotate automatically after this many seconds (0: never).
    pub auto_rotate_period: u64,
    /// When the latest version was made (Unix seconds; 0 in keys stored before it was kept).
    #[serde(default)]
    pub latest_created: u64,
    /// Where the transit engine keeps the versions: 0 under the key's name (keys stored before
    /// restores were staged), 1 under the key's id, so a key's material can be written in full
    /// before one compare-and-swap of the settings makes it the key.
    #[serde(default)]
    pub(crate) layout: u32,
}

/// What a new key looks like.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct KeyOptions {
    /// The key type (default aes256-gcm96).
    pub key_type: KeyType,
    /// Derive per-context keys.
    pub derived: bool,
    /// Convergent encryption (needs `derived`).
    pub convergent_encryption: bool,
    /// Allow export.
    pub exportable: bool,
    /// Allow plaintext backup.
    pub allow_plaintext_backup: bool,
    /// Automatic rotation period in seconds (0: none; otherwise at least an hour).
    pub auto_rotate_period: u64,
}

impl Default for KeyOptions {
    fn default() -> Self {
        Self {
            key_type: KeyType::Aes256Gcm96,
            derived: false,
            convergent_encryption: false,
            exportable: false,
            allow_plaintext_backup: false,
            auto_rotate_period: 0,
        }
    }
}

impl KeyOptions {
    /// Options for a key of `key_type`, everything else default.
    pub fn new(key_type: KeyType) -> Self {
        Self {
            key_type,
            ..Self::default()
        }
    }
}

/// The shortest automatic rotation period Vault accepts: one hour.
pub const MIN_AUTO_ROTATE_PERIOD: u64 = 3600;

/// The most versions one key may have (far beyond any sane rotation schedule).
pub const MAX_VERSIONS: u32 = 1_000_000;

fn rng_fill(out: &mut [u8]) -> Result<()> {
    SystemRandom::new()
        .fill(out)
        .map_err(|_| TransitError::Internal("the system random source failed".into()))
}

/// `len` random bytes.
pub(crate) fn random_bytes(len: usize) -> Result<Zeroizing<Vec<u8>>> {
    let mut out = Zeroizing::new(vec![0; len]);
    rng_fill(&mut out)?;
    Ok(out)
}

pub(crate) fn random_id() -> Result<String> {
    let bytes = random_bytes(16)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Generates the material of a new version.
pub(crate) fn new_version(key_type: KeyType, version: u32, created: u64) -> Result<Version> {
    let key = match key_type {
        KeyType::Aes256Gcm96 | KeyType::Chacha20Poly1305 | KeyType::Ed25519 | KeyType::Hmac => {
            random_bytes(32)?
        }
        KeyType::Aes128Gcm96 => random_bytes(16)?,
        KeyType::EcdsaP256 | KeyType::EcdsaP384 => {
            let document = signature::EcdsaKeyPair::generate_pkcs8(
                ecdsa_alg(key_type, false)?,
                &SystemRandom::new(),
            )
            .map_err(|_| TransitError::Internal("generating an ECDSA key failed".into()))?;
            Zeroizing::new(document.as_ref().to_vec())
        }
    };
    Ok(Version {
        version,
        created,
        key: key.to_vec(),
        hmac_key: random_bytes(32)?.to_vec(),
        aead: OnceLock::new(),
        signer: OnceLock::new(),
    })
}

fn less_safe_key(alg: &'static aead::Algorithm, key: &[u8]) -> Result<aead::LessSafeKey> {
    Ok(aead::LessSafeKey::new(
        aead::UnboundKey::new(alg, key)
            .map_err(|_| TransitError::Internal("the key has the wrong length".into()))?,
    ))
}

/// Where random nonces come from: a random 96-bit starting point chosen once per process,
/// plus a process-wide counter. Within a process no nonce repeats (for 2^64 encryptions); two
/// processes sharing a key collide only if their random starting points fall within as many
/// encryptions of each other — far less likely than the birthday bound of fully random nonces —
/// and an encryption costs no system call.
struct NonceSource {
    start: u128,
    counter: AtomicU64,
}

static NONCES: OnceLock<NonceSource> = OnceLock::new();

fn next_nonce() -> Result<[u8; aead::NONCE_LEN]> {
    let source = match NONCES.get() {
        Some(source) => source,
        None => {
            let mut start = [0_u8; 16];
            rng_fill(start.get_mut(4..).unwrap_or_default())?;
            let _ = NONCES.set(NonceSource {
                start: u128::from_be_bytes(start),
                counter: AtomicU64::new(0),
            });
            NONCES
                .get()
                .ok_or_else(|| TransitError::Internal("no nonce source".into()))?
        }
    };
    let n = source.counter.fetch_add(1, Ordering::Relaxed);
    let value = source.start.wrapping_add(u128::from(n)) & ((1_u128 << 96) - 1);
    let mut nonce = [0_u8; aead::NONCE_LEN];
    nonce.copy_from_slice(value.to_be_bytes().get(4..).unwrap_or(&[0; 12]));
    Ok(nonce)
}

fn ecdsa_alg(key_type: KeyType, fixed: bool) -> Result<&'static signature::EcdsaSigningAlgorithm> {
    Ok(match (key_type, fixed) {
        (KeyType::EcdsaP256, false) => &signature::ECDSA_P256_SHA256_ASN1_SIGNING,
        (KeyType::EcdsaP256, true) => &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
        (KeyType::EcdsaP384, false) => &signature::ECDSA_P384_SHA384_ASN1_SIGNING,
        (KeyType::EcdsaP384, true) => &signature::ECDSA_P384_SHA384_FIXED_SIGNING,
        _ => return Err(TransitError::Invalid("not an ECDSA key".into())),
    })
}

/// HKDF output length.
struct Len(usize);

impl hkdf::KeyType for Len {
    fn len(&self) -> usize {
        self.0
    }
}

/// `HKDF-SHA256(ikm, salt = none, info = context)`, `len` bytes.
pub(crate) fn derive(ikm: &[u8], context: &[u8], len: usize) -> Result<Zeroizing<Vec<u8>>> {
    let mut out = Zeroizing::new(vec![0; len]);
    hkdf::Salt::new(hkdf::HKDF_SHA256, &[])
        .extract(ikm)
        .expand(&[context], Len(len))
        .and_then(|okm| okm.fill(&mut out))
        .map_err(|_| TransitError::Internal("key derivation failed".into()))?;
    Ok(out)
}

/// `vault:v<version>:<payload>`.
fn frame(version: u32, payload: &str) -> String {
    format!("vault:v{version}:{payload}")
}

/// Splits `vault:v<N>:<payload>` into the version and the payload.
///
/// # Errors
///
/// [`TransitError::Invalid`] for anything else.
pub fn parse_framed(text: &str) -> Result<(u32, &str)> {
    let bad = || TransitError::Invalid("invalid ciphertext: no prefix".into());
    let rest = text.strip_prefix("vault:v").ok_or_else(bad)?;
    let (version, payload) = rest.split_once(':').ok_or_else(|| {
        TransitError::Invalid("invalid ciphertext: wrong number of fields".into())
    })?;
    if version.is_empty() || !version.bytes().all(|b| b.is_ascii_digit()) || version.len() > 9 {
        return Err(TransitError::Invalid(
            "invalid ciphertext: version number could not be decoded".into(),
        ));
    }
    let version: u32 = version.parse().map_err(|_| {
        TransitError::Invalid("invalid ciphertext: version number could not be decoded".into())
    })?;
    if version == 0 {
        return Err(TransitError::Invalid(
            "invalid ciphertext: version number could not be decoded".into(),
        ));
    }
    Ok((version, payload))
}

/// How a signature is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Marshaling {
    /// DER for ECDSA (Vault's default), standard base64.
    #[default]
    Asn1,
    /// Fixed-size `r ‖ s` for ECDSA, base64url without padding: what a JWS carries.
    Jws,
}

impl Marshaling {
    /// Parses `asn1` or `jws`.
    ///
    /// # Errors
    ///
    /// [`TransitError::Invalid`] otherwise.
    pub fn parse(name: &str) -> Result<Self> {
        match name {
            "asn1" | "" => Ok(Self::Asn1),
            "jws" => Ok(Self::Jws),
            other => Err(TransitError::Invalid(format!(
                "unsupported marshaling algorithm {other}"
            ))),
        }
    }
}

/// The hash functions transit offers for HMAC and `hash` (the SHA-2 family `ring` has).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum HashAlgorithm {
    /// SHA-256.
    Sha256,
    /// SHA-384.
    Sha384,
    /// SHA-512.
    Sha512,
}

impl HashAlgorithm {
    /// Parses Vault's names (`sha2-256`, `sha2-384`, `sha2-512`).
    ///
    /// # Errors
    ///
    /// [`TransitError::Invalid`] for others (`sha1`, `sha2-224` and SHA-3 are not offered).
    pub fn parse(name: &str) -> Result<Self> {
        match name {
            "sha2-256" | "" => Ok(Self::Sha256),
            "sha2-384" => Ok(Self::Sha384),
            "sha2-512" => Ok(Self::Sha512),
            other => Err(TransitError::Invalid(format!(
                "unsupported algorithm {other}"
            ))),
        }
    }

    fn hmac(self) -> hmac::Algorithm {
        match self {
            Self::Sha256 => hmac::HMAC_SHA256,
            Self::Sha384 => hmac::HMAC_SHA384,
            Self::Sha512 => hmac::HMAC_SHA512,
        }
    }

    /// The digest of `input`.
    pub fn digest(self, input: &[u8]) -> Vec<u8> {
        let alg = match self {
            Self::Sha256 => &digest::SHA256,
            Self::Sha384 => &digest::SHA384,
            Self::Sha512 => &digest::SHA512,
        };
        digest::digest(alg, input).as_ref().to_vec()
    }
}

/// A key with the versions an operation needs loaded (all of them in a [`Keyring`]).
///
/// [`Keyring`]: crate::Keyring
#[derive(Debug, Clone)]
pub struct Key {
    pub(crate) config: KeyConfig,
    pub(crate) versions: BTreeMap<u32, Arc<Version>>,
}

impl Key {
    /// A new key named `name` with version 1, created at `now` (Unix seconds).
    ///
    /// # Errors
    ///
    /// [`TransitError::Invalid`] for a bad name or inconsistent options.
    pub fn create(name: &str, options: KeyOptions, now: u64) -> Result<Self> {
        check_name(name)?;
        if options.convergent_encryption && !options.derived {
            return Err(TransitError::Invalid(
                "convergent encryption requires derivation to be enabled".into(),
            ));
        }
        if options.derived && !options.key_type.derivable() {
            return Err(TransitError::Invalid(format!(
                "key derivation is not supported for key type {}",
                options.key_type.name()
            )));
        }
        if options.convergent_encryption && !options.key_type.encrypts() {
            return Err(TransitError::Invalid(
                "convergent encryption not supported for keys that do not support encryption"
                    .into(),
            ));
        }
        check_rotate_period(options.auto_rotate_period)?;
        let version = new_version(options.key_type, 1, now)?;
        Ok(Self {
            config: KeyConfig {
                id: random_id()?,
                name: name.to_owned(),
                key_type: options.key_type,
                derived: options.derived,
                convergent_encryption: options.convergent_encryption,
                exportable: options.exportable,
                allow_plaintext_backup: options.allow_plaintext_backup,
                deletion_allowed: false,
                latest_version: 1,
                latest_created: now,
                min_available_version: 1,
                min_decryption_version: 1,
                min_encryption_version: 0,
                auto_rotate_period: options.auto_rotate_period,
                layout: 1,
            },
            versions: BTreeMap::from([(1, Arc::new(version))]),
        })
    }

    /// The key's settings.
    pub fn config(&self) -> &KeyConfig {
        &self.config
    }

    /// Adds a new version (the latest from now on); returns its number.
    ///
    /// # Errors
    ///
    /// [`TransitError::Invalid`] past [`MAX_VERSIONS`].
    pub fn rotate(&mut self, now: u64) -> Result<u32> {
        let next = self
            .config
            .latest_version
            .checked_add(1)
            .filter(|v| *v <= MAX_VERSIONS)
            .ok_or_else(|| TransitError::Invalid("the key has too many versions".into()))?;
        let version = new_version(self.config.key_type, next, now)?;
        self.versions.insert(next, Arc::new(version));
        self.config.latest_version = next;
        self.config.latest_created = now;
        Ok(next)
    }

    pub(crate) fn version(&self, version: u32) -> Result<&Version> {
        self.versions
            .get(&version)
            .map(AsRef::as_ref)
            .ok_or_else(|| TransitError::Invalid("invalid key version".into()))
    }

    /// The version new ciphertexts, signatures and HMACs use: `requested` (checked against the
    /// minimum encryption version) or the latest.
    pub(crate) fn write_version(&self, requested: Option<u32>) -> Result<u32> {
        let config = &self.config;
        match requested.filter(|v| *v != 0) {
            None => Ok(config.latest_version),
            Some(v) if v > config.latest_version => Err(TransitError::Invalid(
                "requested version for encryption is higher than the latest key version".into(),
            )),
            Some(v) if v < config.min_encryption_version || v < config.min_available_version => {
                Err(TransitError::Invalid(
                    "cannot encrypt with a version below the minimum encryption version".into(),
                ))
            }
            Some(v) => Ok(v),
        }
    }

    /// Checks that a ciphertext's `version` may still be read.
    pub(crate) fn readable(&self, version: u32) -> Result<()> {
        if version > self.config.latest_version {
            return Err(TransitError::Invalid("invalid key version".into()));
        }
        if version < self.config.min_decryption_version
            || version < self.config.min_available_version
        {
            return Err(TransitError::Invalid(
                "ciphertext or signature version is disallowed by policy (too old)".into(),
            ));
        }
        Ok(())
    }

    /// The key bytes for `version`, derived for `context` when the key is derived.
    fn working_key(&self, version: u32, context: Option<&[u8]>) -> Result<Zeroizing<Vec<u8>>> {
        let material = self.version(version)?;
        if !self.config.derived {
            return Ok(Zeroizing::new(material.key.clone()));
        }
        let context = context.filter(|c| !c.is_empty()).ok_or_else(|| {
            TransitError::Invalid("missing 'context' for key derivation; the key was created using a derived key, which means additional, per-request information must be included in order to perform operations with the key".into())
        })?;
        derive(&material.key, context, material.key.len())
    }

    /// Encrypts `plaintext` with `version` (default the latest): `vault:v<N>:...`.
    ///
    /// # Errors
    ///
    /// [`TransitError::Invalid`] for a key that does not encrypt, a missing context on a
    /// derived key, a version out of range.
    pub fn encrypt(
        &self,
        plaintext: &[u8],
        context: Option<&[u8]>,
        associated_data: &[u8],
        version: Option<u32>,
    ) -> Result<String> {
        let alg = self.config.key_type.aead().ok_or_else(|| {
            TransitError::Invalid(format!(
                "message encryption not supported for key type {}",
                self.config.key_type.name()
            ))
        })?;
        let version = self.write_version(version)?;
        let sealed = if self.config.derived {
            let key = self.working_key(version, context)?;
            let nonce = if self.config.convergent_encryption {
                // The associated data is part of the nonce's input (length-prefixed): the same
                // plaintext under two different AADs must not share a nonce.
                let aad_len = u64::try_from(associated_data.len()).unwrap_or(u64::MAX);
                let mac = hmac::sign(
                    &hmac::Key::new(hmac::HMAC_SHA256, &key),
                    &[
                        CONVERGENT_LABEL,
                        &aad_len.to_be_bytes(),
                        associated_data,
                        plaintext,
                    ]
                    .concat(),
                );
                let mut nonce = [0_u8; aead::NONCE_LEN];
                nonce.copy_from_slice(mac.as_ref().get(..aead::NONCE_LEN).unwrap_or(&[0; 12]));
                nonce
            } else {
                next_nonce()?
            };
            seal(
                &less_safe_key(alg, &key)?,
                nonce,
                associated_data,
                plaintext,
            )?
        } else {
            let key = self.version(version)?.aead_key(alg)?;
            seal(key, next_nonce()?, associated_data, plaintext)?
        };
        // Ciphertext is not secret: the fast (not constant-time) codec frames it, straight into
        // the output string.
        let mut out = String::with_capacity(16 + sealed.len().div_ceil(3) * 4);
        out.push_str("vault:v");
        out.push_str(&version.to_string());
        out.push(':');
        STANDARD.encode_string(&sealed, &mut out);
        Ok(out)
    }

    /// Decrypts a `vault:v<N>:...` ciphertext.
    ///
    /// # Errors
    ///
    /// [`TransitError::Invalid`] for a malformed ciphertext, a disallowed version, or one that
    /// does not authenticate (wrong key, context, associated data, or tampered).
    pub fn decrypt(
        &self,
        ciphertext: &str,
        context: Option<&[u8]>,
        associated_data: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>> {
        let alg = self.config.key_type.aead().ok_or_else(|| {
            TransitError::Invalid(format!(
                "key type {} does not support decryption",
                self.config.key_type.name()
            ))
        })?;
        let (version, payload) = parse_framed(ciphertext)?;
        self.readable(version)?;
        let bytes = STANDARD.decode(payload).map_err(|_| {
            TransitError::Invalid("invalid ciphertext: could not decode base64".into())
        })?;
        if self.config.derived {
            let key = self.working_key(version, context)?;
            open(&less_safe_key(alg, &key)?, bytes, associated_data)
        } else {
            open(
                self.version(version)?.aead_key(alg)?,
                bytes,
                associated_data,
            )
        }
    }

    /// Signs `input` (not pre-hashed) with `version` (default the latest).
    ///
    /// # Errors
    ///
    /// [`TransitError::Invalid`] for a key that does not sign, or a version out of range.
    pub fn sign(
        &self,
        input: &[u8],
        context: Option<&[u8]>,
        marshaling: Marshaling,
        version: Option<u32>,
    ) -> Result<String> {
        let version = self.write_version(version)?;
        if !self.config.key_type.signs() {
            return Err(TransitError::Invalid(format!(
                "key type {} does not support signing",
                self.config.key_type.name()
            )));
        }
        let bytes = if self.config.derived {
            let seed = self.working_key(version, context)?;
            Signer::new(self.config.key_type, &seed)?.sign(input, marshaling)?
        } else {
            self.version(version)?
                .signer(self.config.key_type)?
                .sign(input, marshaling)?
        };
        Ok(frame(version, &encode_sig(&bytes, marshaling)))
    }

    /// Verifies a `vault:v<N>:...` signature over `input`.
    ///
    /// # Errors
    ///
    /// [`TransitError::Invalid`] for a key that does not sign, a malformed signature or a
    /// disallowed version. A signature that does not verify is `Ok(false)`.
    pub fn verify(
        &self,
        input: &[u8],
        signature_text: &str,
        context: Option<&[u8]>,
        marshaling: Marshaling,
    ) -> Result<bool> {
        if !self.config.key_type.signs() {
            return Err(TransitError::Invalid(format!(
                "key type {} does not support verification",
                self.config.key_type.name()
            )));
        }
        let (version, payload) = parse_framed(signature_text)?;
        self.readable(version)?;
        let Some(sig) = decode_sig(payload, marshaling) else {
            return Err(TransitError::Invalid(
                "invalid signature: could not decode base64".into(),
            ));
        };
        let public = self.public_key_bytes(version, context)?;
        let alg: &dyn signature::VerificationAlgorithm = match (self.config.key_type, marshaling) {
            (KeyType::Ed25519, _) => &signature::ED25519,
            (KeyType::EcdsaP256, Marshaling::Asn1) => &signature::ECDSA_P256_SHA256_ASN1,
            (KeyType::EcdsaP256, Marshaling::Jws) => &signature::ECDSA_P256_SHA256_FIXED,
            (KeyType::EcdsaP384, Marshaling::Asn1) => &signature::ECDSA_P384_SHA384_ASN1,
            (KeyType::EcdsaP384, Marshaling::Jws) => &signature::ECDSA_P384_SHA384_FIXED,
            _ => return Ok(false),
        };
        Ok(signature::UnparsedPublicKey::new(alg, public)
            .verify(input, &sig)
            .is_ok())
    }

    /// The raw public key of `version` (Ed25519: 32 bytes; ECDSA: the uncompressed point).
    pub(crate) fn public_key_bytes(&self, version: u32, context: Option<&[u8]>) -> Result<Vec<u8>> {
        if !self.config.key_type.signs() {
            return Err(TransitError::Invalid("the key has no public key".into()));
        }
        if self.config.derived {
            let seed = self.working_key(version, context)?;
            return Ok(Signer::new(self.config.key_type, &seed)?.public_key());
        }
        Ok(self
            .version(version)?
            .signer(self.config.key_type)?
            .public_key())
    }

    /// The public key as Vault shows it: Ed25519 base64, ECDSA a PEM `PUBLIC KEY`.
    pub(crate) fn public_key(&self, version: u32) -> Result<Option<String>> {
        match self.config.key_type {
            KeyType::Ed25519 if !self.config.derived => Ok(Some(Base64::encode_string(
                &self.public_key_bytes(version, None)?,
            ))),
            KeyType::EcdsaP256 | KeyType::EcdsaP384 => {
                let point = self.public_key_bytes(version, None)?;
                let prefix: &[u8] = if self.config.key_type == KeyType::EcdsaP256 {
                    &P256_SPKI_PREFIX
                } else {
                    &P384_SPKI_PREFIX
                };
                Ok(Some(pem("PUBLIC KEY", &[prefix, &point].concat())))
            }
            _ => Ok(None),
        }
    }

    /// HMAC of `input` with `version`'s HMAC key (the key itself for `hmac` keys).
    ///
    /// # Errors
    ///
    /// [`TransitError::Invalid`] for a version out of range.
    pub fn hmac(
        &self,
        input: &[u8],
        algorithm: HashAlgorithm,
        version: Option<u32>,
    ) -> Result<String> {
        let version = self.write_version(version)?;
        let tag = hmac::sign(&self.hmac_key(version, algorithm)?, input);
        Ok(frame(version, &STANDARD.encode(tag.as_ref())))
    }

    /// Verifies a `vault:v<N>:...` HMAC of `input`, in constant time.
    ///
    /// # Errors
    ///
    /// [`TransitError::Invalid`] for a malformed HMAC or a disallowed version.
    pub fn verify_hmac(&self, input: &[u8], mac: &str, algorithm: HashAlgorithm) -> Result<bool> {
        let (version, payload) = parse_framed(mac)?;
        self.readable(version)?;
        let tag = STANDARD
            .decode(payload)
            .map_err(|_| TransitError::Invalid("invalid HMAC: could not decode base64".into()))?;
        Ok(hmac::verify(&self.hmac_key(version, algorithm)?, input, &tag).is_ok())
    }

    fn hmac_key(&self, version: u32, algorithm: HashAlgorithm) -> Result<hmac::Key> {
        let material = self.version(version)?;
        let bytes = if self.config.key_type == KeyType::Hmac {
            &material.key
        } else {
            &material.hmac_key
        };
        Ok(hmac::Key::new(algorithm.hmac(), bytes))
    }

    /// Re-encrypts a ciphertext with `version` (default the latest).
    ///
    /// # Errors
    ///
    /// As [`decrypt`](Self::decrypt) and [`encrypt`](Self::encrypt).
    pub fn rewrap(
        &self,
        ciphertext: &str,
        context: Option<&[u8]>,
        associated_data: &[u8],
        version: Option<u32>,
    ) -> Result<String> {
        let plaintext = self.decrypt(ciphertext, context, associated_data)?;
        self.encrypt(&plaintext, context, associated_data, version)
    }
}

/// Domain separation for convergent nonces.
const CONVERGENT_LABEL: &[u8] = b"strongroom-transit-convergent-v1";

/// DER prefix of a SubjectPublicKeyInfo for an uncompressed P-256 point.
const P256_SPKI_PREFIX: [u8; 26] = [
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
    0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];

/// DER prefix of a SubjectPublicKeyInfo for an uncompressed P-384 point.
const P384_SPKI_PREFIX: [u8; 23] = [
    0x30, 0x76, 0x30, 0x10, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x05, 0x2b,
    0x81, 0x04, 0x00, 0x22, 0x03, 0x62, 0x00,
];

/// PEM armour, 64 columns.
pub(crate) fn pem(label: &str, der: &[u8]) -> String {
    let b64 = Base64::encode_string(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

fn encode_sig(bytes: &[u8], marshaling: Marshaling) -> String {
    match marshaling {
        Marshaling::Asn1 => STANDARD.encode(bytes),
        Marshaling::Jws => URL_SAFE_NO_PAD.encode(bytes),
    }
}

fn decode_sig(payload: &str, marshaling: Marshaling) -> Option<Vec<u8>> {
    match marshaling {
        Marshaling::Asn1 => STANDARD.decode(payload).ok(),
        Marshaling::Jws => URL_SAFE_NO_PAD.decode(payload).ok(),
    }
}

/// AEAD seal: `nonce ‖ ciphertext ‖ tag`.
pub(crate) fn seal(
    key: &aead::LessSafeKey,
    nonce: [u8; aead::NONCE_LEN],
    associated_data: &[u8],
    plaintext: &[u8],
) -> Result<Vec<u8>> {
    let tag_len = key.algorithm().tag_len();
    let mut out = Vec::with_capacity(aead::NONCE_LEN + plaintext.len() + tag_len);
    out.extend_from_slice(&nonce);
    out.extend_from_slice(plaintext);
    let tag = key
        .seal_in_place_separate_tag(
            aead::Nonce::assume_unique_for_key(nonce),
            aead::Aad::from(associated_data),
            out.get_mut(aead::NONCE_LEN..).unwrap_or_default(),
        )
        .map_err(|_| TransitError::Internal("encryption failed".into()))?;
    out.extend_from_slice(tag.as_ref());
    Ok(out)
}

/// AEAD open of `nonce ‖ ciphertext ‖ tag`, in place: the buffer becomes the plaintext (zeroed
/// when dropped).
fn open(
    key: &aead::LessSafeKey,
    bytes: Vec<u8>,
    associated_data: &[u8],
) -> Result<Zeroizing<Vec<u8>>> {
    let failed = || TransitError::Invalid("cipher: message authentication failed".into());
    // Vault's words: too short for the nonce is a length error, too short for the tag is what
    // Go's GCM answers for any ciphertext that does not open.
    if bytes.len() < aead::NONCE_LEN {
        return Err(TransitError::Invalid("invalid ciphertext length".into()));
    }
    if bytes.len() < aead::NONCE_LEN + key.algorithm().tag_len() {
        return Err(failed());
    }
    let mut buffer = Zeroizing::new(bytes);
    let mut nonce = [0_u8; aead::NONCE_LEN];
    nonce.copy_from_slice(buffer.get(..aead::NONCE_LEN).unwrap_or(&[0; 12]));
    let plain_len = key
        .open_within(
            aead::Nonce::assume_unique_for_key(nonce),
            aead::Aad::from(associated_data),
            &mut buffer,
            aead::NONCE_LEN..,
        )
        .map_err(|_| failed())?
        .len();
    buffer.truncate(plain_len);
    Ok(buffer)
}

/// Key names: letters, digits, `-`, `_`, `.`; 1 to 128 characters.
///
/// # Errors
///
/// [`TransitError::Invalid`] otherwise.
pub fn check_name(name: &str) -> Result<()> {
    if name.is_empty()
        || name.len() > 128
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        || name.starts_with('.')
    {
        return Err(TransitError::Invalid(format!(
            "invalid key name {:?}: 1-128 letters, digits, '-', '_' or '.'",
            name.chars().take(140).collect::<String>()
        )));
    }
    Ok(())
}

/// `auto_rotate_period` is 0 or at least an hour.
pub(crate) fn check_rotate_period(seconds: u64) -> Result<()> {
    if seconds != 0 && seconds < MIN_AUTO_ROTATE_PERIOD {
        return Err(TransitError::Invalid(
            "auto rotate period must be 0 to disable or at least an hour".into(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing,
        reason = "test code"
    )]

    use super::*;
    use proptest::prelude::*;

    /// A key of `key_type` whose versions have fixed material: key bytes 0..len, HMAC key
    /// bytes 32..64 (the vectors below were computed with Python's `cryptography`).
    fn fixed(key_type: KeyType, versions: u32, derived: bool, convergent: bool) -> Key {
        let len: u8 = match key_type {
            KeyType::Aes128Gcm96 => 16,
            _ => 32,
        };
        let mut key = Key::create(
            "k",
            KeyOptions {
                key_type,
                derived,
                convergent_encryption: convergent,
                ..KeyOptions::default()
            },
            0,
        )
        .unwrap();
        key.versions.clear();
        for v in 1..=versions {
            key.versions.insert(
                v,
                Arc::new(Version {
                    version: v,
                    created: 0,
                    key: (0..len).collect(),
                    hmac_key: (32..64).collect(),
                    aead: OnceLock::new(),
                    signer: OnceLock::new(),
                }),
            );
        }
        key.config.latest_version = versions;
        key
    }

    #[test]
    fn known_answers_hkdf_and_framing() {
        let derived = derive(&(0..32).collect::<Vec<u8>>(), b"context-1", 32).unwrap();
        assert_eq!(
            derived
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>(),
            "75b40215cb83b6b3e3209351eabbb9b60cc82f3e2bc4a4ac8617100680f36a58"
        );
        let nonce: [u8; 12] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11];
        let key: Vec<u8> = (0..32).collect();
        for (alg, key, aad, expected) in [
            (
                &aead::AES_256_GCM,
                &key[..],
                &b""[..],
                "vault:v1:AAECAwQFBgcICQoLNHakdKuCsHTiLLf/w4gWHuqiVAfaXXbSSkyQgqa//JtCNA==",
            ),
            (
                &aead::CHACHA20_POLY1305,
                &key[..],
                &b""[..],
                "vault:v1:AAECAwQFBgcICQoL+o96b0dw1y/Y7h+H6nxgEKAEvY88YJun8aMXBhGvzxThSA==",
            ),
            (
                &aead::AES_128_GCM,
                &key[..16],
                &b"aad"[..],
                "vault:v1:AAECAwQFBgcICQoL4BjVoQh8hTskv0H+RMIee9pSkhVxTodpD97FrkT8xJidaQ==",
            ),
        ] {
            let sealed = seal(
                &less_safe_key(alg, key).unwrap(),
                nonce,
                aad,
                b"strongroom transit",
            )
            .unwrap();
            assert_eq!(frame(1, &STANDARD.encode(&sealed)), expected);
        }
        // And the keys decrypt those vectors.
        let aes = fixed(KeyType::Aes128Gcm96, 1, false, false);
        assert_eq!(
            &*aes
                .decrypt(
                    "vault:v1:AAECAwQFBgcICQoL4BjVoQh8hTskv0H+RMIee9pSkhVxTodpD97FrkT8xJidaQ==",
                    None,
                    b"aad"
                )
                .unwrap(),
            b"strongroom transit"
        );
    }

    #[test]
    fn known_answers_convergent_signatures_hmac() {
        let convergent = fixed(KeyType::Aes256Gcm96, 3, true, true);
        let expected = "vault:v3:Vte8kD3qmrbcs4XvULtcnyFQgD2MW0KLwTvdQYfzt+Ezay1Ql66gZZfczkRwrw==";
        assert_eq!(
            convergent
                .encrypt(b"strongroom transit", Some(b"context-1"), b"", None)
                .unwrap(),
            expected
        );
        assert_eq!(
            &*convergent
                .decrypt(expected, Some(b"context-1"), b"")
                .unwrap(),
            b"strongroom transit"
        );
        // Another associated data: another nonce (never the same nonce with different AAD).
        let other = convergent
            .encrypt(b"strongroom transit", Some(b"context-1"), b"aad", None)
            .unwrap();
        assert_ne!(
            parse_framed(&other).unwrap().1.get(..16),
            parse_framed(expected).unwrap().1.get(..16)
        );
        let ed = fixed(KeyType::Ed25519, 1, false, false);
        let sig = "vault:v1:4af8qUqDUSeIW5ni66cz1u5b9dxGPtg4Xrbx3KoRF8DxUXUKEPRvWzeWqRIDV49wLIXGfDNLVomlFihNSZ9xDw==";
        assert_eq!(
            ed.sign(b"hello", None, Marshaling::Asn1, None).unwrap(),
            sig
        );
        assert!(ed.verify(b"hello", sig, None, Marshaling::Asn1).unwrap());
        assert!(!ed.verify(b"hellO", sig, None, Marshaling::Asn1).unwrap());
        assert_eq!(
            ed.public_key(1).unwrap().unwrap(),
            "A6EHv/POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg="
        );
        let aes = fixed(KeyType::Aes256Gcm96, 1, false, false);
        let mac = "vault:v1:GuwHRQLyRjkSoZHKTZPHcFJDZ8iv1Ar4dmzwqWiIvYw=";
        assert_eq!(
            aes.hmac(b"hello", HashAlgorithm::Sha256, None).unwrap(),
            mac
        );
        assert!(
            aes.verify_hmac(b"hello", mac, HashAlgorithm::Sha256)
                .unwrap()
        );
        assert!(
            !aes.verify_hmac(b"hello!", mac, HashAlgorithm::Sha256)
                .unwrap()
        );
        assert_eq!(
            aes.hmac(b"hello", HashAlgorithm::Sha512, None).unwrap(),
            "vault:v1:jg4Ek6NligDGyIHdeWP1f7E8C7/hWIJNPmZ1mE1YMO00xY20zNx+hAhTTC43qSYntBaGRKSza8X3CZXPDF/IhQ=="
        );
    }

    #[test]
    fn every_type_round_trips_and_refuses_what_it_cannot_do() {
        for kind in [
            KeyType::Aes256Gcm96,
            KeyType::Aes128Gcm96,
            KeyType::Chacha20Poly1305,
            KeyType::Ed25519,
            KeyType::EcdsaP256,
            KeyType::EcdsaP384,
            KeyType::Hmac,
        ] {
            let mut key = Key::create("k", KeyOptions::new(kind), 1).unwrap();
            key.rotate(2).unwrap();
            if kind.encrypts() {
                let ct = key.encrypt(b"data", None, b"", Some(1)).unwrap();
                assert!(ct.starts_with("vault:v1:"), "{ct}");
                assert_eq!(&*key.decrypt(&ct, None, b"").unwrap(), b"data");
                let rewrapped = key.rewrap(&ct, None, b"", None).unwrap();
                assert!(rewrapped.starts_with("vault:v2:"));
                assert!(key.sign(b"m", None, Marshaling::Asn1, None).is_err());
            } else {
                assert!(key.encrypt(b"data", None, b"", None).is_err(), "{kind:?}");
            }
            if kind.signs() {
                for marshaling in [Marshaling::Asn1, Marshaling::Jws] {
                    let sig = key.sign(b"m", None, marshaling, None).unwrap();
                    assert!(
                        key.verify(b"m", &sig, None, marshaling).unwrap(),
                        "{kind:?}"
                    );
                    assert!(
                        !key.verify(b"n", &sig, None, marshaling).unwrap(),
                        "{kind:?}"
                    );
                }
                let jws = key.sign(b"m", None, Marshaling::Jws, None).unwrap();
                let payload = parse_framed(&jws).unwrap().1;
                assert!(
                    !payload.contains(['+', '/', '=']),
                    "JWS is base64url: {payload}"
                );
                if kind != KeyType::Ed25519 {
                    let expected = if kind == KeyType::EcdsaP256 { 64 } else { 96 };
                    assert_eq!(URL_SAFE_NO_PAD.decode(payload).unwrap().len(), expected);
                    assert!(
                        key.public_key(2)
                            .unwrap()
                            .unwrap()
                            .starts_with("-----BEGIN PUBLIC KEY-----\n")
                    );
                }
            } else {
                assert!(
                    key.verify(b"m", "vault:v1:AAAA", None, Marshaling::Asn1)
                        .is_err()
                );
            }
            let mac = key.hmac(b"m", HashAlgorithm::Sha384, None).unwrap();
            assert!(key.verify_hmac(b"m", &mac, HashAlgorithm::Sha384).unwrap());
        }
    }

    #[test]
    fn nonces_never_repeat_in_a_process() {
        let mut seen = std::collections::HashSet::new();
        for _ in 0..10_000 {
            assert!(seen.insert(next_nonce().unwrap()));
        }
    }

    #[test]
    fn version_rules() {
        let mut key = Key::create("k", KeyOptions::default(), 0).unwrap();
        let v1 = key.encrypt(b"x", None, b"", None).unwrap();
        key.rotate(1).unwrap();
        key.rotate(2).unwrap();
        assert!(
            key.encrypt(b"x", None, b"", None)
                .unwrap()
                .starts_with("vault:v3:")
        );
        assert!(key.encrypt(b"x", None, b"", Some(4)).is_err());
        key.config.min_encryption_version = 2;
        assert!(key.encrypt(b"x", None, b"", Some(1)).is_err());
        assert!(key.encrypt(b"x", None, b"", Some(2)).is_ok());
        key.config.min_decryption_version = 2;
        let err = key.decrypt(&v1, None, b"").unwrap_err();
        assert!(err.to_string().contains("too old"), "{err}");
        assert!(key.decrypt("vault:v9:AAAA", None, b"").is_err());
    }

    #[test]
    fn derived_keys_need_their_context_and_bind_to_it() {
        let key = Key::create(
            "k",
            KeyOptions {
                derived: true,
                ..KeyOptions::default()
            },
            0,
        )
        .unwrap();
        let err = key.encrypt(b"x", None, b"", None).unwrap_err();
        assert!(err.to_string().contains("missing 'context'"), "{err}");
        let ct = key.encrypt(b"x", Some(b"tenant-a"), b"", None).unwrap();
        assert!(key.decrypt(&ct, Some(b"tenant-b"), b"").is_err());
        assert_eq!(&*key.decrypt(&ct, Some(b"tenant-a"), b"").unwrap(), b"x");
        // Not convergent: the same plaintext encrypts differently each time.
        assert_ne!(ct, key.encrypt(b"x", Some(b"tenant-a"), b"", None).unwrap());
        assert!(
            Key::create(
                "k",
                KeyOptions {
                    convergent_encryption: true,
                    ..KeyOptions::default()
                },
                0
            )
            .is_err(),
            "convergent needs derived"
        );
        assert!(
            Key::create(
                "k",
                KeyOptions {
                    key_type: KeyType::EcdsaP256,
                    derived: true,
                    ..KeyOptions::default()
                },
                0
            )
            .is_err()
        );
    }

    #[test]
    fn bad_ciphertexts_are_clean_errors() {
        let key = Key::create("k", KeyOptions::default(), 0).unwrap();
        let good = key.encrypt(b"secret", None, b"", None).unwrap();
        let mut tampered = good.clone().into_bytes();
        let last = tampered.len() - 3;
        tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
        for bad in [
            "",
            "vault:",
            "vault:v",
            "vault:v1",
            "vault:v0:AAAA",
            "vault:vx:AAAA",
            "vault:v-1:AAAA",
            "vault:v99999999999:AAAA",
            "vault:v1:***",
            "vault:v1:AAAA",
            "vault:v1:",
            "vault:V1:AAAA",
            "notvault:v1:AAAA",
            std::str::from_utf8(&tampered).unwrap(),
        ] {
            let err = key.decrypt(bad, None, b"").unwrap_err();
            assert!(matches!(err, TransitError::Invalid(_)), "{bad}: {err:?}");
            assert!(!err.to_string().contains("secret"));
        }
        for name in ["", ".hidden", "a/b", "a b", &"x".repeat(129), "é"] {
            assert!(check_name(name).is_err(), "{name}");
        }
        assert!(
            KeyType::parse("rsa-2048")
                .unwrap_err()
                .to_string()
                .contains("RSA")
        );
        assert!(check_rotate_period(59 * 60).is_err());
        assert!(check_rotate_period(0).is_ok() && check_rotate_period(3600).is_ok());
    }

    #[test]
    fn debug_shows_no_material() {
        let key = fixed(KeyType::Aes256Gcm96, 1, false, false);
        let debug = format!("{key:?}");
        assert!(!debug.contains("[0, 1, 2"), "{debug}");
        assert!(!debug.contains("AAECAwQF"), "{debug}");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Whatever the plaintext, context and version, decrypt(encrypt(p)) == p, and a
        /// ciphertext never decrypts under another context.
        #[test]
        fn round_trip(
            plaintext in proptest::collection::vec(any::<u8>(), 0..512),
            context in proptest::collection::vec(any::<u8>(), 1..32),
            other in proptest::collection::vec(any::<u8>(), 1..32),
            rotations in 0_u32..4,
            chacha in any::<bool>(),
        ) {
            let kind = if chacha { KeyType::Chacha20Poly1305 } else { KeyType::Aes256Gcm96 };
            let mut key = Key::create("k", KeyOptions { key_type: kind, derived: true, ..KeyOptions::default() }, 0).unwrap();
            for i in 0..rotations {
                key.rotate(u64::from(i)).unwrap();
            }
            let ct = key.encrypt(&plaintext, Some(&context), b"", None).unwrap();
            prop_assert_eq!(&*key.decrypt(&ct, Some(&context), b"").unwrap(), plaintext.as_slice());
            if other != context {
                prop_assert!(key.decrypt(&ct, Some(&other), b"").is_err());
            }
        }

        /// The framing parser never panics and accepts only `vault:v<1..>:`.
        #[test]
        fn framing_parser_total(text in ".{0,64}") {
            if let Ok((version, _)) = parse_framed(&text) {
                prop_assert!(version >= 1);
                let prefix = format!("vault:v{version}:");
                prop_assert!(text.starts_with(&prefix));
            }
        }
    }
}
