//! Rekeying the unseal shares through the vault: new count and threshold, verification before
//! the new shares take effect, and full rotation (key-encryption key and barrier root key).
//!
//! Then crash safety: init, every kind of rekey and the barrier's keyring rotation, each run
//! over a storage that fails from its Nth write on (for every N up to the writes the operation
//! needs), then "crashed" and reopened: the old or the new shares must open the vault, never
//! neither, and what was written before must still read back.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code"
)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use serde_json::{Value, json};
use strongroom_barrier::{Barrier, KEYRING_PATH, RootKey};
use strongroom_core::{InitRequest, ManualClock, RekeyConfig, RekeyUpdate, Vault};
use strongroom_rotation::Schedule;
use strongroom_seal::{Share, ShareDigests, StaticKeySeal};
use strongroom_storage::{MemoryStorage, Op, Storage, StorageError};

async fn unsealed() -> (Vault, String, Vec<String>) {
    let vault = Vault::builder(MemoryStorage::new()).build().unwrap();
    let init = vault.init(InitRequest::new(5, 3)).await.unwrap();
    let keys: Vec<String> = init
        .keys
        .iter()
        .map(|k| k.expose_secret().to_owned())
        .collect();
    for key in &keys[..3] {
        vault.unseal(key).await.unwrap();
    }
    let root = init.root_token.expose_secret().to_owned();
    vault
        .write(&root, "sys/mounts/kv", json!({"type": "kv"}))
        .await
        .unwrap();
    vault
        .write(&root, "kv/x", json!({"v": "kept"}))
        .await
        .unwrap();
    (vault, root, keys)
}

async fn unseal_with(vault: &Vault, keys: &[String]) -> bool {
    vault.seal().await;
    for key in keys {
        if vault.unseal(key).await.is_err() {
            vault.unseal_reset();
            return false;
        }
    }
    !vault.seal_status().await.unwrap().sealed
}

fn issued(update: RekeyUpdate) -> (Vec<String>, Option<String>) {
    match update {
        RekeyUpdate::Issued {
            keys,
            verification_nonce,
            ..
        } => (
            keys.iter().map(|k| k.expose_secret().to_owned()).collect(),
            verification_nonce,
        ),
        other => panic!("expected new shares, got {other:?}"),
    }
}

#[tokio::test]
async fn rekey_to_a_new_split() {
    let (vault, root, old) = unsealed().await;
    let status = vault.rekey_init(RekeyConfig::new(3, 2)).await.unwrap();
    assert_eq!((status.required, status.n, status.t), (3, 3, 2));
    assert!(
        vault.rekey_init(RekeyConfig::new(3, 2)).await.is_err(),
        "one at a time"
    );
    assert!(vault.rekey_update(&old[0], "wrong-nonce").await.is_err());
    vault.rekey_update(&old[0], &status.nonce).await.unwrap();
    vault.rekey_update(&old[3], &status.nonce).await.unwrap();
    let (new, verification) = issued(vault.rekey_update(&old[4], &status.nonce).await.unwrap());
    assert_eq!(new.len(), 3);
    assert!(verification.is_none());
    assert!(vault.rekey_status().is_none());

    assert!(
        !unseal_with(&vault, &old[..3]).await,
        "old shares no longer unseal"
    );
    assert!(unseal_with(&vault, &new[1..3]).await);
    assert_eq!(vault.seal_status().await.unwrap().t, 2);
    assert_eq!(
        vault.read(&root, "kv/x").await.unwrap().data.unwrap()["v"],
        "kept"
    );
}

