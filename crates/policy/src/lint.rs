//! `lint`: mistakes Vault accepts silently.

use std::collections::BTreeMap;
use std::fmt;

use crate::acl::merge;
use crate::capability::Capabilities;
use crate::error::Location;
use crate::pattern::{PatternKind, PriorityRule};
use crate::policy::{Policy, Rule};

/// One finding of [`lint`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Lint {
    /// The policy the finding is in.
    pub policy: String,
    /// The pattern of the rule concerned, when the finding is about a rule.
    pub pattern: Option<String>,
    /// Where, when known.
    pub location: Option<Location>,
    /// What is wrong.
    pub kind: LintKind,
}

/// What a [`Lint`] found.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum LintKind {
    /// A key the parser skipped (a typo such as `capabilites`, or a key Vault does not know).
    UnknownKey {
        /// The key.
        key: String,
    },
    /// Every path this rule matches is also matched by a rule of higher priority, so it never
    /// applies.
    Shadowed {
        /// The pattern of the rule that wins instead.
        by: String,
        /// The policies that rule comes from.
        by_policies: Vec<String>,
        /// The priority rule that makes it win.
        because: PriorityRule,
    },
    /// The rule's parameter constraints can never be checked.
    IneffectiveParameters {
        /// Why.
        why: &'static str,
    },
    /// The rule names a KV version 2 mount's path directly, but KV v2 serves secrets under
    /// `<mount>/data/...` and metadata under `<mount>/metadata/...`, so the rule matches no
    /// secret.
    KvV2Path {
        /// The mount (with trailing `/`).
        mount: String,
        /// Patterns that were probably meant.
        suggestions: Vec<String>,
    },
}

impl fmt::Display for Lint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "policy {:?}", self.policy)?;
        if let Some(l) = self.location {
            write!(f, " ({l})")?;
        }
        if let Some(p) = &self.pattern {
            write!(f, ", path {p:?}")?;
        }
        f.write_str(": ")?;
        match &self.kind {
            LintKind::UnknownKey { key } => write!(f, "unknown key {key:?} is ignored"),
            LintKind::Shadowed {
                by,
                by_policies,
                because,
            } => write!(
                f,
                "never applies: every path it matches is matched by {by:?} (policy {}), which has priority because {because}",
                by_policies.join(", ")
            ),
            LintKind::IneffectiveParameters { why } => {
                write!(f, "parameter constraints have no effect: {why}")
            }
            LintKind::KvV2Path { mount, suggestions } => write!(
                f,
                "{mount} is a KV v2 mount: secrets live under {mount}data/ and metadata under {mount}metadata/, so this matches no secret; did you mean {}?",
                suggestions.join(" or ")
            ),
        }
    }
}

/// The first path segments of KV v2's API under a mount.
const KV_V2_ENDPOINTS: [&str; 7] = [
    "data", "metadata", "delete", "undelete", "destroy", "subkeys", "config",
];

fn normalize_mount(m: &str) -> String {
    let m = m.trim_start_matches('/').trim_end_matches('/');
    format!("{m}/")
}

/// The KV v2 mount `pattern` is under, with the rest of the pattern, if it names the mount's
/// paths without one of KV v2's endpoints.
fn kv_v2_mistake<'a>(
    pattern: &'a crate::pattern::Pattern,
    mounts: &'a [String],
) -> Option<(&'a str, &'a str)> {
    let text = pattern.as_str();
    for mount in mounts {
        let Some(rest) = text.strip_prefix(mount.as_str()) else {
            continue;
        };
        let body = rest.strip_suffix('*').unwrap_or(rest);
        let first = body.split('/').next().unwrap_or("");
        let open_prefix = pattern.is_prefix() && !body.contains('/');
        let covers_endpoint = open_prefix && KV_V2_ENDPOINTS.iter().any(|e| e.starts_with(first));
        if rest.is_empty() || first == "+" || covers_endpoint || KV_V2_ENDPOINTS.contains(&first) {
            return None;
        }
        return Some((mount, rest));
    }
    None
}

fn rule_lint(policy: &Policy, rule: &Rule, kind: LintKind) -> Lint {
    Lint {
        policy: policy.name().to_owned(),
        pattern: Some(rule.pattern.as_str().to_owned()),
        location: rule.location,
        kind,
    }
}

