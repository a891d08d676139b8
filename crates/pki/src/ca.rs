//! The mount's issuers and keys, and the certificates they sign.
//!
//! All issuers and keys of a mount live in one entry (`ca/state`), so every change to them
//! (a new root, an import, `DELETE root`) is one write: a crash leaves the old state or the
//! new one, never an issuer without its key. Keys are PKCS#8 inside the barrier, in zeroizing
//! buffers from the moment they are read; they are given out only when generated with
//! `exported`.

use std::net::IpAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rcgen::{
    BasicConstraints, CertificateParams, CrlDistributionPoint, CustomExtension, DistinguishedName,
    DnType, ExtendedKeyUsagePurpose, GeneralSubtree, IsCa, Issuer, KeyIdMethod, KeyUsagePurpose,
    NameConstraints, PublicKeyData, SanType, SerialNumber,
};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use zeroize::Zeroizing;

use crate::error::PkiError;
use crate::keys::{PrivateKey, Signer};
use crate::x509::{CertInfo, parse_cert};

/// One issuer: a CA certificate, and the key that signs with it when the mount holds it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct IssuerEntry {
    pub(crate) id: String,
    #[serde(default)]
    pub(crate) name: String,
    /// The certificate's DER, base64.
    pub(crate) certificate: String,
    #[serde(default)]
    pub(crate) key_id: Option<String>,
}

/// One key.
#[derive(Clone, Serialize, Deserialize)]
pub(crate) struct KeyEntry {
    pub(crate) id: String,
    #[serde(default)]
    pub(crate) name: String,
    /// PKCS#8 DER, base64.
    pub(crate) pkcs8: Zeroizing<String>,
}

impl std::fmt::Debug for KeyEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyEntry")
            .field("id", &self.id)
            .field("pkcs8", &"[REDACTED]")
            .finish_non_exhaustive()
    }
}

/// The mount's issuers and keys.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub(crate) struct CaState {
    #[serde(default)]
    pub(crate) issuers: Vec<IssuerEntry>,
    #[serde(default)]
    pub(crate) keys: Vec<KeyEntry>,
    #[serde(default)]
    pub(crate) default_issuer: Option<String>,
}

/// An issuer ready to sign: its certificate, chain and key.
pub(crate) struct Authority {
    /// The issuer's certificate DER.
    pub(crate) der: Vec<u8>,
    /// What the certificate says.
    pub(crate) info: CertInfo,
    /// The issuer's chain, itself first, up to the root as far as the mount knows it.
    pub(crate) chain: Vec<Vec<u8>>,
    key: PrivateKey,
}

pub(crate) fn decode_b64(text: &str) -> Result<Zeroizing<Vec<u8>>, PkiError> {
    use base64ct::{Base64, Encoding};
    Base64::decode_vec(text)
        .map(Zeroizing::new)
        .map_err(|_| PkiError::Internal("a stored certificate or key does not decode".into()))
}

impl CaState {
    /// The DER of an issuer's certificate.
    pub(crate) fn issuer_der(issuer: &IssuerEntry) -> Result<Vec<u8>, PkiError> {
        Ok(decode_b64(&issuer.certificate)?.to_vec())
    }

    /// The issuer `id`.
    pub(crate) fn issuer(&self, id: &str) -> Option<&IssuerEntry> {
        self.issuers.iter().find(|issuer| issuer.id == id)
    }

    /// The default issuer, in Vault's words when there is none.
    pub(crate) fn default_issuer(&self) -> Result<&IssuerEntry, PkiError> {
        self.default_issuer
            .as_deref()
            .and_then(|id| self.issuer(id))
            .ok_or_else(|| PkiError::invalid("no default issuer currently configured"))
    }

    /// An issuer's chain as DER: itself, then each parent the mount holds (matched by name),
    /// up to a self-issued certificate; at most ten hops.
    pub(crate) fn chain(&self, issuer: &IssuerEntry) -> Result<Vec<Vec<u8>>, PkiError> {
        let first = Self::issuer_der(issuer)?;
        let mut current = parse_cert(&first)?;
        let mut chain = vec![first];
        for _ in 0..10 {
            if current.self_issued {
                break;
            }
            let mut parent = None;
            for candidate in &self.issuers {
                let der = Self::issuer_der(candidate)?;
                if chain.contains(&der) {
                    continue;
                }
                let info = parse_cert(&der)?;
                let child = chain.last().map(Vec::as_slice).unwrap_or_default();
                if info.subject_der == current.issuer_der && crate::x509::signed_by(child, &der) {
                    parent = Some((der, info));
                    break;
                }
            }
            let Some((der, info)) = parent else { break };
            chain.push(der);
            current = info;
        }
        Ok(chain)
    }

