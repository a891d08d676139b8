//! The SQLite backend against the conformance suite and the model, plus what only a file can show:
//! data survives reopening, and an unusable path is a clear error.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code"
)]

use std::sync::Arc;

use strongroom_storage::{SqliteConfig, SqliteStorage, Storage, StorageError, conformance};

/// Each test gets its own directory, kept alive (leaked) for the test's duration.
fn fresh_path(name: &str) -> std::path::PathBuf {
    let dir = tempfile::Builder::new()
        .prefix(&format!("strongroom-{name}-"))
        .tempdir()
        .unwrap();
    dir.keep().join("store.db")
}

strongroom_storage::conformance_tests!(|name: &'static str| async move {
    Some(SqliteStorage::open(fresh_path(name)).await.unwrap())
});

#[test]
fn matches_the_model() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let store = runtime
        .block_on(SqliteStorage::open(fresh_path("model")))
        .unwrap();
    conformance::model_test(&runtime, Arc::new(store), 128);
}

#[tokio::test]
async fn data_survives_reopen() {
    let path = fresh_path("reopen");
    let store = SqliteStorage::open(&path).await.unwrap();
    store.put("a/b", b"v".to_vec()).await.unwrap();
    store.close().await;
    let err = store.get("a/b").await.unwrap_err();
    assert!(matches!(err, StorageError::Connection { .. }), "{err}");
    drop(store);
    let store = SqliteStorage::open(&path).await.unwrap();
    assert_eq!(store.get("a/b").await.unwrap().as_deref(), Some(&b"v"[..]));
    assert_eq!(store.list("a/").await.unwrap(), ["b"]);
}

#[tokio::test]
async fn unusable_path_is_a_connection_error() {
    let err = SqliteStorage::open("/proc/definitely/not/here.db")
        .await
        .unwrap_err();
    assert!(matches!(err, StorageError::Connection { .. }), "{err}");
}

#[tokio::test]
async fn zero_readers_is_a_config_error() {
    let err = SqliteStorage::open_with(SqliteConfig::new(fresh_path("cfg")).readers(0))
        .await
        .unwrap_err();
    assert!(matches!(err, StorageError::Config(_)), "{err}");
}
