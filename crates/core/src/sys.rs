//! The system backend (`sys/...`) and the token store's endpoints (`auth/token/...`), with
//! Vault's paths and JSON shapes.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value, json};
use strongroom_logical::{Operation, StorageView};
use strongroom_storage::Storage;

use std::collections::BTreeMap;

use crate::audit::{AuditEntry, Broker, Enabled, FileAuditDevice, check_file_path};
use crate::mounts::{MountConfig, MountEntry, Mounted, normalize_mount_path};
use crate::tokens::{TokenEntry, TokenRequest};
use crate::vault::{AUDIT_PATH, Active, AuthInfo, MOUNTS_PATH, VaultResponse};
use crate::{Result, Vault, VaultError};

/// The built-in auth methods (mounted under `sys/auth` only) and secrets engines (under
/// `sys/mounts` only): a login method mounted as a secrets engine must not mint tokens.
const AUTH_KINDS: &[&str] = &["userpass", "approle", "jwt"];
const SECRET_KINDS: &[&str] = &["kv", "kv-v2", "transit", "database"];

/// Mount paths no engine may take.
const RESERVED: &[&str] = &["sys/", "auth/", "cubbyhole/", "identity/", "auth/token/"];

/// Where a mount's data lives: `logical/<uuid>/` for secret engines, `auth/<uuid>/` for auth
/// methods.
pub(crate) fn storage_root(mount_path: &str) -> &'static str {
    if mount_path.starts_with("auth/") {
        "auth"
    } else {
        "logical"
    }
}

fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

/// A duration field: seconds (number or numeric string) or `1h30m`-style text.
fn duration_field(data: &Map<String, Value>, name: &str) -> Result<Option<Duration>> {
    match data.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(value) => strongroom_kv::parse_duration(value)
            .map(Some)
            .ok_or_else(|| VaultError::invalid(format!("invalid duration for {name}: {value}"))),
    }
}

fn string_list(data: &Map<String, Value>, name: &str) -> Vec<String> {
    match data.get(name) {
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(|v| v.as_str().map(|s| s.trim().to_owned()))
            .filter(|s| !s.is_empty())
            .collect(),
        Some(Value::String(s)) => s
            .split(',')
            .map(|p| p.trim().to_owned())
            .filter(|p| !p.is_empty())
            .collect(),
        _ => Vec::new(),
    }
}

/// A random UUID (v4) for mount ids and request ids.
pub(crate) fn uuid() -> Result<String> {
    let mut b = ring::rand::generate::<[u8; 16]>(&ring::rand::SystemRandom::new())
        .map_err(|_| VaultError::Internal("system random source failed".into()))?
        .expose();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = crate::vault::hex(&b);
    Ok(format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    ))
}

pub(crate) use strongroom_logical::time::rfc3339;

/// The built-in entries `sys/mounts` and `sys/auth` always show.
fn builtin_mounts() -> Vec<MountEntry> {
    let entry = |path: &str, kind: &str, description: &str| MountEntry {
        path: path.into(),
        kind: kind.into(),
        uuid: String::new(),
        accessor: format!("{kind}_builtin"),
        description: description.into(),
        config: MountConfig::default(),
        options: Map::new(),
    };
    vec![
        entry(
            "sys/",
            "system",
            "system endpoints used for control, policy and debugging",
        ),
        entry("auth/token/", "token", "token based credentials"),
    ]
}

async fn save_mounts(active: &Active, router: &crate::mounts::Router) -> Result<()> {
    let entries: Vec<&MountEntry> = router.entries().collect();
    let bytes = serde_json::to_vec(&entries)
        .map_err(|e| VaultError::Internal(format!("encoding the mount table: {e}")))?;
    active.storage.put(MOUNTS_PATH, bytes).await?;
    Ok(())
}

fn list_mounts(active_router: &crate::mounts::Router, auth: bool) -> VaultResponse {
    let mut data = Map::new();
    for entry in builtin_mounts()
        .iter()
        .chain(active_router.entries())
        .filter(|e| e.path.starts_with("auth/") == auth)
    {
        let key = if auth {
            entry.path.trim_start_matches("auth/").to_owned()
        } else {
            entry.path.clone()
        };
        data.insert(key, entry.to_json());
    }
    VaultResponse::data(data)
}

