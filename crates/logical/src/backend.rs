use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use serde_json::{Map, Value};

use crate::{LogicalError, Request, Response, Result, StorageView};

/// What the core tells an engine about where it runs.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Context {
    /// The engine's storage, confined to its mount.
    pub storage: StorageView,
    /// The mount path, with a trailing `/` (e.g. `secret/`).
    pub mount_path: String,
    /// The mount's default lease TTL (already resolved against the system default).
    pub default_lease_ttl: Duration,
    /// The mount's maximum lease TTL (already resolved against the system maximum).
    pub max_lease_ttl: Duration,
    /// The current time, from the core's clock (so tests can control it).
    pub now: SystemTime,
}

impl Context {
    /// A context for `storage` mounted at `mount_path`, with Vault's system defaults (32 days).
    pub fn new(storage: StorageView, mount_path: impl Into<String>) -> Self {
        const THIRTY_TWO_DAYS: Duration = Duration::from_secs(32 * 24 * 3600);
        Self {
            storage,
            mount_path: mount_path.into(),
            default_lease_ttl: THIRTY_TWO_DAYS,
            max_lease_ttl: THIRTY_TWO_DAYS,
            now: SystemTime::now(),
        }
    }
}

/// A lease the core holds for a secret the engine issued, handed back to renew or revoke it.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Lease {
    /// The lease id.
    pub id: String,
    /// The path (below the mount) of the request that issued the secret.
    pub path: String,
    /// The engine's `internal` data from the issuing [`SecretDescriptor`](crate::SecretDescriptor).
    pub internal: Map<String, Value>,
    /// When the secret was issued.
    pub issued: SystemTime,
    /// The renewal increment the client asked for, if any.
    pub increment: Option<Duration>,
}

impl Lease {
    /// A lease with no internal data, issued now.
    pub fn new(id: impl Into<String>, path: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            path: path.into(),
            internal: Map::new(),
            issued: SystemTime::now(),
            increment: None,
        }
    }
}

/// A secret engine or auth method: what gets mounted.
///
/// Engines depend on `strongroom-logical` only; they never see the core. Every method receives
/// the [`Context`] of its mount, with storage confined to it.
#[async_trait]
pub trait Backend: Send + Sync + std::fmt::Debug {
    /// Handles a request to a path below the mount.
    ///
    /// # Errors
    ///
    /// A [`LogicalError`] in Vault's categories; [`LogicalError::UnsupportedPath`] for paths the
    /// engine does not serve.
    async fn handle(&self, ctx: &Context, request: Request) -> Result<Response>;

    /// Whether the target of a write exists, so the core can tell `create` from `update` for the
    /// policy check (Vault's existence check). `None` (the default): the engine does not say, and
    /// every write counts as an update.
    ///
    /// # Errors
    ///
    /// A storage failure.
    async fn exists(&self, ctx: &Context, request: &Request) -> Result<Option<bool>> {
        let _ = (ctx, request);
        Ok(None)
    }

    /// Renews a secret this engine issued; returns the new lease terms in `secret`. By default
    /// secrets are not renewable.
    ///
    /// # Errors
    ///
    /// [`LogicalError::InvalidRequest`] when the secret cannot be renewed.
    async fn renew(&self, ctx: &Context, lease: &Lease) -> Result<Response> {
        let _ = (ctx, lease);
        Err(LogicalError::invalid("lease is not renewable"))
    }

    /// Revokes a secret this engine issued (drops the database user, ...). Must succeed when
    /// the secret is already gone: the core retries revocations. By default there is nothing to do.
    ///
    /// # Errors
    ///
    /// Any failure; the core retries with backoff.
    async fn revoke(&self, ctx: &Context, lease: &Lease) -> Result<()> {
        let _ = (ctx, lease);
        Ok(())
    }

    /// Housekeeping the core runs for every mount about once a minute while unsealed (Vault's
    /// periodic function): transit rotates keys whose `auto_rotate_period` has passed, for
    /// example. The default does nothing.
    ///
    /// # Errors
    ///
    /// Any failure; the core logs it and runs the function again next time.
    async fn periodic(&self, ctx: &Context) -> Result<()> {
        let _ = ctx;
        Ok(())
    }

    /// How often the core runs [`periodic`](Self::periodic): default once a minute. The
    /// core's background pass runs every second, so whole seconds from one up are honoured.
    fn periodic_interval(&self) -> Duration {
        Duration::from_secs(60)
    }

    /// An auth method's say on renewing a token one of its logins made: `internal` is the
    /// login's [`AuthDescriptor::internal`](crate::AuthDescriptor), `policies` the token's. Vault's
    /// methods refuse when the user or role is gone or its policies changed. The default allows.
    ///
    /// # Errors
    ///
    /// Why the token may not be renewed (the renewal fails with it).
    async fn renew_login(
        &self,
        ctx: &Context,
        internal: &Map<String, Value>,
        policies: &[String],
    ) -> Result<()> {
        let _ = (ctx, internal, policies);
        Ok(())
    }

