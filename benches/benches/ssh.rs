//! SSH: user certificates signed through the embedded vault (`ssh/sign/<role>`, an Ed25519 and
//! an RSA-2048 CA with `rsa-sha2-256`), each beside the raw signing cost in the same run — ring
//! signing a certificate-sized message with the same kind of key — so each ratio is what the
//! vault adds (the role's checks, the certificate builder, the CA key's loading, the answer).
//! See BENCHMARKS.md.
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::unwrap_in_result,
    clippy::indexing_slicing,
    reason = "bench code: a failure is a failed bench"
)]

use std::hint::black_box;

use base64::Engine as _;
use criterion::{Criterion, criterion_group, criterion_main};
use ring::rand::SystemRandom;
use ring::signature::{Ed25519KeyPair, KeyPair as _, RSA_PKCS1_SHA256, RsaKeyPair};
use serde_json::{Value, json};
use strongroom_core::Vault;
use strongroom_pki::keys::{KeySpec, PrivateKey};
use strongroom_storage::MemoryStorage;

/// About the size of a user certificate's signed part (nonce, key, principals, extensions,
/// the CA key).
const TBS_LEN: usize = 320;

/// An OpenSSH `ssh-ed25519` public key line for a fresh key.
fn client_key() -> String {
    let pkcs8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).unwrap();
    let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap();
    let mut blob = Vec::new();
    for part in [b"ssh-ed25519".as_slice(), pair.public_key().as_ref()] {
        blob.extend_from_slice(&u32::try_from(part.len()).unwrap().to_be_bytes());
        blob.extend_from_slice(part);
    }
    format!(
        "ssh-ed25519 {}",
        base64::engine::general_purpose::STANDARD.encode(blob)
    )
}

async fn vault() -> (Vault, String) {
    let vault = Vault::builder(MemoryStorage::new())
        .background_expiry(false)
        .build()
        .unwrap();
    let root = strongroom_benches::unsealed_root(&vault).await.unwrap();
    let setup = |path: &'static str, body: Value| {
        let (vault, root) = (vault.clone(), root.clone());
        async move { vault.write(&root, path, body).await.unwrap() }
    };
    setup("sys/mounts/ssh", json!({"type": "ssh"})).await;
    setup("sys/mounts/ssh-rsa", json!({"type": "ssh"})).await;
    setup("ssh/config/ca", json!({"key_type": "ed25519"})).await;
    setup(
        "ssh-rsa/config/ca",
        json!({"key_type": "rsa", "key_bits": 2048}),
    )
    .await;
    let role = json!({"key_type": "ca", "allow_user_certificates": true,
                      "allowed_users": "alice", "default_user": "alice",
                      "default_extensions": {"permit-pty": ""}, "ttl": "1h"});
    setup("ssh/roles/user", role.clone()).await;
    let mut rsa_role = role;
    rsa_role["algorithm_signer"] = json!("rsa-sha2-256");
    setup("ssh-rsa/roles/user", rsa_role).await;
    (vault, root)
}

fn ssh(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let (vault, root) = rt.block_on(vault());
    let public_key = client_key();
    let request = json!({"public_key": public_key, "valid_principals": "alice"});
    let message = vec![0x5a_u8; TBS_LEN];
    let rng = SystemRandom::new();

    let mut group = c.benchmark_group("ssh");
    // The baselines: ring signing a certificate-sized message.
    let ed_pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
    let ed = Ed25519KeyPair::from_pkcs8(ed_pkcs8.as_ref()).unwrap();
    group.bench_function("ring/sign/ed25519", |b| {
        b.iter(|| black_box(ed.sign(black_box(&message))));
    });
    let rsa_key = PrivateKey::generate(KeySpec::parse("rsa", 2048).unwrap()).unwrap();
    let rsa = RsaKeyPair::from_pkcs8(rsa_key.pkcs8()).unwrap();
    group.bench_function("ring/sign/rsa-sha2-256", |b| {
        let mut signature = vec![0u8; rsa.public().modulus_len()];
        b.iter(|| {
            rsa.sign(&RSA_PKCS1_SHA256, &rng, black_box(&message), &mut signature)
                .unwrap();
            black_box(&signature);
        });
    });
    // Through the vault.
    for (name, mount) in [
        ("vault/sign/ed25519", "ssh"),
        ("vault/sign/rsa-sha2-256", "ssh-rsa"),
    ] {
        let path = format!("{mount}/sign/user");
        group.bench_function(name, |b| {
            b.to_async(&rt).iter(|| async {
                let answer = vault.write(&root, &path, request.clone()).await.unwrap();
                black_box(answer)
            });
        });
    }
    group.finish();
}

criterion_group!(benches, ssh);
criterion_main!(benches);
