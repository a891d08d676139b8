//! `sys/locked-users`: the logins user lockout holds, and unlocking them.

use serde_json::{Value, json};
use strongroom_logical::{Context, Field, FieldType, Fields};

use super::{Declared, System};
use crate::active::lockout_configs;
use crate::request::VaultResponse;
use crate::util::object;
use crate::{Result, VaultError};

/// `sys/locked-users` (read; optional `mount_accessor`) in Vault's shape, and
/// `sys/locked-users/<mount_accessor>/unlock/<alias_identifier>` (write).
pub(super) fn endpoints() -> Vec<Declared> {
    let accessor = || Field::new(FieldType::String, "The auth mount's accessor.");
    vec![
        Declared::new("locked-users")
            .field("mount_accessor", accessor())
            .read(|s, c, f| Box::pin(list(s, c, f)))
            .synopsis("The logins user lockout holds, by auth mount."),
        Declared::new("locked-users/{mount_accessor}/unlock/{alias_identifier+}")
            .field("mount_accessor", accessor())
            .field(
                "alias_identifier",
                Field::new(
                    FieldType::String,
                    "The locked login: a userpass user name, an approle role id.",
                ),
            )
            .write(|s, c, f| Box::pin(unlock(s, c, f)))
            .synopsis("Unlock a locked login."),
    ]
}

async fn list(sys: &System, ctx: &Context, fields: Fields<'_>) -> Result<VaultResponse> {
    let active = &sys.active;
    let wanted = fields
        .get_ok::<String>("mount_accessor")?
        .filter(|a| !a.is_empty());
    let configs = lockout_configs(active).await;
    let locked = active.lockouts().locked(ctx.now, &configs).await?;
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
    Ok(VaultResponse::data(object(json!({
        "by_namespace": [{
            "namespace_id": "root",
            "namespace_path": "",
            "counts": total,
            "mount_accessors": accessors,
        }],
        "total": total,
    }))))
}

async fn unlock(sys: &System, _ctx: &Context, fields: Fields<'_>) -> Result<VaultResponse> {
    let accessor: &str = fields.get("mount_accessor")?;
    let alias: &str = fields.get("alias_identifier")?;
    let mount = sys
        .active
        .router()
        .entries()
        .find(|e| e.accessor == accessor && e.path.starts_with("auth/"))
        .cloned();
    // userpass names are folded by its logins; the policy check saw the alias as written, so
    // only the folded spelling is accepted (`ADMIN` must not dodge a rule for `admin`).
    if let Some(entry) = mount
        && entry.kind == "userpass"
        && alias != alias.to_lowercase()
    {
        return Err(VaultError::invalid(
            "userpass alias identifiers are lower case: unlock the user by its folded name",
        ));
    }
    sys.active.lockouts().unlock(accessor, alias).await?;
    Ok(VaultResponse::empty())
}
