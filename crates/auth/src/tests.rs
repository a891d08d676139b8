//! The auth methods' declared fields (tests): values of the wrong JSON type are 400s in Vault's words
//! (`Field validation failed: error converting input for field ...`), undeclared parameters get
//! Vault's warning, login paths are the unauthenticated ones, and a locked-out login answers
//! exactly what the same login with a wrong credential answers.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code"
)]

use std::sync::Arc;

use serde_json::{Map, Value, json};
use strongroom_logical::{Backend, Context, ErrorKind, Operation, Request, StorageView};

use strongroom_storage::MemoryStorage;

fn context() -> Context {
    let storage = Arc::new(MemoryStorage::new());
    Context::new(StorageView::new(storage, "auth/x/").unwrap(), "auth/x/")
}

fn request(operation: Operation, path: &str, body: Value) -> Request {
    let Value::Object(data) = body else {
        panic!("a body is an object")
    };
    Request::new(operation, path).with_data(data)
}

async fn write(
    backend: &dyn Backend,
    ctx: &Context,
    path: &str,
    body: Value,
) -> Option<Map<String, Value>> {
    backend
        .handle(ctx, request(Operation::Update, path, body))
        .await
        .unwrap_or_else(|e| panic!("{path}: {e}"))
        .data
}

/// Each write is refused as Vault refuses a field of the wrong type.
async fn refused(backend: &dyn Backend, ctx: &Context, cases: &[(&str, Value, &str)]) {
    for (path, body, field) in cases {
        let err = backend
            .handle(ctx, request(Operation::Update, path, body.clone()))
            .await
            .unwrap_err();
        assert_eq!(
            err.kind(),
            ErrorKind::InvalidRequest,
            "{path} {body}: {err}"
        );
        let text = err.to_string();
        assert!(
            text.starts_with(&format!(
                "Field validation failed: error converting input for field {field:?}: "
            )),
            "{path} {body}: {text}"
        );
        // Before the policy check, the existence check refuses it too (without the prefix).
        let create = request(Operation::Create, path, body.clone());
        if let Err(err) = backend.exists(ctx, &create).await {
            assert!(
                err.to_string()
                    .starts_with(&format!("error converting input for field {field:?}: ")),
                "{err}"
            );
        }
    }
}

const IGNORED: &str = "Endpoint ignored these unrecognized parameters: [colour size]";

#[tokio::test]
async fn userpass_fields() {
    let up = crate::userpass::Userpass::new();
    assert!(
        up.endpoint_declarations().problems().is_empty(),
        "{:?}",
        up.endpoint_declarations().problems()
    );
    let ctx = context();
    write(
        &up,
        &ctx,
        "users/bob",
        json!({"password": "pw", "token_ttl": "1h", "token_policies": "a,b"}),
    )
    .await;
    refused(
        &up,
        &ctx,
        &[
            ("users/bob", json!({"token_ttl": [1]}), "token_ttl"),
            ("users/bob", json!({"token_ttl": "soon"}), "token_ttl"),
            (
                "users/bob",
                json!({"token_num_uses": "many"}),
                "token_num_uses",
            ),
            ("users/bob", json!({"token_num_uses": -1}), "token_num_uses"),
            (
                "users/bob",
                json!({"token_no_default_policy": "maybe"}),
                "token_no_default_policy",
            ),
            (
                "users/bob",
                json!({"token_policies": {"a": 1}}),
                "token_policies",
            ),
            ("users/bob", json!({"password": {"a": 1}}), "password"),
            (
                "users/bob/password",
                json!({"password": ["pw"]}),
                "password",
            ),
            (
                "users/bob/policies",
                json!({"token_policies": {"x": 1}}),
                "token_policies",
            ),
            ("login/bob", json!({"password": ["pw"]}), "password"),
        ],
    )
    .await;
    // Valid input as before: weakly typed values convert as Vault converts them.
    write(
        &up,
        &ctx,
        "users/bob",
        json!({"token_num_uses": "3", "token_no_default_policy": "true", "ttl": 60}),
    )
    .await;
    let read = up
        .handle(
            &ctx,
            request(
                Operation::Read,
                "users/bob",
                json!({"colour": 1, "size": 2}),
            ),
        )
        .await
        .unwrap();
    let data = read.data.unwrap();
    assert_eq!(
        data["token_ttl"],
        json!(60),
        "ttl is the older name of token_ttl"
    );
    assert_eq!(data["token_num_uses"], json!(3));
    assert_eq!(data["token_no_default_policy"], json!(true));
    assert_eq!(data["token_policies"], json!(["a", "b"]));
    assert_eq!(read.warnings, [IGNORED]);
    write(
        &up,
        &ctx,
        "users/bob",
        json!({"token_ttl": "1h", "ttl": 60}),
    )
    .await;
    let data = up
        .handle(&ctx, request(Operation::Read, "users/bob", json!({})))
        .await
        .unwrap()
        .data
        .unwrap();
    assert_eq!(data["token_ttl"], json!(3600), "the newer name wins");
    let login = up
        .handle(
            &ctx,
            request(
                Operation::Update,
                "login/bob",
                json!({"password": "pw", "colour": "r", "size": 1}),
            ),
        )
        .await
        .unwrap();
    assert!(login.auth.is_some());
    assert_eq!(login.warnings, [IGNORED]);

    assert!(up.is_unauthenticated("login/bob"));
    for path in [
        "users/bob",
        "users/",
        "users/bob/password",
        "login",
        "login/bob/x",
    ] {
        assert!(!up.is_unauthenticated(path), "{path}");
    }

    // A locked login answers what a wrong one does, for bad input too.
    for body in [
        json!({"password": "wrong"}),
        json!({"password": ["pw"]}),
        json!({"password": ""}),
        json!({}),
    ] {
        let req = request(Operation::Update, "login/bob", body.clone());
        let wrong = up.handle(&ctx, req.clone()).await.unwrap_err();
        let locked = up.locked_login(&ctx, &req).await;
        assert_eq!(locked.to_string(), wrong.to_string(), "{body}");
        assert_eq!(locked.kind(), wrong.kind(), "{body}");
    }
}

