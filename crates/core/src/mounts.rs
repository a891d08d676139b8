//! The mount table and the router.

use std::collections::BTreeMap;
use std::sync::{Arc, PoisonError};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use strongroom_logical::{Backend, Context, StorageView};

/// Lease TTL settings of a mount (seconds; 0 = the system's).
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct MountConfig {
    /// Default lease TTL.
    pub default_lease_ttl: u64,
    /// Maximum lease TTL.
    pub max_lease_ttl: u64,
    /// User lockout tuning (auth mounts of `userpass` and `approle`), when set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_lockout_config: Option<crate::MountLockout>,
}

/// One mounted engine, as stored in the mount table.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct MountEntry {
    /// Where it is mounted, with a trailing `/` (`secret/`).
    pub path: String,
    /// The engine type (`kv`, `system`, `token`, ...).
    #[serde(rename = "type")]
    pub kind: String,
    /// Its id: its storage lives under `logical/<uuid>/` (or `auth/<uuid>/`).
    pub uuid: String,
    /// Accessor, as Vault reports it (`kv_1a2b3c4d`).
    pub accessor: String,
    /// Description.
    pub description: String,
    /// TTL tuning.
    pub config: MountConfig,
    /// Engine options (`{"version": "2"}`).
    pub options: Map<String, Value>,
}

impl MountEntry {
    /// Vault's JSON for `sys/mounts` listings.
    pub(crate) fn to_json(&self) -> Value {
        // The vault's own mounts (sys/, token/) have no options, plugin or deprecation status.
        let builtin = matches!(
            self.kind.as_str(),
            "system" | "token" | "cubbyhole" | "identity"
        );
        let mut json = serde_json::json!({
            "type": self.kind,
            "description": self.description,
            "accessor": self.accessor,
            "uuid": self.uuid,
            "config": {
                "default_lease_ttl": self.config.default_lease_ttl,
                "max_lease_ttl": self.config.max_lease_ttl,
                "force_no_cache": false,
            },
            "options": if self.options.is_empty() && builtin { Value::Null } else { Value::Object(self.options.clone()) },
            "local": self.kind == "cubbyhole",
            "seal_wrap": false,
            "external_entropy_access": false,
            "deprecation_status": "supported",
            "plugin_version": "",
            "running_plugin_version": concat!("v", env!("CARGO_PKG_VERSION"), "+builtin.strongroom"),
            "running_sha256": "",
        });
        if let (true, Some(fields)) = (builtin, json.as_object_mut()) {
            fields.remove("deprecation_status");
        }
        if let (true, Some(fields)) = (self.kind == "system", json.as_object_mut()) {
            fields.insert("seal_wrap".into(), true.into());
            if let Some(config) = fields.get_mut("config").and_then(Value::as_object_mut) {
                config.insert(
                    "passthrough_request_headers".into(),
                    serde_json::json!(["Accept"]),
                );
            }
        }
        if let (true, Some(config)) = (
            self.path.starts_with("auth/"),
            json.get_mut("config").and_then(Value::as_object_mut),
        ) {
            config.insert("token_type".into(), "default-service".into());
        }
        if let (Some(tune), Some(config)) = (
            &self.config.user_lockout_config,
            json.get_mut("config").and_then(Value::as_object_mut),
        ) {
            let mut fields = Map::new();
            tune.tune_fields(&mut fields);
            config.insert("user_lockout_config".into(), Value::Object(fields));
        }
        json
    }

    /// The mount's default and maximum lease TTLs, resolved against the system's: a mount's own
    /// maximum replaces the system's (Vault's `MaxLeaseTTL`: an operator tunes a PKI mount to
    /// ten years for its root), the system's applies where the mount sets none.
    pub(crate) fn ttls(
        &self,
        system_default: Duration,
        system_max: Duration,
    ) -> (Duration, Duration) {
        let max = match self.config.max_lease_ttl {
            0 => system_max,
            secs => Duration::from_secs(secs),
        };
        let default = match self.config.default_lease_ttl {
            0 => system_default,
            secs => Duration::from_secs(secs),
        };
        (default.min(max), max)
    }
}

/// A mounted engine, ready to serve.
#[derive(Clone, Debug)]
pub(crate) struct Mounted {
    pub(crate) entry: MountEntry,
    pub(crate) backend: Arc<dyn Backend>,
    pub(crate) view: StorageView,
    /// Open while the mount serves: every request holds it shared from the engine call to the
    /// lease or login token it registers; unmounting closes it (exclusively) once the mount is
    /// out of the router, so every lease and token the mount issued is registered before the
    /// unmount revokes them, and nothing is issued after. Shared by every copy of the mount
    /// (a tune keeps it).
    pub(crate) gate: Arc<tokio::sync::RwLock<bool>>,
}

impl Mounted {
    /// A mount, open.
    pub(crate) fn new(entry: MountEntry, backend: Arc<dyn Backend>, view: StorageView) -> Self {
        Self {
            entry,
            backend,
            view,
            gate: Arc::new(tokio::sync::RwLock::new(true)),
        }
    }

