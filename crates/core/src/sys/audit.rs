//! `sys/audit` and `sys/audit-hash`, and audit devices added in code.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{Map, json};
use strongroom_logical::{Context, Field, FieldType, Fields, SecretText};

use super::{Declared, System};
use crate::active::Active;
use crate::audit::{AuditEntry, Enabled, FileAuditDevice, check_file_path};
use crate::mounts::normalize_mount_path;
use crate::request::VaultResponse;
use crate::util::{hex, object};
use crate::{Result, Vault, VaultError};

/// Installs an audit device (copy-on-write), persisting the table when asked.
pub(crate) async fn install_audit(
    active: &Active,
    enabled: Arc<Enabled>,
    persist: bool,
) -> Result<()> {
    let mut change = active.change_audit().await;
    if change
        .devices
        .iter()
        .any(|d| d.entry.path == enabled.entry.path)
    {
        return Err(VaultError::invalid(format!(
            "path already in use: {}",
            enabled.entry.path
        )));
    }
    change.devices.push(enabled);
    change.commit(persist).await
}

/// `sys/audit` and `sys/audit-hash`.
pub(super) fn endpoints() -> Vec<Declared> {
    let path = || Field::new(FieldType::String, "The device's path.");
    vec![
        Declared::new("audit/?")
            .read(|s, c, f| Box::pin(list(s, c, f)))
            .sudo()
            .synopsis("List the audit devices."),
        Declared::new("audit/{path+}")
            .field("path", path())
            .field(
                "type",
                Field::new(FieldType::String, "The device type (`file`)."),
            )
            .field(
                "description",
                Field::new(FieldType::String, "A description."),
            )
            .field(
                "options",
                Field::new(FieldType::KvPairs, "Device options (`file_path`)."),
            )
            .write(|s, c, f| Box::pin(enable(s, c, f)))
            .delete(|s, c, f| Box::pin(disable(s, c, f)))
            .sudo()
            .synopsis("Enable or disable an audit device."),
        Declared::new("audit-hash/{path+}")
            .field("path", path())
            .field(
                "input",
                Field::new(
                    FieldType::SecretString,
                    "The text to hash as the device does.",
                ),
            )
            .write(|s, c, f| Box::pin(hash(s, c, f)))
            .synopsis("Hash a text with an audit device's salt."),
    ]
}

/// The device path a request names, checked and ending in `/`.
fn device_path(fields: &Fields<'_>) -> Result<String> {
    let path: &str = fields.get("path")?;
    normalize_mount_path(path)
        .ok_or_else(|| VaultError::invalid(format!("invalid audit path {path:?}")))
}

async fn list(sys: &System, _ctx: &Context, _fields: Fields<'_>) -> Result<VaultResponse> {
    let broker = sys.active.audit_snapshot();
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
    Ok(VaultResponse::data(out))
}

async fn enable(sys: &System, ctx: &Context, fields: Fields<'_>) -> Result<VaultResponse> {
    let active = &sys.active;
    let path = device_path(&fields)?;
    let kind: &str = fields.get("type")?;
    if kind.is_empty() {
        return Err(VaultError::invalid("missing audit device type"));
    }
    if kind != "file" {
        return Err(VaultError::invalid(format!(
            "unknown audit device type {kind:?}: only \"file\" can be enabled over the API"
        )));
    }
    let options: BTreeMap<String, String> = fields.get("options")?;
    let requested = options
        .get("file_path")
        .ok_or_else(|| VaultError::invalid("missing options.file_path"))?;
    let file = check_file_path(active.audit_dir(), requested)?;
    let salt = ring::rand::generate::<[u8; 32]>(&ring::rand::SystemRandom::new())
        .map_err(|_| VaultError::Internal("system random source failed".into()))?
        .expose();
    let entry = AuditEntry {
        path,
        kind: "file".into(),
        description: fields.get("description")?,
        options,
        salt: crate::util::hex(&salt),
        declared: false,
    };
    let device: Arc<dyn crate::AuditDevice> = Arc::new(FileAuditDevice::new(file));
    let enabled = Arc::new(Enabled::new(entry, device, &salt));
    // Prove the device can write before counting on it, with Vault's test entry: a request
    // entry like any other (an `update` of `sys/audit/test`), so tools that read every line as
    // an entry read this one too.
    let id = crate::util::uuid()?;
    let probe = crate::audit::AuditRecord {
        id: &id,
        operation: "update",
        path: "sys/audit/test",
        data: &serde_json::Map::new(),
        remote_address: None,
        auth: &crate::audit::AuditAuth::default(),
        mount: None,
        wrap_ttl: None,
    };
    crate::audit::Broker::new(vec![Arc::clone(&enabled)], active.audit_timeout())
        .log_request(&probe, crate::clock::unix(ctx.now), None)
        .await
        .map_err(|_| VaultError::invalid("audit device cannot write its test entry"))?;
    install_audit(active, enabled, true).await?;
    Ok(VaultResponse::empty())
}

async fn disable(sys: &System, _ctx: &Context, fields: Fields<'_>) -> Result<VaultResponse> {
    let active = &sys.active;
    let path = device_path(&fields)?;
    let mut change = active.change_audit().await;
    if change
        .devices
        .iter()
        .any(|d| d.entry.path == path && d.entry.declared)
    {
        return Err(VaultError::invalid(format!(
            "the audit device at {path} is declared in the server configuration; remove it there"
        )));
    }
    change.devices.retain(|d| d.entry.path != path);
    change.commit(true).await?;
    Ok(VaultResponse::empty())
}

async fn hash(sys: &System, _ctx: &Context, fields: Fields<'_>) -> Result<VaultResponse> {
    let path = device_path(&fields)?;
    if !fields.is_set("input") {
        return Err(VaultError::invalid("missing input"));
    }
    let input: SecretText = fields.get("input")?;
    let broker = sys.active.audit_snapshot();
    let device = broker
        .get(&path)
        .ok_or_else(|| VaultError::invalid(format!("unknown audit backend {path:?}")))?;
    Ok(VaultResponse::data(object(
        json!({"hash": device.hash(input.expose())}),
    )))
}

impl Vault {
    /// Adds an audit device in code (not persisted: add it again after each unseal). Devices
    /// enabled through `sys/audit` are persisted.
    ///
    /// # Errors
    ///
    /// [`VaultError::Sealed`]; [`VaultError::InvalidRequest`] if the path is taken.
    pub async fn add_audit_device(
        &self,
        path: &str,
        device: Arc<dyn crate::AuditDevice>,
    ) -> Result<()> {
        let active = self.active().await?;
        let path = crate::mounts::normalize_mount_path(path)
            .ok_or_else(|| VaultError::invalid(format!("invalid audit path {path:?}")))?;
        let salt = ring::rand::generate::<[u8; 32]>(&ring::rand::SystemRandom::new())
            .map_err(|_| VaultError::Internal("system random source failed".into()))?
            .expose();
        let entry = AuditEntry {
            path,
            kind: device.kind().into(),
            description: String::new(),
            options: device.options(),
            salt: hex(&salt),
            declared: false,
        };
        let enabled = Arc::new(Enabled::new(entry, device, &salt));
        install_audit(&active, enabled, false).await
    }
}
