//! The `ssh` engine in CA mode: Vault's paths over the mount's issuers and roles.
//!
//! Storage (inside the mount's view, so inside the barrier):
//!
//! - `issuers` — every CA of the mount (id, public key line, private key text) and which one
//!   is the default, in one entry, so a change to them is one write;
//! - `roles/<name>` — a role, stored as its read answer.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, UNIX_EPOCH};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use ssh_key::certificate::{Builder, CertType};
use ssh_key::public::KeyData;
use strongroom_logical::{
    Backend, Context, Endpoint, EndpointInfo, Endpoints, Field, FieldType, Fields, LogicalError,
    RawBody, Request, Response,
};
use strongroom_storage::Storage;
use zeroize::Zeroizing;

use crate::error::SshError;
use crate::keys::{self, CaSigner, RsaHash};

type Result<T, E = SshError> = std::result::Result<T, E>;
type Answer = strongroom_logical::Result<Response>;

const ISSUERS: &str = "issuers";

const HELP: &str = "The SSH backend signs SSH keys with a certificate authority (CA mode).

Configure the CA at \"config/ca\" (generated or imported), create roles at \"roles/<name>\" \
with key_type \"ca\", and sign public keys at \"sign/<role>\". sshd trusts the CA through \
\"TrustedUserCAKeys\", which the unauthenticated \"public_key\" path serves.";

/// The SSH engine. Register it with `VaultBuilder::engine("ssh", factory)`.
#[derive(Debug)]
pub struct Ssh {
    endpoints: Endpoints<Ssh>,
    /// Held by every change to the mount's issuers, so two writes never build from the same
    /// old state.
    writes: tokio::sync::Mutex<()>,
}

impl Default for Ssh {
    fn default() -> Self {
        Self::new()
    }
}

impl Ssh {
    /// The engine.
    pub fn new() -> Self {
        Self {
            endpoints: declarations(),
            writes: tokio::sync::Mutex::new(()),
        }
    }

    /// The engine's endpoints (for help, the OpenAPI document and the declarations' checks).
    pub fn endpoint_declarations(&self) -> &Endpoints<Self> {
        &self.endpoints
    }
}

/// The engine factory (no mount options).
///
/// # Errors
///
/// None today; the signature is the registry's.
pub fn factory(
    _options: &Map<String, Value>,
) -> std::result::Result<std::sync::Arc<dyn Backend>, LogicalError> {
    Ok(std::sync::Arc::new(Ssh::new()))
}

#[async_trait]
impl Backend for Ssh {
    async fn handle(&self, ctx: &Context, request: Request) -> Answer {
        self.endpoints.handle(self, ctx, request).await
    }

    async fn exists(
        &self,
        ctx: &Context,
        request: &Request,
    ) -> strongroom_logical::Result<Option<bool>> {
        self.endpoints.exists(self, ctx, request).await
    }

    fn endpoints(&self) -> &[EndpointInfo] {
        self.endpoints.infos()
    }

    fn is_unauthenticated(&self, path: &str) -> bool {
        self.endpoints.is_unauthenticated(path)
    }

    fn needs_sudo(&self, path: &str) -> bool {
        self.endpoints.needs_sudo(path)
    }
}

// ---------------------------------------------------------------------------------------------
// Stored state.

/// One CA.
#[derive(Clone, Serialize, Deserialize)]
struct Issuer {
    id: String,
    #[serde(default)]
    name: String,
    /// The OpenSSH public key line, as served by `public_key`.
    public_key: String,
    /// The private key's text (PEM, or an OpenSSH private key).
    private_key: Zeroizing<String>,
}

impl std::fmt::Debug for Issuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Issuer")
            .field("id", &self.id)
            .field("public_key", &self.public_key)
            .field("private_key", &"[REDACTED]")
            .finish_non_exhaustive()
    }
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct Issuers {
    #[serde(default)]
    issuers: Vec<Issuer>,
    #[serde(default)]
    default: Option<String>,
}

impl Issuers {
    fn default_issuer(&self) -> Result<&Issuer> {
        self.default
            .as_deref()
            .and_then(|id| self.issuers.iter().find(|i| i.id == id))
            .ok_or_else(|| SshError::invalid("no default issuer currently configured"))
    }

    fn resolve(&self, reference: &str) -> Result<&Issuer> {
        let reference = reference.trim();
        if reference.is_empty() || reference.eq_ignore_ascii_case("default") {
            return self.default_issuer();
        }
        self.issuers
            .iter()
            .find(|i| i.id == reference || (!i.name.is_empty() && i.name == reference))
            .ok_or_else(|| {
                SshError::invalid(format!("unable to find issuer for reference: {reference}"))
            })
    }
}

async fn load_json<T: for<'de> Deserialize<'de>>(ctx: &Context, key: &str) -> Result<Option<T>> {
    let Some(bytes) = ctx.storage.get(key).await? else {
        return Ok(None);
    };
    let bytes = Zeroizing::new(bytes);
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|_| SshError::Internal(format!("the stored entry {key} does not decode")))
}

fn to_json(value: &impl Serialize) -> Result<Vec<u8>> {
    serde_json::to_vec(value).map_err(|_| SshError::Internal("an entry does not encode".into()))
}

async fn load_issuers(ctx: &Context) -> Result<Issuers> {
    Ok(load_json(ctx, ISSUERS).await?.unwrap_or_default())
}

fn data(value: Value) -> Response {
    match value {
        Value::Object(map) => Response::with_data(map),
        _ => Response::empty(),
    }
}

fn uuid() -> Result<String> {
    let bytes = random::<16>()?;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    Ok(format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    ))
}

