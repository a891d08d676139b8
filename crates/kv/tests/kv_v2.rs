//! KV version 2 through the engine interface: `delete_version_after` fixed at write time, the
//! per-mount path key, and the upgrade of mounts written with the old layout.

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
use strongroom_kv::KvV2;
use strongroom_logical::{Context, LogicalError, Operation, Request, Response, StorageView};
use strongroom_storage::{MemoryStorage, Storage};

const PREFIX: &str = "logical/kv2/";

fn t0() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000)
}

fn ctx_on(inner: &Arc<dyn Storage>) -> Context {
    let view = StorageView::new(Arc::clone(inner), PREFIX).unwrap();
    let mut ctx = Context::new(view, "secret/");
    ctx.now = t0();
    ctx
}

fn fresh() -> (Context, Arc<dyn Storage>) {
    let inner: Arc<dyn Storage> = Arc::new(MemoryStorage::new());
    (ctx_on(&inner), inner)
}

fn at(ctx: &Context, secs: u64) -> Context {
    let mut ctx = ctx.clone();
    ctx.now = t0() + Duration::from_secs(secs);
    ctx
}

async fn call(
    kv: &KvV2,
    ctx: &Context,
    op: Operation,
    path: &str,
    data: Value,
) -> Result<Response, LogicalError> {
    let body: Map<String, Value> = data.as_object().cloned().unwrap_or_default();
    kv.handle(ctx, Request::new(op, path).with_data(body)).await
}

async fn put(kv: &KvV2, ctx: &Context, path: &str, data: Value) -> Response {
    call(
        kv,
        ctx,
        Operation::Update,
        &format!("data/{path}"),
        json!({ "data": data }),
    )
    .await
    .unwrap()
}

async fn get(kv: &KvV2, ctx: &Context, path: &str) -> Response {
    call(kv, ctx, Operation::Read, &format!("data/{path}"), json!({}))
        .await
        .unwrap()
}

fn readable(response: &Response) -> bool {
    !response.not_found
        && response
            .data
            .as_ref()
            .is_some_and(|d| d.get("data").is_some_and(Value::is_object))
}

