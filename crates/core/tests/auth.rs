//! The userpass and approle auth methods through the embedded vault: a login yields a token with
//! exactly the configured policies and TTL; wrong secrets fail alike; used-up and expired secret
//! ids, CIDR bounds on secret ids and on tokens; concurrent logins cannot overspend a secret id;
//! bad input answers cleanly.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code"
)]

mod common;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde_json::{Map, Value, json};
use strongroom_core::{AuthInfo, ManualClock, Vault, VaultError, VaultRequest};
use strongroom_logical::{Connection, Operation};
use strongroom_storage::MemoryStorage;

struct Setup {
    vault: Vault,
    root: String,
    clock: Arc<ManualClock>,
}

/// A vault with `kind` enabled at `auth/<kind>/`.
async fn setup(kind: &str) -> Setup {
    let clock = Arc::new(ManualClock::new(SystemTime::now()));
    let vault = Vault::builder(MemoryStorage::new())
        .clock(clock.clone())
        .background_expiry(false)
        .build()
        .unwrap();
    let (root, _) = common::unsealed_with(&vault, "kv").await;
    vault
        .write(&root, &format!("sys/auth/{kind}"), json!({"type": kind}))
        .await
        .unwrap();
    Setup { vault, root, clock }
}

fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

/// A request from `addr`.
async fn from(
    vault: &Vault,
    addr: &str,
    operation: Operation,
    path: &str,
    token: Option<&str>,
    data: Value,
) -> Result<strongroom_core::VaultResponse, VaultError> {
    let ip: IpAddr = addr.parse().unwrap();
    let mut request = VaultRequest::new(operation, path)
        .with_data(object(data))
        .with_connection(Connection::from_addr(ip));
    if let Some(token) = token {
        request = request.with_token(token);
    }
    vault.handle(request).await
}

/// Logs `user` in through `auth/userpass` with `password`; what the login answered.
async fn userpass_login(s: &Setup, user: &str, password: &str) -> AuthInfo {
    s.vault
        .login(
            &format!("auth/userpass/login/{user}"),
            json!({ "password": password }),
        )
        .await
        .unwrap()
        .auth
        .unwrap()
}

/// The caller's own token, looked up.
async fn lookup_self(s: &Setup, token: &str) -> Map<String, Value> {
    s.vault
        .read(token, "auth/token/lookup-self")
        .await
        .unwrap()
        .data
        .unwrap()
}

fn login_error<T: std::fmt::Debug>(result: Result<T, VaultError>) -> String {
    match result {
        Err(VaultError::Logical(err)) => {
            assert_eq!(
                err.kind(),
                strongroom_logical::ErrorKind::InvalidRequest,
                "{err}"
            );
            err.to_string()
        }
        other => panic!("expected an invalid-request error, got {other:?}"),
    }
}

