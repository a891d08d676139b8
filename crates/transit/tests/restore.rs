//! `restore` over a live key: the new material is staged under a new id and one
//! compare-and-swap of the settings switches to it, so a crash part-way leaves the old key whole,
//! a change made meanwhile (a rotation, an upsert) is never overwritten, and keys stored in the
//! layout before the material moved under the id keep working and are replaced cleanly.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code"
)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use serde_json::{Map, Value, json};
use strongroom_logical::{Backend, Context, LogicalError, Operation, Request, StorageView};
use strongroom_storage::{MemoryStorage, Op, Storage, StorageError};
use strongroom_transit::Transit;

/// What the wrapper does when the transaction numbered `at` (from 1, counted after `arm`)
/// comes.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Fault {
    /// Fails it and every later one (a crash).
    Crash,
    /// Lets it through, then rewrites the key's settings as a concurrent rotation would.
    ChangeKey,
}

#[derive(Debug)]
struct Faulty {
    inner: MemoryStorage,
    count: AtomicUsize,
    at: AtomicUsize,
    fault: std::sync::Mutex<Option<Fault>>,
}

impl Faulty {
    fn new() -> Arc<Self> {
        Arc::new(Self {
            inner: MemoryStorage::new(),
            count: AtomicUsize::new(0),
            at: AtomicUsize::new(usize::MAX),
            fault: std::sync::Mutex::new(None),
        })
    }

    fn arm(&self, fault: Fault, at: usize) {
        self.count.store(0, Ordering::SeqCst);
        self.at.store(at, Ordering::SeqCst);
        *self.fault.lock().unwrap() = Some(fault);
    }

    fn disarm(&self) {
        *self.fault.lock().unwrap() = None;
    }
}

#[async_trait]
impl Storage for Faulty {
    async fn get(&self, key: &str) -> strongroom_storage::Result<Option<Vec<u8>>> {
        self.inner.get(key).await
    }
    async fn put(&self, key: &str, value: Vec<u8>) -> strongroom_storage::Result<()> {
        self.transaction(vec![Op::put(key, value)]).await
    }
    async fn delete(&self, key: &str) -> strongroom_storage::Result<()> {
        self.transaction(vec![Op::delete(key)]).await
    }
    async fn list(&self, prefix: &str) -> strongroom_storage::Result<Vec<String>> {
        self.inner.list(prefix).await
    }
    async fn transaction(&self, ops: Vec<Op>) -> strongroom_storage::Result<()> {
        let fault = *self.fault.lock().unwrap();
        let n = self.count.fetch_add(1, Ordering::SeqCst) + 1;
        let at = self.at.load(Ordering::SeqCst);
        match fault {
            Some(Fault::Crash) if n >= at => Err(StorageError::Backend {
                backend: "faulty",
                source: "crashed".into(),
            }),
            Some(Fault::ChangeKey) if n == at => {
                self.inner.transaction(ops).await?;
                let key = "transit/keys/k";
                let mut config: Value =
                    serde_json::from_slice(&self.inner.get(key).await?.unwrap()).unwrap();
                config["auto_rotate_period"] = json!(7200);
                self.inner
                    .put(key, serde_json::to_vec(&config).unwrap())
                    .await
            }
            _ => self.inner.transaction(ops).await,
        }
    }
}

struct Setup {
    storage: Arc<Faulty>,
    ctx: Context,
    transit: Transit,
}

fn setup() -> Setup {
    let storage = Faulty::new();
    let view = StorageView::new(Arc::clone(&storage) as Arc<dyn Storage>, "transit/").unwrap();
    Setup {
        storage,
        ctx: Context::new(view, "transit/"),
        transit: Transit::default(),
    }
}

impl Setup {
    async fn call(
        &self,
        op: Operation,
        path: &str,
        body: Value,
    ) -> Result<Map<String, Value>, LogicalError> {
        let Value::Object(data) = body else {
            panic!("not an object")
        };
        let response = self
            .transit
            .handle(&self.ctx, Request::new(op, path).with_data(data))
            .await?;
        Ok(response.data.unwrap_or_default())
    }

