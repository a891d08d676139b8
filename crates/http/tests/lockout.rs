//! User lockout over the HTTP API (Vault's `user_lockout`): userpass and approle logins lock
//! after the threshold, a locked login answers exactly as a wrong one, the lock lasts
//! `lockout_duration`, the counter resets, mount tuning overrides the server settings,
//! `sys/locked-users` lists and unlocks, concurrent guesses cannot pass the threshold, and a lock
//! survives a seal and a restart.
//!
//! OpenBao 2.7.2, for comparison (recorded against `bao server -dev`): five wrong userpass
//! passwords answer 400 `{"errors":["invalid username or password"]}`; the sixth login, right
//! password or wrong, answers 403 `{"errors":["permission denied"]}`; an unknown user is never
//! locked. Approle likewise: five wrong secret ids answer 400 `{"errors":["invalid role or secret
//! ID"]}`, then the right one 403 `permission denied`; an unknown role id stays 400 forever.
//! Strongroom answers the locked login with the wrong-password 400 instead, and counts
//! unknown users, so neither the lock nor the user's existence shows.

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
use strongroom_core::{UserLockout, UserLockouts, Vault};
use strongroom_storage::{MemoryStorage, Storage};
use tower::ServiceExt;

const WRONG_PASSWORD: &str = "invalid username or password";

