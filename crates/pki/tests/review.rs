//! Regression tests for the security review of the PKI engine: each test holds one finding
//! closed.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code"
)]

mod common;

use std::sync::Arc;

use common::{call, hierarchy, openssl, save, write};
use serde_json::{Value, json};
use strongroom_logical::{Backend, Context, Operation, Request};
use strongroom_pki::Pki;

async fn refusal(pki: &Pki, ctx: &Context, path: &str, body: Value) -> String {
    pki.handle(
        ctx,
        Request::new(Operation::Update, path).with_data(body.as_object().unwrap().clone()),
    )
    .await
    .unwrap_err()
    .to_string()
}

#[tokio::test]
async fn ip_sans_outside_the_roles_cidrs_are_refused() {
    let (int, ctx, _) = hierarchy("ec", 256).await;
    write(
        &int,
        &ctx,
        "roles/net",
        json!({"allow_any_name": true, "key_type": "ec", "allowed_ip_sans_cidr": ["10.0.0.0/8"]}),
    )
    .await;
    write(
        &int,
        &ctx,
        "issue/net",
        json!({"common_name": "a.example.com", "ip_sans": "10.1.2.3"}),
    )
    .await;
    assert_eq!(
        refusal(
            &int,
            &ctx,
            "issue/net",
            json!({"common_name": "a.example.com", "ip_sans": "8.8.8.8"})
        )
        .await,
        "IP Subject Alternative Name 8.8.8.8 is not allowed by this role's allowed_ip_sans_cidr"
    );
    assert!(
        refusal(
            &int,
            &ctx,
            "roles/bad",
            json!({"allowed_ip_sans_cidr": ["not a cidr"]})
        )
        .await
        .starts_with("invalid allowed_ip_sans_cidr")
    );
}

#[tokio::test]
async fn the_roles_not_after_wins_and_ttl_with_not_after_is_refused() {
    let (int, ctx, _) = hierarchy("ec", 256).await;
    let pinned = (time_now() + 2 * 3600).to_string();
    let pinned = time_rfc3339(pinned.parse().unwrap());
    write(
        &int,
        &ctx,
        "roles/pinned",
        json!({"allow_any_name": true, "key_type": "ec", "not_after": pinned}),
    )
    .await;
    let later = time_rfc3339(time_now() + 20 * 3600);
    let issued = write(
        &int,
        &ctx,
        "issue/pinned",
        json!({"common_name": "a.example.com", "not_after": later}),
    )
    .await;
    let expiration = issued["expiration"].as_i64().unwrap();
    assert!(
        expiration <= time_now() + 2 * 3600 + 1,
        "the request moved the role's not_after"
    );
    assert_eq!(
        refusal(
            &int,
            &ctx,
            "issue/pinned",
            json!({"common_name": "a.example.com", "ttl": "1h", "not_after": later})
        )
        .await,
        "Either ttl or not_after should be provided. Both should not be provided in the same request."
    );
}

#[tokio::test]
async fn small_rsa_keys_are_refused_even_verbatim() {
    let (int, ctx, _) = hierarchy("ec", 256).await;
    let dir = tempfile::tempdir().unwrap();
    let csr = dir.path().join("small.csr");
    let key = dir.path().join("small.key");
    let (ok, text) = openssl(&[
        "req",
        "-new",
        "-newkey",
        "rsa:1024",
        "-nodes",
        "-subj",
        "/CN=small.example.com",
        "-keyout",
        key.to_str().unwrap(),
        "-out",
        csr.to_str().unwrap(),
    ]);
    assert!(ok, "{text}");
    let csr = std::fs::read_to_string(csr).unwrap();
    assert_eq!(
        refusal(&int, &ctx, "sign-verbatim", json!({"csr": csr})).await,
        "RSA keys < 2048 bits are unsafe and not supported: got 1024"
    );
}

