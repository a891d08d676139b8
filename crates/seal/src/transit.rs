//! Auto-unseal through a Vault-compatible transit engine (Vault, OpenBao, or Strongroom itself).

use std::time::Duration;

use async_trait::async_trait;
use base64ct::{Base64, Encoding};
use zeroize::Zeroize;

use crate::seal::{Seal, WrappedKey};
use crate::{Result, SealError, SecretBytes, SecretString};

/// Where the transit key lives and how to reach it.
#[non_exhaustive]
pub struct TransitConfig {
    /// The server's address, e.g. `https://vault.internal:8200`.
    pub address: String,
    /// A token allowed to `update` `<mount>/encrypt/<key>` and `<mount>/decrypt/<key>`.
    pub token: SecretString,
    /// The transit engine's mount path. Default `transit`.
    pub mount_path: String,
    /// The transit key's name.
    pub key_name: String,
    /// Extra CA certificates (PEM) to trust besides the platform's roots.
    pub ca_pem: Option<Vec<u8>>,
    /// A Vault Enterprise / OpenBao namespace, sent as `X-Vault-Namespace`.
    pub namespace: Option<String>,
    /// Per-request timeout. Default 10 s.
    pub timeout: Duration,
}

impl std::fmt::Debug for TransitConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TransitConfig")
            .field("address", &self.address)
            .field("token", &"[REDACTED]")
            .field("mount_path", &self.mount_path)
            .field("key_name", &self.key_name)
            .field("namespace", &self.namespace)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl TransitConfig {
    /// The defaults for key `key_name` at `address`, authenticated with `token`.
    pub fn new(
        address: impl Into<String>,
        token: SecretString,
        key_name: impl Into<String>,
    ) -> Self {
        Self {
            address: address.into(),
            token,
            mount_path: "transit".into(),
            key_name: key_name.into(),
            ca_pem: None,
            namespace: None,
            timeout: Duration::from_secs(10),
        }
    }

    /// Sets the mount path.
    #[must_use]
    pub fn mount_path(mut self, path: impl Into<String>) -> Self {
        self.mount_path = path.into();
        self
    }

    /// Trusts these PEM certificates too.
    #[must_use]
    pub fn ca_pem(mut self, pem: Vec<u8>) -> Self {
        self.ca_pem = Some(pem);
        self
    }

    /// Sets the namespace.
    #[must_use]
    pub fn namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = Some(namespace.into());
        self
    }

    /// Sets the per-request timeout.
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }
}

/// Auto-unseal: the root key is encrypted by a transit key on another Vault-compatible server
/// (`POST /v1/<mount>/encrypt/<key>`, `/decrypt/<key>`). The wrapped form is the server's
/// `vault:v<N>:…` ciphertext, so rotating the transit key keeps old wrappings valid.
///
/// Quorum operations (rekey, root generation) then use recovery shares, as in Vault.
pub struct TransitSeal {
    client: reqwest::Client,
    config: TransitConfig,
    encrypt_url: String,
    decrypt_url: String,
}

impl std::fmt::Debug for TransitSeal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TransitSeal")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

fn service_error(message: String) -> SealError {
    SealError::KeyService(message.into())
}

fn segment_ok(segment: &str) -> bool {
    !segment.is_empty()
        && segment.split('/').all(|part| {
            !part.is_empty() && part != "." && part != ".." && !part.contains(['?', '#'])
        })
}

