//! `sys/leases/...`: lookup, renew, revoke.

use std::time::Duration;

use serde_json::{Map, Value, json};
use strongroom_logical::{Context, Field, FieldType, Fields};

use super::{Declared, System};
use crate::request::VaultResponse;
use crate::util::object;
use crate::util::rfc3339;
use crate::{Result, VaultError};

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

/// `sys/leases/...`, in Vault's shapes.
pub(super) fn endpoints() -> Vec<Declared> {
    let lease_id = || Field::new(FieldType::String, "The lease id.");
    let url_lease_id = || Field::new(FieldType::String, "The lease id, in the path.");
    let increment = || {
        Field::new(
            FieldType::DurationSecond,
            "The TTL asked for, from now (the engine's default when 0).",
        )
    };
    let prefix = || Field::new(FieldType::String, "The lease id prefix.");
    vec![
        Declared::new("leases/lookup/{prefix*}")
            .field("prefix", prefix())
            .list(|s, c, f| Box::pin(list(s, c, f)))
            .sudo()
            .synopsis("List the lease ids below a prefix."),
        Declared::new("leases/lookup")
            .field("lease_id", lease_id())
            .write(|s, c, f| Box::pin(lookup(s, c, f)))
            .synopsis("Look a lease up."),
        Declared::new("leases/renew")
            .field("lease_id", lease_id())
            .field("increment", increment())
            .write(|s, c, f| Box::pin(renew(s, c, f)))
            .synopsis("Renew a lease."),
        Declared::new("leases/renew/{url_lease_id+}")
            .field("url_lease_id", url_lease_id())
            .field("lease_id", lease_id())
            .field("increment", increment())
            .write(|s, c, f| Box::pin(renew(s, c, f)))
            .synopsis("Renew the lease named in the path."),
        Declared::new("leases/revoke")
            .field("lease_id", lease_id())
            .write(|s, c, f| Box::pin(revoke(s, c, f)))
            .synopsis("Revoke a lease."),
        Declared::new("leases/revoke/{url_lease_id+}")
            .field("url_lease_id", url_lease_id())
            .field("lease_id", lease_id())
            .write(|s, c, f| Box::pin(revoke(s, c, f)))
            .synopsis("Revoke the lease named in the path."),
        Declared::new("leases/revoke-prefix/{prefix+}")
            .field("prefix", prefix())
            .write(|s, c, f| Box::pin(revoke_prefix(s, c, f, false)))
            .sudo()
            .synopsis("Revoke every lease below a prefix."),
        Declared::new("leases/revoke-force/{prefix+}")
            .field("prefix", prefix())
            .write(|s, c, f| Box::pin(revoke_prefix(s, c, f, true)))
            .sudo()
            .synopsis(
                "Revoke every lease below a prefix, dropping those whose secret cannot be \
                 revoked.",
            ),
    ]
}

/// The lease a request names: in the path (`url_lease_id`) when the endpoint has one, else the
/// `lease_id` field.
fn named_lease(fields: &Fields<'_>) -> Result<String> {
    if fields.is_declared("url_lease_id") {
        let id: String = fields.get("url_lease_id")?;
        if !id.is_empty() {
            return Ok(id);
        }
    }
    let id: String = fields.get("lease_id")?;
    if id.is_empty() {
        return Err(VaultError::invalid("lease_id must be specified"));
    }
    Ok(id)
}

async fn list(sys: &System, _ctx: &Context, fields: Fields<'_>) -> Result<VaultResponse> {
    let keys = sys.active.leases().list(fields.get("prefix")?).await?;
    if keys.is_empty() {
        return Ok(VaultResponse::empty());
    }
    Ok(VaultResponse::data(object(json!({"keys": keys}))))
}

async fn lookup(sys: &System, ctx: &Context, fields: Fields<'_>) -> Result<VaultResponse> {
    let id = named_lease(&fields)?;
    let entry = sys
        .active
        .leases()
        .lookup(&id)
        .await?
        .ok_or_else(|| VaultError::invalid("invalid lease"))?;
    Ok(VaultResponse::data(lease_json(
        &entry,
        crate::clock::unix(ctx.now),
    )))
}

async fn renew(sys: &System, ctx: &Context, fields: Fields<'_>) -> Result<VaultResponse> {
    let id = named_lease(&fields)?;
    let increment = fields
        .get_ok::<Duration>("increment")?
        .filter(|d| !d.is_zero());
    let router = sys.active.router();
    let entry = sys
        .active
        .leases()
        .renew(&router, &id, increment, ctx.now)
        .await?;
    Ok(VaultResponse {
        lease_id: entry.lease_id.clone(),
        lease_duration: entry
            .expire_time
            .saturating_sub(crate::clock::unix(ctx.now)),
        renewable: entry.renewable,
        ..VaultResponse::default()
    })
}

async fn revoke(sys: &System, ctx: &Context, fields: Fields<'_>) -> Result<VaultResponse> {
    let id = named_lease(&fields)?;
    crate::leases::check_lease_path(&id)?;
    let router = sys.active.router();
    sys.active
        .leases()
        .revoke(&router, &id, ctx.now, false)
        .await?;
    Ok(VaultResponse::empty())
}

async fn revoke_prefix(
    sys: &System,
    ctx: &Context,
    fields: Fields<'_>,
    force: bool,
) -> Result<VaultResponse> {
    let active = &sys.active;
    active
        .leases()
        .revoke_prefix(active.routes(), fields.get("prefix")?, ctx.now, force)
        .await?;
    Ok(VaultResponse::empty())
}
