//! Requests, decisions and why.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use crate::acl::CompiledRule;
use crate::capability::{Capabilities, Operation};
use crate::value::{Value, allowed_by, denied_by};

/// What is being asked: an operation on a path, with the request's parameters.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Request {
    /// The request path, as routed (leading `/` ignored), e.g. `secret/data/app`.
    pub path: String,
    /// The operation.
    pub operation: Operation,
    /// The request's parameters (the JSON body's top-level keys).
    pub parameters: BTreeMap<String, Value>,
    /// The TTL the client asked the response to be wrapped with, if any.
    pub wrap_ttl: Option<Duration>,
}

impl Request {
    /// A request without parameters or wrapping.
    pub fn new(operation: Operation, path: impl Into<String>) -> Request {
        Request {
            path: path.into(),
            operation,
            parameters: BTreeMap::new(),
            wrap_ttl: None,
        }
    }

    /// Adds a parameter.
    #[must_use]
    pub fn with_parameter(mut self, name: impl Into<String>, value: impl Into<Value>) -> Request {
        self.parameters.insert(name.into(), value.into());
        self
    }

    /// Sets the requested response-wrapping TTL.
    #[must_use]
    pub fn with_wrap_ttl(mut self, ttl: Duration) -> Request {
        self.wrap_ttl = Some(ttl);
        self
    }
}

/// The answer to a [`Request`].
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Decision<'a> {
    /// True if the request may proceed (the caller still checks `sudo` on root-protected
    /// paths, using [`Decision::capabilities`]).
    pub allowed: bool,
    /// The capabilities the winning rule grants on this path ([`Capabilities::ROOT`] for root).
    pub capabilities: Capabilities,
    /// The winning rule (merged over every policy that has its pattern), if any matched.
    pub rule: Option<&'a CompiledRule>,
    /// Why the request is allowed or refused.
    pub reason: Reason,
}

impl Decision<'_> {
    /// The answer for a root ACL: everything, no rule consulted.
    pub(crate) fn root() -> Self {
        Decision {
            allowed: true,
            capabilities: Capabilities::ROOT,
            rule: None,
            reason: Reason::Root,
        }
    }

    /// The winning pattern, if any rule matched.
    pub fn pattern(&self) -> Option<&str> {
        self.rule.map(|r| r.pattern().as_str())
    }
}

/// Why a [`Decision`] came out as it did.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Reason {
    /// The `root` policy allows everything.
    Root,
    /// The winning rule grants the operation's capability and every constraint holds.
    Granted,
    /// No rule matches the path (deny by default).
    NoMatchingRule,
    /// The winning rule says `deny`.
    Denied,
    /// The winning rule does not grant the capability the operation needs.
    MissingCapability {
        /// The capability that was needed.
        needed: Capabilities,
    },
    /// The requested wrapping TTL is missing or outside `min_wrapping_ttl`..`max_wrapping_ttl`.
    WrappingTtl {
        /// The rule's minimum, if any.
        min: Option<Duration>,
        /// The rule's maximum, if any.
        max: Option<Duration>,
    },
    /// A `required_parameters` entry is absent from the request.
    MissingRequiredParameter {
        /// The required parameter.
        parameter: String,
    },
    /// A request parameter is in `denied_parameters` (or `denied_parameters` has `*`).
    ParameterDenied {
        /// The request's parameter.
        parameter: String,
    },
    /// A request parameter is not in `allowed_parameters` (and there is no `*`).
    ParameterNotAllowed {
        /// The request's parameter.
        parameter: String,
    },
    /// A request parameter's value is not among its `allowed_parameters` values.
    ValueNotAllowed {
        /// The request's parameter.
        parameter: String,
    },
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::Root => f.write_str("the root policy allows everything"),
            Reason::Granted => {
                f.write_str("the rule grants the capability and every parameter constraint holds")
            }
            Reason::NoMatchingRule => f.write_str("no rule matches the path (deny by default)"),
            Reason::Denied => f.write_str("the rule denies the path"),
            Reason::MissingCapability { needed } => {
                write!(f, "the rule does not grant {needed}")
            }
            Reason::WrappingTtl { min, max } => write!(
                f,
                "the response must be wrapped with a TTL between {} and {}",
                min.map_or_else(|| "0s".to_owned(), |d| format!("{}s", d.as_secs())),
                max.map_or_else(|| "any".to_owned(), |d| format!("{}s", d.as_secs())),
            ),
            Reason::MissingRequiredParameter { parameter } => {
                write!(f, "required parameter {parameter:?} is missing")
            }
            Reason::ParameterDenied { parameter } => {
                write!(f, "parameter {parameter:?} is denied by denied_parameters")
            }
            Reason::ParameterNotAllowed { parameter } => {
                write!(f, "parameter {parameter:?} is not in allowed_parameters")
            }
            Reason::ValueNotAllowed { parameter } => {
                write!(f, "the value of parameter {parameter:?} is not allowed")
            }
        }
    }
}

