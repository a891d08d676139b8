//! Encryption as a service: Vault's `transit` engine, and the same keys in process.
//!
//! - [`Keyring`]: named, versioned, rotatable keys in memory, for embedders who want transit's
//!   formats and rules without a vault (or a network hop).
//! - [`Transit`] / [`factory`]: the engine, mounted by the core at `transit/` (or anywhere),
//!   serving Vault's paths and JSON. Key versions are stored one per entry, so a key with
//!   thousands of versions still rotates and loads in constant time.
//! - [`Key`]: one key and its cryptography — AEAD encryption (AES-GCM, ChaCha20-Poly1305) with
//!   Vault's `vault:v<N>:` framing, HKDF-SHA256 per-context derivation, convergent encryption,
//!   Ed25519 and ECDSA signatures (ASN.1 or JWS marshaling), HMAC.
//!
//! All cryptography is `ring`'s. Key material lives in zeroizing buffers and never appears in
//! `Debug` output or error messages.
#![forbid(unsafe_code)]

mod engine;
mod error;
mod key;
mod keyring;

pub use engine::{MAX_BATCH_ITEMS, Transit, factory};
pub use error::{Result, TransitError};
pub use key::{
    HashAlgorithm, Key, KeyConfig, KeyOptions, KeyType, MAX_VERSIONS, MIN_AUTO_ROTATE_PERIOD,
    Marshaling, check_name, parse_framed,
};
pub use keyring::Keyring;
