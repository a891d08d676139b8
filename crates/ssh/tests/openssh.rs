//! The engine's certificates against real OpenSSH: an `sshd` on a loopback port trusting what
//! `public_key` serves, the real `ssh` client logging in with a certificate from
//! `sign/<role>`, and `ssh-keygen -L` reading each certificate. Refused: a principal not in
//! the certificate, a certificate past its TTL, one signed by another CA, and a TTY without
//! `permit-pty`. Host certificates: `ssh` with `@cert-authority` in known_hosts accepts the
//! host key we signed.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code"
)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};
use strongroom_logical::{Backend, Context, Operation, Request, StorageView};
use strongroom_ssh::Ssh;
use strongroom_storage::MemoryStorage;

const SSHD: &str = "/usr/sbin/sshd";

fn context() -> Context {
    let view = StorageView::new(Arc::new(MemoryStorage::new()), "logical/ssh/").unwrap();
    Context::new(view, "ssh/")
}

async fn write(ssh: &Ssh, ctx: &Context, path: &str, body: Value) -> Map<String, Value> {
    let data = body.as_object().cloned().unwrap_or_default();
    ssh.handle(ctx, Request::new(Operation::Update, path).with_data(data))
        .await
        .unwrap_or_else(|err| panic!("{path}: {err}"))
        .data
        .unwrap_or_default()
}

async fn public_key(ssh: &Ssh, ctx: &Context) -> String {
    let answer = ssh
        .handle(ctx, Request::new(Operation::Read, "public_key"))
        .await
        .unwrap();
    let raw = answer.raw.unwrap();
    assert_eq!(raw.content_type, "text/plain");
    String::from_utf8(raw.body).unwrap()
}

fn run(program: &str, args: &[&str]) -> (bool, String) {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|err| panic!("{program}: {err}"));
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

fn keygen(dir: &Path, name: &str, kind: &str) -> PathBuf {
    let path = dir.join(name);
    let (ok, text) = run(
        "ssh-keygen",
        &[
            "-q",
            "-t",
            kind,
            "-N",
            "",
            "-C",
            "",
            "-f",
            path.to_str().unwrap(),
        ],
    );
    assert!(ok, "{text}");
    path
}

/// An sshd on a free loopback port in `dir`, trusting `ca` for users, with `host_cert` (if
/// any) as its host certificate. Killed when dropped.
struct Sshd {
    child: Child,
    port: u16,
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn sshd(dir: &Path, ca: &str, host_key: &Path, host_cert: Option<&Path>) -> Sshd {
    assert!(
        Path::new(SSHD).exists(),
        "{SSHD} is missing: scripts/services.sh installs openssh-server"
    );
    std::fs::create_dir_all("/run/sshd").unwrap();
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let ca_path = dir.join("trusted_ca.pub");
    std::fs::write(&ca_path, ca).unwrap();
    let mut config = format!(
        "Port {port}\nListenAddress 127.0.0.1\nHostKey {}\nPidFile {}\nTrustedUserCAKeys {}\n\
         AuthorizedKeysFile none\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n\
         PubkeyAuthentication yes\nPermitRootLogin prohibit-password\nUsePAM no\nStrictModes no\n\
         LogLevel VERBOSE\n",
        host_key.display(),
        dir.join("sshd.pid").display(),
        ca_path.display(),
    );
    if let Some(cert) = host_cert {
        config.push_str(&format!("HostCertificate {}\n", cert.display()));
    }
    let config_path = dir.join(format!("sshd_config_{port}"));
    std::fs::write(&config_path, config).unwrap();
    let child = Command::new(SSHD)
        .args(["-D", "-e", "-f", config_path.to_str().unwrap()])
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(dir.join(format!("sshd_{port}.log"))).unwrap())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "sshd did not listen within 10 s");
        std::thread::sleep(Duration::from_millis(50));
    }
    Sshd { child, port }
}

/// `ssh` as `user` with `key` and `cert`, running `command`; `extra` options first.
fn ssh(
    port: u16,
    user: &str,
    key: &Path,
    cert: &Path,
    extra: &[&str],
    command: &str,
) -> (bool, String) {
    let port = port.to_string();
    let cert_option = format!("CertificateFile={}", cert.display());
    let mut args = vec![
        "-F",
        "/dev/null",
        "-o",
        "BatchMode=yes",
        "-o",
        "IdentitiesOnly=yes",
        "-o",
        "ConnectTimeout=10",
        "-o",
        &cert_option,
        "-i",
        key.to_str().unwrap(),
        "-p",
        &port,
    ];
    if !extra.iter().any(|o| o.starts_with("UserKnownHostsFile")) {
        args.extend([
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "UserKnownHostsFile=/dev/null",
        ]);
    }
    for option in extra {
        args.push(option);
    }
    let target = format!("{user}@127.0.0.1");
    args.push(&target);
    args.push(command);
    run("ssh", &args)
}

