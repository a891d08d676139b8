//! Response wrapping and the cubbyhole through the embedded vault: every token has a private
//! cubbyhole no other token reaches (root's included) that goes with the token; a wrapped answer
//! waits in a single-use token's cubbyhole, is unwrapped once (by the token itself or by a third
//! party naming it), looked up without being spent, rewrapped to a new token; policies bound the
//! wrapping TTL; nobody can mint a wrapping token by hand.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code"
)]

mod common;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde_json::{Value, json};
use strongroom_core::{ManualClock, Vault, VaultError, VaultRequest, VaultResponse};
use strongroom_logical::{ErrorKind, Operation};
use strongroom_storage::{MemoryStorage, Storage};

struct Setup {
    vault: Vault,
    root: String,
    clock: Arc<ManualClock>,
    storage: Arc<MemoryStorage>,
}

/// A vault with KV v1 at `kv/`, a manual clock, and its storage at hand.
async fn setup() -> Setup {
    let clock = Arc::new(ManualClock::new(SystemTime::now()));
    let storage = Arc::new(MemoryStorage::new());
    let vault = Vault::builder(storage.clone())
        .clock(clock.clone())
        .background_expiry(false)
        .build()
        .unwrap();
    let (root, _) = common::unsealed_with(&vault, "kv").await;
    Setup {
        vault,
        root,
        clock,
        storage,
    }
}

/// A request with `token`, asking its answer to be wrapped for `ttl`.
async fn wrapped(
    vault: &Vault,
    token: &str,
    operation: Operation,
    path: &str,
    data: Value,
    ttl: Duration,
) -> Result<VaultResponse, VaultError> {
    let data = match data {
        Value::Object(map) => map,
        _ => serde_json::Map::new(),
    };
    vault
        .handle(
            VaultRequest::new(operation, path)
                .with_token(token)
                .with_data(data)
                .with_wrap_ttl(ttl),
        )
        .await
}

/// Unwraps `token` as a third party (root names it in the body): the wrapped envelope.
async fn unwrap_third_party(s: &Setup, token: &str) -> serde_json::Map<String, Value> {
    s.vault
        .write(&s.root, "sys/wrapping/unwrap", json!({"token": token}))
        .await
        .unwrap()
        .data
        .unwrap()
}

fn wrap_token(response: &VaultResponse) -> String {
    let info = response.wrap_info.as_ref().expect("a wrapped answer");
    info.token.expose_secret().to_owned()
}

/// A child token of root with `policies`.
async fn token_with(s: &Setup, policies: &[&str]) -> String {
    let made = s
        .vault
        .write(
            &s.root,
            "auth/token/create",
            json!({"policies": policies, "ttl": "1h"}),
        )
        .await
        .unwrap();
    made.auth.unwrap().client_token.expose_secret().to_owned()
}

fn kind(result: &Result<VaultResponse, VaultError>) -> Option<ErrorKind> {
    result.as_ref().err().map(VaultError::kind)
}

fn message(result: &Result<VaultResponse, VaultError>) -> String {
    result
        .as_ref()
        .err()
        .map(ToString::to_string)
        .unwrap_or_default()
}

#[tokio::test]
async fn each_token_has_a_private_cubbyhole_that_goes_with_it() {
    let s = setup().await;
    let alice = token_with(&s, &["default"]).await;
    s.vault
        .write(&alice, "cubbyhole/app/db", json!({"password": "a"}))
        .await
        .unwrap();
    s.vault
        .write(&s.root, "cubbyhole/app/db", json!({"password": "root's"}))
        .await
        .unwrap();
    let read = s.vault.read(&alice, "cubbyhole/app/db").await.unwrap();
    assert_eq!(read.data.unwrap()["password"], "a");
    // Root sees its own cubbyhole, never alice's; other spellings are refused outright.
    let root_read = s.vault.read(&s.root, "cubbyhole/app/db").await.unwrap();
    assert_eq!(root_read.data.unwrap()["password"], "root's");
    for path in [
        "cubbyhole//app/db",
        "cubbyhole/./app/db",
        "cubbyhole/x/../app/db",
    ] {
        assert!(s.vault.read(&s.root, path).await.is_err(), "{path}");
    }
    // A read of a folder finds nothing.
    assert!(
        s.vault
            .read(&alice, "cubbyhole/app/")
            .await
            .unwrap()
            .data
            .is_none()
    );
    let listed = s.vault.list(&alice, "cubbyhole/").await.unwrap();
    assert_eq!(listed.data.unwrap()["keys"], json!(["app/"]));
    let listed = s.vault.list(&alice, "cubbyhole/app").await.unwrap();
    assert_eq!(listed.data.unwrap()["keys"], json!(["db"]));
    // A write with no data is refused and changes nothing.
    let empty = s.vault.write(&alice, "cubbyhole/app/db", json!({})).await;
    assert_eq!(message(&empty), "missing data fields");
    // The cubbyhole is listed among the mounts, as Vault lists it.
    let mounts = s.vault.read(&s.root, "sys/mounts").await.unwrap();
    assert_eq!(mounts.data.unwrap()["cubbyhole/"]["type"], "cubbyhole");

    let cubbyholes = |storage: Arc<MemoryStorage>| async move {
        storage.list("sys/cubbyhole/").await.unwrap().len()
    };
    assert_eq!(cubbyholes(s.storage.clone()).await, 2);
    s.vault
        .write(&alice, "auth/token/revoke-self", json!({}))
        .await
        .unwrap();
    // Alice's cubbyhole is gone from storage; root's stays.
    assert_eq!(cubbyholes(s.storage.clone()).await, 1);
    s.vault.delete(&s.root, "cubbyhole/app/db").await.unwrap();
    assert!(
        s.vault
            .read(&s.root, "cubbyhole/app/db")
            .await
            .unwrap()
            .data
            .is_none()
    );
}

