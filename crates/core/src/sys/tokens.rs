//! The token store's endpoints (`auth/token/...`).

use std::time::Duration;

use serde_json::{Map, Value, json};
use strongroom_logical::{Context, Field, FieldType, Fields, SecretText};

use super::{Declared, System};
use crate::request::{AuthInfo, VaultResponse};
use crate::tokens::{Creation, Role, RoleTokenType, TokenEntry, TokenRequest, TokenType};
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
        "creation_ttl": entry.created_ttl(),
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
        "type": entry.token_type.as_str(),
    }));
    if let Some(role) = &entry.role {
        out.insert("role".into(), json!(role));
    }
    if entry.period > 0 {
        out.insert("period".into(), json!(entry.period));
    }
    if !entry.bound_cidrs.is_empty() {
        out.insert("bound_cidrs".into(), json!(cidr_texts(&entry.bound_cidrs)));
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
            token_type: entry.token_type,
        }),
        ..VaultResponse::default()
    }
}

/// CIDR blocks as Vault prints them (go-sockaddr): a single address without its `/32` or
/// `/128`.
fn cidr_texts(blocks: &[String]) -> Vec<String> {
    blocks
        .iter()
        .map(|b| match strongroom_logical::cidr::Cidr::parse(b) {
            Ok(cidr) => {
                let text = cidr.to_string();
                let host = if text.contains(':') { "/128" } else { "/32" };
                text.strip_suffix(host).map_or(text.clone(), str::to_owned)
            }
            Err(_) => b.clone(),
        })
        .collect()
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
                // Vault's `TypeStringSlice`: a string is one policy name, commas and all.
                Field::new(
                    FieldType::StringSlice,
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
                Field::new(FieldType::String, "The token type: `service` or `batch`."),
            )
            .field(
                "id",
                Field::new(FieldType::String, "Not supported: tokens are random."),
            )
            .field(
                "entity_alias",
                Field::new(
                    FieldType::String,
                    "Name of the entity alias to associate with this token (roles only).",
                ),
            )
    };
    let role_name = || Field::new(FieldType::String, "Name of the role.");
    vec![
        create("create")
            .write(|s, c, f| Box::pin(create_token(s, c, f, false)))
            .synopsis("Create a child token."),
        create("create-orphan")
            .write(|s, c, f| Box::pin(create_token(s, c, f, true)))
            .synopsis("Create a token without a parent."),
        create("create/{role_name}")
            .field("role_name", role_name())
            .write(|s, c, f| Box::pin(create_against_role(s, c, f)))
            .synopsis("Create a token against a role."),
        Declared::new("roles/?")
            .list(|s, c, f| Box::pin(list_roles(s, c, f)))
            .synopsis("List the token roles."),
        role_endpoint(),
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
///
/// A negative `num_uses` is refused here for a service token; for a batch one, the store's
/// batch rule refuses it (Vault's order and wording).
/// The most entries a token's or a role's list (policies, CIDR blocks, globs, aliases) holds:
/// far more than any real use, few enough that every check over them stays cheap (a single
/// comma-separated string would otherwise escape the JSON strings limit).
const MAX_LIST_ENTRIES: usize = 1024;

/// Refuses a list longer than [`MAX_LIST_ENTRIES`].
fn bounded(field: &str, len: usize) -> Result<()> {
    if len > MAX_LIST_ENTRIES {
        return Err(VaultError::invalid(format!(
            "{field} has {len} entries; at most {MAX_LIST_ENTRIES} are allowed"
        )));
    }
    Ok(())
}

fn token_request(fields: &Fields<'_>, role: Option<&Role>) -> Result<TokenRequest> {
    let fixed_type =
        role.is_some_and(|r| matches!(r.token_type, RoleTokenType::Service | RoleTokenType::Batch));
    let token_type = match fields.get::<&str>("type")? {
        "" => None,
        "service" => Some(TokenType::Service),
        "batch" => Some(TokenType::Batch),
        // A role that fixes the type overrides whatever was asked, as in Vault.
        _ if fixed_type => None,
        _ => return Err(VaultError::invalid("invalid 'token_type' value")),
    };
    let batch = match role.map(|r| r.token_type) {
        Some(RoleTokenType::Batch) => true,
        Some(RoleTokenType::DefaultBatch) => token_type != Some(TokenType::Service),
        _ => token_type == Some(TokenType::Batch),
    };
    let num_uses: i64 = fields.get("num_uses")?;
    let num_uses = match u32::try_from(num_uses) {
        Ok(n) => n,
        // Any non-zero count makes a batch request fail with Vault's batch wording.
        Err(_) if batch && num_uses < 0 => 1,
        Err(_) if num_uses < 0 => {
            return Err(VaultError::invalid("number of uses cannot be negative"));
        }
        Err(_) => return Err(VaultError::invalid("number of uses is too large")),
    };
    let nonzero = |name: &str| -> Result<Option<Duration>> {
        Ok(fields.get_ok::<Duration>(name)?.filter(|d| !d.is_zero()))
    };
    // A positive `lease` is Vault's older spelling of `ttl`.
    let ttl = match nonzero("ttl")? {
        Some(ttl) => Some(ttl),
        None => nonzero("lease")?,
    };
    let policies: Vec<String> = fields
        .get::<Vec<String>>("policies")?
        .into_iter()
        .map(|p| p.to_lowercase())
        .filter(|p| !p.is_empty())
        .collect();
    let bound_cidrs: Vec<String> = fields
        .get::<Vec<String>>("bound_cidrs")?
        .into_iter()
        .filter(|c| !c.is_empty())
        .collect();
    bounded("policies", policies.len())?;
    bounded("bound_cidrs", bound_cidrs.len())?;
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
        bound_cidrs,
        token_type,
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
    let path = if orphan { "create-orphan" } else { "create" };
    create_common(sys, ctx, &fields, orphan, path, None).await
}

async fn create_against_role(
    sys: &System,
    ctx: &Context,
    fields: Fields<'_>,
) -> Result<VaultResponse> {
    let name: String = fields.get("role_name")?;
    if !crate::tokens::roles::valid_name(&name) {
        return Err(VaultError::UnsupportedPath);
    }
    let role = sys
        .active
        .tokens()
        .role(&name)
        .await?
        .ok_or_else(|| VaultError::invalid(format!("unknown role {name}")))?;
    create_common(
        sys,
        ctx,
        &fields,
        false,
        &format!("create/{name}"),
        Some(&role),
    )
    .await
}

/// Vault's `handleCreateCommon` (the store's [`create`](crate::tokens::TokenStore::create)
/// holds the rules): `path` below `auth/token/`.
async fn create_common(
    sys: &System,
    ctx: &Context,
    fields: &Fields<'_>,
    orphan: bool,
    path: &str,
    role: Option<&Role>,
) -> Result<VaultResponse> {
    let caller = sys.caller()?;
    // Vault looks at the parent first.
    if caller.entry.is_batch() {
        return Err(VaultError::invalid(
            "batch tokens cannot create more tokens",
        ));
    }
    if caller.entry.num_uses > 0 {
        return Err(VaultError::invalid(
            "restricted use token cannot generate child tokens",
        ));
    }
    let request = token_request(fields, role)?;
    if !fields.get::<&str>("entity_alias")?.is_empty() {
        let Some(role) = role else {
            return Err(VaultError::invalid(
                "'entity_alias' is only allowed in combination with token role",
            ));
        };
        let alias = fields.get::<&str>("entity_alias")?.to_lowercase();
        let allowed = role.allowed_entity_aliases.as_deref().unwrap_or_default();
        if !allowed.contains(&alias) && !crate::tokens::roles::glob_any(allowed, &alias) {
            return Err(VaultError::invalid("invalid 'entity_alias' value"));
        }
        // There is no identity store to hold the entity: refused rather than ignored.
        return Err(VaultError::invalid(
            "entity aliases are not supported: this server has no identity store",
        ));
    }
    if !fields.get::<&str>("id")?.is_empty() {
        if !caller.sudo {
            return Err(VaultError::invalid(
                "root or sudo privileges required to specify token id",
            ));
        }
        // A batch token's id is its sealed entry: Vault ignores the asked one.
        let batch = match role.map(|r| r.token_type) {
            Some(RoleTokenType::Batch) => true,
            Some(RoleTokenType::DefaultBatch) => request.token_type != Some(TokenType::Service),
            _ => request.token_type == Some(TokenType::Batch),
        };
        if !batch {
            return Err(VaultError::invalid(
                "token ids cannot be chosen: tokens are random",
            ));
        }
    }
    let path = format!("auth/token/{path}");
    let creation = Creation {
        sudo: caller.sudo,
        orphan,
        path: &path,
        role,
    };
    let created = sys
        .active
        .tokens()
        .create(&caller.entry, request, creation, ctx.now)
        .await?;
    let mut response = auth_response(created.token, &created.entry);
    response.warnings = created.warnings;
    if let Some(auth) = &mut response.auth {
        auth.num_uses = created.num_uses;
    }
    for policy in created
        .entry
        .policies
        .iter()
        .filter(|p| p.as_str() != "root")
    {
        // A name no policy can have does not exist either.
        if !matches!(sys.active.policies().get(policy).await, Ok(Some(_))) {
            response
                .warnings
                .push(format!("Policy {policy:?} does not exist"));
        }
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
    let target = required_token(&fields)?;
    let entry = sys
        .active
        .lookup_token(target.expose(), ctx.now)
        .await?
        .ok_or_else(|| VaultError::Denied("bad token".into()))?;
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
    if entry.is_batch() {
        return Err(VaultError::invalid("batch tokens cannot be renewed"));
    }
    // A token created against a role renews by the role's period and explicit maximum as
    // they are now, and not at all once the role is gone (Vault's `authRenew`).
    let limits = match &entry.role {
        Some(name) => {
            let role = active.tokens().role(name).await?.ok_or_else(|| {
                VaultError::invalid(format!(
                    "original token role {name:?} could not be found, not renewing"
                ))
            })?;
            Some((role.token_period, role.token_explicit_max_ttl))
        }
        None => None,
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
    let (renewed, warnings) = active
        .tokens()
        .renew(&entry.id, increment, limits, now)
        .await?
        .ok_or_else(|| VaultError::invalid("token not found"))?;
    let mut response = auth_response(shown, &renewed);
    response.warnings = warnings;
    Ok(response)
}

async fn revoke_self(sys: &System, ctx: &Context, _fields: Fields<'_>) -> Result<VaultResponse> {
    let caller = sys.caller()?;
    if caller.entry.is_batch() {
        return Err(VaultError::invalid("batch tokens cannot be revoked"));
    }
    sys.active
        .revoke_token_tree(&caller.entry.id, ctx.now)
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
    let Some(entry) = active.lookup_token(target.expose(), ctx.now).await? else {
        // Vault: an unknown token is nothing to do for `revoke`, an error for `revoke-orphan`.
        if orphan {
            return Err(VaultError::invalid("token to revoke not found"));
        }
        return Ok(VaultResponse::empty());
    };
    if entry.is_batch() {
        return Err(VaultError::invalid("batch tokens cannot be revoked"));
    }
    if orphan {
        active.tokens().revoke_orphan(&entry.id).await?;
        active
            .revoke_leases_of(std::slice::from_ref(&entry.id), ctx.now)
            .await?;
    } else {
        active.revoke_token_tree(&entry.id, ctx.now).await?;
    }
    Ok(VaultResponse::empty())
}

async fn list_accessors(sys: &System, ctx: &Context, _fields: Fields<'_>) -> Result<VaultResponse> {
    let keys = sys.active.tokens().accessors(ctx.now).await?;
    Ok(VaultResponse::data(object(json!({ "keys": keys }))))
}

async fn revoke_accessor(sys: &System, ctx: &Context, fields: Fields<'_>) -> Result<VaultResponse> {
    let accessor = required_accessor(&fields)?;
    let Some(entry) = sys.active.lookup_accessor(&accessor, ctx.now).await? else {
        let mut response = VaultResponse::empty();
        response
            .warnings
            .push("No token found with this accessor".into());
        return Ok(response);
    };
    sys.active.revoke_token_tree(&entry.id, ctx.now).await?;
    Ok(VaultResponse::empty())
}

/// `auth/token/roles/<name>`: read, write and delete a token role.
fn role_endpoint() -> Declared {
    let list = |text: &str| Field::new(FieldType::CommaStringSlice, text);
    let duration = |text: &str| Field::new(FieldType::DurationSecond, text);
    Declared::new("roles/{role_name}")
        .field("role_name", Field::new(FieldType::String, "Name of the role."))
        .field(
            "allowed_policies",
            list("Policies tokens of this role may have (instead of a subset of the caller's)."),
        )
        .field(
            "disallowed_policies",
            list("Policies tokens of this role may not have."),
        )
        .field(
            "allowed_policies_glob",
            list("Glob patterns of policies tokens of this role may have."),
        )
        .field(
            "disallowed_policies_glob",
            list("Glob patterns of policies tokens of this role may not have."),
        )
        .field(
            "orphan",
            Field::new(FieldType::Bool, "Tokens of this role have no parent."),
        )
        .field(
            "period",
            duration("Use 'token_period' instead (deprecated)."),
        )
        .field(
            "path_suffix",
            Field::new(
                FieldType::String,
                "A suffix for the tokens' path (auth/token/create/<role>/<suffix>); must match \\w[\\w-.]+\\w",
            ),
        )
        .field(
            "explicit_max_ttl",
            duration("Use 'token_explicit_max_ttl' instead (deprecated)."),
        )
        .field(
            "renewable",
            Field::new(FieldType::Bool, "Whether tokens of this role can be renewed.")
                .default(true),
        )
        .field(
            "bound_cidrs",
            list("Use 'token_bound_cidrs' instead (deprecated)."),
        )
        .field(
            "allowed_entity_aliases",
            list("Entity aliases tokens of this role may be created for (globs allowed)."),
        )
        .field(
            "token_bound_cidrs",
            list("CIDR blocks the tokens may be used from."),
        )
        .field(
            "token_explicit_max_ttl",
            duration("A hard limit on the tokens' lifetime, renewals included."),
        )
        .field(
            "token_period",
            duration("Tokens are periodic: each renewal resets the TTL to this."),
        )
        .field(
            "token_type",
            Field::new(
                FieldType::String,
                "service, batch, default-service or default-batch.",
            )
            .default("default-service"),
        )
        .field(
            "token_no_default_policy",
            Field::new(
                FieldType::Bool,
                "Leave the `default` policy out of the tokens.",
            ),
        )
        .field(
            "token_num_uses",
            Field::new(FieldType::Int, "Uses before a token is revoked (0: unlimited)."),
        )
        .exists(|s, c, f| Box::pin(role_exists(s, c, f)))
        .read(|s, c, f| Box::pin(read_role(s, c, f)))
        .write(|s, c, f| Box::pin(write_role(s, c, f)))
        .delete(|s, c, f| Box::pin(delete_role(s, c, f)))
        .synopsis("Manage a token role.")
}

/// The role name of a roles path; one Vault's route would not match is an unsupported path.
fn role_name(fields: &Fields<'_>) -> Result<String> {
    let name: String = fields.get("role_name")?;
    if crate::tokens::roles::valid_name(&name) {
        Ok(name)
    } else {
        Err(VaultError::UnsupportedPath)
    }
}

/// Whether the role exists: writing a new one needs `create`, changing one `update`.
async fn role_exists(sys: &System, _ctx: &Context, fields: Fields<'_>) -> Result<bool> {
    let name: String = fields.get("role_name")?;
    Ok(sys.active.tokens().role(&name).await?.is_some())
}

async fn list_roles(sys: &System, _ctx: &Context, _fields: Fields<'_>) -> Result<VaultResponse> {
    let keys = sys.active.tokens().roles().await?;
    if keys.is_empty() {
        // Nothing to list is a 404, as Vault answers.
        return Ok(VaultResponse::empty());
    }
    Ok(VaultResponse::data(object(json!({ "keys": keys }))))
}

async fn read_role(sys: &System, _ctx: &Context, fields: Fields<'_>) -> Result<VaultResponse> {
    let name = role_name(&fields)?;
    let Some(role) = sys.active.tokens().role(&name).await? else {
        return Ok(VaultResponse::empty());
    };
    let mut data = object(json!({
        "allowed_entity_aliases": role.allowed_entity_aliases,
        "allowed_policies": role.allowed_policies,
        "allowed_policies_glob": role.allowed_policies_glob,
        "disallowed_policies": role.disallowed_policies,
        "disallowed_policies_glob": role.disallowed_policies_glob,
        "explicit_max_ttl": role.explicit_max_ttl,
        "name": role.name,
        "orphan": role.orphan,
        "path_suffix": role.path_suffix,
        "period": role.period,
        "renewable": role.renewable,
        "token_explicit_max_ttl": role.token_explicit_max_ttl,
        "token_no_default_policy": role.token_no_default_policy,
        "token_period": role.token_period,
        "token_type": role.token_type.as_str(),
    }));
    if !role.token_bound_cidrs.is_empty() {
        data.insert(
            "token_bound_cidrs".into(),
            json!(cidr_texts(&role.token_bound_cidrs)),
        );
    }
    if !role.bound_cidrs.is_empty() {
        data.insert("bound_cidrs".into(), json!(cidr_texts(&role.bound_cidrs)));
    }
    if role.token_num_uses > 0 {
        data.insert("token_num_uses".into(), json!(role.token_num_uses));
    }
    Ok(VaultResponse::data(data))
}

/// CIDR blocks as a role stores them: each parsed (Vault's `ParseAddrs`), kept as written.
fn parse_cidrs(blocks: Vec<String>, what: &str) -> Result<Vec<String>> {
    let blocks: Vec<String> = blocks
        .into_iter()
        .map(|b| b.trim().to_owned())
        .filter(|b| !b.is_empty())
        .collect();
    if let Some(bad) = blocks
        .iter()
        .find(|b| strongroom_logical::cidr::Cidr::parse(b).is_err())
    {
        // go-sockaddr's wording, as Vault passes it on.
        return Err(VaultError::invalid(format!(
            "{what}: error parsing address {bad:?}: Unable to convert {bad:?} to an IPv4 or \
             IPv6 address, or a UNIX Socket"
        )));
    }
    Ok(blocks)
}

/// Vault's `tokenStoreRoleCreateUpdate`: a new role starts from the defaults, an existing one
/// changes only in the fields sent; the deprecated names are kept for reads, the `token_` ones
/// win when both are sent (with Vault's warnings).
async fn write_role(sys: &System, _ctx: &Context, fields: Fields<'_>) -> Result<VaultResponse> {
    use crate::tokens::roles::{lower_sorted_unique, valid_path_suffix};
    let name = role_name(&fields)?;
    let store = sys.active.tokens();
    let mut role = store.role(&name).await?.unwrap_or_else(|| Role::new(&name));
    let set = |field: &str| fields.is_set(field);
    if set("orphan") {
        role.orphan = fields.get("orphan")?;
    }
    if set("renewable") {
        role.renewable = fields.get("renewable")?;
    }
    if set("path_suffix") {
        let suffix: String = fields.get("path_suffix")?;
        if !suffix.is_empty() && !valid_path_suffix(&suffix) {
            return Err(VaultError::invalid(
                "given role path suffix contains invalid characters; must match \\w[\\w-.]+\\w",
            ));
        }
        role.path_suffix = suffix;
    }
    if role.path_suffix.contains("..") {
        return Err(VaultError::invalid(
            "error registering path suffix: path cannot contain parent references",
        ));
    }
    let policies = |field: &str| -> Result<Vec<String>> {
        Ok(crate::tokens::sanitize_policies(
            &fields.get::<Vec<String>>(field)?,
            false,
        ))
    };
    if set("allowed_policies") {
        role.allowed_policies = policies("allowed_policies")?;
    }
    if set("disallowed_policies") {
        role.disallowed_policies = lower_sorted_unique(fields.get("disallowed_policies")?);
    }
    if set("allowed_policies_glob") {
        role.allowed_policies_glob = policies("allowed_policies_glob")?;
    }
    if set("disallowed_policies_glob") {
        role.disallowed_policies_glob =
            lower_sorted_unique(fields.get("disallowed_policies_glob")?);
    }

    // The token fields (Vault's `ParseTokenFields`), then `token_type`.
    if set("token_bound_cidrs") {
        role.token_bound_cidrs = parse_cidrs(
            fields.get("token_bound_cidrs")?,
            "error parsing role fields",
        )?;
    }
    if set("token_explicit_max_ttl") {
        role.token_explicit_max_ttl = fields.get::<Duration>("token_explicit_max_ttl")?.as_secs();
    }
    if set("token_no_default_policy") {
        role.token_no_default_policy = fields.get("token_no_default_policy")?;
    }
    if set("token_period") {
        role.token_period = fields.get::<Duration>("token_period")?.as_secs();
    }
    let num_uses = if set("token_num_uses") {
        let n: i64 = fields.get("token_num_uses")?;
        if n < 0 {
            return Err(VaultError::invalid(
                "error parsing role fields: 'token_num_uses' cannot be negative",
            ));
        }
        Some(u32::try_from(n).map_err(|_| VaultError::invalid("'token_num_uses' is too large"))?)
    } else {
        None
    };
    if set("token_type") {
        let text: &str = fields.get("token_type")?;
        role.token_type = RoleTokenType::parse(text)
            .ok_or_else(|| VaultError::invalid(format!("invalid 'token_type' value {text:?}")))?;
    }

    let mut warnings = Vec::new();
    if set("token_period") {
        if set("period") {
            warnings.push(
                "Both 'token_period' and deprecated 'period' value supplied, ignoring the \
                 deprecated value"
                    .to_owned(),
            );
        }
        role.period = 0;
    } else if set("period") {
        role.period = fields.get::<Duration>("period")?.as_secs();
        role.token_period = role.period;
    }
    if set("token_bound_cidrs") {
        if set("bound_cidrs") {
            warnings.push(
                "Both 'token_bound_cidrs' and deprecated 'bound_cidrs' value supplied, \
                 ignoring the deprecated value"
                    .to_owned(),
            );
        }
        role.bound_cidrs.clear();
    } else if set("bound_cidrs") {
        role.bound_cidrs = parse_cidrs(fields.get("bound_cidrs")?, "error parsing bound_cidrs")?;
        role.token_bound_cidrs.clone_from(&role.bound_cidrs);
    }
    let final_explicit_max = if set("token_explicit_max_ttl") {
        if set("explicit_max_ttl") {
            warnings.push(
                "Both 'token_explicit_max_ttl' and deprecated 'explicit_max_ttl' value \
                 supplied, ignoring the deprecated value"
                    .to_owned(),
            );
        }
        role.explicit_max_ttl = 0;
        role.token_explicit_max_ttl
    } else {
        if set("explicit_max_ttl") {
            role.explicit_max_ttl = fields.get::<Duration>("explicit_max_ttl")?.as_secs();
            role.token_explicit_max_ttl = role.explicit_max_ttl;
        }
        role.explicit_max_ttl
    };
    let sys_max = crate::mounts::SYSTEM_TTL.as_secs();
    if final_explicit_max != 0 && final_explicit_max > sys_max {
        warnings.push(format!(
            "Given explicit max TTL of {final_explicit_max} is greater than system/mount \
             allowed value of {sys_max} seconds; until this is fixed attempting to create \
             tokens against this role will result in an error"
        ));
    }
    if let Some(n) = num_uses {
        role.token_num_uses = n;
    }
    if role.token_type == RoleTokenType::Batch {
        let refuse = |why: &str| {
            Err(VaultError::invalid(format!(
                "'token_type' cannot be 'batch' when role is set to generate {why}"
            )))
        };
        if !role.orphan {
            return refuse("non-orphan tokens");
        }
        if role.period != 0 || role.token_period != 0 {
            return refuse("periodic tokens");
        }
        if role.renewable {
            return refuse("renewable tokens");
        }
        if role.explicit_max_ttl != 0 || role.token_explicit_max_ttl != 0 {
            return refuse("tokens with an explicit max TTL");
        }
    }
    if set("allowed_entity_aliases") {
        role.allowed_entity_aliases =
            Some(lower_sorted_unique(fields.get("allowed_entity_aliases")?));
    }
    // Every list a role keeps is bounded: `create/<role>` checks each asked policy against
    // them, so an unbounded list would make that request as slow as its writer wished.
    for (field, len) in [
        ("allowed_policies", role.allowed_policies.len()),
        ("disallowed_policies", role.disallowed_policies.len()),
        ("allowed_policies_glob", role.allowed_policies_glob.len()),
        (
            "disallowed_policies_glob",
            role.disallowed_policies_glob.len(),
        ),
        ("token_bound_cidrs", role.token_bound_cidrs.len()),
        (
            "allowed_entity_aliases",
            role.allowed_entity_aliases.as_ref().map_or(0, Vec::len),
        ),
    ] {
        bounded(field, len)?;
    }
    store.put_role(&role).await?;
    let mut response = VaultResponse::empty();
    response.warnings = warnings;
    Ok(response)
}

async fn delete_role(sys: &System, _ctx: &Context, fields: Fields<'_>) -> Result<VaultResponse> {
    let name = role_name(&fields)?;
    sys.active.tokens().delete_role(&name).await?;
    Ok(VaultResponse::empty())
}
