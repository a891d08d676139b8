//! The token store: service tokens are random, prefixed strings; storage holds only keyed
//! hashes of tokens and accessors (as keys) and the token entries (inside the barrier). Batch
//! tokens are not stored at all: the token carries its own entry, sealed under a key the store
//! keeps inside the barrier (see [`batch`]). Token roles (`auth/token/roles/*`) are in
//! [`roles`].

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use ring::hmac;
use serde::{Deserialize, Serialize};
use strongroom_storage::{Op, Storage};

use crate::clock::unix;
use crate::{Result, VaultError};

mod batch;
mod lookup;
pub(crate) mod roles;
mod ttl;

pub(crate) use lookup::Resolved;
pub(crate) use roles::{Role, RoleTokenType};
pub(crate) use ttl::calculate_ttl;

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

/// `sys/cubbyhole/<token hash>/...`: each token's cubbyhole (inside the barrier).
const CUBBYHOLE_PREFIX: &str = "sys/cubbyhole/";

/// The policy of a response-wrapping token: it may read its own cubbyhole's `response` and
/// unwrap, nothing else.
pub(crate) const WRAPPING_POLICY: &str = "response-wrapping";

/// The cubbyhole of the token whose keyed hash is `id`.
pub(crate) fn cubbyhole(
    storage: &Arc<dyn Storage>,
    id: &str,
) -> Result<strongroom_logical::StorageView> {
    if id.is_empty() || id.contains('/') {
        return Err(VaultError::Internal(
            "a token hash names no cubbyhole".into(),
        ));
    }
    Ok(strongroom_logical::StorageView::new(
        Arc::clone(storage),
        format!("{CUBBYHOLE_PREFIX}{id}/"),
    )?)
}

/// Refuses policies no token may be given ([`NON_ASSIGNABLE_POLICIES`]): only the vault makes
/// response-wrapping tokens.
fn assignable(policies: &[String]) -> Result<()> {
    match policies
        .iter()
        .find(|p| NON_ASSIGNABLE_POLICIES.contains(&p.as_str()))
    {
        Some(policy) => Err(VaultError::invalid(format!(
            "cannot assign policy {policy:?}"
        ))),
        None => Ok(()),
    }
}

fn mount_index(mount: &str) -> String {
    format!("{MOUNT_PREFIX}{}/", crate::util::hex(mount.as_bytes()))
}

/// A token's type, as Vault has them.
///
/// A **service** token is stored: it has an accessor, can be renewed and revoked, and can
/// create children. A **batch** token is not stored at all: the token (`b.` and a sealed copy
/// of its entry) is its own record, so it costs no storage write; it cannot be renewed, revoked
/// (it lives until its TTL, or until its parent goes) or create tokens, and has no accessor.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum TokenType {
    /// A stored token (`s.`).
    #[default]
    Service,
    /// A token that carries its own sealed entry (`b.`).
    Batch,
}

impl TokenType {
    /// Vault's name for it: `service` or `batch`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Service => "service",
            Self::Batch => "batch",
        }
    }

    fn is_service(&self) -> bool {
        *self == Self::Service
    }
}

impl std::fmt::Display for TokenType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A token as stored (inside the barrier), or as a batch token carries it. The token itself is
/// never stored.
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
    /// The TTL the token was created with, once a renewal changed `ttl` (lookups report it as
    /// `creation_ttl`, as Vault does).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) creation_ttl: Option<u64>,
    /// Service or batch (a batch entry is never stored: it is rebuilt from the token).
    #[serde(default, skip_serializing_if = "TokenType::is_service")]
    pub(crate) token_type: TokenType,
    /// The token role it was created against (`auth/token/create/<role>`): renewals follow the
    /// role's period and explicit maximum TTL as they are then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) role: Option<String>,
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
            .field("token_type", &self.token_type)
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

    /// The TTL it was created with (before any renewal).
    pub(crate) fn created_ttl(&self) -> u64 {
        self.creation_ttl.unwrap_or(self.ttl)
    }

    pub(crate) fn is_batch(&self) -> bool {
        self.token_type == TokenType::Batch
    }

    /// The token hash the leases this token creates are tracked under (revoked with it): its
    /// own, or for a batch token its parent's (a batch token cannot be revoked; its leases go
    /// with its parent, or at their own expiry, which never passes the token's), as in Vault.
    pub(crate) fn lease_owner(&self) -> &str {
        match (&self.token_type, &self.parent) {
            (TokenType::Batch, Some(parent)) => parent,
            _ => &self.id,
        }
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
    /// The token type; `None`: service (or the token role's default).
    pub token_type: Option<TokenType>,
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
    /// Cubbyholes whose token was missing at the last sweep (see `sweep_cubbyholes`).
    orphan_suspects: std::sync::Mutex<std::collections::HashSet<String>>,
    /// The key batch tokens are sealed under, once read from (or created in) storage.
    batch_key: tokio::sync::OnceCell<batch::BatchKey>,
}