#[tokio::test]
async fn userpass_login_gives_exactly_the_configured_token() {
    let s = setup("userpass").await;
    s.vault
        .write(
            &s.root,
            "auth/userpass/users/Alice",
            json!({"password": "correct horse", "token_policies": "reader,writer",
                   "token_ttl": "1h", "token_max_ttl": "2h"}),
        )
        .await
        .unwrap();
    let login = s
        .vault
        .login(
            "auth/userpass/login/alice",
            json!({"password": "correct horse"}),
        )
        .await
        .unwrap();
    let auth = login.auth.unwrap();
    assert_eq!(auth.policies, ["default", "reader", "writer"]);
    assert_eq!(auth.lease_duration, 3600);
    assert!(auth.renewable);
    assert!(auth.orphan);
    assert_eq!(auth.metadata["username"], "alice");
    let me = lookup_self(&s, auth.client_token.expose_secret()).await;
    assert_eq!(me["display_name"], json!("userpass-alice"));
    assert_eq!(me["policies"], json!(["default", "reader", "writer"]));
    assert_eq!(me["path"], json!("auth/userpass/login/alice"));
    // The token's max TTL holds: a renewal cannot pass 2h from creation.
    s.clock.advance(Duration::from_secs(3000));
    let renewed = s
        .vault
        .write(
            auth.client_token.expose_secret(),
            "auth/token/renew-self",
            json!({"increment": "10h"}),
        )
        .await
        .unwrap();
    assert_eq!(renewed.auth.unwrap().lease_duration, 4200);

    // Wrong password and unknown user: the same answer.
    let wrong = login_error(
        s.vault
            .login("auth/userpass/login/alice", json!({"password": "wrong"}))
            .await,
    );
    let unknown = login_error(
        s.vault
            .login("auth/userpass/login/mallory", json!({"password": "wrong"}))
            .await,
    );
    assert_eq!(wrong, unknown);
    assert!(wrong.contains("invalid username or password"), "{wrong}");

    // Reading a user never shows the password or its hash.
    let user = s
        .vault
        .read(&s.root, "auth/userpass/users/alice")
        .await
        .unwrap()
        .data
        .unwrap();
    assert_eq!(user["token_policies"], json!(["reader", "writer"]));
    assert_eq!(user["token_ttl"], json!(3600));
    let text = serde_json::to_string(&user).unwrap();
    assert!(
        !text.contains("argon2") && !text.contains("password"),
        "{text}"
    );

    // A new password: the old one stops working.
    s.vault
        .write(
            &s.root,
            "auth/userpass/users/alice/password",
            json!({"password": "battery staple"}),
        )
        .await
        .unwrap();
    assert!(
        s.vault
            .login(
                "auth/userpass/login/alice",
                json!({"password": "correct horse"})
            )
            .await
            .is_err()
    );
    s.vault
        .write(
            &s.root,
            "auth/userpass/users/alice/policies",
            json!({"token_policies": ["auditor"]}),
        )
        .await
        .unwrap();
    let auth = userpass_login(&s, "alice", "battery staple").await;
    assert_eq!(auth.policies, ["auditor", "default"]);
    let users = s
        .vault
        .list(&s.root, "auth/userpass/users")
        .await
        .unwrap()
        .data
        .unwrap();
    assert_eq!(users["keys"], json!(["alice"]));

    // Only the login path is open: managing users needs a token allowed to.
    assert!(matches!(
        s.vault
            .write(
                auth.client_token.expose_secret(),
                "auth/userpass/users/eve",
                json!({"password": "x"})
            )
            .await,
        Err(VaultError::PermissionDenied)
    ));
    assert!(matches!(
        s.vault
            .handle(VaultRequest::new(
                Operation::Read,
                "auth/userpass/users/alice"
            ))
            .await,
        Err(VaultError::PermissionDenied)
    ));
    s.vault
        .delete(&s.root, "auth/userpass/users/alice")
        .await
        .unwrap();
    assert!(
        s.vault
            .login(
                "auth/userpass/login/alice",
                json!({"password": "battery staple"})
            )
            .await
            .is_err()
    );
}