fn random<const N: usize>() -> Result<[u8; N]> {
    let mut bytes = [0u8; N];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes)
        .map_err(|_| SshError::Internal("the system's randomness failed".into()))?;
    Ok(bytes)
}

fn issuer_answer(issuer: &Issuer) -> Response {
    data(json!({
        "issuer_id": issuer.id,
        "issuer_name": issuer.name,
        "public_key": issuer.public_key,
    }))
}

// ---------------------------------------------------------------------------------------------
// Roles.

/// A CA role, as stored and read back (Vault's field names and JSON types).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[allow(
    clippy::struct_excessive_bools,
    reason = "Vault's role is a bag of flags"
)]
struct Role {
    algorithm_signer: String,
    allow_bare_domains: bool,
    allow_commas_in_identity_templates: bool,
    allow_empty_principals: bool,
    allow_host_certificates: bool,
    allow_subdomains: bool,
    allow_user_certificates: bool,
    allow_user_key_ids: bool,
    allow_wildcards_in_identity_templates: bool,
    allowed_critical_options: String,
    allowed_domains: String,
    allowed_domains_template: bool,
    allowed_extensions: String,
    allowed_user_key_lengths: BTreeMap<String, Vec<i64>>,
    allowed_users: String,
    allowed_users_template: bool,
    default_critical_options: BTreeMap<String, String>,
    default_extensions: BTreeMap<String, String>,
    default_extensions_template: bool,
    default_user: String,
    default_user_template: bool,
    issuer_ref: String,
    key_id_format: String,
    key_type: String,
    max_ttl: u64,
    not_before_duration: u64,
    ttl: u64,
}

/// A map field's values as Vault stringifies them (`%v`).
fn string_map(map: Option<&Map<String, Value>>) -> BTreeMap<String, String> {
    map.into_iter()
        .flatten()
        .map(|(k, v)| {
            let text = match v {
                Value::String(s) => s.clone(),
                Value::Null => String::new(),
                other => other.to_string(),
            };
            (k.clone(), text)
        })
        .collect()
}

/// `allowed_user_key_lengths`: each value an int, a list of ints or a comma string.
fn key_lengths(map: Option<&Map<String, Value>>) -> Result<BTreeMap<String, Vec<i64>>> {
    let bad = || {
        SshError::invalid(
            "error processing allowed_user_key_lengths: could not parse value from input",
        )
    };
    let mut out = BTreeMap::new();
    for (name, value) in map.into_iter().flatten() {
        let lengths = match value {
            Value::Number(n) => vec![n.as_i64().ok_or_else(bad)?],
            Value::Array(items) => items
                .iter()
                .map(|item| match item {
                    Value::Number(n) => n.as_i64().ok_or_else(bad),
                    Value::String(s) => s.trim().parse().map_err(|_| bad()),
                    _ => Err(bad()),
                })
                .collect::<Result<_>>()?,
            Value::String(s) if s.trim().is_empty() => Vec::new(),
            Value::String(s) => s
                .split(',')
                .map(|part| part.trim().parse().map_err(|_| bad()))
                .collect::<Result<_>>()?,
            _ => return Err(bad()),
        };
        out.insert(name.clone(), lengths);
    }
    Ok(out)
}

fn list(text: &str) -> BTreeSet<String> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

impl Ssh {
    async fn write_role(&self, ctx: &Context, fields: Fields<'_>) -> Answer {
        let name: String = fields.get("role")?;
        let key_type = fields.get::<String>("key_type")?.to_lowercase();
        match key_type.as_str() {
            "" => return Err(SshError::invalid("missing key type").into()),
            "ca" => {}
            "otp" => {
                return Err(SshError::invalid(
                    "key type otp is not offered by this server: use key_type ca (signed \
                     certificates)",
                )
                .into());
            }
            "dynamic" => {
                return Err(
                    SshError::invalid("dynamic key type roles are no longer supported").into(),
                );
            }
            _ => return Err(SshError::invalid("invalid key type").into()),
        }
        let algorithm_signer = match fields.get_ok::<String>("algorithm_signer")?.as_deref() {
            None | Some("" | "default") => "default".to_owned(),
            Some(s @ ("rsa-sha2-256" | "rsa-sha2-512")) => s.to_owned(),
            Some("ssh-rsa") => {
                return Err(SshError::invalid(
                    "algorithm_signer ssh-rsa (SHA-1) is not offered: use rsa-sha2-256 or \
                     rsa-sha2-512",
                )
                .into());
            }
            Some(other) => {
                return Err(
                    SshError::Internal(format!("unknown algorithm signer {other:?}")).into(),
                );
            }
        };
        let role = Role {
            algorithm_signer,
            allow_bare_domains: fields.get("allow_bare_domains")?,
            allow_commas_in_identity_templates: fields.get("allow_commas_in_identity_templates")?,
            allow_empty_principals: fields.get("allow_empty_principals")?,
            allow_host_certificates: fields.get("allow_host_certificates")?,
            allow_subdomains: fields.get("allow_subdomains")?,
            allow_user_certificates: fields.get("allow_user_certificates")?,
            allow_user_key_ids: fields.get("allow_user_key_ids")?,
            allow_wildcards_in_identity_templates: fields
                .get("allow_wildcards_in_identity_templates")?,
            allowed_critical_options: fields.get("allowed_critical_options")?,
            allowed_domains: fields.get("allowed_domains")?,
            allowed_domains_template: fields.get("allowed_domains_template")?,
            allowed_extensions: fields.get("allowed_extensions")?,
            allowed_user_key_lengths: key_lengths(fields.get_ok("allowed_user_key_lengths")?)?,
            allowed_users: fields.get("allowed_users")?,
            allowed_users_template: fields.get("allowed_users_template")?,
            default_critical_options: string_map(fields.get_ok("default_critical_options")?),
            default_extensions: string_map(fields.get_ok("default_extensions")?),
            default_extensions_template: fields.get("default_extensions_template")?,
            default_user: fields.get("default_user")?,
            default_user_template: fields.get("default_user_template")?,
            issuer_ref: {
                let r: String = fields.get("issuer_ref")?;
                if r.is_empty() { "default".into() } else { r }
            },
            key_id_format: fields.get("key_id_format")?,
            key_type,
            max_ttl: fields.get::<Duration>("max_ttl")?.as_secs(),
            not_before_duration: fields.get::<Duration>("not_before_duration")?.as_secs(),
            ttl: fields.get::<Duration>("ttl")?.as_secs(),
        };
        if !role.allow_user_certificates && !role.allow_host_certificates {
            return Err(SshError::invalid(
                "Either 'allow_user_certificates' or 'allow_host_certificates' must be set to 'true'",
            )
            .into());
        }
        if role.ttl != 0 && role.max_ttl != 0 && role.ttl > role.max_ttl {
            return Err(SshError::invalid(
                "\"ttl\" value must be less than \"max_ttl\" when both are specified",
            )
            .into());
        }
        if role.allowed_users_template
            || role.allowed_domains_template
            || role.default_user_template
            || role.default_extensions_template
        {
            return Err(
                SshError::invalid("identity templates are not offered by this server yet").into(),
            );
        }
        ctx.storage
            .put(&format!("roles/{name}"), to_json(&role)?)
            .await?;
        Ok(Response::empty())
    }

