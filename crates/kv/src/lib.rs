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
use strongroom_logical::{
    Backend, Context, Endpoint, EndpointInfo, Endpoints, Field, FieldType, Fields, LogicalError,
    Request, Response, Result,
};
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
        None => Ok(Arc::new(KvV1::new())),
        Some(v) if v == "1" || v == 1 => Ok(Arc::new(KvV1::new())),
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

    fn is_unauthenticated(&self, path: &str) -> bool {
        self.endpoint_declarations().is_unauthenticated(path)
    }

    fn needs_sudo(&self, path: &str) -> bool {
        self.endpoint_declarations().needs_sudo(path)
    }

    fn endpoints(&self) -> &[EndpointInfo] {
        self.endpoint_declarations().infos()
    }
}

/// KV version 1: unversioned JSON objects by path.
///
/// One endpoint, `{path*}` (every path below the mount), as OpenBao's passthrough backend: it
/// takes arbitrary input (the body is the secret), serves read, create, update, delete and list,
/// and checks existence by the stored entry.
#[derive(Debug)]
pub struct KvV1 {
    endpoints: Endpoints<KvV1>,
}

impl Default for KvV1 {
    fn default() -> Self {
        Self::new()
    }
}

/// Whether `path` names a folder (the mount itself, or ending in `/`): it holds no entry.
fn is_folder(path: &str) -> bool {
    path.is_empty() || path.ends_with('/')
}

impl KvV1 {
    /// The engine.
    pub fn new() -> Self {
        let endpoints = Endpoints::new(
            V1_HELP,
            vec![
                Endpoint::<Self>::new("{path*}")
                    .field(
                        "path",
                        Field::new(FieldType::String, "Location of the secret."),
                    )
                    .arbitrary_input()
                    .read(|kv, ctx, fields| Box::pin(kv.read(ctx, fields)))
                    .write(|kv, ctx, fields| Box::pin(kv.write(ctx, fields)))
                    .delete(|kv, ctx, fields| Box::pin(kv.delete(ctx, fields)))
                    .list(|kv, ctx, fields| Box::pin(kv.list(ctx, fields)))
                    .exists(|kv, ctx, fields| Box::pin(kv.exists_at(ctx, fields)))
                    .synopsis(
                        "Pass-through secret storage to the storage backend, allowing you to \
                         read/write arbitrary data into secret storage.",
                    )
                    .description(
                        "The pass-through backend reads and writes arbitrary data into secret \
                         storage, encrypting it along the way. A TTL can be specified when \
                         writing with the \"ttl\" field. If given, the duration of leases \
                         returned by this backend will be set to this value.",
                    ),
            ],
        );
        Self { endpoints }
    }

    /// The engine's endpoints (for help and the OpenAPI document).
    pub fn endpoint_declarations(&self) -> &Endpoints<Self> {
        &self.endpoints
    }

    /// A registry factory: options `{}` or `{"version": "1"}` make a v1 engine.
    ///
    /// # Errors
    ///
    /// [`LogicalError::InvalidRequest`] for any other version.
    pub fn factory(options: &Map<String, Value>) -> Result<Arc<dyn Backend>> {
        match options.get("version") {
            None => Ok(Arc::new(Self::new())),
            Some(v) if v == "1" || v == 1 => Ok(Arc::new(Self::new())),
            Some(other) => Err(LogicalError::invalid(format!(
                "unsupported kv version {other}; this engine serves version 1"
            ))),
        }
    }

    async fn exists_at(&self, ctx: &Context, fields: Fields<'_>) -> Result<bool> {
        let path: &str = fields.get("path")?;
        if is_folder(path) {
            return Ok(false);
        }
        Ok(ctx.storage.get(path).await?.is_some())
    }

    async fn list(&self, ctx: &Context, fields: Fields<'_>) -> Result<Response> {
        let path: &str = fields.get("path")?;
        let folder = if is_folder(path) {
            path.to_owned()
        } else {
            format!("{path}/")
        };
        let keys = ctx.storage.list(&folder).await?;
        if keys.is_empty() {
            // Vault answers an empty list with 404.
            return Ok(Response::empty());
        }
        Ok(Response::list(keys))
    }

    async fn read(&self, ctx: &Context, fields: Fields<'_>) -> Result<Response> {
        let path: &str = fields.get("path")?;
        // A folder path holds no entry: a plain not-found (as Vault).
        if is_folder(path) {
            return Ok(Response::empty());
        }
        let Some(bytes) = ctx.storage.get(path).await? else {
            return Ok(Response::empty());
        };
        let data = decode(&bytes)?;
        let ttl = data.get("ttl").and_then(parse_duration);
        let mut response = Response::with_data(data);
        response.lease_duration_hint = Some(ttl.unwrap_or(ctx.default_lease_ttl));
        Ok(response)
    }

    async fn write(&self, ctx: &Context, mut fields: Fields<'_>) -> Result<Response> {
        let path = fields.get::<&str>("path")?.to_owned();
        // A folder has nothing to act on.
        if is_folder(&path) {
            return Err(LogicalError::UnsupportedPath);
        }
        let data = fields.take_unrecognized();
        if data.is_empty() {
            return Err(LogicalError::invalid("missing data fields"));
        }
        // Like Vault, an unparsable `ttl` is stored as written; reads then report the mount's
        // default lease duration for it.
        let bytes = serde_json::to_vec(&data)
            .map_err(|e| LogicalError::Internal(format!("encoding kv entry: {e}")))?;
        ctx.storage.put(&path, bytes).await?;
        Ok(Response::empty())
    }

    async fn delete(&self, ctx: &Context, fields: Fields<'_>) -> Result<Response> {
        let path: &str = fields.get("path")?;
        if is_folder(path) {
            return Err(LogicalError::UnsupportedPath);
        }
        ctx.storage.delete(path).await?;
        Ok(Response::empty())
    }
}

const V1_HELP: &str = "The kv backend reads and writes arbitrary secrets to the backend. TTLs \
                       can be set on a per-secret basis; they are sent down when the secret is \
                       read, as a hint of how often to re-read it.";

pub use strongroom_logical::time::parse_duration;

fn decode(bytes: &[u8]) -> Result<Map<String, Value>> {
    serde_json::from_slice(bytes)
        .map_err(|_| LogicalError::Internal("stored kv entry is not a JSON object".into()))
}

#[async_trait]
impl Backend for KvV1 {
    async fn exists(&self, ctx: &Context, request: &Request) -> Result<Option<bool>> {
        self.endpoints.exists(self, ctx, request).await
    }

    async fn handle(&self, ctx: &Context, request: Request) -> Result<Response> {
        self.endpoints.handle(self, ctx, request).await
    }

    fn is_unauthenticated(&self, path: &str) -> bool {
        self.endpoints.is_unauthenticated(path)
    }

    fn needs_sudo(&self, path: &str) -> bool {
        self.endpoints.needs_sudo(path)
    }

    fn endpoints(&self) -> &[EndpointInfo] {
        self.endpoints.infos()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn declarations_are_well_formed() {
        assert!(KvV1::new().endpoints.problems().is_empty());
        assert!(KvV2::new().endpoint_declarations().problems().is_empty());
    }

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
