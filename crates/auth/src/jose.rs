//! JSON Web Tokens: decoding (without trusting anything), public keys from JWKs and PEM, and
//! signature verification with `ring` for RS256/384/512, PS256/384/512, ES256/384 and EdDSA.
//! `alg: none` is never accepted, and an algorithm must match its key's type.
//!
//! Everything here takes untrusted input and answers with a [`JoseError`], never a panic.

use base64::Engine as _;
use serde_json::{Map, Value};

/// The longest token decoded (bytes).
pub const MAX_TOKEN: usize = 32 * 1024;

/// Why a token or key was refused. The message names no secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoseError(pub String);

impl std::fmt::Display for JoseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for JoseError {}

fn err(message: impl Into<String>) -> JoseError {
    JoseError(message.into())
}

/// A decoded, not yet verified token.
#[derive(Debug, Clone, PartialEq)]
pub struct Decoded {
    /// The header's `alg`.
    pub alg: String,
    /// The header's `kid`, if any.
    pub kid: Option<String>,
    /// The claims.
    pub claims: Map<String, Value>,
    signing_input: String,
    signature: Vec<u8>,
}

fn b64url(part: &str) -> Result<Vec<u8>, JoseError> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part.trim_end_matches('='))
        .map_err(|_| err("the token is not base64url"))
}

/// Splits and decodes a compact JWS (`header.claims.signature`). Nothing is trusted yet.
///
/// # Errors
///
/// A token too long, not three parts, not base64url, not JSON objects, or with `alg: none`.
pub fn decode(token: &str) -> Result<Decoded, JoseError> {
    let token = token.trim();
    if token.len() > MAX_TOKEN {
        return Err(err(format!("the token is longer than {MAX_TOKEN} bytes")));
    }
    let mut parts = token.split('.');
    let (Some(header), Some(claims), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(err(
            "the token is not a compact JWS (three dot-separated parts)",
        ));
    };
    let header: Map<String, Value> = serde_json::from_slice(&b64url(header)?)
        .map_err(|_| err("the token header is not a JSON object"))?;
    if header.contains_key("crit") {
        return Err(err("the token has critical header extensions"));
    }
    let alg = header
        .get("alg")
        .and_then(Value::as_str)
        .ok_or_else(|| err("the token header has no alg"))?
        .to_owned();
    if alg.eq_ignore_ascii_case("none") {
        return Err(err("unsigned tokens (alg none) are refused"));
    }
    let kid = match header.get("kid") {
        None | Some(Value::Null) => None,
        Some(Value::String(kid)) => Some(kid.clone()),
        Some(_) => return Err(err("the token header's kid is not a string")),
    };
    let claims: Map<String, Value> = serde_json::from_slice(&b64url(claims)?)
        .map_err(|_| err("the token claims are not a JSON object"))?;
    let signature = b64url(signature)?;
    if signature.is_empty() {
        return Err(err("the token has no signature"));
    }
    let signing_input = token
        .rsplit_once('.')
        .map(|(input, _)| input.to_owned())
        .unwrap_or_default();
    Ok(Decoded {
        alg,
        kid,
        claims,
        signing_input,
        signature,
    })
}

/// A public key that can verify tokens.
#[derive(Clone, PartialEq, Eq)]
pub enum PublicKey {
    /// RSA: modulus and exponent, big-endian.
    Rsa {
        /// The modulus.
        n: Vec<u8>,
        /// The public exponent.
        e: Vec<u8>,
    },
    /// ECDSA P-256 (uncompressed point).
    P256(Vec<u8>),
    /// ECDSA P-384 (uncompressed point).
    P384(Vec<u8>),
    /// Ed25519 (32 bytes).
    Ed25519(Vec<u8>),
}

impl std::fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Rsa { .. } => "PublicKey::Rsa",
            Self::P256(_) => "PublicKey::P256",
            Self::P384(_) => "PublicKey::P384",
            Self::Ed25519(_) => "PublicKey::Ed25519",
        })
    }
}

