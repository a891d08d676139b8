//! KV version 2 through the core API: what needs the core (policies tell create from update on
//! data paths through the engine's existence check). The engine's own behaviour (every path and
//! option, check-and-set, pruning, delete/undelete/destroy, patch, custom metadata,
//! delete_version_after, bad input) is tested in `strongroom-kv` (`tests/kv_v2_paths.rs`).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code"
)]

use serde_json::{Value, json};
use strongroom_core::{InitRequest, Vault, VaultError, VaultResponse};
use strongroom_logical::ErrorKind;
use strongroom_storage::MemoryStorage;

struct Kv {
    vault: Vault,
    root: String,
}

async fn kv() -> Kv {
    let vault = Vault::builder(MemoryStorage::new()).build().unwrap();
    let init = vault.init(InitRequest::new(1, 1)).await.unwrap();
    vault.unseal(init.keys[0].expose_secret()).await.unwrap();
    let root = init.root_token.expose_secret().to_owned();
    vault
        .write(
            &root,
            "sys/mounts/secret",
            json!({"type": "kv", "options": {"version": "2"}}),
        )
        .await
        .unwrap();
    Kv { vault, root }
}

impl Kv {
    async fn write(&self, path: &str, body: Value) -> Result<VaultResponse, VaultError> {
        self.vault.write(&self.root, path, body).await
    }
}

#[tokio::test]
async fn policies_see_create_and_update_on_data_paths() {
    let k = kv().await;
    k.write("secret/data/existing", json!({"data": {"a": 1}}))
        .await
        .unwrap();
    let policy = r#"path "secret/data/*" { capabilities = ["create", "read"] }"#;
    k.vault
        .write(
            &k.root,
            "sys/policies/acl/creator",
            json!({"policy": policy}),
        )
        .await
        .unwrap();
    let token = k
        .vault
        .write(
            &k.root,
            "auth/token/create",
            json!({"policies": ["creator"]}),
        )
        .await
        .unwrap()
        .auth
        .unwrap()
        .client_token;
    k.vault
        .write(&token, "secret/data/brand-new", json!({"data": {"a": 1}}))
        .await
        .unwrap();
    let err = k
        .vault
        .write(&token, "secret/data/existing", json!({"data": {"a": 2}}))
        .await
        .unwrap_err();
    assert_eq!(
        err.kind(),
        ErrorKind::PermissionDenied,
        "a new version of an existing secret is an update"
    );
}

/// A 1 MiB secret (what Vault documents for its integrated storage, and OpenBao accepts) is
/// stored and read back whole, over the in-memory store with its default limits: the limit is
/// on the secret, not on the framing the engine and the barrier add.
#[tokio::test]
async fn a_one_mebibyte_secret_fits() {
    let kv = kv().await;
    let big = "x".repeat(1024 * 1024);
    kv.vault
        .write(&kv.root, "secret/data/big", json!({"data": {"v": big}}))
        .await
        .unwrap();
    let read = kv.vault.read(&kv.root, "secret/data/big").await.unwrap();
    assert_eq!(
        read.data.unwrap()["data"]["v"].as_str().map(str::len),
        Some(1024 * 1024)
    );
    // Far past the limit: refused, and nothing changes.
    let huge = "x".repeat(3 * 1024 * 1024);
    let refused = kv
        .vault
        .write(&kv.root, "secret/data/big", json!({"data": {"v": huge}}))
        .await;
    assert!(refused.is_err());
    let read = kv.vault.read(&kv.root, "secret/data/big").await.unwrap();
    assert_eq!(read.data.unwrap()["metadata"]["version"], 1);
}
