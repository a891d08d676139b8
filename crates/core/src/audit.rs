//! The audit broker: one JSON line per request and per response, in Vault's audit entry shape,
//! with every string that may be secret replaced by `hmac-sha256:<hex>` under each device's own
//! salt. Fail closed: a request that no device could record is refused, and a response that no
//! device could record is not returned. Every write is bounded by a timeout.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, TrySendError};
use std::time::Duration;

use async_trait::async_trait;
use ring::hmac;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::util::unhex;
use crate::{Result, VaultError};

/// Where audit lines go. Implement it to ship audit lines elsewhere (a socket, a queue).
#[async_trait]
pub trait AuditDevice: Send + Sync + std::fmt::Debug {
    /// The device type as `sys/audit` reports it (`file`, ...).
    fn kind(&self) -> &'static str;

    /// Writes one line (a complete JSON object, no trailing newline). Must not return before
    /// the line is handed to the destination.
    ///
    /// # Errors
    ///
    /// Any failure; the broker counts it, and a request no device recorded is refused.
    async fn write_line(&self, line: &[u8]) -> std::io::Result<()>;

    /// The device's options as `sys/audit` lists them (e.g. `file_path`). None by default.
    fn options(&self) -> BTreeMap<String, String> {
        BTreeMap::new()
    }

    /// Whether the device can work at all, asked once when a vault declaring it is built (a
    /// file device: its directory exists), so a device that could never write is refused then,
    /// not found out at the first request. Nothing to check by default.
    ///
    /// # Errors
    ///
    /// What makes the device unusable, in words for the operator.
    fn check(&self) -> std::result::Result<(), String> {
        Ok(())
    }
}

/// How many lines a file device queues for its writer thread before writes fail at once.
const FILE_QUEUE_LINES: usize = 1024;

/// The name of each file device's writer thread.
const FILE_WRITER_THREAD: &str = "strongroom-audit-file";

/// Appends lines to a file, creating it (mode 0600) if needed.
///
/// The file is written by a thread of the device's own (started on the first write, ended
/// when the device is dropped), never on the async runtime: a disk that hangs holds up that
/// thread only, and the broker's timeout still fires. Lines wait in a bounded queue; when it is
/// full (the disk is stuck) a write fails at once, so the broker fails closed instead of
/// blocking. A write returns once its line is written and flushed. A line whose write timed out
/// stays queued and is written when the disk recovers.
pub struct FileAuditDevice {
    path: PathBuf,
    capacity: usize,
    /// The writer thread's queue, once started (a std mutex, only ever held to hand a line
    /// over without blocking; never across an `.await`).
    queue: std::sync::Mutex<Option<SyncSender<FileLine>>>,
}

/// One line for the writer thread, and where to answer.
struct FileLine {
    /// The line with its newline.
    bytes: Vec<u8>,
    done: tokio::sync::oneshot::Sender<std::io::Result<()>>,
}

impl std::fmt::Debug for FileAuditDevice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileAuditDevice")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl FileAuditDevice {
    /// A device writing to `path` (opened on first write).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self::with_capacity(path, FILE_QUEUE_LINES)
    }

    /// A device whose queue holds `capacity` lines (at least one).
    fn with_capacity(path: impl Into<PathBuf>, capacity: usize) -> Self {
        Self {
            path: path.into(),
            capacity: capacity.max(1),
            queue: std::sync::Mutex::new(None),
        }
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Hands `line` to the writer thread without blocking, starting the thread if it is not
    /// running (first write, or it ended).
    fn hand_over(&self, line: FileLine) -> std::io::Result<()> {
        let mut queue = self
            .queue
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let line = match queue.as_ref() {
            Some(sender) => match sender.try_send(line) {
                Ok(()) => return Ok(()),
                Err(TrySendError::Full(_)) => {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::WouldBlock,
                        "the audit file's queue is full: earlier writes have not finished",
                    ));
                }
                Err(TrySendError::Disconnected(line)) => line,
            },
            None => line,
        };
        let sender = self.start_writer()?;
        let sent = sender
            .try_send(line)
            .map_err(|_| std::io::Error::other("the audit file's writer thread stopped at once"));
        *queue = Some(sender);
        sent
    }

    fn start_writer(&self) -> std::io::Result<SyncSender<FileLine>> {
        let (sender, lines) = std::sync::mpsc::sync_channel(self.capacity);
        let path = self.path.clone();
        std::thread::Builder::new()
            .name(FILE_WRITER_THREAD.to_owned())
            .spawn(move || write_lines(&path, &lines))?;
        Ok(sender)
    }
}

