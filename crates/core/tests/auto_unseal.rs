//! Auto-unseal: the root key is wrapped by a seal (here the static-key seal), the vault unseals
//! by itself, and the shares `init` returns are recovery shares for quorum operations only.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code"
)]

use std::sync::Arc;

use serde_json::json;
use strongroom_core::{GenerateRootUpdate, InitRequest, RekeyConfig, RekeyUpdate, Vault};
use strongroom_seal::{StaticKeySeal, decode_with_otp};
use strongroom_storage::{MemoryStorage, Storage};

fn seal(byte: u8) -> Arc<StaticKeySeal> {
    Arc::new(StaticKeySeal::from_bytes(&[byte; 32]).unwrap())
}

#[tokio::test]
async fn auto_unseal_with_recovery_shares() {
    let storage: Arc<dyn Storage> = Arc::new(MemoryStorage::new());
    let vault = Vault::builder(Arc::clone(&storage))
        .seal(seal(7))
        .build()
        .unwrap();
    let init = vault.init(InitRequest::new(3, 2)).await.unwrap();
    assert!(init.recovery);
    let status = vault.seal_status().await.unwrap();
    assert!(
        !status.sealed,
        "an auto-unseal vault is unsealed after init"
    );
    assert!(status.recovery_seal);
    assert_eq!(status.kind, "static");
    let root = init.root_token.expose_secret().to_owned();
    let recovery: Vec<String> = init
        .keys
        .iter()
        .map(|k| k.expose_secret().to_owned())
        .collect();
    vault
        .write(&root, "sys/mounts/kv", json!({"type": "kv"}))
        .await
        .unwrap();
    vault.write(&root, "kv/a", json!({"v": 1})).await.unwrap();

    // Recovery shares do not unseal; the key service does.
    vault.seal().await;
    assert!(vault.unseal(&recovery[0]).await.is_err());
    vault.auto_unseal().await.unwrap();
    assert_eq!(
        vault.read(&root, "kv/a").await.unwrap().data.unwrap()["v"],
        1
    );

    // A restart with the same seal comes back; with another key, or none, it does not.
    vault.seal().await;
    let wrong = Vault::builder(Arc::clone(&storage))
        .seal(seal(8))
        .build()
        .unwrap();
    assert!(wrong.auto_unseal().await.is_err());
    assert!(wrong.seal_status().await.unwrap().sealed);
    let none = Vault::builder(Arc::clone(&storage)).build().unwrap();
    assert!(none.auto_unseal().await.is_err());
    let again = Vault::builder(Arc::clone(&storage))
        .seal(seal(7))
        .build()
        .unwrap();
    again.auto_unseal().await.unwrap();
    assert_eq!(
        again.read(&root, "kv/a").await.unwrap().data.unwrap()["v"],
        1
    );

    // Quorum operations take recovery shares.
    let started = again.generate_root_init().await.unwrap();
    again
        .generate_root_update(&recovery[2], &started.progress.nonce)
        .await
        .unwrap();
    let GenerateRootUpdate::Complete { encoded_token } = again
        .generate_root_update(&recovery[0], &started.progress.nonce)
        .await
        .unwrap()
    else {
        panic!("expected the encoded token");
    };
    let new_root = decode_with_otp(&encoded_token, started.otp.expose_secret()).unwrap();
    again.read(new_root.expose_secret(), "kv/a").await.unwrap();

    // Rekeying the recovery shares, with rotation of the root key through the key service.
    let status = again
        .rekey_init(RekeyConfig::new(2, 2).rotate(true))
        .await
        .unwrap();
    again
        .rekey_update(&recovery[0], &status.nonce)
        .await
        .unwrap();
    let RekeyUpdate::Issued { keys, .. } = again
        .rekey_update(&recovery[1], &status.nonce)
        .await
        .unwrap()
    else {
        panic!("expected new recovery shares");
    };
    assert_eq!(keys.len(), 2);
    again.seal().await;
    again.auto_unseal().await.unwrap();
    assert_eq!(
        again.read(&root, "kv/a").await.unwrap().data.unwrap()["v"],
        1
    );
    // The old recovery shares no longer authorise anything; the new ones do.
    let started = again.generate_root_init().await.unwrap();
    let nonce = started.progress.nonce;
    assert!(
        again
            .generate_root_update(&recovery[0], &nonce)
            .await
            .is_err()
    );
    again
        .generate_root_update(keys[0].expose_secret(), &nonce)
        .await
        .unwrap();
}
