//! Regression tests for the holes a review found in the request pipeline and the token store,
//! each through the HTTP API (the router, no network), each failing on the code before the fix.
//! OpenBao 2.7.2 answers every one of these the way asserted here.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code"
)]

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use strongroom_core::{ManualClock, Vault};
use strongroom_storage::MemoryStorage;
use tower::ServiceExt;

struct Server {
    app: Router,
    vault: Vault,
    root: String,
    clock: Arc<ManualClock>,
}

struct Answer {
    status: StatusCode,
    body: Value,
    location: Option<String>,
}

impl Server {
    async fn new() -> Self {
        let clock = Arc::new(ManualClock::new(
            std::time::SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000),
        ));
        let vault = Vault::builder(MemoryStorage::new())
            .clock(clock.clone())
            .background_expiry(false)
            .build()
            .unwrap();
        let app = strongroom_http::router(vault.clone());
        let mut server = Self {
            app,
            vault,
            root: String::new(),
            clock,
        };
        let init = server
            .call(
                "PUT",
                "/v1/sys/init",
                None,
                Some(json!({"secret_shares": 1, "secret_threshold": 1})),
            )
            .await;
        let key = init.body["keys"][0].as_str().unwrap().to_owned();
        server
            .call("PUT", "/v1/sys/unseal", None, Some(json!({ "key": key })))
            .await;
        server.root = init.body["root_token"].as_str().unwrap().to_owned();
        server
    }

    async fn call(
        &self,
        method: &str,
        uri: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Answer {
        let mut request = Request::builder()
            .method(Method::from_bytes(method.as_bytes()).unwrap())
            .uri(uri);
        if let Some(token) = token {
            request = request.header("X-Vault-Token", token);
        }
        let body = body.map_or(Body::empty(), |b| Body::from(b.to_string()));
        let response = self
            .app
            .clone()
            .oneshot(request.body(body).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let location = response
            .headers()
            .get("location")
            .map(|v| v.to_str().unwrap().to_owned());
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap()
        };
        Answer {
            status,
            body,
            location,
        }
    }

    async fn root(&self, method: &str, path: &str, body: Option<Value>) -> Answer {
        self.call(method, &format!("/v1/{path}"), Some(&self.root), body)
            .await
    }

    async fn policy(&self, name: &str, text: &str) {
        let answer = self
            .root(
                "PUT",
                &format!("sys/policies/acl/{name}"),
                Some(json!({ "policy": text })),
            )
            .await;
        assert_eq!(answer.status, StatusCode::NO_CONTENT, "{:?}", answer.body);
    }

    /// A token with `policies`, made by root.
    async fn token(&self, body: Value) -> String {
        let answer = self.root("POST", "auth/token/create", Some(body)).await;
        assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.body);
        answer.body["auth"]["client_token"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    async fn sealed(&self) -> bool {
        self.vault.seal_status().await.unwrap().sealed
    }
}

fn errors(answer: &Answer) -> String {
    answer.body["errors"].to_string()
}

/// Item 1: `PUT sys/seal/` sealed the vault for a token with `update` on `sys/*` but no sudo.
#[tokio::test]
async fn sudo_cannot_be_skipped_by_spelling() {
    let s = Server::new().await;
    s.policy(
        "nosudo",
        r#"path "sys/*" { capabilities = ["create", "read", "update", "delete", "list"] }"#,
    )
    .await;
    let t = s.token(json!({"policies": ["nosudo"]})).await;
    for uri in [
        "/v1/sys/seal",
        "/v1/sys/seal/",
        "/v1/sys/seal%2F",
        "/v1/sys%2Fseal",
    ] {
        let answer = s.call("PUT", uri, Some(&t), Some(json!({}))).await;
        assert!(
            answer.status.is_client_error(),
            "{uri}: {} {:?}",
            answer.status,
            answer.body
        );
        assert!(!s.sealed().await, "{uri} sealed the vault without sudo");
    }
    let answer = s.call("PUT", "/v1/sys/seal/", Some(&t), None).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        answer.body,
        json!({"errors": ["cannot write to a path ending in '/'"]})
    );
    // Raw `//`, `.` and `..` are redirected to the clean path, which then needs sudo.
    for uri in [
        "/v1/sys//seal",
        "/v1/sys/./seal",
        "/v1/sys/../sys/seal",
        "/v1//sys/seal",
    ] {
        let answer = s.call("PUT", uri, Some(&t), Some(json!({}))).await;
        assert_eq!(answer.status, StatusCode::TEMPORARY_REDIRECT, "{uri}");
        assert_eq!(answer.location.as_deref(), Some("/v1/sys/seal"), "{uri}");
    }
    let answer = s.call("PUT", "/v1/sys/%2e/seal", Some(&t), None).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        answer.body,
        json!({"errors": ["relative paths not supported"]})
    );
    assert!(!s.sealed().await);
    // With sudo it seals.
    s.policy(
        "sudo",
        r#"path "sys/seal" { capabilities = ["update", "sudo"] }"#,
    )
    .await;
    let t = s.token(json!({"policies": ["sudo"]})).await;
    let answer = s.call("PUT", "/v1/sys/seal", Some(&t), None).await;
    assert_eq!(answer.status, StatusCode::NO_CONTENT, "{:?}", answer.body);
    assert!(s.sealed().await);
}