    async fn read_role(&self, ctx: &Context, fields: Fields<'_>) -> Answer {
        let name: String = fields.get("role")?;
        Ok(
            match load_json::<Role>(ctx, &format!("roles/{name}")).await? {
                Some(role) => data(serde_json::to_value(role).unwrap_or_default()),
                None => Response::empty(),
            },
        )
    }

    async fn delete_role(&self, ctx: &Context, fields: Fields<'_>) -> Answer {
        let name: String = fields.get("role")?;
        ctx.storage.delete(&format!("roles/{name}")).await?;
        Ok(Response::empty())
    }

    async fn role_exists(
        &self,
        ctx: &Context,
        fields: Fields<'_>,
    ) -> strongroom_logical::Result<bool> {
        let name: String = fields.get("role")?;
        Ok(ctx.storage.get(&format!("roles/{name}")).await?.is_some())
    }

    async fn list_roles(&self, ctx: &Context, _fields: Fields<'_>) -> Answer {
        let names = ctx.storage.list("roles/").await?;
        if names.is_empty() {
            return Ok(Response::empty());
        }
        let mut info = Map::new();
        for name in &names {
            if let Some(role) = load_json::<Role>(ctx, &format!("roles/{name}")).await? {
                info.insert(
                    name.clone(),
                    json!({"issuer_ref": role.issuer_ref, "key_type": role.key_type}),
                );
            }
        }
        Ok(data(json!({"keys": names, "key_info": info})))
    }

    // -----------------------------------------------------------------------------------------
    // CA.

    async fn write_ca(&self, ctx: &Context, fields: Fields<'_>) -> Answer {
        let _writes = self.writes.lock().await;
        let public: String = fields.get("public_key")?;
        let private: Zeroizing<String> = Zeroizing::new(
            fields
                .get::<strongroom_logical::SecretText>("private_key")?
                .expose()
                .to_owned(),
        );
        let generate = fields.get_ok::<bool>("generate_signing_key")?;
        let flag_sent = fields.is_set("generate_signing_key");
        let (public_line, private_text) = match (public.is_empty(), private.is_empty()) {
            (false, _) | (_, false) if flag_sent && generate == Some(true) => {
                return Err(SshError::invalid(
                    "public_key and private_key must not be set when generate_signing_key is set to true",
                )
                .into());
            }
            (false, false) => {
                let given = parse_public(&public).map_err(|detail| {
                    SshError::invalid(format!(
                        "could not parse public_key provided value: {detail}"
                    ))
                })?;
                let key = keys::parse_private(&private)?;
                // What `public_key` serves must be the key that signs (OpenBao stores the text
                // unchecked; a mismatch would make hosts trust a key that signs nothing, or
                // several lines of keys).
                if given != keys::key_data(&key)? || public.trim().lines().count() != 1 {
                    return Err(SshError::invalid(
                        "the public_key is not the public half of the private_key",
                    )
                    .into());
                }
                (format!("{}\n", public.trim()), private)
            }
            (true, true) if flag_sent && generate == Some(false) => {
                return Err(SshError::invalid("missing public_key").into());
            }
            (true, true) => {
                let key_type: String = fields.get("key_type")?;
                let key = keys::generate(&key_type, fields.get("key_bits")?).await?;
                (keys::public_line(&key)?, keys::private_text(&key)?)
            }
            _ => {
                return Err(SshError::invalid(
                    "only one of public_key and private_key set; both must be set to use, or \
                     both must be blank to auto-generate",
                )
                .into());
            }
        };
        let mut state = load_issuers(ctx).await?;
        let same = |a: &str, b: &str| {
            let blob = |s: &str| s.split_whitespace().nth(1).map(str::to_owned);
            blob(a).is_some() && blob(a) == blob(b)
        };
        if let Some(existing) = state
            .issuers
            .iter()
            .find(|i| same(&i.public_key, &public_line))
            .cloned()
        {
            return Ok(issuer_answer(&existing).warn(
                "An issuer with the provided public key already exists, returning the existing issuer",
            ));
        }
        let issuer = Issuer {
            id: uuid()?,
            name: String::new(),
            public_key: public_line,
            private_key: private_text,
        };
        state.default = Some(issuer.id.clone());
        state.issuers.push(issuer.clone());
        ctx.storage.put(ISSUERS, to_json(&state)?).await?;
        Ok(issuer_answer(&issuer))
    }