#[tokio::test]
async fn userpass_token_settings_uses_and_cidr_bounds() {
    let s = setup("userpass").await;
    s.vault
        .write(
            &s.root,
            "auth/userpass/users/bob",
            json!({"password": "pw", "token_policies": ["p"],
                   "token_num_uses": 2, "token_bound_cidrs": ["10.0.0.0/8"]}),
        )
        .await
        .unwrap();
    s.vault
        .write(
            &s.root,
            "auth/userpass/users/carol",
            json!({"password": "pw", "token_policies": ["p"], "token_no_default_policy": true}),
        )
        .await
        .unwrap();
    let carol = userpass_login(&s, "carol", "pw").await;
    assert_eq!(carol.policies, ["p"], "no default policy");
    // As in Vault, a login whose token could not be used from the caller's address fails.
    assert!(matches!(
        from(
            &s.vault,
            "127.0.0.1",
            Operation::Update,
            "auth/userpass/login/bob",
            None,
            json!({"password": "pw"}),
        )
        .await,
        Err(VaultError::PermissionDenied)
    ));
    let auth = from(
        &s.vault,
        "10.0.0.7",
        Operation::Update,
        "auth/userpass/login/bob",
        None,
        json!({"password": "pw"}),
    )
    .await
    .unwrap()
    .auth
    .unwrap();
    assert_eq!(auth.policies, ["default", "p"]);
    assert_eq!(auth.num_uses, 2);
    let token = auth.client_token.expose_secret();
    let lookup = |addr: &'static str| {
        from(
            &s.vault,
            addr,
            Operation::Read,
            "auth/token/lookup-self",
            Some(token),
            json!({}),
        )
    };
    assert!(matches!(
        lookup("127.0.0.1").await,
        Err(VaultError::PermissionDenied)
    ));
    assert!(matches!(
        s.vault.read(token, "auth/token/lookup-self").await,
        Err(VaultError::PermissionDenied)
    ));
    lookup("10.1.2.3").await.unwrap();
    lookup("10.200.0.1").await.unwrap();
    assert!(
        lookup("10.1.2.3").await.is_err(),
        "two uses, then the token is gone"
    );

    // A login path that climbs out of the mount is refused by the core's canonical path (the
    // method's own bad input is tested in strongroom-auth's `tests/logins.rs`).
    assert!(
        s.vault
            .login("auth/userpass/login/../../sys", json!({"password": "x"}))
            .await
            .is_err()
    );
}