/// Item 2: `DELETE sys/mounts/auth/<m>` disabled an auth method (and wiped its users) with only
/// `delete` on `sys/mounts/*`.
#[tokio::test]
async fn sys_mounts_cannot_reach_reserved_paths() {
    let s = Server::new().await;
    let answer = s
        .root(
            "POST",
            "sys/auth/userpass",
            Some(json!({"type": "userpass"})),
        )
        .await;
    assert_eq!(answer.status, StatusCode::NO_CONTENT);
    s.root(
        "POST",
        "auth/userpass/users/alice",
        Some(json!({"password": "pw", "token_policies": "default"})),
    )
    .await;
    let login = s
        .call(
            "POST",
            "/v1/auth/userpass/login/alice",
            None,
            Some(json!({"password": "pw"})),
        )
        .await;
    let alice = login.body["auth"]["client_token"]
        .as_str()
        .unwrap()
        .to_owned();
    s.policy(
        "mounts",
        r#"path "sys/mounts/*" { capabilities = ["create", "read", "update", "delete", "list"] }"#,
    )
    .await;
    let t = s.token(json!({"policies": ["mounts"]})).await;
    for (method, path) in [
        ("DELETE", "sys/mounts/auth/userpass"),
        ("DELETE", "sys/mounts/auth/userpass/"),
        ("POST", "sys/mounts/auth/userpass/tune"),
        ("GET", "sys/mounts/auth/userpass/tune"),
        ("GET", "sys/mounts/auth/userpass"),
        ("DELETE", "sys/mounts/sys"),
        ("POST", "sys/mounts/cubbyhole/x"),
        ("POST", "sys/mounts/identity"),
    ] {
        let answer = s
            .call(
                method,
                &format!("/v1/{path}"),
                Some(&t),
                Some(json!({"default_lease_ttl": "1s"})),
            )
            .await;
        assert_eq!(
            answer.status,
            StatusCode::BAD_REQUEST,
            "{method} {path}: {:?}",
            answer.body
        );
        assert!(errors(&answer).contains("cannot "), "{:?}", answer.body);
    }
    // The method, its user and its token are all still there.
    let answer = s.root("GET", "auth/userpass/users/alice", None).await;
    assert_eq!(answer.status, StatusCode::OK);
    let answer = s
        .call("GET", "/v1/auth/token/lookup-self", Some(&alice), None)
        .await;
    assert_eq!(answer.status, StatusCode::OK);
    let answer = s.root("GET", "sys/auth/userpass/tune", None).await;
    assert_eq!(
        answer.body["data"]["default_lease_ttl"], 2_764_800,
        "untuned: the system's"
    );
    // `sys/auth` is where auth methods are managed, with sudo.
    let answer = s.root("DELETE", "sys/auth/token", None).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
}