#[tokio::test]
async fn new_shares_take_effect_only_after_verification() {
    let (vault, root, old) = unsealed().await;
    let config = RekeyConfig::new(2, 2).require_verification(true);
    let status = vault.rekey_init(config).await.unwrap();
    vault.rekey_update(&old[1], &status.nonce).await.unwrap();
    vault.rekey_update(&old[2], &status.nonce).await.unwrap();
    let (new, verification) = issued(vault.rekey_update(&old[3], &status.nonce).await.unwrap());
    let verification = verification.unwrap();
    assert!(vault.rekey_status().unwrap().verifying);
    // Not verified yet: the old split is still the one in force.
    let status = vault.seal_status().await.unwrap();
    assert_eq!((status.n, status.t), (5, 3));
    vault.rekey_verify(&new[0], &verification).await.unwrap();
    let done = vault.rekey_verify(&new[1], &verification).await.unwrap();
    assert!(matches!(done, RekeyUpdate::Complete));
    let status = vault.seal_status().await.unwrap();
    assert_eq!((status.n, status.t), (2, 2));
    assert!(!unseal_with(&vault, &old[..3]).await);
    assert!(unseal_with(&vault, &new).await);
    assert_eq!(
        vault.read(&root, "kv/x").await.unwrap().data.unwrap()["v"],
        "kept"
    );
}

#[tokio::test]
async fn rotation_replaces_the_keys_and_keeps_the_data() {
    let (vault, root, old) = unsealed().await;
    let status = vault
        .rekey_init(RekeyConfig::new(1, 1).rotate(true))
        .await
        .unwrap();
    for key in &old[..2] {
        vault.rekey_update(key, &status.nonce).await.unwrap();
    }
    let (new, _) = issued(vault.rekey_update(&old[2], &status.nonce).await.unwrap());
    assert_eq!(new.len(), 1);
    assert!(unseal_with(&vault, &new).await);
    assert_eq!(
        vault.read(&root, "kv/x").await.unwrap().data.unwrap()["v"],
        "kept"
    );
    // Cancelling a rekey leaves everything as it was. (With a threshold of 1, one share would
    // already complete it, so cancel before any.)
    vault.rekey_init(RekeyConfig::new(3, 2)).await.unwrap();
    vault.rekey_cancel();
    assert!(vault.rekey_status().is_none());
    assert!(unseal_with(&vault, &new).await);
}

#[tokio::test]
async fn break_glass_root_generation() {
    let (vault, _root, keys) = unsealed().await;
    let outsider = Vault::builder(MemoryStorage::new()).build().unwrap();
    let other = outsider.init(InitRequest::new(1, 1)).await.unwrap();
    // Starting needs no share (who may start is the API's ACL decision); one attempt at a time.
    assert!(vault.generate_root_status().is_none());
    let started = vault.generate_root_init().await.unwrap();
    assert_eq!(started.progress.have, 0);
    assert!(
        vault.generate_root_init().await.is_err(),
        "one attempt at a time"
    );
    vault.generate_root_cancel();
    assert!(vault.generate_root_status().is_none());
    let started = vault.generate_root_init().await.unwrap();
    let nonce = started.progress.nonce.clone();
    // A share of another vault is refused and not counted.
    assert!(
        vault
            .generate_root_update(other.keys[0].expose_secret(), &nonce)
            .await
            .is_err()
    );
    assert_eq!(vault.generate_root_status().unwrap().have, 0);
    for key in &keys[..2] {
        let step = vault.generate_root_update(key, &nonce).await.unwrap();
        assert!(matches!(
            step,
            strongroom_core::GenerateRootUpdate::Pending(_)
        ));
    }
    let strongroom_core::GenerateRootUpdate::Complete { encoded_token } =
        vault.generate_root_update(&keys[4], &nonce).await.unwrap()
    else {
        panic!("expected the encoded token");
    };
    let token =
        strongroom_seal::decode_with_otp(&encoded_token, started.otp.expose_secret()).unwrap();
    let me = vault
        .read(token.expose_secret(), "auth/token/lookup-self")
        .await
        .unwrap()
        .data
        .unwrap();
    assert_eq!(me["policies"], json!(["root"]));
    assert!(vault.generate_root_status().is_none());
}

// ---------------------------------------------------------------------------------------------
// Every rekey replaces the secret the shares reconstruct.

const SEAL_CONFIG: &str = "core/seal-config";

fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn strings(keys: &[strongroom_seal::SecretString]) -> Vec<String> {
    keys.iter().map(|k| k.expose_secret().to_owned()).collect()
}

/// A copy of everything `storage` holds (a backup, or an attacker's snapshot).
async fn snapshot(storage: &dyn Storage) -> MemoryStorage {
    let copy = MemoryStorage::new();
    for key in keys_of(storage).await {
        copy.put(&key, storage.get(&key).await.unwrap().unwrap())
            .await
            .unwrap();
    }
    copy
}

