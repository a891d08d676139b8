//! The PostgreSQL HA lock on a real server: election on the database clock, epochs, fencing of
//! a node that lost the lock (also against writes in flight during a takeover), peers, and
//! surviving dropped connections.
//!
//! Needs `STRONGROOM_TEST_POSTGRES_URL`; see `postgres.rs`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code"
)]

use std::sync::Arc;
use std::time::Duration;

use strongroom_storage::{
    HaLock, HaNode, HaTiming, PostgresConfig, PostgresHa, PostgresHaConfig, PostgresStorage,
    StorageError,
};

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

fn timing() -> HaTiming {
    HaTiming::default()
        .lease(Duration::from_millis(400))
        .renew_interval(Duration::from_millis(100))
        .retry_interval(Duration::from_millis(50))
}

/// Two "nodes" (each its own pool) on fresh tables named after the test.
async fn nodes(name: &str) -> Option<(String, PostgresHa, PostgresHa)> {
    let url = url()?;
    let data = format!("strongroom_test_ha_{name}");
    let ha = format!("strongroom_test_ha_{name}_locks");
    let pool = sqlx::PgPool::connect(&url).await.unwrap();
    for table in [&data, &ha] {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP TABLE IF EXISTS \"{table}\""
        )))
        .execute(&pool)
        .await
        .unwrap();
    }
    pool.close().await;
    let mut out = Vec::new();
    for _ in 0..2 {
        let store = PostgresStorage::connect_with(PostgresConfig::new(&url).table(&data))
            .await
            .unwrap();
        let lock = PostgresHa::connect(
            &store,
            PostgresHaConfig::default().table(&ha).timing(timing()),
        )
        .await
        .unwrap();
        out.push(lock);
    }
    let b = out.pop().unwrap();
    let a = out.pop().unwrap();
    Some((data, a, b))
}

fn node(id: &str) -> HaNode {
    HaNode::new(
        id,
        format!("http://{id}:8200"),
        format!("https://{id}:8201"),
    )
    .describe(id, "test")
}

#[tokio::test]
async fn election_epochs_and_fencing() {
    let Some((_, a, b)) = nodes("election").await else {
        return;
    };
    assert!(matches!(
        a.fenced().put("k", b"x".to_vec()).await,
        Err(StorageError::Fenced)
    ));
    let e1 = a.try_acquire(&node("a")).await.unwrap().expect("free lock");
    assert_eq!(b.try_acquire(&node("b")).await.unwrap(), None);
    let leader = b.leader().await.unwrap().unwrap();
    assert_eq!((leader.node.id.as_str(), leader.epoch), ("a", e1));
    assert_eq!(leader.node.cluster_addr, "https://a:8201");
    a.fenced().put("k", b"1".to_vec()).await.unwrap();
    assert!(
        b.fenced().put("k", b"b".to_vec()).await.is_err(),
        "b does not hold it"
    );
    // Every shape of write is fenced: one put or delete (one statement), a transaction.
    a.fenced().put("gone", b"x".to_vec()).await.unwrap();
    a.fenced().delete("gone").await.unwrap();
    a.fenced()
        .transaction(vec![
            strongroom_storage::Op::put("t1", b"1".to_vec()),
            strongroom_storage::Op::put("t2", b"2".to_vec()),
        ])
        .await
        .unwrap();
    assert_eq!(a.unfenced().get("gone").await.unwrap(), None);
    assert_eq!(
        a.unfenced().get("t2").await.unwrap().as_deref(),
        Some(&b"2"[..])
    );
    // Renewals keep it past several lease times.
    for _ in 0..6 {
        tokio::time::sleep(Duration::from_millis(150)).await;
        assert!(a.renew(e1).await.unwrap());
        assert_eq!(b.try_acquire(&node("b")).await.unwrap(), None);
    }
    // a stops renewing (paused); b takes over once the lease ran out on the database's clock.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let e2 = b
        .try_acquire(&node("b"))
        .await
        .unwrap()
        .expect("expired lease");
    assert!(e2 > e1);
    b.fenced().put("k", b"2".to_vec()).await.unwrap();
    // a wakes up: every write refused, the fence closes, `lost` fires, renew says lost.
    let lost = tokio::spawn({
        let fenced = a.fenced();
        async move { fenced.put("k", b"stale".to_vec()).await }
    });
    assert!(matches!(lost.await.unwrap(), Err(StorageError::Fenced)));
    tokio::time::timeout(Duration::from_secs(1), a.lost())
        .await
        .expect("lost fires");
    assert_eq!(a.held(), None);
    assert!(!a.renew(e1).await.unwrap());
    assert!(matches!(
        a.fenced().delete("t1").await,
        Err(StorageError::Fenced)
    ));
    assert_eq!(
        a.unfenced().get("k").await.unwrap().as_deref(),
        Some(&b"2"[..])
    );
    // Release hands over at once.
    b.release(e2).await.unwrap();
    assert!(b.fenced().put("k", b"3".to_vec()).await.is_err());
    let e3 = a.try_acquire(&node("a")).await.unwrap().expect("released");
    assert_eq!(e3, e2 + 1);
}

