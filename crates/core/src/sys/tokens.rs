//! The token store's endpoints (`auth/token/...`).

use std::time::Duration;

use serde_json::{Map, Value, json};
use strongroom_logical::{Context, Field, FieldType, Fields, SecretText};

use super::{Declared, System};
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
        "policies": entry.policies,
        "renewable": entry.renewable,
        "ttl": entry.ttl_left(now),
        "type": "service",
    }));
    // Vault tells the period only when the token has one.
    if entry.period > 0 {
        out.insert("period".into(), json!(entry.period));
    }
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

/// The token store's endpoints.
pub(super) fn endpoints() -> Vec<Declared> {
    let token = || Field::new(FieldType::SecretString, "The token.");
    let accessor = || Field::new(FieldType::String, "The token's accessor.");
    let increment = || {
        Field::new(
            FieldType::DurationSecond,
            "The TTL asked for, from now (the token's own when 0).",
        )
    };
    let create = |pattern: &str| {
        Declared::new(pattern)
            .field(
                "policies",
                Field::new(
                    FieldType::CommaStringSlice,
                    "Policies (a subset of the caller's unless it is root).",
                ),
            )
            .field(
                "no_default_policy",
                Field::new(FieldType::Bool, "Leave out the `default` policy."),
            )
            .field("ttl", Field::new(FieldType::DurationSecond, "The TTL."))
            .field(
                "lease",
                Field::new(FieldType::DurationSecond, "The TTL (Vault's older name)."),
            )
            .field(
                "explicit_max_ttl",
                Field::new(
                    FieldType::DurationSecond,
                    "A hard limit renewals cannot pass.",
                ),
            )
            .field(
                "period",
                Field::new(
                    FieldType::DurationSecond,
                    "A periodic token: each renewal resets the TTL to this.",
                ),
            )
            .field(
                "num_uses",
                Field::new(
                    FieldType::Int,
                    "Uses before the token is revoked (0: unlimited).",
                ),
            )
            .field(
                "renewable",
                Field::new(FieldType::Bool, "Whether the token can be renewed.").default(true),
            )
            .field(
                "no_parent",
                Field::new(
                    FieldType::Bool,
                    "No parent: the token outlives its creator (needs sudo).",
                ),
            )
            .field(
                "display_name",
                Field::new(
                    FieldType::String,
                    "A name shown in lookups and audit lines.",
                ),
            )
            .field("meta", Field::new(FieldType::KvPairs, "Metadata."))
            .field(
                "bound_cidrs",
                Field::new(
                    FieldType::CommaStringSlice,
                    "CIDR blocks the token may be used from.",
                ),
            )
            .field(
                "type",
                Field::new(FieldType::String, "The token type (`service`)."),
            )
            .field(
                "id",
                Field::new(FieldType::String, "Not supported: tokens are random."),
            )
    };
    vec![
        create("create")
            .write(|s, c, f| Box::pin(create_token(s, c, f, false)))
            .synopsis("Create a child token."),
        create("create-orphan")
            .write(|s, c, f| Box::pin(create_token(s, c, f, true)))
            .synopsis("Create a token without a parent."),
        Declared::new("lookup-self")
            .field("token", token())
            .read(|s, c, f| Box::pin(lookup_self(s, c, f)))
            .write(|s, c, f| Box::pin(lookup_self(s, c, f)))
            .synopsis("Look the caller's token up."),
        Declared::new("lookup")
            .field("token", token())
            .read(|s, c, f| Box::pin(lookup(s, c, f)))
            .write(|s, c, f| Box::pin(lookup(s, c, f)))
            .synopsis("Look a token up."),
        Declared::new("lookup-accessor")
            .field("accessor", accessor())
            .write(|s, c, f| Box::pin(lookup_accessor(s, c, f)))
            .synopsis("Look a token up by its accessor."),
        Declared::new("renew-self")
            .field("token", token())
            .field("increment", increment())
            .write(|s, c, f| Box::pin(renew(s, c, f, Renewed::Caller)))
            .synopsis("Renew the caller's token."),
        Declared::new("renew")
            .field("token", token())
            .field("increment", increment())
            .write(|s, c, f| Box::pin(renew(s, c, f, Renewed::Token)))
            .synopsis("Renew a token."),
        Declared::new("renew-accessor")
            .field("accessor", accessor())
            .field("increment", increment())
            .write(|s, c, f| Box::pin(renew(s, c, f, Renewed::Accessor)))
            .synopsis("Renew a token by its accessor."),
        Declared::new("revoke-self")
            .write(|s, c, f| Box::pin(revoke_self(s, c, f)))
            .synopsis("Revoke the caller's token and its children."),
        Declared::new("revoke")
            .field("token", token())
            .write(|s, c, f| Box::pin(revoke(s, c, f, false)))
            .synopsis("Revoke a token and its children."),
        Declared::new("revoke-orphan")
            .field("token", token())
            .write(|s, c, f| Box::pin(revoke(s, c, f, true)))
            .sudo()
            .synopsis("Revoke a token, leaving its children as orphans."),
        Declared::new("accessors/?")
            .list(|s, c, f| Box::pin(list_accessors(s, c, f)))
            .sudo()
            .synopsis("List the accessors of every token."),
        Declared::new("revoke-accessor")
            .field("accessor", accessor())
            .write(|s, c, f| Box::pin(revoke_accessor(s, c, f)))
            .synopsis("Revoke a token by its accessor, with its children."),
    ]
}

