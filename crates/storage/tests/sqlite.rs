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

use sqlx::Connection as _;
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

/// Two stores on one file (two processes, say): each one's reads see what the other committed,
/// at once, gets and lists alike.
#[tokio::test]
async fn reads_see_another_connections_commits() {
    let path = fresh_path("shared");
    let one = SqliteStorage::open(&path).await.unwrap();
    let two = SqliteStorage::open(&path).await.unwrap();
    for round in 0..20_u8 {
        one.put(&format!("k/{round}"), vec![round]).await.unwrap();
        assert_eq!(
            two.get(&format!("k/{round}")).await.unwrap(),
            Some(vec![round])
        );
        assert_eq!(two.list("k/").await.unwrap(), [round.to_string()]);
        two.delete(&format!("k/{round}")).await.unwrap();
        assert_eq!(one.get(&format!("k/{round}")).await.unwrap(), None);
    }
}

/// Readers never wait for the writer: with another connection holding the write lock (a write
/// transaction open and not committed), reads on every reader connection answer, and see the
/// last committed value, not the uncommitted one.
#[tokio::test]
async fn reads_do_not_wait_for_an_open_write() {
    let path = fresh_path("locked");
    let store = SqliteStorage::open_with(SqliteConfig::new(&path).readers(2))
        .await
        .unwrap();
    store.put("a", b"committed".to_vec()).await.unwrap();
    let mut other = sqlx::SqliteConnection::connect(&format!("sqlite:{}", path.display()))
        .await
        .unwrap();
    sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut other)
        .await
        .unwrap();
    sqlx::query("UPDATE strongroom_kv SET value = x'00' WHERE key = 'a'")
        .execute(&mut other)
        .await
        .unwrap();
    for _ in 0..8 {
        assert_eq!(
            store.get("a").await.unwrap().as_deref(),
            Some(&b"committed"[..])
        );
        assert_eq!(store.list("").await.unwrap(), ["a"]);
    }
    sqlx::query("COMMIT").execute(&mut other).await.unwrap();
    assert_eq!(store.get("a").await.unwrap().as_deref(), Some(&[0_u8][..]));
}

/// Concurrent reads from many tasks on a few connections: every one answers correctly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_concurrent_readers_share_the_connections() {
    let store = Arc::new(
        SqliteStorage::open_with(SqliteConfig::new(fresh_path("many")).readers(2))
            .await
            .unwrap(),
    );
    for i in 0..16_u8 {
        store.put(&format!("r/{i}"), vec![i; 64]).await.unwrap();
    }
    let tasks: Vec<_> = (0..16_u8)
        .map(|i| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                for _ in 0..200 {
                    assert_eq!(
                        store.get(&format!("r/{i}")).await.unwrap(),
                        Some(vec![i; 64])
                    );
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
}

/// Group commit under contention: 32 tasks each add 20 to one counter with compare-and-swap
/// (retrying on a failed check) while writing keys of their own. Many writes share a commit,
/// and a member whose check fails is undone alone: no increment is lost or applied twice, and
/// every plain write lands.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_commit_keeps_each_write_all_or_nothing() {
    use strongroom_storage::Op;
    let store = Arc::new(SqliteStorage::open(fresh_path("group")).await.unwrap());
    store
        .put("counter", 0_u64.to_be_bytes().to_vec())
        .await
        .unwrap();
    let tasks: Vec<_> = (0..32_u64)
        .map(|task| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                let mut conflicts = 0_u64;
                for i in 0..20_u64 {
                    loop {
                        let current = store.get("counter").await.unwrap().unwrap();
                        let n = u64::from_be_bytes(current.clone().try_into().unwrap());
                        let result = store
                            .transaction(vec![
                                Op::check("counter", Some(current)),
                                Op::put("counter", (n + 1).to_be_bytes().to_vec()),
                                Op::put(format!("seen/{task}/{i}"), n.to_be_bytes().to_vec()),
                            ])
                            .await;
                        match result {
                            Ok(()) => break,
                            Err(StorageError::CheckFailed { .. }) => conflicts += 1,
                            Err(other) => panic!("{other}"),
                        }
                    }
                    store
                        .put(&format!("own/{task}/{i}"), vec![1])
                        .await
                        .unwrap();
                }
                conflicts
            })
        })
        .collect();
    let mut conflicts = 0;
    for task in tasks {
        conflicts += task.await.unwrap();
    }
    let counter = store.get("counter").await.unwrap().unwrap();
    assert_eq!(u64::from_be_bytes(counter.try_into().unwrap()), 640);
    // Each value of the counter was taken by exactly one successful increment.
    let mut seen = Vec::new();
    for task in 0..32 {
        assert_eq!(store.list(&format!("own/{task}/")).await.unwrap().len(), 20);
        for i in 0..20 {
            let n = store
                .get(&format!("seen/{task}/{i}"))
                .await
                .unwrap()
                .unwrap();
            seen.push(u64::from_be_bytes(n.try_into().unwrap()));
        }
    }
    seen.sort_unstable();
    assert_eq!(seen, (0..640).collect::<Vec<_>>());
    assert!(conflicts > 0, "the test should have raced");
}

