//! The KV engines, version 1 and 2.

use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::{Client, Error, Result, Secret};

/// Joins a mount and a path below it, without doubled or trailing slashes.
fn join(mount: &str, middle: &str, path: &str) -> String {
    [mount, middle, path]
        .iter()
        .map(|part| part.trim_matches('/'))
        .filter(|part| !part.is_empty())
        .collect::<Vec<_>>()
        .join("/")
}

/// Where a KV path is mounted and which version its engine is, as `sys/internal/ui/mounts`
/// reports it (the way Vault's `kv` commands find out).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct KvMount {
    /// The mount path, without the trailing slash (e.g. `secret`).
    pub mount: String,
    /// The engine version, 1 or 2.
    pub version: u8,
    /// The rest of the path below the mount.
    pub path: String,
}

impl Client {
    /// Finds the KV mount holding `path` and its version.
    ///
    /// # Errors
    ///
    /// [`Error::Api`] when the path is not under a KV mount (or the token may not see it);
    /// transport and decode errors.
    pub async fn kv_mount(&self, path: &str) -> Result<KvMount> {
        let path = path.trim_matches('/');
        let lookup = format!("sys/internal/ui/mounts/{path}");
        // Never wrapped: the answer is for the client, not the user (as Vault's preflight).
        let response = self.without_wrapping().read(&lookup).await?;
        let data = response.map(|s| s.data).unwrap_or_default();
        let mount = data
            .get("path")
            .and_then(Value::as_str)
            .map(|m| m.trim_end_matches('/').to_owned())
            .filter(|m| !m.is_empty())
            .ok_or_else(|| Error::Api {
                method: "GET".into(),
                path: lookup.clone(),
                status: 404,
                errors: vec![format!("no secrets engine is mounted at {path}")],
            })?;
        let kind = data.get("type").and_then(Value::as_str).unwrap_or("kv");
        if kind != "kv" {
            return Err(Error::Api {
                method: "GET".into(),
                path: lookup,
                status: 400,
                errors: vec![format!("{mount}/ is a {kind} engine, not kv")],
            });
        }
        let version = match data
            .get("options")
            .and_then(|o| o.get("version"))
            .and_then(Value::as_str)
        {
            Some("2") => 2,
            _ => 1,
        };
        let rest = path
            .strip_prefix(mount.as_str())
            .unwrap_or("")
            .trim_start_matches('/')
            .to_owned();
        Ok(KvMount {
            mount,
            version,
            path: rest,
        })
    }
}

/// A KV version 1 engine. Made by [`Client::kv1`].
#[derive(Debug, Clone)]
pub struct Kv1<'a> {
    client: &'a Client,
    mount: String,
}

impl<'a> Kv1<'a> {
    pub(crate) fn new(client: &'a Client, mount: &str) -> Self {
        Self {
            client,
            mount: mount.trim_matches('/').to_owned(),
        }
    }

    /// Reads the secret at `path`: `None` if there is none.
    ///
    /// # Errors
    ///
    /// [`Error::Api`]; transport and decode errors.
    pub async fn get(&self, path: &str) -> Result<Option<Secret>> {
        self.client.read(&join(&self.mount, "", path)).await
    }

    /// Replaces the secret at `path` with `data`.
    ///
    /// # Errors
    ///
    /// [`Error::Api`]; transport errors.
    pub async fn put(&self, path: &str, data: &Map<String, Value>) -> Result<()> {
        self.client
            .write(&join(&self.mount, "", path), &Value::Object(data.clone()))
            .await
            .map(drop)
    }

    /// The keys under `path` (folders end in `/`).
    ///
    /// # Errors
    ///
    /// [`Error::Api`]; transport and decode errors.
    pub async fn list(&self, path: &str) -> Result<Vec<String>> {
        self.client.list_keys(&join(&self.mount, "", path)).await
    }

    /// Deletes the secret at `path`.
    ///
    /// # Errors
    ///
    /// [`Error::Api`]; transport errors.
    pub async fn delete(&self, path: &str) -> Result<()> {
        self.client
            .delete(&join(&self.mount, "", path))
            .await
            .map(drop)
    }
}

