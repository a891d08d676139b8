//! The token store: tokens are random, prefixed strings; storage holds only keyed hashes of
//! tokens and accessors (as keys) and the token entries (inside the barrier).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use ring::hmac;
use serde::{Deserialize, Serialize};
use strongroom_storage::{Op, Storage};

use crate::clock::unix;
use crate::{Result, VaultError};

mod lookup;

pub(crate) use lookup::Resolved;

/// Token prefix (service tokens, as Vault's legacy format).
const PREFIX: &str = "s.";
/// Random characters after the prefix (base62: about 143 bits).
const TOKEN_CHARS: usize = 24;
/// The length of a token, `s.` included (and so of a root generation one-time pad).
pub(crate) const TOKEN_LEN: usize = PREFIX.len() + TOKEN_CHARS;
const ALPHABET: &[u8; 62] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// How many times a compare-and-swap on a token entry is retried under contention.
const CAS_ATTEMPTS: usize = 64;

pub(crate) const SALT_PATH: &str = "sys/token/salt";
const ID_PREFIX: &str = "sys/token/id/";
const ACCESSOR_PREFIX: &str = "sys/token/accessor/";
const PARENT_PREFIX: &str = "sys/token/parent/";
/// `sys/token/mount/<hex(auth mount path)>/<id>`: the tokens each auth mount's logins made.
const MOUNT_PREFIX: &str = "sys/token/mount/";

fn mount_index(mount: &str) -> String {
    format!("{MOUNT_PREFIX}{}/", crate::util::hex(mount.as_bytes()))
}

/// A token as stored (inside the barrier). The token itself is never stored.
#[derive(Clone, Serialize, Deserialize, PartialEq)]
pub(crate) struct TokenEntry {
    /// Keyed hash of the token: its storage key.
    pub(crate) id: String,
    pub(crate) accessor: String,
    pub(crate) parent: Option<String>,
    pub(crate) policies: Vec<String>,
    pub(crate) path: String,
    pub(crate) meta: BTreeMap<String, String>,
    pub(crate) display_name: String,
    /// Uses left (0: unlimited).
    pub(crate) num_uses: u32,
    pub(crate) creation_time: u64,
    /// Seconds; 0 = never expires (root).
    pub(crate) ttl: u64,
    pub(crate) explicit_max_ttl: u64,
    pub(crate) period: u64,
    pub(crate) renewable: bool,
    /// Unix seconds; `None` = never.
    pub(crate) expire_time: Option<u64>,
    /// CIDR blocks the token may be used from (empty: anywhere).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) bound_cidrs: Vec<String>,
    /// The auth mount a login token came from (its tokens go when it is disabled).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) mount: Option<String>,
    /// The login's internal data, handed back to its auth method on renewal.
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub(crate) internal: serde_json::Map<String, serde_json::Value>,
    /// Unix seconds of the last renewal, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) last_renewal_time: Option<u64>,
}

impl std::fmt::Debug for TokenEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The accessor can look up and revoke the token; the login's internal data is the
        // auth method's. Neither belongs in a log.
        f.debug_struct("TokenEntry")
            .field("id", &self.id)
            .field("accessor", &"[REDACTED]")
            .field("parent", &self.parent)
            .field("policies", &self.policies)
            .field("path", &self.path)
            .field("num_uses", &self.num_uses)
            .field("expire_time", &self.expire_time)
            .finish_non_exhaustive()
    }
}

impl TokenEntry {
    pub(crate) fn is_root(&self) -> bool {
        self.policies.iter().any(|p| p == "root")
    }

    fn expired(&self, now: SystemTime) -> bool {
        self.expire_time.is_some_and(|t| unix(now) >= t)
    }

    /// Seconds left before expiry (0 for tokens that never expire).
    pub(crate) fn ttl_left(&self, now: SystemTime) -> u64 {
        self.expire_time.map_or(0, |t| t.saturating_sub(unix(now)))
    }
}

/// What a new token should be.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct TokenRequest {
    /// Policies; must be a subset of the parent's unless the parent is root.
    pub policies: Vec<String>,
    /// Leave out the `default` policy.
    pub no_default_policy: bool,
    /// TTL; `None` = the system default.
    pub ttl: Option<Duration>,
    /// A hard limit that renewals cannot pass.
    pub explicit_max_ttl: Option<Duration>,
    /// Periodic token: every renewal resets the TTL to this.
    pub period: Option<Duration>,
    /// Uses before the token is revoked (0: unlimited).
    pub num_uses: u32,
    /// Whether the token can be renewed. Default true.
    pub renewable: Option<bool>,
    /// No parent: not revoked with its creator.
    pub no_parent: bool,
    /// Display name (prefixed with `token-` for tokens made with `auth/token/create`).
    pub display_name: String,
    /// Metadata.
    pub meta: BTreeMap<String, String>,
    /// CIDR blocks the token may be used from (empty: anywhere).
    pub bound_cidrs: Vec<String>,
    /// The auth mount whose login makes this token (indexed for revocation with the mount).
    pub(crate) mount: Option<String>,
    /// The login's internal data, for its auth method at renewal.
    pub(crate) internal: serde_json::Map<String, serde_json::Value>,
}

