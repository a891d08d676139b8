//! Reading certificates and CSRs (x509-parser), and the facts the engine keeps about them.

use std::net::IpAddr;

use rcgen::{PKCS_ECDSA_P256_SHA256, PKCS_ECDSA_P384_SHA384, PKCS_ED25519, PKCS_RSA_SHA256};
use rcgen::{PublicKeyData, SignatureAlgorithm};
use x509_parser::certification_request::X509CertificationRequest;
use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::prelude::FromDer;
use x509_parser::public_key::PublicKey;

use crate::error::PkiError;
use crate::keys::{KeySpec, KeyType};

/// A subject's public key as rcgen writes it into a certificate: the algorithm (which names
/// the SubjectPublicKeyInfo's algorithm and curve) and the key's bits.
#[derive(Clone, Debug)]
pub(crate) struct SubjectKey {
    alg: &'static SignatureAlgorithm,
    raw: Vec<u8>,
    /// The key's type and size.
    pub(crate) spec: KeySpec,
}

impl PublicKeyData for SubjectKey {
    fn der_bytes(&self) -> &[u8] {
        &self.raw
    }

    fn algorithm(&self) -> &'static SignatureAlgorithm {
        self.alg
    }
}

impl SubjectKey {
    /// The key of a SubjectPublicKeyInfo, when it is one a certificate can carry here.
    fn from_spki(spki: &x509_parser::x509::SubjectPublicKeyInfo<'_>) -> Result<Self, PkiError> {
        let raw = spki.subject_public_key.data.to_vec();
        let parsed = spki
            .parsed()
            .map_err(|_| PkiError::invalid("unable to parse the public key"))?;
        let (alg, spec) = match parsed {
            PublicKey::RSA(rsa) => {
                let bits = u32::try_from(rsa.key_size()).unwrap_or(0);
                (
                    &PKCS_RSA_SHA256,
                    KeySpec {
                        ty: KeyType::Rsa,
                        bits,
                    },
                )
            }
            PublicKey::EC(_) => {
                let curve = spki
                    .algorithm
                    .parameters
                    .as_ref()
                    .and_then(|p| p.as_oid().ok())
                    .map(|oid| oid.to_id_string());
                match curve.as_deref() {
                    Some("1.2.840.10045.3.1.7") => (
                        &PKCS_ECDSA_P256_SHA256,
                        KeySpec {
                            ty: KeyType::Ec,
                            bits: 256,
                        },
                    ),
                    Some("1.3.132.0.34") => (
                        &PKCS_ECDSA_P384_SHA384,
                        KeySpec {
                            ty: KeyType::Ec,
                            bits: 384,
                        },
                    ),
                    _ => {
                        return Err(PkiError::invalid(
                            "unsupported elliptic curve (P-256 and P-384 are)",
                        ));
                    }
                }
            }
            PublicKey::Unknown(_) if spki.algorithm.algorithm.to_id_string() == "1.3.101.112" => (
                &PKCS_ED25519,
                KeySpec {
                    ty: KeyType::Ed25519,
                    bits: 0,
                },
            ),
            _ => return Err(PkiError::invalid("unsupported public key type")),
        };
        Ok(Self { alg, raw, spec })
    }
}

/// What a CSR asks for.
#[derive(Debug)]
pub(crate) struct Csr {
    /// The subject's common name, if any.
    pub(crate) common_name: Option<String>,
    /// The subject, as rcgen writes it (sign-verbatim keeps it).
    pub(crate) subject: rcgen::DistinguishedName,
    /// DNS names requested.
    pub(crate) dns_names: Vec<String>,
    /// Email addresses requested.
    pub(crate) emails: Vec<String>,
    /// IP addresses requested.
    pub(crate) ips: Vec<IpAddr>,
    /// URIs requested.
    pub(crate) uris: Vec<String>,
    /// Whether the CSR asks for a CA certificate (basic constraints CA:true).
    pub(crate) wants_ca: bool,
    /// The key to certify.
    pub(crate) key: SubjectKey,
}

/// Parses a PEM CSR and checks its signature (Vault's wording for each failure).
///
/// # Errors
///
/// Not PEM, not a CSR, a bad signature, or a key type this engine does not certify.
pub(crate) fn parse_csr(text: &str) -> Result<Csr, PkiError> {
    let blocks = crate::pem::blocks(text).map_err(|_| PkiError::invalid("csr contains no data"))?;
    let Some((_, der)) = blocks.first() else {
        return Err(PkiError::invalid("csr contains no data"));
    };
    let (_, csr) = X509CertificationRequest::from_der(der).map_err(|err| {
        PkiError::invalid(format!("certificate request could not be parsed: {err}"))
    })?;
    let info = &csr.certification_request_info;
    let key = SubjectKey::from_spki(&info.subject_pki)?;
    // Small RSA keys first: ring would only say their signature does not verify.
    if key.spec.ty == KeyType::Rsa && key.spec.bits < 2048 {
        return Err(PkiError::invalid(format!(
            "RSA keys < 2048 bits are unsafe and not supported: got {}",
            key.spec.bits
        )));
    }
    csr.verify_signature().map_err(|_| {
        PkiError::invalid(match key.spec.ty {
            KeyType::Rsa => "request signature invalid: crypto/rsa: verification error",
            KeyType::Ec => "request signature invalid: x509: ECDSA verification failure",
            KeyType::Ed25519 => "request signature invalid: x509: Ed25519 verification failure",
        })
    })?;
    let subject = distinguished_name(&info.subject)?;
    let common_name = info
        .subject
        .iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())
        .map(str::to_owned);
    let mut out = Csr {
        common_name,
        subject,
        dns_names: Vec::new(),
        emails: Vec::new(),
        ips: Vec::new(),
        uris: Vec::new(),
        wants_ca: false,
        key,
    };
    if let Some(extensions) = csr.requested_extensions() {
        for extension in extensions {
            match extension {
                ParsedExtension::SubjectAlternativeName(san) => {
                    for name in &san.general_names {
                        collect_name(name, &mut out)?;
                    }
                }
                ParsedExtension::BasicConstraints(bc) => out.wants_ca = bc.ca,
                _ => {}
            }
        }
    }
    Ok(out)
}

