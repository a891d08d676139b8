//! A typed async client for Vault's HTTP API, as Strongroom, HashiCorp Vault and OpenBao serve it.
//!
//! [`Client`] sends Vault's headers (`X-Vault-Token`, `X-Vault-Request`, `X-Vault-Namespace`),
//! speaks the `LIST` method, and turns responses into Vault's envelope ([`Secret`]) or, for
//! errors, an [`Error::Api`] carrying the status code and the server's `errors`. On top of the
//! generic [`read`](Client::read) / [`write`](Client::write) / [`list`](Client::list) /
//! [`delete`](Client::delete) sit typed helpers: [`Client::sys`] for the lifecycle endpoints
//! (init, unseal, seal status, health, mounts, policies, audit devices), and [`Client::kv1`] /
//! [`Client::kv2`] for the KV engines, including KV v2's soft-deleted versions (a 404 that
//! still carries the version's metadata).
//!
//! Configuration follows Vault's CLI ([`ClientBuilder::from_env`]): `STRONGROOM_ADDR`,
//! `STRONGROOM_TOKEN`, `STRONGROOM_CACERT`, `STRONGROOM_NAMESPACE` and `STRONGROOM_WRAP_TTL`,
//! each falling back to its `VAULT_` spelling. TLS is rustls on ring with the platform's roots
//! plus any CA given.
//!
//! Response wrapping: with [`ClientBuilder::wrap_ttl`] every request asks the server to wrap
//! its answer (`X-Vault-Wrap-TTL`), and a wrapped answer comes back as a [`Secret`] whose
//! [`wrap_info`](Secret::wrap_info) holds the single-use wrapping token; [`Client::unwrap`]
//! turns it back into the answer.
//!
//! Why not vaultrs: it has no client for the lifecycle endpoints in the shape a CLI needs (raw
//! responses, non-2xx health codes, 404-with-data), and brings its own HTTP stack. This crate is
//! deliberately small.
//!
//! Secrets: the token is held in a [`Zeroizing`] buffer, sent as a sensitive header (never
//! logged by the HTTP stack), and redacted from `Debug`; an auth block's `client_token` likewise.
//! Secret *values* returned in [`Secret::data`] are ordinary JSON, as in every Vault client.
#![forbid(unsafe_code)]

mod error;
mod kv;
mod secret;
mod sys;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{CONTENT_TYPE, HeaderValue};
use reqwest::{Method, StatusCode, Url};
use serde_json::Value;
use zeroize::Zeroizing;

pub use crate::error::Error;
pub use crate::kv::{Kv1, Kv2, KvMount, KvVersion, VersionMetadata};
pub use crate::secret::{Secret, SecretAuth, WrapInfo};
pub use crate::sys::{InitResponse, SealStatus, Sys};

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The default address, as Vault's CLI assumes.
pub const DEFAULT_ADDRESS: &str = "https://127.0.0.1:8200";

/// Builds a [`Client`]: address, token, namespace, extra CA certificates, timeout.
pub struct ClientBuilder {
    address: String,
    token: Option<Zeroizing<String>>,
    namespace: Option<String>,
    ca_pem: Vec<Vec<u8>>,
    ca_file: Option<PathBuf>,
    timeout: Duration,
    wrap_ttl: Option<String>,
}

impl std::fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("address", &self.address)
            .field("token", &self.token.as_ref().map(|_| "[REDACTED]"))
            .field("namespace", &self.namespace)
            .field("ca_certificates", &self.ca_pem.len())
            .field("ca_file", &self.ca_file)
            .field("timeout", &self.timeout)
            .field("wrap_ttl", &self.wrap_ttl)
            .finish()
    }
}

/// The first non-empty of `ours` and `vaults` in the environment.
fn env_var(ours: &str, vaults: &str) -> Option<String> {
    std::env::var(ours)
        .ok()
        .filter(|v| !v.is_empty())
        .or_else(|| std::env::var(vaults).ok().filter(|v| !v.is_empty()))
}

