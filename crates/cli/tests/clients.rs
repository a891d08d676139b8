//! node-vault 0.12.0 (npm, a Vault client nobody here wrote) against `strongroom server -dev`
//! and OpenBao's `bao server -dev`: compat/clients/node-vault/flows.js runs KV v2, transit,
//! token and approle flows (and response wrapping, where the server has it) and asserts every
//! answer. Passing against OpenBao shows the script encodes Vault's behaviour.
//!
//! Needs `node` and the pinned node-vault (`scripts/services.sh` runs `npm ci`), and `bao` for
//! the OpenBao half; without them the tests say why and pass, unless
//! `STRONGROOM_REQUIRE_SERVICES=1`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code"
)]

mod common;

use std::process::Command;

use common::*;

#[test]
fn node_vault_flows_pass_against_strongroom() {
    node_vault_against(env!("CARGO_BIN_EXE_strongroom"), true);
}

#[test]
fn node_vault_flows_pass_against_openbao_too() {
    if bao_available() {
        node_vault_against("bao", true);
    }
}

fn node_vault_against(program: &str, wrapping: bool) {
    if !node_vault_available() {
        return;
    }
    let addr = free_addr();
    let server = dev_server_of(program, &addr);
    let dir = node_vault_dir();
    let output = Command::new("node")
        .arg(dir.join("flows.js"))
        .args([format!("http://{addr}"), "root".to_owned()])
        .env("WRAPPING", if wrapping { "1" } else { "0" })
        .env_remove("VAULT_ADDR")
        .env_remove("VAULT_TOKEN")
        .env_remove("VAULT_NAMESPACE")
        .current_dir(&dir)
        .output()
        .unwrap();
    drop(server);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "node-vault flows failed against {program}:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("node-vault: all flows passed"),
        "the script ended early:\n{stdout}"
    );
}
