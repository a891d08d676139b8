//! The userpass and approle auth methods driven directly (no core): bad input answers cleanly
//! and stores nothing, and concurrent logins cannot overspend a secret id. (Moved from
//! `strongroom-core`'s tests; what needs the core — the tokens a login mints, their policies,
//! TTLs, uses and CIDR bounds at use time, lookups, renewals — stays there.)

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code"
)]

use std::sync::Arc;

use serde_json::{Map, Value, json};
use strongroom_auth::{approle::AppRole, userpass::Userpass};
use strongroom_logical::testing::{call, context};
use strongroom_logical::{Backend, Context, ErrorKind, LogicalError, Operation, Response};

struct Setup {
    method: Arc<dyn Backend>,
    ctx: Context,
}

fn setup(method: Arc<dyn Backend>, mount: &str) -> Setup {
    Setup {
        method,
        ctx: context(mount),
    }
}

async fn update(s: &Setup, path: &str, body: Value) -> Result<Response, LogicalError> {
    call(&*s.method, &s.ctx, Operation::Update, path, body).await
}

async fn read(s: &Setup, path: &str) -> Result<Response, LogicalError> {
    call(&*s.method, &s.ctx, Operation::Read, path, json!({})).await
}

/// Makes role `name` from `body`, and one secret id from `secret`; returns the role id and the
/// secret id's data.
async fn approle_role(
    s: &Setup,
    name: &str,
    body: Value,
    secret: Value,
) -> (String, Map<String, Value>) {
    update(s, &format!("role/{name}"), body).await.unwrap();
    let role_id = read(s, &format!("role/{name}/role-id"))
        .await
        .unwrap()
        .data
        .unwrap()["role_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let secret = update(s, &format!("role/{name}/secret-id"), secret)
        .await
        .unwrap()
        .data
        .unwrap();
    (role_id, secret)
}

#[tokio::test]
async fn userpass_bad_input_answers_cleanly_and_stores_nothing() {
    let s = setup(Arc::new(Userpass::new()), "auth/userpass/");
    update(
        &s,
        "users/bob",
        json!({"password": "pw", "token_policies": ["p"],
               "token_num_uses": 2, "token_bound_cidrs": ["10.0.0.0/8"]}),
    )
    .await
    .unwrap();
    // Bad input answers cleanly.
    for (path, body) in [
        ("users/bad name", json!({"password": "x"})),
        ("users/x", json!({"token_policies": "p"})),
        ("users/x", json!({"password": ""})),
        ("users/x", json!({"password": "a".repeat(5000)})),
        (
            "users/x",
            json!({"password": "x", "token_bound_cidrs": "10.0.0.0/99"}),
        ),
        (
            "users/x",
            json!({"password": "x", "token_ttl": "2h", "token_max_ttl": "1h"}),
        ),
        ("users/x", json!({"password": "x", "token_num_uses": -1})),
        // A number is a string to Vault (weak decoding); a list is not.
        ("users/x", json!({"password": [5]})),
        ("users/x", json!({"password": "x", "token_type": "batch"})),
    ] {
        let err = update(&s, path, body.clone()).await.unwrap_err();
        assert!(
            err.kind() == ErrorKind::InvalidRequest,
            "{path} {body}: {err:?}"
        );
    }
    assert!(
        read(&s, "users/x").await.unwrap().data.is_none(),
        "nothing was stored"
    );
    for body in [json!({}), json!({"password": 7}), json!({"password": ""})] {
        assert!(
            update(&s, "login/bob", body.clone()).await.is_err(),
            "{body}"
        );
    }
    assert!(
        update(&s, "login/../../sys", json!({"password": "x"}))
            .await
            .is_err()
    );
}

#[tokio::test]
async fn approle_bad_input_answers_cleanly() {
    let s = setup(Arc::new(AppRole::new()), "auth/approle/");
    let (role_id, _) = approle_role(
        &s,
        "bounded",
        json!({"token_policies": "p", "secret_id_bound_cidrs": ["10.0.0.0/8"]}),
        json!({}),
    )
    .await;
    // Bad input.
    for (path, body) in [
        ("role/bad name", json!({})),
        ("role/x", json!({"bind_secret_id": false})),
        ("role/x", json!({"secret_id_bound_cidrs": "nope"})),
        ("role/x", json!({"secret_id_num_uses": "many"})),
        ("role/nope/secret-id", json!({})),
        ("role/bounded/secret-id", json!({"metadata": "[1,2]"})),
        (
            "role/bounded/secret-id",
            json!({"cidr_list": "300.0.0.0/8"}),
        ),
        ("role/bounded/custom-secret-id", json!({"secret_id": ""})),
    ] {
        let err = update(&s, path, body.clone()).await.unwrap_err();
        assert!(
            err.kind() == ErrorKind::InvalidRequest,
            "{path} {body}: {err:?}"
        );
    }
    for body in [
        json!({}),
        json!({"role_id": role_id}),
        json!({"role_id": 5, "secret_id": "x"}),
    ] {
        assert!(update(&s, "login", body.clone()).await.is_err(), "{body}");
    }
}

/// Twenty logins race for a secret id with five uses: exactly five win.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_logins_cannot_overspend_a_secret_id() {
    let s = setup(Arc::new(AppRole::new()), "auth/approle/");
    let (role_id, secret) = approle_role(
        &s,
        "race",
        json!({"token_policies": "p"}),
        json!({"num_uses": 5}),
    )
    .await;
    let secret_id = secret["secret_id"].as_str().unwrap().to_owned();
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let (method, ctx) = (Arc::clone(&s.method), s.ctx.clone());
        let body = json!({"role_id": role_id, "secret_id": secret_id});
        tasks.push(tokio::spawn(async move {
            call(&*method, &ctx, Operation::Update, "login", body)
                .await
                .is_ok_and(|r| r.auth.is_some())
        }));
    }
    let mut won = 0;
    for task in tasks {
        if task.await.unwrap() {
            won += 1;
        }
    }
    assert_eq!(won, 5);
}
