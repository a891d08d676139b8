//! Leases through the public API, with an engine that issues dynamic secrets and records
//! revocations: registration, lookup, renewal rules, expiry (also after a restart), revocation by
//! token, by prefix and by unmount, and retries with backoff when the engine fails.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code"
)]

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use serde_json::{Map, Value, json};
use strongroom_core::{InitRequest, ManualClock, Vault, VaultBuilder};
use strongroom_logical::{
    Backend, Context, Lease, LogicalError, Operation, Request, Response, SecretDescriptor,
};
use strongroom_storage::{MemoryStorage, Storage};

/// Issues a "credential" at `creds/<role>` with a 1 h lease (max 3 h), renewable; records every
/// revocation; fails the first `fail_revokes` revocations.
#[derive(Debug, Default)]
struct Dynamic {
    revoked: Mutex<Vec<String>>,
    fail_revokes: AtomicU32,
}

#[async_trait]
impl Backend for Dynamic {
    async fn handle(&self, _ctx: &Context, req: Request) -> Result<Response, LogicalError> {
        let Some(role) = req.path.strip_prefix("creds/") else {
            return Err(LogicalError::UnsupportedPath);
        };
        if req.operation != Operation::Read {
            return Err(LogicalError::UnsupportedOperation);
        }
        let user = format!("{role}-user");
        let mut data = Map::new();
        data.insert("username".into(), user.clone().into());
        let mut secret = SecretDescriptor::default();
        secret.ttl = Duration::from_secs(3600);
        secret.max_ttl = Some(Duration::from_secs(3 * 3600));
        secret.renewable = true;
        secret.internal.insert("username".into(), user.into());
        let mut response = Response::with_data(data);
        response.secret = Some(secret);
        Ok(response)
    }

    async fn renew(&self, _ctx: &Context, _lease: &Lease) -> Result<Response, LogicalError> {
        Ok(Response::empty())
    }

    async fn revoke(&self, _ctx: &Context, lease: &Lease) -> Result<(), LogicalError> {
        if self
            .fail_revokes
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
        {
            return Err(LogicalError::Internal("database unreachable".into()));
        }
        let user = lease.internal["username"].as_str().unwrap().to_owned();
        self.revoked.lock().unwrap().push(user);
        Ok(())
    }
}

struct Fixture {
    vault: Vault,
    root: String,
    keys: Vec<String>,
    clock: Arc<ManualClock>,
    engine: Arc<Dynamic>,
}

fn builder(
    storage: Arc<dyn Storage>,
    clock: Arc<ManualClock>,
    engine: Arc<Dynamic>,
) -> VaultBuilder {
    Vault::builder(storage)
        .clock(clock)
        // The tests drive expiry themselves, with a manual clock.
        .background_expiry(false)
        .engine("dynamic", move |_: &Map<String, Value>| {
            Ok(Arc::clone(&engine) as Arc<dyn Backend>)
        })
}

async fn fixture(storage: Arc<dyn Storage>) -> Fixture {
    let clock = Arc::new(ManualClock::new(
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000),
    ));
    let engine = Arc::new(Dynamic::default());
    let vault = builder(storage, clock.clone(), engine.clone())
        .build()
        .unwrap();
    let init = vault.init(InitRequest::new(1, 1)).await.unwrap();
    let keys: Vec<String> = init
        .keys
        .iter()
        .map(|k| k.expose_secret().to_owned())
        .collect();
    vault.unseal(&keys[0]).await.unwrap();
    let root = init.root_token.expose_secret().to_owned();
    vault
        .write(&root, "sys/mounts/db", json!({"type": "dynamic"}))
        .await
        .unwrap();
    Fixture {
        vault,
        root,
        keys,
        clock,
        engine,
    }
}

fn revoked(f: &Fixture) -> Vec<String> {
    f.engine.revoked.lock().unwrap().clone()
}

