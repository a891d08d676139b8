//! Auth methods with Vault's paths and JSON, mounted under `auth/<path>/`:
//!
//! - [`userpass`]: users and passwords (argon2id); `users/<name>`, `users/<name>/password`,
//!   `users/<name>/policies`, `login/<name>`.
//! - [`approle`]: machine logins with a role id and a secret id; `role/<name>` and its
//!   `role-id`, `secret-id` (generate, custom, lookup, destroy, accessor variants, list), `login`.
//! - [`jwt`]: workload logins with a signed JWT, verified against a JWKS URL or PEM keys
//!   ([`jose`] decodes and verifies); `config`, `role/<name>`, `login`.
//!
//! A successful login answers with an [`AuthDescriptor`] (policies, TTLs, uses, CIDR bounds,
//! metadata) that the core turns into a token. Login paths are unauthenticated; every other path
//! needs a token whose policy allows it (the core checks). Failed logins all answer with the same
//! shape (HTTP 400, one message per method), never saying which half was wrong.
#![forbid(unsafe_code)]

pub mod approle;
pub mod jose;
pub mod jwt;
pub mod userpass;

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use strongroom_logical::cidr::Cidr;
use strongroom_logical::{AuthDescriptor, LogicalError, Result, StorageView};
use strongroom_storage::Storage as _;

/// The token settings every role or user carries (Vault's `token_*` fields).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct TokenFields {
    policies: Vec<String>,
    ttl: u64,
    max_ttl: u64,
    explicit_max_ttl: u64,
    period: u64,
    num_uses: u32,
    bound_cidrs: Vec<String>,
    no_default_policy: bool,
}

impl TokenFields {
    /// `self` updated from a request's `token_*` fields (and Vault's older names: `policies`,
    /// `period`, `bound_cidrs`).
    pub(crate) fn update(&self, data: &Map<String, Value>) -> Result<Self> {
        let mut out = self.clone();
        if let Some(p) = strings(data, "token_policies")?.or(strings(data, "policies")?) {
            out.policies = policy_names(p)?;
        }
        if let Some(d) = duration(data, "token_ttl")?.or(duration(data, "ttl")?) {
            out.ttl = d;
        }
        if let Some(d) = duration(data, "token_max_ttl")?.or(duration(data, "max_ttl")?) {
            out.max_ttl = d;
        }
        if let Some(d) = duration(data, "token_explicit_max_ttl")? {
            out.explicit_max_ttl = d;
        }
        if let Some(d) = duration(data, "token_period")?.or(duration(data, "period")?) {
            out.period = d;
        }
        if let Some(n) = number(data, "token_num_uses")? {
            out.num_uses = n;
        }
        if let Some(c) = strings(data, "token_bound_cidrs")?.or(strings(data, "bound_cidrs")?) {
            Cidr::parse_all(&c)?;
            out.bound_cidrs = c;
        }
        if let Some(b) = flag(data, "token_no_default_policy")? {
            out.no_default_policy = b;
        }
        if let Some(kind) = text(data, "token_type")?
            && !matches!(
                kind.as_str(),
                "" | "default" | "service" | "default-service"
            )
        {
            return Err(LogicalError::invalid(format!(
                "token_type {kind:?} is not supported: service tokens only"
            )));
        }
        if out.max_ttl != 0 && out.ttl > out.max_ttl {
            return Err(LogicalError::invalid(
                "'token_ttl' cannot be greater than 'token_max_ttl'",
            ));
        }
        Ok(out)
    }

    /// The fields as Vault reads them back.
    pub(crate) fn write_into(&self, out: &mut Map<String, Value>) {
        out.insert("token_policies".into(), self.policies.clone().into());
        out.insert("token_ttl".into(), self.ttl.into());
        out.insert("token_max_ttl".into(), self.max_ttl.into());
        out.insert(
            "token_explicit_max_ttl".into(),
            self.explicit_max_ttl.into(),
        );
        out.insert("token_period".into(), self.period.into());
        out.insert("token_num_uses".into(), self.num_uses.into());
        out.insert("token_bound_cidrs".into(), self.bound_cidrs.clone().into());
        out.insert(
            "token_no_default_policy".into(),
            self.no_default_policy.into(),
        );
        out.insert("token_type".into(), "default".into());
        out.insert("token_strictly_bind_ip".into(), false.into());
    }

    /// Whether a token's `policies` are still what these settings give (Vault refuses to renew
    /// a login whose policies changed).
    pub(crate) fn same_policies(&self, policies: &[String]) -> bool {
        let mut expected = self.policies.clone();
        if !self.no_default_policy {
            expected.push("default".into());
        }
        expected.sort();
        expected.dedup();
        let mut actual = policies.to_vec();
        actual.sort();
        actual.dedup();
        expected == actual
    }

