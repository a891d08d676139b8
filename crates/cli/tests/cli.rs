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
    run_env(program, addr, Some(token), None, &[], args, stdin)
}

/// Runs `program args` with `stdin` and `VAULT_ADDR=http://addr`; `VAULT_TOKEN` only when
/// `token` is given, `HOME` set to `home` when given (so `~/.vault-token` is the test's), no
/// `VAULT_CONFIG_PATH` unless in `extra`.
fn run_env(
    program: &str,
    addr: &str,
    token: Option<&str>,
    home: Option<&std::path::Path>,
    extra: &[(&str, &str)],
    args: &[&str],
    stdin: &str,
) -> Output {
    let mut command = Command::new(program);
    command
        .args(args)
        .env("VAULT_ADDR", format!("http://{addr}"))
        .env_remove("VAULT_TOKEN")
        .env_remove("VAULT_CONFIG_PATH")
        .env_remove("VAULT_WRAP_TTL")
        .env_remove("BAO_ADDR")
        .env_remove("BAO_TOKEN")
        .env_remove("BAO_CONFIG_PATH")
        .env_remove("STRONGROOM_ADDR")
        .env_remove("STRONGROOM_TOKEN")
        .env_remove("STRONGROOM_WRAP_TTL");
    if let Some(token) = token {
        command.env("VAULT_TOKEN", token);
    }
    // Without a home of the test's, an empty one: never the runner's own `~/.vault-token`.
    let empty = tempfile::tempdir().unwrap();
    command.env("HOME", home.unwrap_or(empty.path()));
    for (key, value) in extra {
        command.env(key, value);
    }
    let mut child = command
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
        // Go's `time.Time.String()` (a wrapping token's creation time in a table).
        (r"\d{4}-\d{2}-\d{2} [0-9:.]+ \+0000 UTC", "TIME"),
        (
            r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
            "UUID",
        ),
        (r"\b(s|hvs|hvb)\.[A-Za-z0-9]{20,}", "TOKEN"),
        // Batch tokens: `b.` and base64url.
        (r"\bb\.[A-Za-z0-9_-]{20,}", "TOKEN"),
        (r"\b[A-Za-z0-9]{24}\b", "ID"),
        (r"\b([a-z_]+)_[0-9a-f]{8}\b", "${1}_ACCESSOR"),
        // Unix times (a token's creation_time): the two servers start in different seconds.
        (r"\b\d{10}\b", "EPOCH"),
        (r"\bvault-cluster-[0-9a-f]{8}\b", "vault-cluster-ID"),
        // Each CLI names its own server in the warnings banner (the vault CLI says Vault).
        (
            r"warnings were returned from (OpenBao|Vault)",
            "warnings were returned from SERVER",
        ),
    ];
    // What each CLI says in its own name (`bao login` vs `strongroom login`, OpenBao vs
    // Strongroom, BAO_TOKEN vs VAULT_TOKEN): the same paragraphs, wrapped differently. Our
    // words are unit-tested in the binary (`login::tests`, `output::tests`).
    let paragraphs = [
        (
            r"(?s)Success! You are now authenticated\..*?automatically use\s+this token\.",
            "LOGIN-SUCCESS-BANNER",
        ),
        (
            r"(?s)WARNING! The (BAO|VAULT|STRONGROOM)_TOKEN environment\s+variable\s+is\s+set!.*?accordingly\.",
            "ENV-TOKEN-WARNING",
        ),
        (
            r"(?s)The token was not stored in token helper\..*?each request to\s+Vault\.",
            "NOT-STORED-WARNING",
        ),
        (
            r#"(?s)Unknown auth method: (\S+)\. Use "(bao|strongroom) auth\s+list".*?HTTP\s+API\."#,
            "UNKNOWN-METHOD ${1}",
        ),
    ];
    let mut text = text.to_owned();
    for (pattern, replacement) in paragraphs {
        text = Regex::new(pattern)
            .unwrap()
            .replace_all(&text, replacement)
            .into_owned();
    }
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
    // `write -f`: a write without data (Vault's CLI sends a JSON `null` body).
    (&["secrets", "enable", "-path=tr", "transit"], ""),
    (&["write", "-f", "tr/keys/k"], ""),
    (&["read", "-field=type", "tr/keys/k"], ""),
    // The token the CLI would use, and the token method's login without storing it.
    (&["print", "token"], ""),
    (&["login", "-token-only", "root"], ""),
    (&["login", "-format=json", "-no-store", "root"], ""),
    (&["login", "-no-store", "-no-print", "root"], ""),
    (&["login", "nope"], ""),
    (&["login", "-method=bogus"], ""),
    (&["login", "-method=userpass", "password=x"], ""),
    (&["unwrap", "not-a-wrapping-token"], ""),
    // `?help=1` from the server's declarations, printed as bao prints it.
    (&["path-help", "sys/mounts"], ""),
    (&["path-help", "auth/token/lookup"], ""),
    (&["path-help", "-format=json", "auth/token/lookup"], ""),
    (&["path-help", "secret/"], ""),
    (&["path-help", "secret/data/app"], ""),
    (&["path-help", "nope/x"], ""),
    // The cubbyhole, token roles and batch tokens.
    (&["write", "cubbyhole/note", "a=b"], ""),
    (&["read", "cubbyhole/note"], ""),
    (&["list", "cubbyhole"], ""),
    (
        &[
            "write",
            "auth/token/roles/app",
            "allowed_policies=default",
            "orphan=true",
        ],
        "",
    ),
    (&["read", "auth/token/roles/app"], ""),
    (&["list", "auth/token/roles"], ""),
    (&["token", "create", "-role=app", "-ttl=1h"], ""),
    (
        &[
            "token",
            "create",
            "-type=batch",
            "-policy=default",
            "-ttl=1h",
        ],
        "",
    ),
    (&["delete", "auth/token/roles/app"], ""),
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

