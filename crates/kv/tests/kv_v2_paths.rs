//! KV version 2 driven directly (no core): every path and option, check-and-set, pruning,
//! delete/undelete/destroy combinations, patch, custom metadata, delete_version_after on a
//! controlled clock, and bad input that changes nothing. (Moved from `strongroom-core`'s tests;
//! what needs the core, such as policies telling create from update, stays there.)

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code"
)]

use std::time::{Duration, SystemTime};

use serde_json::{Value, json};
use strongroom_kv::KvV2;
use strongroom_logical::testing::{call, context};
use strongroom_logical::{Context, ErrorKind, LogicalError, Operation, Response};

struct Kv {
    engine: KvV2,
    ctx: Context,
}

async fn kv() -> Kv {
    let mut ctx = context("secret/");
    ctx.now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    Kv {
        engine: KvV2::new(),
        ctx,
    }
}

impl Kv {
    async fn call(&self, op: Operation, path: &str, body: Value) -> Result<Response, LogicalError> {
        call(&self.engine, &self.ctx, op, path, body).await
    }
    async fn write(&self, path: &str, body: Value) -> Result<Response, LogicalError> {
        self.call(Operation::Update, path, body).await
    }
    async fn read(&self, path: &str) -> Response {
        self.call(Operation::Read, path, json!({})).await.unwrap()
    }
    async fn data(&self, path: &str) -> Value {
        Value::Object(self.read(path).await.data.unwrap_or_default())
    }
    /// Moves the engine's clock forward.
    fn advance(&mut self, by: Duration) {
        self.ctx.now += by;
    }
}

fn kind(result: Result<Response, LogicalError>) -> (ErrorKind, String) {
    let err = result.unwrap_err();
    (err.kind(), err.to_string())
}

#[tokio::test]
async fn write_read_versions_and_cas() {
    let k = kv().await;
    let v1 = k
        .write("data/app", json!({"data": {"user": "u1", "pass": "p1"}}))
        .await
        .unwrap();
    let meta = v1.data.unwrap();
    assert_eq!(meta["version"], 1);
    assert_eq!(meta["deletion_time"], "");
    assert_eq!(meta["destroyed"], false);
    assert!(meta["created_time"].as_str().unwrap().ends_with('Z'));

    let read = k.data("data/app").await;
    assert_eq!(read["data"], json!({"user": "u1", "pass": "p1"}));
    assert_eq!(read["metadata"]["version"], 1);

    // Check-and-set.
    k.write(
        "data/app",
        json!({"options": {"cas": 1}, "data": {"user": "u2"}}),
    )
    .await
    .unwrap();
    let (kind_, msg) = kind(
        k.write("data/app", json!({"options": {"cas": 1}, "data": {"x": 1}}))
            .await,
    );
    assert_eq!(kind_, ErrorKind::InvalidRequest);
    assert_eq!(
        msg,
        "check-and-set parameter did not match the current version"
    );
    // cas on a key that does not exist: only 0 matches.
    assert!(
        k.write("data/new", json!({"options": {"cas": 1}, "data": {"a": 1}}))
            .await
            .is_err()
    );
    assert!(
        k.call(Operation::Read, "data/new", json!({}))
            .await
            .unwrap()
            .data
            .is_none()
    );
    k.write("data/new", json!({"options": {"cas": 0}, "data": {"a": 1}}))
        .await
        .unwrap();

    // Older versions stay readable; unknown ones read as empty (404).
    let one = k
        .call(Operation::Read, "data/app", json!({"version": "1"}))
        .await
        .unwrap();
    assert_eq!(one.data.unwrap()["data"]["user"], "u1");
    assert!(
        k.call(Operation::Read, "data/app", json!({"version": 99}))
            .await
            .unwrap()
            .data
            .is_none()
    );
    let (kind_, _) = kind(
        k.call(Operation::Read, "data/app", json!({"version": "abc"}))
            .await,
    );
    assert_eq!(kind_, ErrorKind::InvalidRequest);
}