async fn signed(
    ssh_engine: &Ssh,
    ctx: &Context,
    role: &str,
    key: &Path,
    body: Value,
    dir: &Path,
    name: &str,
) -> PathBuf {
    let public = std::fs::read_to_string(key.with_extension("pub")).unwrap();
    let mut body = body.as_object().cloned().unwrap_or_default();
    body.insert("public_key".into(), json!(public));
    let answer = write(
        ssh_engine,
        ctx,
        &format!("sign/{role}"),
        Value::Object(body),
    )
    .await;
    let signed = answer["signed_key"].as_str().unwrap();
    assert!(signed.ends_with('\n'));
    let path = dir.join(name);
    std::fs::write(&path, signed).unwrap();
    path
}

#[tokio::test]
async fn real_openssh_trusts_our_certificates_and_refuses_what_it_should() {
    for (ca_type, ca_bits) in [("ed25519", 0), ("rsa", 2048), ("ec", 256)] {
        let dir = tempfile::tempdir().unwrap();
        let engine = Ssh::new();
        let ctx = context();
        write(
            &engine,
            &ctx,
            "config/ca",
            json!({"key_type": ca_type, "key_bits": ca_bits}),
        )
        .await;
        write(
            &engine,
            &ctx,
            "roles/user",
            json!({"key_type": "ca", "allow_user_certificates": true,
                   "allowed_users": "root,alice", "default_user": "root",
                   "allowed_extensions": "permit-pty,permit-port-forwarding",
                   "default_extensions": {"permit-pty": ""}, "ttl": "1h", "max_ttl": "24h",
                   "algorithm_signer": if ca_type == "rsa" { "rsa-sha2-256" } else { "default" }}),
        )
        .await;
        let ca = public_key(&engine, &ctx).await;
        let host_key = keygen(dir.path(), "host", "ed25519");
        let server = sshd(dir.path(), &ca, &host_key, None);
        let user_key = keygen(dir.path(), "user", "ed25519");

        // A certificate for root logs in and runs a command.
        let cert = signed(
            &engine,
            &ctx,
            "user",
            &user_key,
            json!({"valid_principals": "root"}),
            dir.path(),
            "root-cert.pub",
        )
        .await;
        let (ok, text) = ssh(server.port, "root", &user_key, &cert, &[], "echo logged-in");
        assert!(ok && text.contains("logged-in"), "{ca_type}: {text}");

        // ssh-keygen -L shows what the role and request asked for.
        let (ok, listing) = run("ssh-keygen", &["-L", "-f", cert.to_str().unwrap()]);
        assert!(ok, "{listing}");
        for expected in [
            "Type: ssh-ed25519-cert-v01@openssh.com user certificate",
            "Principals: \n                root",
            "permit-pty",
            "Critical Options: (none)",
        ] {
            assert!(
                listing.contains(expected),
                "{ca_type}: {expected:?} not in\n{listing}"
            );
        }
        let signer = match ca_type {
            "ed25519" => "Signing CA: ED25519",
            "rsa" => "(using rsa-sha2-256)",
            _ => "Signing CA: ECDSA",
        };
        assert!(listing.contains(signer), "{ca_type}: {listing}");

        // The principal is not the user: refused.
        let alice = signed(
            &engine,
            &ctx,
            "user",
            &user_key,
            json!({"valid_principals": "alice"}),
            dir.path(),
            "alice-cert.pub",
        )
        .await;
        let (ok, text) = ssh(
            server.port,
            "root",
            &user_key,
            &alice,
            &[],
            "echo logged-in",
        );
        assert!(
            !ok && !text.contains("logged-in"),
            "{ca_type}: a certificate for alice logged in as root: {text}"
        );

        // A TTY: allocated with permit-pty, refused without it.
        let (ok, text) = ssh(server.port, "root", &user_key, &cert, &["-tt"], "tty");
        assert!(ok && text.contains("/dev/pts/"), "{ca_type}: {text}");
        write(
            &engine,
            &ctx,
            "roles/nopty",
            json!({"key_type": "ca", "allow_user_certificates": true, "allowed_users": "root",
                   "default_user": "root"}),
        )
        .await;
        let nopty = signed(
            &engine,
            &ctx,
            "nopty",
            &user_key,
            json!({}),
            dir.path(),
            "nopty-cert.pub",
        )
        .await;
        let (_, text) = ssh(server.port, "root", &user_key, &nopty, &["-tt"], "tty");
        assert!(
            text.contains("PTY allocation request failed"),
            "{ca_type}: {text}"
        );

        // The validity: backdated by not_before_duration (30 s) and the role's 1 h after now.
        let valid = listing
            .lines()
            .find_map(|l| l.trim().strip_prefix("Valid: from "))
            .unwrap_or_else(|| panic!("no validity in\n{listing}"));
        let (from, to) = valid.split_once(" to ").unwrap();
        assert_eq!(seconds(to) - seconds(from), 3630, "{valid}");

        if ca_type != "ed25519" {
            continue;
        }
        // A critical option the request asks for is in the certificate, and sshd obeys it.
        write(
            &engine,
            &ctx,
            "roles/forced",
            json!({"key_type": "ca", "allow_user_certificates": true, "allowed_users": "root",
                   "default_user": "root"}),
        )
        .await;
        let forced = signed(
            &engine,
            &ctx,
            "forced",
            &user_key,
            json!({"critical_options": {"force-command": "echo forced-command"}}),
            dir.path(),
            "forced-cert.pub",
        )
        .await;
        let (_, listing) = run("ssh-keygen", &["-L", "-f", forced.to_str().unwrap()]);
        assert!(
            listing.contains("force-command echo forced-command"),
            "{listing}"
        );
        let (ok, text) = ssh(
            server.port,
            "root",
            &user_key,
            &forced,
            &[],
            "echo not-this",
        );
        assert!(
            ok && text.contains("forced-command") && !text.contains("not-this"),
            "{text}"
        );
        // Signed by another CA: refused.
        let other = Ssh::new();
        let other_ctx = context();
        write(
            &other,
            &other_ctx,
            "config/ca",
            json!({"key_type": "ed25519"}),
        )
        .await;
        write(
            &other,
            &other_ctx,
            "roles/user",
            json!({"key_type": "ca", "allow_user_certificates": true, "allowed_users": "root"}),
        )
        .await;
        let foreign = signed(
            &other,
            &other_ctx,
            "user",
            &user_key,
            json!({"valid_principals": "root"}),
            dir.path(),
            "foreign-cert.pub",
        )
        .await;
        let (ok, text) = ssh(
            server.port,
            "root",
            &user_key,
            &foreign,
            &[],
            "echo logged-in",
        );
        assert!(
            !ok && !text.contains("logged-in"),
            "another CA's certificate logged in: {text}"
        );

        // Past its TTL: refused.
        let short = signed(
            &engine,
            &ctx,
            "user",
            &user_key,
            json!({"valid_principals": "root", "ttl": "1s"}),
            dir.path(),
            "short-cert.pub",
        )
        .await;
        tokio::time::sleep(Duration::from_millis(2500)).await;
        let (ok, text) = ssh(
            server.port,
            "root",
            &user_key,
            &short,
            &[],
            "echo logged-in",
        );
        assert!(
            !ok && !text.contains("logged-in"),
            "an expired certificate logged in: {text}"
        );
    }
}