/// Item 3: renew-self wrote back the entry loaded before the use was counted, so a
/// `num_uses=3` token answered 6 requests.
#[tokio::test]
async fn token_uses_do_not_come_back() {
    let s = Server::new().await;
    let t = s.token(json!({"num_uses": 3, "ttl": "1h"})).await;
    let mut answers = Vec::new();
    for _ in 0..6 {
        let answer = s
            .call(
                "POST",
                "/v1/auth/token/renew-self",
                Some(&t),
                Some(json!({})),
            )
            .await;
        answers.push(answer.status.as_u16());
        if answer.status == StatusCode::BAD_REQUEST {
            // The third request took the last use: the token is gone before it can renew
            // (OpenBao 2.7.2 answers the same).
            assert_eq!(answer.body, json!({"errors": ["token not found"]}));
        }
    }
    assert_eq!(
        answers,
        [200, 200, 400, 403, 403, 403],
        "a 3-use token answers 3 requests"
    );

    // Lookups report the uses left after this request, -1 on the last one (as Vault does).
    let t = s.token(json!({"num_uses": 3})).await;
    let mut seen = Vec::new();
    for _ in 0..3 {
        let answer = s
            .call("GET", "/v1/auth/token/lookup-self", Some(&t), None)
            .await;
        assert_eq!(answer.status, StatusCode::OK);
        seen.push(answer.body["data"]["num_uses"].clone());
    }
    assert_eq!(seen, [json!(2), json!(1), json!(-1)]);
    let answer = s
        .call("GET", "/v1/auth/token/lookup-self", Some(&t), None)
        .await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);

    // The last use revokes the token's children too.
    s.policy(
        "tok",
        r#"path "auth/token/*" { capabilities = ["create", "update", "read"] }"#,
    )
    .await;
    let parent = s.token(json!({"policies": ["tok"]})).await;
    let child = s
        .call(
            "POST",
            "/v1/auth/token/create",
            Some(&parent),
            Some(json!({"num_uses": 1})),
        )
        .await;
    let child = child.body["auth"]["client_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let grandchild_try = s
        .call(
            "POST",
            "/v1/auth/token/create",
            Some(&child),
            Some(json!({})),
        )
        .await;
    assert_eq!(grandchild_try.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        grandchild_try.body,
        json!({"errors": ["restricted use token cannot generate child tokens"]})
    );
    let answer = s
        .call("GET", "/v1/auth/token/lookup-self", Some(&child), None)
        .await;
    assert_eq!(
        answer.status,
        StatusCode::FORBIDDEN,
        "its one use went on the refused create"
    );
}

/// Item 4: `num_uses: "3"` or `1.0` became 0 (unlimited), `-1` was accepted, `renewable:
/// "false"` was ignored.
#[tokio::test]
async fn token_fields_follow_vaults_types() {
    let s = Server::new().await;
    let lookup = |token: String| {
        let s = &s;
        async move {
            s.call("GET", "/v1/auth/token/lookup-self", Some(&token), None)
                .await
                .body["data"]
                .clone()
        }
    };
    let t = s.token(json!({"num_uses": "3"})).await;
    assert_eq!(lookup(t).await["num_uses"], 2);
    let t = s.token(json!({"renewable": "false", "ttl": "1h"})).await;
    assert_eq!(lookup(t).await["renewable"], false);
    let t = s.token(json!({"ttl": 120, "explicit_max_ttl": "1h"})).await;
    let data = lookup(t).await;
    assert_eq!(data["creation_ttl"], 120);
    assert_eq!(data["explicit_max_ttl"], 3600);
    for (body, message) in [
        (json!({"num_uses": 1.0}), "num_uses"),
        (json!({"num_uses": "1.5"}), "num_uses"),
        (json!({"num_uses": "three"}), "num_uses"),
        (json!({"num_uses": -1}), "number of uses cannot be negative"),
        (json!({"renewable": "yes"}), "renewable"),
        (json!({"renewable": 2}), "renewable"),
        (json!({"ttl": "soon"}), "ttl"),
        (json!({"ttl": -5}), "ttl"),
        (json!({"no_parent": "maybe"}), "no_parent"),
        (json!({"policies": {"a": 1}}), "policies"),
        (json!({"type": "batch"}), "batch"),
    ] {
        let answer = s
            .root("POST", "auth/token/create", Some(body.clone()))
            .await;
        assert_eq!(
            answer.status,
            StatusCode::BAD_REQUEST,
            "{body}: {:?}",
            answer.body
        );
        assert!(
            errors(&answer).contains(message),
            "{body}: {:?}",
            answer.body
        );
    }
    // Nothing was created by the refusals: root's accessor list holds only root's own token
    // and the three above.
    let answer = s.root("LIST", "auth/token/accessors", None).await;
    if answer.status == StatusCode::OK {
        assert_eq!(answer.body["data"]["keys"].as_array().unwrap().len(), 4);
    }
}

