//! Audit through the public API: a line for every request and response, nothing secret in the
//! clear, fail-closed, hung devices bounded, and file devices confined to the allowed directory.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code"
)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use serde_json::{Value, json};
use strongroom_core::{AuditDevice, InitRequest, Vault, VaultError};
use strongroom_storage::MemoryStorage;

async fn unsealed(builder: strongroom_core::VaultBuilder) -> (Vault, String, Vec<String>) {
    let vault = builder.build().unwrap();
    let init = vault.init(InitRequest::new(1, 1)).await.unwrap();
    let keys: Vec<String> = init
        .keys
        .iter()
        .map(|k| k.expose_secret().to_owned())
        .collect();
    vault.unseal(&keys[0]).await.unwrap();
    (vault, init.root_token.expose_secret().to_owned(), keys)
}

/// Every entry but the device's test entry (Vault's: a request entry for `sys/audit/test`).
fn lines(path: &std::path::Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .filter(|v: &Value| v["request"]["path"] != "sys/audit/test")
        .collect()
}

#[tokio::test]
async fn every_request_is_audited_and_nothing_secret_is_in_clear() {
    let dir = tempfile::tempdir().unwrap();
    let (vault, root, _) =
        unsealed(Vault::builder(MemoryStorage::new()).audit_dir(dir.path())).await;
    let log = dir.path().join("audit.log");
    vault
        .write(
            &root,
            "sys/audit/file",
            json!({"type": "file", "options": {"file_path": log.to_str().unwrap()}}),
        )
        .await
        .unwrap();
    // The first line is Vault's test entry: a request entry like every other line.
    let text = std::fs::read_to_string(&log).unwrap();
    let first: Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    assert_eq!(first["type"], "request");
    assert_eq!(first["request"]["path"], "sys/audit/test");
    assert_eq!(first["request"]["operation"], "update");
    assert!(
        first["time"].is_string() && first["auth"].is_object(),
        "{first}"
    );
    vault
        .write(&root, "sys/mounts/secret", json!({"type": "kv"}))
        .await
        .unwrap();
    vault
        .write(
            &root,
            "secret/db",
            json!({"password": "CANARY-pw-8f2e", "nested": {"k": "CANARY-nested"}}),
        )
        .await
        .unwrap();
    let read = vault.read(&root, "secret/db").await.unwrap();
    assert_eq!(read.data.unwrap()["password"], "CANARY-pw-8f2e");
    let child = vault
        .write(&root, "auth/token/create", json!({"policies": ["default"]}))
        .await
        .unwrap()
        .auth
        .unwrap()
        .client_token;
    let denied = vault.read(&child, "secret/db").await.unwrap_err();
    assert!(matches!(denied, VaultError::PermissionDenied));

    let entries = lines(&log);
    // 5 requests after the device was enabled (mount, write, read, create, denied read):
    // a request and a response line each, except the denied one (request line only).
    let requests = entries.iter().filter(|e| e["type"] == "request").count();
    let responses = entries.iter().filter(|e| e["type"] == "response").count();
    assert_eq!((requests, responses), (5, 4), "{entries:#?}");
    let text = std::fs::read_to_string(&log).unwrap();
    for secret in ["CANARY", &root, child.expose_secret()] {
        assert!(!text.contains(secret), "{secret} in the audit log");
    }
    // The denied request is recorded with its error.
    let last = entries.last().unwrap();
    assert_eq!(last["error"], "permission denied");
    assert_eq!(last["request"]["path"], "secret/db");
    // sys/audit-hash gives the same hash as the log.
    let hash = vault
        .write(
            &root,
            "sys/audit-hash/file",
            json!({"input": "CANARY-pw-8f2e"}),
        )
        .await
        .unwrap()
        .data
        .unwrap()["hash"]
        .clone();
    let write_line = entries
        .iter()
        .find(|e| {
            e["type"] == "request"
                && e["request"]["path"] == "secret/db"
                && e["request"]["operation"] == "update"
        })
        .unwrap();
    assert_eq!(write_line["request"]["data"]["password"], hash);
    // Vault's mount fields, in the request and in the response entry.
    assert_eq!(write_line["request"]["mount_type"], "kv");
    assert_eq!(write_line["request"]["mount_point"], "secret/");
    assert_eq!(write_line["request"]["mount_class"], "secret");
    assert!(
        write_line["request"]["mount_accessor"]
            .as_str()
            .unwrap()
            .starts_with("kv_")
    );
    let answered = entries
        .iter()
        .find(|e| e["type"] == "response" && e["request"]["path"] == "secret/db")
        .unwrap();
    assert_eq!(answered["response"]["mount_type"], "kv");
    let token_entry = entries
        .iter()
        .find(|e| e["request"]["path"] == "auth/token/create")
        .unwrap();
    assert_eq!(token_entry["request"]["mount_type"], "token");
    assert_eq!(token_entry["request"]["mount_class"], "auth");
    assert!(hash.as_str().unwrap().starts_with("hmac-sha256:"));
    // Tokens in the auth block are hashed too, and the response to token creation hides the new token.
    let create = entries
        .iter()
        .find(|e| e["type"] == "response" && e["request"]["path"] == "auth/token/create")
        .unwrap();
    assert!(
        create["response"]["auth"]["client_token"]
            .as_str()
            .unwrap()
            .starts_with("hmac-sha256:")
    );
    assert!(
        write_line["auth"]["client_token"]
            .as_str()
            .unwrap()
            .starts_with("hmac-sha256:")
    );
}