/// Makes role `name` from `body`, and one secret id from `secret`; returns the role id and the
/// secret id's data.
async fn approle_role(
    s: &Setup,
    name: &str,
    body: Value,
    secret: Value,
) -> (String, Map<String, Value>) {
    s.vault
        .write(&s.root, &format!("auth/approle/role/{name}"), body)
        .await
        .unwrap();
    let role_id = s
        .vault
        .read(&s.root, &format!("auth/approle/role/{name}/role-id"))
        .await
        .unwrap()
        .data
        .unwrap()["role_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let secret = s
        .vault
        .write(
            &s.root,
            &format!("auth/approle/role/{name}/secret-id"),
            secret,
        )
        .await
        .unwrap()
        .data
        .unwrap();
    (role_id, secret)
}

async fn approle_login(
    s: &Setup,
    role_id: &str,
    secret_id: &str,
) -> Result<strongroom_core::AuthInfo, VaultError> {
    s.vault
        .login(
            "auth/approle/login",
            json!({"role_id": role_id, "secret_id": secret_id}),
        )
        .await
        .map(|r| r.auth.unwrap())
}

#[tokio::test]
async fn approle_login_uses_ttl_and_lookups() {
    let s = setup("approle").await;
    let (role_id, secret) = approle_role(
        &s,
        "app",
        json!({"token_policies": "app", "token_ttl": "30m", "secret_id_num_uses": 2,
               "secret_id_ttl": "10m"}),
        json!({}),
    )
    .await;
    let secret_id = secret["secret_id"].as_str().unwrap().to_owned();
    assert_eq!(secret["secret_id_ttl"], json!(600));
    assert_eq!(secret["secret_id_num_uses"], json!(2));
    let auth = approle_login(&s, &role_id, &secret_id).await.unwrap();
    assert_eq!(auth.policies, ["app", "default"]);
    assert_eq!(auth.lease_duration, 1800);
    assert_eq!(auth.metadata["role_name"], "app");
    let me = lookup_self(&s, auth.client_token.expose_secret()).await;
    assert_eq!(me["display_name"], json!("approle"));

    // The lookup shows one use left; the second login spends it; the third fails.
    let looked = s
        .vault
        .write(
            &s.root,
            "auth/approle/role/app/secret-id/lookup",
            json!({"secret_id": secret_id}),
        )
        .await
        .unwrap()
        .data
        .unwrap();
    assert_eq!(looked["secret_id_num_uses"], json!(1));
    assert_eq!(looked["secret_id_accessor"], secret["secret_id_accessor"]);
    approle_login(&s, &role_id, &secret_id).await.unwrap();
    let exhausted = login_error(approle_login(&s, &role_id, &secret_id).await);
    let wrong_secret = login_error(approle_login(&s, &role_id, "not-a-secret").await);
    let wrong_role = login_error(approle_login(&s, "not-a-role", &secret_id).await);
    assert_eq!(exhausted, wrong_secret);
    assert_eq!(wrong_secret, wrong_role);
    assert!(
        s.vault
            .list(&s.root, "auth/approle/role/app/secret-id")
            .await
            .unwrap()
            .data
            .unwrap()["keys"]
            .as_array()
            .unwrap()
            .is_empty(),
        "a used-up secret id is deleted"
    );

    // Expiry.
    let fresh = s
        .vault
        .write(
            &s.root,
            "auth/approle/role/app/secret-id",
            json!({"ttl": "1m"}),
        )
        .await
        .unwrap()
        .data
        .unwrap();
    assert_eq!(fresh["secret_id_ttl"], json!(60));
    s.clock.advance(Duration::from_secs(61));
    login_error(approle_login(&s, &role_id, fresh["secret_id"].as_str().unwrap()).await);
    // A secret id cannot outlive the role's ceiling.
    assert!(
        s.vault
            .write(
                &s.root,
                "auth/approle/role/app/secret-id",
                json!({"ttl": "1h"})
            )
            .await
            .is_err()
    );

    // Custom ids, accessor lookup and destroy.
    s.vault
        .write(
            &s.root,
            "auth/approle/role/app/role-id",
            json!({"role_id": "my-role-id"}),
        )
        .await
        .unwrap();
    let custom = s
        .vault
        .write(
            &s.root,
            "auth/approle/role/app/custom-secret-id",
            json!({"secret_id": "my-secret-id", "metadata": "{\"team\": \"blue\"}"}),
        )
        .await
        .unwrap()
        .data
        .unwrap();
    login_error(approle_login(&s, &role_id, "my-secret-id").await);
    let auth = approle_login(&s, "my-role-id", "my-secret-id")
        .await
        .unwrap();
    assert_eq!(auth.metadata["team"], "blue");
    let accessor = custom["secret_id_accessor"].as_str().unwrap();
    let by_accessor = s
        .vault
        .write(
            &s.root,
            "auth/approle/role/app/secret-id-accessor/lookup",
            json!({"secret_id_accessor": accessor}),
        )
        .await
        .unwrap()
        .data
        .unwrap();
    assert_eq!(by_accessor["metadata"], json!({"team": "blue"}));
    s.vault
        .write(
            &s.root,
            "auth/approle/role/app/secret-id-accessor/destroy",
            json!({"secret_id_accessor": accessor}),
        )
        .await
        .unwrap();
    login_error(approle_login(&s, "my-role-id", "my-secret-id").await);
    assert!(
        s.vault
            .write(
                &s.root,
                "auth/approle/role/app/custom-secret-id",
                json!({"secret_id": "dup"})
            )
            .await
            .is_ok()
    );
    assert!(
        s.vault
            .write(
                &s.root,
                "auth/approle/role/app/custom-secret-id",
                json!({"secret_id": "dup"})
            )
            .await
            .is_err(),
        "a secret id in use cannot be issued twice"
    );

    // The role reads back in Vault's shape; deleting it removes its ids.
    let role = s
        .vault
        .read(&s.root, "auth/approle/role/app")
        .await
        .unwrap()
        .data
        .unwrap();
    assert_eq!(role["bind_secret_id"], json!(true));
    assert_eq!(role["secret_id_ttl"], json!(600));
    assert_eq!(role["token_policies"], json!(["app"]));
    s.vault
        .delete(&s.root, "auth/approle/role/app")
        .await
        .unwrap();
    login_error(approle_login(&s, "my-role-id", "dup").await);
}

#[tokio::test]
async fn approle_cidr_bounds_and_bad_input() {
    let s = setup("approle").await;
    let (role_id, secret) = approle_role(
        &s,
        "bounded",
        json!({"token_policies": "p", "secret_id_bound_cidrs": ["10.0.0.0/8"]}),
        json!({}),
    )
    .await;
    let secret_id = secret["secret_id"].as_str().unwrap();
    let login = |addr: &'static str, secret: &str| {
        from(
            &s.vault,
            addr,
            Operation::Update,
            "auth/approle/login",
            None,
            json!({"role_id": role_id, "secret_id": secret}),
        )
    };
    assert!(login("127.0.0.1", secret_id).await.is_err());
    assert!(
        s.vault
            .login(
                "auth/approle/login",
                json!({"role_id": role_id, "secret_id": secret_id})
            )
            .await
            .is_err(),
        "an embedded call has no address: outside every bound"
    );
    login("10.9.9.9", secret_id).await.unwrap();
    // A secret id's own bounds and its token bounds.
    let narrow = s
        .vault
        .write(
            &s.root,
            "auth/approle/role/bounded/secret-id",
            json!({"cidr_list": "10.1.0.0/16", "token_bound_cidrs": ["10.1.2.3/32"]}),
        )
        .await
        .unwrap()
        .data
        .unwrap();
    let narrow_id = narrow["secret_id"].as_str().unwrap();
    assert!(login("10.9.9.9", narrow_id).await.is_err());
    assert!(
        login("10.1.0.1", narrow_id).await.is_err(),
        "its token could not be used from there"
    );
    let auth = login("10.1.2.3", narrow_id).await.unwrap().auth.unwrap();
    let use_from = |addr: &'static str| {
        from(
            &s.vault,
            addr,
            Operation::Read,
            "auth/token/lookup-self",
            Some(auth.client_token.expose_secret()),
            json!({}),
        )
    };
    assert!(use_from("10.1.0.1").await.is_err());
    use_from("10.1.2.3").await.unwrap();
    // A refused login spends nothing: a one-use secret id still works from the right place.
    let once = s
        .vault
        .write(
            &s.root,
            "auth/approle/role/bounded/secret-id",
            json!({"num_uses": 1, "token_bound_cidrs": ["10.7.0.0/16"]}),
        )
        .await
        .unwrap()
        .data
        .unwrap();
    let once_id = once["secret_id"].as_str().unwrap();
    assert!(login("10.8.0.1", once_id).await.is_err());
    login("10.7.0.1", once_id).await.unwrap();
    assert!(login("10.7.0.1", once_id).await.is_err(), "used up");
}

