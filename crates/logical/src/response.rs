use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Map, Value};

/// A secret the engine issued that the core must track as a lease (dynamic credentials).
/// `Debug` shows the internal data's keys, not its values.
#[derive(Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct SecretDescriptor {
    /// How long the secret lives unless renewed. Zero: the mount's default.
    pub ttl: Duration,
    /// The longest it may live, renewals included. `None`: the mount's maximum.
    pub max_ttl: Option<Duration>,
    /// Whether the lease may be renewed.
    pub renewable: bool,
    /// What the engine needs to renew or revoke the secret later (stored with the lease inside
    /// the barrier, never returned to the client).
    pub internal: Map<String, Value>,
}

/// A successful login: the core mints a token from this. `Debug` shows the internal data's
/// keys, not its values.
#[derive(Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct AuthDescriptor {
    /// Policies the token carries.
    pub policies: Vec<String>,
    /// Token TTL. Zero: the mount's default.
    pub ttl: Duration,
    /// Explicit maximum TTL. `None`: the mount's maximum.
    pub max_ttl: Option<Duration>,
    /// Periodic token period.
    pub period: Option<Duration>,
    /// Uses before the token expires (0: unlimited).
    pub num_uses: u32,
    /// Whether the token may be renewed.
    pub renewable: bool,
    /// Shown as the token's display name.
    pub display_name: String,
    /// Leave the `default` policy out.
    pub no_default_policy: bool,
    /// Addresses the token may be used from (CIDR blocks; empty: anywhere).
    pub bound_cidrs: Vec<String>,
    /// Token metadata, returned by lookups and written to the audit log (HMAC'd).
    pub metadata: BTreeMap<String, String>,
    /// What the auth method needs to renew the login later.
    pub internal: Map<String, Value>,
}

/// Response wrapping information (reserved: wrapping is not implemented yet).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct WrapInfo {
    /// The wrapping token's TTL.
    pub ttl: Duration,
}

/// What an engine answers. `Debug` shows the data's keys, not its values.
#[derive(Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct Response {
    /// The response's `data`; `None` for an empty (HTTP 204) response.
    pub data: Option<Map<String, Value>>,
    /// Warnings for the client.
    pub warnings: Vec<String>,
    /// A secret to track as a lease.
    pub secret: Option<SecretDescriptor>,
    /// A login to turn into a token.
    pub auth: Option<AuthDescriptor>,
    /// Reserved for response wrapping.
    pub wrap: Option<WrapInfo>,
    /// A lease duration to report without creating a lease (KV v1's `ttl` convention).
    pub lease_duration_hint: Option<Duration>,
    /// Answer "not found" *with* this body, as KV v2 does for a deleted or destroyed version
    /// (the body carries its metadata).
    pub not_found: bool,
    /// The request failed (in this category) yet the body still matters, as for a transit batch
    /// with failed items: the caller gets the error status *and* the data.
    pub failed: Option<crate::ErrorKind>,
    /// The whole answer is this body, sent as it is with its content type instead of Vault's
    /// JSON envelope (Vault's `HTTPRawBody`: a CA certificate as DER or PEM, a CRL). An empty
    /// body is answered "no content".
    pub raw: Option<RawBody>,
    /// The request was accepted and its work started (Vault's 202, as `tidy` answers).
    pub accepted: bool,
}

/// A body sent as it is (Vault's `HTTPRawBody` with `HTTPContentType`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RawBody {
    /// The media type (`application/pkix-cert`).
    pub content_type: String,
    /// The bytes. Only public material belongs here: audit devices record raw bodies by size.
    pub body: Vec<u8>,
}

impl RawBody {
    /// A body of `content_type`.
    pub fn new(content_type: impl Into<String>, body: Vec<u8>) -> Self {
        Self {
            content_type: content_type.into(),
            body,
        }
    }
}

impl Response {
    /// An empty response (no data).
    pub fn empty() -> Self {
        Self::default()
    }

    /// A response carrying `data`.
    pub fn with_data(data: Map<String, Value>) -> Self {
        Self {
            data: Some(data),
            ..Self::default()
        }
    }

    /// A successful login: the core mints a token from `auth`.
    pub fn login(auth: AuthDescriptor) -> Self {
        Self {
            auth: Some(auth),
            ..Self::default()
        }
    }

    /// Vault's answer to a list: `{"keys": [...]}`.
    pub fn list(keys: Vec<String>) -> Self {
        let mut data = Map::new();
        data.insert(
            "keys".into(),
            Value::Array(keys.into_iter().map(Value::String).collect()),
        );
        Self::with_data(data)
    }

    /// An answer that is `body` as it is (see [`Response::raw`]).
    pub fn raw(body: RawBody) -> Self {
        Self {
            raw: Some(body),
            ..Self::default()
        }
    }

    /// Adds a warning.
    #[must_use]
    pub fn warn(mut self, warning: impl Into<String>) -> Self {
        self.warnings.push(warning.into());
        self
    }
}

impl std::fmt::Debug for SecretDescriptor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretDescriptor")
            .field("ttl", &self.ttl)
            .field("max_ttl", &self.max_ttl)
            .field("renewable", &self.renewable)
            .field("internal", &crate::Redacted(&self.internal))
            .finish()
    }
}

impl std::fmt::Debug for AuthDescriptor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthDescriptor")
            .field("policies", &self.policies)
            .field("ttl", &self.ttl)
            .field("max_ttl", &self.max_ttl)
            .field("period", &self.period)
            .field("num_uses", &self.num_uses)
            .field("renewable", &self.renewable)
            .field("display_name", &self.display_name)
            .field("internal", &crate::Redacted(&self.internal))
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for Response {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Response")
            .field("data", &self.data.as_ref().map(crate::Redacted))
            .field("warnings", &self.warnings)
            .field("secret", &self.secret)
            .field("auth", &self.auth)
            .field("lease_duration_hint", &self.lease_duration_hint)
            .field("not_found", &self.not_found)
            .field("failed", &self.failed)
            .field(
                "raw",
                &self.raw.as_ref().map(|r| (&r.content_type, r.body.len())),
            )
            .field("accepted", &self.accepted)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_shows_keys_not_values() {
        let mut data = Map::new();
        data.insert("password".into(), "hunter2".into());
        let mut response = Response::with_data(data.clone());
        response.secret = Some(SecretDescriptor {
            internal: data.clone(),
            ..SecretDescriptor::default()
        });
        let shown = format!("{response:?}");
        assert!(
            shown.contains("password") && !shown.contains("hunter2"),
            "{shown}"
        );
        let request = crate::Request::new(crate::Operation::Update, "x").with_data(data);
        let shown = format!("{request:?}");
        assert!(
            shown.contains("password") && !shown.contains("hunter2"),
            "{shown}"
        );
    }
}