#[tokio::test]
async fn patch_merges_into_the_latest_version() {
    let k = kv().await;
    k.write("data/p", json!({"data": {"a": 1, "b": {"c": 2, "d": 3}}}))
        .await
        .unwrap();
    let patched = k
        .call(
            Operation::Patch,
            "data/p",
            json!({"data": {"a": null, "b": {"c": 5}, "e": 6}}),
        )
        .await
        .unwrap();
    assert_eq!(patched.data.unwrap()["version"], 2);
    assert_eq!(
        k.data("data/p").await["data"],
        json!({"b": {"c": 5, "d": 3}, "e": 6})
    );
    // Patching something that does not exist is a not-found, and creates nothing.
    let missing = k
        .call(Operation::Patch, "data/nope", json!({"data": {"a": 1}}))
        .await
        .unwrap();
    assert!(missing.data.is_none());
    assert!(k.read("metadata/nope").await.data.is_none());
}

#[tokio::test]
async fn delete_undelete_destroy() {
    let k = kv().await;
    for i in 1..=3 {
        k.write("data/d", json!({"data": {"i": i}})).await.unwrap();
    }
    k.write("delete/d", json!({"versions": [3]})).await.unwrap();
    let deleted = k.read("data/d").await;
    assert!(
        deleted.not_found,
        "a deleted latest version reads as 404 with its metadata"
    );
    let body = deleted.data.unwrap();
    assert_eq!(body["data"], Value::Null);
    assert_ne!(body["metadata"]["deletion_time"], "");
    k.write("undelete/d", json!({"versions": [3]}))
        .await
        .unwrap();
    assert_eq!(k.data("data/d").await["data"]["i"], 3);

    k.write("destroy/d", json!({"versions": [2]}))
        .await
        .unwrap();
    let destroyed = k
        .call(Operation::Read, "data/d", json!({"version": 2}))
        .await
        .unwrap();
    assert!(destroyed.not_found);
    assert_eq!(destroyed.data.unwrap()["metadata"]["destroyed"], true);
    // A destroyed version cannot be undeleted.
    k.write("undelete/d", json!({"versions": [2]}))
        .await
        .unwrap();
    assert!(
        k.call(Operation::Read, "data/d", json!({"version": 2}))
            .await
            .unwrap()
            .not_found
    );

    // DELETE on data/ soft-deletes the latest version.
    k.call(Operation::Delete, "data/d", json!({}))
        .await
        .unwrap();
    assert!(k.read("data/d").await.not_found);
    let meta = k.data("metadata/d").await;
    assert_eq!(meta["current_version"], 3);
    assert_ne!(meta["versions"]["3"]["deletion_time"], "");
    assert_eq!(meta["versions"]["2"]["destroyed"], true);

    // Missing versions field.
    let (kind_, msg) = kind(k.write("undelete/d", json!({})).await);
    assert_eq!(kind_, ErrorKind::InvalidRequest);
    assert_eq!(msg, "No version number provided");

    // Deleting the metadata removes every version.
    k.call(Operation::Delete, "metadata/d", json!({}))
        .await
        .unwrap();
    assert!(k.read("data/d").await.data.is_none());
    assert!(k.read("metadata/d").await.data.is_none());
}