#[tokio::test]
async fn a_token_without_cubbyhole_rights_is_refused() {
    let s = setup().await;
    s.vault
        .write(
            &s.root,
            "sys/policy/kvonly",
            json!({"policy": "path \"kv/*\" { capabilities = [\"read\"] }"}),
        )
        .await
        .unwrap();
    let made = s
        .vault
        .write(
            &s.root,
            "auth/token/create",
            json!({"policies": ["kvonly"], "no_default_policy": true}),
        )
        .await
        .unwrap();
    let token = made.auth.unwrap().client_token;
    let result = s
        .vault
        .write(&token, "cubbyhole/x", json!({"a": "b"}))
        .await;
    assert_eq!(kind(&result), Some(ErrorKind::PermissionDenied));
}

#[tokio::test]
async fn a_wrapped_read_is_unwrapped_once_by_its_own_token() {
    let s = setup().await;
    s.vault
        .write(&s.root, "kv/app", json!({"password": "hunter2"}))
        .await
        .unwrap();
    let response = wrapped(
        &s.vault,
        &s.root,
        Operation::Read,
        "kv/app",
        json!({}),
        Duration::from_secs(300),
    )
    .await
    .unwrap();
    // Only the wrapping token comes back.
    assert!(response.data.is_none() && response.auth.is_none());
    let info = response.wrap_info.clone().unwrap();
    assert_eq!(info.ttl, 300);
    assert_eq!(info.creation_path, "kv/app");
    assert!(info.wrapped_accessor.is_empty());
    assert!(!info.accessor.is_empty());
    let token = wrap_token(&response);
    assert!(token.starts_with("s."));

    // The wrapping token can do nothing but unwrap.
    let peek = s.vault.read(&token, "kv/app").await;
    assert_eq!(kind(&peek), Some(ErrorKind::PermissionDenied));
    // That refusal spent its one use: wrap again for the real test.
    let response = wrapped(
        &s.vault,
        &s.root,
        Operation::Read,
        "kv/app",
        json!({}),
        Duration::from_secs(300),
    )
    .await
    .unwrap();
    let token = wrap_token(&response);
    let unwrapped = s
        .vault
        .write(&token, "sys/wrapping/unwrap", json!({}))
        .await
        .unwrap();
    assert!(unwrapped.raw);
    let body = unwrapped.data.unwrap();
    assert_eq!(body["data"]["password"], "hunter2");
    assert_eq!(body["lease_duration"], 2_764_800);
    assert!(body["wrap_info"].is_null());

    // Used up: a second unwrap, by itself or by a third party, is refused as Vault refuses it.
    let again = s
        .vault
        .write(&token, "sys/wrapping/unwrap", json!({}))
        .await;
    assert_eq!(
        message(&again),
        "wrapping token is not valid or does not exist"
    );
    let again = s
        .vault
        .write(&s.root, "sys/wrapping/unwrap", json!({"token": token}))
        .await;
    assert_eq!(kind(&again), Some(ErrorKind::InvalidRequest));
    // Its cubbyhole went with it.
    assert_eq!(s.storage.list("sys/cubbyhole/").await.unwrap().len(), 0);
}

