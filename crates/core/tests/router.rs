//! The router is copy-on-write: a request blocked inside an engine (a slow database's lease
//! renewal, say) holds no lock, so mount table changes and requests to other mounts go on
//! meanwhile.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code"
)]

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::{Map, Value, json};
use strongroom_core::{InitRequest, Vault};
use strongroom_logical::{Backend, Context, Lease, Request, Response, SecretDescriptor};
use strongroom_storage::MemoryStorage;
use tokio::sync::Notify;

/// An engine that issues renewable leases whose renewals wait until released.
#[derive(Debug, Default)]
struct Stuck {
    entered: Notify,
    release: Notify,
}

#[async_trait]
impl Backend for Stuck {
    async fn handle(
        &self,
        _ctx: &Context,
        _request: Request,
    ) -> strongroom_logical::Result<Response> {
        let mut secret = SecretDescriptor::default();
        secret.ttl = Duration::from_secs(3600);
        secret.renewable = true;
        let mut response = Response::with_data(Map::new());
        response.secret = Some(secret);
        Ok(response)
    }

    async fn renew(&self, _ctx: &Context, _lease: &Lease) -> strongroom_logical::Result<Response> {
        self.entered.notify_one();
        self.release.notified().await;
        Ok(Response::empty())
    }
}

/// An unsealed vault with `engine` registered as the engine type `kind` and mounted at
/// `mount`, and its root token. Lease expiry is left to the tests.
async fn mounted(kind: &str, mount: &str, engine: Arc<dyn Backend>) -> (Vault, String) {
    let vault = Vault::builder(MemoryStorage::new())
        .background_expiry(false)
        .engine(kind, move |_: &Map<String, Value>| Ok(Arc::clone(&engine)))
        .build()
        .unwrap();
    let init = vault.init(InitRequest::new(1, 1)).await.unwrap();
    vault.unseal(init.keys[0].expose_secret()).await.unwrap();
    let root = init.root_token.expose_secret().to_owned();
    vault
        .write(
            &root,
            &format!("sys/mounts/{mount}"),
            json!({ "type": kind }),
        )
        .await
        .unwrap();
    (vault, root)
}

/// Long enough for any of these calls on a loaded machine; only a deadlock runs into it.
const DEADLOCK: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_renewal_stuck_in_an_engine_blocks_no_mount_change_and_no_other_request() {
    let stuck = Arc::new(Stuck::default());
    let (vault, root) = mounted("stuck", "slow", Arc::clone(&stuck) as Arc<dyn Backend>).await;
    vault
        .write(&root, "sys/mounts/kv", json!({"type": "kv"}))
        .await
        .unwrap();

    let lease = vault.read(&root, "slow/creds").await.unwrap().lease_id;
    let blocked = tokio::spawn({
        let vault = vault.clone();
        let root = root.clone();
        async move {
            vault
                .write(&root, "sys/leases/renew", json!({"lease_id": lease}))
                .await
        }
    });
    stuck.entered.notified().await;

    let meanwhile = async {
        vault
            .write(&root, "sys/mounts/other", json!({"type": "kv"}))
            .await
            .unwrap();
        vault
            .write(&root, "kv/app", json!({"password": "p"}))
            .await
            .unwrap();
        let read = vault.read(&root, "kv/app").await.unwrap();
        assert_eq!(read.data.unwrap()["password"], "p");
        vault
            .write(&root, "sys/mounts/kv/tune", json!({"description": "tuned"}))
            .await
            .unwrap();
        vault.delete(&root, "sys/mounts/other").await.unwrap();
    };
    tokio::time::timeout(DEADLOCK, meanwhile)
        .await
        .expect("mount changes and other requests waited for the stuck engine");
    assert!(!blocked.is_finished());

    stuck.release.notify_one();
    tokio::time::timeout(DEADLOCK, blocked)
        .await
        .expect("the stuck request finishes once released")
        .unwrap()
        .unwrap();
    let mounts = vault.read(&root, "sys/mounts").await.unwrap().data.unwrap();
    assert_eq!(mounts["kv/"]["description"], "tuned");
    assert!(mounts.get("other/").is_none());
}