    /// The path below the mount as this engine will read it, when it folds part of it (Vault's
    /// auth methods lower-case user and role names): the core asks before the policy check, so
    /// the ACL decides on the path the engine acts on and `users/ADMIN` cannot dodge a rule
    /// for `users/admin`. The engine is then handed the returned path. `None` (the default):
    /// the path as written.
    fn canonical_path(&self, path: &str) -> Option<String> {
        let _ = path;
        None
    }

    /// The identity a login request names, before it is handled (Vault's alias lookahead), for
    /// user lockout: userpass answers the folded user name, approle the role id. `None` (the
    /// default): the request is not a login this method can lock out, and the core does not
    /// count it. `request.path` is the canonical path below the mount.
    fn login_identity(&self, request: &Request) -> Option<String> {
        let _ = request;
        None
    }

    /// The answer to a login refused because its identity is locked out. It must be exactly
    /// what a wrong credential gets (a locked account must not be an oracle), and should cost
    /// about the same time (userpass verifies the password against a dummy hash). Only called
    /// for requests [`login_identity`](Self::login_identity) named; it must change nothing.
    async fn locked_login(&self, ctx: &Context, request: &Request) -> LogicalError {
        let _ = (ctx, request);
        LogicalError::InvalidCredentials("invalid credentials".into())
    }

    /// Paths below the mount that need no token (e.g. `login`, `login/*`): exact, or a prefix
    /// ending in `*`. Only read by the default [`is_unauthenticated`](Self::is_unauthenticated):
    /// engines on the path framework declare it per endpoint instead.
    fn unauthenticated_paths(&self) -> &[&str] {
        &[]
    }

    /// Paths below the mount that need `sudo` in addition to the operation's capability: exact,
    /// or a prefix ending in `*`. Only read by the default [`needs_sudo`](Self::needs_sudo):
    /// engines on the path framework declare it per endpoint instead.
    fn sudo_paths(&self) -> &[&str] {
        &[]
    }

    /// Whether `path` (below the mount) needs no token. The core asks this, never the list.
    /// The default matches [`unauthenticated_paths`](Self::unauthenticated_paths); an engine on
    /// the path framework answers [`Endpoints::is_unauthenticated`](crate::Endpoints::is_unauthenticated).
    fn is_unauthenticated(&self, path: &str) -> bool {
        path_matches(self.unauthenticated_paths(), path)
    }

    /// Whether `path` (below the mount) needs `sudo`. The core asks this, never the list. The
    /// default matches [`sudo_paths`](Self::sudo_paths); an engine on the path framework answers
    /// [`Endpoints::needs_sudo`](crate::Endpoints::needs_sudo).
    fn needs_sudo(&self, path: &str) -> bool {
        path_matches(self.sudo_paths(), path)
    }

    /// The engine's declared endpoints (for help and the OpenAPI document); empty for engines
    /// not on the path framework.
    fn endpoints(&self) -> &[crate::EndpointInfo] {
        &[]
    }
}

/// `path` with its segment number `index` (0-based) lower-cased, when `path` starts with the
/// segment `first` and that segment has upper-case letters: the helper behind
/// [`Backend::canonical_path`] for `users/<name>/...`-shaped paths.
pub fn fold_segment(path: &str, first: &str, index: usize) -> Option<String> {
    let mut segments: Vec<&str> = path.split('/').collect();
    if segments.first() != Some(&first) {
        return None;
    }
    let name = segments.get(index)?;
    let lower = name.to_lowercase();
    if lower == *name {
        return None;
    }
    if let Some(slot) = segments.get_mut(index) {
        *slot = &lower;
    }
    Some(segments.join("/"))
}

/// Whether `path` matches one of `patterns` (exact, or prefix when the pattern ends in `*`).
pub fn path_matches(patterns: &[&str], path: &str) -> bool {
    patterns
        .iter()
        .any(|pattern| match pattern.strip_suffix('*') {
            Some(prefix) => path.starts_with(prefix),
            None => *pattern == path,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns() {
        let patterns = ["login", "login/*", "config"];
        assert!(path_matches(&patterns, "login"));
        assert!(path_matches(&patterns, "login/alice"));
        assert!(!path_matches(&patterns, "logins"));
        assert!(!path_matches(&patterns, "config/x"));
        assert!(path_matches(&["*"], "anything"));
    }

    #[test]
    fn folded_segments() {
        assert_eq!(
            fold_segment("users/ADMIN/password", "users", 1).as_deref(),
            Some("users/admin/password")
        );
        assert_eq!(fold_segment("users/admin", "users", 1), None);
        assert_eq!(fold_segment("login/Bob", "users", 1), None);
        assert_eq!(fold_segment("users", "users", 1), None);
        assert_eq!(
            fold_segment("role/R1/", "role", 1).as_deref(),
            Some("role/r1/")
        );
    }
}
