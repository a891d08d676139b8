//! Parsed policies: typed rules, built-in policies.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::capability::Capabilities;
use crate::error::{Location, PolicyError};
use crate::pattern::Pattern;
use crate::value::Value;

/// Parameter constraints: lower-cased parameter name (or `*`) to the values it may (or may not)
/// take. An empty list means any value.
pub type ParameterMap = BTreeMap<String, Vec<Value>>;

/// A key the parser did not recognise and skipped. [`lint`](crate::lint) reports these; Vault
/// itself refuses them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownKey {
    /// The key as written.
    pub key: String,
    /// Where it is, when the format gives positions (HCL does; JSON does not).
    pub location: Option<Location>,
}

/// One `path "<pattern>" { ... }` stanza of a policy.
///
/// Equality compares meaning only: [`Rule::location`] and [`Rule::unknown_keys`] are not part
/// of it, so a rule survives a print/parse round trip unchanged.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Rule {
    /// The path pattern.
    pub pattern: Pattern,
    /// The granted capabilities. When `deny` is among them it is the only one kept, as in Vault.
    pub capabilities: Capabilities,
    /// `allowed_parameters`, when given.
    pub allowed_parameters: Option<ParameterMap>,
    /// `denied_parameters`, when given.
    pub denied_parameters: Option<ParameterMap>,
    /// `required_parameters`, lower-cased.
    pub required_parameters: Vec<String>,
    /// `min_wrapping_ttl`, when given (whole seconds).
    pub min_wrapping_ttl: Option<Duration>,
    /// `max_wrapping_ttl`, when given (whole seconds).
    pub max_wrapping_ttl: Option<Duration>,
    /// Where the stanza starts in the document.
    pub location: Option<Location>,
    /// Keys inside the stanza that were not recognised.
    pub unknown_keys: Vec<UnknownKey>,
}

impl PartialEq for Rule {
    fn eq(&self, other: &Rule) -> bool {
        self.pattern == other.pattern
            && self.capabilities == other.capabilities
            && self.allowed_parameters == other.allowed_parameters
            && self.denied_parameters == other.denied_parameters
            && self.required_parameters == other.required_parameters
            && self.min_wrapping_ttl == other.min_wrapping_ttl
            && self.max_wrapping_ttl == other.max_wrapping_ttl
    }
}

impl Rule {
    pub(crate) fn new(pattern: Pattern) -> Rule {
        Rule {
            pattern,
            capabilities: Capabilities::NONE,
            allowed_parameters: None,
            denied_parameters: None,
            required_parameters: Vec::new(),
            min_wrapping_ttl: None,
            max_wrapping_ttl: None,
            location: None,
            unknown_keys: Vec::new(),
        }
    }

    /// True when the rule constrains request parameters in any way.
    pub fn has_parameter_constraints(&self) -> bool {
        self.allowed_parameters
            .as_ref()
            .is_some_and(|m| !m.is_empty())
            || self
                .denied_parameters
                .as_ref()
                .is_some_and(|m| !m.is_empty())
            || !self.required_parameters.is_empty()
    }
}

/// A named policy: a list of rules (or the built-in `root`).
///
/// Equality compares the name and the rules' meaning (see [`Rule`]).
#[derive(Clone, Debug)]
pub struct Policy {
    pub(crate) name: String,
    pub(crate) rules: Vec<Rule>,
    pub(crate) root: bool,
    pub(crate) unknown_keys: Vec<UnknownKey>,
}

impl PartialEq for Policy {
    fn eq(&self, other: &Policy) -> bool {
        self.name == other.name && self.rules == other.rules && self.root == other.root
    }
}

/// The text of Vault's built-in `default` policy, byte for byte as an OpenBao 2.7.2 dev server
/// shows it (its leading newline included).
///
/// The two `{{identity.entity...}}` paths are templates; this crate does not render templates,
/// so they stay literal and match no real path (they grant nothing until the caller renders
/// the text).
pub const DEFAULT_POLICY_HCL: &str = r#"
# Allow tokens to look up their own properties
path "auth/token/lookup-self" {
    capabilities = ["read"]
}

# Allow tokens to renew themselves
path "auth/token/renew-self" {
    capabilities = ["update"]
}

# Allow tokens to revoke themselves
path "auth/token/revoke-self" {
    capabilities = ["update"]
}

# Allow a token to look up its own capabilities on a path
path "sys/capabilities-self" {
    capabilities = ["update"]
}

# Allow a token to look up its own entity by id or name
path "identity/entity/id/{{identity.entity.id}}" {
  capabilities = ["read"]
}
path "identity/entity/name/{{identity.entity.name}}" {
  capabilities = ["read"]
}


