//! The keyring: every key term ever installed, the active one, and per-term usage, serialized only
//! to be encrypted under the root key.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ring::aead::{LessSafeKey, NONCE_LEN};
use ring::rand::{SecureRandom, SystemRandom};
use zeroize::{Zeroize, Zeroizing};

use crate::envelope::aead_key;
use crate::{BarrierError, Result, RootKey};

/// The serialized keyring: `"SRKR"`, format version, active term, term count, then per term:
/// term, install time (unix seconds), encryptions reserved, and the 32-byte key. Big-endian.
const MAGIC: &[u8; 4] = b"SRKR";
const FORMAT: u8 = 1;
const TERM_RECORD: usize = 4 + 8 + 8 + 32;

/// One key term: its key, when it was installed, and how many encryptions it has done.
pub(crate) struct TermKey {
    pub(crate) term: u32,
    raw: Box<[u8; 32]>,
    pub(crate) aead: LessSafeKey,
    /// Install time, unix seconds.
    pub(crate) installed: u64,
    /// Encryptions counted before this process loaded the term (the reservation persisted at
    /// load, so a crash can only over-count, never under-count).
    pub(crate) base: u64,
    /// Encryptions this process may do before it must persist a larger reservation: the total
    /// (`base` + `nonces.used`) must stay below it.
    pub(crate) reserved: AtomicU64,
    pub(crate) nonces: NonceSequence,
}

impl Drop for TermKey {
    fn drop(&mut self) {
        // ring's expanded AES key schedule inside `aead` cannot be reached to be cleared; the raw
        // key can.
        self.raw.zeroize();
    }
}

/// Where this process's nonces for one term come from: a random 96-bit starting point drawn once
/// when the term is loaded, then a counter. See the crate docs for why this is safe.
pub(crate) struct NonceSequence {
    prefix: [u8; 4],
    start: u64,
    used: AtomicU64,
}

impl NonceSequence {
    fn new(random: &SystemRandom) -> Result<Self> {
        let mut seed = [0u8; 12];
        random.fill(&mut seed).map_err(|_| BarrierError::Random)?;
        let (prefix, start) = seed.split_at(4);
        Ok(Self {
            prefix: prefix
                .try_into()
                .map_err(|_| BarrierError::Unreachable("split at 4"))?,
            start: u64::from_be_bytes(
                start
                    .try_into()
                    .map_err(|_| BarrierError::Unreachable("split at 4 of 12"))?,
            ),
            used: AtomicU64::new(0),
        })
    }

    /// Claims the next nonce: its index in this sequence (unique per call) and its bytes.
    pub(crate) fn next(&self) -> (u64, [u8; NONCE_LEN]) {
        let n = self.used.fetch_add(1, Ordering::Relaxed);
        let mut nonce = [0u8; NONCE_LEN];
        nonce[..4].copy_from_slice(&self.prefix);
        nonce[4..].copy_from_slice(&self.start.wrapping_add(n).to_be_bytes());
        (n, nonce)
    }

    /// How many nonces this sequence has handed out.
    pub(crate) fn used(&self) -> u64 {
        self.used.load(Ordering::Relaxed)
    }
}

impl TermKey {
    fn new(
        term: u32,
        raw: Box<[u8; 32]>,
        installed: u64,
        base: u64,
        random: &SystemRandom,
    ) -> Result<Self> {
        Ok(Self {
            term,
            aead: aead_key(&raw)?,
            raw,
            installed,
            base,
            reserved: AtomicU64::new(base),
            nonces: NonceSequence::new(random)?,
        })
    }

    /// A fresh random term installed now.
    pub(crate) fn generate(term: u32, random: &SystemRandom) -> Result<Self> {
        let mut raw = Box::new([0u8; 32]);
        random
            .fill(&mut raw[..])
            .map_err(|_| BarrierError::Random)?;
        Self::new(term, raw, unix_now(), 0, random)
    }

    /// Encryptions done under this term, as far as anyone can have done them.
    pub(crate) fn encryptions(&self) -> u64 {
        self.base.saturating_add(self.nonces.used())
    }

    /// When the term was installed.
    pub(crate) fn installed_at(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(self.installed)
    }
}

pub(crate) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Every term, the active one, and the root key that encrypts them all.
pub(crate) struct Keyring {
    pub(crate) root: RootKey,
    pub(crate) active: Arc<TermKey>,
    pub(crate) terms: BTreeMap<u32, Arc<TermKey>>,
}

impl Keyring {
    /// A keyring with one fresh term, 1.
    pub(crate) fn generate(root: RootKey, random: &SystemRandom) -> Result<Self> {
        let first = Arc::new(TermKey::generate(1, random)?);
        Ok(Self {
            root,
            terms: BTreeMap::from([(1, Arc::clone(&first))]),
            active: first,
        })
    }

    /// The same terms with a new active one added.
    pub(crate) fn with_term(&self, term: TermKey) -> Self {
        let term = Arc::new(term);
        let mut terms = self.terms.clone();
        terms.insert(term.term, Arc::clone(&term));
        Self {
            root: self.root.duplicate(),
            active: term,
            terms,
        }
    }

    /// The same terms under another root key.
    pub(crate) fn with_root(&self, root: RootKey) -> Self {
        Self {
            root,
            active: Arc::clone(&self.active),
            terms: self.terms.clone(),
        }
    }

    /// The next term number.
    pub(crate) fn next_term(&self) -> Result<u32> {
        self.terms
            .keys()
            .next_back()
            .copied()
            .unwrap_or(0)
            .checked_add(1)
            .ok_or(BarrierError::TermsExhausted)
    }

