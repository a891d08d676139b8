//! KV version 2 through the core API: every path and option, check-and-set, pruning,
//! delete/undelete/destroy combinations, patch, custom metadata, delete_version_after, and bad
//! input that changes nothing.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code"
)]

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde_json::{Map, Value, json};
use strongroom_core::{InitRequest, ManualClock, Vault, VaultError, VaultRequest, VaultResponse};
use strongroom_logical::{ErrorKind, Operation};
use strongroom_storage::MemoryStorage;

struct Kv {
    vault: Vault,
    root: String,
    clock: Arc<ManualClock>,
}

async fn kv() -> Kv {
    let clock = Arc::new(ManualClock::new(
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000),
    ));
    let vault = Vault::builder(MemoryStorage::new())
        .clock(clock.clone())
        .build()
        .unwrap();
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
    Kv { vault, root, clock }
}

impl Kv {
    async fn call(
        &self,
        op: Operation,
        path: &str,
        body: Value,
    ) -> Result<VaultResponse, VaultError> {
        let data: Map<String, Value> = match body {
            Value::Object(map) => map,
            _ => Map::new(),
        };
        self.vault
            .handle(
                VaultRequest::new(op, path)
                    .with_token(&self.root)
                    .with_data(data),
            )
            .await
    }
    async fn write(&self, path: &str, body: Value) -> Result<VaultResponse, VaultError> {
        self.call(Operation::Update, path, body).await
    }
    async fn read(&self, path: &str) -> VaultResponse {
        self.call(Operation::Read, path, json!({})).await.unwrap()
    }
    async fn data(&self, path: &str) -> Value {
        Value::Object(self.read(path).await.data.unwrap_or_default())
    }
}

fn kind(result: Result<VaultResponse, VaultError>) -> (ErrorKind, String) {
    let err = result.unwrap_err();
    (err.kind(), err.to_string())
}

#[tokio::test]
async fn write_read_versions_and_cas() {
    let k = kv().await;
    let v1 = k
        .write(
            "secret/data/app",
            json!({"data": {"user": "u1", "pass": "p1"}}),
        )
        .await
        .unwrap();
    let meta = v1.data.unwrap();
    assert_eq!(meta["version"], 1);
    assert_eq!(meta["deletion_time"], "");
    assert_eq!(meta["destroyed"], false);
    assert!(meta["created_time"].as_str().unwrap().ends_with('Z'));

    let read = k.data("secret/data/app").await;
    assert_eq!(read["data"], json!({"user": "u1", "pass": "p1"}));
    assert_eq!(read["metadata"]["version"], 1);

    // Check-and-set.
    k.write(
        "secret/data/app",
        json!({"options": {"cas": 1}, "data": {"user": "u2"}}),
    )
    .await
    .unwrap();
    let (kind_, msg) = kind(
        k.write(
            "secret/data/app",
            json!({"options": {"cas": 1}, "data": {"x": 1}}),
        )
        .await,
    );
    assert_eq!(kind_, ErrorKind::InvalidRequest);
    assert_eq!(
        msg,
        "check-and-set parameter did not match the current version"
    );
    // cas on a key that does not exist: only 0 matches.
    assert!(
        k.write(
            "secret/data/new",
            json!({"options": {"cas": 1}, "data": {"a": 1}})
        )
        .await
        .is_err()
    );
    assert!(
        k.call(Operation::Read, "secret/data/new", json!({}))
            .await
            .unwrap()
            .data
            .is_none()
    );
    k.write(
        "secret/data/new",
        json!({"options": {"cas": 0}, "data": {"a": 1}}),
    )
    .await
    .unwrap();

    // Older versions stay readable; unknown ones read as empty (404).
    let one = k
        .call(Operation::Read, "secret/data/app", json!({"version": "1"}))
        .await
        .unwrap();
    assert_eq!(one.data.unwrap()["data"]["user"], "u1");
    assert!(
        k.call(Operation::Read, "secret/data/app", json!({"version": 99}))
            .await
            .unwrap()
            .data
            .is_none()
    );
    let (kind_, _) = kind(
        k.call(
            Operation::Read,
            "secret/data/app",
            json!({"version": "abc"}),
        )
        .await,
    );
    assert_eq!(kind_, ErrorKind::InvalidRequest);
}