/// A device whose writes fail while `failing` is set.
#[derive(Debug, Default)]
struct Flaky {
    failing: AtomicBool,
}

#[async_trait]
impl AuditDevice for Flaky {
    fn kind(&self) -> &'static str {
        "flaky"
    }
    async fn write_line(&self, _line: &[u8]) -> std::io::Result<()> {
        if self.failing.load(Ordering::SeqCst) {
            Err(std::io::Error::other("disk full"))
        } else {
            Ok(())
        }
    }
}

/// A device that never finishes a write.
#[derive(Debug)]
struct Hung;

#[async_trait]
impl AuditDevice for Hung {
    fn kind(&self) -> &'static str {
        "hung"
    }
    async fn write_line(&self, _line: &[u8]) -> std::io::Result<()> {
        std::future::pending().await
    }
}

#[tokio::test]
async fn fails_closed_when_no_device_can_write() {
    let (vault, root, _) = unsealed(Vault::builder(MemoryStorage::new())).await;
    vault
        .write(&root, "sys/mounts/secret", json!({"type": "kv"}))
        .await
        .unwrap();
    let flaky = Arc::new(Flaky::default());
    vault
        .add_audit_device("flaky", flaky.clone())
        .await
        .unwrap();
    flaky.failing.store(true, Ordering::SeqCst);
    let err = vault
        .write(&root, "secret/x", json!({"v": 1}))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("audit"), "{err}");
    flaky.failing.store(false, Ordering::SeqCst);
    // Nothing happened: the write was refused before it reached the engine.
    assert!(vault.read(&root, "secret/x").await.unwrap().data.is_none());
}

#[tokio::test]
async fn a_hung_device_cannot_hang_the_vault() {
    let dir = tempfile::tempdir().unwrap();
    let (vault, root, _) = unsealed(
        Vault::builder(MemoryStorage::new())
            .audit_dir(dir.path())
            .audit_timeout(Duration::from_millis(200)),
    )
    .await;
    vault
        .add_audit_device("hung", Arc::new(Hung))
        .await
        .unwrap();
    // Alone, the hung device fails every request, after the timeout, not forever.
    let started = std::time::Instant::now();
    assert!(vault.read(&root, "sys/mounts").await.is_err());
    assert!(started.elapsed() < Duration::from_secs(10));
    // With a working device beside it, requests go through.
    let log = dir.path().join("ok.log");
    vault
        .add_audit_device(
            "file",
            Arc::new(strongroom_core::FileAuditDevice::new(&log)),
        )
        .await
        .unwrap();
    vault.read(&root, "sys/mounts").await.unwrap();
    assert_eq!(lines(&log).len(), 2);
}