    /// The same mount with another entry (a tune): same engine, data and gate.
    pub(crate) fn retuned(&self, entry: MountEntry) -> Self {
        Self {
            entry,
            backend: Arc::clone(&self.backend),
            view: self.view.clone(),
            gate: Arc::clone(&self.gate),
        }
    }

    /// Waits for the requests in flight to finish and closes the mount to any that come later.
    pub(crate) async fn close(&self) {
        *self.gate.write().await = false;
    }
}

/// The router as requests see it: copy-on-write. A request takes a [`snapshot`](Self::snapshot)
/// (an `Arc` clone under a lock held for no longer than that) and routes on it for as long as it
/// runs, so no lock is held across engine I/O; a mount table change builds a new router and
/// [`replace`](Self::replace)s the old one whole, after the new table is stored. Changes are
/// serialised by the caller (`Active::mount_lock`).
#[derive(Debug, Default)]
pub(crate) struct RouterCell(std::sync::RwLock<Arc<Router>>);

impl RouterCell {
    pub(crate) fn new(router: Router) -> Self {
        Self(std::sync::RwLock::new(Arc::new(router)))
    }

    /// The router as it is now.
    pub(crate) fn snapshot(&self) -> Arc<Router> {
        Arc::clone(&self.0.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// Installs `router` for every request that starts from now on.
    pub(crate) fn replace(&self, router: Router) {
        *self.0.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(router);
    }
}

/// Longest-prefix routing over mount paths.
#[derive(Clone, Debug, Default)]
pub(crate) struct Router {
    mounts: BTreeMap<String, Arc<Mounted>>,
}

impl Router {
    pub(crate) fn insert(&mut self, mounted: Mounted) {
        self.mounts
            .insert(mounted.entry.path.clone(), Arc::new(mounted));
    }

    pub(crate) fn remove(&mut self, path: &str) -> Option<Arc<Mounted>> {
        self.mounts.remove(path)
    }

    /// Every mounted engine.
    pub(crate) fn mounted(&self) -> impl Iterator<Item = &Arc<Mounted>> {
        self.mounts.values()
    }

    pub(crate) fn get(&self, path: &str) -> Option<&Arc<Mounted>> {
        self.mounts.get(path)
    }

    pub(crate) fn entries(&self) -> impl Iterator<Item = &MountEntry> {
        self.mounts.values().map(|m| &m.entry)
    }

    /// The mount serving `path` and the path below it: the longest mount path that is a prefix
    /// of `path/`, tried segment by segment (O(depth) map lookups, not a scan of all mounts).
    pub(crate) fn route<'p>(&self, path: &'p str) -> Option<(&Arc<Mounted>, &'p str)> {
        let mut ends: Vec<usize> = path.match_indices('/').map(|(i, _)| i + 1).collect();
        ends.push(path.len());
        for &end in ends.iter().rev() {
            let Some(head) = path.get(..end) else {
                continue;
            };
            let candidate = if head.ends_with('/') {
                std::borrow::Cow::Borrowed(head)
            } else {
                std::borrow::Cow::Owned(format!("{head}/"))
            };
            if let Some(mounted) = self.mounts.get(candidate.as_ref()) {
                // `path` is canonical (no empty segments), so what follows the mount path is the
                // path below it as written.
                let rest = path.get(end..).unwrap_or("");
                return Some((mounted, rest));
            }
        }
        None
    }
}

/// Checks and normalises a mount path: segments of letters, digits, `-`, `_`, `.`; trailing `/`.
pub(crate) fn normalize_mount_path(path: &str) -> Option<String> {
    let trimmed = path.trim_matches('/');
    let ok = !trimmed.is_empty()
        && trimmed.len() <= 256
        && trimmed.split('/').all(|segment| {
            !segment.is_empty()
                && segment != "."
                && segment != ".."
                && segment
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        });
    ok.then(|| format!("{trimmed}/"))
}

pub(crate) const MOUNTS_PATH: &str = "core/mounts";

/// Vault's defaults: 32 days for both the default and the maximum lease TTL.
pub(crate) const SYSTEM_TTL: Duration = Duration::from_secs(32 * 24 * 3600);

/// Where a mount's data lives: `logical/<uuid>/` for secret engines, `auth/<uuid>/` for auth
/// methods.
pub(crate) fn storage_root(mount_path: &str) -> &'static str {
    if mount_path.starts_with("auth/") {
        "auth"
    } else {
        "logical"
    }
}

pub(crate) fn context(mounted: &Mounted, now: std::time::SystemTime) -> Context {
    let (default_ttl, max_ttl) = mounted.entry.ttls(SYSTEM_TTL, SYSTEM_TTL);
    let mut ctx = Context::new(mounted.view.clone(), mounted.entry.path.clone());
    ctx.default_lease_ttl = default_ttl;
    ctx.max_lease_ttl = max_ttl;
    ctx.now = now;
    ctx
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mount_paths() {
        assert_eq!(normalize_mount_path("secret").as_deref(), Some("secret/"));
        assert_eq!(
            normalize_mount_path("/team/kv/").as_deref(),
            Some("team/kv/")
        );
        for bad in ["", "/", "a//b", "../x", "a b", "x/./y"] {
            assert_eq!(normalize_mount_path(bad), None, "{bad}");
        }
    }
}