pub(crate) struct TokenStore {
    storage: Arc<dyn Storage>,
    key: hmac::Key,
    default_ttl: Duration,
    max_ttl: Duration,
}

/// Where and how `auth/token/create...` creates a token.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Creation<'a> {
    /// The caller holds `sudo` (or root) on the request path.
    pub(crate) sudo: bool,
    /// The path makes orphans (`create-orphan`).
    pub(crate) orphan: bool,
    /// The request path, recorded as the token's `path`.
    pub(crate) path: &'a str,
}

/// A new random token or accessor.
fn random_string(len: usize) -> Result<String> {
    let bytes = ring::rand::generate::<[u8; 64]>(&ring::rand::SystemRandom::new())
        .map_err(|_| VaultError::Internal("system random source failed".into()))?
        .expose();
    // Rejection sampling keeps the characters uniform: 62 * 4 = 248 of 256 byte values are used.
    let out: String = bytes
        .iter()
        .filter(|&&b| b < 248)
        .take(len)
        .map(|&b| char::from(ALPHABET.get(usize::from(b % 62)).copied().unwrap_or(b'A')))
        .collect();
    if out.len() == len {
        Ok(out)
    } else {
        random_string(len)
    }
}

/// Whether `token` looks like one of ours: checked before any storage lookup.
///
/// Tokens we mint are `s.` and 24 base62 characters; a dev server may also be given a root token
/// id of the operator's choosing (Vault's `-dev-root-token-id`), so anything of 1 to 128 letters,
/// digits, `.`, `-` and `_` is looked up, and nothing else is.
pub(crate) fn well_formed(token: &str) -> bool {
    (1..=MAX_CUSTOM_TOKEN_LEN).contains(&token.len())
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
}

/// The longest token accepted (custom dev root token ids included).
const MAX_CUSTOM_TOKEN_LEN: usize = 128;

impl TokenStore {
    pub(crate) fn new(
        storage: Arc<dyn Storage>,
        salt: &[u8],
        default_ttl: Duration,
        max_ttl: Duration,
    ) -> Self {
        Self {
            storage,
            key: hmac::Key::new(hmac::HMAC_SHA256, salt),
            default_ttl,
            max_ttl,
        }
    }

    fn hash(&self, kind: &str, value: &str) -> String {
        // HMAC(key, "<kind>:<value>"), fed in pieces (no formatted copy of the token).
        let mut context = hmac::Context::with_key(&self.key);
        for piece in [kind.as_bytes(), b":", value.as_bytes()] {
            context.update(piece);
        }
        crate::util::hex(context.sign().as_ref())
    }

    /// The keyed hash of a token, as used in storage keys and the audit log's correlation.
    pub(crate) fn token_hash(&self, token: &str) -> String {
        self.hash("token", token)
    }

    async fn load(&self, id: &str) -> Result<Option<(TokenEntry, Vec<u8>)>> {
        let mut key = String::with_capacity(ID_PREFIX.len() + id.len());
        key.push_str(ID_PREFIX);
        key.push_str(id);
        let Some(bytes) = self.storage.get(&key).await? else {
            return Ok(None);
        };
        let entry = serde_json::from_slice(&bytes)
            .map_err(|_| VaultError::Internal("stored token entry does not decode".into()))?;
        Ok(Some((entry, bytes)))
    }

    /// Creates the root token (no parent, no expiry, policy `root`).
    pub(crate) async fn create_root(&self, now: SystemTime) -> Result<String> {
        let request = TokenRequest {
            policies: vec!["root".into()],
            no_default_policy: true,
            no_parent: true,
            display_name: "root".into(),
            ..TokenRequest::default()
        };
        self.create_entry(None, request, "auth/token/root", now, true, None)
            .await
            .map(|(token, _)| token)
    }

