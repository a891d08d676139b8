//! Batch tokens: `b.` and base64url of `[version: u8][nonce: 12 bytes][ciphertext || tag]`,
//! the token's entry sealed with AES-256-GCM under a random 256-bit key the token store keeps
//! inside the barrier (`sys/token/batch-key`, created once by the first batch token). Nothing
//! else about a batch token is stored: the token is its own record, so it is checked (tag,
//! expiry, parent) on every use and cannot be revoked.
//!
//! What the token carries is what a lookup shows (policies, path, metadata, display name,
//! creation time, TTL) plus the parent's hash and the CIDR bounds, so it reveals nothing a
//! lookup by its holder would not; the parent's hash is the keyed hash storage already uses as
//! a key. Any change to the text (a flipped character, a cut, a wrong key) fails the tag.

use std::collections::BTreeMap;

use base64ct::{Base64UrlUnpadded, Encoding};
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use serde::{Deserialize, Serialize};
use strongroom_storage::{Op, StorageError};
use zeroize::Zeroizing;

use super::{CAS_ATTEMPTS, TokenEntry, TokenStore, TokenType};
use crate::{Result, VaultError};

/// The prefix of a batch token (Vault's legacy `b.`).
pub(crate) const PREFIX: &str = "b.";
/// Where the key is kept (inside the barrier).
pub(crate) const KEY_PATH: &str = "sys/token/batch-key";
/// The longest batch token accepted or made, prefix included: far above what a token with a
/// few policies and some metadata needs (about 200 characters), low enough to bound the work
/// an unauthenticated request can cause.
pub(crate) const MAX_TOKEN_LEN: usize = 4096;
/// The format version (the first byte after decoding).
const VERSION: u8 = 1;
const TAG_LEN: usize = 16;
/// Associated data: a sealed batch entry opens as nothing else.
const AAD: &[u8] = b"strongroom/batch-token/v1";

/// The batch token key, ready to seal and open. Its bytes are not kept; `Debug` shows nothing.
pub(crate) struct BatchKey(LessSafeKey);

impl std::fmt::Debug for BatchKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BatchKey([REDACTED])")
    }
}

impl BatchKey {
    fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let unbound = UnboundKey::new(&AES_256_GCM, bytes)
            .map_err(|_| VaultError::Internal("the batch token key is malformed".into()))?;
        Ok(Self(LessSafeKey::new(unbound)))
    }
}

/// What a batch token carries (short names: the token travels in every request).
#[derive(Serialize, Deserialize)]
struct Sealed {
    #[serde(rename = "pa", default, skip_serializing_if = "Option::is_none")]
    parent: Option<String>,
    #[serde(rename = "po")]
    policies: Vec<String>,
    #[serde(rename = "p")]
    path: String,
    #[serde(rename = "m", default, skip_serializing_if = "BTreeMap::is_empty")]
    meta: BTreeMap<String, String>,
    #[serde(rename = "d")]
    display_name: String,
    #[serde(rename = "c")]
    creation_time: u64,
    #[serde(rename = "t")]
    ttl: u64,
    #[serde(rename = "b", default, skip_serializing_if = "Vec::is_empty")]
    bound_cidrs: Vec<String>,
    #[serde(rename = "r", default, skip_serializing_if = "Option::is_none")]
    role: Option<String>,
}

/// Whether `body` (after `b.`) can be a batch token: base64url, and the whole token within
/// [`MAX_TOKEN_LEN`].
pub(crate) fn well_formed_body(body: &str) -> bool {
    !body.is_empty()
        && body.len() <= MAX_TOKEN_LEN - PREFIX.len()
        && body
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'))
}

