//! The jwt auth method against tokens signed here (RS256 with a checked-in test key, ES256 and
//! EdDSA with keys made at run time) and a JWKS served on loopback: good logins, and every way a
//! token must be refused — wrong audience, issuer, subject or bound claim, expired, not yet
//! valid, bad signature, unknown kid (after a refetch), `alg: none`, oversized and absurd.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code"
)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use ring::rand::SystemRandom;
use ring::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair as _, RsaKeyPair};
use serde_json::{Map, Value, json};
use strongroom_auth::jwt::Jwt;
use strongroom_logical::{Backend, Context, LogicalError, Operation, Request, StorageView};
use strongroom_storage::MemoryStorage;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

enum Signer {
    Rsa(RsaKeyPair),
    Ec(EcdsaKeyPair),
    Ed(Ed25519KeyPair),
}

impl Signer {
    fn rsa() -> Self {
        let pem = include_str!("fixtures/rsa-test-key.pem");
        let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
        let der = base64::engine::general_purpose::STANDARD
            .decode(body)
            .unwrap();
        Self::Rsa(RsaKeyPair::from_pkcs8(&der).unwrap())
    }

    fn ec() -> Self {
        let rng = SystemRandom::new();
        let alg = &signature::ECDSA_P256_SHA256_FIXED_SIGNING;
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(alg, &rng).unwrap();
        Self::Ec(EcdsaKeyPair::from_pkcs8(alg, pkcs8.as_ref(), &rng).unwrap())
    }

    fn ed() -> Self {
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).unwrap();
        Self::Ed(Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap())
    }

    fn alg(&self) -> &'static str {
        match self {
            Self::Rsa(_) => "RS256",
            Self::Ec(_) => "ES256",
            Self::Ed(_) => "EdDSA",
        }
    }

    fn jwk(&self, kid: &str) -> Value {
        let mut jwk = match self {
            Self::Rsa(_) => {
                serde_json::from_str(include_str!("fixtures/rsa-test-key.jwk.json")).unwrap()
            }
            Self::Ec(key) => {
                let point = key.public_key().as_ref();
                json!({"kty": "EC", "crv": "P-256", "x": b64(&point[1..33]), "y": b64(&point[33..])})
            }
            Self::Ed(key) => {
                json!({"kty": "OKP", "crv": "Ed25519", "x": b64(key.public_key().as_ref())})
            }
        };
        jwk["kid"] = kid.into();
        jwk
    }

    /// The public key as PEM (SubjectPublicKeyInfo).
    fn pem(&self) -> String {
        let der = match self {
            Self::Rsa(_) => return include_str!("fixtures/rsa-test-key.pub.pem").to_owned(),
            Self::Ec(key) => {
                let mut der = vec![
                    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01,
                    0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
                ];
                der.extend_from_slice(key.public_key().as_ref());
                der
            }
            Self::Ed(key) => {
                let mut der = vec![
                    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
                ];
                der.extend_from_slice(key.public_key().as_ref());
                der
            }
        };
        let body = base64::engine::general_purpose::STANDARD.encode(der);
        format!("-----BEGIN PUBLIC KEY-----\n{body}\n-----END PUBLIC KEY-----\n")
    }

    fn sign_with(&self, alg: &str, kid: Option<&str>, claims: &Value) -> String {
        let mut header = json!({"alg": alg, "typ": "JWT"});
        if let Some(kid) = kid {
            header["kid"] = kid.into();
        }
        let input = format!(
            "{}.{}",
            b64(header.to_string().as_bytes()),
            b64(claims.to_string().as_bytes())
        );
        let rng = SystemRandom::new();
        let signature = match self {
            Self::Rsa(key) => {
                let mut out = vec![0; key.public().modulus_len()];
                key.sign(
                    &signature::RSA_PKCS1_SHA256,
                    &rng,
                    input.as_bytes(),
                    &mut out,
                )
                .unwrap();
                out
            }
            Self::Ec(key) => key.sign(&rng, input.as_bytes()).unwrap().as_ref().to_vec(),
            Self::Ed(key) => key.sign(input.as_bytes()).as_ref().to_vec(),
        };
        format!("{input}.{}", b64(&signature))
    }

    fn sign(&self, kid: &str, claims: &Value) -> String {
        self.sign_with(self.alg(), Some(kid), claims)
    }
}

