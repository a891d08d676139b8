//! The `pki` engine: Vault's paths over [`CaState`](crate::ca::CaState), roles and the
//! certificate store.
//!
//! Storage (inside the mount's view, so inside the barrier):
//!
//! - `ca/state` — every issuer and key of the mount, in one entry (see [`crate::ca`]);
//! - `roles/<name>` — a role, stored as its read answer;
//! - `certs/<serial>` — an issued certificate's DER (serial with `-` for `:`), unless the
//!   role says `no_store`; CA certificates are stored too;
//! - `revoked/<serial>` — a revocation: time, issuer and the certificate;
//! - `crls/<issuer id>` — that issuer's current CRL and its number;
//! - `config/urls`, `config/crl`, `tidy/status`.

use std::net::IpAddr;
use std::time::Duration;

use async_trait::async_trait;
use rcgen::{ExtendedKeyUsagePurpose, KeyUsagePurpose};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use strongroom_logical::{
    Backend, Context, Endpoint, EndpointInfo, Endpoints, Field, FieldType, Fields, Lease,
    LogicalError, RawBody, Request, Response, SecretDescriptor,
};
use strongroom_storage::{Op, Storage};
use zeroize::Zeroizing;

use crate::ca::{
    self, Authority, CaState, Names, Subject, Template, Urls, decode_b64, go_duration, unix,
};
use crate::error::PkiError;
use crate::keys::{KeySpec, PrivateKey};
use crate::names::first_disallowed;
use crate::role::{self, Role};
use crate::x509::{normalise_serial, parse_cert, parse_csr};

type Result<T, E = PkiError> = std::result::Result<T, E>;

const STATE: &str = "ca/state";
const URLS: &str = "config/urls";
const CRL_CONFIG: &str = "config/crl";
const TIDY_STATUS: &str = "tidy/status";

const AIA_WARNING: &str = "This mount hasn't configured any authority information access (AIA) \
     fields; this may make it harder for systems to find missing certificates in the chain or to \
     validate revocation status of certificates. Consider updating /config/urls or the newly \
     generated issuer with this information.";

const HELP: &str = "The PKI backend dynamically generates X509 server and client certificates.

After mounting this backend, configure the CA using the \"pem_bundle\" endpoint within the \
\"config/\" path, or generate one with \"root/generate\" or \"intermediate/generate\".";

/// The PKI engine. Register it with `VaultBuilder::engine("pki", factory)`.
#[derive(Debug)]
pub struct Pki {
    endpoints: Endpoints<Pki>,
    /// Held by every change to the mount's issuers, keys, revocations and CRLs, so two
    /// requests never build from the same old state (a revocation left out of a CRL, a key
    /// lost between two imports). Issuing only reads the state and does not take it.
    writes: tokio::sync::Mutex<()>,
}

impl Default for Pki {
    fn default() -> Self {
        Self::new()
    }
}

impl Pki {
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
    Ok(std::sync::Arc::new(Pki::new()))
}

#[async_trait]
impl Backend for Pki {
    async fn handle(
        &self,
        ctx: &Context,
        request: Request,
    ) -> strongroom_logical::Result<Response> {
        self.endpoints.handle(self, ctx, request).await
    }

    async fn exists(
        &self,
        ctx: &Context,
        request: &Request,
    ) -> strongroom_logical::Result<Option<bool>> {
        self.endpoints.exists(self, ctx, request).await
    }

    /// A certificate's lease ended: the certificate is revoked (Vault's `generate_lease`).
    async fn revoke(&self, ctx: &Context, lease: &Lease) -> strongroom_logical::Result<()> {
        let Some(serial) = lease.internal.get("serial_number").and_then(Value::as_str) else {
            return Ok(());
        };
        let _writes = self.writes.lock().await;
        match revoke_serial(ctx, &normalise_serial(serial)).await {
            Ok(_) | Err(PkiError::NotFound) => Ok(()),
            Err(err) => Err(err.into()),
        }
    }

    /// Rebuilds CRLs that are about to expire when `auto_rebuild` is on.
    async fn periodic(&self, ctx: &Context) -> strongroom_logical::Result<()> {
        let config = load_crl_config(ctx).await?;
        if !config.auto_rebuild || config.disable {
            return Ok(());
        }
        let _writes = self.writes.lock().await;
        let state = load_state(ctx).await?;
        let grace = parse_go_duration(&config.auto_rebuild_grace_period).unwrap_or_default();
        let now = unix(ctx.now);
        for issuer in &state.issuers {
            let stored = load_crl(ctx, &issuer.id).await?;
            let due = stored.as_ref().is_none_or(|crl| {
                crl.next_update - i64::try_from(grace.as_secs()).unwrap_or(0) <= now
            });
            if due && issuer.key_id.is_some() {
                rebuild_crls(ctx, &state).await?;
                break;
            }
        }
        Ok(())
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
// Storage helpers.

fn internal(message: impl Into<String>) -> PkiError {
    PkiError::Internal(message.into())
}

async fn load_json<T: for<'de> Deserialize<'de>>(ctx: &Context, key: &str) -> Result<Option<T>> {
    let Some(bytes) = ctx.storage.get(key).await? else {
        return Ok(None);
    };
    let bytes = Zeroizing::new(bytes);
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|_| internal(format!("the stored entry {key} does not decode")))
}

fn to_json(value: &impl Serialize) -> Result<Vec<u8>> {
    serde_json::to_vec(value).map_err(|_| internal("an entry does not encode"))
}

async fn load_state(ctx: &Context) -> Result<CaState> {
    Ok(load_json(ctx, STATE).await?.unwrap_or_default())
}

async fn load_urls(ctx: &Context) -> Result<Urls> {
    Ok(load_json(ctx, URLS).await?.unwrap_or_default())
}

fn cert_key(serial: &str) -> String {
    format!("certs/{}", serial.replace(':', "-"))
}

fn revoked_key(serial: &str) -> String {
    format!("revoked/{}", serial.replace(':', "-"))
}

/// A revocation, as stored.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Revocation {
    serial_number: String,
    revocation_time: i64,
    revocation_time_rfc3339: String,
    issuer_id: String,
}

/// An issuer's current CRL.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct StoredCrl {
    number: u64,
    next_update: i64,
    der: String,
}

async fn load_crl(ctx: &Context, issuer: &str) -> Result<Option<StoredCrl>> {
    load_json(ctx, &format!("crls/{issuer}")).await
}

/// `config/crl`.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct CrlConfig {
    expiry: String,
    disable: bool,
    ocsp_disable: bool,
    auto_rebuild: bool,
    auto_rebuild_grace_period: String,
    ocsp_expiry: String,
    enable_delta: bool,
    delta_rebuild_interval: String,
    allow_expired_cert_revocation: bool,
}

impl Default for CrlConfig {
    fn default() -> Self {
        Self {
            expiry: "72h".into(),
            disable: false,
            ocsp_disable: false,
            auto_rebuild: false,
            auto_rebuild_grace_period: "12h".into(),
            ocsp_expiry: "12h".into(),
            enable_delta: false,
            delta_rebuild_interval: "15m".into(),
            allow_expired_cert_revocation: false,
        }
    }
}

async fn load_crl_config(ctx: &Context) -> Result<CrlConfig> {
    Ok(load_json(ctx, CRL_CONFIG).await?.unwrap_or_default())
}

/// Go's `time.ParseDuration` for the forms Vault's CRL settings take (`72h`, `15m`, `1h30m`,
/// `90s`).
fn parse_go_duration(text: &str) -> Option<Duration> {
    if text.is_empty() {
        return None;
    }
    if text == "0" {
        return Some(Duration::ZERO);
    }
    let mut total = 0f64;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit() && c != '.')
            .unwrap_or(rest.len());
        if digits == 0 {
            return None;
        }
        let number: f64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let factor = match &rest[..unit_len] {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 0.001,
            _ => return None,
        };
        total += number * factor;
        rest = &rest[unit_len..];
    }
    Duration::try_from_secs_f64(total).ok()
}

/// Rebuilds the CRL of every issuer that has a key, each listing the revocations it issued.
async fn rebuild_crls(ctx: &Context, state: &CaState) -> Result<()> {
    let config = load_crl_config(ctx).await?;
    let expiry = if config.disable {
        Duration::from_secs(1)
    } else {
        parse_go_duration(&config.expiry).unwrap_or(Duration::from_secs(72 * 3600))
    };
    let mut revocations: Vec<Revocation> = Vec::new();
    for name in ctx.storage.list("revoked/").await? {
        if let Some(entry) = load_json::<Revocation>(ctx, &format!("revoked/{name}")).await? {
            revocations.push(entry);
        }
    }
    let now = unix(ctx.now);
    let mut ops = Vec::new();
    for issuer in &state.issuers {
        if issuer.key_id.is_none() {
            continue;
        }
        let authority = state.authority_of(issuer)?;
        let revoked: Vec<(Vec<u8>, i64)> = if config.disable {
            Vec::new()
        } else {
            revocations
                .iter()
                .filter(|r| r.issuer_id == issuer.id)
                .filter_map(|r| serial_bytes(&r.serial_number).map(|s| (s, r.revocation_time)))
                .collect()
        };
        let number = load_crl(ctx, &issuer.id).await?.map_or(1, |c| c.number + 1);
        let der = authority.crl(number, now, expiry, &revoked)?;
        let stored = StoredCrl {
            number,
            next_update: now + i64::try_from(expiry.as_secs()).unwrap_or(0),
            der: crate::pem::base64(&der),
        };
        ops.push(Op::put(format!("crls/{}", issuer.id), to_json(&stored)?));
    }
    if !ops.is_empty() {
        ctx.storage.transaction(ops).await?;
    }
    Ok(())
}

fn serial_bytes(serial: &str) -> Option<Vec<u8>> {
    serial
        .split(':')
        .map(|pair| u8::from_str_radix(pair, 16).ok())
        .collect()
}