fn deletion_time(response: &Response) -> String {
    response.data.as_ref().unwrap()["metadata"]["deletion_time"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn rfc3339(secs: u64) -> String {
    strongroom_logical::time::rfc3339_nanos(u128::from(1_800_000_000 + secs) * 1_000_000_000)
}

/// The old code recomputed the deletion at read time, so raising the key's setting made an
/// expired version readable again without the undelete capability.
#[tokio::test]
async fn raising_the_key_setting_does_not_resurrect_an_expired_version() {
    let (ctx, _) = fresh();
    let kv = KvV2::new();
    call(
        &kv,
        &ctx,
        Operation::Update,
        "metadata/app",
        json!({"delete_version_after": "2s"}),
    )
    .await
    .unwrap();
    put(&kv, &ctx, "app", json!({"k": "v"})).await;
    let later = at(&ctx, 3);
    assert!(!readable(&get(&kv, &later, "app").await));
    call(
        &kv,
        &later,
        Operation::Update,
        "metadata/app",
        json!({"delete_version_after": "1h"}),
    )
    .await
    .unwrap();
    let read = get(&kv, &later, "app").await;
    assert!(!readable(&read), "an expired version came back");
    assert_eq!(deletion_time(&read), rfc3339(2));
}

/// The old code let the key's setting replace the mount's, so a key could outlive the mount cap.
#[tokio::test]
async fn the_smaller_of_key_and_mount_setting_applies() {
    let (ctx, _) = fresh();
    let kv = KvV2::new();
    call(
        &kv,
        &ctx,
        Operation::Update,
        "config",
        json!({"delete_version_after": "2s"}),
    )
    .await
    .unwrap();
    call(
        &kv,
        &ctx,
        Operation::Update,
        "metadata/app",
        json!({"delete_version_after": "1h"}),
    )
    .await
    .unwrap();
    let written = put(&kv, &ctx, "app", json!({"k": "v"})).await;
    assert_eq!(written.data.as_ref().unwrap()["deletion_time"], rfc3339(2));
    assert!(readable(&get(&kv, &at(&ctx, 1), "app").await));
    let read = get(&kv, &at(&ctx, 3), "app").await;
    assert!(!readable(&read));
    assert_eq!(deletion_time(&read), rfc3339(2));
    let meta = call(
        &kv,
        &at(&ctx, 3),
        Operation::Read,
        "metadata/app",
        json!({}),
    )
    .await
    .unwrap();
    assert_eq!(
        meta.data.as_ref().unwrap()["versions"]["1"]["deletion_time"],
        rfc3339(2)
    );
}

/// The old code applied the current mount setting to every version, so lowering it hid every
/// existing version at once.
#[tokio::test]
async fn lowering_the_mount_setting_does_not_hide_existing_versions() {
    let (ctx, _) = fresh();
    let kv = KvV2::new();
    put(&kv, &ctx, "app", json!({"k": "v1"})).await;
    call(
        &kv,
        &ctx,
        Operation::Update,
        "config",
        json!({"delete_version_after": "1s"}),
    )
    .await
    .unwrap();
    let later = at(&ctx, 3600);
    let read = get(&kv, &later, "app").await;
    assert!(readable(&read));
    assert_eq!(deletion_time(&read), "");
    // A version written after the change gets it.
    put(&kv, &later, "app", json!({"k": "v2"})).await;
    assert!(!readable(&get(&kv, &at(&ctx, 3602), "app").await));
    let v1 = call(
        &kv,
        &at(&ctx, 3602),
        Operation::Read,
        "data/app",
        json!({"version": 1}),
    )
    .await
    .unwrap();
    assert!(readable(&v1));
}

/// As Vault: undelete clears the deletion time and schedules it afresh from now.
#[tokio::test]
async fn undelete_clears_the_deletion_time() {
    let (ctx, _) = fresh();
    let kv = KvV2::new();
    put(&kv, &ctx, "plain", json!({"k": "v"})).await;
    call(&kv, &ctx, Operation::Delete, "data/plain", json!({}))
        .await
        .unwrap();
    let read = get(&kv, &ctx, "plain").await;
    assert!(!readable(&read));
    assert_ne!(deletion_time(&read), "");
    call(
        &kv,
        &ctx,
        Operation::Update,
        "undelete/plain",
        json!({"versions": [1]}),
    )
    .await
    .unwrap();
    let read = get(&kv, &ctx, "plain").await;
    assert!(readable(&read));
    assert_eq!(deletion_time(&read), "");

    call(
        &kv,
        &ctx,
        Operation::Update,
        "metadata/timed",
        json!({"delete_version_after": "2s"}),
    )
    .await
    .unwrap();
    put(&kv, &ctx, "timed", json!({"k": "v"})).await;
    let expired = at(&ctx, 3);
    assert!(!readable(&get(&kv, &expired, "timed").await));
    call(
        &kv,
        &expired,
        Operation::Update,
        "undelete/timed",
        json!({"versions": "1"}),
    )
    .await
    .unwrap();
    let read = get(&kv, &expired, "timed").await;
    assert!(readable(&read));
    assert_eq!(deletion_time(&read), rfc3339(5));
    assert!(!readable(&get(&kv, &at(&ctx, 6), "timed").await));
}

/// Vault's negative `delete_version_after` on the engine disables it for every key.
#[tokio::test]
async fn a_negative_mount_setting_disables_delete_version_after() {
    let (ctx, _) = fresh();
    let kv = KvV2::new();
    call(
        &kv,
        &ctx,
        Operation::Update,
        "config",
        json!({"delete_version_after": "-1s"}),
    )
    .await
    .unwrap();
    let config = call(&kv, &ctx, Operation::Read, "config", json!({}))
        .await
        .unwrap();
    assert_eq!(config.data.as_ref().unwrap()["delete_version_after"], "-1s");
    call(
        &kv,
        &ctx,
        Operation::Update,
        "metadata/app",
        json!({"delete_version_after": "1s"}),
    )
    .await
    .unwrap();
    put(&kv, &ctx, "app", json!({"k": "v"})).await;
    assert!(readable(&get(&kv, &at(&ctx, 60), "app").await));
    // Zero clears the setting; the key's own setting applies again to later versions.
    call(
        &kv,
        &ctx,
        Operation::Update,
        "config",
        json!({"delete_version_after": 0}),
    )
    .await
    .unwrap();
    put(&kv, &ctx, "app", json!({"k": "v2"})).await;
    assert!(!readable(&get(&kv, &at(&ctx, 2), "app").await));
    assert!(
        call(
            &kv,
            &ctx,
            Operation::Update,
            "config",
            json!({"delete_version_after": "-x"})
        )
        .await
        .is_err()
    );
}