#[tokio::test]
async fn file_devices_only_inside_the_allowed_directory_and_persisted() {
    let (plain, root, _) = unsealed(Vault::builder(MemoryStorage::new())).await;
    let err = plain
        .write(
            &root,
            "sys/audit/file",
            json!({"type": "file", "options": {"file_path": "/tmp/x.log"}}),
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("no audit directory"), "{err}");

    let dir = tempfile::tempdir().unwrap();
    let storage = Arc::new(MemoryStorage::new());
    let (vault, root, keys) =
        unsealed(Vault::builder(Arc::clone(&storage)).audit_dir(dir.path())).await;
    for bad in [
        "/etc/cron.d/evil",
        "relative.log",
        &format!("{}/../escape.log", dir.path().display()),
    ] {
        let err = vault
            .write(
                &root,
                "sys/audit/file",
                json!({"type": "file", "options": {"file_path": bad}}),
            )
            .await
            .unwrap_err();
        assert!(matches!(err, VaultError::InvalidRequest(_)), "{bad}: {err}");
    }
    let log = dir.path().join("audit.log");
    vault
        .write(&root, "sys/audit/file", json!({"type": "file", "description": "main", "options": {"file_path": log.to_str().unwrap()}}))
        .await
        .unwrap();
    let listed = vault.read(&root, "sys/audit").await.unwrap().data.unwrap();
    assert_eq!(listed["file/"]["type"], "file");
    // Persisted: after a seal and unseal the device is back and writing.
    vault.seal().await;
    vault.unseal(&keys[0]).await.unwrap();
    let before = lines(&log).len();
    vault.read(&root, "sys/audit").await.unwrap();
    assert_eq!(lines(&log).len(), before + 2);
    vault.delete(&root, "sys/audit/file").await.unwrap();
    assert!(
        vault
            .read(&root, "sys/audit")
            .await
            .unwrap()
            .data
            .unwrap()
            .is_empty()
    );
}