    /// The key `id`.
    pub(crate) fn key(&self, id: &str) -> Result<Option<PrivateKey>, PkiError> {
        match self.keys.iter().find(|key| key.id == id) {
            Some(entry) => Ok(Some(PrivateKey::from_stored_pkcs8(&decode_b64(
                &entry.pkcs8,
            )?)?)),
            None => Ok(None),
        }
    }

    /// `issuer`, ready to sign.
    pub(crate) fn authority_of(&self, issuer: &IssuerEntry) -> Result<Authority, PkiError> {
        let key = match &issuer.key_id {
            Some(id) => self.key(id)?,
            None => None,
        }
        .ok_or_else(|| {
            PkiError::invalid(
                "unable to fetch corresponding key for issuer; unable to use this issuer for signing",
            )
        })?;
        let chain = self.chain(issuer)?;
        let der = chain.first().cloned().unwrap_or_default();
        let info = parse_cert(&der)?;
        Ok(Authority {
            der,
            info,
            chain,
            key,
        })
    }

    /// Adds a key; returns its id.
    pub(crate) fn add_key(&mut self, key: &PrivateKey) -> String {
        let id = uuid();
        self.keys.push(KeyEntry {
            id: id.clone(),
            name: String::new(),
            pkcs8: Zeroizing::new(crate::pem::base64(key.pkcs8())),
        });
        id
    }

    /// The id of the stored key whose public half is `spki`, if any.
    pub(crate) fn key_for(&self, spki: &[u8]) -> Result<Option<String>, PkiError> {
        for entry in &self.keys {
            let key = PrivateKey::from_stored_pkcs8(&decode_b64(&entry.pkcs8)?)?;
            if key.public_key_der()? == spki {
                return Ok(Some(entry.id.clone()));
            }
        }
        Ok(None)
    }

    /// Adds an issuer certificate (its key matched among the stored keys); returns its id.
    /// The first issuer with a key becomes the default when there is none.
    pub(crate) fn add_issuer(&mut self, der: &[u8]) -> Result<String, PkiError> {
        let info = parse_cert(der)?;
        let key_id = self.key_for(&info.spki)?;
        let id = uuid();
        self.issuers.push(IssuerEntry {
            id: id.clone(),
            name: String::new(),
            certificate: crate::pem::base64(der),
            key_id: key_id.clone(),
        });
        if key_id.is_some() && self.default_issuer().is_err() {
            self.default_issuer = Some(id.clone());
        }
        Ok(id)
    }

    /// The id of the stored issuer with exactly this certificate, if any.
    pub(crate) fn issuer_with(&self, der: &[u8]) -> Result<Option<String>, PkiError> {
        for issuer in &self.issuers {
            if Self::issuer_der(issuer)? == der {
                return Ok(Some(issuer.id.clone()));
            }
        }
        Ok(None)
    }
}

/// A random UUID in Vault's form.
pub(crate) fn uuid() -> String {
    let mut bytes = [0u8; 16];
    let _ = ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes);
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// A random positive serial number of up to 20 bytes (Vault draws 159 bits).
pub(crate) fn random_serial() -> Result<Vec<u8>, PkiError> {
    let mut bytes = [0u8; 20];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes)
        .map_err(|_| PkiError::Internal("the system's randomness failed".into()))?;
    bytes[0] &= 0x7f;
    let start = bytes.iter().position(|&b| b != 0).unwrap_or(19);
    Ok(bytes.get(start..).unwrap_or_default().to_vec())
}

/// Subject fields (Vault's role and CA fields of the same names).
#[derive(Clone, Debug, Default)]
pub(crate) struct Subject {
    pub(crate) common_name: String,
    pub(crate) ou: Vec<String>,
    pub(crate) organization: Vec<String>,
    pub(crate) country: Vec<String>,
    pub(crate) locality: Vec<String>,
    pub(crate) province: Vec<String>,
    pub(crate) street_address: Vec<String>,
    pub(crate) postal_code: Vec<String>,
    pub(crate) serial_number: String,
}

