//! `sys/wrapping/...`: Vault's response wrapping. A wrapped answer waits in the cubbyhole of a
//! single-use token (see `Vault::wrap` in the pipeline); `unwrap` hands it out once, `lookup`
//! tells when and where it was made, `rewrap` moves it to a new token, `wrap` wraps the caller's
//! own data.

use serde_json::{Map, Value, json};
use strongroom_logical::{Context, Field, FieldType, Fields, SecretText};
use strongroom_storage::Storage;

use super::{Declared, System};
use crate::request::VaultResponse;
use crate::tokens::{TokenEntry, WRAPPING_POLICY, cubbyhole};
use crate::{ClientToken, Result, VaultError};

/// Where a wrapped answer waits, in its token's cubbyhole: `{"response": "<envelope JSON>"}`.
pub(crate) const RESPONSE_KEY: &str = "response";
/// When and where it was made: `{"creation_ttl", "creation_time", "creation_path"}`.
pub(crate) const WRAPINFO_KEY: &str = "wrapinfo";

/// Vault's answer for a token that is not a live wrapping token.
pub(crate) const INVALID: &str = "wrapping token is not valid or does not exist";

pub(super) fn endpoints() -> Vec<Declared> {
    let token = || {
        Field::new(
            FieldType::SecretString,
            "The wrapping token (the request's own token when empty).",
        )
    };
    vec![
        Declared::new("wrapping/wrap")
            .arbitrary_input()
            .write(|s, c, f| Box::pin(wrap(s, c, f)))
            .synopsis("Wrap the given values in a response-wrapping token.")
            .description(
                "The values of the request body are the wrapped answer's data; the request \
                 must ask for wrapping (X-Vault-Wrap-TTL).",
            ),
        Declared::new("wrapping/lookup")
            .field("token", token())
            .read(|s, c, f| Box::pin(lookup(s, c, f)))
            .write(|s, c, f| Box::pin(lookup(s, c, f)))
            .unauthenticated()
            .synopsis("Look up when and where a wrapping token was made, and its TTL."),
        Declared::new("wrapping/unwrap")
            .field("token", token())
            .write(|s, c, f| Box::pin(unwrap(s, c, f)))
            .synopsis("Unwrap a wrapped answer: its token is used up."),
        Declared::new("wrapping/rewrap")
            .field("token", token())
            .write(|s, c, f| Box::pin(rewrap(s, c, f)))
            .synopsis("Move a wrapped answer to a new wrapping token with the same TTL."),
    ]
}

/// Whether `entry` is a response-wrapping token.
pub(crate) fn is_wrapping(entry: &TokenEntry) -> bool {
    matches!(entry.policies.as_slice(), [only] if only == WRAPPING_POLICY)
}

/// What a wrapping token's request carried, once it passed the pipeline's check (see
/// `Vault::check_wrapping_token`): the `token` field when set (a third party unwrapping), else
/// the request's own token.
fn named(sys: &System, fields: &Fields<'_>) -> Result<(ClientToken, bool)> {
    let token: SecretText = fields.get("token")?;
    if !token.expose().is_empty() {
        return Ok((ClientToken::new(token.expose()), true));
    }
    let own = sys
        .presented
        .clone()
        .ok_or_else(|| VaultError::invalid("missing \"token\" value in input"))?;
    Ok((own, false))
}

/// The live wrapping token `token`, or Vault's 400.
async fn wrapping_entry(sys: &System, ctx: &Context, token: &str) -> Result<TokenEntry> {
    sys.active
        .lookup_token(token, ctx.now)
        .await?
        .filter(is_wrapping)
        .ok_or_else(|| VaultError::invalid(INVALID))
}

/// Takes the one use of a third party's wrapping token: of any number of concurrent requests
/// naming it, exactly one gets it.
async fn take(sys: &System, ctx: &Context, token: &str) -> Result<TokenEntry> {
    let entry = wrapping_entry(sys, ctx, token).await?;
    match sys.active.tokens().use_once(entry).await? {
        Some(used) if used.last => Ok(used.entry),
        _ => Err(VaultError::invalid(INVALID)),
    }
}