#[tokio::test]
async fn a_third_party_unwraps_looks_up_and_rewraps() {
    let s = setup().await;
    let response = wrapped(
        &s.vault,
        &s.root,
        Operation::Update,
        "sys/wrapping/wrap",
        json!({"zip": "zap"}),
        Duration::from_secs(120),
    )
    .await
    .unwrap();
    let first = wrap_token(&response);
    assert_eq!(
        response.wrap_info.as_ref().unwrap().creation_path,
        "sys/wrapping/wrap"
    );

    // A lookup needs no token and spends nothing.
    let lookup = s
        .vault
        .handle(
            VaultRequest::new(Operation::Update, "sys/wrapping/lookup")
                .with_data(serde_json::Map::from_iter([("token".into(), json!(first))])),
        )
        .await
        .unwrap();
    let data = lookup.data.unwrap();
    assert_eq!(data["creation_path"], "sys/wrapping/wrap");
    assert_eq!(data["creation_ttl"], 120);
    assert!(data["creation_time"].as_str().unwrap().ends_with('Z'));
    // Looked up with itself, in the header: still not spent.
    let lookup = s
        .vault
        .write(&first, "sys/wrapping/lookup", json!({}))
        .await
        .unwrap();
    assert_eq!(lookup.data.unwrap()["creation_ttl"], 120);

    // Rewrap: a new token with the same TTL and path; the old one is gone.
    let rewrapped = s
        .vault
        .write(&s.root, "sys/wrapping/rewrap", json!({"token": first}))
        .await
        .unwrap();
    let info = rewrapped.wrap_info.clone().unwrap();
    assert_eq!(info.ttl, 120);
    assert_eq!(info.creation_path, "sys/wrapping/wrap");
    let second = wrap_token(&rewrapped);
    assert_ne!(first, second);
    let old = s
        .vault
        .write(&s.root, "sys/wrapping/unwrap", json!({"token": first}))
        .await;
    assert_eq!(
        message(&old),
        "wrapping token is not valid or does not exist"
    );

    let unwrapped = s
        .vault
        .write(&s.root, "sys/wrapping/unwrap", json!({"token": second}))
        .await
        .unwrap();
    assert_eq!(unwrapped.data.unwrap()["data"], json!({"zip": "zap"}));
}

#[tokio::test]
async fn wrap_needs_a_ttl_and_bad_tokens_are_refused_before_use() {
    let s = setup().await;
    let unwrapped = s
        .vault
        .write(&s.root, "sys/wrapping/wrap", json!({"a": "b"}))
        .await;
    assert_eq!(
        message(&unwrapped),
        "endpoint requires response wrapping to be used"
    );
    // A token that is no wrapping token, in the header or the body: 400, and a one-use token
    // named in the header keeps its use.
    let made = s
        .vault
        .write(&s.root, "auth/token/create", json!({"num_uses": 1}))
        .await
        .unwrap();
    let one_use = made.auth.unwrap().client_token;
    let result = s
        .vault
        .write(&one_use, "sys/wrapping/unwrap", json!({}))
        .await;
    assert_eq!(
        message(&result),
        "wrapping token is not valid or does not exist"
    );
    assert!(
        s.vault
            .read(&one_use, "auth/token/lookup-self")
            .await
            .is_ok()
    );
    for (body, expected) in [
        (
            json!({"token": ""}),
            "error validating wrapping token: empty token in request body",
        ),
        (
            json!({"token": 7}),
            "error validating wrapping token: could not decode token in request body",
        ),
    ] {
        let result = s.vault.write(&s.root, "sys/wrapping/unwrap", body).await;
        assert_eq!(kind(&result), Some(ErrorKind::PermissionDenied));
        assert_eq!(message(&result), expected);
    }
    let result = s
        .vault
        .write(&s.root, "sys/wrapping/lookup", json!({"token": "s.nope"}))
        .await;
    assert_eq!(kind(&result), Some(ErrorKind::InvalidRequest));
}

#[tokio::test]
async fn a_wrapped_token_creation_names_the_token_it_holds() {
    let s = setup().await;
    let response = wrapped(
        &s.vault,
        &s.root,
        Operation::Update,
        "auth/token/create",
        json!({"policies": ["default"], "ttl": "1h"}),
        Duration::from_secs(60),
    )
    .await
    .unwrap();
    let info = response.wrap_info.clone().unwrap();
    let body = unwrap_third_party(&s, info.token.expose_secret()).await;
    assert_eq!(body["auth"]["accessor"], json!(info.wrapped_accessor));
    let child = body["auth"]["client_token"].as_str().unwrap();
    let me = s.vault.read(child, "auth/token/lookup-self").await.unwrap();
    assert_eq!(me.data.unwrap()["policies"], json!(["default"]));
}

