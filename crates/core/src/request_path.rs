//! The one spelling of a request path.
//!
//! Routing, the token check, the ACL, the sudo check and every handler see the path this module
//! produces, and nothing downstream normalises it further: a rule written for `sys/seal` holds
//! for every request that reaches the handler of `sys/seal`. The rules are OpenBao 2.7's:
//!
//! * no leading `/`; empty segments (`a//b`) are refused, and `.` or `..` segments are refused
//!   with Vault's "relative paths not supported" (the HTTP layer redirects the raw `//`, `/./`
//!   and `/../` spellings to the clean path first, as Go's router does for Vault);
//! * a `list` always ends in `/` (Vault appends it before anything looks at the path);
//! * a write (`create`, `update`, `patch`) to a path ending in `/` is refused ("cannot write to
//!   a path ending in '/'"), so no handler ever receives `seal/` for `seal`;
//! * case is significant (`SYS/seal` is not `sys/seal`); the names engines fold to lower case
//!   (users, roles, policies) are folded before the ACL decision, by the engine's
//!   [`canonical_path`](strongroom_logical::Backend::canonical_path) and here for `sys/policy`.

use strongroom_logical::Operation;

use crate::{Result, VaultError};

/// The longest path accepted.
const MAX_PATH_LEN: usize = 4096;

/// The canonical form of `raw` for `operation`, or the 4xx that refuses it.
///
/// # Errors
///
/// [`VaultError::UnsupportedPath`] for an empty or over-long path; [`VaultError::InvalidRequest`]
/// for control characters, empty, `.` or `..` segments, and writes to a path ending in `/`.
pub(crate) fn canonical(operation: Operation, raw: &str) -> Result<String> {
    let path = raw.trim_start_matches('/');
    if path.is_empty() || path.len() > MAX_PATH_LEN {
        return Err(VaultError::UnsupportedPath);
    }
    if path.chars().any(char::is_control) {
        return Err(VaultError::invalid(
            "invalid request path: control characters",
        ));
    }
    let body = path.strip_suffix('/').unwrap_or(path);
    let mut segments = body.split('/');
    if segments.clone().any(|s| s == "." || s == "..") {
        return Err(VaultError::invalid("relative paths not supported"));
    }
    if body.is_empty() || segments.any(str::is_empty) {
        return Err(VaultError::invalid(format!(
            "invalid request path {:?}: empty segments are not allowed",
            path.chars().take(96).collect::<String>()
        )));
    }
    let trailing = path.ends_with('/');
    match operation {
        Operation::List if !trailing => {
            let mut out = String::with_capacity(path.len() + 1);
            out.push_str(path);
            out.push('/');
            Ok(out)
        }
        Operation::Create | Operation::Update | Operation::Patch if trailing => {
            Err(VaultError::invalid("cannot write to a path ending in '/'"))
        }
        _ => Ok(path.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "test code")]

    use super::*;

    #[test]
    fn canonical_forms() {
        use Operation::{Delete, List, Read, Update};
        assert_eq!(canonical(Read, "/secret/a").unwrap(), "secret/a");
        assert_eq!(canonical(List, "secret/a").unwrap(), "secret/a/");
        assert_eq!(canonical(List, "secret/a/").unwrap(), "secret/a/");
        assert_eq!(canonical(Read, "secret/a/").unwrap(), "secret/a/");
        assert_eq!(canonical(Delete, "sys/mounts/x/").unwrap(), "sys/mounts/x/");
        assert_eq!(canonical(Update, "sys/seal").unwrap(), "sys/seal");
        for (op, bad) in [
            (Update, "sys/seal/"),
            (Operation::Create, "sys/seal/"),
            (Operation::Patch, "secret/data/a/"),
            (Update, "sys//seal"),
            (Update, "sys/./seal"),
            (Read, "sys/../sys/seal"),
            (Read, "sys/seal/.."),
            (Read, "a\u{0}b"),
            (Read, "a/b//"),
        ] {
            assert!(
                matches!(canonical(op, bad), Err(VaultError::InvalidRequest(_))),
                "{op:?} {bad:?}"
            );
        }
        assert!(matches!(
            canonical(Read, "/"),
            Err(VaultError::UnsupportedPath)
        ));
        assert!(matches!(
            canonical(Read, &"a".repeat(5000)),
            Err(VaultError::UnsupportedPath)
        ));
        assert_eq!(
            canonical(Read, "sys/%2e").unwrap(),
            "sys/%2e",
            "percent-decoding is the transport's job"
        );
    }
}