impl Subject {
    /// Whether the subject is empty (Vault warns about an issuer without one).
    pub(crate) fn is_empty(&self) -> bool {
        self.common_name.is_empty()
            && self.ou.is_empty()
            && self.organization.is_empty()
            && self.country.is_empty()
            && self.locality.is_empty()
            && self.province.is_empty()
            && self.street_address.is_empty()
            && self.postal_code.is_empty()
            && self.serial_number.is_empty()
    }

    fn name(&self) -> DistinguishedName {
        let mut dn = DistinguishedName::new();
        for c in &self.country {
            dn.push(DnType::CountryName, c.as_str());
        }
        for p in &self.province {
            dn.push(DnType::StateOrProvinceName, p.as_str());
        }
        for l in &self.locality {
            dn.push(DnType::LocalityName, l.as_str());
        }
        for s in &self.street_address {
            dn.push(DnType::CustomDnType(vec![2, 5, 4, 9]), s.as_str());
        }
        for p in &self.postal_code {
            dn.push(DnType::CustomDnType(vec![2, 5, 4, 17]), p.as_str());
        }
        for o in &self.organization {
            dn.push(DnType::OrganizationName, o.as_str());
        }
        for ou in &self.ou {
            dn.push(DnType::OrganizationalUnitName, ou.as_str());
        }
        if !self.common_name.is_empty() {
            dn.push(DnType::CommonName, self.common_name.as_str());
        }
        if !self.serial_number.is_empty() {
            dn.push(
                DnType::CustomDnType(vec![2, 5, 4, 5]),
                self.serial_number.as_str(),
            );
        }
        dn
    }
}

/// The names a certificate is for.
#[derive(Clone, Debug, Default)]
pub(crate) struct Names {
    pub(crate) dns: Vec<String>,
    pub(crate) emails: Vec<String>,
    pub(crate) ips: Vec<IpAddr>,
    pub(crate) uris: Vec<String>,
}

/// Where issued certificates point to (`config/urls`).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub(crate) struct Urls {
    #[serde(default)]
    pub(crate) issuing_certificates: Vec<String>,
    #[serde(default)]
    pub(crate) crl_distribution_points: Vec<String>,
    #[serde(default)]
    pub(crate) ocsp_servers: Vec<String>,
}

impl Urls {
    /// Whether nothing is configured (Vault warns when issuers are made so).
    pub(crate) fn is_empty(&self) -> bool {
        self.issuing_certificates.is_empty()
            && self.crl_distribution_points.is_empty()
            && self.ocsp_servers.is_empty()
    }
}

/// What a certificate to sign holds.
#[derive(Clone, Debug, Default)]
pub(crate) struct Template {
    pub(crate) subject: Subject,
    /// A subject taken whole from a CSR (sign-verbatim) instead of `subject`.
    pub(crate) verbatim_subject: Option<DistinguishedName>,
    pub(crate) names: Names,
    pub(crate) not_before: i64,
    pub(crate) not_after: i64,
    pub(crate) key_usage: Vec<KeyUsagePurpose>,
    pub(crate) ext_key_usage: Vec<ExtendedKeyUsagePurpose>,
    /// `Some(max_path_length)` for a CA (negative: unconstrained).
    pub(crate) ca: Option<i64>,
    /// A leaf with basic constraints CA:false written.
    pub(crate) explicit_not_ca: bool,
    pub(crate) permitted_dns_domains: Vec<String>,
    pub(crate) urls: Urls,
    pub(crate) signature_bits: u32,
}

fn datetime(unix: i64) -> Result<OffsetDateTime, PkiError> {
    OffsetDateTime::from_unix_timestamp(unix)
        .map_err(|_| PkiError::invalid("the requested validity is out of range"))
}

/// Seconds since the epoch.
pub(crate) fn unix(time: SystemTime) -> i64 {
    time.duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// A duration as Go prints it (`72h0m0s`), for Vault's TTL warnings.
pub(crate) fn go_duration(duration: Duration) -> String {
    let secs = duration.as_secs();
    let (h, m, s) = (secs / 3600, (secs % 3600) / 60, secs % 60);
    if h > 0 {
        format!("{h}h{m}m{s}s")
    } else if m > 0 {
        format!("{m}m{s}s")
    } else {
        format!("{s}s")
    }
}

/// The SHA-1 key identifier of a SubjectPublicKeyInfo (RFC 5280's method 1, as Go and Vault
/// compute it: over the public key's bits).
pub(crate) fn key_identifier(spki_der: &[u8]) -> Vec<u8> {
    let bits =
        x509_parser::x509::SubjectPublicKeyInfo::from_der_checked(spki_der).unwrap_or_default();
    ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, &bits)
        .as_ref()
        .to_vec()
}