/// Item 5: a child outlived its parent; a non-sudo parent could make a periodic token.
#[tokio::test]
async fn children_do_not_outlive_their_parent() {
    let s = Server::new().await;
    s.policy(
        "tok",
        r#"path "auth/token/*" { capabilities = ["create", "update", "read"] }"#,
    )
    .await;
    let parent = s.token(json!({"policies": ["tok"], "ttl": "3s"})).await;
    let child = s
        .call(
            "POST",
            "/v1/auth/token/create",
            Some(&parent),
            Some(json!({"ttl": "1h"})),
        )
        .await;
    assert_eq!(child.status, StatusCode::OK);
    let child = child.body["auth"]["client_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let answer = s
        .call("GET", "/v1/auth/token/lookup-self", Some(&child), None)
        .await;
    assert_eq!(answer.status, StatusCode::OK);
    s.clock.advance(Duration::from_secs(4));
    // Refused at once, before any expiry pass ran.
    let answer = s
        .call("GET", "/v1/auth/token/lookup-self", Some(&child), None)
        .await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);
    // And a tree nobody looks up goes with the expiry pass.
    let parent = s.token(json!({"policies": ["tok"], "ttl": "3s"})).await;
    let child = s
        .call(
            "POST",
            "/v1/auth/token/create",
            Some(&parent),
            Some(json!({"ttl": "1h"})),
        )
        .await;
    let accessor = child.body["auth"]["accessor"].as_str().unwrap().to_owned();
    s.clock.advance(Duration::from_secs(120));
    assert!(s.vault.expire_tokens(100).await.unwrap() >= 1);
    let answer = s
        .root(
            "POST",
            "auth/token/lookup-accessor",
            Some(json!({"accessor": accessor})),
        )
        .await;
    assert_eq!(
        answer.status,
        StatusCode::BAD_REQUEST,
        "the child went with its parent"
    );

    // Periodic tokens and orphans need sudo on the path.
    let parent = s.token(json!({"policies": ["tok"]})).await;
    let answer = s
        .call(
            "POST",
            "/v1/auth/token/create",
            Some(&parent),
            Some(json!({"period": "1h"})),
        )
        .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        answer.body,
        json!({"errors": ["root or sudo privileges required to create periodic token"]})
    );
    let answer = s
        .call(
            "POST",
            "/v1/auth/token/create",
            Some(&parent),
            Some(json!({"no_parent": true})),
        )
        .await;
    assert_eq!(
        answer.body,
        json!({"errors": ["root or sudo privileges required to create orphan token"]})
    );
    // create-orphan needs only the path's ACL, as in Vault.
    let answer = s
        .call(
            "POST",
            "/v1/auth/token/create-orphan",
            Some(&parent),
            Some(json!({})),
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.body);
    assert_eq!(answer.body["auth"]["orphan"], true);
    s.policy(
        "toksudo",
        r#"path "auth/token/*" { capabilities = ["create", "update", "read", "sudo"] }"#,
    )
    .await;
    let parent = s.token(json!({"policies": ["toksudo"]})).await;
    let answer = s
        .call(
            "POST",
            "/v1/auth/token/create",
            Some(&parent),
            Some(json!({"period": "1h"})),
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.body);
}

