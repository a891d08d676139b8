//! Arbitrary text to the SSH engine as an OpenSSH public key: to the parser `sign/<role>` uses
//! (`strongroom_ssh::fuzzing::parse_public_key`), then through the engine as the `public_key`
//! of `sign/user` (an Ed25519 CA and a role for `alice`), and as both halves of a `config/ca`
//! import on a fresh engine. Nothing may panic; refusals are invalid-request errors, never
//! internal ones; what the parser refuses the engine does not sign; what it signs is an OpenSSH
//! certificate of the key's type.

use std::sync::{Arc, OnceLock};

use serde_json::{Value, json};
use strongroom_logical::{Backend, Context, ErrorKind, Operation, Request, Response, StorageView};
use strongroom_ssh::Ssh;
use strongroom_ssh::fuzzing::parse_public_key;
use strongroom_storage::MemoryStorage;

struct Fixture {
    engine: Ssh,
    ctx: Context,
}

fn context() -> Context {
    let view = StorageView::new(Arc::new(MemoryStorage::new()), "").unwrap();
    Context::new(view, "ssh/")
}

fn update(
    engine: &Ssh,
    ctx: &Context,
    path: &str,
    body: Value,
) -> strongroom_logical::Result<Response> {
    let Value::Object(data) = body else {
        unreachable!()
    };
    crate::common::now(engine.handle(ctx, Request::new(Operation::Update, path).with_data(data)))
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let engine = Ssh::new();
        let ctx = context();
        update(&engine, &ctx, "config/ca", json!({"key_type": "ed25519"})).unwrap();
        update(
            &engine,
            &ctx,
            "roles/user",
            json!({"key_type": "ca", "allow_user_certificates": true, "allowed_users": "alice",
                   "default_user": "alice", "allowed_extensions": "*"}),
        )
        .unwrap();
        Fixture { engine, ctx }
    })
}

fn refused_cleanly(path: &str, outcome: &strongroom_logical::Result<Response>) {
    if let Err(err) = outcome {
        assert_eq!(
            err.kind(),
            ErrorKind::InvalidRequest,
            "{path}: an internal error for bad input: {err}"
        );
    }
}

pub fn run(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let parsed = parse_public_key(text);
    let fixture = fixture();
    let signed = update(
        &fixture.engine,
        &fixture.ctx,
        "sign/user",
        json!({"public_key": text, "valid_principals": "alice"}),
    );
    refused_cleanly("sign/user", &signed);
    match (&parsed, &signed) {
        (Err(_), Ok(_)) if !text.trim().is_empty() => {
            panic!("the engine signed what the parser refuses")
        }
        (_, Ok(answer)) => {
            let certificate = answer.data.as_ref().unwrap()["signed_key"]
                .as_str()
                .unwrap();
            assert!(
                certificate.contains("-cert-v01@openssh.com "),
                "not a certificate: {certificate}"
            );
        }
        _ => {}
    }
    // The same text as an imported CA key pair, on a fresh engine.
    let importer = Ssh::new();
    let outcome = update(
        &importer,
        &context(),
        "config/ca",
        json!({"private_key": text, "public_key": text}),
    );
    refused_cleanly("config/ca", &outcome);
}