/// The writer thread: writes each line in turn (so lines never interleave), opening the file
/// when needed and again after an error (it may have been rotated or the disk remounted), until
/// the device is dropped.
fn write_lines(path: &Path, lines: &Receiver<FileLine>) {
    let mut file: Option<std::fs::File> = None;
    while let Ok(line) = lines.recv() {
        let result = write_line_to(path, &mut file, &line.bytes);
        if result.is_err() {
            file = None;
        }
        // The caller may have stopped waiting (timed out): nothing to tell then.
        let _ = line.done.send(result);
    }
}

fn write_line_to(
    path: &Path,
    slot: &mut Option<std::fs::File>,
    bytes: &[u8],
) -> std::io::Result<()> {
    use std::io::Write;
    let file = match slot {
        Some(file) => file,
        None => {
            let mut options = std::fs::OpenOptions::new();
            options.create(true).append(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            slot.insert(options.open(path)?)
        }
    };
    // One write of the whole line (to a file opened for appending).
    file.write_all(bytes).and_then(|()| file.flush())
}

#[async_trait]
impl AuditDevice for FileAuditDevice {
    fn kind(&self) -> &'static str {
        "file"
    }

    fn options(&self) -> BTreeMap<String, String> {
        BTreeMap::from([("file_path".to_owned(), self.path.display().to_string())])
    }

    /// The file need not exist (it is created), but its directory must, and the path must not
    /// name a directory.
    fn check(&self) -> std::result::Result<(), String> {
        if self.path.file_name().is_none() || self.path.is_dir() {
            return Err(format!("{} is not a file path", self.path.display()));
        }
        match self.path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() && !dir.is_dir() => {
                Err(format!("the directory {} does not exist", dir.display()))
            }
            _ => Ok(()),
        }
    }

    async fn write_line(&self, line: &[u8]) -> std::io::Result<()> {
        let mut bytes = Vec::with_capacity(line.len().saturating_add(1));
        bytes.extend_from_slice(line);
        bytes.push(b'\n');
        let (done, written) = tokio::sync::oneshot::channel();
        self.hand_over(FileLine { bytes, done })?;
        written
            .await
            .map_err(|_| std::io::Error::other("the audit file's writer thread stopped"))?
    }
}

/// An enabled device, as the audit table stores it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub(crate) struct AuditEntry {
    pub(crate) path: String,
    #[serde(rename = "type")]
    pub(crate) kind: String,
    pub(crate) description: String,
    pub(crate) options: BTreeMap<String, String>,
    /// Hex of the device's HMAC salt.
    pub(crate) salt: String,
    /// Declared in code or in the server configuration: installed at every unseal, never
    /// written to the audit table, not removable over the API.
    #[serde(default, skip)]
    pub(crate) declared: bool,
}

pub(crate) struct Enabled {
    pub(crate) entry: AuditEntry,
    device: Arc<dyn AuditDevice>,
    key: hmac::Key,
}

impl Enabled {
    pub(crate) fn new(entry: AuditEntry, device: Arc<dyn AuditDevice>, salt: &[u8]) -> Self {
        Self {
            entry,
            device,
            key: hmac::Key::new(hmac::HMAC_SHA256, salt),
        }
    }

    /// `hmac-sha256:<hex>` of `value` under this device's salt (what `sys/audit-hash` returns).
    pub(crate) fn hash(&self, value: &str) -> String {
        let tag = hmac::sign(&self.key, value.as_bytes());
        let hex = crate::util::hex(tag.as_ref());
        format!("hmac-sha256:{hex}")
    }

    /// Replaces every string inside `value` by its hash.
    fn hash_strings(&self, value: &Value) -> Value {
        match value {
            Value::String(s) => Value::String(self.hash(s)),
            Value::Array(items) => {
                Value::Array(items.iter().map(|v| self.hash_strings(v)).collect())
            }
            Value::Object(map) => self.hash_map(map),
            other => other.clone(),
        }
    }

    /// An object with every string in it hashed, built straight from the borrowed map (the
    /// body is not copied first).
    fn hash_map(&self, map: &Map<String, Value>) -> Value {
        Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), self.hash_strings(v)))
                .collect(),
        )
    }
}

