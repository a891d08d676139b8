//! The ciphertext format: `[version: u8][term: u32 BE][nonce: 12][ciphertext || tag: 16]`,
//! AES-256-GCM with the storage key as associated data.

use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};

use zeroize::Zeroize;

use crate::{BarrierError, Result};

/// The only ciphertext version so far.
pub(crate) const VERSION: u8 = 1;
/// Version, term and nonce.
pub(crate) const HEADER_LEN: usize = 1 + 4 + NONCE_LEN;
/// The GCM tag.
pub(crate) const TAG_LEN: usize = 16;
/// What encryption adds to a value: 33 bytes.
pub const OVERHEAD: usize = HEADER_LEN + TAG_LEN;

/// An AES-256-GCM key ready for use.
pub(crate) fn aead_key(raw: &[u8; 32]) -> Result<LessSafeKey> {
    UnboundKey::new(&AES_256_GCM, raw)
        .map(LessSafeKey::new)
        .map_err(|_| BarrierError::Unreachable("a 32-byte key was refused by AES-256-GCM"))
}

/// The version, term and nonce of a stored value, checked before anything is sliced.
pub(crate) fn header(value: &[u8]) -> Result<(u32, [u8; NONCE_LEN])> {
    let Some((&version, rest)) = value.split_first() else {
        return Err(BarrierError::Truncated {
            len: 0,
            min: OVERHEAD,
        });
    };
    if version != VERSION {
        return Err(BarrierError::UnknownVersion { version });
    }
    if value.len() < OVERHEAD {
        return Err(BarrierError::Truncated {
            len: value.len(),
            min: OVERHEAD,
        });
    }
    let (term, rest) = rest
        .split_first_chunk::<4>()
        .ok_or(BarrierError::Unreachable("length checked above"))?;
    let (nonce, _) = rest
        .split_first_chunk::<NONCE_LEN>()
        .ok_or(BarrierError::Unreachable("length checked above"))?;
    Ok((u32::from_be_bytes(*term), *nonce))
}

/// A plaintext to encrypt: borrowed (copied once into the ciphertext buffer) or owned (the
/// caller hands the buffer over, and no plaintext may be left behind in it).
pub(crate) enum Input<'a> {
    /// Borrowed from the caller.
    Borrowed(&'a [u8]),
    /// Handed over by the caller.
    Owned(Vec<u8>),
}

/// Encrypts `input` under `key`, binding it to the storage key `aad`.
///
/// A borrowed plaintext costs one allocation and one copy, as raw AES-GCM into a fresh buffer
/// does. An owned buffer with room for the envelope is encrypted in place (the plaintext is
/// overwritten by ciphertext); one without room is copied like a borrowed one and then zeroized
/// before it is freed.
pub(crate) fn seal(
    key: &LessSafeKey,
    term: u32,
    nonce: [u8; NONCE_LEN],
    aad: &[u8],
    input: Input<'_>,
) -> Result<Vec<u8>> {
    let mut header = [0u8; HEADER_LEN];
    header[0] = VERSION;
    header[1..5].copy_from_slice(&term.to_be_bytes());
    header[5..].copy_from_slice(&nonce);
    let mut out = match input {
        Input::Owned(mut value) if value.capacity() - value.len() >= OVERHEAD => {
            value.splice(0..0, header);
            value
        }
        Input::Owned(mut value) => {
            let out = copied(&header, &value);
            value.zeroize();
            out
        }
        Input::Borrowed(plaintext) => copied(&header, plaintext),
    };
    let body = out
        .get_mut(HEADER_LEN..)
        .ok_or(BarrierError::Unreachable("the header was just written"))?;
    let tag = key
        .seal_in_place_separate_tag(Nonce::assume_unique_for_key(nonce), Aad::from(aad), body)
        .map_err(|_| BarrierError::Unreachable("AES-GCM refused to seal"))?;
    out.extend_from_slice(tag.as_ref());
    Ok(out)
}

