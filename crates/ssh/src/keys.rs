//! SSH keys: CA and client key generation (Vault's key types and sizes), their OpenSSH and PEM
//! text, and signing through ring.

use ring::rand::SystemRandom;
use ring::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, ECDSA_P384_SHA384_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair,
    RSA_PKCS1_SHA256, RSA_PKCS1_SHA512, RsaKeyPair,
};
use ssh_key::private::{Ed25519Keypair, KeypairData};
use ssh_key::public::{EcdsaPublicKey, Ed25519PublicKey, KeyData, RsaPublicKey};
use ssh_key::{Algorithm, EcdsaCurve, HashAlg, LineEnding, Mpint, Signature};
use strongroom_pki::keys::{KeySpec, KeyType, PrivateKey};
use zeroize::Zeroizing;

use crate::error::SshError;

/// A key pair Vault's way: `ssh-rsa`/`rsa` (default 4096 bits, at least 2048), `ec` (256 or
/// 384), `ecdsa-sha2-nistp256`/`384`, `ssh-ed25519`/`ed25519`. `what` names the caller's
/// errors (`unknown ssh key pair algorithm: ...`).
///
/// # Errors
///
/// An unknown type or size, in Vault's words; P-521, which ring does not offer.
pub(crate) async fn generate(key_type: &str, key_bits: i64) -> Result<PrivateKey, SshError> {
    let spec = match key_type {
        "ssh-rsa" | "rsa" => {
            let bits = if key_bits == 0 { 4096 } else { key_bits };
            if bits < 2048 {
                return Err(SshError::Internal(format!(
                    "refusing to generate weak {key_type} key: {bits} bits < 2048 bits"
                )));
            }
            KeySpec::parse("rsa", bits).map_err(|err| SshError::Internal(err.to_string()))?
        }
        "ecdsa-sha2-nistp256" => ec(256)?,
        "ecdsa-sha2-nistp384" => ec(384)?,
        "ecdsa-sha2-nistp521" => return Err(no_p521()),
        "ec" => match key_bits {
            0 | 256 => ec(256)?,
            384 => ec(384)?,
            521 => return Err(no_p521()),
            _ => {
                return Err(SshError::Internal(format!(
                    "unknown ECDSA key pair algorithm and bits: ec / {key_bits}"
                )));
            }
        },
        "ssh-ed25519" | "ed25519" => KeySpec {
            ty: KeyType::Ed25519,
            bits: 0,
        },
        other => {
            return Err(SshError::Internal(format!(
                "unknown ssh key pair algorithm: {other}"
            )));
        }
    };
    PrivateKey::generate_async(spec)
        .await
        .map_err(SshError::from)
}

fn ec(bits: u32) -> Result<KeySpec, SshError> {
    Ok(KeySpec {
        ty: KeyType::Ec,
        bits,
    })
}

fn no_p521() -> SshError {
    SshError::Internal(
        "ECDSA P-521 keys are not offered: signatures are made by ring, which has P-256 and P-384"
            .into(),
    )
}

/// The key's public half as OpenSSH key data.
///
/// # Errors
///
/// A stored key that does not load.
pub(crate) fn key_data(key: &PrivateKey) -> Result<KeyData, SshError> {
    let bad = || SshError::Internal("a stored key does not encode".into());
    let spec = key.spec();
    match spec.ty {
        KeyType::Ed25519 => {
            let bits = key.public_key_bits()?;
            let bytes: [u8; 32] = bits.as_slice().try_into().map_err(|_| bad())?;
            Ok(KeyData::Ed25519(Ed25519PublicKey(bytes)))
        }
        KeyType::Ec => {
            let bits = key.public_key_bits()?;
            Ok(KeyData::Ecdsa(
                EcdsaPublicKey::from_sec1_bytes(&bits).map_err(|_| bad())?,
            ))
        }
        KeyType::Rsa => {
            let (n, e) = key.rsa_public()?.ok_or_else(bad)?;
            Ok(KeyData::Rsa(RsaPublicKey {
                e: Mpint::from_positive_bytes(&e).map_err(|_| bad())?,
                n: Mpint::from_positive_bytes(&n).map_err(|_| bad())?,
            }))
        }
    }
}

/// The OpenSSH public key line (no comment), with Vault's trailing newline.
///
/// # Errors
///
/// A stored key that does not load.
pub(crate) fn public_line(key: &PrivateKey) -> Result<String, SshError> {
    let public = ssh_key::PublicKey::new(key_data(key)?, "");
    let line = public
        .to_openssh()
        .map_err(|_| SshError::Internal("a public key does not encode".into()))?;
    Ok(format!("{}\n", line.trim_end()))
}

