//! Shared by the core's integration tests.

#![allow(
    dead_code,
    unreachable_pub,
    reason = "each test file uses a different subset"
)]

use serde_json::json;
use strongroom_core::{InitRequest, Vault};

/// Initialises `vault` with one share, unseals it and mounts an engine of type `kind` at
/// `kind/`; returns the root token and the unseal key.
pub(crate) async fn unsealed_with(vault: &Vault, kind: &str) -> (String, String) {
    let init = vault
        .init(InitRequest::new(1, 1))
        .await
        .unwrap_or_else(|e| panic!("init: {e}"));
    let key = init
        .keys_base64
        .first()
        .map(|k| k.expose_secret().to_owned())
        .unwrap_or_default();
    vault
        .unseal(&key)
        .await
        .unwrap_or_else(|e| panic!("unseal: {e}"));
    let root = init.root_token.expose_secret().to_owned();
    vault
        .write(&root, &format!("sys/mounts/{kind}"), json!({"type": kind}))
        .await
        .unwrap_or_else(|e| panic!("mounting {kind}: {e}"));
    (root, key)
}