async fn enable(
    vault: &Vault,
    active: &Active,
    path: &str,
    data: &Map<String, Value>,
    auth: bool,
) -> Result<VaultResponse> {
    let relative = normalize_mount_path(path)
        .ok_or_else(|| VaultError::invalid(format!("invalid mount path {path:?}")))?;
    let full = if auth {
        format!("auth/{relative}")
    } else {
        relative
    };
    if RESERVED
        .iter()
        .any(|r| full.starts_with(r) && !(auth && *r == "auth/"))
    {
        return Err(VaultError::invalid(format!(
            "cannot mount at reserved path {full:?}"
        )));
    }
    let kind = data
        .get("type")
        .and_then(Value::as_str)
        .ok_or_else(|| VaultError::invalid("missing mount type"))?
        .to_owned();
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
    let config_in = data.get("config").cloned().map(object).unwrap_or_default();
    let config = MountConfig {
        default_lease_ttl: duration_field(&config_in, "default_lease_ttl")?
            .map_or(0, |d| d.as_secs()),
        max_lease_ttl: duration_field(&config_in, "max_lease_ttl")?.map_or(0, |d| d.as_secs()),
    };
    let mut options = data.get("options").cloned().map(object).unwrap_or_default();
    // Vault accepts `kv-v2` as a type; it means kv with version 2.
    let kind = if kind == "kv-v2" {
        options.insert("version".into(), "2".into());
        "kv".to_owned()
    } else {
        kind
    };
    let backend = vault.registry().create(&kind, &options)?;
    let _guard = active.mount_lock.lock().await;
    let mut router = active.router.write().await;
    if let Some(existing) = router
        .entries()
        .find(|e| e.path.starts_with(&full) || full.starts_with(&e.path))
    {
        return Err(VaultError::invalid(format!(
            "path is already in use at {}",
            existing.path
        )));
    }
    let uuid = uuid()?;
    let view = StorageView::new(
        Arc::clone(&active.storage),
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
        description: data
            .get("description")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
        config,
        options,
    };
    router.insert(Mounted {
        entry,
        backend,
        view,
    });
    save_mounts(active, &router).await?;
    Ok(VaultResponse::empty())
}

async fn disable(active: &Active, path: &str, auth: bool) -> Result<VaultResponse> {
    let relative = normalize_mount_path(path)
        .ok_or_else(|| VaultError::invalid(format!("invalid mount path {path:?}")))?;
    let full = if auth {
        format!("auth/{relative}")
    } else {
        relative
    };
    let _guard = active.mount_lock.lock().await;
    if active.router.read().await.get(&full).is_none() {
        // Vault answers success for a path that is not mounted.
        return Ok(VaultResponse::empty());
    }
    // Revoke the mount's leases through its engine while it is still mounted (forced: a lease
    // whose secret cannot be revoked still goes, as the mount does).
    active
        .leases
        .revoke_prefix(&active.router, &full, active.clock.now(), true)
        .await?;
    // An auth method's logins go with it: their tokens, and the leases those tokens hold.
    if auth {
        let gone = active.tokens.revoke_mount(&full).await?;
        active.revoke_leases_of(&gone, active.clock.now()).await?;
    }
    let mut router = active.router.write().await;
    let Some(mounted) = router.remove(&full) else {
        return Ok(VaultResponse::empty());
    };
    save_mounts(active, &router).await?;
    drop(router);
    // The mount is gone from the table first, so nothing new is written while its data goes.
    mounted.view.clear().await?;
    Ok(VaultResponse::empty())
}

async fn tune(
    active: &Active,
    path: &str,
    operation: Operation,
    data: &Map<String, Value>,
) -> Result<VaultResponse> {
    let full = normalize_mount_path(path)
        .ok_or_else(|| VaultError::invalid(format!("invalid mount path {path:?}")))?;
    let _guard = active.mount_lock.lock().await;
    let mut router = active.router.write().await;
    let mounted = router
        .get(&full)
        .cloned()
        .ok_or_else(|| VaultError::invalid(format!("no mount at {full:?}")))?;
    if operation == Operation::Read {
        let entry = &mounted.entry;
        return Ok(VaultResponse::data(object(json!({
            "default_lease_ttl": entry.config.default_lease_ttl,
            "max_lease_ttl": entry.config.max_lease_ttl,
            "description": entry.description,
            "force_no_cache": false,
            "options": entry.options,
        }))));
    }
    let mut entry = mounted.entry.clone();
    if let Some(ttl) = duration_field(data, "default_lease_ttl")? {
        entry.config.default_lease_ttl = ttl.as_secs();
    }
    if let Some(ttl) = duration_field(data, "max_lease_ttl")? {
        entry.config.max_lease_ttl = ttl.as_secs();
    }
    if let Some(description) = data.get("description").and_then(Value::as_str) {
        entry.description = description.to_owned();
    }
    router.insert(Mounted {
        entry,
        backend: Arc::clone(&mounted.backend),
        view: mounted.view.clone(),
    });
    save_mounts(active, &router).await?;
    Ok(VaultResponse::empty())
}