/// `close` commits the writes sent before it; writes after it fail with a connection error and
/// change nothing.
#[tokio::test]
async fn close_finishes_earlier_writes_and_refuses_later_ones() {
    let path = fresh_path("close");
    let store = Arc::new(SqliteStorage::open(&path).await.unwrap());
    let writes: Vec<_> = (0..50_u8)
        .map(|i| {
            let store = Arc::clone(&store);
            tokio::spawn(async move { store.put(&format!("w/{i}"), vec![i]).await })
        })
        .collect();
    for write in writes {
        write.await.unwrap().unwrap();
    }
    store.close().await;
    let err = store.put("late", vec![1]).await.unwrap_err();
    assert!(matches!(err, StorageError::Connection { .. }), "{err}");
    store.close().await; // twice is harmless
    let reopened = SqliteStorage::open(&path).await.unwrap();
    assert_eq!(reopened.list("w/").await.unwrap().len(), 50);
    assert_eq!(reopened.get("late").await.unwrap(), None);
}

/// `close` while writes are in flight: each write either succeeds and is in the file after a
/// reopen, or fails with a connection error and is not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_during_writes_answers_each_truthfully() {
    let path = fresh_path("close-race");
    let store = Arc::new(SqliteStorage::open(&path).await.unwrap());
    let writes: Vec<_> = (0..200_u8)
        .map(|i| {
            let store = Arc::clone(&store);
            tokio::spawn(async move { (i, store.put(&format!("w/{i}"), vec![i]).await) })
        })
        .collect();
    tokio::task::yield_now().await;
    store.close().await;
    let mut outcomes = Vec::new();
    for write in writes {
        outcomes.push(write.await.unwrap());
    }
    let reopened = SqliteStorage::open(&path).await.unwrap();
    for (i, outcome) in outcomes {
        let stored = reopened.get(&format!("w/{i}")).await.unwrap();
        match outcome {
            Ok(()) => assert_eq!(stored, Some(vec![i])),
            Err(StorageError::Connection { .. }) => assert_eq!(stored, None),
            Err(other) => panic!("{other}"),
        }
    }
}

/// The mode bits of `path` and its `-wal`/`-shm` files (those that exist).
#[cfg(unix)]
fn modes(path: &std::path::Path) -> Vec<(String, u32)> {
    use std::os::unix::fs::PermissionsExt as _;
    ["", "-wal", "-shm"]
        .iter()
        .filter_map(|suffix| {
            let name = format!("{}{suffix}", path.display());
            let meta = std::fs::metadata(&name).ok()?;
            Some((suffix.to_string(), meta.permissions().mode() & 0o777))
        })
        .collect()
}

#[cfg(unix)]
#[tokio::test]
async fn files_are_readable_by_their_owner_only() {
    use std::os::unix::fs::PermissionsExt as _;
    let path = fresh_path("modes");
    let store = SqliteStorage::open(&path).await.unwrap();
    store.put("k", b"v".to_vec()).await.unwrap();
    let found = modes(&path);
    assert_eq!(found.len(), 3, "{found:?}");
    for (suffix, mode) in &found {
        assert_eq!(*mode, 0o600, "store.db{suffix}");
    }
    store.close().await;
    drop(store);

    // A file an earlier version left world-readable loses the access of other users on open;
    // its group's access is the operator's choice.
    let old = fresh_path("loose");
    std::fs::write(&old, b"").unwrap();
    std::fs::set_permissions(&old, std::fs::Permissions::from_mode(0o664)).unwrap();
    let store = SqliteStorage::open(&old).await.unwrap();
    store.put("k", b"v".to_vec()).await.unwrap();
    for (suffix, mode) in modes(&old) {
        assert_eq!(mode & 0o007, 0, "store.db{suffix}: {mode:o}");
    }
    assert_eq!(modes(&old)[0].1, 0o660);
}
