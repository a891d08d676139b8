//! The `jwt` auth method: workloads log in with a signed JWT (Kubernetes service accounts, CI
//! systems, cloud identity), with Vault's paths and JSON.
//!
//! - `config`: `jwks_url` (keys fetched over HTTP(S), cached, refetched when a token names an
//!   unknown `kid`) or `jwt_validation_pubkeys` (PEM), `bound_issuer`, `jwt_supported_algs`
//!   (default `RS256`, as Vault), `default_role`.
//! - `role/<name>` (list `role/`): `role_type` `jwt`, `bound_audiences`, `bound_subject`,
//!   `bound_claims` (with `bound_claims_type` `string` or `glob`), `claim_mappings`,
//!   `user_claim` (required, as in Vault), `clock_skew_leeway`, `expiration_leeway`,
//!   `not_before_leeway`, and the `token_*` fields.
//! - `login` with `role` and `jwt` (unauthenticated).
//!
//! A token is accepted only when its algorithm is allowed (`none` never is) and suits the key,
//! its signature verifies, it has not expired (`exp` is required), its `nbf` and `iat` are not in
//! the future beyond the leeways, and its issuer, audiences, subject and bound claims match.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use strongroom_logical::{
    Backend, Context, Endpoint, EndpointInfo, Endpoints, Field, FieldType, Fields, LogicalError,
    Request, Response, Result, SecretText,
};
use strongroom_storage::Storage as _;

use crate::jose::{self, PublicKey};
use crate::{TokenFields, check_name, token_fields};

/// How long fetched keys are trusted before they are fetched again.
const JWKS_TTL: Duration = Duration::from_secs(3600);
/// The least time between two fetches (a stream of tokens with made-up `kid`s must not turn
/// into a stream of requests to the key server).
const JWKS_MIN_REFETCH: Duration = Duration::from_secs(1);
/// The largest JWKS document read.
const JWKS_MAX_BYTES: usize = 1024 * 1024;
/// How long a JWKS fetch may take.
const JWKS_TIMEOUT: Duration = Duration::from_secs(10);

/// What a failed login answers (the detail goes to the log... of the caller's own token).
const LOGIN_FAILED: &str = "error validating token";

/// The jwt auth method. Mount it with `sys/auth/<path>` type `jwt`.
pub struct Jwt {
    /// The fetched keys; logins read them concurrently.
    keys: tokio::sync::RwLock<KeyCache>,
    /// Held while fetching: one fetch at a time, and no lock on the keys meanwhile.
    fetching: tokio::sync::Mutex<()>,
    /// The paths, declared (routing, fields, existence checks, help).
    endpoints: Endpoints<Jwt>,
}

impl Default for Jwt {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for Jwt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Jwt").finish_non_exhaustive()
    }
}

/// The factory (no mount options).
///
/// # Errors
///
/// None; the signature is the registry's.
pub fn factory(_options: &Map<String, Value>) -> Result<Arc<dyn Backend>> {
    Ok(Arc::new(Jwt::new()))
}