/// Writes in flight while a takeover happens: each either lands before the new epoch (and is
/// then seen), or is refused; none lands after the successor's first write.
#[tokio::test]
async fn no_write_lands_after_a_takeover() {
    let Some((data, a, b)) = nodes("inflight").await else {
        return;
    };
    let e1 = a.try_acquire(&node("a")).await.unwrap().unwrap();
    let a = Arc::new(a);
    let writer = tokio::spawn({
        let a = Arc::clone(&a);
        async move {
            let store = a.fenced();
            let mut acked = Vec::new();
            for i in 0..100_000_u32 {
                match store.put(&format!("w/{i:06}"), b"a".to_vec()).await {
                    Ok(()) => acked.push(i),
                    Err(StorageError::Fenced) => return acked,
                    Err(other) => panic!("{other}"),
                }
            }
            acked
        }
    });
    tokio::time::sleep(Duration::from_millis(600)).await; // a never renews: its lease runs out
    let e2 = loop {
        if let Some(epoch) = b.try_acquire(&node("b")).await.unwrap() {
            break epoch;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(e2 > e1);
    b.fenced().put("marker", b"b".to_vec()).await.unwrap();
    let acked = writer.await.unwrap();
    assert!(!acked.is_empty());
    // Every acknowledged write is there; nothing was written after the marker by a.
    let pool = sqlx::PgPool::connect(&url().unwrap()).await.unwrap();
    let stored: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT count(*) FROM \"{data}\" WHERE key LIKE 'w/%'"
    )))
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(stored, i64::try_from(acked.len()).unwrap());
    assert!(a.held().is_none());
}

#[tokio::test]
async fn peers_and_dropped_connections() {
    let Some((data, a, b)) = nodes("peers").await else {
        return;
    };
    a.heartbeat(&node("a")).await.unwrap();
    b.heartbeat(&node("b")).await.unwrap();
    let peers = a.peers(Duration::from_secs(10)).await.unwrap();
    let ids: Vec<&str> = peers.iter().map(|p| p.node.id.as_str()).collect();
    assert_eq!(ids, ["a", "b"]);
    assert_eq!(peers[1].node.api_addr, "http://b:8200");
    let epoch = a.try_acquire(&node("a")).await.unwrap().unwrap();
    // The server drops every connection of ours (as a restart does): the next calls reconnect.
    let admin = sqlx::PgPool::connect(&url().unwrap()).await.unwrap();
    sqlx::query(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE application_name = 'strongroom' AND pid <> pg_backend_pid()",
    )
    .execute(&admin)
    .await
    .unwrap();
    let mut renewed = false;
    for _ in 0..20 {
        match a.renew(epoch).await {
            Ok(ok) => {
                renewed = ok;
                break;
            }
            Err(err) => assert!(err.is_retryable(), "{err}"),
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(renewed, "renewal works again after the connections dropped");
    let mut wrote = false;
    for _ in 0..20 {
        if a.fenced().put("after", b"1".to_vec()).await.is_ok() {
            wrote = true;
            break;
        }
    }
    assert!(wrote);
    let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT count(*) FROM \"{data}\" WHERE key = 'after'"
    )))
    .fetch_one(&admin)
    .await
    .unwrap();
    assert_eq!(n, 1);
}

#[tokio::test]
async fn a_foreign_ha_table_is_refused() {
    let Some(url) = url() else { return };
    let pool = sqlx::PgPool::connect(&url).await.unwrap();
    for ddl in [
        "DROP TABLE IF EXISTS strongroom_test_vault_ha_locks",
        "CREATE TABLE strongroom_test_vault_ha_locks (ha_key TEXT COLLATE \"C\" NOT NULL, \
         ha_identity TEXT COLLATE \"C\" NOT NULL, ha_value TEXT COLLATE \"C\", \
         valid_until TIMESTAMP WITH TIME ZONE NOT NULL, CONSTRAINT ha_key PRIMARY KEY (ha_key))",
    ] {
        sqlx::query(ddl).execute(&pool).await.unwrap();
    }
    let store = PostgresStorage::connect_with(
        PostgresConfig::new(&url).table("strongroom_test_ha_foreign"),
    )
    .await
    .unwrap();
    let err = PostgresHa::connect(
        &store,
        PostgresHaConfig::default().table("strongroom_test_vault_ha_locks"),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, StorageError::Config(_)), "{err}");
}

/// Each shape of write (one put, one delete, a transaction) from a holder whose lease was taken
/// over is refused by the store itself, with its fence still open, and changes nothing.
#[tokio::test]
async fn every_shape_of_stale_write_is_refused_by_the_database() {
    let Some((_, a, b)) = nodes("shapes").await else {
        return;
    };
    let ea = a.try_acquire(&node("a")).await.unwrap().unwrap();
    a.fenced().put("k", b"kept".to_vec()).await.unwrap();
    a.release(ea).await.unwrap();
    let shapes: Vec<Vec<strongroom_storage::Op>> = vec![
        vec![strongroom_storage::Op::put("k", b"stale".to_vec())],
        vec![strongroom_storage::Op::delete("k")],
        vec![
            strongroom_storage::Op::put("k", b"stale".to_vec()),
            strongroom_storage::Op::put("other", b"stale".to_vec()),
        ],
        vec![
            strongroom_storage::Op::check("k", Some(b"kept".to_vec())),
            strongroom_storage::Op::delete("k"),
        ],
    ];
    for ops in shapes {
        let stale = loop {
            if let Some(epoch) = a.try_acquire(&node("a")).await.unwrap() {
                break epoch;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        // b takes over while a still believes it holds the lock (a never renews).
        tokio::time::sleep(Duration::from_millis(450)).await;
        let fresh = b.try_acquire(&node("b")).await.unwrap().expect("expired");
        assert!(fresh > stale);
        assert_eq!(a.held(), Some(stale), "a's fence is still open");
        assert!(
            matches!(
                a.fenced().transaction(ops.clone()).await,
                Err(StorageError::Fenced)
            ),
            "{ops:?}"
        );
        assert_eq!(a.held(), None);
        assert_eq!(
            a.unfenced().get("k").await.unwrap().as_deref(),
            Some(&b"kept"[..])
        );
        assert_eq!(a.unfenced().get("other").await.unwrap(), None);
        b.release(fresh).await.unwrap();
    }
}