/// Where and how `auth/token/create...` creates a token.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Creation<'a> {
    /// The caller holds `sudo` (or root) on the request path.
    pub(crate) sudo: bool,
    /// The path makes orphans (`create-orphan`).
    pub(crate) orphan: bool,
    /// The request path, recorded as the token's `path` (a role's suffix is added to it).
    pub(crate) path: &'a str,
    /// The token role created against (`auth/token/create/<role>`).
    pub(crate) role: Option<&'a Role>,
}

/// A token `auth/token/create...` made. `Debug` hides the token.
pub(crate) struct Created {
    /// The token.
    pub(crate) token: String,
    /// Its entry.
    pub(crate) entry: TokenEntry,
    /// Vault's warnings (a capped TTL or period, a role overriding a value).
    pub(crate) warnings: Vec<String>,
    /// The use limit the answer's `auth` block shows: the entry's, except that Vault shows a
    /// role's limit for a batch token too (which has none).
    pub(crate) num_uses: u32,
}

impl std::fmt::Debug for Created {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Created")
            .field("token", &"[REDACTED]")
            .field("entry", &self.entry)
            .field("warnings", &self.warnings)
            .field("num_uses", &self.num_uses)
            .finish()
    }
}

/// Everything a new token is, decided: what [`TokenStore::mint`] makes.
struct Spec {
    parent: Option<String>,
    /// Final: sorted, without duplicates, `default` added or not.
    policies: Vec<String>,
    path: String,
    meta: BTreeMap<String, String>,
    display_name: String,
    num_uses: u32,
    /// 0: never expires.
    ttl: u64,
    explicit_max_ttl: u64,
    period: u64,
    renewable: bool,
    bound_cidrs: Vec<String>,
    mount: Option<String>,
    internal: serde_json::Map<String, serde_json::Value>,
    role: Option<String>,
    token_type: TokenType,
}

/// Policies no token may be given (Vault's `nonAssignablePolicies`).
const NON_ASSIGNABLE_POLICIES: [&str; 2] = ["response-wrapping", "control-group"];

/// Vault's `SanitizePolicies`: trimmed, lower case, no empty names, `root` alone when present,
/// `default` added when asked (and `root` absent), sorted without duplicates.
pub(crate) fn sanitize_policies<S: AsRef<str>>(policies: &[S], add_default: bool) -> Vec<String> {
    let mut out: Vec<String> = policies
        .iter()
        .map(|p| p.as_ref().trim().to_lowercase())
        .filter(|p| !p.is_empty())
        .collect();
    if out.iter().any(|p| p == "root") {
        return vec!["root".into()];
    }
    if add_default && !out.iter().any(|p| p == "default") {
        out.push("default".into());
    }
    out.sort();
    out.dedup();
    out
}