#[tokio::test]
async fn patch_merges_into_the_latest_version() {
    let k = kv().await;
    k.write(
        "secret/data/p",
        json!({"data": {"a": 1, "b": {"c": 2, "d": 3}}}),
    )
    .await
    .unwrap();
    let patched = k
        .call(
            Operation::Patch,
            "secret/data/p",
            json!({"data": {"a": null, "b": {"c": 5}, "e": 6}}),
        )
        .await
        .unwrap();
    assert_eq!(patched.data.unwrap()["version"], 2);
    assert_eq!(
        k.data("secret/data/p").await["data"],
        json!({"b": {"c": 5, "d": 3}, "e": 6})
    );
    // Patching something that does not exist is a not-found, and creates nothing.
    let missing = k
        .call(
            Operation::Patch,
            "secret/data/nope",
            json!({"data": {"a": 1}}),
        )
        .await
        .unwrap();
    assert!(missing.data.is_none());
    assert!(k.read("secret/metadata/nope").await.data.is_none());
}

#[tokio::test]
async fn delete_undelete_destroy() {
    let k = kv().await;
    for i in 1..=3 {
        k.write("secret/data/d", json!({"data": {"i": i}}))
            .await
            .unwrap();
    }
    k.write("secret/delete/d", json!({"versions": [3]}))
        .await
        .unwrap();
    let deleted = k.read("secret/data/d").await;
    assert!(
        deleted.not_found,
        "a deleted latest version reads as 404 with its metadata"
    );
    let body = deleted.data.unwrap();
    assert_eq!(body["data"], Value::Null);
    assert_ne!(body["metadata"]["deletion_time"], "");
    k.write("secret/undelete/d", json!({"versions": [3]}))
        .await
        .unwrap();
    assert_eq!(k.data("secret/data/d").await["data"]["i"], 3);

    k.write("secret/destroy/d", json!({"versions": [2]}))
        .await
        .unwrap();
    let destroyed = k
        .call(Operation::Read, "secret/data/d", json!({"version": 2}))
        .await
        .unwrap();
    assert!(destroyed.not_found);
    assert_eq!(destroyed.data.unwrap()["metadata"]["destroyed"], true);
    // A destroyed version cannot be undeleted.
    k.write("secret/undelete/d", json!({"versions": [2]}))
        .await
        .unwrap();
    assert!(
        k.call(Operation::Read, "secret/data/d", json!({"version": 2}))
            .await
            .unwrap()
            .not_found
    );

    // DELETE on data/ soft-deletes the latest version.
    k.call(Operation::Delete, "secret/data/d", json!({}))
        .await
        .unwrap();
    assert!(k.read("secret/data/d").await.not_found);
    let meta = k.data("secret/metadata/d").await;
    assert_eq!(meta["current_version"], 3);
    assert_ne!(meta["versions"]["3"]["deletion_time"], "");
    assert_eq!(meta["versions"]["2"]["destroyed"], true);

    // Missing versions field.
    let (kind_, msg) = kind(k.write("secret/undelete/d", json!({})).await);
    assert_eq!(kind_, ErrorKind::InvalidRequest);
    assert_eq!(msg, "No version number provided");

    // Deleting the metadata removes every version.
    k.call(Operation::Delete, "secret/metadata/d", json!({}))
        .await
        .unwrap();
    assert!(k.read("secret/data/d").await.data.is_none());
    assert!(k.read("secret/metadata/d").await.data.is_none());
}

