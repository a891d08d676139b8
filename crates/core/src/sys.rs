//! The system backend (`sys/...`) and the token store's endpoints (`auth/token/...`), with
//! Vault's paths and JSON shapes.

use std::sync::Arc;

use serde_json::{Map, Value, json};
use strongroom_logical::{Operation, StorageView};
use strongroom_storage::Storage;

use std::collections::BTreeMap;

use crate::audit::{AuditEntry, Broker, Enabled, FileAuditDevice, check_file_path};
use crate::mounts::{MountConfig, MountEntry, Mounted, normalize_mount_path};
use crate::tokens::{Creation, TokenEntry, TokenRequest};
use crate::vault::{AUDIT_PATH, Active, AuthInfo, MOUNTS_PATH, VaultResponse};
use crate::{Result, Vault, VaultError};
use strongroom_logical::field;

/// The built-in auth methods (mounted under `sys/auth` only) and secrets engines (under
/// `sys/mounts` only): a login method mounted as a secrets engine must not mint tokens.
const AUTH_KINDS: &[&str] = &["userpass", "approle", "jwt"];
const SECRET_KINDS: &[&str] = &["kv", "kv-v2", "transit", "database"];

/// Mount paths no engine may take.
const RESERVED: &[&str] = &["sys/", "auth/", "cubbyhole/", "identity/", "auth/token/"];

/// Who is asking, as the pipeline established it.
pub(crate) struct Caller {
    /// The token, after this request's use was counted.
    pub(crate) entry: TokenEntry,
    /// The token as presented.
    pub(crate) token: String,
    /// This request took the token's last use.
    pub(crate) last_use: bool,
    /// The token holds `sudo` (or root) on the request path.
    pub(crate) sudo: bool,
}

/// The full mount path `path` names below `sys/mounts` (`auth == false`) or `sys/auth`, for
/// every operation on it: `sys/mounts` refuses the reserved prefixes (an auth method is
/// managed through `sys/auth` only, where sudo is required), `sys/auth` refuses the token
/// store. `what` words the refusal ("mount at", "unmount", "tune").
fn mount_target(path: &str, auth: bool, what: &str) -> Result<String> {
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
            "cannot {what} reserved path {full:?}"
        )));
    }
    Ok(full)
}

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
    let full = mount_target(path, auth, "mount at")?;
    let kind = field::string(data, "type")?
        .filter(|t| !t.is_empty())
        .ok_or_else(|| VaultError::invalid("missing mount type"))?;
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
    let config_in = field::map(data, "config")?.unwrap_or_default();
    let config = MountConfig {
        default_lease_ttl: field::duration(&config_in, "default_lease_ttl")?
            .map_or(0, |d| d.as_secs()),
        max_lease_ttl: field::duration(&config_in, "max_lease_ttl")?.map_or(0, |d| d.as_secs()),
        user_lockout_config: match field::map(&config_in, "user_lockout_config")? {
            Some(tune) if !tune.is_empty() => {
                lockout_tunable(auth, &kind)?;
                Some(crate::MountLockout::default().updated(&tune)?)
            }
            _ => None,
        },
    };
    let mut options = field::map(data, "options")?.unwrap_or_default();
    let description = field::string(data, "description")?.unwrap_or_default();
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
        description,
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
    let full = mount_target(path, auth, "unmount")?;
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
    auth: bool,
    operation: Operation,
    data: &Map<String, Value>,
) -> Result<VaultResponse> {
    let full = mount_target(path, auth, "tune")?;
    let _guard = active.mount_lock.lock().await;
    let mut router = active.router.write().await;
    let mounted = router
        .get(&full)
        .cloned()
        .ok_or_else(|| VaultError::invalid(format!("no mount at {full:?}")))?;
    if operation == Operation::Read {
        let entry = &mounted.entry;
        let mut out = object(json!({
            "default_lease_ttl": entry.config.default_lease_ttl,
            "max_lease_ttl": entry.config.max_lease_ttl,
            "description": entry.description,
            "force_no_cache": false,
            "options": entry.options,
        }));
        if let Some(tune) = &entry.config.user_lockout_config {
            tune.tune_fields(&mut out);
        }
        return Ok(VaultResponse::data(out));
    }
    let mut entry = mounted.entry.clone();
    if let Some(tune) = field::map(data, "user_lockout_config")?
        && !tune.is_empty()
    {
        lockout_tunable(auth, &entry.kind)?;
        let current = entry.config.user_lockout_config.clone().unwrap_or_default();
        entry.config.user_lockout_config = Some(current.updated(&tune)?);
    }
    if let Some(ttl) = field::duration(data, "default_lease_ttl")? {
        entry.config.default_lease_ttl = ttl.as_secs();
    }
    if let Some(ttl) = field::duration(data, "max_lease_ttl")? {
        entry.config.max_lease_ttl = ttl.as_secs();
    }
    if let Some(description) = field::string(data, "description")? {
        entry.description = description;
    }
    router.insert(Mounted {
        entry,
        backend: Arc::clone(&mounted.backend),
        view: mounted.view.clone(),
    });
    save_mounts(active, &router).await?;
    Ok(VaultResponse::empty())
}