/// Checks policies for mistakes Vault accepts silently:
///
/// * unknown keys (skipped by the parser);
/// * rules shadowed by a higher-priority rule that matches every path they match, so they never
///   apply (checked across all the given policies, as if attached to one token);
/// * parameter constraints that are never checked (on a `deny` rule, on a rule without
///   create/read/update/patch, or on a KV v2 path);
/// * the classic KV v2 mistake: `secret/foo` when the data lives at `secret/data/foo`, for the
///   given KV v2 mounts (e.g. `["secret/"]`).
///
/// Findings come in policy order.
pub fn lint(policies: &[Policy], kv_v2_mounts: &[&str]) -> Vec<Lint> {
    let mounts: Vec<String> = kv_v2_mounts.iter().map(|m| normalize_mount(m)).collect();
    let mut out = Vec::new();
    for policy in policies {
        for key in policy.unknown_keys() {
            out.push(Lint {
                policy: policy.name().to_owned(),
                pattern: None,
                location: key.location,
                kind: LintKind::UnknownKey {
                    key: key.key.clone(),
                },
            });
        }
        for rule in policy.rules() {
            for key in &rule.unknown_keys {
                out.push(Lint {
                    location: key.location.or(rule.location),
                    ..rule_lint(
                        policy,
                        rule,
                        LintKind::UnknownKey {
                            key: key.key.clone(),
                        },
                    )
                });
            }
            let kv = kv_v2_mistake(&rule.pattern, &mounts);
            if let Some((mount, rest)) = kv {
                out.push(rule_lint(
                    policy,
                    rule,
                    LintKind::KvV2Path {
                        mount: mount.to_owned(),
                        suggestions: vec![
                            format!("{mount}data/{rest}"),
                            format!("{mount}metadata/{rest}"),
                        ],
                    },
                ));
            }
            if rule.has_parameter_constraints() {
                let why = if rule.capabilities.contains(Capabilities::DENY) {
                    Some("`deny` discards them")
                } else if !rule.capabilities.intersects(
                    Capabilities::CREATE
                        | Capabilities::READ
                        | Capabilities::UPDATE
                        | Capabilities::PATCH,
                ) {
                    Some(
                        "parameters are only checked for create, read, update and patch, which this rule does not grant",
                    )
                } else if mounts
                    .iter()
                    .any(|m| rule.pattern.as_str().starts_with(m.as_str()))
                {
                    Some(
                        "KV v2 takes a secret's fields inside `data`, so Vault does not support parameter constraints on KV v2 paths",
                    )
                } else {
                    None
                };
                if let Some(why) = why {
                    out.push(rule_lint(
                        policy,
                        rule,
                        LintKind::IneffectiveParameters { why },
                    ));
                }
            }
        }
    }
    out.extend(shadowed(policies));
    out
}

/// Rules that never apply. A wildcard rule can only be covered by one with the same literal
/// prefix (a longer prefix leaves out the paths where the shorter rule's wildcard differs from
/// it, and a shorter one has lower priority), so only rules of one group are compared.
fn shadowed(policies: &[Policy]) -> Vec<Lint> {
    let (rules, _) = merge(policies);
    let mut groups: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, r) in rules.iter().enumerate() {
        if r.pattern().kind() != PatternKind::Exact {
            groups
                .entry(r.pattern().literal_prefix())
                .or_default()
                .push(i);
        }
    }
    let mut out = Vec::new();
    for ids in groups.values() {
        for &p in ids {
            let Some(pr) = rules.get(p) else { continue };
            let winner = ids.iter().filter(|&&q| q != p).find_map(|&q| {
                let qr = rules.get(q)?;
                let (ord, because) = qr.pattern().cmp_priority(pr.pattern());
                (ord.is_gt() && qr.pattern().covers(pr.pattern())).then_some((qr, because?))
            });
            let Some((qr, because)) = winner else {
                continue;
            };
            for source in pr.sources() {
                out.push(Lint {
                    policy: source.policy.clone(),
                    pattern: Some(pr.pattern().as_str().to_owned()),
                    location: source.location,
                    kind: LintKind::Shadowed {
                        by: qr.pattern().as_str().to_owned(),
                        by_policies: qr.sources().iter().map(|s| s.policy.clone()).collect(),
                        because,
                    },
                });
            }
        }
    }
    out
}
