//! `cubbyhole/...`: every token's private storage (Vault's cubbyhole). Each token sees only its
//! own: the storage prefix is the token's keyed hash, never the path, so no spelling of a path
//! and no policy (root's included) reaches another token's cubbyhole. It goes with the token
//! (see `TokenStore::revoke_one`). A wrapped response waits in its wrapping token's cubbyhole.

use serde_json::{Map, Value};
use strongroom_logical::{Context, Field, FieldType, Fields, StorageView};
use strongroom_storage::Storage;

use super::{Declared, System};
use crate::request::VaultResponse;
use crate::util::object;
use crate::{Result, VaultError};

pub(super) fn endpoints() -> Vec<Declared> {
    vec![
        Declared::new("{path*}")
            .field(
                "path",
                Field::new(FieldType::String, "Specifies the path of the secret."),
            )
            .arbitrary_input()
            .read(|s, c, f| Box::pin(read(s, c, f)))
            .write(|s, c, f| Box::pin(write(s, c, f)))
            .delete(|s, c, f| Box::pin(delete(s, c, f)))
            .list(|s, c, f| Box::pin(list(s, c, f)))
            .exists(|s, c, f| Box::pin(exists(s, c, f)))
            .synopsis(
                "Pass-through secret storage to a token-specific cubbyhole in the storage \
                 backend, allowing you to read/write arbitrary data into secret storage.",
            )
            .description(
                "The view into the cubbyhole storage space is different for each token; it is \
                 a per-token cubbyhole. When the token is revoked all values are removed.",
            ),
    ]
}

/// The caller's cubbyhole.
fn view(sys: &System) -> Result<StorageView> {
    crate::tokens::cubbyhole(sys.active.storage(), &sys.caller()?.entry.id)
}

/// The path asked for, which must name an entry (not the cubbyhole itself or a folder).
fn entry_path<'f>(fields: &'f Fields<'_>) -> Result<&'f str> {
    let path: &str = fields.get("path")?;
    if path.is_empty() {
        return Err(VaultError::invalid("missing path"));
    }
    Ok(path)
}

async fn exists(sys: &System, _ctx: &Context, fields: Fields<'_>) -> Result<bool> {
    entry_exists(&sys.active, &sys.caller()?.entry.id, fields.get("path")?).await
}

/// Whether the cubbyhole of the token whose hash is `id` holds an entry at `path` (a folder
/// holds none).
pub(super) async fn entry_exists(
    active: &crate::active::Active,
    id: &str,
    path: &str,
) -> Result<bool> {
    if path.is_empty() || path.ends_with('/') {
        return Ok(false);
    }
    Ok(crate::tokens::cubbyhole(active.storage(), id)?
        .get(path)
        .await?
        .is_some())
}

async fn read(sys: &System, _ctx: &Context, fields: Fields<'_>) -> Result<VaultResponse> {
    let path = entry_path(&fields)?;
    let Some(bytes) = view(sys)?.get(path).await? else {
        return Ok(VaultResponse::empty());
    };
    let data: Map<String, Value> = serde_json::from_slice(&bytes)
        .map_err(|_| VaultError::Internal("a cubbyhole entry does not decode".into()))?;
    Ok(VaultResponse::data(data))
}

async fn write(sys: &System, _ctx: &Context, mut fields: Fields<'_>) -> Result<VaultResponse> {
    let path = entry_path(&fields)?.to_owned();
    let data = fields.take_unrecognized();
    if data.is_empty() {
        return Err(VaultError::invalid("missing data fields"));
    }
    let bytes = serde_json::to_vec(&data)
        .map_err(|e| VaultError::Internal(format!("encoding a cubbyhole entry: {e}")))?;
    view(sys)?.put(&path, bytes).await?;
    Ok(VaultResponse::empty())
}

async fn delete(sys: &System, _ctx: &Context, fields: Fields<'_>) -> Result<VaultResponse> {
    let path = entry_path(&fields)?;
    view(sys)?.delete(path).await?;
    Ok(VaultResponse::empty())
}

async fn list(sys: &System, _ctx: &Context, fields: Fields<'_>) -> Result<VaultResponse> {
    let path: &str = fields.get("path")?;
    let folder = if path.is_empty() || path.ends_with('/') {
        path.to_owned()
    } else {
        format!("{path}/")
    };
    let keys = view(sys)?.list(&folder).await?;
    if keys.is_empty() {
        // An empty list is a 404, as Vault answers.
        return Ok(VaultResponse::empty());
    }
    Ok(VaultResponse::data(object(
        serde_json::json!({ "keys": keys }),
    )))
}