    async fn read_ca(&self, ctx: &Context, _fields: Fields<'_>) -> Answer {
        let state = load_issuers(ctx).await?;
        Ok(issuer_answer(state.default_issuer()?))
    }

    async fn delete_ca(&self, ctx: &Context, _fields: Fields<'_>) -> Answer {
        let _writes = self.writes.lock().await;
        let state = load_issuers(ctx).await?;
        if state.issuers.is_empty() {
            return Ok(Response::empty());
        }
        ctx.storage.delete(ISSUERS).await?;
        Ok(Response::empty().warn(format!(
            "Deleted {} issuers, including default issuer if configured.",
            state.issuers.len()
        )))
    }

    async fn public_key(&self, ctx: &Context, _fields: Fields<'_>) -> Answer {
        let state = load_issuers(ctx).await?;
        let issuer = state.default_issuer()?;
        Ok(Response::raw(RawBody::new(
            "text/plain",
            issuer.public_key.clone().into_bytes(),
        )))
    }

    async fn list_issuers(&self, ctx: &Context, _fields: Fields<'_>) -> Answer {
        let state = load_issuers(ctx).await?;
        if state.issuers.is_empty() {
            return Ok(Response::empty());
        }
        let mut info = Map::new();
        for issuer in &state.issuers {
            info.insert(
                issuer.id.clone(),
                json!({
                    "is_default": state.default.as_deref() == Some(issuer.id.as_str()),
                    "issuer_name": issuer.name,
                    "public_key": issuer.public_key,
                }),
            );
        }
        let keys: Vec<&str> = state.issuers.iter().map(|i| i.id.as_str()).collect();
        Ok(data(json!({"keys": keys, "key_info": info})))
    }

    async fn read_config_issuers(&self, ctx: &Context, _fields: Fields<'_>) -> Answer {
        let state = load_issuers(ctx).await?;
        Ok(data(json!({"default": state.default.unwrap_or_default()})))
    }

    // -----------------------------------------------------------------------------------------
    // Signing.

    async fn sign(&self, ctx: &Context, fields: Fields<'_>) -> Answer {
        let name: String = fields.get("role")?;
        let role = load_json::<Role>(ctx, &format!("roles/{name}"))
            .await?
            .ok_or_else(|| SshError::invalid(format!("Unknown role: {name}")))?;
        let public: String = fields.get("public_key")?;
        if public.is_empty() {
            return Err(SshError::invalid("missing public_key").into());
        }
        let key = parse_public(&public).map_err(|detail| {
            SshError::invalid(format!("failed to parse public_key as SSH key: {detail}"))
        })?;
        check_key_lengths(&role, &key)?;
        let certificate = certify(ctx, &fields, &name, &role, &key).await?;
        Ok(data(certificate))
    }

    async fn issue(&self, ctx: &Context, fields: Fields<'_>) -> Answer {
        let name: String = fields.get("role")?;
        let role = load_json::<Role>(ctx, &format!("roles/{name}"))
            .await?
            .ok_or_else(|| SshError::invalid(format!("unknown role: {name}")))?;
        if role.key_type != "ca" {
            return Err(SshError::invalid(format!(
                "role key type '{}' not allowed to issue key pairs",
                role.key_type
            ))
            .into());
        }
        let key_type: String = fields.get("key_type")?;
        let key_bits: i64 = fields.get("key_bits")?;
        if !role.allowed_user_key_lengths.is_empty() {
            let candidates: &[&str] = match key_type.as_str() {
                "rsa" => &["rsa", "ssh-rsa"],
                "ed25519" => &["ed25519", "ssh-ed25519"],
                "ecdsa" => &["ecdsa", "ec"],
                _ => &[],
            };
            let lengths: Vec<&Vec<i64>> = candidates
                .iter()
                .filter_map(|c| role.allowed_user_key_lengths.get(*c))
                .collect();
            if lengths.is_empty() {
                return Err(SshError::invalid(
                    "provided key_type value not in allowed_user_key_types",
                )
                .into());
            }
            if !lengths.iter().any(|l| l.contains(&key_bits)) {
                return Err(SshError::invalid(
                    "provided key_bits value not in list of role's allowed_user_key_types",
                )
                .into());
            }
        }
        let pair = keys::generate(&key_type, key_bits)
            .await
            .map_err(|err| match err {
                SshError::Internal(message) => SshError::Invalid(message),
                other => other,
            })?;
        let public = keys::key_data(&pair)?;
        let mut certificate = certify(ctx, &fields, &name, &role, &public).await?;
        let private = keys::private_text(&pair)?;
        if let Value::Object(map) = &mut certificate {
            map.insert("private_key".into(), json!(private.as_str()));
            map.insert("private_key_type".into(), json!(key_type));
        }
        Ok(data(certificate))
    }

    async fn verify(&self, _ctx: &Context, fields: Fields<'_>) -> Answer {
        let otp: String = fields.get("otp")?;
        if otp == "verify-echo-request" {
            return Ok(data(json!({"message": "verify-echo-response"})));
        }
        Err(SshError::invalid("OTP not found").into())
    }
}

