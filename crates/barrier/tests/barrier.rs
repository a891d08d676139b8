//! The barrier through its public API: the storage contract, tamper detection, key lifecycle,
//! rotation, persistence on SQLite, and the on-disk canary.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code"
)]

use std::sync::Arc;

use proptest::prelude::*;
use strongroom_barrier::{
    Barrier, BarrierConfig, BarrierError, CIPHERTEXT_OVERHEAD, KEYRING_PATH, RootKey,
};
use strongroom_storage::{
    Limits, MemoryStorage, Op, SqliteStorage, Storage, StorageError, conformance,
};

/// Memory storage that accepts the default maximum plaintext plus the envelope.
fn roomy_memory() -> MemoryStorage {
    MemoryStorage::with_limits(
        Limits::default().with_max_value_len(Limits::DEFAULT_MAX_VALUE_LEN + CIPHERTEXT_OVERHEAD),
    )
    .unwrap()
}

async fn unsealed<S: Storage>(inner: S, config: BarrierConfig) -> (Barrier<S>, RootKey) {
    let barrier = Barrier::with_config(inner, config).unwrap();
    let root = RootKey::generate().unwrap();
    barrier.initialize(&root).await.unwrap();
    barrier.unseal(&root).await.unwrap();
    (barrier, root)
}

fn barrier_err(err: &StorageError) -> &BarrierError {
    BarrierError::find(err).unwrap_or_else(|| panic!("not a barrier error: {err:?}"))
}

// The barrier is a Storage: it passes the same suite as every backend.
strongroom_storage::conformance_tests!(|_name: &'static str| async {
    Some(unsealed(roomy_memory(), BarrierConfig::default()).await.0)
});

#[test]
fn matches_the_model() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (barrier, _root) = runtime.block_on(unsealed(
        roomy_memory(),
        // A small reservation block so that reservations happen inside the model run too.
        BarrierConfig::default().reservation_block(7),
    ));
    conformance::model_test(&runtime, Arc::new(barrier), 256);
}

fn value_strategy() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        4 => prop::collection::vec(any::<u8>(), 0..64),
        3 => prop::collection::vec(any::<u8>(), 64..70_000),
        1 => (any::<u8>(), 0usize..=1 << 20).prop_map(|(b, len)| vec![b; len]),
        1 => Just(vec![0x5a; 1 << 20]),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn round_trip(key in "[a-z0-9]{1,8}(/[a-zA-Z0-9._-]{1,12}){0,4}", value in value_strategy()) {
        prop_assume!(strongroom_storage::check_key(&key).is_ok());
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        runtime.block_on(async {
            let (barrier, _root) = unsealed(roomy_memory(), BarrierConfig::default()).await;
            barrier.put(&key, value.clone()).await.unwrap();
            let raw = barrier.inner().get(&key).await.unwrap().unwrap();
            prop_assert_eq!(raw.len(), value.len() + CIPHERTEXT_OVERHEAD);
            prop_assert_eq!(barrier.get(&key).await.unwrap(), Some(value));
            Ok(())
        })?;
    }
}

#[tokio::test]
async fn every_bit_flip_and_truncation_is_detected() {
    let (barrier, _root) = unsealed(MemoryStorage::new(), BarrierConfig::default()).await;
    barrier
        .put(
            "t/flip",
            b"forty bytes of very secret plaintext!!!".to_vec(),
        )
        .await
        .unwrap();
    let good = barrier.inner().get("t/flip").await.unwrap().unwrap();
    for bit in 0..good.len() * 8 {
        let mut bad = good.clone();
        bad[bit / 8] ^= 1 << (bit % 8);
        let err = barrier.decrypt("t/flip", bad).unwrap_err();
        match bit / 8 {
            0 => assert!(
                matches!(err, BarrierError::UnknownVersion { .. }),
                "{bit}: {err}"
            ),
            1..=4 => assert!(
                matches!(err, BarrierError::UnknownTerm { .. }),
                "{bit}: {err}"
            ),
            _ => assert!(matches!(err, BarrierError::Tampered), "{bit}: {err}"),
        }
    }
    for len in 0..good.len() {
        let err = barrier.decrypt("t/flip", good[..len].to_vec()).unwrap_err();
        if len < CIPHERTEXT_OVERHEAD {
            assert!(
                matches!(err, BarrierError::Truncated { .. }),
                "{len}: {err}"
            );
        } else {
            assert!(matches!(err, BarrierError::Tampered), "{len}: {err}");
        }
    }
    let mut longer = good.clone();
    longer.push(0);
    assert!(matches!(
        barrier.decrypt("t/flip", longer),
        Err(BarrierError::Tampered)
    ));
    // Through the Storage trait the same errors arrive wrapped, and the store is unchanged.
    let mut bad = good.clone();
    bad[40] ^= 0x80;
    barrier.inner().put("t/flip", bad).await.unwrap();
    let err = barrier.get("t/flip").await.unwrap_err();
    assert!(matches!(barrier_err(&err), BarrierError::Tampered));
}

