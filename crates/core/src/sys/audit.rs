//! `sys/audit` and `sys/audit-hash`, and audit devices added in code.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{Map, Value, json};
use strongroom_logical::Operation;

use crate::active::Active;
use crate::audit::{AUDIT_PATH, AuditEntry, Broker, Enabled, FileAuditDevice, check_file_path};
use crate::mounts::normalize_mount_path;
use crate::request::VaultResponse;
use crate::util::{hex, object};
use crate::{Result, Vault, VaultError};

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

pub(super) async fn audit_endpoints(
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
                salt: crate::util::hex(&salt),
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

pub(super) async fn audit_hash(
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
        let enabled = Enabled::new(entry, device, &salt);
        install_audit(&active, enabled, false).await
    }
}
