//! [`Tokens`]: creating, looking up, renewing and revoking tokens.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;
use serde_json::{Map, Value};
use strongroom_logical::Operation;

use super::decode::from_value;
use crate::{
    AuthInfo, ClientToken, Result, TokenRequest, TokenType, Vault, VaultError, VaultResponse,
};

/// The token store, from [`Vault::tokens`]: `auth/token/...`, through the request pipeline (a
/// token creates children within its own policies unless it is root or holds `sudo`, as in
/// Vault).
///
/// ```
/// use std::time::Duration;
/// use strongroom_core::{InitRequest, TokenRequest, Vault, VaultError};
/// use strongroom_storage::MemoryStorage;
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let vault = Vault::builder(MemoryStorage::new()).build()?;
/// let init = vault.init(InitRequest::new(1, 1)).await?;
/// vault.unseal(init.keys[0].expose_secret()).await?;
/// let root = &init.root_token;
/// let request = TokenRequest::new()
///     .policies(["default"])
///     .ttl(Duration::from_secs(3600))
///     .num_uses(5);
/// let created = vault.tokens().create(root, &request).await?;
/// let info = vault.tokens().lookup(root, &created.client_token).await?;
/// assert_eq!(info.policies, ["default"]);
/// assert_eq!(info.num_uses, 5);
/// vault.tokens().revoke(root, &created.client_token).await?;
/// assert!(matches!(
///     vault.tokens().lookup_self(&created.client_token).await,
///     Err(VaultError::PermissionDenied)
/// ));
/// # Ok::<_, Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[derive(Clone, Copy, Debug)]
pub struct Tokens<'v> {
    pub(super) vault: &'v Vault,
}

/// A token as a lookup reports it: everything but the token itself.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct TokenInfo {
    /// Its accessor (not a secret: it names the token for lookup and revocation only).
    pub accessor: String,
    /// Its policies.
    pub policies: Vec<String>,
    /// Its display name.
    pub display_name: String,
    /// The path that created it (`auth/token/create`, `auth/userpass/login/alice`).
    pub path: String,
    /// Its metadata.
    pub meta: BTreeMap<String, String>,
    /// Uses left: 0 is unlimited, -1 means this lookup took the last one (the token is being
    /// revoked), as Vault reports it.
    pub num_uses: i64,
    /// Time left; zero for a token that never expires.
    pub ttl: Duration,
    /// The TTL it was created (or last renewed) with.
    pub creation_ttl: Duration,
    /// The limit renewals cannot pass; zero for none.
    pub explicit_max_ttl: Duration,
    /// For a periodic token, the period each renewal resets the TTL to.
    pub period: Option<Duration>,
    /// When it expires (RFC 3339), if it does.
    pub expire_time: Option<String>,
    /// When it was created (RFC 3339).
    pub issue_time: String,
    /// Whether it can be renewed.
    pub renewable: bool,
    /// Whether it has no parent.
    pub orphan: bool,
    /// Service or batch.
    pub token_type: TokenType,
    /// The token role it was created against (`auth/token/create/<role>`), if any.
    pub role: Option<String>,
}

/// The lookup answer's shape; the token `id` is deliberately not read.
#[derive(Deserialize)]
struct Lookup {
    accessor: String,
    #[serde(default)]
    policies: Vec<String>,
    #[serde(default)]
    display_name: String,
    #[serde(default)]
    path: String,
    #[serde(default)]
    meta: Option<BTreeMap<String, String>>,
    #[serde(default)]
    num_uses: i64,
    #[serde(default)]
    ttl: u64,
    #[serde(default)]
    creation_ttl: u64,
    #[serde(default)]
    explicit_max_ttl: u64,
    #[serde(default)]
    period: Option<u64>,
    #[serde(default)]
    expire_time: Option<String>,
    #[serde(default)]
    issue_time: String,
    #[serde(default)]
    renewable: bool,
    #[serde(default)]
    orphan: bool,
    #[serde(default, rename = "type")]
    token_type: TokenType,
    #[serde(default)]
    role: Option<String>,
}

impl From<Lookup> for TokenInfo {
    fn from(raw: Lookup) -> Self {
        Self {
            accessor: raw.accessor,
            policies: raw.policies,
            display_name: raw.display_name,
            path: raw.path,
            meta: raw.meta.unwrap_or_default(),
            num_uses: raw.num_uses,
            ttl: Duration::from_secs(raw.ttl),
            creation_ttl: Duration::from_secs(raw.creation_ttl),
            explicit_max_ttl: Duration::from_secs(raw.explicit_max_ttl),
            period: raw.period.filter(|p| *p > 0).map(Duration::from_secs),
            expire_time: raw.expire_time,
            issue_time: raw.issue_time,
            renewable: raw.renewable,
            orphan: raw.orphan,
            token_type: raw.token_type,
            role: raw.role,
        }
    }
}