/// Revokes a stored certificate: the revocation (the first one's time stays) and new CRLs.
async fn revoke_serial(ctx: &Context, serial: &str) -> Result<Revocation> {
    if let Some(existing) = load_json::<Revocation>(ctx, &revoked_key(serial)).await? {
        return Ok(existing);
    }
    let Some(der) = ctx.storage.get(&cert_key(serial)).await? else {
        return Err(PkiError::NotFound);
    };
    let info = parse_cert(&der)?;
    let state = load_state(ctx).await?;
    for issuer in &state.issuers {
        if CaState::issuer_der(issuer)? == der {
            return Err(PkiError::invalid(
                "adding issuer (id: ".to_owned() + &issuer.id + ") to its own CRL is not allowed",
            ));
        }
    }
    // The issuer: the one whose subject is the certificate's issuer.
    let mut issuer_id = String::new();
    for issuer in &state.issuers {
        let issuer_der = CaState::issuer_der(issuer)?;
        let candidate = parse_cert(&issuer_der)?;
        if candidate.subject_der == info.issuer_der && crate::x509::signed_by(&der, &issuer_der) {
            issuer_id.clone_from(&issuer.id);
            break;
        }
    }
    let now = ctx.now;
    let revocation = Revocation {
        serial_number: serial.to_owned(),
        revocation_time: unix(now),
        revocation_time_rfc3339: rfc3339(now),
        issuer_id,
    };
    ctx.storage
        .put(&revoked_key(serial), to_json(&revocation)?)
        .await?;
    rebuild_crls(ctx, &state).await?;
    Ok(revocation)
}

fn rfc3339(time: std::time::SystemTime) -> String {
    let nanos = time
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::try_from(nanos).unwrap_or(0))
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

fn raw(content_type: &str, body: Vec<u8>) -> Response {
    Response::raw(RawBody::new(content_type, body))
}

fn data(value: Value) -> Response {
    match value {
        Value::Object(map) => Response::with_data(map),
        _ => Response::empty(),
    }
}

/// Sets `key` in a JSON object.
fn set(object: &mut Value, key: &str, value: Value) {
    if let Value::Object(map) = object {
        map.insert(key.to_owned(), value);
    }
}

fn pem_text(der: &[u8]) -> String {
    crate::pem::certificate(der)
}

fn list_or_null(list: &[String]) -> Value {
    if list.is_empty() {
        Value::Null
    } else {
        json!(list)
    }
}

// ---------------------------------------------------------------------------------------------
// Requests shared by several endpoints.

/// Reads the subject fields of a CA request.
fn subject_of(fields: &Fields<'_>) -> strongroom_logical::Result<Subject> {
    Ok(Subject {
        common_name: fields.get("common_name")?,
        ou: fields.get("ou")?,
        organization: fields.get("organization")?,
        country: fields.get("country")?,
        locality: fields.get("locality")?,
        province: fields.get("province")?,
        street_address: fields.get("street_address")?,
        postal_code: fields.get("postal_code")?,
        serial_number: fields.get("serial_number")?,
    })
}

fn parse_ips(list: &[String]) -> Result<Vec<IpAddr>> {
    list.iter()
        .map(|ip| {
            ip.trim().parse().map_err(|_| {
                PkiError::invalid(format!("the value {ip:?} is not a valid IP address"))
            })
        })
        .collect()
}

/// The SAN lists of a request: alt_names split into DNS names and emails, IP and URI SANs.
fn names_of(
    fields: &Fields<'_>,
    common_name: &str,
    exclude_cn: bool,
) -> strongroom_logical::Result<Names> {
    let mut names = Names::default();
    if !exclude_cn && !common_name.is_empty() {
        push_name(&mut names, common_name);
    }
    let alt: Vec<String> = fields.get("alt_names")?;
    for name in alt {
        push_name(&mut names, name.trim());
    }
    names.ips = parse_ips(&fields.get::<Vec<String>>("ip_sans")?)?;
    names.uris = fields.get("uri_sans")?;
    Ok(names)
}

fn push_name(names: &mut Names, name: &str) {
    if name.is_empty() {
        return;
    }
    if name.contains('@') {
        if !names.emails.iter().any(|n| n == name) {
            names.emails.push(name.to_owned());
        }
    } else if !names.dns.iter().any(|n| n == name) {
        names.dns.push(name.to_owned());
    }
}

/// The format field, in Vault's words when it is not one.
fn format_of(fields: &Fields<'_>) -> strongroom_logical::Result<String> {
    let format: String = fields.get("format")?;
    match format.as_str() {
        "pem" | "der" | "pem_bundle" => Ok(format),
        _ => Err(PkiError::invalid(
            "the \"format\" path parameter must be \"pem\", \"der\", or \"pem_bundle\"",
        )
        .into()),
    }
}

fn cert_text(der: &[u8], format: &str) -> String {
    if format == "der" {
        crate::pem::base64(der)
    } else {
        pem_text(der)
    }
}

/// The validity of a new certificate: `not_after` (when given) or now + the TTL (the
/// request's, else the role's, else the mount's default), capped by the role's or mount's
/// maximum with Vault's warning, and refused past the issuer's own expiry.
fn validity(
    ctx: &Context,
    requested_ttl: Option<Duration>,
    role_ttl: Duration,
    max_ttl: Duration,
    not_after: &str,
    issuer_not_after: Option<i64>,
    warnings: &mut Vec<String>,
) -> Result<i64> {
    let now = unix(ctx.now);
    let end = if not_after.is_empty() {
        let mut ttl = requested_ttl
            .filter(|d| !d.is_zero())
            .or(Some(role_ttl).filter(|d| !d.is_zero()))
            .unwrap_or(ctx.default_lease_ttl);
        let max = if max_ttl.is_zero() {
            ctx.max_lease_ttl
        } else {
            max_ttl
        };
        if ttl > max {
            warnings.push(format!(
                "TTL {:?} is longer than permitted maxTTL {:?}, so maxTTL is being used",
                go_duration(ttl),
                go_duration(max)
            ));
            ttl = max;
        }
        now + i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX / 2)
    } else {
        time::OffsetDateTime::parse(not_after, &time::format_description::well_known::Rfc3339)
            .map_err(|_| {
                PkiError::invalid(format!(
                    "cannot parse not_after {not_after:?}: it must be in UTC, as \
                     YYYY-MM-ddTHH:MM:SSZ"
                ))
            })?
            .unix_timestamp()
    };
    if let Some(limit) = issuer_not_after
        && end > limit
    {
        return Err(PkiError::invalid(format!(
            "cannot satisfy request, as TTL would result in notAfter of {} that is beyond the \
             expiration of the CA certificate at {}",
            go_time(end),
            go_time(limit)
        )));
    }
    Ok(end)
}

/// A time as Go prints a `time.Time` in UTC (`2026-01-02 15:04:05 +0000 UTC`).
fn go_time(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| {
            t.format(time::macros::format_description!(
                "[year]-[month]-[day] [hour]:[minute]:[second] +0000 UTC"
            ))
            .ok()
        })
        .unwrap_or_default()
}

fn key_usages(names: &[String]) -> Vec<KeyUsagePurpose> {
    names
        .iter()
        .filter_map(|name| match name.trim().to_lowercase().as_str() {
            "digitalsignature" => Some(KeyUsagePurpose::DigitalSignature),
            "contentcommitment" => Some(KeyUsagePurpose::ContentCommitment),
            "keyencipherment" => Some(KeyUsagePurpose::KeyEncipherment),
            "dataencipherment" => Some(KeyUsagePurpose::DataEncipherment),
            "keyagreement" => Some(KeyUsagePurpose::KeyAgreement),
            "certsign" => Some(KeyUsagePurpose::KeyCertSign),
            "crlsign" => Some(KeyUsagePurpose::CrlSign),
            "encipheronly" => Some(KeyUsagePurpose::EncipherOnly),
            "decipheronly" => Some(KeyUsagePurpose::DecipherOnly),
            _ => None,
        })
        .collect()
}

fn ext_key_usages(role: &Role) -> Vec<ExtendedKeyUsagePurpose> {
    let mut out = Vec::new();
    let mut add = |eku: ExtendedKeyUsagePurpose| {
        if !out.contains(&eku) {
            out.push(eku);
        }
    };
    if role.server_flag {
        add(ExtendedKeyUsagePurpose::ServerAuth);
    }
    if role.client_flag {
        add(ExtendedKeyUsagePurpose::ClientAuth);
    }
    if role.code_signing_flag {
        add(ExtendedKeyUsagePurpose::CodeSigning);
    }
    if role.email_protection_flag {
        add(ExtendedKeyUsagePurpose::EmailProtection);
    }
    for name in &role.ext_key_usage {
        match name.trim().to_lowercase().as_str() {
            "any" => add(ExtendedKeyUsagePurpose::Any),
            "serverauth" => add(ExtendedKeyUsagePurpose::ServerAuth),
            "clientauth" => add(ExtendedKeyUsagePurpose::ClientAuth),
            "codesigning" => add(ExtendedKeyUsagePurpose::CodeSigning),
            "emailprotection" => add(ExtendedKeyUsagePurpose::EmailProtection),
            "timestamping" => add(ExtendedKeyUsagePurpose::TimeStamping),
            "ocspsigning" => add(ExtendedKeyUsagePurpose::OcspSigning),
            _ => {}
        }
    }
    out
}

fn ca_usages() -> Vec<KeyUsagePurpose> {
    vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign]
}

// ---------------------------------------------------------------------------------------------
// Handlers.

