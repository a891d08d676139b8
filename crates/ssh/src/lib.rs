//! Vault's SSH secrets engine in CA mode: a mount's certificate authorities (generated or
//! imported), roles, `sign/<role>` and `issue/<role>` answering OpenSSH user and host
//! certificates, and the unauthenticated `public_key` that `sshd`'s `TrustedUserCAKeys` reads.
//!
//! Mount it as engine type `ssh` (the core registers it with the `ssh` feature). Paths and
//! answers are OpenBao 2.7's (checked side by side in `compat/vault-api/fixtures/ssh.json`),
//! including its multi-issuer `config/ca`: every write adds an issuer and makes it the default.
//!
//! # Cryptography
//!
//! Certificates are built and encoded by the RustCrypto `ssh-key` crate's certificate builder;
//! every signature is made by ring (Ed25519, ECDSA P-256/P-384, RSA with SHA-256 or SHA-512).
//! RSA keys are generated with the same code as the PKI engine's (the `rsa` crate for the key,
//! ring for every signature). CA private keys are stored inside the barrier, held in zeroizing
//! buffers and never read back.
//!
//! # Differences from Vault
//!
//! OTP roles, identity templates, `ssh-rsa` (SHA-1) signatures and ECDSA P-521 CA keys (ring
//! has no P-521) are refused with a clear error; RSA and ECDSA CA keys are imported as PEM
//! (OpenSSH-format private keys only for Ed25519).
#![forbid(unsafe_code)]

mod engine;
mod error;
mod keys;

pub use engine::{Ssh, factory};
pub use error::SshError;

/// What the fuzz targets drive: the parser of untrusted OpenSSH public keys.
#[doc(hidden)]
pub mod fuzzing {
    /// Parses a client's public key as `sign/<role>` does.
    ///
    /// # Errors
    ///
    /// The text is not an OpenSSH public key.
    pub fn parse_public_key(text: &str) -> Result<(), String> {
        crate::engine::parse_public_for_fuzzing(text)
    }
}