async fn capabilities(
    active: &Active,
    policies: &[String],
    data: &Map<String, Value>,
) -> Result<VaultResponse> {
    let mut paths = string_list(data, "paths");
    if let Some(path) = data.get("path").and_then(Value::as_str) {
        paths.push(path.to_owned());
    }
    if paths.is_empty() {
        return Err(VaultError::invalid("missing path"));
    }
    let acl = active.policies.acl(policies).await?;
    let mut out = Map::new();
    let mut all: Vec<String> = Vec::new();
    for path in &paths {
        let caps: Vec<String> = acl
            .capabilities(path.trim_start_matches('/'))
            .to_vault_list()
            .into_iter()
            .map(str::to_owned)
            .collect();
        all.extend(caps.iter().cloned());
        out.insert(path.clone(), json!(caps));
    }
    if paths.len() == 1 {
        out.insert("capabilities".into(), json!(all));
    }
    Ok(VaultResponse::data(out))
}

async fn policy_endpoints(
    active: &Active,
    operation: Operation,
    name: &str,
    data: &Map<String, Value>,
    legacy: bool,
) -> Result<VaultResponse> {
    if name.is_empty() {
        let names = active.policies.list().await?;
        let mut out = Map::new();
        out.insert("keys".into(), json!(names));
        if legacy {
            out.insert("policies".into(), json!(names));
        }
        return Ok(VaultResponse::data(out));
    }
    match operation {
        Operation::Read => {
            let Some(text) = active.policies.get(name).await? else {
                return Ok(VaultResponse::empty());
            };
            let field = if legacy { "rules" } else { "policy" };
            Ok(VaultResponse::data(object(
                json!({"name": name, field: text}),
            )))
        }
        Operation::Create | Operation::Update => {
            let text = data
                .get("policy")
                .or_else(|| data.get("rules"))
                .and_then(Value::as_str)
                .ok_or_else(|| VaultError::invalid("'policy' parameter not supplied or empty"))?;
            active.policies.set(name, text).await?;
            Ok(VaultResponse::empty())
        }
        Operation::Delete => {
            active.policies.delete(name).await?;
            Ok(VaultResponse::empty())
        }
        _ => Err(VaultError::Logical(
            strongroom_logical::LogicalError::UnsupportedOperation,
        )),
    }
}

/// Installs an audit device (copy-on-write), persisting the table when asked.
pub(crate) async fn install_audit(active: &Active, enabled: Enabled, persist: bool) -> Result<()> {
    let _changing = active.audit_lock.lock().await;
    let current = active.audit_snapshot();
    if current.get(&enabled.entry.path).is_some() {
        return Err(VaultError::invalid(format!(
            "path already in use: {}",
            enabled.entry.path
        )));
    }
    let mut devices: Vec<Arc<Enabled>> = current.devices().to_vec();
    devices.push(Arc::new(enabled));
    let next = Broker::new(devices, active.audit_timeout);
    if persist {
        save_audit(active, &next).await?;
    }
    active.set_audit(next);
    Ok(())
}

async fn save_audit(active: &Active, broker: &Broker) -> Result<()> {
    // Only devices that can be rebuilt from the table are persisted (file devices).
    let entries: Vec<&AuditEntry> = broker
        .entries()
        .filter(|e| e.kind == "file" && !e.declared)
        .collect();
    let bytes = serde_json::to_vec(&entries)
        .map_err(|e| VaultError::Internal(format!("encoding the audit table: {e}")))?;
    active.storage.put(AUDIT_PATH, bytes).await?;
    Ok(())
}