async fn keys_of(storage: &dyn Storage) -> Vec<String> {
    let mut keys = Vec::new();
    let mut folders = vec![String::new()];
    while let Some(folder) = folders.pop() {
        for child in storage.list(&folder).await.unwrap() {
            if child.ends_with('/') {
                folders.push(format!("{folder}{child}"));
            } else {
                keys.push(format!("{folder}{child}"));
            }
        }
    }
    keys
}

async fn seal_config_of(storage: &dyn Storage) -> Value {
    serde_json::from_slice(&storage.get(SEAL_CONFIG).await.unwrap().unwrap()).unwrap()
}

/// What someone holding a storage copy does to make old shares acceptable: the share digests
/// and the threshold are not protections, so they are put back to the old shares' own.
async fn accept_shares(storage: &MemoryStorage, shares: &[String], threshold: usize) {
    let mut config = seal_config_of(storage).await;
    config["secret_threshold"] = json!(threshold);
    let parsed: Vec<Share> = shares
        .iter()
        .map(|s| Share::parse(s, 32).unwrap())
        .collect();
    config["digests"] = json!(to_hex(&ShareDigests::compute(&parsed).unwrap().to_bytes()));
    storage
        .put(SEAL_CONFIG, serde_json::to_vec(&config).unwrap())
        .await
        .unwrap();
}

/// The bug: a rekey without `rotate` used to split the *same* key-encryption key again, so a
/// threshold of the old shares, together with any copy of the storage taken after the rekey,
/// still opened the root key. Vault generates a new key on every rekey; so do we now.
#[tokio::test]
async fn old_shares_open_nothing_after_an_ordinary_rekey() {
    let storage = Arc::new(MemoryStorage::new());
    let vault = Vault::builder(Arc::clone(&storage))
        .background_expiry(false)
        .build()
        .unwrap();
    let init = vault.init(InitRequest::new(5, 3)).await.unwrap();
    let old = strings(&init.keys);
    let root = init.root_token.expose_secret().to_owned();
    for key in &old[..3] {
        vault.unseal(key).await.unwrap();
    }
    vault
        .write(&root, "sys/mounts/kv", json!({"type": "kv"}))
        .await
        .unwrap();
    vault
        .write(&root, "kv/x", json!({"v": "kept"}))
        .await
        .unwrap();
    let status = vault.rekey_init(RekeyConfig::new(3, 2)).await.unwrap();
    let mut last = None;
    for key in &old[..3] {
        last = Some(vault.rekey_update(key, &status.nonce).await.unwrap());
    }
    let (new, _) = issued(last.unwrap());

    // The attacker's copy, taken after the rekey, with the old shares' digests put back.
    let copy = Arc::new(snapshot(storage.as_ref()).await);
    accept_shares(&copy, &old[..3], 3).await;
    let stolen = Vault::builder(Arc::clone(&copy))
        .background_expiry(false)
        .build()
        .unwrap();
    for key in &old[..3] {
        let _ = stolen.unseal(key).await;
    }
    assert!(
        stolen.seal_status().await.unwrap().sealed,
        "the old shares still reconstruct the key that wraps the root key"
    );
    // The new shares open an untouched copy.
    let copy = snapshot(storage.as_ref()).await;
    let restored = Vault::builder(copy)
        .background_expiry(false)
        .build()
        .unwrap();
    for key in &new[..2] {
        restored.unseal(key).await.unwrap();
    }
    assert_eq!(
        restored.read(&root, "kv/x").await.unwrap().data.unwrap()["v"],
        "kept"
    );
}