impl TransitSeal {
    /// A seal for `config`. Makes no request yet.
    ///
    /// # Errors
    ///
    /// [`SealError::KeySource`] for an unusable address, mount path, key name or CA bundle.
    pub fn new(config: TransitConfig) -> Result<Self> {
        let address = config.address.trim_end_matches('/');
        if !(address.starts_with("http://") || address.starts_with("https://")) {
            return Err(SealError::KeySource(
                "the transit address must start with http:// or https://".into(),
            ));
        }
        let mount = config.mount_path.trim_matches('/');
        if !segment_ok(mount) || !segment_ok(&config.key_name) || config.key_name.contains('/') {
            return Err(SealError::KeySource(
                "invalid transit mount path or key name".into(),
            ));
        }
        let mut builder = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.timeout)
            // The request carries the token and, for encrypt, the root key: a redirect could
            // send both to any host (or in clear), so none is followed.
            .redirect(reqwest::redirect::Policy::none())
            .https_only(address.starts_with("https://"));
        if let Some(pem) = &config.ca_pem {
            for cert in reqwest::Certificate::from_pem_bundle(pem)
                .map_err(|e| SealError::KeySource(format!("CA bundle: {e}")))?
            {
                builder = builder.add_root_certificate(cert);
            }
        }
        let client = builder
            .build()
            .map_err(|e| SealError::KeySource(format!("HTTP client: {e}")))?;
        let base = format!("{address}/v1/{mount}");
        Ok(Self {
            encrypt_url: format!("{base}/encrypt/{}", config.key_name),
            decrypt_url: format!("{base}/decrypt/{}", config.key_name),
            client,
            config,
        })
    }

    /// POSTs `body` and returns the response's `data.<field>` string.
    async fn call(&self, url: &str, mut body: String, field: &str) -> Result<SecretString> {
        let mut request = self
            .client
            .post(url)
            .header("X-Vault-Token", self.config.token.expose_secret())
            .header("X-Vault-Request", "true")
            .header("Content-Type", "application/json");
        if let Some(namespace) = &self.config.namespace {
            request = request.header("X-Vault-Namespace", namespace);
        }
        let sent = request.body(body.clone()).send().await;
        body.zeroize();
        let response = sent
            .map_err(|e| service_error(format!("transit request failed: {}", e.without_url())))?;
        let status = response.status();
        if status.is_redirection() {
            return Err(service_error(format!(
                "transit answered {status}: redirects are not followed (set the address to the \
                 active node)"
            )));
        }
        let mut bytes = response
            .bytes()
            .await
            .map_err(|e| service_error(format!("transit response: {}", e.without_url())))?
            .to_vec();
        let parsed: std::result::Result<serde_json::Value, _> = serde_json::from_slice(&bytes);
        bytes.zeroize();
        let mut json = parsed.map_err(|_| {
            service_error(format!(
                "transit answered {status} with a body that is not JSON"
            ))
        })?;
        if !status.is_success() {
            // Vault's error bodies are `{"errors": [...]}`; they never hold key material.
            let errors = json
                .get("errors")
                .map(ToString::to_string)
                .unwrap_or_default();
            return Err(service_error(format!(
                "transit answered {status}: {errors}"
            )));
        }
        let value = json
            .get_mut("data")
            .and_then(|d| d.get_mut(field))
            .map(serde_json::Value::take);
        match value {
            Some(serde_json::Value::String(text)) => Ok(SecretString::new(text)),
            _ => Err(service_error(format!(
                "transit answered {status} without data.{field}"
            ))),
        }
    }
}

#[async_trait]
impl Seal for TransitSeal {
    fn kind(&self) -> &'static str {
        "transit"
    }

    fn needs_shares(&self) -> bool {
        false
    }

    async fn wrap(&self, root: &SecretBytes) -> Result<WrappedKey> {
        let mut plaintext = Base64::encode_string(root.expose_secret());
        let body = serde_json::json!({ "plaintext": plaintext }).to_string();
        plaintext.zeroize();
        let ciphertext = self.call(&self.encrypt_url, body, "ciphertext").await?;
        if !ciphertext.expose_secret().starts_with("vault:v") {
            return Err(service_error(
                "transit returned an unexpected ciphertext format".into(),
            ));
        }
        Ok(WrappedKey::from_bytes(
            ciphertext.expose_secret().as_bytes().to_vec(),
        ))
    }

    async fn unwrap(&self, wrapped: &WrappedKey) -> Result<SecretBytes> {
        let ciphertext = std::str::from_utf8(wrapped.as_bytes())
            .map_err(|_| SealError::MalformedWrappedKey("not a transit ciphertext"))?;
        if !ciphertext.starts_with("vault:v") {
            return Err(SealError::MalformedWrappedKey("not a transit ciphertext"));
        }
        let body = serde_json::json!({ "ciphertext": ciphertext }).to_string();
        let plaintext = self.call(&self.decrypt_url, body, "plaintext").await?;
        let root = Base64::decode_vec(plaintext.expose_secret())
            .map_err(|_| service_error("transit returned a plaintext that is not base64".into()))?;
        Ok(SecretBytes::new(root))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(address: &str) -> TransitConfig {
        TransitConfig::new(address, SecretString::new("s.hunter2".into()), "unseal")
    }

    #[test]
    fn refuses_bad_configuration() {
        assert!(TransitSeal::new(config("ftp://x")).is_err());
        assert!(TransitSeal::new(config("http://x").mount_path("../sys")).is_err());
        assert!(TransitSeal::new(config("http://x").mount_path("")).is_err());
        let mut bad_key = config("http://x");
        bad_key.key_name = "a/b".into();
        assert!(TransitSeal::new(bad_key).is_err());
        let seal =
            TransitSeal::new(config("http://127.0.0.1:8200/").mount_path("/auto/unseal/")).unwrap();
        assert_eq!(
            seal.encrypt_url,
            "http://127.0.0.1:8200/v1/auto/unseal/encrypt/unseal"
        );
        assert!(!format!("{seal:?}").contains("hunter2"));
    }
}
