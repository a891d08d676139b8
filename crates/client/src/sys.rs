//! The `sys/` endpoints: lifecycle, mounts, policies, audit devices.

use reqwest::Method;
use serde::Deserialize;
use serde_json::{Value, json};
use zeroize::Zeroizing;

use crate::{Client, Error, RawResponse, Result, Secret};

/// The `sys/` endpoints of one server. Made by [`Client::sys`].
#[derive(Debug, Clone, Copy)]
pub struct Sys<'a> {
    client: &'a Client,
}

/// `sys/seal-status` (also what `sys/unseal` answers).
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
#[non_exhaustive]
pub struct SealStatus {
    /// The seal type (`shamir`, `transit`, ...).
    #[serde(rename = "type")]
    pub seal_type: String,
    /// Whether the server has been initialised.
    pub initialized: bool,
    /// Whether the server is sealed.
    pub sealed: bool,
    /// The threshold of key shares needed to unseal.
    pub t: u64,
    /// The number of key shares.
    pub n: u64,
    /// Shares entered so far.
    pub progress: u64,
    /// The nonce of the unseal attempt in progress.
    pub nonce: String,
    /// The server's version.
    pub version: String,
    /// The storage type, when the server says.
    pub storage_type: Option<String>,
    /// Whether the seal keeps recovery keys (auto-unseal).
    pub recovery_seal: bool,
}

/// What `sys/init` returns: the key shares and the initial root token, all zeroed on drop.
#[derive(Clone, Default, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct InitResponse {
    /// The unseal key shares, hex.
    pub keys: Vec<Zeroizing<String>>,
    /// The unseal key shares, base64.
    pub keys_base64: Vec<Zeroizing<String>>,
    /// The recovery key shares (auto-unseal), hex.
    pub recovery_keys: Vec<Zeroizing<String>>,
    /// The recovery key shares, base64.
    pub recovery_keys_base64: Vec<Zeroizing<String>>,
    /// The initial root token.
    pub root_token: Zeroizing<String>,
}

impl std::fmt::Debug for InitResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InitResponse")
            .field("keys", &self.keys.len())
            .field("recovery_keys", &self.recovery_keys.len())
            .field("root_token", &"[REDACTED]")
            .finish()
    }
}

impl<'a> Sys<'a> {
    pub(crate) fn new(client: &'a Client) -> Self {
        Self { client }
    }

    /// Sends `method path body` and decodes a 2xx body as `T`.
    async fn call<T: serde::de::DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<T> {
        let response = self.client.request(method.clone(), path, &[], body).await?;
        if !(200..300).contains(&response.status) {
            return Err(Error::Api {
                method: method.to_string(),
                path: path.into(),
                status: response.status,
                errors: crate::error_list(&response.body),
            });
        }
        serde_json::from_value(response.body).map_err(|e| Error::Decode {
            method: method.to_string(),
            path: path.into(),
            message: e.to_string(),
        })
    }

    /// `GET sys/seal-status`.
    ///
    /// # Errors
    ///
    /// [`Error::Api`] for an error status; transport and decode errors.
    pub async fn seal_status(&self) -> Result<SealStatus> {
        self.call(Method::GET, "sys/seal-status", None).await
    }

    /// `GET sys/init`: whether the server is initialised.
    ///
    /// # Errors
    ///
    /// As [`seal_status`](Self::seal_status).
    pub async fn is_initialized(&self) -> Result<bool> {
        let body: Value = self.call(Method::GET, "sys/init", None).await?;
        Ok(body.get("initialized").and_then(Value::as_bool) == Some(true))
    }

    /// `PUT sys/init` with `shares` key shares, `threshold` of them needed to unseal. For
    /// auto-unseal seals, pass the recovery share counts as `shares`/`threshold`; they are
    /// sent as both.
    ///
    /// # Errors
    ///
    /// [`Error::Api`] (e.g. 400 when already initialised); transport and decode errors.
    pub async fn init(&self, shares: u64, threshold: u64) -> Result<InitResponse> {
        let body = json!({
            "secret_shares": shares, "secret_threshold": threshold,
            "recovery_shares": shares, "recovery_threshold": threshold,
        });
        self.call(Method::PUT, "sys/init", Some(&body)).await
    }

    /// `PUT sys/unseal` with one key share.
    ///
    /// # Errors
    ///
    /// [`Error::Api`] for a bad share; transport and decode errors.
    pub async fn unseal(&self, key: &str) -> Result<SealStatus> {
        let body = json!({ "key": key });
        self.call(Method::PUT, "sys/unseal", Some(&body)).await
    }

    /// `PUT sys/unseal {"reset": true}`: forgets the shares entered so far.
    ///
    /// # Errors
    ///
    /// As [`unseal`](Self::unseal).
    pub async fn unseal_reset(&self) -> Result<SealStatus> {
        let body = json!({ "reset": true });
        self.call(Method::PUT, "sys/unseal", Some(&body)).await
    }

