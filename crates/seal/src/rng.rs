//! vsss-rs draws its randomness through `rand_core`; ours comes from ring's `SystemRandom`
//! (the operating system). `rand_core`'s `CryptoRng` must be infallible, so a failure of the OS
//! source is recorded instead of panicking, and the caller discards the output and reports it.

use std::convert::Infallible;

use ring::rand::{SecureRandom, SystemRandom};
use zeroize::Zeroize;

use crate::{Result, SealError};

/// Fills from the OS in blocks of 256 bytes.
pub(crate) struct OsRng {
    source: SystemRandom,
    buffer: [u8; 256],
    used: usize,
    failed: bool,
}

impl OsRng {
    pub(crate) fn new() -> Self {
        Self {
            source: SystemRandom::new(),
            buffer: [0; 256],
            used: 256,
            failed: false,
        }
    }

    /// Whether every byte handed out was real randomness.
    pub(crate) fn check(&self) -> Result<()> {
        if self.failed {
            Err(SealError::Random)
        } else {
            Ok(())
        }
    }
}

impl Drop for OsRng {
    fn drop(&mut self) {
        self.buffer.zeroize();
    }
}

impl rand_core::TryRng for OsRng {
    type Error = Infallible;

    fn try_next_u32(&mut self) -> std::result::Result<u32, Infallible> {
        let mut bytes = [0u8; 4];
        self.try_fill_bytes(&mut bytes)?;
        Ok(u32::from_le_bytes(bytes))
    }

    fn try_next_u64(&mut self) -> std::result::Result<u64, Infallible> {
        let mut bytes = [0u8; 8];
        self.try_fill_bytes(&mut bytes)?;
        Ok(u64::from_le_bytes(bytes))
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> std::result::Result<(), Infallible> {
        for byte in dst {
            if self.used >= self.buffer.len() {
                if self.source.fill(&mut self.buffer).is_err() {
                    self.failed = true;
                    self.buffer.zeroize();
                }
                self.used = 0;
            }
            *byte = self.buffer.get(self.used).copied().unwrap_or(0);
            self.used += 1;
        }
        Ok(())
    }
}

impl rand_core::TryCryptoRng for OsRng {}

/// Fresh random bytes straight from the OS.
pub(crate) fn random_bytes(len: usize) -> Result<Vec<u8>> {
    let mut out = vec![0u8; len];
    SystemRandom::new()
        .fill(&mut out)
        .map_err(|_| SealError::Random)?;
    Ok(out)
}

/// A random UUID (version 4) for an attempt's nonce, as Vault formats its unseal and rekey nonces.
pub(crate) fn uuid() -> Result<String> {
    let mut b = random_bytes(16)?;
    if let [.., six, _, eight, _, _, _, _, _, _, _] = b.as_mut_slice() {
        *six = (*six & 0x0f) | 0x40;
        *eight = (*eight & 0x3f) | 0x80;
    }
    let hex = base16ct::lower::encode_string(&b);
    let part = |range: std::ops::Range<usize>| hex.get(range).unwrap_or_default();
    Ok(format!(
        "{}-{}-{}-{}-{}",
        part(0..8),
        part(8..12),
        part(12..16),
        part(16..20),
        part(20..32)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_core::Rng;

    #[test]
    fn fills_across_blocks() {
        let mut rng = OsRng::new();
        let mut big = [0u8; 1000];
        rng.fill_bytes(&mut big);
        rng.check().unwrap();
        assert!(big.iter().any(|&b| b != 0));
        assert_ne!(rng.next_u64(), rng.next_u64());
    }

    #[test]
    fn uuids_look_like_uuids() {
        let a = uuid().unwrap();
        assert_eq!(a.len(), 36);
        assert_eq!(a.as_bytes()[14], b'4');
        assert!(matches!(a.as_bytes()[19], b'8' | b'9' | b'a' | b'b'));
        assert_ne!(a, uuid().unwrap());
    }
}
