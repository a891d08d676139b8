//! Vault's response envelope.

use reqwest::Method;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};
use zeroize::Zeroizing;

use crate::{Error, Result};

/// Vault's response envelope: lease fields, `data`, `warnings`, `auth`, `wrap_info`.
///
/// `Debug` lists the data's keys, never its values.
#[derive(Clone, Default, Serialize, Deserialize, PartialEq)]
#[non_exhaustive]
pub struct Secret {
    /// The server's id for the request.
    #[serde(default, deserialize_with = "null_default")]
    pub request_id: String,
    /// The lease, if the secret has one (dynamic secrets).
    #[serde(default, deserialize_with = "null_default")]
    pub lease_id: String,
    /// The lease's duration in seconds (for KV v1, the refresh interval).
    #[serde(default, deserialize_with = "null_default")]
    pub lease_duration: u64,
    /// Whether the lease can be renewed.
    #[serde(default, deserialize_with = "null_default")]
    pub renewable: bool,
    /// The payload (empty when the server sent none; serialized as `null` then, as Vault's
    /// CLI prints a response without data).
    #[serde(
        default,
        deserialize_with = "null_default",
        serialize_with = "empty_as_null"
    )]
    pub data: Map<String, Value>,
    /// Warnings from the server.
    #[serde(default)]
    pub warnings: Option<Vec<String>>,
    /// The auth block of a login or token creation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<SecretAuth>,
    /// Response-wrapping information: present instead of the response when it was wrapped
    /// (`X-Vault-Wrap-TTL`); the response itself is then behind the wrapping token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wrap_info: Option<WrapInfo>,
    /// The type of the mount that answered, when the server says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mount_type: Option<String>,
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Secret")
            .field("request_id", &self.request_id)
            .field("lease_id", &self.lease_id)
            .field("lease_duration", &self.lease_duration)
            .field("renewable", &self.renewable)
            .field("data_keys", &self.data.keys().collect::<Vec<_>>())
            .field("warnings", &self.warnings)
            .field("auth", &self.auth)
            .field("wrap_info", &self.wrap_info)
            .finish_non_exhaustive()
    }
}

/// A wrapped response's `wrap_info`, with the fields and order of Vault's client
/// (`api.SecretWrapInfo`; every field is serialized, as Vault's CLI prints it).
///
/// `Debug` redacts the wrapping token; its buffer is zeroed when dropped.
#[derive(Clone, Default, Serialize, Deserialize, PartialEq)]
#[non_exhaustive]
pub struct WrapInfo {
    /// The single-use wrapping token that unwraps the response.
    #[serde(default)]
    pub token: Zeroizing<String>,
    /// The wrapping token's accessor.
    #[serde(default, deserialize_with = "null_default")]
    pub accessor: String,
    /// The wrapping token's ttl in seconds.
    #[serde(default, deserialize_with = "null_default")]
    pub ttl: u64,
    /// When the wrapping token was made (RFC 3339, as the server sent it).
    #[serde(default, deserialize_with = "null_default")]
    pub creation_time: String,
    /// The path whose response was wrapped.
    #[serde(default, deserialize_with = "null_default")]
    pub creation_path: String,
    /// The accessor of the token inside, when the wrapped response made one (a login, a token
    /// creation); empty otherwise.
    #[serde(default, deserialize_with = "null_default")]
    pub wrapped_accessor: String,
}

impl std::fmt::Debug for WrapInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WrapInfo")
            .field("token", &"[REDACTED]")
            .field("accessor", &self.accessor)
            .field("ttl", &self.ttl)
            .field("creation_time", &self.creation_time)
            .field("creation_path", &self.creation_path)
            .field("wrapped_accessor", &self.wrapped_accessor)
            .finish()
    }
}

impl Secret {
    pub(crate) fn from_value(body: Value, method: &Method, path: &str) -> Result<Self> {
        serde_json::from_value(body).map_err(|e| Error::Decode {
            method: method.to_string(),
            path: path.into(),
            message: e.to_string(),
        })
    }