impl Pki {
    async fn generate_root(
        &self,
        ctx: &Context,
        fields: Fields<'_>,
    ) -> strongroom_logical::Result<Response> {
        let _writes = self.writes.lock().await;
        let exported = exported_of(&fields)?;
        let spec = KeySpec::parse(&fields.get::<String>("key_type")?, fields.get("key_bits")?)?;
        let subject = subject_of(&fields)?;
        let mut warnings = Vec::new();
        let not_after = validity(
            ctx,
            fields.get_ok::<Duration>("ttl")?,
            Duration::ZERO,
            Duration::ZERO,
            &fields.get::<String>("not_after")?,
            None,
            &mut warnings,
        )?;
        let urls = load_urls(ctx).await?;
        let mut names = names_of(
            &fields,
            &subject.common_name,
            fields.get("exclude_cn_from_sans")?,
        )?;
        if subject.common_name.contains('@') || !crate::names::is_hostname(&subject.common_name) {
            names.dns.retain(|n| n != &subject.common_name);
        }
        let template = Template {
            subject: subject.clone(),
            names,
            not_before: unix(ctx.now) - 30,
            not_after,
            key_usage: ca_usages(),
            ca: Some(fields.get("max_path_length")?),
            permitted_dns_domains: fields.get("permitted_dns_domains")?,
            urls: urls.clone(),
            signature_bits: signature_bits(&fields)?,
            ..Template::default()
        };
        let key = PrivateKey::generate_async(spec).await?;
        let (der, _) = ca::self_signed(&template, &key)?;
        let info = parse_cert(&der)?;
        let mut state = load_state(ctx).await?;
        let key_id = state.add_key(&key);
        let issuer_id = state.add_issuer(&der)?;
        rebuild_crls(ctx, &state).await?;
        ctx.storage.put(STATE, to_json(&state)?).await?;
        if subject.is_empty() {
            warnings.push(
                "This issuer certificate was generated without a Subject; this makes it likely \
                 that issuing leaf certs with this certificate will cause TLS validation \
                 libraries to reject this certificate."
                    .into(),
            );
        }
        if urls.is_empty() {
            warnings.push(AIA_WARNING.into());
        }
        let format = format_of(&fields)?;
        let mut out = json!({
            "certificate": cert_text(&der, &format),
            "expiration": info.not_after,
            "issuer_id": issuer_id,
            "issuer_name": "",
            "issuing_ca": cert_text(&der, &format),
            "key_id": key_id,
            "key_name": "",
            "serial_number": info.serial,
        });
        if exported {
            let text = key.text(&format, &fields.get::<String>("private_key_format")?)?;
            set(&mut out, "private_key", json!(text.as_str()));
            set(&mut out, "private_key_type", json!(spec.ty.name()));
        }
        let mut response = data(out);
        response.warnings = warnings;
        Ok(response)
    }

    async fn generate_intermediate(
        &self,
        ctx: &Context,
        fields: Fields<'_>,
    ) -> strongroom_logical::Result<Response> {
        let _writes = self.writes.lock().await;
        let exported = exported_of(&fields)?;
        let spec = KeySpec::parse(&fields.get::<String>("key_type")?, fields.get("key_bits")?)?;
        let subject = subject_of(&fields)?;
        let mut names = names_of(
            &fields,
            &subject.common_name,
            fields.get("exclude_cn_from_sans")?,
        )?;
        if !crate::names::is_hostname(&subject.common_name) {
            names.dns.retain(|n| n != &subject.common_name);
        }
        let key = PrivateKey::generate_async(spec).await?;
        let csr = ca::csr(&subject, &names, &key)?;
        let mut state = load_state(ctx).await?;
        let key_id = state.add_key(&key);
        ctx.storage.put(STATE, to_json(&state)?).await?;
        let format = format_of(&fields)?;
        let mut out = json!({"csr": csr, "key_id": key_id});
        if format == "der" {
            let blocks = crate::pem::blocks(&csr)?;
            if let Some((_, der)) = blocks.first() {
                set(&mut out, "csr", json!(crate::pem::base64(der)));
            }
        }
        if exported {
            let text = key.text(&format, &fields.get::<String>("private_key_format")?)?;
            set(&mut out, "private_key", json!(text.as_str()));
            set(&mut out, "private_key_type", json!(spec.ty.name()));
        }
        let mut response = data(out);
        if load_urls(ctx).await?.is_empty() {
            response.warnings.push(format!(
                "{AIA_WARNING} Since this certificate is an intermediate, it might be useful to \
                 regenerate this certificate after fixing this problem for the root mount."
            ));
        }
        Ok(response)
    }

    async fn sign_intermediate(
        &self,
        ctx: &Context,
        fields: Fields<'_>,
    ) -> strongroom_logical::Result<Response> {
        let csr_text: String = fields.get("csr")?;
        if csr_text.is_empty() {
            return Err(PkiError::invalid("\"csr\" is empty").into());
        }
        let csr = parse_csr(&csr_text)?;
        let state = load_state(ctx).await?;
        let authority = signing_authority(&state)?;
        let mut subject = subject_of(&fields)?;
        let use_csr_values: bool = fields.get("use_csr_values")?;
        let template_subject = if use_csr_values {
            Some(csr.subject.clone())
        } else {
            if subject.common_name.is_empty() {
                subject.common_name = csr.common_name.clone().unwrap_or_default();
            }
            None
        };
        let mut warnings = Vec::new();
        let not_after = validity(
            ctx,
            fields.get_ok::<Duration>("ttl")?,
            Duration::ZERO,
            Duration::ZERO,
            &fields.get::<String>("not_after")?,
            Some(authority.info.not_after),
            &mut warnings,
        )?;
        let mut names = names_of(
            &fields,
            &subject.common_name,
            fields.get("exclude_cn_from_sans")?,
        )?;
        if !crate::names::is_hostname(&subject.common_name) {
            names.dns.retain(|n| n != &subject.common_name);
        }
        if use_csr_values {
            names.dns.extend(csr.dns_names.iter().cloned());
            names.emails.extend(csr.emails.iter().cloned());
            names.ips.extend(csr.ips.iter().copied());
            names.uris.extend(csr.uris.iter().cloned());
        }
        let template = Template {
            subject,
            verbatim_subject: template_subject,
            names,
            not_before: unix(ctx.now) - 30,
            not_after,
            key_usage: ca_usages(),
            ca: Some(fields.get("max_path_length")?),
            permitted_dns_domains: fields.get("permitted_dns_domains")?,
            urls: load_urls(ctx).await?,
            signature_bits: signature_bits(&fields)?,
            ..Template::default()
        };
        let der = authority.sign(&template, &csr.key)?;
        let info = parse_cert(&der)?;
        ctx.storage
            .put(&cert_key(&info.serial), der.clone())
            .await?;
        let format = format_of(&fields)?;
        let mut chain = vec![cert_text(&der, &format)];
        chain.extend(authority.chain.iter().map(|c| cert_text(c, &format)));
        let mut response = data(json!({
            "ca_chain": chain,
            "certificate": cert_text(&der, &format),
            "expiration": info.not_after,
            "issuing_ca": cert_text(&authority.der, &format),
            "serial_number": info.serial,
        }));
        response.warnings = warnings;
        Ok(response)
    }

    async fn set_signed(
        &self,
        ctx: &Context,
        fields: Fields<'_>,
    ) -> strongroom_logical::Result<Response> {
        let _writes = self.writes.lock().await;
        let text: String = fields.get("certificate")?;
        if text.trim().is_empty() {
            return Err(
                PkiError::invalid("'pem_bundle' and 'certificate' parameters were empty").into(),
            );
        }
        import(ctx, &text, false).await
    }

    async fn config_ca(
        &self,
        ctx: &Context,
        fields: Fields<'_>,
    ) -> strongroom_logical::Result<Response> {
        let _writes = self.writes.lock().await;
        let text: String = fields.get("pem_bundle")?;
        if text.trim().is_empty() {
            return Err(
                PkiError::invalid("'pem_bundle' and 'certificate' parameters were empty").into(),
            );
        }
        if text.len() < 75 {
            return Err(PkiError::invalid(
                "provided data for import was too short; perhaps a path was passed to the API \
                 rather than the contents of a PEM file",
            )
            .into());
        }
        import(ctx, &text, true).await
    }

    async fn delete_root(
        &self,
        ctx: &Context,
        _fields: Fields<'_>,
    ) -> strongroom_logical::Result<Response> {
        let _writes = self.writes.lock().await;
        let mut ops = vec![Op::delete(STATE)];
        for name in ctx.storage.list("crls/").await? {
            ops.push(Op::delete(format!("crls/{name}")));
        }
        ctx.storage.transaction(ops).await?;
        let mut response = Response::empty();
        response.warnings.push(
            "DELETE /root deletes all keys and issuers; prefer the new DELETE /key/:key_ref and \
             DELETE /issuer/:issuer_ref for finer granularity, unless removal of all keys and \
             issuers is desired."
                .into(),
        );
        Ok(response)
    }

    async fn fetch_ca_pem(
        &self,
        ctx: &Context,
        _fields: Fields<'_>,
    ) -> strongroom_logical::Result<Response> {
        let state = load_state(ctx).await?;
        let Ok(issuer) = state.default_issuer() else {
            return Ok(raw("application/pem-certificate-chain", Vec::new()));
        };
        let der = CaState::issuer_der(issuer)?;
        Ok(raw(
            "application/pem-certificate-chain",
            format!("{}\n", pem_text(&der)).into_bytes(),
        ))
    }

    async fn fetch_ca_der(
        &self,
        ctx: &Context,
        _fields: Fields<'_>,
    ) -> strongroom_logical::Result<Response> {
        let state = load_state(ctx).await?;
        let Ok(issuer) = state.default_issuer() else {
            return Ok(raw("application/pkix-cert", Vec::new()));
        };
        Ok(raw("application/pkix-cert", CaState::issuer_der(issuer)?))
    }