    /// `PUT sys/seal` (needs a token with `sudo` on it).
    ///
    /// # Errors
    ///
    /// [`Error::Api`] (403 without the right token); transport errors.
    pub async fn seal(&self) -> Result<()> {
        self.client.write("sys/seal", &json!({})).await.map(drop)
    }

    /// `GET sys/health`: the status code (200 active, 429 standby, 501 uninitialised, 503
    /// sealed, ...) and the body, both as the server sent them.
    ///
    /// # Errors
    ///
    /// Transport errors only: every status is an answer here.
    pub async fn health(&self) -> Result<RawResponse> {
        self.client
            .request(Method::GET, "sys/health", &[], None)
            .await
    }

    /// `GET sys/mounts`.
    ///
    /// # Errors
    ///
    /// [`Error::Api`]; transport and decode errors.
    pub async fn mounts(&self) -> Result<Secret> {
        self.client
            .read("sys/mounts")
            .await?
            .ok_or_else(|| not_found("sys/mounts"))
    }

    /// `POST sys/mounts/<path>`: mounts an engine. `request` is Vault's mount request:
    /// `{"type": "kv", "options": {"version": "2"}, "description": "...", "config": {...}}`.
    ///
    /// # Errors
    ///
    /// [`Error::Api`] (400 if the path is taken); transport errors.
    pub async fn enable_secrets(&self, path: &str, request: &Value) -> Result<()> {
        self.client
            .post(&format!("sys/mounts/{}", path.trim_matches('/')), request)
            .await
            .map(drop)
    }

    /// `DELETE sys/mounts/<path>`.
    ///
    /// # Errors
    ///
    /// [`Error::Api`]; transport errors.
    pub async fn disable_secrets(&self, path: &str) -> Result<()> {
        self.client
            .delete(&format!("sys/mounts/{}", path.trim_matches('/')))
            .await
            .map(drop)
    }

    /// `PUT sys/policies/acl/<name>` with the policy's HCL or JSON text.
    ///
    /// # Errors
    ///
    /// [`Error::Api`] (400 for a policy that does not parse); transport errors.
    pub async fn put_policy(&self, name: &str, policy: &str) -> Result<()> {
        self.client
            .write(
                &format!("sys/policies/acl/{name}"),
                &json!({ "policy": policy }),
            )
            .await
            .map(drop)
    }

    /// `GET sys/policies/acl/<name>`: the policy's text, `None` if there is no such policy (or
    /// it is empty, as Vault's client reads it).
    ///
    /// # Errors
    ///
    /// [`Error::Api`]; transport and decode errors.
    pub async fn read_policy(&self, name: &str) -> Result<Option<String>> {
        Ok(self
            .client
            .read(&format!("sys/policies/acl/{name}"))
            .await?
            .and_then(|s| {
                s.data
                    .get("policy")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            }))
    }

    /// `LIST sys/policies/acl`: the policy names.
    ///
    /// # Errors
    ///
    /// [`Error::Api`]; transport and decode errors.
    pub async fn list_policies(&self) -> Result<Vec<String>> {
        self.client.list_keys("sys/policies/acl").await
    }

    /// `DELETE sys/policies/acl/<name>`.
    ///
    /// # Errors
    ///
    /// [`Error::Api`] (400 for `root` and `default`); transport errors.
    pub async fn delete_policy(&self, name: &str) -> Result<()> {
        self.client
            .delete(&format!("sys/policies/acl/{name}"))
            .await
            .map(drop)
    }

    /// `PUT sys/audit/<path>`: enables an audit device of type `kind` (e.g. `file`) with
    /// `options` (e.g. `{"file_path": "/var/log/strongroom/audit.log"}`).
    ///
    /// # Errors
    ///
    /// [`Error::Api`] (400 for a bad device or a path outside the allowed directory);
    /// transport errors.
    pub async fn enable_audit(&self, path: &str, kind: &str, options: Value) -> Result<()> {
        let body = json!({ "type": kind, "options": options });
        self.client
            .write(&format!("sys/audit/{}", path.trim_matches('/')), &body)
            .await
            .map(drop)
    }

    /// `DELETE sys/audit/<path>`.
    ///
    /// # Errors
    ///
    /// [`Error::Api`]; transport errors.
    pub async fn disable_audit(&self, path: &str) -> Result<()> {
        self.client
            .delete(&format!("sys/audit/{}", path.trim_matches('/')))
            .await
            .map(drop)
    }
}

fn not_found(path: &str) -> Error {
    Error::Api {
        method: "GET".into(),
        path: path.into(),
        status: 404,
        errors: Vec::new(),
    }
}