#[tokio::test]
async fn a_leaf_cannot_be_imported_as_an_issuer() {
    let (int, ctx, _) = hierarchy("ec", 256).await;
    let leaf = write(
        &int,
        &ctx,
        "issue/web",
        json!({"common_name": "www.example.com"}),
    )
    .await;
    let bundle = format!(
        "{}\n{}",
        leaf["certificate"].as_str().unwrap(),
        leaf["private_key"].as_str().unwrap()
    );
    let fresh = Pki::new();
    let fresh_ctx = common::context("fresh");
    let err = refusal(
        &fresh,
        &fresh_ctx,
        "config/ca",
        json!({"pem_bundle": bundle}),
    )
    .await;
    assert!(
        err.starts_with("Refusing to import non-CA certificate"),
        "{err}"
    );
    let state = call(&fresh, &fresh_ctx, Operation::Read, "ca/pem", json!({})).await;
    assert!(state.raw.unwrap().body.is_empty(), "nothing was imported");
}

/// Concurrent revocations: every one of them is in the CRL that is left.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_revocations_all_reach_the_crl() {
    let (int, ctx, root_pem) = hierarchy("ec", 256).await;
    let int = Arc::new(int);
    let mut serials = Vec::new();
    for i in 0..8 {
        let issued = write(
            &int,
            &ctx,
            "issue/web",
            json!({"common_name": format!("h{i}.example.com")}),
        )
        .await;
        serials.push(issued["serial_number"].as_str().unwrap().to_owned());
    }
    let mut tasks = Vec::new();
    for serial in &serials {
        let (int, ctx, serial) = (Arc::clone(&int), ctx.clone(), serial.clone());
        tasks.push(tokio::spawn(async move {
            write(&int, &ctx, "revoke", json!({"serial_number": serial})).await;
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let crl = call(&int, &ctx, Operation::Read, "crl/pem", json!({})).await;
    let dir = tempfile::tempdir().unwrap();
    let path = save(
        dir.path(),
        "crl.pem",
        &String::from_utf8(crl.raw.unwrap().body).unwrap(),
    );
    let (ok, text) = openssl(&["crl", "-noout", "-text", "-in", &path]);
    assert!(ok, "{text}");
    for serial in &serials {
        let hex = serial.replace(':', "").to_uppercase();
        assert!(text.contains(&hex), "{hex} missing from the CRL:\n{text}");
    }
    let _ = root_pem;
}

fn time_now() -> i64 {
    i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs(),
    )
    .unwrap()
}

fn time_rfc3339(unix: i64) -> String {
    let days = unix.div_euclid(86_400);
    let secs = unix.rem_euclid(86_400);
    // Civil date from days since the epoch (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        (secs % 3600) / 60,
        secs % 60
    )
}

/// Bad input gets Vault's 400 words and stores nothing: a TTL past the issuer's expiry, an
/// unknown key type, a malformed CSR and a malformed PEM bundle.
#[tokio::test]
async fn bad_input_is_refused_in_vaults_words_and_stores_nothing() {
    let (int, ctx, _) = hierarchy("ec", 256).await;
    write(
        &int,
        &ctx,
        "roles/long",
        json!({"allow_any_name": true, "key_type": "ec", "max_ttl": "1000000h"}),
    )
    .await;
    let before = call(&int, &ctx, Operation::List, "certs/", json!({}))
        .await
        .data;
    let err = refusal(
        &int,
        &ctx,
        "issue/long",
        json!({"common_name": "a.example.com", "ttl": "900000h"}),
    )
    .await;
    assert!(
        err.starts_with("cannot satisfy request, as TTL would result in notAfter of ")
            && err.contains("that is beyond the expiration of the CA certificate at"),
        "{err}"
    );
    assert_eq!(
        refusal(&int, &ctx, "roles/x", json!({"key_type": "dsa"})).await,
        "unknown key type dsa"
    );
    assert_eq!(
        refusal(&int, &ctx, "sign/long", json!({"csr": "not a csr"})).await,
        "csr contains no data"
    );
    let fresh = Pki::new();
    let fresh_ctx = common::context("fresh");
    assert_eq!(
        refusal(&fresh, &fresh_ctx, "config/ca", json!({"pem_bundle": format!("-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n", "not base64 at all! ".repeat(5))})).await,
        "no data found in PEM block"
    );
    let after = call(&int, &ctx, Operation::List, "certs/", json!({}))
        .await
        .data;
    assert_eq!(before, after, "a refusal stored a certificate");
    let missing = call(&int, &ctx, Operation::Read, "roles/x", json!({})).await;
    assert!(missing.data.is_none(), "a refused role was stored");
}