/// `2026-12-07T01:46:00` as seconds since an arbitrary day zero (differences only).
fn seconds(text: &str) -> i64 {
    let (date, time) = text.trim().split_once('T').unwrap();
    let d: Vec<i64> = date.split('-').map(|p| p.parse().unwrap()).collect();
    let t: Vec<i64> = time.split(':').map(|p| p.parse().unwrap()).collect();
    // Days from civil (Howard Hinnant), enough for a difference.
    let (y, m) = if d[1] <= 2 {
        (d[0] - 1, d[1] + 9)
    } else {
        (d[0], d[1] - 3)
    };
    let days = 365 * y + y / 4 - y / 100 + y / 400 + (153 * m + 2) / 5 + d[2];
    days * 86_400 + t[0] * 3600 + t[1] * 60 + t[2]
}

#[tokio::test]
async fn ssh_accepts_a_host_key_we_signed() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Ssh::new();
    let ctx = context();
    write(&engine, &ctx, "config/ca", json!({"key_type": "ed25519"})).await;
    write(
        &engine,
        &ctx,
        "roles/host",
        json!({"key_type": "ca", "allow_host_certificates": true,
               "allowed_domains": "example.com", "allow_subdomains": true}),
    )
    .await;
    write(
        &engine,
        &ctx,
        "roles/user",
        json!({"key_type": "ca", "allow_user_certificates": true, "allowed_users": "root"}),
    )
    .await;
    let ca = public_key(&engine, &ctx).await;
    let host_key = keygen(dir.path(), "host", "ed25519");
    let host_cert = signed(
        &engine,
        &ctx,
        "host",
        &host_key,
        json!({"cert_type": "host", "valid_principals": "sshd.example.com"}),
        dir.path(),
        "host-cert.pub",
    )
    .await;
    let (_, listing) = run("ssh-keygen", &["-L", "-f", host_cert.to_str().unwrap()]);
    assert!(
        listing.contains("host certificate") && listing.contains("sshd.example.com"),
        "{listing}"
    );
    let server = sshd(dir.path(), &ca, &host_key, Some(&host_cert));
    let user_key = keygen(dir.path(), "user", "ed25519");
    let cert = signed(
        &engine,
        &ctx,
        "user",
        &user_key,
        json!({"valid_principals": "root"}),
        dir.path(),
        "user-cert.pub",
    )
    .await;
    let known = dir.path().join("known_hosts");
    std::fs::write(&known, format!("@cert-authority sshd.example.com {ca}")).unwrap();
    let known_option = format!("UserKnownHostsFile={}", known.display());
    let strict = [
        "-o",
        "StrictHostKeyChecking=yes",
        "-o",
        known_option.as_str(),
        "-o",
        "HostKeyAlias=sshd.example.com",
    ];
    let (ok, text) = ssh(
        server.port,
        "root",
        &user_key,
        &cert,
        &strict,
        "echo host-trusted",
    );
    assert!(ok && text.contains("host-trusted"), "{text}");
    // Without our CA in known_hosts the same host is refused.
    std::fs::write(&known, "").unwrap();
    let (ok, text) = ssh(
        server.port,
        "root",
        &user_key,
        &cert,
        &strict,
        "echo host-trusted",
    );
    assert!(!ok && !text.contains("host-trusted"), "{text}");
}