/// A JSON object kept in the cubbyhole of the token whose hash is `id`.
async fn stored(sys: &System, id: &str, key: &str) -> Result<Map<String, Value>> {
    let bytes = cubbyhole(sys.active.storage(), id)?
        .get(key)
        .await?
        .ok_or_else(|| {
            VaultError::Internal(
                "no information found; wrapping token may be from a previous Vault version".into(),
            )
        })?;
    serde_json::from_slice(&bytes)
        .map_err(|_| VaultError::Internal("wrapping information does not decode".into()))
}

/// The wrapped answer (its envelope as JSON text) in the cubbyhole of token `id`.
async fn response_of(sys: &System, id: &str) -> Result<String> {
    match stored(sys, id, RESPONSE_KEY).await?.remove("response") {
        Some(Value::String(text)) => Ok(text),
        _ => Err(VaultError::Internal(
            "no response found inside the cubbyhole".into(),
        )),
    }
}

async fn wrap(sys: &System, _ctx: &Context, mut fields: Fields<'_>) -> Result<VaultResponse> {
    if sys.wrap_ttl.is_none_or(|ttl| ttl.is_zero()) {
        return Err(VaultError::invalid(
            "endpoint requires response wrapping to be used",
        ));
    }
    Ok(VaultResponse::data(fields.take_unrecognized()))
}

async fn lookup(sys: &System, ctx: &Context, fields: Fields<'_>) -> Result<VaultResponse> {
    let (token, _) = named(sys, &fields)?;
    let entry = wrapping_entry(sys, ctx, token.expose_secret()).await?;
    let info = stored(sys, &entry.id, WRAPINFO_KEY).await?;
    let mut out = Map::new();
    for key in ["creation_path", "creation_time", "creation_ttl"] {
        if let Some(value) = info.get(key) {
            out.insert(key.into(), value.clone());
        }
    }
    Ok(VaultResponse::data(out))
}

async fn unwrap(sys: &System, ctx: &Context, fields: Fields<'_>) -> Result<VaultResponse> {
    let (token, third_party) = named(sys, &fields)?;
    let text = if third_party {
        let entry = take(sys, ctx, token.expose_secret()).await?;
        let text = response_of(sys, &entry.id).await;
        // Used up: it goes now, its cubbyhole with it, whatever the read found.
        sys.active.revoke_token_tree(&entry.id, ctx.now).await?;
        text?
    } else {
        // The request's own token: the pipeline took its one use, and it goes (with its
        // cubbyhole) when this request ends.
        let caller = sys.caller()?;
        if !is_wrapping(&caller.entry) {
            return Err(VaultError::invalid(INVALID));
        }
        response_of(sys, &caller.entry.id).await?
    };
    let body: Map<String, Value> = serde_json::from_str(&text)
        .map_err(|_| VaultError::Internal("error decoding wrapped response".into()))?;
    // The wrapped envelope goes out as it was stored (Vault's raw body).
    Ok(VaultResponse {
        data: Some(body),
        raw: true,
        ..VaultResponse::default()
    })
}

async fn rewrap(sys: &System, ctx: &Context, fields: Fields<'_>) -> Result<VaultResponse> {
    let (token, third_party) = named(sys, &fields)?;
    let id = if third_party {
        take(sys, ctx, token.expose_secret()).await?.id
    } else {
        let caller = sys.caller()?;
        if !is_wrapping(&caller.entry) {
            return Err(VaultError::invalid(INVALID));
        }
        caller.entry.id.clone()
    };
    let found = async {
        let info = stored(sys, &id, WRAPINFO_KEY).await?;
        let ttl = info
            .get("creation_ttl")
            .and_then(Value::as_u64)
            .ok_or_else(|| {
                VaultError::Internal("creation_ttl value in wrapping information was nil".into())
            })?;
        let path = info
            .get("creation_path")
            .and_then(Value::as_str)
            .ok_or_else(|| {
                VaultError::Internal("creation_path value in wrapping information was nil".into())
            })?
            .to_owned();
        Ok::<_, VaultError>((ttl, path, response_of(sys, &id).await?))
    }
    .await;
    if third_party {
        sys.active.revoke_token_tree(&id, ctx.now).await?;
    }
    let (ttl, creation_path, response) = found?;
    Ok(VaultResponse {
        rewrap: Some(crate::request::Rewrap {
            ttl: std::time::Duration::from_secs(ttl),
            creation_path,
            response,
        }),
        data: Some(Map::from_iter([("rewrapped".to_owned(), json!(true))])),
        ..VaultResponse::default()
    })
}
