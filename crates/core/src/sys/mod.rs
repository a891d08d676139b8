//! The system backend (`sys/...`) and the token store's endpoints (`auth/token/...`), with
//! Vault's paths and JSON shapes, one module per topic.

mod audit;
mod caller;
mod leases;
mod locked_users;
mod mounts;
mod policies;
mod tokens;

use serde_json::{Map, Value, json};
use strongroom_logical::Operation;

use crate::active::Active;
use crate::request::VaultResponse;
use crate::util::object;
use crate::{Result, Vault, VaultError};

use audit::{audit_endpoints, audit_hash};
pub(crate) use caller::Caller;
use leases::lease_endpoints;
use locked_users::locked_users;
use mounts::{disable, enable, list_mounts, mount_target, tune};
use policies::{capabilities, policy_endpoints};
pub(crate) use tokens::handle_token;

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
            Ok(list_mounts(&active.router.snapshot(), head == "auth"))
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
            let router = active.router.snapshot();
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
            let router = active.router.snapshot();
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