/// What an audit line says about the caller.
#[derive(Clone, Default)]
pub(crate) struct AuditAuth {
    pub(crate) client_token: String,
    pub(crate) accessor: String,
    pub(crate) display_name: String,
    pub(crate) policies: Vec<String>,
    pub(crate) metadata: BTreeMap<String, String>,
}

impl std::fmt::Debug for AuditAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditAuth")
            .field("client_token", &"[REDACTED]")
            .field("accessor", &"[REDACTED]")
            .field("display_name", &self.display_name)
            .field("policies", &self.policies)
            .finish_non_exhaustive()
    }
}

/// One request (and, later, its response) to be audited.
pub(crate) struct AuditRecord<'a> {
    pub(crate) id: &'a str,
    pub(crate) operation: &'a str,
    pub(crate) path: &'a str,
    pub(crate) data: &'a Map<String, Value>,
    pub(crate) remote_address: Option<String>,
    pub(crate) auth: &'a AuditAuth,
    /// The mount serving the request, once routed (Vault's `mount_*` fields).
    pub(crate) mount: Option<AuditMount>,
    /// The wrapping TTL the request asked for, in seconds.
    pub(crate) wrap_ttl: Option<u64>,
}

/// The mount a request went to, as Vault's audit entries name it.
#[derive(Clone, Debug, Default)]
pub(crate) struct AuditMount {
    /// `secret/`, `auth/userpass/`, `sys/`, `auth/token/`.
    pub(crate) point: String,
    /// The engine type (`kv`, `system`, `token`, ...).
    pub(crate) kind: String,
    pub(crate) accessor: String,
    /// `secret` or `auth`.
    pub(crate) class: &'static str,
}

impl AuditMount {
    /// The `mount_*` fields, added to a request or response entry.
    fn add_to(&self, out: &mut Map<String, Value>) {
        out.insert("mount_point".into(), self.point.clone().into());
        out.insert("mount_type".into(), self.kind.clone().into());
        out.insert("mount_accessor".into(), self.accessor.clone().into());
        out.insert("mount_class".into(), self.class.into());
    }
}

/// The devices and how long a write may take.
pub(crate) struct Broker {
    devices: Vec<Arc<Enabled>>,
    timeout: Duration,
}

impl Broker {
    pub(crate) fn new(devices: Vec<Arc<Enabled>>, timeout: Duration) -> Self {
        Self { devices, timeout }
    }

    pub(crate) fn devices(&self) -> &[Arc<Enabled>] {
        &self.devices
    }

    pub(crate) fn get(&self, path: &str) -> Option<&Arc<Enabled>> {
        self.devices.iter().find(|d| d.entry.path == path)
    }

    pub(crate) fn entries(&self) -> impl Iterator<Item = &AuditEntry> {
        self.devices.iter().map(|d| &d.entry)
    }

    fn auth_json(device: &Enabled, auth: &AuditAuth) -> Value {
        let hash_opt = |s: &str| {
            if s.is_empty() {
                Value::String(String::new())
            } else {
                Value::String(device.hash(s))
            }
        };
        json!({
            "client_token": hash_opt(&auth.client_token),
            "accessor": hash_opt(&auth.accessor),
            "display_name": auth.display_name,
            "policies": auth.policies,
            "token_policies": auth.policies,
            "metadata": device.hash_strings(&json!(auth.metadata)),
            "entity_id": "",
            "token_type": "service",
        })
    }

    fn request_json(device: &Enabled, record: &AuditRecord<'_>) -> Value {
        let hash_opt = |s: &str| {
            if s.is_empty() {
                Value::String(String::new())
            } else {
                Value::String(device.hash(s))
            }
        };
        let mut out = json!({
            "id": record.id,
            "operation": record.operation,
            "client_token": hash_opt(&record.auth.client_token),
            "client_token_accessor": hash_opt(&record.auth.accessor),
            "namespace": {"id": "root"},
            "path": record.path,
            "data": if record.data.is_empty() { Value::Null } else { device.hash_map(record.data) },
            "remote_address": record.remote_address,
        });
        if let Value::Object(fields) = &mut out {
            if let Some(mount) = &record.mount {
                mount.add_to(fields);
            }
            if let Some(ttl) = record.wrap_ttl {
                fields.insert("wrap_ttl".into(), json!(ttl));
            }
        }
        out
    }

