//! The transit engine driven directly (no core): versions and their rules, batches, derived
//! and convergent keys, signatures, HMACs, export, backup and restore, auto-rotation on a
//! controlled clock (on use and in the periodic pass), and bad input. (Moved from
//! `strongroom-core`'s tests; policies, the core's periodic scheduling and persistence across a
//! seal stay there.)

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code"
)]

use std::time::{Duration, SystemTime};

use serde_json::{Map, Value, json};
use strongroom_logical::testing::{call, context};
use strongroom_logical::{Backend, Context, ErrorKind, LogicalError, Operation, Response};
use strongroom_transit::Transit;

struct Setup {
    transit: Transit,
    ctx: Context,
}

async fn setup() -> Setup {
    let mut ctx = context("transit/");
    ctx.now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    Setup {
        transit: Transit::new(),
        ctx,
    }
}

fn b64(bytes: &[u8]) -> String {
    use base64ct::Encoding as _;
    base64ct::Base64::encode_string(bytes)
}

async fn write_raw(s: &Setup, path: &str, body: Value) -> Result<Response, LogicalError> {
    call(&s.transit, &s.ctx, Operation::Update, path, body).await
}

async fn read(s: &Setup, path: &str) -> Result<Response, LogicalError> {
    call(&s.transit, &s.ctx, Operation::Read, path, json!({})).await
}

async fn delete(s: &Setup, path: &str) -> Result<Response, LogicalError> {
    call(&s.transit, &s.ctx, Operation::Delete, path, json!({})).await
}

async fn list(s: &Setup, path: &str) -> Result<Response, LogicalError> {
    call(&s.transit, &s.ctx, Operation::List, path, json!({})).await
}

async fn write(s: &Setup, path: &str, body: Value) -> Map<String, Value> {
    write_raw(s, path, body)
        .await
        .unwrap_or_else(|e| panic!("{path}: {e}"))
        .data
        .unwrap_or_default()
}

async fn fails(s: &Setup, path: &str, body: Value) -> String {
    match write_raw(s, path, body).await {
        Err(err) => {
            assert_eq!(err.kind(), ErrorKind::InvalidRequest, "{path}: {err}");
            err.to_string()
        }
        Ok(response) => panic!("{path} succeeded: {:?}", response.data),
    }
}

#[tokio::test]
async fn encrypt_decrypt_rotate_and_version_rules() {
    let s = setup().await;
    // Upsert: encrypting with a missing key creates it.
    let ct1 = write(
        &s,
        "encrypt/orders",
        json!({"plaintext": b64(b"card 4111")}),
    )
    .await;
    let ct1 = ct1["ciphertext"].as_str().unwrap().to_owned();
    assert!(ct1.starts_with("vault:v1:"));
    let plain = write(&s, "decrypt/orders", json!({"ciphertext": ct1})).await;
    assert_eq!(plain["plaintext"], b64(b"card 4111"));

    write(&s, "keys/orders/rotate", json!({})).await;
    write(&s, "keys/orders/rotate", json!({})).await;
    let key = read(&s, "keys/orders").await.unwrap().data.unwrap();
    assert_eq!(key["latest_version"], 3);
    assert_eq!(key["keys"].as_object().unwrap().len(), 3);
    assert_eq!(key["type"], "aes256-gcm96");
    let rewrapped = write(&s, "rewrap/orders", json!({"ciphertext": ct1})).await;
    assert!(
        rewrapped["ciphertext"]
            .as_str()
            .unwrap()
            .starts_with("vault:v3:")
    );
    assert_eq!(rewrapped["key_version"], 3);

    // min_decryption_version retires v1; min_encryption_version must be 0 or >= it.
    write(
        &s,
        "keys/orders/config",
        json!({"min_decryption_version": 2}),
    )
    .await;
    let err = fails(&s, "decrypt/orders", json!({"ciphertext": ct1})).await;
    assert!(err.contains("too old"), "{err}");
    let err = fails(
        &s,
        "keys/orders/config",
        json!({"min_encryption_version": 1}),
    )
    .await;
    assert!(err.contains("min encryption version"), "{err}");
    let err = fails(&s, "keys/orders/trim", json!({"min_available_version": 2})).await;
    assert!(
        err.contains("minimum encryption version is not set"),
        "{err}"
    );
    write(
        &s,
        "keys/orders/config",
        json!({"min_encryption_version": 3}),
    )
    .await;
    let err = fails(&s, "keys/orders/trim", json!({"min_available_version": 3})).await;
    assert!(err.contains("above min decryption"), "{err}");
    let trimmed = write(&s, "keys/orders/trim", json!({"min_available_version": 2})).await;
    assert_eq!(trimmed["min_available_version"], 2);
    assert_eq!(trimmed["keys"].as_object().unwrap().len(), 2);
    let err = fails(
        &s,
        "encrypt/orders",
        json!({"plaintext": b64(b"x"), "key_version": 2}),
    )
    .await;
    assert!(err.contains("minimum encryption version"), "{err}");

    // Deletion only when allowed; the config refuses short rotation periods.
    let err = fails(
        &s,
        "keys/orders/config",
        json!({"auto_rotate_period": "30m"}),
    )
    .await;
    assert!(err.contains("at least an hour"), "{err}");
    let refused = delete(&s, "keys/orders").await.unwrap_err();
    assert!(
        refused.to_string().contains("deletion is not allowed"),
        "{refused}"
    );
    write(&s, "keys/orders/config", json!({"deletion_allowed": true})).await;
    delete(&s, "keys/orders").await.unwrap();
    let gone = read(&s, "keys/orders").await.unwrap();
    assert!(gone.data.is_none());
    let keys = list(&s, "keys").await;
    assert!(keys.map(|r| r.data).is_ok());
}