    /// `data[key]` as a list of strings (e.g. a listing's `keys`); empty if absent.
    pub fn string_list(&self, key: &str) -> Vec<String> {
        self.data
            .get(key)
            .and_then(Value::as_array)
            .map(|items| {
                items
                    .iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// The auth block of a login or token response, serialized in the order and with the fields
/// of Vault's client (`api.SecretAuth`).
///
/// `Debug` redacts the token; the token's buffer is zeroed when dropped.
#[derive(Clone, Default, Serialize, Deserialize, PartialEq)]
#[non_exhaustive]
pub struct SecretAuth {
    /// The new token.
    #[serde(default)]
    pub client_token: Zeroizing<String>,
    /// The token's accessor.
    #[serde(default, deserialize_with = "null_default")]
    pub accessor: String,
    /// All the token's policies.
    #[serde(default, deserialize_with = "null_default")]
    pub policies: Vec<String>,
    /// The policies attached to the token itself.
    #[serde(default, deserialize_with = "null_default")]
    pub token_policies: Vec<String>,
    /// The policies coming from the token's identity.
    #[serde(default)]
    pub identity_policies: Option<Vec<String>>,
    /// Metadata attached to the token.
    #[serde(default)]
    pub metadata: Option<Map<String, Value>>,
    /// Whether the token has no parent.
    #[serde(default, deserialize_with = "null_default")]
    pub orphan: bool,
    /// The token's entity, if any.
    #[serde(default, deserialize_with = "null_default")]
    pub entity_id: String,
    /// The token's ttl in seconds.
    #[serde(default, deserialize_with = "null_default")]
    pub lease_duration: u64,
    /// Whether the token can be renewed.
    #[serde(default, deserialize_with = "null_default")]
    pub renewable: bool,
    /// A multi-factor requirement, when the login needs one.
    #[serde(default)]
    pub mfa_requirement: Option<Value>,
    /// `service` or `batch` (not printed by Vault's CLI).
    #[serde(default, deserialize_with = "null_default", skip_serializing)]
    pub token_type: String,
    /// How many uses the token has, 0 for unlimited (not printed by Vault's CLI).
    #[serde(default, deserialize_with = "null_default", skip_serializing)]
    pub num_uses: u64,
}

impl std::fmt::Debug for SecretAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretAuth")
            .field("client_token", &"[REDACTED]")
            .field("accessor", &self.accessor)
            .field("policies", &self.policies)
            .field("lease_duration", &self.lease_duration)
            .field("renewable", &self.renewable)
            .finish_non_exhaustive()
    }
}

/// Vault sends `null` where a field is empty; read it as the default.
fn null_default<'de, D, T>(deserializer: D) -> std::result::Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

fn empty_as_null<S: serde::Serializer>(
    map: &Map<String, Value>,
    serializer: S,
) -> std::result::Result<S::Ok, S::Error> {
    if map.is_empty() {
        serializer.serialize_none()
    } else {
        map.serialize(serializer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_vaults_envelope_with_nulls() {
        let secret: Secret = serde_json::from_value(json!({
            "request_id": "r", "lease_id": "", "renewable": false, "lease_duration": 0,
            "data": null, "wrap_info": null, "warnings": null,
            "auth": {"client_token": "s.tok", "accessor": "acc", "policies": ["default"],
                     "token_policies": ["default"], "metadata": null, "lease_duration": 3600,
                     "renewable": true, "entity_id": "", "token_type": "service",
                     "orphan": false, "mfa_requirement": null, "num_uses": 0}
        }))
        .unwrap_or_else(|e| panic!("{e}"));
        assert!(secret.data.is_empty());
        let auth = secret.auth.as_ref().unwrap_or_else(|| panic!("no auth"));
        assert_eq!(auth.client_token.as_str(), "s.tok");
        assert_eq!(auth.lease_duration, 3600);
        let debug = format!("{secret:?}");
        assert!(!debug.contains("s.tok"), "{debug}");
    }

    /// The `wrap_info` of OpenBao 2.7.2's wrapped answer to `GET secret/data/w` (recorded):
    /// `wrapped_accessor` is absent there and serialized empty, as `bao -format=json` prints it.
    #[test]
    fn reads_and_prints_wrap_info_as_vaults_client() {
        let secret: Secret = serde_json::from_str(
            r#"{"request_id":"","lease_id":"","renewable":false,"lease_duration":0,"data":null,
            "wrap_info":{"token":"s.5DAJiycpEMX5uCfxXylYl73W","accessor":"M0MVWUojPnVOu49GuSBswIFI",
            "ttl":60,"creation_time":"2026-12-03T12:25:22.913318026Z","creation_path":"secret/data/w"},
            "warnings":null,"auth":null}"#,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let wrap = secret
            .wrap_info
            .as_ref()
            .unwrap_or_else(|| panic!("no wrap_info"));
        assert_eq!(wrap.token.as_str(), "s.5DAJiycpEMX5uCfxXylYl73W");
        assert_eq!(
            (wrap.ttl, wrap.creation_path.as_str()),
            (60, "secret/data/w")
        );
        assert!(wrap.wrapped_accessor.is_empty());
        assert!(!format!("{secret:?}").contains("s.5DAJ"));
        assert_eq!(
            serde_json::to_value(&secret).unwrap_or_else(|e| panic!("{e}"))["wrap_info"],
            json!({"token": "s.5DAJiycpEMX5uCfxXylYl73W", "accessor": "M0MVWUojPnVOu49GuSBswIFI",
                   "ttl": 60, "creation_time": "2026-12-03T12:25:22.913318026Z",
                   "creation_path": "secret/data/w", "wrapped_accessor": ""})
        );
    }

    #[test]
    fn debug_shows_keys_not_values() {
        let secret: Secret = serde_json::from_value(json!({"data": {"password": "hunter2"}}))
            .unwrap_or_else(|e| panic!("{e}"));
        let debug = format!("{secret:?}");
        assert!(
            debug.contains("password") && !debug.contains("hunter2"),
            "{debug}"
        );
    }
}
