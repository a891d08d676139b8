//! Vault's policy language for Strongroom: parse policies (HCL or JSON), compile them into an
//! [`Acl`], and decide requests in a fraction of a microsecond.
//!
//! Use this crate when you need Vault-compatible authorization on its own: to check what a set
//! of policies allows, to build tooling around policies ([`Acl::explain`], [`lint`]), or inside
//! your own service. `strongroom-core` uses it for every request; if you embed the whole vault
//! you do not call it directly.
//!
//! # Getting started
//!
//! ```
//! use strongroom_policy::{Acl, Capabilities, Operation, Policy, Reason, Request};
//!
//! let dev = Policy::parse("dev", r#"
//!     path "secret/*" {
//!       capabilities = ["create", "read", "update", "patch", "delete", "list"]
//!     }
//!     path "secret/super-secret" {
//!       capabilities = ["deny"]
//!     }
//!     path "secret/restricted" {
//!       capabilities = ["create"]
//!       allowed_parameters = {
//!         "foo" = []
//!         "bar" = ["zip", "zap"]
//!       }
//!     }
//! "#)?;
//! let acl = Acl::new(&[dev, Policy::default_policy()]);
//!
//! let read = Request::new(Operation::Read, "secret/app/db");
//! let decision = acl.decide(&read);
//! assert!(decision.allowed);
//! assert_eq!(decision.pattern(), Some("secret/*"));
//!
//! // The exact rule outranks the glob, and it denies.
//! let secret = Request::new(Operation::Read, "secret/super-secret");
//! assert_eq!(acl.decide(&secret).reason, Reason::Denied);
//!
//! // Parameter constraints.
//! let bad = Request::new(Operation::Create, "secret/restricted").with_parameter("bar", "zoom");
//! assert_eq!(acl.decide(&bad).reason, Reason::ValueNotAllowed { parameter: "bar".into() });
//!
//! // What `sys/capabilities-self` answers.
//! assert_eq!(acl.capabilities("cubbyhole/x").to_vault_list(), ["read", "list", "update", "delete", "create"]);
//! assert!(acl.capabilities("sys/mounts").to_vault_list() == ["deny"]);
//! # Ok::<_, strongroom_policy::PolicyError>(())
//! ```
//!
//! # The language
//!
//! Each `path "<pattern>" { ... }` stanza takes `capabilities` (`create`, `read`, `update`,
//! `patch`, `delete`, `list`, `sudo`, `deny`), `allowed_parameters`, `denied_parameters`,
//! `required_parameters`, `min_wrapping_ttl` and `max_wrapping_ttl`, and the legacy
//! `policy = "read"`. Patterns are exact (`secret/foo`), prefix (`secret/foo*`), segment
//! (`secret/+/foo`, where `+` is exactly one non-empty segment) or both (`secret/+/foo*`); `*`
//! only at the end. The JSON form is `{"path": {"<pattern>": {"capabilities": [...]}}}`.
//! Errors carry line and column ([`PolicyError`]). Unknown keys are skipped and reported by
//! [`lint`]; Vault Enterprise keys (`control_group`, `mfa_methods`, ...) are refused so a policy
//! never grants more than written. Identity templates (`{{identity.entity.id}}`) are not
//! rendered: such paths stay literal.
//!
//! # Which rule applies
//!
//! An exact rule for the path always wins. Otherwise, when several patterns `P1`, `P2` match,
//! Vault's documented priority applies:
//!
//! 1. if the first wildcard (`+`) or glob (`*`) occurs earlier in `P1`, `P1` is lower priority;
//! 2. if `P1` ends in `*` and `P2` doesn't, `P1` is lower priority;
//! 3. if `P1` has more `+` segments, `P1` is lower priority;
//! 4. if `P1` is shorter, it is lower priority;
//! 5. if `P1` is smaller lexicographically, it is lower priority.
//!
//! So `secret/+/foo` beats `secret/*` (both wildcards at the same place: rule 2), `secret/foo/*`
//! beats `secret/+/foo` (rule 1), `secret/+/foo` beats `secret/+/fo*` (rule 2) and `secret/*` beats `secret/+/+/foo/*`
//! (rule 3). Only the winning pattern counts: a `deny` on a lower-priority pattern does not
//! affect the path. Rules with the *same* pattern in several policies are merged: capabilities
//! are united, `deny` overrides everything else for that pattern, `allowed_parameters` and
//! `denied_parameters` lists are joined (an empty list, meaning any value, wins), required
//! parameters are united and the smaller wrapping TTLs kept. A `list` of `foo/` is looked up
//! as `foo` first, as Vault does.
//!
//! # Decisions
//!
//! [`Acl::decide`] returns a [`Decision`]: allowed or not, the capabilities granted on the path,
//! the winning [`CompiledRule`] (pattern and contributing policies) and the [`Reason`]. Operations
//! map to capabilities one to one (read → `read`, ...). `sudo` is returned in
//! [`Decision::capabilities`] for the caller to check on root-protected paths. Parameters are
//! checked for create, read, update and patch: required ones must be present, `denied_parameters`
//! take precedence, then `allowed_parameters` (with `*` and value globs), as in Vault.
//!
//! # Differences from Vault
//!
//! * `+` never matches an empty segment (Vault's matches `a//b` and a trailing empty segment).
//! * A `+` inside a segment (`a+b`) is literal, and rule 1 measures from the first `+` segment.
//! * An empty string request value must itself be allowed (Vault lets `""` through any
//!   `allowed_parameters` list); JSON-pointer parameter keys (`/a/b`) are refused.
#![forbid(unsafe_code)]

mod acl;
mod capability;
mod decision;
mod error;
mod explain;
mod lint;
mod parse;
mod pattern;
mod policy;
mod serialize;
mod value;

#[doc(hidden)]
pub mod hcl_guard;
pub mod internal;

pub use acl::{Acl, CompiledRule, RuleSource};
pub use capability::{Capabilities, Operation};
pub use decision::{Decision, Reason, Request};
pub use error::{Location, PolicyError};
pub use explain::{Candidate, Explanation};
pub use lint::{Lint, LintKind, lint};
pub use pattern::{Pattern, PatternKind, PriorityRule};
pub use policy::{DEFAULT_POLICY_HCL, ParameterMap, Policy, Rule, UnknownKey};
pub use value::Value;
