//! The typed embedding API: [`Vault::kv`], [`Vault::sys`], [`Vault::policies`] and
//! [`Vault::tokens`] take and return Rust types (serde types for secrets, [`ClientToken`] for
//! tokens) instead of JSON maps and strings.
//!
//! It is a layer over [`Vault::handle`], not beside it: every call builds the same
//! [`VaultRequest`] an HTTP client's request becomes and decodes the [`VaultResponse`], so the
//! token check, use counting, the ACL and `sudo`, audit and leases apply exactly as they do to
//! any other request. A refused call is [`VaultError::PermissionDenied`]; an answer that does
//! not fit the type asked for is [`VaultError::Decode`].

mod decode;
mod kv;
mod policies;
mod sys;
mod tokens;

use serde_json::{Map, Value};
use strongroom_logical::Operation;

pub use kv::{Kv, KvEntry, KvMetadata};
pub use policies::Policies;
pub use sys::{MountInfo, MountRequest, Sys};
pub use tokens::{TokenInfo, Tokens};

use crate::{ClientToken, Result, Vault, VaultRequest, VaultResponse};

impl Vault {
    /// The KV engine mounted at `mount` (`"secret"`), version 1 or 2: see [`Kv`].
    pub fn kv(&self, mount: &str) -> Kv<'_> {
        Kv::new(self, mount)
    }

    /// Mounts and auth methods (`sys/mounts`, `sys/auth`): see [`Sys`].
    pub fn sys(&self) -> Sys<'_> {
        Sys { vault: self }
    }

    /// ACL policies (`sys/policies/acl`): see [`Policies`].
    pub fn policies(&self) -> Policies<'_> {
        Policies { vault: self }
    }

    /// The token store (`auth/token`): see [`Tokens`].
    pub fn tokens(&self) -> Tokens<'_> {
        Tokens { vault: self }
    }

    /// One typed call: a request made with `token`, through the whole pipeline.
    pub(crate) async fn call(
        &self,
        token: &ClientToken,
        operation: Operation,
        path: String,
        data: Map<String, Value>,
    ) -> Result<VaultResponse> {
        self.handle(
            VaultRequest::new(operation, path)
                .with_token(token.clone())
                .with_data(data),
        )
        .await
    }
}

/// `segment` without the slashes around it, for joining into a request path.
pub(crate) fn trim(segment: &str) -> &str {
    segment.trim_matches('/')
}

/// The `keys` of a list answer; none when there is nothing to list.
pub(crate) fn keys(response: VaultResponse) -> Result<Vec<String>> {
    match response.data.and_then(|mut data| data.remove("keys")) {
        Some(keys) => decode::from_value(keys, "the list"),
        None => Ok(Vec::new()),
    }
}
