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

mod common;

use std::process::Command;

use common::*;

#[test]
fn dev_server_works_with_hvac() {
    hvac_suite_against(env!("CARGO_BIN_EXE_strongroom"));
}

/// The same hvac suite against OpenBao's dev server: the suite encodes Vault's behaviour.
#[test]
fn the_hvac_suite_passes_against_openbao_too() {
    if bao_available() {
        hvac_suite_against("bao");
    }
}

fn hvac_suite_against(program: &str) {
    if !hvac_available() {
        return;
    }
    let addr = free_addr();
    let server = dev_server_of(program, &addr);
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/hvac_smoke.py");
    let mut args = vec![
        script.to_owned(),
        format!("http://{addr}"),
        "root".to_owned(),
    ];
    // With PostgreSQL at hand, the suite also checks the database engine (sslmode=disable is
    // for OpenBao's plugin; sqlx reads it too).
    if let Ok(url) = std::env::var("STRONGROOM_TEST_POSTGRES_URL") {
        let separator = if url.contains('?') { '&' } else { '?' };
        args.push(format!("{url}{separator}sslmode=disable"));
    }
    let output = Command::new("python3").args(&args).output().unwrap();
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
    if !bao_available() {
        return;
    }
    let addr = free_addr();
    let _server = dev_server(&addr);
    let bao = |args: &[&str]| bao_at(&addr, "root", args);
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

/// A Vault-style HCL config with PostgreSQL storage and two listeners, driven by the `bao`
/// CLI as an operator would: init and unseal through one listener, write a secret through the
/// other, restart the server, unseal again and read the secret back from the database.
#[test]
fn config_file_server_on_postgresql_survives_a_restart() {
    let Ok(url) = std::env::var("STRONGROOM_TEST_POSTGRES_URL") else {
        assert!(
            std::env::var("STRONGROOM_REQUIRE_SERVICES").as_deref() != Ok("1"),
            "STRONGROOM_REQUIRE_SERVICES=1 but STRONGROOM_TEST_POSTGRES_URL is not set"
        );
        eprintln!("skipped: STRONGROOM_TEST_POSTGRES_URL is not set");
        return;
    };
    if !bao_available() {
        return;
    }
    // A fresh table named after the test, so reruns replace it instead of piling up tables.
    let table = "strongroom_test_cli_config";
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let pool = sqlx::PgPool::connect(&url).await.unwrap();
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP TABLE IF EXISTS \"{table}\""
        )))
        .execute(&pool)
        .await
        .unwrap();
        pool.close().await;
    });

    let (a, b) = (free_addr(), free_addr());
    let dir = std::env::temp_dir().join(format!("strongroom-cli-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("server.hcl");
    std::fs::write(
        &config,
        format!(
            r#"
ui = true
storage "postgresql" {{
  connection_url = "{url}"
  table          = "{table}"
}}
listener "tcp" {{
  address     = "{a}"
  tls_disable = true
}}
listener "tcp" {{
  address     = "{b}"
  tls_disable = "true"
}}
"#
        ),
    )
    .unwrap();
    let bao = bao_at;

    let server = config_server(&config, &a);
    let init = bao(
        &a,
        "",
        &[
            "operator",
            "init",
            "-key-shares=1",
            "-key-threshold=1",
            "-format=json",
        ],
    );
    let init: serde_json::Value = serde_json::from_str(&init).unwrap();
    let key = init["unseal_keys_b64"][0].as_str().unwrap().to_owned();
    let root = init["root_token"].as_str().unwrap().to_owned();
    bao(&a, "", &["operator", "unseal", &key]);
    bao(
        &b,
        &root,
        &["secrets", "enable", "-path=secret", "-version=2", "kv"],
    );
    bao(&b, &root, &["kv", "put", "secret/app", "pass=from-config"]);
    drop(server);

    let _server = config_server(&config, &b);
    // Sealed again after the restart (the root key is never stored in the clear), which
    // `strongroom status` reports as `vault status` does: exit code 2.
    let status = |format: &str| {
        Command::new(env!("CARGO_BIN_EXE_strongroom"))
            .args(["status", &format!("-format={format}")])
            .env("STRONGROOM_ADDR", format!("http://{b}"))
            .env_remove("STRONGROOM_TOKEN")
            .env_remove("VAULT_TOKEN")
            .output()
            .unwrap()
    };
    let sealed = status("json");
    assert_eq!(sealed.status.code(), Some(2), "{sealed:?}");
    let json: serde_json::Value = serde_json::from_slice(&sealed.stdout).unwrap();
    assert_eq!(json["sealed"], true, "{json}");
    assert_eq!(json["initialized"], true, "{json}");
    assert_eq!(json["t"], 1, "{json}");
    bao(&b, "", &["operator", "unseal", &key]);
    let unsealed = status("table");
    assert_eq!(unsealed.status.code(), Some(0), "{unsealed:?}");
    let table = String::from_utf8_lossy(&unsealed.stdout);
    assert!(
        table
            .lines()
            .any(|l| l.split_whitespace().eq(["Sealed", "false"])),
        "{table}"
    );
    assert_eq!(
        bao(&a, &root, &["kv", "get", "-field=pass", "secret/app"]),
        "from-config"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A config error stops the server before it listens, naming the file, line and field.
#[test]
fn a_bad_config_file_is_refused_with_its_line() {
    let dir = std::env::temp_dir().join(format!("strongroom-cli-badconfig-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("bad.hcl");
    let db = dir.join("x.db");
    std::fs::write(
        &config,
        format!("storage \"sqlite\" {{\n  path = \"{}\"\n}}\nlistener \"tcp\" {{\n  address = \"127.0.0.1:1\"\n  tls_cert_file = \"cert.pem\"\n  tls_disable = true\n}}\n", db.display()),
    )
    .unwrap();
    // Bounded: a server that wrongly accepted the file would otherwise serve forever.
    let mut child = Command::new(env!("CARGO_BIN_EXE_strongroom"))
        .args(["server", &format!("-config={}", config.display())])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > std::time::Duration::from_secs(20) {
            let _ = child.kill();
            panic!("the server accepted a bad config file and kept running");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let output = child.wait_with_output().unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!("{}:6:3:", config.display())) && stderr.contains("tls_cert_file"),
        "{stderr}"
    );
    assert!(!db.exists(), "storage opened despite the bad config");
    let _ = std::fs::remove_dir_all(&dir);
}

/// `strongroom run` against a dev server: KV v2 and v1 secrets become the command's
/// environment (a later path wins), the exit code comes back, and errors name the path
/// without printing a value.
#[test]
fn run_injects_secrets_and_passes_the_exit_code_through() {
    if !bao_available() {
        return;
    }
    let addr = free_addr();
    let _server = dev_server(&addr);
    bao_at(
        &addr,
        "root",
        &[
            "kv",
            "put",
            "secret/app",
            "DB_PASS=s3cret word",
            "PORT=5432",
        ],
    );
    bao_at(
        &addr,
        "root",
        &["secrets", "enable", "-path=kv1", "-version=1", "kv"],
    );
    bao_at(
        &addr,
        "root",
        &["kv", "put", "kv1/shared", "PORT=6543", "REGION=eu"],
    );
    bao_at(&addr, "root", &["kv", "put", "secret/bad", "not-a-name=x"]);

    let run = |token: &str, args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_strongroom"))
            .arg("run")
            .args(args)
            .env("VAULT_ADDR", format!("http://{addr}"))
            .env("VAULT_TOKEN", token)
            .env_remove("STRONGROOM_ADDR")
            .env_remove("STRONGROOM_TOKEN")
            .output()
            .unwrap()
    };
    let out = run(
        "root",
        &[
            "-path=secret/app",
            "--path",
            "kv1/shared",
            "--",
            "sh",
            "-c",
            r#"test "$DB_PASS" = "s3cret word" && test "$PORT" = 6543 && test "$REGION" = eu && echo ok && exit 7"#,
        ],
    );
    assert_eq!(out.status.code(), Some(7), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "ok");

    let out = run("root", &["--path", "secret/missing", "--", "true"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("secret/missing"), "{stderr}");

    let out = run("root", &["--path", "secret/bad", "--", "true"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("not-a-name") && !stderr.contains("=x"),
        "{stderr}"
    );

    // The caller's token is not the command's: neither spelling reaches it.
    let out = Command::new(env!("CARGO_BIN_EXE_strongroom"))
        .args(["run", "--path", "secret/app", "--", "sh", "-c"])
        .arg(r#"echo "${VAULT_TOKEN:-none} ${STRONGROOM_TOKEN:-none} $PORT""#)
        .env("VAULT_ADDR", format!("http://{addr}"))
        .env("VAULT_TOKEN", "root")
        .env("STRONGROOM_TOKEN", "root")
        .env_remove("STRONGROOM_ADDR")
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "none none 5432"
    );

    // A secret may not point the loader or an interpreter elsewhere unless the caller allows it.
    bao_at(
        &addr,
        "root",
        &[
            "kv",
            "put",
            "secret/loader",
            "LD_PRELOAD=/tmp/evil.so",
            "PORT=1",
        ],
    );
    bao_at(
        &addr,
        "root",
        &["kv", "put", "secret/path", "PATH=/tmp/evil"],
    );
    for secret in ["secret/loader", "secret/path"] {
        let out = run("root", &["--path", secret, "--", "true"]);
        assert!(!out.status.success(), "{secret}: {out:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("--allow-env"), "{stderr}");
        assert!(!stderr.contains("/tmp/evil"), "{stderr}");
    }
    let out = run(
        "root",
        &[
            "--path",
            "secret/loader",
            "--allow-env",
            "LD_PRELOAD",
            "--",
            "sh",
            "-c",
            r#"echo "$PORT""#,
        ],
    );
    // The allowed variable is set (the loader then warns that the library is missing; the
    // command still runs).
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "1", "{out:?}");

    let out = run("not-a-token", &["--path", "secret/app", "--", "true"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("403") && !stderr.contains("s3cret"),
        "{stderr}"
    );
}