/// The lockout settings of every auth mount, by accessor.
pub(crate) async fn lockout_configs(
    active: &Active,
) -> std::collections::HashMap<String, crate::UserLockoutConfig> {
    active
        .router
        .read()
        .await
        .entries()
        .filter(|e| e.path.starts_with("auth/"))
        .map(|entry| {
            (
                entry.accessor.clone(),
                crate::lockout::resolve(
                    &active.user_lockouts,
                    &entry.kind,
                    entry.config.user_lockout_config.as_ref(),
                ),
            )
        })
        .collect()
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

/// `sys/locked-users` (read; optional `mount_accessor`) in Vault's shape, and
/// `sys/locked-users/<mount_accessor>/unlock/<alias_identifier>` (write).
async fn locked_users(
    active: &Active,
    operation: Operation,
    tail: &str,
    data: &Map<String, Value>,
) -> Result<VaultResponse> {
    let writes = matches!(operation, Operation::Create | Operation::Update);
    let router = active.router.read().await;
    let by_accessor = |accessor: &str| {
        router
            .entries()
            .find(|e| e.accessor == accessor && e.path.starts_with("auth/"))
            .cloned()
    };
    if tail.is_empty() && operation == Operation::Read {
        let wanted = field::string(data, "mount_accessor")?.filter(|a| !a.is_empty());
        drop(router);
        let configs = lockout_configs(active).await;
        let locked = active.lockouts.locked(active.clock.now(), &configs).await?;
        let mut accessors: Vec<Value> = Vec::new();
        let mut total = 0;
        let mut listed: Vec<(String, Vec<String>)> = match &wanted {
            Some(accessor) => vec![(
                accessor.clone(),
                locked.get(accessor).cloned().unwrap_or_default(),
            )],
            None => locked.into_iter().collect(),
        };
        // Vault's order: most locked first.
        listed.sort_by(|a, b| b.1.len().cmp(&a.1.len()).then_with(|| a.0.cmp(&b.0)));
        for (accessor, identities) in listed {
            total += identities.len();
            accessors.push(json!({
                "mount_accessor": accessor,
                "counts": identities.len(),
                "alias_identifiers": if identities.is_empty() { Value::Null } else { json!(identities) },
            }));
        }
        return Ok(VaultResponse::data(object(json!({
            "by_namespace": [{
                "namespace_id": "root",
                "namespace_path": "",
                "counts": total,
                "mount_accessors": accessors,
            }],
            "total": total,
        }))));
    }
    let mut parts = tail.splitn(3, '/');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(accessor), Some("unlock"), Some(alias)) if writes => {
            if accessor.is_empty() {
                return Err(VaultError::invalid("missing mount_accessor"));
            }
            if alias.is_empty() {
                return Err(VaultError::invalid("missing alias_identifier"));
            }
            // userpass names are folded by its logins; the policy check saw the alias as
            // written, so only the folded spelling is accepted (`ADMIN` must not dodge a rule
            // for `admin`).
            if let Some(entry) = by_accessor(accessor)
                && entry.kind == "userpass"
                && alias != alias.to_lowercase()
            {
                return Err(VaultError::invalid(
                    "userpass alias identifiers are lower case: unlock the user by its folded \
                     name",
                ));
            }
            let alias = alias.to_owned();
            drop(router);
            active.lockouts.unlock(accessor, &alias).await?;
            Ok(VaultResponse::empty())
        }
        (Some(_), Some("unlock"), Some(_)) => Err(VaultError::Logical(
            strongroom_logical::LogicalError::UnsupportedOperation,
        )),
        _ if tail.is_empty() => Err(VaultError::Logical(
            strongroom_logical::LogicalError::UnsupportedOperation,
        )),
        _ => Err(VaultError::UnsupportedPath),
    }
}