/// The fields of `auth/token/create` and `create-orphan`, decoded as Vault's field types (a
/// value of the wrong type is a 400, never a default).
fn token_request(fields: &Fields<'_>) -> Result<TokenRequest> {
    let num_uses: i64 = fields.get("num_uses")?;
    if num_uses < 0 {
        return Err(VaultError::invalid("number of uses cannot be negative"));
    }
    let num_uses =
        u32::try_from(num_uses).map_err(|_| VaultError::invalid("number of uses is too large"))?;
    match fields.get::<&str>("type")? {
        "" | "service" | "default" => {}
        other => {
            return Err(VaultError::invalid(format!(
                "unsupported token type {other:?}: only service tokens can be created"
            )));
        }
    }
    if !fields.get::<&str>("id")?.is_empty() {
        return Err(VaultError::invalid(
            "token ids cannot be chosen: tokens are random",
        ));
    }
    let nonzero = |name: &str| -> Result<Option<Duration>> {
        Ok(fields.get_ok::<Duration>(name)?.filter(|d| !d.is_zero()))
    };
    // A positive `lease` is Vault's older spelling of `ttl`.
    let ttl = match nonzero("ttl")? {
        Some(ttl) => Some(ttl),
        None => nonzero("lease")?,
    };
    let policies = fields
        .get::<Vec<String>>("policies")?
        .into_iter()
        .map(|p| p.to_lowercase())
        .filter(|p| !p.is_empty())
        .collect();
    Ok(TokenRequest {
        policies,
        no_default_policy: fields.get("no_default_policy")?,
        ttl,
        explicit_max_ttl: nonzero("explicit_max_ttl")?,
        period: nonzero("period")?,
        num_uses,
        renewable: Some(fields.get("renewable")?),
        no_parent: fields.get("no_parent")?,
        display_name: fields.get("display_name")?,
        meta: fields.get("meta")?,
        bound_cidrs: fields
            .get::<Vec<String>>("bound_cidrs")?
            .into_iter()
            .filter(|c| !c.is_empty())
            .collect(),
        mount: None,
        internal: Map::new(),
    })
}

/// A required secret field of the token endpoints (`token`).
fn required_token(fields: &Fields<'_>) -> Result<SecretText> {
    let token: SecretText = fields.get("token")?;
    if token.expose().is_empty() {
        return Err(VaultError::invalid("missing token ID"));
    }
    Ok(token)
}

/// A required accessor.
fn required_accessor(fields: &Fields<'_>) -> Result<String> {
    let accessor: String = fields.get("accessor")?;
    if accessor.is_empty() {
        return Err(VaultError::invalid("missing accessor"));
    }
    Ok(accessor)
}