/// Under auto-unseal the same holds for the recovery key: every rekey splits a new one, and the
/// old recovery shares authorise nothing, not even on a storage copy with their digests put
/// back.
#[tokio::test]
async fn every_rekey_replaces_the_recovery_key() {
    let storage = Arc::new(MemoryStorage::new());
    let vault = Vault::builder(Arc::clone(&storage))
        .seal(static_seal())
        .background_expiry(false)
        .build()
        .unwrap();
    let init = vault.init(InitRequest::new(3, 2)).await.unwrap();
    let mut current = strings(&init.keys);
    let mut checks = vec![seal_config_of(storage.as_ref()).await["recovery_check"].clone()];
    for _ in 0..2 {
        let status = vault.rekey_init(RekeyConfig::new(3, 2)).await.unwrap();
        vault
            .rekey_update(&current[0], &status.nonce)
            .await
            .unwrap();
        let (new, _) = issued(
            vault
                .rekey_update(&current[1], &status.nonce)
                .await
                .unwrap(),
        );
        checks.push(seal_config_of(storage.as_ref()).await["recovery_check"].clone());

        // The old shares do not authorise a rekey, even with their digests put back.
        let copy = Arc::new(snapshot(storage.as_ref()).await);
        accept_shares(&copy, &current, 2).await;
        let stolen = Vault::builder(Arc::clone(&copy))
            .seal(static_seal())
            .background_expiry(false)
            .build()
            .unwrap();
        stolen.auto_unseal().await.unwrap();
        let status = stolen.rekey_init(RekeyConfig::new(1, 1)).await.unwrap();
        stolen
            .rekey_update(&current[0], &status.nonce)
            .await
            .unwrap();
        assert!(
            stolen
                .rekey_update(&current[1], &status.nonce)
                .await
                .is_err(),
            "the old recovery shares still reconstruct the recovery key"
        );
        current = new;
    }
    assert_ne!(checks[0], checks[1]);
    assert_ne!(checks[1], checks[2]);
    assert_ne!(checks[0], checks[2]);
    // The latest shares do authorise one.
    let status = vault.rekey_init(RekeyConfig::new(1, 1)).await.unwrap();
    vault
        .rekey_update(&current[0], &status.nonce)
        .await
        .unwrap();
    issued(
        vault
            .rekey_update(&current[1], &status.nonce)
            .await
            .unwrap(),
    );
}

/// Two rekeys cannot both win: the second to finish finds the seal configuration changed and
/// writes nothing (its shares would otherwise silently replace the first one's).
#[tokio::test]
async fn a_rekey_does_not_overwrite_a_configuration_it_did_not_start_from() {
    let storage = Arc::new(MemoryStorage::new());
    let a = Vault::builder(Arc::clone(&storage))
        .background_expiry(false)
        .build()
        .unwrap();
    let init = a.init(InitRequest::new(3, 2)).await.unwrap();
    let old = strings(&init.keys);
    for key in &old[..2] {
        a.unseal(key).await.unwrap();
    }
    // A second node over the same storage.
    let b = Vault::builder(Arc::clone(&storage))
        .background_expiry(false)
        .build()
        .unwrap();
    for key in &old[..2] {
        b.unseal(key).await.unwrap();
    }
    let sa = a.rekey_init(RekeyConfig::new(2, 2)).await.unwrap();
    let sb = b.rekey_init(RekeyConfig::new(2, 2)).await.unwrap();
    a.rekey_update(&old[0], &sa.nonce).await.unwrap();
    b.rekey_update(&old[0], &sb.nonce).await.unwrap();
    let (new_a, _) = issued(a.rekey_update(&old[1], &sa.nonce).await.unwrap());
    let after_a = storage.get(SEAL_CONFIG).await.unwrap();
    assert!(b.rekey_update(&old[1], &sb.nonce).await.is_err());
    assert_eq!(storage.get(SEAL_CONFIG).await.unwrap(), after_a);
    assert!(unseal_with(&a, &new_a).await);
}

// ---------------------------------------------------------------------------------------------
// Crash safety.

fn static_seal() -> Arc<StaticKeySeal> {
    Arc::new(StaticKeySeal::from_bytes(&[7; 32]).unwrap())
}

/// How an armed [`Flaky`] fails.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fault {
    /// From the armed write on, every write fails without being applied: the process died just
    /// before it reached the disk.
    Crash,
    /// The armed write is applied but reported as failed (its acknowledgement was lost, as when
    /// a connection drops during a commit); the writes after it succeed.
    LostAck,
}