/// A JWT login through the vault: the method verifies the token (an Ed25519 key given as PEM)
/// and the core mints a token with the role's policies, TTL and the mapped claims.
#[tokio::test]
async fn jwt_login_through_the_vault_mints_the_role_token() {
    use base64ct::Encoding as _;
    use ring::signature::KeyPair as _;
    let s = setup("jwt").await;
    let pkcs8 =
        ring::signature::Ed25519KeyPair::generate_pkcs8(&ring::rand::SystemRandom::new()).unwrap();
    let key = ring::signature::Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap();
    let mut spki = vec![
        0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
    ];
    spki.extend_from_slice(key.public_key().as_ref());
    let pem = format!(
        "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----",
        base64ct::Base64::encode_string(&spki)
    );
    s.vault
        .write(
            &s.root,
            "auth/jwt/config",
            json!({"jwt_validation_pubkeys": [pem], "jwt_supported_algs": ["EdDSA"],
                   "bound_issuer": "https://issuer.example"}),
        )
        .await
        .unwrap();
    s.vault
        .write(
            &s.root,
            "auth/jwt/role/deploy",
            json!({"bound_audiences": "vault", "user_claim": "sub", "token_policies": "deployer",
                   "token_ttl": "15m", "claim_mappings": {"env": "environment"}}),
        )
        .await
        .unwrap();
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let part = |v: Value| base64ct::Base64UrlUnpadded::encode_string(v.to_string().as_bytes());
    let input = format!(
        "{}.{}",
        part(json!({"alg": "EdDSA"})),
        part(
            json!({"iss": "https://issuer.example", "sub": "pipeline-7", "aud": "vault",
                    "env": "prod", "exp": now + 60, "iat": now})
        )
    );
    let signature = key.sign(input.as_bytes());
    let jwt = format!(
        "{input}.{}",
        base64ct::Base64UrlUnpadded::encode_string(signature.as_ref())
    );
    let auth = s
        .vault
        .login("auth/jwt/login", json!({"role": "deploy", "jwt": jwt}))
        .await
        .unwrap()
        .auth
        .unwrap();
    assert_eq!(auth.policies, ["default", "deployer"]);
    assert_eq!(auth.lease_duration, 900);
    assert_eq!(auth.metadata["environment"], "prod");
    let me = lookup_self(&s, auth.client_token.expose_secret()).await;
    assert_eq!(me["display_name"], json!("jwt-pipeline-7"));
    let tampered = format!("{jwt}A");
    assert!(
        s.vault
            .login("auth/jwt/login", json!({"role": "deploy", "jwt": tampered}))
            .await
            .is_err()
    );
}