    /// Serializes the keyring; `reserve` overrides one term's reservation (it is persisted before
    /// it is used).
    pub(crate) fn encode(&self, reserve: Option<(u32, u64)>) -> Result<Zeroizing<Vec<u8>>> {
        let count = u32::try_from(self.terms.len())
            .map_err(|_| BarrierError::Unreachable("more terms than u32"))?;
        // Room for the envelope too, so that sealing in place never reallocates (which would
        // leave a plaintext copy in freed memory).
        let mut out = Zeroizing::new(Vec::with_capacity(
            4 + 1 + 4 + 4 + self.terms.len() * TERM_RECORD + crate::envelope::OVERHEAD,
        ));
        out.extend_from_slice(MAGIC);
        out.push(FORMAT);
        out.extend_from_slice(&self.active.term.to_be_bytes());
        out.extend_from_slice(&count.to_be_bytes());
        for (term, key) in &self.terms {
            let reserved = match reserve {
                Some((t, r)) if t == *term => r,
                _ => key.reserved.load(Ordering::Acquire),
            };
            out.extend_from_slice(&term.to_be_bytes());
            out.extend_from_slice(&key.installed.to_be_bytes());
            out.extend_from_slice(&reserved.to_be_bytes());
            out.extend_from_slice(&key.raw[..]);
        }
        Ok(out)
    }

    /// Parses a serialized keyring. Every term gets a fresh nonce sequence and counts from its
    /// persisted reservation.
    pub(crate) fn decode(bytes: &[u8], root: RootKey, random: &SystemRandom) -> Result<Self> {
        let mut r = Reader(bytes);
        if r.take::<4>()? != *MAGIC {
            return Err(BarrierError::KeyringCorrupt("bad magic"));
        }
        if r.take::<1>()? != [FORMAT] {
            return Err(BarrierError::KeyringCorrupt("unknown keyring format"));
        }
        let active = u32::from_be_bytes(r.take()?);
        let count = u32::from_be_bytes(r.take()?);
        let expected = usize::try_from(count)
            .ok()
            .and_then(|c| c.checked_mul(TERM_RECORD));
        if expected != Some(r.0.len()) {
            return Err(BarrierError::KeyringCorrupt(
                "length does not match term count",
            ));
        }
        let mut terms = BTreeMap::new();
        for _ in 0..count {
            let term = u32::from_be_bytes(r.take()?);
            let installed = u64::from_be_bytes(r.take()?);
            let reserved = u64::from_be_bytes(r.take()?);
            let mut raw = Box::new([0u8; 32]);
            raw.copy_from_slice(r.slice(32)?);
            if term == 0 {
                return Err(BarrierError::KeyringCorrupt("term 0 is reserved"));
            }
            let key = TermKey::new(term, raw, installed, reserved, random)?;
            if terms.insert(term, Arc::new(key)).is_some() {
                return Err(BarrierError::KeyringCorrupt("duplicate term"));
            }
        }
        let active = terms
            .get(&active)
            .cloned()
            .ok_or(BarrierError::KeyringCorrupt("active term missing"))?;
        Ok(Self {
            root,
            active,
            terms,
        })
    }
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn slice(&mut self, n: usize) -> Result<&'a [u8]> {
        if self.0.len() < n {
            return Err(BarrierError::KeyringCorrupt("truncated"));
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Ok(head)
    }

    fn take<const N: usize>(&mut self) -> Result<[u8; N]> {
        self.slice(N)?
            .try_into()
            .map_err(|_| BarrierError::KeyringCorrupt("truncated"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_decode_round_trip() {
        let random = SystemRandom::new();
        let ring = Keyring::generate(RootKey::generate().unwrap(), &random).unwrap();
        let ring = ring.with_term(TermKey::generate(2, &random).unwrap());
        ring.terms[&1].reserved.store(77, Ordering::Release);
        let bytes = ring.encode(Some((2, 99))).unwrap();
        let back = Keyring::decode(&bytes, RootKey::generate().unwrap(), &random).unwrap();
        assert_eq!(back.active.term, 2);
        assert_eq!(back.terms.len(), 2);
        assert_eq!(back.terms[&1].base, 77);
        assert_eq!(back.terms[&2].base, 99);
        assert_eq!(back.terms[&1].raw, ring.terms[&1].raw);
        assert_eq!(back.next_term().unwrap(), 3);
    }

    #[test]
    fn decode_refuses_every_truncation() {
        let random = SystemRandom::new();
        let ring = Keyring::generate(RootKey::generate().unwrap(), &random).unwrap();
        let bytes = ring.encode(None).unwrap();
        for len in 0..bytes.len() {
            let result = Keyring::decode(&bytes[..len], RootKey::generate().unwrap(), &random);
            assert!(
                matches!(result, Err(BarrierError::KeyringCorrupt(_))),
                "{len}"
            );
        }
        let mut longer = bytes.to_vec();
        longer.push(0);
        assert!(Keyring::decode(&longer, RootKey::generate().unwrap(), &random).is_err());
    }

    #[test]
    fn nonces_are_distinct_within_a_sequence() {
        let seq = NonceSequence::new(&SystemRandom::new()).unwrap();
        let mut seen = std::collections::HashSet::new();
        for i in 0..10_000 {
            let (n, nonce) = seq.next();
            assert_eq!(n, i);
            assert!(seen.insert(nonce));
        }
        assert_eq!(seq.used(), 10_000);
    }
}