impl ClientBuilder {
    /// A builder for the server at `address` (e.g. `http://127.0.0.1:8200`), no token, a 60 s
    /// timeout (Vault's CLI default).
    pub fn new(address: impl Into<String>) -> Self {
        Self {
            address: address.into(),
            token: None,
            namespace: None,
            ca_pem: Vec::new(),
            ca_file: None,
            timeout: Duration::from_secs(60),
            wrap_ttl: None,
        }
    }

    /// A builder configured as Vault's CLI is: `STRONGROOM_ADDR` (default
    /// [`DEFAULT_ADDRESS`]), `STRONGROOM_TOKEN`, `STRONGROOM_CACERT` (a PEM file),
    /// `STRONGROOM_NAMESPACE` and `STRONGROOM_WRAP_TTL`, each falling back to its `VAULT_`
    /// spelling.
    pub fn from_env() -> Self {
        let mut builder =
            Self::new(env_var("STRONGROOM_ADDR", "VAULT_ADDR").unwrap_or(DEFAULT_ADDRESS.into()));
        builder.token = env_var("STRONGROOM_TOKEN", "VAULT_TOKEN").map(Zeroizing::new);
        builder.namespace = env_var("STRONGROOM_NAMESPACE", "VAULT_NAMESPACE");
        builder.ca_file = env_var("STRONGROOM_CACERT", "VAULT_CACERT").map(PathBuf::from);
        builder.wrap_ttl = env_var("STRONGROOM_WRAP_TTL", "VAULT_WRAP_TTL");
        builder
    }

    /// Asks the server to wrap every response for `ttl` (sent as `X-Vault-Wrap-TTL`: seconds,
    /// or a duration such as `5m`); an empty `ttl` turns wrapping off.
    pub fn wrap_ttl(mut self, ttl: impl Into<String>) -> Self {
        self.wrap_ttl = Some(ttl.into()).filter(|t| !t.is_empty());
        self
    }

    /// Replaces the address.
    pub fn address(mut self, address: impl Into<String>) -> Self {
        self.address = address.into();
        self
    }

    /// The token sent as `X-Vault-Token`.
    pub fn token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(Zeroizing::new(token.into()));
        self
    }

    /// The namespace sent as `X-Vault-Namespace` (Strongroom serves the root namespace only).
    pub fn namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = Some(namespace.into());
        self
    }

    /// Trusts the CA certificates in `pem` besides the platform's roots.
    pub fn ca_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.ca_pem.push(pem.into());
        self
    }

    /// Trusts the CA certificates in the PEM file at `path` (read by [`build`](Self::build)).
    pub fn ca_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.ca_file = Some(path.into());
        self
    }

    /// The per-request timeout.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Builds the client.
    ///
    /// # Errors
    ///
    /// [`Error::Address`] for an address that is not an `http`/`https` URL,
    /// [`Error::InvalidToken`] for a token that cannot be a header, [`Error::CaCert`] for an
    /// unreadable or invalid CA file, [`Error::Tls`] if the TLS stack cannot be set up.
    pub fn build(self) -> Result<Client> {
        let address = Url::parse(self.address.trim_end_matches('/'))
            .map_err(|e| Error::Address(self.address.clone(), e.to_string()))?;
        if !matches!(address.scheme(), "http" | "https") || address.cannot_be_a_base() {
            return Err(Error::Address(
                self.address.clone(),
                "expected http://host:port or https://host:port".into(),
            ));
        }
        let token = match &self.token {
            Some(token) => Some(sensitive_header(token)?),
            None => None,
        };
        let wrap_ttl = match &self.wrap_ttl {
            Some(ttl) => Some(HeaderValue::from_str(ttl).map_err(|_| {
                Error::Address(self.address.clone(), format!("invalid wrap ttl {ttl:?}"))
            })?),
            None => None,
        };
        let namespace =
            match &self.namespace {
                Some(ns) => Some(HeaderValue::from_str(ns).map_err(|_| {
                    Error::Address(self.address.clone(), "invalid namespace".into())
                })?),
                None => None,
            };
        let mut pems = self.ca_pem;
        if let Some(path) = &self.ca_file {
            pems.push(std::fs::read(path).map_err(|source| Error::CaCert {
                path: path.clone(),
                message: source.to_string(),
            })?);
        }
        let mut http = reqwest::Client::builder()
            .redirect(same_origin_redirects())
            .timeout(self.timeout)
            .connect_timeout(self.timeout.min(Duration::from_secs(10)));
        for pem in &pems {
            let certs = reqwest::Certificate::from_pem_bundle(pem).map_err(|e| Error::CaCert {
                path: self.ca_file.clone().unwrap_or_default(),
                message: e.to_string(),
            })?;
            if certs.is_empty() {
                return Err(Error::CaCert {
                    path: self.ca_file.clone().unwrap_or_default(),
                    message: "no PEM certificate found".into(),
                });
            }
            for cert in certs {
                http = http.add_root_certificate(cert);
            }
        }
        let http = http.build().map_err(Error::Tls)?;
        Ok(Client {
            inner: Arc::new(Inner {
                http,
                address,
                token,
                namespace,
                wrap_ttl,
            }),
        })
    }
}

