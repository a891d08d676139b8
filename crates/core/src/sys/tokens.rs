//! The token store's endpoints (`auth/token/...`).

use serde_json::{Map, Value, json};
use strongroom_logical::{Operation, field};

use super::caller::Caller;
use crate::active::Active;
use crate::request::{AuthInfo, VaultResponse};
use crate::tokens::{Creation, TokenEntry, TokenRequest};
use crate::util::{object, rfc3339};
use crate::{Result, VaultError};

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
            client_token: token.into(),
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
                    .snapshot()
                    .get(mount)
                    .cloned()
                    .ok_or_else(|| VaultError::invalid("the token's auth method is gone"))?;
                mounted
                    .backend
                    .renew_login(
                        &crate::mounts::context(&mounted, now),
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