    async fn write(&self, path: &str, body: Value) -> Map<String, Value> {
        self.call(Operation::Update, path, body)
            .await
            .unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    /// A backupable key `name` with `versions` versions.
    async fn key(&self, name: &str, versions: u32) {
        self.write(
            &format!("keys/{name}"),
            json!({"exportable": true, "allow_plaintext_backup": true}),
        )
        .await;
        for _ in 1..versions {
            self.transit.rotate_key(&self.ctx, name).await.unwrap();
        }
    }

    async fn encrypt(&self, name: &str) -> String {
        self.write(&format!("encrypt/{name}"), json!({"plaintext": "c2VjcmV0"}))
            .await["ciphertext"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    async fn decrypts(&self, name: &str, ciphertext: &str) -> bool {
        match self
            .call(
                Operation::Update,
                &format!("decrypt/{name}"),
                json!({"ciphertext": ciphertext}),
            )
            .await
        {
            Ok(data) => data["plaintext"] == "c2VjcmV0",
            Err(_) => false,
        }
    }

    async fn backup(&self, name: &str) -> String {
        self.call(Operation::Read, &format!("backup/{name}"), json!({}))
            .await
            .unwrap()["backup"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    async fn latest(&self, name: &str) -> u64 {
        self.call(Operation::Read, &format!("keys/{name}"), json!({}))
            .await
            .unwrap()["latest_version"]
            .as_u64()
            .unwrap()
    }

    /// Every stored key below `prefix`, walking the tree.
    async fn keys_below(&self, prefix: &str) -> Vec<String> {
        let mut out = Vec::new();
        let mut folders = vec![prefix.to_owned()];
        while let Some(folder) = folders.pop() {
            for child in self.storage.list(&folder).await.unwrap() {
                if child.ends_with('/') {
                    folders.push(format!("{folder}{child}"));
                } else {
                    out.push(format!("{folder}{child}"));
                }
            }
        }
        out
    }
}

/// A backup large enough that restoring it takes several transactions (300 versions).
async fn big_backup(s: &Setup) -> String {
    s.key("source", 300).await;
    s.backup("source").await
}

#[tokio::test]
async fn a_crash_during_a_forced_restore_leaves_the_old_key_whole() {
    let s = setup();
    let backup = big_backup(&s).await;
    s.key("k", 3).await;
    let ciphertext = s.encrypt("k").await;
    let before = s.keys_below("transit/").await.len();
    for crash_at in 1..=3 {
        s.storage.arm(Fault::Crash, crash_at);
        let result = s
            .call(
                Operation::Update,
                "restore/k",
                json!({"backup": backup, "force": true}),
            )
            .await;
        s.storage.disarm();
        assert!(result.is_err(), "crash at {crash_at}");
        // The old key still answers, with its own versions.
        assert_eq!(s.latest("k").await, 3, "crash at {crash_at}");
        assert!(s.decrypts("k", &ciphertext).await, "crash at {crash_at}");
    }
    // The crashed attempts left at most unreferenced staged material behind; a clean restore
    // then switches over and removes the old key's material.
    s.write("restore/k", json!({"backup": backup, "force": true}))
        .await;
    assert_eq!(s.latest("k").await, 300);
    assert!(
        !s.decrypts("k", &ciphertext).await,
        "the old key's ciphertext"
    );
    assert!(s.keys_below("transit/").await.len() >= before);
}

#[tokio::test]
async fn a_change_during_a_restore_is_not_overwritten() {
    let s = setup();
    let backup = big_backup(&s).await;
    s.key("k", 1).await;
    // The key's settings change after the first staged batch (a concurrent tune or rotation).
    s.storage.arm(Fault::ChangeKey, 1);
    let err = s
        .call(
            Operation::Update,
            "restore/k",
            json!({"backup": backup, "force": true}),
        )
        .await
        .unwrap_err();
    s.storage.disarm();
    assert!(
        err.to_string().contains("changed during the restore"),
        "{err}"
    );
    let key = s.call(Operation::Read, "keys/k", json!({})).await.unwrap();
    assert_eq!(key["latest_version"], 1);
    assert_eq!(
        key["auto_rotate_period"], 7200,
        "the concurrent change was lost"
    );
    // Nothing staged is left: only the two keys' settings and material remain.
    let material: Vec<String> = s
        .keys_below("transit/material/")
        .await
        .into_iter()
        .filter(|k| k.contains("/v/"))
        .collect();
    assert_eq!(
        material.len(),
        300 + 1,
        "{} staged entries left",
        material.len()
    );
}

#[tokio::test]
async fn an_upsert_during_a_restore_wins_and_the_restore_says_so() {
    let s = setup();
    let backup = big_backup(&s).await;
    // The name is free when the restore starts; an upsert creates it meanwhile: the restore
    // (not forced) must not replace it.
    s.storage.arm(Fault::Crash, usize::MAX);
    let setup = &s;
    let restore = async move {
        setup
            .call(Operation::Update, "restore/k", json!({"backup": backup}))
            .await
    };
    let upsert = async {
        tokio::task::yield_now().await;
        s.encrypt("k").await
    };
    let (restored, ciphertext) = tokio::join!(restore, upsert);
    s.storage.disarm();
    match restored {
        // The restore switched first: the upsert then encrypted with the restored key.
        Ok(_) => assert_eq!(s.latest("k").await, 300),
        Err(err) => {
            assert!(err.to_string().contains("key already exists"), "{err}");
            assert_eq!(s.latest("k").await, 1);
        }
    }
    assert!(s.decrypts("k", &ciphertext).await);
}

#[tokio::test]
async fn keys_in_the_earlier_layout_keep_working_and_are_replaced_cleanly() {
    let s = setup();
    s.key("k", 2).await;
    let ciphertext = s.encrypt("k").await;
    // Move the key to the layout before material lived under the id.
    let raw = s.storage.get("transit/keys/k").await.unwrap().unwrap();
    let mut config: Value = serde_json::from_slice(&raw).unwrap();
    let id = config["id"].as_str().unwrap().to_owned();
    config.as_object_mut().unwrap().remove("layout");
    let mut ops = vec![Op::put(
        "transit/keys/k",
        serde_json::to_vec(&config).unwrap(),
    )];
    for entry in s.keys_below(&format!("transit/material/{id}/")).await {
        let rest = entry
            .strip_prefix(&format!("transit/material/{id}/"))
            .unwrap();
        ops.push(Op::put(
            format!("transit/keys/k/{rest}"),
            s.storage.get(&entry).await.unwrap().unwrap(),
        ));
        ops.push(Op::delete(entry));
    }
    s.storage.transaction(ops).await.unwrap();

    // A fresh engine (no cached versions) reads, decrypts and rotates it where it lies.
    let s = Setup {
        transit: Transit::default(),
        ..s
    };
    assert!(s.decrypts("k", &ciphertext).await);
    s.transit.rotate_key(&s.ctx, "k").await.unwrap();
    assert_eq!(s.latest("k").await, 3);
    assert!(s.storage.get("transit/keys/k/v/3").await.unwrap().is_some());
    let newer = s.encrypt("k").await;
    assert!(newer.starts_with("vault:v3:"), "{newer}");

    // Restoring over it switches to the staged layout and removes the old material.
    let backup = s.backup("k").await;
    s.write("restore/k", json!({"backup": backup, "force": true}))
        .await;
    assert!(s.decrypts("k", &ciphertext).await);
    assert!(s.decrypts("k", &newer).await);
    assert!(s.keys_below("transit/keys/k/").await.is_empty());
    assert_eq!(
        s.storage.list("transit/keys/").await.unwrap(),
        ["k"],
        "only the settings stay under keys/"
    );
}

/// One embedded call cannot ask for unbounded work: a batch over the cap is refused whole,
/// before any item is processed.
#[tokio::test]
async fn batches_are_bounded() {
    let s = setup();
    s.key("k", 1).await;
    let item = json!({"plaintext": "c2VjcmV0"});
    let over = vec![item.clone(); strongroom_transit::MAX_BATCH_ITEMS + 1];
    let err = s
        .call(Operation::Update, "encrypt/k", json!({"batch_input": over}))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("at most 10000"), "{err}");
    let at = vec![item; strongroom_transit::MAX_BATCH_ITEMS];
    let done = s.write("encrypt/k", json!({"batch_input": at})).await;
    assert_eq!(
        done["batch_results"].as_array().unwrap().len(),
        strongroom_transit::MAX_BATCH_ITEMS
    );
}
