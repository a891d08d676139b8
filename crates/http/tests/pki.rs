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