/// Item 6: `LIST secret/metadata/private` (no trailing slash) passed a deny on
/// `secret/metadata/private/*`.
#[tokio::test]
async fn lists_are_checked_with_their_trailing_slash() {
    let s = Server::new().await;
    s.root("POST", "sys/mounts/secret", Some(json!({"type": "kv-v2"})))
        .await;
    s.root(
        "POST",
        "secret/data/private/a",
        Some(json!({"data": {"k": "v"}})),
    )
    .await;
    s.policy(
        "lister",
        r#"
path "secret/metadata/*" { capabilities = ["list"] }
path "secret/metadata/private/*" { capabilities = ["deny"] }
"#,
    )
    .await;
    let t = s.token(json!({"policies": ["lister"]})).await;
    for (method, uri) in [
        ("LIST", "/v1/secret/metadata/private"),
        ("LIST", "/v1/secret/metadata/private/"),
        ("GET", "/v1/secret/metadata/private?list=true"),
        ("GET", "/v1/secret/metadata/private/?list=true"),
    ] {
        let answer = s.call(method, uri, Some(&t), None).await;
        assert_eq!(answer.status, StatusCode::FORBIDDEN, "{method} {uri}");
    }
    let answer = s.call("LIST", "/v1/secret/metadata", Some(&t), None).await;
    assert_eq!(answer.status, StatusCode::OK);
}

/// Item 7: names were lower-cased after the ACL check, so `users/ADMIN` dodged a deny on
/// `users/admin`.
#[tokio::test]
async fn names_are_folded_before_the_acl() {
    let s = Server::new().await;
    s.root(
        "POST",
        "sys/auth/userpass",
        Some(json!({"type": "userpass"})),
    )
    .await;
    s.root("POST", "sys/auth/approle", Some(json!({"type": "approle"})))
        .await;
    s.root(
        "POST",
        "auth/userpass/users/admin",
        Some(json!({"password": "orig"})),
    )
    .await;
    s.root("POST", "auth/approle/role/admin", Some(json!({})))
        .await;
    s.policy(
        "ops",
        r#"
path "auth/userpass/users/*" { capabilities = ["create", "read", "update", "delete"] }
path "auth/userpass/users/admin" { capabilities = ["deny"] }
path "auth/userpass/users/admin/*" { capabilities = ["deny"] }
path "auth/approle/role/*" { capabilities = ["create", "read", "update", "delete"] }
path "auth/approle/role/admin" { capabilities = ["deny"] }
path "auth/approle/role/admin/*" { capabilities = ["deny"] }
path "sys/policies/acl/*" { capabilities = ["create", "read", "update", "delete"] }
path "sys/policies/acl/root-ish" { capabilities = ["deny"] }
"#,
    )
    .await;
    let t = s.token(json!({"policies": ["ops"]})).await;
    for (method, path, body) in [
        (
            "POST",
            "auth/userpass/users/ADMIN",
            json!({"password": "mine"}),
        ),
        (
            "POST",
            "auth/userpass/users/Admin/password",
            json!({"password": "mine"}),
        ),
        ("DELETE", "auth/userpass/users/ADMIN", json!({})),
        ("GET", "auth/approle/role/ADMIN/role-id", json!({})),
        ("POST", "auth/approle/role/ADMIN/secret-id", json!({})),
        (
            "POST",
            "sys/policies/acl/ROOT-ISH",
            json!({"policy": "path \"*\" {capabilities=[\"sudo\"]}"}),
        ),
    ] {
        let answer = s
            .call(method, &format!("/v1/{path}"), Some(&t), Some(body))
            .await;
        assert_eq!(
            answer.status,
            StatusCode::FORBIDDEN,
            "{method} {path}: {:?}",
            answer.body
        );
    }
    // The admin's password is the original one.
    let login = s
        .call(
            "POST",
            "/v1/auth/userpass/login/admin",
            None,
            Some(json!({"password": "orig"})),
        )
        .await;
    assert_eq!(login.status, StatusCode::OK);
    // Other users are fine in any case.
    let answer = s
        .call(
            "POST",
            "/v1/auth/userpass/users/BOB",
            Some(&t),
            Some(json!({"password": "b"})),
        )
        .await;
    assert_eq!(answer.status, StatusCode::NO_CONTENT, "{:?}", answer.body);
    let answer = s.root("GET", "auth/userpass/users/bob", None).await;
    assert_eq!(answer.status, StatusCode::OK);
}