#[tokio::test]
async fn approle_fields() {
    let ar = crate::approle::AppRole::new();
    let problems = ar.endpoint_declarations().problems();
    assert!(problems.is_empty(), "{problems:?}");
    let ctx = context();
    write(
        &ar,
        &ctx,
        "role/app",
        json!({"role_id": "rid", "secret_id_num_uses": "5", "secret_id_ttl": "10m",
               "bind_secret_id": "true", "token_policies": "p"}),
    )
    .await;
    refused(
        &ar,
        &ctx,
        &[
            (
                "role/app",
                json!({"bind_secret_id": "maybe"}),
                "bind_secret_id",
            ),
            (
                "role/app",
                json!({"secret_id_num_uses": "many"}),
                "secret_id_num_uses",
            ),
            (
                "role/app",
                json!({"secret_id_num_uses": -2}),
                "secret_id_num_uses",
            ),
            ("role/app", json!({"secret_id_ttl": [1]}), "secret_id_ttl"),
            (
                "role/app",
                json!({"secret_id_bound_cidrs": {"a": 1}}),
                "secret_id_bound_cidrs",
            ),
            (
                "role/app",
                json!({"token_period": "forever"}),
                "token_period",
            ),
            ("role/app", json!({"role_id": ["x"]}), "role_id"),
            ("role/app/role-id", json!({"role_id": {"x": 1}}), "role_id"),
            (
                "role/app/secret-id",
                json!({"metadata": {"team": "blue"}}),
                "metadata",
            ),
            (
                "role/app/secret-id",
                json!({"num_uses": "twice"}),
                "num_uses",
            ),
            ("role/app/secret-id", json!({"ttl": "soon"}), "ttl"),
            (
                "role/app/secret-id",
                json!({"cidr_list": {"a": 1}}),
                "cidr_list",
            ),
            (
                "role/app/custom-secret-id",
                json!({"secret_id": ["s"]}),
                "secret_id",
            ),
            (
                "role/app/secret-id/lookup",
                json!({"secret_id": {"a": 1}}),
                "secret_id",
            ),
            (
                "role/app/secret-id-accessor/destroy",
                json!({"secret_id_accessor": [1]}),
                "secret_id_accessor",
            ),
            (
                "login",
                json!({"role_id": ["rid"], "secret_id": "s"}),
                "role_id",
            ),
            (
                "login",
                json!({"role_id": "rid", "secret_id": {"a": 1}}),
                "secret_id",
            ),
        ],
    )
    .await;
    let role = ar
        .handle(
            &ctx,
            request(Operation::Read, "role/app", json!({"colour": 1, "size": 2})),
        )
        .await
        .unwrap();
    assert_eq!(role.warnings, [IGNORED]);
    let role = role.data.unwrap();
    assert_eq!(role["secret_id_num_uses"], json!(5));
    assert_eq!(role["secret_id_ttl"], json!(600));
    assert_eq!(role["bind_secret_id"], json!(true));
    // Unset fields keep their values, the declared default (bind_secret_id: true) included.
    write(
        &ar,
        &ctx,
        "role/app",
        json!({"secret_id_bound_cidrs": "10.0.0.0/8", "bind_secret_id": false}),
    )
    .await;
    write(&ar, &ctx, "role/app", json!({"token_ttl": 60})).await;
    let role = ar
        .handle(&ctx, request(Operation::Read, "role/app", json!({})))
        .await
        .unwrap()
        .data
        .unwrap();
    assert_eq!(role["bind_secret_id"], json!(false));
    assert_eq!(role["secret_id_num_uses"], json!(5));
    write(&ar, &ctx, "role/app", json!({"bind_secret_id": true})).await;
    let issued = write(
        &ar,
        &ctx,
        "role/app/secret-id",
        json!({"metadata": "{\"team\": \"blue\"}", "num_uses": "2"}),
    )
    .await
    .unwrap();
    assert_eq!(issued["secret_id_num_uses"], json!(2));

    assert!(ar.is_unauthenticated("login"));
    for path in ["login/x", "role/app", "role/", "role/app/secret-id"] {
        assert!(!ar.is_unauthenticated(path), "{path}");
    }

    // A locked role id answers what a wrong secret id does, for bad input too.
    for body in [
        json!({"role_id": "rid", "secret_id": "wrong"}),
        json!({"role_id": "rid"}),
        json!({"role_id": "rid", "secret_id": ["s"]}),
        json!({"role_id": ["rid"]}),
        json!({}),
    ] {
        let req = request(Operation::Update, "login", body.clone());
        let wrong = ar.handle(&ctx, req.clone()).await.unwrap_err();
        let locked = ar.locked_login(&ctx, &req).await;
        assert_eq!(locked.to_string(), wrong.to_string(), "{body}");
        assert_eq!(locked.kind(), wrong.kind(), "{body}");
    }
}

