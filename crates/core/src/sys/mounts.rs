//! `sys/mounts` and `sys/auth`: enabling, disabling, reading and tuning mounts.

use std::sync::Arc;

use serde_json::{Map, Value, json};
use strongroom_logical::{Context, Field, FieldType, Fields, StorageView, field};

use super::{Declared, System};
use crate::active::Active;
use crate::mounts::{
    MountConfig, MountEntry, Mounted, Router, RouterCell, SYSTEM_TTL, normalize_mount_path,
    storage_root,
};
use crate::request::VaultResponse;
use crate::util::object;
use crate::util::uuid;
use crate::{Result, VaultError};

/// The built-in auth methods (mounted under `sys/auth` only) and secrets engines (under
/// `sys/mounts` only): a login method mounted as a secrets engine must not mint tokens.
const AUTH_KINDS: &[&str] = &["userpass", "approle", "jwt"];

const SECRET_KINDS: &[&str] = &["kv", "kv-v2", "transit", "database"];

/// The engines only the vault itself mounts, once.
const SINGLETON_KINDS: &[&str] = &["cubbyhole", "system", "identity", "token"];

/// Mount paths no engine may take.
const RESERVED: &[&str] = &["sys/", "auth/", "cubbyhole/", "identity/", "auth/token/"];

/// The full mount path `path` names below `sys/mounts` (`auth == false`) or `sys/auth`, for
/// every operation on it: `sys/mounts` refuses the reserved prefixes (an auth method is
/// managed through `sys/auth` only, where sudo is required), `sys/auth` refuses the token
/// store. `what` words the refusal as Vault does ("mount", "unmount", "tune", "read").
pub(super) fn mount_target(path: &str, auth: bool, what: &str) -> Result<String> {
    let relative = normalize_mount_path(path)
        .ok_or_else(|| VaultError::invalid(format!("invalid mount path {path:?}")))?;
    let full = if auth {
        format!("auth/{relative}")
    } else {
        relative
    };
    if auth && full == "auth/token/" && what == "unmount" {
        return Err(VaultError::invalid(
            "token credential backend cannot be disabled",
        ));
    }
    if RESERVED
        .iter()
        .any(|r| full.starts_with(r) && !(auth && *r == "auth/"))
    {
        return Err(VaultError::invalid(format!("cannot {what} {full:?}")));
    }
    Ok(full)
}

/// The built-in entries `sys/mounts` and `sys/auth` always show. They are not in the mount
/// table, so their uuid and accessor are derived from the cluster's id and the path: fixed for
/// the cluster, different between clusters, shaped as Vault's (`system_1a2b3c4d`).
fn builtin_mounts(cluster_id: &str) -> Vec<MountEntry> {
    let entry = |path: &str, kind: &str, description: &str| {
        let (uuid, accessor) = builtin_ids(cluster_id, path, kind);
        MountEntry {
            path: path.into(),
            kind: kind.into(),
            accessor,
            uuid,
            description: description.into(),
            config: MountConfig::default(),
            options: Map::new(),
        }
    };
    vec![
        entry(
            "sys/",
            "system",
            "system endpoints used for control, policy and debugging",
        ),
        entry("auth/token/", "token", "token based credentials"),
        entry(
            "cubbyhole/",
            "cubbyhole",
            "per-token private secret storage",
        ),
    ]
}

/// A built-in mount's uuid and accessor (see [`builtin_mounts`]).
fn builtin_ids(cluster_id: &str, path: &str, kind: &str) -> (String, String) {
    let digest = ring::digest::digest(
        &ring::digest::SHA256,
        format!("strongroom builtin mount\0{cluster_id}\0{path}").as_bytes(),
    );
    let hex = crate::util::hex(digest.as_ref());
    let part = |range: std::ops::Range<usize>| hex.get(range).unwrap_or_default().to_owned();
    let uuid = format!(
        "{}-{}-{}-{}-{}",
        part(0..8),
        part(8..12),
        part(12..16),
        part(16..20),
        part(20..32)
    );
    let prefix = if path.starts_with("auth/") {
        "auth_"
    } else {
        ""
    };
    (uuid, format!("{prefix}{kind}_{}", part(32..40)))
}

/// The accessor `sys/mounts` or `sys/auth` shows for the built-in mount at `path`.
pub(crate) fn builtin_accessor(cluster_id: &str, path: &str, kind: &str) -> String {
    builtin_ids(cluster_id, path, kind).1
}

/// Whether the request is to `sys/auth/...` (else `sys/mounts/...`): one handler serves both.
fn is_auth(fields: &Fields<'_>) -> bool {
    let path = &fields.request().path;
    path == "auth" || path.starts_with("auth/")
}