/// Reading a SubjectPublicKeyInfo's key bits.
trait SpkiBits {
    fn from_der_checked(der: &[u8]) -> Option<Vec<u8>>;
}

impl SpkiBits for x509_parser::x509::SubjectPublicKeyInfo<'_> {
    fn from_der_checked(der: &[u8]) -> Option<Vec<u8>> {
        use x509_parser::prelude::FromDer;
        let (_, spki) = x509_parser::x509::SubjectPublicKeyInfo::from_der(der).ok()?;
        Some(spki.subject_public_key.data.to_vec())
    }
}

fn params(template: &Template, serial: &[u8], spki: &[u8]) -> Result<CertificateParams, PkiError> {
    let mut params = CertificateParams::default();
    params.not_before = datetime(template.not_before)?;
    params.not_after = datetime(template.not_after)?;
    params.serial_number = Some(SerialNumber::from_slice(serial));
    params.distinguished_name = match &template.verbatim_subject {
        Some(dn) => dn.clone(),
        None => template.subject.name(),
    };
    let bad_name = |name: &str| PkiError::invalid(format!("invalid name in the request: {name}"));
    for dns in &template.names.dns {
        params.subject_alt_names.push(SanType::DnsName(
            dns.as_str().try_into().map_err(|_| bad_name(dns))?,
        ));
    }
    for email in &template.names.emails {
        params.subject_alt_names.push(SanType::Rfc822Name(
            email.as_str().try_into().map_err(|_| bad_name(email))?,
        ));
    }
    for ip in &template.names.ips {
        params.subject_alt_names.push(SanType::IpAddress(*ip));
    }
    for uri in &template.names.uris {
        params.subject_alt_names.push(SanType::URI(
            uri.as_str().try_into().map_err(|_| bad_name(uri))?,
        ));
    }
    params.key_usages = template.key_usage.clone();
    if template.ca.is_none() {
        // A leaf never signs certificates or CRLs: without basic constraints OpenSSL would
        // take one with keyCertSign for a CA.
        params
            .key_usages
            .retain(|u| !matches!(u, KeyUsagePurpose::KeyCertSign | KeyUsagePurpose::CrlSign));
    }
    params.extended_key_usages = template.ext_key_usage.clone();
    params.key_identifier_method = KeyIdMethod::PreSpecified(key_identifier(spki));
    params.use_authority_key_identifier_extension = true;
    params.is_ca = match template.ca {
        Some(len) if len >= 0 => IsCa::Ca(BasicConstraints::Constrained(
            u8::try_from(len).unwrap_or(u8::MAX),
        )),
        Some(_) => IsCa::Ca(BasicConstraints::Unconstrained),
        None if template.explicit_not_ca => IsCa::ExplicitNoCa,
        None => IsCa::NoCa,
    };
    if template.ca.is_none() {
        // rcgen writes the subject key identifier only with basic constraints; leaves get it
        // here (Vault's leaves carry one).
        if !template.explicit_not_ca {
            let id = yasna::construct_der(|w| w.write_bytes(&key_identifier(spki)));
            params
                .custom_extensions
                .push(CustomExtension::from_oid_content(&[2, 5, 29, 14], id));
        }
    }
    if !template.permitted_dns_domains.is_empty() {
        let mut permitted = Vec::new();
        for domain in &template.permitted_dns_domains {
            permitted.push(GeneralSubtree::DnsName(domain.clone()));
        }
        params.name_constraints = Some(NameConstraints {
            permitted_subtrees: permitted,
            excluded_subtrees: Vec::new(),
        });
    }
    if !template.urls.crl_distribution_points.is_empty() {
        params.crl_distribution_points = vec![CrlDistributionPoint {
            uris: template.urls.crl_distribution_points.clone(),
        }];
    }
    if !template.urls.issuing_certificates.is_empty() || !template.urls.ocsp_servers.is_empty() {
        params
            .custom_extensions
            .push(CustomExtension::from_oid_content(
                &[1, 3, 6, 1, 5, 5, 7, 1, 1],
                authority_info_access(&template.urls),
            ));
    }
    Ok(params)
}

