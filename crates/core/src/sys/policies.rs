//! `sys/policy`, `sys/policies/acl` and `sys/capabilities(-self)`.

use serde_json::{Map, json};
use strongroom_logical::{Context, Field, FieldType, Fields, Operation};

use super::{Declared, System};
use crate::active::Active;
use crate::request::VaultResponse;
use crate::util::object;
use crate::{Result, Vault, VaultError};

/// `sys/policy` (Vault's older spelling, answering `rules`), `sys/policies/acl` and
/// `sys/capabilities(-self)`.
pub(super) fn endpoints() -> Vec<Declared> {
    let name = || Field::new(FieldType::LowerCaseString, "The policy's name.");
    let paths = || {
        Field::new(
            FieldType::CommaStringSlice,
            "The paths to report capabilities on.",
        )
    };
    let path = || Field::new(FieldType::String, "A path (deprecated: use `paths`).");
    vec![
        Declared::new("policy/?")
            .read(|s, c, f| Box::pin(list(s, c, f, true)))
            .list(|s, c, f| Box::pin(list(s, c, f, true)))
            .synopsis("List the policies."),
        Declared::new("policy/{name}")
            .field("name", name())
            .field(
                "rules",
                Field::new(FieldType::String, "The policy (HCL or JSON)."),
            )
            .field(
                "policy",
                Field::new(FieldType::String, "The policy (HCL or JSON)."),
            )
            .read(|s, c, f| Box::pin(read(s, c, f, true)))
            .write(|s, c, f| Box::pin(write(s, c, f)))
            .delete(|s, c, f| Box::pin(delete(s, c, f)))
            .synopsis("Read, write or delete a policy."),
        Declared::new("policies/acl/?")
            .list(|s, c, f| Box::pin(list(s, c, f, false)))
            .synopsis("List the ACL policies."),
        Declared::new("policies/acl/{name}")
            .field("name", name())
            .field(
                "policy",
                Field::new(FieldType::String, "The policy (HCL or JSON)."),
            )
            .read(|s, c, f| Box::pin(read(s, c, f, false)))
            .write(|s, c, f| Box::pin(write(s, c, f)))
            .delete(|s, c, f| Box::pin(delete(s, c, f)))
            .synopsis("Read, write or delete an ACL policy."),
        Declared::new("capabilities-self")
            .field("paths", paths())
            .field("path", path())
            .write(|s, c, f| Box::pin(capabilities_self(s, c, f)))
            .synopsis("The capabilities of the caller's token on paths."),
        Declared::new("capabilities")
            .field(
                "token",
                Field::new(FieldType::SecretString, "The token to check."),
            )
            .field("paths", paths())
            .field("path", path())
            .write(|s, c, f| Box::pin(capabilities_of_token(s, c, f)))
            .synopsis("The capabilities of a token on paths."),
        Declared::new("capabilities-accessor")
            .field(
                "accessor",
                Field::new(FieldType::String, "The accessor of the token to check."),
            )
            .field("paths", paths())
            .field("path", path())
            .write(|s, c, f| Box::pin(capabilities_of_accessor(s, c, f)))
            .synopsis("The capabilities of a token, named by its accessor, on paths."),
    ]
}

async fn list(
    sys: &System,
    _ctx: &Context,
    _fields: Fields<'_>,
    legacy: bool,
) -> Result<VaultResponse> {
    let names = sys.active.policies().list().await?;
    let mut out = Map::new();
    out.insert("keys".into(), json!(names));
    if legacy {
        out.insert("policies".into(), json!(names));
    }
    Ok(VaultResponse::data(out))
}

async fn read(
    sys: &System,
    _ctx: &Context,
    fields: Fields<'_>,
    legacy: bool,
) -> Result<VaultResponse> {
    let name: &str = fields.get("name")?;
    let Some(text) = sys.active.policies().get(name).await? else {
        return Ok(VaultResponse::empty());
    };
    let field = if legacy { "rules" } else { "policy" };
    Ok(VaultResponse::data(object(
        json!({"name": name, field: text}),
    )))
}

async fn write(sys: &System, _ctx: &Context, fields: Fields<'_>) -> Result<VaultResponse> {
    let name: &str = fields.get("name")?;
    let text = match fields.get_ok::<&str>("policy")? {
        Some(text) => Some(text),
        None if fields.is_declared("rules") => fields.get_ok::<&str>("rules")?,
        None => None,
    }
    .filter(|text| !text.is_empty())
    .ok_or_else(|| VaultError::invalid("'policy' parameter not supplied or empty"))?;
    sys.active.policies().set(name, text).await?;
    Ok(VaultResponse::empty())
}

async fn delete(sys: &System, _ctx: &Context, fields: Fields<'_>) -> Result<VaultResponse> {
    sys.active.policies().delete(fields.get("name")?).await?;
    Ok(VaultResponse::empty())
}

async fn capabilities_self(
    sys: &System,
    _ctx: &Context,
    fields: Fields<'_>,
) -> Result<VaultResponse> {
    capabilities(&sys.active, &sys.caller()?.entry.policies, &fields).await
}

async fn capabilities_of_token(
    sys: &System,
    _ctx: &Context,
    fields: Fields<'_>,
) -> Result<VaultResponse> {
    let token: strongroom_logical::SecretText = fields.get("token")?;
    if token.expose().is_empty() {
        return Err(VaultError::invalid("missing token"));
    }
    let entry = sys
        .active
        .lookup_token(token.expose(), sys.active.clock().now())
        .await?
        .ok_or_else(|| VaultError::invalid("1 error occurred:\n\t* invalid token\n\n"))?;
    capabilities(&sys.active, &entry.policies, &fields).await
}

async fn capabilities_of_accessor(
    sys: &System,
    _ctx: &Context,
    fields: Fields<'_>,
) -> Result<VaultResponse> {
    let accessor: String = fields.get("accessor")?;
    if accessor.is_empty() {
        return Err(VaultError::invalid("missing accessor"));
    }
    let entry = sys
        .active
        .lookup_accessor(&accessor, sys.active.clock().now())
        .await?
        .ok_or_else(|| VaultError::invalid("1 error occurred:\n\t* invalid accessor\n\n"))?;
    capabilities(&sys.active, &entry.policies, &fields).await
}

async fn capabilities(
    active: &Active,
    policies: &[String],
    fields: &Fields<'_>,
) -> Result<VaultResponse> {
    let mut paths: Vec<String> = fields
        .get::<Vec<String>>("paths")?
        .into_iter()
        .filter(|p| !p.is_empty())
        .collect();
    if let Some(path) = fields.get_ok::<String>("path")?.filter(|p| !p.is_empty()) {
        paths.push(path);
    }
    if paths.is_empty() {
        return Err(VaultError::invalid("paths must be supplied"));
    }
    let acl = active.policies().acl(policies).await?;
    let mut out = Map::new();
    let mut all: Vec<String> = Vec::new();
    for path in &paths {
        // Reported on the path the pipeline would decide on (canonical, names folded).
        let mut decided = crate::request_path::canonical(Operation::Read, path)
            .unwrap_or_else(|_| path.trim_start_matches('/').to_owned());
        let _ = Vault::route(active, Operation::Read, &mut decided).await;
        let mut caps: Vec<String> = acl
            .capabilities(&decided)
            .to_vault_list()
            .into_iter()
            .map(str::to_owned)
            .collect();
        // Vault sorts them.
        caps.sort();
        all.extend(caps.iter().cloned());
        out.insert(path.clone(), json!(caps));
    }
    if paths.len() == 1 {
        out.insert("capabilities".into(), json!(all));
    }
    Ok(VaultResponse::data(out))
}
