//! `sys/host-info` answers in Vault's shape, with real values read from the host.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code"
)]

mod common;

use strongroom_core::Vault;
use strongroom_storage::MemoryStorage;

#[tokio::test]
async fn host_info_describes_this_host() {
    let vault = Vault::builder(MemoryStorage::new()).build().unwrap();
    let (root, _) = common::unsealed_with(&vault, "kv").await;
    let data = vault
        .read(&root, "sys/host-info")
        .await
        .unwrap()
        .data
        .unwrap();
    for key in ["cpu", "cpu_times", "disk", "host", "memory", "timestamp"] {
        assert!(data.contains_key(key), "{key} missing");
    }
    if cfg!(target_os = "linux") {
        let cpus = data["cpu"].as_array().unwrap();
        assert_eq!(cpus.len(), data["cpu_times"].as_array().unwrap().len());
        assert!(!cpus.is_empty());
        assert!(data["memory"]["total"].as_u64().unwrap() > 0);
        assert!(data["disk"][0]["total"].as_u64().unwrap() > 0);
        assert_eq!(data["host"]["os"], "linux");
        assert!(!data["host"]["hostname"].as_str().unwrap().is_empty());
        assert!(data["host"]["uptime"].as_u64().unwrap() > 0);
    }
}