async fn audit_endpoints(
    active: &Active,
    operation: Operation,
    tail: &str,
    data: &Map<String, Value>,
) -> Result<VaultResponse> {
    if tail.is_empty() {
        let broker = active.audit_snapshot();
        let mut out = Map::new();
        for entry in broker.entries() {
            out.insert(
                entry.path.clone(),
                json!({
                    "type": entry.kind,
                    "description": entry.description,
                    "options": entry.options,
                    "path": entry.path,
                    "local": false,
                }),
            );
        }
        return Ok(VaultResponse::data(out));
    }
    let path = normalize_mount_path(tail)
        .ok_or_else(|| VaultError::invalid(format!("invalid audit path {tail:?}")))?;
    match operation {
        Operation::Create | Operation::Update => {
            let kind = data
                .get("type")
                .and_then(Value::as_str)
                .ok_or_else(|| VaultError::invalid("missing audit device type"))?;
            if kind != "file" {
                return Err(VaultError::invalid(format!(
                    "unknown audit device type {kind:?}: only \"file\" can be enabled over the API"
                )));
            }
            let options: BTreeMap<String, String> = data
                .get("options")
                .cloned()
                .map(object)
                .unwrap_or_default()
                .into_iter()
                .filter_map(|(k, v)| v.as_str().map(|s| (k, s.to_owned())))
                .collect();
            let requested = options
                .get("file_path")
                .ok_or_else(|| VaultError::invalid("missing options.file_path"))?;
            let file = check_file_path(active.audit_dir.as_deref(), requested)?;
            let salt = ring::rand::generate::<[u8; 32]>(&ring::rand::SystemRandom::new())
                .map_err(|_| VaultError::Internal("system random source failed".into()))?
                .expose();
            let entry = AuditEntry {
                path,
                kind: "file".into(),
                description: data
                    .get("description")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
                options,
                salt: crate::vault::hex(&salt),
                declared: false,
            };
            let device: Arc<dyn crate::AuditDevice> = Arc::new(FileAuditDevice::new(file));
            // Prove the device can write before counting on it (Vault does the same).
            device
                .write_line(b"{\"type\":\"test\"}")
                .await
                .map_err(|e| VaultError::invalid(format!("audit device cannot write: {e}")))?;
            install_audit(active, Enabled::new(entry, device, &salt), true).await?;
            Ok(VaultResponse::empty())
        }
        Operation::Delete => {
            let _changing = active.audit_lock.lock().await;
            if active
                .audit_snapshot()
                .entries()
                .any(|e| e.path == path && e.declared)
            {
                return Err(VaultError::invalid(format!(
                    "the audit device at {path} is declared in the server configuration; \
                     remove it there"
                )));
            }
            let devices: Vec<Arc<Enabled>> = active
                .audit_snapshot()
                .devices()
                .iter()
                .filter(|d| d.entry.path != path)
                .cloned()
                .collect();
            let next = Broker::new(devices, active.audit_timeout);
            save_audit(active, &next).await?;
            active.set_audit(next);
            Ok(VaultResponse::empty())
        }
        _ => Err(VaultError::Logical(
            strongroom_logical::LogicalError::UnsupportedOperation,
        )),
    }
}

async fn audit_hash(
    active: &Active,
    tail: &str,
    data: &Map<String, Value>,
) -> Result<VaultResponse> {
    let path = normalize_mount_path(tail)
        .ok_or_else(|| VaultError::invalid(format!("invalid audit path {tail:?}")))?;
    let input = data
        .get("input")
        .and_then(Value::as_str)
        .ok_or_else(|| VaultError::invalid("missing input"))?;
    let broker = active.audit_snapshot();
    let device = broker
        .get(&path)
        .ok_or_else(|| VaultError::invalid(format!("unknown audit backend {path:?}")))?;
    Ok(VaultResponse::data(object(
        json!({"hash": device.hash(input)}),
    )))
}

fn lease_json(entry: &crate::leases::LeaseEntry, now: u64) -> Map<String, Value> {
    object(json!({
        "id": entry.lease_id,
        "issue_time": rfc3339(entry.issue_time),
        "expire_time": rfc3339(entry.expire_time),
        "last_renewal": Value::Null,
        "renewable": entry.renewable,
        "ttl": entry.expire_time.saturating_sub(now),
    }))
}