/// The Authority Information Access extension's value: OCSP servers, then CA issuers.
fn authority_info_access(urls: &Urls) -> Vec<u8> {
    let ocsp = yasna::models::ObjectIdentifier::from_slice(&[1, 3, 6, 1, 5, 5, 7, 48, 1]);
    let issuers = yasna::models::ObjectIdentifier::from_slice(&[1, 3, 6, 1, 5, 5, 7, 48, 2]);
    yasna::construct_der(|w| {
        w.write_sequence(|w| {
            for (method, list) in [
                (&ocsp, &urls.ocsp_servers),
                (&issuers, &urls.issuing_certificates),
            ] {
                for url in list {
                    w.next().write_sequence(|w| {
                        w.next().write_oid(method);
                        w.next().write_tagged_implicit(yasna::Tag::context(6), |w| {
                            w.write_ia5_string(url)
                        });
                    });
                }
            }
        });
    })
}

fn signing_failed(err: rcgen::Error) -> PkiError {
    PkiError::invalid(format!("unable to create certificate: {err}"))
}

/// A self-signed CA certificate for `key`.
pub(crate) fn self_signed(
    template: &Template,
    key: &PrivateKey,
) -> Result<(Vec<u8>, Vec<u8>), PkiError> {
    let serial = random_serial()?;
    let signer = key.signer(template.signature_bits)?;
    let spki = signer.subject_public_key_info();
    let params = params(template, &serial, &spki)?;
    let cert = params.self_signed(&*signer).map_err(signing_failed)?;
    Ok((cert.der().to_vec(), serial))
}

impl Authority {
    /// A certificate for `subject_key`, signed by this issuer.
    pub(crate) fn sign(
        &self,
        template: &Template,
        subject_key: &impl PublicKeyData,
    ) -> Result<Vec<u8>, PkiError> {
        let serial = random_serial()?;
        let spki = subject_key.subject_public_key_info();
        let params = params(template, &serial, &spki)?;
        let signer = self.signer(template.signature_bits)?;
        let issuer = Issuer::from_ca_cert_der(&self.der.as_slice().into(), &*signer)
            .map_err(signing_failed)?;
        let cert = params
            .signed_by(subject_key, &issuer)
            .map_err(signing_failed)?;
        Ok(cert.der().to_vec())
    }

    /// The issuer's signing key.
    pub(crate) fn signer(&self, signature_bits: u32) -> Result<Signer, PkiError> {
        self.key.signer(signature_bits)
    }

    /// The CRL of this issuer listing `revoked` (serial bytes, revocation time).
    pub(crate) fn crl(
        &self,
        number: u64,
        now: i64,
        expiry: Duration,
        revoked: &[(Vec<u8>, i64)],
    ) -> Result<Vec<u8>, PkiError> {
        let signer = self.signer(0)?;
        let issuer = Issuer::from_ca_cert_der(&self.der.as_slice().into(), &*signer)
            .map_err(signing_failed)?;
        let next = now.saturating_add(i64::try_from(expiry.as_secs()).unwrap_or(i64::MAX));
        let mut revoked_certs = Vec::new();
        for (serial, at) in revoked {
            revoked_certs.push(rcgen::RevokedCertParams {
                serial_number: SerialNumber::from_slice(serial),
                revocation_time: datetime(*at)?,
                reason_code: None,
                invalidity_date: None,
            });
        }
        let params = rcgen::CertificateRevocationListParams {
            this_update: datetime(now)?,
            next_update: datetime(next)?,
            crl_number: SerialNumber::from_slice(&number.to_be_bytes()),
            issuing_distribution_point: None,
            revoked_certs,
            key_identifier_method: KeyIdMethod::PreSpecified(key_identifier(&self.info.spki)),
        };
        let crl = params
            .signed_by(&issuer)
            .map_err(|err| PkiError::Internal(format!("unable to build the CRL: {err}")))?;
        Ok(crl.der().to_vec())
    }
}

/// The CSR for a new intermediate's key.
pub(crate) fn csr(subject: &Subject, names: &Names, key: &PrivateKey) -> Result<String, PkiError> {
    let template = Template {
        subject: subject.clone(),
        names: names.clone(),
        ..Template::default()
    };
    let signer = key.signer(0)?;
    let spki = signer.subject_public_key_info();
    let full = params(&template, &[1], &spki)?;
    let mut params = CertificateParams::default();
    params.distinguished_name = full.distinguished_name;
    params.subject_alt_names = full.subject_alt_names;
    let request = params.serialize_request(&*signer).map_err(signing_failed)?;
    Ok(crate::pem::encode("CERTIFICATE REQUEST", request.der()).to_string())
}
