//! Capabilities (a bit set parsed once) and the operations that need them.

use std::fmt;
use std::ops::{BitOr, BitOrAssign};

/// A set of capabilities, as granted by a `path` rule.
///
/// Parsed once from the policy's strings into a bit set, so a decision is a mask test. The
/// [`Capabilities::ROOT`] bit is never written in a policy: it marks the answer for the built-in
/// `root` policy in [`Acl::capabilities`](crate::Acl::capabilities).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Capabilities(u16);

impl Capabilities {
    /// No capability at all.
    pub const NONE: Capabilities = Capabilities(0);
    /// `create`: write data where there is none.
    pub const CREATE: Capabilities = Capabilities(1 << 0);
    /// `read`: read the data at a path.
    pub const READ: Capabilities = Capabilities(1 << 1);
    /// `update`: change existing data (in most engines also create it).
    pub const UPDATE: Capabilities = Capabilities(1 << 2);
    /// `patch`: partial update.
    pub const PATCH: Capabilities = Capabilities(1 << 3);
    /// `delete`: delete the data at a path.
    pub const DELETE: Capabilities = Capabilities(1 << 4);
    /// `list`: list the keys under a path.
    pub const LIST: Capabilities = Capabilities(1 << 5);
    /// `sudo`: access to root-protected paths; checked by the caller, in addition to the
    /// operation's own capability.
    pub const SUDO: Capabilities = Capabilities(1 << 6);
    /// `deny`: nothing, whatever else is granted for the same pattern.
    pub const DENY: Capabilities = Capabilities(1 << 7);
    /// Everything, granted by the built-in `root` policy only. Not accepted in a policy.
    pub const ROOT: Capabilities = Capabilities(1 << 8);

    /// The capabilities a policy may name, with their names, in Vault's documentation order.
    const NAMED: [(Capabilities, &'static str); 8] = [
        (Capabilities::CREATE, "create"),
        (Capabilities::READ, "read"),
        (Capabilities::UPDATE, "update"),
        (Capabilities::PATCH, "patch"),
        (Capabilities::DELETE, "delete"),
        (Capabilities::LIST, "list"),
        (Capabilities::SUDO, "sudo"),
        (Capabilities::DENY, "deny"),
    ];

    /// The order in which `sys/capabilities-self` lists capabilities (Vault's order).
    const VAULT_ORDER: [(Capabilities, &'static str); 7] = [
        (Capabilities::SUDO, "sudo"),
        (Capabilities::READ, "read"),
        (Capabilities::LIST, "list"),
        (Capabilities::UPDATE, "update"),
        (Capabilities::DELETE, "delete"),
        (Capabilities::CREATE, "create"),
        (Capabilities::PATCH, "patch"),
    ];

    /// Parses one capability name as written in a policy (`"read"`, `"deny"`, ...).
    ///
    /// Returns `None` for anything else, including `"root"`, which no policy can grant.
    pub fn parse(name: &str) -> Option<Capabilities> {
        Self::NAMED
            .iter()
            .find(|(_, n)| *n == name)
            .map(|(c, _)| *c)
    }

    /// True if every capability in `other` is in `self`.
    pub const fn contains(self, other: Capabilities) -> bool {
        self.0 & other.0 == other.0
    }

    /// True if `self` and `other` share at least one capability.
    pub const fn intersects(self, other: Capabilities) -> bool {
        self.0 & other.0 != 0
    }

    /// True if no capability is set.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The union of two sets.
    pub const fn union(self, other: Capabilities) -> Capabilities {
        Capabilities(self.0 | other.0)
    }

    /// The names of the capabilities in the set, in policy order (`create`, `read`, `update`,
    /// `patch`, `delete`, `list`, `sudo`, `deny`; `root` last).
    pub fn names(self) -> impl Iterator<Item = &'static str> {
        Self::NAMED
            .iter()
            .chain(std::iter::once(&(Capabilities::ROOT, "root")))
            .filter(move |(c, _)| self.contains(*c))
            .map(|(_, n)| *n)
    }

    /// The list `sys/capabilities-self` answers for this set, exactly as Vault does: `["root"]`
    /// for the root policy, `["deny"]` when `deny` is set or nothing is granted, otherwise the
    /// granted capabilities in Vault's order (`sudo`, `read`, `list`, `update`, `delete`,
    /// `create`, `patch`).
    pub fn to_vault_list(self) -> Vec<&'static str> {
        if self.contains(Capabilities::ROOT) {
            return vec!["root"];
        }
        if self.contains(Capabilities::DENY) {
            return vec!["deny"];
        }
        let out: Vec<&'static str> = Self::VAULT_ORDER
            .iter()
            .filter(|(c, _)| self.contains(*c))
            .map(|(_, n)| *n)
            .collect();
        if out.is_empty() { vec!["deny"] } else { out }
    }
}

