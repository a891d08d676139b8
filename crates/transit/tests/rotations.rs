//! A key with 10 000 versions (vault#26309: Vault keeps every version in one entry and breaks
//! its 1 MiB limit): every rotation writes a bounded amount, the largest stored entry stays
//! small, the first version's ciphertext still decrypts, and the key still reads and trims.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code"
)]

use std::sync::Arc;
use std::time::Instant;

use serde_json::{Map, Value, json};
use strongroom_logical::{Backend, Context, Operation, Request, StorageView};
use strongroom_storage::{MemoryStorage, Storage};

fn request(operation: Operation, path: &str, body: Value) -> Request {
    let Value::Object(data) = body else {
        panic!("not an object")
    };
    Request::new(operation, path).with_data(data)
}

async fn call(engine: &dyn Backend, ctx: &Context, path: &str, body: Value) -> Map<String, Value> {
    engine
        .handle(ctx, request(Operation::Update, path, body))
        .await
        .unwrap_or_else(|e| panic!("{path}: {e}"))
        .data
        .unwrap_or_default()
}

/// The largest value stored under `prefix` (walks the tree).
async fn largest(storage: &dyn Storage, prefix: &str) -> usize {
    let mut biggest = 0;
    let mut folders = vec![prefix.to_owned()];
    while let Some(folder) = folders.pop() {
        for child in storage.list(&folder).await.unwrap() {
            let path = format!("{folder}{child}");
            if child.ends_with('/') {
                folders.push(path);
            } else {
                biggest = biggest.max(storage.get(&path).await.unwrap().unwrap().len());
            }
        }
    }
    biggest
}

#[tokio::test]
async fn ten_thousand_rotations() {
    let raw: Arc<dyn Storage> = Arc::new(MemoryStorage::new());
    let view = StorageView::new(Arc::clone(&raw), "transit/").unwrap();
    let ctx = Context::new(view, "transit/");
    let transit = strongroom_transit::Transit::default();
    let engine: &dyn Backend = &transit;
    call(engine, &ctx, "keys/big", json!({})).await;
    let first = call(
        engine,
        &ctx,
        "encrypt/big",
        json!({"plaintext": "Zmlyc3Q="}),
    )
    .await;

    let started = Instant::now();
    let mut slowest = std::time::Duration::ZERO;
    // The API's rotate answers with every version (OpenBao's response), so its reply grows;
    // the rotation itself is `rotate_key`, which the API calls: 9 990 of those, then 10 over
    // the API.
    for i in 0..9_990_u32 {
        let one = Instant::now();
        assert_eq!(transit.rotate_key(&ctx, "big").await.unwrap(), i + 2);
        slowest = slowest.max(one.elapsed());
    }
    for _ in 0..10 {
        engine
            .handle(
                &ctx,
                request(Operation::Update, "keys/big/rotate", json!({})),
            )
            .await
            .unwrap();
    }
    eprintln!(
        "10 000 rotations in {:?} (slowest {:?})",
        started.elapsed(),
        slowest
    );

    let latest = call(
        engine,
        &ctx,
        "encrypt/big",
        json!({"plaintext": "bGFzdA=="}),
    )
    .await;
    assert_eq!(latest["key_version"], 10_001);
    let plain = call(
        engine,
        &ctx,
        "decrypt/big",
        json!({"ciphertext": first["ciphertext"]}),
    )
    .await;
    assert_eq!(plain["plaintext"], "Zmlyc3Q=");
    let biggest = largest(&*raw, "transit/").await;
    assert!(
        biggest < 64 * 1024,
        "a stored entry grew to {biggest} bytes: rotation cost would grow with the versions"
    );

    // The key lists all its versions, and trimming removes the old ones' entries.
    let read = engine
        .handle(&ctx, request(Operation::Read, "keys/big", json!({})))
        .await
        .unwrap()
        .data
        .unwrap();
    assert_eq!(read["keys"].as_object().unwrap().len(), 10_001);
    call(
        engine,
        &ctx,
        "keys/big/config",
        json!({"min_decryption_version": 9_000, "min_encryption_version": 10_000}),
    )
    .await;
    let trimmed = call(
        engine,
        &ctx,
        "keys/big/trim",
        json!({"min_available_version": 9_000}),
    )
    .await;
    assert_eq!(trimmed["keys"].as_object().unwrap().len(), 1_002);
    let config: Value =
        serde_json::from_slice(&raw.get("transit/keys/big").await.unwrap().unwrap()).unwrap();
    let versions = format!("transit/material/{}/v/", config["id"].as_str().unwrap());
    assert_eq!(raw.list(&versions).await.unwrap().len(), 1_002);
}
