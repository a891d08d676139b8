//! The key/value secret engine, as Vault clients expect it.
//!
//! [`factory`] makes version 1 or 2 from the mount options (`{"version": "2"}`), as Vault's `kv`
//! type does; the core registers it as `kv`.
//!
//! **Version 2** ([`KvV2`]): versioned secrets under `data/`, `metadata/`, `delete/`,
//! `undelete/`, `destroy/`, `subkeys/` and `config`, with check-and-set, soft delete, pruning to
//! `max_versions` and `delete_version_after`. See the [`v2`] module docs for the storage layout.
//!
//! **Version 1** ([`KvV1`]): each path holds one JSON object. `read` returns it as `data`; a
//! write replaces it; `delete` removes it; `list` lists a folder. A `ttl` field (a duration such
//! as `"1h"` or seconds) is stored with the data and reported as the lease duration, without
//! creating a lease — Vault's convention for telling clients how often to re-read.
//!
//! Values are stored as JSON inside the engine's storage view (which the core places inside the
//! encryption barrier).
#![forbid(unsafe_code)]

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::{Map, Value};
use strongroom_logical::{Backend, Context, LogicalError, Operation, Request, Response, Result};
use strongroom_storage::Storage;

pub mod v2;
pub use v2::KvV2;

/// Makes the engine a mount asks for: `{}` or `{"version": "1"}` for version 1,
/// `{"version": "2"}` for version 2.
///
/// # Errors
///
/// [`LogicalError::InvalidRequest`] for any other version.
pub fn factory(options: &Map<String, Value>) -> Result<Arc<dyn Backend>> {
    match options.get("version") {
        None => Ok(Arc::new(KvV1)),
        Some(v) if v == "1" || v == 1 => Ok(Arc::new(KvV1)),
        Some(v) if v == "2" || v == 2 => Ok(Arc::new(KvV2::new())),
        Some(other) => Err(LogicalError::invalid(format!(
            "unsupported kv version {other}: use 1 or 2"
        ))),
    }
}

#[async_trait]
impl Backend for KvV2 {
    async fn handle(&self, ctx: &Context, request: Request) -> Result<Response> {
        KvV2::handle(self, ctx, request).await
    }

    async fn exists(&self, ctx: &Context, request: &Request) -> Result<Option<bool>> {
        KvV2::exists(self, ctx, request).await
    }
}

/// KV version 1: unversioned JSON objects by path.
#[derive(Debug, Default)]
pub struct KvV1;

impl KvV1 {
    /// The engine.
    pub fn new() -> Self {
        Self
    }

    /// A registry factory: options `{}` or `{"version": "1"}` make a v1 engine.
    ///
    /// # Errors
    ///
    /// [`LogicalError::InvalidRequest`] for any other version.
    pub fn factory(options: &Map<String, Value>) -> Result<Arc<dyn Backend>> {
        match options.get("version") {
            None => Ok(Arc::new(Self)),
            Some(v) if v == "1" || v == 1 => Ok(Arc::new(Self)),
            Some(other) => Err(LogicalError::invalid(format!(
                "unsupported kv version {other}; this engine serves version 1"
            ))),
        }
    }
}

pub use strongroom_logical::time::parse_duration;

fn decode(bytes: &[u8]) -> Result<Map<String, Value>> {
    serde_json::from_slice(bytes)
        .map_err(|_| LogicalError::Internal("stored kv entry is not a JSON object".into()))
}

#[async_trait]
impl Backend for KvV1 {
    async fn exists(&self, ctx: &Context, request: &Request) -> Result<Option<bool>> {
        if request.path.is_empty() || request.path.ends_with('/') {
            return Ok(Some(false));
        }
        Ok(Some(ctx.storage.get(&request.path).await?.is_some()))
    }

    async fn handle(&self, ctx: &Context, request: Request) -> Result<Response> {
        let storage = &ctx.storage;
        let path = request.path.as_str();
        match request.operation {
            Operation::List => {
                let folder = if path.is_empty() || path.ends_with('/') {
                    path.to_owned()
                } else {
                    format!("{path}/")
                };
                let keys = storage.list(&folder).await?;
                if keys.is_empty() {
                    // Vault answers an empty list with 404.
                    return Ok(Response::empty());
                }
                Ok(Response::list(keys))
            }
            // A folder path holds no entry: a read is a plain not-found (as Vault), anything else
            // has nothing to act on.
            Operation::Read if path.is_empty() || path.ends_with('/') => Ok(Response::empty()),
            _ if path.is_empty() || path.ends_with('/') => Err(LogicalError::UnsupportedPath),
            Operation::Read => {
                let Some(bytes) = storage.get(path).await? else {
                    return Ok(Response::empty());
                };
                let data = decode(&bytes)?;
                let ttl = data.get("ttl").and_then(parse_duration);
                let mut response = Response::with_data(data);
                response.lease_duration_hint = Some(ttl.unwrap_or(ctx.default_lease_ttl));
                Ok(response)
            }
            Operation::Create | Operation::Update => {
                if request.data.is_empty() {
                    return Err(LogicalError::invalid("missing data fields"));
                }
                // Like Vault, an unparsable `ttl` is stored as written; reads then report the
                // mount's default lease duration for it.
                let bytes = serde_json::to_vec(&request.data)
                    .map_err(|e| LogicalError::Internal(format!("encoding kv entry: {e}")))?;
                storage.put(path, bytes).await?;
                Ok(Response::empty())
            }
            Operation::Delete => {
                storage.delete(path).await?;
                Ok(Response::empty())
            }
            // KV v1 has no patch (Vault answers 405 too).
            _ => Err(LogicalError::UnsupportedOperation),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        let d = |v: Value| parse_duration(&v).map(|d| d.as_secs());
        assert_eq!(d(Value::from(30)), Some(30));
        assert_eq!(d(Value::from("45")), Some(45));
        assert_eq!(d(Value::from("1h30m")), Some(5400));
        assert_eq!(d(Value::from("2d")), Some(172_800));
        assert_eq!(d(Value::from("90s")), Some(90));
        for bad in ["", "h", "1x", "1h30", "-5", "1.5h"] {
            assert_eq!(d(Value::from(bad)), None, "{bad}");
        }
        assert_eq!(d(Value::from(true)), None);
    }
}