#[tokio::test]
async fn metadata_max_versions_custom_metadata_and_cas_required() {
    let k = kv().await;
    k.write("secret/data/m", json!({"data": {"v": 1}}))
        .await
        .unwrap();
    k.write(
        "secret/metadata/m",
        json!({"max_versions": 2, "custom_metadata": {"owner": "team-a"}}),
    )
    .await
    .unwrap();
    for v in 2..=4 {
        k.write("secret/data/m", json!({"data": {"v": v}}))
            .await
            .unwrap();
    }
    let meta = k.data("secret/metadata/m").await;
    assert_eq!(meta["current_version"], 4);
    assert_eq!(
        meta["oldest_version"], 3,
        "pruned to max_versions (no engine-wide setting)"
    );
    assert_eq!(meta["versions"].as_object().unwrap().len(), 2);
    assert_eq!(meta["custom_metadata"], json!({"owner": "team-a"}));
    assert!(
        k.call(Operation::Read, "secret/data/m", json!({"version": 1}))
            .await
            .unwrap()
            .data
            .is_none()
    );
    assert_eq!(
        k.data("secret/data/m").await["metadata"]["custom_metadata"],
        json!({"owner": "team-a"})
    );

    k.call(
        Operation::Patch,
        "secret/metadata/m",
        json!({"custom_metadata": {"env": "prod"}}),
    )
    .await
    .unwrap();
    assert_eq!(
        k.data("secret/metadata/m").await["custom_metadata"],
        json!({"owner": "team-a", "env": "prod"})
    );

    k.write("secret/metadata/strict", json!({"cas_required": true}))
        .await
        .unwrap();
    let (_, msg) = kind(
        k.write("secret/data/strict", json!({"data": {"a": 1}}))
            .await,
    );
    assert_eq!(msg, "check-and-set parameter required for this call");
    k.write(
        "secret/data/strict",
        json!({"options": {"cas": 0}, "data": {"a": 1}}),
    )
    .await
    .unwrap();

    // Engine-wide config.
    k.write(
        "secret/config",
        json!({"max_versions": 5, "cas_required": true, "delete_version_after": "1h"}),
    )
    .await
    .unwrap();
    let config = k.data("secret/config").await;
    assert_eq!(
        config,
        json!({"max_versions": 5, "cas_required": true, "delete_version_after": "1h0m0s", "metadata_cas_required": false})
    );
    let (_, msg) = kind(
        k.write("secret/data/other", json!({"data": {"a": 1}}))
            .await,
    );
    assert_eq!(msg, "check-and-set parameter required for this call");
}

#[tokio::test]
async fn delete_version_after_expires_versions() {
    let k = kv().await;
    k.write("secret/metadata/t", json!({"delete_version_after": "10m"}))
        .await
        .unwrap();
    k.write("secret/data/t", json!({"data": {"a": 1}}))
        .await
        .unwrap();
    let fresh = k.read("secret/data/t").await;
    assert!(!fresh.not_found);
    assert_ne!(
        fresh.data.unwrap()["metadata"]["deletion_time"],
        "",
        "the scheduled deletion shows"
    );
    k.clock.advance(Duration::from_secs(601));
    assert!(k.read("secret/data/t").await.not_found);
}

#[tokio::test]
async fn list_and_subkeys() {
    let k = kv().await;
    k.write("secret/data/app", json!({"data": {"x": 1}}))
        .await
        .unwrap();
    k.write(
        "secret/data/dir/one",
        json!({"data": {"a": {"b": 1}, "c": "d"}}),
    )
    .await
    .unwrap();
    let root = k
        .call(Operation::List, "secret/metadata/", json!({}))
        .await
        .unwrap();
    assert_eq!(root.data.unwrap()["keys"], json!(["app", "dir/"]));
    let dir = k
        .call(Operation::List, "secret/metadata/dir", json!({}))
        .await
        .unwrap();
    assert_eq!(dir.data.unwrap()["keys"], json!(["one"]));
    let sub = k.data("secret/subkeys/dir/one").await;
    assert_eq!(sub["subkeys"], json!({"a": {"b": null}, "c": null}));
    let shallow = k
        .call(
            Operation::Read,
            "secret/subkeys/dir/one",
            json!({"depth": 1}),
        )
        .await
        .unwrap();
    assert_eq!(
        shallow.data.unwrap()["subkeys"],
        json!({"a": null, "c": null})
    );
}

#[tokio::test]
async fn bad_input_changes_nothing() {
    let k = kv().await;
    k.write("secret/data/app", json!({"data": {"keep": "me"}}))
        .await
        .unwrap();
    let before = k.data("secret/metadata/app").await;
    for body in [
        json!({"data": "not an object"}),
        json!({"data": [1, 2]}),
        json!({}),
        json!({"options": "x", "data": {"a": 1}}),
        json!({"options": {"cas": -1}, "data": {"a": 1}}),
        json!({"data": {"huge": "x".repeat(2 * 1024 * 1024)}}),
    ] {
        let (kind_, _) = kind(k.write("secret/data/app", body).await);
        assert_eq!(kind_, ErrorKind::InvalidRequest);
    }
    for bad in [
        json!({"max_versions": -3}),
        // (A number in custom_metadata is text to Vault's key-value pairs: `{"a": 1}` is
        // accepted as "1", so the wrong type here is a string.)
        json!({"custom_metadata": "not pairs"}),
        json!({"delete_version_after": "soon"}),
    ] {
        assert!(k.write("secret/metadata/app", bad).await.is_err());
    }
    assert_eq!(k.data("secret/metadata/app").await, before);
    assert_eq!(
        k.data("secret/data/app").await["data"],
        json!({"keep": "me"})
    );
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
