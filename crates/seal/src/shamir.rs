//! Shamir's secret sharing over GF(256) (vsss-rs), with our share type and encodings.

use base64ct::{Base64, Encoding};
use vsss_rs::Gf256;
use zeroize::Zeroize;

use crate::rng::OsRng;
use crate::{Result, SealError, SecretBytes, SecretString, ShareProblem};

/// The most shares a key can be split into (x-coordinates 1..=255).
pub const MAX_SHARES: usize = 255;

/// One share of a split key: its x-coordinate (1..=255) and one byte of polynomial value per key
/// byte.
///
/// Encoded as `x || y` (one byte more than the key), in hex or base64. Zeroized on drop; `Debug`
/// shows only the x-coordinate.
pub struct Share {
    x: u8,
    y: SecretBytes,
}

impl std::fmt::Debug for Share {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Share")
            .field("x", &self.x)
            .field("y", &"[REDACTED]")
            .finish()
    }
}

impl Share {
    /// The x-coordinate.
    pub fn x(&self) -> u8 {
        self.x
    }

    /// The length of the key this share belongs to.
    pub fn key_len(&self) -> usize {
        self.y.len()
    }

    /// The share's bytes, `x || y`.
    pub fn to_bytes(&self) -> SecretBytes {
        let mut out = Vec::with_capacity(self.y.len() + 1);
        out.push(self.x);
        out.extend_from_slice(self.y.expose_secret());
        SecretBytes::new(out)
    }

    /// Standard base64 with padding, as Vault's `keys_base64`.
    pub fn to_base64(&self) -> SecretString {
        SecretString::new(Base64::encode_string(self.to_bytes().expose_secret()))
    }

    /// Lower-case hex, as Vault's `keys`.
    pub fn to_hex(&self) -> SecretString {
        SecretString::new(base16ct::lower::encode_string(
            self.to_bytes().expose_secret(),
        ))
    }

    /// A share from its bytes `x || y`, for a key of `key_len` bytes.
    ///
    /// # Errors
    ///
    /// [`SealError::InvalidShare`] for a wrong length or x = 0.
    pub fn from_bytes(bytes: &[u8], key_len: usize) -> Result<Self> {
        let expected = key_len.saturating_add(1);
        if bytes.len() != expected {
            return Err(SealError::InvalidShare(ShareProblem::Length {
                got: bytes.len(),
                expected,
            }));
        }
        let Some((&x, y)) = bytes.split_first() else {
            return Err(SealError::InvalidShare(ShareProblem::Length {
                got: 0,
                expected,
            }));
        };
        if x == 0 {
            return Err(SealError::InvalidShare(ShareProblem::ZeroX));
        }
        Ok(Self {
            x,
            y: SecretBytes::copy_from(y),
        })
    }

    /// Parses a share as typed by a key holder: hex (either case) or standard base64, surrounding
    /// whitespace ignored. Decoding is constant-time in the share's contents. (For a 1-byte key
    /// the two encodings have the same length; a text valid as both is read as hex.)
    ///
    /// # Errors
    ///
    /// [`SealError::InvalidShare`] for a bad encoding, a wrong length or x = 0.
    pub fn parse(text: &str, key_len: usize) -> Result<Self> {
        let text = text.trim();
        let expected = key_len.saturating_add(1);
        // Hex when it has the hex length and decodes as hex; base64 otherwise. (The two lengths
        // only coincide for 1-byte keys.)
        let hex = (text.len() == expected.saturating_mul(2))
            .then(|| base16ct::mixed::decode_vec(text).ok())
            .flatten();
        let mut bytes = match hex {
            Some(bytes) => bytes,
            None => Base64::decode_vec(text)
                .map_err(|_| SealError::InvalidShare(ShareProblem::Encoding))?,
        };
        let share = Self::from_bytes(&bytes, key_len);
        bytes.zeroize();
        share
    }

    pub(crate) fn new(x: u8, y: SecretBytes) -> Self {
        Self { x, y }
    }

    #[cfg(test)]
    pub(crate) fn y(&self) -> &SecretBytes {
        &self.y
    }
}

/// Checks a split's parameters: `1 <= threshold <= shares <= 255`, and threshold 1 only with a
/// single share (a threshold of 1 with several shares would hand out copies of the key, which
/// Vault refuses too).
///
/// # Errors
///
/// [`SealError::InvalidSplit`].
pub fn check_split(shares: usize, threshold: usize) -> Result<()> {
    let ok = (1..=MAX_SHARES).contains(&shares)
        && (1..=shares).contains(&threshold)
        && (threshold > 1 || shares == 1);
    if ok {
        Ok(())
    } else {
        Err(SealError::InvalidSplit { shares, threshold })
    }
}

/// Splits `secret` into `shares` shares, any `threshold` of which recover it.
///
/// # Errors
///
/// [`SealError::InvalidSplit`], [`SealError::EmptySecret`], [`SealError::Random`].
pub fn split(secret: &[u8], shares: usize, threshold: usize) -> Result<Vec<Share>> {
    check_split(shares, threshold)?;
    if secret.is_empty() {
        return Err(SealError::EmptySecret);
    }
    if threshold == 1 {
        // One share, no polynomial: the share is the key itself, at x = 1.
        return Ok(vec![Share::new(1, SecretBytes::copy_from(secret))]);
    }
    let mut rng = OsRng::new();
    let mut raw = Gf256::split_bytes(threshold, shares, secret, &mut rng)
        .map_err(|_| SealError::Unreachable("vsss-rs refused a checked split"))?;
    let checked = rng.check();
    let mut out = Vec::with_capacity(raw.len());
    for bytes in &raw {
        out.push(Share::from_bytes(bytes, secret.len())?);
    }
    for bytes in &mut raw {
        bytes.zeroize();
    }
    checked?;
    Ok(out)
}