/// `sys/mounts` and `sys/auth`, in Vault's order (`.../tune` before the mount itself).
pub(super) fn endpoints() -> Vec<Declared> {
    let mut out = Vec::new();
    for (prefix, auth) in [("mounts", false), ("auth", true)] {
        let what = if auth {
            "auth method"
        } else {
            "secrets engine"
        };
        let tune = Declared::new(&format!("{prefix}/{{path+}}/tune"))
            .field("path", Field::new(FieldType::String, "The mount path."))
            .field(
                "default_lease_ttl",
                Field::new(FieldType::DurationSecond, "The default lease TTL."),
            )
            .field(
                "max_lease_ttl",
                Field::new(FieldType::DurationSecond, "The maximum lease TTL."),
            )
            .field(
                "description",
                Field::new(FieldType::String, "A description."),
            )
            .field(
                "user_lockout_config",
                Field::new(FieldType::Map, "User lockout settings (userpass, approle)."),
            )
            .synopsis(&format!("Read or tune the settings of a mounted {what}."));
        let mount = Declared::new(&format!("{prefix}/{{path+}}"))
            .field("path", Field::new(FieldType::String, "The mount path."))
            .field("type", Field::new(FieldType::String, "The engine type."))
            .field(
                "description",
                Field::new(FieldType::String, "A description."),
            )
            .field(
                "config",
                Field::new(FieldType::Map, "Lease TTLs (and user lockout settings)."),
            )
            .field(
                "options",
                Field::new(FieldType::Map, "Engine options (`version` for kv)."),
            )
            .synopsis(&format!("Enable, read or disable a {what}."));
        let list =
            Declared::new(&format!("{prefix}/?")).synopsis(&format!("List the mounted {what}s."));
        let tune = tune
            .read(|s, c, f| Box::pin(tune_read(s, c, f)))
            .write(|s, c, f| Box::pin(tune_write(s, c, f)));
        let mount = mount
            .write(|s, c, f| Box::pin(enable(s, c, f)))
            .delete(|s, c, f| Box::pin(disable(s, c, f)));
        let list = list
            .read(|s, c, f| Box::pin(list_mounts(s, c, f)))
            .list(|s, c, f| Box::pin(list_mounts(s, c, f)));
        // Vault's `auth/*` is a sudo path: enabling, disabling and tuning auth methods.
        if auth {
            out.extend([
                tune.sudo(),
                mount.read(|s, c, f| Box::pin(read_mount(s, c, f))).sudo(),
                list,
            ]);
        } else {
            out.extend([
                tune,
                mount.read(|s, c, f| Box::pin(read_mount(s, c, f))),
                list,
            ]);
        }
    }
    out
}

async fn list_mounts(sys: &System, _ctx: &Context, fields: Fields<'_>) -> Result<VaultResponse> {
    let auth = is_auth(&fields);
    let router = sys.active.router();
    let mut data = Map::new();
    for entry in builtin_mounts(&sys.active.cluster().id)
        .iter()
        .chain(router.entries())
        .filter(|e| e.path.starts_with("auth/") == auth)
    {
        let key = if auth {
            entry.path.trim_start_matches("auth/").to_owned()
        } else {
            entry.path.clone()
        };
        data.insert(key, entry.to_json());
    }
    Ok(VaultResponse::data(data))
}

async fn read_mount(sys: &System, _ctx: &Context, fields: Fields<'_>) -> Result<VaultResponse> {
    let auth = is_auth(&fields);
    let path: &str = fields.get("path")?;
    // The cubbyhole is built in, but reads like any mount.
    if !auth && normalize_mount_path(path).as_deref() == Some("cubbyhole/") {
        return builtin_mounts(&sys.active.cluster().id)
            .into_iter()
            .find(|m| m.path == "cubbyhole/")
            .map(|m| VaultResponse::data(object(m.to_json())))
            .ok_or(VaultError::UnsupportedPath);
    }
    let full = mount_target(path, auth, "read")?;
    let router = sys.active.router();
    let entry = router.get(&full).ok_or_else(|| {
        VaultError::invalid(if auth {
            format!("No auth engine at {}", full.trim_start_matches("auth/"))
        } else {
            format!("No secret engine mount at {full}")
        })
    })?;
    Ok(VaultResponse::data(object(entry.entry.to_json())))
}