    /// A root token with an id the operator chose (dev servers only).
    pub(crate) async fn create_root_with_id(&self, id: &str, now: SystemTime) -> Result<()> {
        if !well_formed(id) {
            return Err(VaultError::invalid(
                "a root token id must be 1 to 128 letters, digits, '.', '-' or '_'",
            ));
        }
        let request = TokenRequest {
            policies: vec!["root".into()],
            no_default_policy: true,
            no_parent: true,
            display_name: "root".into(),
            ..TokenRequest::default()
        };
        self.create_entry(None, request, "auth/token/root", now, true, Some(id))
            .await
            .map(drop)
    }

    /// Creates the token of a login an auth method accepted (an orphan, as in Vault), at the
    /// login's `path`.
    pub(crate) async fn create_login(
        &self,
        request: TokenRequest,
        path: &str,
        now: SystemTime,
    ) -> Result<(String, TokenEntry)> {
        strongroom_logical::cidr::Cidr::parse_all(&request.bound_cidrs)?;
        if request.policies.iter().any(|p| p == "root") {
            return Err(VaultError::invalid(
                "auth methods cannot create root tokens",
            ));
        }
        self.create_entry(None, request, path, now, false, None)
            .await
    }

    /// Revokes every token the logins of auth mount `mount` made (and their children);
    /// returns their hashes (their leases go next).
    pub(crate) async fn revoke_mount(&self, mount: &str) -> Result<Vec<String>> {
        let mut gone = Vec::new();
        for id in self.storage.list(&mount_index(mount)).await? {
            gone.extend(self.revoke_tree(&id).await?);
            self.storage
                .delete(&format!("{}{id}", mount_index(mount)))
                .await?;
        }
        Ok(gone)
    }