/// A parsed name as rcgen writes it (attribute by attribute, values as UTF-8 strings).
fn distinguished_name(
    name: &x509_parser::x509::X509Name<'_>,
) -> Result<rcgen::DistinguishedName, PkiError> {
    let mut dn = rcgen::DistinguishedName::new();
    for attribute in name.iter_attributes() {
        let oid: Vec<u64> = attribute
            .attr_type()
            .iter()
            .ok_or_else(|| PkiError::invalid("the CSR's subject could not be parsed"))?
            .collect();
        let value = attribute
            .as_str()
            .map_err(|_| PkiError::invalid("the CSR's subject could not be parsed"))?;
        dn.push(rcgen::DnType::from_oid(&oid), value);
    }
    Ok(dn)
}

fn collect_name(name: &GeneralName<'_>, out: &mut Csr) -> Result<(), PkiError> {
    match name {
        GeneralName::DNSName(dns) => out.dns_names.push((*dns).to_owned()),
        GeneralName::RFC822Name(email) => out.emails.push((*email).to_owned()),
        GeneralName::URI(uri) => out.uris.push((*uri).to_owned()),
        GeneralName::IPAddress(bytes) => {
            let ip = match bytes.len() {
                4 => <[u8; 4]>::try_from(*bytes).map(IpAddr::from).ok(),
                16 => <[u8; 16]>::try_from(*bytes).map(IpAddr::from).ok(),
                _ => None,
            };
            out.ips
                .push(ip.ok_or_else(|| PkiError::invalid("the CSR holds a malformed IP SAN"))?);
        }
        _ => {}
    }
    Ok(())
}

/// The facts the engine keeps about a certificate.
#[derive(Clone, Debug)]
pub(crate) struct CertInfo {
    /// Vault's serial number text: lower-case hex pairs joined by `:`.
    pub(crate) serial: String,
    /// Not before, in Unix seconds.
    pub(crate) not_before: i64,
    /// Not after, in Unix seconds.
    pub(crate) not_after: i64,
    /// The subject public key (SubjectPublicKeyInfo DER).
    pub(crate) spki: Vec<u8>,
    /// Whether basic constraints say CA.
    pub(crate) is_ca: bool,
    /// Whether the subject and issuer names are the same (a self-signed certificate).
    pub(crate) self_issued: bool,
    /// The subject name's DER, for matching a certificate to its issuer.
    pub(crate) subject_der: Vec<u8>,
    /// The issuer name's DER.
    pub(crate) issuer_der: Vec<u8>,
}

/// Parses a DER certificate.
///
/// # Errors
///
/// The bytes are not one certificate.
pub(crate) fn parse_cert(der: &[u8]) -> Result<CertInfo, PkiError> {
    let (rest, cert) = x509_parser::parse_x509_certificate(der)
        .map_err(|err| PkiError::invalid(format!("unable to parse certificate: {err}")))?;
    if !rest.is_empty() {
        return Err(PkiError::invalid(
            "unable to parse certificate: trailing data after the certificate",
        ));
    }
    let serial = serial_text(cert.raw_serial());
    Ok(CertInfo {
        serial,
        not_before: cert.validity().not_before.timestamp(),
        not_after: cert.validity().not_after.timestamp(),
        spki: cert.public_key().raw.to_vec(),
        is_ca: cert.is_ca(),
        self_issued: cert.subject().as_raw() == cert.issuer().as_raw(),
        subject_der: cert.subject().as_raw().to_vec(),
        issuer_der: cert.issuer().as_raw().to_vec(),
    })
}

/// Whether `cert` (DER) carries a valid signature by the key of `issuer` (DER).
pub(crate) fn signed_by(cert: &[u8], issuer: &[u8]) -> bool {
    let (Ok((_, cert)), Ok((_, issuer))) = (
        x509_parser::parse_x509_certificate(cert),
        x509_parser::parse_x509_certificate(issuer),
    ) else {
        return false;
    };
    cert.verify_signature(Some(issuer.public_key())).is_ok()
}

/// Vault's serial text for an INTEGER's bytes: leading zero bytes dropped (Go's
/// `big.Int.Bytes`), then lower-case hex pairs joined by `:`.
pub(crate) fn serial_text(raw: &[u8]) -> String {
    let start = raw.iter().position(|&b| b != 0).unwrap_or(raw.len());
    let bytes = raw.get(start..).unwrap_or_default();
    if bytes.is_empty() {
        return "00".into();
    }
    bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// A serial number as written by a client (`aa:bb`, `aa-bb`, any case) in Vault's form.
pub(crate) fn normalise_serial(serial: &str) -> String {
    serial.trim().to_lowercase().replace('-', ":")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serials_read_as_vault_writes_them() {
        assert_eq!(serial_text(&[0x00, 0x8f, 0x01]), "8f:01");
        assert_eq!(serial_text(&[0x7f]), "7f");
        assert_eq!(serial_text(&[0, 0]), "00");
        assert_eq!(normalise_serial(" 8F-01 "), "8f:01");
    }

    #[test]
    fn garbage_is_no_csr() {
        assert_eq!(
            parse_csr("hello").unwrap_err().to_string(),
            "csr contains no data"
        );
        let err = parse_csr(
            "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----",
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.starts_with("certificate request could not be parsed"),
            "{err}"
        );
    }
}