/// A KV version 2 engine. Made by [`Client::kv2`].
#[derive(Debug, Clone)]
pub struct Kv2<'a> {
    client: &'a Client,
    mount: String,
}

/// The metadata of one version of a KV v2 secret.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
#[non_exhaustive]
pub struct VersionMetadata {
    /// When the version was written (RFC 3339).
    pub created_time: String,
    /// When it was (or will be) soft-deleted; empty if not.
    pub deletion_time: String,
    /// Whether its data is destroyed for good.
    pub destroyed: bool,
    /// The version number.
    pub version: u64,
    /// The secret's custom metadata.
    pub custom_metadata: Option<Map<String, Value>>,
}

/// One version of a KV v2 secret.
#[derive(Clone, PartialEq)]
#[non_exhaustive]
pub struct KvVersion {
    /// The data; `None` when the version is deleted or destroyed.
    pub data: Option<Map<String, Value>>,
    /// The version's metadata.
    pub metadata: VersionMetadata,
}

impl std::fmt::Debug for KvVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KvVersion")
            .field(
                "data_keys",
                &self.data.as_ref().map(|d| d.keys().collect::<Vec<_>>()),
            )
            .field("metadata", &self.metadata)
            .finish()
    }
}

impl<'a> Kv2<'a> {
    pub(crate) fn new(client: &'a Client, mount: &str) -> Self {
        Self {
            client,
            mount: mount.trim_matches('/').to_owned(),
        }
    }

    fn path(&self, middle: &str, path: &str) -> String {
        join(&self.mount, middle, path)
    }

    /// `GET <mount>/data/<path>[?version=N]` as Vault's envelope (what `kv get -format=json`
    /// prints): `None` if the secret does not exist; a deleted version is `Some` with `data.data`
    /// null.
    ///
    /// # Errors
    ///
    /// [`Error::Api`]; transport and decode errors.
    pub async fn read(&self, path: &str, version: Option<u64>) -> Result<Option<Secret>> {
        let version = version.map(|v| v.to_string());
        let query: Vec<(&str, &str)> = version.iter().map(|v| ("version", v.as_str())).collect();
        self.client
            .read_with_query(&self.path("data", path), &query)
            .await
    }

    /// The data and metadata of `version` (default the latest) of the secret at `path`.
    ///
    /// # Errors
    ///
    /// As [`read`](Self::read), and [`Error::Decode`] for a body that is not KV v2's.
    pub async fn get(&self, path: &str, version: Option<u64>) -> Result<Option<KvVersion>> {
        let Some(secret) = self.read(path, version).await? else {
            return Ok(None);
        };
        let decode = |message: String| Error::Decode {
            method: "GET".into(),
            path: self.path("data", path),
            message,
        };
        let data = match secret.data.get("data") {
            Some(Value::Object(map)) => Some(map.clone()),
            Some(Value::Null) | None => None,
            Some(_) => return Err(decode("data.data is not an object".into())),
        };
        let metadata = secret
            .data
            .get("metadata")
            .cloned()
            .map(serde_json::from_value)
            .transpose()
            .map_err(|e| decode(e.to_string()))?
            .unwrap_or_default();
        Ok(Some(KvVersion { data, metadata }))
    }

    /// Writes a new version of `path`; with `cas`, only if the current version is `cas`
    /// (0: only if the secret does not exist). Returns the new version's metadata.
    ///
    /// # Errors
    ///
    /// [`Error::Api`] (400 on a check-and-set mismatch); transport and decode errors.
    pub async fn put(
        &self,
        path: &str,
        data: &Map<String, Value>,
        cas: Option<u64>,
    ) -> Result<VersionMetadata> {
        let body = data_body(data, cas);
        let secret = self.client.write(&self.path("data", path), &body).await?;
        metadata_of(secret, &self.path("data", path))
    }

