//! The storage view: a full `Storage` confined to its mount, that nothing can climb out of.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code"
)]

use std::sync::Arc;

use strongroom_logical::StorageView;
use strongroom_storage::{MemoryStorage, Op, Storage, StorageError, conformance};

// A view passes the same suite as any backend.
strongroom_storage::conformance_tests!(|_name: &'static str| async {
    let inner: Arc<dyn Storage> = Arc::new(MemoryStorage::new());
    Some(StorageView::new(inner, "logical/3f2a/").unwrap())
});

#[tokio::test]
async fn nothing_escapes_the_mount() {
    let inner: Arc<dyn Storage> = Arc::new(MemoryStorage::new());
    inner
        .put("core/keyring", b"top secret".to_vec())
        .await
        .unwrap();
    inner
        .put("logical/b/neighbour", b"theirs".to_vec())
        .await
        .unwrap();
    let view = StorageView::new(Arc::clone(&inner), "logical/a/").unwrap();
    for key in [
        "../b/neighbour",
        "../../core/keyring",
        "x/../../b/neighbour",
        "/core/keyring",
        "./x",
        "x//y",
        "x\0y",
        "",
    ] {
        assert!(view.get(key).await.is_err(), "get {key:?}");
        assert!(view.put(key, b"x".to_vec()).await.is_err(), "put {key:?}");
        assert!(view.delete(key).await.is_err(), "delete {key:?}");
        assert!(
            view.transaction(vec![Op::put(key, vec![1])]).await.is_err(),
            "transaction {key:?}"
        );
    }
    for prefix in ["../", "../../", "/", "x", "x//"] {
        assert!(view.list(prefix).await.is_err(), "list {prefix:?}");
    }
    // Encoded slashes are just characters: they stay inside.
    view.put("a%2F..%2Fb", b"inside".to_vec()).await.unwrap();
    assert!(inner.get("logical/a/a%2F..%2Fb").await.unwrap().is_some());
    // A very long path is refused with a typed error, not truncated into something else.
    let long = "x/".repeat(600) + "y";
    assert!(matches!(
        view.put(&long, vec![1]).await,
        Err(StorageError::InvalidKey { .. })
    ));
    // Nothing outside was touched.
    assert_eq!(
        inner.get("core/keyring").await.unwrap().unwrap(),
        b"top secret"
    );
    assert_eq!(
        inner.get("logical/b/neighbour").await.unwrap().unwrap(),
        b"theirs"
    );
    let outside = conformance::snapshot(&*inner).await;
    assert_eq!(outside.len(), 3);
}

#[tokio::test]
async fn sibling_mounts_do_not_see_each_other_and_clear_is_confined() {
    let inner: Arc<dyn Storage> = Arc::new(MemoryStorage::new());
    let a = StorageView::new(Arc::clone(&inner), "logical/a/").unwrap();
    let ab = StorageView::new(Arc::clone(&inner), "logical/ab/").unwrap();
    a.put("k", b"1".to_vec()).await.unwrap();
    a.put("deep/er/k", b"2".to_vec()).await.unwrap();
    ab.put("k", b"3".to_vec()).await.unwrap();
    assert_eq!(a.list("").await.unwrap(), ["deep/", "k"]);
    assert_eq!(ab.list("").await.unwrap(), ["k"]);
    let sub = a.sub_view("deep/").unwrap();
    assert_eq!(sub.list("er/").await.unwrap(), ["k"]);
    assert_eq!(a.clear().await.unwrap(), 2);
    assert!(a.list("").await.unwrap().is_empty());
    assert_eq!(ab.get("k").await.unwrap().unwrap(), b"3");
    assert!(StorageView::new(inner, "no-slash").is_err());
}