/// A client's public key: `<type> <base64> [comment]`, or the bare base64 blob.
fn parse_public(text: &str) -> std::result::Result<KeyData, String> {
    let text = text.trim();
    let blob = if text.contains(' ') {
        text.split_whitespace().nth(1).unwrap_or_default()
    } else {
        text
    };
    let bytes = base64_decode(blob)?;
    let key = ssh_key::PublicKey::from_bytes(&bytes)
        .map(|key| key.key_data().clone())
        .map_err(|err| format!("ssh: {err}"))?;
    if matches!(key, KeyData::Other(_)) {
        return Err("ssh: unknown key algorithm".into());
    }
    Ok(key)
}

/// [`parse_public`] for the fuzz targets.
pub(crate) fn parse_public_for_fuzzing(text: &str) -> std::result::Result<(), String> {
    parse_public(text).map(drop)
}

/// Standard base64 as Go's decoder reads it (its error names the first bad byte).
fn base64_decode(text: &str) -> std::result::Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(text.len() / 4 * 3);
    let mut buffer = 0u32;
    let mut bits = 0;
    let body = text.trim_end_matches('=');
    for (index, c) in body.bytes().enumerate() {
        let value = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return Err(format!("illegal base64 data at input byte {index}")),
        };
        buffer = (buffer << 6) | u32::from(value);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push(u8::try_from((buffer >> bits) & 0xff).unwrap_or(0));
        }
    }
    // Go's padded decoder: a last quantum short of four characters is refused where it starts.
    if !text.len().is_multiple_of(4) {
        return Err(format!(
            "illegal base64 data at input byte {}",
            body.len() - body.len() % 4
        ));
    }
    Ok(out)
}

fn check_key_lengths(role: &Role, key: &KeyData) -> Result<()> {
    if role.allowed_user_key_lengths.is_empty() {
        return Ok(());
    }
    let fail = |reason: String| {
        SshError::invalid(format!(
            "public_key failed to meet the key requirements: {reason}"
        ))
    };
    let (class, bits) = keys::key_class(key);
    let named = format!("ecdsa-sha2-nistp{bits}");
    let candidates: Vec<&str> = match class {
        "rsa" => vec!["rsa", "ssh-rsa"],
        "dsa" => vec!["dsa", "ssh-dss"],
        "ecdsa" => vec!["ecdsa", "ec", named.as_str()],
        "ed25519" => vec!["ed25519", "ssh-ed25519"],
        _ => vec![],
    };
    let mut present = false;
    for candidate in &candidates {
        let Some(lengths) = role.allowed_user_key_lengths.get(*candidate) else {
            continue;
        };
        present = true;
        let passes = match *candidate {
            "rsa" | "ssh-rsa" | "dsa" | "ssh-dss" | "ecdsa" | "ec" => {
                lengths.contains(&i64::from(bits))
            }
            _ => !lengths.is_empty(),
        };
        if passes {
            return Ok(());
        }
    }
    if present {
        Err(fail(format!("key is of an invalid size: {bits}")))
    } else {
        Err(fail(format!("key of type {class} is not allowed")))
    }
}