#[tokio::test]
async fn an_approle_secret_id_is_wrapped_with_its_accessor() {
    let s = setup().await;
    s.vault
        .write(&s.root, "sys/auth/approle", json!({"type": "approle"}))
        .await
        .unwrap();
    s.vault
        .write(
            &s.root,
            "auth/approle/role/app",
            json!({"policies": ["default"]}),
        )
        .await
        .unwrap();
    let response = wrapped(
        &s.vault,
        &s.root,
        Operation::Update,
        "auth/approle/role/app/secret-id",
        json!({}),
        Duration::from_secs(60),
    )
    .await
    .unwrap();
    let info = response.wrap_info.clone().unwrap();
    let body = unwrap_third_party(&s, info.token.expose_secret()).await;
    assert_eq!(
        body["data"]["secret_id_accessor"],
        json!(info.wrapped_accessor)
    );
    // And a wrapped login holds the login's token.
    let role_id = s
        .vault
        .read(&s.root, "auth/approle/role/app/role-id")
        .await
        .unwrap()
        .data
        .unwrap()["role_id"]
        .clone();
    let login = s
        .vault
        .handle(
            VaultRequest::new(Operation::Update, "auth/approle/login")
                .with_data(serde_json::Map::from_iter([
                    ("role_id".into(), role_id),
                    ("secret_id".into(), body["data"]["secret_id"].clone()),
                ]))
                .with_wrap_ttl(Duration::from_secs(60)),
        )
        .await
        .unwrap();
    let info = login.wrap_info.unwrap();
    assert!(!info.wrapped_accessor.is_empty());
    assert_eq!(info.creation_path, "auth/approle/login");
}

#[tokio::test]
async fn concurrent_unwraps_of_one_token_give_the_answer_once() {
    let s = setup().await;
    let response = wrapped(
        &s.vault,
        &s.root,
        Operation::Update,
        "sys/wrapping/wrap",
        json!({"one": "time"}),
        Duration::from_secs(60),
    )
    .await
    .unwrap();
    let token = wrap_token(&response);
    let mut tasks = Vec::new();
    for i in 0..16 {
        let vault = s.vault.clone();
        let (root, token) = (s.root.clone(), token.clone());
        tasks.push(tokio::spawn(async move {
            if i % 2 == 0 {
                vault.write(&token, "sys/wrapping/unwrap", json!({})).await
            } else {
                vault
                    .write(&root, "sys/wrapping/unwrap", json!({"token": token}))
                    .await
            }
        }));
    }
    let mut answers = 0;
    for task in tasks {
        if let Ok(response) = task.await.unwrap() {
            assert_eq!(response.data.unwrap()["data"]["one"], "time");
            answers += 1;
        }
    }
    assert_eq!(answers, 1);
}

#[tokio::test]
async fn a_wrapping_token_expires_with_its_ttl() {
    let s = setup().await;
    let response = wrapped(
        &s.vault,
        &s.root,
        Operation::Update,
        "sys/wrapping/wrap",
        json!({"a": "b"}),
        Duration::from_secs(30),
    )
    .await
    .unwrap();
    let token = wrap_token(&response);
    s.clock.advance(Duration::from_secs(31));
    let late = s
        .vault
        .write(&s.root, "sys/wrapping/unwrap", json!({"token": token}))
        .await;
    assert_eq!(
        message(&late),
        "wrapping token is not valid or does not exist"
    );
}

#[tokio::test]
async fn policies_bound_the_wrapping_ttl() {
    let s = setup().await;
    s.vault
        .write(
            &s.root,
            "sys/policy/wrapped",
            json!({"policy": "path \"kv/*\" {\n capabilities = [\"read\", \"create\", \"update\"]\n min_wrapping_ttl = \"1m\"\n max_wrapping_ttl = \"10m\"\n}"}),
        )
        .await
        .unwrap();
    let token = token_with(&s, &["wrapped"]).await;
    s.vault
        .write(&s.root, "kv/x", json!({"a": "b"}))
        .await
        .unwrap();
    let plain = s.vault.read(&token, "kv/x").await;
    assert_eq!(kind(&plain), Some(ErrorKind::PermissionDenied));
    for (secs, allowed) in [(30, false), (60, true), (600, true), (601, false)] {
        let result = wrapped(
            &s.vault,
            &token,
            Operation::Read,
            "kv/x",
            json!({}),
            Duration::from_secs(secs),
        )
        .await;
        assert_eq!(result.is_ok(), allowed, "{secs}s: {result:?}");
    }
}

