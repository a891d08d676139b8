//! The PostgreSQL backend against the conformance suite and the model, on a real server.
//!
//! Needs `STRONGROOM_TEST_POSTGRES_URL` (e.g. `postgres://postgres@127.0.0.1:5432/test`). Without
//! it the tests say why and pass, unless `STRONGROOM_REQUIRE_SERVICES=1`, when they fail.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code"
)]

use std::sync::Arc;
use std::time::Duration;

use strongroom_storage::{PostgresConfig, PostgresStorage, Storage, StorageError, conformance};

fn url() -> Option<String> {
    match std::env::var("STRONGROOM_TEST_POSTGRES_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            assert!(
                std::env::var("STRONGROOM_REQUIRE_SERVICES").as_deref() != Ok("1"),
                "STRONGROOM_REQUIRE_SERVICES=1 but STRONGROOM_TEST_POSTGRES_URL is not set"
            );
            eprintln!("skipped: STRONGROOM_TEST_POSTGRES_URL is not set");
            None
        }
    }
}

/// A store on a fresh table of its own (named after the test, so reruns replace it instead of
/// piling up tables).
async fn fresh(name: &str) -> Option<PostgresStorage> {
    let url = url()?;
    let table = format!("strongroom_test_{name}");
    let pool = sqlx::PgPool::connect(&url).await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP TABLE IF EXISTS \"{table}\""
    )))
    .execute(&pool)
    .await
    .unwrap();
    pool.close().await;
    let store = PostgresStorage::connect_with(PostgresConfig::new(url).table(table))
        .await
        .unwrap();
    Some(store)
}

#[tokio::test]
async fn incompatible_table_is_a_config_error() {
    let Some(url) = url() else { return };
    let pool = sqlx::PgPool::connect(&url).await.unwrap();
    for ddl in [
        "DROP TABLE IF EXISTS strongroom_test_foreign",
        "CREATE TABLE strongroom_test_foreign (key TEXT PRIMARY KEY, value BYTEA)",
    ] {
        sqlx::query(ddl).execute(&pool).await.unwrap();
    }
    let err =
        PostgresStorage::connect_with(PostgresConfig::new(url).table("strongroom_test_foreign"))
            .await
            .unwrap_err();
    assert!(matches!(err, StorageError::Config(_)), "{err}");
}

strongroom_storage::conformance_tests!(|name: &'static str| fresh(name));

#[test]
fn matches_the_model() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let Some(store) = runtime.block_on(fresh("model")) else {
        return;
    };
    conformance::model_test(&runtime, Arc::new(store), 64);
}

#[tokio::test]
async fn server_down_is_a_bounded_connection_error() {
    // Port 1 on loopback: nothing listens there, so the connect is refused.
    let config = PostgresConfig::new("postgres://postgres@127.0.0.1:1/test")
        .connect_timeout(Duration::from_secs(2));
    let err = PostgresStorage::connect_with(config).await.unwrap_err();
    assert!(matches!(err, StorageError::Connection { .. }), "{err}");
    assert!(err.is_retryable());
}

#[tokio::test]
async fn bad_configuration_is_refused_before_connecting() {
    for config in [
        PostgresConfig::new("not a url"),
        PostgresConfig::new("postgres://127.0.0.1/test").table("Robert'); DROP TABLE x;--"),
        PostgresConfig::new("postgres://127.0.0.1/test").max_connections(0),
    ] {
        let err = PostgresStorage::connect_with(config).await.unwrap_err();
        assert!(matches!(err, StorageError::Config(_)), "{err}");
    }
}

#[tokio::test]
async fn password_is_not_in_errors() {
    let config = PostgresConfig::new("postgres://user:hunter2@127.0.0.1:1/test")
        .connect_timeout(Duration::from_secs(2));
    let err = PostgresStorage::connect_with(config).await.unwrap_err();
    assert!(!format!("{err} {err:?}").contains("hunter2"), "{err:?}");
}

#[tokio::test]
async fn two_stores_share_one_table() {
    let Some(a) = fresh("shared").await else {
        return;
    };
    let b = PostgresStorage::connect_with(PostgresConfig::new(url().unwrap()).table(a.table()))
        .await
        .unwrap();
    a.put("node/a", b"1".to_vec()).await.unwrap();
    assert_eq!(b.get("node/a").await.unwrap().as_deref(), Some(&b"1"[..]));
    b.delete("node/a").await.unwrap();
    assert_eq!(a.list("node/").await.unwrap(), Vec::<String>::new());
}

/// Without `sslmode` in the URL a store needs TLS: against a server that refuses TLS (as an
/// attacker on the path would) it does not go on in plaintext, where sqlx's own default
/// (`prefer`) would send the startup message, user name included, and then the password.
#[tokio::test]
async fn no_plaintext_fallback_by_default() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let plaintext = Arc::new(AtomicBool::new(false));
    let seen = plaintext.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let seen = seen.clone();
            tokio::spawn(async move {
                let mut request = [0; 8];
                if socket.read_exact(&mut request).await.is_err() {
                    return;
                }
                // Anything but an SSLRequest (length 8, code 80877103) is plaintext.
                if request != [0, 0, 0, 8, 4, 210, 22, 47] {
                    seen.store(true, Ordering::SeqCst);
                    return;
                }
                let _ = socket.write_all(b"N").await;
                let mut more = [0; 1];
                let next = tokio::time::timeout(Duration::from_secs(2), socket.read(&mut more));
                if matches!(next.await, Ok(Ok(n)) if n > 0) {
                    seen.store(true, Ordering::SeqCst);
                }
            });
        }
    });
    let url = format!("postgres://admin:pw@127.0.0.1:{port}/test");
    let result = PostgresStorage::connect_with(
        PostgresConfig::new(&url).connect_timeout(Duration::from_secs(3)),
    )
    .await;
    assert!(result.is_err());
    assert!(
        !plaintext.load(Ordering::SeqCst),
        "the store went on without TLS"
    );
    // The same server with the driver's old default: the fallback this test guards against.
    let fallback = PostgresStorage::connect_with(
        PostgresConfig::new(format!("{url}?sslmode=prefer"))
            .connect_timeout(Duration::from_secs(3)),
    )
    .await;
    assert!(fallback.is_err());
    assert!(
        plaintext.load(Ordering::SeqCst),
        "the harness does not see plaintext"
    );
}