/// A storage over a shared [`MemoryStorage`] whose writes (put, delete, transaction) fail from
/// the Nth one after [`arm`](Flaky::arm) on. Reads always succeed.
#[derive(Debug)]
struct Flaky {
    inner: Arc<MemoryStorage>,
    fault: Fault,
    writes: AtomicUsize,
    armed_at: AtomicUsize,
    injected: AtomicUsize,
}

/// What one write does.
enum Fate {
    Apply,
    Fail,
    ApplyThenFail,
}

impl Flaky {
    fn new(inner: Arc<MemoryStorage>, fault: Fault) -> Arc<Self> {
        Arc::new(Self {
            inner,
            fault,
            writes: AtomicUsize::new(0),
            armed_at: AtomicUsize::new(usize::MAX),
            injected: AtomicUsize::new(0),
        })
    }

    /// Writes fail from the `n`th one from now on (0: the very next one).
    fn arm(&self, n: usize) {
        self.writes.store(0, Ordering::SeqCst);
        self.injected.store(0, Ordering::SeqCst);
        self.armed_at.store(n, Ordering::SeqCst);
    }

    fn injected(&self) -> usize {
        self.injected.load(Ordering::SeqCst)
    }

    fn fate(&self) -> Fate {
        let n = self.writes.fetch_add(1, Ordering::SeqCst);
        let at = self.armed_at.load(Ordering::SeqCst);
        let fate = match self.fault {
            Fault::Crash if n >= at => Fate::Fail,
            Fault::LostAck if n == at => Fate::ApplyThenFail,
            _ => Fate::Apply,
        };
        if !matches!(fate, Fate::Apply) {
            self.injected.fetch_add(1, Ordering::SeqCst);
        }
        fate
    }

    async fn write(
        &self,
        apply: impl std::future::Future<Output = strongroom_storage::Result<()>>,
    ) -> strongroom_storage::Result<()> {
        let injected = || StorageError::Backend {
            backend: "flaky",
            source: "injected write failure".into(),
        };
        match self.fate() {
            Fate::Apply => apply.await,
            Fate::Fail => Err(injected()),
            Fate::ApplyThenFail => {
                apply.await?;
                Err(injected())
            }
        }
    }
}

#[async_trait]
impl Storage for Flaky {
    async fn get(&self, key: &str) -> strongroom_storage::Result<Option<Vec<u8>>> {
        self.inner.get(key).await
    }

    async fn put(&self, key: &str, value: Vec<u8>) -> strongroom_storage::Result<()> {
        self.write(self.inner.put(key, value)).await
    }

    async fn delete(&self, key: &str) -> strongroom_storage::Result<()> {
        self.write(self.inner.delete(key)).await
    }

    async fn list(&self, prefix: &str) -> strongroom_storage::Result<Vec<String>> {
        self.inner.list(prefix).await
    }

    async fn transaction(&self, ops: Vec<Op>) -> strongroom_storage::Result<()> {
        self.write(self.inner.transaction(ops)).await
    }
}

fn build(storage: Arc<dyn Storage>, auto: bool) -> Vault {
    let builder = Vault::builder(storage).background_expiry(false);
    if auto {
        builder.seal(static_seal()).build().unwrap()
    } else {
        builder.build().unwrap()
    }
}

/// A fresh vault over `storage` (a process started after the crash), unsealed with `keys`
/// (Shamir) or by its seal (auto-unseal), if they open it.
async fn reopen(storage: &Arc<MemoryStorage>, auto: bool, keys: &[String]) -> Option<Vault> {
    let vault = build(storage.clone(), auto);
    assert!(vault.is_initialized().await.unwrap());
    if auto {
        vault.auto_unseal().await.unwrap();
    } else {
        for key in keys {
            if vault.unseal(key).await.is_err() {
                return None;
            }
        }
    }
    (!vault.seal_status().await.unwrap().sealed).then_some(vault)
}

/// Whether `keys` are the quorum shares in force: they unseal (Shamir), or a quorum of them
/// authorises a root generation (auto-unseal).
async fn in_force(storage: &Arc<MemoryStorage>, auto: bool, keys: &[String]) -> bool {
    let Some(vault) = reopen(storage, auto, keys).await else {
        return false;
    };
    if !auto {
        return true;
    }
    let Ok(started) = vault.generate_root_init().await else {
        return false;
    };
    for key in keys {
        match vault
            .generate_root_update(key, &started.progress.nonce)
            .await
        {
            Ok(strongroom_core::GenerateRootUpdate::Complete { .. }) => return true,
            Ok(_) => {}
            Err(_) => return false,
        }
    }
    false
}