async fn create_token(
    sys: &System,
    ctx: &Context,
    fields: Fields<'_>,
    orphan: bool,
) -> Result<VaultResponse> {
    let caller = sys.caller()?;
    let request = token_request(&fields)?;
    let asked_period = request.period;
    let asked_ttl = request.ttl;
    let path = format!(
        "auth/token/{}",
        if orphan { "create-orphan" } else { "create" }
    );
    let creation = Creation {
        sudo: caller.sudo,
        orphan,
        path: &path,
    };
    let (new_token, entry) = sys
        .active
        .tokens()
        .create(&caller.entry, request, creation, ctx.now)
        .await?;
    let mut response = auth_response(new_token, &entry);
    if let Some(asked) = asked_ttl.filter(|t| entry.period == 0 && t.as_secs() > entry.ttl) {
        response.warnings.push(format!(
            "TTL of \"{}\" exceeded the effective max_ttl of \"{}\"; TTL value is capped \
             accordingly",
            humantime(asked.as_secs()),
            humantime(entry.ttl)
        ));
    }
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

async fn lookup_self(sys: &System, ctx: &Context, _fields: Fields<'_>) -> Result<VaultResponse> {
    let caller = sys.caller()?;
    Ok(VaultResponse::data(lookup_data(
        &caller.entry,
        ctx.now,
        Some(&caller.token),
        caller.last_use,
    )))
}

async fn lookup(sys: &System, ctx: &Context, fields: Fields<'_>) -> Result<VaultResponse> {
    let caller = sys.caller()?;
    // Without a token, Vault looks up the caller's own.
    let target: SecretText = fields.get("token")?;
    if target.expose().is_empty() {
        return lookup_self(sys, ctx, fields).await;
    }
    let entry = sys
        .active
        .lookup_token(target.expose(), ctx.now)
        .await?
        .ok_or_else(|| VaultError::Refused("bad token".into()))?;
    // Looking up one's own token reports this request's use, as lookup-self does.
    let own = entry.id == caller.entry.id;
    let entry = if own { &caller.entry } else { &entry };
    Ok(VaultResponse::data(lookup_data(
        entry,
        ctx.now,
        Some(target.expose()),
        own && caller.last_use,
    )))
}

async fn lookup_accessor(sys: &System, ctx: &Context, fields: Fields<'_>) -> Result<VaultResponse> {
    // Vault's words here are a multi-error list.
    let multi =
        |problem: &str| VaultError::invalid(format!("1 error occurred:\n\t* {problem}\n\n"));
    let accessor: String = fields.get("accessor")?;
    if accessor.is_empty() {
        return Err(multi("missing accessor"));
    }
    let entry = sys
        .active
        .lookup_accessor(&accessor, ctx.now)
        .await?
        .ok_or_else(|| multi("invalid accessor"))?;
    Ok(VaultResponse::data(lookup_data(
        &entry, ctx.now, None, false,
    )))
}

/// Whose token a renewal renews.
#[derive(Clone, Copy)]
enum Renewed {
    Caller,
    Token,
    Accessor,
}

async fn renew(
    sys: &System,
    ctx: &Context,
    fields: Fields<'_>,
    which: Renewed,
) -> Result<VaultResponse> {
    let active = &sys.active;
    let now = ctx.now;
    let (entry, shown) = match which {
        Renewed::Token => {
            let target = required_token(&fields)?;
            let entry = active
                .lookup_token(target.expose(), now)
                .await?
                .ok_or_else(|| VaultError::invalid("token not found"))?;
            (entry, target.expose().to_owned())
        }
        Renewed::Accessor => {
            let accessor = required_accessor(&fields)?;
            let entry = active
                .lookup_accessor(&accessor, now)
                .await?
                .ok_or_else(|| VaultError::invalid("invalid accessor"))?;
            (entry, String::new())
        }
        Renewed::Caller => {
            let caller = sys.caller()?;
            (caller.entry.clone(), caller.token.clone())
        }
    };
    // A login's token renews only while its auth method agrees (user or role still there, same
    // policies), as in Vault.
    if let Some(mount) = &entry.mount {
        let mounted = active
            .router()
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
    let increment = fields
        .get_ok::<Duration>("increment")?
        .filter(|d| !d.is_zero());
    // The renewal applies to the entry as stored now: a use counted meanwhile (or the token's
    // revocation) is never undone by writing back an older copy. A token whose last use was
    // this request is gone already (OpenBao's answer).
    let (renewed, capped) = active
        .tokens()
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

async fn revoke_self(sys: &System, ctx: &Context, _fields: Fields<'_>) -> Result<VaultResponse> {
    sys.active
        .revoke_token_tree(&sys.caller()?.entry.id, ctx.now)
        .await?;
    Ok(VaultResponse::empty())
}

async fn revoke(
    sys: &System,
    ctx: &Context,
    fields: Fields<'_>,
    orphan: bool,
) -> Result<VaultResponse> {
    let active = &sys.active;
    let target = required_token(&fields)?;
    if let Some(entry) = active.lookup_token(target.expose(), ctx.now).await? {
        if orphan {
            active.tokens().revoke_orphan(&entry.id).await?;
            active
                .revoke_leases_of(std::slice::from_ref(&entry.id), ctx.now)
                .await?;
        } else {
            active.revoke_token_tree(&entry.id, ctx.now).await?;
        }
    }
    Ok(VaultResponse::empty())
}

async fn list_accessors(sys: &System, ctx: &Context, _fields: Fields<'_>) -> Result<VaultResponse> {
    let keys = sys.active.tokens().accessors(ctx.now).await?;
    Ok(VaultResponse::data(object(json!({ "keys": keys }))))
}

async fn revoke_accessor(sys: &System, ctx: &Context, fields: Fields<'_>) -> Result<VaultResponse> {
    let accessor = required_accessor(&fields)?;
    if let Some(entry) = sys.active.lookup_accessor(&accessor, ctx.now).await? {
        sys.active.revoke_token_tree(&entry.id, ctx.now).await?;
    }
    Ok(VaultResponse::empty())
}

/// Seconds as Vault's warnings print them: Go's `time.Duration` text without its zero minutes
/// and seconds (`2h`, `1h30m`, `1h5s`, `45s`).
fn humantime(secs: u64) -> String {
    let (h, m, s) = (secs / 3600, secs % 3600 / 60, secs % 60);
    let mut out = String::new();
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if m > 0 {
        out.push_str(&format!("{m}m"));
    }
    if s > 0 || out.is_empty() {
        out.push_str(&format!("{s}s"));
    }
    out
}
