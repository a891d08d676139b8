//! Where a request goes: the system backend, the token store, or a mounted engine.

use std::sync::Arc;

use strongroom_logical::Operation;

use crate::active::Active;
use crate::mounts::Mounted;
use crate::vault::Vault;

/// Where a request goes.
pub(crate) enum Target {
    Sys(String),
    Token(String),
    /// The caller's own cubbyhole (the path below `cubbyhole/`).
    Cubbyhole(String),
    Engine(Arc<Mounted>, String),
    /// Nothing serves the path: a 404 once the token and the ACL have been checked.
    Nowhere,
    /// A non-list operation on a path ending in `/` below a mount: nothing is there (a read
    /// finds nothing, as KV answers; anything else is an unsupported path), and no engine is
    /// asked, since engines read `x/` as `x`.
    Vacant,
}

impl Vault {
    /// Where the canonical `path` goes, without failing when nothing serves it (the token and
    /// the ACL are checked first, as in Vault, so an unknown path tells a caller without a
    /// valid token nothing). Names the target engine folds are folded here, so the ACL decides
    /// on the path the handler acts on.
    pub(crate) async fn route(active: &Active, operation: Operation, path: &mut String) -> Target {
        if let Some(rest) = path.strip_prefix("sys/") {
            if let Some(folded) = crate::sys::fold_sys_names(operation, rest) {
                *path = format!("sys/{folded}");
            }
            return Target::Sys(path.get("sys/".len()..).unwrap_or_default().to_owned());
        }
        if path == "auth/token" || path.starts_with("auth/token/") {
            let rest = path.get("auth/token".len()..).unwrap_or_default();
            return Target::Token(rest.trim_start_matches('/').to_owned());
        }
        if path == "cubbyhole" || path.starts_with("cubbyhole/") {
            let rest = path.get("cubbyhole".len()..).unwrap_or_default();
            let rest = rest.trim_start_matches('/');
            // As below a mount: only a list may name a folder.
            if operation != Operation::List && rest.ends_with('/') {
                return Target::Vacant;
            }
            return Target::Cubbyhole(rest.to_owned());
        }
        let router = active.router();
        let Some((mounted, rest)) = router.route(path) else {
            return Target::Nowhere;
        };
        // Only a list may end in `/` below a mount: engines read `x/` as `x`, so any other
        // operation on it would act on a path the ACL did not decide on. OpenBao answers 404.
        if operation != Operation::List && rest.ends_with('/') {
            return Target::Vacant;
        }
        let mounted = Arc::clone(mounted);
        let rest = match mounted.backend.canonical_path(rest) {
            Some(folded) => {
                *path = format!("{}{folded}", mounted.entry.path);
                folded
            }
            None => rest.to_owned(),
        };
        Target::Engine(mounted, rest)
    }
}
