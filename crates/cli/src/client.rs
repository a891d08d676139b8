//! A small HTTP client for the server's API, configured as Vault's CLI is: `STRONGROOM_ADDR`
//! and `STRONGROOM_TOKEN`, falling back to `VAULT_ADDR` and `VAULT_TOKEN`.

use anyhow::{Context as _, Result, bail};
use serde_json::Value;
use zeroize::Zeroizing;

/// The server address and token, from `STRONGROOM_ADDR`/`STRONGROOM_TOKEN`, falling back to
/// `VAULT_ADDR`/`VAULT_TOKEN`.
pub(crate) struct Client {
    http: reqwest::Client,
    addr: String,
    token: Option<Zeroizing<String>>,
}

impl Client {
    /// Reads the address and token from the environment.
    pub(crate) fn from_env() -> Result<Self> {
        let var = |ours: &str, vaults: &str| {
            std::env::var(ours)
                .ok()
                .filter(|v| !v.is_empty())
                .or_else(|| std::env::var(vaults).ok().filter(|v| !v.is_empty()))
        };
        let addr = var("STRONGROOM_ADDR", "VAULT_ADDR")
            .unwrap_or_else(|| "http://127.0.0.1:8200".to_owned());
        let token = var("STRONGROOM_TOKEN", "VAULT_TOKEN").map(Zeroizing::new);
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(30))
            .build()
            .context("building the HTTP client")?;
        Ok(Self {
            http,
            addr: addr.trim_end_matches('/').to_owned(),
            token,
        })
    }

    /// Fails unless a token is configured.
    pub(crate) fn require_token(&self) -> Result<()> {
        if self.token.is_none() {
            bail!("no token: set STRONGROOM_TOKEN (or VAULT_TOKEN)");
        }
        Ok(())
    }

    /// The server's address.
    pub(crate) fn addr(&self) -> &str {
        &self.addr
    }

    /// `GET /v1/<path>`: the response body, or an error carrying the server's `errors`.
    pub(crate) async fn read(&self, path: &str) -> Result<Value> {
        let mut request = self
            .http
            .get(format!("{}/v1/{path}", self.addr))
            .header("X-Vault-Request", "true");
        if let Some(token) = &self.token {
            request = request.header("X-Vault-Token", token.as_str());
        }
        let response = request
            .send()
            .await
            .with_context(|| format!("reading {path} from {}", self.addr))?;
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            let errors = body
                .get("errors")
                .and_then(Value::as_array)
                .map(|e| {
                    e.iter()
                        .filter_map(Value::as_str)
                        .collect::<Vec<_>>()
                        .join("; ")
                })
                .unwrap_or_default();
            if status == reqwest::StatusCode::NOT_FOUND && errors.is_empty() {
                bail!("{path}: not found");
            }
            bail!("{path}: {status}: {errors}");
        }
        Ok(body)
    }
}
