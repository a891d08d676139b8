//! The barrier keyring rotated on a schedule by the rotation scheduler, on a manual clock: a new
//! term each month, data written under old terms still readable, the schedule's state kept
//! inside the barrier across a seal.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code"
)]

mod common;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde_json::json;
use strongroom_core::{ManualClock, Vault};
use strongroom_rotation::Schedule;
use strongroom_storage::MemoryStorage;

const DAY: u64 = 86_400;

#[tokio::test]
async fn the_barrier_keyring_rotates_monthly() {
    let clock = Arc::new(ManualClock::new(
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000),
    ));
    let vault = Vault::builder(MemoryStorage::new())
        .clock(clock.clone())
        .background_expiry(false)
        .barrier_rotation(Schedule::every(Duration::from_secs(30 * DAY)).unwrap())
        .build()
        .unwrap();
    let (root, key) = common::unsealed_with(&vault, "kv").await;
    vault.write(&root, "kv/old", json!({"v": 1})).await.unwrap();
    let first = vault.barrier_status().unwrap().term;

    // Not due yet.
    clock.advance(Duration::from_secs(29 * DAY));
    assert_eq!(vault.run_rotations().await.unwrap().rotated, 0);
    assert_eq!(vault.barrier_status().unwrap().term, first);

    clock.advance(Duration::from_secs(2 * DAY));
    assert_eq!(vault.run_rotations().await.unwrap().rotated, 1);
    let second = vault.barrier_status().unwrap().term;
    assert_eq!(second, first + 1);
    vault.write(&root, "kv/new", json!({"v": 2})).await.unwrap();
    assert_eq!(
        vault.read(&root, "kv/old").await.unwrap().data.unwrap()["v"],
        1
    );

    // Across a seal the schedule resumes from storage: no rotation until a month later.
    vault.seal().await;
    vault.unseal(&key).await.unwrap();
    assert_eq!(vault.run_rotations().await.unwrap().rotated, 0);
    clock.advance(Duration::from_secs(31 * DAY));
    assert_eq!(vault.run_rotations().await.unwrap().rotated, 1);
    assert_eq!(vault.barrier_status().unwrap().term, second + 1);
    for (path, v) in [("kv/old", 1), ("kv/new", 2)] {
        assert_eq!(vault.read(&root, path).await.unwrap().data.unwrap()["v"], v);
    }
}