/// The paths as OpenBao's jwt plugin declares them (the fields this method serves, their types,
/// defaults and help), plus the `token_*` fields of `tokenutil` on roles.
fn declarations() -> Endpoints<Jwt> {
    let text = |help: &str| Field::new(FieldType::String, help);
    let list = |help: &str| Field::new(FieldType::CommaStringSlice, help);
    let leeway = |help: &str, default: i64| {
        Field::new(FieldType::SignedDurationSecond, help).default(default)
    };
    Endpoints::new(
        JWT_HELP,
        vec![
            Endpoint::<Jwt>::new("login")
                .field("role", text("The role to log in against."))
                .field(
                    "jwt",
                    Field::new(FieldType::SecretString, "The signed JWT to validate."),
                )
                .write(|jwt, ctx, f| Box::pin(jwt.login(ctx, f)))
                .unauthenticated()
                .synopsis("Authenticates to OpenBao using a JWT (or OIDC) token.")
                .description(
                    "Authenticates JWTs. The role named must exist, or the default_role be set, \
                     and the token's claims must satisfy the role's bounds.",
                ),
            Endpoint::<Jwt>::new("config")
                .field(
                    "oidc_discovery_url",
                    text(
                        "Either the base URL of the OIDC Discovery endpoint or the full URL with \
                         \".well-known/openid-configuration\" path suffix. Cannot be used with \
                         \"jwks_url\" or \"jwt_validation_pubkeys\". (Not supported here: \
                         refused when set.)",
                    ),
                )
                .field(
                    "jwks_url",
                    text(
                        "JWKS URL to use to authenticate signatures. Cannot be used with \
                         \"oidc_discovery_url\" or \"jwt_validation_pubkeys\".",
                    ),
                )
                .field(
                    "default_role",
                    Field::new(
                        FieldType::LowerCaseString,
                        "The default role to use if none is provided during login. If not set, \
                         a role is required during login.",
                    ),
                )
                .field(
                    "jwt_validation_pubkeys",
                    list(
                        "A list of PEM-encoded public keys to use to authenticate signatures \
                         locally. Cannot be used with \"jwks_url\" or \"oidc_discovery_url\".",
                    ),
                )
                .field(
                    "jwt_supported_algs",
                    list("A list of supported signing algorithms. Defaults to RS256."),
                )
                .field(
                    "bound_issuer",
                    text("The value against which to match the 'iss' claim in a JWT. Optional."),
                )
                .read(|jwt, ctx, f| Box::pin(jwt.read_config(ctx, f)))
                .write(|jwt, ctx, f| Box::pin(jwt.write_config(ctx, f)))
                .synopsis("Configure the JWT authentication backend.")
                .description(
                    "The JWT authentication backend validates JWTs against the keys of a JWKS \
                     URL or against the PEM public keys configured here.",
                ),
            Endpoint::<Jwt>::new("role/?")
                .list(|jwt, ctx, f| Box::pin(jwt.list_roles(ctx, f)))
                .synopsis("Lists all the roles registered with the backend.")
                .description("The list will contain the names of the roles."),
            token_fields(
                Endpoint::<Jwt>::new("role/{name}")
                    .field(
                        "name",
                        Field::new(FieldType::LowerCaseString, "Name of the role."),
                    )
                    .field(
                        "role_type",
                        text("Type of the role, either 'jwt' or 'oidc'."),
                    )
                    .field(
                        "expiration_leeway",
                        leeway(
                            "Duration in seconds of leeway when validating expiration of a token \
                             to account for clock skew. Defaults to 150 (2.5 minutes) if set to 0 \
                             and can be disabled if set to -1.",
                            150,
                        ),
                    )
                    .field(
                        "not_before_leeway",
                        leeway(
                            "Duration in seconds of leeway when validating not before values of \
                             a token to account for clock skew. Defaults to 150 (2.5 minutes) if \
                             set to 0 and can be disabled if set to -1.",
                            150,
                        ),
                    )
                    .field(
                        "clock_skew_leeway",
                        leeway(
                            "Duration in seconds of leeway when validating all claims to account \
                             for clock skew. Defaults to 60 (1 minute) if set to 0 and can be \
                             disabled if set to -1.",
                            60,
                        ),
                    )
                    .field(
                        "bound_subject",
                        text("The 'sub' claim that is valid for login. Optional."),
                    )
                    .field(
                        "bound_audiences",
                        list(
                            "Comma-separated list of 'aud' claims that are valid for login; any \
                             match is sufficient",
                        ),
                    )
                    .field(
                        "bound_claims_type",
                        text(
                            "How to interpret values in the map of claims/values (which must \
                             match for login): allowed values are 'string' or 'glob'",
                        )
                        .default("string"),
                    )
                    .field(
                        "bound_claims",
                        Field::new(
                            FieldType::Map,
                            "Map of claims/values which must match for login",
                        ),
                    )
                    .field(
                        "claim_mappings",
                        Field::new(
                            FieldType::KvPairs,
                            "Mappings of claims (key) that will be copied to a metadata field \
                             (value)",
                        ),
                    )
                    .field(
                        "user_claim",
                        text("The claim to use for the Identity entity alias name"),
                    ),
            )
            .write(|jwt, ctx, f| Box::pin(jwt.write_role(ctx, f)))
            .read(|jwt, ctx, f| Box::pin(jwt.read_role(ctx, f)))
            .delete(|jwt, ctx, f| Box::pin(jwt.delete_role(ctx, f)))
            .exists(|jwt, ctx, f| Box::pin(jwt.role_exists(ctx, f)))
            .synopsis("Register an role with the backend.")
            .description(
                "A role is required to authenticate with this backend. The role binds JWT token \
                 information with token policies and settings.",
            ),
        ],
    )
}