async fn enable(sys: &System, _ctx: &Context, fields: Fields<'_>) -> Result<VaultResponse> {
    let auth = is_auth(&fields);
    let active = &sys.active;
    let full = mount_target(fields.get("path")?, auth, "mount")?;
    let kind: String = fields.get("type")?;
    if kind.is_empty() {
        return Err(VaultError::invalid(
            "backend type must be specified as a string",
        ));
    }
    // Vault's singletons: one of each, mounted by the vault itself.
    if auth && kind == "token" {
        return Err(VaultError::invalid(
            "token credential backend cannot be instantiated",
        ));
    }
    if !auth && SINGLETON_KINDS.contains(&kind.as_str()) {
        return Err(VaultError::invalid(format!(
            "mount type of {kind:?} is not mountable"
        )));
    }
    if auth && SECRET_KINDS.contains(&kind.as_str()) {
        return Err(VaultError::invalid(format!(
            "{kind:?} is a secrets engine: enable it with sys/mounts"
        )));
    }
    if !auth && AUTH_KINDS.contains(&kind.as_str()) {
        return Err(VaultError::invalid(format!(
            "{kind:?} is an auth method: enable it with sys/auth"
        )));
    }
    let empty = Map::new();
    let config_in: &Map<String, Value> = fields.get_ok("config")?.unwrap_or(&empty);
    let config = MountConfig {
        default_lease_ttl: config_ttl(config_in, "default_lease_ttl", "default")?,
        max_lease_ttl: config_ttl(config_in, "max_lease_ttl", "max")?,
        user_lockout_config: match field::map(config_in, "user_lockout_config")? {
            Some(tune) if !tune.is_empty() => {
                lockout_tunable(auth, &kind)?;
                Some(crate::MountLockout::default().updated(&tune)?)
            }
            _ => None,
        },
    };
    let mut options: Map<String, Value> = fields
        .get_ok::<&Map<String, Value>>("options")?
        .cloned()
        .unwrap_or_default();
    let description: String = fields.get("description")?;
    // Vault accepts `kv-v2` as a type; it means kv with version 2.
    let kind = if kind == "kv-v2" {
        options.insert("version".into(), "2".into());
        "kv".to_owned()
    } else {
        kind
    };
    let backend = sys.vault.registry().create(&kind, &options)?;
    let mut change = active.change_mounts().await;
    if let Some(existing) = change
        .router
        .entries()
        .find(|e| e.path.starts_with(&full) || full.starts_with(&e.path))
    {
        // Vault names the path as it was given, below `sys/auth` without `auth/`.
        let shown = if auth {
            existing.path.trim_start_matches("auth/")
        } else {
            &existing.path
        };
        return Err(VaultError::invalid(format!(
            "path is already in use at {shown}"
        )));
    }
    let uuid = uuid()?;
    let view = StorageView::new(
        Arc::clone(active.storage()),
        format!("{}/{uuid}/", storage_root(&full)),
    )?;
    let entry = MountEntry {
        path: full,
        accessor: format!(
            "{}{kind}_{}",
            if auth { "auth_" } else { "" },
            uuid.get(..8).unwrap_or_default()
        ),
        kind,
        uuid,
        description,
        config,
        options,
    };
    change.router.insert(Mounted::new(entry, backend, view));
    change.commit().await?;
    Ok(VaultResponse::empty())
}

async fn disable(sys: &System, _ctx: &Context, fields: Fields<'_>) -> Result<VaultResponse> {
    let auth = is_auth(&fields);
    let active = &sys.active;
    let full = mount_target(fields.get("path")?, auth, "unmount")?;
    let mut change = active.change_mounts().await;
    let Some(mounted) = change.router.remove(&full) else {
        // Vault answers success for a path that is not mounted.
        return Ok(VaultResponse::empty());
    };
    // Out of the router first (not yet out of the stored table): no new request reaches the
    // mount. Then the gate closes once the requests in flight are done, so every lease and login
    // token the mount issued is registered now, and none comes later.
    let before = active.router();
    active.routes().replace(change.router.clone());
    mounted.close().await;
    if let Err(err) = revoke_everything_of(active, &mounted, auth).await {
        // Nothing changed for good: the mount serves again, with what could not be revoked.
        *mounted.gate.write().await = true;
        active.routes().replace(Router::clone(&before));
        return Err(err);
    }
    if let Err(err) = change.commit().await {
        *mounted.gate.write().await = true;
        active.routes().replace(Router::clone(&before));
        return Err(err);
    }
    // The mount is gone from the table first, so nothing new is written while its data goes.
    mounted.view.clear().await?;
    Ok(VaultResponse::empty())
}

/// Revokes what an unmounted engine issued, through the engine: its leases (forced: a lease
/// whose secret cannot be revoked still goes, as the mount does) and, for an auth method, its
/// logins' tokens with the leases those tokens hold.
async fn revoke_everything_of(active: &Active, mounted: &Mounted, auth: bool) -> Result<()> {
    let now = active.clock().now();
    let mut only = Router::default();
    only.insert(mounted.clone());
    active
        .leases()
        .revoke_prefix(&RouterCell::new(only), &mounted.entry.path, now, true)
        .await?;
    if auth {
        let gone = active.tokens().revoke_mount(&mounted.entry.path).await?;
        active.revoke_leases_of(&gone, now).await?;
    }
    Ok(())
}

