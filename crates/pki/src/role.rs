//! Roles (`roles/<name>`): what a role lets `issue` and `sign` certify.
//!
//! A role is stored as its read answer: every field Vault's role read shows, with Vault's
//! defaults, so a stored role and `GET roles/<name>` are the same object.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use strongroom_logical::{Field, FieldType};

use crate::error::PkiError;
use crate::keys::KeySpec;

/// A role, as stored and as read back (Vault's field names and JSON types).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default = "Role::empty")]
#[allow(
    clippy::struct_excessive_bools,
    reason = "Vault's role is a bag of flags"
)]
pub(crate) struct Role {
    pub(crate) ttl: u64,
    pub(crate) max_ttl: u64,
    pub(crate) allow_localhost: bool,
    pub(crate) allowed_domains: Vec<String>,
    pub(crate) allowed_domains_template: bool,
    pub(crate) allow_bare_domains: bool,
    pub(crate) allow_subdomains: bool,
    pub(crate) allow_glob_domains: bool,
    pub(crate) allow_wildcard_certificates: bool,
    pub(crate) allow_any_name: bool,
    pub(crate) allow_token_displayname: bool,
    pub(crate) allow_globs_in_identity_templates: bool,
    pub(crate) enforce_hostnames: bool,
    pub(crate) allow_ip_sans: bool,
    pub(crate) allowed_ip_sans_cidr: Vec<String>,
    pub(crate) allowed_uri_sans: Vec<String>,
    pub(crate) allowed_uri_sans_template: bool,
    pub(crate) allowed_other_sans: Vec<String>,
    pub(crate) allowed_serial_numbers: Vec<String>,
    pub(crate) allowed_user_ids: Vec<String>,
    pub(crate) server_flag: bool,
    pub(crate) client_flag: bool,
    pub(crate) code_signing_flag: bool,
    pub(crate) email_protection_flag: bool,
    pub(crate) key_type: String,
    pub(crate) key_bits: i64,
    pub(crate) signature_bits: i64,
    pub(crate) use_pss: bool,
    pub(crate) key_usage: Vec<String>,
    pub(crate) ext_key_usage: Vec<String>,
    pub(crate) ext_key_usage_oids: Vec<String>,
    pub(crate) use_csr_common_name: bool,
    pub(crate) use_csr_sans: bool,
    pub(crate) ou: Vec<String>,
    pub(crate) organization: Vec<String>,
    pub(crate) country: Vec<String>,
    pub(crate) locality: Vec<String>,
    pub(crate) province: Vec<String>,
    pub(crate) street_address: Vec<String>,
    pub(crate) postal_code: Vec<String>,
    pub(crate) generate_lease: bool,
    pub(crate) no_store: bool,
    pub(crate) require_cn: bool,
    pub(crate) cn_validations: Vec<String>,
    pub(crate) policy_identifiers: Vec<String>,
    pub(crate) basic_constraints_valid_for_non_ca: bool,
    pub(crate) not_before_duration: u64,
    pub(crate) not_after: String,
    pub(crate) not_after_bound: String,
    pub(crate) not_before: String,
    pub(crate) not_before_bound: String,
    pub(crate) issuer_ref: String,
}

impl Default for Role {
    fn default() -> Self {
        serde_json::from_value(defaults()).unwrap_or_else(|_| Self::empty())
    }
}

/// The defaults of every role field (Vault's), as one object.
fn defaults() -> Value {
    let mut object = serde_json::Map::new();
    for (name, _, default, _) in FIELDS {
        object.insert((*name).to_owned(), default());
    }
    Value::Object(object)
}

type Default_ = fn() -> Value;