/// Seals `entry` into a batch token.
///
/// # Errors
///
/// [`VaultError::InvalidRequest`] when the token would pass [`MAX_TOKEN_LEN`] (too many
/// policies or too much metadata); [`VaultError::Internal`] if sealing fails.
pub(crate) fn seal(key: &BatchKey, entry: &TokenEntry) -> Result<String> {
    let sealed = Sealed {
        parent: entry.parent.clone(),
        policies: entry.policies.clone(),
        path: entry.path.clone(),
        meta: entry.meta.clone(),
        display_name: entry.display_name.clone(),
        creation_time: entry.creation_time,
        ttl: entry.ttl,
        bound_cidrs: entry.bound_cidrs.clone(),
        role: entry.role.clone(),
    };
    let mut in_out = serde_json::to_vec(&sealed)
        .map_err(|e| VaultError::Internal(format!("encoding a batch token: {e}")))?;
    let nonce = ring::rand::generate::<[u8; NONCE_LEN]>(&ring::rand::SystemRandom::new())
        .map_err(|_| VaultError::Internal("system random source failed".into()))?
        .expose();
    key.0
        .seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(AAD),
            &mut in_out,
        )
        .map_err(|_| VaultError::Internal("sealing a batch token failed".into()))?;
    let mut blob = Vec::with_capacity(1 + NONCE_LEN + in_out.len());
    blob.push(VERSION);
    blob.extend_from_slice(&nonce);
    blob.extend_from_slice(&in_out);
    let token = format!("{PREFIX}{}", Base64UrlUnpadded::encode_string(&blob));
    if token.len() > MAX_TOKEN_LEN {
        return Err(VaultError::invalid(format!(
            "the batch token would be longer than {MAX_TOKEN_LEN} characters: use fewer \
             policies or less metadata"
        )));
    }
    Ok(token)
}

/// Opens a batch token: its entry (`id` left empty), or `None` for anything that is not a
/// token this key sealed (bad prefix, encoding, length, version or tag). Never panics.
pub(crate) fn open(key: &BatchKey, token: &str) -> Option<TokenEntry> {
    let body = token.strip_prefix(PREFIX)?;
    if !well_formed_body(body) {
        return None;
    }
    let blob = Base64UrlUnpadded::decode_vec(body).ok()?;
    let (&version, rest) = blob.split_first()?;
    if version != VERSION || rest.len() < NONCE_LEN + TAG_LEN {
        return None;
    }
    let (nonce, sealed) = rest.split_at_checked(NONCE_LEN)?;
    let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
    let mut in_out = Zeroizing::new(sealed.to_vec());
    let plain = key
        .0
        .open_in_place(nonce, Aad::from(AAD), &mut in_out)
        .ok()?;
    let sealed: Sealed = serde_json::from_slice(plain).ok()?;
    Some(TokenEntry {
        id: String::new(),
        accessor: String::new(),
        parent: sealed.parent,
        policies: sealed.policies,
        path: sealed.path,
        meta: sealed.meta,
        display_name: sealed.display_name,
        num_uses: 0,
        creation_time: sealed.creation_time,
        ttl: sealed.ttl,
        explicit_max_ttl: 0,
        period: 0,
        renewable: false,
        expire_time: Some(sealed.creation_time.saturating_add(sealed.ttl)),
        bound_cidrs: sealed.bound_cidrs,
        mount: None,
        internal: serde_json::Map::new(),
        last_renewal_time: None,
        creation_ttl: None,
        token_type: TokenType::Batch,
        role: sealed.role,
    })
}