/// How many redirects within one origin a request follows (reqwest's default).
const MAX_REDIRECTS: usize = 10;

/// Redirects are followed only within the origin (scheme, host and port) the request went to:
/// the token header travels with a followed redirect, so a server, a proxy or anyone on the path
/// of a plain-HTTP hop must not be able to send it elsewhere or downgrade it to plain HTTP. A
/// redirect elsewhere ends the request with [`Error::Redirect`].
fn same_origin_redirects() -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(|attempt| {
        let same = attempt
            .previous()
            .last()
            .is_some_and(|from| same_origin(from, attempt.url()));
        if same && attempt.previous().len() <= MAX_REDIRECTS {
            attempt.follow()
        } else {
            attempt.stop()
        }
    })
}

fn same_origin(a: &Url, b: &Url) -> bool {
    a.scheme() == b.scheme()
        && a.host_str() == b.host_str()
        && a.port_or_known_default() == b.port_or_known_default()
}

/// `token` as an `X-Vault-Token` value that the HTTP stack will not print.
fn sensitive_header(token: &str) -> Result<HeaderValue> {
    let mut value = HeaderValue::from_str(token).map_err(|_| Error::InvalidToken)?;
    value.set_sensitive(true);
    Ok(value)
}

/// A client for one server with one token. Cheap to clone (clones share connections).
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    address: Url,
    token: Option<HeaderValue>,
    namespace: Option<HeaderValue>,
    wrap_ttl: Option<HeaderValue>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("address", &self.inner.address.as_str())
            .field("token", &self.inner.token.as_ref().map(|_| "[REDACTED]"))
            .field("wrap_ttl", &self.inner.wrap_ttl)
            .finish_non_exhaustive()
    }
}

/// A response as received: the status code and the JSON body (`Null` when empty).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct RawResponse {
    /// The HTTP status code.
    pub status: u16,
    /// The body, parsed as JSON; `Value::Null` for an empty body.
    pub body: Value,
}

/// The `LIST` method Vault uses for listings.
fn list_method() -> Method {
    // A constant, valid token: `from_bytes` cannot fail on it; GET with `?list=true` is the
    // fallback Vault also accepts.
    Method::from_bytes(b"LIST").unwrap_or(Method::GET)
}

impl Client {
    /// A client configured from the environment (see [`ClientBuilder::from_env`]).
    ///
    /// # Errors
    ///
    /// As [`ClientBuilder::build`].
    pub fn from_env() -> Result<Self> {
        ClientBuilder::from_env().build()
    }

    /// A builder for the server at `address`.
    pub fn builder(address: impl Into<String>) -> ClientBuilder {
        ClientBuilder::new(address)
    }