    /// Checks a renewal against these settings.
    pub(crate) fn renewable(&self, policies: &[String]) -> Result<()> {
        if self.same_policies(policies) {
            Ok(())
        } else {
            Err(LogicalError::invalid("policies have changed, not renewing"))
        }
    }

    /// A login with these settings (and `extra_cidrs`, e.g. a secret id's token bounds).
    pub(crate) fn login(&self, display_name: &str, extra_cidrs: &[String]) -> AuthDescriptor {
        let secs = Duration::from_secs;
        let mut auth = AuthDescriptor::default();
        auth.policies = self.policies.clone();
        auth.ttl = secs(self.ttl);
        let max = match (self.max_ttl, self.explicit_max_ttl) {
            (0, 0) => None,
            (0, e) | (e, 0) => Some(e),
            (m, e) => Some(m.min(e)),
        };
        auth.max_ttl = max.map(secs);
        auth.period = (self.period > 0).then(|| secs(self.period));
        auth.num_uses = self.num_uses;
        auth.renewable = true;
        auth.display_name = display_name.to_owned();
        auth.no_default_policy = self.no_default_policy;
        auth.bound_cidrs = if extra_cidrs.is_empty() {
            self.bound_cidrs.clone()
        } else {
            extra_cidrs.to_vec()
        };
        auth
    }
}

/// Policy names as the core stores them (trimmed, lower-cased, deduplicated); `root` is refused:
/// no login may carry it.
fn policy_names(names: Vec<String>) -> Result<Vec<String>> {
    let mut out = Vec::with_capacity(names.len());
    for name in names {
        let name = name.trim().to_lowercase();
        if name == "root" {
            return Err(LogicalError::invalid(
                "the root policy cannot be given through an auth method",
            ));
        }
        if name.len() > 128
            || name == "."
            || name == ".."
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '@'))
        {
            return Err(LogicalError::invalid(format!(
                "invalid policy name {:?}: letters, digits, '-', '_', '.', '@'",
                name.chars().take(80).collect::<String>()
            )));
        }
        if !out.contains(&name) {
            out.push(name);
        }
    }
    Ok(out)
}

/// Names of users and roles: letters, digits, `-`, `_`, `.`, `@`; 1–128 characters.
pub(crate) fn check_name(kind: &str, name: &str) -> Result<()> {
    if name.is_empty()
        || name.len() > 128
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'@'))
    {
        return Err(LogicalError::invalid(format!(
            "invalid {kind} name {:?}: 1-128 letters, digits, '-', '_', '.' or '@'",
            name.chars().take(80).collect::<String>()
        )));
    }
    Ok(())
}

/// `exists()` for `<folder>/<name>` paths: whether the (lower-cased) name is stored there.
pub(crate) async fn exists_named(
    ctx: &strongroom_logical::Context,
    request: &strongroom_logical::Request,
    folder: &str,
) -> Result<Option<bool>> {
    match request
        .path
        .trim_end_matches('/')
        .split('/')
        .collect::<Vec<_>>()
        .as_slice()
    {
        [first, name] if *first == folder => Ok(Some(
            ctx.storage
                .get(&format!("{folder}/{}", name.to_lowercase()))
                .await?
                .is_some(),
        )),
        _ => Ok(None),
    }
}

/// `renew_login()` for a method whose logins carry the name of a stored user or role
/// (`internal[key]`) under `folder`: the renewal stands while it exists with the same policies.
pub(crate) async fn renew_named<T: for<'de> Deserialize<'de>>(
    ctx: &strongroom_logical::Context,
    internal: &Map<String, Value>,
    key: &str,
    folder: &str,
    token: impl Fn(&T) -> &TokenFields,
    policies: &[String],
) -> Result<()> {
    let name = internal_name(internal, key)?;
    let stored: T = load(&ctx.storage, &format!("{folder}/{name}"))
        .await?
        .ok_or_else(|| LogicalError::invalid(format!("the {key} no longer exists")))?;
    token(&stored).renewable(policies)
}

/// The string `key` of a login's internal data.
pub(crate) fn internal_name(internal: &Map<String, Value>, key: &str) -> Result<String> {
    internal
        .get(key)
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| LogicalError::invalid("the token was not made by this auth method"))
}

pub(crate) fn text(data: &Map<String, Value>, key: &str) -> Result<Option<String>> {
    match data.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(LogicalError::invalid(format!("'{key}' must be a string"))),
    }
}