/// Every role field: name, type, default, description.
const FIELDS: &[(&str, FieldType, Default_, &str)] = &[
    (
        "ttl",
        FieldType::DurationSecond,
        || json!(0),
        "The lease duration (validity period of the certificate) if no specific lease duration is requested. The lease duration controls the expiration of certificates issued by this backend. Defaults to the system default value or the value of max_ttl, whichever is shorter.",
    ),
    (
        "max_ttl",
        FieldType::DurationSecond,
        || json!(0),
        "The maximum allowed lease duration. If not set, defaults to the system maximum lease TTL.",
    ),
    (
        "allow_localhost",
        FieldType::Bool,
        || json!(true),
        "Whether to allow \"localhost\" and \"localdomain\" as a valid common name in a request, independent of allowed_domains value.",
    ),
    (
        "allowed_domains",
        FieldType::CommaStringSlice,
        || json!([]),
        "Specifies the domains this role is allowed to issue certificates for. This is used with the allow_bare_domains, allow_subdomains, and allow_glob_domains to determine matches for the common name, DNS-typed SAN entries, and Email-typed SAN entries of certificates.",
    ),
    (
        "allowed_domains_template",
        FieldType::Bool,
        || json!(false),
        "If set, Allowed domains can be specified using identity template policies. Non-templated domains are also permitted (templating is not served here yet).",
    ),
    (
        "allow_bare_domains",
        FieldType::Bool,
        || json!(false),
        "If set, clients can request certificates for the base domains themselves, e.g. \"example.com\" of domains listed in allowed_domains.",
    ),
    (
        "allow_subdomains",
        FieldType::Bool,
        || json!(false),
        "If set, clients can request certificates for subdomains of domains listed in allowed_domains, including wildcard subdomains.",
    ),
    (
        "allow_glob_domains",
        FieldType::Bool,
        || json!(false),
        "If set, domains specified in allowed_domains can include shell-style glob patterns, e.g. \"ftp*.example.com\".",
    ),
    (
        "allow_wildcard_certificates",
        FieldType::Bool,
        || json!(true),
        "If set, allows certificates with wildcards in the common name to be issued, conforming to RFC 6125's Section 6.4.3.",
    ),
    (
        "allow_any_name",
        FieldType::Bool,
        || json!(false),
        "If set, clients can request certificates for any domain, regardless of allowed_domains restrictions.",
    ),
    (
        "allow_token_displayname",
        FieldType::Bool,
        || json!(false),
        "Whether to allow the token's display name as a common name (deprecated; not served).",
    ),
    (
        "allow_globs_in_identity_templates",
        FieldType::Bool,
        || json!(false),
        "Whether globs are expanded in templated allowed domains (templating is not served here yet).",
    ),
    (
        "enforce_hostnames",
        FieldType::Bool,
        || json!(true),
        "If set, only valid host names are allowed for CN and DNS SANs, and the host part of email addresses.",
    ),
    (
        "allow_ip_sans",
        FieldType::Bool,
        || json!(true),
        "If set, IP Subject Alternative Names are allowed. Any valid IP is accepted and No authorization checking is performed.",
    ),
    (
        "allowed_ip_sans_cidr",
        FieldType::CommaStringSlice,
        || json!([]),
        "If set, IP SANs must fall within one of these CIDR blocks.",
    ),
    (
        "allowed_uri_sans",
        FieldType::CommaStringSlice,
        || json!([]),
        "If set, an array of allowed URIs for URI Subject Alternative Names. Any valid URI is accepted, these values support globbing.",
    ),
    (
        "allowed_uri_sans_template",
        FieldType::Bool,
        || json!(false),
        "If set, Allowed URI SANs can be specified using identity template policies (templating is not served here yet).",
    ),
    (
        "allowed_other_sans",
        FieldType::CommaStringSlice,
        || json!([]),
        "If set, an array of allowed other names to put in SANs. These values support globbing and must be in the format <oid>;<type>:<value>.",
    ),
    (
        "allowed_serial_numbers",
        FieldType::CommaStringSlice,
        || json!([]),
        "If set, an array of allowed serial numbers to put in Subject. These values support globbing.",
    ),
    (
        "allowed_user_ids",
        FieldType::CommaStringSlice,
        || json!([]),
        "If set, an array of allowed user-ids to put in user system login name specified here: https://www.rfc-editor.org/rfc/rfc1274#section-9.3.1",
    ),
    (
        "server_flag",
        FieldType::Bool,
        || json!(true),
        "If set, certificates are flagged for server auth use.",
    ),
    (
        "client_flag",
        FieldType::Bool,
        || json!(true),
        "If set, certificates are flagged for client auth use.",
    ),
    (
        "code_signing_flag",
        FieldType::Bool,
        || json!(false),
        "If set, certificates are flagged for code signing use.",
    ),
    (
        "email_protection_flag",
        FieldType::Bool,
        || json!(false),
        "If set, certificates are flagged for email protection use.",
    ),
    (
        "key_type",
        FieldType::String,
        || json!("rsa"),
        "The type of key to use; defaults to RSA. \"rsa\", \"ec\", \"ed25519\" and \"any\" are the only valid values.",
    ),
    (
        "key_bits",
        FieldType::Int,
        || json!(0),
        "The number of bits to use. Allowed values are 0 (universal default); with rsa key_type: 2048 (default), 3072, or 4096; with ec key_type: 256 (default) or 384; with ed25519 key_type: 0.",
    ),
    (
        "signature_bits",
        FieldType::Int,
        || json!(0),
        "The number of bits to use in the signature algorithm; accepts 256 for SHA-2-256, 384 for SHA-2-384, and 512 for SHA-2-512. Defaults to 0 to automatically detect based on key length (SHA-2-256 for RSA keys, and matching the curve size for NIST P-Curves).",
    ),
    (
        "use_pss",
        FieldType::Bool,
        || json!(false),
        "Whether or not to use PSS signatures when using a RSA key-type issuer (not offered here: ring signs PKCS#1 v1.5 certificates).",
    ),
    (
        "key_usage",
        FieldType::CommaStringSlice,
        || json!(["DigitalSignature", "KeyAgreement", "KeyEncipherment"]),
        "A comma-separated string or list of key usages (not extended key usages). Valid values can be found at https://golang.org/pkg/crypto/x509/#KeyUsage -- simply drop the \"KeyUsage\" part of the name. To remove all key usages from being set, set this value to an empty list.",
    ),
    (
        "ext_key_usage",
        FieldType::CommaStringSlice,
        || json!([]),
        "A comma-separated string or list of extended key usages. Valid values can be found at https://golang.org/pkg/crypto/x509/#ExtKeyUsage -- simply drop the \"ExtKeyUsage\" part of the name. To remove all key usages from being set, set this value to an empty list.",
    ),
    (
        "ext_key_usage_oids",
        FieldType::CommaStringSlice,
        || json!([]),
        "A comma-separated string or list of extended key usage oids.",
    ),
    (
        "use_csr_common_name",
        FieldType::Bool,
        || json!(true),
        "If set, when used with a signing profile, the common name in the CSR will be used. This does *not* include any requested Subject Alternative Names; use use_csr_sans for that. Defaults to true.",
    ),
    (
        "use_csr_sans",
        FieldType::Bool,
        || json!(true),
        "If set, when used with a signing profile, the SANs in the CSR will be used. This does *not* include the Common Name (cn); use use_csr_common_name for that. Defaults to true.",
    ),
    (
        "ou",
        FieldType::CommaStringSlice,
        || json!([]),
        "If set, OU (OrganizationalUnit) will be set to this value in certificates issued by this role.",
    ),
    (
        "organization",
        FieldType::CommaStringSlice,
        || json!([]),
        "If set, O (Organization) will be set to this value in certificates issued by this role.",
    ),
    (
        "country",
        FieldType::CommaStringSlice,
        || json!([]),
        "If set, Country will be set to this value in certificates issued by this role.",
    ),
    (
        "locality",
        FieldType::CommaStringSlice,
        || json!([]),
        "If set, Locality will be set to this value in certificates issued by this role.",
    ),
    (
        "province",
        FieldType::CommaStringSlice,
        || json!([]),
        "If set, Province will be set to this value in certificates issued by this role.",
    ),
    (
        "street_address",
        FieldType::CommaStringSlice,
        || json!([]),
        "If set, Street Address will be set to this value in certificates issued by this role.",
    ),
    (
        "postal_code",
        FieldType::CommaStringSlice,
        || json!([]),
        "If set, Postal Code will be set to this value in certificates issued by this role.",
    ),
    (
        "generate_lease",
        FieldType::Bool,
        || json!(false),
        "If set, certificates issued/signed against this role will have Vault leases attached to them. Defaults to \"false\".",
    ),
    (
        "no_store",
        FieldType::Bool,
        || json!(false),
        "If set, certificates issued/signed against this role will not be stored in the storage backend. This can improve performance when issuing large numbers of certificates. However, certificates issued in this way cannot be enumerated or revoked, so this option is recommended only for certificates that are non-sensitive, or extremely short-lived.",
    ),
    (
        "require_cn",
        FieldType::Bool,
        || json!(true),
        "If set to false, makes the 'common_name' field optional while generating a certificate.",
    ),
    (
        "cn_validations",
        FieldType::CommaStringSlice,
        || json!(["email", "hostname"]),
        "List of allowed validations to run against the Common Name field. Values can include 'email' to validate the CN is a email address, 'hostname' to validate the CN is a valid hostname (potentially including wildcards). When multiple validations are specified, these take OR semantics (either email OR hostname are allowed). The special value 'disabled' allows disabling all CN name validations, allowing for arbitrary non-Hostname, non-Email address CNs.",
    ),
    (
        "policy_identifiers",
        FieldType::CommaStringSlice,
        || json!([]),
        "A comma-separated string or list of policy OIDs, or a JSON list of qualified policy information, which must include an oid, and may include a notice and/or cps url, using the form [{\"oid\"=\"1.3.6.1.4.1.7.8\",\"notice\"=\"I am a user Notice\"}, {\"oid\"=\"1.3.6.1.4.1.44947.1.2.4 \",\"cps\"=\"https://example.com\"}].",
    ),
    (
        "basic_constraints_valid_for_non_ca",
        FieldType::Bool,
        || json!(false),
        "Mark Basic Constraints valid when issuing non-CA certificates.",
    ),
    (
        "not_before_duration",
        FieldType::DurationSecond,
        || json!(30),
        "The duration before now which the certificate needs to be backdated by.",
    ),
    (
        "not_after",
        FieldType::String,
        || json!(""),
        "Set the not after field of the certificate with specified date value. The value format should be given in UTC format YYYY-MM-ddTHH:MM:SSZ.",
    ),
    (
        "not_after_bound",
        FieldType::String,
        || json!("permit"),
        "How a requested not_after past the issuer's is treated (OpenBao): \"permit\".",
    ),
    (
        "not_before",
        FieldType::String,
        || json!(""),
        "Set the not before field of the certificate with specified date value (OpenBao).",
    ),
    (
        "not_before_bound",
        FieldType::String,
        || json!("permit"),
        "How a requested not_before before the issuer's is treated (OpenBao): \"permit\".",
    ),
    (
        "issuer_ref",
        FieldType::String,
        || json!("default"),
        "Reference to the issuer used to sign requests serviced by this role.",
    ),
];