/// A JWKS server on loopback: serves whatever `keys` holds, counts the fetches.
struct JwksServer {
    url: String,
    keys: Arc<Mutex<Value>>,
    fetches: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl JwksServer {
    async fn start(keys: Value) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/jwks", listener.local_addr().unwrap());
        let keys = Arc::new(Mutex::new(keys));
        let fetches = Arc::new(AtomicUsize::new(0));
        let (served, count) = (keys.clone(), fetches.clone());
        let task = tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let body = served.lock().unwrap().to_string();
                count.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(async move {
                    let mut request = [0_u8; 4096];
                    let _ = socket.read(&mut request).await;
                    let response = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = socket.write_all(response.as_bytes()).await;
                    let _ = socket.shutdown().await;
                });
            }
        });
        Self {
            url,
            keys,
            fetches,
            task,
        }
    }
}

impl Drop for JwksServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

struct Mount {
    jwt: Jwt,
    ctx: Context,
}

impl Mount {
    fn new() -> Self {
        let view = StorageView::new(Arc::new(MemoryStorage::new()), "").unwrap();
        Self {
            jwt: Jwt::default(),
            ctx: Context::new(view, "auth/jwt/"),
        }
    }

    async fn write(
        &self,
        path: &str,
        data: Value,
    ) -> Result<strongroom_logical::Response, LogicalError> {
        let data = match data {
            Value::Object(map) => map,
            _ => Map::new(),
        };
        self.jwt
            .handle(
                &self.ctx,
                Request::new(Operation::Update, path).with_data(data),
            )
            .await
    }

    async fn login(
        &self,
        role: &str,
        jwt: &str,
    ) -> Result<strongroom_logical::AuthDescriptor, LogicalError> {
        self.write("login", json!({"role": role, "jwt": jwt}))
            .await
            .map(|r| r.auth.unwrap())
    }
}

fn now() -> i64 {
    i64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs(),
    )
    .unwrap()
}

fn claims(extra: Value) -> Value {
    let mut base = json!({
        "iss": "https://ci.example", "sub": "repo:org/app:ref:refs/heads/main",
        "aud": "strongroom", "repo": "org/app", "exp": now() + 300, "iat": now(), "nbf": now(),
    });
    for (k, v) in extra.as_object().unwrap() {
        if v.is_null() {
            base.as_object_mut().unwrap().remove(k);
        } else {
            base[k] = v.clone();
        }
    }
    base
}

