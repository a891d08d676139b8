//! Storage benches: get, put and list for each backend, each beside a baseline measured in the
//! same run.
//!
//! * memory: a raw `RwLock<BTreeMap>` (what `MemoryStorage` wraps);
//! * SQLite and PostgreSQL: the same statement run with raw sqlx on the same table, so the ratio
//!   is what the `Storage` trait and its checks add;
//! * list: the naive range scan (`SELECT key … WHERE key >= prefix AND key < upper`, then group
//!   in Rust), against the skip scan the backends use.
//!
//! PostgreSQL benches run when `STRONGROOM_TEST_POSTGRES_URL` is set. See BENCHMARKS.md.
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::unwrap_in_result,
    clippy::indexing_slicing,
    reason = "bench code: a failure is a failed bench"
)]

use std::collections::BTreeMap;
use std::hint::black_box;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use strongroom_storage::{MemoryStorage, PostgresConfig, PostgresStorage, SqliteStorage, Storage};
use tokio::runtime::Runtime;

const SIZES: [(&str, usize); 2] = [("100B", 100), ("4KiB", 4096)];
const LIST_KEYS: usize = 10_000;

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap()
}

fn postgres_url() -> Option<String> {
    std::env::var("STRONGROOM_TEST_POSTGRES_URL")
        .ok()
        .filter(|u| !u.is_empty())
}

/// Fills `folder` with `LIST_KEYS` direct children, and `deep/` with 10 folders of 1 000 keys each.
async fn fill_for_list(store: &dyn Storage) {
    let mut ops = Vec::new();
    for i in 0..LIST_KEYS {
        ops.push(strongroom_storage::Op::put(
            format!("flat/k{i:05}"),
            vec![7; 100],
        ));
        ops.push(strongroom_storage::Op::put(
            format!("deep/d{}/k{i:05}", i % 10),
            vec![7; 100],
        ));
    }
    for chunk in ops.chunks(1000) {
        store.transaction(chunk.to_vec()).await.unwrap();
    }
}

fn memory(c: &mut Criterion) {
    let rt = runtime();
    let store = MemoryStorage::new();
    let raw: RwLock<BTreeMap<String, Vec<u8>>> = RwLock::default();
    for (name, size) in SIZES {
        rt.block_on(store.put("bench/key", vec![1; size])).unwrap();
        raw.write()
            .unwrap()
            .insert("bench/key".to_owned(), vec![1; size]);
        let mut g = c.benchmark_group(format!("memory/get/{name}"));
        g.throughput(Throughput::Elements(1));
        g.bench_function("baseline_btreemap", |b| {
            b.iter(|| raw.read().unwrap().get(black_box("bench/key")).cloned())
        });
        g.bench_function("memory_storage", |b| {
            b.to_async(&rt).iter(|| store.get(black_box("bench/key")))
        });
        g.finish();
        let mut g = c.benchmark_group(format!("memory/put/{name}"));
        g.bench_function("baseline_btreemap", |b| {
            b.iter(|| {
                raw.write()
                    .unwrap()
                    .insert(black_box("bench/key").to_owned(), vec![2; size])
            })
        });
        g.bench_function("memory_storage", |b| {
            b.to_async(&rt)
                .iter(|| store.put(black_box("bench/key"), vec![2; size]))
        });
        g.finish();
    }
    rt.block_on(fill_for_list(&store));
    list_group(c, &rt, "memory", &store, None);
}