    async fn fetch_ca_chain(
        &self,
        ctx: &Context,
        _fields: Fields<'_>,
    ) -> strongroom_logical::Result<Response> {
        let state = load_state(ctx).await?;
        let Ok(issuer) = state.default_issuer() else {
            return Ok(raw("application/pkix-cert", Vec::new()));
        };
        let chain = state.chain(issuer)?;
        let mut text = String::new();
        for der in &chain {
            text.push_str(&pem_text(der));
            text.push('\n');
        }
        Ok(raw("application/pkix-cert", text.into_bytes()))
    }

    async fn fetch_crl_der(
        &self,
        ctx: &Context,
        _fields: Fields<'_>,
    ) -> strongroom_logical::Result<Response> {
        let der = current_crl(ctx).await?.unwrap_or_default();
        Ok(raw("application/pkix-crl", der))
    }

    async fn fetch_crl_pem(
        &self,
        ctx: &Context,
        _fields: Fields<'_>,
    ) -> strongroom_logical::Result<Response> {
        let body = match current_crl(ctx).await? {
            Some(der) => {
                format!("{}\n", crate::pem::encode("X509 CRL", &der).as_str()).into_bytes()
            }
            None => Vec::new(),
        };
        Ok(raw("application/x-pem-file", body))
    }

    async fn read_cert(
        &self,
        ctx: &Context,
        fields: Fields<'_>,
    ) -> strongroom_logical::Result<Response> {
        let serial: String = fields.get("serial")?;
        let state = load_state(ctx).await?;
        let unrevoked = |certificate: String| {
            data(
                json!({"certificate": certificate, "revocation_time": 0, "revocation_time_rfc3339": ""}),
            )
        };
        match serial.as_str() {
            "ca" => {
                let issuer = state.default_issuer()?;
                Ok(unrevoked(pem_text(&CaState::issuer_der(issuer)?)))
            }
            "ca_chain" => {
                let issuer = state.default_issuer()?;
                let chain: Vec<String> = state.chain(issuer)?.iter().map(|d| pem_text(d)).collect();
                let joined = chain.join("\n");
                Ok(data(json!({
                    "ca_chain": joined,
                    "certificate": joined,
                    "revocation_time": 0,
                    "revocation_time_rfc3339": "",
                })))
            }
            "crl" => {
                let text = current_crl(ctx)
                    .await?
                    .map(|der| crate::pem::encode("X509 CRL", &der).to_string())
                    .unwrap_or_default();
                Ok(unrevoked(text))
            }
            _ => {
                let serial = normalise_serial(&serial);
                let Some(der) = ctx.storage.get(&cert_key(&serial)).await? else {
                    return Ok(Response::empty());
                };
                match load_json::<Revocation>(ctx, &revoked_key(&serial)).await? {
                    Some(revocation) => Ok(data(json!({
                        "certificate": pem_text(&der),
                        "issuer_id": revocation.issuer_id,
                        "revocation_time": revocation.revocation_time,
                        "revocation_time_rfc3339": revocation.revocation_time_rfc3339,
                    }))),
                    None => Ok(unrevoked(pem_text(&der))),
                }
            }
        }
    }

    async fn list_certs(
        &self,
        ctx: &Context,
        _fields: Fields<'_>,
    ) -> strongroom_logical::Result<Response> {
        let keys = ctx.storage.list("certs/").await?;
        Ok(list(keys))
    }

    async fn list_revoked(
        &self,
        ctx: &Context,
        _fields: Fields<'_>,
    ) -> strongroom_logical::Result<Response> {
        let keys = ctx.storage.list("revoked/").await?;
        Ok(list(keys))
    }

    async fn revoke(
        &self,
        ctx: &Context,
        fields: Fields<'_>,
    ) -> strongroom_logical::Result<Response> {
        let _writes = self.writes.lock().await;
        let mut serial: String = fields.get("serial_number")?;
        let certificate: String = fields.get("certificate")?;
        if serial.is_empty() && !certificate.is_empty() {
            let blocks = crate::pem::blocks(&certificate)?;
            let Some((_, der)) = blocks.first() else {
                return Err(PkiError::invalid("certificate contains no data").into());
            };
            serial = parse_cert(der)?.serial;
        }
        if serial.is_empty() {
            return Err(PkiError::invalid(
                "The serial number or certificate to revoke must be provided.",
            )
            .into());
        }
        let serial = normalise_serial(&serial);
        let revocation = match revoke_serial(ctx, &serial).await {
            Err(PkiError::NotFound) => {
                return Err(PkiError::invalid(format!(
                    "certificate with serial {serial} not found."
                ))
                .into());
            }
            other => other?,
        };
        Ok(data(json!({
            "revocation_time": revocation.revocation_time,
            "revocation_time_rfc3339": revocation.revocation_time_rfc3339,
            "state": "revoked",
        })))
    }

    async fn rotate_crl(
        &self,
        ctx: &Context,
        _fields: Fields<'_>,
    ) -> strongroom_logical::Result<Response> {
        let _writes = self.writes.lock().await;
        let state = load_state(ctx).await?;
        rebuild_crls(ctx, &state).await?;
        Ok(data(json!({"success": true})))
    }

    async fn read_urls(
        &self,
        ctx: &Context,
        _fields: Fields<'_>,
    ) -> strongroom_logical::Result<Response> {
        Ok(urls_response(&load_urls(ctx).await?))
    }

    async fn write_urls(
        &self,
        ctx: &Context,
        fields: Fields<'_>,
    ) -> strongroom_logical::Result<Response> {
        let mut urls = load_urls(ctx).await?;
        if let Some(list) = fields.get_ok::<Vec<String>>("issuing_certificates")? {
            urls.issuing_certificates = list;
        }
        if let Some(list) = fields.get_ok::<Vec<String>>("crl_distribution_points")? {
            urls.crl_distribution_points = list;
        }
        if let Some(list) = fields.get_ok::<Vec<String>>("ocsp_servers")? {
            urls.ocsp_servers = list;
        }
        for url in urls
            .issuing_certificates
            .iter()
            .chain(&urls.crl_distribution_points)
            .chain(&urls.ocsp_servers)
        {
            if !url.contains("://") || !url.is_ascii() || url.chars().any(char::is_whitespace) {
                return Err(PkiError::invalid(format!("invalid URL found: {url}")).into());
            }
        }
        ctx.storage.put(URLS, to_json(&urls)?).await?;
        Ok(urls_response(&urls))
    }

    async fn read_crl_config(
        &self,
        ctx: &Context,
        _fields: Fields<'_>,
    ) -> strongroom_logical::Result<Response> {
        Ok(data(
            serde_json::to_value(load_crl_config(ctx).await?).unwrap_or_default(),
        ))
    }

    async fn write_crl_config(
        &self,
        ctx: &Context,
        fields: Fields<'_>,
    ) -> strongroom_logical::Result<Response> {
        let _writes = self.writes.lock().await;
        let mut config = load_crl_config(ctx).await?;
        if let Some(expiry) = fields.get_ok::<String>("expiry")? {
            if parse_go_duration(&expiry).is_none() {
                return Err(PkiError::invalid(format!(
                    "given expiry could not be decoded: time: invalid duration {expiry:?}"
                ))
                .into());
            }
            config.expiry = expiry;
        }
        if let Some(grace) = fields.get_ok::<String>("auto_rebuild_grace_period")? {
            if parse_go_duration(&grace).is_none() {
                return Err(PkiError::invalid(format!(
                    "given auto_rebuild_grace_period could not be decoded: time: invalid duration {grace:?}"
                ))
                .into());
            }
            config.auto_rebuild_grace_period = grace;
        }
        if let Some(v) = fields.get_ok::<bool>("disable")? {
            config.disable = v;
        }
        if let Some(v) = fields.get_ok::<bool>("auto_rebuild")? {
            config.auto_rebuild = v;
        }
        if let Some(v) = fields.get_ok::<bool>("ocsp_disable")? {
            config.ocsp_disable = v;
        }
        if let Some(v) = fields.get_ok::<bool>("allow_expired_cert_revocation")? {
            config.allow_expired_cert_revocation = v;
        }
        if fields.get_ok::<bool>("enable_delta")? == Some(true) {
            return Err(PkiError::invalid("delta CRLs are not offered by this server").into());
        }
        ctx.storage.put(CRL_CONFIG, to_json(&config)?).await?;
        let state = load_state(ctx).await?;
        rebuild_crls(ctx, &state).await?;
        Ok(data(serde_json::to_value(config).unwrap_or_default()))
    }

    async fn read_role(
        &self,
        ctx: &Context,
        fields: Fields<'_>,
    ) -> strongroom_logical::Result<Response> {
        let name: String = fields.get("name")?;
        match load_json::<Role>(ctx, &format!("roles/{name}")).await? {
            Some(role) => Ok(data(serde_json::to_value(role).unwrap_or_default())),
            None => Ok(Response::empty()),
        }
    }

    async fn write_role(
        &self,
        ctx: &Context,
        fields: Fields<'_>,
    ) -> strongroom_logical::Result<Response> {
        let name: String = fields.get("name")?;
        let mut role: Role = fields.decode()?;
        role.validate()?;
        ctx.storage
            .put(&format!("roles/{name}"), to_json(&role)?)
            .await?;
        let mut response = data(serde_json::to_value(&role).unwrap_or_default());
        if role.issuer_ref == "default" && load_state(ctx).await?.default_issuer().is_err() {
            response.warnings.push(
                "Issuing Certificate was set to default, but no default issuing certificate \
                 (configurable at /config/issuers) is currently set"
                    .into(),
            );
        }
        Ok(response)
    }

    async fn delete_role(
        &self,
        ctx: &Context,
        fields: Fields<'_>,
    ) -> strongroom_logical::Result<Response> {
        let name: String = fields.get("name")?;
        ctx.storage.delete(&format!("roles/{name}")).await?;
        Ok(Response::empty())
    }