    /// Merges `data` into the latest version (a JSON merge patch: `null` removes a key),
    /// writing a new version.
    ///
    /// # Errors
    ///
    /// [`Error::Api`] (404 if the secret does not exist); transport and decode errors.
    pub async fn patch(
        &self,
        path: &str,
        data: &Map<String, Value>,
        cas: Option<u64>,
    ) -> Result<VersionMetadata> {
        let body = data_body(data, cas);
        let secret = self.client.patch(&self.path("data", path), &body).await?;
        metadata_of(secret, &self.path("data", path))
    }

    /// The keys under `path` (folders end in `/`), from `metadata/`.
    ///
    /// # Errors
    ///
    /// [`Error::Api`]; transport and decode errors.
    pub async fn list(&self, path: &str) -> Result<Vec<String>> {
        self.client.list_keys(&self.path("metadata", path)).await
    }

    /// Soft-deletes the latest version (or, with `versions`, those versions).
    ///
    /// # Errors
    ///
    /// [`Error::Api`]; transport errors.
    pub async fn delete(&self, path: &str, versions: &[u64]) -> Result<()> {
        if versions.is_empty() {
            self.client.delete(&self.path("data", path)).await.map(drop)
        } else {
            self.versions_op("delete", path, versions).await
        }
    }

    /// Restores soft-deleted `versions`.
    ///
    /// # Errors
    ///
    /// [`Error::Api`]; transport errors.
    pub async fn undelete(&self, path: &str, versions: &[u64]) -> Result<()> {
        self.versions_op("undelete", path, versions).await
    }

    /// Destroys `versions` for good.
    ///
    /// # Errors
    ///
    /// [`Error::Api`]; transport errors.
    pub async fn destroy(&self, path: &str, versions: &[u64]) -> Result<()> {
        self.versions_op("destroy", path, versions).await
    }

    async fn versions_op(&self, op: &str, path: &str, versions: &[u64]) -> Result<()> {
        self.client
            .write(&self.path(op, path), &json!({ "versions": versions }))
            .await
            .map(drop)
    }

    /// The secret's metadata (versions, `max_versions`, `cas_required`, `custom_metadata`,
    /// ...): `None` if the secret does not exist.
    ///
    /// # Errors
    ///
    /// [`Error::Api`]; transport and decode errors.
    pub async fn metadata(&self, path: &str) -> Result<Option<Secret>> {
        self.client.read(&self.path("metadata", path)).await
    }

    /// Writes the secret's metadata settings (`max_versions`, `cas_required`,
    /// `delete_version_after`, `custom_metadata`).
    ///
    /// # Errors
    ///
    /// [`Error::Api`]; transport errors.
    pub async fn write_metadata(&self, path: &str, settings: &Map<String, Value>) -> Result<()> {
        self.client
            .write(
                &self.path("metadata", path),
                &Value::Object(settings.clone()),
            )
            .await
            .map(drop)
    }

    /// Deletes the secret, all its versions and its metadata.
    ///
    /// # Errors
    ///
    /// [`Error::Api`]; transport errors.
    pub async fn delete_metadata(&self, path: &str) -> Result<()> {
        self.client
            .delete(&self.path("metadata", path))
            .await
            .map(drop)
    }
}

/// KV v2's write body: `{"data": ..., "options": {"cas": N}}`.
fn data_body(data: &Map<String, Value>, cas: Option<u64>) -> Value {
    match cas {
        Some(cas) => json!({ "data": data, "options": { "cas": cas } }),
        None => json!({ "data": data }),
    }
}

fn metadata_of(secret: Option<Secret>, path: &str) -> Result<VersionMetadata> {
    let data = secret.map(|s| s.data).unwrap_or_default();
    serde_json::from_value(Value::Object(data)).map_err(|e| Error::Decode {
        method: "PUT".into(),
        path: path.into(),
        message: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::join;

    #[test]
    fn joins_without_doubled_slashes() {
        assert_eq!(join("secret/", "data", "/a/b/"), "secret/data/a/b");
        assert_eq!(join("kv", "", "x"), "kv/x");
        assert_eq!(join("secret", "metadata", ""), "secret/metadata");
    }
}