fn field<'a>(jwk: &'a Map<String, Value>, name: &str) -> Result<&'a str, JoseError> {
    jwk.get(name)
        .and_then(Value::as_str)
        .ok_or_else(|| err(format!("the JWK has no {name}")))
}

impl PublicKey {
    /// A key from a JWK (`kty` RSA, EC with `crv` P-256/P-384, OKP with `crv` Ed25519); with
    /// its `kid`. Keys marked for encryption (`use: enc`) are refused.
    ///
    /// # Errors
    ///
    /// An unsupported or malformed key.
    pub fn from_jwk(jwk: &Map<String, Value>) -> Result<(Option<String>, Self), JoseError> {
        if jwk.get("use").and_then(Value::as_str) == Some("enc") {
            return Err(err("the JWK is for encryption"));
        }
        let kid = jwk.get("kid").and_then(Value::as_str).map(str::to_owned);
        let key = match field(jwk, "kty")? {
            "RSA" => {
                let n = b64url(field(jwk, "n")?)?;
                let e = b64url(field(jwk, "e")?)?;
                Self::rsa(n, e)?
            }
            "EC" => {
                let x = b64url(field(jwk, "x")?)?;
                let y = b64url(field(jwk, "y")?)?;
                let (len, make): (usize, fn(Vec<u8>) -> Self) = match field(jwk, "crv")? {
                    "P-256" => (32, Self::P256),
                    "P-384" => (48, Self::P384),
                    other => return Err(err(format!("unsupported EC curve {other:?}"))),
                };
                if x.len() != len || y.len() != len {
                    return Err(err("the EC key's coordinates have the wrong length"));
                }
                let mut point = Vec::with_capacity(1 + 2 * len);
                point.push(4);
                point.extend_from_slice(&x);
                point.extend_from_slice(&y);
                make(point)
            }
            "OKP" => {
                if field(jwk, "crv")? != "Ed25519" {
                    return Err(err("unsupported OKP curve"));
                }
                let x = b64url(field(jwk, "x")?)?;
                if x.len() != 32 {
                    return Err(err("an Ed25519 key is 32 bytes"));
                }
                Self::Ed25519(x)
            }
            other => return Err(err(format!("unsupported key type {other:?}"))),
        };
        Ok((kid, key))
    }

    fn rsa(n: Vec<u8>, e: Vec<u8>) -> Result<Self, JoseError> {
        let n: Vec<u8> = n.into_iter().skip_while(|b| *b == 0).collect();
        let e: Vec<u8> = e.into_iter().skip_while(|b| *b == 0).collect();
        if n.len() < 256 || n.len() > 1024 || e.is_empty() || e.len() > 8 {
            return Err(err("RSA keys must be 2048 to 8192 bits"));
        }
        Ok(Self::Rsa { n, e })
    }

    /// A key from PEM: `PUBLIC KEY` (SubjectPublicKeyInfo) or `RSA PUBLIC KEY` (PKCS#1).
    ///
    /// # Errors
    ///
    /// Not PEM, or an unsupported or malformed key.
    pub fn from_pem(pem: &str) -> Result<Self, JoseError> {
        let pem = pem.trim();
        let (label, body) = pem
            .strip_prefix("-----BEGIN ")
            .and_then(|rest| rest.split_once("-----"))
            .ok_or_else(|| err("not a PEM public key"))?;
        let end = format!("-----END {label}-----");
        let body = body
            .trim()
            .strip_suffix(end.as_str())
            .ok_or_else(|| err("the PEM block is not closed"))?;
        let text: String = body.chars().filter(|c| !c.is_whitespace()).collect();
        let der = base64::engine::general_purpose::STANDARD
            .decode(text)
            .map_err(|_| err("the PEM body is not base64"))?;
        match label {
            "PUBLIC KEY" => Self::from_spki(&der),
            "RSA PUBLIC KEY" => Self::from_pkcs1(&der),
            other => Err(err(format!("unsupported PEM block {other:?}"))),
        }
    }