    /// The server's address.
    pub fn address(&self) -> &str {
        self.inner.address.as_str().trim_end_matches('/')
    }

    /// Whether a token is configured.
    pub fn has_token(&self) -> bool {
        self.inner.token.is_some()
    }

    /// The same server (sharing connections) with another token, e.g. one a login returned.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidToken`] if `token` cannot be a header value.
    pub fn with_token(&self, token: &str) -> Result<Self> {
        Ok(self.derive(Some(sensitive_header(token)?), self.inner.wrap_ttl.clone()))
    }

    /// The same server (sharing connections) with no token, as a login is sent.
    pub fn without_token(&self) -> Self {
        self.derive(None, self.inner.wrap_ttl.clone())
    }

    /// The same server and token with response wrapping off, for the requests a command makes
    /// on the side (Vault's CLI sends its `sys/internal/ui/mounts` preflight and a login's
    /// token lookup unwrapped).
    pub fn without_wrapping(&self) -> Self {
        self.derive(self.inner.token.clone(), None)
    }

    /// Whether responses are asked to be wrapped.
    pub fn wraps(&self) -> bool {
        self.inner.wrap_ttl.is_some()
    }

    fn derive(&self, token: Option<HeaderValue>, wrap_ttl: Option<HeaderValue>) -> Self {
        Self {
            inner: Arc::new(Inner {
                http: self.inner.http.clone(),
                address: self.inner.address.clone(),
                token,
                namespace: self.inner.namespace.clone(),
                wrap_ttl,
            }),
        }
    }

    /// `PUT sys/wrapping/unwrap`, as Vault's client unwraps: without `wrapping_token`, the
    /// client's own token is the wrapping token; with one, it is sent as the token when the
    /// client has none (or the same one), else in the body (`{"token": ...}`, which the
    /// client's token must be allowed to do). `None` when the wrapped response was empty.
    ///
    /// # Errors
    ///
    /// [`Error::Api`] for an invalid, used or expired wrapping token (Vault: 400 "wrapping token
    /// is not valid or does not exist"); transport and decode errors.
    pub async fn unwrap(&self, wrapping_token: Option<&str>) -> Result<Option<Secret>> {
        let wrapping_token = wrapping_token.map(str::trim).filter(|t| !t.is_empty());
        let (client, body) = match wrapping_token {
            None => (self.clone(), Value::Null),
            Some(token) => match &self.inner.token {
                None => (self.with_token(token)?, Value::Null),
                // Both tokens are the caller's own, compared here on the caller's machine.
                Some(own) if own.as_bytes() == token.as_bytes() => (self.clone(), Value::Null),
                Some(_) => (self.clone(), serde_json::json!({ "token": token })),
            },
        };
        let response = client
            .send(
                Method::PUT,
                "sys/wrapping/unwrap",
                &[],
                Some(&body),
                "application/json",
            )
            .await?;
        if response.status != 404 {
            return client.judge(Method::PUT, "sys/wrapping/unwrap", response, false);
        }
        // A 404 can be a wrapped 404 answer (with data or warnings) ...
        if let Ok(Some(secret)) = client.judge(Method::PUT, "sys/wrapping/unwrap", response, true) {
            return Ok(Some(secret));
        }
        // ... or a server without `sys/wrapping/unwrap`: Vault's client then reads the wrapped
        // answer the old way, from the wrapping token's `cubbyhole/response`.
        let holder = match wrapping_token {
            Some(token) => self.with_token(token)?,
            None => self.clone(),
        };
        let Some(stored) = holder.read("cubbyhole/response").await? else {
            return Ok(None);
        };
        let Some(Value::String(text)) = stored.data.get("response") else {
            return Err(Error::Decode {
                method: "GET".into(),
                path: "cubbyhole/response".into(),
                message: "\"response\" not found".into(),
            });
        };
        let text = Zeroizing::new(text.clone());
        let body: Value = serde_json::from_str(&text).map_err(|e| Error::Decode {
            method: "GET".into(),
            path: "cubbyhole/response".into(),
            message: e.to_string(),
        })?;
        Secret::from_value(body, &Method::GET, "cubbyhole/response").map(Some)
    }