    /// Creates a token from `parent`'s request at `path` (`auth/token/create`,
    /// `auth/token/create-orphan`), with Vault's rules: `sudo` is whether the caller holds
    /// `sudo` (or root) on that path; `orphan` whether the path makes orphans. A periodic token
    /// or `no_parent` needs sudo; a restricted-use token cannot create children; the policies
    /// must be a subset of the parent's (sudo lifts that), and only a root parent can create a
    /// root token. Empty `policies` inherit the parent's.
    pub(crate) async fn create(
        &self,
        parent: &TokenEntry,
        mut request: TokenRequest,
        creation: Creation<'_>,
        now: SystemTime,
    ) -> Result<(String, TokenEntry)> {
        let Creation { sudo, orphan, path } = creation;
        if parent.num_uses > 0 {
            return Err(VaultError::invalid(
                "restricted use token cannot generate child tokens",
            ));
        }
        if request.period.is_some_and(|p| !p.is_zero()) && !sudo {
            return Err(VaultError::invalid(
                "root or sudo privileges required to create periodic token",
            ));
        }
        if request.no_parent && !orphan && !sudo {
            return Err(VaultError::invalid(
                "root or sudo privileges required to create orphan token",
            ));
        }
        let asked = strongroom_logical::cidr::Cidr::parse_all(&request.bound_cidrs)?;
        // A child of a CIDR-bound token is bound at least as tightly as its parent.
        if !parent.bound_cidrs.is_empty() {
            let bounds = strongroom_logical::cidr::Cidr::parse_all(&parent.bound_cidrs)?;
            if request.bound_cidrs.is_empty() {
                request.bound_cidrs = parent.bound_cidrs.clone();
            } else if !strongroom_logical::cidr::all_within(&asked, &bounds) {
                return Err(VaultError::invalid(
                    "bound_cidrs must lie within the parent token's bound CIDRs",
                ));
            }
        }
        if !request.display_name.is_empty() {
            // Vault's sanitising: anything but letters, digits and `-` becomes `-`.
            let full: String = format!("token-{}", request.display_name)
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || c == '-' {
                        c
                    } else {
                        '-'
                    }
                })
                .collect();
            request.display_name = full.strip_suffix('-').unwrap_or(&full).to_owned();
        }
        if request.policies.is_empty() {
            request.policies = parent
                .policies
                .iter()
                .filter(|p| !(p.as_str() == "default" && request.no_default_policy))
                .cloned()
                .collect();
        }
        // Vault's order: the subset check (non-sudo parents), then the root check.
        if !parent.is_root() && !sudo {
            let allowed = |p: &String| p == "default" || parent.policies.contains(p);
            if request.policies.iter().any(|p| !allowed(p)) {
                return Err(VaultError::invalid(
                    "child policies must be subset of parent",
                ));
            }
        }
        if request.policies.iter().any(|p| p == "root") && !parent.is_root() {
            return Err(VaultError::invalid(
                "root tokens may not be created without parent token being root",
            ));
        }
        let no_parent = orphan || request.no_parent;
        let parent_id = (!no_parent).then(|| parent.id.clone());
        self.create_entry(parent_id, request, path, now, false, None)
            .await
    }

    async fn create_entry(
        &self,
        parent: Option<String>,
        request: TokenRequest,
        path: &str,
        now: SystemTime,
        root: bool,
        id: Option<&str>,
    ) -> Result<(String, TokenEntry)> {
        let token = match id {
            Some(id) => id.to_owned(),
            None => format!("{PREFIX}{}", random_string(TOKEN_CHARS)?),
        };
        let accessor = random_string(TOKEN_CHARS)?;
        let mut policies = request.policies;
        if !request.no_default_policy && !policies.iter().any(|p| p == "default" || p == "root") {
            policies.push("default".into());
        }
        policies.sort();
        policies.dedup();
        let secs = |d: Option<Duration>| d.map_or(0, |d| d.as_secs());
        // A period never passes the system maximum (Vault caps it, with a warning).
        let period = secs(request.period).min(self.max_ttl.as_secs());
        let explicit_max = secs(request.explicit_max_ttl);
        // A root-policy token asked for without a TTL never expires, as in Vault.
        let root =
            root || (request.ttl.is_none() && period == 0 && policies.iter().any(|p| p == "root"));
        let ttl = if root {
            0
        } else if period > 0 {
            period
        } else {
            let wanted = request.ttl.unwrap_or(self.default_ttl).as_secs();
            let mut ttl = wanted.min(self.max_ttl.as_secs());
            if explicit_max > 0 {
                ttl = ttl.min(explicit_max);
            }
            ttl
        };
        let creation = unix(now);
        let entry = TokenEntry {
            id: self.token_hash(&token),
            accessor: accessor.clone(),
            parent,
            policies,
            path: path.into(),
            meta: request.meta,
            display_name: if request.display_name.is_empty() {
                "token".into()
            } else {
                request.display_name
            },
            num_uses: request.num_uses,
            creation_time: creation,
            ttl,
            explicit_max_ttl: explicit_max,
            period,
            renewable: !root && request.renewable.unwrap_or(true),
            expire_time: (ttl > 0).then(|| creation.saturating_add(ttl)),
            bound_cidrs: request.bound_cidrs,
            mount: request.mount,
            internal: request.internal,
            last_renewal_time: None,
        };
        let bytes = serde_json::to_vec(&entry)
            .map_err(|e| VaultError::Internal(format!("encoding token entry: {e}")))?;
        let mut ops = vec![
            Op::check(format!("{ID_PREFIX}{}", entry.id), None),
            Op::put(format!("{ID_PREFIX}{}", entry.id), bytes),
            Op::put(
                format!("{ACCESSOR_PREFIX}{}", self.hash("accessor", &accessor)),
                entry.id.clone().into_bytes(),
            ),
        ];
        if let Some(parent) = &entry.parent {
            ops.push(Op::put(
                format!("{PARENT_PREFIX}{parent}/{}", entry.id),
                Vec::new(),
            ));
        }
        // A login's token is indexed by its auth mount in the same transaction.
        if let Some(mount) = &entry.mount {
            ops.push(Op::put(
                format!("{}{}", mount_index(mount), entry.id),
                Vec::new(),
            ));
        }
        // And every expiring token by its expiry, for the pass that revokes expired trees.
        if let Some(at) = entry.expire_time {
            ops.push(Op::put(expiry_key(at, &entry.id), Vec::new()));
        }
        self.storage.transaction(ops).await?;
        Ok((token, entry))
    }
}

/// `sys/token/expire/<minute bucket>/<token hash>`: the expiry index, in minute buckets (zero
/// padded unix minutes, so buckets sort by time).
pub(super) const EXPIRE_PREFIX: &str = "sys/token/expire/";

pub(super) fn expiry_bucket(unix_secs: u64) -> String {
    format!("{:012}", unix_secs / 60)
}

pub(super) fn expiry_key(at: u64, id: &str) -> String {
    format!("{EXPIRE_PREFIX}{}/{id}", expiry_bucket(at))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_shape() {
        let token = format!("{PREFIX}{}", random_string(TOKEN_CHARS).unwrap());
        assert!(well_formed(&token));
        assert!(well_formed("root"), "dev root token ids");
        assert!(!well_formed(""));
        assert!(!well_formed(&format!("{token}!")));
        assert!(!well_formed("with space"));
        assert!(!well_formed(&format!("s.{}", "é".repeat(12))));
        assert!(!well_formed(&"a".repeat(129)));
        assert_ne!(random_string(24).unwrap(), random_string(24).unwrap());
    }
}
