//! KV version 1 through the engine interface, as the core will drive it.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code"
)]

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value, json};
use strongroom_kv::KvV1;
use strongroom_logical::{
    Backend, Context, ErrorKind, LogicalError, Operation, Registry, Request, Response, StorageView,
};
use strongroom_storage::{MemoryStorage, Storage};

fn ctx() -> (Context, Arc<dyn Storage>) {
    let inner: Arc<dyn Storage> = Arc::new(MemoryStorage::new());
    let view = StorageView::new(Arc::clone(&inner), "logical/kv1/").unwrap();
    (Context::new(view, "secret/"), inner)
}

fn body(value: Value) -> Map<String, Value> {
    value.as_object().unwrap().clone()
}

async fn call(
    engine: &KvV1,
    ctx: &Context,
    op: Operation,
    path: &str,
    data: Value,
) -> Result<Response, LogicalError> {
    engine
        .handle(ctx, Request::new(op, path).with_data(body(data)))
        .await
}

#[tokio::test]
async fn write_read_list_delete() {
    let (ctx, inner) = ctx();
    let kv = KvV1::new();
    call(
        &kv,
        &ctx,
        Operation::Create,
        "app/db",
        json!({"password": "hunter2", "user": "app"}),
    )
    .await
    .unwrap();
    call(
        &kv,
        &ctx,
        Operation::Update,
        "app/api",
        json!({"token": "t", "ttl": "1h"}),
    )
    .await
    .unwrap();
    call(&kv, &ctx, Operation::Update, "top", json!({"x": 1}))
        .await
        .unwrap();

    let read = call(&kv, &ctx, Operation::Read, "app/db", json!({}))
        .await
        .unwrap();
    assert_eq!(
        Value::Object(read.data.unwrap()),
        json!({"password": "hunter2", "user": "app"})
    );
    assert_eq!(read.lease_duration_hint, Some(ctx.default_lease_ttl));
    assert!(read.secret.is_none(), "kv v1 creates no lease");
    let api = call(&kv, &ctx, Operation::Read, "app/api", json!({}))
        .await
        .unwrap();
    assert_eq!(api.lease_duration_hint, Some(Duration::from_secs(3600)));

    let root = call(&kv, &ctx, Operation::List, "", json!({}))
        .await
        .unwrap();
    assert_eq!(
        Value::Object(root.data.unwrap()),
        json!({"keys": ["app/", "top"]})
    );
    let app = call(&kv, &ctx, Operation::List, "app", json!({}))
        .await
        .unwrap();
    assert_eq!(
        Value::Object(app.data.clone().unwrap()),
        json!({"keys": ["api", "db"]})
    );
    let app_slash = call(&kv, &ctx, Operation::List, "app/", json!({}))
        .await
        .unwrap();
    assert_eq!(app_slash.data, app.data);

    call(&kv, &ctx, Operation::Delete, "app/db", json!({}))
        .await
        .unwrap();
    let gone = call(&kv, &ctx, Operation::Read, "app/db", json!({}))
        .await
        .unwrap();
    assert!(
        gone.data.is_none(),
        "a missing secret reads as empty (HTTP 404)"
    );
    // Deleting again is fine.
    call(&kv, &ctx, Operation::Delete, "app/db", json!({}))
        .await
        .unwrap();
    let empty = call(&kv, &ctx, Operation::List, "nothing", json!({}))
        .await
        .unwrap();
    assert!(empty.data.is_none());

    // Everything lives under the mount's prefix.
    assert!(inner.get("logical/kv1/app/api").await.unwrap().is_some());
}

#[tokio::test]
async fn bad_requests_are_typed_and_change_nothing() {
    let (ctx, inner) = ctx();
    let kv = KvV1::new();
    let err = call(&kv, &ctx, Operation::Update, "a", json!({}))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidRequest);
    let err = call(&kv, &ctx, Operation::Patch, "a", json!({"x": 1}))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::UnsupportedOperation);
    for path in ["../escape", "a/../../b", "a//b", "/abs"] {
        let err = call(&kv, &ctx, Operation::Update, path, json!({"x": 1}))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidRequest, "{path}");
    }
    let folder = call(&kv, &ctx, Operation::Read, "folder/", json!({}))
        .await
        .unwrap();
    assert!(folder.data.is_none(), "a folder path reads as not found");
    // An unparsable ttl is stored as written (as Vault does); reads report the default.
    call(
        &kv,
        &ctx,
        Operation::Update,
        "soon",
        json!({"v": 1, "ttl": "soon"}),
    )
    .await
    .unwrap();
    let read = call(&kv, &ctx, Operation::Read, "soon", json!({}))
        .await
        .unwrap();
    assert_eq!(read.lease_duration_hint, Some(ctx.default_lease_ttl));
    inner.delete("logical/kv1/soon").await.unwrap();
    assert!(inner.list("").await.unwrap().is_empty());
}

#[test]
fn registers_as_kv() {
    let mut registry = Registry::new();
    registry.register("kv", KvV1::factory);
    assert!(registry.create("kv", &Map::new()).is_ok());
    assert!(
        registry
            .create("kv", &body(json!({"version": "1"})))
            .is_ok()
    );
    let err = registry
        .create("kv", &body(json!({"version": "3"})))
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidRequest);
    assert!(registry.create("nope", &Map::new()).is_err());
}
