//! Arbitrary text to the PKI engine's parsers of untrusted input: as a PEM CSR
//! (`strongroom_pki::fuzzing::parse_csr`) and a PEM bundle (`parse_bundle`), then through the
//! engine as the `csr` of `sign/web` and `sign-verbatim` (a mount with an EC root and a role
//! `web` for example.com), and as the `pem_bundle` of `config/ca` on a second engine with fresh
//! storage for every input. Nothing may panic; refusals are invalid-request errors, never
//! internal ones; what the parser refuses the engine does not sign; what the engine signs is a
//! certificate it reads back.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use serde_json::{Map, Value, json};
use strongroom_logical::{Backend, Context, ErrorKind, Operation, Request, Response, StorageView};
use strongroom_pki::Pki;
use strongroom_pki::fuzzing::{parse_bundle, parse_csr};
use strongroom_storage::MemoryStorage;

struct Fixture {
    /// The signing mount: an EC P-256 root and the role `web`.
    engine: Pki,
    ctx: Context,
    /// The importing mount's engine; its storage is new for every input.
    importer: Pki,
}

fn context() -> Context {
    let view = StorageView::new(Arc::new(MemoryStorage::new()), "").unwrap();
    let mut ctx = Context::new(view, "pki/");
    // Room under the root's ten years for the default TTL of sign-verbatim.
    ctx.max_lease_ttl = Duration::from_secs(10 * 365 * 24 * 3600);
    ctx
}

fn update(
    engine: &Pki,
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
        let engine = Pki::new();
        let ctx = context();
        update(
            &engine,
            &ctx,
            "root/generate/internal",
            json!({"common_name": "fuzz root", "key_type": "ec", "key_bits": 256, "ttl": "87600h"}),
        )
        .unwrap();
        update(
            &engine,
            &ctx,
            "roles/web",
            json!({"allowed_domains": ["example.com"], "allow_subdomains": true, "key_type": "any"}),
        )
        .unwrap();
        Fixture {
            engine,
            ctx,
            importer: Pki::new(),
        }
    })
}

/// An answer of the engine to fuzzed input: a success, or an invalid-request refusal.
fn accepted(
    path: &str,
    answer: strongroom_logical::Result<Response>,
) -> Option<Map<String, Value>> {
    match answer {
        Ok(response) => Some(response.data.unwrap_or_default()),
        Err(err) => {
            assert_eq!(err.kind(), ErrorKind::InvalidRequest, "{path}: {err}");
            None
        }
    }
}

/// One input.
pub fn run(data: &[u8]) {
    let f = fixture();
    let text = String::from_utf8_lossy(data).into_owned();
    let csr_parses = parse_csr(&text).is_ok();
    let _ = parse_bundle(&text);
    for path in ["sign/web", "sign-verbatim"] {
        let answer = update(&f.engine, &f.ctx, path, json!({"csr": text}));
        if let Some(signed) = accepted(path, answer) {
            assert!(csr_parses, "{path} signed a CSR the parser refuses");
            let certificate = signed["certificate"].as_str().unwrap();
            assert_eq!(
                parse_bundle(certificate).unwrap(),
                1,
                "{path} answered an unreadable certificate"
            );
        }
    }
    let fresh = context();
    let answer = update(
        &f.importer,
        &fresh,
        "config/ca",
        json!({"pem_bundle": text}),
    );
    let _ = accepted("config/ca", answer);
}
