//! Token roles (`auth/token/roles/<name>`): named settings that `auth/token/create/<name>`
//! applies, stored at `sys/token/roles/<name>` inside the barrier. A role may let its callers
//! give tokens policies outside their own (its allowed and disallowed lists replace the
//! subset-of-parent rule), make orphans, fix the token type, and bound periods, use counts and
//! CIDRs, as Vault's `tsRoleEntry` does.

use serde::{Deserialize, Serialize};

use super::{TokenStore, sanitize_policies};
use crate::{Result, VaultError};

const ROLES_PREFIX: &str = "sys/token/roles/";

/// The token type a role issues (Vault's four role values).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum RoleTokenType {
    /// Always service tokens.
    Service,
    /// Always batch tokens.
    Batch,
    /// Service tokens unless the request asks for batch.
    #[default]
    DefaultService,
    /// Batch tokens unless the request asks for service.
    DefaultBatch,
}

impl RoleTokenType {
    /// Vault's name for it.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Service => "service",
            Self::Batch => "batch",
            Self::DefaultService => "default-service",
            Self::DefaultBatch => "default-batch",
        }
    }

    /// Parses a role's `token_type` (Vault refuses `default` here).
    pub(crate) fn parse(text: &str) -> Option<Self> {
        match text {
            "service" => Some(Self::Service),
            "batch" => Some(Self::Batch),
            "default-service" => Some(Self::DefaultService),
            "default-batch" => Some(Self::DefaultBatch),
            _ => None,
        }
    }
}

/// A token role, as stored. Durations in seconds. The deprecated `period`, `explicit_max_ttl`
/// and `bound_cidrs` keep what was written under those names (reads show them); the `token_`
/// ones are what creation uses.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct Role {
    pub(crate) name: String,
    pub(crate) allowed_policies: Vec<String>,
    pub(crate) disallowed_policies: Vec<String>,
    pub(crate) allowed_policies_glob: Vec<String>,
    pub(crate) disallowed_policies_glob: Vec<String>,
    pub(crate) orphan: bool,
    pub(crate) renewable: bool,
    pub(crate) path_suffix: String,
    pub(crate) period: u64,
    pub(crate) explicit_max_ttl: u64,
    pub(crate) bound_cidrs: Vec<String>,
    pub(crate) token_period: u64,
    pub(crate) token_explicit_max_ttl: u64,
    pub(crate) token_bound_cidrs: Vec<String>,
    pub(crate) token_type: RoleTokenType,
    pub(crate) token_no_default_policy: bool,
    pub(crate) token_num_uses: u32,
    /// `None` until set (reads show `null`, as Vault's do).
    pub(crate) allowed_entity_aliases: Option<Vec<String>>,
}