#[tokio::test]
async fn batches_keep_order_and_references_and_fail_as_a_400_with_results() {
    let s = setup().await;
    write(&s, "keys/b", json!({})).await;
    let out = write(
        &s,
        "encrypt/b",
        json!({"batch_input": [
            {"plaintext": b64(b"one"), "reference": "r1"},
            {"plaintext": b64(b"two")},
            {"plaintext": b64(b"three"), "reference": "r3"},
        ]}),
    )
    .await;
    let results = out["batch_results"].as_array().unwrap();
    assert_eq!(results.len(), 3);
    assert_eq!(results[0]["reference"], "r1");
    assert_eq!(results[1]["reference"], "");
    let batch: Vec<Value> = results
        .iter()
        .map(|r| json!({"ciphertext": r["ciphertext"], "reference": r["reference"]}))
        .collect();
    let plain = write(&s, "decrypt/b", json!({"batch_input": batch})).await;
    let plain = plain["batch_results"].as_array().unwrap();
    assert_eq!(plain[2]["plaintext"], b64(b"three"));
    assert_eq!(plain[2]["reference"], "r3");

    // One bad item: the batch is an error status *with* the results, as OpenBao answers.
    let response = write_raw(
        &s,
        "encrypt/b",
        json!({"batch_input": [{"plaintext": b64(b"ok")}, {"plaintext": "@@not base64"}]}),
    )
    .await
    .unwrap();
    assert_eq!(response.failed, Some(ErrorKind::InvalidRequest));
    let results = response.data.unwrap()["batch_results"].clone();
    assert!(results[0]["ciphertext"].is_string());
    assert!(results[1]["error"].as_str().unwrap().contains("base64"));
}

