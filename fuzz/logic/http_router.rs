//! Arbitrary requests through the HTTP router of an initialised, unsealed vault (KV v2 at
//! `secret/`, transit, userpass, approle and jwt mounted; the root token): the first byte picks
//! the method, the bytes up to the first newline are the path below `/v1/`, the rest is the body.
//! Nothing may panic; every answer is a status with either no body or a JSON body, and errors
//! carry Vault's `errors` list (or, where Vault does so, the envelope with data).

use std::sync::OnceLock;

use axum::body::Body;
use axum::http::{Method, Request};
use http_body_util::BodyExt as _;
use serde_json::{Value, json};
use strongroom_core::{InitRequest, Vault};
use strongroom_storage::MemoryStorage;
use tower::ServiceExt as _;

struct Fixture {
    runtime: tokio::runtime::Runtime,
    router: axum::Router,
    root: String,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let (router, root) = runtime.block_on(async {
            let vault = Vault::builder(MemoryStorage::new())
                .background_expiry(false)
                .build()
                .unwrap();
            let init = vault.init(InitRequest::new(1, 1)).await.unwrap();
            vault
                .unseal(init.keys_base64[0].expose_secret())
                .await
                .unwrap();
            let root = init.root_token.expose_secret().to_owned();
            for (path, body) in [
                (
                    "sys/mounts/secret",
                    json!({"type": "kv", "options": {"version": "2"}}),
                ),
                ("sys/mounts/transit", json!({"type": "transit"})),
                ("sys/auth/userpass", json!({"type": "userpass"})),
                ("sys/auth/approle", json!({"type": "approle"})),
                ("sys/auth/jwt", json!({"type": "jwt"})),
                ("transit/keys/k", json!({})),
                ("secret/data/app", json!({"data": {"a": "b"}})),
            ] {
                vault.write(&root, path, body).await.unwrap();
            }
            (strongroom_http::router(vault), root)
        });
        Fixture {
            runtime,
            router,
            root,
        }
    })
}

const METHODS: [&str; 7] = ["GET", "POST", "PUT", "DELETE", "LIST", "PATCH", "HEAD"];

/// One input.
pub fn run(data: &[u8]) {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let method = METHODS[usize::from(selector) % METHODS.len()];
    let (path, body) = match rest.iter().position(|b| *b == b'\n') {
        Some(at) => (&rest[..at], &rest[at + 1..]),
        None => (rest, &[][..]),
    };
    // A URI must be valid to build a request at all; the router sees whatever survives.
    let path: String = String::from_utf8_lossy(path)
        .chars()
        .filter(|c| c.is_ascii_graphic() && *c != '#')
        .collect();
    let Ok(request) = Request::builder()
        .method(Method::from_bytes(method.as_bytes()).unwrap())
        .uri(format!("/v1/{path}"))
        .header("X-Vault-Token", &fixture().root)
        .body(Body::from(body.to_vec()))
    else {
        return;
    };
    let f = fixture();
    f.runtime.block_on(async {
        let response = f.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        if bytes.is_empty() || method == "HEAD" {
            return;
        }
        let Ok(value) = serde_json::from_slice::<Value>(&bytes) else {
            // `sys/metrics?format=prometheus` answers text; nothing else may.
            assert!(
                path.contains("metrics"),
                "{status} non-JSON body for {method} {path}"
            );
            return;
        };
        // An error answers Vault's `errors` list, or — a transit batch with failed items, a KV
        // v2 deleted version — the full envelope with its data.
        if status.is_client_error() || status.is_server_error() {
            assert!(
                value.get("errors").is_some_and(Value::is_array) || value.get("data").is_some(),
                "{status} without an errors list or envelope for {method} {path}: {value}"
            );
        }
    });
}