#[tokio::test]
async fn ciphertext_moved_to_another_key_fails() {
    let (barrier, _root) = unsealed(MemoryStorage::new(), BarrierConfig::default()).await;
    barrier.put("app/a", b"for a only".to_vec()).await.unwrap();
    let raw = barrier.inner().get("app/a").await.unwrap().unwrap();
    barrier.inner().put("app/b", raw).await.unwrap();
    let err = barrier.get("app/b").await.unwrap_err();
    assert!(matches!(barrier_err(&err), BarrierError::Tampered));
    assert_eq!(
        barrier.get("app/a").await.unwrap().as_deref(),
        Some(&b"for a only"[..])
    );
}

#[tokio::test]
async fn plaintext_written_around_the_barrier_is_refused() {
    let (barrier, _root) = unsealed(MemoryStorage::new(), BarrierConfig::default()).await;
    barrier
        .inner()
        .put("sneaky", br#"{"password":"in the clear"}"#.to_vec())
        .await
        .unwrap();
    let err = barrier.get("sneaky").await.unwrap_err();
    assert!(matches!(
        barrier_err(&err),
        BarrierError::UnknownVersion { version: b'{' }
    ));
    barrier
        .inner()
        .put("short", b"\x01abc".to_vec())
        .await
        .unwrap();
    let err = barrier.get("short").await.unwrap_err();
    assert!(matches!(barrier_err(&err), BarrierError::Truncated { .. }));
}

#[tokio::test]
async fn rotation_keeps_every_earlier_term_readable() {
    let (barrier, root) = unsealed(MemoryStorage::new(), BarrierConfig::default()).await;
    for term in 1..=5u32 {
        assert_eq!(barrier.status().unwrap().term, term);
        barrier
            .put(
                &format!("r/{term}"),
                format!("written under {term}").into_bytes(),
            )
            .await
            .unwrap();
        let raw = barrier
            .inner()
            .get(&format!("r/{term}"))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(u32::from_be_bytes(raw[1..5].try_into().unwrap()), term);
        if term < 5 {
            assert_eq!(barrier.rotate().await.unwrap(), term + 1);
        }
    }
    // And after sealing and unsealing again.
    barrier.seal();
    barrier.unseal(&root).await.unwrap();
    let status = barrier.status().unwrap();
    assert_eq!((status.term, status.terms), (5, 5));
    for term in 1..=5u32 {
        let value = barrier.get(&format!("r/{term}")).await.unwrap().unwrap();
        assert_eq!(value, format!("written under {term}").into_bytes());
    }
}

#[tokio::test]
async fn sealed_refuses_everything() {
    let (barrier, root) = unsealed(MemoryStorage::new(), BarrierConfig::default()).await;
    barrier.put("s/k", b"v".to_vec()).await.unwrap();
    barrier.seal();
    assert!(barrier.is_sealed());
    let sealed = |r: Result<(), StorageError>| {
        let err = r.unwrap_err();
        assert!(BarrierError::is_sealed(&err), "{err:?}");
    };
    sealed(barrier.get("s/k").await.map(drop));
    sealed(barrier.get("s/missing").await.map(drop));
    sealed(barrier.put("s/k", b"w".to_vec()).await);
    sealed(barrier.delete("s/k").await);
    sealed(barrier.list("s/").await.map(drop));
    sealed(barrier.list("").await.map(drop));
    sealed(barrier.transaction(vec![Op::put("s/x", vec![1])]).await);
    sealed(barrier.transaction(Vec::new()).await);
    assert!(matches!(barrier.status(), Err(BarrierError::Sealed)));
    assert!(matches!(barrier.rotate().await, Err(BarrierError::Sealed)));
    assert!(matches!(
        barrier.encrypt("s/k", &[1]).await,
        Err(BarrierError::Sealed)
    ));
    let raw = barrier.inner().get("s/k").await.unwrap().unwrap();
    assert!(matches!(
        barrier.decrypt("s/k", raw),
        Err(BarrierError::Sealed)
    ));
    assert!(matches!(
        barrier.rekey_root(&RootKey::generate().unwrap()).await,
        Err(BarrierError::Sealed)
    ));
    // Nothing changed underneath.
    barrier.unseal(&root).await.unwrap();
    assert_eq!(
        barrier.get("s/k").await.unwrap().as_deref(),
        Some(&b"v"[..])
    );
}

#[tokio::test]
async fn wrong_root_key_leaves_it_sealed() {
    let (barrier, root) = unsealed(MemoryStorage::new(), BarrierConfig::default()).await;
    barrier.seal();
    let wrong = RootKey::generate().unwrap();
    assert!(matches!(
        barrier.unseal(&wrong).await,
        Err(BarrierError::WrongRootKey)
    ));
    assert!(barrier.is_sealed());
    barrier.unseal(&root).await.unwrap();
    assert!(!barrier.is_sealed());
}

#[tokio::test]
async fn lifecycle_errors() {
    let barrier = Barrier::new(MemoryStorage::new());
    let root = RootKey::generate().unwrap();
    assert!(!barrier.is_initialized().await.unwrap());
    assert!(matches!(
        barrier.unseal(&root).await,
        Err(BarrierError::NotInitialized)
    ));
    barrier.initialize(&root).await.unwrap();
    assert!(barrier.is_initialized().await.unwrap());
    assert!(barrier.is_sealed(), "initialize leaves the barrier sealed");
    let keyring = barrier.inner().get(KEYRING_PATH).await.unwrap();
    assert!(matches!(
        barrier.initialize(&RootKey::generate().unwrap()).await,
        Err(BarrierError::AlreadyInitialized)
    ));
    assert_eq!(barrier.inner().get(KEYRING_PATH).await.unwrap(), keyring);
    barrier.unseal(&root).await.unwrap();
    // The keyring is not reachable from above.
    for result in [
        barrier.get(KEYRING_PATH).await.map(drop),
        barrier.put(KEYRING_PATH, vec![1]).await,
        barrier.delete(KEYRING_PATH).await,
        barrier.transaction(vec![Op::delete(KEYRING_PATH)]).await,
    ] {
        let err = result.unwrap_err();
        assert!(matches!(barrier_err(&err), BarrierError::ReservedKey(_)));
    }
    barrier.put("core/mounts", b"m".to_vec()).await.unwrap();
    assert_eq!(barrier.list("core/").await.unwrap(), ["mounts"]);
}

#[tokio::test]
async fn rekey_root_swaps_the_key_that_opens_the_keyring() {
    let (barrier, old) = unsealed(MemoryStorage::new(), BarrierConfig::default()).await;
    barrier.put("k/1", b"data".to_vec()).await.unwrap();
    let data_before = barrier.inner().get("k/1").await.unwrap();
    let new = RootKey::generate().unwrap();
    barrier.rekey_root(&new).await.unwrap();
    assert_eq!(
        barrier.inner().get("k/1").await.unwrap(),
        data_before,
        "data untouched"
    );
    barrier.seal();
    assert!(matches!(
        barrier.unseal(&old).await,
        Err(BarrierError::WrongRootKey)
    ));
    barrier.unseal(&new).await.unwrap();
    assert_eq!(
        barrier.get("k/1").await.unwrap().as_deref(),
        Some(&b"data"[..])
    );
}

/// The keyring under a new root key and whatever wraps that key (a seal configuration beside
/// the barrier) change in one transaction: a failed check leaves both as they were, and the old
/// root key still opens everything.
#[tokio::test]
async fn rekey_root_with_commits_the_extra_ops_or_nothing() {
    let (barrier, old) = unsealed(MemoryStorage::new(), BarrierConfig::default()).await;
    barrier.put("k/1", b"data".to_vec()).await.unwrap();
    barrier
        .inner()
        .put("seal/config", b"old".to_vec())
        .await
        .unwrap();
    let keyring = barrier.inner().get(KEYRING_PATH).await.unwrap();

    // A check that does not hold: nothing is applied, in storage or in memory.
    let refused = RootKey::generate().unwrap();
    let err = barrier
        .rekey_root_with(
            &refused,
            vec![
                Op::check("seal/config", Some(b"other".to_vec())),
                Op::put("seal/config", b"new".to_vec()),
            ],
        )
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        BarrierError::Storage(StorageError::CheckFailed { .. })
    ));
    assert_eq!(barrier.inner().get(KEYRING_PATH).await.unwrap(), keyring);
    assert_eq!(
        barrier.inner().get("seal/config").await.unwrap().as_deref(),
        Some(&b"old"[..])
    );
    // The keyring in memory is still under the old key: a rotation writes it under that key.
    barrier.rotate().await.unwrap();
    barrier.seal();
    barrier.unseal(&old).await.unwrap();

    // The keyring itself cannot be an extra op.
    assert!(matches!(
        barrier
            .rekey_root_with(&refused, vec![Op::delete(KEYRING_PATH)])
            .await,
        Err(BarrierError::ReservedKey(_))
    ));

    let new = RootKey::generate().unwrap();
    barrier
        .rekey_root_with(
            &new,
            vec![
                Op::check("seal/config", Some(b"old".to_vec())),
                Op::put("seal/config", b"new".to_vec()),
            ],
        )
        .await
        .unwrap();
    assert_eq!(
        barrier.inner().get("seal/config").await.unwrap().as_deref(),
        Some(&b"new"[..])
    );
    // Later keyring writes are under the new key too.
    barrier.rotate().await.unwrap();
    barrier.seal();
    assert!(matches!(
        barrier.unseal(&old).await,
        Err(BarrierError::WrongRootKey)
    ));
    barrier.unseal(&new).await.unwrap();
    assert_eq!(
        barrier.get("k/1").await.unwrap().as_deref(),
        Some(&b"data"[..])
    );
}