async fn capabilities(
    active: &Active,
    policies: &[String],
    data: &Map<String, Value>,
) -> Result<VaultResponse> {
    let mut paths: Vec<String> = field::comma_string_slice(data, "paths")?
        .unwrap_or_default()
        .into_iter()
        .filter(|p| !p.is_empty())
        .collect();
    if let Some(path) = field::string(data, "path")?.filter(|p| !p.is_empty()) {
        paths.push(path);
    }
    if paths.is_empty() {
        return Err(VaultError::invalid("missing path"));
    }
    let acl = active.policies.acl(policies).await?;
    let mut out = Map::new();
    let mut all: Vec<String> = Vec::new();
    for path in &paths {
        // Reported on the path the pipeline would decide on (canonical, names folded).
        let mut decided = crate::request_path::canonical(Operation::Read, path)
            .unwrap_or_else(|_| path.trim_start_matches('/').to_owned());
        let _ = Vault::route(active, Operation::Read, &mut decided).await;
        let caps: Vec<String> = acl
            .capabilities(&decided)
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
        field::string(data, "lease_id")?
            .filter(|id| !id.is_empty())
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
            let increment = field::duration(data, "increment")?.filter(|d| !d.is_zero());
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

/// `sys/...` requests (already authorised), at their canonical path below `sys/`.
pub(crate) async fn handle(
    vault: &Vault,
    active: &Active,
    caller: &Caller,
    operation: Operation,
    rest: &str,
    data: Map<String, Value>,
) -> Result<VaultResponse> {
    // The path exactly as the ACL and the sudo check saw it (a list without its final `/`):
    // no handler normalises it further.
    let rest = crate::request_path::handler_path(operation, rest);
    let (head, tail) = rest.split_once('/').unwrap_or((rest, ""));
    let writes = matches!(operation, Operation::Create | Operation::Update);
    match (head, operation) {
        // The metrics themselves are rendered by the HTTP layer, which counts requests; the
        // core authorises and audits the read like any other.
        ("metrics", Operation::Read) if tail.is_empty() => Ok(VaultResponse::data(Map::new())),
        ("mounts" | "auth", Operation::Read | Operation::List) if tail.is_empty() => {
            Ok(list_mounts(&*active.router.read().await, head == "auth"))
        }
        ("mounts" | "auth", Operation::Read | Operation::Create | Operation::Update)
            if tail.ends_with("/tune") =>
        {
            let mount = tail.strip_suffix("tune").unwrap_or(tail);
            tune(active, mount, head == "auth", operation, &data).await
        }
        ("mounts" | "auth", _) if tail.ends_with("/tune") => Err(VaultError::Logical(
            strongroom_logical::LogicalError::UnsupportedOperation,
        )),
        ("mounts" | "auth", _) if writes => {
            enable(vault, active, tail, &data, head == "auth").await
        }
        ("mounts" | "auth", Operation::Delete) => disable(active, tail, head == "auth").await,
        ("mounts", Operation::Read) => {
            let full = mount_target(tail, false, "read")?;
            let router = active.router.read().await;
            let entry = router
                .get(&full)
                .ok_or_else(|| VaultError::invalid(format!("no mount at {full:?}")))?;
            Ok(VaultResponse::data(object(entry.entry.to_json())))
        }
        ("policy", _) => policy_endpoints(active, operation, tail, &data, true).await,
        ("policies", _) => match tail.split_once('/') {
            Some(("acl", name)) => policy_endpoints(active, operation, name, &data, false).await,
            None if tail == "acl" => policy_endpoints(active, operation, "", &data, false).await,
            _ => Err(VaultError::UnsupportedPath),
        },
        ("capabilities-self", _) if writes && tail.is_empty() => {
            capabilities(active, &caller.entry.policies, &data).await
        }
        ("capabilities", _) if writes && tail.is_empty() => {
            let token = data
                .get("token")
                .and_then(Value::as_str)
                .ok_or_else(|| VaultError::invalid("missing token"))?;
            let entry = active
                .lookup_token(token, active.clock.now())
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
        ("locked-users", _) => locked_users(active, operation, tail, &data).await,
        ("audit", _) => audit_endpoints(active, operation, tail, &data).await,
        ("leases", _) => lease_endpoints(active, operation, tail, &data).await,
        ("audit-hash", _) if writes => audit_hash(active, tail, &data).await,
        ("seal-status", Operation::Read) if tail.is_empty() => {
            let status = vault.seal_status().await?;
            Ok(VaultResponse::data(object(
                serde_json::to_value(status)
                    .map_err(|e| VaultError::Internal(format!("encoding seal status: {e}")))?,
            )))
        }
        ("seal", _) if writes && tail.is_empty() => {
            vault.seal().await;
            Ok(VaultResponse::empty())
        }
        _ => Err(VaultError::UnsupportedPath),
    }
}

/// Vault's `lookup` answer for `entry`. `last_use`: this request took the token's last use
/// (Vault then reports `num_uses` as -1, revocation pending).
fn lookup_data(
    entry: &TokenEntry,
    now: std::time::SystemTime,
    id: Option<&str>,
    last_use: bool,
) -> Map<String, Value> {
    let num_uses = if last_use {
        json!(-1)
    } else {
        json!(entry.num_uses)
    };
    let mut out = object(json!({
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
        "num_uses": num_uses,
        "orphan": entry.parent.is_none(),
        "path": entry.path,
        "period": if entry.period > 0 { json!(entry.period) } else { Value::Null },
        "policies": entry.policies,
        "renewable": entry.renewable,
        "ttl": entry.ttl_left(now),
        "type": "service",
    }));
    if let Some(at) = entry.last_renewal_time {
        out.insert("last_renewal_time".into(), json!(at));
        out.insert("last_renewal".into(), json!(rfc3339(at)));
    }
    out
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

/// The fields of `auth/token/create` and `create-orphan`, decoded as Vault's field types (a
/// value of the wrong type is a 400, never a default).
fn token_request(data: &Map<String, Value>) -> Result<TokenRequest> {
    let num_uses = field::int(data, "num_uses")?.unwrap_or(0);
    if num_uses < 0 {
        return Err(VaultError::invalid("number of uses cannot be negative"));
    }
    let num_uses =
        u32::try_from(num_uses).map_err(|_| VaultError::invalid("number of uses is too large"))?;
    match field::string(data, "type")?.as_deref() {
        None | Some("" | "service" | "default") => {}
        Some(other) => {
            return Err(VaultError::invalid(format!(
                "unsupported token type {other:?}: only service tokens can be created"
            )));
        }
    }
    if field::string(data, "id")?.is_some_and(|id| !id.is_empty()) {
        return Err(VaultError::invalid(
            "token ids cannot be chosen: tokens are random",
        ));
    }
    // A positive `lease` is Vault's older spelling of `ttl`.
    let ttl = match field::duration(data, "ttl")?.filter(|d| !d.is_zero()) {
        Some(ttl) => Some(ttl),
        None => field::duration(data, "lease")?.filter(|d| !d.is_zero()),
    };
    let policies = field::string_slice(data, "policies")?
        .unwrap_or_default()
        .into_iter()
        .map(|p| p.to_lowercase())
        .filter(|p| !p.is_empty())
        .collect();
    Ok(TokenRequest {
        policies,
        no_default_policy: field::bool(data, "no_default_policy")?.unwrap_or(false),
        ttl,
        explicit_max_ttl: field::duration(data, "explicit_max_ttl")?.filter(|d| !d.is_zero()),
        period: field::duration(data, "period")?.filter(|d| !d.is_zero()),
        num_uses,
        renewable: field::bool(data, "renewable")?,
        no_parent: field::bool(data, "no_parent")?.unwrap_or(false),
        display_name: field::string(data, "display_name")?.unwrap_or_default(),
        meta: field::kv_pairs(data, "meta")?.unwrap_or_default(),
        bound_cidrs: field::comma_string_slice(data, "bound_cidrs")?
            .unwrap_or_default()
            .into_iter()
            .filter(|c| !c.is_empty())
            .collect(),
        mount: None,
        internal: Map::new(),
    })
}

/// A required string field of the token endpoints (`token`, `accessor`).
fn required(data: &Map<String, Value>, name: &str) -> Result<String> {
    field::string(data, name)?
        .filter(|v| !v.is_empty())
        .ok_or_else(|| VaultError::invalid(format!("missing {name}")))
}

/// `auth/token/...` requests (already authorised), at their canonical path below the store.
pub(crate) async fn handle_token(
    active: &Active,
    caller: &Caller,
    operation: Operation,
    rest: &str,
    data: Map<String, Value>,
) -> Result<VaultResponse> {
    let now = active.clock.now();
    let tokens = &active.tokens;
    let rest = crate::request_path::handler_path(operation, rest);
    let writes = matches!(operation, Operation::Create | Operation::Update);
    match rest {
        "create" | "create-orphan" if writes => {
            let request = token_request(&data)?;
            let asked_period = request.period;
            let path = format!("auth/token/{rest}");
            let creation = Creation {
                sudo: caller.sudo,
                orphan: rest == "create-orphan",
                path: &path,
            };
            let (new_token, entry) = tokens.create(&caller.entry, request, creation, now).await?;
            let mut response = auth_response(new_token, &entry);
            if let Some(asked) = asked_period.filter(|p| p.as_secs() > entry.period) {
                response.warnings.push(format!(
                    "period of \"{}\" exceeded the effective max_ttl of \"{}\"; period value is \
                     capped accordingly",
                    humantime(asked.as_secs()),
                    humantime(entry.period)
                ));
            }
            Ok(response)
        }
        "lookup-self" if matches!(operation, Operation::Read) || writes => Ok(VaultResponse::data(
            lookup_data(&caller.entry, now, Some(&caller.token), caller.last_use),
        )),
        "lookup" if matches!(operation, Operation::Read) || writes => {
            let target = required(&data, "token")?;
            let entry = active
                .lookup_token(&target, now)
                .await?
                .ok_or_else(|| VaultError::invalid("bad token"))?;
            // Looking up one's own token reports this request's use, as lookup-self does.
            let own = entry.id == caller.entry.id;
            let entry = if own { &caller.entry } else { &entry };
            Ok(VaultResponse::data(lookup_data(
                entry,
                now,
                Some(&target),
                own && caller.last_use,
            )))
        }
        "lookup-accessor" if writes => {
            let accessor = required(&data, "accessor")?;
            let entry = active
                .lookup_accessor(&accessor, now)
                .await?
                .ok_or_else(|| VaultError::invalid("invalid accessor"))?;
            Ok(VaultResponse::data(lookup_data(&entry, now, None, false)))
        }
        "renew-self" | "renew" | "renew-accessor" if writes => {
            let (entry, shown) = match rest {
                "renew" => {
                    let target = required(&data, "token")?;
                    let entry = active
                        .lookup_token(&target, now)
                        .await?
                        .ok_or_else(|| VaultError::invalid("bad token"))?;
                    (entry, target)
                }
                "renew-accessor" => {
                    let accessor = required(&data, "accessor")?;
                    let entry = active
                        .lookup_accessor(&accessor, now)
                        .await?
                        .ok_or_else(|| VaultError::invalid("invalid accessor"))?;
                    (entry, String::new())
                }
                _ => (caller.entry.clone(), caller.token.clone()),
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
            let increment = field::duration(&data, "increment")?.filter(|d| !d.is_zero());
            // The renewal applies to the entry as stored now: a use counted meanwhile (or
            // the token's revocation) is never undone by writing back an older copy.
            // A token whose last use was this request is gone already (OpenBao's answer).
            let (renewed, capped) = tokens
                .renew(&entry.id, increment, now)
                .await?
                .ok_or_else(|| VaultError::invalid("token not found"))?;
            let mut response = auth_response(shown, &renewed);
            if capped {
                response.warnings.push(format!(
                    "TTL of \"{}\" exceeded the effective max_ttl of \"{}\"; TTL value is capped \
                     accordingly",
                    humantime(increment.map_or(renewed.ttl, |d| d.as_secs())),
                    humantime(renewed.ttl)
                ));
            }
            Ok(response)
        }
        "revoke-self" if writes => {
            active.revoke_token_tree(&caller.entry.id, now).await?;
            Ok(VaultResponse::empty())
        }
        "revoke" | "revoke-orphan" if writes => {
            let target = required(&data, "token")?;
            if let Some(entry) = active.lookup_token(&target, now).await? {
                if rest == "revoke" {
                    active.revoke_token_tree(&entry.id, now).await?;
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
            let accessor = required(&data, "accessor")?;
            if let Some(entry) = active.lookup_accessor(&accessor, now).await? {
                active.revoke_token_tree(&entry.id, now).await?;
            }
            Ok(VaultResponse::empty())
        }
        "create" | "create-orphan" | "lookup-self" | "lookup" | "lookup-accessor"
        | "renew-self" | "renew" | "renew-accessor" | "revoke-self" | "revoke"
        | "revoke-orphan" | "revoke-accessor" => Err(VaultError::Logical(
            strongroom_logical::LogicalError::UnsupportedOperation,
        )),
        _ => Err(VaultError::UnsupportedPath),
    }
}

/// Seconds as Go prints a `time.Duration` (`1h0m0s`, `2m30s`, `45s`), for Vault's warnings.
fn humantime(secs: u64) -> String {
    let (h, m, s) = (secs / 3600, secs % 3600 / 60, secs % 60);
    if h > 0 {
        format!("{h}h{m}m{s}s")
    } else if m > 0 {
        format!("{m}m{s}s")
    } else {
        format!("{s}s")
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