    async fn role_exists(
        &self,
        ctx: &Context,
        fields: Fields<'_>,
    ) -> strongroom_logical::Result<bool> {
        let name: String = fields.get("name")?;
        Ok(ctx.storage.get(&format!("roles/{name}")).await?.is_some())
    }

    async fn list_roles(
        &self,
        ctx: &Context,
        _fields: Fields<'_>,
    ) -> strongroom_logical::Result<Response> {
        Ok(list(ctx.storage.list("roles/").await?))
    }

    async fn issue(
        &self,
        ctx: &Context,
        fields: Fields<'_>,
    ) -> strongroom_logical::Result<Response> {
        let role = load_role(ctx, &fields).await?;
        issue_or_sign(ctx, &fields, &role, Mode::Issue).await
    }

    async fn sign(
        &self,
        ctx: &Context,
        fields: Fields<'_>,
    ) -> strongroom_logical::Result<Response> {
        let role = load_role(ctx, &fields).await?;
        issue_or_sign(ctx, &fields, &role, Mode::Sign).await
    }

    async fn sign_verbatim(
        &self,
        ctx: &Context,
        fields: Fields<'_>,
    ) -> strongroom_logical::Result<Response> {
        let name: String = fields.get("role")?;
        let mut role = if name.is_empty() {
            Role::default()
        } else {
            load_role(ctx, &fields).await?
        };
        // Vault's sign-verbatim role: everything in the CSR, no name checks, usages from the
        // request.
        role.allow_any_name = true;
        role.enforce_hostnames = false;
        role.allow_ip_sans = true;
        role.allowed_uri_sans = vec!["*".into()];
        role.use_csr_common_name = true;
        role.use_csr_sans = true;
        role.key_type = "any".into();
        role.key_usage = fields.get("key_usage")?;
        role.ext_key_usage = fields.get("ext_key_usage")?;
        role.server_flag = false;
        role.client_flag = false;
        role.require_cn = false;
        if name.is_empty() {
            role.max_ttl = 0;
            role.ttl = 0;
        }
        issue_or_sign(ctx, &fields, &role, Mode::Verbatim).await
    }

    async fn tidy(
        &self,
        ctx: &Context,
        fields: Fields<'_>,
    ) -> strongroom_logical::Result<Response> {
        let _writes = self.writes.lock().await;
        let cert_store: bool = fields.get("tidy_cert_store")?;
        let revoked: bool = fields.get("tidy_revoked_certs")?;
        let buffer: Duration = fields.get("safety_buffer")?;
        let mut response = Response::empty();
        response.accepted = true;
        if !cert_store && !revoked {
            response.warnings.push(
                "Manual tidy requested but no tidy operations were set. Enable at least one tidy \
                 operation to be run (tidy_cert_store / tidy_revoked_certs / tidy_invalid_certs / \
                 tidy_revoked_cert_issuer_associations / tidy_expired_issuers / \
                 tidy_move_legacy_ca_bundle / tidy_acme)."
                    .into(),
            );
            return Ok(response);
        }
        let started = ctx.now;
        let outcome = run_tidy(ctx, cert_store, revoked, buffer).await;
        let finished = std::time::SystemTime::now().max(started);
        let buffer_secs = buffer.as_secs();
        let (deleted, revoked_deleted, error) = match &outcome {
            Ok((a, b)) => (*a, *b, Value::Null),
            Err(err) => (0, 0, json!(err.to_string())),
        };
        let status = json!({
            "acme_account_deleted_count": 0,
            "acme_account_revoked_count": 0,
            "acme_account_safety_buffer": 2_592_000,
            "acme_orders_deleted_count": 0,
            "cert_store_deleted_count": deleted,
            "current_cert_store_count": Value::Null,
            "current_revoked_cert_count": Value::Null,
            "error": error,
            "internal_backend_uuid": ca::uuid(),
            "issuer_safety_buffer": 31_536_000,
            "last_auto_tidy_finished": rfc3339(finished),
            "message": Value::Null,
            "missing_issuer_cert_count": 0,
            "page_size": 1000,
            "pause_duration": "0s",
            "revoked_cert_deleted_count": revoked_deleted,
            "revoked_safety_buffer": buffer_secs,
            "safety_buffer": buffer_secs,
            "state": if outcome.is_ok() { "Finished" } else { "Error" },
            "tidy_acme": false,
            "tidy_cert_store": cert_store,
            "tidy_expired_issuers": false,
            "tidy_invalid_certs": false,
            "tidy_move_legacy_ca_bundle": false,
            "tidy_revoked_cert_issuer_associations": false,
            "tidy_revoked_certs": revoked,
            "time_finished": rfc3339(finished),
            "time_started": rfc3339(started),
            "total_acme_account_count": 0,
        });
        ctx.storage.put(TIDY_STATUS, to_json(&status)?).await?;
        response.warnings.push(
            "Tidy operation successfully started. Any information from the operation will be \
             printed to OpenBao's server logs."
                .into(),
        );
        Ok(response)
    }

    async fn tidy_status(
        &self,
        ctx: &Context,
        _fields: Fields<'_>,
    ) -> strongroom_logical::Result<Response> {
        let status: Option<Value> = load_json(ctx, TIDY_STATUS).await?;
        Ok(data(status.unwrap_or_else(|| {
            json!({
                "safety_buffer": Value::Null,
                "state": "Inactive",
                "error": Value::Null,
                "time_started": Value::Null,
                "time_finished": Value::Null,
                "message": Value::Null,
                "cert_store_deleted_count": 0,
                "revoked_cert_deleted_count": 0,
            })
        })))
    }
}

/// Tidies: removes stored certificates (and revocations) that expired more than `buffer` ago.
/// Returns how many certificates and revocations went.
async fn run_tidy(
    ctx: &Context,
    cert_store: bool,
    revoked: bool,
    buffer: Duration,
) -> Result<(u64, u64)> {
    let cutoff = unix(ctx.now).saturating_sub(i64::try_from(buffer.as_secs()).unwrap_or(i64::MAX));
    let mut certs = 0;
    let mut revocations = 0;
    let state = load_state(ctx).await?;
    let mut revoked_changed = false;
    for name in ctx.storage.list("certs/").await? {
        let key = format!("certs/{name}");
        let Some(der) = ctx.storage.get(&key).await? else {
            continue;
        };
        let Ok(info) = parse_cert(&der) else { continue };
        if info.not_after > cutoff {
            continue;
        }
        let is_revoked = ctx.storage.get(&format!("revoked/{name}")).await?.is_some();
        if is_revoked && revoked {
            ctx.storage
                .transaction(vec![Op::delete(key), Op::delete(format!("revoked/{name}"))])
                .await?;
            certs += 1;
            revocations += 1;
            revoked_changed = true;
        } else if !is_revoked && cert_store {
            ctx.storage.delete(&key).await?;
            certs += 1;
        }
    }
    if revoked_changed {
        rebuild_crls(ctx, &state).await?;
    }
    Ok((certs, revocations))
}

fn list(keys: Vec<String>) -> Response {
    if keys.is_empty() {
        Response::empty()
    } else {
        Response::list(keys)
    }
}

fn urls_response(urls: &Urls) -> Response {
    data(json!({
        "crl_distribution_points": urls.crl_distribution_points,
        "delta_crl_distribution_points": [],
        "enable_templating": false,
        "issuing_certificates": urls.issuing_certificates,
        "ocsp_servers": urls.ocsp_servers,
    }))
}

async fn current_crl(ctx: &Context) -> Result<Option<Vec<u8>>> {
    let state = load_state(ctx).await?;
    let Ok(issuer) = state.default_issuer() else {
        return Ok(None);
    };
    match load_crl(ctx, &issuer.id).await? {
        Some(crl) => Ok(Some(decode_b64(&crl.der)?.to_vec())),
        None => Ok(None),
    }
}

fn exported_of(fields: &Fields<'_>) -> strongroom_logical::Result<bool> {
    let exported: String = fields.get("exported")?;
    match exported.as_str() {
        "internal" => Ok(false),
        "exported" => Ok(true),
        "existing" | "kms" => Err(PkiError::invalid(format!(
            "the {exported:?} key source is not offered by this server"
        ))
        .into()),
        _ => Err(PkiError::invalid(
            "the \"exported\" path parameter must be \"internal\", \"existing\", exported\" or \"kms\"",
        )
        .into()),
    }
}

fn signature_bits(fields: &Fields<'_>) -> strongroom_logical::Result<u32> {
    let bits: i64 = fields.get("signature_bits")?;
    match bits {
        0 | 256 | 384 | 512 => Ok(u32::try_from(bits).unwrap_or(0)),
        _ => Err(PkiError::invalid(format!("unsupported signature bits: {bits}")).into()),
    }
}

fn signing_authority(state: &CaState) -> Result<Authority> {
    let issuer = state.default_issuer().map_err(|_| {
        PkiError::Internal(
            "1 error occurred:\n\t* could not fetch the CA certificate (was one set?): no default \
             issuer currently configured\n\n"
                .into(),
        )
    })?;
    state.authority_of(issuer)
}

async fn load_role(ctx: &Context, fields: &Fields<'_>) -> strongroom_logical::Result<Role> {
    let name: String = fields.get("role")?;
    load_json::<Role>(ctx, &format!("roles/{name}"))
        .await?
        .ok_or_else(|| PkiError::invalid(format!("unknown role: {name}")).into())
}

