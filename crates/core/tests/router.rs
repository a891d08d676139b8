//! The router is copy-on-write: a request blocked inside an engine (a slow database's lease
//! renewal, say) holds no lock, so mount table changes and requests to other mounts go on
//! meanwhile.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
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

/// Long enough for any of these calls on a loaded machine; only a deadlock runs into it.
const DEADLOCK: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_renewal_stuck_in_an_engine_blocks_no_mount_change_and_no_other_request() {
    let stuck = Arc::new(Stuck::default());
    let engine = Arc::clone(&stuck);
    let vault = Vault::builder(MemoryStorage::new())
        .engine("stuck", move |_: &Map<String, Value>| {
            Ok(Arc::clone(&engine) as Arc<dyn Backend>)
        })
        .build()
        .unwrap();
    let init = vault.init(InitRequest::new(1, 1)).await.unwrap();
    vault.unseal(init.keys[0].expose_secret()).await.unwrap();
    let root = init.root_token.expose_secret().to_owned();
    vault
        .write(&root, "sys/mounts/slow", json!({"type": "stuck"}))
        .await
        .unwrap();
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