/// Item 8: an unknown mount answered 404 to a bogus token while a real one answered 403.
#[tokio::test]
async fn the_token_is_checked_before_routing() {
    let s = Server::new().await;
    s.root("POST", "sys/mounts/secret", Some(json!({"type": "kv-v2"})))
        .await;
    for uri in [
        "/v1/nosuch/x",
        "/v1/secret/data/x",
        "/v1/sys/mounts",
        "/v1/nosuch",
    ] {
        for token in [Some("bogus"), Some("s.AAAAAAAAAAAAAAAAAAAAAAAA"), None] {
            let answer = s.call("GET", uri, token, None).await;
            assert_eq!(answer.status, StatusCode::FORBIDDEN, "{uri} {token:?}");
            assert_eq!(answer.body, json!({"errors": ["permission denied"]}));
        }
    }
    // A token the ACL does not let near the path: 403 too; root: 404.
    let t = s.token(json!({"policies": ["default"]})).await;
    assert_eq!(
        s.call("GET", "/v1/nosuch/x", Some(&t), None).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        s.root("GET", "nosuch/x", None).await.status,
        StatusCode::NOT_FOUND
    );
}

/// Item 13: `LIST sys/leases/lookup/<prefix>` was served without sudo.
#[tokio::test]
async fn lease_listing_needs_sudo() {
    let s = Server::new().await;
    s.policy(
        "nosudo",
        r#"path "sys/*" { capabilities = ["create", "read", "update", "delete", "list"] }"#,
    )
    .await;
    let t = s.token(json!({"policies": ["nosudo"]})).await;
    for (method, uri) in [
        ("LIST", "/v1/sys/leases/lookup/"),
        ("LIST", "/v1/sys/leases/lookup"),
        ("LIST", "/v1/sys/leases/lookup/database/creds"),
        ("GET", "/v1/sys/leases/lookup?list=true"),
        ("PUT", "/v1/sys/leases/revoke-prefix/x"),
        ("PUT", "/v1/sys/leases/revoke-force/x"),
        ("GET", "/v1/sys/audit"),
        ("GET", "/v1/sys/auth/token/tune"),
    ] {
        let answer = s.call(method, uri, Some(&t), None).await;
        assert_eq!(
            answer.status,
            StatusCode::FORBIDDEN,
            "{method} {uri}: {:?}",
            answer.body
        );
    }
    // Without sudo, a lease's own lookup (lease_id in the body) is allowed.
    let answer = s
        .call(
            "PUT",
            "/v1/sys/leases/lookup",
            Some(&t),
            Some(json!({"lease_id": "x/y"})),
        )
        .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{:?}", answer.body);
    let answer = s.root("LIST", "sys/leases/lookup/", None).await;
    assert!(answer.status == StatusCode::NOT_FOUND || answer.status == StatusCode::OK);
}

