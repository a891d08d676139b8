//! [`Sys`]: mounting engines and auth methods.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;
use serde_json::{Map, Value};
use strongroom_logical::Operation;

use super::decode::from_value;
use super::trim;
use crate::{ClientToken, Result, Vault};

/// Mounts and auth methods, from [`Vault::sys`]: `sys/mounts` and `sys/auth`, through the
/// request pipeline (so the token needs the policy, and `sudo` for auth methods, as in Vault).
#[derive(Clone, Copy, Debug)]
pub struct Sys<'v> {
    pub(super) vault: &'v Vault,
}

/// What to mount: the engine type and its settings (the body of `sys/mounts/<path>`).
///
/// ```
/// use std::time::Duration;
/// use strongroom_core::MountRequest;
///
/// let kv2 = MountRequest::new("kv").option("version", "2").description("app secrets");
/// let db = MountRequest::new("database").max_lease_ttl(Duration::from_secs(3600));
/// # let _ = (kv2, db);
/// ```
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct MountRequest {
    /// The engine type (`kv`, `kv-v2`, `transit`, `userpass`, or one registered with
    /// [`VaultBuilder::engine`](crate::VaultBuilder::engine)).
    pub kind: String,
    /// A description, shown in listings.
    pub description: String,
    /// The engine's options (`version` for KV).
    pub options: BTreeMap<String, String>,
    /// The default lease TTL; `None`: the system's.
    pub default_lease_ttl: Option<Duration>,
    /// The maximum lease TTL; `None`: the system's.
    pub max_lease_ttl: Option<Duration>,
}

impl MountRequest {
    /// An engine of type `kind` with the default settings.
    pub fn new(kind: impl Into<String>) -> Self {
        Self {
            kind: kind.into(),
            description: String::new(),
            options: BTreeMap::new(),
            default_lease_ttl: None,
            max_lease_ttl: None,
        }
    }

    /// Sets the description.
    #[must_use]
    pub fn description(mut self, description: impl Into<String>) -> Self {
        self.description = description.into();
        self
    }

    /// Sets one engine option.
    #[must_use]
    pub fn option(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.options.insert(name.into(), value.into());
        self
    }

    /// Sets the default lease TTL.
    #[must_use]
    pub fn default_lease_ttl(mut self, ttl: Duration) -> Self {
        self.default_lease_ttl = Some(ttl);
        self
    }

    /// Sets the maximum lease TTL.
    #[must_use]
    pub fn max_lease_ttl(mut self, ttl: Duration) -> Self {
        self.max_lease_ttl = Some(ttl);
        self
    }

    fn body(&self) -> Map<String, Value> {
        let mut config = Map::new();
        for (name, ttl) in [
            ("default_lease_ttl", self.default_lease_ttl),
            ("max_lease_ttl", self.max_lease_ttl),
        ] {
            if let Some(ttl) = ttl {
                config.insert(name.into(), format!("{}s", ttl.as_secs()).into());
            }
        }
        let mut body = Map::new();
        body.insert("type".into(), self.kind.clone().into());
        body.insert("description".into(), self.description.clone().into());
        body.insert("config".into(), Value::Object(config));
        body.insert(
            "options".into(),
            Value::Object(
                self.options
                    .iter()
                    .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                    .collect(),
            ),
        );
        body
    }
}

/// One mount as `sys/mounts` or `sys/auth` lists it.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct MountInfo {
    /// Where it is mounted, with its trailing `/` (`secret/`; below `auth/` for auth methods:
    /// `userpass/`).
    #[serde(skip)]
    pub path: String,
    /// The engine type.
    #[serde(rename = "type")]
    pub kind: String,
    /// The description.
    #[serde(default)]
    pub description: String,
    /// The mount's accessor.
    #[serde(default)]
    pub accessor: String,
    /// The engine options.
    #[serde(default, deserialize_with = "options")]
    pub options: BTreeMap<String, String>,
}

/// Engine options as listed: `null` when there are none, values as strings.
fn options<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> std::result::Result<BTreeMap<String, String>, D::Error> {
    let map: Option<Map<String, Value>> = Option::deserialize(deserializer)?;
    Ok(map
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| match v {
            Value::String(s) => (k, s),
            other => (k, other.to_string()),
        })
        .collect())
}

impl Sys<'_> {
    /// Mounts a secrets engine at `path` (`sys/mounts/<path>`).
    ///
    /// # Errors
    ///
    /// The pipeline's errors: [`VaultError::PermissionDenied`](crate::VaultError::PermissionDenied),
    /// [`VaultError::InvalidRequest`](crate::VaultError::InvalidRequest) for a path in use or
    /// reserved, an unknown type, options the engine refuses.
    pub async fn mount(&self, token: &ClientToken, path: &str, mount: &MountRequest) -> Result<()> {
        self.write(token, format!("sys/mounts/{}", trim(path)), mount.body())
            .await
    }

    /// Unmounts the engine at `path`, revoking its leases and deleting its data. Unmounting
    /// nothing succeeds.
    ///
    /// # Errors
    ///
    /// The pipeline's errors, as for [`mount`](Self::mount).
    pub async fn unmount(&self, token: &ClientToken, path: &str) -> Result<()> {
        self.vault
            .call(
                token,
                Operation::Delete,
                format!("sys/mounts/{}", trim(path)),
                Map::new(),
            )
            .await?;
        Ok(())
    }

    /// The mounted secrets engines, the built-in `sys/` among them.
    ///
    /// # Errors
    ///
    /// The pipeline's errors, as for [`mount`](Self::mount).
    pub async fn mounts(&self, token: &ClientToken) -> Result<Vec<MountInfo>> {
        self.listing(token, "sys/mounts").await
    }

    /// Enables an auth method at `auth/<path>` (`sys/auth/<path>`; needs `sudo`).
    ///
    /// # Errors
    ///
    /// The pipeline's errors, as for [`mount`](Self::mount).
    pub async fn enable_auth(
        &self,
        token: &ClientToken,
        path: &str,
        method: &MountRequest,
    ) -> Result<()> {
        self.write(token, format!("sys/auth/{}", trim(path)), method.body())
            .await
    }

    /// Disables the auth method at `auth/<path>`, revoking the tokens its logins made.
    ///
    /// # Errors
    ///
    /// The pipeline's errors, as for [`mount`](Self::mount).
    pub async fn disable_auth(&self, token: &ClientToken, path: &str) -> Result<()> {
        self.vault
            .call(
                token,
                Operation::Delete,
                format!("sys/auth/{}", trim(path)),
                Map::new(),
            )
            .await?;
        Ok(())
    }

    /// The enabled auth methods, the token store among them; paths are below `auth/`.
    ///
    /// # Errors
    ///
    /// The pipeline's errors, as for [`mount`](Self::mount).
    pub async fn auth_methods(&self, token: &ClientToken) -> Result<Vec<MountInfo>> {
        self.listing(token, "sys/auth").await
    }

    async fn write(
        &self,
        token: &ClientToken,
        path: String,
        body: Map<String, Value>,
    ) -> Result<()> {
        self.vault
            .call(token, Operation::Update, path, body)
            .await?;
        Ok(())
    }

    async fn listing(&self, token: &ClientToken, path: &str) -> Result<Vec<MountInfo>> {
        let response = self
            .vault
            .call(token, Operation::Read, path.to_owned(), Map::new())
            .await?;
        response
            .data
            .unwrap_or_default()
            .into_iter()
            .map(|(path, entry)| {
                let mut info: MountInfo = from_value(entry, "a mount listing")?;
                info.path = path;
                Ok(info)
            })
            .collect()
    }
}