/// What a (merged) rule permits, beyond the path match.
#[derive(Clone, Debug, PartialEq, Default)]
pub(crate) struct Permissions {
    pub(crate) capabilities: Capabilities,
    pub(crate) allowed: Option<BTreeMap<String, Vec<Value>>>,
    pub(crate) denied: Option<BTreeMap<String, Vec<Value>>>,
    pub(crate) required: Vec<String>,
    /// Zero means "not set", as in Vault.
    pub(crate) min_wrap: Duration,
    pub(crate) max_wrap: Duration,
}

impl Permissions {
    /// Whether [`check`](Self::check) looks at the request's parameters.
    pub(crate) fn reads_parameters(&self) -> bool {
        self.allowed.is_some() || self.denied.is_some() || !self.required.is_empty()
    }
}

fn lower(name: &str) -> Cow<'_, str> {
    if name.bytes().any(|b| b.is_ascii_uppercase()) || !name.is_ascii() {
        Cow::Owned(name.to_lowercase())
    } else {
        Cow::Borrowed(name)
    }
}

/// Vault's parameter-map merge: an empty list (any value) wins, otherwise the lists are joined.
fn merge_params(
    into: &mut Option<BTreeMap<String, Vec<Value>>>,
    new: Option<&BTreeMap<String, Vec<Value>>>,
) {
    let Some(new) = new.filter(|m| !m.is_empty()) else {
        return;
    };
    let Some(existing) = into else {
        *into = Some(new.clone());
        return;
    };
    for (k, v) in new {
        match existing.get_mut(k) {
            Some(old) if old.is_empty() || v.is_empty() => old.clear(),
            Some(old) => {
                let mut joined = v.clone();
                joined.append(old);
                *old = joined;
            }
            None => {
                existing.insert(k.clone(), v.clone());
            }
        }
    }
}

impl Permissions {
    pub(crate) fn from_rule(rule: &crate::policy::Rule) -> Permissions {
        let mut p = Permissions::default();
        p.merge(rule);
        p
    }

    /// Merges another rule with the same pattern into this one, as Vault's `NewACL` does.
    pub(crate) fn merge(&mut self, rule: &crate::policy::Rule) {
        if self.capabilities.contains(Capabilities::DENY) {
            return;
        }
        if rule.capabilities.contains(Capabilities::DENY) {
            *self = Permissions {
                capabilities: Capabilities::DENY,
                ..Permissions::default()
            };
            return;
        }
        self.capabilities |= rule.capabilities;
        // The smaller of two set TTLs wins, to keep wrapping tokens short-lived.
        if let Some(max) = rule.max_wrapping_ttl.filter(|d| !d.is_zero())
            && (self.max_wrap.is_zero() || max < self.max_wrap)
        {
            self.max_wrap = max;
        }
        if let Some(min) = rule.min_wrapping_ttl.filter(|d| !d.is_zero())
            && (self.min_wrap.is_zero() || min < self.min_wrap)
        {
            self.min_wrap = min;
        }
        merge_params(&mut self.allowed, rule.allowed_parameters.as_ref());
        merge_params(&mut self.denied, rule.denied_parameters.as_ref());
        for r in &rule.required_parameters {
            if !self.required.contains(r) {
                self.required.push(r.clone());
            }
        }
    }