/// Review finding: the policy handler trimmed whitespace the ACL never saw, so
/// `sys/policies/acl/admin%20` overwrote a denied `admin`.
#[tokio::test]
async fn policy_names_cannot_dodge_the_acl_with_whitespace() {
    let s = Server::new().await;
    s.policy("admin", r#"path "secret/*" { capabilities = ["read"] }"#)
        .await;
    s.policy(
        "polmgr",
        r#"
path "sys/policies/acl/*" { capabilities = ["create", "read", "update", "delete"] }
path "sys/policy/*" { capabilities = ["create", "read", "update", "delete"] }
path "sys/policies/acl/admin" { capabilities = ["deny"] }
path "sys/policy/admin" { capabilities = ["deny"] }
"#,
    )
    .await;
    let t = s.token(json!({"policies": ["polmgr"]})).await;
    let evil = json!({"policy": r#"path "*" { capabilities = ["sudo", "read"] }"#});
    for path in [
        "sys/policies/acl/admin%20",
        "sys/policies/acl/%20admin",
        "sys/policy/%20admin",
        "sys/policy/admin%C2%A0",
        "sys/policies/acl/admin%09",
        "sys/policies/acl/ADMIN",
    ] {
        let answer = s
            .call("PUT", &format!("/v1/{path}"), Some(&t), Some(evil.clone()))
            .await;
        assert!(answer.status.is_client_error(), "{path}: {}", answer.status);
    }
    let answer = s.root("GET", "sys/policies/acl/admin", None).await;
    assert!(
        answer.body["data"]["policy"]
            .as_str()
            .unwrap()
            .contains("secret/*"),
        "admin is unchanged"
    );
}

/// Review finding: engines read `x/` as `x` on reads and deletes, so a deny on the exact path
/// was bypassed with a trailing slash (OpenBao answers 404).
#[tokio::test]
async fn engines_never_see_a_trailing_slash_the_acl_did_not() {
    let s = Server::new().await;
    s.root(
        "POST",
        "sys/auth/userpass",
        Some(json!({"type": "userpass"})),
    )
    .await;
    s.root(
        "POST",
        "sys/mounts/transit",
        Some(json!({"type": "transit"})),
    )
    .await;
    s.root(
        "POST",
        "auth/userpass/users/admin",
        Some(json!({"password": "pw"})),
    )
    .await;
    s.root(
        "POST",
        "transit/keys/prod",
        Some(json!({"exportable": true})),
    )
    .await;
    s.policy(
        "ops",
        r#"
path "auth/userpass/users/*" { capabilities = ["read", "delete"] }
path "auth/userpass/users/admin" { capabilities = ["deny"] }
path "transit/*" { capabilities = ["read", "delete"] }
path "transit/keys/prod" { capabilities = ["deny"] }
path "transit/export/encryption-key/prod" { capabilities = ["deny"] }
"#,
    )
    .await;
    let t = s.token(json!({"policies": ["ops"]})).await;
    for (method, path) in [
        ("GET", "auth/userpass/users/admin/"),
        ("DELETE", "auth/userpass/users/admin/"),
        ("GET", "transit/export/encryption-key/prod/"),
        ("DELETE", "transit/keys/prod/"),
        ("GET", "transit/keys/prod/"),
    ] {
        let answer = s.call(method, &format!("/v1/{path}"), Some(&t), None).await;
        assert_eq!(
            answer.status,
            StatusCode::NOT_FOUND,
            "{method} {path}: {:?}",
            answer.body
        );
    }
    assert_eq!(
        s.root("GET", "auth/userpass/users/admin", None)
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        s.root("GET", "transit/keys/prod", None).await.status,
        StatusCode::OK
    );
    // A list keeps its slash and works.
    s.policy(
        "lister",
        r#"path "auth/userpass/users/*" { capabilities = ["list"] }"#,
    )
    .await;
    let t = s.token(json!({"policies": ["lister"]})).await;
    let answer = s
        .call("LIST", "/v1/auth/userpass/users/", Some(&t), None)
        .await;
    assert_eq!(answer.status, StatusCode::OK);
    // The mount path of sys/mounts is folded before the ACL: a deny holds under `x/` too.
    s.root("POST", "sys/mounts/prodkv", Some(json!({"type": "kv"})))
        .await;
    s.policy(
        "mounts",
        r#"
path "sys/mounts/*" { capabilities = ["read", "update", "delete"] }
path "sys/mounts/prodkv" { capabilities = ["deny"] }
"#,
    )
    .await;
    let t = s.token(json!({"policies": ["mounts"]})).await;
    let answer = s
        .call("DELETE", "/v1/sys/mounts/prodkv/", Some(&t), None)
        .await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);
    assert!(s.root("GET", "sys/mounts", None).await.body["data"]["prodkv/"].is_object());
}

/// Review finding: the tune handler took a LIST (with query parameters) or a DELETE as a write.
#[tokio::test]
async fn tune_changes_only_with_a_write() {
    let s = Server::new().await;
    s.root("POST", "sys/mounts/devkv", Some(json!({"type": "kv"})))
        .await;
    s.policy(
        "reader",
        r#"path "sys/mounts/*" { capabilities = ["read", "list", "delete"] }"#,
    )
    .await;
    let t = s.token(json!({"policies": ["reader"]})).await;
    for (method, uri) in [
        (
            "LIST",
            "/v1/sys/mounts/devkv/tune?description=pwned&max_lease_ttl=9",
        ),
        (
            "GET",
            "/v1/sys/mounts/devkv/tune?list=true&description=pwned",
        ),
        ("DELETE", "/v1/sys/mounts/devkv/tune"),
    ] {
        let answer = s
            .call(
                method,
                uri,
                Some(&t),
                Some(json!({"description": "pwned", "max_lease_ttl": 9})),
            )
            .await;
        assert!(
            answer.status.is_client_error(),
            "{method} {uri}: {}",
            answer.status
        );
    }
    let tune = s.root("GET", "sys/mounts/devkv/tune", None).await;
    assert_eq!(tune.body["data"]["description"], "");
    assert_eq!(
        tune.body["data"]["max_lease_ttl"], 2_764_800,
        "the system's, as Vault tells it"
    );
    // Wrong types are refused, not defaulted.
    for body in [
        json!({"type": "kv", "config": "max_lease_ttl=60s"}),
        json!({"type": "kv", "config": {"max_lease_ttl": "soon"}}),
        json!({"type": ["kv"]}),
        json!({"type": "kv", "options": "version=2"}),
    ] {
        let answer = s.root("POST", "sys/mounts/typed", Some(body.clone())).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{body}");
    }
    assert!(s.root("GET", "sys/mounts", None).await.body["data"]["typed/"].is_null());
}

/// Review finding: renewals were not capped at creation plus the maximum TTL.
#[tokio::test]
async fn renewals_stop_at_the_maximum_lifetime() {
    let s = Server::new().await;
    let t = s.token(json!({"ttl": "768h"})).await;
    s.clock.advance(Duration::from_secs(3));
    let answer = s
        .call(
            "POST",
            "/v1/auth/token/renew-self",
            Some(&t),
            Some(json!({"increment": "768h"})),
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.body["auth"]["lease_duration"], 768 * 3600 - 3);
    assert!(
        answer.body["warnings"][0]
            .as_str()
            .unwrap()
            .contains("capped accordingly"),
        "{:?}",
        answer.body
    );
    let answer = s
        .root(
            "POST",
            "auth/token/create",
            Some(json!({"period": "87600h"})),
        )
        .await;
    assert_eq!(answer.body["auth"]["lease_duration"], 768 * 3600);
    assert!(
        answer.body["warnings"][0]
            .as_str()
            .unwrap()
            .contains("period")
    );
}

/// Issue item 12 (hardening): HEAD ran reads with effects and threw the answer away.
#[tokio::test]
async fn head_runs_nothing() {
    let s = Server::new().await;
    s.root(
        "POST",
        "sys/mounts/transit",
        Some(json!({"type": "transit"})),
    )
    .await;
    s.root("POST", "transit/keys/dev", None).await;
    for uri in [
        "/v1/transit/keys/dev",
        "/v1/auth/token/lookup-self",
        "/v1/nosuch/x",
    ] {
        let answer = s.call("HEAD", uri, Some(&s.root), None).await;
        assert_eq!(answer.status, StatusCode::METHOD_NOT_ALLOWED, "{uri}");
    }
    assert_eq!(
        s.call("HEAD", "/v1/sys/health", None, None).await.status,
        StatusCode::OK
    );
}
