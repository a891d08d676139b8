//! PKI: leaf certificates issued through the embedded vault (`pki/issue/<role>`, a fresh key per
//! certificate, signed by an EC P-256 root) and a CSR signed through it (`pki/sign/<role>`),
//! each beside raw rcgen doing the same cryptographic work in the same run, so each ratio is
//! what the vault adds. See BENCHMARKS.md.
//!
//! Baselines: `rcgen/issue/ec-p256` generates a P-256 key with rcgen (ring) and signs a leaf for
//! it with an rcgen `Issuer` (an EC P-256 CA made once), then PEM-encodes the certificate and
//! the key; `rcgen/issue/rsa-2048` generates the RSA-2048 key with the RustCrypto `rsa` crate as
//! the engine does (ring cannot generate RSA keys), loads its PKCS#8 into rcgen and signs it with
//! the same EC CA; `rcgen/sign/ec-p256` parses and checks the same CSR with rcgen and signs its
//! key. RSA key generation dominates its benches and varies widely (a random prime search), so
//! they take 10 samples over a longer measurement.
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

use criterion::{Criterion, criterion_group, criterion_main};
use rcgen::{
    BasicConstraints, CertificateParams, CertificateSigningRequestParams, DnType,
    ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose,
};
use serde_json::{Value, json};
use strongroom_core::Vault;
use strongroom_storage::MemoryStorage;

const NAME: &str = "www.example.com";

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
    setup("sys/mounts/pki", json!({"type": "pki"})).await;
    setup(
        "pki/root/generate/internal",
        json!({"common_name": "bench root", "key_type": "ec", "ttl": "720h"}),
    )
    .await;
    for (role, key_type, key_bits) in [("pki/roles/ec", "ec", 256), ("pki/roles/rsa", "rsa", 2048)]
    {
        setup(
            role,
            json!({"allowed_domains": ["example.com"], "allow_subdomains": true,
                   "key_type": key_type, "key_bits": key_bits, "no_store": false}),
        )
        .await;
    }
    (vault, root)
}

/// The baseline's CA: an EC P-256 root made once, as the vault's.
fn rcgen_ca() -> Issuer<'static, KeyPair> {
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let mut params = CertificateParams::default();
    params
        .distinguished_name
        .push(DnType::CommonName, "bench root");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params.self_signed(&key).unwrap();
    Issuer::new(params, key)
}

/// What a role's leaf carries: the name as CN and SAN, server and client usages.
fn leaf_params() -> CertificateParams {
    let mut params = CertificateParams::new(vec![NAME.to_owned()]).unwrap();
    params.distinguished_name.push(DnType::CommonName, NAME);
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
        KeyUsagePurpose::KeyAgreement,
    ];
    params.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    params
}

/// A leaf for `key` signed by `ca`, with the certificate and key as PEM (what `issue` returns).
fn rcgen_issue(ca: &Issuer<'_, KeyPair>, key: &KeyPair) -> (String, String) {
    let cert = leaf_params().signed_by(key, ca).unwrap();
    (cert.pem(), key.serialize_pem())
}

/// An RSA-2048 key as the engine makes one: the `rsa` crate's PKCS#8, loaded into rcgen (ring).
fn rsa_key() -> KeyPair {
    use rsa::pkcs8::EncodePrivateKey as _;
    let key = rsa::PrivateKey::new(&mut getrandom::SysRng, 2048).unwrap();
    let der = key.to_pkcs8_der().unwrap();
    KeyPair::from_pkcs8_der_and_sign_algo(&der.as_bytes().into(), &rcgen::PKCS_RSA_SHA256).unwrap()
}

fn pki(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let (vault, root) = rt.block_on(vault());
    let ca = rcgen_ca();
    // One CSR for www.example.com, made once.
    let csr_key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let csr = leaf_params()
        .serialize_request(&csr_key)
        .unwrap()
        .pem()
        .unwrap();
    let write = |path: &'static str, body: Value| {
        let (vault, root) = (vault.clone(), root.clone());
        move || {
            let (vault, root, body) = (vault.clone(), root.clone(), body.clone());
            async move {
                let response = vault.write(&root, path, body).await.unwrap();
                black_box(response.data.unwrap());
            }
        }
    };
    let issue = json!({"common_name": NAME, "ttl": "1h"});
    // Sanity: the vault answers with a certificate and a key of the right type.
    let answer = rt
        .block_on(vault.write(&root, "pki/issue/rsa", issue.clone()))
        .unwrap()
        .data
        .unwrap();
    assert_eq!(answer["private_key_type"], "rsa", "{answer:?}");
    let sign = json!({"csr": csr, "common_name": NAME, "ttl": "1h"});

    let mut group = c.benchmark_group("pki");
    group.measurement_time(Duration::from_secs(4));
    group.bench_function("rcgen/issue/ec-p256", |b| {
        b.iter(|| {
            let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
            black_box(rcgen_issue(&ca, &key))
        });
    });
    group.bench_function("issue/ec-p256", |b| {
        b.to_async(&rt).iter(write("pki/issue/ec", issue.clone()));
    });
    group.bench_function("rcgen/sign/ec-p256", |b| {
        b.iter(|| {
            let request = CertificateSigningRequestParams::from_pem(&csr).unwrap();
            black_box(request.signed_by(&ca).unwrap().pem())
        });
    });
    group.bench_function("sign/ec-p256", |b| {
        b.to_async(&rt).iter(write("pki/sign/ec", sign.clone()));
    });
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(15));
    group.bench_function("rcgen/issue/rsa-2048", |b| {
        b.iter(|| {
            let key = rsa_key();
            black_box(rcgen_issue(&ca, &key))
        });
    });
    group.bench_function("issue/rsa-2048", |b| {
        b.to_async(&rt).iter(write("pki/issue/rsa", issue.clone()));
    });
    group.finish();
}

criterion_group!(benches, pki);
criterion_main!(benches);