    /// Vault's `AllowOperation` after the rule is chosen.
    pub(crate) fn check(&self, req: &Request) -> Result<(), Reason> {
        let needed = req.operation.capability();
        if !self.capabilities.contains(needed) {
            return Err(if self.capabilities.contains(Capabilities::DENY) {
                Reason::Denied
            } else {
                Reason::MissingCapability { needed }
            });
        }
        let ttl_err = || Reason::WrappingTtl {
            min: (!self.min_wrap.is_zero()).then_some(self.min_wrap),
            max: (!self.max_wrap.is_zero()).then_some(self.max_wrap),
        };
        if !self.max_wrap.is_zero() && req.wrap_ttl.is_none_or(|t| t > self.max_wrap) {
            return Err(ttl_err());
        }
        if !self.min_wrap.is_zero() && req.wrap_ttl.is_none_or(|t| t < self.min_wrap) {
            return Err(ttl_err());
        }
        if !self.min_wrap.is_zero() && !self.max_wrap.is_zero() && self.max_wrap < self.min_wrap {
            return Err(ttl_err());
        }
        if !req.operation.checks_parameters() {
            return Ok(());
        }
        for r in &self.required {
            if !req.parameters.contains_key(r) {
                return Err(Reason::MissingRequiredParameter {
                    parameter: r.clone(),
                });
            }
        }
        if req.parameters.is_empty() {
            return Ok(());
        }
        if let Some(denied) = self.denied.as_ref().filter(|m| !m.is_empty()) {
            if denied.contains_key("*") {
                let first = req.parameters.keys().next().map_or("*", String::as_str);
                return Err(Reason::ParameterDenied {
                    parameter: first.to_owned(),
                });
            }
            for (name, value) in &req.parameters {
                if let Some(list) = denied.get(lower(name).as_ref())
                    && denied_by(value, list)
                {
                    return Err(Reason::ParameterDenied {
                        parameter: name.clone(),
                    });
                }
            }
        }
        let Some(allowed) = self.allowed.as_ref().filter(|m| !m.is_empty()) else {
            return Ok(());
        };
        let allowed_all = allowed.contains_key("*");
        if allowed_all && allowed.len() == 1 {
            return Ok(());
        }
        for (name, value) in &req.parameters {
            match allowed.get(lower(name).as_ref()) {
                None if !allowed_all => {
                    return Err(Reason::ParameterNotAllowed {
                        parameter: name.clone(),
                    });
                }
                Some(list) if !allowed_by(value, list) => {
                    return Err(Reason::ValueNotAllowed {
                        parameter: name.clone(),
                    });
                }
                _ => {}
            }
        }
        Ok(())
    }
}

/// Builds a decision from a chosen rule.
pub(crate) fn decide_with<'a>(rule: Option<&'a CompiledRule>, req: &Request) -> Decision<'a> {
    let Some(rule) = rule else {
        return Decision {
            allowed: false,
            capabilities: Capabilities::NONE,
            rule: None,
            reason: Reason::NoMatchingRule,
        };
    };
    let capabilities = rule.permissions.capabilities;
    match rule.permissions.check(req) {
        Ok(()) => Decision {
            allowed: true,
            capabilities,
            rule: Some(rule),
            reason: Reason::Granted,
        },
        Err(reason) => Decision {
            allowed: false,
            capabilities,
            rule: Some(rule),
            reason,
        },
    }
}