/// One CLI's side of a comparison: its program, its server, its own home directory (so the
/// token helper's `~/.vault-token` is the test's).
struct Side<'a> {
    program: &'a str,
    addr: &'a str,
    home: &'a std::path::Path,
}

impl Side<'_> {
    fn run(&self, token: Option<&str>, args: &[&str], stdin: &str) -> Output {
        run_env(
            self.program,
            self.addr,
            token,
            Some(self.home),
            &[],
            args,
            stdin,
        )
    }

    fn masked(&self, token: Option<&str>, args: &[&str], stdin: &str) -> String {
        masked(&self.run(token, args, stdin), self.addr)
    }

    fn ok(&self, token: Option<&str>, args: &[&str]) -> String {
        let output = self.run(token, args, "");
        assert!(
            output.status.success(),
            "{} {args:?}: {}\n{}",
            self.program,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    }

    fn token_file(&self) -> std::path::PathBuf {
        self.home.join(".vault-token")
    }
}

fn mode(path: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// Runs each step on both sides and collects the differences.
fn compare(
    reference: &Side<'_>,
    ours: &Side<'_>,
    steps: &[(Option<&str>, &[&str], &str)],
    mismatches: &mut Vec<String>,
) {
    for (token, args, stdin) in steps {
        let want = reference.masked(*token, args, stdin);
        let got = ours.masked(*token, args, stdin);
        if want != got {
            mismatches.push(format!(
                "{args:?} (token {token:?})\n--- {}:\n{want}\n--- strongroom:\n{got}\n",
                reference.program
            ));
        }
    }
}

/// `login` as `bao login` does it, each CLI against its own `strongroom server -dev`: the token
/// and userpass methods, the token stored in `~/.vault-token` (mode 0600) and read back by the
/// next command without `VAULT_TOKEN`, `-no-store`, `-token-only`, the `VAULT_TOKEN` warning,
/// the errors. Then `-method=approle`, which the `bao` CLI has no handler for.
#[test]
fn login_stores_the_token_as_bao_login_does() {
    if !bao_available() {
        return;
    }
    let (bao_addr, ours_addr) = (free_addr(), free_addr());
    let _bao_server = dev_server(&bao_addr);
    let _our_server = dev_server(&ours_addr);
    let (bao_home, our_home) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let bao = Side {
        program: "bao",
        addr: &bao_addr,
        home: bao_home.path(),
    };
    let ours = Side {
        program: env!("CARGO_BIN_EXE_strongroom"),
        addr: &ours_addr,
        home: our_home.path(),
    };
    for side in [&bao, &ours] {
        side.ok(Some("root"), &["auth", "enable", "userpass"]);
        side.ok(
            Some("root"),
            &[
                "write",
                "auth/userpass/users/bob",
                "password=pw",
                "policies=default",
            ],
        );
    }
    let mut mismatches = Vec::new();
    let steps: &[(Option<&str>, &[&str], &str)] = &[
        // No token anywhere: nothing to print, nothing to look up with.
        (None, &["print", "token"], ""),
        (None, &["login", "root"], ""),
        (None, &["print", "token"], ""),
        // The stored token serves the next command.
        (None, &["token", "lookup", "-format=json"], ""),
        (
            None,
            &["login", "-method=userpass", "username=bob", "password=pw"],
            "",
        ),
        (None, &["token", "lookup", "-field=display_name"], ""),
        (
            None,
            &["login", "-method=userpass", "username=bob", "password=bad"],
            "",
        ),
        // No terminal to ask the password on.
        (None, &["login", "-method=userpass", "username=bob"], ""),
        (None, &["login", "-"], "root\n"),
        (None, &["token", "lookup", "-field=policies"], ""),
        // `VAULT_TOKEN` wins over the stored token, and login says so.
        (
            Some("root"),
            &["login", "-method=userpass", "username=bob", "password=pw"],
            "",
        ),
        (Some("root"), &["print", "token"], ""),
        (None, &["token", "lookup", "-field=display_name"], ""),
        (None, &["login", "-no-print", "root"], ""),
        (
            None,
            &[
                "login",
                "-token-only",
                "-method=userpass",
                "username=bob",
                "password=pw",
            ],
            "",
        ),
        (
            None,
            &[
                "login",
                "-no-store",
                "-method=userpass",
                "username=bob",
                "password=pw",
            ],
            "",
        ),
        (None, &["print", "token"], ""),
        (None, &["login", "token=root", "lookup=false"], ""),
        (
            None,
            &[
                "login",
                "-path=nope",
                "-method=userpass",
                "username=bob",
                "password=pw",
            ],
            "",
        ),
    ];
    compare(&bao, &ours, steps, &mut mismatches);
    assert!(
        mismatches.is_empty(),
        "{} of {} login steps differ:\n{}",
        mismatches.len(),
        steps.len(),
        mismatches.join("\n")
    );
    // The file is the token alone, private to its owner, as bao leaves it.
    for side in [&bao, &ours] {
        assert_eq!(std::fs::read_to_string(side.token_file()).unwrap(), "root");
        assert_eq!(mode(&side.token_file()), 0o600, "{}", side.program);
    }

    // approle, which the bao CLI cannot log in with: role_id and secret_id as K=V pairs.
    ours.ok(Some("root"), &["auth", "enable", "approle"]);
    ours.ok(
        Some("root"),
        &["write", "auth/approle/role/app", "token_policies=default"],
    );
    let role_id = ours.ok(
        Some("root"),
        &["read", "-field=role_id", "auth/approle/role/app/role-id"],
    );
    let secret_id = ours.ok(
        Some("root"),
        &[
            "write",
            "-f",
            "-field=secret_id",
            "auth/approle/role/app/secret-id",
        ],
    );
    let login = ours.ok(
        None,
        &[
            "login",
            "-method=approle",
            &format!("role_id={role_id}"),
            &format!("secret_id={secret_id}"),
        ],
    );
    assert!(login.contains("You are now authenticated"), "{login}");
    assert!(
        login
            .lines()
            .any(|l| l.starts_with("token_policies ") && l.ends_with(r#"["default"]"#)),
        "{login}"
    );
    let stored = std::fs::read_to_string(ours.token_file()).unwrap();
    assert!(
        stored.starts_with("s.") || stored.starts_with("hvs."),
        "{stored}"
    );
    assert_eq!(
        ours.ok(None, &["token", "lookup", "-field=display_name"]),
        "approle"
    );
    let refused = ours.run(None, &["login", "-method=approle", "role_id=x"], "");
    assert_eq!(refused.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&refused.stderr)
            .starts_with("Error authenticating: Error making API request."),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    let missing = ours.run(None, &["login", "-method=jwt", "role=r"], "");
    assert_eq!(
        (
            missing.status.code(),
            String::from_utf8_lossy(&missing.stderr).as_ref()
        ),
        (Some(2), "Error authenticating: 'jwt' must be specified\n")
    );
    // `-token` wins over `VAULT_TOKEN`, which wins over the stored token (approle's).
    let bob = ours.ok(
        Some("root"),
        &[
            "write",
            "-field=token",
            "auth/userpass/login/bob",
            "password=pw",
        ],
    );
    assert_eq!(
        ours.ok(
            Some(&bob),
            &["-token=root", "token", "lookup", "-field=policies"]
        ),
        "[root]"
    );
    assert_eq!(
        ours.ok(Some(&bob), &["token", "lookup", "-field=display_name"]),
        "userpass-bob"
    );
    assert_eq!(
        ours.ok(Some(&bob), &["print", "token", "-token=root"]),
        "root\n"
    );
    assert_eq!(
        ours.ok(None, &["version"]),
        format!("Strongroom v{}\n", env!("CARGO_PKG_VERSION"))
    );
    assert_eq!(ours.ok(None, &["-version"]), ours.ok(None, &["version"]));
}

/// `token_helper` in the CLI config (`VAULT_CONFIG_PATH`): both CLIs store the login's token
/// through the external program and read it back from it, and `~/.vault-token` stays unused.
#[test]
fn an_external_token_helper_is_used_as_bao_uses_it() {
    if !bao_available() {
        return;
    }
    let addr = free_addr();
    let _server = dev_server(&addr);
    let ours = env!("CARGO_BIN_EXE_strongroom");
    for program in ["bao", ours] {
        let home = tempfile::tempdir().unwrap();
        let store = home.path().join("kept");
        let helper = home.path().join("helper");
        std::fs::write(
            &helper,
            format!(
                "#!/bin/sh\ncase \"$1\" in\n  get) cat '{0}' 2>/dev/null || true ;;\n  store) cat > '{0}' ;;\n  erase) rm -f '{0}' ;;\nesac\n",
                store.display()
            ),
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o700)).unwrap();
        let config = home.path().join("cli.hcl");
        std::fs::write(
            &config,
            format!("token_helper = \"{}\"\n", helper.display()),
        )
        .unwrap();
        let config = config.display().to_string();
        let env = [
            ("VAULT_CONFIG_PATH", config.as_str()),
            ("BAO_CONFIG_PATH", config.as_str()),
        ];
        let run = |args: &[&str]| run_env(program, &addr, None, Some(home.path()), &env, args, "");
        let login = run(&["login", "root"]);
        assert!(
            login.status.success(),
            "{program}: {}",
            String::from_utf8_lossy(&login.stderr)
        );
        assert_eq!(
            std::fs::read_to_string(&store).unwrap(),
            "root",
            "{program}"
        );
        assert!(!home.path().join(".vault-token").exists(), "{program}");
        let printed = run(&["print", "token"]);
        assert_eq!(
            String::from_utf8_lossy(&printed.stdout),
            "root\n",
            "{program}"
        );
    }
}

/// Response wrapping with OpenBao's own dev server (which wraps): `-wrap-ttl` on reads,
/// listings and token creation prints the wrapping token's table as the `bao` CLI does,
/// `unwrap` (with a token, or with the token in use) prints the answer as `bao unwrap` does, and
/// a wrapped login is unwrapped before it is stored.
#[test]
fn wrapping_and_unwrap_match_bao_against_openbao() {
    if !bao_available() {
        return;
    }
    let addr = free_addr();
    let _server = dev_server_of("bao", &addr);
    let (bao_home, our_home) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let bao = Side {
        program: "bao",
        addr: &addr,
        home: bao_home.path(),
    };
    let ours = Side {
        program: env!("CARGO_BIN_EXE_strongroom"),
        addr: &addr,
        home: our_home.path(),
    };
    assert_wrapping_matches(&bao, &ours);
}

/// The wrapping script: `bao` on its server, `strongroom` on its own (the same server or
/// another), each answer compared once masked; asserts they all match.
fn assert_wrapping_matches(bao: &Side<'_>, ours: &Side<'_>) {
    let servers: Vec<&str> = if bao.addr == ours.addr {
        vec![bao.addr]
    } else {
        vec![bao.addr, ours.addr]
    };
    for addr in servers {
        let setup = |args: &[&str]| {
            let output = run("bao", addr, "root", args, "");
            assert!(output.status.success(), "{args:?}: {output:?}");
        };
        setup(&["kv", "put", "secret/w", "a=1"]);
        setup(&["auth", "enable", "userpass"]);
        setup(&[
            "write",
            "auth/userpass/users/bob",
            "password=pw",
            "policies=default",
        ]);
    }
    let root = Some("root");
    let steps: &[(Option<&str>, &[&str], &str)] = &[
        (root, &["kv", "get", "-wrap-ttl=5m", "secret/w"], ""),
        (
            root,
            &["read", "-wrap-ttl=1h", "-format=json", "secret/data/w"],
            "",
        ),
        (root, &["read", "-wrap-ttl=300", "secret/data/w"], ""),
        (
            root,
            &["read", "-wrap-ttl=5m", "-field=a", "secret/data/w"],
            "",
        ),
        (root, &["list", "-wrap-ttl=5m", "secret/metadata"], ""),
        (
            root,
            &["token", "create", "-wrap-ttl=90s", "-policy=default"],
            "",
        ),
        (
            root,
            &["write", "-wrap-ttl=2m", "sys/wrapping/wrap", "x=y"],
            "",
        ),
        (root, &["unwrap", "s.notawrappingtoken"], ""),
        (root, &["unwrap"], ""),
        (
            None,
            &[
                "login",
                "-wrap-ttl=5m",
                "-no-store",
                "-method=userpass",
                "username=bob",
                "password=pw",
            ],
            "",
        ),
        (
            None,
            &[
                "login",
                "-wrap-ttl=5m",
                "-method=userpass",
                "username=bob",
                "password=pw",
            ],
            "",
        ),
        (None, &["token", "lookup", "-field=display_name"], ""),
    ];
    let mut mismatches = Vec::new();
    compare(bao, ours, steps, &mut mismatches);

    // Unwrapping: each CLI unwraps a wrapping token of its own (they are single-use).
    let wrapped = |addr: &str, args: &[&str]| {
        let mut all = vec!["-wrap-ttl=5m", "-format=json"];
        all.extend_from_slice(args);
        let mut full: Vec<&str> = vec![args[0]];
        full.extend(all.iter().filter(|a| **a != args[0]));
        let out = run("bao", addr, "root", &full, "");
        assert!(out.status.success(), "{full:?}: {out:?}");
        let value: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        value["wrap_info"]["token"].as_str().unwrap().to_owned()
    };
    let unwrap_steps: &[(&[&str], &[&str])] = &[
        (&["read", "secret/data/w"], &[]),
        (&["read", "secret/data/w"], &["-format=json"]),
        (&["read", "secret/data/w"], &["-field=data"]),
        (&["list", "secret/metadata"], &[]),
        (&["write", "auth/userpass/login/bob", "password=pw"], &[]),
        (
            &["write", "auth/userpass/login/bob", "password=pw"],
            &["-field=token"],
        ),
        (&["write", "sys/wrapping/wrap", "x=y"], &[]),
    ];
    for (source, flags) in unwrap_steps {
        let mut outputs = Vec::new();
        for side in [bao, ours] {
            let token = wrapped(side.addr, source);
            let mut args = vec!["unwrap"];
            args.extend_from_slice(flags);
            args.push(&token);
            // With a token of its own (the root token) and the wrapping token as argument.
            outputs.push(side.masked(root, &args, ""));
        }
        if outputs[0] != outputs[1] {
            mismatches.push(format!(
                "unwrap {flags:?} of {source:?}\n--- bao:\n{}\n--- strongroom:\n{}\n",
                outputs[0], outputs[1]
            ));
        }
        // Again with the wrapping token as the only token (no argument).
        let mut outputs = Vec::new();
        for side in [bao, ours] {
            let token = wrapped(side.addr, source);
            let mut args = vec!["unwrap"];
            args.extend_from_slice(flags);
            outputs.push(side.masked(Some(&token), &args, ""));
        }
        if outputs[0] != outputs[1] {
            mismatches.push(format!(
                "unwrap {flags:?} (token in use) of {source:?}\n--- bao:\n{}\n--- strongroom:\n{}\n",
                outputs[0], outputs[1]
            ));
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} wrapping steps differ:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
    // The wrapped login was unwrapped: the stored token is bob's, not the spent wrapping token.
    let stored = std::fs::read_to_string(ours.token_file()).unwrap();
    assert_eq!(
        ours.ok(Some(&stored), &["token", "lookup", "-field=display_name"]),
        "userpass-bob"
    );
    assert_eq!(mode(&ours.token_file()), 0o600);
}

/// The same script with `strongroom` against its own dev server: the server side of response
/// wrapping (`X-Vault-Wrap-TTL`, `sys/wrapping/*`) is being built in core/http for issue 22.
/// Tried merged with it: every step matches but one (see the reason below).
#[test]
fn wrapping_and_unwrap_match_bao_on_our_server() {
    if !bao_available() {
        return;
    }
    let (bao_addr, ours_addr) = (free_addr(), free_addr());
    let _bao_server = dev_server_of("bao", &bao_addr);
    let _our_server = dev_server(&ours_addr);
    let (bao_home, our_home) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let bao = Side {
        program: "bao",
        addr: &bao_addr,
        home: bao_home.path(),
    };
    let ours = Side {
        program: env!("CARGO_BIN_EXE_strongroom"),
        addr: &ours_addr,
        home: our_home.path(),
    };
    assert_wrapping_matches(&bao, &ours);
}

/// A public key PEM and a signed JWT (EdDSA) with `claims`, for `login -method=jwt`.
fn signed_jwt(claims: &serde_json::Value) -> (String, String) {
    use base64ct::Encoding as _;
    use ring::signature::KeyPair as _;
    let pkcs8 =
        ring::signature::Ed25519KeyPair::generate_pkcs8(&ring::rand::SystemRandom::new()).unwrap();
    let key = ring::signature::Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap();
    // The SubjectPublicKeyInfo of an Ed25519 key: a fixed prefix, then the 32 bytes.
    let mut spki = vec![
        0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
    ];
    spki.extend_from_slice(key.public_key().as_ref());
    let pem = format!(
        "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----",
        base64ct::Base64::encode_string(&spki)
    );
    let part = |v: &serde_json::Value| {
        base64ct::Base64UrlUnpadded::encode_string(v.to_string().as_bytes())
    };
    let input = format!(
        "{}.{}",
        part(&serde_json::json!({"alg": "EdDSA", "typ": "JWT"})),
        part(claims)
    );
    let signature = key.sign(input.as_bytes());
    let jwt = format!(
        "{input}.{}",
        base64ct::Base64UrlUnpadded::encode_string(signature.as_ref())
    );
    (pem, jwt)
}

/// `login -method=jwt role=... jwt=...` (and `jwt=-` from standard input), against our server
/// and against OpenBao's: the token is stored and serves the next command.
#[test]
fn jwt_login_stores_the_role_token() {
    if !bao_available() {
        return;
    }
    let ours = env!("CARGO_BIN_EXE_strongroom");
    for server in [ours, "bao"] {
        let addr = free_addr();
        let _server = dev_server_of(server, &addr);
        let home = tempfile::tempdir().unwrap();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let (pem, jwt) = signed_jwt(&serde_json::json!({
            "iss": "https://issuer.example", "sub": "pipeline-7", "aud": "vault",
            "exp": now + 300, "iat": now, "nbf": now - 5,
        }));
        let root = |args: &[&str]| {
            let output = run_env(ours, &addr, Some("root"), Some(home.path()), &[], args, "");
            assert!(
                output.status.success(),
                "{server}: {args:?}: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        };
        root(&["auth", "enable", "jwt"]);
        root(&[
            "write",
            "auth/jwt/config",
            &format!("jwt_validation_pubkeys={pem}"),
            "jwt_supported_algs=EdDSA",
            "bound_issuer=https://issuer.example",
        ]);
        root(&[
            "write",
            "auth/jwt/role/deploy",
            "role_type=jwt",
            "bound_audiences=vault",
            "user_claim=sub",
            "token_policies=default",
        ]);
        let login = run_env(
            ours,
            &addr,
            None,
            Some(home.path()),
            &[],
            &["login", "-method=jwt", "role=deploy", "jwt=-"],
            &jwt,
        );
        let stdout = String::from_utf8_lossy(&login.stdout);
        assert!(
            login.status.success() && stdout.contains("You are now authenticated"),
            "{server}: {stdout}\n{}",
            String::from_utf8_lossy(&login.stderr)
        );
        let stored = std::fs::read_to_string(home.path().join(".vault-token")).unwrap();
        assert!(stdout.contains(&stored), "{server}: {stdout}");
        assert_eq!(mode(&home.path().join(".vault-token")), 0o600);
        let lookup = run_env(
            ours,
            &addr,
            None,
            Some(home.path()),
            &[],
            &["token", "lookup", "-field=display_name"],
            "",
        );
        assert_eq!(
            String::from_utf8_lossy(&lookup.stdout),
            "jwt-pipeline-7",
            "{server}"
        );
        // A tampered token is refused by the server, and nothing is stored.
        let refused = run_env(
            ours,
            &addr,
            None,
            Some(home.path()),
            &[],
            &[
                "login",
                "-method=jwt",
                "role=deploy",
                &format!("jwt={jwt}x"),
            ],
            "",
        );
        assert_eq!(refused.status.code(), Some(2), "{server}");
        assert_eq!(
            std::fs::read_to_string(home.path().join(".vault-token")).unwrap(),
            stored
        );
    }
}

/// The SSH engine through the generic commands, as `bao` users drive it: `write
/// ssh/sign/<role> public_key=@file` signs a key with both our CLI and the real `bao` CLI
/// against our server, and `ssh-keygen -L` reads what each got.
#[test]
fn ssh_keys_are_signed_through_the_generic_write_command() {
    let addr = free_addr();
    let _server = dev_server(&addr);
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("id");
    let made = Command::new("ssh-keygen")
        .args([
            "-q",
            "-t",
            "ed25519",
            "-N",
            "",
            "-C",
            "",
            "-f",
            key.to_str().unwrap(),
        ])
        .status()
        .unwrap();
    assert!(made.success());
    let public = format!("public_key=@{}.pub", key.display());
    let setup: [&[&str]; 3] = [
        &["secrets", "enable", "ssh"],
        &["write", "ssh/config/ca", "key_type=ed25519"],
        &[
            "write",
            "ssh/roles/user",
            "key_type=ca",
            "allow_user_certificates=true",
            "allowed_users=root",
        ],
    ];
    for args in setup {
        let out = strongroom(&addr, "root", args, "");
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let mut programs = vec![env!("CARGO_BIN_EXE_strongroom")];
    if bao_available() {
        programs.push("bao");
    }
    for program in programs {
        let args = [
            "write",
            "-field=signed_key",
            "ssh/sign/user",
            public.as_str(),
            "valid_principals=root",
        ];
        let out = run(program, &addr, "root", &args, "");
        assert!(
            out.status.success(),
            "{program}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let cert = dir
            .path()
            .join(format!("{}-cert.pub", program.rsplit('/').next().unwrap()));
        std::fs::write(&cert, &out.stdout).unwrap();
        let listing = Command::new("ssh-keygen")
            .args(["-L", "-f", cert.to_str().unwrap()])
            .output()
            .unwrap();
        let listing = String::from_utf8_lossy(&listing.stdout);
        assert!(
            listing.contains("ssh-ed25519-cert-v01@openssh.com user certificate")
                && listing.contains("Principals: \n                root"),
            "{program}: {listing}"
        );
    }
    // The CA's public key, as `TrustedUserCAKeys` wants it.
    let out = strongroom(
        &addr,
        "root",
        &["read", "-field=public_key", "ssh/config/ca"],
        "",
    );
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("ssh-ed25519 AAAA"));
}
