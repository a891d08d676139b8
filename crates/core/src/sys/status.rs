//! `sys/seal-status`, `sys/key-status`, `sys/seal` and `sys/metrics`.

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

async fn seal(sys: &System, _ctx: &Context, _fields: Fields<'_>) -> Result<VaultResponse> {
    sys.vault.seal().await;
    Ok(VaultResponse::empty())
}
