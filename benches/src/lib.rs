//! Criterion benches for Strongroom: see `benches/`, `src/bin/versus.rs` and BENCHMARKS.md. This
//! library holds only what the benches share.
//!
//! Every bench measures a baseline in the same run (a raw `BTreeMap`, a raw sqlx query) so the
//! figures in BENCHMARKS.md are ratios, not absolute numbers that depend on the machine.
#![forbid(unsafe_code)]

use strongroom_core::{InitRequest, Vault, VaultError};

/// Initialises `vault` with a single key share, unseals it, and returns the root token.
///
/// # Errors
///
/// What `init` or `unseal` returns.
pub async fn unsealed_root(vault: &Vault) -> Result<String, VaultError> {
    let init = vault.init(InitRequest::new(1, 1)).await?;
    for key in &init.keys {
        vault.unseal(key.expose_secret()).await?;
    }
    Ok(init.root_token.expose_secret().to_owned())
}

/// The resident memory of process `pid` (this process when `None`) in KiB, from `/proc`; 0 where
/// it cannot be read.
pub fn rss_kib(pid: Option<u32>) -> u64 {
    let path = pid.map_or_else(
        || "/proc/self/status".to_owned(),
        |pid| format!("/proc/{pid}/status"),
    );
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}