async fn lease_endpoints(
    active: &Active,
    operation: Operation,
    tail: &str,
    data: &Map<String, Value>,
) -> Result<VaultResponse> {
    let now = active.clock.now();
    let now_s = crate::clock::unix(now);
    let lease_id = || {
        data.get("lease_id")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| VaultError::invalid("missing lease_id"))
    };
    let (head, rest) = tail.split_once('/').unwrap_or((tail, ""));
    match (head, operation) {
        ("lookup", Operation::List) => {
            let keys = active.leases.list(rest).await?;
            if keys.is_empty() {
                return Ok(VaultResponse::empty());
            }
            Ok(VaultResponse::data(object(json!({"keys": keys}))))
        }
        ("lookup", Operation::Create | Operation::Update) => {
            let id = lease_id()?;
            let entry = active
                .leases
                .lookup(&id)
                .await?
                .ok_or_else(|| VaultError::invalid("invalid lease"))?;
            Ok(VaultResponse::data(lease_json(&entry, now_s)))
        }
        ("renew", Operation::Create | Operation::Update) => {
            let id = if rest.is_empty() {
                lease_id()?
            } else {
                rest.to_owned()
            };
            let increment = duration_field(data, "increment")?;
            let router = active.router.read().await;
            let entry = active.leases.renew(&router, &id, increment, now).await?;
            Ok(VaultResponse {
                lease_id: entry.lease_id.clone(),
                lease_duration: entry.expire_time.saturating_sub(now_s),
                renewable: entry.renewable,
                ..VaultResponse::default()
            })
        }
        ("revoke", Operation::Create | Operation::Update) => {
            let id = if rest.is_empty() {
                lease_id()?
            } else {
                rest.to_owned()
            };
            crate::leases::check_lease_path(&id)?;
            let router = active.router.read().await;
            active.leases.revoke(&router, &id, now, false).await?;
            Ok(VaultResponse::empty())
        }
        ("revoke-prefix" | "revoke-force", Operation::Create | Operation::Update) => {
            active
                .leases
                .revoke_prefix(&active.router, rest, now, head == "revoke-force")
                .await?;
            Ok(VaultResponse::empty())
        }
        _ => Err(VaultError::UnsupportedPath),
    }
}

/// `sys/...` requests (already authorised).
pub(crate) async fn handle(
    vault: &Vault,
    active: &Active,
    caller: &TokenEntry,
    operation: Operation,
    rest: &str,
    data: Map<String, Value>,
    _token: &str,
) -> Result<VaultResponse> {
    let rest = rest.trim_end_matches('/');
    let (head, tail) = rest.split_once('/').unwrap_or((rest, ""));
    match (head, operation) {
        // The metrics themselves are rendered by the HTTP layer, which counts requests; the
        // core authorises and audits the read like any other.
        ("metrics", Operation::Read) if tail.is_empty() => Ok(VaultResponse::data(Map::new())),
        ("mounts", Operation::Read | Operation::List) if tail.is_empty() => {
            Ok(list_mounts(&*active.router.read().await, false))
        }
        ("mounts", _) if tail.ends_with("/tune") || tail == "tune" => {
            tune(active, tail.trim_end_matches("tune"), operation, &data).await
        }
        ("mounts", Operation::Create | Operation::Update) => {
            enable(vault, active, tail, &data, false).await
        }
        ("mounts", Operation::Delete) => disable(active, tail, false).await,
        ("mounts", Operation::Read) => {
            let full = normalize_mount_path(tail)
                .ok_or_else(|| VaultError::invalid("invalid mount path"))?;
            let router = active.router.read().await;
            let entry = router
                .get(&full)
                .ok_or_else(|| VaultError::invalid(format!("no mount at {full:?}")))?;
            Ok(VaultResponse::data(object(entry.entry.to_json())))
        }
        ("auth", Operation::Read | Operation::List) if tail.is_empty() => {
            Ok(list_mounts(&*active.router.read().await, true))
        }
        ("auth", Operation::Create | Operation::Update) => {
            enable(vault, active, tail, &data, true).await
        }
        ("auth", Operation::Delete) => disable(active, tail, true).await,
        ("policy", _) => policy_endpoints(active, operation, tail, &data, true).await,
        ("policies", _) => match tail.split_once('/') {
            Some(("acl", name)) => policy_endpoints(active, operation, name, &data, false).await,
            None if tail == "acl" => policy_endpoints(active, operation, "", &data, false).await,
            _ => Err(VaultError::UnsupportedPath),
        },
        ("capabilities-self", Operation::Create | Operation::Update) => {
            capabilities(active, &caller.policies, &data).await
        }
        ("capabilities", Operation::Create | Operation::Update) => {
            let token = data
                .get("token")
                .and_then(Value::as_str)
                .ok_or_else(|| VaultError::invalid("missing token"))?;
            let now = active.clock.now();
            let entry = active
                .tokens
                .lookup(token, now)
                .await?
                .ok_or_else(|| VaultError::invalid("invalid token"))?;
            capabilities(active, &entry.policies, &data).await
        }
        ("internal", Operation::Read) if tail.starts_with("ui/mounts/") => {
            // What `vault kv` asks to find a mount and its KV version.
            let target = tail.trim_start_matches("ui/mounts/");
            let router = active.router.read().await;
            let Some((mounted, _)) = router.route(target) else {
                return Err(VaultError::invalid(format!(
                    "preflight capability check returned 403, please ensure client's policies grant access to path \"{target}\""
                )));
            };
            let mut out = object(mounted.entry.to_json());
            out.insert("path".into(), json!(mounted.entry.path));
            Ok(VaultResponse::data(out))
        }
        ("audit", _) => audit_endpoints(active, operation, tail, &data).await,
        ("leases", _) => lease_endpoints(active, operation, tail, &data).await,
        ("audit-hash", Operation::Create | Operation::Update) => {
            audit_hash(active, tail, &data).await
        }
        ("seal-status", Operation::Read) => {
            let status = vault.seal_status().await?;
            Ok(VaultResponse::data(object(
                serde_json::to_value(status)
                    .map_err(|e| VaultError::Internal(format!("encoding seal status: {e}")))?,
            )))
        }
        ("seal", Operation::Create | Operation::Update) => {
            vault.seal().await;
            Ok(VaultResponse::empty())
        }
        _ => Err(VaultError::UnsupportedPath),
    }
}