/// Review findings: a role's default critical options bind every certificate (a request can
/// add options but not drop or change `force-command`), and an imported public key must be the
/// private key's.
#[tokio::test]
async fn role_critical_options_bind_and_imports_must_match() {
    let engine = Ssh::new();
    let ctx = context();
    write(&engine, &ctx, "config/ca", json!({"key_type": "ed25519"})).await;
    write(
        &engine,
        &ctx,
        "roles/backup",
        json!({"key_type": "ca", "allow_user_certificates": true, "allowed_users": "root",
               "default_user": "root",
               "default_critical_options": {"force-command": "/usr/bin/backup"}}),
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let user_key = keygen(dir.path(), "user", "ed25519");
    let public = std::fs::read_to_string(user_key.with_extension("pub")).unwrap();
    let refused = engine
        .handle(
            &ctx,
            Request::new(Operation::Update, "sign/backup").with_data(
                json!({"public_key": public, "critical_options": {"force-command": "/bin/sh"}})
                    .as_object()
                    .unwrap()
                    .clone(),
            ),
        )
        .await
        .unwrap_err();
    assert_eq!(
        refused.to_string(),
        "critical option force-command is set by the role and cannot be changed"
    );
    let cert = signed(
        &engine,
        &ctx,
        "backup",
        &user_key,
        json!({"critical_options": {"source-address": "127.0.0.1/32"}}),
        dir.path(),
        "backup-cert.pub",
    )
    .await;
    let (_, listing) = run("ssh-keygen", &["-L", "-f", cert.to_str().unwrap()]);
    assert!(
        listing.contains("force-command /usr/bin/backup")
            && listing.contains("source-address 127.0.0.1/32"),
        "{listing}"
    );

    // An import whose public key is another key's is refused; the matching pair is taken.
    let ca = keygen(dir.path(), "ca", "ed25519");
    let other = keygen(dir.path(), "other", "ed25519");
    let private = std::fs::read_to_string(&ca).unwrap();
    let fresh = Ssh::new();
    let fresh_ctx = context();
    let mismatch = fresh
        .handle(
            &fresh_ctx,
            Request::new(Operation::Update, "config/ca").with_data(
                json!({"private_key": private,
                       "public_key": std::fs::read_to_string(other.with_extension("pub")).unwrap()})
                .as_object()
                .unwrap()
                .clone(),
            ),
        )
        .await
        .unwrap_err();
    assert_eq!(
        mismatch.to_string(),
        "the public_key is not the public half of the private_key"
    );
    let imported = write(
        &fresh,
        &fresh_ctx,
        "config/ca",
        json!({"private_key": private,
               "public_key": std::fs::read_to_string(ca.with_extension("pub")).unwrap()}),
    )
    .await;
    assert!(
        imported["public_key"]
            .as_str()
            .unwrap()
            .starts_with("ssh-ed25519 ")
    );
}
