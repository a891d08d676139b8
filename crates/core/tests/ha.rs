//! Several embedded nodes on one store (the in-memory HA lock): one active, the others
//! standbys; failover when the active seals or steps down, with every acknowledged write kept
//! and the new active serving from a fresh load; a node that lost the lock cannot write.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code"
)]

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use strongroom_core::{ClientToken, HaConfig, InitRequest, MountRequest, Vault, VaultError};
use strongroom_storage::{HaLock, HaNode, HaTiming, MemoryHa, Storage};

fn timing() -> HaTiming {
    HaTiming::default()
        .lease(Duration::from_millis(300))
        .renew_interval(Duration::from_millis(50))
        .retry_interval(Duration::from_millis(30))
}

fn node(lock: &MemoryHa, n: usize) -> Vault {
    let config = HaConfig::new(
        Arc::new(lock.handle()),
        HaNode::new(
            format!("node-{n}"),
            format!("http://127.0.0.{n}:8200"),
            format!("https://127.0.0.{n}:8201"),
        )
        .describe(format!("host-{n}"), "test"),
    )
    .step_down_wait(Duration::from_millis(500));
    Vault::builder_ha(config).build().unwrap()
}

/// Waits (bounded) until exactly one of `nodes` is active; returns its index.
async fn active_of(nodes: &[Vault]) -> usize {
    for _ in 0..200 {
        let mut active = Vec::new();
        for (i, vault) in nodes.iter().enumerate() {
            if !vault.is_standby() && vault.leader_status().await.is_ok_and(|l| l.is_self) {
                active.push(i);
            }
        }
        if active.len() == 1 {
            return active[0];
        }
        assert!(active.len() < 2, "two active nodes: {active:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("no node became active");
}

async fn cluster() -> (MemoryHa, Vec<Vault>, ClientToken, String) {
    let lock = MemoryHa::new(timing()).unwrap();
    let nodes: Vec<Vault> = (1..=3).map(|n| node(&lock, n)).collect();
    let init = nodes[0].init(InitRequest::new(1, 1)).await.unwrap();
    let key = init.keys[0].expose_secret().to_owned();
    assert!(matches!(
        nodes[1].init(InitRequest::new(1, 1)).await,
        Err(VaultError::AlreadyInitialized)
    ));
    for vault in &nodes {
        vault.unseal(&key).await.unwrap();
    }
    (lock, nodes, init.root_token, key)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_active_standbys_refuse_and_failover_keeps_every_write() {
    let (_lock, nodes, root, key) = cluster().await;
    let first = active_of(&nodes).await;
    for (i, vault) in nodes.iter().enumerate() {
        let status = vault.seal_status().await.unwrap();
        assert!(!status.sealed, "standbys are unsealed too");
        // Standbys learn who is active within a retry interval (from the lock row, checked
        // against the active node's advertisement inside the barrier).
        let mut leader = vault.leader_status().await.unwrap();
        for _ in 0..100 {
            if !leader.leader_address.is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
            leader = vault.leader_status().await.unwrap();
        }
        assert!(leader.ha_enabled);
        assert_eq!(
            leader.leader_address,
            format!("http://127.0.0.{}:8200", first + 1)
        );
        assert_eq!(leader.is_self, i == first);
        assert_eq!(leader.active_time.is_some(), i == first);
        if i != first {
            assert!(vault.is_standby());
            assert!(matches!(
                vault.read(&root, "sys/mounts").await,
                Err(VaultError::Standby)
            ));
            assert_eq!(
                status.cluster_id,
                nodes[first].seal_status().await.unwrap().cluster_id
            );
        }
    }
    let active = &nodes[first];
    active
        .sys()
        .mount(&root, "secret", &MountRequest::new("kv"))
        .await
        .unwrap();
    // A policy written on the first active must be enforced by the next (no stale ACL).
    active
        .write(
            &root,
            "sys/policy/reader",
            json!({"policy": "path \"secret/*\" { capabilities = [\"read\"] }"}),
        )
        .await
        .unwrap();
    let mut written = Vec::new();
    for i in 0..20 {
        active
            .write(&root, &format!("secret/k{i}"), json!({"v": i}))
            .await
            .unwrap();
        written.push(i);
    }
    let members = active.read(&root, "sys/ha-status").await.unwrap();
    let nodes_json = members.data.unwrap()["nodes"].clone();
    assert_eq!(nodes_json.as_array().unwrap().len(), 3, "{nodes_json}");
    // By API address (127.0.0.1, .2, .3): the active node wherever it falls.
    let active_entry = &nodes_json[first];
    assert_eq!(active_entry["active_node"], true, "{nodes_json}");
    assert!(active_entry["last_echo"].is_null());
    assert!(nodes_json[(first + 1) % 3]["last_echo"].is_string());
    // The active seals (as a crash would stop it): another takes over and has everything.
    active.seal().await;
    let second = active_of(&nodes).await;
    assert_ne!(second, first);
    let next = &nodes[second];
    for i in &written {
        let got = next.read(&root, &format!("secret/k{i}")).await.unwrap();
        assert_eq!(got.data.unwrap()["v"], json!(i));
    }
    let policy = next.read(&root, "sys/policy/reader").await.unwrap();
    assert!(
        policy.data.unwrap()["rules"]
            .as_str()
            .unwrap()
            .contains("secret/*")
    );
    // Step-down hands over to the third node; the one that stepped down is a standby.
    nodes[first].unseal(&key).await.unwrap();
    next.write(&root, "sys/step-down", json!({})).await.unwrap();
    // The step-down is asked of the node's loop; it happens within a renewal interval.
    for _ in 0..100 {
        if nodes[second].is_standby() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let third = active_of(&nodes).await;
    assert_ne!(third, second);
    assert!(nodes[second].is_standby());
    nodes[third]
        .write(&root, "secret/after", json!({"v": "x"}))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn step_down_needs_sudo_and_ha_status_needs_a_token() {
    let (_lock, nodes, root, _key) = cluster().await;
    let active = &nodes[active_of(&nodes).await];
    active
        .write(&root, "sys/policy/ops", json!({"policy": "path \"sys/step-down\" { capabilities = [\"update\"] }\npath \"sys/ha-status\" { capabilities = [\"read\"] }"}))
        .await
        .unwrap();
    let token = active
        .write(&root, "auth/token/create", json!({"policies": ["ops"]}))
        .await
        .unwrap()
        .auth
        .unwrap()
        .client_token;
    assert!(matches!(
        active.write(&token, "sys/step-down", json!({})).await,
        Err(VaultError::PermissionDenied)
    ));
    active.read(&token, "sys/ha-status").await.unwrap();
    assert!(matches!(
        active
            .read(&ClientToken::new("s.nope"), "sys/ha-status")
            .await,
        Err(VaultError::PermissionDenied)
    ));
    assert!(!active.is_standby(), "a refused step-down changes nothing");
}

/// The lock taken from under the active (its lease ran out while it could not renew): its next
/// write is refused, not applied, and it turns standby without waiting for its renewal.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_lost_the_lock_cannot_write() {
    let (lock, nodes, root, _key) = cluster().await;
    let first = active_of(&nodes).await;
    let active = &nodes[first];
    active
        .sys()
        .mount(&root, "secret", &MountRequest::new("kv"))
        .await
        .unwrap();
    // Steal the lock: release it at the store (as if the lease ran out) and take it with a
    // handle that is no node of this cluster.
    let thief = lock.handle();
    let epoch = lock.epoch().await;
    thief.release(epoch).await.unwrap();
    let stolen = thief
        .try_acquire(&HaNode::new("thief", "http://x", "http://x"))
        .await
        .unwrap();
    assert!(stolen.is_some());
    // Whoever can write the lock table cannot send the standbys' clients elsewhere: an
    // acquisition without the advertisement inside the barrier is not believed.
    tokio::time::sleep(Duration::from_millis(200)).await;
    for vault in &nodes {
        assert_ne!(vault.active_address().as_deref(), Some("http://x"));
    }
    let refused = active.write(&root, "secret/late", json!({"v": 1})).await;
    assert!(matches!(refused, Err(VaultError::Standby)), "{refused:?}");
    for _ in 0..100 {
        if active.is_standby() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(active.is_standby());
    // Nothing landed under the mount.
    thief.release(stolen.unwrap()).await.unwrap();
    let next = &nodes[active_of(&nodes).await];
    let late = next.read(&root, "secret/late").await.unwrap();
    assert!(late.data.is_none(), "{late:?}");
}

/// An engine whose writes wait, inside the engine, until released.
#[derive(Debug, Default)]
struct Slow {
    entered: tokio::sync::Notify,
    release: tokio::sync::Notify,
}

#[async_trait::async_trait]
impl strongroom_logical::Backend for Slow {
    async fn handle(
        &self,
        ctx: &strongroom_logical::Context,
        request: strongroom_logical::Request,
    ) -> strongroom_logical::Result<strongroom_logical::Response> {
        self.entered.notify_one();
        self.release.notified().await;
        ctx.storage.put(&request.path, b"late".to_vec()).await?;
        Ok(strongroom_logical::Response::empty())
    }
}

/// A request still running from a node's last term cannot write once the node is active
/// again: no new term starts while anything holds the last one's state, and the old request's
/// write meets a closed fence.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_from_an_earlier_term_cannot_write_in_a_later_one() {
    let lock = MemoryHa::new(timing()).unwrap();
    let slow = Arc::new(Slow::default());
    let engine = Arc::clone(&slow);
    let config = HaConfig::new(
        Arc::new(lock.handle()),
        HaNode::new("only", "http://only", "http://only"),
    )
    .step_down_wait(Duration::from_millis(50));
    let vault = Vault::builder_ha(config)
        .engine(
            "slow",
            move |_: &serde_json::Map<String, serde_json::Value>| {
                Ok(Arc::clone(&engine) as Arc<dyn strongroom_logical::Backend>)
            },
        )
        .build()
        .unwrap();
    let init = vault.init(InitRequest::new(1, 1)).await.unwrap();
    vault.unseal(init.keys[0].expose_secret()).await.unwrap();
    let root = init.root_token;
    active_of(std::slice::from_ref(&vault)).await;
    vault
        .write(&root, "sys/mounts/slow", json!({"type": "slow"}))
        .await
        .unwrap();
    let pending = tokio::spawn({
        let (vault, root) = (vault.clone(), root.clone());
        async move { vault.write(&root, "slow/k", json!({})).await }
    });
    slow.entered.notified().await;
    // The term ends under the request (a step-down); the node is the only one, so it would
    // take the lock straight back.
    vault
        .write(&root, "sys/step-down", json!({}))
        .await
        .unwrap();
    for _ in 0..100 {
        if vault.is_standby() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(vault.is_standby());
    // Long past the step-down wait and many retry intervals: still no new term, since the old
    // request holds the last one's state.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        vault.is_standby(),
        "a new term started under a request of the last one"
    );
    slow.release.notify_one();
    let late = pending.await.unwrap();
    assert!(matches!(late, Err(VaultError::Standby)), "{late:?}");
    // Now the node takes the lock again, and the late write is not there.
    active_of(std::slice::from_ref(&vault)).await;
    let keys = lock.unfenced().list("logical/").await.unwrap();
    for folder in keys {
        let inside = lock
            .unfenced()
            .list(&format!("logical/{folder}"))
            .await
            .unwrap();
        assert!(!inside.contains(&"k".to_owned()), "{inside:?}");
    }
}
