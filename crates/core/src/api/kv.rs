//! [`Kv`]: typed secrets in a KV engine, version 1 or 2.

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use strongroom_logical::Operation;

use super::decode::{from_value, to_object};
use super::{keys, trim};
use crate::{ClientToken, Result, Vault};

/// The KV engine at one mount, from [`Vault::kv`]: secrets are any serde type that is a JSON
/// object (a struct, a map).
///
/// One handle serves both versions. Which one a mount runs is read from the mount table at each
/// call (that is configuration, not a request: it spends no token use and needs no policy on
/// `sys/`), and the call is then made on the version's paths, through the request pipeline like
/// any other: version 1 `secret/<path>`, version 2 `secret/data/<path>` and
/// `secret/metadata/<path>`, so a policy for version 2 names those paths, as in Vault. A
/// mount that is not a KV engine is treated as version 1 and answers as it does.
///
/// ```
/// use serde::{Deserialize, Serialize};
/// use strongroom_core::{InitRequest, MountRequest, Vault};
/// use strongroom_storage::MemoryStorage;
///
/// #[derive(Serialize, Deserialize, PartialEq, Debug)]
/// struct Db {
///     user: String,
///     password: String,
/// }
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let vault = Vault::builder(MemoryStorage::new()).build()?;
/// let init = vault.init(InitRequest::new(1, 1)).await?;
/// vault.unseal(init.keys[0].expose_secret()).await?;
/// let root = &init.root_token;
/// vault.sys().mount(root, "secret", &MountRequest::new("kv-v2")).await?;
///
/// let kv = vault.kv("secret");
/// let db = Db { user: "app".into(), password: "hunter2".into() };
/// let written = kv.put(root, "app/db", &db).await?;
/// assert_eq!(written.map(|m| m.version), Some(1));
/// assert_eq!(kv.get::<Db>(root, "app/db").await?, Some(db));
/// assert_eq!(kv.list(root, "app").await?, ["db"]);
/// kv.delete(root, "app/db").await?;
/// assert_eq!(kv.get::<Db>(root, "app/db").await?, None);
/// # Ok::<_, Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[derive(Clone, Debug)]
pub struct Kv<'v> {
    vault: &'v Vault,
    /// The mount path without slashes around it.
    mount: String,
}

/// A secret with its version's metadata (version 2 only).
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct KvEntry<T> {
    /// The secret.
    pub data: T,
    /// Its version's metadata; `None` on a version 1 mount.
    pub metadata: Option<KvMetadata>,
}

/// One version of a KV version 2 secret, as Vault reports it.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct KvMetadata {
    /// The version number (from 1).
    pub version: u64,
    /// When it was written (RFC 3339).
    pub created_time: String,
    /// When it was (or is scheduled to be) soft-deleted; empty if not.
    #[serde(default)]
    pub deletion_time: String,
    /// Whether its data was destroyed.
    #[serde(default)]
    pub destroyed: bool,
    /// The secret's custom metadata.
    #[serde(default)]
    pub custom_metadata: Option<BTreeMap<String, String>>,
}

impl<'v> Kv<'v> {
    pub(super) fn new(vault: &'v Vault, mount: &str) -> Self {
        Self {
            vault,
            mount: trim(mount).to_owned(),
        }
    }

    /// Whether the mount runs version 2, from the mount table.
    async fn is_v2(&self) -> Result<bool> {
        let active = self.vault.active().await?;
        let router = active.router();
        Ok(router
            .get(&format!("{}/", self.mount))
            .is_some_and(|mounted| {
                mounted.entry.kind == "kv"
                    && mounted
                        .entry
                        .options
                        .get("version")
                        .is_some_and(|v| v == "2" || v == 2)
            }))
    }

    /// The request path for `path` below version 2's `section` (`data`, `metadata`), or version
    /// 1's.
    fn path(&self, v2: bool, section: &str, path: &str) -> String {
        if v2 {
            format!("{}/{section}/{}", self.mount, trim(path))
        } else {
            format!("{}/{}", self.mount, trim(path))
        }
    }