impl TokenStore {
    /// The batch token key. `create`: make it when there is none yet (the first batch token;
    /// one writer wins, by a check that the key is absent, and everyone uses the winner's);
    /// otherwise `None` when there is none (so no batch token can be valid).
    pub(crate) async fn batch_key(&self, create: bool) -> Result<Option<&BatchKey>> {
        if let Some(key) = self.batch_key.get() {
            return Ok(Some(key));
        }
        for _ in 0..CAS_ATTEMPTS {
            if let Some(bytes) = self.storage.get(KEY_PATH).await? {
                let bytes = Zeroizing::new(bytes);
                let key = BatchKey::from_bytes(&bytes)?;
                // Another task may have set it meanwhile: the same key, from the same storage.
                return Ok(Some(self.batch_key.get_or_init(|| async { key }).await));
            }
            if !create {
                return Ok(None);
            }
            let fresh = Zeroizing::new(
                ring::rand::generate::<[u8; 32]>(&ring::rand::SystemRandom::new())
                    .map_err(|_| VaultError::Internal("system random source failed".into()))?
                    .expose(),
            );
            match self
                .storage
                .transaction(vec![
                    Op::check(KEY_PATH, None),
                    Op::put(KEY_PATH, fresh.to_vec()),
                ])
                .await
            {
                // Read back on the next turn: the key is whatever storage holds.
                Ok(()) | Err(StorageError::CheckFailed { .. } | StorageError::Conflict) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Err(VaultError::Internal(
            "the batch token key is under heavy contention; try again".into(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> BatchKey {
        BatchKey::from_bytes(&[byte; 32]).unwrap()
    }

    #[test]
    fn a_created_token_does_not_show_in_debug() {
        let created = crate::tokens::Created {
            token: "s.ThisIsTheSecretToken".into(),
            entry: entry(),
            warnings: Vec::new(),
            num_uses: 0,
        };
        let shown = format!("{created:?}");
        assert!(!shown.contains("ThisIsTheSecretToken"), "{shown}");
        assert!(shown.contains("[REDACTED]"), "{shown}");
    }

    fn entry() -> TokenEntry {
        let mut entry = open_fixture();
        entry.policies = vec!["default".into(), "dev".into()];
        entry
    }

    fn open_fixture() -> TokenEntry {
        TokenEntry {
            id: String::new(),
            accessor: String::new(),
            parent: Some("ab".repeat(32)),
            policies: vec![],
            path: "auth/token/create".into(),
            meta: BTreeMap::from([("app".into(), "web".into())]),
            display_name: "token".into(),
            num_uses: 0,
            creation_time: 1_700_000_000,
            ttl: 600,
            explicit_max_ttl: 0,
            period: 0,
            renewable: false,
            expire_time: Some(1_700_000_600),
            bound_cidrs: vec!["10.0.0.0/8".into()],
            mount: None,
            internal: serde_json::Map::new(),
            last_renewal_time: None,
            creation_ttl: None,
            token_type: TokenType::Batch,
            role: Some("ci".into()),
        }
    }

    #[test]
    fn round_trip() {
        let token = seal(&key(1), &entry()).unwrap();
        assert!(token.starts_with("b."));
        assert!(super::super::well_formed(&token));
        let opened = open(&key(1), &token).unwrap();
        assert!(opened == entry(), "{opened:?}");
        // Random nonces: the same entry seals differently each time.
        assert_ne!(token, seal(&key(1), &entry()).unwrap());
    }

    #[test]
    fn wrong_key_cut_or_changed_fails() {
        let token = seal(&key(1), &entry()).unwrap();
        assert!(open(&key(2), &token).is_none());
        for cut in [3, 10, 20, token.len() - 1] {
            assert!(open(&key(1), &token[..cut]).is_none(), "cut at {cut}");
        }
        assert!(open(&key(1), "b.").is_none());
        assert!(open(&key(1), "s.abc").is_none());
        assert!(open(&key(1), &format!("{token}A")).is_none());
    }

    /// Every other character at every position fails: base64 decoding is strict (no two
    /// texts decode to the same bytes, so no changed token opens), and the tag covers the rest.
    #[test]
    fn every_single_character_change_fails() {
        let token = seal(&key(1), &entry()).unwrap();
        let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        for at in PREFIX.len()..token.len() {
            for &c in alphabet {
                let mut bytes = token.clone().into_bytes();
                if bytes[at] == c {
                    continue;
                }
                bytes[at] = c;
                let changed = String::from_utf8(bytes).unwrap();
                assert!(open(&key(1), &changed).is_none(), "{at} {}", char::from(c));
            }
        }
    }

    #[test]
    fn debug_redacts() {
        assert_eq!(format!("{:?}", key(7)), "BatchKey([REDACTED])");
    }
}