/// The role fields, declared for `roles/<name>` (with Vault's defaults).
pub(crate) fn fields() -> impl Iterator<Item = (&'static str, Field)> {
    FIELDS.iter().map(|(name, ty, default, description)| {
        (*name, Field::new(*ty, *description).default(default()))
    })
}

/// The key usages Vault knows (Go's `x509.KeyUsage` names without the prefix).
pub(crate) const KEY_USAGES: &[&str] = &[
    "DigitalSignature",
    "ContentCommitment",
    "KeyEncipherment",
    "DataEncipherment",
    "KeyAgreement",
    "CertSign",
    "CRLSign",
    "EncipherOnly",
    "DecipherOnly",
];

/// The extended key usages Vault knows (Go's `x509.ExtKeyUsage` names without the prefix).
pub(crate) const EXT_KEY_USAGES: &[&str] = &[
    "Any",
    "ServerAuth",
    "ClientAuth",
    "CodeSigning",
    "EmailProtection",
    "TimeStamping",
    "OCSPSigning",
];

impl Role {
    fn empty() -> Self {
        Self {
            ttl: 0,
            max_ttl: 0,
            allow_localhost: false,
            allowed_domains: Vec::new(),
            allowed_domains_template: false,
            allow_bare_domains: false,
            allow_subdomains: false,
            allow_glob_domains: false,
            allow_wildcard_certificates: false,
            allow_any_name: false,
            allow_token_displayname: false,
            allow_globs_in_identity_templates: false,
            enforce_hostnames: false,
            allow_ip_sans: false,
            allowed_ip_sans_cidr: Vec::new(),
            allowed_uri_sans: Vec::new(),
            allowed_uri_sans_template: false,
            allowed_other_sans: Vec::new(),
            allowed_serial_numbers: Vec::new(),
            allowed_user_ids: Vec::new(),
            server_flag: false,
            client_flag: false,
            code_signing_flag: false,
            email_protection_flag: false,
            key_type: String::new(),
            key_bits: 0,
            signature_bits: 0,
            use_pss: false,
            key_usage: Vec::new(),
            ext_key_usage: Vec::new(),
            ext_key_usage_oids: Vec::new(),
            use_csr_common_name: false,
            use_csr_sans: false,
            ou: Vec::new(),
            organization: Vec::new(),
            country: Vec::new(),
            locality: Vec::new(),
            province: Vec::new(),
            street_address: Vec::new(),
            postal_code: Vec::new(),
            generate_lease: false,
            no_store: false,
            require_cn: false,
            cn_validations: Vec::new(),
            policy_identifiers: Vec::new(),
            basic_constraints_valid_for_non_ca: false,
            not_before_duration: 0,
            not_after: String::new(),
            not_after_bound: String::new(),
            not_before: String::new(),
            not_before_bound: String::new(),
            issuer_ref: String::new(),
        }
    }

