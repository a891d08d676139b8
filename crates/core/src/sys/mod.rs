//! The system backend (`sys/...`) and the token store's endpoints (`auth/token/...`), with
//! Vault's paths and JSON shapes, declared on the path framework like every engine: one module
//! per topic, each listing its endpoints. Routing, field decoding, the sudo paths, the paths a
//! server may open without a token, name folding before the ACL decision and the OpenAPI
//! document all come from these declarations.

mod audit;
mod caller;
mod cubbyhole;
mod host;
mod internal;
mod leases;
mod locked_users;
mod mounts;
mod policies;
mod quorum;
mod status;
mod tokens;
mod tools;
pub(crate) mod wrapping;

use std::sync::{Arc, LazyLock};

use serde_json::{Map, Value};
use strongroom_logical::{Context, Endpoint, EndpointInfo, Endpoints, Operation, Request};

use crate::active::Active;
use crate::request::VaultResponse;
use crate::{Result, Vault, VaultError};

pub(crate) use caller::Caller;
pub(crate) use mounts::builtin_accessor;

/// One system endpoint, declared.
type Declared = Endpoint<System, VaultResponse, VaultError>;

/// The compiled endpoints of the system backend or the token store.
pub(crate) type Table = Endpoints<System, VaultResponse, VaultError>;

/// What a system handler works with: the vault, its unsealed state, and who is asking.
pub(crate) struct System {
    vault: Vault,
    active: Arc<Active>,
    /// `None` only on the endpoints served without a token (the quorum endpoints a server
    /// opens, `sys/wrapping/lookup`).
    caller: Option<Caller>,
    /// The token the request carried, used or not (`sys/wrapping/lookup` reads it unused).
    presented: Option<crate::ClientToken>,
    /// The TTL the request asked its answer to be wrapped with.
    wrap_ttl: Option<std::time::Duration>,
}

impl System {
    /// What a handler of `request` works with; `caller`: who is asking, as the pipeline
    /// established it.
    pub(crate) fn new(
        vault: &Vault,
        active: &Arc<Active>,
        caller: Option<Caller>,
        request: &crate::VaultRequest,
    ) -> Self {
        Self {
            vault: vault.clone(),
            active: Arc::clone(active),
            caller,
            presented: request.token.clone(),
            wrap_ttl: request.wrap_ttl,
        }
    }

    /// Who is asking.
    ///
    /// # Errors
    ///
    /// [`VaultError::PermissionDenied`] where no token was presented (never reached: only the
    /// quorum endpoints, which do not ask, are served without one).
    fn caller(&self) -> Result<&Caller> {
        self.caller.as_ref().ok_or(VaultError::PermissionDenied)
    }
}

static SYSTEM: LazyLock<Table> = LazyLock::new(|| {
    Endpoints::new(
        "The system backend: mounts, auth methods, policies, leases, audit devices, the seal \
         and the quorum ceremonies.",
        [
            mounts::endpoints(),
            policies::endpoints(),
            leases::endpoints(),
            audit::endpoints(),
            locked_users::endpoints(),
            internal::endpoints(),
            status::endpoints(),
            tools::endpoints(),
            quorum::endpoints(),
            wrapping::endpoints(),
            host::endpoints(),
        ]
        .into_iter()
        .flatten()
        .collect(),
    )
});

static TOKEN_STORE: LazyLock<Table> = LazyLock::new(|| {
    Endpoints::new(
        "The token store: create, look up, renew and revoke tokens.",
        tokens::endpoints(),
    )
});

static CUBBYHOLE: LazyLock<Table> = LazyLock::new(|| {
    Endpoints::new(
        "The cubbyhole backend reads and writes arbitrary secrets, namespaced per token: \
         tokens can only read and write their own values, with no sharing possible. When the \
         token is revoked, the entire set of stored values for that token is also removed.",
        cubbyhole::endpoints(),
    )
});

/// The cubbyhole's endpoints (below `cubbyhole/`).
pub(crate) fn cubbyhole() -> &'static Table {
    &CUBBYHOLE
}

/// The system backend's endpoints (below `sys/`).
pub(crate) fn system() -> &'static Table {
    &SYSTEM
}

/// The token store's endpoints (below `auth/token/`).
pub(crate) fn token_store() -> &'static Table {
    &TOKEN_STORE
}

/// Whether the cubbyhole of the token whose hash is `id` holds an entry at `rest`.
pub(crate) async fn cubbyhole_exists(active: &Active, id: &str, rest: &str) -> Result<bool> {
    cubbyhole::entry_exists(active, id, rest).await
}

/// The context system handlers run in: the `sys/` view, the vault's clock.
fn context(active: &Arc<Active>) -> Result<Context> {
    let mut ctx = Context::new(
        strongroom_logical::StorageView::new(Arc::clone(active.storage()), "sys/")?,
        "sys/",
    );
    ctx.now = active.clock().now();
    Ok(ctx)
}

/// Whether `rest` (below `sys/` or `auth/token/`) needs `sudo`: as written or without its
/// trailing `/`, so no spelling a handler reads alike slips past (`seal/` is `seal`).
pub(crate) fn needs_sudo(table: &Table, rest: &str) -> bool {
    table.needs_sudo(rest) || table.needs_sudo(rest.trim_end_matches('/'))
}