const JWT_HELP: &str = "The JWT backend plugin allows authentication using JWTs (including OIDC \
                        ID tokens), verified against a JWKS URL or PEM public keys.";

/// The (lower-cased, checked) role name a path captured.
fn role_name(fields: &Fields<'_>) -> Result<String> {
    let name: String = fields.get("name")?;
    check_name("role", &name)?;
    Ok(name)
}

/// A list as given, without its empty items.
fn non_empty(items: Vec<String>) -> Vec<String> {
    items.into_iter().filter(|i| !i.is_empty()).collect()
}

#[derive(Default)]
struct KeyCache {
    url: String,
    keys: Vec<(Option<String>, PublicKey)>,
    /// The last successful fetch.
    fetched: Option<Instant>,
    /// The last attempt, successful or not (the refetch rate limit counts failures too).
    attempted: Option<Instant>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
struct Config {
    jwks_url: String,
    jwt_validation_pubkeys: Vec<String>,
    bound_issuer: String,
    jwt_supported_algs: Vec<String>,
    default_role: String,
}

impl Config {
    fn algs(&self) -> Vec<String> {
        if self.jwt_supported_algs.is_empty() {
            vec!["RS256".into()]
        } else {
            self.jwt_supported_algs.clone()
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Role {
    bound_audiences: Vec<String>,
    bound_subject: String,
    bound_claims: Map<String, Value>,
    bound_claims_type: String,
    claim_mappings: BTreeMap<String, String>,
    user_claim: String,
    clock_skew_leeway: i64,
    expiration_leeway: i64,
    not_before_leeway: i64,
    token: TokenFields,
}

const ALGS: &[&str] = &[
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA",
];

fn invalid(message: impl Into<String>) -> LogicalError {
    LogicalError::invalid(message)
}

/// Fetches a JWKS document, bounded in time and size.
async fn fetch_jwks(url: &str) -> Result<Vec<(Option<String>, PublicKey)>> {
    let client = reqwest::Client::builder()
        // The keys decide who logs in: a redirect may not downgrade https to plain HTTP.
        .redirect(reqwest::redirect::Policy::custom(|attempt| {
            let downgrade = attempt.url().scheme() != "https"
                && attempt.previous().iter().any(|u| u.scheme() == "https");
            if downgrade || attempt.previous().len() > 10 {
                attempt.stop()
            } else {
                attempt.follow()
            }
        }))
        .timeout(JWKS_TIMEOUT)
        .build()
        .map_err(|e| LogicalError::Internal(format!("HTTP client: {e}")))?;
    let mut response = client
        .get(url)
        .send()
        .await
        .map_err(|e| invalid(format!("fetching the JWKS: {}", e.without_url())))?;
    if !response.status().is_success() {
        return Err(invalid(format!(
            "fetching the JWKS: HTTP {}",
            response.status()
        )));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| invalid(format!("reading the JWKS: {}", e.without_url())))?
    {
        if body.len() + chunk.len() > JWKS_MAX_BYTES {
            return Err(invalid("the JWKS is larger than 1 MiB"));
        }
        body.extend_from_slice(&chunk);
    }
    let keys = jose::parse_jwks(&body).map_err(|e| invalid(e.0))?;
    if keys.is_empty() {
        return Err(invalid("the JWKS holds no usable keys"));
    }
    Ok(keys)
}

/// Vault's glob: `*` matches any run of characters.
fn glob(pattern: &str, value: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    let [first, middle @ .., last] = parts.as_slice() else {
        return pattern == value;
    };
    if parts.len() == 1 {
        return pattern == value;
    }
    let Some(mut rest) = value.strip_prefix(first) else {
        return false;
    };
    for part in middle {
        match rest.find(part) {
            Some(at) => rest = rest.get(at + part.len()..).unwrap_or_default(),
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

/// A claim by name, or by JSON pointer (`/a/b`) as Vault's `bound_claims` allow.
fn claim<'a>(claims: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    if name.starts_with('/') {
        let mut value: Option<&Value> = None;
        for (i, segment) in name.split('/').skip(1).enumerate() {
            let segment = segment.replace("~1", "/").replace("~0", "~");
            value = if i == 0 {
                claims.get(&segment)
            } else {
                value.and_then(|v| match v {
                    Value::Array(items) => segment.parse::<usize>().ok().and_then(|n| items.get(n)),
                    other => other.get(&segment),
                })
            };
        }
        value
    } else {
        claims.get(name)
    }
}

fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A numeric date claim (seconds), `None` when absent; absurd values are refused.
fn date(claims: &Map<String, Value>, name: &str) -> Result<Option<i64>> {
    match claims.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_i64()
            .or_else(|| {
                // A fractional date (the RFC allows them): whole seconds, in a sane range.
                let f = n.as_f64().filter(|f| f.is_finite() && f.abs() < 1e15)?;
                #[allow(clippy::cast_possible_truncation, reason = "bounded above, floored")]
                Some(f.floor() as i64)
            })
            .map(Some)
            .ok_or_else(|| invalid(format!("the {name} claim is out of range"))),
        Some(_) => Err(invalid(format!("the {name} claim is not a number"))),
    }
}

impl Jwt {
    /// The method, with its paths declared.
    pub fn new() -> Self {
        Self {
            keys: tokio::sync::RwLock::new(KeyCache::default()),
            fetching: tokio::sync::Mutex::new(()),
            endpoints: declarations(),
        }
    }

    /// The method's endpoints (routing, existence checks, help, OpenAPI).
    pub fn endpoint_declarations(&self) -> &Endpoints<Self> {
        &self.endpoints
    }

    /// `config` is replaced whole on each write, as in Vault.
    async fn write_config(&self, ctx: &Context, fields: Fields<'_>) -> Result<Response> {
        let config = Config {
            jwks_url: fields.get("jwks_url")?,
            jwt_validation_pubkeys: non_empty(fields.get("jwt_validation_pubkeys")?),
            bound_issuer: fields.get("bound_issuer")?,
            jwt_supported_algs: non_empty(fields.get("jwt_supported_algs")?),
            default_role: fields.get("default_role")?,
        };
        if !fields.get::<&str>("oidc_discovery_url")?.is_empty() {
            return Err(invalid(
                "oidc_discovery_url is not supported: set jwks_url or jwt_validation_pubkeys",
            ));
        }
        match (
            config.jwks_url.is_empty(),
            config.jwt_validation_pubkeys.is_empty(),
        ) {
            (true, true) => {
                return Err(invalid(
                    "exactly one of 'jwt_validation_pubkeys', 'jwks_url', 'jwks_pairs', 'oidc_discovery_url', \
                     or 'provider_config' must be set",
                ));
            }
            (false, false) => {
                return Err(invalid(
                    "exactly one of 'jwt_validation_pubkeys', 'jwks_url', 'jwks_pairs', 'oidc_discovery_url', \
                     or 'provider_config' must be set",
                ));
            }
            _ => {}
        }
        for pem in &config.jwt_validation_pubkeys {
            PublicKey::from_pem(pem).map_err(|e| {
                // Vault's words for text that holds no PEM block at all.
                if pem.contains("-----BEGIN ") {
                    invalid(format!("jwt_validation_pubkeys: {e}"))
                } else {
                    invalid("error parsing public key: data does not contain any valid public keys")
                }
            })?;
        }
        if let Some(bad) = config.algs().iter().find(|a| !ALGS.contains(&a.as_str())) {
            return Err(invalid(format!("unsupported signing algorithm {bad:?}")));
        }
        if !config.jwks_url.is_empty() {
            if !(config.jwks_url.starts_with("https://") || config.jwks_url.starts_with("http://"))
            {
                return Err(invalid("jwks_url must be an http(s) URL"));
            }
            // Fetched now, as Vault does: a wrong URL fails here, not at the first login.
            let keys = fetch_jwks(&config.jwks_url).await?;
            let now = Instant::now();
            *self.keys.write().await = KeyCache {
                url: config.jwks_url.clone(),
                keys,
                fetched: Some(now),
                attempted: Some(now),
            };
        }
        ctx.storage.put_json("config", &config).await?;
        Ok(Response::empty())
    }

    async fn read_config(&self, ctx: &Context, _fields: Fields<'_>) -> Result<Response> {
        Ok(ctx
            .storage
            .get_json::<Config>("config")
            .await?
            .map_or_else(Response::empty, Self::config_data))
    }

    async fn list_roles(&self, ctx: &Context, _fields: Fields<'_>) -> Result<Response> {
        Ok(Response::list(ctx.storage.list("role/").await?))
    }

    /// `role/<name>` exists or not (a policy's `create` and `update` tell them apart).
    async fn role_exists(&self, ctx: &Context, fields: Fields<'_>) -> Result<bool> {
        let name: &str = fields.get("name")?;
        Ok(ctx.storage.get(&format!("role/{name}")).await?.is_some())
    }

    async fn read_role(&self, ctx: &Context, fields: Fields<'_>) -> Result<Response> {
        let name = role_name(&fields)?;
        Ok(ctx
            .storage
            .get_json::<Role>(&format!("role/{name}"))
            .await?
            .map_or_else(Response::empty, Self::role_data))
    }

    async fn delete_role(&self, ctx: &Context, fields: Fields<'_>) -> Result<Response> {
        let name = role_name(&fields)?;
        ctx.storage.delete(&format!("role/{name}")).await?;
        Ok(Response::empty())
    }

    fn config_data(config: Config) -> Response {
        let mut out = Map::new();
        out.insert("jwks_url".into(), config.jwks_url.clone().into());
        out.insert(
            "jwt_validation_pubkeys".into(),
            config.jwt_validation_pubkeys.clone().into(),
        );
        out.insert("bound_issuer".into(), config.bound_issuer.clone().into());
        out.insert(
            "jwt_supported_algs".into(),
            config.jwt_supported_algs.clone().into(),
        );
        out.insert("default_role".into(), config.default_role.into());
        out.insert("oidc_discovery_url".into(), "".into());
        out.insert("jwks_ca_pem".into(), "".into());
        Response::with_data(out)
    }

    async fn write_role(&self, ctx: &Context, fields: Fields<'_>) -> Result<Response> {
        let key = format!("role/{}", role_name(&fields)?);
        let old: Option<Role> = ctx.storage.get_json(&key).await?;
        if let Some(kind) = fields.get_ok::<&str>("role_type")?
            && kind != "jwt"
        {
            return Err(invalid(if kind == "oidc" {
                format!("role_type {kind:?} is not supported: jwt only")
            } else {
                format!("invalid 'role_type': {kind}")
            }));
        }
        // Unset fields keep the role's values (or, for a new role, the declared defaults).
        let leeway = |key: &str, kept: Option<i64>| -> Result<i64> {
            match kept {
                Some(kept) if !fields.is_set(key) => Ok(kept),
                _ => fields.get(key),
            }
        };
        let bound_claims = match fields.get_ok::<&Map<String, Value>>("bound_claims")? {
            None => old
                .as_ref()
                .map(|r| r.bound_claims.clone())
                .unwrap_or_default(),
            Some(map) => {
                for (claim, value) in map {
                    let ok = match value {
                        Value::String(_) | Value::Number(_) | Value::Bool(_) => true,
                        Value::Array(items) => items.iter().all(|i| scalar_text(i).is_some()),
                        _ => false,
                    };
                    if !ok {
                        return Err(invalid(format!(
                            "bound_claims {claim:?}: a string, number, boolean or a list of them"
                        )));
                    }
                }
                map.clone()
            }
        };
        let claim_mappings = match fields.get_ok::<BTreeMap<String, String>>("claim_mappings")? {
            None => old
                .as_ref()
                .map(|r| r.claim_mappings.clone())
                .unwrap_or_default(),
            Some(mappings) => {
                let mut targets = std::collections::BTreeSet::new();
                for to in mappings.values() {
                    if to == "role" {
                        return Err(invalid("claim_mappings: metadata key \"role\" is reserved"));
                    }
                    if !targets.insert(to.as_str()) {
                        return Err(invalid(format!(
                            "claim_mappings: metadata key {to:?} is mapped twice"
                        )));
                    }
                }
                mappings
            }
        };
        let bound_claims_type = match &old {
            Some(old) if !fields.is_set("bound_claims_type") => old.bound_claims_type.clone(),
            _ => fields.get("bound_claims_type")?,
        };
        if !matches!(bound_claims_type.as_str(), "string" | "glob") {
            return Err(invalid("bound_claims_type must be string or glob"));
        }
        let role = Role {
            bound_audiences: match fields.get_ok::<Vec<String>>("bound_audiences")? {
                Some(audiences) => non_empty(audiences),
                None => old
                    .as_ref()
                    .map(|r| r.bound_audiences.clone())
                    .unwrap_or_default(),
            },
            bound_subject: fields
                .get_ok::<String>("bound_subject")?
                .or_else(|| old.as_ref().map(|r| r.bound_subject.clone()))
                .unwrap_or_default(),
            bound_claims,
            bound_claims_type,
            claim_mappings,
            user_claim: fields
                .get_ok::<String>("user_claim")?
                .or_else(|| old.as_ref().map(|r| r.user_claim.clone()))
                .unwrap_or_default(),
            clock_skew_leeway: leeway(
                "clock_skew_leeway",
                old.as_ref().map(|r| r.clock_skew_leeway),
            )?,
            expiration_leeway: leeway(
                "expiration_leeway",
                old.as_ref().map(|r| r.expiration_leeway),
            )?,
            not_before_leeway: leeway(
                "not_before_leeway",
                old.as_ref().map(|r| r.not_before_leeway),
            )?,
            token: old
                .as_ref()
                .map(|r| r.token.clone())
                .unwrap_or_default()
                .update(&fields)?,
        };
        if role.bound_audiences.is_empty()
            && role.bound_subject.is_empty()
            && role.bound_claims.is_empty()
            && role.token.bound_cidrs.is_empty()
        {
            return Err(invalid(
                "must have at least one bound constraint when creating a role",
            ));
        }
        if role.user_claim.is_empty() {
            return Err(invalid("a user claim must be defined on the role"));
        }
        ctx.storage.put_json(&key, &role).await?;
        Ok(Response::empty())
    }

    fn role_data(role: Role) -> Response {
        let mut out = Map::new();
        out.insert("role_type".into(), "jwt".into());
        out.insert("bound_audiences".into(), role.bound_audiences.into());
        out.insert("bound_subject".into(), role.bound_subject.into());
        out.insert("bound_claims".into(), Value::Object(role.bound_claims));
        out.insert("bound_claims_type".into(), role.bound_claims_type.into());
        out.insert(
            "claim_mappings".into(),
            serde_json::to_value(&role.claim_mappings).unwrap_or(Value::Null),
        );
        out.insert("user_claim".into(), role.user_claim.into());
        out.insert("clock_skew_leeway".into(), role.clock_skew_leeway.into());
        out.insert("expiration_leeway".into(), role.expiration_leeway.into());
        out.insert("not_before_leeway".into(), role.not_before_leeway.into());
        role.token.write_into(&mut out);
        Response::with_data(out)
    }

    /// The keys that may have signed `token`: the configured PEM keys, or the JWKS keys with its
    /// `kid` (refetched once when the kid is unknown or the cache is old).
    async fn keys_for(&self, config: &Config, token: &jose::Decoded) -> Result<Vec<PublicKey>> {
        if !config.jwt_validation_pubkeys.is_empty() {
            return config
                .jwt_validation_pubkeys
                .iter()
                .map(|pem| PublicKey::from_pem(pem).map_err(|e| LogicalError::Internal(e.0)))
                .collect();
        }
        let matching = |cache: &KeyCache| -> Vec<PublicKey> {
            cache
                .keys
                .iter()
                .filter(|(kid, _)| token.kid.is_none() || kid.as_deref() == token.kid.as_deref())
                .map(|(_, key)| key.clone())
                .collect()
        };
        let fresh = |cache: &KeyCache| {
            cache.url == config.jwks_url && cache.fetched.is_some_and(|at| at.elapsed() <= JWKS_TTL)
        };
        {
            let cache = self.keys.read().await;
            let found = matching(&cache);
            if fresh(&cache) && !found.is_empty() {
                return Ok(found);
            }
        }
        // One fetch at a time; whoever waited re-checks what the fetch before them brought.
        let _single = self.fetching.lock().await;
        let attempted = {
            let cache = self.keys.read().await;
            let found = matching(&cache);
            if fresh(&cache) && !found.is_empty() {
                return Ok(found);
            }
            if cache.url == config.jwks_url {
                cache.attempted
            } else {
                None
            }
        };
        // Unknown kids (or a failing key server) cause at most one fetch a second.
        if attempted.is_some_and(|at| at.elapsed() < JWKS_MIN_REFETCH) {
            return Ok(matching(&*self.keys.read().await));
        }
        {
            let mut cache = self.keys.write().await;
            if cache.url != config.jwks_url {
                *cache = KeyCache {
                    url: config.jwks_url.clone(),
                    ..KeyCache::default()
                };
            }
            cache.attempted = Some(Instant::now());
        }
        let keys = fetch_jwks(&config.jwks_url).await?;
        let mut cache = self.keys.write().await;
        cache.keys = keys;
        cache.fetched = Some(Instant::now());
        Ok(matching(&cache))
    }

    async fn login(&self, ctx: &Context, fields: Fields<'_>) -> Result<Response> {
        let config: Config = ctx
            .storage
            .get_json("config")
            .await?
            .ok_or_else(|| invalid("could not load configuration"))?;
        let role_name = fields
            .get_ok::<String>("role")?
            .filter(|r| !r.is_empty())
            .unwrap_or_else(|| config.default_role.clone())
            .to_lowercase();
        if role_name.is_empty() {
            return Err(invalid("missing role"));
        }
        check_name("role", &role_name)?;
        let role: Role = ctx
            .storage
            .get_json(&format!("role/{role_name}"))
            .await?
            .ok_or_else(|| invalid(format!("role {role_name:?} could not be found")))?;
        let jwt = fields
            .get_ok::<SecretText>("jwt")?
            .filter(|j| !j.expose().is_empty())
            .ok_or_else(|| invalid("missing token"))?;
        let token =
            jose::decode(jwt.expose()).map_err(|e| invalid(format!("{LOGIN_FAILED}: {e}")))?;
        if !config.algs().contains(&token.alg) {
            return Err(invalid(format!(
                "{LOGIN_FAILED}: the algorithm {:?} is not allowed",
                token.alg.chars().take(16).collect::<String>()
            )));
        }
        let keys = self.keys_for(&config, &token).await?;
        if !keys.iter().any(|key| key.verify(&token).is_ok()) {
            return Err(invalid(format!(
                "{LOGIN_FAILED}: failed to verify id token signature"
            )));
        }
        let claims = &token.claims;
        self.check_claims(ctx, &config, &role, claims)?;
        let user = claim(claims, &role.user_claim)
            .and_then(Value::as_str)
            .filter(|u| !u.is_empty() && u.len() <= 512)
            .map(str::to_owned)
            .ok_or_else(|| {
                invalid(format!(
                    "{LOGIN_FAILED}: claim {:?} not found in token",
                    role.user_claim
                ))
            })?;
        let mut metadata = BTreeMap::new();
        metadata.insert("role".to_owned(), role_name.clone());
        for (from, to) in &role.claim_mappings {
            if let Some(value) = claim(claims, from).and_then(scalar_text) {
                metadata.insert(to.clone(), value.chars().take(512).collect());
            }
        }
        let mut auth = role.token.login(&user, &[]);
        auth.metadata = metadata;
        auth.internal
            .insert("role".into(), role_name.clone().into());
        Ok(Response::login(auth))
    }

    /// Expiry, not-before and issued-at with the leeways; issuer, audiences, subject and the
    /// bound claims.
    fn check_claims(
        &self,
        ctx: &Context,
        config: &Config,
        role: &Role,
        claims: &Map<String, Value>,
    ) -> Result<()> {
        let fail = |why: &str| Err(invalid(format!("{LOGIN_FAILED}: {why}")));
        let now = ctx
            .now
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
        let skew = role.clock_skew_leeway.max(0);
        let exp_leeway = if role.expiration_leeway < 0 {
            0
        } else {
            role.expiration_leeway
        };
        let nbf_leeway = if role.not_before_leeway < 0 {
            0
        } else {
            role.not_before_leeway
        };
        let Some(exp) = date(claims, "exp")? else {
            return fail("the token has no expiry (exp)");
        };
        if now > exp.saturating_add(skew).saturating_add(exp_leeway) {
            return fail("token is expired");
        }
        if let Some(nbf) = date(claims, "nbf")?
            && now.saturating_add(skew).saturating_add(nbf_leeway) < nbf
        {
            return fail("token not valid yet");
        }
        if let Some(iat) = date(claims, "iat")?
            && now.saturating_add(skew).saturating_add(nbf_leeway) < iat
        {
            return fail("token issued in the future");
        }
        if !config.bound_issuer.is_empty()
            && claims.get("iss").and_then(Value::as_str) != Some(config.bound_issuer.as_str())
        {
            return fail("invalid issuer (iss) claim");
        }
        let audiences: Vec<&str> = match claims.get("aud") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::String(a)) => vec![a.as_str()],
            Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).collect(),
            Some(_) => return fail("invalid audience (aud) claim"),
        };
        if role.bound_audiences.is_empty() {
            if !audiences.is_empty() {
                return fail("audience claim found in JWT but no audiences bound to the role");
            }
        } else if !audiences
            .iter()
            .any(|a| role.bound_audiences.iter().any(|b| b == a))
        {
            return fail(
                "invalid audience (aud) claim: audience not in the role's bound_audiences",
            );
        }
        if !role.bound_subject.is_empty()
            && claims.get("sub").and_then(Value::as_str) != Some(role.bound_subject.as_str())
        {
            return fail("sub claim does not match bound subject");
        }
        for (name, expected) in &role.bound_claims {
            let allowed: Vec<&Value> = match expected {
                Value::Array(items) => items.iter().collect(),
                other => vec![other],
            };
            let actual: Vec<&Value> = match claim(claims, name) {
                Some(Value::Array(items)) => items.iter().collect(),
                Some(other) => vec![other],
                None => Vec::new(),
            };
            // Values compare with their types; globs match strings only.
            let matches = |a: &&Value| {
                allowed.iter().any(|want| match (want, a) {
                    (Value::String(w), Value::String(v)) if role.bound_claims_type == "glob" => {
                        glob(w, v)
                    }
                    (want, a) => *want == *a,
                })
            };
            if !actual.iter().any(matches) {
                return Err(invalid(format!(
                    "{LOGIN_FAILED}: claim {name:?} does not match any associated bound claim values"
                )));
            }
        }
        Ok(())
    }
}

#[async_trait]
impl Backend for Jwt {
    async fn handle(&self, ctx: &Context, request: Request) -> Result<Response> {
        self.endpoints.handle(self, ctx, request).await
    }

