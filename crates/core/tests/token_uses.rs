//! Property: of N concurrent requests on a token with k uses, exactly min(k, N) get past the
//! token check, whatever the interleaving (random mixes of lookups, renewals and reads, on a
//! multi-threaded runtime), over the in-memory storage and over SQLite; reads and lookups among
//! them all succeed; and the token is gone once its uses are spent.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code"
)]

use std::sync::Arc;

use proptest::prelude::*;
use serde_json::json;
use strongroom_core::{InitRequest, Vault};
use strongroom_logical::ErrorKind;
use strongroom_storage::{MemoryStorage, SqliteStorage, Storage};

async fn unsealed(storage: Arc<dyn Storage>) -> (Vault, String) {
    let vault = Vault::builder(storage)
        .background_expiry(false)
        .build()
        .unwrap();
    let init = vault.init(InitRequest::new(1, 1)).await.unwrap();
    vault.unseal(init.keys[0].expose_secret()).await.unwrap();
    (vault, init.root_token.expose_secret().to_owned())
}

/// Fires `kinds.len()` requests at once with a `k`-use token; returns how many got past the
/// token check (anything but "permission denied") and how many succeeded.
async fn race(vault: &Vault, root: &str, k: u32, kinds: &[u8]) -> (usize, usize) {
    let made = vault
        .write(
            root,
            "auth/token/create",
            json!({"num_uses": k, "ttl": "1h"}),
        )
        .await
        .unwrap();
    let token = made.auth.unwrap().client_token;
    let mut tasks = Vec::new();
    for &kind in kinds {
        let vault = vault.clone();
        let token = token.clone();
        tasks.push(tokio::spawn(async move {
            let result = match kind % 3 {
                0 => vault.read(&token, "auth/token/lookup-self").await,
                1 => {
                    vault
                        .write(&token, "auth/token/renew-self", json!({}))
                        .await
                }
                _ => vault.read(&token, "sys/mounts").await,
            };
            match result {
                Ok(_) => (true, true),
                // A renewal whose token another request spent meanwhile: the use was counted.
                Err(err) if err.kind() != ErrorKind::PermissionDenied => {
                    assert_eq!(kind % 3, 1, "only a renewal may fail after its use: {err}");
                    assert_eq!(err.to_string(), "token not found");
                    (true, false)
                }
                Err(_) => (false, false),
            }
        }));
    }
    let (mut passed, mut ok) = (0, 0);
    for task in tasks {
        let (through, succeeded) = task.await.unwrap();
        passed += usize::from(through);
        ok += usize::from(succeeded);
    }
    // Spent: nothing more gets through, and lookups by root find nothing.
    if passed == k as usize {
        assert!(vault.read(&token, "auth/token/lookup-self").await.is_err());
        assert!(
            vault
                .write(
                    root,
                    "auth/token/lookup",
                    json!({"token": token.expose_secret()})
                )
                .await
                .is_err()
        );
    }
    (passed, ok)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn exactly_k_of_n_concurrent_requests_pass(
        k in 1u32..6,
        kinds in prop::collection::vec(any::<u8>(), 1..24),
    ) {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(4)
            .enable_all()
            .build()
            .unwrap();
        let (passed, ok) = runtime.block_on(async {
            let (vault, root) = unsealed(Arc::new(MemoryStorage::new())).await;
            race(&vault, &root, k, &kinds).await
        });
        let n = kinds.len();
        prop_assert_eq!(passed, (k as usize).min(n), "k={} n={} ok={}", k, n, ok);
        prop_assert!(ok <= passed);
    }
}

/// Lookups only (no renewal can spend the last use and then fail): exactly k pass, on SQLite
/// (whose compare-and-swap runs through the group-committing writer) and in memory.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn exactly_k_lookups_pass_on_every_backend() {
    let dir = tempfile::tempdir().unwrap();
    let sqlite: Arc<dyn Storage> = Arc::new(
        SqliteStorage::open(dir.path().join("vault.db"))
            .await
            .unwrap(),
    );
    let memory: Arc<dyn Storage> = Arc::new(MemoryStorage::new());
    for storage in [sqlite, memory] {
        let (vault, root) = unsealed(storage).await;
        for (k, n) in [(1, 16), (3, 16), (5, 5), (8, 3)] {
            let kinds = vec![0; n];
            let want = (k as usize).min(n);
            assert_eq!(
                race(&vault, &root, k, &kinds).await,
                (want, want),
                "k={k} n={n}"
            );
        }
    }
}