    /// Writes `value` at `path` (a new version on version 2). Returns the new version's
    /// metadata on version 2, `None` on version 1.
    ///
    /// # Errors
    ///
    /// [`VaultError::Decode`](crate::VaultError::Decode) if `value` is not a JSON object; the
    /// pipeline's errors ([`VaultError::PermissionDenied`](crate::VaultError::PermissionDenied)
    /// for a token or policy refusal, the engine's own).
    pub async fn put<T: Serialize + ?Sized>(
        &self,
        token: &ClientToken,
        path: &str,
        value: &T,
    ) -> Result<Option<KvMetadata>> {
        let data = to_object(value, "a KV secret")?;
        let v2 = self.is_v2().await?;
        let body = if v2 {
            let mut body = Map::new();
            body.insert("data".into(), Value::Object(data));
            body
        } else {
            data
        };
        let response = self
            .vault
            .call(token, Operation::Update, self.path(v2, "data", path), body)
            .await?;
        match response.data {
            Some(data) if v2 => Ok(Some(from_value(
                Value::Object(data),
                "the written version's metadata",
            )?)),
            _ => Ok(None),
        }
    }

    /// The secret at `path` (version 2: its latest version), or `None` if there is none (or it
    /// was deleted or destroyed).
    ///
    /// # Errors
    ///
    /// [`VaultError::Decode`](crate::VaultError::Decode) if the secret does not fit `T`; the
    /// pipeline's errors, as for [`put`](Self::put).
    pub async fn get<T: DeserializeOwned>(
        &self,
        token: &ClientToken,
        path: &str,
    ) -> Result<Option<T>> {
        Ok(self.get_entry(token, path).await?.map(|entry| entry.data))
    }

    /// As [`get`](Self::get), with the version's metadata on version 2.
    ///
    /// # Errors
    ///
    /// As [`get`](Self::get).
    pub async fn get_entry<T: DeserializeOwned>(
        &self,
        token: &ClientToken,
        path: &str,
    ) -> Result<Option<KvEntry<T>>> {
        let v2 = self.is_v2().await?;
        let full = self.path(v2, "data", path);
        let what = format!("the secret at {full}");
        let response = self
            .vault
            .call(token, Operation::Read, full, Map::new())
            .await?;
        let Some(mut data) = response.data.filter(|_| !response.not_found) else {
            return Ok(None);
        };
        if !v2 {
            return Ok(Some(KvEntry {
                data: from_value(Value::Object(data), &what)?,
                metadata: None,
            }));
        }
        let metadata = match data.remove("metadata") {
            Some(metadata) => Some(from_value(metadata, "the version's metadata")?),
            None => None,
        };
        match data.remove("data") {
            None | Some(Value::Null) => Ok(None),
            Some(secret) => Ok(Some(KvEntry {
                data: from_value(secret, &what)?,
                metadata,
            })),
        }
    }

    /// Deletes the secret at `path`; on version 2 its latest version is soft-deleted (it can be
    /// undeleted, as `vault kv delete` does). Deleting nothing succeeds.
    ///
    /// # Errors
    ///
    /// The pipeline's errors, as for [`put`](Self::put).
    pub async fn delete(&self, token: &ClientToken, path: &str) -> Result<()> {
        let v2 = self.is_v2().await?;
        self.vault
            .call(
                token,
                Operation::Delete,
                self.path(v2, "data", path),
                Map::new(),
            )
            .await?;
        Ok(())
    }

    /// Deletes the secret at `path` for good: on version 2 every version and the metadata
    /// (`vault kv metadata delete`); on version 1 the same as [`delete`](Self::delete).
    ///
    /// # Errors
    ///
    /// The pipeline's errors, as for [`put`](Self::put).
    pub async fn delete_all(&self, token: &ClientToken, path: &str) -> Result<()> {
        let v2 = self.is_v2().await?;
        self.vault
            .call(
                token,
                Operation::Delete,
                self.path(v2, "metadata", path),
                Map::new(),
            )
            .await?;
        Ok(())
    }

    /// The names directly below `prefix` (`""` for the mount's top), folders with a trailing
    /// `/`; empty when there are none.
    ///
    /// # Errors
    ///
    /// The pipeline's errors, as for [`put`](Self::put).
    pub async fn list(&self, token: &ClientToken, prefix: &str) -> Result<Vec<String>> {
        let v2 = self.is_v2().await?;
        let mut path = self.path(v2, "metadata", prefix);
        if !path.ends_with('/') {
            path.push('/');
        }
        keys(
            self.vault
                .call(token, Operation::List, path, Map::new())
                .await?,
        )
    }
}
