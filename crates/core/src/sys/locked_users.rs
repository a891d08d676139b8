//! `sys/locked-users`: the logins user lockout holds, and unlocking them.

use serde_json::{Map, Value, json};
use strongroom_logical::{Operation, field};

use crate::active::{Active, lockout_configs};
use crate::request::VaultResponse;
use crate::util::object;
use crate::{Result, VaultError};

/// `sys/locked-users` (read; optional `mount_accessor`) in Vault's shape, and
/// `sys/locked-users/<mount_accessor>/unlock/<alias_identifier>` (write).
pub(super) async fn locked_users(
    active: &Active,
    operation: Operation,
    tail: &str,
    data: &Map<String, Value>,
) -> Result<VaultResponse> {
    let writes = matches!(operation, Operation::Create | Operation::Update);
    let router = active.router.snapshot();
    let by_accessor = |accessor: &str| {
        router
            .entries()
            .find(|e| e.accessor == accessor && e.path.starts_with("auth/"))
            .cloned()
    };
    if tail.is_empty() && operation == Operation::Read {
        let wanted = field::string(data, "mount_accessor")?.filter(|a| !a.is_empty());
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
