//! Issuing and revoking one dynamic credential through the vault (creds/<role> then
//! sys/leases/revoke) on the real PostgreSQL and MariaDB, beside a baseline in the same run: the
//! same CREATE and DROP statements sent straight to the database over one connection. Prints
//! median and p99 of 200 issue+revoke cycles per database too (criterion reports the median
//! with its own sampling). Skipped per database when its URL is not set. See BENCHMARKS.md.
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::unwrap_in_result,
    clippy::indexing_slicing,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    clippy::cast_precision_loss,
    reason = "bench code: a failure is a failed bench"
)]

use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::json;
use sqlx::Connection as _;
use strongroom_core::Vault;
use strongroom_storage::MemoryStorage;

struct Db {
    name: &'static str,
    env: &'static str,
    plugin: &'static str,
    create: &'static str,
    drop: &'static str,
}

const DBS: [Db; 2] = [
    Db {
        name: "postgresql",
        env: "STRONGROOM_TEST_POSTGRES_URL",
        plugin: "postgresql-database-plugin",
        create: r#"CREATE ROLE "{{name}}" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}';"#,
        drop: r#"DROP ROLE IF EXISTS "{{name}}";"#,
    },
    Db {
        name: "mariadb",
        env: "STRONGROOM_TEST_MYSQL_URL",
        plugin: "mysql-database-plugin",
        create: "CREATE USER '{{name}}'@'%' IDENTIFIED BY '{{password}}';",
        drop: "DROP USER IF EXISTS '{{name}}'@'%';",
    },
];

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn database(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut group = c.benchmark_group("database_issue_revoke");
    group.sample_size(20);
    group.measurement_time(Duration::from_secs(4));
    for db in DBS {
        let Ok(url) = std::env::var(db.env) else {
            eprintln!("skipped {}: {} is not set", db.name, db.env);
            continue;
        };
        let vault = Vault::builder(MemoryStorage::new())
            .background_expiry(false)
            .build()
            .unwrap();
        let root = rt.block_on(async {
            let root = strongroom_benches::unsealed_root(&vault).await.unwrap();
            vault
                .write(&root, "sys/mounts/database", json!({"type": "database"}))
                .await
                .unwrap();
            vault
                .write(
                    &root,
                    "database/config/db",
                    json!({"plugin_name": db.plugin, "connection_url": url, "allowed_roles": "*"}),
                )
                .await
                .unwrap();
            vault
                .write(
                    &root,
                    "database/roles/bench",
                    json!({"db_name": "db", "creation_statements": db.create, "revocation_statements": db.drop}),
                )
                .await
                .unwrap();
            root
        });
        let cycle = || async {
            let issued = vault.read(&root, "database/creds/bench").await.unwrap();
            vault
                .write(
                    &root,
                    "sys/leases/revoke",
                    json!({"lease_id": issued.lease_id}),
                )
                .await
                .unwrap();
        };
        // Baseline: the same statements straight over one open connection.
        let mut counter = 0_u64;
        let raw = |counter: &mut u64| {
            *counter += 1;
            let name = format!("bench-raw-{counter}");
            let create = db
                .create
                .replace("{{name}}", &name)
                .replace("{{password}}", "Bench-Pass-123")
                .replace("{{expiration}}", "2099-01-01 00:00:00+00");
            let drop = db.drop.replace("{{name}}", &name);
            (create, drop)
        };
        group.bench_function(format!("{}/vault", db.name), |b| {
            b.iter(|| rt.block_on(cycle()));
        });
        group.bench_function(format!("{}/raw_sql", db.name), |b| {
            b.iter(|| {
                let (create, drop) = raw(&mut counter);
                rt.block_on(async {
                    let mut conn = if db.name == "postgresql" {
                        Either::Pg(sqlx::PgConnection::connect(&url).await.unwrap())
                    } else {
                        Either::My(sqlx::MySqlConnection::connect(&url).await.unwrap())
                    };
                    conn.run(&create).await;
                    conn.run(&drop).await;
                });
            });
        });
        // The p99 loop only under `cargo bench` (not when the tests run each bench once).
        if !std::env::args().any(|a| a == "--bench") {
            continue;
        }
        let mut times: Vec<Duration> = (0..200)
            .map(|_| {
                let started = Instant::now();
                rt.block_on(cycle());
                started.elapsed()
            })
            .collect();
        times.sort();
        eprintln!(
            "{}: issue+revoke through the vault, 200 cycles: median {:?}, p99 {:?}",
            db.name,
            percentile(&times, 0.5),
            percentile(&times, 0.99)
        );
    }
    group.finish();
}

enum Either {
    Pg(sqlx::PgConnection),
    My(sqlx::MySqlConnection),
}

impl Either {
    async fn run(&mut self, sql: &str) {
        use sqlx::Executor as _;
        let sql = sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()));
        match self {
            Either::Pg(conn) => {
                conn.execute(sql).await.unwrap();
            }
            Either::My(conn) => {
                conn.execute(sql).await.unwrap();
            }
        }
    }
}

criterion_group!(benches, database);
criterion_main!(benches);
