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

/// The segment of `path` under `vmeta/` that is not in `known`.
async fn new_segment(inner: &Arc<dyn Storage>, known: &[String]) -> String {
    let all = inner.list(&format!("{PREFIX}vmeta/")).await.unwrap();
    let fresh: Vec<_> = all.into_iter().filter(|s| !known.contains(s)).collect();
    assert_eq!(fresh.len(), 1, "{fresh:?}");
    fresh[0].trim_end_matches('/').to_owned()
}

/// Before, two paths whose FNV-1a hashes collided shared version records, whatever policies
/// separated them. Now each record names its path: a record of another path found under a path's
/// segment (what a collision would look like) is refused, never served.
#[tokio::test]
async fn a_version_record_of_another_path_is_refused() {
    let (ctx, inner) = fresh();
    let kv = KvV2::new();
    put(&kv, &ctx, "team-a/db", json!({"password": "a"})).await;
    let seg_a = new_segment(&inner, &[]).await;
    put(&kv, &ctx, "team-b/db", json!({"password": "b"})).await;
    let seg_b = new_segment(&inner, &[format!("{seg_a}/")]).await;
    assert_eq!(seg_a.len(), 64);
    assert!(readable(&get(&kv, &ctx, "team-a/db").await));

    // Only the data record swapped.
    let b_data = inner
        .get(&format!("{PREFIX}versions/{seg_b}/1"))
        .await
        .unwrap()
        .unwrap();
    inner
        .put(&format!("{PREFIX}versions/{seg_a}/1"), b_data)
        .await
        .unwrap();
    let err = call(&kv, &ctx, Operation::Read, "data/team-a/db", json!({}))
        .await
        .unwrap_err();
    assert!(matches!(err, LogicalError::Internal(_)), "{err:?}");
    assert!(!format!("{err}").contains("\"b\""));

    // The state record swapped too.
    let b_meta = inner
        .get(&format!("{PREFIX}vmeta/{seg_b}/1"))
        .await
        .unwrap()
        .unwrap();
    inner
        .put(&format!("{PREFIX}vmeta/{seg_a}/1"), b_meta)
        .await
        .unwrap();
    for (op, path) in [
        (Operation::Read, "data/team-a/db"),
        (Operation::Read, "metadata/team-a/db"),
        (Operation::Read, "subkeys/team-a/db"),
    ] {
        let err = call(&kv, &ctx, op, path, json!({})).await.unwrap_err();
        assert!(matches!(err, LogicalError::Internal(_)), "{path}: {err:?}");
    }
    let err = call(
        &kv,
        &ctx,
        Operation::Patch,
        "data/team-a/db",
        json!({"data": {"x": 1}}),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, LogicalError::Internal(_)), "{err:?}");
    // The other path is untouched.
    let read = get(&kv, &ctx, "team-b/db").await;
    assert_eq!(read.data.unwrap()["data"]["password"], "b");
}

