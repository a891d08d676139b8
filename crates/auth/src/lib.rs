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

#[cfg(test)]
mod tests;

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use strongroom_logical::cidr::Cidr;
use strongroom_logical::{
    AuthDescriptor, Endpoint, Field, FieldType, Fields, LogicalError, Result, StorageView,
};
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
    /// `ttl`, `max_ttl`, `period`, `bound_cidrs`; the newer name wins when both are sent). The
    /// endpoint declares them with [`token_fields`].
    pub(crate) fn update(&self, fields: &Fields<'_>) -> Result<Self> {
        let mut out = self.clone();
        let newer = |new: &str, old: &str| {
            if fields.is_set(new) {
                new.to_owned()
            } else {
                old.to_owned()
            }
        };
        if let Some(p) = fields.get_ok::<Vec<String>>(&newer("token_policies", "policies"))? {
            out.policies = policy_names(p)?;
        }
        if let Some(d) = fields.get_ok::<u64>(&newer("token_ttl", "ttl"))? {
            out.ttl = d;
        }
        if let Some(d) = fields.get_ok::<u64>(&newer("token_max_ttl", "max_ttl"))? {
            out.max_ttl = d;
        }
        if let Some(d) = fields.get_ok::<u64>("token_explicit_max_ttl")? {
            out.explicit_max_ttl = d;
        }
        if let Some(d) = fields.get_ok::<u64>(&newer("token_period", "period"))? {
            out.period = d;
        }
        if let Some(n) = fields.get_ok::<u32>("token_num_uses")? {
            out.num_uses = n;
        }
        if let Some(c) = fields.get_ok::<Vec<String>>(&newer("token_bound_cidrs", "bound_cidrs"))? {
            out.bound_cidrs = cidr_list(c)?;
        }
        if let Some(b) = fields.get_ok::<bool>("token_no_default_policy")? {
            out.no_default_policy = b;
        }
        let kind: &str = fields.get("token_type")?;
        if !matches!(kind, "" | "default" | "service" | "default-service") {
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

/// A list of CIDR blocks as given (trimmed, empty items dropped), each checked.
pub(crate) fn cidr_list(blocks: Vec<String>) -> Result<Vec<String>> {
    let blocks: Vec<String> = blocks.into_iter().filter(|b| !b.is_empty()).collect();
    Cidr::parse_all(&blocks)?;
    Ok(blocks)
}

/// Vault's `tokenutil.DeprecationText`.
pub(crate) fn deprecated(newer: &str) -> String {
    format!(
        "Use {newer:?} instead. If this and {newer:?} are both specified, only {newer:?} will be used."
    )
}

/// Declares Vault's `token_*` fields (`tokenutil.TokenFields`, with their types and help) and
/// the older names this method still takes (`policies`, `ttl`, `max_ttl`, `period`,
/// `bound_cidrs`: deprecated in Vault), as [`TokenFields::update`] reads them.
pub(crate) fn token_fields<B>(endpoint: Endpoint<B>) -> Endpoint<B> {
    endpoint
        .field(
            "token_bound_cidrs",
            Field::new(
                FieldType::CommaStringSlice,
                "Comma separated string or JSON list of CIDR blocks. If set, specifies the blocks \
                 of IP addresses which are allowed to use the generated token.",
            ),
        )
        .field(
            "token_explicit_max_ttl",
            Field::new(
                FieldType::DurationSecond,
                "If set, tokens created via this role carry an explicit maximum TTL. During \
                 renewal, the current maximum TTL values of the role and the mount are not \
                 checked for changes, and any updates to these values will have no effect on \
                 the token being renewed.",
            ),
        )
        .field(
            "token_max_ttl",
            Field::new(
                FieldType::DurationSecond,
                "The maximum lifetime of the generated token",
            ),
        )
        .field(
            "token_no_default_policy",
            Field::new(
                FieldType::Bool,
                "If true, the 'default' policy will not automatically be added to generated \
                 tokens",
            ),
        )
        .field(
            "token_period",
            Field::new(
                FieldType::DurationSecond,
                "If set, tokens created via this role will have no max lifetime; instead, their \
                 renewal period will be fixed to this value. This takes an integer number of \
                 seconds, or a string duration (e.g. \"24h\").",
            ),
        )
        .field(
            "token_policies",
            Field::new(
                FieldType::CommaStringSlice,
                "Comma-separated list of policies",
            ),
        )
        .field(
            "token_type",
            Field::new(
                FieldType::String,
                "The type of token to generate, service or batch",
            )
            .default("default-service"),
        )
        .field(
            "token_ttl",
            Field::new(
                FieldType::DurationSecond,
                "The initial ttl of the token to generate",
            ),
        )
        .field(
            "token_num_uses",
            Field::new(
                FieldType::Int,
                "The maximum number of times a token may be used, a value of zero means \
                 unlimited",
            ),
        )
        .field(
            "policies",
            Field::new(FieldType::CommaStringSlice, deprecated("token_policies")),
        )
        .field(
            "ttl",
            Field::new(FieldType::DurationSecond, deprecated("token_ttl")),
        )
        .field(
            "max_ttl",
            Field::new(FieldType::DurationSecond, deprecated("token_max_ttl")),
        )
        .field(
            "period",
            Field::new(FieldType::DurationSecond, deprecated("token_period")),
        )
        .field(
            "bound_cidrs",
            Field::new(FieldType::CommaStringSlice, deprecated("token_bound_cidrs")),
        )
}

/// Policy names as the core stores them (trimmed, lower-cased, deduplicated); `root` is refused:
/// no login may carry it.
pub(crate) fn policy_names(names: Vec<String>) -> Result<Vec<String>> {
    let mut out = Vec::with_capacity(names.len());
    for name in names {
        let name = name.trim().to_lowercase();
        if name.is_empty() {
            continue;
        }
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
    let stored: T = ctx
        .storage
        .get_json(&format!("{folder}/{name}"))
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