/// Whether `rest` (below `sys/`) is a quorum endpoint a server may open without a token
/// (Vault's legacy spellings `rekey/*` and `generate-root/*`).
pub(crate) fn is_tokenless_quorum(rest: &str) -> bool {
    system()
        .endpoint(rest)
        .is_some_and(|info| quorum::TOKENLESS.contains(&info.pattern()))
}

/// `sys/...` paths (below `sys/`) as their handlers read them, for the ACL to decide on the
/// same string: the captures declared lower case folded (policy names: `policy/<name>`,
/// `policies/acl/<name>`), and the
/// mount path of `mounts/<path>/`, `auth/<path>/` and `audit/<path>/` without its final `/`
/// (those handlers take `x` and `x/` for the same mount, as Vault's do). `None`: unchanged.
pub(crate) fn fold_sys_names(operation: Operation, rest: &str) -> Option<String> {
    if let Some(folded) = system().canonical_path(rest) {
        return Some(folded);
    }
    let mount = ["mounts/", "auth/", "audit/"]
        .iter()
        .any(|p| rest.starts_with(p) && rest.len() > p.len());
    if mount && operation != Operation::List && rest.ends_with('/') {
        return Some(rest.trim_end_matches('/').to_owned());
    }
    None
}

/// Every declaration: the system backend's and the token store's, for the OpenAPI document.
pub(crate) fn builtin_infos() -> [(&'static str, &'static [EndpointInfo]); 3] {
    [
        ("sys/", system().infos()),
        ("auth/token/", token_store().infos()),
        ("cubbyhole/", cubbyhole().infos()),
    ]
}

/// The existence check of a write to `table` at `request.path` (below `auth/token/`): `None`
/// where the endpoint declares none (the write counts as an update), as for an engine.
///
/// # Errors
///
/// A field that does not convert; the check's error.
pub(crate) async fn exists(
    table: &'static Table,
    vault: &Vault,
    active: &Arc<Active>,
    request: &Request,
) -> Result<Option<bool>> {
    let system = System {
        vault: vault.clone(),
        active: Arc::clone(active),
        caller: None,
        presented: None,
        wrap_ttl: None,
    };
    table.exists(&system, &context(active)?, request).await
}

/// Serves an authorised request to `table` at `rest` (below `sys/`, `auth/token/` or
/// `cubbyhole/`).
pub(crate) async fn handle(
    table: &'static Table,
    system: System,
    operation: Operation,
    rest: &str,
    data: Map<String, Value>,
) -> Result<VaultResponse> {
    let ctx = context(&system.active)?;
    table
        .handle(
            &system,
            &ctx,
            Request::new(operation, rest.to_owned()).with_data(data),
        )
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_declarations_are_sound() {
        assert!(system().problems().is_empty(), "{:?}", system().problems());
        assert!(
            token_store().problems().is_empty(),
            "{:?}",
            token_store().problems()
        );
    }

    #[test]
    fn sudo_comes_from_the_declarations_for_every_spelling() {
        let sys = system();
        for path in [
            "seal",
            "seal/",
            "audit",
            "audit/",
            "audit/file",
            "auth/userpass",
            "auth/userpass/tune",
            "leases/lookup/",
            "leases/lookup/a/",
            "leases/revoke-prefix/db",
            "leases/revoke-force/db",
        ] {
            assert!(needs_sudo(sys, path), "{path} needs sudo");
        }
        for path in [
            "leases/lookup",
            "mounts",
            "mounts/secret",
            "mounts/secret/tune",
            "policy/app",
            "auth",
            "seal-status",
            "capabilities-self",
        ] {
            assert!(!needs_sudo(sys, path), "{path} needs no sudo");
        }
        assert!(needs_sudo(token_store(), "revoke-orphan"));
        assert!(needs_sudo(token_store(), "accessors/"));
        assert!(needs_sudo(token_store(), "accessors"));
        assert!(!needs_sudo(token_store(), "revoke"));
        assert!(!needs_sudo(token_store(), "create-orphan"));
    }

    #[test]
    fn only_the_legacy_quorum_spellings_may_go_without_a_token() {
        for path in [
            "rekey/init",
            "rekey/update",
            "rekey/verify",
            "generate-root/attempt",
            "generate-root/update",
        ] {
            assert!(is_tokenless_quorum(path), "{path}");
        }
        for path in [
            "rotate/root/init",
            "generate-root-token/attempt",
            "rekey/init/",
            "seal",
            "mounts",
        ] {
            assert!(!is_tokenless_quorum(path), "{path}");
        }
    }

    #[test]
    fn sys_names_fold() {
        use Operation::{Delete, List, Read, Update};
        assert_eq!(
            fold_sys_names(Update, "policy/ADMIN").as_deref(),
            Some("policy/admin")
        );
        assert_eq!(
            fold_sys_names(Read, "policies/acl/Ops").as_deref(),
            Some("policies/acl/ops")
        );
        assert_eq!(fold_sys_names(Read, "policy/admin"), None);
        assert_eq!(fold_sys_names(Read, "mounts/ABC"), None);
        assert_eq!(
            fold_sys_names(Delete, "mounts/prodkv/").as_deref(),
            Some("mounts/prodkv")
        );
        assert_eq!(
            fold_sys_names(Read, "auth/userpass/").as_deref(),
            Some("auth/userpass")
        );
        assert_eq!(
            fold_sys_names(Delete, "audit/file//").as_deref(),
            Some("audit/file")
        );
        assert_eq!(fold_sys_names(List, "mounts/x/"), None);
        assert_eq!(fold_sys_names(Read, "mounts/"), None);
    }
}