/// Many engines (as several nodes would) write to a fresh mount at once: one path key is stored
/// and everything each of them wrote reads back through any engine.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_path_key_is_made_once_under_concurrent_first_writes() {
    let (ctx, inner) = fresh();
    call(
        &KvV2::new(),
        &ctx,
        Operation::Update,
        "config",
        json!({"max_versions": 64}),
    )
    .await
    .unwrap();
    assert!(inner.get(&format!("{PREFIX}salt")).await.unwrap().is_none());
    let engines: Vec<Arc<KvV2>> = (0..16).map(|_| Arc::new(KvV2::new())).collect();
    let mut tasks = Vec::new();
    for (i, kv) in engines.iter().enumerate() {
        let (kv, ctx) = (Arc::clone(kv), ctx.clone());
        tasks.push(tokio::spawn(async move {
            put(&kv, &ctx, &format!("own/{i}"), json!({"i": i})).await;
            put(&kv, &ctx, "shared", json!({"i": i})).await;
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let vmeta = inner.list(&format!("{PREFIX}vmeta/")).await.unwrap();
    assert_eq!(vmeta.len(), 17, "one segment per path: {vmeta:?}");
    let reader = KvV2::new();
    for (i, kv) in engines.iter().enumerate() {
        for engine in [&reader, kv.as_ref()] {
            let read = get(engine, &ctx, &format!("own/{i}")).await;
            assert_eq!(read.data.unwrap()["data"]["i"], i);
        }
    }
    for version in 1..=16 {
        let read = call(
            &reader,
            &ctx,
            Operation::Read,
            "data/shared",
            json!({"version": version}),
        )
        .await
        .unwrap();
        assert!(readable(&read), "version {version}");
    }
}

/// FNV-1a (128 bit), the segment the old layout used.
fn fnv(path: &str) -> String {
    let mut hash: u128 = 0x6c62_272e_07bb_0142_62b8_2175_6295_c58d;
    for byte in path.bytes() {
        hash ^= u128::from(byte);
        hash = hash.wrapping_mul(0x0000_0000_0100_0000_0000_0000_0000_013B);
    }
    format!("{hash:032x}")
}

fn nanos(secs: u64) -> u128 {
    u128::from(1_800_000_000 + secs) * 1_000_000_000
}

/// Records exactly as the code before the path key wrote them (no `layout`, no path, no stored
/// deletion time, FNV-1a segments).
async fn write_old_secret(inner: &Arc<dyn Storage>, path: &str, created: u128, values: &[Value]) {
    let meta = json!({
        "created": created, "updated": created, "current_version": values.len(),
        "oldest_version": 0, "max_versions": 0, "cas_required": false,
        "delete_version_after": 0, "custom_metadata": {"owner": "ops"},
        "first_kept": 1, "metadata_version": 0,
    });
    inner
        .put(
            &format!("{PREFIX}metadata/{path}"),
            serde_json::to_vec(&meta).unwrap(),
        )
        .await
        .unwrap();
    for (i, value) in values.iter().enumerate() {
        let n = i + 1;
        let state = json!({"created": created, "deleted": null, "destroyed": false});
        let seg = fnv(path);
        inner
            .put(
                &format!("{PREFIX}vmeta/{seg}/{n}"),
                serde_json::to_vec(&state).unwrap(),
            )
            .await
            .unwrap();
        inner
            .put(
                &format!("{PREFIX}versions/{seg}/{n}"),
                serde_json::to_vec(value).unwrap(),
            )
            .await
            .unwrap();
    }
}

/// A mount written before the path key keeps working: each secret moves to the keyed layout on
/// first access, its old records go, and versions the old rule had already expired stay expired.
#[tokio::test]
async fn secrets_in_the_old_layout_are_migrated() {
    let (ctx, inner) = fresh();
    let config = json!({"max_versions": 0, "cas_required": false, "delete_version_after": 60});
    inner
        .put(
            &format!("{PREFIX}config"),
            serde_json::to_vec(&config).unwrap(),
        )
        .await
        .unwrap();
    let now = 1000;
    write_old_secret(
        &inner,
        "app/db",
        nanos(now - 10),
        &[json!({"v": 1}), json!({"v": 2})],
    )
    .await;
    write_old_secret(&inner, "app/old", nanos(now - 120), &[json!({"v": "gone"})]).await;
    write_old_secret(&inner, "app/written", nanos(now - 10), &[json!({"v": 1})]).await;
    let ctx = at(&ctx, now);
    let kv = KvV2::new();

    // Read first.
    let read = get(&kv, &ctx, "app/db").await;
    assert_eq!(read.data.as_ref().unwrap()["data"], json!({"v": 2}));
    assert_eq!(deletion_time(&read), rfc3339(now + 50));
    let v1 = call(
        &kv,
        &ctx,
        Operation::Read,
        "data/app/db",
        json!({"version": 1}),
    )
    .await
    .unwrap();
    assert_eq!(v1.data.as_ref().unwrap()["data"], json!({"v": 1}));
    let meta = call(&kv, &ctx, Operation::Read, "metadata/app/db", json!({}))
        .await
        .unwrap();
    let meta = meta.data.unwrap();
    assert_eq!(meta["current_version"], 2);
    assert_eq!(meta["custom_metadata"], json!({"owner": "ops"}));
    assert_eq!(meta["versions"]["1"]["deletion_time"], rfc3339(now + 50));
    let seg = fnv("app/db");
    for n in 1..=2 {
        for kind in ["vmeta", "versions"] {
            let key = format!("{PREFIX}{kind}/{seg}/{n}");
            assert!(
                inner.get(&key).await.unwrap().is_none(),
                "{key} left behind"
            );
        }
    }
    let stored: Value = serde_json::from_slice(
        &inner
            .get(&format!("{PREFIX}metadata/app/db"))
            .await
            .unwrap()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(stored["layout"], 2);
    assert!(inner.get(&format!("{PREFIX}salt")).await.unwrap().is_some());

    // Expired under the old rule; raising the setting after the upgrade does not bring it back.
    assert!(!readable(&get(&kv, &ctx, "app/old").await));
    call(
        &kv,
        &ctx,
        Operation::Update,
        "metadata/app/old",
        json!({"delete_version_after": "1h"}),
    )
    .await
    .unwrap();
    call(
        &kv,
        &ctx,
        Operation::Update,
        "config",
        json!({"delete_version_after": 0}),
    )
    .await
    .unwrap();
    assert!(!readable(&get(&kv, &ctx, "app/old").await));

    // Written first: the migration runs inside the write, the new version follows the old ones.
    let written = put(&kv, &ctx, "app/written", json!({"v": 2})).await;
    assert_eq!(written.data.as_ref().unwrap()["version"], 2);
    let v1 = call(
        &kv,
        &ctx,
        Operation::Read,
        "data/app/written",
        json!({"version": 1}),
    )
    .await
    .unwrap();
    assert_eq!(v1.data.as_ref().unwrap()["data"], json!({"v": 1}));
    // Another engine (another node, or after a restart) reads the same through the stored key.
    let other = KvV2::new();
    let read = get(&other, &ctx, "app/written").await;
    assert_eq!(read.data.as_ref().unwrap()["data"], json!({"v": 2}));
    let old_segments: Vec<String> = inner.list(&format!("{PREFIX}vmeta/")).await.unwrap();
    assert!(
        old_segments.iter().all(|s| s.len() == 65),
        "{old_segments:?}"
    );
}

/// A store whose first read of the path key answers "absent" even when one is stored: what a
/// first writer sees when another stores the key between its read and its own create.
#[derive(Debug)]
struct StaleSaltOnce {
    inner: Arc<dyn Storage>,
    hidden: std::sync::atomic::AtomicBool,
}

#[async_trait::async_trait]
impl Storage for StaleSaltOnce {
    async fn get(&self, key: &str) -> strongroom_storage::Result<Option<Vec<u8>>> {
        if key.ends_with("/salt") && !self.hidden.swap(true, std::sync::atomic::Ordering::SeqCst) {
            return Ok(None);
        }
        self.inner.get(key).await
    }
    async fn put(&self, key: &str, value: Vec<u8>) -> strongroom_storage::Result<()> {
        self.inner.put(key, value).await
    }
    async fn delete(&self, key: &str) -> strongroom_storage::Result<()> {
        self.inner.delete(key).await
    }
    async fn list(&self, prefix: &str) -> strongroom_storage::Result<Vec<String>> {
        self.inner.list(prefix).await
    }
    async fn transaction(
        &self,
        ops: Vec<strongroom_storage::Op>,
    ) -> strongroom_storage::Result<()> {
        self.inner.transaction(ops).await
    }
}

/// The writer that loses the create-if-absent of the path key uses the winner's key, not its own.
#[tokio::test]
async fn the_loser_of_the_path_key_race_uses_the_winners_key() {
    let (ctx, inner) = fresh();
    let winner = KvV2::new();
    put(&winner, &ctx, "a", json!({"by": "winner"})).await;
    let salt = inner.get(&format!("{PREFIX}salt")).await.unwrap();

    let stale: Arc<dyn Storage> = Arc::new(StaleSaltOnce {
        inner: Arc::clone(&inner),
        hidden: std::sync::atomic::AtomicBool::new(false),
    });
    let loser = KvV2::new();
    let loser_ctx = ctx_on(&stale);
    put(&loser, &loser_ctx, "b", json!({"by": "loser"})).await;
    assert!(stale.get(&format!("{PREFIX}salt")).await.unwrap() == salt);
    assert_eq!(inner.get(&format!("{PREFIX}salt")).await.unwrap(), salt);
    let read = get(&winner, &ctx, "b").await;
    assert_eq!(read.data.unwrap()["data"]["by"], "loser");
    let read = get(&loser, &loser_ctx, "a").await;
    assert_eq!(read.data.unwrap()["data"]["by"], "winner");
}

/// A store that, just before the first transaction deleting a metadata record, lets another
/// writer add a version to that secret (what a concurrent write does between the delete's read
/// and its commit).
#[derive(Debug)]
struct WriteDuringDelete {
    inner: Arc<dyn Storage>,
    fired: std::sync::atomic::AtomicBool,
}

#[async_trait::async_trait]
impl Storage for WriteDuringDelete {
    async fn get(&self, key: &str) -> strongroom_storage::Result<Option<Vec<u8>>> {
        self.inner.get(key).await
    }
    async fn put(&self, key: &str, value: Vec<u8>) -> strongroom_storage::Result<()> {
        self.inner.put(key, value).await
    }
    async fn delete(&self, key: &str) -> strongroom_storage::Result<()> {
        self.inner.delete(key).await
    }
    async fn list(&self, prefix: &str) -> strongroom_storage::Result<Vec<String>> {
        self.inner.list(prefix).await
    }
    async fn transaction(
        &self,
        ops: Vec<strongroom_storage::Op>,
    ) -> strongroom_storage::Result<()> {
        let deletes_meta = ops.iter().any(
            |op| matches!(op, strongroom_storage::Op::Delete { key } if key.contains("/metadata/")),
        );
        if deletes_meta && !self.fired.swap(true, std::sync::atomic::Ordering::SeqCst) {
            let other = KvV2::new();
            put(&other, &ctx_on(&self.inner), "racy", json!({"v": "late"})).await;
        }
        self.inner.transaction(ops).await
    }
}

/// Deleting a secret's metadata while a version is written leaves nothing of the secret in
/// storage: the delete checks the metadata it read and starts over when it changed.
#[tokio::test]
async fn a_metadata_delete_racing_a_write_leaves_nothing_behind() {
    let (ctx, inner) = fresh();
    let kv = KvV2::new();
    put(&kv, &ctx, "racy", json!({"v": 1})).await;
    put(&kv, &ctx, "racy", json!({"v": 2})).await;
    let racing: Arc<dyn Storage> = Arc::new(WriteDuringDelete {
        inner: Arc::clone(&inner),
        fired: std::sync::atomic::AtomicBool::new(false),
    });
    let racing_ctx = ctx_on(&racing);
    call(
        &kv,
        &racing_ctx,
        Operation::Delete,
        "metadata/racy",
        json!({}),
    )
    .await
    .unwrap();
    for folder in ["versions/", "vmeta/", "metadata/"] {
        let mut left = Vec::new();
        let mut folders = vec![format!("{PREFIX}{folder}")];
        while let Some(f) = folders.pop() {
            for child in inner.list(&f).await.unwrap() {
                if child.ends_with('/') {
                    folders.push(format!("{f}{child}"));
                } else {
                    left.push(format!("{f}{child}"));
                }
            }
        }
        assert!(left.is_empty(), "{folder}: {left:?}");
    }
}

/// Fields decode as Vault's field types: text converts weakly (`"3"`, `"false"`), and a value of
/// the wrong type is a 400 in OpenBao's words that changes nothing.
#[tokio::test]
async fn fields_decode_as_vaults_types_and_wrong_types_are_refused_in_its_words() {
    let (ctx, _inner) = fresh();
    let kv = KvV2::new();
    put(&kv, &ctx, "app", json!({"k": "v"})).await;

    // Weak decoding: text for numbers and booleans.
    call(
        &kv,
        &ctx,
        Operation::Update,
        "metadata/app",
        json!({"max_versions": "3", "cas_required": "false", "delete_version_after": "1h"}),
    )
    .await
    .unwrap();
    let meta = call(&kv, &ctx, Operation::Read, "metadata/app", json!({}))
        .await
        .unwrap()
        .data
        .unwrap();
    assert_eq!(meta["max_versions"], 3);
    assert_eq!(meta["cas_required"], false);
    assert_eq!(meta["delete_version_after"], "1h0m0s");

    let refused = |field: &str, detail: &str| {
        format!("Field validation failed: error converting input for field \"{field}\": {detail}")
    };
    let bad_int = "'' cannot parse value as 'int': strconv.ParseInt: invalid syntax";
    let bad_bool = "'' cannot parse value as 'bool': strconv.ParseBool: invalid syntax";
    for (op, path, body, message) in [
        (
            Operation::Update,
            "config",
            json!({"max_versions": "abc"}),
            refused("max_versions", bad_int),
        ),
        (
            Operation::Update,
            "config",
            json!({"cas_required": "yes"}),
            refused("cas_required", bad_bool),
        ),
        (
            Operation::Update,
            "metadata/app",
            json!({"max_versions": "abc"}),
            refused("max_versions", bad_int),
        ),
        (
            Operation::Patch,
            "metadata/app",
            json!({"cas_required": "yes"}),
            refused("cas_required", bad_bool),
        ),
        (
            Operation::Update,
            "metadata/app",
            json!({"delete_version_after": "-1h"}),
            refused(
                "delete_version_after",
                "cannot provide negative value '-3600'",
            ),
        ),
        (
            Operation::Update,
            "metadata/app",
            json!({"custom_metadata": {"a": {"b": 1}}}),
            "custom_metadata validation failed: '' expected type 'string', got unconvertible \
             type 'map[string]interface {}'"
                .to_owned(),
        ),
        (
            Operation::Update,
            "data/app",
            json!({"data": {"k": 1}, "options": {"cas": "x"}}),
            "error parsing check-and-set parameter".to_owned(),
        ),
        (
            Operation::Update,
            "data/app",
            json!({"data": {"k": 1}, "options": "x"}),
            refused(
                "options",
                "'' expected type 'map[string]interface {}', got unconvertible type 'string'",
            ),
        ),
        (
            Operation::Read,
            "data/app",
            json!({"version": "x"}),
            refused("version", bad_int),
        ),
        (
            Operation::Update,
            "destroy/app",
            json!({"versions": "1,x"}),
            refused(
                "versions",
                "'[1]' cannot parse value as 'int': strconv.ParseInt: invalid syntax",
            ),
        ),
    ] {
        let err = call(&kv, &ctx, op, path, body.clone()).await.unwrap_err();
        assert!(
            matches!(err, LogicalError::InvalidRequest(_)),
            "{path} {body}: {err:?}"
        );
        assert_eq!(err.to_string(), message, "{path} {body}");
    }
    // Nothing changed.
    let meta = call(&kv, &ctx, Operation::Read, "metadata/app", json!({}))
        .await
        .unwrap()
        .data
        .unwrap();
    assert_eq!(meta["max_versions"], 3);
    assert_eq!(meta["current_version"], 1);
    assert_eq!(meta["custom_metadata"], Value::Null);

    // Before the policy check (the existence check), a field that does not convert is refused
    // in the words Vault uses there.
    let probe = Request::new(Operation::Update, "data/app")
        .with_data(json!({"data": "x"}).as_object().cloned().unwrap());
    let err = kv.exists(&ctx, &probe).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "error converting input for field \"data\": '' expected type 'map[string]interface {}', \
         got unconvertible type 'string'"
    );

    // Undeclared fields are ignored with Vault's warning.
    let written = call(
        &kv,
        &ctx,
        Operation::Update,
        "data/app",
        json!({"data": {"k": 2}, "colour": "red", "another": 1}),
    )
    .await
    .unwrap();
    assert_eq!(
        written.warnings,
        ["Endpoint ignored these unrecognized parameters: [another colour]"]
    );
}