async fn read_v(vault: &Vault, root: &str, path: &str) -> Value {
    vault.read(root, path).await.unwrap().data.unwrap()["v"].clone()
}

/// A vault over a [`Flaky`] storage, initialised with 5 shares (threshold 3), unsealed, KV v1 at
/// `kv/` holding `kv/x`; nothing armed yet.
struct Fixture {
    inner: Arc<MemoryStorage>,
    flaky: Arc<Flaky>,
    vault: Vault,
    root: String,
    old: Vec<String>,
    auto: bool,
}

async fn fixture(fault: Fault, auto: bool, clock: Option<Arc<ManualClock>>) -> Fixture {
    let inner = Arc::new(MemoryStorage::new());
    let flaky = Flaky::new(Arc::clone(&inner), fault);
    let mut builder = Vault::builder(Arc::clone(&flaky)).background_expiry(false);
    if auto {
        builder = builder.seal(static_seal());
    }
    if let Some(clock) = clock {
        builder = builder
            .clock(clock)
            .barrier_rotation(Schedule::every(Duration::from_secs(30 * 86_400)).unwrap());
    }
    let vault = builder.build().unwrap();
    let init = vault.init(InitRequest::new(5, 3)).await.unwrap();
    let old = strings(&init.keys);
    if !auto {
        for key in &old[..3] {
            vault.unseal(key).await.unwrap();
        }
    }
    let root = init.root_token.expose_secret().to_owned();
    vault
        .write(&root, "sys/mounts/kv", json!({"type": "kv"}))
        .await
        .unwrap();
    vault
        .write(&root, "kv/x", json!({"v": "kept"}))
        .await
        .unwrap();
    Fixture {
        inner,
        flaky,
        vault,
        root,
        old,
        auto,
    }
}

/// Runs a whole rekey; `issued` receives the new shares as soon as they are handed out.
async fn run_rekey(
    vault: &Vault,
    old: &[String],
    config: RekeyConfig,
    issued: &mut Option<Vec<String>>,
) -> strongroom_core::Result<()> {
    let status = vault.rekey_init(config).await?;
    let mut last = None;
    for key in &old[..3] {
        last = Some(vault.rekey_update(key, &status.nonce).await?);
    }
    match last {
        Some(RekeyUpdate::Issued {
            keys,
            verification_nonce,
            ..
        }) => {
            let keys = strings(&keys);
            *issued = Some(keys.clone());
            if let Some(nonce) = verification_nonce {
                let mut done = None;
                for key in &keys[..config.threshold] {
                    done = Some(vault.rekey_verify(key, &nonce).await?);
                }
                assert!(matches!(done, Some(RekeyUpdate::Complete)), "{done:?}");
            }
            Ok(())
        }
        other => panic!("expected new shares, got {other:?}"),
    }
}

/// Runs `attempt(n)` for n = 0, 1, ... until an attempt meets no injected failure; returns how
/// many attempts met one (the writes the operation needs).
async fn sweep<F, Fut>(name: &str, fault: Fault, mut attempt: F) -> usize
where
    F: FnMut(usize) -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for n in 0..200 {
        if attempt(n).await {
            println!("{name} ({fault:?}): {n} injected failure points");
            return n;
        }
    }
    panic!("{name} ({fault:?}): still failing after 200 writes");
}