/// Seconds as the duration fields take them.
fn seconds(duration: Duration) -> Value {
    Value::String(format!("{}s", duration.as_secs()))
}

impl TokenRequest {
    /// A token with the defaults: the caller's policies, the system TTL, renewable, unlimited
    /// uses, a child of the caller.
    pub fn new() -> Self {
        Self::default()
    }

    /// Its policies (a subset of the creator's unless the creator is root or holds `sudo`).
    #[must_use]
    pub fn policies<I, S>(mut self, policies: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.policies = policies.into_iter().map(Into::into).collect();
        self
    }

    /// Leaves out the `default` policy.
    #[must_use]
    pub fn no_default_policy(mut self) -> Self {
        self.no_default_policy = true;
        self
    }

    /// Its TTL.
    #[must_use]
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = Some(ttl);
        self
    }

    /// A limit its renewals cannot pass.
    #[must_use]
    pub fn explicit_max_ttl(mut self, max: Duration) -> Self {
        self.explicit_max_ttl = Some(max);
        self
    }

    /// Makes it periodic: each renewal resets its TTL to `period`.
    #[must_use]
    pub fn period(mut self, period: Duration) -> Self {
        self.period = Some(period);
        self
    }

    /// How many requests it may make (0: unlimited); it is revoked after the last.
    #[must_use]
    pub fn num_uses(mut self, uses: u32) -> Self {
        self.num_uses = uses;
        self
    }

    /// Whether it can be renewed (default true).
    #[must_use]
    pub fn renewable(mut self, renewable: bool) -> Self {
        self.renewable = Some(renewable);
        self
    }

    /// Makes it an orphan, not revoked with its creator (needs root or `sudo`).
    #[must_use]
    pub fn orphan(mut self) -> Self {
        self.no_parent = true;
        self
    }

    /// Its display name (shown prefixed with `token-`).
    #[must_use]
    pub fn display_name(mut self, name: impl Into<String>) -> Self {
        self.display_name = name.into();
        self
    }

    /// Its type: [`TokenType::Batch`] makes a batch token (not stored, not renewable, no
    /// accessor; no use limit, period or explicit maximum TTL).
    #[must_use]
    pub fn token_type(mut self, token_type: TokenType) -> Self {
        self.token_type = Some(token_type);
        self
    }

    /// Adds one metadata entry.
    #[must_use]
    pub fn meta(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.meta.insert(key.into(), value.into());
        self
    }

    /// The body of `auth/token/create`.
    fn body(&self) -> Map<String, Value> {
        let mut body = Map::new();
        body.insert("policies".into(), self.policies.clone().into());
        body.insert("no_default_policy".into(), self.no_default_policy.into());
        body.insert("num_uses".into(), self.num_uses.into());
        body.insert("no_parent".into(), self.no_parent.into());
        for (name, value) in [
            ("ttl", self.ttl),
            ("explicit_max_ttl", self.explicit_max_ttl),
            ("period", self.period),
        ] {
            if let Some(value) = value {
                body.insert(name.into(), seconds(value));
            }
        }
        if let Some(renewable) = self.renewable {
            body.insert("renewable".into(), renewable.into());
        }
        if !self.display_name.is_empty() {
            body.insert("display_name".into(), self.display_name.clone().into());
        }
        if !self.meta.is_empty() {
            let meta = self
                .meta
                .iter()
                .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                .collect();
            body.insert("meta".into(), Value::Object(meta));
        }
        if !self.bound_cidrs.is_empty() {
            body.insert("bound_cidrs".into(), self.bound_cidrs.clone().into());
        }
        if let Some(token_type) = self.token_type {
            body.insert("type".into(), token_type.as_str().into());
        }
        body
    }
}

/// The `auth` block of a token endpoint's answer.
fn auth(response: VaultResponse) -> Result<AuthInfo> {
    response
        .auth
        .ok_or_else(|| VaultError::Internal("the token store answered without a token".into()))
}

/// A body naming the token a call acts on.
fn target(token: &ClientToken) -> Map<String, Value> {
    let mut body = Map::new();
    body.insert("token".into(), token.expose_secret().into());
    body
}

/// A body naming a token by accessor.
fn by_accessor(accessor: &str) -> Map<String, Value> {
    let mut body = Map::new();
    body.insert("accessor".into(), accessor.into());
    body
}