/// A declared device (the server config's `audit` stanza): installed at every unseal before any
/// request, listed, not removable over the API, never stored in the audit table, its hash
/// stable across restarts; a device enabled over the API at the same path stops the unseal.
#[tokio::test]
async fn declared_devices_come_back_at_every_unseal() {
    let dir = tempfile::tempdir().unwrap();
    let storage: Arc<dyn strongroom_storage::Storage> = Arc::new(MemoryStorage::new());
    let declared = dir.path().join("declared.log");
    let builder = |storage: &Arc<dyn strongroom_storage::Storage>| {
        Vault::builder(Arc::clone(storage))
            .audit_dir(dir.path())
            .declared_audit_device(
                "cfg",
                "from the config file",
                Arc::new(strongroom_core::FileAuditDevice::new(&declared)),
            )
    };
    let (vault, root, keys) = unsealed(builder(&storage)).await;
    vault.read(&root, "sys/mounts").await.unwrap();
    assert!(
        lines(&declared)
            .iter()
            .any(|l| l["request"]["path"] == "sys/mounts"),
        "the declared device records requests from the first unseal on"
    );
    let listed = vault.read(&root, "sys/audit").await.unwrap().data.unwrap();
    assert_eq!(listed["cfg/"]["type"], "file");
    assert_eq!(listed["cfg/"]["description"], "from the config file");
    assert_eq!(
        listed["cfg/"]["options"]["file_path"],
        declared.to_str().unwrap()
    );
    let refused = vault.delete(&root, "sys/audit/cfg").await.unwrap_err();
    assert!(
        refused
            .to_string()
            .contains("declared in the server configuration"),
        "{refused}"
    );
    // An API-enabled device next to it is persisted; the declared one is not.
    let api_log = dir.path().join("api.log");
    vault
        .write(
            &root,
            "sys/audit/api",
            json!({"type": "file", "options": {"file_path": api_log.to_str().unwrap()}}),
        )
        .await
        .unwrap();
    let hash = |vault: Vault, root: String| async move {
        vault
            .write(&root, "sys/audit-hash/cfg", json!({"input": "s3cret"}))
            .await
            .unwrap()
            .data
            .unwrap()["hash"]
            .clone()
    };
    let before = hash(vault.clone(), root.clone()).await;

    // A restart: both devices are back, once each, and the hash has not changed.
    vault.seal().await;
    let vault = builder(&storage).build().unwrap();
    vault.unseal(&keys[0]).await.unwrap();
    let listed = vault.read(&root, "sys/audit").await.unwrap().data.unwrap();
    assert_eq!(listed.len(), 2, "{listed:?}");
    assert_eq!(hash(vault.clone(), root.clone()).await, before);

    // Declaring a device where the API enabled one is refused at unseal.
    vault.seal().await;
    let clash = Vault::builder(Arc::clone(&storage))
        .audit_dir(dir.path())
        .declared_audit_device(
            "api",
            "",
            Arc::new(strongroom_core::FileAuditDevice::new(&declared)),
        )
        .build()
        .unwrap();
    let err = clash.unseal(&keys[0]).await.unwrap_err();
    assert!(
        err.to_string().contains("also enabled over the API"),
        "{err}"
    );
    assert!(clash.seal_status().await.unwrap().sealed);
}

/// Runs `body` on a current-thread runtime (the `#[tokio::test]` default: one thread runs
/// every task, so a blocking call inside a future stops everything, timers included), on a
/// thread of its own, and waits at most `limit` for it. A body whose runtime thread is blocked
/// makes the test fail instead of hanging; the blocked thread is left behind, detached, and
/// ends with the process.
fn on_a_current_thread_runtime_within<F, Fut>(limit: Duration, body: F)
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()>,
{
    let (finished, done) = std::sync::mpsc::channel();
    let thread = std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(body());
        let _ = finished.send(());
    });
    match done.recv_timeout(limit) {
        Ok(()) => thread.join().unwrap(),
        // The body panicked: that is the test's failure.
        Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => match thread.join() {
            Err(panic) => std::panic::resume_unwind(panic),
            Ok(()) => panic!("the test thread ended without finishing"),
        },
        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
            panic!("no answer within {limit:?}: the runtime's only thread is blocked")
        }
    }
}