/// A rekey, crashed at its nth write: afterwards the old or the new shares are in force (the
/// new ones if the rekey reported success; the old ones if a crash stopped it), and `kv/x`
/// reads back.
async fn rekey_attempt(fault: Fault, auto: bool, config: RekeyConfig, n: usize) -> bool {
    let f = fixture(fault, auto, None).await;
    f.flaky.arm(n);
    let mut issued = None;
    let result = run_rekey(&f.vault, &f.old, config, &mut issued).await;
    let clean = result.is_ok() && f.flaky.injected() == 0;
    drop(f.vault); // the crash

    let old_in_force = in_force(&f.inner, f.auto, &f.old[..3]).await;
    let new_in_force = match &issued {
        Some(new) => in_force(&f.inner, f.auto, &new[..config.threshold]).await,
        None => false,
    };
    let at = format!("{config:?}, auto {auto}, {fault:?} at write {n}, result {result:?}");
    assert!(
        old_in_force || new_in_force,
        "neither the old nor the new shares: {at}"
    );
    assert!(
        !(old_in_force && new_in_force),
        "old and new shares both: {at}"
    );
    if result.is_ok() {
        assert!(new_in_force, "the rekey reported success: {at}");
    } else if fault == Fault::Crash {
        assert!(old_in_force, "nothing was written: {at}");
    }
    let keys = if new_in_force {
        issued.unwrap()[..config.threshold].to_vec()
    } else {
        f.old[..3].to_vec()
    };
    let vault = reopen(&f.inner, f.auto, &keys).await.unwrap();
    assert_eq!(read_v(&vault, &f.root, "kv/x").await, "kept", "{at}");
    clean
}

fn rekey_configs() -> Vec<RekeyConfig> {
    vec![
        RekeyConfig::new(3, 2),
        RekeyConfig::new(3, 2).rotate(true),
        RekeyConfig::new(3, 2).require_verification(true),
        RekeyConfig::new(3, 2)
            .rotate(true)
            .require_verification(true),
    ]
}

/// The bug: a rekey with rotation re-wrapped the keyring under the new root key, then wrote the
/// seal configuration separately. A crash in between left a keyring that no share opened.
/// Now both commit in one transaction, and a rekey without rotation writes its configuration by
/// compare-and-swap.
#[tokio::test]
async fn a_rekey_crashed_at_any_write_leaves_old_or_new_shares() {
    for fault in [Fault::Crash, Fault::LostAck] {
        for auto in [false, true] {
            for config in rekey_configs() {
                let name = format!("rekey {config:?} auto {auto}");
                sweep(&name, fault, |n| rekey_attempt(fault, auto, config, n)).await;
            }
        }
    }
}

/// An init, crashed at its nth write: either nothing was written (and init runs again), or the
/// vault is initialised and the shares and root token init returned open and work.
async fn init_attempt(fault: Fault, auto: bool, n: usize) -> bool {
    let inner = Arc::new(MemoryStorage::new());
    let flaky = Flaky::new(Arc::clone(&inner), fault);
    let vault = build(flaky.clone(), auto);
    flaky.arm(n);
    let result = vault.init(InitRequest::new(3, 2)).await;
    let clean = result.is_ok() && flaky.injected() == 0;
    drop(vault); // the crash

    let at = format!("init, auto {auto}, {fault:?} at write {n}");
    let fresh = build(inner.clone(), auto);
    let init = if fresh.is_initialized().await.unwrap() {
        result.unwrap_or_else(|e| panic!("initialised, but nobody got the shares ({e}): {at}"))
    } else {
        assert!(result.is_err(), "{at}");
        assert!(
            keys_of(inner.as_ref()).await.is_empty(),
            "a failed init left something behind: {at}"
        );
        fresh.init(InitRequest::new(3, 2)).await.unwrap()
    };
    let keys = strings(&init.keys);
    let vault = reopen(&inner, auto, &keys[..2]).await.expect(&at);
    assert!(in_force(&inner, auto, &keys[..2]).await, "{at}");
    let root = init.root_token.expose_secret();
    vault
        .write(root, "sys/mounts/kv", json!({"type": "kv"}))
        .await
        .unwrap();
    vault.write(root, "kv/x", json!({"v": 1})).await.unwrap();
    assert_eq!(read_v(&vault, root, "kv/x").await, 1, "{at}");
    clean
}

/// The bug: init wrote the keyring, then the token salt, the default policy and the root token,
/// and the seal configuration last. A crash before the last write left a keyring without a
/// seal configuration, and every later init refused (already initialised): the vault was
/// bricked. Now the whole initial state is one transaction.
#[tokio::test]
async fn an_init_crashed_at_any_write_leaves_nothing_or_a_working_vault() {
    for fault in [Fault::Crash, Fault::LostAck] {
        for auto in [false, true] {
            sweep(&format!("init auto {auto}"), fault, |n| {
                init_attempt(fault, auto, n)
            })
            .await;
        }
    }
}