fn refused(result: Result<strongroom_logical::AuthDescriptor, LogicalError>) -> String {
    match result {
        Err(err @ LogicalError::InvalidRequest(_)) => err.to_string(),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

async fn ci_role(mount: &Mount) {
    mount
        .write(
            "role/ci",
            json!({"role_type": "jwt", "bound_audiences": ["strongroom"],
                   "bound_claims_type": "glob", "bound_claims": {"repo": ["org/*"]},
                   "user_claim": "sub", "claim_mappings": {"repo": "repository"},
                   "token_policies": ["ci"], "token_ttl": "10m"}),
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn jwks_logins_and_every_refusal() {
    let (rsa, ec, ed) = (Signer::rsa(), Signer::ec(), Signer::ed());
    let server =
        JwksServer::start(json!({"keys": [rsa.jwk("r1"), ec.jwk("e1"), ed.jwk("d1")]})).await;
    let mount = Mount::new();
    mount
        .write(
            "config",
            json!({"jwks_url": server.url, "bound_issuer": "https://ci.example",
                   "jwt_supported_algs": ["RS256", "ES256", "EdDSA"]}),
        )
        .await
        .unwrap();
    assert_eq!(
        server.fetches.load(Ordering::SeqCst),
        1,
        "fetched when configured"
    );
    ci_role(&mount).await;

    for (signer, kid) in [(&rsa, "r1"), (&ec, "e1"), (&ed, "d1")] {
        let auth = mount
            .login("ci", &signer.sign(kid, &claims(json!({}))))
            .await
            .unwrap();
        assert_eq!(auth.policies, ["ci"]);
        assert_eq!(auth.ttl, Duration::from_secs(600));
        assert_eq!(auth.display_name, "repo:org/app:ref:refs/heads/main");
        assert_eq!(auth.metadata["repository"], "org/app");
        assert_eq!(auth.metadata["role"], "ci");
    }
    assert_eq!(
        server.fetches.load(Ordering::SeqCst),
        1,
        "served from the cache"
    );

    // Within the leeways (60 s skew + 150 s) an expired token still passes; beyond, not.
    mount
        .login("ci", &rsa.sign("r1", &claims(json!({"exp": now() - 100}))))
        .await
        .unwrap();
    let cases = [
        (json!({"aud": "someone-else"}), "audience"),
        (json!({"aud": null}), "audience"),
        (json!({"iss": "https://evil.example"}), "issuer"),
        (json!({"exp": now() - 1000}), "expired"),
        (json!({"exp": null}), "no expiry"),
        (json!({"nbf": now() + 1000}), "not valid yet"),
        (json!({"iat": now() + 1000}), "future"),
        (json!({"repo": "evil/app"}), "bound claim"),
        (json!({"repo": null}), "bound claim"),
        (json!({"sub": null}), "not found"),
        (json!({"exp": 1e300}), "out of range"),
        (json!({"exp": "tomorrow"}), "not a number"),
        (json!({"aud": 5}), "audience"),
        (json!({"sub": {"nested": true}}), "not found"),
    ];
    for (extra, expected) in cases {
        let err = refused(
            mount
                .login("ci", &rsa.sign("r1", &claims(extra.clone())))
                .await,
        );
        assert!(err.contains(expected), "{extra}: {err}");
    }

    // Signatures: tampered claims, another key under a known kid, alg none, an alg not
    // allowed, an alg that does not suit the key.
    let good = rsa.sign("r1", &claims(json!({})));
    let mut parts: Vec<&str> = good.split('.').collect();
    let forged = b64(claims(json!({"repo": "org/admin"})).to_string().as_bytes());
    parts[1] = &forged;
    let err = refused(mount.login("ci", &parts.join(".")).await);
    assert!(err.contains("signature"), "{err}");
    let impostor = Signer::ec();
    let err = refused(
        mount
            .login("ci", &impostor.sign("e1", &claims(json!({}))))
            .await,
    );
    assert!(err.contains("signature"), "{err}");
    let unsigned = format!(
        "{}.{}.",
        b64(br#"{"alg":"none"}"#),
        b64(claims(json!({})).to_string().as_bytes())
    );
    assert!(refused(mount.login("ci", &unsigned).await).contains("alg"));
    let unsigned = format!("{unsigned}c2ln");
    assert!(refused(mount.login("ci", &unsigned).await).contains("none"));
    let hs = rsa.sign_with("HS256", Some("r1"), &claims(json!({})));
    assert!(refused(mount.login("ci", &hs).await).contains("not allowed"));
    let confused = rsa.sign_with("ES256", Some("r1"), &claims(json!({})));
    assert!(refused(mount.login("ci", &confused).await).contains("signature"));

    // An unknown kid: one refetch (still unknown: refused); the key server then rotates in a
    // new key, and after the refetch interval a token under it logs in.
    let fetches = server.fetches.load(Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let next = Signer::ed();
    let err = refused(
        mount
            .login("ci", &next.sign("d2", &claims(json!({}))))
            .await,
    );
    assert!(err.contains("signature"), "{err}");
    assert_eq!(server.fetches.load(Ordering::SeqCst), fetches + 1);
    // A burst of unknown kids right after does not turn into a burst of fetches.
    for i in 0..5 {
        let _ = mount
            .login("ci", &next.sign(&format!("x{i}"), &claims(json!({}))))
            .await;
    }
    assert_eq!(server.fetches.load(Ordering::SeqCst), fetches + 1);
    *server.keys.lock().unwrap() = json!({"keys": [rsa.jwk("r1"), next.jwk("d2")]});
    tokio::time::sleep(Duration::from_millis(1100)).await;
    mount
        .login("ci", &next.sign("d2", &claims(json!({}))))
        .await
        .unwrap();

    // Malformed input answers cleanly.
    let huge = format!(
        "{}.{}.c2ln",
        b64(b"{\"alg\":\"RS256\"}"),
        "A".repeat(40_000)
    );
    for jwt in [
        "",
        "not-a-jwt",
        "a.b.c",
        "\u{0}\u{1}.\u{2}.\u{3}",
        huge.as_str(),
    ] {
        assert!(mount.login("ci", jwt).await.is_err(), "{jwt:.40}");
    }
    assert!(mount.login("nope", &good).await.is_err());
    assert!(mount.login("../ci", &good).await.is_err());
    assert!(mount.write("login", json!({"role": "ci"})).await.is_err());
    assert!(
        mount
            .write("login", json!({"role": "ci", "jwt": 5}))
            .await
            .is_err()
    );
}

#[tokio::test]
async fn pem_keys_subject_binding_and_role_validation() {
    let (rsa, ec, ed) = (Signer::rsa(), Signer::ec(), Signer::ed());
    let mount = Mount::new();
    mount
        .write(
            "config",
            json!({"jwt_validation_pubkeys": [rsa.pem(), ec.pem(), ed.pem()],
                   "jwt_supported_algs": "RS256,ES256,EdDSA", "default_role": "svc"}),
        )
        .await
        .unwrap();
    mount
        .write(
            "role/svc",
            json!({"bound_subject": "system:serviceaccount:prod:api", "user_claim": "sub",
                   "bound_audiences": "strongroom", "token_policies": "api",
                   "bound_claims": {"/kubernetes.io/namespace": "prod"}}),
        )
        .await
        .unwrap();
    let k8s = |sub: &str, ns: &str| {
        claims(json!({"sub": sub, "kubernetes.io": {"namespace": ns}, "repo": null}))
    };
    for signer in [&rsa, &ec, &ed] {
        // No kid needed with static keys; no role given: the default role.
        let token = signer.sign_with(
            signer.alg(),
            None,
            &k8s("system:serviceaccount:prod:api", "prod"),
        );
        let auth = mount
            .write("login", json!({"jwt": token}))
            .await
            .unwrap()
            .auth
            .unwrap();
        assert_eq!(auth.policies, ["api"]);
    }
    let wrong_sub = rsa.sign_with(
        "RS256",
        None,
        &k8s("system:serviceaccount:prod:other", "prod"),
    );
    assert!(refused(mount.login("svc", &wrong_sub).await).contains("bound subject"));
    let wrong_ns = rsa.sign_with("RS256", None, &k8s("system:serviceaccount:prod:api", "dev"));
    assert!(refused(mount.login("svc", &wrong_ns).await).contains("bound claim"));
    let stranger = Signer::ed().sign_with(
        "EdDSA",
        None,
        &k8s("system:serviceaccount:prod:api", "prod"),
    );
    assert!(refused(mount.login("svc", &stranger).await).contains("signature"));

    // Configuration and roles are validated when written.
    for (path, body, expected) in [
        ("config", json!({}), "exactly one"),
        (
            "config",
            json!({"jwks_url": "http://127.0.0.1:9/jwks", "jwt_validation_pubkeys": [ed.pem()]}),
            "exactly one",
        ),
        (
            "config",
            json!({"jwt_validation_pubkeys": ["not a key"]}),
            "error parsing public key",
        ),
        (
            "config",
            json!({"jwt_validation_pubkeys": [ed.pem()], "jwt_supported_algs": ["none"]}),
            "unsupported",
        ),
        (
            "config",
            json!({"jwt_validation_pubkeys": [ed.pem()], "jwt_supported_algs": ["HS256"]}),
            "unsupported",
        ),
        (
            "config",
            json!({"jwks_url": "ftp://x/jwks", "jwt_validation_pubkeys": []}),
            "http",
        ),
        (
            "config",
            json!({"oidc_discovery_url": "https://x"}),
            "not supported",
        ),
        ("role/new", json!({"user_claim": "sub"}), "bound constraint"),
        (
            "role/new",
            json!({"role_type": "oidc", "bound_subject": "x"}),
            "jwt only",
        ),
        (
            "role/new",
            json!({"bound_claims": {"a": {"b": 1}}}),
            "bound_claims",
        ),
        (
            "role/new",
            json!({"bound_claims": {"a": "x"}, "bound_claims_type": "regex"}),
            "glob",
        ),
        (
            "role/bad name",
            json!({"bound_subject": "x"}),
            "invalid role name",
        ),
    ] {
        let err = mount
            .write(path, body.clone())
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains(expected), "{path} {body}: {err}");
    }
    // An unreachable key server fails the configuration, not a later login.
    let err = mount
        .write(
            "config",
            json!({"jwks_url": "http://127.0.0.1:9/jwks", "jwt_validation_pubkeys": []}),
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("JWKS"), "{err}");
    let role = mount
        .jwt
        .handle(&mount.ctx, Request::new(Operation::Read, "role/svc"))
        .await
        .unwrap()
        .data
        .unwrap();
    assert_eq!(role["bound_subject"], "system:serviceaccount:prod:api");
    assert_eq!(role["user_claim"], "sub");
    assert_eq!(role["token_policies"], json!(["api"]));
}