    /// Role names are lower-cased (as Vault does) before the policy check.
    fn canonical_path(&self, path: &str) -> Option<String> {
        strongroom_logical::fold_segment(path, "role", 1)
    }

    /// `role/<name>` exists or not (a policy's `create` and `update` tell them apart).
    async fn exists(&self, ctx: &Context, request: &Request) -> Result<Option<bool>> {
        self.endpoints.exists(self, ctx, request).await
    }

    fn is_unauthenticated(&self, path: &str) -> bool {
        self.endpoints.is_unauthenticated(path)
    }

    fn needs_sudo(&self, path: &str) -> bool {
        self.endpoints.needs_sudo(path)
    }

    fn endpoints(&self) -> &[EndpointInfo] {
        self.endpoints.infos()
    }

    /// A token renews while its role exists with the same policies.
    async fn renew_login(
        &self,
        ctx: &Context,
        internal: &Map<String, Value>,
        policies: &[String],
    ) -> Result<()> {
        crate::renew_named(ctx, internal, "role", "role", |r: &Role| &r.token, policies).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_and_pointers() {
        assert!(glob(
            "repo:org/*:ref:refs/heads/main",
            "repo:org/app:ref:refs/heads/main"
        ));
        assert!(!glob(
            "repo:org/*:ref:refs/heads/main",
            "repo:evil/app:ref:refs/heads/main"
        ));
        assert!(glob("*", ""));
        assert!(glob("a*b*c", "aXbYc"));
        assert!(!glob("a*b*c", "aXc"));
        assert!(glob("exact", "exact"));
        assert!(!glob("ab*ba", "aba"), "the parts may not overlap");
        let claims: Map<String, Value> =
            serde_json::from_str(r#"{"a": {"b/c": {"d": "x"}}, "top": 1}"#).unwrap_or_default();
        assert_eq!(claim(&claims, "/a/b~1c/d"), Some(&Value::from("x")));
        assert_eq!(claim(&claims, "top"), Some(&Value::from(1)));
        assert_eq!(claim(&claims, "/nope/x"), None);
        let groups: Map<String, Value> =
            serde_json::from_str(r#"{"groups": ["a", "b"]}"#).unwrap_or_default();
        assert_eq!(claim(&groups, "/groups/1"), Some(&Value::from("b")));
        assert_eq!(claim(&groups, "/groups/9"), None);
    }
}