fn lookup_data(
    entry: &TokenEntry,
    now: std::time::SystemTime,
    id: Option<&str>,
) -> Map<String, Value> {
    object(json!({
        "accessor": entry.accessor,
        "creation_time": entry.creation_time,
        "creation_ttl": entry.ttl,
        "display_name": entry.display_name,
        "entity_id": "",
        "expire_time": entry.expire_time.map(rfc3339),
        "explicit_max_ttl": entry.explicit_max_ttl,
        "id": id.unwrap_or_default(),
        "issue_time": rfc3339(entry.creation_time),
        "meta": if entry.meta.is_empty() { Value::Null } else { json!(entry.meta) },
        "num_uses": entry.num_uses,
        "orphan": entry.parent.is_none(),
        "path": entry.path,
        "period": if entry.period > 0 { json!(entry.period) } else { Value::Null },
        "policies": entry.policies,
        "renewable": entry.renewable,
        "ttl": entry.ttl_left(now),
        "type": "service",
    }))
}

fn auth_response(token: String, entry: &TokenEntry) -> VaultResponse {
    VaultResponse {
        auth: Some(AuthInfo {
            client_token: token,
            accessor: entry.accessor.clone(),
            policies: entry.policies.clone(),
            metadata: entry.meta.clone(),
            lease_duration: entry.ttl,
            renewable: entry.renewable,
            orphan: entry.parent.is_none(),
            num_uses: entry.num_uses,
        }),
        ..VaultResponse::default()
    }
}