/// Imports a PEM bundle's certificates (and keys, for `config/ca`), answering as Vault does.
async fn import(
    ctx: &Context,
    text: &str,
    keys_allowed: bool,
) -> strongroom_logical::Result<Response> {
    let blocks = crate::pem::blocks(text)?;
    let mut state = load_state(ctx).await?;
    let mut imported_keys = Vec::new();
    let mut existing_keys = Vec::new();
    let mut certificates = Vec::new();
    for (label, der) in &blocks {
        if label.ends_with("PRIVATE KEY") {
            if !keys_allowed {
                return Err(PkiError::invalid(
                    "private keys are not taken here: use config/ca to import a key",
                )
                .into());
            }
            let key = PrivateKey::from_pem_block(label, der)?;
            match state.key_for(&key.public_key_der()?)? {
                Some(id) => existing_keys.push(id),
                None => imported_keys.push(state.add_key(&key)),
            }
        } else if label == "CERTIFICATE" {
            certificates.push(der.to_vec());
        }
    }
    let mut imported_issuers = Vec::new();
    let mut existing_issuers = Vec::new();
    for (index, der) in certificates.iter().enumerate() {
        let Ok(info) = parse_cert(der) else {
            return Err(PkiError::invalid(format!(
                "Error parsing issuer {index}: x509: malformed certificate\n{}\n",
                pem_text(der)
            ))
            .into());
        };
        if !info.is_ca {
            return Err(PkiError::invalid(format!(
                "Refusing to import non-CA certificate (issuer {index}, serial {})",
                info.serial
            ))
            .into());
        }
        match state.issuer_with(der)? {
            Some(id) => existing_issuers.push(id),
            None => imported_issuers.push(state.add_issuer(der)?),
        }
    }
    // Keys imported after their certificate: match them now.
    let mut issuers = std::mem::take(&mut state.issuers);
    for issuer in &mut issuers {
        if issuer.key_id.is_none() {
            let info = parse_cert(&CaState::issuer_der(issuer)?)?;
            issuer.key_id = state.key_for(&info.spki)?;
        }
    }
    state.issuers = issuers;
    if state.default_issuer().is_err() {
        state.default_issuer = state
            .issuers
            .iter()
            .find(|issuer| issuer.key_id.is_some())
            .map(|issuer| issuer.id.clone());
    }
    // The CRLs first: an issuer that cannot sign one is not stored.
    rebuild_crls(ctx, &state).await?;
    ctx.storage.put(STATE, to_json(&state)?).await?;
    let mut mapping = Map::new();
    for id in existing_issuers.iter().chain(&imported_issuers) {
        let key = state
            .issuer(id)
            .and_then(|issuer| issuer.key_id.clone())
            .unwrap_or_default();
        mapping.insert(id.clone(), json!(key));
    }
    let mut response = data(json!({
        "existing_issuers": list_or_null(&existing_issuers),
        "existing_keys": list_or_null(&existing_keys),
        "imported_issuers": list_or_null(&imported_issuers),
        "imported_keys": list_or_null(&imported_keys),
        "mapping": mapping,
    }));
    if load_urls(ctx).await?.is_empty() {
        response.warnings.push(AIA_WARNING.into());
    }
    Ok(response)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Issue,
    Sign,
    Verbatim,
}

/// `issue/<role>`, `sign/<role>` and `sign-verbatim`: checks the request against the role,
/// builds the certificate, stores it (unless `no_store`) and answers as Vault does.
async fn issue_or_sign(
    ctx: &Context,
    fields: &Fields<'_>,
    role: &Role,
    mode: Mode,
) -> strongroom_logical::Result<Response> {
    let format = format_of(fields)?;
    let mut warnings = Vec::new();
    let csr = if mode == Mode::Issue {
        None
    } else {
        let text: String = fields.get("csr")?;
        if text.is_empty() {
            return Err(PkiError::invalid("\"csr\" is empty").into());
        }
        Some(parse_csr(&text)?)
    };
    let state = load_state(ctx).await?;
    let authority = signing_authority(&state)?;
    // The common name and SANs: the request's, or the CSR's when the role says so.
    let mut common_name: String = fields.get("common_name")?;
    if let Some(csr) = &csr
        && role.use_csr_common_name
    {
        if !common_name.is_empty() && mode == Mode::Sign {
            warnings.push(
                "the common_name field was provided but the role is set with \
                 \"use_csr_common_name\" set to true"
                    .into(),
            );
        }
        common_name = csr.common_name.clone().unwrap_or_default();
    }
    let exclude_cn: bool = fields.get("exclude_cn_from_sans")?;
    let mut names = if let Some(csr) = csr.as_ref().filter(|_| role.use_csr_sans) {
        let alt: Vec<String> = fields.get("alt_names")?;
        if !alt.is_empty() && mode == Mode::Sign {
            warnings.push(
                "the alt_names field was provided but the role is set with \"use_csr_sans\" set \
                 to true"
                    .into(),
            );
        }
        let mut names = Names::default();
        if !exclude_cn {
            push_name(&mut names, &common_name);
        }
        for dns in &csr.dns_names {
            push_name(&mut names, dns);
        }
        for email in &csr.emails {
            push_name(&mut names, email);
        }
        names.ips = csr.ips.clone();
        names.uris = csr.uris.clone();
        names
    } else {
        names_of(fields, &common_name, exclude_cn)?
    };
    if common_name.is_empty() && role.require_cn {
        return Err(PkiError::invalid(
            "the common_name field is required, or must be provided in a CSR with \
             \"use_csr_common_name\" set to true, unless \"require_cn\" is set to false",
        )
        .into());
    }
    // A CN that is neither hostname nor email does not go into the SANs.
    if !common_name.contains('@')
        && !crate::names::is_hostname(&common_name)
        && !common_name.starts_with("*.")
    {
        names.dns.retain(|n| n != &common_name);
    }
    if mode != Mode::Verbatim {
        check_names(role, &common_name, exclude_cn, &names)?;
    }
    if let Some(csr) = &csr
        && csr.key.spec.ty == crate::keys::KeyType::Rsa
        && csr.key.spec.bits < 2048
    {
        return Err(PkiError::invalid(format!(
            "RSA keys < 2048 bits are unsafe and not supported: got {}",
            csr.key.spec.bits
        ))
        .into());
    }
    if let Some(csr) = &csr
        && role.key_type != "any"
    {
        let spec = KeySpec::parse(&role.key_type, role.key_bits)?;
        if csr.key.spec.ty != spec.ty {
            return Err(PkiError::invalid(format!(
                "role requires keys of type {} but {} key was provided",
                role.key_type,
                csr.key.spec.ty.name()
            ))
            .into());
        }
        if spec.ty != crate::keys::KeyType::Ed25519 && csr.key.spec.bits < spec.bits {
            return Err(PkiError::invalid(format!(
                "role requires a minimum of a {}-bit key, but CSR's key is {} bits",
                spec.bits, csr.key.spec.bits
            ))
            .into());
        }
    }
    let requested_ttl = fields.get_ok::<Duration>("ttl")?;
    let requested_not_after: String = fields.get("not_after")?;
    if requested_ttl.is_some_and(|ttl| !ttl.is_zero()) && !requested_not_after.is_empty() {
        return Err(PkiError::invalid(
            "Either ttl or not_after should be provided. Both should not be provided in the same request.",
        )
        .into());
    }
    // The role's not_after comes first (Vault's order): a request cannot move it.
    let not_after_text = if role.not_after.is_empty() {
        requested_not_after
    } else {
        role.not_after.clone()
    };
    let not_after = validity(
        ctx,
        requested_ttl,
        Duration::from_secs(role.ttl),
        Duration::from_secs(role.max_ttl),
        &not_after_text,
        Some(authority.info.not_after),
        &mut warnings,
    )?;
    let now = unix(ctx.now);
    let not_before = now - i64::try_from(role.not_before_duration).unwrap_or(30);
    let subject = Subject {
        common_name: common_name.clone(),
        ou: role.ou.clone(),
        organization: role.organization.clone(),
        country: role.country.clone(),
        locality: role.locality.clone(),
        province: role.province.clone(),
        street_address: role.street_address.clone(),
        postal_code: role.postal_code.clone(),
        serial_number: String::new(),
    };
    let template = Template {
        subject,
        verbatim_subject: if mode == Mode::Verbatim {
            csr.as_ref().map(|c| c.subject.clone())
        } else {
            None
        },
        names,
        not_before,
        not_after,
        key_usage: key_usages(&role.key_usage),
        ext_key_usage: ext_key_usages(role),
        ca: None,
        explicit_not_ca: role.basic_constraints_valid_for_non_ca,
        permitted_dns_domains: Vec::new(),
        urls: load_urls(ctx).await?,
        signature_bits: u32::try_from(role.signature_bits).unwrap_or(0),
    };
    let (der, key) = match &csr {
        Some(csr) => (authority.sign(&template, &csr.key)?, None),
        None => {
            let spec = KeySpec::parse(&role.key_type, role.key_bits)?;
            let key = PrivateKey::generate_async(spec).await?;
            let subject_key = key.signer(0)?;
            (authority.sign(&template, &*subject_key)?, Some(key))
        }
    };
    let info = parse_cert(&der)?;
    if !role.no_store {
        ctx.storage
            .put(&cert_key(&info.serial), der.clone())
            .await?;
    }
    let chain: Vec<String> = authority
        .chain
        .iter()
        .map(|c| cert_text(c, &format))
        .collect();
    let mut out = json!({
        "ca_chain": chain,
        "certificate": cert_text(&der, &format),
        "expiration": info.not_after,
        "issuing_ca": cert_text(&authority.der, &format),
        "not_before": info.not_before,
        "serial_number": info.serial,
    });
    if let Some(key) = &key {
        let private_key_format: String = fields.get("private_key_format")?;
        let text = key.text(&format, &private_key_format)?;
        if format == "pem_bundle" {
            let mut bundle = vec![text.to_string(), pem_text(&der)];
            bundle.extend(authority.chain.iter().map(|c| pem_text(c)));
            set(&mut out, "certificate", json!(bundle.join("\n")));
        }
        set(&mut out, "private_key", json!(text.as_str()));
        set(&mut out, "private_key_type", json!(key.spec().ty.name()));
    } else if format == "pem_bundle" {
        let mut bundle = vec![pem_text(&der)];
        bundle.extend(authority.chain.iter().map(|c| pem_text(c)));
        set(&mut out, "certificate", json!(bundle.join("\n")));
    }
    let mut response = data(out);
    response.warnings = warnings;
    if role.generate_lease {
        let ttl = u64::try_from(not_after - now).unwrap_or(0);
        let mut internal = Map::new();
        internal.insert("serial_number".into(), json!(info.serial));
        let mut secret = SecretDescriptor::default();
        secret.ttl = Duration::from_secs(ttl.max(1));
        secret.max_ttl = Some(Duration::from_secs(ttl.max(1)));
        secret.renewable = false;
        secret.internal = internal;
        response.secret = Some(secret);
    }
    Ok(response)
}

