//! Helpers shared by the PKI engine's integration tests: an engine on in-memory storage, calls
//! through it, OpenSSL, and a root -> intermediate hierarchy.

#![allow(
    dead_code,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code"
)]

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value, json};
use strongroom_logical::{Backend, Context, Operation, Request, Response, StorageView};
use strongroom_pki::Pki;
use strongroom_storage::MemoryStorage;

pub fn context(mount: &str) -> Context {
    let storage = Arc::new(MemoryStorage::new());
    let view = StorageView::new(storage, format!("logical/{mount}/")).unwrap();
    let mut ctx = Context::new(view, format!("{mount}/"));
    ctx.max_lease_ttl = Duration::from_secs(10 * 365 * 24 * 3600);
    ctx
}

pub async fn call(
    pki: &Pki,
    ctx: &Context,
    operation: Operation,
    path: &str,
    body: Value,
) -> Response {
    let data: Map<String, Value> = body.as_object().cloned().unwrap_or_default();
    pki.handle(ctx, Request::new(operation, path).with_data(data))
        .await
        .unwrap_or_else(|err| panic!("{path}: {err}"))
}

pub async fn write(pki: &Pki, ctx: &Context, path: &str, body: Value) -> Map<String, Value> {
    call(pki, ctx, Operation::Update, path, body)
        .await
        .data
        .unwrap_or_default()
}

pub fn openssl(args: &[&str]) -> (bool, String) {
    let out = Command::new("openssl")
        .args(args)
        .output()
        .expect("openssl is on the machine");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

pub fn save(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_owned()
}

/// A root and an intermediate on two mounts (the intermediate signed by the root, its chain
/// imported), with URLs configured on the intermediate's mount; returns the intermediate's
/// engine, context and the root's PEM.
pub async fn hierarchy(key_type: &str, key_bits: u32) -> (Pki, Context, String) {
    let root = Pki::new();
    let root_ctx = context("root");
    let generated = write(
        &root,
        &root_ctx,
        "root/generate/internal",
        json!({"common_name": "Strongroom Test Root", "ttl": "87600h", "key_type": key_type, "key_bits": key_bits}),
    )
    .await;
    let root_pem = generated["certificate"].as_str().unwrap().to_owned();
    let int = Pki::new();
    let int_ctx = context("int");
    write(
        &int,
        &int_ctx,
        "config/urls",
        json!({
            "issuing_certificates": ["http://127.0.0.1:8200/v1/int/ca"],
            "crl_distribution_points": ["http://127.0.0.1:8200/v1/int/crl"],
            "ocsp_servers": ["http://127.0.0.1:8200/v1/int/ocsp"],
        }),
    )
    .await;
    let csr = write(
        &int,
        &int_ctx,
        "intermediate/generate/internal",
        json!({"common_name": "Strongroom Test Intermediate", "key_type": key_type, "key_bits": key_bits}),
    )
    .await;
    let signed = write(
        &root,
        &root_ctx,
        "root/sign-intermediate",
        json!({"csr": csr["csr"], "ttl": "43800h"}),
    )
    .await;
    let bundle = format!(
        "{}\n{}",
        signed["certificate"].as_str().unwrap(),
        signed["issuing_ca"].as_str().unwrap()
    );
    write(
        &int,
        &int_ctx,
        "intermediate/set-signed",
        json!({"certificate": bundle}),
    )
    .await;
    write(
        &int,
        &int_ctx,
        "roles/web",
        json!({
            "allowed_domains": ["example.com"],
            "allow_subdomains": true,
            "max_ttl": "72h",
            "key_type": key_type,
            "key_bits": key_bits,
        }),
    )
    .await;
    (int, int_ctx, root_pem)
}