#[tokio::test]
async fn lease_lifecycle_and_renewal_rules() {
    let f = fixture(Arc::new(MemoryStorage::new())).await;
    let creds = f.vault.read(&f.root, "db/creds/ro").await.unwrap();
    assert!(
        creds.lease_id.starts_with("db/creds/ro/"),
        "{}",
        creds.lease_id
    );
    assert_eq!(creds.lease_duration, 3600);
    assert!(creds.renewable);
    let looked = f
        .vault
        .write(
            &f.root,
            "sys/leases/lookup",
            json!({"lease_id": creds.lease_id}),
        )
        .await
        .unwrap()
        .data
        .unwrap();
    assert_eq!(looked["ttl"], 3600);

    // Renewal counts from now, capped by the max TTL (3 h from issue).
    f.clock.advance(Duration::from_secs(1800));
    let renewed = f
        .vault
        .write(
            &f.root,
            "sys/leases/renew",
            json!({"lease_id": creds.lease_id, "increment": "2h"}),
        )
        .await
        .unwrap();
    assert_eq!(renewed.lease_duration, 7200);
    f.clock.advance(Duration::from_secs(7000));
    let capped = f
        .vault
        .write(
            &f.root,
            "sys/leases/renew",
            json!({"lease_id": creds.lease_id, "increment": "2h"}),
        )
        .await
        .unwrap();
    assert_eq!(capped.lease_duration, 3 * 3600 - 1800 - 7000);

    let listed = f
        .vault
        .list(&f.root, "sys/leases/lookup/db/creds/ro/")
        .await
        .unwrap();
    assert_eq!(listed.data.unwrap()["keys"].as_array().unwrap().len(), 1);

    f.vault
        .write(
            &f.root,
            "sys/leases/revoke",
            json!({"lease_id": creds.lease_id}),
        )
        .await
        .unwrap();
    assert_eq!(revoked(&f), ["ro-user"]);
    assert!(
        f.vault
            .write(
                &f.root,
                "sys/leases/lookup",
                json!({"lease_id": creds.lease_id})
            )
            .await
            .is_err()
    );
}

#[tokio::test]
async fn leases_expire_and_survive_a_restart() {
    let storage: Arc<dyn Storage> = Arc::new(MemoryStorage::new());
    let f = fixture(Arc::clone(&storage)).await;
    f.vault.read(&f.root, "db/creds/a").await.unwrap();
    f.vault.read(&f.root, "db/creds/b").await.unwrap();
    assert_eq!(
        f.vault.expire_leases(100).await.unwrap(),
        0,
        "nothing due yet"
    );

    // A new process over the same storage: nothing is restored into memory at unseal; the
    // expiry pass finds the due leases in the persisted time index.
    f.vault.seal().await;
    let engine = Arc::new(Dynamic::default());
    let clock = f.clock.clone();
    let again = builder(storage, clock.clone(), engine.clone())
        .build()
        .unwrap();
    again.unseal(&f.keys[0]).await.unwrap();
    clock.advance(Duration::from_secs(3601));
    assert_eq!(again.expire_leases(100).await.unwrap(), 2);
    let mut users = engine.revoked.lock().unwrap().clone();
    users.sort();
    assert_eq!(users, ["a-user", "b-user"]);
    assert_eq!(again.expire_leases(100).await.unwrap(), 0);
}

#[tokio::test]
async fn revoking_a_token_revokes_its_leases() {
    let f = fixture(Arc::new(MemoryStorage::new())).await;
    let policy = r#"path "db/creds/*" { capabilities = ["read"] }"#;
    f.vault
        .write(&f.root, "sys/policies/acl/db", json!({"policy": policy}))
        .await
        .unwrap();
    let app = f
        .vault
        .write(
            &f.root,
            "auth/token/create",
            json!({"policies": ["db"], "ttl": "30m"}),
        )
        .await
        .unwrap()
        .auth
        .unwrap()
        .client_token;
    let creds = f.vault.read(&app, "db/creds/app").await.unwrap();
    assert_eq!(
        creds.lease_duration, 1800,
        "a lease never outlives its token"
    );
    f.vault.read(&f.root, "db/creds/other").await.unwrap();
    f.vault
        .write(
            &f.root,
            "auth/token/revoke",
            json!({"token": app.expose_secret()}),
        )
        .await
        .unwrap();
    assert_eq!(revoked(&f), ["app-user"]);
}

#[tokio::test]
async fn revoke_prefix_and_unmount() {
    let f = fixture(Arc::new(MemoryStorage::new())).await;
    for role in ["x", "x", "y"] {
        f.vault
            .read(&f.root, &format!("db/creds/{role}"))
            .await
            .unwrap();
    }
    f.vault
        .write(&f.root, "sys/leases/revoke-prefix/db/creds/x", json!({}))
        .await
        .unwrap();
    assert_eq!(revoked(&f), ["x-user", "x-user"]);
    f.vault.delete(&f.root, "sys/mounts/db").await.unwrap();
    assert_eq!(revoked(&f).len(), 3, "unmounting revokes the rest");
    // Lease ids cannot climb out of the lease tree.
    let err = f
        .vault
        .write(
            &f.root,
            "sys/leases/revoke",
            json!({"lease_id": "../token/x"}),
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), strongroom_logical::ErrorKind::InvalidRequest);
}

