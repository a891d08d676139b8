//! A request to the vault and the vault's answer, as every entry point sees them.

use std::time::Duration;

use serde_json::{Map, Value, json};
use strongroom_logical::{Connection, Operation};

use crate::ClientToken;

/// A request to the vault, as any entry point (embedded call, HTTP) makes it. `Debug` hides the
/// token and the data's values.
#[derive(Clone)]
#[non_exhaustive]
pub struct VaultRequest {
    /// The operation.
    pub operation: Operation,
    /// The full path (`secret/app/db`, `sys/mounts`, `auth/token/lookup-self`).
    pub path: String,
    /// Body fields (and query parameters for reads).
    pub data: Map<String, Value>,
    /// The client token.
    pub token: Option<ClientToken>,
    /// Where it came from.
    pub connection: Connection,
    /// Wrap the response in a single-use wrapping token with this TTL (Vault's
    /// `X-Vault-Wrap-TTL`): the answer then holds only [`VaultResponse::wrap_info`].
    pub wrap_ttl: Option<Duration>,
    /// Vault's legacy rekey and root generation paths may be reached without a token.
    pub(crate) quorum_without_token: bool,
    /// On an HA standby, may be served from the standby's read state.
    pub(crate) standby_read: bool,
}

impl std::fmt::Debug for VaultRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VaultRequest")
            .field("operation", &self.operation)
            .field("path", &self.path)
            .field("data", &strongroom_logical::Redacted(&self.data))
            .field("token", &self.token.as_ref().map(|_| "[REDACTED]"))
            .field("connection", &self.connection)
            .field("wrap_ttl", &self.wrap_ttl)
            .finish()
    }
}

impl VaultRequest {
    /// A request without data or token.
    pub fn new(operation: Operation, path: impl Into<String>) -> Self {
        Self {
            operation,
            path: path.into(),
            data: Map::new(),
            token: None,
            connection: Connection::default(),
            wrap_ttl: None,
            quorum_without_token: false,
            standby_read: false,
        }
    }

    /// Lets an HA standby serve this request itself, from the shared store, when it is one a
    /// standby may serve: a read or list of a KV mount, a transit `encrypt/<key>` or
    /// `decrypt/<key>`, or `auth/token/lookup-self`, unwrapped,
    /// while the standby follows the active node's change feed. Anything else, and anything
    /// that turns out to need a write (a token's use count, revoking an expired token), fails
    /// with [`VaultError::Standby`](crate::VaultError::Standby) having changed nothing, for the
    /// caller to send to the active node.
    #[must_use]
    pub fn allow_standby_read(mut self) -> Self {
        self.standby_read = true;
        self
    }

    /// Lets this request reach Vault's legacy quorum paths (`sys/rekey/init`, `sys/rekey/update`,
    /// `sys/rekey/verify`, `sys/generate-root/attempt`, `sys/generate-root/update`) without a
    /// token, as Vault serves them. For servers whose operator opted in (OpenBao's listener
    /// options `disable_unauthed_rekey_endpoints = false` and
    /// `disable_unauthed_generate_root_endpoints = false`); such requests are still audited.
    /// Every other path still needs a token.
    #[must_use]
    pub fn without_token_for_quorum(mut self) -> Self {
        self.quorum_without_token = true;
        self
    }

    /// Sets the token (a [`ClientToken`], or its text).
    #[must_use]
    pub fn with_token(mut self, token: impl Into<ClientToken>) -> Self {
        self.token = Some(token.into());
        self
    }

    /// Sets the data.
    #[must_use]
    pub fn with_data(mut self, data: Map<String, Value>) -> Self {
        self.data = data;
        self
    }

    /// Asks for the response to be wrapped in a single-use token living `ttl` (Vault's
    /// `X-Vault-Wrap-TTL`).
    #[must_use]
    pub fn with_wrap_ttl(mut self, ttl: Duration) -> Self {
        self.wrap_ttl = Some(ttl);
        self
    }

    /// Sets where the request came from (CIDR bounds are checked against it).
    #[must_use]
    pub fn with_connection(mut self, connection: Connection) -> Self {
        self.connection = connection;
        self
    }
}

