//! `sys/seal-status`, `sys/key-status`, `sys/seal`, `sys/metrics`, and the HA endpoints
//! `sys/ha-status` and `sys/step-down`.

use strongroom_logical::{Context, Fields};

use super::{Declared, System};
use crate::request::VaultResponse;
use crate::util::object;
use crate::{Result, VaultError};

pub(super) fn endpoints() -> Vec<Declared> {
    vec![
        Declared::new("seal-status")
            .read(|s, c, f| Box::pin(seal_status(s, c, f)))
            .synopsis("Whether the vault is sealed, and the unseal progress."),
        Declared::new("key-status")
            .read(|s, c, f| Box::pin(key_status(s, c, f)))
            .synopsis("The barrier's active key term, when it was installed and its use."),
        Declared::new("ha-status")
            .read(|s, c, f| Box::pin(ha_status(s, c, f)))
            .synopsis("The nodes of a high-availability cluster, by API address."),
        Declared::new("step-down")
            .write(|s, c, f| Box::pin(step_down(s, c, f)))
            .sudo()
            .synopsis("Make the active node give up its role to a standby."),
        Declared::new("seal")
            .write(|s, c, f| Box::pin(seal(s, c, f)))
            .sudo()
            .synopsis("Seal the vault."),
        // The metrics themselves are rendered by the HTTP layer, which counts requests; the
        // core authorises and audits the read like any other.
        Declared::new("metrics")
            .field(
                "format",
                strongroom_logical::Field::new(
                    strongroom_logical::FieldType::String,
                    "`prometheus` for the text exposition format.",
                ),
            )
            .read(|_, _, _| Box::pin(async { Ok(VaultResponse::data(serde_json::Map::new())) }))
            .synopsis("Request metrics (rendered by the HTTP layer)."),
    ]
}

async fn seal_status(sys: &System, _ctx: &Context, _fields: Fields<'_>) -> Result<VaultResponse> {
    let status = sys.vault.seal_status().await?;
    Ok(VaultResponse::data(object(
        serde_json::to_value(status)
            .map_err(|e| VaultError::Internal(format!("encoding seal status: {e}")))?,
    )))
}

async fn key_status(sys: &System, _ctx: &Context, _fields: Fields<'_>) -> Result<VaultResponse> {
    let status = sys.vault.barrier_status()?;
    Ok(VaultResponse::data(object(serde_json::json!({
        "term": status.term,
        "install_time": strongroom_logical::time::rfc3339(crate::clock::unix(status.installed)),
        "encryptions": status.encryptions,
    }))))
}

async fn ha_status(sys: &System, _ctx: &Context, _fields: Fields<'_>) -> Result<VaultResponse> {
    let nodes: Vec<serde_json::Value> = sys
        .vault
        .ha_members()
        .await?
        .into_iter()
        .map(|member| {
            serde_json::json!({
                "hostname": member.node.hostname,
                "api_address": member.node.api_addr,
                "cluster_address": member.node.cluster_addr,
                "active_node": member.active,
                // Go's `time.Time` in JSON: RFC 3339 with nanoseconds.
                "last_echo": member.last_echo.map(|at| {
                    strongroom_logical::time::rfc3339_nanos(
                        at.duration_since(std::time::UNIX_EPOCH)
                            .map_or(0, |d| d.as_nanos()),
                    )
                }),
                "version": member.node.version,
            })
        })
        .collect();
    Ok(VaultResponse::data(object(
        serde_json::json!({ "nodes": nodes }),
    )))
}

async fn step_down(sys: &System, _ctx: &Context, _fields: Fields<'_>) -> Result<VaultResponse> {
    sys.vault.request_step_down();
    Ok(VaultResponse::empty())
}

async fn seal(sys: &System, _ctx: &Context, _fields: Fields<'_>) -> Result<VaultResponse> {
    sys.vault.seal().await;
    Ok(VaultResponse::empty())
}