# Allow a token to look up its resultant ACL from all policies. This is useful
# for UIs. It is an internal path because the format may change at any time
# based on how the internal ACL features and capabilities change.
path "sys/internal/ui/resultant-acl" {
    capabilities = ["read"]
}

# Allow a token to renew a lease via lease_id in the request body; old path for
# old clients, new path for newer
path "sys/leases/renew" {
    capabilities = ["update"]
}

# Allow looking up lease properties. This requires knowing the lease ID ahead
# of time and does not divulge any sensitive information.
path "sys/leases/lookup" {
    capabilities = ["update"]
}

# Allow a token to manage its own cubbyhole
path "cubbyhole/*" {
    capabilities = ["create", "read", "update", "delete", "list"]
}

# Allow a token to wrap arbitrary values in a response-wrapping token
path "sys/wrapping/wrap" {
    capabilities = ["update"]
}

# Allow a token to look up the creation time and TTL of a given
# response-wrapping token
path "sys/wrapping/lookup" {
    capabilities = ["update"]
}

# Allow a token to unwrap a response-wrapping token. This is a convenience to
# avoid client token swapping since this is also part of the response wrapping
# policy.
path "sys/wrapping/unwrap" {
    capabilities = ["update"]
}

# Allow general purpose tools
path "sys/tools/hash" {
    capabilities = ["update"]
}
path "sys/tools/hash/*" {
    capabilities = ["update"]
}

# Allow a token to make requests to the Authorization Endpoint for OIDC providers.
path "identity/oidc/provider/+/authorize" {
    capabilities = ["read", "update"]
}
"#;

impl Policy {
    /// Parses a policy, HCL or JSON (a document whose first non-blank character is `{` is
    /// JSON, as an HCL body cannot start with `{`).
    ///
    /// # Errors
    ///
    /// [`PolicyError`] with the line and column of the first problem.
    pub fn parse(name: &str, text: &str) -> Result<Policy, PolicyError> {
        if text.trim_start().starts_with('{') {
            Self::parse_json(name, text)
        } else {
            Self::parse_hcl(name, text)
        }
    }

    /// Parses a policy written in HCL.
    ///
    /// # Errors
    ///
    /// [`PolicyError`] with the line and column of the first problem.
    pub fn parse_hcl(name: &str, text: &str) -> Result<Policy, PolicyError> {
        crate::parse::hcl(name, text)
    }

    /// Parses a policy written in JSON (`{"path": {"secret/*": {"capabilities": ["read"]}}}`).
    ///
    /// # Errors
    ///
    /// [`PolicyError`] with the line and column of the first problem.
    pub fn parse_json(name: &str, text: &str) -> Result<Policy, PolicyError> {
        crate::parse::json(name, text)
    }

    /// The built-in `root` policy: everything, everywhere. An [`Acl`](crate::Acl) that includes
    /// it allows every request.
    pub fn root() -> Policy {
        Policy {
            name: "root".to_owned(),
            rules: Vec::new(),
            root: true,
            unknown_keys: Vec::new(),
        }
    }

    /// The built-in `default` policy, parsed from [`DEFAULT_POLICY_HCL`].
    pub fn default_policy() -> Policy {
        match Self::parse_hcl("default", DEFAULT_POLICY_HCL) {
            Ok(p) => p,
            // The text is a constant that the tests parse; an empty policy grants nothing.
            Err(_) => Policy {
                name: "default".to_owned(),
                rules: Vec::new(),
                root: false,
                unknown_keys: Vec::new(),
            },
        }
    }

    /// The policy's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The rules, in document order.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// True for the built-in `root` policy.
    pub fn is_root(&self) -> bool {
        self.root
    }

    /// Top-level keys that were not recognised (Vault knows only `name` and `path`).
    pub fn unknown_keys(&self) -> &[UnknownKey] {
        &self.unknown_keys
    }

    /// The policy as HCL, in the style of Vault's documentation. Parsing it gives back an equal
    /// policy. Unknown keys are not printed.
    pub fn to_hcl(&self) -> String {
        crate::serialize::to_hcl(self)
    }

    /// The policy as JSON. Parsing it gives back an equal policy. Unknown keys are not printed.
    pub fn to_json(&self) -> String {
        crate::serialize::to_json(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_policy_parses() {
        let p = Policy::parse_hcl("default", DEFAULT_POLICY_HCL).unwrap();
        assert_eq!(p.rules().len(), 16);
        assert!(p.unknown_keys().is_empty());
        assert_eq!(Policy::default_policy(), p);
    }
}
