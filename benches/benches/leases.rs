//! Leases at scale: unseal time and resident memory with 10 000, 100 000 and 1 000 000 stored
//! leases (baseline: the same vault with none), and the latency a reader sees while 100 000
//! leases are revoked by prefix (baseline: the same reader with no revocation running).
//!
//! Run with `cargo bench -p strongroom-benches --bench leases`. In test mode (`cargo test`) the
//! sizes shrink to 1 000 so CI stays fast.
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::unwrap_in_result,
    clippy::indexing_slicing,
    clippy::cast_possible_truncation,
    clippy::cast_precision_loss,
    clippy::cast_sign_loss,
    reason = "bench code: a failure is a failed bench"
)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use serde_json::{Map, Value, json};
use strongroom_core::{InitRequest, Vault};
use strongroom_logical::{Backend, Context, LogicalError, Request, Response, SecretDescriptor};
use strongroom_storage::{MemoryStorage, Storage};

/// Issues a leased "credential" on every read.
#[derive(Debug)]
struct Dynamic;

#[async_trait]
impl Backend for Dynamic {
    async fn handle(&self, _ctx: &Context, _req: Request) -> Result<Response, LogicalError> {
        let mut response = Response::with_data(Map::new());
        let mut secret = SecretDescriptor::default();
        secret.ttl = Duration::from_secs(3600);
        response.secret = Some(secret);
        Ok(response)
    }
}

fn full_run() -> bool {
    std::env::args().any(|a| a == "--bench")
}

fn rss_kib() -> u64 {
    strongroom_benches::rss_kib(None)
}

fn builder(storage: Arc<dyn Storage>) -> strongroom_core::VaultBuilder {
    Vault::builder(storage).engine("dynamic", |_: &Map<String, Value>| {
        Ok(Arc::new(Dynamic) as Arc<dyn Backend>)
    })
}

/// A vault with `n` leases under `db/creds/<i % 100>/`, sealed; returns its storage and key.
async fn with_leases(n: usize) -> (Arc<dyn Storage>, String, String) {
    let storage: Arc<dyn Storage> = Arc::new(MemoryStorage::new());
    let vault = builder(Arc::clone(&storage)).build().unwrap();
    let init = vault.init(InitRequest::new(1, 1)).await.unwrap();
    let key = init.keys[0].expose_secret().to_owned();
    vault.unseal(&key).await.unwrap();
    let root = init.root_token.expose_secret().to_owned();
    vault
        .write(&root, "sys/mounts/db", json!({"type": "dynamic"}))
        .await
        .unwrap();
    vault
        .write(&root, "sys/mounts/kv", json!({"type": "kv"}))
        .await
        .unwrap();
    vault.write(&root, "kv/app", json!({"v": 1})).await.unwrap();
    for i in 0..n {
        vault
            .read(&root, &format!("db/creds/r{}", i % 100))
            .await
            .unwrap();
    }
    vault.seal().await;
    (storage, key, root)
}

fn unseal(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let sizes: &[usize] = if full_run() {
        &[0, 10_000, 100_000, 1_000_000]
    } else {
        &[0, 1_000]
    };
    let mut g = c.benchmark_group("unseal_with_leases");
    g.sample_size(10);
    for &n in sizes {
        let (storage, key, root) = rt.block_on(with_leases(n));
        // One unseal on its own, for what it adds to resident memory.
        let before = rss_kib();
        let probe = builder(Arc::clone(&storage)).build().unwrap();
        rt.block_on(probe.unseal(&key)).unwrap();
        let served = Instant::now();
        rt.block_on(probe.read(&root, "kv/app")).unwrap();
        let first_request = served.elapsed();
        let added = rss_kib().saturating_sub(before);
        rt.block_on(probe.seal());
        drop(probe);
        g.bench_function(BenchmarkId::from_parameter(n), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let vault = builder(Arc::clone(&storage)).build().unwrap();
                    let started = Instant::now();
                    rt.block_on(vault.unseal(&key)).unwrap();
                    total += started.elapsed();
                    rt.block_on(vault.seal());
                }
                total
            })
        });
        eprintln!(
            "leases={n}: RSS {} MiB with the store loaded; one unseal added {added} KiB; first request after unseal {first_request:?}",
            before / 1024
        );
    }
    g.finish();
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) as f64 * p) as usize]
}

fn revoke_prefix_while_reading(_c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let n = if full_run() { 100_000 } else { 1_000 };
    rt.block_on(async {
        let (storage, key, root) = with_leases(n).await;
        let vault = builder(storage).build().unwrap();
        vault.unseal(&key).await.unwrap();
        let reader = |vault: Vault, root: String, stop: Arc<std::sync::atomic::AtomicBool>| async move {
            let mut latencies = Vec::new();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let started = Instant::now();
                vault.read(&root, "kv/app").await.unwrap();
                latencies.push(started.elapsed());
                tokio::task::yield_now().await;
            }
            latencies.sort();
            latencies
        };
        // Baseline: the reader alone for one second.
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let task = tokio::spawn(reader(vault.clone(), root.clone(), Arc::clone(&stop)));
        tokio::time::sleep(Duration::from_secs(1)).await;
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let alone = task.await.unwrap();
        // The same reader while every lease is revoked by prefix.
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let task = tokio::spawn(reader(vault.clone(), root.clone(), Arc::clone(&stop)));
        let started = Instant::now();
        vault
            .write(&root, "sys/leases/revoke-prefix/db", json!({}))
            .await
            .unwrap();
        let took = started.elapsed();
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let during = task.await.unwrap();
        eprintln!(
            "revoke-prefix of {n} leases: {took:?} ({:.0} leases/s)",
            n as f64 / took.as_secs_f64()
        );
        for (label, l) in [("reader alone", &alone), ("reader during revocation", &during)] {
            eprintln!(
                "{label}: {} reads, p50 {:?}, p99 {:?}, max {:?}",
                l.len(),
                percentile(l, 0.5),
                percentile(l, 0.99),
                l.last().copied().unwrap_or_default()
            );
        }
    });
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(100))
        .measurement_time(Duration::from_secs(2))
        .configure_from_args()
}

criterion_group! {
    name = benches;
    config = config();
    targets = unseal, revoke_prefix_while_reading
}
criterion_main!(benches);