/// Vault's display name rule: `token-<name>`, every character but letters, digits and `-`
/// replaced by `-`, one trailing `-` dropped.
fn display_name(asked: &str) -> String {
    if asked.is_empty() {
        return "token".into();
    }
    let mut full: String = format!("token-{asked}")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect();
    if full.ends_with('-') {
        full.pop();
    }
    full
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
///
/// A batch token (`b.`) is base64url after its prefix, at most [`batch::MAX_TOKEN_LEN`] long.
pub(crate) fn well_formed(token: &str) -> bool {
    if let Some(body) = token.strip_prefix(batch::PREFIX) {
        return batch::well_formed_body(body);
    }
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
            orphan_suspects: std::sync::Mutex::default(),
            batch_key: tokio::sync::OnceCell::new(),
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
        if !well_formed(id) || id.starts_with(batch::PREFIX) {
            return Err(VaultError::invalid(
                "a root token id must be 1 to 128 letters, digits, '.', '-' or '_', and not \
                 start with 'b.' (batch tokens)",
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
        assignable(&request.policies)?;
        self.create_entry(None, request, path, now, false, None)
            .await
    }

    /// Creates a response-wrapping token for an answer to a request at `path`: an orphan with
    /// one use, living `ttl` (never renewed, never longer; not capped by the system maximum, as
    /// in Vault), whose only policy is
    /// [`WRAPPING_POLICY`].
    pub(crate) async fn create_wrapping(
        &self,
        path: &str,
        ttl: Duration,
        now: SystemTime,
    ) -> Result<(String, TokenEntry)> {
        // The TTL asked for, not capped by the system maximum (Vault's wrapping tokens are not).
        let ttl = ttl.as_secs().max(1);
        let spec = Spec {
            parent: None,
            policies: vec![WRAPPING_POLICY.into()],
            path: path.into(),
            meta: BTreeMap::new(),
            display_name: String::new(),
            num_uses: 1,
            ttl,
            explicit_max_ttl: ttl,
            period: 0,
            renewable: false,
            bound_cidrs: Vec::new(),
            mount: None,
            internal: serde_json::Map::new(),
            role: None,
            token_type: TokenType::Service,
        };
        self.mint(spec, now, None).await
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
    /// `auth/token/create-orphan`, `auth/token/create/<role>`), with Vault's rules, in Vault's
    /// order (its `handleCreateCommon`): `sudo` is whether the caller holds `sudo` (or root) on
    /// that path; `orphan` whether the path makes orphans. A batch token or a restricted-use
    /// token cannot create children; a batch token cannot have a use limit, a period or an
    /// explicit maximum TTL, and cannot be root. Without a role restricting them, policies
    /// must be a subset of the parent's unless the caller holds sudo, and empty ones inherit
    /// the parent's; a role's allowed and disallowed lists replace that rule. A periodic token
    /// or `no_parent` needs sudo (a role's period and orphan setting do not); only a root
    /// parent can create a root token.
    pub(crate) async fn create(
        &self,
        parent: &TokenEntry,
        request: TokenRequest,
        creation: Creation<'_>,
        now: SystemTime,
    ) -> Result<Created> {
        let Creation {
            sudo,
            orphan,
            path,
            role,
        } = creation;
        if parent.is_batch() {
            return Err(VaultError::invalid(
                "batch tokens cannot create more tokens",
            ));
        }
        if parent.num_uses > 0 {
            return Err(VaultError::invalid(
                "restricted use token cannot generate child tokens",
            ));
        }
        let token_type = match role.map(|r| r.token_type) {
            Some(RoleTokenType::Service) => TokenType::Service,
            Some(RoleTokenType::Batch) => TokenType::Batch,
            Some(RoleTokenType::DefaultBatch) => request.token_type.unwrap_or(TokenType::Batch),
            Some(RoleTokenType::DefaultService) | None => {
                request.token_type.unwrap_or(TokenType::Service)
            }
        };
        let batch = token_type == TokenType::Batch;
        let mut renewable = request.renewable.unwrap_or(true);
        if batch {
            let bad = if request.explicit_max_ttl.is_some_and(|d| !d.is_zero()) {
                Some("explicit_max_ttl")
            } else if request.num_uses != 0 {
                Some("num_uses")
            } else if request.period.is_some_and(|d| !d.is_zero()) {
                Some("period")
            } else {
                None
            };
            if let Some(bad) = bad {
                return Err(VaultError::invalid(format!(
                    "batch tokens cannot have {bad:?} set"
                )));
            }
            renewable = false;
        }
        let mut path = path.to_owned();
        let mut num_uses = request.num_uses;
        if let Some(role) = role {
            // A batch token cannot count uses: a role that limits them makes none, rather than
            // tokens whose limit is shown and never enforced (OpenBao's answer).
            if batch && role.token_num_uses != 0 {
                return Err(VaultError::invalid(
                    "batch tokens cannot have \"num_uses\" set: the role sets token_num_uses",
                ));
            }
            renewable = renewable && role.renewable;
            // 0 is unlimited, so any limit of the role's is tighter than none.
            if role.token_num_uses != 0 && (num_uses == 0 || role.token_num_uses < num_uses) {
                num_uses = role.token_num_uses;
            }
            if !role.path_suffix.is_empty() {
                path = format!("{path}/{}", role.path_suffix);
            }
        }

        // Policies. `default` is added by the rules below, then stripped whatever they said
        // when the request asked for no default policy.
        let no_default = request.no_default_policy;
        let mut add_default = false;
        let policies = match role.filter(|r| r.restricts_policies()) {
            Some(role) => role.policies_for(&request.policies, no_default, &parent.policies)?,
            None if request.policies.is_empty() => sanitize_policies(&parent.policies, false),
            None if !sudo => {
                let asked = sanitize_policies(&request.policies, false);
                let have = sanitize_policies(&parent.policies, false);
                if asked.iter().any(|p| !have.contains(p)) {
                    return Err(VaultError::invalid(
                        "child policies must be subset of parent",
                    ));
                }
                add_default = !no_default && parent.policies.iter().any(|p| p == "default");
                asked
            }
            None => {
                add_default = !no_default;
                request.policies.clone()
            }
        };
        let mut policies = sanitize_policies(&policies, add_default);
        if no_default {
            policies.retain(|p| p != "default");
        }
        assignable(&policies)?;
        let root_policy = policies.iter().any(|p| p == "root");
        if root_policy {
            if !parent.is_root() {
                return Err(VaultError::invalid(
                    "root tokens may not be created without parent token being root",
                ));
            }
            if batch {
                return Err(VaultError::invalid("batch tokens cannot be root tokens"));
            }
        }

        // Parent, orphan and CIDR bounds.
        let mut parent_id = Some(parent.id.clone());
        let mut bound_cidrs = request.bound_cidrs.clone();
        strongroom_logical::cidr::Cidr::parse_all(&bound_cidrs)?;
        match role {
            Some(role) => {
                if role.orphan {
                    parent_id = None;
                }
                // A role's bounds replace any (roles may escalate, as in Vault).
                if !role.token_bound_cidrs.is_empty() {
                    bound_cidrs = role.token_bound_cidrs.clone();
                }
            }
            None if request.no_parent => {
                if !sudo {
                    return Err(VaultError::invalid(
                        "root or sudo privileges required to create orphan token",
                    ));
                }
                parent_id = None;
            }
            None => {
                if orphan {
                    parent_id = None;
                }
            }
        }
        // A child of a CIDR-bound token is bound at least as tightly as its parent.
        if role.is_none() && !parent.bound_cidrs.is_empty() {
            let bounds = strongroom_logical::cidr::Cidr::parse_all(&parent.bound_cidrs)?;
            let asked = strongroom_logical::cidr::Cidr::parse_all(&bound_cidrs)?;
            if bound_cidrs.is_empty() {
                bound_cidrs = parent.bound_cidrs.clone();
            } else if !strongroom_logical::cidr::all_within(&asked, &bounds) {
                return Err(VaultError::invalid(
                    "bound_cidrs must lie within the parent token's bound CIDRs",
                ));
            }
        }

        // Lifetimes.
        let secs = |d: Option<Duration>| d.map_or(0, |d| d.as_secs());
        let asked_explicit_max = secs(request.explicit_max_ttl);
        let asked_period = secs(request.period);
        let mut explicit_max = asked_explicit_max;
        let mut period = asked_period;
        if period > 0 && !sudo {
            return Err(VaultError::invalid(
                "root or sudo privileges required to create periodic token",
            ));
        }
        let mut warnings = Vec::new();
        if let Some(role) = role.filter(|_| !batch) {
            let role_max = role.token_explicit_max_ttl;
            if role_max != 0 {
                if explicit_max == 0 {
                    explicit_max = role_max;
                } else {
                    explicit_max = explicit_max.min(role_max);
                    warnings.push(format!(
                        "Explicit max TTL specified both during creation call and in role; \
                         using the lesser value of {explicit_max} seconds"
                    ));
                }
            }
            let role_period = role.token_period;
            if role_period != 0 {
                if period == 0 {
                    period = role_period;
                } else {
                    period = period.min(role_period);
                    warnings.push(format!(
                        "Period specified both during creation call and in role; using the \
                         lesser value of {period} seconds"
                    ));
                }
            }
        }
        let now_s = unix(now);
        let mut ttl = secs(request.ttl);
        if period > 0 || ttl > 0 || !root_policy {
            let (computed, said) = calculate_ttl(
                self.max_ttl.as_secs(),
                self.default_ttl.as_secs(),
                0,
                ttl,
                period,
                explicit_max,
                now_s,
                now_s,
            )?;
            warnings.extend(said);
            ttl = computed;
        }
        // Root tokens are still bound by an explicit maximum.
        if ttl == 0 && explicit_max > 0 {
            ttl = explicit_max;
        }
        if ttl == 0 {
            if parent.created_ttl() != 0 {
                return Err(VaultError::invalid(
                    "expiring root tokens cannot create non-expiring root tokens",
                ));
            }
            renewable = false;
            bound_cidrs.clear();
        }
        let spec = Spec {
            parent: parent_id,
            policies,
            path,
            meta: request.meta,
            display_name: display_name(&request.display_name),
            num_uses: if batch { 0 } else { num_uses },
            ttl,
            // What the request asked for: a role's own limits apply at renewal as the role
            // then has them (lookups show the asked ones, as Vault's do).
            explicit_max_ttl: if batch { 0 } else { asked_explicit_max },
            period: if batch { 0 } else { asked_period },
            renewable,
            bound_cidrs,
            mount: None,
            internal: serde_json::Map::new(),
            role: role.map(|r| r.name.clone()),
            token_type,
        };
        let (token, entry) = self.mint(spec, now, None).await?;
        Ok(Created {
            token,
            entry,
            warnings,
            num_uses,
        })
    }

    /// A root or login token (see [`create_root`](Self::create_root) and
    /// [`create_login`](Self::create_login)): the settings the caller decided, with the system
    /// TTLs where it left them open.
    async fn create_entry(
        &self,
        parent: Option<String>,
        request: TokenRequest,
        path: &str,
        now: SystemTime,
        root: bool,
        id: Option<&str>,
    ) -> Result<(String, TokenEntry)> {
        let mut policies = request.policies;
        if !request.no_default_policy && !policies.iter().any(|p| p == "default" || p == "root") {
            policies.push("default".into());
        }
        policies.sort();
        policies.dedup();
        let secs = |d: Option<Duration>| d.map_or(0, |d| d.as_secs());
        // A period never passes the system maximum.
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
        let spec = Spec {
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
            ttl,
            explicit_max_ttl: explicit_max,
            period,
            renewable: !root && request.renewable.unwrap_or(true),
            bound_cidrs: request.bound_cidrs,
            mount: request.mount,
            internal: request.internal,
            role: None,
            token_type: TokenType::Service,
        };
        self.mint(spec, now, id).await
    }

    /// Makes the token `spec` describes: a service token is stored (entry, accessor index,
    /// parent, mount and expiry indexes, one transaction); a batch token is sealed into the
    /// token itself and nothing is written.
    async fn mint(
        &self,
        spec: Spec,
        now: SystemTime,
        id: Option<&str>,
    ) -> Result<(String, TokenEntry)> {
        let creation = unix(now);
        let mut entry = TokenEntry {
            id: String::new(),
            accessor: String::new(),
            parent: spec.parent,
            policies: spec.policies,
            path: spec.path,
            meta: spec.meta,
            display_name: spec.display_name,
            num_uses: spec.num_uses,
            creation_time: creation,
            ttl: spec.ttl,
            explicit_max_ttl: spec.explicit_max_ttl,
            period: spec.period,
            renewable: spec.renewable,
            expire_time: (spec.ttl > 0).then(|| creation.saturating_add(spec.ttl)),
            bound_cidrs: spec.bound_cidrs,
            mount: spec.mount,
            internal: spec.internal,
            last_renewal_time: None,
            creation_ttl: None,
            token_type: spec.token_type,
            role: spec.role,
        };
        if entry.is_batch() {
            let key = self.batch_key(true).await?.ok_or_else(|| {
                VaultError::Internal("the batch token key could not be created".into())
            })?;
            let token = batch::seal(key, &entry)?;
            entry.id = self.token_hash(&token);
            return Ok((token, entry));
        }
        let token = match id {
            Some(id) => id.to_owned(),
            None => format!("{PREFIX}{}", random_string(TOKEN_CHARS)?),
        };
        let accessor = random_string(TOKEN_CHARS)?;
        entry.id = self.token_hash(&token);
        entry.accessor.clone_from(&accessor);
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
