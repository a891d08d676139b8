//! Crash durability of the SQLite backend.
//!
//! A child process (this test binary, re-run in child mode) writes keys and prints `ack N` after
//! each write returns. The parent kills it with SIGKILL at a random moment, reopens the file, and
//! checks that every acknowledged key is there with its value and that SQLite's own integrity
//! check passes. Twenty runs in a row, each with a different random kill time.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code"
)]

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use strongroom_storage::{Op, SqliteStorage, Storage};

const CHILD_ENV: &str = "STRONGROOM_CRASH_CHILD_DB";
const RUNS: usize = 20;

fn value_of(i: u64) -> Vec<u8> {
    format!("value-{i}-").repeat(12).into_bytes()
}

/// Child mode: write until killed. Does nothing when run as an ordinary test.
#[tokio::test]
async fn crash_child() {
    let Ok(path) = std::env::var(CHILD_ENV) else {
        return;
    };
    let store = SqliteStorage::open(&path).await.unwrap();
    for i in 0u64.. {
        if i % 5 == 4 {
            // Every fifth ack covers a two-key transaction.
            store
                .transaction(vec![
                    Op::put(format!("crash/{i}"), value_of(i)),
                    Op::put(format!("crash/{i}-pair"), value_of(i)),
                ])
                .await
                .unwrap();
        } else {
            store.put(&format!("crash/{i}"), value_of(i)).await.unwrap();
        }
        println!("ack {i}");
    }
}

#[tokio::test]
async fn acknowledged_writes_survive_sigkill() {
    if std::env::var(CHILD_ENV).is_ok() {
        return;
    }
    let exe = std::env::current_exe().unwrap();
    for run in 0..RUNS {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("crash.db");
        let mut child = Command::new(&exe)
            .args(["--exact", "crash_child", "--nocapture", "--test-threads=1"])
            .env(CHILD_ENV, &path)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let acked = Arc::new(Mutex::new(Vec::<u64>::new()));
        let reader = {
            let acked = Arc::clone(&acked);
            std::thread::spawn(move || {
                for line in BufReader::new(stdout).lines() {
                    let Ok(line) = line else { break };
                    if let Some(n) = line.strip_prefix("ack ") {
                        acked.lock().unwrap().push(n.parse().unwrap());
                    }
                }
            })
        };
        // Let it get going (startup takes tens of milliseconds), then kill it at a random moment.
        let delay = Duration::from_millis(fastrand::u64(30..400));
        tokio::time::sleep(delay).await;
        child.kill().unwrap(); // SIGKILL on Unix
        child.wait().unwrap();
        reader.join().unwrap();
        let acked = acked.lock().unwrap().clone();

        let store = SqliteStorage::open(&path).await.unwrap();
        for &i in &acked {
            let got = store.get(&format!("crash/{i}")).await.unwrap();
            assert_eq!(
                got,
                Some(value_of(i)),
                "run {run}: acknowledged key {i} lost"
            );
            if i % 5 == 4 {
                let pair = store.get(&format!("crash/{i}-pair")).await.unwrap();
                assert_eq!(pair, Some(value_of(i)), "run {run}: half a transaction");
            }
        }
        // Every key present is either acknowledged or the one in flight at the kill.
        let present = store.list("crash/").await.unwrap();
        let in_flight = acked.last().map_or(0, |n| n + 1);
        for key in &present {
            let n: u64 = key.trim_end_matches("-pair").parse().unwrap();
            assert!(n <= in_flight, "run {run}: key {key} was never written");
        }
        store.close().await;

        let pool = sqlx::SqlitePool::connect_with(
            sqlx::sqlite::SqliteConnectOptions::new().filename(&path),
        )
        .await
        .unwrap();
        let check: String = sqlx::query_scalar("PRAGMA integrity_check")
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(check, "ok", "run {run}: integrity check failed");
        pool.close().await;
        eprintln!(
            "run {run}: killed after {delay:?}, {} acknowledged, all present",
            acked.len()
        );
    }
}