/// What the naive list would do: fetch every key under the prefix and group them.
type NaiveList = Box<dyn Fn(&'static str) -> BoxFuture<Vec<String>> + Send + Sync>;
type BoxFuture<T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send>>;

fn group_children(prefix: &str, keys: Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = keys
        .iter()
        .filter_map(|k| k.strip_prefix(prefix))
        .map(|rest| match rest.split_once('/') {
            Some((head, _)) => format!("{head}/"),
            None => rest.to_owned(),
        })
        .collect();
    out.dedup();
    out
}

fn list_group(
    c: &mut Criterion,
    rt: &Runtime,
    backend: &str,
    store: &dyn Storage,
    naive: Option<&NaiveList>,
) {
    for (folder, children) in [("flat/", LIST_KEYS), ("deep/", 10)] {
        assert_eq!(rt.block_on(store.list(folder)).unwrap().len(), children);
        let mut g = c.benchmark_group(format!("{backend}/list/{}", folder.trim_end_matches('/')));
        g.sample_size(20);
        if let Some(naive) = naive {
            assert_eq!(rt.block_on(naive(folder)).len(), children);
            g.bench_function("baseline_range_scan", |b| {
                b.to_async(rt).iter(|| naive(folder))
            });
        }
        g.bench_function(BenchmarkId::new("storage", children), |b| {
            b.to_async(rt).iter(|| store.list(black_box(folder)))
        });
        g.finish();
    }
}

fn sqlite(c: &mut Criterion) {
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bench.db");
    let store = rt.block_on(SqliteStorage::open(&path)).unwrap();
    // The baseline: a raw sqlx pool on the same file, same table, same statement.
    let raw = rt
        .block_on(sqlx::SqlitePool::connect_with(
            sqlx::sqlite::SqliteConnectOptions::new()
                .filename(&path)
                .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
                .synchronous(sqlx::sqlite::SqliteSynchronous::Full),
        ))
        .unwrap();
    for (name, size) in SIZES {
        rt.block_on(store.put("bench/key", vec![1; size])).unwrap();
        let mut g = c.benchmark_group(format!("sqlite/get/{name}"));
        g.bench_function("baseline_raw_sqlx", |b| {
            b.to_async(&rt).iter(|| async {
                let v: Option<Vec<u8>> =
                    sqlx::query_scalar("SELECT value FROM strongroom_kv WHERE key = ?1")
                        .bind(black_box("bench/key"))
                        .fetch_optional(&raw)
                        .await
                        .unwrap();
                v
            })
        });
        g.bench_function("sqlite_storage", |b| {
            b.to_async(&rt).iter(|| store.get(black_box("bench/key")))
        });
        g.finish();
        let mut g = c.benchmark_group(format!("sqlite/put/{name}"));
        g.sample_size(20);
        g.bench_function("baseline_raw_sqlx", |b| {
            b.to_async(&rt).iter(|| async {
                sqlx::query(
                    "INSERT INTO strongroom_kv (key, parent, value) VALUES (?1, ?2, ?3) \
                     ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                )
                .bind(black_box("bench/key"))
                .bind("bench/")
                .bind(vec![2u8; size])
                .execute(&raw)
                .await
                .unwrap()
            })
        });
        g.bench_function("sqlite_storage", |b| {
            b.to_async(&rt)
                .iter(|| store.put(black_box("bench/key"), vec![2; size]))
        });
        g.finish();
    }
    rt.block_on(fill_for_list(&store));
    let raw = Arc::new(raw);
    let naive: NaiveList = Box::new(move |prefix: &'static str| {
        let raw = Arc::clone(&raw);
        Box::pin(async move {
            let keys: Vec<String> = sqlx::query_scalar(
                "SELECT key FROM strongroom_kv WHERE key >= ?1 AND key < ?2 ORDER BY key",
            )
            .bind(prefix)
            .bind(format!("{}0", prefix.trim_end_matches('/')))
            .fetch_all(&*raw)
            .await
            .unwrap();
            group_children(prefix, keys)
        })
    });
    list_group(c, &rt, "sqlite", &store, Some(&naive));
}

fn postgres(c: &mut Criterion) {
    let Some(url) = postgres_url() else {
        eprintln!("postgres benches skipped: STRONGROOM_TEST_POSTGRES_URL is not set");
        return;
    };
    let rt = runtime();
    let table = "strongroom_bench";
    let store = rt
        .block_on(PostgresStorage::connect_with(
            PostgresConfig::new(url.clone()).table(table),
        ))
        .unwrap();
    rt.block_on(store.drop_table()).unwrap();
    let store = rt
        .block_on(PostgresStorage::connect_with(
            PostgresConfig::new(url.clone()).table(table),
        ))
        .unwrap();
    let raw = rt.block_on(sqlx::PgPool::connect(&url)).unwrap();
    for (name, size) in SIZES {
        rt.block_on(store.put("bench/key", vec![1; size])).unwrap();
        let mut g = c.benchmark_group(format!("postgres/get/{name}"));
        g.bench_function("baseline_raw_sqlx", |b| {
            b.to_async(&rt).iter(|| async {
                let v: Option<Vec<u8>> =
                    sqlx::query_scalar("SELECT value FROM strongroom_bench WHERE key = $1")
                        .bind(black_box("bench/key"))
                        .fetch_optional(&raw)
                        .await
                        .unwrap();
                v
            })
        });
        g.bench_function("postgres_storage", |b| {
            b.to_async(&rt).iter(|| store.get(black_box("bench/key")))
        });
        g.finish();
        let mut g = c.benchmark_group(format!("postgres/put/{name}"));
        g.sample_size(20);
        g.bench_function("baseline_raw_sqlx", |b| {
            b.to_async(&rt).iter(|| async {
                sqlx::query(
                    "INSERT INTO strongroom_bench (key, parent, value) VALUES ($1, $2, $3) \
                     ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
                )
                .bind(black_box("bench/key"))
                .bind("bench/")
                .bind(vec![2u8; size])
                .execute(&raw)
                .await
                .unwrap()
            })
        });
        g.bench_function("postgres_storage", |b| {
            b.to_async(&rt)
                .iter(|| store.put(black_box("bench/key"), vec![2; size]))
        });
        g.finish();
    }
    // What HA fencing costs a write: the same put, unfenced and through the lock's fenced
    // store (a transaction that first reads the epoch row `FOR SHARE`).
    let ha = rt
        .block_on(strongroom_storage::PostgresHa::connect(
            &store,
            strongroom_storage::PostgresHaConfig::default().table("strongroom_bench_ha"),
        ))
        .unwrap();
    let node = strongroom_storage::HaNode::new("bench", "http://bench", "http://bench");
    use strongroom_storage::HaLock as _;
    let epoch = rt.block_on(async {
        loop {
            if let Some(epoch) = ha.try_acquire(&node).await.unwrap() {
                break epoch;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    });
    let fenced = ha.fenced();
    let mut g = c.benchmark_group("postgres/fenced-put/100B");
    g.sample_size(20);
    g.bench_function("baseline_unfenced", |b| {
        b.to_async(&rt)
            .iter(|| store.put(black_box("bench/key"), vec![3; 100]))
    });
    g.bench_function("fenced", |b| {
        b.to_async(&rt)
            .iter(|| fenced.put(black_box("bench/key"), vec![3; 100]))
    });
    g.finish();
    rt.block_on(ha.release(epoch)).unwrap();
    rt.block_on(fill_for_list(&store));
    let raw = Arc::new(raw);
    let naive: NaiveList = Box::new(move |prefix: &'static str| {
        let raw = Arc::clone(&raw);
        Box::pin(async move {
            let keys: Vec<String> = sqlx::query_scalar(
                "SELECT key FROM strongroom_bench WHERE key >= $1 AND key < $2 ORDER BY key",
            )
            .bind(prefix)
            .bind(format!("{}0", prefix.trim_end_matches('/')))
            .fetch_all(&*raw)
            .await
            .unwrap();
            group_children(prefix, keys)
        })
    });
    list_group(c, &rt, "postgres", &store, Some(&naive));
    rt.block_on(store.drop_table()).unwrap();
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
    targets = memory, sqlite, postgres
}
criterion_main!(benches);