/// A buffer sized for the whole envelope, holding the header and a copy of the plaintext.
fn copied(header: &[u8; HEADER_LEN], plaintext: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(plaintext.len() + OVERHEAD);
    out.extend_from_slice(header);
    out.extend_from_slice(plaintext);
    out
}

/// Decrypts a stored value whose header has been read with [`header`], in place.
pub(crate) fn open(
    key: &LessSafeKey,
    nonce: [u8; NONCE_LEN],
    aad: &[u8],
    mut value: Vec<u8>,
) -> Result<Vec<u8>> {
    let plain_len = key
        .open_within(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(aad),
            &mut value,
            HEADER_LEN..,
        )
        .map_err(|_| BarrierError::Tampered)?
        .len();
    value.truncate(plain_len);
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// AES-256-GCM test cases 13 and 14 of McGrew & Viega, "The Galois/Counter Mode of
    /// Operation (GCM)", appendix B (zero key, zero IV, no AAD): checks the primitive we build on.
    #[test]
    fn known_answer_mcgrew_viega_13_14() {
        let key = aead_key(&[0; 32]).unwrap();
        let mut empty = Vec::new();
        let tag = key
            .seal_in_place_separate_tag(
                Nonce::assume_unique_for_key([0; 12]),
                Aad::empty(),
                &mut empty,
            )
            .unwrap();
        assert_eq!(tag.as_ref(), hex("530f8afbc74536b9a963b4f1c4cb738b"));
        let mut block = vec![0u8; 16];
        let tag = key
            .seal_in_place_separate_tag(
                Nonce::assume_unique_for_key([0; 12]),
                Aad::empty(),
                &mut block,
            )
            .unwrap();
        assert_eq!(block, hex("cea7403d4d606b6e074ec5d3baf39d18"));
        assert_eq!(tag.as_ref(), hex("d0d1c8a799996bf0265b98b5d48ab919"));
    }

    /// The layout of our envelope around the same primitive: header bytes, then the GCM output.
    #[test]
    fn envelope_layout() {
        let key = aead_key(&[7; 32]).unwrap();
        let nonce = [9; 12];
        let sealed = seal(&key, 0x0102_0304, nonce, b"a/b", Input::Borrowed(b"hello")).unwrap();
        assert_eq!(sealed.len(), 5 + OVERHEAD);
        assert_eq!(&sealed[..5], &[1, 1, 2, 3, 4]);
        assert_eq!(&sealed[5..17], &nonce);
        let mut raw = b"hello".to_vec();
        let tag = key
            .seal_in_place_separate_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(b"a/b"),
                &mut raw,
            )
            .unwrap();
        assert_eq!(&sealed[17..22], &raw[..]);
        assert_eq!(&sealed[22..], tag.as_ref());
        let (term, n) = header(&sealed).unwrap();
        assert_eq!((term, n), (0x0102_0304, nonce));
        assert_eq!(open(&key, n, b"a/b", sealed.clone()).unwrap(), b"hello");
        // In place, when the buffer has room: same bytes.
        let mut roomy = Vec::with_capacity(64);
        roomy.extend_from_slice(b"hello");
        let in_place = seal(&key, 0x0102_0304, nonce, b"a/b", Input::Owned(roomy)).unwrap();
        assert_eq!(in_place, sealed);
        // Owned without room: copied, same bytes.
        let tight = seal(
            &key,
            0x0102_0304,
            nonce,
            b"a/b",
            Input::Owned(b"hello".to_vec()),
        )
        .unwrap();
        assert_eq!(tight, sealed);
    }

    #[test]
    fn header_refuses_short_and_foreign_values() {
        assert!(matches!(
            header(&[]),
            Err(BarrierError::Truncated { len: 0, .. })
        ));
        assert!(matches!(
            header(&[1; 32]),
            Err(BarrierError::Truncated { len: 32, .. })
        ));
        assert!(matches!(
            header(b"{\"plain\":\"json, not ciphertext\"}"),
            Err(BarrierError::UnknownVersion { version: b'{' })
        ));
        assert!(header(&[1; 33]).is_ok());
    }
}
