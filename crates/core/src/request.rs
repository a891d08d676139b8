//! A request to the vault and the vault's answer, as every entry point sees them.

use serde_json::{Map, Value};
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
    /// Vault's legacy rekey and root generation paths may be reached without a token.
    pub(crate) quorum_without_token: bool,
}

impl std::fmt::Debug for VaultRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VaultRequest")
            .field("operation", &self.operation)
            .field("path", &self.path)
            .field("data", &strongroom_logical::Redacted(&self.data))
            .field("token", &self.token.as_ref().map(|_| "[REDACTED]"))
            .field("connection", &self.connection)
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
            quorum_without_token: false,
        }
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
    /// (Vault's `HTTPRawBody`; the OpenAPI document of `sys/internal/specs/openapi`).
    pub raw: bool,
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
            || !self.lease_id.is_empty()
            || !self.warnings.is_empty()
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
