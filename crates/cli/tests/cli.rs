//! The `strongroom` client commands, held to the `bao` CLI (OpenBao 2.7.2, Vault's CLI) as
//! the reference: the same script of commands runs with `bao` against one `strongroom server
//! -dev` and with `strongroom` against another, and stdout, stderr and exit codes must match
//! once the values that differ by nature (timestamps, ids, tokens, ports) are masked. Then the
//! operator commands on a server that starts uninitialised, and `strongroom` against OpenBao's
//! own server.
//!
//! Needs the `bao` binary (`scripts/services.sh` installs it). Without it the tests say why and
//! pass, unless `STRONGROOM_REQUIRE_SERVICES=1`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code"
)]

mod common;

use std::io::Write as _;
use std::process::{Command, Output, Stdio};

use common::*;
use regex::Regex;

/// Runs `program args` with `stdin`, `VAULT_ADDR=http://addr` and `VAULT_TOKEN=token`.
fn run(program: &str, addr: &str, token: &str, args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(program)
        .args(args)
        .env("VAULT_ADDR", format!("http://{addr}"))
        .env("VAULT_TOKEN", token)
        .env_remove("BAO_ADDR")
        .env_remove("BAO_TOKEN")
        .env_remove("STRONGROOM_ADDR")
        .env_remove("STRONGROOM_TOKEN")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn strongroom(addr: &str, token: &str, args: &[&str], stdin: &str) -> Output {
    run(env!("CARGO_BIN_EXE_strongroom"), addr, token, args, stdin)
}

/// What a run printed, with the values that differ between two servers masked.
fn masked(output: &Output, addr: &str) -> String {
    let text = format!(
        "stdout:\n{}\nstderr:\n{}\nexit: {:?}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
        output.status.code()
    );
    let masks = [
        (r"\d{4}-\d{2}-\d{2}T[0-9:.]+Z", "TIME"),
        (
            r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
            "UUID",
        ),
        (r"\b(s|hvs|hvb)\.[A-Za-z0-9]{20,}", "TOKEN"),
        (r"\b[A-Za-z0-9]{24}\b", "ID"),
        (r"\b([a-z]+)_[0-9a-f]{8}\b", "${1}_ACCESSOR"),
        // Unix times (a token's creation_time): the two servers start in different seconds.
        (r"\b\d{10}\b", "EPOCH"),
        (r"\bvault-cluster-[0-9a-f]{8}\b", "vault-cluster-ID"),
        // Each CLI names its own server in the warnings banner (the vault CLI says Vault).
        (
            r"warnings were returned from (OpenBao|Vault)",
            "warnings were returned from SERVER",
        ),
    ];
    let mut text = text.replace(addr, "ADDR");
    for (pattern, replacement) in masks {
        text = Regex::new(pattern)
            .unwrap()
            .replace_all(&text, replacement)
            .into_owned();
    }
    text
}

/// One step of the script: arguments and standard input.
type Step = (&'static [&'static str], &'static str);

const POLICY: &str = r#"path "kv1/*" { capabilities = ["read", "list"] }"#;

/// Every client command family, with successes, misses and server-side errors.
const SCRIPT: &[Step] = &[
    (&["status"], ""),
    (&["status", "-format=json"], ""),
    (&["kv", "put", "secret/app", "user=u1", "pass=p1"], ""),
    (&["kv", "put", "-cas=1", "secret/app", "pass=p2"], ""),
    (&["kv", "put", "-cas=1", "secret/app", "pass=p3"], ""),
    (
        &["kv", "put", "secret/app2", "-"],
        r#"{"nested": {"a": [1, 2]}, "n": 5}"#,
    ),
    (&["kv", "get", "secret/app2"], ""),
    (&["kv", "get", "secret/app"], ""),
    (&["kv", "get", "-version=1", "secret/app"], ""),
    (&["kv", "get", "-field=pass", "secret/app"], ""),
    (&["kv", "get", "-format=json", "secret/app"], ""),
    (&["kv", "get", "-mount=secret", "app"], ""),
    (&["kv", "patch", "secret/app", "extra=x"], ""),
    (&["kv", "list", "secret"], ""),
    (&["kv", "list", "-format=json", "secret"], ""),
    (&["kv", "get", "secret/missing"], ""),
    (&["kv", "delete", "secret/app"], ""),
    (&["kv", "undelete", "-versions=3", "secret/app"], ""),
    (&["kv", "destroy", "-versions=1", "secret/app"], ""),
    (&["kv", "get", "-version=1", "secret/app"], ""),
    (
        &[
            "kv",
            "metadata",
            "put",
            "-max-versions=5",
            "-custom-metadata=team=a",
            "secret/app",
        ],
        "",
    ),
    (&["kv", "metadata", "get", "secret/app"], ""),
    (&["kv", "metadata", "get", "-format=json", "secret/app"], ""),
    (&["kv", "metadata", "delete", "secret/app"], ""),
    (&["kv", "get", "secret/app"], ""),
    (
        &["secrets", "enable", "-path=kv1", "-description=first", "kv"],
        "",
    ),
    (&["secrets", "enable", "-path=kv1", "kv"], ""),
    (&["secrets", "enable", "-version=2", "-path=kv2", "kv"], ""),
    (&["secrets", "list"], ""),
    (&["secrets", "tune", "-default-lease-ttl=1h", "kv1"], ""),
    (&["read", "sys/mounts/kv1/tune"], ""),
    (&["write", "kv1/x", "a=b", "c=d"], ""),
    (&["read", "kv1/x"], ""),
    (&["read", "-format=json", "kv1/x"], ""),
    (&["read", "-field=c", "kv1/x"], ""),
    (&["list", "kv1"], ""),
    (&["kv", "put", "kv1/y", "a=1"], ""),
    (&["kv", "get", "kv1/y"], ""),
    (&["kv", "list", "kv1"], ""),
    (&["delete", "kv1/x"], ""),
    (&["read", "kv1/x"], ""),
    (&["list", "kv1/nothing"], ""),
    (&["policy", "write", "reader", "-"], POLICY),
    (&["policy", "read", "reader"], ""),
    (&["policy", "read", "nope"], ""),
    (&["policy", "list"], ""),
    (&["policy", "write", "bad", "-"], "path {"),
    (&["token", "create", "-policy=reader", "-ttl=1h"], ""),
    (
        &[
            "token",
            "create",
            "-policy=reader",
            "-ttl=1h",
            "-format=json",
        ],
        "",
    ),
    (&["token", "lookup"], ""),
    (&["token", "lookup", "-format=json"], ""),
    (&["token", "renew"], ""),
    (&["policy", "delete", "reader"], ""),
    (&["secrets", "disable", "kv1"], ""),
    (&["auth", "list"], ""),
    (&["audit", "list"], ""),
    (&["write", "sys/nope", "a=b"], ""),
    (&["read", "-format=json", "sys/policies/acl/default"], ""),
    (&["operator", "seal"], ""),
    (&["status"], ""),
    (&["kv", "get", "secret/app2"], ""),
];

#[test]
fn client_commands_print_what_the_bao_cli_prints() {
    if !bao_available() {
        return;
    }
    let (bao_addr, ours_addr) = (free_addr(), free_addr());
    let _bao_server = dev_server(&bao_addr);
    let _our_server = dev_server(&ours_addr);
    let mut mismatches = Vec::new();
    for (args, stdin) in SCRIPT {
        let reference = masked(&run("bao", &bao_addr, "root", args, stdin), &bao_addr);
        let ours = masked(&strongroom(&ours_addr, "root", args, stdin), &ours_addr);
        if reference != ours {
            mismatches.push(format!(
                "{args:?}\n--- bao:\n{reference}\n--- strongroom:\n{ours}\n"
            ));
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} of {} commands differ:\n{}",
        mismatches.len(),
        SCRIPT.len(),
        mismatches.join("\n")
    );
}

/// The operator commands on a server that starts uninitialised: init, unseal with progress,
/// root token generation with a quorum, rekey, seal — and the unseal table as `bao` prints it.
#[test]
fn operator_commands_take_a_server_from_init_to_a_new_root_token() {
    if !bao_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let addr = free_addr();
    let config = dir.path().join("server.hcl");
    std::fs::write(
        &config,
        format!(
            "storage \"inmem\" {{}}\nlistener \"tcp\" {{\n  address = \"{addr}\"\n  tls_disable = true\n}}\n"
        ),
    )
    .unwrap();
    let _server = config_server(&config, &addr);
    let ok = |args: &[&str], stdin: &str| {
        let output = strongroom(&addr, "", args, stdin);
        assert!(
            output.status.success(),
            "{args:?}: {}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    };

    assert_eq!(
        strongroom(&addr, "", &["operator", "init", "-status"], "")
            .status
            .code(),
        Some(2)
    );
    assert_eq!(
        strongroom(&addr, "", &["status"], "").status.code(),
        Some(2)
    );
    let init: serde_json::Value = serde_json::from_str(&ok(
        &[
            "operator",
            "init",
            "-key-shares=3",
            "-key-threshold=2",
            "-format=json",
        ],
        "",
    ))
    .unwrap();
    let keys: Vec<String> = init["unseal_keys_b64"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(keys.len(), 3);
    assert_eq!(init["unseal_keys_hex"].as_array().unwrap().len(), 3);
    assert_eq!(
        (
            init["unseal_shares"].as_u64(),
            init["unseal_threshold"].as_u64()
        ),
        (Some(3), Some(2))
    );
    let root = init["root_token"].as_str().unwrap().to_owned();

    // The first share, from stdin: the progress table matches bao's, nonce masked.
    let ours = strongroom(
        &addr,
        "",
        &["operator", "unseal"],
        &format!("{}\n", keys[0]),
    );
    let progress = masked(&ours, &addr);
    assert!(progress.contains("Unseal Progress    1/2"), "{progress}");
    ok(&["operator", "unseal", "-reset"], "");
    let reference = masked(
        &run("bao", &addr, "", &["operator", "unseal", &keys[0]], ""),
        &addr,
    );
    assert_eq!(progress, reference);
    let unsealed = ok(&["operator", "unseal", &keys[1]], "");
    assert!(unsealed.contains("Sealed          false"), "{unsealed}");
    assert_eq!(
        strongroom(&addr, "", &["status"], "").status.code(),
        Some(0)
    );

    let ok_as = |token: &str, program: &str, args: &[&str]| {
        let output = run(program, &addr, token, args, "");
        assert!(
            output.status.success(),
            "{program} {args:?}: {}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    };
    // The quorum ceremonies need a token whose policy grants their paths (OpenBao 2.7's rule).
    let refused = strongroom(&addr, "", &["operator", "generate-root", "-init"], "");
    assert_eq!(refused.status.code(), Some(2), "no token, no ceremony");

    // A new root token from a quorum of shares, decoded with the one-time pad: with our CLI,
    // then with the `bao` CLI unchanged (its `sys/generate-root-token` paths).
    let ours = env!("CARGO_BIN_EXE_strongroom");
    for program in [ours, "bao"] {
        let started: serde_json::Value = serde_json::from_str(&ok_as(
            &root,
            program,
            &["operator", "generate-root", "-init", "-format=json"],
        ))
        .unwrap();
        let nonce = started["nonce"].as_str().unwrap().to_owned();
        let otp = started["otp"].as_str().unwrap().to_owned();
        let mut done = serde_json::Value::Null;
        for key in &keys[..2] {
            done = serde_json::from_str(&ok_as(
                &root,
                program,
                &[
                    "operator",
                    "generate-root",
                    "-format=json",
                    &format!("-nonce={nonce}"),
                    key,
                ],
            ))
            .unwrap();
        }
        assert_eq!(done["complete"], true, "{program}");
        let encoded = done["encoded_token"].as_str().unwrap();
        // `bao` reads the attempt's status first (the pad's length), with the token.
        let new_root = ok_as(
            &root,
            program,
            &[
                "operator",
                "generate-root",
                &format!("-decode={encoded}"),
                &format!("-otp={otp}"),
            ],
        );
        let new_root = new_root.trim();
        assert_ne!(new_root, root);
        let lookup = strongroom(&addr, new_root, &["token", "lookup", "-field=policies"], "");
        assert_eq!(
            String::from_utf8_lossy(&lookup.stdout),
            "[root]",
            "{program}"
        );
    }

    // Rekey with the `bao` CLI (its `operator rekey`, Vault's paths, with the token it sends),
    // to 3 of 2 again, then to 2 of 2 with ours; unseal with the newest shares only.
    let started: serde_json::Value = serde_json::from_str(&ok_as(
        &root,
        "bao",
        &[
            "operator",
            "rekey",
            "-init",
            "-key-shares=3",
            "-key-threshold=2",
            "-format=json",
        ],
    ))
    .unwrap();
    let nonce = format!("-nonce={}", started["nonce"].as_str().unwrap());
    ok_as(
        &root,
        "bao",
        &["operator", "rekey", "-format=json", &nonce, &keys[0]],
    );
    let issued: serde_json::Value = serde_json::from_str(&ok_as(
        &root,
        "bao",
        &["operator", "rekey", "-format=json", &nonce, &keys[1]],
    ))
    .unwrap();
    let keys: Vec<String> = issued["keys_base64"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(keys.len(), 3);
    // And with `bao operator rotate-keys` (OpenBao 2.7's `sys/rotate/root/*`).
    let started: serde_json::Value = serde_json::from_str(&ok_as(
        &root,
        "bao",
        &[
            "operator",
            "rotate-keys",
            "-init",
            "-key-shares=3",
            "-key-threshold=2",
            "-format=json",
        ],
    ))
    .unwrap();
    let nonce = format!("-nonce={}", started["nonce"].as_str().unwrap());
    ok_as(
        &root,
        "bao",
        &["operator", "rotate-keys", "-format=json", &nonce, &keys[0]],
    );
    let issued: serde_json::Value = serde_json::from_str(&ok_as(
        &root,
        "bao",
        &["operator", "rotate-keys", "-format=json", &nonce, &keys[2]],
    ))
    .unwrap();
    let keys: Vec<String> = issued["keys_base64"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(keys.len(), 3);
    let started: serde_json::Value = serde_json::from_str(&ok_as(
        &root,
        ours,
        &[
            "operator",
            "rekey",
            "-init",
            "-key-shares=2",
            "-key-threshold=2",
            "-format=json",
        ],
    ))
    .unwrap();
    let nonce = format!("-nonce={}", started["nonce"].as_str().unwrap());
    ok_as(
        &root,
        ours,
        &["operator", "rekey", "-format=json", &nonce, &keys[0]],
    );
    let issued: serde_json::Value = serde_json::from_str(&ok_as(
        &root,
        ours,
        &["operator", "rekey", "-format=json", &nonce, &keys[1]],
    ))
    .unwrap();
    let new_keys: Vec<&str> = issued["keys_base64"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k.as_str().unwrap())
        .collect();
    assert_eq!(new_keys.len(), 2);
    let sealed = strongroom(&addr, &root, &["operator", "seal"], "");
    assert_eq!(
        String::from_utf8_lossy(&sealed.stdout),
        "Success! Vault is sealed.\n"
    );
    let old = strongroom(&addr, "", &["operator", "unseal", &keys[0]], "");
    assert_eq!(old.status.code(), Some(2), "an old share must be refused");
    ok(&["operator", "unseal", new_keys[0]], "");
    ok(&["operator", "unseal", new_keys[1]], "");
    assert_eq!(
        strongroom(&addr, "", &["status"], "").status.code(),
        Some(0)
    );
}

/// `strongroom` as a client of OpenBao's own dev server: the commands work against the
/// reference server, not only against ours.
#[test]
fn strongroom_cli_works_against_openbao() {
    if !bao_available() {
        return;
    }
    let addr = free_addr();
    let _server = dev_server_of("bao", &addr);
    let ok = |args: &[&str]| {
        let output = strongroom(&addr, "root", args, "");
        assert!(
            output.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    };
    ok(&["kv", "put", "secret/app", "pass=p1"]);
    ok(&["kv", "patch", "secret/app", "user=u"]);
    assert_eq!(ok(&["kv", "get", "-field=pass", "secret/app"]), "p1");
    assert!(ok(&["kv", "metadata", "get", "secret/app"]).contains("current_version"));
    ok(&["secrets", "enable", "-path=kv1", "kv"]);
    ok(&["write", "kv1/x", "a=b"]);
    assert_eq!(ok(&["read", "-field=a", "kv1/x"]), "b");
    let policy = strongroom(&addr, "root", &["policy", "write", "reader", "-"], POLICY);
    assert_eq!(
        String::from_utf8_lossy(&policy.stdout),
        "Success! Uploaded policy: reader\n"
    );
    let token = ok(&["token", "create", "-policy=default", "-field=token"]);
    let lookup = strongroom(&addr, &token, &["token", "lookup", "-format=json"], "");
    let lookup: serde_json::Value = serde_json::from_slice(&lookup.stdout).unwrap();
    assert_eq!(lookup["data"]["policies"], serde_json::json!(["default"]));
}