/// The boundaries an auth method must not cross: no login carries `root`; login methods only
/// mint tokens from `auth/` mounts; a secret id cannot widen its role's CIDR bounds, nor a child
/// token its parent's; disabling an auth mount revokes the tokens its logins made.
#[tokio::test]
async fn auth_methods_cannot_cross_their_boundaries() {
    let s = setup("userpass").await;
    let err = s
        .vault
        .write(
            &s.root,
            "auth/userpass/users/mallory",
            json!({"password": "pw", "token_policies": ["Root"]}),
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("root policy"), "{err}");
    let err = s
        .vault
        .write(&s.root, "sys/mounts/team", json!({"type": "userpass"}))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("sys/auth"), "{err}");
    let err = s
        .vault
        .write(&s.root, "sys/auth/kv-here", json!({"type": "kv"}))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("sys/mounts"), "{err}");

    // Policy names are sanitised: trimmed, lower-cased, deduplicated.
    s.vault
        .write(
            &s.root,
            "auth/userpass/users/bob",
            json!({"password": "pw", "token_policies": " Reader ,reader,WRITER",
                   "token_bound_cidrs": "10.0.0.0/8"}),
        )
        .await
        .unwrap();
    let auth = from(
        &s.vault,
        "10.0.0.1",
        Operation::Update,
        "auth/userpass/login/bob",
        None,
        json!({"password": "pw"}),
    )
    .await
    .unwrap()
    .auth
    .unwrap();
    assert_eq!(auth.policies, ["default", "reader", "writer"]);

    // A child of a CIDR-bound token is bound too (the root creates it for bob's policies).
    let from_ten = |token: String, path: &'static str, body: Value| {
        let vault = s.vault.clone();
        async move {
            from(
                &vault,
                "10.0.0.1",
                Operation::Update,
                path,
                Some(&token),
                body,
            )
            .await
        }
    };
    s.vault
        .write(
            &s.root,
            "sys/policies/acl/writer",
            json!({"policy": "path \"auth/token/create\" { capabilities = [\"update\"] }"}),
        )
        .await
        .unwrap();
    let child = from_ten(
        auth.client_token.expose_secret().to_owned(),
        "auth/token/create",
        json!({"policies": ["reader"]}),
    )
    .await
    .unwrap()
    .auth
    .unwrap();
    assert!(matches!(
        from(
            &s.vault,
            "192.168.1.1",
            Operation::Read,
            "auth/token/lookup-self",
            Some(child.client_token.expose_secret()),
            json!({})
        )
        .await,
        Err(VaultError::PermissionDenied)
    ));
    let err = from_ten(
        auth.client_token.expose_secret().to_owned(),
        "auth/token/create",
        json!({"policies": ["reader"], "bound_cidrs": ["0.0.0.0/0"]}),
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("parent"), "{err}");

    // Disabling the auth mount revokes its logins' tokens (and their children).
    let carol = {
        s.vault
            .write(
                &s.root,
                "auth/userpass/users/carol",
                json!({"password": "pw"}),
            )
            .await
            .unwrap();
        userpass_login(&s, "carol", "pw")
            .await
            .client_token
            .expose_secret()
            .to_owned()
    };
    s.vault
        .read(&carol, "auth/token/lookup-self")
        .await
        .unwrap();
    s.vault.delete(&s.root, "sys/auth/userpass").await.unwrap();
    assert!(matches!(
        s.vault.read(&carol, "auth/token/lookup-self").await,
        Err(VaultError::PermissionDenied)
    ));
    assert!(
        from(
            &s.vault,
            "10.0.0.1",
            Operation::Read,
            "auth/token/lookup-self",
            Some(child.client_token.expose_secret()),
            json!({})
        )
        .await
        .is_err(),
        "children go with their parent"
    );

    // approle: a secret id may narrow its role's CIDR bounds, never widen them.
    s.vault
        .write(&s.root, "sys/auth/approle", json!({"type": "approle"}))
        .await
        .unwrap();
    s.vault
        .write(
            &s.root,
            "auth/approle/role/app",
            json!({"secret_id_bound_cidrs": "10.0.0.0/8", "token_bound_cidrs": "10.0.0.0/8"}),
        )
        .await
        .unwrap();
    for body in [
        json!({"cidr_list": "0.0.0.0/0"}),
        json!({"cidr_list": "11.0.0.0/16"}),
        json!({"token_bound_cidrs": "0.0.0.0/0"}),
    ] {
        assert!(
            s.vault
                .write(&s.root, "auth/approle/role/app/secret-id", body.clone())
                .await
                .is_err(),
            "{body}"
        );
    }
    s.vault
        .write(
            &s.root,
            "auth/approle/role/app/secret-id",
            json!({"cidr_list": "10.1.0.0/16", "token_bound_cidrs": "10.1.2.3/32"}),
        )
        .await
        .unwrap();
}