    fn from_pkcs1(der: &[u8]) -> Result<Self, JoseError> {
        let (seq, _) = tlv(der, 0x30)?;
        let (n, rest) = tlv(seq, 0x02)?;
        let (e, _) = tlv(rest, 0x02)?;
        Self::rsa(n.to_vec(), e.to_vec())
    }

    fn from_spki(der: &[u8]) -> Result<Self, JoseError> {
        const RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
        const EC: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
        const P256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
        const P384: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x22];
        const ED25519: &[u8] = &[0x2b, 0x65, 0x70];
        let (spki, _) = tlv(der, 0x30)?;
        let (algorithm, rest) = tlv(spki, 0x30)?;
        let (bits, _) = tlv(rest, 0x03)?;
        let (oid, params) = tlv(algorithm, 0x06)?;
        let key = match bits.split_first() {
            Some((0, key)) => key,
            _ => return Err(err("the public key bit string is malformed")),
        };
        match oid {
            RSA => Self::from_pkcs1(key),
            EC => {
                let (curve, _) = tlv(params, 0x06)?;
                match curve {
                    P256 if key.len() == 65 && key.first() == Some(&4) => {
                        Ok(Self::P256(key.to_vec()))
                    }
                    P384 if key.len() == 97 && key.first() == Some(&4) => {
                        Ok(Self::P384(key.to_vec()))
                    }
                    _ => Err(err("unsupported EC curve or point form")),
                }
            }
            ED25519 if key.len() == 32 => Ok(Self::Ed25519(key.to_vec())),
            _ => Err(err("unsupported public key algorithm")),
        }
    }

    /// Whether `alg` is one this key can verify.
    pub fn suits(&self, alg: &str) -> bool {
        matches!(
            (self, alg),
            (
                Self::Rsa { .. },
                "RS256" | "RS384" | "RS512" | "PS256" | "PS384" | "PS512"
            ) | (Self::P256(_), "ES256")
                | (Self::P384(_), "ES384")
                | (Self::Ed25519(_), "EdDSA")
        )
    }

    /// Verifies `token`'s signature with this key.
    ///
    /// # Errors
    ///
    /// The algorithm does not suit the key, or the signature does not verify.
    pub fn verify(&self, token: &Decoded) -> Result<(), JoseError> {
        use ring::signature as sig;
        if !self.suits(&token.alg) {
            return Err(err("the key does not suit the token's algorithm"));
        }
        let message = token.signing_input.as_bytes();
        let signature = token.signature.as_slice();
        let ok = match self {
            Self::Rsa { n, e } => {
                let params: &sig::RsaParameters = match token.alg.as_str() {
                    "RS256" => &sig::RSA_PKCS1_2048_8192_SHA256,
                    "RS384" => &sig::RSA_PKCS1_2048_8192_SHA384,
                    "RS512" => &sig::RSA_PKCS1_2048_8192_SHA512,
                    "PS256" => &sig::RSA_PSS_2048_8192_SHA256,
                    "PS384" => &sig::RSA_PSS_2048_8192_SHA384,
                    _ => &sig::RSA_PSS_2048_8192_SHA512,
                };
                sig::RsaPublicKeyComponents { n, e }
                    .verify(params, message, signature)
                    .is_ok()
            }
            Self::P256(point) => sig::UnparsedPublicKey::new(&sig::ECDSA_P256_SHA256_FIXED, point)
                .verify(message, signature)
                .is_ok(),
            Self::P384(point) => sig::UnparsedPublicKey::new(&sig::ECDSA_P384_SHA384_FIXED, point)
                .verify(message, signature)
                .is_ok(),
            Self::Ed25519(key) => sig::UnparsedPublicKey::new(&sig::ED25519, key)
                .verify(message, signature)
                .is_ok(),
        };
        if ok {
            Ok(())
        } else {
            Err(err("the token's signature does not verify"))
        }
    }
}