#[tokio::test]
async fn metadata_max_versions_custom_metadata_and_cas_required() {
    let k = kv().await;
    k.write("data/m", json!({"data": {"v": 1}})).await.unwrap();
    k.write(
        "metadata/m",
        json!({"max_versions": 2, "custom_metadata": {"owner": "team-a"}}),
    )
    .await
    .unwrap();
    for v in 2..=4 {
        k.write("data/m", json!({"data": {"v": v}})).await.unwrap();
    }
    let meta = k.data("metadata/m").await;
    assert_eq!(meta["current_version"], 4);
    assert_eq!(
        meta["oldest_version"], 3,
        "pruned to max_versions (no engine-wide setting)"
    );
    assert_eq!(meta["versions"].as_object().unwrap().len(), 2);
    assert_eq!(meta["custom_metadata"], json!({"owner": "team-a"}));
    assert!(
        k.call(Operation::Read, "data/m", json!({"version": 1}))
            .await
            .unwrap()
            .data
            .is_none()
    );
    assert_eq!(
        k.data("data/m").await["metadata"]["custom_metadata"],
        json!({"owner": "team-a"})
    );

    k.call(
        Operation::Patch,
        "metadata/m",
        json!({"custom_metadata": {"env": "prod"}}),
    )
    .await
    .unwrap();
    assert_eq!(
        k.data("metadata/m").await["custom_metadata"],
        json!({"owner": "team-a", "env": "prod"})
    );

    k.write("metadata/strict", json!({"cas_required": true}))
        .await
        .unwrap();
    let (_, msg) = kind(k.write("data/strict", json!({"data": {"a": 1}})).await);
    assert_eq!(msg, "check-and-set parameter required for this call");
    k.write(
        "data/strict",
        json!({"options": {"cas": 0}, "data": {"a": 1}}),
    )
    .await
    .unwrap();

    // Engine-wide config.
    k.write(
        "config",
        json!({"max_versions": 5, "cas_required": true, "delete_version_after": "1h"}),
    )
    .await
    .unwrap();
    let config = k.data("config").await;
    assert_eq!(
        config,
        json!({"max_versions": 5, "cas_required": true, "delete_version_after": "1h0m0s", "metadata_cas_required": false})
    );
    let (_, msg) = kind(k.write("data/other", json!({"data": {"a": 1}})).await);
    assert_eq!(msg, "check-and-set parameter required for this call");
}

#[tokio::test]
async fn delete_version_after_expires_versions() {
    let mut k = kv().await;
    k.write("metadata/t", json!({"delete_version_after": "10m"}))
        .await
        .unwrap();
    k.write("data/t", json!({"data": {"a": 1}})).await.unwrap();
    let fresh = k.read("data/t").await;
    assert!(!fresh.not_found);
    assert_ne!(
        fresh.data.unwrap()["metadata"]["deletion_time"],
        "",
        "the scheduled deletion shows"
    );
    k.advance(Duration::from_secs(601));
    assert!(k.read("data/t").await.not_found);
}

#[tokio::test]
async fn list_and_subkeys() {
    let k = kv().await;
    k.write("data/app", json!({"data": {"x": 1}}))
        .await
        .unwrap();
    k.write("data/dir/one", json!({"data": {"a": {"b": 1}, "c": "d"}}))
        .await
        .unwrap();
    let root = k
        .call(Operation::List, "metadata/", json!({}))
        .await
        .unwrap();
    assert_eq!(root.data.unwrap()["keys"], json!(["app", "dir/"]));
    let dir = k
        .call(Operation::List, "metadata/dir", json!({}))
        .await
        .unwrap();
    assert_eq!(dir.data.unwrap()["keys"], json!(["one"]));
    let sub = k.data("subkeys/dir/one").await;
    assert_eq!(sub["subkeys"], json!({"a": {"b": null}, "c": null}));
    let shallow = k
        .call(Operation::Read, "subkeys/dir/one", json!({"depth": 1}))
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
    k.write("data/app", json!({"data": {"keep": "me"}}))
        .await
        .unwrap();
    let before = k.data("metadata/app").await;
    for body in [
        json!({"data": "not an object"}),
        json!({"data": [1, 2]}),
        json!({}),
        json!({"options": "x", "data": {"a": 1}}),
        json!({"options": {"cas": -1}, "data": {"a": 1}}),
        json!({"data": {"huge": "x".repeat(2 * 1024 * 1024)}}),
    ] {
        let (kind_, _) = kind(k.write("data/app", body).await);
        assert_eq!(kind_, ErrorKind::InvalidRequest);
    }
    for bad in [
        json!({"max_versions": -3}),
        // (A number in custom_metadata is text to Vault's key-value pairs: `{"a": 1}` is
        // accepted as "1", so the wrong type here is a string.)
        json!({"custom_metadata": "not pairs"}),
        json!({"delete_version_after": "soon"}),
    ] {
        assert!(k.write("metadata/app", bad).await.is_err());
    }
    assert_eq!(k.data("metadata/app").await, before);
    assert_eq!(k.data("data/app").await["data"], json!({"keep": "me"}));
}