    /// Checks a role about to be stored and fills in what Vault fills in (key bits), in
    /// Vault's words.
    ///
    /// # Errors
    ///
    /// A bad key type or size, `ttl` over `max_ttl`, an unknown key usage.
    pub(crate) fn validate(&mut self) -> Result<(), PkiError> {
        if self.key_type != "any" {
            let spec = KeySpec::parse(&self.key_type, self.key_bits)?;
            self.key_bits = i64::from(spec.bits);
        }
        if !matches!(self.signature_bits, 0 | 256 | 384 | 512) {
            return Err(PkiError::invalid(format!(
                "unsupported signature bits: {}",
                self.signature_bits
            )));
        }
        if self.max_ttl > 0 && self.ttl > self.max_ttl {
            return Err(PkiError::invalid(
                "\"ttl\" value must be less than \"max_ttl\" value",
            ));
        }
        for usage in &self.key_usage {
            if !KEY_USAGES
                .iter()
                .any(|k| k.eq_ignore_ascii_case(usage.trim()))
            {
                return Err(PkiError::invalid(format!("unrecognized key usage {usage}")));
            }
        }
        for usage in &self.ext_key_usage {
            if !EXT_KEY_USAGES
                .iter()
                .any(|k| k.eq_ignore_ascii_case(usage.trim()))
            {
                return Err(PkiError::invalid(format!(
                    "unrecognized extended key usage {usage}"
                )));
            }
        }
        strongroom_logical::cidr::Cidr::parse_all(&self.allowed_ip_sans_cidr)
            .map_err(|err| PkiError::invalid(format!("invalid allowed_ip_sans_cidr: {err}")))?;
        if self.use_pss {
            return Err(PkiError::invalid(
                "use_pss is not supported: certificates are signed with PKCS#1 v1.5 or ECDSA",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "test code")]
    use super::*;

    #[test]
    fn defaults_are_vaults() {
        let role = Role::default();
        assert!(role.allow_localhost && role.enforce_hostnames && role.server_flag);
        assert_eq!(role.key_type, "rsa");
        assert_eq!(role.not_before_duration, 30);
        assert_eq!(role.key_usage.len(), 3);
        let shown = serde_json::to_value(&role).unwrap();
        assert_eq!(shown.as_object().unwrap().len(), FIELDS.len());
    }

    #[test]
    fn validation_uses_vaults_words() {
        let mut role = Role {
            key_type: "rsa".into(),
            key_bits: 1000,
            ..Role::default()
        };
        assert_eq!(
            role.validate().unwrap_err().to_string(),
            "RSA keys < 2048 bits are unsafe and not supported: got 1000"
        );
        let mut role = Role {
            ttl: 10,
            max_ttl: 5,
            ..Role::default()
        };
        assert_eq!(
            role.validate().unwrap_err().to_string(),
            "\"ttl\" value must be less than \"max_ttl\" value"
        );
        let mut role = Role::default();
        role.validate().unwrap();
        assert_eq!(role.key_bits, 2048);
    }
}