/// A file audit device whose disk hangs must not block the runtime: the file is a FIFO nobody
/// reads, so opening it for writing blocks for ever. The device used to write with blocking
/// `std::fs` inside its future, so on a current-thread runtime the broker's timeout could never
/// fire and the vault hung; now a thread of the device's own blocks, each request fails closed
/// after the audit timeout, and with a working device beside it requests go through. When the
/// FIFO is finally read (the disk recovers), the lines queued meanwhile come out whole.
#[cfg(unix)]
#[test]
fn a_file_device_on_a_hung_disk_cannot_block_the_runtime() {
    on_a_current_thread_runtime_within(Duration::from_secs(30), || async {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("stuck.fifo");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success(), "mkfifo: {made}");
        let (vault, root, _) = unsealed(
            Vault::builder(MemoryStorage::new()).audit_timeout(Duration::from_millis(200)),
        )
        .await;
        vault
            .add_audit_device(
                "stuck",
                Arc::new(strongroom_core::FileAuditDevice::new(&fifo)),
            )
            .await
            .unwrap();
        // Alone, the stuck device fails every request, closed, after the timeout.
        for attempt in 0..3 {
            let started = std::time::Instant::now();
            let answer =
                tokio::time::timeout(Duration::from_secs(10), vault.read(&root, "sys/mounts"))
                    .await
                    .unwrap_or_else(|_| panic!("request {attempt} did not return"));
            let err = answer.unwrap_err();
            assert!(err.to_string().contains("audit"), "{attempt}: {err}");
            assert!(
                started.elapsed() < Duration::from_secs(5),
                "{attempt}: {:?}",
                started.elapsed()
            );
        }
        // With a working device beside it, requests go through.
        let log = dir.path().join("ok.log");
        vault
            .add_audit_device(
                "file",
                Arc::new(strongroom_core::FileAuditDevice::new(&log)),
            )
            .await
            .unwrap();
        for attempt in 0..3 {
            tokio::time::timeout(Duration::from_secs(10), vault.read(&root, "sys/mounts"))
                .await
                .unwrap_or_else(|_| panic!("request {attempt} did not return"))
                .unwrap();
        }
        assert_eq!(lines(&log).len(), 6);

        // The disk recovers (someone reads the FIFO): the lines queued while it hung are
        // written, each whole. (Read on a thread: opening a FIFO blocks until both ends are
        // open.)
        let (line_tx, line_rx) = std::sync::mpsc::channel();
        let reader_fifo = fifo.clone();
        std::thread::spawn(move || {
            use std::io::BufRead as _;
            let Ok(file) = std::fs::File::open(&reader_fifo) else {
                return;
            };
            for line in std::io::BufReader::new(file).lines() {
                let Ok(line) = line else { return };
                if line_tx.send(line).is_err() {
                    return;
                }
            }
        });
        let read = tokio::task::spawn_blocking(move || {
            (0..3)
                .map(|_| line_rx.recv_timeout(Duration::from_secs(10)))
                .collect::<Result<Vec<String>, _>>()
        })
        .await
        .unwrap()
        .expect("the queued lines are written once the FIFO is read");
        for line in read {
            let entry: Value = serde_json::from_str(&line).unwrap();
            assert_eq!(entry["type"], "request", "{entry}");
            assert_eq!(entry["request"]["path"], "sys/mounts", "{entry}");
        }
    });
}

/// A record whose audit line would pass the maximum line size is refused (fail closed) rather
/// than written, and nothing is stored; a large but acceptable record is rendered (off the
/// async workers on a multi-threaded runtime) and written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_lines_are_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let (vault, root, _) =
        unsealed(Vault::builder(MemoryStorage::new()).audit_dir(dir.path())).await;
    let log = dir.path().join("audit.log");
    vault
        .write(
            &root,
            "sys/audit/file",
            json!({"type": "file", "options": {"file_path": log.to_str().unwrap()}}),
        )
        .await
        .unwrap();
    vault
        .write(&root, "sys/mounts/secret", json!({"type": "kv"}))
        .await
        .unwrap();
    // Keys are not hashed in audit lines; one of 17 MiB makes a line over the limit.
    let mut data = serde_json::Map::new();
    data.insert("k".repeat(17 * 1024 * 1024), json!("v"));
    let err = vault
        .write(&root, "secret/huge", Value::Object(data))
        .await
        .unwrap_err();
    assert!(matches!(err, VaultError::Internal(_)), "{err}");
    assert!(
        vault
            .read(&root, "secret/huge")
            .await
            .unwrap()
            .data
            .is_none()
    );
    // 200 KiB of values: rendered and written, every value hashed.
    let mut data = serde_json::Map::new();
    for i in 0..50 {
        data.insert(format!("f{i}"), json!("x".repeat(4096)));
    }
    vault
        .write(&root, "secret/large", Value::Object(data))
        .await
        .unwrap();
    let written = std::fs::read_to_string(&log).unwrap();
    assert!(
        written.len() < 1024 * 1024,
        "values are hashed, lines stay small"
    );
    assert!(!written.contains(&"x".repeat(4096)));
}
