//! Transit: the in-process `Keyring` beside raw ring in the same criterion groups, signatures per
//! key type beside raw ring signing, and an encryption through the whole vault pipeline beside
//! the `Keyring` doing the same work. See BENCHMARKS.md.
//!
//! Baselines: `ring_raw` seals a copy of the plaintext in place with a prepared AES-256-GCM key
//! and a counter nonce (the cheapest correct encryption there is); `ring_framed` adds what the
//! transit format needs on top (base64 and the `vault:v1:` prefix), so `keyring` against it is
//! the library's own overhead.
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::unwrap_in_result,
    clippy::indexing_slicing,
    reason = "bench code: a failure is a failed bench"
)]

use std::hint::black_box;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use base64ct::{Base64, Encoding};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::SystemRandom;
use ring::signature::{self, EcdsaKeyPair, Ed25519KeyPair};
use serde_json::json;
use strongroom_core::Vault;
use strongroom_storage::MemoryStorage;
use strongroom_transit::{KeyOptions, KeyType, Keyring, Marshaling};

const SIZES: [(&str, usize); 3] = [("64B", 64), ("1KiB", 1024), ("16KiB", 16 * 1024)];

fn ring_seal(key: &LessSafeKey, counter: &mut u64, plaintext: &[u8]) -> Vec<u8> {
    *counter += 1;
    let mut nonce = [0_u8; NONCE_LEN];
    nonce[4..].copy_from_slice(&counter.to_be_bytes());
    let mut out = Vec::with_capacity(NONCE_LEN + plaintext.len() + 16);
    out.extend_from_slice(&nonce);
    out.extend_from_slice(plaintext);
    let tag = key
        .seal_in_place_separate_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::empty(),
            &mut out[NONCE_LEN..],
        )
        .unwrap();
    out.extend_from_slice(tag.as_ref());
    out
}

fn keyring(c: &mut Criterion) {
    let keyring = Keyring::new();
    keyring.create("k", KeyOptions::default()).unwrap();
    let raw = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &[0x42; 32]).unwrap());
    let mut counter = 0_u64;

    let mut encrypt = c.benchmark_group("transit_encrypt");
    for (name, size) in SIZES {
        let plaintext = vec![0x5a; size];
        encrypt.throughput(Throughput::Bytes(size as u64));
        encrypt.bench_with_input(BenchmarkId::new("ring_raw", name), &plaintext, |b, p| {
            b.iter(|| black_box(ring_seal(&raw, &mut counter, p)));
        });
        encrypt.bench_with_input(BenchmarkId::new("ring_framed", name), &plaintext, |b, p| {
            b.iter(|| {
                let sealed = ring_seal(&raw, &mut counter, p);
                black_box(format!("vault:v1:{}", STANDARD.encode(&sealed)))
            });
        });
        encrypt.bench_with_input(BenchmarkId::new("keyring", name), &plaintext, |b, p| {
            b.iter(|| black_box(keyring.encrypt("k", p, None).unwrap()));
        });
    }
    encrypt.finish();

    let mut decrypt = c.benchmark_group("transit_decrypt");
    for (name, size) in SIZES {
        let plaintext = vec![0x5a; size];
        decrypt.throughput(Throughput::Bytes(size as u64));
        let sealed = ring_seal(&raw, &mut counter, &plaintext);
        decrypt.bench_with_input(BenchmarkId::new("ring_raw", name), &sealed, |b, s| {
            b.iter(|| {
                let (nonce, body) = s.split_at(NONCE_LEN);
                let mut buffer = body.to_vec();
                let nonce = Nonce::try_assume_unique_for_key(nonce).unwrap();
                black_box(
                    raw.open_in_place(nonce, Aad::empty(), &mut buffer)
                        .unwrap()
                        .len(),
                );
            });
        });
        let framed = format!("vault:v1:{}", STANDARD.encode(&sealed));
        decrypt.bench_with_input(BenchmarkId::new("ring_framed", name), &framed, |b, f| {
            b.iter(|| {
                let bytes = STANDARD.decode(&f["vault:v1:".len()..]).unwrap();
                let (nonce, body) = bytes.split_at(NONCE_LEN);
                let mut buffer = body.to_vec();
                let nonce = Nonce::try_assume_unique_for_key(nonce).unwrap();
                black_box(
                    raw.open_in_place(nonce, Aad::empty(), &mut buffer)
                        .unwrap()
                        .len(),
                );
            });
        });
        // The same, with the plaintext zeroed when dropped, as the keyring does.
        decrypt.bench_with_input(
            BenchmarkId::new("ring_framed_zeroize", name),
            &framed,
            |b, f| {
                b.iter(|| {
                    let mut bytes = STANDARD.decode(&f["vault:v1:".len()..]).unwrap();
                    let mut nonce = [0_u8; NONCE_LEN];
                    nonce.copy_from_slice(&bytes[..NONCE_LEN]);
                    let len = raw
                        .open_within(
                            Nonce::assume_unique_for_key(nonce),
                            Aad::empty(),
                            &mut bytes,
                            NONCE_LEN..,
                        )
                        .unwrap()
                        .len();
                    bytes.truncate(len);
                    black_box(zeroize::Zeroizing::new(bytes))
                });
            },
        );
        let ours = keyring.encrypt("k", &plaintext, None).unwrap();
        decrypt.bench_with_input(BenchmarkId::new("keyring", name), &ours, |b, ct| {
            b.iter(|| black_box(keyring.decrypt("k", ct, None).unwrap()));
        });
    }
    decrypt.finish();
}