/// Every usable key of a JWKS document (`{"keys": [...]}`), with kids; unusable ones skipped.
///
/// # Errors
///
/// Not a JWKS document.
pub fn parse_jwks(body: &[u8]) -> Result<Vec<(Option<String>, PublicKey)>, JoseError> {
    let doc: Map<String, Value> =
        serde_json::from_slice(body).map_err(|_| err("the JWKS is not a JSON object"))?;
    let keys = doc
        .get("keys")
        .and_then(Value::as_array)
        .ok_or_else(|| err("the JWKS has no keys"))?;
    Ok(keys
        .iter()
        .filter_map(Value::as_object)
        .filter_map(|jwk| PublicKey::from_jwk(jwk).ok())
        .collect())
}

/// One DER element with tag `tag` at the start of `input`: its contents and what follows.
fn tlv(input: &[u8], tag: u8) -> Result<(&[u8], &[u8]), JoseError> {
    let malformed = || err("malformed DER");
    let (&found, rest) = input.split_first().ok_or_else(malformed)?;
    if found != tag {
        return Err(malformed());
    }
    let (&first, rest) = rest.split_first().ok_or_else(malformed)?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let count = usize::from(first & 0x7f);
        if count == 0 || count > 4 || rest.len() < count {
            return Err(malformed());
        }
        let (bytes, rest) = rest.split_at(count);
        let len = bytes
            .iter()
            .fold(0_usize, |acc, b| (acc << 8) | usize::from(*b));
        (len, rest)
    };
    if rest.len() < len {
        return Err(malformed());
    }
    Ok(rest.split_at(len))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "test code")]

    use super::*;

    #[test]
    fn malformed_tokens_are_refused_cleanly() {
        let header = |h: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(h);
        let claims = header("{\"sub\":\"x\"}");
        for bad in [
            String::new(),
            "a.b".into(),
            "a.b.c.d".into(),
            format!("{}.{claims}.c2ln", header("{\"alg\":\"none\"}")),
            format!("{}.{claims}.c2ln", header("{\"alg\":\"NONE\"}")),
            format!("{}.{claims}.c2ln", header("[1]")),
            format!("{}.{claims}.c2ln", header("{}")),
            format!(
                "{}.{claims}.c2ln",
                header("{\"alg\":\"RS256\",\"crit\":[\"x\"]}")
            ),
            format!("{}.{claims}.c2ln", header("{\"alg\":\"RS256\",\"kid\":5}")),
            format!("{}.{claims}.", header("{\"alg\":\"RS256\"}")),
            format!("{}.%%%.c2ln", header("{\"alg\":\"RS256\"}")),
            format!(
                "{}.{}.c2ln",
                header("{\"alg\":\"RS256\"}"),
                header("\"str\"")
            ),
            "x".repeat(MAX_TOKEN + 1),
        ] {
            assert!(decode(&bad).is_err(), "{bad:.80}");
        }
        let ok = decode(&format!(
            "{}.{claims}.c2ln",
            header("{\"alg\":\"RS256\",\"kid\":\"k\"}")
        ))
        .unwrap();
        assert_eq!(ok.alg, "RS256");
        assert_eq!(ok.kid.as_deref(), Some("k"));
        assert_eq!(ok.claims["sub"], "x");
    }

    #[test]
    fn der_is_bounds_checked() {
        assert!(tlv(&[], 0x30).is_err());
        assert!(tlv(&[0x30, 0x85, 1, 1, 1, 1, 1], 0x30).is_err());
        assert!(tlv(&[0x30, 0x82, 0xff, 0xff], 0x30).is_err());
        assert!(tlv(&[0x30, 0x02, 1], 0x30).is_err());
        assert_eq!(
            tlv(&[0x30, 0x01, 7, 9], 0x30).unwrap(),
            (&[7_u8][..], &[9_u8][..])
        );
        for pem in [
            "",
            "-----BEGIN PUBLIC KEY-----\nAAAA\n",
            "-----BEGIN PUBLIC KEY-----\n!!!\n-----END PUBLIC KEY-----",
            "-----BEGIN PUBLIC KEY-----\nMAA=\n-----END PUBLIC KEY-----",
            "-----BEGIN CERTIFICATE-----\nMAA=\n-----END CERTIFICATE-----",
        ] {
            assert!(PublicKey::from_pem(pem).is_err(), "{pem}");
        }
    }
}
