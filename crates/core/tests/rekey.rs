//! Rekeying the unseal shares through the vault: new count and threshold, verification before
//! the new shares take effect, and full rotation (key-encryption key and barrier root key).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code"
)]

use serde_json::json;
use strongroom_core::{InitRequest, RekeyConfig, RekeyUpdate, Vault};
use strongroom_storage::MemoryStorage;

async fn unsealed() -> (Vault, String, Vec<String>) {
    let vault = Vault::builder(MemoryStorage::new()).build();
    let init = vault.init(InitRequest::new(5, 3)).await.unwrap();
    let keys: Vec<String> = init
        .keys
        .iter()
        .map(|k| k.expose_secret().to_owned())
        .collect();
    for key in &keys[..3] {
        vault.unseal(key).await.unwrap();
    }
    let root = init.root_token.expose_secret().to_owned();
    vault
        .write(&root, "sys/mounts/kv", json!({"type": "kv"}))
        .await
        .unwrap();
    vault
        .write(&root, "kv/x", json!({"v": "kept"}))
        .await
        .unwrap();
    (vault, root, keys)
}

async fn unseal_with(vault: &Vault, keys: &[String]) -> bool {
    vault.seal().await;
    for key in keys {
        if vault.unseal(key).await.is_err() {
            vault.unseal_reset();
            return false;
        }
    }
    !vault.seal_status().await.unwrap().sealed
}

fn issued(update: RekeyUpdate) -> (Vec<String>, Option<String>) {
    match update {
        RekeyUpdate::Issued {
            keys,
            verification_nonce,
            ..
        } => (
            keys.iter().map(|k| k.expose_secret().to_owned()).collect(),
            verification_nonce,
        ),
        other => panic!("expected new shares, got {other:?}"),
    }
}

#[tokio::test]
async fn rekey_to_a_new_split() {
    let (vault, root, old) = unsealed().await;
    let status = vault.rekey_init(RekeyConfig::new(3, 2)).await.unwrap();
    assert_eq!((status.required, status.n, status.t), (3, 3, 2));
    assert!(
        vault.rekey_init(RekeyConfig::new(3, 2)).await.is_err(),
        "one at a time"
    );
    assert!(vault.rekey_update(&old[0], "wrong-nonce").await.is_err());
    vault.rekey_update(&old[0], &status.nonce).await.unwrap();
    vault.rekey_update(&old[3], &status.nonce).await.unwrap();
    let (new, verification) = issued(vault.rekey_update(&old[4], &status.nonce).await.unwrap());
    assert_eq!(new.len(), 3);
    assert!(verification.is_none());
    assert!(vault.rekey_status().is_none());

    assert!(
        !unseal_with(&vault, &old[..3]).await,
        "old shares no longer unseal"
    );
    assert!(unseal_with(&vault, &new[1..3]).await);
    assert_eq!(vault.seal_status().await.unwrap().t, 2);
    assert_eq!(
        vault.read(&root, "kv/x").await.unwrap().data.unwrap()["v"],
        "kept"
    );
}

#[tokio::test]
async fn new_shares_take_effect_only_after_verification() {
    let (vault, root, old) = unsealed().await;
    let config = RekeyConfig::new(2, 2).require_verification(true);
    let status = vault.rekey_init(config).await.unwrap();
    vault.rekey_update(&old[1], &status.nonce).await.unwrap();
    vault.rekey_update(&old[2], &status.nonce).await.unwrap();
    let (new, verification) = issued(vault.rekey_update(&old[3], &status.nonce).await.unwrap());
    let verification = verification.unwrap();
    assert!(vault.rekey_status().unwrap().verifying);
    // Not verified yet: the old split is still the one in force.
    let status = vault.seal_status().await.unwrap();
    assert_eq!((status.n, status.t), (5, 3));
    vault.rekey_verify(&new[0], &verification).await.unwrap();
    let done = vault.rekey_verify(&new[1], &verification).await.unwrap();
    assert!(matches!(done, RekeyUpdate::Complete));
    let status = vault.seal_status().await.unwrap();
    assert_eq!((status.n, status.t), (2, 2));
    assert!(!unseal_with(&vault, &old[..3]).await);
    assert!(unseal_with(&vault, &new).await);
    assert_eq!(
        vault.read(&root, "kv/x").await.unwrap().data.unwrap()["v"],
        "kept"
    );
}

#[tokio::test]
async fn rotation_replaces_the_keys_and_keeps_the_data() {
    let (vault, root, old) = unsealed().await;
    let status = vault
        .rekey_init(RekeyConfig::new(1, 1).rotate(true))
        .await
        .unwrap();
    for key in &old[..2] {
        vault.rekey_update(key, &status.nonce).await.unwrap();
    }
    let (new, _) = issued(vault.rekey_update(&old[2], &status.nonce).await.unwrap());
    assert_eq!(new.len(), 1);
    assert!(unseal_with(&vault, &new).await);
    assert_eq!(
        vault.read(&root, "kv/x").await.unwrap().data.unwrap()["v"],
        "kept"
    );
    // Cancelling a rekey leaves everything as it was. (With a threshold of 1, one share would
    // already complete it, so cancel before any.)
    vault.rekey_init(RekeyConfig::new(3, 2)).await.unwrap();
    vault.rekey_cancel();
    assert!(vault.rekey_status().is_none());
    assert!(unseal_with(&vault, &new).await);
}

#[tokio::test]
async fn break_glass_root_generation() {
    let (vault, _root, keys) = unsealed().await;
    let outsider = Vault::builder(MemoryStorage::new()).build();
    let other = outsider.init(InitRequest::new(1, 1)).await.unwrap();
    // Starting needs no share (who may start is the API's ACL decision); one attempt at a time.
    assert!(vault.generate_root_status().is_none());
    let started = vault.generate_root_init().await.unwrap();
    assert_eq!(started.progress.have, 0);
    assert!(
        vault.generate_root_init().await.is_err(),
        "one attempt at a time"
    );
    vault.generate_root_cancel();
    assert!(vault.generate_root_status().is_none());
    let started = vault.generate_root_init().await.unwrap();
    let nonce = started.progress.nonce.clone();
    // A share of another vault is refused and not counted.
    assert!(
        vault
            .generate_root_update(other.keys[0].expose_secret(), &nonce)
            .await
            .is_err()
    );
    assert_eq!(vault.generate_root_status().unwrap().have, 0);
    for key in &keys[..2] {
        let step = vault.generate_root_update(key, &nonce).await.unwrap();
        assert!(matches!(
            step,
            strongroom_core::GenerateRootUpdate::Pending(_)
        ));
    }
    let strongroom_core::GenerateRootUpdate::Complete { encoded_token } =
        vault.generate_root_update(&keys[4], &nonce).await.unwrap()
    else {
        panic!("expected the encoded token");
    };
    let token =
        strongroom_seal::decode_with_otp(&encoded_token, started.otp.expose_secret()).unwrap();
    let me = vault
        .read(token.expose_secret(), "auth/token/lookup-self")
        .await
        .unwrap()
        .data
        .unwrap();
    assert_eq!(me["policies"], json!(["root"]));
    assert!(vault.generate_root_status().is_none());
}