impl Role {
    /// A new role with Vault's defaults (renewable, service tokens by default).
    pub(crate) fn new(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            allowed_policies: Vec::new(),
            disallowed_policies: Vec::new(),
            allowed_policies_glob: Vec::new(),
            disallowed_policies_glob: Vec::new(),
            orphan: false,
            renewable: true,
            path_suffix: String::new(),
            period: 0,
            explicit_max_ttl: 0,
            bound_cidrs: Vec::new(),
            token_period: 0,
            token_explicit_max_ttl: 0,
            token_bound_cidrs: Vec::new(),
            token_type: RoleTokenType::DefaultService,
            token_no_default_policy: false,
            token_num_uses: 0,
            allowed_entity_aliases: None,
        }
    }

    /// Whether the role decides policies itself (any allowed or disallowed list set).
    pub(crate) fn restricts_policies(&self) -> bool {
        !(self.allowed_policies.is_empty()
            && self.disallowed_policies.is_empty()
            && self.allowed_policies_glob.is_empty()
            && self.disallowed_policies_glob.is_empty())
    }

    /// The policies of a token created against this role (one that
    /// [restricts policies](Self::restricts_policies)), by Vault's rules: the asked ones must
    /// be among the allowed (exactly or by glob) when an allowed list is set, and none may be
    /// disallowed; with none asked, the allowed list, or else the parent's. `default` is added
    /// unless the request or the role says not to, or the role disallows it.
    ///
    /// # Errors
    ///
    /// [`VaultError::InvalidRequest`] with Vault's wording when a policy is not allowed or is
    /// disallowed.
    pub(crate) fn policies_for(
        &self,
        asked: &[String],
        no_default_policy: bool,
        parent: &[String],
    ) -> Result<Vec<String>> {
        let add_default = !no_default_policy
            && !self.token_no_default_policy
            && !self.disallowed_policies.iter().any(|p| p == "default")
            && !glob_any(&self.disallowed_policies_glob, "default");
        let mut policies = if asked.is_empty() {
            Vec::new()
        } else {
            sanitize_policies(asked, add_default)
        };
        if !self.allowed_policies.is_empty() || !self.allowed_policies_glob.is_empty() {
            let allowed = sanitize_policies(&self.allowed_policies, add_default);
            if policies.is_empty() {
                policies = allowed;
            } else {
                let globs = sanitize_policies(&self.allowed_policies_glob, false);
                if policies
                    .iter()
                    .any(|p| !allowed.contains(p) && !glob_any(&globs, p))
                {
                    return Err(VaultError::invalid(format!(
                        "token policies ({}) must be subset of the role's allowed policies ({}) \
                         or glob policies ({})",
                        go_quoted(&policies),
                        go_quoted(&allowed),
                        go_quoted(&globs)
                    )));
                }
            }
        } else if policies.is_empty() {
            policies = sanitize_policies(parent, add_default);
        }
        if let Some(p) = policies.iter().find(|p| {
            self.disallowed_policies.contains(p) || glob_any(&self.disallowed_policies_glob, p)
        }) {
            return Err(VaultError::invalid(format!(
                "token policy {p:?} is disallowed by this role"
            )));
        }
        Ok(policies)
    }
}

/// Vault's `strutil.RemoveDuplicates(list, true)`: trimmed, lower case, no empty items, sorted,
/// without duplicates.
pub(crate) fn lower_sorted_unique(items: Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = items
        .into_iter()
        .map(|s| s.trim().to_lowercase())
        .filter(|s| !s.is_empty())
        .collect();
    out.sort();
    out.dedup();
    out
}

/// A list as Go's `%q` prints a `[]string`: `["a" "b"]`.
fn go_quoted(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|s| format!("{s:?}")).collect();
    format!("[{}]", quoted.join(" "))
}

/// Whether any pattern matches `subject` (Vault's `StrListContainsGlob`).
pub(crate) fn glob_any(patterns: &[String], subject: &str) -> bool {
    patterns.iter().any(|p| glob(p, subject))
}

/// The glob Vault uses for policy lists (`ryanuber/go-glob`): `*` matches any run of
/// characters, anywhere in the pattern; nothing else is special.
fn glob(pattern: &str, subject: &str) -> bool {
    if pattern.is_empty() {
        return subject.is_empty();
    }
    if pattern == "*" {
        return true;
    }
    let parts: Vec<&str> = pattern.split('*').collect();
    let Some((last, inner)) = parts.split_last() else {
        return subject == pattern;
    };
    if inner.is_empty() {
        return subject == pattern;
    }
    let leading = pattern.starts_with('*');
    let trailing = pattern.ends_with('*');
    let mut rest = subject;
    for (i, part) in inner.iter().enumerate() {
        let Some(at) = rest.find(part) else {
            return false;
        };
        if i == 0 && !leading && at != 0 {
            return false;
        }
        rest = &rest[at + part.len()..];
    }
    trailing || rest.ends_with(last)
}

/// Whether `name` is a role name Vault's routes accept (`GenericNameRegex`): word characters,
/// `-` and `.`, starting and ending with a word character.
pub(crate) fn valid_name(name: &str) -> bool {
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let bytes = name.as_bytes();
    match (bytes.first(), bytes.last()) {
        (Some(&first), Some(&last)) => {
            word(first) && word(last) && bytes.iter().all(|&b| word(b) || matches!(b, b'-' | b'.'))
        }
        _ => false,
    }
}