impl BitOr for Capabilities {
    type Output = Capabilities;
    fn bitor(self, rhs: Capabilities) -> Capabilities {
        self.union(rhs)
    }
}

impl BitOrAssign for Capabilities {
    fn bitor_assign(&mut self, rhs: Capabilities) {
        *self = self.union(rhs);
    }
}

impl fmt::Debug for Capabilities {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.names()).finish()
    }
}

impl fmt::Display for Capabilities {
    /// `[create, read]`, `[]` when empty.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[")?;
        for (i, name) in self.names().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            f.write_str(name)?;
        }
        f.write_str("]")
    }
}

/// What a request does, which decides the capability it needs.
///
/// Vault maps `revoke`, `renew` and `rollback` onto [`Operation::Update`]; the caller does that
/// mapping. `sudo` is not an operation: the caller checks [`Decision::capabilities`] for
/// [`Capabilities::SUDO`] on root-protected paths.
///
/// [`Decision::capabilities`]: crate::Decision::capabilities
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Operation {
    /// Needs `create`.
    Create,
    /// Needs `read`.
    Read,
    /// Needs `update`.
    Update,
    /// Needs `patch`.
    Patch,
    /// Needs `delete`.
    Delete,
    /// Needs `list`. A trailing `/` on the path is handled as Vault does (the path is tried
    /// without it first).
    List,
}

impl Operation {
    /// Every operation, for tests and tooling.
    pub const ALL: [Operation; 6] = [
        Operation::Create,
        Operation::Read,
        Operation::Update,
        Operation::Patch,
        Operation::Delete,
        Operation::List,
    ];

    /// The capability this operation needs.
    pub const fn capability(self) -> Capabilities {
        match self {
            Operation::Create => Capabilities::CREATE,
            Operation::Read => Capabilities::READ,
            Operation::Update => Capabilities::UPDATE,
            Operation::Patch => Capabilities::PATCH,
            Operation::Delete => Capabilities::DELETE,
            Operation::List => Capabilities::LIST,
        }
    }

    /// True for the operations whose request parameters are checked against
    /// `allowed_parameters`, `denied_parameters` and `required_parameters` (create, read,
    /// update, patch), as in Vault.
    pub const fn checks_parameters(self) -> bool {
        matches!(
            self,
            Operation::Create | Operation::Read | Operation::Update | Operation::Patch
        )
    }

    /// The lower-case name (`"read"`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Operation::Create => "create",
            Operation::Read => "read",
            Operation::Update => "update",
            Operation::Patch => "patch",
            Operation::Delete => "delete",
            Operation::List => "list",
        }
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_every_name_and_reject_others() {
        for name in [
            "create", "read", "update", "patch", "delete", "list", "sudo", "deny",
        ] {
            let cap = Capabilities::parse(name).unwrap();
            assert_eq!(cap.names().collect::<Vec<_>>(), vec![name]);
        }
        for bad in ["root", "Read", "write", "", " read"] {
            assert_eq!(Capabilities::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn vault_list_order_and_deny() {
        let c = Capabilities::CREATE | Capabilities::READ | Capabilities::SUDO;
        assert_eq!(c.to_vault_list(), vec!["sudo", "read", "create"]);
        assert_eq!(Capabilities::NONE.to_vault_list(), vec!["deny"]);
        assert_eq!((c | Capabilities::DENY).to_vault_list(), vec!["deny"]);
        assert_eq!(Capabilities::ROOT.to_vault_list(), vec!["root"]);
        assert_eq!(c.to_string(), "[create, read, sudo]");
    }
}