/// The token a login or token creation produced (Vault's `auth` block).
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct AuthInfo {
    /// The new token.
    pub client_token: ClientToken,
    /// Its accessor.
    pub accessor: String,
    /// Its policies.
    pub policies: Vec<String>,
    /// Its metadata.
    pub metadata: std::collections::BTreeMap<String, String>,
    /// Its TTL in seconds (0: never expires).
    pub lease_duration: u64,
    /// Whether it can be renewed.
    pub renewable: bool,
    /// Whether it has no parent.
    pub orphan: bool,
    /// Uses left (0: unlimited).
    pub num_uses: u32,
    /// Service or batch.
    pub token_type: crate::TokenType,
}

impl std::fmt::Debug for AuthInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthInfo")
            .field("client_token", &"[REDACTED]")
            .field("policies", &self.policies)
            .field("lease_duration", &self.lease_duration)
            .finish_non_exhaustive()
    }
}

/// Whether the answer to `path` repeats its `data` at the top level of the envelope, as
/// OpenBao 2.7's older system endpoints do (mounts, auth methods, the legacy policy paths,
/// capabilities, the leader, key status, health, seal status, init, the quorum ceremonies);
/// newer ones (`policies/`,
/// `internal/`, `host-info`, `wrapping/`, `leases/`, `audit`, ...) answer in `data` only.
fn legacy_sys_shape(path: &str) -> bool {
    let Some(rest) = path.strip_prefix("sys/") else {
        return false;
    };
    let first = rest.split('/').next().unwrap_or_default();
    matches!(
        first,
        "mounts"
            | "auth"
            | "policy"
            | "capabilities"
            | "capabilities-self"
            | "capabilities-accessor"
            | "leader"
            | "ha-status"
            | "key-status"
            | "health"
            | "seal-status"
            | "init"
            | "rekey"
            | "rotate"
            | "generate-root"
            | "generate-root-token"
            | "generate-recovery-token"
    )
}

/// A wrapped response's single-use token (Vault's `wrap_info`): the answer itself waits in the
/// token's cubbyhole until `sys/wrapping/unwrap`.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct WrapInfo {
    /// The wrapping token.
    pub token: ClientToken,
    /// Its accessor.
    pub accessor: String,
    /// Its TTL in seconds.
    pub ttl: u64,
    /// When it was made (unix seconds).
    pub creation_time: u64,
    /// The path of the request whose answer it wraps.
    pub creation_path: String,
    /// The accessor of the token (or approle secret id) the wrapped answer holds, if any.
    pub wrapped_accessor: String,
}

impl std::fmt::Debug for WrapInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WrapInfo")
            .field("token", &"[REDACTED]")
            .field("ttl", &self.ttl)
            .field("creation_path", &self.creation_path)
            .finish_non_exhaustive()
    }
}

/// The vault's answer (Vault's response envelope without the transport). `Debug` shows the
/// data's keys, not its values.
#[derive(Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct VaultResponse {
    /// `data`; `None` for an empty response (HTTP 204, or 404 for a read of nothing).
    pub data: Option<Map<String, Value>>,
    /// Warnings.
    pub warnings: Vec<String>,
    /// The lease id, when the response created a lease.
    pub lease_id: String,
    /// The lease (or KV `ttl`) duration in seconds.
    pub lease_duration: u64,
    /// Whether the lease can be renewed.
    pub renewable: bool,
    /// A new token, for token creation and logins.
    pub auth: Option<AuthInfo>,
    /// The engine answered "not found" with a body (KV v2's deleted or destroyed versions): the
    /// HTTP layer sends 404 with `data`.
    pub not_found: bool,
    /// The request failed in this category, yet `data` still answers it (a transit batch whose
    /// items failed): the HTTP layer sends the category's status with the envelope.
    pub failed: Option<strongroom_logical::ErrorKind>,
    /// `data` is the whole answer: the HTTP layer sends it as the body, without the envelope
    /// (Vault's `HTTPRawBody`; the OpenAPI document of `sys/internal/specs/openapi`, an
    /// unwrapped response).
    pub raw: bool,
    /// The whole answer is this body with its content type (a CA certificate, a CRL): the HTTP
    /// layer sends it as it is, "no content" when it is empty.
    pub raw_body: Option<strongroom_logical::RawBody>,
    /// The request was accepted and its work started: HTTP 202 with the envelope.
    pub accepted: bool,
    /// The answer was wrapped: only this (and the warnings) is sent.
    pub wrap_info: Option<WrapInfo>,
    /// `sys/wrapping/rewrap`'s answer: an already wrapped answer to wrap again as it is.
    pub(crate) rewrap: Option<Rewrap>,
}