    /// Logs the request. Succeeds when at least one device recorded it (or none is enabled).
    pub(crate) async fn log_request(
        &self,
        record: &AuditRecord<'_>,
        now: u64,
        error: Option<&str>,
    ) -> Result<()> {
        self.fan_out(map_weight(record.data), |device| {
            json!({
                "time": crate::util::rfc3339(now),
                "type": "request",
                "auth": Self::auth_json(device, record.auth),
                "request": Self::request_json(device, record),
                "error": error.unwrap_or_default(),
            })
        })
        .await
    }

    /// Logs the response (its data, and any new token, hashed).
    pub(crate) async fn log_response(
        &self,
        record: &AuditRecord<'_>,
        now: u64,
        response: Option<&crate::VaultResponse>,
        error: Option<&str>,
    ) -> Result<()> {
        let weight =
            map_weight(record.data) + response.and_then(|r| r.data.as_ref()).map_or(0, map_weight);
        self.fan_out(weight, |device| {
            let response_json = response.map(|r| {
                let mut out = Map::new();
                if let Some(data) = &r.data {
                    out.insert("data".into(), device.hash_map(data));
                }
                if let Some(auth) = &r.auth {
                    out.insert(
                        "auth".into(),
                        json!({
                            "client_token": device.hash(auth.client_token.expose_secret()),
                            "accessor": device.hash(&auth.accessor),
                            "policies": auth.policies,
                            "token_policies": auth.policies,
                            "metadata": device.hash_strings(&json!(auth.metadata)),
                        }),
                    );
                }
                if !r.lease_id.is_empty() {
                    out.insert("secret".into(), json!({"lease_id": r.lease_id}));
                }
                if let Some(wrap) = &r.wrap_info {
                    // The wrapping token and accessors as HMACs: enough to tell from the log
                    // whether the token was used, never enough to use it.
                    let hash_opt = |s: &str| {
                        if s.is_empty() {
                            String::new()
                        } else {
                            device.hash(s)
                        }
                    };
                    out.insert(
                        "wrap_info".into(),
                        json!({
                            "ttl": wrap.ttl,
                            "token": device.hash(wrap.token.expose_secret()),
                            "accessor": hash_opt(&wrap.accessor),
                            "creation_time": crate::util::rfc3339(wrap.creation_time),
                            "creation_path": wrap.creation_path,
                            "wrapped_accessor": hash_opt(&wrap.wrapped_accessor),
                        }),
                    );
                }
                if let Some(mount) = &record.mount {
                    mount.add_to(&mut out);
                }
                Value::Object(out)
            });
            json!({
                "time": crate::util::rfc3339(now),
                "type": "response",
                "auth": Self::auth_json(device, record.auth),
                "request": Self::request_json(device, record),
                "response": response_json,
                "error": error.unwrap_or_default(),
            })
        })
        .await
    }

    async fn fan_out(&self, weight: usize, render: impl Fn(&Enabled) -> Value) -> Result<()> {
        if self.devices.is_empty() {
            return Ok(());
        }
        // Hashing and encoding a large record is CPU work: off the async workers (the
        // runtime moves their other tasks away meanwhile) when the runtime has more than one.
        let render_all = || -> Vec<Option<String>> {
            self.devices
                .iter()
                .map(|device| {
                    let line = render(device).to_string();
                    (line.len() <= MAX_LINE).then_some(line)
                })
                .collect()
        };
        let multi_thread = tokio::runtime::Handle::try_current()
            .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
        let lines = if weight > HEAVY && multi_thread {
            tokio::task::block_in_place(render_all)
        } else {
            render_all()
        };
        let writes = self.devices.iter().zip(lines).map(|(device, line)| {
            let device = Arc::clone(device);
            let timeout = self.timeout;
            async move {
                // A line over the limit is not written: that device failed this record.
                let Some(line) = line else {
                    tracing::warn!(
                        device = %device.entry.path,
                        max = MAX_LINE,
                        "an audit line exceeded the maximum line size; not written"
                    );
                    return false;
                };
                match tokio::time::timeout(timeout, device.device.write_line(line.as_bytes())).await
                {
                    Ok(Ok(())) => true,
                    Ok(Err(_)) | Err(_) => false,
                }
            }
        });
        let results = futures_join_all(writes).await;
        if results.into_iter().any(|ok| ok) {
            Ok(())
        } else {
            Err(VaultError::Internal(
                "no audit device could record the request; it was refused (fail closed)".into(),
            ))
        }
    }
}

