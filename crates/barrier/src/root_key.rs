use ring::rand::{SecureRandom, SystemRandom};
use zeroize::Zeroize;

use crate::{BarrierError, Result};

/// The 256-bit key that encrypts the keyring. Whoever holds it can read everything, so the seal
/// protects it (Shamir shares or a key service) and the barrier holds it only while unsealed.
///
/// Heap-allocated, zeroized on drop, never `Clone`, `Debug` shows `[REDACTED]`.
pub struct RootKey(Box<[u8; RootKey::LEN]>);

impl RootKey {
    /// The length of a root key in bytes.
    pub const LEN: usize = 32;

    /// A new random root key from the operating system's random source.
    ///
    /// # Errors
    ///
    /// [`BarrierError::Random`] if the random source fails.
    pub fn generate() -> Result<Self> {
        let mut key = Box::new([0u8; Self::LEN]);
        SystemRandom::new()
            .fill(&mut key[..])
            .map_err(|_| BarrierError::Random)?;
        Ok(Self(key))
    }

    /// A root key from its bytes (for instance as recombined from Shamir shares). The caller
    /// should zeroize its own copy.
    ///
    /// # Errors
    ///
    /// [`BarrierError::RootKeyLength`] unless `bytes` is exactly 32 bytes long.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        if bytes.len() != Self::LEN {
            return Err(BarrierError::RootKeyLength(bytes.len()));
        }
        // Copied straight into its heap home: no stack copy is left behind.
        let mut key = Box::new([0u8; Self::LEN]);
        key.copy_from_slice(bytes);
        Ok(Self(key))
    }

    /// The key's bytes, for splitting into shares or wrapping with a key service. Do not keep
    /// copies.
    pub fn expose_secret(&self) -> &[u8; Self::LEN] {
        &self.0
    }

    /// A second zeroizing copy, for the barrier's own use while unsealed.
    pub(crate) fn duplicate(&self) -> Self {
        let mut key = Box::new([0u8; Self::LEN]);
        key.copy_from_slice(&self.0[..]);
        Self(key)
    }
}

impl Drop for RootKey {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl std::fmt::Debug for RootKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RootKey([REDACTED])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_redacts() {
        let key = RootKey::from_bytes(&[0x99; 32]).unwrap();
        let shown = format!("{key:?} {key:#?}");
        assert_eq!(format!("{key:?}"), "RootKey([REDACTED])");
        assert!(!shown.contains("153") && !shown.contains("99"));
    }

    #[test]
    fn lengths() {
        assert!(RootKey::from_bytes(&[0; 32]).is_ok());
        for len in [0, 16, 31, 33, 64] {
            assert!(matches!(
                RootKey::from_bytes(&vec![0; len]),
                Err(BarrierError::RootKeyLength(l)) if l == len
            ));
        }
    }

    #[test]
    fn generated_keys_differ() {
        let a = RootKey::generate().unwrap();
        let b = RootKey::generate().unwrap();
        assert_ne!(a.expose_secret(), b.expose_secret());
    }
}