/// The private key as Vault gives it: RSA as PKCS#1 (`RSA PRIVATE KEY`), EC as SEC1
/// (`EC PRIVATE KEY`), Ed25519 as an OpenSSH private key; with a trailing newline.
///
/// # Errors
///
/// A stored key that does not encode.
pub(crate) fn private_text(key: &PrivateKey) -> Result<Zeroizing<String>, SshError> {
    if let Some(seed) = key.ed25519_seed()? {
        let public = key.public_key_bits()?;
        let mut bytes = Zeroizing::new([0u8; 64]);
        let (left, right) = bytes.split_at_mut(32);
        if seed.len() != 32 || public.len() != 32 {
            return Err(SshError::Internal(
                "a stored Ed25519 key is malformed".into(),
            ));
        }
        left.copy_from_slice(&seed);
        right.copy_from_slice(&public);
        let pair = Ed25519Keypair::from_bytes(&bytes)
            .map_err(|_| SshError::Internal("a stored Ed25519 key is malformed".into()))?;
        let private = ssh_key::PrivateKey::new(KeypairData::Ed25519(pair), "")
            .map_err(|_| SshError::Internal("a stored Ed25519 key is malformed".into()))?;
        let text = private
            .to_openssh(LineEnding::LF)
            .map_err(|_| SshError::Internal("a stored Ed25519 key does not encode".into()))?;
        return Ok(text);
    }
    let text = key.text("pem", "der")?;
    Ok(Zeroizing::new(format!("{}\n", text.as_str())))
}

/// Reads a private key as Vault takes one: PEM PKCS#1, SEC1 or PKCS#8, or an OpenSSH private
/// key (Ed25519, unencrypted).
///
/// # Errors
///
/// Anything else, in Vault's words where it has them.
pub(crate) fn parse_private(text: &str) -> Result<PrivateKey, SshError> {
    parse_private_key(text, true)
}

/// [`parse_private`] for a CA key this engine checked when it stored it: no signature
/// self-test (it would double the cost of every certificate).
///
/// # Errors
///
/// As [`parse_private`].
pub(crate) fn parse_stored_private(text: &str) -> Result<PrivateKey, SshError> {
    parse_private_key(text, false)
}

fn parse_private_key(text: &str, checked: bool) -> Result<PrivateKey, SshError> {
    let bad = |detail: &str| {
        SshError::invalid(format!(
            "could not parse private_key provided value: {detail}"
        ))
    };
    let block = pem::parse(text.trim().as_bytes()).map_err(|_| bad("ssh: no key found"))?;
    let tag = block.tag().to_owned();
    let der = Zeroizing::new(block.into_contents());
    if tag == "OPENSSH PRIVATE KEY" {
        let private = ssh_key::PrivateKey::from_openssh(text.trim())
            .map_err(|_| bad("ssh: this private key could not be parsed"))?;
        if private.is_encrypted() {
            return Err(bad("ssh: this private key is passphrase protected"));
        }
        return match private.key_data() {
            KeypairData::Ed25519(pair) => {
                PrivateKey::from_ed25519_parts(pair.private.as_ref(), pair.public.as_ref())
                    .map_err(|err| bad(&err.to_string()))
            }
            _ => Err(bad(
                "only Ed25519 keys are read in the OpenSSH format; give RSA and ECDSA keys as PEM \
                 (ssh-keygen -p -m PEM)",
            )),
        };
    }
    if checked {
        PrivateKey::from_pem_block(&tag, &der)
    } else {
        PrivateKey::from_stored_pem_block(&tag, &der)
    }
    .map_err(|err| bad(&err.to_string()))
}

/// Which RSA hash a certificate signature uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RsaHash {
    /// `rsa-sha2-256`.
    Sha256,
    /// `rsa-sha2-512`.
    Sha512,
}

/// Signs certificates with a CA key, through ring.
pub(crate) struct CaSigner {
    key: PrivateKey,
    public: KeyData,
    rsa_hash: RsaHash,
}

impl CaSigner {
    /// A signer for `key`; `rsa_hash` is used when it is an RSA key.
    ///
    /// # Errors
    ///
    /// A key that does not load.
    pub(crate) fn new(key: PrivateKey, rsa_hash: RsaHash) -> Result<Self, SshError> {
        let public = key_data(&key)?;
        Ok(Self {
            key,
            public,
            rsa_hash,
        })
    }
}

impl From<&CaSigner> for KeyData {
    fn from(signer: &CaSigner) -> Self {
        signer.public.clone()
    }
}

/// An mpint (RFC 4251) of a big-endian unsigned value.
fn mpint(out: &mut Vec<u8>, value: &[u8]) {
    let start = value.iter().position(|&b| b != 0).unwrap_or(value.len());
    let value = value.get(start..).unwrap_or_default();
    let pad = value.first().is_some_and(|&b| b & 0x80 != 0);
    let len = value.len() + usize::from(pad);
    out.extend_from_slice(&u32::try_from(len).unwrap_or(0).to_be_bytes());
    if pad {
        out.push(0);
    }
    out.extend_from_slice(value);
}