async fn tune_read(sys: &System, _ctx: &Context, fields: Fields<'_>) -> Result<VaultResponse> {
    let auth = is_auth(&fields);
    let path: String = fields.get("path")?;
    // The token store's settings can be read (not changed) like any auth method's.
    if auth && normalize_mount_path(&path).as_deref() == Some("token/") {
        return Ok(VaultResponse::data(object(json!({
            "default_lease_ttl": SYSTEM_TTL.as_secs(),
            "max_lease_ttl": SYSTEM_TTL.as_secs(),
            "description": "token based credentials",
            "force_no_cache": false,
            "token_type": "default-service",
        }))));
    }
    if !auth && normalize_mount_path(&path).as_deref() == Some("cubbyhole/") {
        return Ok(VaultResponse::data(object(json!({
            "default_lease_ttl": SYSTEM_TTL.as_secs(),
            "max_lease_ttl": SYSTEM_TTL.as_secs(),
            "description": "per-token private secret storage",
            "force_no_cache": false,
        }))));
    }
    let full = mount_target(&path, auth, "tune")?;
    let router = sys.active.router();
    let entry = &router
        .get(&full)
        .ok_or_else(|| VaultError::invalid(format!("cannot fetch sysview for path {full:?}")))?
        .entry;
    // Vault tells the TTLs in force: the system's where the mount has none of its own.
    let (default_ttl, max_ttl) = entry.ttls(SYSTEM_TTL, SYSTEM_TTL);
    let mut out = object(json!({
        "default_lease_ttl": default_ttl.as_secs(),
        "max_lease_ttl": max_ttl.as_secs(),
        "description": entry.description,
        "force_no_cache": false,
    }));
    if !entry.options.is_empty() {
        out.insert("options".into(), Value::Object(entry.options.clone()));
    }
    if auth {
        out.insert("token_type".into(), json!("default-service"));
    }
    if let Some(tune) = &entry.config.user_lockout_config {
        tune.tune_fields(&mut out);
    }
    Ok(VaultResponse::data(out))
}

async fn tune_write(sys: &System, _ctx: &Context, fields: Fields<'_>) -> Result<VaultResponse> {
    let auth = is_auth(&fields);
    let active = &sys.active;
    let full = mount_target(fields.get("path")?, auth, "tune")?;
    let mut change = active.change_mounts().await;
    let mounted = change.router.get(&full).cloned().ok_or_else(|| {
        VaultError::invalid(format!(
            "tune of path {full:?} failed: no mount entry found"
        ))
    })?;
    let mut entry = mounted.entry.clone();
    if let Some(tune) = fields.get_ok::<&Map<String, Value>>("user_lockout_config")?
        && !tune.is_empty()
    {
        lockout_tunable(auth, &entry.kind)?;
        let current = entry.config.user_lockout_config.clone().unwrap_or_default();
        entry.config.user_lockout_config = Some(current.updated(tune)?);
    }
    if let Some(ttl) = fields.get_ok::<std::time::Duration>("default_lease_ttl")? {
        entry.config.default_lease_ttl = ttl.as_secs();
    }
    if let Some(ttl) = fields.get_ok::<std::time::Duration>("max_lease_ttl")? {
        entry.config.max_lease_ttl = ttl.as_secs();
    }
    if let Some(description) = fields.get_ok::<String>("description")? {
        entry.description = description;
    }
    let max = match entry.config.max_lease_ttl {
        0 => SYSTEM_TTL.as_secs(),
        max => max,
    };
    if entry.config.default_lease_ttl > max {
        return Err(VaultError::invalid(format!(
            "backend max lease TTL of {max} would be less than backend default lease TTL of {}",
            entry.config.default_lease_ttl
        )));
    }
    change.router.insert(mounted.retuned(entry));
    change.commit().await?;
    Ok(VaultResponse::empty())
}

/// A TTL of an enabled mount's `config` (`which` is "default" or "max" in Vault's refusal), in
/// seconds; 0 when absent.
fn config_ttl(config: &Map<String, Value>, name: &str, which: &str) -> Result<u64> {
    match field::duration(config, name) {
        Ok(ttl) => Ok(ttl.map_or(0, |d| d.as_secs())),
        Err(err) => match config.get(name) {
            Some(Value::String(text)) => Err(VaultError::invalid(format!(
                "unable to parse {which} TTL of {text}: time: invalid duration {text:?}"
            ))),
            _ => Err(err.into()),
        },
    }
}

/// Refuses `user_lockout_config` on mounts lockout does not apply to (Vault's wording).
fn lockout_tunable(auth: bool, kind: &str) -> Result<()> {
    if auth && crate::LOCKOUT_METHODS.contains(&kind.to_lowercase().as_str()) {
        return Ok(());
    }
    Err(VaultError::invalid(format!(
        "tuning of user lockout configuration for auth type {kind:?} not allowed"
    )))
}