/// A wrapped answer moving to a new wrapping token (`sys/wrapping/rewrap`).
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Rewrap {
    /// The original wrapping TTL.
    pub(crate) ttl: Duration,
    /// The original request's path.
    pub(crate) creation_path: String,
    /// The wrapped envelope, as stored.
    pub(crate) response: String,
}

impl std::fmt::Debug for VaultResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VaultResponse")
            .field(
                "data",
                &self.data.as_ref().map(strongroom_logical::Redacted),
            )
            .field("warnings", &self.warnings)
            .field("lease_id", &self.lease_id)
            .field("lease_duration", &self.lease_duration)
            .field("renewable", &self.renewable)
            .field("auth", &self.auth)
            .field("not_found", &self.not_found)
            .field("failed", &self.failed)
            .field("wrap_info", &self.wrap_info)
            .finish()
    }
}

impl VaultResponse {
    pub(crate) fn data(data: Map<String, Value>) -> Self {
        Self {
            data: Some(data),
            ..Self::default()
        }
    }

    pub(crate) fn empty() -> Self {
        Self::default()
    }

    /// Whether there is anything to send (an empty answer is a 204, or a 404 for a read).
    pub fn has_body(&self) -> bool {
        // Warnings alone are a body too: Vault answers 200 with them.
        self.data.is_some()
            || self.auth.is_some()
            || !self.warnings.is_empty()
            || !self.lease_id.is_empty()
            || self.wrap_info.is_some()
    }

    /// Vault's JSON response envelope for this answer to a request at `path` (canonical, as
    /// routed), with `request_id`. Holds the new token of a login or token creation, and the
    /// wrapping token of a wrapped answer: it goes to the client that asked, and nowhere else.
    pub fn envelope(&self, path: &str, request_id: &str) -> Value {
        let auth = self.auth.as_ref().map(|auth| {
            json!({
                "client_token": auth.client_token.expose_secret(),
                "accessor": auth.accessor,
                "policies": auth.policies,
                "token_policies": auth.policies,
                "metadata": if auth.metadata.is_empty() { Value::Null } else { json!(auth.metadata) },
                "lease_duration": auth.lease_duration,
                "renewable": auth.renewable,
                "entity_id": "",
                "token_type": auth.token_type.as_str(),
                "orphan": auth.orphan,
                "mfa_requirement": null,
                "num_uses": auth.num_uses,
            })
        });
        let wrap_info = self.wrap_info.as_ref().map(|wrap| {
            let mut info = json!({
                "token": wrap.token.expose_secret(),
                "accessor": wrap.accessor,
                "ttl": wrap.ttl,
                "creation_time": crate::util::rfc3339(wrap.creation_time),
                "creation_path": wrap.creation_path,
            });
            // Vault leaves it out when the answer holds no token or secret id.
            if !wrap.wrapped_accessor.is_empty()
                && let Value::Object(fields) = &mut info
            {
                fields.insert("wrapped_accessor".into(), json!(wrap.wrapped_accessor));
            }
            info
        });
        // A wrapped answer's envelope has no request id, as Vault's.
        let request_id = if self.wrap_info.is_some() {
            ""
        } else {
            request_id
        };
        let mut out = json!({
            "request_id": request_id,
            "lease_id": self.lease_id,
            "renewable": self.renewable,
            "lease_duration": self.lease_duration,
            "data": self.data.clone().map_or(Value::Null, Value::Object),
            "wrap_info": wrap_info,
            "warnings": if self.warnings.is_empty() { Value::Null } else { json!(self.warnings) },
            "auth": auth,
        });
        // Vault's older system endpoints answer their payload at the top level too.
        if legacy_sys_shape(path)
            && let (Some(data), Value::Object(top)) = (&self.data, &mut out)
        {
            for (key, value) in data {
                top.entry(key.clone()).or_insert_with(|| value.clone());
            }
        }
        out
    }
}

impl strongroom_logical::Reply for VaultResponse {
    fn has_body(&self) -> bool {
        VaultResponse::has_body(self)
    }

    fn warn(&mut self, warning: String) {
        self.warnings.push(warning);
    }
}
