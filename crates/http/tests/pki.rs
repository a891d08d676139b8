//! The PKI engine over HTTP: tokenless reads of its public endpoints, and what they must not do.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    reason = "test code"
)]

mod common;

use axum::http::StatusCode;
use common::{call, initialised_vault, send};
use serde_json::json;

/// Review finding: a tokenless read of a secrets engine (PKI's `cert/ca`, `ca/pem`) makes no
/// wrapping token, whatever `X-Vault-Wrap-TTL` asks: anyone could mint them without limit.
#[tokio::test]
async fn tokenless_pki_reads_are_served_and_never_wrapped() {
    let (app, _vault, root) = initialised_vault().await;
    let (status, _, _) = call(
        &app,
        "POST",
        "/v1/sys/mounts/pki",
        Some(&root),
        Some(json!({"type": "pki"})),
    )
    .await;
    assert!(status.is_success(), "{status}");
    let (status, _, _) = call(
        &app,
        "POST",
        "/v1/pki/root/generate/internal",
        Some(&root),
        Some(json!({"common_name": "example.com", "key_type": "ec"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let headers = [("X-Vault-Wrap-TTL", "8760h")];
    let (status, body, _) = send(&app, "GET", "/v1/pki/cert/ca", &headers, None).await;
    assert_eq!(status, StatusCode::OK);
    let body = body.unwrap();
    assert!(body["wrap_info"].is_null(), "{body}");
    assert!(
        body["data"]["certificate"]
            .as_str()
            .unwrap()
            .starts_with("-----BEGIN CERTIFICATE-----")
    );
    let (status, body, response_headers) =
        send(&app, "GET", "/v1/pki/ca/pem?x=1", &headers, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        response_headers["content-type"],
        "application/pem-certificate-chain"
    );
    assert!(
        body.unwrap()["<non-json>"]
            .as_str()
            .unwrap()
            .starts_with("-----BEGIN CERTIFICATE-----")
    );
    // A token-requiring path stays refused without one, and a tokenless write is refused.
    let (status, _, _) = call(&app, "GET", "/v1/pki/roles/x", None, None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _, _) = call(&app, "POST", "/v1/pki/ca/pem", None, Some(json!({}))).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

/// `generate_lease=true`: the certificate gets a real lease, and revoking the lease (the
/// `sys/leases/*` API) revokes the certificate.
#[tokio::test]
async fn a_leased_certificate_is_revoked_with_its_lease() {
    let (app, _vault, root) = initialised_vault().await;
    let post = |path: &'static str, body: serde_json::Value| {
        let app = app.clone();
        let root = root.clone();
        async move { call(&app, "POST", path, Some(&root), Some(body)).await }
    };
    post("/v1/sys/mounts/pki", json!({"type": "pki"})).await;
    let (status, _, _) = post(
        "/v1/pki/root/generate/internal",
        json!({"common_name": "example.com", "key_type": "ec"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    post(
        "/v1/pki/roles/leased",
        json!({"allowed_domains": "example.com", "allow_subdomains": true, "key_type": "ec", "generate_lease": true}),
    )
    .await;
    let (status, body, _) = post(
        "/v1/pki/issue/leased",
        json!({"common_name": "www.example.com", "ttl": "1h"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let body = body.unwrap();
    let lease_id = body["lease_id"].as_str().unwrap().to_owned();
    assert!(lease_id.starts_with("pki/issue/leased/"), "{lease_id}");
    assert!(
        (3500..=3600).contains(&body["lease_duration"].as_u64().unwrap()),
        "{body}"
    );
    let serial = body["data"]["serial_number"].as_str().unwrap().to_owned();
    let (status, _, _) = call(
        &app,
        "PUT",
        "/v1/sys/leases/revoke",
        Some(&root),
        Some(json!({"lease_id": lease_id})),
    )
    .await;
    assert!(status.is_success(), "{status}");
    let (_, cert, _) = call(&app, "GET", &format!("/v1/pki/cert/{serial}"), None, None).await;
    let cert = cert.unwrap();
    assert_ne!(cert["data"]["revocation_time"], json!(0), "{cert}");
}