/// Whether a role's `path_suffix` passes Vault's check: it must contain a match of
/// `\w[\w-.]+\w` (unanchored, as Vault tests it).
pub(crate) fn valid_path_suffix(suffix: &str) -> bool {
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    suffix
        .as_bytes()
        .split(|&b| !(word(b) || matches!(b, b'-' | b'.')))
        .any(|run| {
            let first = run.iter().position(|&b| word(b));
            let last = run.iter().rposition(|&b| word(b));
            matches!((first, last), (Some(f), Some(l)) if l >= f + 2)
        })
}

impl TokenStore {
    /// The role named `name`, if any.
    pub(crate) async fn role(&self, name: &str) -> Result<Option<Role>> {
        let Some(bytes) = self.storage.get(&format!("{ROLES_PREFIX}{name}")).await? else {
            return Ok(None);
        };
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|_| VaultError::Internal("a stored token role does not decode".into()))
    }

    /// Stores `role` (replacing any of its name).
    pub(crate) async fn put_role(&self, role: &Role) -> Result<()> {
        let bytes = serde_json::to_vec(role)
            .map_err(|e| VaultError::Internal(format!("encoding a token role: {e}")))?;
        self.storage
            .put(&format!("{ROLES_PREFIX}{}", role.name), bytes)
            .await?;
        Ok(())
    }

    /// Deletes the role named `name` (nothing when there is none).
    pub(crate) async fn delete_role(&self, name: &str) -> Result<()> {
        self.storage
            .delete(&format!("{ROLES_PREFIX}{name}"))
            .await?;
        Ok(())
    }

    /// The role names, sorted.
    pub(crate) async fn roles(&self) -> Result<Vec<String>> {
        let mut names: Vec<String> = self
            .storage
            .list(ROLES_PREFIX)
            .await?
            .into_iter()
            .filter(|n| !n.ends_with('/'))
            .collect();
        names.sort();
        Ok(names)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_as_go_glob_does() {
        for (pattern, subject, expected) in [
            ("*", "anything", true),
            ("d*", "default", true),
            ("d*", "xd", false),
            ("*-prod", "app-prod", true),
            ("*-prod", "app-prod-x", false),
            ("a*c*e", "abcde", true),
            ("a*c*e", "abde", false),
            ("abc", "abc", true),
            ("abc", "abcd", false),
            ("", "", true),
            ("", "a", false),
        ] {
            assert_eq!(glob(pattern, subject), expected, "{pattern} {subject}");
        }
    }

    #[test]
    fn names_and_suffixes() {
        assert!(valid_name("a"));
        assert!(valid_name("Ab.c"));
        assert!(valid_name("ci-role_1"));
        assert!(!valid_name("-ab"));
        assert!(!valid_name("a!b"));
        assert!(!valid_name(""));
        assert!(!valid_name("ab."));
        assert!(valid_path_suffix("v1.0"));
        assert!(valid_path_suffix("abc/d"));
        assert!(valid_path_suffix("a..b"));
        assert!(!valid_path_suffix("v1"));
        assert!(!valid_path_suffix("ab/c"));
        assert!(!valid_path_suffix("x y z"));
        assert!(!valid_path_suffix("x!"));
    }

    #[test]
    fn role_policy_rules() {
        let mut role = Role::new("r");
        role.allowed_policies = vec!["a".into(), "b".into()];
        role.disallowed_policies = vec!["b".into()];
        // Nothing asked: the allowed list (and default), which holds a disallowed one.
        let err = role.policies_for(&[], false, &[]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "token policy \"b\" is disallowed by this role"
        );
        assert_eq!(
            role.policies_for(&["A".into()], false, &[]).unwrap(),
            ["a", "default"]
        );
        let err = role.policies_for(&["zz".into()], false, &[]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "token policies ([\"default\" \"zz\"]) must be subset of the role's allowed \
             policies ([\"a\" \"b\" \"default\"]) or glob policies ([])"
        );
        // Only a disallowed list: the parent's policies, `default` unless disallowed.
        let mut role = Role::new("r");
        role.disallowed_policies = vec!["default".into(), "x".into()];
        assert_eq!(
            role.policies_for(&[], false, &["dev".into()]).unwrap(),
            ["dev"]
        );
        let mut role = Role::new("r");
        role.disallowed_policies_glob = vec!["d*".into()];
        assert_eq!(role.policies_for(&["y".into()], false, &[]).unwrap(), ["y"]);
    }
}