/// A login's token renews only while its method agrees: the user still exists with the same
/// policies (as Vault's userpass, approle and jwt do).
#[tokio::test]
async fn renewal_asks_the_auth_method() {
    let s = setup("userpass").await;
    let login = || async {
        userpass_login(&s, "dave", "pw")
            .await
            .client_token
            .expose_secret()
            .to_owned()
    };
    s.vault
        .write(
            &s.root,
            "auth/userpass/users/dave",
            json!({"password": "pw", "token_policies": "a", "token_period": "1h"}),
        )
        .await
        .unwrap();
    let token = login().await;
    let renew = |token: String| {
        let vault = s.vault.clone();
        async move {
            vault
                .write(&token, "auth/token/renew-self", json!({}))
                .await
        }
    };
    assert_eq!(
        renew(token.clone())
            .await
            .unwrap()
            .auth
            .unwrap()
            .lease_duration,
        3600
    );
    s.vault
        .write(
            &s.root,
            "auth/userpass/users/dave/policies",
            json!({"token_policies": "a,b"}),
        )
        .await
        .unwrap();
    let err = renew(token.clone()).await.unwrap_err();
    assert!(err.to_string().contains("policies have changed"), "{err}");
    let fresh = login().await;
    renew(fresh.clone()).await.unwrap();
    s.vault
        .delete(&s.root, "auth/userpass/users/dave")
        .await
        .unwrap();
    let err = renew(fresh).await.unwrap_err();
    assert!(err.to_string().contains("no longer exists"), "{err}");
}
