//! A login through the embedded vault for each auth method, beside a baseline in the same run:
//! `auth/token/create` by the root token — the token minting every login ends with — so each
//! ratio is what the method adds. userpass is measured for a real user and for an unknown one
//! (the same argon2id work, by design); jwt for EdDSA and RS256 tokens checked against PEM
//! keys. See BENCHMARKS.md.
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::unwrap_in_result,
    clippy::indexing_slicing,
    reason = "bench code: a failure is a failed bench"
)]

use std::time::{Duration, SystemTime};

use base64::Engine as _;
use criterion::{Criterion, criterion_group, criterion_main};
use ring::signature::KeyPair as _;
use serde_json::{Value, json};
use strongroom_core::Vault;
use strongroom_storage::MemoryStorage;

async fn vault() -> (Vault, String) {
    let vault = Vault::builder(MemoryStorage::new())
        .background_expiry(false)
        .build()
        .unwrap();
    let root = strongroom_benches::unsealed_root(&vault).await.unwrap();
    for kind in ["userpass", "approle", "jwt"] {
        vault
            .write(&root, &format!("sys/auth/{kind}"), json!({"type": kind}))
            .await
            .unwrap();
    }
    (vault, root)
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn jwt(alg: &str, sign: impl Fn(&[u8]) -> Vec<u8>) -> String {
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let input = format!(
        "{}.{}",
        b64(json!({"alg": alg}).to_string().as_bytes()),
        b64(
            json!({"sub": "bench", "aud": "vault", "exp": now + 3600, "iat": now})
                .to_string()
                .as_bytes()
        )
    );
    let signature = sign(input.as_bytes());
    format!("{input}.{}", b64(&signature))
}

fn auth(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let (vault, root) = rt.block_on(vault());
    let setup = |path: &str, body: Value| {
        rt.block_on(vault.write(&root, path, body)).unwrap();
    };
    setup(
        "auth/userpass/users/alice",
        json!({"password": "correct horse battery staple", "token_policies": "p"}),
    );
    setup("auth/approle/role/app", json!({"token_policies": "p"}));
    let role_id = rt
        .block_on(vault.read(&root, "auth/approle/role/app/role-id"))
        .unwrap()
        .data
        .unwrap()["role_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let secret_id = rt
        .block_on(vault.write(&root, "auth/approle/role/app/secret-id", json!({})))
        .unwrap()
        .data
        .unwrap()["secret_id"]
        .as_str()
        .unwrap()
        .to_owned();
    // JWT: an Ed25519 key and the checked-in RSA test key, both as PEM.
    let rng = ring::rand::SystemRandom::new();
    let pkcs8 = ring::signature::Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
    let ed = ring::signature::Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap();
    let mut spki = vec![
        0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
    ];
    spki.extend_from_slice(ed.public_key().as_ref());
    let ed_pem = format!(
        "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----",
        base64::engine::general_purpose::STANDARD.encode(&spki)
    );
    let rsa_pem = include_str!("../../crates/auth/tests/fixtures/rsa-test-key.pub.pem");
    let rsa_der: String = include_str!("../../crates/auth/tests/fixtures/rsa-test-key.pem")
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect();
    let rsa = ring::signature::RsaKeyPair::from_pkcs8(
        &base64::engine::general_purpose::STANDARD
            .decode(rsa_der)
            .unwrap(),
    )
    .unwrap();
    setup(
        "auth/jwt/config",
        json!({"jwt_validation_pubkeys": [ed_pem, rsa_pem], "jwt_supported_algs": ["EdDSA", "RS256"]}),
    );
    setup(
        "auth/jwt/role/ci",
        json!({"bound_audiences": "vault", "token_policies": "p", "user_claim": "sub"}),
    );
    let ed_jwt = jwt("EdDSA", |m| ed.sign(m).as_ref().to_vec());
    let rsa_jwt = jwt("RS256", |m| {
        let mut out = vec![0; rsa.public().modulus_len()];
        rsa.sign(&ring::signature::RSA_PKCS1_SHA256, &rng, m, &mut out)
            .unwrap();
        out
    });

    let mut group = c.benchmark_group("auth");
    group.measurement_time(Duration::from_secs(4));
    group.bench_function("baseline: token create (root)", |b| {
        b.to_async(&rt).iter(|| async {
            vault
                .write(&root, "auth/token/create", json!({"policies": ["p"]}))
                .await
                .unwrap()
        });
    });
    let login = |path: &'static str, body: Value| {
        let vault = vault.clone();
        move || {
            let vault = vault.clone();
            let body = body.clone();
            async move { vault.login(path, body).await }
        }
    };
    group.bench_function("approle login", |b| {
        b.to_async(&rt).iter(login(
            "auth/approle/login",
            json!({"role_id": role_id, "secret_id": secret_id}),
        ));
    });
    group.bench_function("jwt login (EdDSA)", |b| {
        b.to_async(&rt).iter(login(
            "auth/jwt/login",
            json!({"role": "ci", "jwt": ed_jwt}),
        ));
    });
    group.bench_function("jwt login (RS256)", |b| {
        b.to_async(&rt).iter(login(
            "auth/jwt/login",
            json!({"role": "ci", "jwt": rsa_jwt}),
        ));
    });
    group.sample_size(20);
    group.bench_function("userpass login", |b| {
        b.to_async(&rt).iter(login(
            "auth/userpass/login/alice",
            json!({"password": "correct horse battery staple"}),
        ));
    });
    group.bench_function("userpass login, unknown user", |b| {
        b.to_async(&rt).iter(login(
            "auth/userpass/login/mallory",
            json!({"password": "correct horse battery staple"}),
        ));
    });
    group.finish();
}

criterion_group!(benches, auth);
criterion_main!(benches);