fn signatures(c: &mut Criterion) {
    let keyring = Keyring::new();
    let rng = SystemRandom::new();
    let message = vec![0x33; 256];
    let mut group = c.benchmark_group("transit_sign");
    let ed = Ed25519KeyPair::from_seed_unchecked(&[7; 32]).unwrap();
    group.bench_function("ed25519/ring_raw", |b| {
        b.iter(|| black_box(ed.sign(&message)))
    });
    for (kind, name, alg) in [
        (
            KeyType::EcdsaP256,
            "ecdsa-p256",
            &signature::ECDSA_P256_SHA256_ASN1_SIGNING,
        ),
        (
            KeyType::EcdsaP384,
            "ecdsa-p384",
            &signature::ECDSA_P384_SHA384_ASN1_SIGNING,
        ),
    ] {
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(alg, &rng).unwrap();
        let pair = EcdsaKeyPair::from_pkcs8(alg, pkcs8.as_ref(), &rng).unwrap();
        group.bench_function(format!("{name}/ring_raw"), |b| {
            b.iter(|| black_box(pair.sign(&rng, &message).unwrap()));
        });
        keyring.create(name, KeyOptions::new(kind)).unwrap();
    }
    keyring
        .create("ed25519", KeyOptions::new(KeyType::Ed25519))
        .unwrap();
    for name in ["ed25519", "ecdsa-p256", "ecdsa-p384"] {
        group.bench_function(format!("{name}/keyring"), |b| {
            b.iter(|| black_box(keyring.sign(name, &message, Marshaling::Asn1).unwrap()));
        });
        let sig = keyring.sign(name, &message, Marshaling::Asn1).unwrap();
        group.bench_function(format!("{name}/keyring_verify"), |b| {
            b.iter(|| {
                black_box(
                    keyring
                        .verify(name, &message, &sig, Marshaling::Asn1)
                        .unwrap(),
                )
            });
        });
    }
    group.finish();
}

fn pipeline(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let vault = Vault::builder(MemoryStorage::new()).build().unwrap();
    let root = rt.block_on(async {
        let root = strongroom_benches::unsealed_root(&vault).await.unwrap();
        vault
            .write(&root, "sys/mounts/transit", json!({"type": "transit"}))
            .await
            .unwrap();
        vault
            .write(&root, "transit/keys/k", json!({}))
            .await
            .unwrap();
        root
    });
    let keyring = Keyring::new();
    keyring.create("k", KeyOptions::default()).unwrap();
    let plaintext = vec![0x5a; 1024];
    let body = json!({"plaintext": Base64::encode_string(&plaintext)});
    let mut group = c.benchmark_group("transit_pipeline");
    group.throughput(Throughput::Bytes(1024));
    group.bench_function("keyring_1KiB", |b| {
        b.iter(|| black_box(keyring.encrypt("k", &plaintext, None).unwrap()));
    });
    group.bench_function("vault_encrypt_1KiB", |b| {
        b.iter(|| {
            black_box(
                rt.block_on(vault.write(&root, "transit/encrypt/k", body.clone()))
                    .unwrap(),
            )
        });
    });
    group.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
}

criterion_group! {
    name = benches;
    config = config();
    targets = keyring, signatures, pipeline
}
criterion_main!(benches);