#[tokio::test]
async fn derived_convergent_signatures_hmac_export_backup() {
    let s = setup().await;
    // Derived + convergent: deterministic per context, and context is required.
    write(
        &s,
        "keys/search",
        json!({"derived": true, "convergent_encryption": true}),
    )
    .await;
    let enc =
        |ctx: &'static [u8]| json!({"plaintext": b64(b"alice@example.com"), "context": b64(ctx)});
    let a1 = write(&s, "encrypt/search", enc(b"users")).await["ciphertext"].clone();
    let a2 = write(&s, "encrypt/search", enc(b"users")).await["ciphertext"].clone();
    let b1 = write(&s, "encrypt/search", enc(b"admins")).await["ciphertext"].clone();
    assert_eq!(a1, a2);
    assert_ne!(a1, b1);
    let err = fails(&s, "encrypt/search", json!({"plaintext": b64(b"x")})).await;
    assert!(err.contains("context"), "{err}");

    // Ed25519 with JWS marshaling; ECDSA P-384 DER; the wrong hash is refused.
    write(&s, "keys/jwt", json!({"type": "ed25519"})).await;
    let signed = write(
        &s,
        "sign/jwt",
        json!({"input": b64(b"header.payload"), "marshaling_algorithm": "jws"}),
    )
    .await;
    let sig = signed["signature"].as_str().unwrap().to_owned();
    assert!(!sig["vault:v1:".len()..].contains(['+', '/', '=']));
    let ok = write(
        &s,
        "verify/jwt",
        json!({"input": b64(b"header.payload"), "signature": sig, "marshaling_algorithm": "jws"}),
    )
    .await;
    assert_eq!(ok["valid"], true);
    let bad = write(
        &s,
        "verify/jwt",
        json!({"input": b64(b"header.payloaD"), "signature": sig, "marshaling_algorithm": "jws"}),
    )
    .await;
    assert_eq!(bad["valid"], false);
    write(&s, "keys/p384", json!({"type": "ecdsa-p384"})).await;
    let der = write(&s, "sign/p384/sha2-384", json!({"input": b64(b"m")})).await;
    let valid = write(
        &s,
        "verify/p384",
        json!({"input": b64(b"m"), "signature": der["signature"]}),
    )
    .await;
    assert_eq!(valid["valid"], true);
    let err = fails(&s, "sign/p384/sha2-256", json!({"input": b64(b"m")})).await;
    assert!(err.contains("unsupported hash algorithm"), "{err}");
    let key = read(&s, "keys/p384").await.unwrap().data.unwrap();
    assert!(
        key["keys"]["1"]["public_key"]
            .as_str()
            .unwrap()
            .starts_with("-----BEGIN PUBLIC KEY-----")
    );
    let err = fails(&s, "sign/search", json!({"input": b64(b"m")})).await;
    assert!(err.contains("does not support signing"), "{err}");

    // HMAC with any key, verified through verify/ with `hmac`.
    let mac = write(&s, "hmac/jwt/sha2-512", json!({"input": b64(b"m")})).await;
    let verified = write(
        &s,
        "verify/jwt/sha2-512",
        json!({"input": b64(b"m"), "hmac": mac["hmac"]}),
    )
    .await;
    assert_eq!(verified["valid"], true);

    // Export and backup only when the key allows it; restore under another name.
    let err = read(&s, "export/encryption-key/search").await.unwrap_err();
    assert!(err.to_string().contains("not exportable"), "{err}");
    write(
        &s,
        "keys/portable",
        json!({"exportable": true, "allow_plaintext_backup": true}),
    )
    .await;
    write(&s, "keys/portable/rotate", json!({})).await;
    let exported = read(&s, "export/encryption-key/portable/2")
        .await
        .unwrap()
        .data
        .unwrap();
    assert_eq!(exported["keys"].as_object().unwrap().len(), 1);
    let ct = write(&s, "encrypt/portable", json!({"plaintext": b64(b"keep")})).await;
    let backup = read(&s, "backup/portable").await.unwrap().data.unwrap();
    write(&s, "restore/copy", json!({"backup": backup["backup"]})).await;
    let err = fails(&s, "restore/copy", json!({"backup": backup["backup"]})).await;
    assert!(err.contains("already exists"), "{err}");
    let plain = write(&s, "decrypt/copy", json!({"ciphertext": ct["ciphertext"]})).await;
    assert_eq!(plain["plaintext"], b64(b"keep"));

    // datakey, random, hash.
    let dk = write(&s, "datakey/plaintext/portable/512", json!({})).await;
    let unwrapped = write(
        &s,
        "decrypt/portable",
        json!({"ciphertext": dk["ciphertext"]}),
    )
    .await;
    assert_eq!(unwrapped["plaintext"], dk["plaintext"]);
    let wrapped = write(&s, "datakey/wrapped/portable", json!({})).await;
    assert!(wrapped.get("plaintext").is_none());
    let random = write(&s, "random/24", json!({"format": "hex"})).await;
    assert_eq!(random["random_bytes"].as_str().unwrap().len(), 48);
    let sum = write(&s, "hash/sha2-256", json!({"input": b64(b"abc")})).await;
    assert_eq!(
        sum["sum"],
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
}

#[tokio::test]
async fn auto_rotation_on_use_and_in_the_periodic_pass_and_bad_input() {
    let mut s = setup().await;
    write(&s, "keys/app", json!({"auto_rotate_period": "24h"})).await;
    let v1 = write(&s, "encrypt/app", json!({"plaintext": b64(b"p")})).await;
    assert!(v1["ciphertext"].as_str().unwrap().starts_with("vault:v1:"));
    // A day later, the first use rotates the key before encrypting.
    s.ctx.now += Duration::from_secs(25 * 3600);
    let v2 = write(&s, "encrypt/app", json!({"plaintext": b64(b"p")})).await;
    assert!(
        v2["ciphertext"].as_str().unwrap().starts_with("vault:v2:"),
        "{v2:?}"
    );
    // An idle key rotates too: the engine's periodic pass rotates keys whose period has
    // passed, without any request touching them.
    write(&s, "keys/idle", json!({"auto_rotate_period": "1h"})).await;
    write(&s, "keys/manual", json!({})).await;
    s.ctx.now += Duration::from_secs(2 * 3600);
    s.transit.periodic(&s.ctx).await.unwrap();
    for (name, expected) in [("idle", 2), ("manual", 1)] {
        let key = read(&s, &format!("keys/{name}"))
            .await
            .unwrap()
            .data
            .unwrap();
        assert_eq!(key["latest_version"], expected, "{name}");
    }

    // Bad input: each a 400 with a message, nothing changed.
    for (path, body, needle) in [
        ("encrypt/app", json!({}), "missing plaintext"),
        ("encrypt/app", json!({"plaintext": "%%%"}), "base64"),
        (
            "encrypt/app",
            json!({"plaintext": b64(b"x"), "key_version": 9}),
            "requested version for encryption is higher than the latest key version",
        ),
        (
            "decrypt/app",
            json!({"ciphertext": "vault:v1"}),
            "invalid ciphertext",
        ),
        (
            "decrypt/app",
            json!({"ciphertext": "vault:v1:AAAA"}),
            "invalid ciphertext length",
        ),
        (
            "decrypt/app",
            // TypeString, as in Vault: the number is taken as its text.
            json!({"ciphertext": 5}),
            "invalid ciphertext: no prefix",
        ),
        (
            "decrypt/nokey",
            json!({"ciphertext": "vault:v1:AAAA"}),
            "encryption key not found",
        ),
        (
            "keys/bad..name/rotate",
            json!({}),
            "encryption key not found",
        ),
        ("keys/x", json!({"type": "rsa-4096"}), "not supported"),
        ("keys/x", json!({"type": "des"}), "unknown key type"),
        (
            "keys/x",
            json!({"convergent_encryption": true}),
            "requires derivation",
        ),
        (
            "encrypt/app",
            // TypeSlice, as in Vault: a lone value is a one-item list, and its item no object.
            json!({"batch_input": "nope"}),
            "batch_input items must be objects",
        ),
        (
            "encrypt/app",
            json!({"batch_input": []}),
            "missing batch input",
        ),
        ("random/0", json!({}), "'bytes' cannot be less than 1"),
        (
            "random/9999999",
            json!({}),
            "'bytes' should be less than 131072",
        ),
        (
            "hash/md5",
            json!({"input": b64(b"x")}),
            "unsupported algorithm md5",
        ),
        ("datakey/other/app", json!({}), "Invalid path"),
        ("datakey/plaintext/app/100", json!({}), "invalid bit length"),
        (
            "keys/app/trim",
            json!({"min_available_version": 0}),
            "minimum",
        ),
        (
            "sign/app",
            json!({"input": b64(b"m"), "prehashed": true}),
            "signing",
        ),
        ("restore", json!({"backup": b64(b"{}")}), "does not decode"),
    ] {
        let err = fails(&s, path, body).await;
        assert!(err.contains(needle), "{path}: {err}");
    }
    let key = read(&s, "keys/app").await.unwrap().data.unwrap();
    assert_eq!(key["latest_version"], 2, "bad input changed nothing");
}