/// A list: JSON strings, or one comma-separated string (Vault takes both).
pub(crate) fn strings(data: &Map<String, Value>, key: &str) -> Result<Option<Vec<String>>> {
    let list = match data.get(key) {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::String(s)) => s.split(',').map(str::to_owned).collect::<Vec<_>>(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| {
                i.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| LogicalError::invalid(format!("'{key}' must be strings")))
            })
            .collect::<Result<Vec<_>>>()?,
        Some(_) => {
            return Err(LogicalError::invalid(format!(
                "'{key}' must be a list or a comma-separated string"
            )));
        }
    };
    Ok(Some(
        list.into_iter()
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .collect(),
    ))
}

pub(crate) fn duration(data: &Map<String, Value>, key: &str) -> Result<Option<u64>> {
    match data.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(value) => strongroom_logical::time::parse_duration(value)
            .map(|d| Some(d.as_secs()))
            .ok_or_else(|| LogicalError::invalid(format!("invalid duration for '{key}'"))),
    }
}

pub(crate) fn number(data: &Map<String, Value>, key: &str) -> Result<Option<u32>> {
    let bad = || LogicalError::invalid(format!("'{key}' must be a number from 0 to 2^32-1"));
    match data.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .map(Some)
            .ok_or_else(bad),
        Some(Value::String(s)) => s.trim().parse::<u32>().map(Some).map_err(|_| bad()),
        Some(_) => Err(bad()),
    }
}

pub(crate) fn flag(data: &Map<String, Value>, key: &str) -> Result<Option<bool>> {
    match data.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(Value::String(s)) if s == "true" => Ok(Some(true)),
        Some(Value::String(s)) if s == "false" => Ok(Some(false)),
        Some(_) => Err(LogicalError::invalid(format!("'{key}' must be a boolean"))),
    }
}

pub(crate) async fn load<T: for<'de> Deserialize<'de>>(
    storage: &StorageView,
    key: &str,
) -> Result<Option<T>> {
    match storage.get(key).await? {
        Some(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|_| LogicalError::Internal(format!("stored {key} does not decode"))),
        None => Ok(None),
    }
}

pub(crate) fn encode<T: Serialize>(key: &str, value: &T) -> Result<Vec<u8>> {
    serde_json::to_vec(value).map_err(|e| LogicalError::Internal(format!("encoding {key}: {e}")))
}

pub(crate) async fn store<T: Serialize>(storage: &StorageView, key: &str, value: &T) -> Result<()> {
    storage.put(key, encode(key, value)?).await?;
    Ok(())
}

pub(crate) fn random_bytes<const N: usize>() -> Result<[u8; N]> {
    ring::rand::generate::<[u8; N]>(&ring::rand::SystemRandom::new())
        .map(ring::rand::Random::expose)
        .map_err(|_| LogicalError::Internal("the system random source failed".into()))
}

/// A random UUID (v4), Vault's format for role and secret ids.
pub(crate) fn uuid() -> Result<String> {
    let mut b = random_bytes::<16>()?;
    if let Some(v) = b.get_mut(6) {
        *v = (*v & 0x0f) | 0x40;
    }
    if let Some(v) = b.get_mut(8) {
        *v = (*v & 0x3f) | 0x80;
    }
    let h = hex(&b);
    Ok(format!(
        "{}-{}-{}-{}-{}",
        h.get(..8).unwrap_or_default(),
        h.get(8..12).unwrap_or_default(),
        h.get(12..16).unwrap_or_default(),
        h.get(16..20).unwrap_or_default(),
        h.get(20..).unwrap_or_default()
    ))
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut out, b| {
            let _ = write!(out, "{b:02x}");
            out
        })
}

/// The mount's HMAC key for hashing ids before they are used as storage keys (made once,
/// kept in the mount's storage, inside the barrier).
pub(crate) async fn mount_key(storage: &StorageView) -> Result<ring::hmac::Key> {
    const KEY: &str = "salt";
    let bytes = match storage.get(KEY).await? {
        Some(bytes) => bytes,
        None => {
            let fresh = random_bytes::<32>()?.to_vec();
            let ops = vec![
                strongroom_storage::Op::check(KEY, None),
                strongroom_storage::Op::put(KEY, fresh.clone()),
            ];
            match storage.transaction(ops).await {
                Ok(()) => fresh,
                // Another request made it first: use theirs.
                Err(_) => storage
                    .get(KEY)
                    .await?
                    .ok_or_else(|| LogicalError::Internal("the mount salt vanished".into()))?,
            }
        }
    };
    Ok(ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &bytes))
}

/// `hex(HMAC(key, purpose ∥ 0 ∥ value))`.
pub(crate) fn keyed_hash(key: &ring::hmac::Key, purpose: &str, value: &str) -> String {
    let mut ctx = ring::hmac::Context::with_key(key);
    ctx.update(purpose.as_bytes());
    ctx.update(&[0]);
    ctx.update(value.as_bytes());
    hex(ctx.sign().as_ref())
}