/// An engine that issues leased credentials, optionally waiting inside the request until
/// released, and records what it revokes.
#[derive(Debug, Default)]
struct Issuer {
    hold: std::sync::atomic::AtomicBool,
    entered: Notify,
    release: Notify,
    revoked: std::sync::Mutex<Vec<String>>,
}

#[async_trait]
impl Backend for Issuer {
    async fn handle(
        &self,
        _ctx: &Context,
        request: Request,
    ) -> strongroom_logical::Result<Response> {
        if self.hold.swap(false, std::sync::atomic::Ordering::SeqCst) {
            self.entered.notify_one();
            self.release.notified().await;
        }
        let mut secret = SecretDescriptor::default();
        secret.ttl = Duration::from_secs(3600);
        secret
            .internal
            .insert("user".into(), request.path.clone().into());
        let mut response = Response::with_data(Map::new());
        response.secret = Some(secret);
        Ok(response)
    }

    async fn revoke(&self, _ctx: &Context, lease: &Lease) -> strongroom_logical::Result<()> {
        let user = lease
            .internal
            .get("user")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        self.revoked.lock().unwrap().push(user);
        Ok(())
    }
}

/// Review finding: a credential issued while its mount was being disabled escaped the unmount's
/// revocation (its lease was registered after the lease list was walked). The unmount now waits
/// for the requests in flight on the mount, then revokes what they issued.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_credential_issued_during_an_unmount_is_revoked_with_the_mount() {
    let issuer = Arc::new(Issuer::default());
    let (vault, root) = mounted("issuer", "db", Arc::clone(&issuer) as Arc<dyn Backend>).await;
    let early = vault.read(&root, "db/creds/early").await.unwrap().lease_id;

    issuer.hold.store(true, std::sync::atomic::Ordering::SeqCst);
    let issuing = tokio::spawn({
        let vault = vault.clone();
        let root = root.clone();
        async move { vault.read(&root, "db/creds/late").await }
    });
    issuer.entered.notified().await;
    let unmounting = tokio::spawn({
        let vault = vault.clone();
        let root = root.clone();
        async move { vault.delete(&root, "sys/mounts/db").await }
    });
    // The unmount waits for the credential being issued.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!unmounting.is_finished(), "the unmount did not wait");
    // New requests no longer reach the mount.
    let refused = tokio::time::timeout(DEADLOCK, vault.read(&root, "db/creds/after"))
        .await
        .expect("a new request is answered at once");
    assert!(refused.is_err(), "{refused:?}");

    issuer.release.notify_one();
    let late = tokio::time::timeout(DEADLOCK, issuing)
        .await
        .unwrap()
        .unwrap()
        .unwrap()
        .lease_id;
    tokio::time::timeout(DEADLOCK, unmounting)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let mut revoked = issuer.revoked.lock().unwrap().clone();
    revoked.sort();
    assert_eq!(revoked, ["creds/early", "creds/late"]);
    for lease in [early, late] {
        assert!(
            vault
                .write(&root, "sys/leases/lookup", json!({"lease_id": lease}))
                .await
                .is_err(),
            "{lease} outlived its mount"
        );
    }
}

/// Review finding: a renewal wrote its copy of the lease back after the engine answered, undoing
/// a revocation that landed meanwhile. It now writes back only over the lease as it read it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_renewal_cannot_bring_back_a_lease_revoked_meanwhile() {
    let stuck = Arc::new(Stuck::default());
    let (vault, root) = mounted("stuck", "slow", Arc::clone(&stuck) as Arc<dyn Backend>).await;
    let lease = vault.read(&root, "slow/creds").await.unwrap().lease_id;
    let renewing = tokio::spawn({
        let vault = vault.clone();
        let root = root.clone();
        let lease = lease.clone();
        async move {
            vault
                .write(&root, "sys/leases/renew", json!({"lease_id": lease}))
                .await
        }
    });
    stuck.entered.notified().await;
    vault
        .write(&root, "sys/leases/revoke", json!({"lease_id": lease}))
        .await
        .unwrap();
    stuck.release.notify_one();
    let renewed = tokio::time::timeout(DEADLOCK, renewing)
        .await
        .unwrap()
        .unwrap();
    assert!(renewed.is_err(), "{renewed:?}");
    assert!(
        vault
            .write(&root, "sys/leases/lookup", json!({"lease_id": lease}))
            .await
            .is_err(),
        "the revoked lease came back"
    );
}