/// `auth/token/...` requests (already authorised).
pub(crate) async fn handle_token(
    active: &Active,
    caller: &TokenEntry,
    operation: Operation,
    rest: &str,
    data: Map<String, Value>,
    token: &str,
) -> Result<VaultResponse> {
    let now = active.clock.now();
    let tokens = &active.tokens;
    let rest = rest.trim_end_matches('/');
    let field = |name: &str| data.get(name).and_then(Value::as_str).map(str::to_owned);
    let writes = matches!(operation, Operation::Create | Operation::Update);
    match rest {
        "create" | "create-orphan" if writes => {
            let meta = data
                .get("meta")
                .cloned()
                .map(object)
                .unwrap_or_default()
                .into_iter()
                .filter_map(|(k, v)| v.as_str().map(|s| (k, s.to_owned())))
                .collect();
            let request = TokenRequest {
                policies: string_list(&data, "policies"),
                no_default_policy: data
                    .get("no_default_policy")
                    .and_then(Value::as_bool)
                    .unwrap_or(false),
                ttl: duration_field(&data, "ttl")?,
                explicit_max_ttl: duration_field(&data, "explicit_max_ttl")?,
                period: duration_field(&data, "period")?,
                num_uses: data
                    .get("num_uses")
                    .and_then(Value::as_u64)
                    .map(u32::try_from)
                    .transpose()
                    .map_err(|_| VaultError::invalid("num_uses is too large"))?
                    .unwrap_or(0),
                renewable: data.get("renewable").and_then(Value::as_bool),
                no_parent: rest == "create-orphan"
                    || data
                        .get("no_parent")
                        .and_then(Value::as_bool)
                        .unwrap_or(false),
                display_name: field("display_name").unwrap_or_default(),
                meta,
                bound_cidrs: string_list(&data, "bound_cidrs"),
                mount: None,
                internal: Map::new(),
            };
            let (new_token, entry) = tokens.create(caller, request, now).await?;
            Ok(auth_response(new_token, &entry))
        }
        "lookup-self" => Ok(VaultResponse::data(lookup_data(caller, now, Some(token)))),
        "lookup" => {
            let target = field("token").ok_or_else(|| VaultError::invalid("missing token"))?;
            let entry = tokens
                .lookup(&target, now)
                .await?
                .ok_or_else(|| VaultError::invalid("bad token"))?;
            Ok(VaultResponse::data(lookup_data(&entry, now, Some(&target))))
        }
        "lookup-accessor" => {
            let accessor =
                field("accessor").ok_or_else(|| VaultError::invalid("missing accessor"))?;
            let entry = tokens
                .lookup_accessor(&accessor, now)
                .await?
                .ok_or_else(|| VaultError::invalid("invalid accessor"))?;
            Ok(VaultResponse::data(lookup_data(&entry, now, None)))
        }
        "renew-self" | "renew" if writes => {
            let entry = if rest == "renew" {
                let target = field("token").ok_or_else(|| VaultError::invalid("missing token"))?;
                tokens
                    .lookup(&target, now)
                    .await?
                    .ok_or_else(|| VaultError::invalid("bad token"))?
            } else {
                caller.clone()
            };
            // A login's token renews only while its auth method agrees (user or role still
            // there, same policies), as in Vault.
            if let Some(mount) = &entry.mount {
                let mounted = active
                    .router
                    .read()
                    .await
                    .get(mount)
                    .cloned()
                    .ok_or_else(|| VaultError::invalid("the token's auth method is gone"))?;
                mounted
                    .backend
                    .renew_login(
                        &crate::vault::context(&mounted, now),
                        &entry.internal,
                        &entry.policies,
                    )
                    .await?;
            }
            let increment = duration_field(&data, "increment")?;
            let renewed = tokens.renew(&entry, increment, now).await?;
            let mut response = auth_response(String::new(), &renewed);
            if let Some(auth) = response.auth.as_mut() {
                auth.client_token = if rest == "renew" {
                    field("token").unwrap_or_default()
                } else {
                    token.to_owned()
                };
            }
            Ok(response)
        }
        "revoke-self" if writes => {
            let gone = tokens.revoke_tree(&caller.id).await?;
            active.revoke_leases_of(&gone, now).await?;
            Ok(VaultResponse::empty())
        }
        "revoke" | "revoke-orphan" if writes => {
            let target = field("token").ok_or_else(|| VaultError::invalid("missing token"))?;
            if let Some(entry) = tokens.lookup(&target, now).await? {
                if rest == "revoke" {
                    let gone = tokens.revoke_tree(&entry.id).await?;
                    active.revoke_leases_of(&gone, now).await?;
                } else {
                    tokens.revoke_orphan(&entry.id).await?;
                    active
                        .revoke_leases_of(std::slice::from_ref(&entry.id), now)
                        .await?;
                }
            }
            Ok(VaultResponse::empty())
        }
        "revoke-accessor" if writes => {
            let accessor =
                field("accessor").ok_or_else(|| VaultError::invalid("missing accessor"))?;
            if let Some(entry) = tokens.lookup_accessor(&accessor, now).await? {
                let gone = tokens.revoke_tree(&entry.id).await?;
                active.revoke_leases_of(&gone, now).await?;
            }
            Ok(VaultResponse::empty())
        }
        _ => Err(VaultError::UnsupportedPath),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuids_are_v4() {
        let id = uuid().unwrap();
        assert_eq!(id.len(), 36);
        assert_eq!(id.as_bytes()[14], b'4');
    }
}