#[tokio::test]
async fn jwt_fields() {
    let jwt = crate::jwt::Jwt::new();
    let problems = jwt.endpoint_declarations().problems();
    assert!(problems.is_empty(), "{problems:?}");
    let ctx = context();
    write(
        &jwt,
        &ctx,
        "role/ci",
        json!({"bound_audiences": "a,b", "user_claim": "sub", "token_policies": ["p"],
               "expiration_leeway": "5m", "claim_mappings": {"repo": "repository"}}),
    )
    .await;
    refused(
        &jwt,
        &ctx,
        &[
            ("role/ci", json!({"bound_claims": "x"}), "bound_claims"),
            ("role/ci", json!({"bound_claims": [1]}), "bound_claims"),
            ("role/ci", json!({"claim_mappings": 5}), "claim_mappings"),
            (
                "role/ci",
                json!({"expiration_leeway": "soon"}),
                "expiration_leeway",
            ),
            (
                "role/ci",
                json!({"clock_skew_leeway": [1]}),
                "clock_skew_leeway",
            ),
            (
                "role/ci",
                json!({"bound_audiences": {"a": 1}}),
                "bound_audiences",
            ),
            ("role/ci", json!({"bound_subject": ["s"]}), "bound_subject"),
            ("role/ci", json!({"token_ttl": [1]}), "token_ttl"),
            ("config", json!({"jwks_url": ["https://x"]}), "jwks_url"),
            (
                "config",
                json!({"jwt_supported_algs": {"a": 1}}),
                "jwt_supported_algs",
            ),
            ("config", json!({"default_role": {"a": 1}}), "default_role"),
            ("login", json!({"role": "ci", "jwt": ["a.b.c"]}), "jwt"),
            ("login", json!({"role": {"a": 1}, "jwt": "a.b.c"}), "role"),
        ],
    )
    .await;
    let role = jwt
        .handle(
            &ctx,
            request(Operation::Read, "role/ci", json!({"colour": 1, "size": 2})),
        )
        .await
        .unwrap();
    assert_eq!(role.warnings, [IGNORED]);
    let role = role.data.unwrap();
    assert_eq!(role["bound_audiences"], json!(["a", "b"]));
    assert_eq!(role["expiration_leeway"], json!(300));
    assert_eq!(
        role["not_before_leeway"],
        json!(150),
        "the declared default"
    );
    assert_eq!(role["clock_skew_leeway"], json!(60), "the declared default");
    assert_eq!(role["bound_claims_type"], json!("string"));
    assert_eq!(role["claim_mappings"], json!({"repo": "repository"}));
    // Unset fields keep their values on update; -1 disables a leeway.
    write(
        &jwt,
        &ctx,
        "role/ci",
        json!({"bound_claims_type": "glob", "not_before_leeway": -1}),
    )
    .await;
    write(&jwt, &ctx, "role/ci", json!({"token_ttl": "1h"})).await;
    let role = jwt
        .handle(&ctx, request(Operation::Read, "role/ci", json!({})))
        .await
        .unwrap()
        .data
        .unwrap();
    assert_eq!(role["bound_claims_type"], json!("glob"));
    assert_eq!(role["not_before_leeway"], json!(-1));
    assert_eq!(role["expiration_leeway"], json!(300));
    assert_eq!(role["bound_audiences"], json!(["a", "b"]));
    assert_eq!(role["token_ttl"], json!(3600));

    assert!(jwt.is_unauthenticated("login"));
    for path in ["login/x", "role/ci", "role/", "config"] {
        assert!(!jwt.is_unauthenticated(path), "{path}");
    }
}