/// What an init interrupted before it was atomic left behind (a keyring and a few values under
/// it, no seal configuration): nobody holds a share for it, so init replaces all of it.
#[tokio::test]
async fn init_replaces_the_remains_of_an_interrupted_init() {
    let storage = Arc::new(MemoryStorage::new());
    let barrier = Barrier::new(Arc::clone(&storage));
    let lost = RootKey::generate().unwrap();
    barrier.initialize(&lost).await.unwrap();
    barrier.unseal(&lost).await.unwrap();
    barrier
        .put("sys/token/salt", b"old salt".to_vec())
        .await
        .unwrap();
    barrier
        .put("sys/token/id/orphan", b"old root token".to_vec())
        .await
        .unwrap();
    let vault = Vault::builder(Arc::clone(&storage))
        .background_expiry(false)
        .build()
        .unwrap();
    assert!(!vault.is_initialized().await.unwrap());
    let init = vault.init(InitRequest::new(1, 1)).await.unwrap();
    assert!(storage.get("sys/token/id/orphan").await.unwrap().is_none());
    assert!(
        vault
            .init(InitRequest::new(1, 1))
            .await
            .is_err_and(|e| matches!(e, strongroom_core::VaultError::AlreadyInitialized))
    );
    vault.unseal(init.keys[0].expose_secret()).await.unwrap();
    let root = init.root_token.expose_secret();
    vault
        .write(root, "sys/mounts/kv", json!({"type": "kv"}))
        .await
        .unwrap();
    vault.write(root, "kv/x", json!({"v": 1})).await.unwrap();
    assert_eq!(read_v(&vault, root, "kv/x").await, 1);
    assert!(storage.get(KEYRING_PATH).await.unwrap().is_some());
}

/// The barrier's keyring rotation (through the vault's rotation scheduler) and its reservations
/// (the first write after an unseal persists one), crashed at any write: the shares still open
/// the vault and everything written before, or acknowledged during, reads back.
async fn rotation_attempt(fault: Fault, n: usize) -> bool {
    let clock = Arc::new(ManualClock::new(
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000),
    ));
    let f = fixture(fault, false, Some(clock.clone())).await;
    let term = f.vault.barrier_status().unwrap().term;
    clock.advance(Duration::from_secs(31 * 86_400));
    f.flaky.arm(n);
    let mut wrote = Vec::new();
    let mut rotated = false;
    let result: strongroom_core::Result<()> = async {
        f.vault.seal().await;
        for key in &f.old[..3] {
            f.vault.unseal(key).await?;
        }
        f.vault.write(&f.root, "kv/y", json!({"v": "y"})).await?;
        wrote.push("kv/y");
        let report = f.vault.run_rotations().await?;
        rotated = report.rotated == 1;
        f.vault.write(&f.root, "kv/z", json!({"v": "z"})).await?;
        wrote.push("kv/z");
        Ok(())
    }
    .await;
    let clean = result.is_ok() && rotated && f.flaky.injected() == 0;
    drop(f.vault); // the crash

    let at = format!("keyring rotation, {fault:?} at write {n}, result {result:?}");
    let vault = reopen(&f.inner, false, &f.old[..3])
        .await
        .unwrap_or_else(|| panic!("the shares no longer open the vault: {at}"));
    assert_eq!(read_v(&vault, &f.root, "kv/x").await, "kept", "{at}");
    for path in wrote {
        assert_eq!(read_v(&vault, &f.root, path).await, &path[3..], "{at}");
    }
    if clean {
        assert_eq!(vault.barrier_status().unwrap().term, term + 1, "{at}");
    }
    clean
}

#[tokio::test]
async fn a_keyring_rotation_crashed_at_any_write_loses_nothing() {
    for fault in [Fault::Crash, Fault::LostAck] {
        sweep("keyring rotation", fault, |n| rotation_attempt(fault, n)).await;
    }
}