/// The role's name checks, in Vault's words.
fn check_names(role: &Role, common_name: &str, exclude_cn: bool, names: &Names) -> Result<()> {
    if !common_name.is_empty() {
        let cn = vec![common_name.to_owned()];
        let validations = &role.cn_validations;
        let disabled = validations.iter().any(|v| v == "disabled");
        if !disabled && first_disallowed(role, &cn).is_some() {
            return Err(PkiError::invalid(format!(
                "common name {common_name} not allowed by this role"
            )));
        }
    }
    // Every DNS and email SAN is checked, the common name's among them: a role whose CN
    // checks are disabled must not certify a hostname it does not allow.
    let sans: Vec<String> = names.dns.iter().chain(&names.emails).cloned().collect();
    let _ = exclude_cn;
    if let Some(bad) = first_disallowed(role, &sans) {
        return Err(PkiError::invalid(format!(
            "subject alternate name {bad} not allowed by this role"
        )));
    }
    if !role.allowed_ip_sans_cidr.is_empty() {
        let blocks = strongroom_logical::cidr::Cidr::parse_all(&role.allowed_ip_sans_cidr)
            .map_err(|err| PkiError::invalid(err.to_string()))?;
        if let Some(ip) = names
            .ips
            .iter()
            .find(|ip| !blocks.iter().any(|b| b.contains(**ip)))
        {
            return Err(PkiError::invalid(format!(
                "IP Subject Alternative Name {ip} is not allowed by this role's allowed_ip_sans_cidr"
            )));
        }
    }
    if !names.ips.is_empty() && !role.allow_ip_sans {
        return Err(PkiError::invalid(format!(
            "IP Subject Alternative Names are not allowed in this role, but was provided {}",
            names
                .ips
                .first()
                .map(ToString::to_string)
                .unwrap_or_default()
        )));
    }
    if !names.uris.is_empty() {
        if role.allowed_uri_sans.is_empty() {
            return Err(PkiError::invalid(
                "URI Subject Alternative Names are not allowed in this role, but were provided via the API",
            ));
        }
        for uri in &names.uris {
            if !role
                .allowed_uri_sans
                .iter()
                .any(|allowed| crate::names::glob(allowed, uri))
            {
                return Err(PkiError::invalid(format!(
                    "URI Subject Alternative Names are not allowed in this role, but were provided {uri}"
                )));
            }
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Declarations.

fn string(description: &str) -> Field {
    Field::new(FieldType::String, description)
}

fn common_fields<B>(endpoint: Endpoint<B>) -> Endpoint<B> {
    endpoint
        .field("common_name", string("The requested common name; if you want more than one, specify the alternative names in the alt_names map. If email protection is enabled in the role, this may be an email address."))
        .field("alt_names", Field::new(FieldType::CommaStringSlice, "The requested Subject Alternative Names, if any, in a comma-delimited list. If email protection is enabled for the role, this may contain email addresses."))
        .field("ip_sans", Field::new(FieldType::CommaStringSlice, "The requested IP SANs, if any, in a comma-delimited list"))
        .field("uri_sans", Field::new(FieldType::CommaStringSlice, "The requested URI SANs, if any, in a comma-delimited list."))
        .field("other_sans", Field::new(FieldType::CommaStringSlice, "Requested other SANs, in an array with the format <oid>;UTF8:<utf8 string value> for each entry (not offered here yet)."))
        .field("ttl", Field::new(FieldType::DurationSecond, "The requested Time To Live for the certificate; sets the expiration date. If not specified the role default, backend default, or system default TTL is used, in that order. Cannot be larger than the role max TTL."))
        .field("format", string("Format for returned data. Can be \"pem\", \"der\", or \"pem_bundle\". If \"pem_bundle\", any private key and issuing cert will be appended to the certificate pem. If \"der\", the value will be base64 encoded. Defaults to \"pem\".").default("pem"))
        .field("exclude_cn_from_sans", Field::new(FieldType::Bool, "If true, the Common Name will not be included in DNS or Email Subject Alternate Names. Defaults to false (CN is included)."))
        .field("not_after", string("Set the not after field of the certificate with specified date value. The value format should be given in UTC format YYYY-MM-ddTHH:MM:SSZ"))
        .field("private_key_format", string("Format for the returned private key. Generally the default will be controlled by the \"format\" parameter as either base64-encoded DER or PEM-encoded DER. However, this can be set to \"pkcs8\" to have the returned private key contain base64-encoded pkcs8 or PEM-encoded pkcs8 instead. Defaults to \"der\".").default("der"))
        .field("serial_number", string("The Subject's requested serial number, if any."))
        .field("issuer_ref", string("Reference to a existing issuer; either \"default\" for the configured default issuer, an identifier or the name assigned to the issuer.").default("default"))
}

fn ca_fields<B>(endpoint: Endpoint<B>) -> Endpoint<B> {
    common_fields(endpoint)
        .field("key_type", string("The type of key to use; defaults to RSA. \"rsa\" \"ec\" and \"ed25519\" are the only valid values.").default("rsa"))
        .field("key_bits", Field::new(FieldType::Int, "The number of bits to use. Allowed values are 0 (universal default); with rsa key_type: 2048 (default), 3072, or 4096; with ec key_type: 256 (default) or 384; with ed25519 key_type: 0.").default(0))
        .field("signature_bits", Field::new(FieldType::Int, "The number of bits to use in the signature algorithm; accepts 256 for SHA-2-256, 384 for SHA-2-384, and 512 for SHA-2-512. Defaults to 0 to automatically detect based on key length.").default(0))
        .field("max_path_length", Field::new(FieldType::Int, "The maximum allowable path length").default(-1))
        .field("permitted_dns_domains", Field::new(FieldType::CommaStringSlice, "Domains for which this certificate is allowed to sign or issue child certificates. If set, all DNS names (subject and alt) on child certs must be exact matches or subsets of the given domains (see https://tools.ietf.org/html/rfc5280#section-4.2.1.10)."))
        .field("ou", Field::new(FieldType::CommaStringSlice, "If set, OU (OrganizationalUnit) will be set to this value."))
        .field("organization", Field::new(FieldType::CommaStringSlice, "If set, O (Organization) will be set to this value."))
        .field("country", Field::new(FieldType::CommaStringSlice, "If set, Country will be set to this value."))
        .field("locality", Field::new(FieldType::CommaStringSlice, "If set, Locality will be set to this value."))
        .field("province", Field::new(FieldType::CommaStringSlice, "If set, Province will be set to this value."))
        .field("street_address", Field::new(FieldType::CommaStringSlice, "If set, Street Address will be set to this value."))
        .field("postal_code", Field::new(FieldType::CommaStringSlice, "If set, Postal Code will be set to this value."))
        .field("issuer_name", string("Provide a name to the generated or existing issuer, the name must be unique across all issuers and not be the reserved value 'default'"))
        .field("key_name", string("Provide a name to the generated or existing key, the name must be unique across all keys and not be the reserved value 'default'"))
}

/// An unauthenticated fetch endpoint (the CA certificate, its chain, the CRL) as Vault declares
/// them: a read, no token.
fn fetch(pattern: &str, handler: strongroom_logical::Handler<Pki>) -> Endpoint<Pki> {
    Endpoint::new(pattern)
        .read(handler)
        .unauthenticated()
        .synopsis("Fetch a CA, CRL, CA Chain, or non-revoked certificate.")
        .description(
            "This allows certificates to be fetched. Use /cert/:serial for JSON responses.",
        )
}

fn declarations() -> Endpoints<Pki> {
    type E = Endpoint<Pki>;
    let exported = || {
        string(
            "Must be \"internal\", \"exported\" or \"kms\". If set to \"exported\", the generated private key will be returned. This is your *only* chance to retrieve the private key!",
        )
    };
    let role_name = || string("The desired role with configuration for this request");
    let mut role_endpoint = E::new("roles/{name}").field("name", string("Name of the role"));
    for (name, field) in role::fields() {
        role_endpoint = role_endpoint.field(name, field);
    }
    let role_endpoint = role_endpoint
        .read(|p, ctx, f| Box::pin(async move { p.read_role(ctx, f).await }))
        .write(|p, ctx, f| Box::pin(async move { p.write_role(ctx, f).await }))
        .delete(|p, ctx, f| Box::pin(async move { p.delete_role(ctx, f).await }))
        .exists(|p, ctx, f| Box::pin(async move { p.role_exists(ctx, f).await }))
        .synopsis("Manage the roles that can be created with this backend.")
        .description("This path lets you manage the roles that can be created with this backend.");
    Endpoints::new(
        HELP,
        vec![
            ca_fields(E::new("root/generate/{exported}").field("exported", exported()))
                .write(|p, ctx, f| Box::pin(async move { p.generate_root(ctx, f).await }))
                .synopsis("Generate a new CA certificate and private key used for signing.")
                .description("See the API documentation for more information."),
            ca_fields(E::new("intermediate/generate/{exported}").field("exported", exported()))
                .field("add_basic_constraints", Field::new(FieldType::Bool, "Whether to add a Basic Constraints extension with CA: true. Only needed as a workaround in some compatibility scenarios with Active Directory Certificate Services."))
                .write(|p, ctx, f| Box::pin(async move { p.generate_intermediate(ctx, f).await }))
                .synopsis("Generate a new CSR and private key used for signing.")
                .description("See the API documentation for more information."),
            ca_fields(E::new("root/sign-intermediate"))
                .field("csr", string("PEM-format CSR to be signed."))
                .field("use_csr_values", Field::new(FieldType::Bool, "If true, then: 1) Subject information, including names and alternate names, will be preserved from the CSR rather than using values provided in the other parameters to this path; 2) Any key usages requested in the CSR will be added to the basic set of key usages used for CA certs signed by this path; for instance, the non-repudiation flag; 3) Extensions requested in the CSR will be copied into the issued certificate."))
                .write(|p, ctx, f| Box::pin(async move { p.sign_intermediate(ctx, f).await }))
                .synopsis("Issue an intermediate CA certificate based on the provided CSR.")
                .description("See the API documentation for more information."),
            E::new("intermediate/set-signed")
                .field("certificate", string("PEM-format certificate. This must be a CA certificate with a public key matching the previously-generated key from the generation endpoint. Additional parent CAs may be optionally appended to the bundle."))
                .write(|p, ctx, f| Box::pin(async move { p.set_signed(ctx, f).await }))
                .synopsis("Provide the signed intermediate CA cert.")
                .description("See the API documentation for more information."),
            E::new("config/ca")
                .field("pem_bundle", string("PEM-format, concatenated unencrypted secret key and certificate."))
                .write(|p, ctx, f| Box::pin(async move { p.config_ca(ctx, f).await }))
                .synopsis("Set the CA certificate and private key used for generated credentials.")
                .description("This sets the CA information used for credentials generated by this mount. This must be a PEM-format, concatenated unencrypted secret key and certificate."),
            E::new("root")
                .delete(|p, ctx, f| Box::pin(async move { p.delete_root(ctx, f).await }))
                .sudo()
                .synopsis("Deletes the root CA key to allow a new one to be generated.")
                .description("See the API documentation for more information."),
            fetch("ca/pem", |p, ctx, f| Box::pin(async move { p.fetch_ca_pem(ctx, f).await })),
            fetch("ca", |p, ctx, f| Box::pin(async move { p.fetch_ca_der(ctx, f).await })),
            fetch("ca_chain", |p, ctx, f| Box::pin(async move { p.fetch_ca_chain(ctx, f).await })),
            fetch("crl/pem", |p, ctx, f| Box::pin(async move { p.fetch_crl_pem(ctx, f).await })),
            E::new("crl/rotate")
                .read(|p, ctx, f| Box::pin(async move { p.rotate_crl(ctx, f).await }))
                .synopsis("Force a rebuild of the CRL.")
                .description("Force a rebuild of the CRL. This can be used to remove expired certificates from it if no certificates have been revoked."),
            fetch("crl", |p, ctx, f| Box::pin(async move { p.fetch_crl_der(ctx, f).await })),
            E::new("cert/{serial}")
                .field("serial", string("Certificate serial number, in colon- or hyphen-separated octal"))
                .read(|p, ctx, f| Box::pin(async move { p.read_cert(ctx, f).await }))
                .unauthenticated()
                .synopsis("Fetch a CA, CRL, CA Chain, or non-revoked certificate.")
                .description("This allows certificates to be fetched. If using the fetch/ prefix any non-revoked certificate can be fetched. Using \"ca\" or \"crl\" as the value fetches the appropriate information in DER encoding. Add \"/pem\" to either to get PEM encoding."),
            E::new("certs/revoked/?")
                .list(|p, ctx, f| Box::pin(async move { p.list_revoked(ctx, f).await }))
                .synopsis("List all revoked certificates.")
                .description("This endpoint returns a list of all revoked certificates."),
            E::new("certs/?")
                .list(|p, ctx, f| Box::pin(async move { p.list_certs(ctx, f).await }))
                .synopsis("Fetch a CA, CRL, CA Chain, or non-revoked certificate.")
                .description("This allows certificates to be listed."),
            E::new("revoke")
                .field("serial_number", string("Certificate serial number, in colon- or hyphen-separated octal"))
                .field("certificate", string("Certificate to revoke in PEM format; must be signed by an issuer in this mount."))
                .write(|p, ctx, f| Box::pin(async move { p.revoke(ctx, f).await }))
                .synopsis("Revoke a certificate by serial number or with explicit certificate.")
                .description("This allows certificates to be revoked. A root token or corresponding public certificate is required."),
            E::new("config/urls")
                .field("issuing_certificates", Field::new(FieldType::CommaStringSlice, "Comma-separated list of URLs to be used for the issuing certificate attribute."))
                .field("crl_distribution_points", Field::new(FieldType::CommaStringSlice, "Comma-separated list of URLs to be used for the CRL distribution points attribute."))
                .field("ocsp_servers", Field::new(FieldType::CommaStringSlice, "Comma-separated list of URLs to be used for the OCSP servers attribute."))
                .read(|p, ctx, f| Box::pin(async move { p.read_urls(ctx, f).await }))
                .write(|p, ctx, f| Box::pin(async move { p.write_urls(ctx, f).await }))
                .synopsis("Set the URLs for the issuing CA, CRL distribution points, and OCSP servers.")
                .description("This path allows you to set the issuing CA, CRL distribution points, and OCSP server URLs that will be encoded into issued certificates."),
            E::new("config/crl")
                .field("expiry", string("The amount of time the generated CRL should be valid; defaults to 72 hours"))
                .field("disable", Field::new(FieldType::Bool, "If set to true, disables generating the CRL entirely."))
                .field("ocsp_disable", Field::new(FieldType::Bool, "If set to true, ocsp unauthorized responses will be returned."))
                .field("ocsp_expiry", string("The amount of time an OCSP response will be valid (controls the NextUpdate field); defaults to 12 hours"))
                .field("auto_rebuild", Field::new(FieldType::Bool, "If set to true, enables automatic rebuilding of the CRL"))
                .field("auto_rebuild_grace_period", string("The time before the CRL expires to automatically rebuild it, when enabled. Must be shorter than the CRL expiry. Defaults to 12h."))
                .field("enable_delta", Field::new(FieldType::Bool, "Whether to enable delta CRLs between authoritative CRL rebuilds"))
                .field("delta_rebuild_interval", string("The time between delta CRL rebuilds if a new revocation has occurred. Must be shorter than the CRL expiry. Defaults to 15m."))
                .field("allow_expired_cert_revocation", Field::new(FieldType::Bool, "Whether to allow revocation of expired certificates."))
                .read(|p, ctx, f| Box::pin(async move { p.read_crl_config(ctx, f).await }))
                .write(|p, ctx, f| Box::pin(async move { p.write_crl_config(ctx, f).await }))
                .synopsis("Configure the CRL expiration.")
                .description("This endpoint allows configuration of the CRL lifetime."),
            E::new("roles/?")
                .list(|p, ctx, f| Box::pin(async move { p.list_roles(ctx, f).await }))
                .synopsis("List the existing roles in this backend")
                .description("Roles will be listed by the role name."),
            role_endpoint,
            common_fields(E::new("issue/{role}").field("role", role_name()))
                .write(|p, ctx, f| Box::pin(async move { p.issue(ctx, f).await }))
                .synopsis("Request a certificate using a certain role with the provided details.")
                .description("This path allows requesting a certificate to be issued according to the policy of the given role. The certificate will only be issued if the requested details are allowed by the role policy. This path returns a certificate and a private key."),
            common_fields(E::new("sign/{role}").field("role", role_name()))
                .field("csr", string("PEM-format CSR to be signed."))
                .write(|p, ctx, f| Box::pin(async move { p.sign(ctx, f).await }))
                .synopsis("Request certificates using a certain role with the provided details.")
                .description("This path allows requesting certificates to be issued according to the policy of the given role. The certificate will only be issued if the requested common name is allowed by the role policy. This path requires a CSR; if you want Vault to generate a private key for you, use the issue path instead."),
            common_fields(E::new("sign-verbatim/{role?}").field("role", role_name()))
                .field("csr", string("PEM-format CSR to be signed. Values will be taken verbatim from the CSR, except for basic constraints."))
                .field("key_usage", Field::new(FieldType::CommaStringSlice, "A comma-separated string or list of key usages (not extended key usages).").default(json!(["DigitalSignature", "KeyAgreement", "KeyEncipherment"])))
                .field("ext_key_usage", Field::new(FieldType::CommaStringSlice, "A comma-separated string or list of extended key usages."))
                .write(|p, ctx, f| Box::pin(async move { p.sign_verbatim(ctx, f).await }))
                .synopsis("Request certificates using a certain role with the provided details.")
                .description("This path allows requesting certificates to be issued verbatim from the CSR, bypassing role name checks."),
            E::new("tidy")
                .field("tidy_cert_store", Field::new(FieldType::Bool, "Set to true to enable tidying up the certificate store"))
                .field("tidy_revoked_certs", Field::new(FieldType::Bool, "Set to true to expire all revoked and expired certificates, removing them both from the CRL and from storage. The CRL will be rotated if this causes any values to be removed."))
                .field("safety_buffer", Field::new(FieldType::DurationSecond, "The amount of extra time that must have passed beyond certificate expiration before it is removed from the backend storage and/or revocation list. Defaults to 72 hours.").default(259_200))
                .write(|p, ctx, f| Box::pin(async move { p.tidy(ctx, f).await }))
                .synopsis("Tidy up the backend by removing expired certificates, revocation information, or both.")
                .description("This endpoint allows expired certificates and/or revocation information to be removed from the backend, freeing up storage and shortening CRLs."),
            E::new("tidy-status")
                .read(|p, ctx, f| Box::pin(async move { p.tidy_status(ctx, f).await }))
                .synopsis("Returns the status of the tidy operation.")
                .description("This is a read only endpoint that returns information about the current tidy operation, or the most recent one if none is running."),
        ],
    )
}