#[tokio::test]
async fn nobody_mints_a_wrapping_token_or_rewrites_its_policy() {
    let s = setup().await;
    let result = s
        .vault
        .write(
            &s.root,
            "auth/token/create",
            json!({"policies": ["response-wrapping"]}),
        )
        .await;
    assert_eq!(
        message(&result),
        "cannot assign policy \"response-wrapping\""
    );
    let result = s
        .vault
        .write(
            &s.root,
            "sys/policy/response-wrapping",
            json!({"policy": "path \"*\" { capabilities = [\"sudo\"] }"}),
        )
        .await;
    assert_eq!(kind(&result), Some(ErrorKind::InvalidRequest));
    let result = s
        .vault
        .delete(&s.root, "sys/policy/response-wrapping")
        .await;
    assert_eq!(kind(&result), Some(ErrorKind::InvalidRequest));
}

#[tokio::test]
async fn a_not_found_answer_is_wrapped_too() {
    let s = setup().await;
    s.vault
        .write(
            &s.root,
            "sys/mounts/kv2",
            json!({"type": "kv", "options": {"version": "2"}}),
        )
        .await
        .unwrap();
    s.vault
        .write(&s.root, "kv2/data/gone", json!({"data": {"a": "b"}}))
        .await
        .unwrap();
    s.vault.delete(&s.root, "kv2/data/gone").await.unwrap();
    // KV v2 answers a deleted version with 404 and its metadata: wrapped all the same.
    let response = wrapped(
        &s.vault,
        &s.root,
        Operation::Read,
        "kv2/data/gone",
        json!({}),
        Duration::from_secs(60),
    )
    .await
    .unwrap();
    assert!(response.wrap_info.is_some() && response.data.is_none());
}

#[tokio::test]
async fn cubbyholes_left_without_a_token_are_swept_at_the_second_look() {
    let s = setup().await;
    s.vault
        .write(&s.root, "cubbyhole/mine", json!({"a": "b"}))
        .await
        .unwrap();
    // What a crash between a token's last use and the clearing of its cubbyhole leaves.
    let orphan = format!("sys/cubbyhole/{}/response", "ab".repeat(32));
    s.storage.put(&orphan, b"left over".to_vec()).await.unwrap();
    assert_eq!(s.vault.sweep_cubbyholes().await.unwrap(), 0, "first look");
    assert!(s.storage.get(&orphan).await.unwrap().is_some());
    assert_eq!(s.vault.sweep_cubbyholes().await.unwrap(), 1, "second look");
    assert!(s.storage.get(&orphan).await.unwrap().is_none());
    // A live token's cubbyhole stays.
    let mine = s.vault.read(&s.root, "cubbyhole/mine").await.unwrap();
    assert_eq!(mine.data.unwrap()["a"], "b");
}

#[tokio::test]
async fn a_batch_token_has_no_cubbyhole() {
    let s = setup().await;
    let made = s
        .vault
        .write(
            &s.root,
            "auth/token/create",
            json!({"type": "batch", "policies": ["default"], "ttl": "1h"}),
        )
        .await
        .unwrap();
    let batch = made.auth.unwrap().client_token;
    let write = s
        .vault
        .write(&batch, "cubbyhole/x", json!({"a": "b"}))
        .await;
    assert_eq!(
        message(&write),
        "cubbyhole operations are only supported by 'service' type tokens"
    );
    let read = s.vault.read(&batch, "cubbyhole/x").await;
    assert_eq!(kind(&read), Some(ErrorKind::InvalidRequest));
}

#[tokio::test]
async fn an_unauthenticated_lookup_makes_no_wrapping_token() {
    let s = setup().await;
    let response = wrapped(
        &s.vault,
        &s.root,
        Operation::Update,
        "sys/wrapping/wrap",
        json!({"a": "b"}),
        Duration::from_secs(60),
    )
    .await
    .unwrap();
    let token = wrap_token(&response);
    // Asked to wrap, the tokenless lookup answers in the clear: no one mints wrapping tokens
    // through it without a token of their own.
    let lookup = s
        .vault
        .handle(
            VaultRequest::new(Operation::Update, "sys/wrapping/lookup")
                .with_data(serde_json::Map::from_iter([("token".into(), json!(token))]))
                .with_wrap_ttl(Duration::from_secs(60)),
        )
        .await
        .unwrap();
    assert!(lookup.wrap_info.is_none());
    assert_eq!(lookup.data.unwrap()["creation_ttl"], 60);
    // Only the one wrapping token has a cubbyhole.
    assert_eq!(s.storage.list("sys/cubbyhole/").await.unwrap().len(), 1);
}
