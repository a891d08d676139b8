//! Split brain is impossible: three embedded nodes run their real HA loops over one in-memory
//! lock, on a paused runtime clock (so virtual seconds pass in microseconds), while each node
//! is frozen at random moments for random lengths (a stop of the world, a partition from the
//! store) at every call it makes to the lock and the store. Sampled every few virtual
//! milliseconds, at most one node considers itself active; every write a node acknowledged is
//! in the store at the end; and once the pauses are over, one node is active again.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code"
)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use proptest::prelude::*;
use serde_json::json;
use strongroom_core::{ClientToken, HaConfig, InitRequest, MountRequest, Vault};
use strongroom_storage::{
    HaLeader, HaLock, HaNode, HaObservation, HaPeer, HaTiming, MemoryHa, Op,
    Result as StorageResult, Storage,
};
use tokio::time::Instant;

/// When a node is frozen: windows of virtual time since the start.
#[derive(Clone, Debug)]
struct Pauses {
    start: Instant,
    windows: Vec<(Duration, Duration)>,
}

impl Pauses {
    /// Waits out the window the node is in, if any.
    async fn gate(&self) {
        loop {
            let now = self.start.elapsed();
            match self
                .windows
                .iter()
                .find(|(from, length)| now >= *from && now < *from + *length)
            {
                Some((from, length)) => tokio::time::sleep(*from + *length - now).await,
                None => return,
            }
        }
    }
}

/// A node's view of the lock and the store, frozen during its pauses: before a call reaches
/// the store and after its answer comes back.
#[derive(Debug)]
struct Paused {
    inner: MemoryHa,
    pauses: Arc<Pauses>,
}

#[derive(Debug)]
struct PausedStore {
    inner: Arc<dyn Storage>,
    pauses: Arc<Pauses>,
}

macro_rules! gated {
    ($self:ident, $call:expr) => {{
        $self.pauses.gate().await;
        let out = $call;
        $self.pauses.gate().await;
        out
    }};
}

#[async_trait]
impl Storage for PausedStore {
    async fn get(&self, key: &str) -> StorageResult<Option<Vec<u8>>> {
        gated!(self, self.inner.get(key).await)
    }
    async fn put(&self, key: &str, value: Vec<u8>) -> StorageResult<()> {
        gated!(self, self.inner.put(key, value).await)
    }
    async fn delete(&self, key: &str) -> StorageResult<()> {
        gated!(self, self.inner.delete(key).await)
    }
    async fn list(&self, prefix: &str) -> StorageResult<Vec<String>> {
        gated!(self, self.inner.list(prefix).await)
    }
    async fn transaction(&self, ops: Vec<Op>) -> StorageResult<()> {
        gated!(self, self.inner.transaction(ops).await)
    }
}

#[async_trait]
impl HaLock for Paused {
    fn timing(&self) -> HaTiming {
        self.inner.timing()
    }
    fn fenced(&self) -> Arc<dyn Storage> {
        Arc::new(PausedStore {
            inner: self.inner.fenced(),
            pauses: Arc::clone(&self.pauses),
        })
    }
    fn unfenced(&self) -> Arc<dyn Storage> {
        Arc::new(PausedStore {
            inner: self.inner.unfenced(),
            pauses: Arc::clone(&self.pauses),
        })
    }
    async fn try_acquire(&self, node: &HaNode) -> StorageResult<Option<u64>> {
        gated!(self, self.inner.try_acquire(node).await)
    }
    async fn renew(&self, epoch: u64) -> StorageResult<bool> {
        gated!(self, self.inner.renew(epoch).await)
    }
    async fn release(&self, epoch: u64) -> StorageResult<()> {
        gated!(self, self.inner.release(epoch).await)
    }
    fn close_fence(&self) {
        self.inner.close_fence();
    }
    fn held(&self) -> Option<u64> {
        self.inner.held()
    }
    async fn lost(&self) {
        self.inner.lost().await;
    }
    async fn observe(&self) -> StorageResult<Option<HaObservation>> {
        gated!(self, self.inner.observe().await)
    }
    async fn leader(&self) -> StorageResult<Option<HaLeader>> {
        gated!(self, self.inner.leader().await)
    }
    async fn announce(&self, epoch: u64) -> StorageResult<()> {
        gated!(self, self.inner.announce(epoch).await)
    }
    fn changes(&self) -> tokio::sync::broadcast::Receiver<strongroom_storage::HaChange> {
        self.inner.changes()
    }
    async fn heartbeat(&self, node: &HaNode) -> StorageResult<()> {
        gated!(self, self.inner.heartbeat(node).await)
    }
    async fn peers(&self, within: Duration) -> StorageResult<Vec<HaPeer>> {
        gated!(self, self.inner.peers(within).await)
    }
}