/// The longest audit line written (16 MiB): a record whose line would be longer fails on that
/// device (and the request is refused if no device recorded it: fail closed).
pub(crate) const MAX_LINE: usize = 16 * 1024 * 1024;

/// Records whose strings add up to more than this are rendered off the async workers.
const HEAVY: usize = 64 * 1024;

/// Roughly how much text `value` holds (keys and strings): cheap, no allocation.
pub(crate) fn weight(value: &Value) -> usize {
    match value {
        Value::String(s) => s.len(),
        Value::Array(items) => items.iter().map(weight).sum(),
        Value::Object(map) => map.iter().map(|(k, v)| k.len() + weight(v)).sum(),
        _ => 8,
    }
}

fn map_weight(map: &Map<String, Value>) -> usize {
    map.iter().map(|(k, v)| k.len() + weight(v)).sum()
}

/// Runs futures concurrently and collects their outputs (a tiny `join_all`, so that one slow
/// device does not delay the others past their own timeouts).
async fn futures_join_all<F: std::future::Future<Output = bool>>(
    futures: impl Iterator<Item = F>,
) -> Vec<bool> {
    let mut set = Vec::new();
    for future in futures {
        set.push(Box::pin(future));
    }
    let mut results = vec![false; set.len()];
    let mut pending: Vec<usize> = (0..set.len()).collect();
    std::future::poll_fn(|cx| {
        pending.retain(|&i| {
            let Some(future) = set.get_mut(i) else {
                return false;
            };
            match future.as_mut().poll(cx) {
                std::task::Poll::Ready(ok) => {
                    if let Some(slot) = results.get_mut(i) {
                        *slot = ok;
                    }
                    false
                }
                std::task::Poll::Pending => true,
            }
        });
        if pending.is_empty() {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    })
    .await;
    results
}

/// Checks that a file device enabled over the API writes inside the allowed directory: an
/// absolute path, no `..`, under `allowed` (OpenBao's CVE-2025-6000 came from letting API callers
/// choose any path).
pub(crate) fn check_file_path(allowed: Option<&Path>, requested: &str) -> Result<PathBuf> {
    let Some(allowed) = allowed else {
        return Err(VaultError::invalid(
            "file audit devices cannot be enabled over the API: no audit directory is configured",
        ));
    };
    let path = Path::new(requested);
    if !path.is_absolute()
        || path
            .components()
            .any(|c| matches!(c, Component::ParentDir | Component::CurDir))
        || !path.starts_with(allowed)
        || path == allowed
    {
        return Err(VaultError::invalid(format!(
            "file_path must be a file inside {}",
            allowed.display()
        )));
    }
    Ok(path.to_path_buf())
}

pub(crate) const AUDIT_PATH: &str = "core/audit";

/// Where the HMAC salt of each declared audit device is kept (inside the barrier).
pub(crate) const DECLARED_AUDIT_SALT_PREFIX: &str = "core/audit-declared-salt/";

/// Rebuilds a persisted audit device.
pub(crate) fn audit_device(entry: AuditEntry) -> Result<Enabled> {
    let salt = unhex(&entry.salt)
        .ok_or_else(|| VaultError::Internal("stored audit salt is not hex".into()))?;
    let device: Arc<dyn crate::AuditDevice> = match entry.kind.as_str() {
        "file" => {
            let path = entry.options.get("file_path").ok_or_else(|| {
                VaultError::Internal("stored file audit device has no path".into())
            })?;
            Arc::new(FileAuditDevice::new(path))
        }
        other => {
            return Err(VaultError::Internal(format!(
                "stored audit device of unknown type {other:?}"
            )));
        }
    };
    Ok(Enabled::new(entry, device, &salt))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_paths_stay_in_the_allowed_directory() {
        let allowed = Path::new("/var/log/strongroom");
        assert!(check_file_path(Some(allowed), "/var/log/strongroom/audit.log").is_ok());
        for bad in [
            "/etc/passwd",
            "/var/log/strongroom/../../../etc/cron.d/x",
            "relative.log",
            "/var/log/strongroom",
            "/var/log/strongroomX/a.log",
        ] {
            assert!(check_file_path(Some(allowed), bad).is_err(), "{bad}");
        }
        assert!(check_file_path(None, "/var/log/strongroom/a.log").is_err());
    }

    /// A FIFO nobody reads: opening it for writing blocks, like a hung disk.
    #[cfg(unix)]
    fn stuck_path(dir: &Path) -> PathBuf {
        let fifo = dir.join("stuck");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .map(|s| s.success());
        assert!(matches!(made, Ok(true)), "mkfifo: {made:?}");
        fifo
    }

    /// A stuck file device fails at once, without blocking, when its queue is full; and a
    /// working one writes every line whole, in order, before `write_line` returns.
    #[cfg(unix)]
    #[tokio::test]
    async fn a_full_queue_fails_at_once_and_lines_are_written_before_returning() {
        let dir = tempfile::tempdir().unwrap();
        let stuck = FileAuditDevice::with_capacity(stuck_path(dir.path()), 2);
        // The thread takes a line and blocks opening the FIFO; then two more fill the queue
        // (three writes wait, or two if the thread had not taken the first line yet).
        let mut waited = 0;
        let full = loop {
            let started = std::time::Instant::now();
            match tokio::time::timeout(Duration::from_millis(100), stuck.write_line(b"{}")).await {
                Err(_) => waited += 1,
                Ok(result) => break (result, started.elapsed()),
            }
            assert!(waited <= 3, "the queue never filled");
        };
        assert!((2..=3).contains(&waited), "{waited}");
        assert!(
            matches!(&full.0, Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
            "{full:?}"
        );
        assert!(full.1 < Duration::from_secs(1), "refused at once: {full:?}");

        let path = dir.path().join("ok.log");
        let device = FileAuditDevice::new(&path);
        for i in 0..100 {
            device
                .write_line(format!("{{\"n\":{i}}}").as_bytes())
                .await
                .unwrap();
            let text = std::fs::read_to_string(&path).unwrap();
            assert_eq!(
                text.lines().count(),
                i + 1,
                "written before write_line returned"
            );
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let expected: String = (0..100).map(|i| format!("{{\"n\":{i}}}\n")).collect();
        assert_eq!(text, expected);
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&path)
            .map(|m| m.permissions().mode() & 0o777)
            .unwrap_or_default();
        assert_eq!(mode, 0o600);
    }

    /// The writer thread ends when the device is dropped: the reader of a FIFO sees the end of
    /// the file (the thread's handle closed), after every line.
    #[cfg(unix)]
    #[tokio::test]
    async fn the_writer_thread_ends_with_the_device() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = stuck_path(dir.path());
        let reader_fifo = fifo.clone();
        let (text_tx, text_rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            use std::io::Read as _;
            let mut text = String::new();
            let read =
                std::fs::File::open(&reader_fifo).and_then(|mut f| f.read_to_string(&mut text));
            let _ = text_tx.send(read.map(|_| text));
        });
        let device = FileAuditDevice::new(&fifo);
        for line in ["{\"a\":1}", "{\"b\":2}"] {
            tokio::time::timeout(Duration::from_secs(10), device.write_line(line.as_bytes()))
                .await
                .unwrap()
                .unwrap();
        }
        drop(device);
        let text =
            tokio::task::spawn_blocking(move || text_rx.recv_timeout(Duration::from_secs(10)))
                .await
                .unwrap()
                .expect("the file is closed once the device is dropped")
                .unwrap();
        assert_eq!(text, "{\"a\":1}\n{\"b\":2}\n");
    }

    #[test]
    fn hashes_every_string() {
        let device = Enabled::new(
            AuditEntry {
                path: "file/".into(),
                kind: "file".into(),
                description: String::new(),
                options: BTreeMap::new(),
                salt: String::new(),
                declared: false,
            },
            Arc::new(FileAuditDevice::new("/dev/null")),
            b"salt",
        );
        let hashed =
            device.hash_strings(&json!({"a": "secret", "b": [1, "x"], "c": {"d": "y"}, "e": true}));
        let text = hashed.to_string();
        assert!(!text.contains("secret") && !text.contains("\"x\"") && !text.contains("\"y\""));
        assert!(text.contains("hmac-sha256:"));
        assert_eq!(hashed["b"][0], 1);
        assert_eq!(hashed["e"], true);
        assert_eq!(device.hash("a"), device.hash("a"));
    }
}
