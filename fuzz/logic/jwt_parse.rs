//! Arbitrary input to the JWT parsers: as a compact token (decoded, then verified against an
//! RSA, a P-256 and an Ed25519 key), as a JWK and a JWKS document, as a PEM public key, and as
//! the `jwt` of a login through the jwt auth method (PEM-configured, every algorithm allowed).
//! Nothing may panic; nothing the fuzzer makes may verify or log in; the method refuses with an
//! invalid-request error, never an internal one.

use std::sync::{Arc, OnceLock};

use serde_json::{Map, Value, json};
use strongroom_auth::jose::{self, PublicKey};
use strongroom_auth::jwt::Jwt;
use strongroom_logical::{Backend, Context, ErrorKind, Operation, Request, StorageView};
use strongroom_storage::MemoryStorage;

const RSA_PEM: &str = include_str!("../../crates/auth/tests/fixtures/rsa-test-key.pub.pem");
const P256_PEM: &str = "-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAExImstisy53j6/OfD6lHKWGh4JlGU
0z/eNcY7msm7nQ57ZCrIC8NtEMCEjt1y021mf/zspdzR/EIpY0QO4IJ/7g==
-----END PUBLIC KEY-----";
const ED_PEM: &str = "-----BEGIN PUBLIC KEY-----
MCowBQYDK2VwAyEAqOZpcpPsdhI70JLw/KmLXOqQOtCAdRa6fFkvUOdBQIU=
-----END PUBLIC KEY-----";

struct Fixture {
    keys: Vec<PublicKey>,
    engine: Jwt,
    ctx: Context,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let keys = [RSA_PEM, P256_PEM, ED_PEM]
            .iter()
            .map(|pem| PublicKey::from_pem(pem).unwrap())
            .collect();
        let view = StorageView::new(Arc::new(MemoryStorage::new()), "").unwrap();
        let ctx = Context::new(view, "auth/jwt/");
        let engine = Jwt::default();
        let write = |path: &str, body: Value| {
            let Value::Object(data) = body else {
                unreachable!()
            };
            crate::common::now(
                engine.handle(&ctx, Request::new(Operation::Update, path).with_data(data)),
            )
            .unwrap();
        };
        write(
            "config",
            json!({"jwt_validation_pubkeys": [RSA_PEM, P256_PEM, ED_PEM],
                   "jwt_supported_algs": ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512",
                                          "ES256", "ES384", "EdDSA"]}),
        );
        write(
            "role/r",
            json!({"bound_audiences": ["a"], "bound_claims_type": "glob", "user_claim": "sub",
                   "bound_claims": {"/x/y": ["*z*"]}, "claim_mappings": {"m": "n"}}),
        );
        Fixture { keys, engine, ctx }
    })
}

/// One input.
pub fn run(data: &[u8]) {
    let f = fixture();
    let text = String::from_utf8_lossy(data);
    if let Ok(token) = jose::decode(&text) {
        for key in &f.keys {
            assert!(key.verify(&token).is_err(), "a forged token verified");
        }
    }
    if let Ok(jwk) = serde_json::from_slice::<Map<String, Value>>(data) {
        let _ = PublicKey::from_jwk(&jwk);
    }
    let _ = jose::parse_jwks(data);
    let _ = PublicKey::from_pem(&text);
    let mut body = Map::new();
    body.insert("role".into(), "r".into());
    body.insert("jwt".into(), text.clone().into_owned().into());
    let login = Request::new(Operation::Update, "login").with_data(body);
    match crate::common::now(f.engine.handle(&f.ctx, login)) {
        Ok(_) => panic!("a fuzzed token logged in"),
        Err(err) => assert_eq!(err.kind(), ErrorKind::InvalidRequest, "{err}"),
    }
}