/// Lower-case hex of SHA-256 over the key's wire encoding (`{{public_key_hash}}`).
fn key_hash(key: &KeyData) -> String {
    let blob = ssh_key::PublicKey::new(key.clone(), "")
        .to_bytes()
        .unwrap_or_default();
    ring::digest::digest(&ring::digest::SHA256, &blob)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The checks of `sign` and `issue` after the key (Vault's order), and the certificate.
async fn certify(
    ctx: &Context,
    fields: &Fields<'_>,
    role_name: &str,
    role: &Role,
    key: &KeyData,
) -> Result<Value> {
    let display_name = fields
        .request()
        .client
        .as_ref()
        .map(|c| c.display_name.clone())
        .unwrap_or_default();
    // Key id.
    let requested_id: String = fields.get("key_id").map_err(logical)?;
    let key_id = if !requested_id.is_empty() {
        if !role.allow_user_key_ids {
            return Err(SshError::invalid("setting key_id is not allowed by role"));
        }
        requested_id
    } else {
        let format = if !role.key_id_format.is_empty() {
            role.key_id_format.clone()
        } else if display_name.is_empty() {
            "vault-{{public_key_hash}}".to_owned()
        } else {
            "vault-{{token_display_name}}-{{public_key_hash}}".to_owned()
        };
        format
            .replace("{{token_display_name}}", &display_name)
            .replace("{{role_name}}", role_name)
            .replace("{{public_key_hash}}", &key_hash(key))
    };
    // Certificate type.
    let cert_type: String = fields.get("cert_type").map_err(logical)?;
    let cert_type = match cert_type.as_str() {
        "user" if role.allow_user_certificates => CertType::User,
        "host" if role.allow_host_certificates => CertType::Host,
        "user" | "host" => {
            return Err(SshError::invalid(format!(
                "cert_type '{cert_type}' is not allowed by role"
            )));
        }
        _ => {
            return Err(SshError::invalid(
                "cert_type must be either 'user' or 'host'",
            ));
        }
    };
    // Principals.
    let requested = if fields.is_set("valid_principals") {
        fields.get::<String>("valid_principals").map_err(logical)?
    } else if cert_type == CertType::User {
        role.default_user.clone()
    } else {
        String::new()
    };
    let principals = list(&requested);
    let allowed_text = if cert_type == CertType::User {
        &role.allowed_users
    } else {
        &role.allowed_domains
    };
    let allowed = list(allowed_text);
    if principals.is_empty() {
        if !role.allow_empty_principals && allowed_text.trim() != "*" {
            return Err(SshError::invalid(
                "refusing to issue unsafe, globally-valid certificate with no principals \
                 specified; set valid_principals or default_user",
            ));
        }
    } else if allowed.is_empty() {
        return Err(SshError::invalid(
            "role is not configured to allow any principals",
        ));
    } else if allowed_text.trim() != "*" {
        for principal in &principals {
            let ok = if cert_type == CertType::User {
                allowed.contains(principal)
            } else {
                allowed.iter().any(|domain| {
                    (principal == domain && role.allow_bare_domains)
                        || (role.allow_subdomains && principal.ends_with(&format!(".{domain}")))
                })
            };
            if !ok {
                return Err(SshError::invalid(format!(
                    "{principal} is not a valid value for valid_principals"
                )));
            }
        }
    }
    // TTL.
    let max = if role.max_ttl == 0 {
        ctx.max_lease_ttl
    } else {
        Duration::from_secs(role.max_ttl)
    };
    let ttl = match fields.get_ok::<Duration>("ttl").map_err(logical)? {
        Some(ttl) if fields.is_set("ttl") => {
            let ttl = if ttl.is_zero() {
                ctx.default_lease_ttl
            } else {
                ttl
            };
            if ttl > max {
                return Err(SshError::invalid(format!(
                    "ttl is larger than maximum allowed {}",
                    max.as_secs()
                )));
            }
            ttl
        }
        _ => {
            let ttl = if role.ttl == 0 {
                ctx.default_lease_ttl
            } else {
                Duration::from_secs(role.ttl)
            };
            ttl.min(max)
        }
    };
    // Critical options and extensions.
    let requested_options = string_map(fields.get_ok("critical_options").map_err(logical)?);
    // The role's default critical options (a `force-command`, a `source-address`) bind every
    // certificate: a request adds options but cannot drop or change one (OpenBao lets the
    // request replace them all, which undoes a role's restriction).
    if let Some((name, _)) = role
        .default_critical_options
        .iter()
        .find(|(name, value)| requested_options.get(*name).is_some_and(|v| v != *value))
    {
        return Err(SshError::invalid(format!(
            "critical option {name} is set by the role and cannot be changed"
        )));
    }
    let critical_options = if requested_options.is_empty() {
        role.default_critical_options.clone()
    } else {
        if !role.allowed_critical_options.is_empty() {
            let allowed: Vec<&str> = role.allowed_critical_options.split(',').collect();
            let refused: Vec<&str> = requested_options
                .keys()
                .map(String::as_str)
                .filter(|k| !allowed.contains(k) && !role.default_critical_options.contains_key(*k))
                .collect();
            if !refused.is_empty() {
                return Err(SshError::invalid(format!(
                    "critical options not on allowed list: [{}]",
                    refused.join(" ")
                )));
            }
        }
        let mut options = requested_options;
        for (name, value) in &role.default_critical_options {
            options.insert(name.clone(), value.clone());
        }
        options
    };
    let requested_extensions = string_map(fields.get_ok("extensions").map_err(logical)?);
    let extensions = if requested_extensions.is_empty() {
        role.default_extensions.clone()
    } else {
        if role.allowed_extensions != "*" {
            let allowed: Vec<&str> = if role.allowed_extensions.is_empty() {
                Vec::new()
            } else {
                role.allowed_extensions.split(',').collect()
            };
            let refused: Vec<&str> = requested_extensions
                .keys()
                .map(String::as_str)
                .filter(|k| !allowed.contains(k))
                .collect();
            if !refused.is_empty() {
                return Err(SshError::invalid(format!(
                    "extensions [{}] are not on allowed list",
                    refused.join(" ")
                )));
            }
        }
        requested_extensions
    };
    // The CA.
    let state = load_issuers(ctx).await?;
    let issuer = state.resolve(&role.issuer_ref)?;
    let ca_key = keys::parse_stored_private(&issuer.private_key).map_err(|err| {
        SshError::Internal(format!("failed to parse stored CA private key: {err}"))
    })?;
    let rsa_hash = match role.algorithm_signer.as_str() {
        "rsa-sha2-512" => RsaHash::Sha512,
        _ => RsaHash::Sha256,
    };
    if role.algorithm_signer.starts_with("rsa-")
        && ca_key.spec().ty != strongroom_pki::keys::KeyType::Rsa
    {
        return Err(SshError::Internal(format!(
            "failed to generate signed SSH key: sign error: ssh: unsupported signature algorithm \
             {:?} for a {} key",
            role.algorithm_signer,
            ca_key.spec().ty.name()
        )));
    }
    let signer = CaSigner::new(ca_key, rsa_hash)?;
    // Validity and serial.
    let now = ctx
        .now
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let valid_after = now.saturating_sub(role.not_before_duration);
    let valid_before = now.saturating_add(ttl.as_secs());
    let serial = u64::from_be_bytes(random::<8>()?);
    let nonce = random::<32>()?;
    let bad =
        |err: ssh_key::Error| SshError::invalid(format!("failed to build the certificate: {err}"));
    let mut builder =
        Builder::new(nonce.to_vec(), key.clone(), valid_after, valid_before).map_err(bad)?;
    builder.serial(serial).map_err(bad)?;
    builder.cert_type(cert_type).map_err(bad)?;
    builder.key_id(key_id).map_err(bad)?;
    if principals.is_empty() {
        builder.all_principals_valid().map_err(bad)?;
    }
    for principal in principals {
        builder.valid_principal(principal).map_err(bad)?;
    }
    for (name, value) in critical_options {
        builder.critical_option(name, value).map_err(bad)?;
    }
    for (name, value) in extensions {
        builder.extension(name, value).map_err(bad)?;
    }
    let certificate = builder
        .sign(&signer)
        .map_err(|err| SshError::Internal(format!("failed to generate signed SSH key: {err}")))?;
    let text = certificate
        .to_openssh()
        .map_err(|_| SshError::Internal("error marshaling signed certificate".into()))?;
    Ok(json!({
        "issuer_id": issuer.id,
        "serial_number": format!("{serial:x}"),
        "signed_key": format!("{}\n", text.trim_end()),
    }))
}

fn logical(err: LogicalError) -> SshError {
    match err {
        LogicalError::InvalidRequest(message) => SshError::Invalid(message),
        other => SshError::Internal(other.to_string()),
    }
}

// ---------------------------------------------------------------------------------------------
// Declarations.

fn string(description: &str) -> Field {
    Field::new(FieldType::String, description)
}

fn flag(description: &str) -> Field {
    Field::new(FieldType::Bool, description)
}

fn sign_fields<B>(endpoint: Endpoint<B>) -> Endpoint<B> {
    endpoint
        .field("role", string("The desired role with configuration for this request."))
        .field("ttl", Field::new(FieldType::DurationSecond, "The requested Time To Live for the SSH certificate; sets the expiration date. If not specified the role default, backend default, or system default TTL is used, in that order. Cannot be later than the role max TTL."))
        .field("valid_principals", string("Valid principals, either usernames or hostnames, that the certificate should be signed for. Required unless the role has specified allow_empty_principals or a value has been set for either the default_user or default_user_template role parameters."))
        .field("cert_type", string("Type of certificate to be created; either \"user\" or \"host\".").default("user"))
        .field("key_id", string("Key id that the created certificate should have. If not specified, the backend will generate a key id based on the token's display name and the public key hash."))
        .field("critical_options", Field::new(FieldType::Map, "Critical options that the certificate should be signed for."))
        .field("extensions", Field::new(FieldType::Map, "Extensions that the certificate should be signed for."))
}

fn declarations() -> Endpoints<Ssh> {
    type E = Endpoint<Ssh>;
    Endpoints::new(
        HELP,
        vec![
            E::new("config/ca")
                .field("private_key", Field::new(FieldType::SecretString, "Private half of the SSH key that will be used to sign certificates."))
                .field("public_key", string("Public half of the SSH key that will be used to sign certificates."))
                .field("generate_signing_key", flag("Generate SSH key pair internally rather than use the private_key and public_key fields. If generate_signing_key is false (or not sent) and both keys are empty, a key pair is generated.").default(true))
                .field("key_type", string("Specifies the desired key type when generating; could be a OpenSSH key type identifier (ssh-rsa, ecdsa-sha2-nistp256, ecdsa-sha2-nistp384, or ssh-ed25519) or an algorithm (rsa, ec, ed25519).").default("ssh-rsa"))
                .field("key_bits", Field::new(FieldType::Int, "Specifies the desired key bits when generating variable-length keys (such as when key_type=\"ssh-rsa\") or which NIST P-curve to use when key_type=\"ec\" (256 or 384).").default(0))
                .field("issuer_name", string("Optional issuer name (not offered yet: issuers are referred to by id or \"default\")."))
                .read(|s, ctx, f| Box::pin(async move { s.read_ca(ctx, f).await }))
                .write(|s, ctx, f| Box::pin(async move { s.write_ca(ctx, f).await }))
                .delete(|s, ctx, f| Box::pin(async move { s.delete_ca(ctx, f).await }))
                .synopsis("Set the SSH private key used for signing certificates.")
                .description("This sets the CA information used for certificates generated by this mount. The fields must be in the standard private and public SSH format. For security reasons, the private key cannot be retrieved later."),
            E::new("config/issuers")
                .read(|s, ctx, f| Box::pin(async move { s.read_config_issuers(ctx, f).await }))
                .synopsis("Read the default issuer.")
                .description("This path reads which issuer signs for roles whose issuer_ref is \"default\"."),
            E::new("issuers/?")
                .list(|s, ctx, f| Box::pin(async move { s.list_issuers(ctx, f).await }))
                .synopsis("List the mount's issuers.")
                .description("This path lists the issuers (CA keys) of the mount."),
            E::new("public_key")
                .read(|s, ctx, f| Box::pin(async move { s.public_key(ctx, f).await }))
                .unauthenticated()
                .synopsis("Retrieve the public key.")
                .description("This allows the public key of the SSH CA certificate that this backend has been configured with to be fetched. This is a raw response endpoint without JSON encoding; use -format=raw or an HTTP client to fetch it."),
            E::new("roles/?")
                .list(|s, ctx, f| Box::pin(async move { s.list_roles(ctx, f).await }))
                .synopsis("Manage the 'roles' that can be created with this backend.")
                .description("This path allows you to manage the roles that are used to generate credentials."),
            E::new("roles/{role}")
                .field("role", string("Name of the role"))
                .field("key_type", string("Type of key used to login to hosts. It can be \"ca\" (signed certificates). OTP and dynamic keys are not offered."))
                .field("default_user", string("Default username for which a certificate will be issued if none is specified with valid_principals."))
                .field("default_user_template", flag("If set, Default user can be specified using identity template policies (not offered yet)."))
                .field("allowed_users", string("If this option is not specified, or is '*', client can request a credential for any valid user at the remote host, including the admin user. A comma-separated list of users otherwise."))
                .field("allowed_users_template", flag("If set, Allowed users can be specified using identity template policies (not offered yet)."))
                .field("allowed_domains", string("If this option is not specified, client can request for a signed certificate for any valid host. If only certain domains are allowed, then this list enforces it."))
                .field("allowed_domains_template", flag("If set, Allowed domains can be specified using identity template policies (not offered yet)."))
                .field("allow_bare_domains", flag("If set, host certificates that are requested are allowed to use the base domains listed in \"allowed_domains\"."))
                .field("allow_subdomains", flag("If set, host certificates that are requested are allowed to use subdomains of those listed in \"allowed_domains\"."))
                .field("allow_user_certificates", flag("If set, certificates are allowed to be signed for use as a 'user'."))
                .field("allow_host_certificates", flag("If set, certificates are allowed to be signed for use as a 'host'."))
                .field("allow_user_key_ids", flag("If true, users can override the key ID for a signed certificate with the \"key_id\" field."))
                .field("key_id_format", string("When supplied, this value specifies a custom format for the key id of a signed certificate. The following variables are available for use: '{{token_display_name}}', '{{role_name}}' and '{{public_key_hash}}'."))
                .field("ttl", Field::new(FieldType::DurationSecond, "The lease duration (validity period of the certificate) if no specific lease duration is requested."))
                .field("max_ttl", Field::new(FieldType::DurationSecond, "The maximum allowed lease duration."))
                .field("allowed_critical_options", string("A comma-separated list of critical options that certificates can have when signed. To allow any critical options, set this to an empty string."))
                .field("allowed_extensions", string("A comma-separated list of extensions that certificates can have when signed. An empty list means that no extension overrides are allowed by an end-user; explicitly specify '*' to allow any extensions to be set."))
                .field("default_critical_options", Field::new(FieldType::Map, "Critical options certificates should have if none are provided when signing."))
                .field("default_extensions", Field::new(FieldType::Map, "Extensions certificates should have if none are provided when signing."))
                .field("default_extensions_template", flag("If set, Default extension values can be specified using identity template policies (not offered yet)."))
                .field("allowed_user_key_lengths", Field::new(FieldType::Map, "If set, allows the enforcement of key types and minimum key sizes to be signed."))
                .field("algorithm_signer", string("When supplied, this value specifies a signing algorithm for the key. Possible values: rsa-sha2-256, rsa-sha2-512, default (SHA-1 ssh-rsa is not offered)."))
                .field("not_before_duration", Field::new(FieldType::DurationSecond, "The duration that the SSH certificate should be backdated by at issuance.").default(30))
                .field("allow_empty_principals", flag("Whether to allow issuing certificates with no valid principals (meaning any valid principal). Exists for backwards compatibility only, the default of false is highly recommended."))
                .field("issuer_ref", string("Issuer that signs this role's certificates: \"default\" or an issuer id.").default("default"))
                .field("allow_commas_in_identity_templates", flag("Whether identity templates may contain commas (templates are not offered yet)."))
                .field("allow_wildcards_in_identity_templates", flag("Whether identity templates may contain wildcards (templates are not offered yet)."))
                .read(|s, ctx, f| Box::pin(async move { s.read_role(ctx, f).await }))
                .write(|s, ctx, f| Box::pin(async move { s.write_role(ctx, f).await }))
                .delete(|s, ctx, f| Box::pin(async move { s.delete_role(ctx, f).await }))
                .exists(|s, ctx, f| Box::pin(async move { s.role_exists(ctx, f).await }))
                .synopsis("Manage the 'roles' that can be created with this backend.")
                .description("This path allows you to manage the roles that are used to sign SSH certificates."),
            sign_fields(E::new("sign/{role}"))
                .field("public_key", string("SSH public key that should be signed."))
                .write(|s, ctx, f| Box::pin(async move { s.sign(ctx, f).await }))
                .synopsis("Request signing an SSH key using a certain role with the provided details.")
                .description("This path allows SSH keys to be signed according to the policy of the given role."),
            sign_fields(E::new("issue/{role}"))
                .field("key_type", string("Specifies the desired key type; must be `rsa`, `ed25519` or `ec`").default("rsa"))
                .field("key_bits", Field::new(FieldType::Int, "Specifies the number of bits for an RSA key, or the curve for an EC key (256 or 384).").default(0))
                .write(|s, ctx, f| Box::pin(async move { s.issue(ctx, f).await }))
                .synopsis("Request a certificate using a certain role with the provided details.")
                .description("This path allows requesting a certificate to be issued according to the policy of the given role. The certificate will only be issued if the requested details are allowed by the role policy. This path returns a certificate and a private key."),
            E::new("verify")
                .field("otp", string("One-time password to be verified"))
                .write(|s, ctx, f| Box::pin(async move { s.verify(ctx, f).await }))
                .unauthenticated()
                .synopsis("Validate the OTP provided by Vault SSH Agent.")
                .description("This path answers Vault SSH Agent's echo request; OTP roles are not offered, so every other OTP is not found."),
        ],
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "test code")]
    use super::*;

    #[test]
    fn base64_errors_name_the_byte_as_go_does() {
        assert_eq!(
            base64_decode("a").unwrap_err(),
            "illegal base64 data at input byte 0"
        );
        assert_eq!(
            base64_decode("ab!d").unwrap_err(),
            "illegal base64 data at input byte 2"
        );
        assert_eq!(base64_decode("aGk=").unwrap(), b"hi");
    }

    #[test]
    fn key_lengths_read_every_form() {
        let map = json!({"rsa": 2048, "ec": [256, "384"], "ed25519": "0", "dsa": ""});
        let parsed = key_lengths(map.as_object()).unwrap();
        assert_eq!(parsed["rsa"], [2048]);
        assert_eq!(parsed["ec"], [256, 384]);
        assert_eq!(parsed["ed25519"], [0]);
        assert!(parsed["dsa"].is_empty());
        assert!(key_lengths(json!({"rsa": true}).as_object()).is_err());
    }
}