#[tokio::test]
async fn failed_revocations_are_retried_with_backoff() {
    let f = fixture(Arc::new(MemoryStorage::new())).await;
    let creds = f.vault.read(&f.root, "db/creds/flaky").await.unwrap();
    f.engine.fail_revokes.store(2, Ordering::SeqCst);
    f.clock.advance(Duration::from_secs(3601));
    assert_eq!(
        f.vault.expire_leases(100).await.unwrap(),
        0,
        "first attempt fails"
    );
    assert!(revoked(&f).is_empty());
    // Rescheduled in the future, not retried in a tight loop.
    assert_eq!(f.vault.expire_leases(100).await.unwrap(), 0);
    f.clock.advance(Duration::from_secs(60));
    assert_eq!(
        f.vault.expire_leases(100).await.unwrap(),
        0,
        "second attempt fails"
    );
    f.clock.advance(Duration::from_secs(120));
    assert_eq!(f.vault.expire_leases(100).await.unwrap(), 1);
    assert_eq!(revoked(&f), ["flaky-user"]);
    assert!(
        f.vault
            .write(
                &f.root,
                "sys/leases/lookup",
                json!({"lease_id": creds.lease_id})
            )
            .await
            .is_err()
    );
}

/// The background expiry task (real clock): a lease capped at 1 s by its mount's tuning is
/// revoked without anyone calling `expire_leases`. Bounded wait: 10 s at most.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn background_expiry_revokes_due_leases() {
    let engine = Arc::new(Dynamic::default());
    let registered = Arc::clone(&engine);
    let vault = Vault::builder(MemoryStorage::new())
        .engine("dynamic", move |_: &Map<String, Value>| {
            Ok(Arc::clone(&registered) as Arc<dyn Backend>)
        })
        .build()
        .unwrap();
    let init = vault.init(InitRequest::new(1, 1)).await.unwrap();
    vault.unseal(init.keys[0].expose_secret()).await.unwrap();
    let root = init.root_token.expose_secret();
    vault
        .write(
            root,
            "sys/mounts/db",
            json!({"type": "dynamic", "config": {"max_lease_ttl": "1s"}}),
        )
        .await
        .unwrap();
    let creds = vault.read(root, "db/creds/short").await.unwrap();
    assert_eq!(creds.lease_duration, 1);
    for _ in 0..100 {
        if !engine.revoked.lock().unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(engine.revoked.lock().unwrap().clone(), ["short-user"]);
}

/// Review finding: revoking a token stopped at the first lease whose revocation failed, leaving
/// its other leases live. Now every lease is tried; a failed one stays queued for retry.
#[tokio::test]
async fn a_failing_lease_does_not_keep_a_revoked_tokens_other_leases() {
    let f = fixture(Arc::new(MemoryStorage::new())).await;
    let policy = r#"path "db/creds/*" { capabilities = ["read"] }"#;
    f.vault
        .write(&f.root, "sys/policies/acl/db", json!({"policy": policy}))
        .await
        .unwrap();
    let app = f
        .vault
        .write(&f.root, "auth/token/create", json!({"policies": ["db"]}))
        .await
        .unwrap()
        .auth
        .unwrap()
        .client_token;
    for role in ["a", "b", "c", "d"] {
        f.vault
            .read(&app, &format!("db/creds/{role}"))
            .await
            .unwrap();
    }
    f.engine.fail_revokes.store(1, Ordering::SeqCst);
    f.vault
        .write(&app, "auth/token/revoke-self", json!({}))
        .await
        .unwrap();
    assert_eq!(revoked(&f).len(), 3, "all but the failing one at once");
    // The failed one is retried by the expiry pass.
    f.clock.advance(Duration::from_secs(30));
    assert_eq!(f.vault.expire_leases(100).await.unwrap(), 1);
    assert_eq!(revoked(&f).len(), 4);
}

/// A batch token's leases are tracked by its parent (a batch token cannot be revoked), as in
/// Vault: they go when the parent is revoked, and never outlive the batch token's TTL.
#[tokio::test]
async fn a_batch_tokens_leases_go_with_its_parent() {
    let f = fixture(Arc::new(MemoryStorage::new())).await;
    f.vault
        .write(
            &f.root,
            "sys/policies/acl/reader",
            json!({"policy": r#"
                path "db/creds/*" { capabilities = ["read"] }
                path "auth/token/create" { capabilities = ["update"] }
            "#}),
        )
        .await
        .unwrap();
    let parent = f
        .vault
        .write(
            &f.root,
            "auth/token/create",
            json!({"policies": ["reader"], "ttl": "4h"}),
        )
        .await
        .unwrap()
        .auth
        .unwrap()
        .client_token;
    let batch = f
        .vault
        .write(
            &parent,
            "auth/token/create",
            json!({"type": "batch", "ttl": "30m"}),
        )
        .await
        .unwrap()
        .auth
        .unwrap()
        .client_token;
    let creds = f.vault.read(&batch, "db/creds/batch").await.unwrap();
    assert_eq!(creds.lease_duration, 1800, "within the batch token's TTL");
    f.vault
        .write(&parent, "auth/token/revoke-self", json!({}))
        .await
        .unwrap();
    assert_eq!(revoked(&f), ["batch-user"]);
    assert!(f.vault.read(&batch, "db/creds/batch").await.is_err());
}