impl Tokens<'_> {
    /// Creates a token as `token`'s child (`auth/token/create`). The answer holds the new
    /// [`ClientToken`] and its accessor.
    ///
    /// # Errors
    ///
    /// The pipeline's errors: [`VaultError::PermissionDenied`] (policies beyond the creator's,
    /// an orphan without `sudo`), [`VaultError::InvalidRequest`] for contradictory settings.
    pub async fn create(&self, token: &ClientToken, request: &TokenRequest) -> Result<AuthInfo> {
        auth(
            self.vault
                .call(
                    token,
                    Operation::Update,
                    "auth/token/create".into(),
                    request.body(),
                )
                .await?,
        )
    }

    /// Looks up `target` (`auth/token/lookup`).
    ///
    /// # Errors
    ///
    /// The pipeline's errors, as for [`create`](Self::create); [`VaultError::Denied`]
    /// (`bad token`, Vault's 403) for an unknown, expired or damaged `target`.
    pub async fn lookup(
        &self,
        token: &ClientToken,
        target_token: &ClientToken,
    ) -> Result<TokenInfo> {
        self.info(
            token,
            Operation::Update,
            "auth/token/lookup",
            target(target_token),
        )
        .await
    }

    /// Looks up `token` itself (`auth/token/lookup-self`); this spends one of its uses, like
    /// any request.
    ///
    /// # Errors
    ///
    /// [`VaultError::PermissionDenied`] for an unknown, expired or used-up token.
    pub async fn lookup_self(&self, token: &ClientToken) -> Result<TokenInfo> {
        self.info(token, Operation::Read, "auth/token/lookup-self", Map::new())
            .await
    }

    /// Looks up the token with `accessor` (`auth/token/lookup-accessor`).
    ///
    /// # Errors
    ///
    /// As [`lookup`](Self::lookup).
    pub async fn lookup_accessor(&self, token: &ClientToken, accessor: &str) -> Result<TokenInfo> {
        self.info(
            token,
            Operation::Update,
            "auth/token/lookup-accessor",
            by_accessor(accessor),
        )
        .await
    }

    /// Renews `token` itself, by `increment` or its default (`auth/token/renew-self`).
    ///
    /// # Errors
    ///
    /// [`VaultError::PermissionDenied`]; [`VaultError::InvalidRequest`] for a token that
    /// cannot be renewed.
    pub async fn renew_self(
        &self,
        token: &ClientToken,
        increment: Option<Duration>,
    ) -> Result<AuthInfo> {
        let mut body = Map::new();
        if let Some(increment) = increment {
            body.insert("increment".into(), seconds(increment));
        }
        auth(
            self.vault
                .call(
                    token,
                    Operation::Update,
                    "auth/token/renew-self".into(),
                    body,
                )
                .await?,
        )
    }

    /// Revokes `target` and its children, with their leases (`auth/token/revoke`). Revoking an
    /// unknown token succeeds.
    ///
    /// # Errors
    ///
    /// The pipeline's errors, as for [`create`](Self::create).
    pub async fn revoke(&self, token: &ClientToken, target_token: &ClientToken) -> Result<()> {
        self.vault
            .call(
                token,
                Operation::Update,
                "auth/token/revoke".into(),
                target(target_token),
            )
            .await?;
        Ok(())
    }

    /// Revokes `token` itself and its children (`auth/token/revoke-self`).
    ///
    /// # Errors
    ///
    /// [`VaultError::PermissionDenied`] for an unknown token.
    pub async fn revoke_self(&self, token: &ClientToken) -> Result<()> {
        self.vault
            .call(
                token,
                Operation::Update,
                "auth/token/revoke-self".into(),
                Map::new(),
            )
            .await?;
        Ok(())
    }

    /// Revokes the token with `accessor` and its children (`auth/token/revoke-accessor`).
    ///
    /// # Errors
    ///
    /// The pipeline's errors, as for [`create`](Self::create).
    pub async fn revoke_accessor(&self, token: &ClientToken, accessor: &str) -> Result<()> {
        self.vault
            .call(
                token,
                Operation::Update,
                "auth/token/revoke-accessor".into(),
                by_accessor(accessor),
            )
            .await?;
        Ok(())
    }

    async fn info(
        &self,
        token: &ClientToken,
        operation: Operation,
        path: &str,
        body: Map<String, Value>,
    ) -> Result<TokenInfo> {
        let data = self
            .vault
            .call(token, operation, path.to_owned(), body)
            .await?
            .data
            .ok_or_else(|| VaultError::Internal("the token lookup answered nothing".into()))?;
        let raw: Lookup = from_value(Value::Object(data), "the token lookup")?;
        Ok(raw.into())
    }
}
