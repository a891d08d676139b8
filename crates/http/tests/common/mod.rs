//! Helpers shared by the HTTP test binaries: requests through the router (no network) and a
//! freshly initialised vault.

#![allow(
    dead_code,
    unreachable_pub,
    reason = "each test binary uses a part of the helpers"
)]

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use std::net::SocketAddr;
use strongroom_core::Vault;
use strongroom_storage::MemoryStorage;
use tower::ServiceExt;

/// Sends one request with the given headers and raw body; the peer is 127.0.0.1, as for a
/// client on the same machine. Returns the status, the JSON body (None when empty; a
/// non-JSON body comes back as `{"<non-json>": text}`) and the headers.
pub async fn send(
    app: &Router,
    method: &str,
    uri: &str,
    headers: &[(&str, &str)],
    body: Option<Vec<u8>>,
) -> (StatusCode, Option<Value>, HeaderMap) {
    let mut request = Request::builder()
        .method(Method::from_bytes(method.as_bytes()).unwrap())
        .uri(uri);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let mut request = request
        .body(body.map_or(Body::empty(), Body::from))
        .unwrap();
    request
        .extensions_mut()
        .insert(ConnectInfo(SocketAddr::from(([127, 0, 0, 1], 50_000))));
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let json = if bytes.is_empty() {
        None
    } else {
        Some(
            serde_json::from_slice(&bytes).unwrap_or_else(|_| match std::str::from_utf8(&bytes) {
                Ok(text) => json!({"<non-json>": text.trim().to_owned()}),
                Err(_) => json!({"<non-json-base64>": base64(&bytes)}),
            }),
        )
    };
    (status, json, headers)
}

/// Sends one request with an optional token and JSON body (a PATCH says it is a merge patch,
/// as every client sends it and as the OpenBao recordings were made).
pub async fn call(
    app: &Router,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, Option<Value>, HeaderMap) {
    let mut headers = Vec::new();
    if let Some(token) = token {
        headers.push(("X-Vault-Token", token));
    }
    if method == "PATCH" {
        headers.push(("Content-Type", "application/merge-patch+json"));
    }
    send(
        app,
        method,
        path,
        &headers,
        body.map(|b| b.to_string().into_bytes()),
    )
    .await
}

/// A new in-memory vault, initialised with one share and unsealed, behind its router; with
/// the vault handle and the root token.
pub async fn initialised_vault() -> (Router, Vault, String) {
    let vault = Vault::builder(MemoryStorage::new()).build().unwrap();
    let (app, root) = initialise(vault.clone()).await;
    (app, vault, root)
}

/// `initialised_vault` without the handle.
pub async fn initialised() -> (Router, String) {
    let (app, _, root) = initialised_vault().await;
    (app, root)
}

/// Initialises (one share) and unseals `vault` over HTTP; its router and root token.
pub async fn initialise(vault: Vault) -> (Router, String) {
    let app = strongroom_http::router(vault);
    let (_, init, _) = call(
        &app,
        "PUT",
        "/v1/sys/init",
        None,
        Some(json!({"secret_shares": 1, "secret_threshold": 1})),
    )
    .await;
    let init = init.unwrap();
    let key = init["keys"][0].as_str().unwrap().to_owned();
    call(
        &app,
        "PUT",
        "/v1/sys/unseal",
        None,
        Some(json!({"key": key})),
    )
    .await;
    (app, init["root_token"].as_str().unwrap().to_owned())
}

/// Standard base64 (the recorder keeps binary answers so).
pub fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}