    /// The URL of API path `path` (below `/v1/`), each segment percent-encoded.
    fn url(&self, path: &str) -> Result<Url> {
        let mut url = self.inner.address.clone();
        {
            let mut segments = url
                .path_segments_mut()
                .map_err(|()| Error::Address(self.address().into(), "not a base URL".into()))?;
            segments.pop_if_empty().push("v1");
            for segment in path.trim_matches('/').split('/') {
                segments.push(segment);
            }
        }
        Ok(url)
    }

    /// Sends any request and returns the status and body without judging them — for endpoints
    /// such as `sys/health` whose non-2xx codes carry answers.
    ///
    /// # Errors
    ///
    /// [`Error::Transport`] if the server cannot be reached or the response is cut short;
    /// [`Error::Decode`] if a 2xx body is not JSON.
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<&Value>,
    ) -> Result<RawResponse> {
        self.send(method, path, query, body, "application/json")
            .await
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<&Value>,
        content_type: &'static str,
    ) -> Result<RawResponse> {
        let path = path.trim_matches('/');
        let url = self.url(path)?;
        let mut request = self
            .inner
            .http
            .request(method.clone(), url)
            .header("X-Vault-Request", "true");
        if let Some(token) = &self.inner.token {
            request = request.header("X-Vault-Token", token.clone());
        }
        if let Some(namespace) = &self.inner.namespace {
            request = request.header("X-Vault-Namespace", namespace.clone());
        }
        match &self.inner.wrap_ttl {
            Some(ttl) => request = request.header("X-Vault-Wrap-TTL", ttl.clone()),
            // Vault's client default: `sys/wrapping/wrap` wraps for 5 minutes unless told.
            None if path == "sys/wrapping/wrap" && matches!(method, Method::PUT | Method::POST) => {
                request = request.header("X-Vault-Wrap-TTL", "5m");
            }
            None => {}
        }
        if !query.is_empty() {
            request = request.query(query);
        }
        if let Some(body) = body {
            let bytes = Zeroizing::new(serde_json::to_vec(body).map_err(|e| Error::Decode {
                method: method.to_string(),
                path: path.into(),
                message: e.to_string(),
            })?);
            request = request
                .header(CONTENT_TYPE, content_type)
                .body(bytes.to_vec());
        }
        let transport = |e: reqwest::Error| Error::Transport {
            method: method.to_string(),
            path: path.into(),
            source: e.without_url(),
        };
        let response = request.send().await.map_err(transport)?;
        let status = response.status();
        if status.is_redirection() {
            // Only a redirect the policy refused reaches here.
            let location = response
                .headers()
                .get(reqwest::header::LOCATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| response.url().join(v).ok())
                .map(|mut url| {
                    url.set_query(None);
                    url.to_string()
                })
                .unwrap_or_default();
            return Err(Error::Redirect {
                method: method.to_string(),
                path: path.into(),
                location,
            });
        }
        let bytes = response.bytes().await.map_err(transport)?;
        let body = if bytes.iter().all(u8::is_ascii_whitespace) {
            Value::Null
        } else {
            match serde_json::from_slice(&bytes) {
                Ok(body) => body,
                // An error from something in front of the server (a proxy's HTML page): keep
                // a short, printable excerpt as the error text.
                Err(_) if !status.is_success() => {
                    let text = String::from_utf8_lossy(&bytes);
                    let excerpt: String = text.trim().chars().take(200).collect();
                    serde_json::json!({ "errors": [excerpt] })
                }
                Err(e) => {
                    return Err(Error::Decode {
                        method: method.to_string(),
                        path: path.into(),
                        message: e.to_string(),
                    });
                }
            }
        };
        Ok(RawResponse {
            status: status.as_u16(),
            body,
        })
    }

    /// Sends a request and reads Vault's envelope: `None` for 204 (and, when `absent_is_none`,
    /// for a 404 without data), an [`Error::Api`] for any other failure.
    async fn envelope(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<&Value>,
        content_type: &'static str,
        absent_is_none: bool,
    ) -> Result<Option<Secret>> {
        let path = path.trim_matches('/');
        let response = self
            .send(method.clone(), path, query, body, content_type)
            .await?;
        self.judge(method, path, response, absent_is_none)
    }

    /// Reads Vault's envelope from a response (see [`envelope`](Self::envelope)).
    fn judge(
        &self,
        method: Method,
        path: &str,
        response: RawResponse,
        absent_is_none: bool,
    ) -> Result<Option<Secret>> {
        let status = StatusCode::from_u16(response.status).unwrap_or(StatusCode::BAD_GATEWAY);
        if status == StatusCode::NO_CONTENT || (status.is_success() && response.body.is_null()) {
            return Ok(None);
        }
        if status == StatusCode::NOT_FOUND && absent_is_none {
            // As Vault's client: a 404 is "nothing there" unless it carries data or warnings
            // (KV v2 answers a deleted or destroyed version with 404 and its metadata).
            let carries = |key: &str| {
                response.body.get(key).is_some_and(|v| {
                    v.as_object().is_some_and(|o| !o.is_empty())
                        || v.as_array().is_some_and(|a| !a.is_empty())
                })
            };
            if carries("data") || carries("warnings") {
                return Secret::from_value(response.body, &method, path).map(Some);
            }
            return Ok(None);
        }
        if !status.is_success() {
            return Err(Error::Api {
                method: method.to_string(),
                path: path.into(),
                status: response.status,
                errors: error_list(&response.body),
            });
        }
        Secret::from_value(response.body, &method, path).map(Some)
    }

    /// `GET /v1/<path>`: `None` if nothing is there (a 404 without data or warnings, whatever
    /// its `errors` say — Vault's client reads 404 the same way).
    ///
    /// # Errors
    ///
    /// [`Error::Api`] for an error status other than 404; transport and decode errors.
    pub async fn read(&self, path: &str) -> Result<Option<Secret>> {
        self.read_with_query(path, &[]).await
    }

    /// `GET /v1/<path>?<query>`.
    ///
    /// # Errors
    ///
    /// As [`read`](Self::read).
    pub async fn read_with_query(
        &self,
        path: &str,
        query: &[(&str, &str)],
    ) -> Result<Option<Secret>> {
        self.envelope(Method::GET, path, query, None, "application/json", true)
            .await
    }

    /// `PUT /v1/<path>` with `body`: the response, or `None` for 204.
    ///
    /// # Errors
    ///
    /// [`Error::Api`] for any error status; transport and decode errors.
    pub async fn write(&self, path: &str, body: &Value) -> Result<Option<Secret>> {
        self.envelope(
            Method::PUT,
            path,
            &[],
            Some(body),
            "application/json",
            false,
        )
        .await
    }

    /// `POST /v1/<path>` with `body` (Vault's clients POST to `sys/mounts/*`, `sys/auth/*` and
    /// `auth/token/create`; the server treats POST as PUT).
    ///
    /// # Errors
    ///
    /// As [`write`](Self::write).
    pub async fn post(&self, path: &str, body: &Value) -> Result<Option<Secret>> {
        self.envelope(
            Method::POST,
            path,
            &[],
            Some(body),
            "application/json",
            false,
        )
        .await
    }

    /// `PATCH /v1/<path>` with a JSON merge patch (`application/merge-patch+json`).
    ///
    /// # Errors
    ///
    /// As [`write`](Self::write).
    pub async fn patch(&self, path: &str, body: &Value) -> Result<Option<Secret>> {
        self.envelope(
            Method::PATCH,
            path,
            &[],
            Some(body),
            "application/merge-patch+json",
            false,
        )
        .await
    }

    /// `LIST /v1/<path>`: `None` if nothing is there.
    ///
    /// # Errors
    ///
    /// As [`read`](Self::read).
    pub async fn list(&self, path: &str) -> Result<Option<Secret>> {
        self.envelope(list_method(), path, &[], None, "application/json", true)
            .await
    }

    /// The keys a `LIST` returns (`data.keys`), empty if nothing is there.
    ///
    /// # Errors
    ///
    /// As [`list`](Self::list).
    pub async fn list_keys(&self, path: &str) -> Result<Vec<String>> {
        Ok(self
            .list(path)
            .await?
            .map(|secret| secret.string_list("keys"))
            .unwrap_or_default())
    }

    /// `DELETE /v1/<path>`: the response, or `None` for 204.
    ///
    /// # Errors
    ///
    /// [`Error::Api`] for any error status; transport and decode errors.
    pub async fn delete(&self, path: &str) -> Result<Option<Secret>> {
        self.envelope(Method::DELETE, path, &[], None, "application/json", false)
            .await
    }

    /// The `sys/` endpoints.
    pub fn sys(&self) -> Sys<'_> {
        Sys::new(self)
    }

    /// The KV version 1 engine mounted at `mount`.
    pub fn kv1(&self, mount: &str) -> Kv1<'_> {
        Kv1::new(self, mount)
    }

    /// The KV version 2 engine mounted at `mount`.
    pub fn kv2(&self, mount: &str) -> Kv2<'_> {
        Kv2::new(self, mount)
    }
}

