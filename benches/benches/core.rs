//! An in-process read of a small secret through the whole pipeline (token, policy, route, KV
//! engine, barrier, memory storage), beside the layers under it measured in the same run: the
//! raw storage read, the barrier read, the engine call without the pipeline.
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::unwrap_in_result,
    clippy::indexing_slicing,
    reason = "bench code: a failure is a failed bench"
)]

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use serde_json::json;
use strongroom_barrier::{Barrier, RootKey};
use strongroom_core::Vault;
use strongroom_kv::KvV1;
use strongroom_logical::{Backend, Context, Operation, Request, StorageView};
use strongroom_storage::{MemoryStorage, Storage};

fn pipeline(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let vault = Vault::builder(MemoryStorage::new()).build().unwrap();
    let (root, app) = rt.block_on(async {
        let root = strongroom_benches::unsealed_root(&vault).await.unwrap();
        vault
            .write(&root, "sys/mounts/secret", json!({"type": "kv"}))
            .await
            .unwrap();
        vault
            .write(
                &root,
                "secret/app/db",
                json!({"username": "app", "password": "hunter2"}),
            )
            .await
            .unwrap();
        let policy = r#"path "secret/app/*" { capabilities = ["read"] }"#;
        vault
            .write(&root, "sys/policies/acl/app", json!({"policy": policy}))
            .await
            .unwrap();
        let app = vault
            .write(&root, "auth/token/create", json!({"policies": ["app"]}))
            .await
            .unwrap()
            .auth
            .unwrap()
            .client_token;
        (root, app)
    });

    // The layers underneath, set up the same way.
    let value = serde_json::to_vec(&json!({"username": "app", "password": "hunter2"})).unwrap();
    let raw = MemoryStorage::new();
    rt.block_on(raw.put("logical/x/app/db", value.clone()))
        .unwrap();
    let barrier = Barrier::new(MemoryStorage::new());
    let key = RootKey::generate().unwrap();
    rt.block_on(async {
        barrier.initialize(&key).await.unwrap();
        barrier.unseal(&key).await.unwrap();
        barrier
            .put("logical/x/app/db", value.clone())
            .await
            .unwrap();
    });
    let barrier: Arc<dyn Storage> = Arc::new(barrier);
    let ctx = Context::new(
        StorageView::new(Arc::clone(&barrier), "logical/x/").unwrap(),
        "secret/",
    );
    let kv = KvV1::new();

    let mut g = c.benchmark_group("read_small_secret");
    g.throughput(Throughput::Elements(1));
    g.bench_function("memory_storage_get", |b| {
        b.to_async(&rt)
            .iter(|| raw.get(black_box("logical/x/app/db")))
    });
    g.bench_function("barrier_get", |b| {
        b.to_async(&rt)
            .iter(|| barrier.get(black_box("logical/x/app/db")))
    });
    g.bench_function("kv_engine_direct", |b| {
        b.to_async(&rt)
            .iter(|| kv.handle(&ctx, Request::new(Operation::Read, black_box("app/db"))))
    });
    g.bench_function("vault_root_token", |b| {
        b.to_async(&rt)
            .iter(|| vault.read(&root, black_box("secret/app/db")))
    });
    g.bench_function("vault_limited_token", |b| {
        b.to_async(&rt)
            .iter(|| vault.read(&app, black_box("secret/app/db")))
    });
    // The same read with a file audit device on (a request and a response line per read).
    let audit_dir = tempfile::tempdir().unwrap();
    rt.block_on(vault.add_audit_device(
        "file",
        Arc::new(strongroom_core::FileAuditDevice::new(
            audit_dir.path().join("audit.log"),
        )),
    ))
    .unwrap();
    g.bench_function("vault_limited_token_audit_file", |b| {
        b.to_async(&rt)
            .iter(|| vault.read(&app, black_box("secret/app/db")))
    });
    g.finish();
}

/// KV v2 through the pipeline: reading the latest version must not cost more with 100 versions
/// than with 1 (baseline: the same read on KV v1); writes with max_versions = 10 (pruning on
/// every write once full).
fn kv2(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let vault = Vault::builder(MemoryStorage::new()).build().unwrap();
    let root = rt.block_on(async {
        let root = strongroom_benches::unsealed_root(&vault).await.unwrap();
        vault
            .write(&root, "sys/mounts/v1", json!({"type": "kv"}))
            .await
            .unwrap();
        vault
            .write(
                &root,
                "sys/mounts/v2",
                json!({"type": "kv", "options": {"version": "2"}}),
            )
            .await
            .unwrap();
        vault
            .write(&root, "v2/config", json!({"max_versions": 200}))
            .await
            .unwrap();
        let secret = json!({"username": "app", "password": "hunter2"});
        vault.write(&root, "v1/app", secret.clone()).await.unwrap();
        vault
            .write(&root, "v2/data/one", json!({"data": secret.clone()}))
            .await
            .unwrap();
        for _ in 0..100 {
            vault
                .write(&root, "v2/data/hundred", json!({"data": secret.clone()}))
                .await
                .unwrap();
        }
        vault
            .write(&root, "v2/metadata/w", json!({"max_versions": 10}))
            .await
            .unwrap();
        root
    });
    let mut g = c.benchmark_group("kv2");
    g.throughput(Throughput::Elements(1));
    g.bench_function("kv1_read_baseline", |b| {
        b.to_async(&rt)
            .iter(|| vault.read(&root, black_box("v1/app")))
    });
    g.bench_function("read_latest_1_version", |b| {
        b.to_async(&rt)
            .iter(|| vault.read(&root, black_box("v2/data/one")))
    });
    g.bench_function("read_latest_100_versions", |b| {
        b.to_async(&rt)
            .iter(|| vault.read(&root, black_box("v2/data/hundred")))
    });
    g.bench_function("write_max_versions_10", |b| {
        b.to_async(&rt).iter(|| {
            vault.write(
                &root,
                black_box("v2/data/w"),
                json!({"data": {"username": "app", "password": "hunter2"}}),
            )
        })
    });
    g.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .configure_from_args()
}

criterion_group! {
    name = benches;
    config = config();
    targets = pipeline, kv2
}
criterion_main!(benches);