/// Recovers the secret from shares of it. With fewer shares than the split's threshold the result
/// is a wrong key, not an error (Shamir cannot tell); callers verify the result.
///
/// # Errors
///
/// [`SealError::NotEnoughShares`] for none, [`SealError::MismatchedShares`] for different
/// lengths or repeated x-coordinates.
pub fn combine(shares: &[Share]) -> Result<SecretBytes> {
    let first = shares
        .first()
        .ok_or(SealError::NotEnoughShares { got: 0, need: 1 })?;
    if shares.iter().any(|s| s.key_len() != first.key_len()) {
        return Err(SealError::MismatchedShares("different lengths"));
    }
    let mut seen = [false; 256];
    for share in shares {
        let slot = seen
            .get_mut(usize::from(share.x))
            .ok_or(SealError::Unreachable("x is a u8"))?;
        if std::mem::replace(slot, true) {
            return Err(SealError::MismatchedShares("repeated x-coordinate"));
        }
    }
    if let [only] = shares {
        return Ok(only.y.duplicate());
    }
    // vsss-rs wants `x || y` vectors: one allocation and one copy per share, zeroized below.
    let mut raw: Vec<Vec<u8>> = shares
        .iter()
        .map(|s| {
            let mut bytes = Vec::with_capacity(s.key_len() + 1);
            bytes.push(s.x);
            bytes.extend_from_slice(s.y.expose_secret());
            bytes
        })
        .collect();
    let result = Gf256::combine_bytes(&raw);
    for bytes in &mut raw {
        bytes.zeroize();
    }
    result
        .map(SecretBytes::new)
        .map_err(|_| SealError::MismatchedShares("vsss-rs refused to combine them"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_parameters() {
        for (n, t) in [(1, 1), (2, 2), (5, 3), (255, 255), (255, 2)] {
            assert!(check_split(n, t).is_ok(), "{n}/{t}");
        }
        for (n, t) in [(0, 0), (1, 0), (3, 1), (2, 3), (256, 2), (256, 256)] {
            assert!(
                matches!(check_split(n, t), Err(SealError::InvalidSplit { .. })),
                "{n}/{t}"
            );
        }
        assert!(matches!(split(&[], 3, 2), Err(SealError::EmptySecret)));
    }

    #[test]
    fn threshold_one_is_the_key() {
        let shares = split(b"0123456789abcdef0123456789abcdef", 1, 1).unwrap();
        assert_eq!(shares.len(), 1);
        assert_eq!(shares[0].x(), 1);
        assert_eq!(
            combine(&shares).unwrap().expose_secret(),
            b"0123456789abcdef0123456789abcdef"
        );
    }

    #[test]
    fn encodings_round_trip_and_refuse_garbage() {
        let key = [7u8; 32];
        for share in split(&key, 5, 3).unwrap() {
            let hex = share.to_hex();
            let b64 = share.to_base64();
            assert_eq!(hex.expose_secret().len(), 66);
            assert_eq!(b64.expose_secret().len(), 44);
            for text in [hex.expose_secret(), b64.expose_secret()] {
                let back = Share::parse(&format!("  {text}\n"), 32).unwrap();
                assert_eq!(back.x(), share.x());
                assert!(back.y().ct_eq(share.y().expose_secret()));
            }
            let upper = hex.expose_secret().to_uppercase();
            assert_eq!(Share::parse(&upper, 32).unwrap().x(), share.x());
        }
        let bad = |text: &str| Share::parse(text, 32).unwrap_err();
        assert!(matches!(
            bad("not a share"),
            SealError::InvalidShare(ShareProblem::Encoding)
        ));
        assert!(matches!(
            bad(&"zz".repeat(33)),
            SealError::InvalidShare(ShareProblem::Encoding)
        ));
        assert!(matches!(
            bad(&"ab".repeat(20)),
            SealError::InvalidShare(ShareProblem::Length {
                got: 30,
                expected: 33
            })
        ));
        assert!(matches!(
            bad(&format!("00{}", "ab".repeat(32))),
            SealError::InvalidShare(ShareProblem::ZeroX)
        ));
        assert!(matches!(
            Share::from_bytes(&[], 32),
            Err(SealError::InvalidShare(ShareProblem::Length { got: 0, .. }))
        ));
    }

    #[test]
    fn debug_shows_no_share_bytes() {
        let share = Share::from_bytes(&[3, 0xEE, 0xEE], 2).unwrap();
        let shown = format!("{share:?}");
        assert!(shown.contains("x: 3"));
        assert!(!shown.contains("238") && !shown.to_lowercase().contains("ee"));
    }

    #[test]
    fn combine_refuses_mismatches() {
        let a = split(&[1; 32], 3, 2).unwrap();
        let b = split(&[1; 16], 3, 2).unwrap();
        assert!(matches!(
            combine(
                &[a[0].to_bytes(), b[1].to_bytes()].map(|s| Share::from_bytes(
                    s.expose_secret(),
                    s.len() - 1
                )
                .unwrap())
            ),
            Err(SealError::MismatchedShares(_))
        ));
        let dup = [
            Share::from_bytes(a[0].to_bytes().expose_secret(), 32).unwrap(),
            Share::from_bytes(a[0].to_bytes().expose_secret(), 32).unwrap(),
        ];
        assert!(matches!(combine(&dup), Err(SealError::MismatchedShares(_))));
        assert!(matches!(
            combine(&[]),
            Err(SealError::NotEnoughShares { .. })
        ));
    }
}