async fn call(
    app: &Router,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, Option<Value>) {
    let mut request = Request::builder()
        .method(Method::from_bytes(method.as_bytes()).unwrap())
        .uri(path);
    if let Some(token) = token {
        request = request.header("X-Vault-Token", token);
    }
    let body = body.map_or(Body::empty(), |b| Body::from(b.to_string()));
    let response = app
        .clone()
        .oneshot(request.body(body).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let json = if bytes.is_empty() {
        None
    } else {
        Some(serde_json::from_slice(&bytes).unwrap())
    };
    (status, json)
}

struct Server {
    app: Router,
    root: String,
    key: String,
    storage: Arc<MemoryStorage>,
}

fn vault(storage: &Arc<MemoryStorage>, lockouts: UserLockouts) -> Vault {
    Vault::builder(Arc::clone(storage))
        .user_lockouts(lockouts)
        .build()
        .unwrap()
}

async fn unseal(app: &Router, key: &str) {
    let (status, _) = call(
        app,
        "PUT",
        "/v1/sys/unseal",
        None,
        Some(json!({"key": key})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
}

/// A vault with `userpass/` (user `alice`, password `right`) and the given server settings.
async fn server(lockouts: UserLockouts) -> Server {
    let storage = Arc::new(MemoryStorage::new());
    let app = strongroom_http::router(vault(&storage, lockouts));
    let (_, init) = call(
        &app,
        "PUT",
        "/v1/sys/init",
        None,
        Some(json!({"secret_shares": 1, "secret_threshold": 1})),
    )
    .await;
    let init = init.unwrap();
    let key = init["keys"][0].as_str().unwrap().to_owned();
    let root = init["root_token"].as_str().unwrap().to_owned();
    unseal(&app, &key).await;
    let (status, _) = call(
        &app,
        "POST",
        "/v1/sys/auth/userpass",
        Some(&root),
        Some(json!({"type": "userpass"})),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = call(
        &app,
        "POST",
        "/v1/auth/userpass/users/alice",
        Some(&root),
        Some(json!({"password": "right"})),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    Server {
        app,
        root,
        key,
        storage,
    }
}

fn short(duration_secs: u64, reset_secs: u64) -> UserLockouts {
    let mut lockouts = UserLockouts::new();
    lockouts
        .set(
            "all",
            UserLockout::new()
                .duration(Duration::from_secs(duration_secs))
                .counter_reset(Duration::from_secs(reset_secs)),
        )
        .unwrap();
    lockouts
}

async fn login(app: &Router, user: &str, password: &str) -> (StatusCode, Option<Value>) {
    call(
        app,
        "POST",
        &format!("/v1/auth/userpass/login/{user}"),
        None,
        Some(json!({"password": password})),
    )
    .await
}

/// Asserts the login was refused exactly as a wrong password is.
fn assert_refused(answer: &(StatusCode, Option<Value>), what: &str) {
    assert_eq!(answer.0, StatusCode::BAD_REQUEST, "{what}: {:?}", answer.1);
    assert_eq!(
        answer.1.as_ref().unwrap(),
        &json!({"errors": [WRONG_PASSWORD]}),
        "{what}"
    );
}

fn assert_logged_in(answer: &(StatusCode, Option<Value>), what: &str) {
    assert_eq!(answer.0, StatusCode::OK, "{what}: {:?}", answer.1);
    assert!(
        answer.1.as_ref().unwrap()["auth"]["client_token"].is_string(),
        "{what}"
    );
}

/// The accessor of the `userpass/` mount.
async fn userpass_accessor(s: &Server) -> String {
    let (_, auth) = call(&s.app, "GET", "/v1/sys/auth", Some(&s.root), None).await;
    auth.unwrap()["data"]["userpass/"]["accessor"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn wrong_logins(app: &Router, user: &str, n: usize) {
    for i in 0..n {
        assert_refused(&login(app, user, "wrong").await, &format!("wrong #{i}"));
    }
}

#[tokio::test]
async fn five_wrong_passwords_lock_with_the_wrong_password_answer_until_the_duration_passes() {
    let s = server(short(2, 60)).await;
    let wrong = login(&s.app, "alice", "wrong").await;
    assert_refused(&wrong, "first wrong password");
    wrong_logins(&s.app, "alice", 4).await;
    // Locked: the right password is refused, with the very body and status of a wrong one.
    let locked = login(&s.app, "alice", "right").await;
    assert_refused(&locked, "right password while locked");
    assert_eq!(locked, wrong);
    // Case does not dodge the lock (the name is folded before counting).
    assert_refused(&login(&s.app, "ALICE", "right").await, "folded name");
    tokio::time::sleep(Duration::from_millis(3100)).await;
    assert_logged_in(&login(&s.app, "alice", "right").await, "after the duration");
}

#[tokio::test]
async fn unknown_users_are_counted_and_locked_too() {
    let s = server(short(60, 60)).await;
    wrong_logins(&s.app, "nobody", 5).await;
    let (status, body) = call(&s.app, "GET", "/v1/sys/locked-users", Some(&s.root), None).await;
    assert_eq!(status, StatusCode::OK);
    let ids = &body.unwrap()["data"]["by_namespace"][0]["mount_accessors"][0]["alias_identifiers"];
    assert_eq!(ids, &json!(["nobody"]));
}

#[tokio::test]
async fn a_success_resets_the_count_and_so_does_the_counter_reset() {
    let s = server(short(60, 2)).await;
    wrong_logins(&s.app, "alice", 4).await;
    assert_logged_in(&login(&s.app, "alice", "right").await, "4 wrong then right");
    wrong_logins(&s.app, "alice", 4).await;
    assert_logged_in(
        &login(&s.app, "alice", "right").await,
        "reset by the success",
    );
    // Four failures, a pause longer than lockout_counter_reset, four more: never five in a row.
    wrong_logins(&s.app, "alice", 4).await;
    tokio::time::sleep(Duration::from_millis(3100)).await;
    wrong_logins(&s.app, "alice", 4).await;
    assert_logged_in(&login(&s.app, "alice", "right").await, "reset by time");
    // Five in a row lock.
    wrong_logins(&s.app, "alice", 5).await;
    assert_refused(
        &login(&s.app, "alice", "right").await,
        "fifth failure locks",
    );
}

#[tokio::test]
async fn mount_tuning_overrides_the_server_settings_and_can_disable() {
    let s = server(UserLockouts::new()).await;
    let (status, _) = call(
        &s.app,
        "POST",
        "/v1/sys/auth/userpass/tune",
        Some(&s.root),
        Some(json!({"user_lockout_config": {
            "lockout_threshold": "2",
            "lockout_duration": "10m",
            "lockout_counter_reset_duration": "20m",
        }})),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, tune) = call(
        &s.app,
        "GET",
        "/v1/sys/auth/userpass/tune",
        Some(&s.root),
        None,
    )
    .await;
    let tune = tune.unwrap();
    assert_eq!(tune["data"]["user_lockout_threshold"], 2);
    assert_eq!(tune["data"]["user_lockout_duration"], 600);
    assert_eq!(tune["data"]["user_lockout_counter_reset_duration"], 1200);
    assert_eq!(tune["data"]["user_lockout_disable"], false);
    let (_, auth) = call(&s.app, "GET", "/v1/sys/auth", Some(&s.root), None).await;
    assert_eq!(
        auth.unwrap()["data"]["userpass/"]["config"]["user_lockout_config"]["user_lockout_threshold"],
        2
    );
    wrong_logins(&s.app, "alice", 2).await;
    assert_refused(&login(&s.app, "alice", "right").await, "threshold 2");

    // lockout_disable: no lock however many failures (and an existing lock no longer applies).
    let (status, _) = call(
        &s.app,
        "POST",
        "/v1/sys/auth/userpass/tune",
        Some(&s.root),
        Some(json!({"user_lockout_config": {"lockout_disable": true}})),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_logged_in(&login(&s.app, "alice", "right").await, "disabled");
    wrong_logins(&s.app, "alice", 10).await;
    assert_logged_in(&login(&s.app, "alice", "right").await, "still disabled");

    // Not on a secrets engine (OpenBao's wording).
    call(
        &s.app,
        "POST",
        "/v1/sys/mounts/secret",
        Some(&s.root),
        Some(json!({"type": "kv"})),
    )
    .await;
    let (status, body) = call(
        &s.app,
        "POST",
        "/v1/sys/mounts/secret/tune",
        Some(&s.root),
        Some(json!({"user_lockout_config": {"lockout_threshold": "3"}})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body.unwrap(),
        json!({"errors": ["tuning of user lockout configuration for auth type \"kv\" not allowed"]})
    );
}

#[tokio::test]
async fn locked_users_are_listed_and_unlocked() {
    let s = server(short(600, 600)).await;
    wrong_logins(&s.app, "alice", 5).await;
    let accessor = userpass_accessor(&s).await;
    let (status, body) = call(&s.app, "GET", "/v1/sys/locked-users", Some(&s.root), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body.unwrap()["data"],
        json!({
            "by_namespace": [{
                "namespace_id": "root",
                "namespace_path": "",
                "counts": 1,
                "mount_accessors": [{
                    "mount_accessor": accessor,
                    "counts": 1,
                    "alias_identifiers": ["alice"],
                }],
            }],
            "total": 1,
        })
    );
    // Nothing under the lock's storage key names the user.
    let keys = s
        .storage
        .list(&format!("core/login/lockedUsers/{accessor}/"))
        .await
        .unwrap();
    assert_eq!(keys.len(), 1);
    assert!(!keys[0].contains("alice"), "{keys:?}");

    // Without a token: refused.
    let (status, _) = call(&s.app, "GET", "/v1/sys/locked-users", None, None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    let (status, _) = call(
        &s.app,
        "POST",
        &format!("/v1/sys/locked-users/{accessor}/unlock/alice"),
        Some(&s.root),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_logged_in(&login(&s.app, "alice", "right").await, "unlocked");
    let (_, body) = call(&s.app, "GET", "/v1/sys/locked-users", Some(&s.root), None).await;
    assert_eq!(body.unwrap()["data"]["total"], 0);
    assert!(
        s.storage
            .list(&format!("core/login/lockedUsers/{accessor}/"))
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_wrong_logins_cannot_pass_the_threshold_unlocked() {
    let s = server(short(600, 600)).await;
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let app = s.app.clone();
        tasks.push(tokio::spawn(
            async move { login(&app, "alice", "wrong").await },
        ));
    }
    for task in tasks {
        assert_refused(&task.await.unwrap(), "concurrent wrong");
    }
    assert_refused(
        &login(&s.app, "alice", "right").await,
        "right after 20 concurrent wrong",
    );
}

#[tokio::test]
async fn a_lock_survives_a_seal_and_a_restart() {
    let s = server(short(600, 600)).await;
    wrong_logins(&s.app, "alice", 5).await;
    let (status, _) = call(&s.app, "PUT", "/v1/sys/seal", Some(&s.root), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    unseal(&s.app, &s.key).await;
    assert_refused(&login(&s.app, "alice", "right").await, "after seal/unseal");

    // A new process over the same storage.
    let restarted = strongroom_http::router(vault(&s.storage, short(600, 600)));
    unseal(&restarted, &s.key).await;
    assert_refused(&login(&restarted, "alice", "right").await, "after restart");
}

#[tokio::test]
async fn approle_role_ids_lock_without_spending_secret_ids() {
    let s = server(short(2, 60)).await;
    let root = Some(s.root.as_str());
    call(
        &s.app,
        "POST",
        "/v1/sys/auth/approle",
        root,
        Some(json!({"type": "approle"})),
    )
    .await;
    call(
        &s.app,
        "POST",
        "/v1/auth/approle/role/app",
        root,
        Some(json!({"secret_id_num_uses": 1})),
    )
    .await;
    let (_, role_id) = call(
        &s.app,
        "GET",
        "/v1/auth/approle/role/app/role-id",
        root,
        None,
    )
    .await;
    let role_id = role_id.unwrap()["data"]["role_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (_, secret) = call(
        &s.app,
        "POST",
        "/v1/auth/approle/role/app/secret-id",
        root,
        None,
    )
    .await;
    let secret_id = secret.unwrap()["data"]["secret_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let approle_login = |secret: String| {
        let app = s.app.clone();
        let role_id = role_id.clone();
        async move {
            call(
                &app,
                "POST",
                "/v1/auth/approle/login",
                None,
                Some(json!({"role_id": role_id, "secret_id": secret})),
            )
            .await
        }
    };
    let wrong = approle_login("not-the-secret".into()).await;
    assert_eq!(wrong.0, StatusCode::BAD_REQUEST);
    assert_eq!(
        wrong.1.as_ref().unwrap(),
        &json!({"errors": ["invalid role or secret ID"]})
    );
    for _ in 0..4 {
        assert_eq!(approle_login("not-the-secret".into()).await, wrong);
    }
    // Locked: the right secret id answers as a wrong one, and its one use is not spent.
    assert_eq!(approle_login(secret_id.clone()).await, wrong);
    tokio::time::sleep(Duration::from_millis(3100)).await;
    let ok = approle_login(secret_id.clone()).await;
    assert_eq!(ok.0, StatusCode::OK, "{:?}", ok.1);
    assert!(ok.1.unwrap()["auth"]["client_token"].is_string());
}

/// Two processes on one storage (the PostgreSQL deployment): a lock set through one holds in
/// the other, and an unlock through one lifts it in both.
#[tokio::test]
async fn locks_hold_and_lift_across_processes_on_one_storage() {
    let s = server(short(600, 600)).await;
    let other = strongroom_http::router(vault(&s.storage, short(600, 600)));
    unseal(&other, &s.key).await;
    // The other process has counted nothing for alice.
    wrong_logins(&s.app, "alice", 5).await;
    assert_refused(&login(&other, "alice", "right").await, "locked elsewhere");
    let accessor = userpass_accessor(&s).await;
    let (status, _) = call(
        &other,
        "POST",
        &format!("/v1/sys/locked-users/{accessor}/unlock/alice"),
        Some(&s.root),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    // The process that counted the failures sees the lock gone too.
    assert_logged_in(&login(&s.app, "alice", "right").await, "unlocked elsewhere");
}

/// The unlock alias of a userpass mount is accepted only folded: the policy check decided on
/// the spelling as written, so `ADMIN` must not unlock `admin` past a rule for `admin`.
#[tokio::test]
async fn unlock_takes_the_folded_name_only() {
    let s = server(short(600, 600)).await;
    wrong_logins(&s.app, "alice", 5).await;
    let accessor = userpass_accessor(&s).await;
    let (status, body) = call(
        &s.app,
        "POST",
        &format!("/v1/sys/locked-users/{accessor}/unlock/ALICE"),
        Some(&s.root),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body:?}");
    assert_refused(&login(&s.app, "alice", "right").await, "still locked");
}

/// Identities longer than any user name or role id are not tracked (the method refuses them
/// anyway), so huge made-up role ids cost no memory or storage; and records of locks that ran
/// out are swept.
#[tokio::test]
async fn huge_identities_are_not_tracked_and_expired_locks_are_swept() {
    let s = server(short(1, 600)).await;
    let (status, _) = call(
        &s.app,
        "POST",
        "/v1/sys/auth/approle",
        Some(&s.root),
        Some(json!({"type": "approle"})),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let huge = "r".repeat(64 * 1024);
    for _ in 0..6 {
        let (status, _) = call(
            &s.app,
            "POST",
            "/v1/auth/approle/login",
            None,
            Some(json!({"role_id": huge, "secret_id": "x"})),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
    }
    assert!(
        s.storage
            .list("core/login/lockedUsers/")
            .await
            .unwrap()
            .is_empty(),
        "a lock record for an identity no method accepts"
    );
    // A real lock, run out, then swept.
    wrong_logins(&s.app, "alice", 5).await;
    assert_eq!(
        s.storage
            .list("core/login/lockedUsers/")
            .await
            .unwrap()
            .len(),
        1
    );
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let vault = vault(&s.storage, short(1, 600));
    vault.unseal(&s.key).await.unwrap();
    vault.sweep_lockouts().await.unwrap();
    assert!(
        s.storage
            .list("core/login/lockedUsers/")
            .await
            .unwrap()
            .is_empty()
    );
}

/// A role id sent as a JSON number is the same role id to the login (Vault's weak string
/// conversion), so it is counted and locked like its text: no spelling logs in uncounted.
#[tokio::test]
async fn numeric_role_ids_are_counted_as_their_text() {
    let s = server(short(600, 600)).await;
    let root = Some(s.root.as_str());
    call(
        &s.app,
        "POST",
        "/v1/sys/auth/approle",
        root,
        Some(json!({"type": "approle"})),
    )
    .await;
    call(
        &s.app,
        "POST",
        "/v1/auth/approle/role/app",
        root,
        Some(json!({})),
    )
    .await;
    let (status, _) = call(
        &s.app,
        "POST",
        "/v1/auth/approle/role/app/role-id",
        root,
        Some(json!({"role_id": "12345"})),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, secret) = call(
        &s.app,
        "POST",
        "/v1/auth/approle/role/app/secret-id",
        root,
        None,
    )
    .await;
    let secret_id = secret.unwrap()["data"]["secret_id"]
        .as_str()
        .unwrap()
        .to_owned();
    for _ in 0..5 {
        let (status, _) = call(
            &s.app,
            "POST",
            "/v1/auth/approle/login",
            None,
            Some(json!({"role_id": 12345, "secret_id": "wrong"})),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
    }
    // Locked, in either spelling, with the right secret id.
    for role_id in [json!(12345), json!("12345")] {
        let (status, body) = call(
            &s.app,
            "POST",
            "/v1/auth/approle/login",
            None,
            Some(json!({"role_id": role_id, "secret_id": secret_id})),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{role_id}: {body:?}");
    }
}