#[tokio::test]
async fn automatic_rotation_at_a_small_bound() {
    const MAX: u64 = 10;
    let config = BarrierConfig::default()
        .max_encryptions(MAX)
        .reservation_block(3);
    let (barrier, root) = unsealed(MemoryStorage::new(), config).await;
    for i in 0..60 {
        barrier
            .put(&format!("auto/{i:02}"), vec![u8::try_from(i).unwrap()])
            .await
            .unwrap();
        assert!(barrier.status().unwrap().encryptions <= MAX);
    }
    let mut per_term = std::collections::BTreeMap::<u32, u64>::new();
    for i in 0..60 {
        let key = format!("auto/{i:02}");
        let raw = barrier.inner().get(&key).await.unwrap().unwrap();
        *per_term
            .entry(u32::from_be_bytes(raw[1..5].try_into().unwrap()))
            .or_default() += 1;
        assert_eq!(
            barrier.get(&key).await.unwrap(),
            Some(vec![u8::try_from(i).unwrap()])
        );
    }
    assert!(per_term.len() >= 6, "{per_term:?}");
    assert!(per_term.values().all(|&n| n <= MAX), "{per_term:?}");
    // A restart counts from the persisted reservation: never fewer than were done.
    let done = barrier.status().unwrap().encryptions;
    let term = barrier.status().unwrap().term;
    let again = Barrier::with_config(
        MemoryStorage::new(),
        BarrierConfig::default().max_encryptions(MAX),
    )
    .unwrap();
    for (key, value) in conformance::snapshot(barrier.inner()).await {
        again.inner().put(&key, value).await.unwrap();
    }
    again
        .inner()
        .put(
            KEYRING_PATH,
            barrier.inner().get(KEYRING_PATH).await.unwrap().unwrap(),
        )
        .await
        .unwrap();
    again.unseal(&root).await.unwrap();
    let status = again.status().unwrap();
    assert_eq!(status.term, term);
    assert!(
        status.encryptions >= done,
        "{} < {done}",
        status.encryptions
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writers_with_tiny_reservations() {
    let config = BarrierConfig::default()
        .max_encryptions(50)
        .reservation_block(2);
    let (barrier, _root) = unsealed(MemoryStorage::new(), config).await;
    let barrier = Arc::new(barrier);
    let mut tasks = Vec::new();
    for t in 0..8 {
        let barrier = Arc::clone(&barrier);
        tasks.push(tokio::spawn(async move {
            for i in 0..50 {
                let key = format!("c/{t}/{i}");
                barrier.put(&key, key.clone().into_bytes()).await.unwrap();
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let mut nonces = std::collections::HashSet::new();
    for t in 0..8 {
        for i in 0..50 {
            let key = format!("c/{t}/{i}");
            assert_eq!(
                barrier.get(&key).await.unwrap(),
                Some(key.clone().into_bytes())
            );
            let raw = barrier.inner().get(&key).await.unwrap().unwrap();
            assert!(
                nonces.insert(raw[1..17].to_vec()),
                "term and nonce repeated for {key}"
            );
        }
    }
    assert!(barrier.status().unwrap().term >= 8);
}

/// Freezes format version 1: a keyring and a value written by this version must open forever.
#[tokio::test]
async fn golden_v1_blobs_still_open() {
    fn unhex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }
    const KEYRING: &str = "010000000020c1821ce57168ed57a3367c6d772ca9895127a9d7ce7b5ca8d3e68eb574ab2beadf796e3946ac4c1ca7ce34ee750b67b0a93bdcc00040818717db4e3e2b0b933e6fcf650bf655eef0bae0a7351a60a8e025f3febcae80bd76e17b6708";
    const VALUE: &str = "0100000001099adaf438e10ec922ba4cf4bd15df105fab1ca0f2c2855eefeb5c70b2638ea91d64d91dcb04e1c43f790b435e5ec02add";
    let inner = MemoryStorage::new();
    inner.put(KEYRING_PATH, unhex(KEYRING)).await.unwrap();
    inner.put("golden/value", unhex(VALUE)).await.unwrap();
    let barrier = Barrier::new(inner);
    barrier
        .unseal(&RootKey::from_bytes(&[0x11; 32]).unwrap())
        .await
        .unwrap();
    assert_eq!(
        barrier.get("golden/value").await.unwrap().as_deref(),
        Some(&b"strongroom barrier v1"[..])
    );
    assert_eq!(barrier.status().unwrap().term, 1);
}

fn sqlite_dir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("strongroom-barrier-")
        .tempdir()
        .unwrap()
}

#[tokio::test]
async fn keyring_survives_reopen_on_sqlite() {
    let dir = sqlite_dir();
    let path = dir.path().join("vault.db");
    let root = RootKey::generate().unwrap();
    {
        let barrier = Barrier::new(SqliteStorage::open(&path).await.unwrap());
        barrier.initialize(&root).await.unwrap();
        barrier.unseal(&root).await.unwrap();
        barrier.put("p/1", b"one".to_vec()).await.unwrap();
        barrier.rotate().await.unwrap();
        barrier.put("p/2", b"two".to_vec()).await.unwrap();
        barrier.inner().close().await;
    }
    let barrier = Barrier::new(SqliteStorage::open(&path).await.unwrap());
    assert!(barrier.is_initialized().await.unwrap());
    barrier.unseal(&root).await.unwrap();
    assert_eq!(barrier.status().unwrap().term, 2);
    assert_eq!(
        barrier.get("p/1").await.unwrap().as_deref(),
        Some(&b"one"[..])
    );
    assert_eq!(
        barrier.get("p/2").await.unwrap().as_deref(),
        Some(&b"two"[..])
    );
}

/// Ten thousand values holding a marker go through the barrier into SQLite; the raw database
/// file and its WAL must not contain the marker once.
#[tokio::test]
async fn canary_never_reaches_the_disk() {
    const MARKER: &[u8] = b"CANARY-7f3a9c-PLAINTEXT";
    let dir = sqlite_dir();
    let path = dir.path().join("canary.db");
    let barrier = Barrier::new(SqliteStorage::open(&path).await.unwrap());
    let root = RootKey::generate().unwrap();
    barrier.initialize(&root).await.unwrap();
    barrier.unseal(&root).await.unwrap();
    for chunk in 0..100 {
        let ops = (0..100)
            .map(|i| {
                let mut value = format!("record {chunk}-{i}: ").into_bytes();
                value.extend_from_slice(MARKER);
                Op::put(format!("canary/{chunk}/{i}"), value)
            })
            .collect();
        barrier.transaction(ops).await.unwrap();
    }
    let sample = barrier.get("canary/42/42").await.unwrap().unwrap();
    assert!(sample.windows(MARKER.len()).any(|w| w == MARKER));
    // Scan while open (the WAL holds the recent writes) and again after closing (checkpointed
    // into the main file).
    let scan = || {
        let mut scanned = 0;
        for entry in std::fs::read_dir(dir.path()).unwrap() {
            let file = entry.unwrap().path();
            let bytes = std::fs::read(&file).unwrap();
            scanned += bytes.len();
            let hits = bytes.windows(MARKER.len()).filter(|w| *w == MARKER).count();
            assert_eq!(hits, 0, "marker found in {}", file.display());
        }
        scanned
    };
    let open_bytes = scan();
    barrier.inner().close().await;
    drop(barrier);
    let closed_bytes = scan();
    assert!(
        open_bytes.max(closed_bytes) > 10_000 * MARKER.len(),
        "scanned only {open_bytes} / {closed_bytes} bytes"
    );
}