impl signature::Signer<Signature> for CaSigner {
    fn try_sign(&self, msg: &[u8]) -> Result<Signature, signature::Error> {
        let rng = SystemRandom::new();
        let spec = self.key.spec();
        let pkcs8 = self.key.pkcs8();
        match spec.ty {
            KeyType::Ed25519 => {
                let pair = Ed25519KeyPair::from_pkcs8_maybe_unchecked(pkcs8)
                    .map_err(|_| signature::Error::new())?;
                Signature::new(Algorithm::Ed25519, pair.sign(msg).as_ref().to_vec())
                    .map_err(|_| signature::Error::new())
            }
            KeyType::Ec => {
                let (alg, curve, half) = if spec.bits == 384 {
                    (&ECDSA_P384_SHA384_FIXED_SIGNING, EcdsaCurve::NistP384, 48)
                } else {
                    (&ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaCurve::NistP256, 32)
                };
                let pair = EcdsaKeyPair::from_pkcs8(alg, pkcs8, &rng)
                    .map_err(|_| signature::Error::new())?;
                let sig = pair.sign(&rng, msg).map_err(|_| signature::Error::new())?;
                let (r, s) = sig.as_ref().split_at(half);
                let mut blob = Vec::new();
                mpint(&mut blob, r);
                mpint(&mut blob, s);
                Signature::new(Algorithm::Ecdsa { curve }, blob)
                    .map_err(|_| signature::Error::new())
            }
            KeyType::Rsa => {
                let pair = RsaKeyPair::from_pkcs8(pkcs8).map_err(|_| signature::Error::new())?;
                let mut sig = vec![0u8; pair.public().modulus_len()];
                let (encoding, hash) = match self.rsa_hash {
                    RsaHash::Sha256 => (&RSA_PKCS1_SHA256, HashAlg::Sha256),
                    RsaHash::Sha512 => (&RSA_PKCS1_SHA512, HashAlg::Sha512),
                };
                pair.sign(encoding, &rng, msg, &mut sig)
                    .map_err(|_| signature::Error::new())?;
                Signature::new(Algorithm::Rsa { hash: Some(hash) }, sig)
                    .map_err(|_| signature::Error::new())
            }
        }
    }
}

/// The size class of a client's public key, as `allowed_user_key_lengths` names it: the type
/// (`rsa`, `ecdsa`, `ed25519`, `dsa`) and bits.
pub(crate) fn key_class(key: &KeyData) -> (&'static str, u32) {
    match key {
        KeyData::Rsa(rsa) => {
            let n = rsa.n.as_positive_bytes().unwrap_or_default();
            let start = n.iter().position(|&b| b != 0).unwrap_or(n.len());
            let n = n.get(start..).unwrap_or_default();
            let bits = n.first().map_or(0, |&b| {
                u32::try_from(n.len()).unwrap_or(0) * 8 - b.leading_zeros()
            });
            ("rsa", bits)
        }
        KeyData::Ecdsa(ec) => (
            "ecdsa",
            match ec.curve() {
                EcdsaCurve::NistP256 => 256,
                EcdsaCurve::NistP384 => 384,
                EcdsaCurve::NistP521 => 521,
            },
        ),
        KeyData::Ed25519(_) => ("ed25519", 0),
        KeyData::Dsa(_) => ("dsa", 1024),
        _ => ("", 0),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "test code")]
    use super::*;

    #[tokio::test]
    async fn vaults_key_types_and_refusals() {
        assert_eq!(
            generate("rsa", 1000).await.unwrap_err().to_string(),
            "refusing to generate weak rsa key: 1000 bits < 2048 bits"
        );
        assert_eq!(
            generate("bogus", 0).await.unwrap_err().to_string(),
            "unknown ssh key pair algorithm: bogus"
        );
        assert_eq!(
            generate("ec", 1000).await.unwrap_err().to_string(),
            "unknown ECDSA key pair algorithm and bits: ec / 1000"
        );
        for (ty, prefix) in [("ed25519", "ssh-ed25519 "), ("ec", "ecdsa-sha2-nistp256 ")] {
            let key = generate(ty, 0).await.unwrap();
            let line = public_line(&key).unwrap();
            assert!(line.starts_with(prefix) && line.ends_with('\n'), "{line}");
            let text = private_text(&key).unwrap();
            let again = parse_private(&text).unwrap();
            assert_eq!(public_line(&again).unwrap(), line);
        }
    }

    #[test]
    fn mpints_are_minimal_and_positive() {
        let mut out = Vec::new();
        mpint(&mut out, &[0, 0, 0x80, 1]);
        assert_eq!(out, [0, 0, 0, 3, 0, 0x80, 1]);
        let mut out = Vec::new();
        mpint(&mut out, &[0x7f]);
        assert_eq!(out, [0, 0, 0, 1, 0x7f]);
    }
}
