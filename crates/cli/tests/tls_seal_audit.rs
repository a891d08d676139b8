//! A production-shaped server from a config file: a TLS listener (rustls), auto-unseal through
//! OpenBao's transit engine, and a declared audit device — then a restart that unseals by
//! itself. Driven by the `strongroom` CLI over HTTPS, and by `bao` with `VAULT_CACERT`.
//!
//! Needs the `bao` binary (`scripts/services.sh` installs it). Without it the test says why
//! and passes, unless `STRONGROOM_REQUIRE_SERVICES=1`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code"
)]

mod common;

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::*;

/// Runs the `strongroom` CLI against `https://addr`, trusting `ca`.
fn cli(addr: &str, ca: &Path, token: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_strongroom"))
        .args(args)
        .env("STRONGROOM_ADDR", format!("https://{addr}"))
        .env("STRONGROOM_CACERT", ca)
        .env("STRONGROOM_TOKEN", token)
        .env_remove("VAULT_ADDR")
        .env_remove("VAULT_TOKEN")
        .output()
        .unwrap()
}

fn ok(output: Output) -> String {
    assert!(
        output.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// Waits (20 s at most) until `strongroom status` says unsealed.
fn wait_unsealed(addr: &str, ca: &Path) {
    let started = Instant::now();
    while cli(addr, ca, "", &["status"]).status.code() != Some(0) {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the server did not unseal itself"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn tls_listener_transit_auto_unseal_and_declared_audit() {
    if !bao_available() {
        return;
    }
    // The key service: OpenBao's dev server with a transit key.
    let kms = free_addr();
    let _kms = dev_server_of("bao", &kms);
    let bao = |args: &[&str]| bao_at(&kms, "root", args);
    bao(&["secrets", "enable", "transit"]);
    bao(&["write", "-f", "transit/keys/autounseal"]);

    let dir = tempfile::tempdir().unwrap();
    let certified = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert, certified.cert.pem()).unwrap();
    std::fs::write(&key, certified.signing_key.serialize_pem()).unwrap();
    let audit = dir.path().join("audit.log");
    let addr = free_addr();
    let config = dir.path().join("server.hcl");
    std::fs::write(
        &config,
        format!(
            r#"
storage "sqlite" {{
  path = "{db}"
}}
listener "tcp" {{
  address       = "{addr}"
  tls_cert_file = "{cert}"
  tls_key_file  = "{key}"
}}
seal "transit" {{
  address    = "http://{kms}"
  token      = "root"
  key_name   = "autounseal"
  mount_path = "transit/"
}}
audit "file" "main" {{
  description = "declared in the config"
  options {{
    file_path = "{audit}"
  }}
}}
log_level = "warn"
"#,
            db = dir.path().join("vault.db").display(),
            cert = cert.display(),
            key = key.display(),
            audit = audit.display(),
        ),
    )
    .unwrap();

    let server = config_server(&config, &addr);
    let init: serde_json::Value = serde_json::from_str(&ok(cli(
        &addr,
        &cert,
        "",
        &["operator", "init", "-format=json"],
    )))
    .unwrap();
    assert_eq!(
        init["recovery_keys_b64"].as_array().unwrap().len(),
        5,
        "an auto-unseal vault hands out recovery keys: {init}"
    );
    let root = init["root_token"].as_str().unwrap().to_owned();
    wait_unsealed(&addr, &cert);
    ok(cli(
        &addr,
        &cert,
        &root,
        &["secrets", "enable", "-version=2", "-path=secret", "kv"],
    ));
    ok(cli(
        &addr,
        &cert,
        &root,
        &["kv", "put", "secret/app", "pass=p1"],
    ));

    // The reference CLI over the same TLS listener.
    let bao_get = Command::new("bao")
        .args(["kv", "get", "-field=pass", "secret/app"])
        .env("VAULT_ADDR", format!("https://{addr}"))
        .env("VAULT_CACERT", &cert)
        .env("VAULT_TOKEN", &root)
        .output()
        .unwrap();
    assert_eq!(ok(bao_get), "p1");

    // Plain HTTP, or HTTPS without trusting the certificate, does not get through.
    let plain = Command::new(env!("CARGO_BIN_EXE_strongroom"))
        .args(["status", &format!("-address=http://{addr}")])
        .env_remove("STRONGROOM_CACERT")
        .env_remove("VAULT_CACERT")
        .output()
        .unwrap();
    assert_eq!(plain.status.code(), Some(2));
    let untrusted = Command::new(env!("CARGO_BIN_EXE_strongroom"))
        .args(["status", &format!("-address=https://{addr}")])
        .env_remove("STRONGROOM_CACERT")
        .env_remove("VAULT_CACERT")
        .output()
        .unwrap();
    assert_eq!(untrusted.status.code(), Some(2));

    // The declared device records every request, secrets HMAC'd; it cannot be disabled.
    let listed = ok(cli(&addr, &cert, &root, &["audit", "list", "-format=json"]));
    assert!(listed.contains("declared in the config"), "{listed}");
    let disable = cli(&addr, &cert, &root, &["audit", "disable", "main"]);
    assert_eq!(disable.status.code(), Some(2));
    let lines = std::fs::read_to_string(&audit).unwrap();
    assert!(lines.contains("secret/data/app"), "{lines}");
    assert!(
        !lines.contains("p1\""),
        "a secret value reached the audit log"
    );

    // A restart: the server unseals itself through the key service and serves the secret.
    drop(server);
    let _server = config_server(&config, &addr);
    wait_unsealed(&addr, &cert);
    assert_eq!(
        ok(cli(
            &addr,
            &cert,
            &root,
            &["kv", "get", "-field=pass", "secret/app"]
        )),
        "p1"
    );
    let before = lines.lines().count();
    let after = std::fs::read_to_string(&audit).unwrap().lines().count();
    assert!(
        after > before,
        "the declared device is back after the restart"
    );
}
