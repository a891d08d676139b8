//! The transit engine through the vault's pipeline: what needs the core — policies (upsert needs
//! `create`), the core's periodic pass rotating idle keys on a manual clock, and persistence
//! across a seal. The engine's own behaviour (versions, batches, derived and convergent keys,
//! signatures, HMACs, export, backup and restore, auto-rotation, bad input) is tested in
//! `strongroom-transit` (`tests/api.rs`).

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

use serde_json::{Value, json};
use strongroom_core::{ManualClock, Vault, VaultError};
use strongroom_storage::MemoryStorage;

struct Setup {
    vault: Vault,
    root: String,
    key: String,
    clock: Arc<ManualClock>,
}

async fn setup() -> Setup {
    let clock = Arc::new(ManualClock::new(
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000),
    ));
    let vault = Vault::builder(MemoryStorage::new())
        .clock(clock.clone())
        .background_expiry(false)
        .build()
        .unwrap();
    let (root, key) = common::unsealed_with(&vault, "transit").await;
    Setup {
        vault,
        root,
        key,
        clock,
    }
}

fn b64(bytes: &[u8]) -> String {
    use base64ct::Encoding as _;
    base64ct::Base64::encode_string(bytes)
}

async fn write(s: &Setup, path: &str, body: Value) -> serde_json::Map<String, Value> {
    s.vault
        .write(&s.root, path, body)
        .await
        .unwrap_or_else(|e| panic!("{path}: {e}"))
        .data
        .unwrap_or_default()
}

#[tokio::test]
async fn policies_periodic_rotation_and_persistence() {
    let s = setup().await;
    write(&s, "transit/keys/app", json!({"auto_rotate_period": "24h"})).await;
    // The core runs the engines' periodic pass (the background task runs it each minute): an
    // idle key whose period has passed rotates without any request touching it.
    write(&s, "transit/keys/idle", json!({"auto_rotate_period": "1h"})).await;
    write(&s, "transit/keys/manual", json!({})).await;
    s.clock.advance(Duration::from_secs(2 * 3600));
    assert_eq!(s.vault.run_periodic().await.unwrap(), 0);
    for (name, expected) in [("idle", 2), ("manual", 1)] {
        let key = s
            .vault
            .read(&s.root, &format!("transit/keys/{name}"))
            .await
            .unwrap()
            .data
            .unwrap();
        assert_eq!(key["latest_version"], expected, "{name}");
    }

    // A token that may use the key but not create keys: upsert is refused.
    write(
        &s,
        "sys/policies/acl/app",
        json!({"policy": r#"
            path "transit/encrypt/*" { capabilities = ["update"] }
            path "transit/decrypt/app" { capabilities = ["update"] }
        "#}),
    )
    .await;
    let token = s
        .vault
        .write(&s.root, "auth/token/create", json!({"policies": ["app"]}))
        .await
        .unwrap()
        .auth
        .unwrap()
        .client_token;
    let app_ct = s
        .vault
        .write(
            &token,
            "transit/encrypt/app",
            json!({"plaintext": b64(b"q")}),
        )
        .await
        .unwrap()
        .data
        .unwrap();
    let denied = s
        .vault
        .write(
            &token,
            "transit/encrypt/newkey",
            json!({"plaintext": b64(b"q")}),
        )
        .await
        .unwrap_err();
    assert!(matches!(denied, VaultError::PermissionDenied), "{denied}");
    assert!(s.vault.read(&token, "transit/keys/app").await.is_err());

    // Keys survive a seal (they live inside the barrier).
    s.vault.seal().await;
    s.vault.unseal(&s.key).await.unwrap();
    let plain = write(
        &s,
        "transit/decrypt/app",
        json!({"ciphertext": app_ct["ciphertext"]}),
    )
    .await;
    assert_eq!(plain["plaintext"], b64(b"q"));
}