/// The `errors` array of an error body, as strings.
fn error_list(body: &Value) -> Vec<String> {
    body.get("errors")
        .and_then(Value::as_array)
        .map(|errors| {
            errors
                .iter()
                .map(|e| match e {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_scheme_host_and_port() {
        let url = |s: &str| Url::parse(s).unwrap();
        let a = url("https://vault.example:8200/v1/a");
        assert!(same_origin(&a, &url("https://vault.example:8200/v1/b?x=1")));
        // A downgrade to plain HTTP, another port, another host: all other origins.
        assert!(!same_origin(&a, &url("http://vault.example:8200/v1/a")));
        assert!(!same_origin(&a, &url("https://vault.example:8201/v1/a")));
        assert!(!same_origin(&a, &url("https://evil.example:8200/v1/a")));
        // The default port spelled out is the same origin.
        assert!(same_origin(
            &url("https://vault.example/v1/a"),
            &url("https://vault.example:443/v1/b")
        ));
    }

    #[test]
    fn urls_encode_each_segment() {
        let client = Client::builder("http://127.0.0.1:8200/")
            .build()
            .unwrap_or_else(|e| panic!("{e}"));
        let url = client
            .url("/secret/data/a b/c?d#e%f/")
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            url.as_str(),
            "http://127.0.0.1:8200/v1/secret/data/a%20b/c%3Fd%23e%25f"
        );
        assert_eq!(client.address(), "http://127.0.0.1:8200");
    }

    #[test]
    fn bad_configuration_is_refused() {
        for address in ["127.0.0.1:8200", "ftp://x", "mailto:a@b", ""] {
            assert!(
                matches!(Client::builder(address).build(), Err(Error::Address(..))),
                "{address}"
            );
        }
        assert!(matches!(
            Client::builder("http://x").token("a\nb").build(),
            Err(Error::InvalidToken)
        ));
        assert!(matches!(
            Client::builder("http://x")
                .ca_pem(b"not pem".to_vec())
                .build(),
            Err(Error::CaCert { .. })
        ));
    }

    #[test]
    fn debug_redacts_the_token() {
        let builder = Client::builder("http://x").token("hvs.secret-token");
        assert!(!format!("{builder:?}").contains("secret-token"));
        let client = builder.build().unwrap_or_else(|e| panic!("{e}"));
        assert!(!format!("{client:?}").contains("secret-token"));
        assert!(format!("{client:?}").contains("REDACTED"));
    }
}