fn timing() -> HaTiming {
    HaTiming::default()
        .lease(Duration::from_millis(1000))
        .renew_interval(Duration::from_millis(200))
        .retry_interval(Duration::from_millis(100))
}

/// Up to four pauses per node in the first 12 virtual seconds, each 1 ms to 4 s long (so some
/// outlast the lease and some do not).
fn schedules() -> impl Strategy<Value = Vec<Vec<(u64, u64)>>> {
    prop::collection::vec(
        prop::collection::vec((0_u64..12_000, 1_u64..4_000), 0..=4),
        3,
    )
}

async fn simulate(schedule: Vec<Vec<(u64, u64)>>) {
    let start = Instant::now();
    let clock_start = start;
    let lock = MemoryHa::with_clock(timing(), Arc::new(move || clock_start.elapsed())).unwrap();
    let mut nodes = Vec::new();
    for (n, windows) in schedule.iter().enumerate() {
        let pauses = Arc::new(Pauses {
            start,
            windows: windows
                .iter()
                .map(|&(from, length)| (Duration::from_millis(from), Duration::from_millis(length)))
                .collect(),
        });
        let lock = Paused {
            inner: lock.handle(),
            pauses,
        };
        let node = HaNode::new(
            format!("n{n}"),
            format!("http://n{n}"),
            format!("http://n{n}"),
        );
        let config = HaConfig::new(Arc::new(lock), node).step_down_wait(Duration::from_millis(300));
        nodes.push(Vault::builder_ha(config).build().unwrap());
    }
    // Init and unseal before any pause can start (pauses begin at 0 but these are the first
    // calls; a node frozen at 0 simply unseals later).
    let init = nodes[0].init(InitRequest::new(1, 1)).await.unwrap();
    let key = init.keys[0].expose_secret().to_owned();
    let root: ClientToken = init.root_token;
    for vault in &nodes {
        vault.unseal(&key).await.unwrap();
    }
    // A mount, once some node is active.
    let mut mounted = false;
    while !mounted {
        for vault in &nodes {
            if !vault.is_standby()
                && vault
                    .sys()
                    .mount(&root, "kv", &MountRequest::new("kv"))
                    .await
                    .is_ok()
            {
                mounted = true;
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // A writer per node, writing through the node's own pipeline.
    let acked: Arc<Mutex<Vec<String>>> = Arc::default();
    let mut writers = Vec::new();
    for (n, vault) in nodes.iter().enumerate() {
        let (vault, acked, root) = (vault.clone(), Arc::clone(&acked), root.clone());
        writers.push(tokio::spawn(async move {
            for i in 0..u32::MAX {
                if start.elapsed() > Duration::from_secs(17) {
                    return;
                }
                let key = format!("kv/n{n}-{i}");
                if vault.write(&root, &key, json!({"i": i})).await.is_ok() {
                    acked.lock().unwrap().push(key);
                }
                tokio::time::sleep(Duration::from_millis(7)).await;
            }
        }));
    }
    // The sampler: never two nodes active at once.
    let mut seen_active = 0;
    while start.elapsed() < Duration::from_secs(18) {
        let active: Vec<usize> = (0..nodes.len())
            .filter(|&n| !nodes[n].is_standby())
            .collect();
        assert!(
            active.len() <= 1,
            "split brain at {:?}: nodes {active:?} both active",
            start.elapsed()
        );
        seen_active += active.len();
        tokio::time::sleep(Duration::from_millis(3)).await;
    }
    for writer in writers {
        writer.await.unwrap();
    }
    assert!(seen_active > 0);
    // After the last pause (at most 16 s in), one node is active again and has every
    // acknowledged write.
    let active = loop {
        if let Some(vault) = nodes.iter().find(|v| !v.is_standby()) {
            break vault.clone();
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "no node became active again"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    let acked = acked.lock().unwrap().clone();
    for key in &acked {
        let read = active.read(&root, key).await.unwrap();
        assert!(read.data.is_some(), "acknowledged {key} is missing");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn no_two_nodes_are_ever_active_at_once(schedule in schedules()) {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .unwrap()
            .block_on(simulate(schedule));
    }
}
