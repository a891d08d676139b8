//! The vault: lifecycle (init, unseal, seal), and the request pipeline every entry point shares.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use strongroom_barrier::{Barrier, KEYRING_PATH, RootKey};
use strongroom_logical::{Connection, Context, Factory, Operation, Registry, Request, StorageView};
use strongroom_seal::{
    Progress, Rekey, RekeyConfig, RekeyStep, RootGeneration, RootStep, Seal, SecretBytes,
    SecretString, ShamirSeal, Share, ShareDigests, Submitted, UnsealProgress, WrappedKey,
};
use strongroom_storage::{MemoryStorage, Op, Storage, StorageError};

use crate::audit::{AuditAuth, AuditEntry, AuditRecord, Broker, Enabled, FileAuditDevice};
use crate::clock::{Clock, SystemClock, unix};
use crate::leases::{LeaseManager, NewLease};
use crate::mounts::{Mounted, Router};
use crate::policies::PolicyStore;
use crate::tokens::{SALT_PATH, TokenStore};
use crate::{Result, VaultError, sys};

/// Outside the barrier: the seal's configuration and the wrapped root key, one record.
pub(crate) const SEAL_CONFIG_PATH: &str = "core/seal-config";
pub(crate) const MOUNTS_PATH: &str = "core/mounts";
pub(crate) const AUDIT_PATH: &str = "core/audit";
/// Where the HMAC salt of each declared audit device is kept (inside the barrier).
pub(crate) const DECLARED_AUDIT_SALT_PREFIX: &str = "core/audit-declared-salt/";

/// Vault's defaults: 32 days for both the default and the maximum lease TTL.
const SYSTEM_TTL: Duration = Duration::from_secs(32 * 24 * 3600);

#[derive(Serialize, Deserialize)]
struct SealConfig {
    #[serde(rename = "type")]
    kind: String,
    secret_shares: usize,
    secret_threshold: usize,
    /// Hex of the share digests.
    digests: String,
    /// Hex of the wrapped root key.
    wrapped_root: String,
    /// With an auto-unseal seal: hex SHA-256 of the recovery key, which the quorum shares (then
    /// recovery shares) reconstruct. `None` for Shamir, where the shares open `wrapped_root`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    recovery_check: Option<String>,
}

impl SealConfig {
    /// The record as stored at [`SEAL_CONFIG_PATH`].
    fn decode(bytes: &[u8]) -> Result<Self> {
        serde_json::from_slice(bytes).map_err(|_| {
            VaultError::Internal("the stored seal configuration does not decode".into())
        })
    }

    /// The record to store at [`SEAL_CONFIG_PATH`].
    fn encode(&self) -> Result<Vec<u8>> {
        serde_json::to_vec(self)
            .map_err(|e| VaultError::Internal(format!("encoding seal configuration: {e}")))
    }

    fn wrapped(&self) -> Result<WrappedKey> {
        Ok(WrappedKey::from_bytes(
            unhex(&self.wrapped_root)
                .ok_or_else(|| VaultError::Internal("stored wrapped root key is not hex".into()))?,
        ))
    }

    fn digests(&self) -> Result<ShareDigests> {
        Ok(ShareDigests::from_bytes(
            &unhex(&self.digests)
                .ok_or_else(|| VaultError::Internal("stored share digests are not hex".into()))?,
        )?)
    }

    /// Checks a secret a quorum of shares reconstructed. Shamir: it is the key-encryption key,
    /// and opening the wrapped root key proves it (the root key is returned). Auto-unseal: it is
    /// the recovery key, checked against its stored hash (no root key involved).
    fn open_quorum(
        &self,
        wrapped: &WrappedKey,
        secret: &SecretBytes,
    ) -> std::result::Result<Option<SecretBytes>, strongroom_seal::BoxError> {
        match &self.recovery_check {
            None => Ok(Some(ShamirSeal::from_key(secret)?.open(wrapped)?)),
            Some(check) => {
                let digest = ring::digest::digest(&ring::digest::SHA256, secret.expose_secret());
                let expected = unhex(check).unwrap_or_default();
                if subtle::ConstantTimeEq::ct_eq(digest.as_ref(), expected.as_slice()).into() {
                    Ok(None)
                } else {
                    Err("the recovery shares do not reconstruct the recovery key".into())
                }
            }
        }
    }
}

fn recovery_check(recovery_key: &SecretBytes) -> String {
    hex(ring::digest::digest(&ring::digest::SHA256, recovery_key.expose_secret()).as_ref())
}

/// Every key `storage` holds, by a walk of `list` (which returns direct children only, folders
/// with a trailing `/`).
async fn all_keys(storage: &dyn Storage) -> Result<Vec<String>> {
    let mut keys = Vec::new();
    let mut folders = vec![String::new()];
    while let Some(folder) = folders.pop() {
        for child in storage.list(&folder).await? {
            let path = format!("{folder}{child}");
            if child.ends_with('/') {
                folders.push(path);
            } else {
                keys.push(path);
            }
        }
    }
    Ok(keys)
}

/// Locks a mutex whose data stays consistent across a panic (every update is one assignment).
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Lower-case hex (constant-time, and without a `format!` per byte: this runs on every request
/// for the token hash).
pub(crate) fn hex(bytes: &[u8]) -> String {
    base16ct::lower::encode_string(bytes)
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| {
            text.get(i..i + 2)
                .and_then(|pair| u8::from_str_radix(pair, 16).ok())
        })
        .collect()
}

/// Builds a [`Vault`]: storage first, then optional engines and clock.
pub struct VaultBuilder {
    storage: Arc<dyn Storage>,
    registry: Registry,
    clock: Arc<dyn Clock>,
    audit_dir: Option<PathBuf>,
    audit_timeout: Duration,
    background_expiry: bool,
    seal: Option<Arc<dyn Seal>>,
    declared_audit: Vec<DeclaredAudit>,
    barrier_rotation: Option<strongroom_rotation::Schedule>,
    alerts: Arc<dyn strongroom_rotation::AlertSink>,
    user_lockouts: crate::UserLockouts,
}

/// An audit device declared on the builder: installed at every unseal.
#[derive(Clone)]
struct DeclaredAudit {
    path: String,
    description: String,
    device: Arc<dyn crate::AuditDevice>,
}

impl std::fmt::Debug for VaultBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VaultBuilder")
            .field("engines", &self.registry)
            .finish_non_exhaustive()
    }
}

impl VaultBuilder {
    /// A vault over `storage` (any [`Storage`]: SQLite, PostgreSQL, memory...), with the built-in
    /// engines registered (`kv`, `transit`, `database`) and auth methods (`userpass`,
    /// `approle`, `jwt`).
    pub fn new(storage: impl Storage + 'static) -> Self {
        let mut registry = Registry::new();
        registry.register("kv", strongroom_kv::factory);
        registry.register("transit", strongroom_transit::factory);
        registry.register("database", strongroom_database::factory);
        registry.register("userpass", strongroom_auth::userpass::factory);
        registry.register("approle", strongroom_auth::approle::factory);
        registry.register("jwt", strongroom_auth::jwt::factory);
        Self {
            storage: Arc::new(storage),
            registry,
            clock: Arc::new(SystemClock),
            audit_dir: None,
            audit_timeout: Duration::from_secs(5),
            background_expiry: true,
            seal: None,
            declared_audit: Vec::new(),
            barrier_rotation: None,
            alerts: Arc::new(strongroom_rotation::LogSink),
            user_lockouts: crate::UserLockouts::new(),
        }
    }

    /// The user lockout settings (the server configuration's `user_lockout` stanzas): how many
    /// wrong credentials in a row lock a `userpass` user or an `approle` role id, for how long,
    /// and when the count starts over. Without this, Vault's defaults apply (5 failures, 15
    /// minutes, 15 minutes); a mount's `user_lockout_config` tuning overrides either.
    #[must_use]
    pub fn user_lockouts(mut self, lockouts: crate::UserLockouts) -> Self {
        self.user_lockouts = lockouts;
        self
    }

    /// Where scheduled-rotation alerts go (failed steps, parked or missed rotations): the
    /// barrier keyring's rotation and the `database` engine's static roles. Default: `tracing`
    /// warnings. This re-registers the built-in `database` engine; register your own
    /// `database` engine after calling it.
    #[must_use]
    pub fn rotation_alerts(mut self, alerts: Arc<dyn strongroom_rotation::AlertSink>) -> Self {
        self.registry.register(
            "database",
            strongroom_database::factory_with_alerts(Arc::clone(&alerts)),
        );
        self.alerts = alerts;
        self
    }

    /// Rotates the barrier's encryption key (a new keyring term) on `schedule`, through the
    /// rotation scheduler: each rotation is recorded inside the barrier step by step, tested
    /// (the new term must seal and open) before it counts, retried with backoff and alerted on
    /// failure (see [`rotation_alerts`](Self::rotation_alerts)). The background task runs it while unsealed; or drive it
    /// with [`Vault::run_rotations`].
    #[must_use]
    pub fn barrier_rotation(mut self, schedule: strongroom_rotation::Schedule) -> Self {
        self.barrier_rotation = Some(schedule);
        self
    }

    /// Declares an audit device (OpenBao's declarative `audit` stanza): installed at `path`
    /// each time the vault unseals, before any request is served, listed by `sys/audit`, and
    /// neither stored in the audit table nor removable over the API. Its HMAC salt is created
    /// once and kept in storage, so `sys/audit-hash` stays stable across restarts.
    ///
    /// Unsealing fails if a device enabled over the API already holds `path`.
    #[must_use]
    pub fn declared_audit_device(
        mut self,
        path: impl Into<String>,
        description: impl Into<String>,
        device: Arc<dyn crate::AuditDevice>,
    ) -> Self {
        self.declared_audit.push(DeclaredAudit {
            path: path.into(),
            description: description.into(),
            device,
        });
        self
    }

    /// Protects the root key with an auto-unseal seal (a key service such as `TransitSeal`, or
    /// `StaticKeySeal` for development) instead of Shamir shares. The vault then unseals with
    /// [`Vault::auto_unseal`], and the shares `init` hands out are *recovery* shares, needed
    /// only for quorum operations (rekey, root generation), as in Vault.
    #[must_use]
    pub fn seal(mut self, seal: Arc<dyn Seal>) -> Self {
        self.seal = Some(seal);
        self
    }

    /// Whether a background task expires due leases every second while unsealed (default
    /// true). Turn it off to drive expiry yourself with [`Vault::expire_leases`] (tests with a
    /// manual clock do).
    #[must_use]
    pub fn background_expiry(mut self, on: bool) -> Self {
        self.background_expiry = on;
        self
    }

    /// The only directory under which file audit devices may be enabled over the API. Without
    /// it, `sys/audit` cannot enable file devices (the embedder can still add devices in code
    /// with [`Vault::add_audit_device`]).
    #[must_use]
    pub fn audit_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.audit_dir = Some(dir.into());
        self
    }

    /// How long one audit write may take before it counts as failed. Default 5 s.
    #[must_use]
    pub fn audit_timeout(mut self, timeout: Duration) -> Self {
        self.audit_timeout = timeout;
        self
    }

    /// Registers an engine type, so `sys/mounts` can enable it.
    #[must_use]
    pub fn engine(mut self, kind: impl Into<String>, factory: impl Factory + 'static) -> Self {
        self.registry.register(kind, factory);
        self
    }

    /// Uses `clock` for token expiry (tests move time with [`ManualClock`](crate::ManualClock)).
    #[must_use]
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The vault, sealed.
    pub fn build(self) -> Vault {
        let barrier = Barrier::new(Arc::clone(&self.storage));
        Vault {
            inner: Arc::new(Inner {
                raw: self.storage,
                barrier: Arc::new(barrier),
                registry: self.registry,
                clock: self.clock,
                audit_dir: self.audit_dir,
                audit_timeout: self.audit_timeout,
                background_expiry: self.background_expiry,
                declared_audit: self.declared_audit,
                barrier_rotation: self.barrier_rotation,
                alerts: self.alerts,
                user_lockouts: self.user_lockouts,
                auto_seal: self.seal.filter(|s| !s.needs_shares()),
                active: std::sync::RwLock::new(None),
                progress: Mutex::new(None),
                rekey: Mutex::new(None),
                generate_root: Mutex::new(None),
                epoch: std::sync::atomic::AtomicU64::new(0),
            }),
        }
    }
}

/// The embeddable vault. Cheap to clone (a handle); every clone is the same vault.
#[derive(Clone)]
pub struct Vault {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vault").finish_non_exhaustive()
    }
}

struct Inner {
    raw: Arc<dyn Storage>,
    barrier: Arc<Barrier<Arc<dyn Storage>>>,
    registry: Registry,
    clock: Arc<dyn Clock>,
    audit_dir: Option<PathBuf>,
    audit_timeout: Duration,
    background_expiry: bool,
    declared_audit: Vec<DeclaredAudit>,
    barrier_rotation: Option<strongroom_rotation::Schedule>,
    alerts: Arc<dyn strongroom_rotation::AlertSink>,
    user_lockouts: crate::UserLockouts,
    auto_seal: Option<Arc<dyn Seal>>,
    active: std::sync::RwLock<Option<Arc<Active>>>,
    progress: Mutex<Option<UnsealProgress>>,
    rekey: Mutex<Option<RekeyState>>,
    generate_root: Mutex<Option<RootGeneration>>,
    /// Which background pass is current (each unseal starts one; a seal retires it).
    epoch: std::sync::atomic::AtomicU64,
}

/// Clears a busy flag when dropped.
struct ClearOnDrop(Arc<std::sync::atomic::AtomicBool>);

impl Drop for ClearOnDrop {
    fn drop(&mut self) {
        self.0.store(false, std::sync::atomic::Ordering::Release);
    }
}

/// A rekey in progress, with the root key recovered from the old quorum (zeroizing) once it is
/// reached, for re-wrapping under the new shares.
struct RekeyState {
    /// The seal-level rekey. It always splits a fresh secret (a new key-encryption key, or a new
    /// recovery key under auto-unseal), whatever the caller asked.
    rekey: Rekey,
    root: Option<SecretBytes>,
    /// The finished output waiting for verification (set when the new shares were issued).
    pending_threshold: usize,
    /// Also replace the barrier's root key (the caller's [`RekeyConfig::rotate`]).
    rotate_root: bool,
    /// The stored seal configuration this rekey started from, byte for byte: the new one is
    /// written only in its place (compare-and-swap), so a rekey or init that finished meanwhile
    /// is never overwritten.
    started_from: Vec<u8>,
}

/// Everything that exists only while unsealed.
pub(crate) struct Active {
    pub(crate) storage: Arc<dyn Storage>,
    pub(crate) router: tokio::sync::RwLock<Router>,
    pub(crate) tokens: TokenStore,
    pub(crate) policies: PolicyStore,
    pub(crate) clock: Arc<dyn Clock>,
    /// Serialises mount table changes.
    pub(crate) mount_lock: tokio::sync::Mutex<()>,
    /// Leases of the secrets engines issued.
    pub(crate) leases: LeaseManager,
    /// The audit devices (copy-on-write: requests take a snapshot).
    pub(crate) audit: std::sync::RwLock<Arc<Broker>>,
    /// Serialises audit table changes (the table is swapped whole under `audit`).
    pub(crate) audit_lock: tokio::sync::Mutex<()>,
    pub(crate) audit_dir: Option<PathBuf>,
    pub(crate) audit_timeout: Duration,
    /// The core's own scheduled rotations (the barrier keyring), when configured.
    pub(crate) rotations: Option<strongroom_rotation::Scheduler>,
    /// The server's user lockout settings.
    pub(crate) user_lockouts: crate::UserLockouts,
    /// Failed login counters and locked logins.
    pub(crate) lockouts: crate::lockout::Lockouts,
}

/// What `init` asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct InitRequest {
    /// Number of unseal key shares.
    pub secret_shares: usize,
    /// Shares needed to unseal.
    pub secret_threshold: usize,
}

impl InitRequest {
    /// `shares` shares, `threshold` of which unseal.
    pub fn new(shares: usize, threshold: usize) -> Self {
        Self {
            secret_shares: shares,
            secret_threshold: threshold,
        }
    }
}

/// What `init` returns: the unseal key shares and the root token, shown once.
#[non_exhaustive]
pub struct InitResponse {
    /// The shares, hex-encoded (Vault's `keys`).
    pub keys: Vec<SecretString>,
    /// The same shares, base64-encoded (Vault's `keys_base64`).
    pub keys_base64: Vec<SecretString>,
    /// The initial root token.
    pub root_token: SecretString,
    /// True when the shares are recovery shares (auto-unseal: Vault's `recovery_keys`).
    pub recovery: bool,
}

impl std::fmt::Debug for InitResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InitResponse")
            .field("keys", &self.keys.len())
            .finish_non_exhaustive()
    }
}

/// Vault's `sys/seal-status`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct SealStatus {
    /// The seal type.
    #[serde(rename = "type")]
    pub kind: String,
    /// Whether the vault is initialised.
    pub initialized: bool,
    /// Whether it is sealed.
    pub sealed: bool,
    /// Threshold.
    pub t: usize,
    /// Number of shares.
    pub n: usize,
    /// Shares given in the current unseal attempt.
    pub progress: usize,
    /// The current unseal attempt's nonce.
    pub nonce: String,
    /// Strongroom's version.
    pub version: String,
    /// True when `t` and `n` describe recovery shares (auto-unseal).
    pub recovery_seal: bool,
}

/// Where a rekey stands (Vault's `sys/rekey/init` and `sys/rekey/verify` status).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RekeyStatus {
    /// The attempt's nonce (the verification nonce once new shares are issued).
    pub nonce: String,
    /// Shares collected in the current stage.
    pub progress: usize,
    /// Shares needed in the current stage.
    pub required: usize,
    /// New number of shares.
    pub n: usize,
    /// New threshold.
    pub t: usize,
    /// Whether the new shares await verification.
    pub verifying: bool,
}

/// What a rekey step returned.
#[non_exhaustive]
pub enum RekeyUpdate {
    /// More shares are needed.
    Pending(RekeyStatus),
    /// New shares (hex and base64) to hand out. If `verification_nonce` is set they are not in
    /// force yet: present a quorum of them to [`Vault::rekey_verify`].
    Issued {
        /// The new shares, hex.
        keys: Vec<SecretString>,
        /// The new shares, base64.
        keys_base64: Vec<SecretString>,
        /// Set when the new shares must be verified before they take effect.
        verification_nonce: Option<String>,
    },
    /// The new shares are in force.
    Complete,
}

impl std::fmt::Debug for RekeyUpdate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Pending(status) => f.debug_tuple("Pending").field(status).finish(),
            Self::Issued {
                keys,
                verification_nonce,
                ..
            } => f
                .debug_struct("Issued")
                .field("keys", &keys.len())
                .field("verification_nonce", verification_nonce)
                .finish_non_exhaustive(),
            Self::Complete => f.write_str("Complete"),
        }
    }
}

/// A started break-glass root generation.
#[non_exhaustive]
pub struct GenerateRootStarted {
    /// The one-time pad: only the person who started the attempt gets it.
    pub otp: SecretString,
    /// The attempt (the starter's share counts).
    pub progress: Progress,
}

impl std::fmt::Debug for GenerateRootStarted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GenerateRootStarted")
            .field("progress", &self.progress)
            .finish_non_exhaustive()
    }
}

/// What a root generation step returned.
#[derive(Debug)]
#[non_exhaustive]
pub enum GenerateRootUpdate {
    /// More shares are needed.
    Pending(Progress),
    /// The quorum is complete: a new root token, XOR'd with the pad and base64-encoded (Vault's
    /// `encoded_token`); decode it with `strongroom_seal::decode_with_otp`.
    Complete {
        /// The encoded token.
        encoded_token: String,
    },
}

/// A request to the vault, as any entry point (embedded call, HTTP) makes it. `Debug` hides the
/// token and the data's values.
#[derive(Clone)]
#[non_exhaustive]
pub struct VaultRequest {
    /// The operation.
    pub operation: Operation,
    /// The full path (`secret/app/db`, `sys/mounts`, `auth/token/lookup-self`).
    pub path: String,
    /// Body fields (and query parameters for reads).
    pub data: Map<String, Value>,
    /// The client token.
    pub token: Option<String>,
    /// Where it came from.
    pub connection: Connection,
    /// Vault's legacy rekey and root generation paths may be reached without a token.
    quorum_without_token: bool,
}

impl std::fmt::Debug for VaultRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VaultRequest")
            .field("operation", &self.operation)
            .field("path", &self.path)
            .field("data", &strongroom_logical::Redacted(&self.data))
            .field("token", &self.token.as_ref().map(|_| "[REDACTED]"))
            .field("connection", &self.connection)
            .finish()
    }
}

impl VaultRequest {
    /// A request without data or token.
    pub fn new(operation: Operation, path: impl Into<String>) -> Self {
        Self {
            operation,
            path: path.into(),
            data: Map::new(),
            token: None,
            connection: Connection::default(),
            quorum_without_token: false,
        }
    }

    /// Lets this request reach Vault's legacy quorum paths (`sys/rekey/init`, `sys/rekey/update`,
    /// `sys/rekey/verify`, `sys/generate-root/attempt`, `sys/generate-root/update`) without a
    /// token, as Vault serves them. For servers whose operator opted in (OpenBao's listener
    /// options `disable_unauthed_rekey_endpoints = false` and
    /// `disable_unauthed_generate_root_endpoints = false`); such requests are still audited.
    /// Every other path still needs a token.
    #[must_use]
    pub fn without_token_for_quorum(mut self) -> Self {
        self.quorum_without_token = true;
        self
    }

    /// Sets the token.
    #[must_use]
    pub fn with_token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }

    /// Sets the data.
    #[must_use]
    pub fn with_data(mut self, data: Map<String, Value>) -> Self {
        self.data = data;
        self
    }

    /// Sets where the request came from (CIDR bounds are checked against it).
    #[must_use]
    pub fn with_connection(mut self, connection: Connection) -> Self {
        self.connection = connection;
        self
    }
}

/// The token a login or token creation produced (Vault's `auth` block).
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct AuthInfo {
    /// The new token.
    pub client_token: String,
    /// Its accessor.
    pub accessor: String,
    /// Its policies.
    pub policies: Vec<String>,
    /// Its metadata.
    pub metadata: std::collections::BTreeMap<String, String>,
    /// Its TTL in seconds (0: never expires).
    pub lease_duration: u64,
    /// Whether it can be renewed.
    pub renewable: bool,
    /// Whether it has no parent.
    pub orphan: bool,
    /// Uses left (0: unlimited).
    pub num_uses: u32,
}

impl std::fmt::Debug for AuthInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthInfo")
            .field("client_token", &"[REDACTED]")
            .field("policies", &self.policies)
            .field("lease_duration", &self.lease_duration)
            .finish_non_exhaustive()
    }
}

/// The vault's answer (Vault's response envelope without the transport). `Debug` shows the
/// data's keys, not its values.
#[derive(Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct VaultResponse {
    /// `data`; `None` for an empty response (HTTP 204, or 404 for a read of nothing).
    pub data: Option<Map<String, Value>>,
    /// Warnings.
    pub warnings: Vec<String>,
    /// The lease id, when the response created a lease.
    pub lease_id: String,
    /// The lease (or KV `ttl`) duration in seconds.
    pub lease_duration: u64,
    /// Whether the lease can be renewed.
    pub renewable: bool,
    /// A new token, for token creation and logins.
    pub auth: Option<AuthInfo>,
    /// The engine answered "not found" with a body (KV v2's deleted or destroyed versions): the
    /// HTTP layer sends 404 with `data`.
    pub not_found: bool,
    /// The request failed in this category, yet `data` still answers it (a transit batch whose
    /// items failed): the HTTP layer sends the category's status with the envelope.
    pub failed: Option<strongroom_logical::ErrorKind>,
}

impl std::fmt::Debug for VaultResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VaultResponse")
            .field(
                "data",
                &self.data.as_ref().map(strongroom_logical::Redacted),
            )
            .field("warnings", &self.warnings)
            .field("lease_id", &self.lease_id)
            .field("lease_duration", &self.lease_duration)
            .field("renewable", &self.renewable)
            .field("auth", &self.auth)
            .field("not_found", &self.not_found)
            .field("failed", &self.failed)
            .finish()
    }
}

impl VaultResponse {
    pub(crate) fn data(data: Map<String, Value>) -> Self {
        Self {
            data: Some(data),
            ..Self::default()
        }
    }

    pub(crate) fn empty() -> Self {
        Self::default()
    }
}

/// Converts a JSON request field for the policy engine's parameter checks.
fn policy_value(value: &Value) -> strongroom_policy::Value {
    use strongroom_policy::Value as P;
    match value {
        Value::Null => P::Null,
        Value::Bool(b) => P::Bool(*b),
        Value::Number(n) => P::Number(n.as_f64().unwrap_or(0.0)),
        Value::String(s) => P::String(s.clone()),
        Value::Array(items) => P::List(items.iter().map(policy_value).collect()),
        Value::Object(map) => P::Map(
            map.iter()
                .map(|(k, v)| (k.clone(), policy_value(v)))
                .collect(),
        ),
    }
}

fn policy_operation(op: Operation) -> strongroom_policy::Operation {
    use strongroom_policy::Operation as P;
    match op {
        Operation::Read => P::Read,
        Operation::Create => P::Create,
        Operation::Update => P::Update,
        Operation::Patch => P::Patch,
        Operation::Delete => P::Delete,
        Operation::List => P::List,
        // `Operation` is non-exhaustive; anything new is treated as the most demanding write.
        _ => P::Update,
    }
}

/// An authorised request, ready to dispatch.
struct Prepared {
    target: Target,
    operation: Operation,
    /// The canonical path (see [`crate::request_path`]).
    path: String,
    /// The caller's token as it stands after this request's use was counted; `None` on an auth
    /// method's login paths.
    entry: Option<crate::tokens::TokenEntry>,
    /// This request took the token's last use.
    last_use: bool,
    /// The caller holds `sudo` (or root) on the path.
    sudo: bool,
}

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

/// Where a request goes.
pub(crate) enum Target {
    Sys(String),
    Token(String),
    Engine(Arc<Mounted>, String),
    /// Nothing serves the path: a 404 once the token and the ACL have been checked.
    Nowhere,
    /// A non-list operation on a path ending in `/` below a mount: nothing is there (a read
    /// finds nothing, as KV answers; anything else is an unsupported path), and no engine is
    /// asked, since engines read `x/` as `x`.
    Vacant,
}

impl Active {
    /// The audit devices as they are now (a cheap `Arc` clone; changes swap the whole table).
    pub(crate) fn audit_snapshot(&self) -> Arc<Broker> {
        Arc::clone(&*self.audit.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// Replaces the audit devices.
    pub(crate) fn set_audit(&self, broker: Broker) {
        *self.audit.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(broker);
    }

    /// Looks a token up. A token past its expiry, or below an ancestor past its expiry, is
    /// refused, and the expired tree is revoked on the spot, leases included.
    pub(crate) async fn lookup_token(
        &self,
        token: &str,
        now: std::time::SystemTime,
    ) -> Result<Option<crate::tokens::TokenEntry>> {
        let resolved = self.tokens.resolve(token, now).await?;
        self.settle(resolved, now).await
    }

    /// As [`lookup_token`](Self::lookup_token), by the token's hash.
    pub(crate) async fn lookup_token_id(
        &self,
        id: &str,
        now: std::time::SystemTime,
    ) -> Result<Option<crate::tokens::TokenEntry>> {
        let resolved = self.tokens.resolve_id(id, now).await?;
        self.settle(resolved, now).await
    }

    /// As [`lookup_token`](Self::lookup_token), by accessor.
    pub(crate) async fn lookup_accessor(
        &self,
        accessor: &str,
        now: std::time::SystemTime,
    ) -> Result<Option<crate::tokens::TokenEntry>> {
        match self.tokens.accessor_id(accessor).await? {
            Some(id) => self.lookup_token_id(&id, now).await,
            None => Ok(None),
        }
    }

    async fn settle(
        &self,
        resolved: crate::tokens::Resolved,
        now: std::time::SystemTime,
    ) -> Result<Option<crate::tokens::TokenEntry>> {
        match resolved {
            crate::tokens::Resolved::Live(entry) => Ok(Some(entry)),
            crate::tokens::Resolved::Unknown => Ok(None),
            crate::tokens::Resolved::Expired { revoke } => {
                self.revoke_token_tree(&revoke, now).await?;
                Ok(None)
            }
        }
    }

    /// Revokes a token's tree and every lease its tokens created.
    pub(crate) async fn revoke_token_tree(
        &self,
        id: &str,
        now: std::time::SystemTime,
    ) -> Result<()> {
        let gone = self.tokens.revoke_tree(id).await?;
        self.revoke_leases_of(&gone, now).await
    }

    /// Revokes the leases of tokens that were just revoked.
    pub(crate) async fn revoke_leases_of(
        &self,
        token_hashes: &[String],
        now: std::time::SystemTime,
    ) -> Result<()> {
        let router = self.router.read().await;
        self.leases
            .revoke_for_tokens(&router, token_hashes, now)
            .await
    }
}

impl Vault {
    /// Starts building a vault over `storage`.
    pub fn builder(storage: impl Storage + 'static) -> VaultBuilder {
        VaultBuilder::new(storage)
    }

    async fn seal_config(&self) -> Result<Option<SealConfig>> {
        let Some(bytes) = self.inner.raw.get(SEAL_CONFIG_PATH).await? else {
            return Ok(None);
        };
        serde_json::from_slice(&bytes).map(Some).map_err(|_| {
            VaultError::Internal("the stored seal configuration does not decode".into())
        })
    }

    /// Whether the vault has been initialised.
    ///
    /// # Errors
    ///
    /// A storage error.
    pub async fn is_initialized(&self) -> Result<bool> {
        Ok(self.seal_config().await?.is_some())
    }

    /// Initialises the vault: a new root key protected by a Shamir seal of
    /// `request.secret_shares` shares with threshold `request.secret_threshold`, the default
    /// policy, and a root token. The vault stays sealed, as Vault's does (with an auto-unseal
    /// seal it unseals itself).
    ///
    /// Atomic: the whole initial state (keyring, token salt, default policy, root token, seal
    /// configuration) reaches the storage in one transaction, so a crash or a failed write leaves
    /// the storage either untouched (init may simply be run again) or initialised, with the
    /// shares and token this call returns. A storage holding a keyring but no seal configuration
    /// is the remains of an init interrupted before this was so: nobody ever received a share
    /// for it, so nothing in it can be opened by anyone, and init replaces it (every key left
    /// there is deleted in the same transaction).
    ///
    /// # Errors
    ///
    /// [`VaultError::AlreadyInitialized`]; [`VaultError::Seal`] for a bad split; storage errors
    /// (nothing was written).
    pub async fn init(&self, request: InitRequest) -> Result<InitResponse> {
        if self.is_initialized().await? {
            return Err(VaultError::AlreadyInitialized);
        }
        let leftover_keyring = self.inner.raw.get(KEYRING_PATH).await?;
        let root = RootKey::generate()?;
        let root_bytes = SecretBytes::copy_from(root.expose_secret());
        // The quorum shares: unseal shares (Shamir: they reconstruct the key that wraps the root
        // key) or recovery shares (auto-unseal: they reconstruct a recovery key, checked by hash).
        let quorum_key = SecretBytes::new(
            ring::rand::generate::<[u8; 32]>(&ring::rand::SystemRandom::new())
                .map_err(|_| VaultError::Internal("system random source failed".into()))?
                .expose()
                .to_vec(),
        );
        let shares = strongroom_seal::split(
            quorum_key.expose_secret(),
            request.secret_shares,
            request.secret_threshold,
        )?;
        let digests = ShareDigests::compute(&shares)?;
        let (kind, wrapped, recovery) = match &self.inner.auto_seal {
            Some(seal) => (
                seal.kind().to_owned(),
                seal.wrap(&root_bytes).await?,
                Some(recovery_check(&quorum_key)),
            ),
            None => (
                "shamir".to_owned(),
                ShamirSeal::from_key(&quorum_key)?.close(&root_bytes)?,
                None,
            ),
        };
        // The initial state is built on a staging barrier in memory, under the same root key, and
        // then copied, ciphertext as it is, into the real storage in one transaction.
        //
        // Copying is sound. Each ciphertext is bound to its storage key (the associated data),
        // and it lands under the same key. No nonce can repeat: the staging barrier drew a random
        // 96-bit starting point for term 1 when it unsealed, and the real barrier draws another
        // when it unseals from the copied keyring (`Keyring::decode` gives every term a fresh
        // nonce sequence), exactly as after a restart, so the two sequences overlap with the
        // same negligible probability as any two lifetimes of one process (see the nonce section
        // of the strongroom-barrier docs). Nor can the term's encryption count fall: the staging
        // barrier persisted a reservation into its keyring before its first encryption, and the
        // keyring copied is its last one, so the real barrier counts on from at least every
        // encryption the staging barrier did.
        let staging = Arc::new(MemoryStorage::new());
        let root_token = {
            let barrier = Arc::new(Barrier::new(Arc::clone(&staging)));
            barrier.initialize(&root).await?;
            barrier.unseal(&root).await?;
            let token = self.bootstrap(barrier.clone()).await;
            barrier.seal();
            token?
        };
        let auto = recovery.is_some();
        let config = SealConfig {
            kind,
            secret_shares: request.secret_shares,
            secret_threshold: request.secret_threshold,
            digests: hex(&digests.to_bytes()),
            wrapped_root: hex(wrapped.as_bytes()),
            recovery_check: recovery,
        };
        let bytes = config.encode()?;
        let staged = all_keys(staging.as_ref()).await?;
        // Two inits racing: only the first to commit finds no seal configuration, and the keyring
        // as it was read.
        let mut ops = vec![
            Op::check(SEAL_CONFIG_PATH, None),
            Op::check(KEYRING_PATH, leftover_keyring.clone()),
        ];
        if leftover_keyring.is_some() {
            let leftovers = all_keys(self.inner.raw.as_ref()).await?;
            tracing::warn!(
                keys = leftovers.len(),
                "replacing the remains of an interrupted init (a keyring without a seal \
                 configuration)"
            );
            ops.extend(
                leftovers
                    .into_iter()
                    .filter(|key| !staged.contains(key))
                    .map(Op::delete),
            );
        }
        for key in staged {
            let value = staging
                .get(&key)
                .await?
                .ok_or_else(|| VaultError::Internal("a staged key vanished".into()))?;
            ops.push(Op::put(key, value));
        }
        ops.push(Op::put(SEAL_CONFIG_PATH, bytes.clone()));
        if let Err(err) = self.inner.raw.transaction(ops).await {
            if let StorageError::CheckFailed { .. } = err {
                return Err(VaultError::AlreadyInitialized);
            }
            // The record holds fresh random digests: finding exactly it means the transaction
            // committed and only its acknowledgement was lost; the shares are then the ones in
            // force and must be handed out.
            let stored = self.inner.raw.get(SEAL_CONFIG_PATH).await.ok().flatten();
            if stored.as_deref() != Some(bytes.as_slice()) {
                return Err(err.into());
            }
        }
        tracing::info!(
            seal = config.kind.as_str(),
            shares = request.secret_shares,
            threshold = request.secret_threshold,
            "vault initialised"
        );
        if auto {
            // An auto-unseal vault comes up unsealed after init, as Vault's does. The vault is
            // initialised whatever happens here, so the shares and the root token are returned
            // even if unsealing fails (it can be retried with `auto_unseal`).
            if let Err(err) = self.auto_unseal().await {
                tracing::warn!(error = %err, "the vault is initialised but did not unseal");
            }
        }
        Ok(InitResponse {
            keys: shares.iter().map(Share::to_hex).collect(),
            keys_base64: shares.iter().map(Share::to_base64).collect(),
            root_token,
            recovery: auto,
        })
    }

    /// Unseals through the configured auto-unseal seal (the key service unwraps the root key).
    /// Servers call this at startup.
    ///
    /// # Errors
    ///
    /// [`VaultError::NotInitialized`]; [`VaultError::InvalidRequest`] when the vault has no
    /// auto-unseal seal or was initialised with another kind; the seal's error (key service
    /// unreachable, wrong key).
    pub async fn auto_unseal(&self) -> Result<SealStatus> {
        let config = self
            .seal_config()
            .await?
            .ok_or(VaultError::NotInitialized)?;
        if self
            .inner
            .active
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .is_some()
        {
            return self.seal_status().await;
        }
        let seal = self
            .inner
            .auto_seal
            .as_ref()
            .filter(|s| config.recovery_check.is_some() && s.kind() == config.kind)
            .ok_or_else(|| {
                VaultError::invalid(format!(
                    "this vault was initialised with a {} seal; configure the same seal to unseal it",
                    config.kind
                ))
            })?;
        let root = seal.unwrap(&config.wrapped()?).await?;
        let root = RootKey::from_bytes(root.expose_secret())?;
        self.finish_unseal(&root).await?;
        self.seal_status().await
    }

    async fn finish_unseal(&self, root: &RootKey) -> Result<()> {
        self.inner.barrier.unseal(root).await?;
        match self.load().await {
            Ok(active) => {
                *self
                    .inner
                    .active
                    .write()
                    .unwrap_or_else(PoisonError::into_inner) = Some(Arc::new(active));
                self.spawn_expiry();
                // sys/init and sys/unseal cannot reach an audit device (the devices live
                // inside the barrier, as in Vault), so the server log records them, without
                // key material.
                tracing::info!("vault unsealed");
                Ok(())
            }
            Err(err) => {
                self.inner.barrier.seal();
                Err(err)
            }
        }
    }

    /// What a new vault holds inside the barrier, written to `storage` (the staging barrier
    /// `init` builds the initial state on): the token salt, the default policy, the root token.
    async fn bootstrap(&self, storage: Arc<dyn Storage>) -> Result<SecretString> {
        let salt = ring::rand::generate::<[u8; 32]>(&ring::rand::SystemRandom::new())
            .map_err(|_| VaultError::Internal("system random source failed".into()))?
            .expose();
        storage.put(SALT_PATH, salt.to_vec()).await?;
        let policies = PolicyStore::new(Arc::clone(&storage));
        policies
            .set("default", strongroom_policy::DEFAULT_POLICY_HCL)
            .await?;
        let tokens = TokenStore::new(storage, &salt, SYSTEM_TTL, SYSTEM_TTL);
        let token = tokens.create_root(self.inner.clock.now()).await?;
        Ok(SecretString::new(token))
    }

    /// Where the seal stands.
    ///
    /// # Errors
    ///
    /// A storage error.
    pub async fn seal_status(&self) -> Result<SealStatus> {
        let config = self.seal_config().await?;
        let sealed = self
            .inner
            .active
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .is_none();
        let (progress, nonce) = lock(&self.inner.progress)
            .as_ref()
            .map(|p| {
                let p = p.progress();
                (p.have, p.nonce)
            })
            .unwrap_or_default();
        Ok(SealStatus {
            kind: config
                .as_ref()
                .map_or_else(|| "shamir".into(), |c| c.kind.clone()),
            initialized: config.is_some(),
            sealed,
            t: config.as_ref().map_or(0, |c| c.secret_threshold),
            n: config.as_ref().map_or(0, |c| c.secret_shares),
            progress: if sealed { progress } else { 0 },
            nonce: if sealed { nonce } else { String::new() },
            version: env!("CARGO_PKG_VERSION").into(),
            recovery_seal: config.as_ref().is_some_and(|c| c.recovery_check.is_some()),
        })
    }

    /// Submits one unseal key share (hex or base64). At the threshold the shares are combined;
    /// if they open the stored root key the vault unseals (loading mounts, policies and tokens),
    /// otherwise the attempt is reset and [`VaultError::Seal`] says why.
    ///
    /// # Errors
    ///
    /// [`VaultError::NotInitialized`]; [`VaultError::Seal`] for a malformed, unknown or duplicate
    /// share (not counted) or a rejected quorum (progress reset).
    pub async fn unseal(&self, key: &str) -> Result<SealStatus> {
        let config = self
            .seal_config()
            .await?
            .ok_or(VaultError::NotInitialized)?;
        if self
            .inner
            .active
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .is_some()
        {
            return self.seal_status().await;
        }
        if config.recovery_check.is_some() {
            return Err(VaultError::invalid(
                "this vault unseals through its key service (auto-unseal); recovery shares only \
                 authorise rekey and root generation",
            ));
        }
        let wrapped = config.wrapped()?;
        let digests = config.digests()?;
        let share = Share::parse(key, ShamirSeal::KEY_LEN)?;
        let outcome = {
            let mut slot = lock(&self.inner.progress);
            let progress = match slot.as_mut() {
                Some(progress) => progress,
                None => slot.insert(
                    UnsealProgress::new(config.secret_threshold, ShamirSeal::KEY_LEN)?
                        .with_digests(digests),
                ),
            };
            progress.submit(share, |kek| {
                config
                    .open_quorum(&wrapped, kek)?
                    .ok_or_else(|| "no root key from a Shamir quorum".into())
            })?
        };
        if let Submitted::Complete(root) = outcome {
            let root = RootKey::from_bytes(root.expose_secret())?;
            self.finish_unseal(&root).await?;
            *lock(&self.inner.progress) = None;
        } else {
            tracing::info!(
                threshold = config.secret_threshold,
                "unseal key share accepted"
            );
        }
        self.seal_status().await
    }

    /// Creates a root token whose id the operator chose, like Vault's `-dev-root-token-id`. For
    /// development servers: a guessable id is a root credential.
    ///
    /// # Errors
    ///
    /// [`VaultError::Sealed`]; [`VaultError::InvalidRequest`] for an id that is not 1 to 128
    /// letters, digits, `.`, `-` or `_`, or that is taken.
    pub async fn dev_root_token(&self, id: &str) -> Result<()> {
        let active = self.active().await?;
        active
            .tokens
            .create_root_with_id(id, active.clock.now())
            .await
            .map_err(|e| match e {
                VaultError::Storage(strongroom_storage::StorageError::CheckFailed { .. }) => {
                    VaultError::invalid("that token id is already in use")
                }
                other => other,
            })
    }

    /// Starts rekeying the unseal shares (recovery shares under auto-unseal): a quorum of current
    /// shares (through [`rekey_update`](Self::rekey_update)) produces `config.shares` new shares
    /// with threshold `config.threshold`.
    ///
    /// Every rekey splits a *new* secret, as Vault's does: a new key-encryption key that wraps the
    /// root key (Shamir), or a new recovery key (auto-unseal). The old shares are then worth
    /// nothing, even together with a copy of the storage taken later. With `config.rotate` the
    /// barrier's root key is replaced as well (the keyring is re-encrypted under it, data is
    /// untouched), so that a copy of the storage taken *before* the rekey does not open under
    /// the new shares either. With `config.require_verification` the new shares only take
    /// effect once a quorum of them is presented back.
    ///
    /// The new configuration (and, with `rotate`, the re-encrypted keyring) is written in one
    /// transaction, only over the seal configuration this rekey started from: a crash leaves
    /// the old shares or the new ones in force, never neither.
    ///
    /// # Errors
    ///
    /// [`VaultError::Sealed`]; [`VaultError::InvalidRequest`] when a rekey is already running;
    /// [`VaultError::Seal`] for a bad split.
    pub async fn rekey_init(&self, config: RekeyConfig) -> Result<RekeyStatus> {
        self.active().await?;
        let started_from = self
            .inner
            .raw
            .get(SEAL_CONFIG_PATH)
            .await?
            .ok_or(VaultError::NotInitialized)?;
        let seal = SealConfig::decode(&started_from)?;
        let mut slot = lock(&self.inner.rekey);
        if slot.is_some() {
            return Err(VaultError::invalid("rekey already in progress"));
        }
        let digests = seal.digests()?;
        // The seal-level `rotate` means "split a fresh secret": always, so that the old shares
        // reconstruct nothing still in use. The caller's `rotate` is about the root key.
        let rekey = Rekey::start(
            seal.secret_threshold,
            ShamirSeal::KEY_LEN,
            config.rotate(true),
        )?
        .with_digests(digests);
        let state = RekeyState {
            rekey,
            root: None,
            pending_threshold: config.threshold,
            rotate_root: config.rotate,
            started_from,
        };
        let status = Self::rekey_status_of(&state);
        *slot = Some(state);
        Ok(status)
    }

    fn rekey_status_of(state: &RekeyState) -> RekeyStatus {
        let progress = state.rekey.progress();
        let config = state.rekey.config();
        RekeyStatus {
            nonce: progress.nonce,
            progress: progress.have,
            required: progress.need,
            n: config.shares,
            t: config.threshold,
            verifying: state.rekey.is_verifying(),
        }
    }

    /// The rekey in progress, if any.
    pub fn rekey_status(&self) -> Option<RekeyStatus> {
        lock(&self.inner.rekey).as_ref().map(Self::rekey_status_of)
    }

    /// Cancels the rekey in progress (the current shares stay in force).
    pub fn rekey_cancel(&self) {
        *lock(&self.inner.rekey) = None;
    }

    /// What every share submission starts from: the seal configuration, the wrapped root key, and
    /// the share parsed.
    async fn quorum_input(&self, key: &str) -> Result<(SealConfig, WrappedKey, Share)> {
        let seal = self
            .seal_config()
            .await?
            .ok_or(VaultError::NotInitialized)?;
        let wrapped = seal.wrapped()?;
        let share = Share::parse(key, ShamirSeal::KEY_LEN)?;
        Ok((seal, wrapped, share))
    }

    /// Submits one *current* unseal share to the rekey.
    ///
    /// # Errors
    ///
    /// [`VaultError::InvalidRequest`] with no rekey running; [`VaultError::Seal`] for a bad,
    /// unknown or duplicate share, a wrong nonce, or a rejected quorum.
    pub async fn rekey_update(&self, key: &str, nonce: &str) -> Result<RekeyUpdate> {
        let (seal, wrapped, share) = self.quorum_input(key).await?;
        let step = {
            let mut slot = lock(&self.inner.rekey);
            let state = slot
                .as_mut()
                .ok_or_else(|| VaultError::invalid("no rekey in progress"))?;
            let mut recovered = None;
            let step = state.rekey.submit(nonce, share, |kek| {
                recovered = seal.open_quorum(&wrapped, kek)?;
                Ok(())
            })?;
            if recovered.is_some() {
                state.root = recovered;
            }
            step
        };
        self.rekey_step(step).await
    }

    /// Submits one *new* share back, while the new shares await verification.
    ///
    /// # Errors
    ///
    /// As [`rekey_update`](Self::rekey_update).
    pub async fn rekey_verify(&self, key: &str, nonce: &str) -> Result<RekeyUpdate> {
        let share = Share::parse(key, ShamirSeal::KEY_LEN)?;
        let step = {
            let mut slot = lock(&self.inner.rekey);
            let state = slot
                .as_mut()
                .ok_or_else(|| VaultError::invalid("no rekey in progress"))?;
            state.rekey.verify(nonce, share)?
        };
        self.rekey_step(step).await
    }

    async fn rekey_step(&self, step: RekeyStep) -> Result<RekeyUpdate> {
        match step {
            RekeyStep::Pending(_) => Ok(RekeyUpdate::Pending(
                self.rekey_status()
                    .ok_or_else(|| VaultError::invalid("no rekey in progress"))?,
            )),
            RekeyStep::Issued {
                shares,
                verification,
            } => Ok(RekeyUpdate::Issued {
                keys: shares.iter().map(Share::to_hex).collect(),
                keys_base64: shares.iter().map(Share::to_base64).collect(),
                verification_nonce: Some(verification.nonce),
            }),
            RekeyStep::Complete { shares, output } => {
                let state = lock(&self.inner.rekey)
                    .take()
                    .ok_or_else(|| VaultError::invalid("no rekey in progress"))?;
                let current = SealConfig::decode(&state.started_from)?;
                let config = state.rekey.config();
                // `output.secret` is always a fresh secret (see `rekey_init`); the root key is
                // replaced only when the caller asked.
                let new_root = if state.rotate_root {
                    Some(RootKey::generate()?)
                } else {
                    None
                };
                let (wrapped_root, recovery) = match &current.recovery_check {
                    // Auto-unseal: the shares are recovery shares; the root key stays with the
                    // key service (rotated too when asked).
                    Some(_) => {
                        let wrapped = match &new_root {
                            Some(new_root) => {
                                let seal = self.inner.auto_seal.as_ref().ok_or_else(|| {
                                    VaultError::invalid("no auto-unseal seal configured")
                                })?;
                                let wrapped = seal
                                    .wrap(&SecretBytes::copy_from(new_root.expose_secret()))
                                    .await?;
                                hex(wrapped.as_bytes())
                            }
                            None => current.wrapped_root.clone(),
                        };
                        (wrapped, Some(recovery_check(&output.secret)))
                    }
                    None => {
                        let root = match &new_root {
                            Some(new_root) => SecretBytes::copy_from(new_root.expose_secret()),
                            None => state.root.ok_or_else(|| {
                                VaultError::Internal("rekey finished without the root key".into())
                            })?,
                        };
                        let wrapped = ShamirSeal::from_key(&output.secret)?.close(&root)?;
                        (hex(wrapped.as_bytes()), None)
                    }
                };
                let config_record = SealConfig {
                    kind: current.kind.clone(),
                    secret_shares: config.shares,
                    secret_threshold: state.pending_threshold,
                    digests: hex(&output.digests.to_bytes()),
                    wrapped_root,
                    recovery_check: recovery,
                };
                let bytes = config_record.encode()?;
                // Only over the configuration this rekey started from.
                let swap = vec![
                    Op::check(SEAL_CONFIG_PATH, Some(state.started_from.clone())),
                    Op::put(SEAL_CONFIG_PATH, bytes.clone()),
                ];
                let written = match &new_root {
                    // The keyring under the new root key and the configuration that wraps it
                    // commit together (the barrier reads an unacknowledged commit back itself).
                    Some(new_root) => self
                        .inner
                        .barrier
                        .rekey_root_with(new_root, swap)
                        .await
                        .map_err(VaultError::from),
                    None => match self.inner.raw.transaction(swap).await {
                        Ok(()) => Ok(()),
                        // The record holds fresh digests: finding exactly it means the commit
                        // happened and only its acknowledgement was lost.
                        Err(err) => match self.inner.raw.get(SEAL_CONFIG_PATH).await {
                            Ok(Some(stored)) if stored == bytes => Ok(()),
                            _ => Err(err.into()),
                        },
                    },
                };
                if let Err(err) = written {
                    return Err(match err {
                        VaultError::Storage(StorageError::CheckFailed { .. }) => {
                            VaultError::invalid(
                                "the seal configuration changed while this rekey ran; nothing \
                                 was changed, start a new rekey",
                            )
                        }
                        other => other,
                    });
                }
                if shares.is_empty() {
                    Ok(RekeyUpdate::Complete)
                } else {
                    Ok(RekeyUpdate::Issued {
                        keys: shares.iter().map(Share::to_hex).collect(),
                        keys_base64: shares.iter().map(Share::to_base64).collect(),
                        verification_nonce: None,
                    })
                }
            }
            _ => Err(VaultError::Internal("unexpected rekey step".into())),
        }
    }

    /// Starts a root token generation (Vault's `sys/generate-root/attempt`): a quorum of unseal
    /// (or recovery) shares, entered with [`generate_root_update`](Self::generate_root_update),
    /// then mints a new root token, returned XOR'd with the one-time pad returned here, which
    /// only the starter sees. Only one attempt runs at a time. Who may start one is the
    /// caller's decision: over the API, `sys/generate-root-token/attempt` is ACL-checked.
    ///
    /// # Errors
    ///
    /// [`VaultError::Sealed`]; [`VaultError::Seal`] when an attempt is already running.
    pub async fn generate_root_init(&self) -> Result<GenerateRootStarted> {
        self.active().await?;
        let seal = self
            .seal_config()
            .await?
            .ok_or(VaultError::NotInitialized)?;
        let mut slot = lock(&self.inner.generate_root);
        let generation = match slot.as_mut() {
            Some(generation) => generation,
            None => {
                let digests = seal.digests()?;
                slot.insert(RootGeneration::new(
                    seal.secret_threshold,
                    ShamirSeal::KEY_LEN,
                    crate::tokens::TOKEN_LEN,
                    digests,
                )?)
            }
        };
        let started = generation.begin()?;
        Ok(GenerateRootStarted {
            otp: started.otp,
            progress: started.progress,
        })
    }

    /// The root generation attempt in progress, if any.
    pub fn generate_root_status(&self) -> Option<Progress> {
        lock(&self.inner.generate_root)
            .as_ref()
            .and_then(RootGeneration::progress)
    }

    /// Adds a share to the attempt. At the threshold, if the shares open the stored root key, a
    /// new root token is minted and returned encoded with the pad.
    ///
    /// # Errors
    ///
    /// [`VaultError::Seal`] for no attempt, a wrong nonce, an unknown or duplicate share, or a
    /// rejected quorum (the attempt ends).
    pub async fn generate_root_update(&self, key: &str, nonce: &str) -> Result<GenerateRootUpdate> {
        let active = self.active().await?;
        let (seal, wrapped, share) = self.quorum_input(key).await?;
        let step = {
            let mut slot = lock(&self.inner.generate_root);
            let generation = slot
                .as_mut()
                .ok_or(VaultError::Seal(strongroom_seal::SealError::NoAttempt))?;
            generation.submit(nonce, share, |kek| {
                seal.open_quorum(&wrapped, kek)?;
                Ok(())
            })?
        };
        match step {
            RootStep::Pending(progress) => Ok(GenerateRootUpdate::Pending(progress)),
            RootStep::Ready(quorum) => {
                let token = active.tokens.create_root(active.clock.now()).await?;
                let encoded_token = quorum.encode(token.as_bytes())?;
                Ok(GenerateRootUpdate::Complete { encoded_token })
            }
            _ => Err(VaultError::Internal(
                "unexpected root generation step".into(),
            )),
        }
    }

    /// Cancels the root generation attempt in progress, if any.
    pub fn generate_root_cancel(&self) {
        if let Some(generation) = lock(&self.inner.generate_root).as_mut() {
            generation.abort();
        }
    }

    /// Starts the background pass, when running inside a tokio runtime: lease expiry and the
    /// core's scheduled rotations every second, the engines' periodic functions at their interval,
    /// while unsealed. It holds only a weak handle: dropping every `Vault` clone stops it.
    fn spawn_expiry(&self) {
        if !self.inner.background_expiry {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let weak = Arc::downgrade(&self.inner);
        let spawner = runtime.clone();
        // One background pass per unseal: a seal (or a newer pass) retires this one.
        let epoch = self
            .inner
            .epoch
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel)
            .wrapping_add(1);
        runtime.spawn(async move {
            let started = tokio::time::Instant::now();
            // The engines' periodic functions run on their own task (a slow database must not
            // hold lease expiry back), one pass at a time.
            let periodic_busy = Arc::new(std::sync::atomic::AtomicBool::new(false));
            let mut periodic_at = 0_u64;
            loop {
                tokio::time::sleep(Duration::from_secs(1)).await;
                let seconds = started.elapsed().as_secs();
                let Some(inner) = weak.upgrade() else { return };
                if inner.epoch.load(std::sync::atomic::Ordering::Acquire) != epoch {
                    return;
                }
                let vault = Vault { inner };
                // Other failures are retried on the next pass; nothing else to do from here.
                if let Err(VaultError::Sealed) = vault.expire_leases(10_000).await {
                    return;
                }
                if let Err(err) = vault.expire_tokens(10_000).await {
                    tracing::warn!(error = %err, "token expiry pass failed; retrying");
                }
                if let Err(err) = vault.run_rotations().await {
                    tracing::warn!(error = %err, "scheduled rotations failed; retrying");
                }
                if seconds % 60 == 59
                    && let Err(err) = vault.sweep_lockouts().await
                {
                    tracing::warn!(error = %err, "removing expired login locks failed; retrying");
                }
                if !periodic_busy.swap(true, std::sync::atomic::Ordering::AcqRel) {
                    let busy = Arc::clone(&periodic_busy);
                    let since = std::mem::replace(&mut periodic_at, seconds);
                    spawner.spawn(async move {
                        // Cleared however the pass ends (a panicking engine included).
                        let _clear = ClearOnDrop(busy);
                        let _ = vault.run_periodic_due(since, seconds).await;
                    });
                }
            }
        });
    }

    /// Discards the current unseal attempt's shares.
    pub fn unseal_reset(&self) {
        *lock(&self.inner.progress) = None;
    }

    /// Seals the vault: every key is dropped from memory; requests fail with
    /// [`VaultError::Sealed`] until the next unseal.
    pub async fn seal(&self) {
        self.inner
            .epoch
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        *self
            .inner
            .active
            .write()
            .unwrap_or_else(PoisonError::into_inner) = None;
        self.inner.barrier.seal();
        self.unseal_reset();
        self.rekey_cancel();
        *lock(&self.inner.generate_root) = None;
        tracing::info!("vault sealed");
    }

    /// Loads what an unsealed vault serves from: token salt, policies, the mount table.
    async fn load(&self) -> Result<Active> {
        let storage: Arc<dyn Storage> = self.inner.barrier.clone();
        let salt = storage
            .get(SALT_PATH)
            .await?
            .ok_or_else(|| VaultError::Internal("the token salt is missing".into()))?;
        let mut router = Router::default();
        if let Some(bytes) = storage.get(MOUNTS_PATH).await? {
            let entries: Vec<crate::MountEntry> = serde_json::from_slice(&bytes)
                .map_err(|_| VaultError::Internal("the mount table does not decode".into()))?;
            for entry in entries {
                let backend = self.inner.registry.create(&entry.kind, &entry.options)?;
                let view = StorageView::new(
                    Arc::clone(&storage),
                    format!("{}/{}/", sys::storage_root(&entry.path), entry.uuid),
                )?;
                router.insert(Mounted {
                    entry,
                    backend,
                    view,
                });
            }
        }
        let mut devices = Vec::new();
        if let Some(bytes) = storage.get(AUDIT_PATH).await? {
            let entries: Vec<AuditEntry> = serde_json::from_slice(&bytes)
                .map_err(|_| VaultError::Internal("the audit table does not decode".into()))?;
            for entry in entries {
                devices.push(Arc::new(audit_device(entry)?));
            }
        }
        for declared in &self.inner.declared_audit {
            devices.push(Arc::new(self.declared(&storage, declared, &devices).await?));
        }
        let rotations = match &self.inner.barrier_rotation {
            Some(schedule) => Some(self.barrier_scheduler(&storage, schedule.clone()).await?),
            None => None,
        };
        let lockouts = crate::lockout::Lockouts::new(Arc::clone(&storage), &salt);
        Ok(Active {
            rotations,
            user_lockouts: self.inner.user_lockouts.clone(),
            lockouts,
            audit_lock: tokio::sync::Mutex::new(()),
            audit: std::sync::RwLock::new(Arc::new(Broker::new(devices, self.inner.audit_timeout))),
            audit_dir: self.inner.audit_dir.clone(),
            audit_timeout: self.inner.audit_timeout,
            tokens: TokenStore::new(Arc::clone(&storage), &salt, SYSTEM_TTL, SYSTEM_TTL),
            leases: LeaseManager::new(Arc::clone(&storage)),
            policies: PolicyStore::new(Arc::clone(&storage)),
            router: tokio::sync::RwLock::new(router),
            clock: Arc::clone(&self.inner.clock),
            mount_lock: tokio::sync::Mutex::new(()),
            storage,
        })
    }

    /// A declared audit device, ready to install: its path checked against `installed`, its
    /// salt read from storage (created on first use).
    async fn declared(
        &self,
        storage: &Arc<dyn Storage>,
        declared: &DeclaredAudit,
        installed: &[Arc<Enabled>],
    ) -> Result<Enabled> {
        let path = crate::mounts::normalize_mount_path(&declared.path).ok_or_else(|| {
            VaultError::invalid(format!("invalid audit path {:?}", declared.path))
        })?;
        if installed.iter().any(|d| d.entry.path == path) {
            return Err(VaultError::invalid(format!(
                "the audit device declared at {path} is also enabled over the API; disable \
                 one of them"
            )));
        }
        let salt_key = format!("{DECLARED_AUDIT_SALT_PREFIX}{}", path.trim_end_matches('/'));
        let salt = match storage.get(&salt_key).await? {
            Some(salt) => salt,
            None => {
                let salt = ring::rand::generate::<[u8; 32]>(&ring::rand::SystemRandom::new())
                    .map_err(|_| VaultError::Internal("system random source failed".into()))?
                    .expose()
                    .to_vec();
                storage.put(&salt_key, salt.clone()).await?;
                salt
            }
        };
        let entry = AuditEntry {
            path,
            kind: declared.device.kind().into(),
            description: declared.description.clone(),
            options: declared.device.options(),
            salt: hex(&salt),
            declared: true,
        };
        Ok(Enabled::new(entry, Arc::clone(&declared.device), &salt))
    }

    /// The scheduler rotating the barrier keyring, its state kept inside the barrier.
    async fn barrier_scheduler(
        &self,
        storage: &Arc<dyn Storage>,
        schedule: strongroom_rotation::Schedule,
    ) -> Result<strongroom_rotation::Scheduler> {
        let mut config = strongroom_rotation::SchedulerConfig::default();
        config.prefix = crate::rotation::ROTATION_PREFIX.into();
        let internal = |e: strongroom_rotation::RotationError| VaultError::Internal(e.to_string());
        let scheduler = strongroom_rotation::Scheduler::new(
            Arc::clone(storage),
            Arc::new(crate::rotation::ClockAdapter(Arc::clone(&self.inner.clock))),
            Arc::clone(&self.inner.alerts),
            config,
        )
        .map_err(internal)?;
        let term = self.inner.barrier.status()?.term;
        scheduler
            .register(
                crate::rotation::BARRIER_SECRET,
                schedule,
                Arc::new(crate::rotation::BarrierRotator {
                    barrier: Arc::clone(&self.inner.barrier),
                }),
                Some(format!("term-{term}")),
            )
            .await
            .map_err(internal)?;
        Ok(scheduler)
    }

    /// Runs the core's scheduled rotations that are due (the barrier keyring, when configured
    /// with [`VaultBuilder::barrier_rotation`]); the background task calls this every second.
    ///
    /// # Errors
    ///
    /// [`VaultError::Sealed`]; storage errors from the rotation state.
    pub async fn run_rotations(&self) -> Result<strongroom_rotation::TickReport> {
        let active = self.active().await?;
        match &active.rotations {
            Some(scheduler) => scheduler
                .tick()
                .await
                .map_err(|e| VaultError::Internal(e.to_string())),
            None => Ok(strongroom_rotation::TickReport::default()),
        }
    }

    /// Runs every mount's periodic function once (transit's key auto-rotation, for example);
    /// the background task calls this about once a minute. Returns how many engines failed
    /// (each failure is logged; the others still ran).
    ///
    /// # Errors
    ///
    /// [`VaultError::Sealed`].
    pub async fn run_periodic(&self) -> Result<usize> {
        self.run_periodic_where(|_| true).await
    }

    /// Runs the periodic functions whose interval (each engine's
    /// [`periodic_interval`](strongroom_logical::Backend::periodic_interval)) came round between
    /// `since` and `now`, seconds since the background task started.
    async fn run_periodic_due(&self, since: u64, now: u64) -> Result<usize> {
        self.run_periodic_where(|backend| {
            let every = backend.periodic_interval().as_secs().max(1);
            now / every > since / every
        })
        .await
    }

    async fn run_periodic_where(
        &self,
        due: impl Fn(&dyn strongroom_logical::Backend) -> bool,
    ) -> Result<usize> {
        let active = self.active().await?;
        let mounted: Vec<Arc<crate::mounts::Mounted>> =
            active.router.read().await.mounted().cloned().collect();
        let now = active.clock.now();
        let mut failed = 0;
        for mount in mounted.into_iter().filter(|m| due(m.backend.as_ref())) {
            if let Err(err) = mount.backend.periodic(&context(&mount, now)).await {
                failed += 1;
                tracing::warn!(mount = %mount.entry.path, error = %err, "periodic function failed");
            }
        }
        Ok(failed)
    }

    /// The barrier's active term, its age and use.
    ///
    /// # Errors
    ///
    /// [`VaultError::Sealed`].
    pub fn barrier_status(&self) -> Result<strongroom_barrier::BarrierStatus> {
        Ok(self.inner.barrier.status()?)
    }

    async fn active(&self) -> Result<Arc<Active>> {
        self.inner
            .active
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
            .ok_or(VaultError::Sealed)
    }

    /// Handles a request: canonical path -> token -> use count -> route -> existence check ->
    /// policy -> sudo -> audit -> engine -> audit, the same pipeline for every entry point.
    ///
    /// # Errors
    ///
    /// [`VaultError::Sealed`]; [`VaultError::PermissionDenied`] for a missing, malformed, unknown,
    /// expired or used-up token, or a policy refusal; [`VaultError::UnsupportedPath`]; the
    /// engine's errors; [`VaultError::Internal`] when no audit device could record the request
    /// (fail closed: nothing was done).
    pub async fn handle(&self, request: VaultRequest) -> Result<VaultResponse> {
        let active = self.active().await?;
        let broker = active.audit_snapshot();
        let now = active.clock.now();
        // Set once this request has taken the token's last use: whatever happens next, the
        // token's children and leases go when the request ends.
        let mut spent = None;
        let result = if broker.devices().is_empty() {
            // No audit device enabled: nothing to record, so skip building the records.
            match self.prepare(&active, &request, None, &mut spent).await {
                Ok(prepared) => self.dispatch(&active, prepared, &request, now).await,
                Err(err) => Err(err),
            }
        } else {
            self.handle_audited(&active, &broker, &request, now, &mut spent)
                .await
        };
        if let Some(id) = spent {
            active.revoke_token_tree(&id, now).await?;
        }
        result
    }

    async fn handle_audited(
        &self,
        active: &Arc<Active>,
        broker: &Broker,
        request: &VaultRequest,
        now: std::time::SystemTime,
        spent: &mut Option<String>,
    ) -> Result<VaultResponse> {
        let id = crate::sys::uuid()?;
        let mut auth = AuditAuth {
            client_token: request.token.clone().unwrap_or_default(),
            ..AuditAuth::default()
        };
        let prepared = self.prepare(active, request, Some(&mut auth), spent).await;
        let remote_address = request.connection.remote_addr.map(|a| a.to_string());
        let path = match &prepared {
            Ok(prepared) => prepared.path.clone(),
            Err(_) => request.path.trim_start_matches('/').to_owned(),
        };
        let record = AuditRecord {
            id: &id,
            operation: request.operation.capability(),
            path: &path,
            data: &request.data,
            remote_address,
            auth: &auth,
        };
        let prepared = match prepared {
            Ok(prepared) => prepared,
            Err(err) => {
                broker
                    .log_request(&record, unix(now), Some(&err.to_string()))
                    .await?;
                return Err(err);
            }
        };
        broker.log_request(&record, unix(now), None).await?;
        let result = self.dispatch(active, prepared, request, now).await;
        match &result {
            Ok(response) => {
                broker
                    .log_response(&record, unix(now), Some(response), None)
                    .await?;
            }
            Err(err) => {
                broker
                    .log_response(&record, unix(now), None, Some(&err.to_string()))
                    .await?;
            }
        }
        result
    }

    /// Where the canonical `path` goes, without failing when nothing serves it (the token and
    /// the ACL are checked first, as in Vault, so an unknown path tells a caller without a
    /// valid token nothing). Names the target engine folds are folded here, so the ACL decides
    /// on the path the handler acts on.
    pub(crate) async fn route(active: &Active, operation: Operation, path: &mut String) -> Target {
        if let Some(rest) = path.strip_prefix("sys/") {
            if let Some(folded) = crate::request_path::fold_sys_names(operation, rest) {
                *path = format!("sys/{folded}");
            }
            return Target::Sys(path.get("sys/".len()..).unwrap_or_default().to_owned());
        }
        if path == "auth/token" || path.starts_with("auth/token/") {
            let rest = path.get("auth/token".len()..).unwrap_or_default();
            return Target::Token(rest.trim_start_matches('/').to_owned());
        }
        let router = active.router.read().await;
        let Some((mounted, rest)) = router.route(path) else {
            return Target::Nowhere;
        };
        // Only a list may end in `/` below a mount: engines read `x/` as `x`, so any other
        // operation on it would act on a path the ACL did not decide on. OpenBao answers 404.
        if operation != Operation::List && rest.ends_with('/') {
            return Target::Vacant;
        }
        let mounted = Arc::clone(mounted);
        let rest = match mounted.backend.canonical_path(rest) {
            Some(folded) => {
                *path = format!("{}{folded}", mounted.entry.path);
                folded
            }
            None => rest.to_owned(),
        };
        Target::Engine(mounted, rest)
    }

    /// Authenticates, routes and authorises a request; fills in `auth` for the audit line as
    /// soon as the token is known. When the request takes the token's last use, `spent` is set
    /// to the token's hash (even if the request is then refused: a use is counted before the
    /// policy check, as Vault counts it).
    async fn prepare(
        &self,
        active: &Arc<Active>,
        request: &VaultRequest,
        auth: Option<&mut AuditAuth>,
        spent: &mut Option<String>,
    ) -> Result<Prepared> {
        let mut path = crate::request_path::canonical(request.operation, &request.path)?;
        let now = active.clock.now();
        let target = Self::route(active, request.operation, &mut path).await;
        // Logins (an auth method's unauthenticated paths) need no token; only auth mounts
        // have them.
        if let Target::Engine(mounted, rest) = &target
            && mounted.entry.path.starts_with("auth/")
            && mounted.backend.is_unauthenticated(rest)
        {
            return Ok(Prepared {
                target,
                operation: request.operation,
                path,
                entry: None,
                last_use: false,
                sudo: false,
            });
        }
        if request.quorum_without_token
            && let Target::Sys(rest) = &target
            && crate::quorum::Endpoint::parse(rest).is_some_and(|(_, legacy)| legacy)
        {
            return Ok(Prepared {
                target,
                operation: request.operation,
                path,
                entry: None,
                last_use: false,
                sudo: false,
            });
        }
        let token = request
            .token
            .as_deref()
            .ok_or(VaultError::PermissionDenied)?;
        let entry = active
            .lookup_token(token, now)
            .await?
            .ok_or(VaultError::PermissionDenied)?;
        if !entry.bound_cidrs.is_empty() {
            let blocks = strongroom_logical::cidr::Cidr::parse_all(&entry.bound_cidrs)?;
            if !strongroom_logical::cidr::allowed(&blocks, request.connection.remote_addr) {
                return Err(VaultError::PermissionDenied);
            }
        }
        // The use is counted before anything else can refuse the request, so a refused request
        // spends a use too (Vault's order); the entry the rest of the pipeline sees is the one
        // after the count.
        let used = active
            .tokens
            .use_once(entry)
            .await?
            .ok_or(VaultError::PermissionDenied)?;
        if used.last {
            *spent = Some(used.entry.id.clone());
        }
        let entry = used.entry;
        if let Some(auth) = auth {
            auth.accessor = entry.accessor.clone();
            auth.display_name = entry.display_name.clone();
            auth.policies = entry.policies.clone();
            auth.metadata = entry.meta.clone();
        }

        let mut operation = request.operation;
        if let Target::Engine(mounted, rest) = &target
            && matches!(operation, Operation::Create | Operation::Update)
        {
            let probe = Request::new(operation, rest.clone()).with_data(request.data.clone());
            let ctx = context(mounted, now);
            operation = match mounted.backend.exists(&ctx, &probe).await? {
                Some(false) => Operation::Create,
                _ => Operation::Update,
            };
        }

        let acl = active.policies.acl(&entry.policies).await?;
        let mut policy_request =
            strongroom_policy::Request::new(policy_operation(operation), path.clone());
        for (name, value) in &request.data {
            policy_request = policy_request.with_parameter(name.clone(), policy_value(value));
        }
        let decision = acl.decide(&policy_request);
        if !decision.allowed {
            return Err(VaultError::PermissionDenied);
        }
        let caps = decision.capabilities;
        let sudo = caps.contains(strongroom_policy::Capabilities::SUDO)
            || caps.contains(strongroom_policy::Capabilities::ROOT);
        let needs_sudo = match &target {
            Target::Sys(rest) => {
                crate::request_path::needs_sudo(crate::request_path::SYS_SUDO_PATHS, rest)
            }
            Target::Token(rest) => {
                crate::request_path::needs_sudo(crate::request_path::TOKEN_SUDO_PATHS, rest)
            }
            // As written or without its trailing `/`, as for the core's own lists.
            Target::Engine(mounted, rest) => {
                mounted.backend.needs_sudo(rest)
                    || mounted.backend.needs_sudo(rest.trim_end_matches('/'))
            }
            Target::Nowhere | Target::Vacant => false,
        };
        if needs_sudo && !sudo {
            return Err(VaultError::PermissionDenied);
        }
        if let Target::Nowhere = target {
            return Err(VaultError::UnsupportedPath);
        }
        Ok(Prepared {
            target,
            operation,
            path,
            entry: Some(entry),
            last_use: used.last,
            sudo,
        })
    }

    async fn dispatch(
        &self,
        active: &Arc<Active>,
        prepared: Prepared,
        request: &VaultRequest,
        now: std::time::SystemTime,
    ) -> Result<VaultResponse> {
        let Prepared {
            target,
            operation,
            path,
            entry,
            last_use,
            sudo,
        } = prepared;
        let token = request.token.as_deref().unwrap_or_default();
        let data = request.data.clone();
        let caller = |entry: Option<crate::tokens::TokenEntry>| {
            entry
                .map(|entry| sys::Caller {
                    entry,
                    token: token.to_owned(),
                    last_use,
                    sudo,
                })
                .ok_or(VaultError::PermissionDenied)
        };
        match target {
            Target::Sys(rest) => match crate::quorum::Endpoint::parse(&rest) {
                // Authorised by the ACL, or opened without a token by the server (see
                // `prepare`).
                Some((endpoint, _)) => {
                    crate::quorum::handle(self, endpoint, operation, &data).await
                }
                None => sys::handle(self, active, &caller(entry)?, operation, &rest, data).await,
            },
            Target::Token(rest) => {
                sys::handle_token(active, &caller(entry)?, operation, &rest, data).await
            }
            Target::Nowhere => Err(VaultError::UnsupportedPath),
            Target::Vacant if operation == Operation::Read => Ok(VaultResponse::empty()),
            Target::Vacant => Err(VaultError::UnsupportedPath),
            Target::Engine(mounted, rest) => {
                let ctx = context(&mounted, now);
                let mut engine_request = Request::new(operation, rest)
                    .with_data(data)
                    .with_connection(request.connection.clone());
                // The token's details move into the engine's view of the caller (no copies on
                // the hot path); what a lease needs of the token is kept aside.
                let mut lease_owner = None;
                if let Some(entry) = entry {
                    lease_owner = Some((entry.id, entry.expire_time));
                    let mut client = strongroom_logical::ClientInfo::default();
                    client.accessor = entry.accessor;
                    client.policies = entry.policies;
                    client.display_name = entry.display_name;
                    client.metadata = entry.meta;
                    engine_request = engine_request.with_client(client);
                }
                // User lockout: a login (no token) naming an identity the method can lock.
                let mut ticket = None;
                if lease_owner.is_none()
                    && mounted.entry.path.starts_with("auth/")
                    && let Some(identity) = mounted.backend.login_identity(&engine_request)
                {
                    let config = crate::lockout::resolve(
                        &active.user_lockouts,
                        &mounted.entry.kind,
                        mounted.entry.config.user_lockout_config.as_ref(),
                    );
                    if !config.disabled {
                        match active
                            .lockouts
                            .admit(&mounted.entry.accessor, &identity, &config, now)
                            .await?
                        {
                            crate::lockout::Admission::Locked => {
                                return Err(mounted
                                    .backend
                                    .locked_login(&ctx, &engine_request)
                                    .await
                                    .into());
                            }
                            crate::lockout::Admission::Proceed(admitted) => {
                                ticket = Some(admitted);
                            }
                            crate::lockout::Admission::Uncounted => {}
                        }
                    }
                }
                let response = match mounted.backend.handle(&ctx, engine_request).await {
                    Ok(response) => response,
                    Err(err) => {
                        if let (
                            Some(ticket),
                            strongroom_logical::LogicalError::InvalidCredentials(_),
                        ) = (ticket, &err)
                        {
                            ticket.failed(now).await?;
                        }
                        return Err(err.into());
                    }
                };
                let mut out = VaultResponse {
                    not_found: response.not_found,
                    failed: response.failed,
                    lease_duration: response.lease_duration_hint.map_or(0, |d| d.as_secs()),
                    data: response.data,
                    warnings: response.warnings,
                    ..VaultResponse::default()
                };
                if let Some(secret) = response.secret {
                    // A secret is tracked under the token that asked for it; a login path has
                    // none to tie it to.
                    let (token_hash, token_expire) = lease_owner.as_ref().ok_or_else(|| {
                        VaultError::Internal("a secret was issued without a token".into())
                    })?;
                    let below = path
                        .strip_prefix(mounted.entry.path.as_str())
                        .unwrap_or(&path);
                    let (lease_id, ttl, renewable) = active
                        .leases
                        .register(NewLease {
                            mount: &mounted,
                            path: below,
                            secret,
                            token_hash,
                            token_expire: *token_expire,
                            default_ttl: ctx.default_lease_ttl,
                            max_ttl: ctx.max_lease_ttl,
                            now,
                        })
                        .await?;
                    if last_use {
                        // The lease goes with the token when this request ends; the secret
                        // must not leave (Vault's rule and wording).
                        return Err(VaultError::invalid(
                            "Secret cannot be returned; token had one use left, so leased \
                             credentials were immediately revoked.",
                        ));
                    }
                    out.lease_id = lease_id;
                    out.lease_duration = ttl;
                    out.renewable = renewable;
                }
                if let Some(login) = response.auth {
                    if !mounted.entry.path.starts_with("auth/") {
                        return Err(VaultError::Internal(
                            "a secrets engine answered with a login".into(),
                        ));
                    }
                    // As in Vault: a login whose token could not be used from here fails.
                    let blocks = strongroom_logical::cidr::Cidr::parse_all(&login.bound_cidrs)?;
                    if !strongroom_logical::cidr::allowed(&blocks, request.connection.remote_addr) {
                        return Err(VaultError::PermissionDenied);
                    }
                    out.auth = Some(login_token(active, &mounted, &ctx, login, &path, now).await?);
                    if let Some(ticket) = ticket {
                        ticket.succeeded();
                    }
                }
                Ok(out)
            }
        }
    }

    /// Removes the records of login locks that have run out (the background pass does this
    /// once a minute), so locks of made-up identities do not pile up in storage.
    ///
    /// # Errors
    ///
    /// [`VaultError::Sealed`]; a storage failure.
    pub async fn sweep_lockouts(&self) -> Result<()> {
        let active = self.active().await?;
        let configs = crate::sys::lockout_configs(&active).await;
        active.lockouts.sweep(active.clock.now(), &configs).await
    }

    /// Runs one expiry pass now: revokes (through their engines) up to `limit` leases that are
    /// due, rescheduling failed revocations with backoff. A background task does this every
    /// second while the vault is unsealed; embedders and tests can call it directly.
    ///
    /// # Errors
    ///
    /// [`VaultError::Sealed`]; storage errors.
    pub async fn expire_leases(&self, limit: usize) -> Result<usize> {
        let active = self.active().await?;
        active
            .leases
            .expire_due(&active.router, active.clock.now(), limit)
            .await
    }

    /// Runs one token expiry pass now: revokes the trees of up to `limit` tokens whose expiry
    /// has passed, with every lease their tokens created (a child never outlives its parent).
    /// The background task does this every second while unsealed; a lookup refuses an expired
    /// token (or a child of one) at once either way.
    ///
    /// # Errors
    ///
    /// [`VaultError::Sealed`]; storage errors.
    pub async fn expire_tokens(&self, limit: usize) -> Result<usize> {
        let active = self.active().await?;
        let now = active.clock.now();
        let due = active.tokens.due(now, limit).await?;
        for id in &due {
            active.revoke_token_tree(id, now).await?;
        }
        Ok(due.len())
    }

    /// Adds an audit device in code (not persisted: add it again after each unseal). Devices
    /// enabled through `sys/audit` are persisted.
    ///
    /// # Errors
    ///
    /// [`VaultError::Sealed`]; [`VaultError::InvalidRequest`] if the path is taken.
    pub async fn add_audit_device(
        &self,
        path: &str,
        device: Arc<dyn crate::AuditDevice>,
    ) -> Result<()> {
        let active = self.active().await?;
        let path = crate::mounts::normalize_mount_path(path)
            .ok_or_else(|| VaultError::invalid(format!("invalid audit path {path:?}")))?;
        let salt = ring::rand::generate::<[u8; 32]>(&ring::rand::SystemRandom::new())
            .map_err(|_| VaultError::Internal("system random source failed".into()))?
            .expose();
        let entry = AuditEntry {
            path,
            kind: device.kind().into(),
            description: String::new(),
            options: device.options(),
            salt: hex(&salt),
            declared: false,
        };
        let enabled = Enabled::new(entry, device, &salt);
        crate::sys::install_audit(&active, enabled, false).await
    }

    /// Logs in through an auth method (`auth/userpass/login/alice`, `auth/approle/login`):
    /// no token needed; the answer's `auth` holds the new one.
    ///
    /// # Errors
    ///
    /// The method's refusal ([`VaultError::Logical`] with an invalid-request error), or
    /// [`VaultError::PermissionDenied`] for a path that is not a login path.
    pub async fn login(&self, path: &str, data: Value) -> Result<VaultResponse> {
        let data = match data {
            Value::Object(map) => map,
            _ => Map::new(),
        };
        self.handle(VaultRequest::new(Operation::Update, path).with_data(data))
            .await
    }

    /// Reads `path` with `token`.
    ///
    /// # Errors
    ///
    /// As [`handle`](Self::handle).
    pub async fn read(&self, token: &str, path: &str) -> Result<VaultResponse> {
        self.handle(VaultRequest::new(Operation::Read, path).with_token(token))
            .await
    }

    /// Writes `data` to `path` with `token`.
    ///
    /// # Errors
    ///
    /// As [`handle`](Self::handle).
    pub async fn write(&self, token: &str, path: &str, data: Value) -> Result<VaultResponse> {
        let data = match data {
            Value::Object(map) => map,
            Value::Null => Map::new(),
            _ => return Err(VaultError::invalid("request data must be a JSON object")),
        };
        self.handle(
            VaultRequest::new(Operation::Update, path)
                .with_token(token)
                .with_data(data),
        )
        .await
    }

    /// Lists `path` with `token`.
    ///
    /// # Errors
    ///
    /// As [`handle`](Self::handle).
    pub async fn list(&self, token: &str, path: &str) -> Result<VaultResponse> {
        self.handle(VaultRequest::new(Operation::List, path).with_token(token))
            .await
    }

    /// Deletes `path` with `token`.
    ///
    /// # Errors
    ///
    /// As [`handle`](Self::handle).
    pub async fn delete(&self, token: &str, path: &str) -> Result<VaultResponse> {
        self.handle(VaultRequest::new(Operation::Delete, path).with_token(token))
            .await
    }

    pub(crate) fn registry(&self) -> &Registry {
        &self.inner.registry
    }
}

/// The token of a login an auth method accepted: its TTL within the auth mount's default and
/// maximum, its display name prefixed with the mount (`userpass-alice`), an orphan.
async fn login_token(
    active: &Active,
    mounted: &Mounted,
    ctx: &Context,
    login: strongroom_logical::AuthDescriptor,
    path: &str,
    now: std::time::SystemTime,
) -> Result<AuthInfo> {
    let source = mounted
        .entry
        .path
        .trim_start_matches("auth/")
        .replace('/', "-");
    let max = login
        .max_ttl
        .filter(|d| !d.is_zero())
        .map_or(ctx.max_lease_ttl, |d| d.min(ctx.max_lease_ttl));
    let ttl = if login.ttl.is_zero() {
        ctx.default_lease_ttl
    } else {
        login.ttl
    }
    .min(max);
    let periodic = login.period.is_some_and(|p| !p.is_zero());
    // Policy names as Vault sanitises them: trimmed, lower-cased, without duplicates.
    let mut policies: Vec<String> = login
        .policies
        .iter()
        .map(|p| p.trim().to_lowercase())
        .filter(|p| !p.is_empty())
        .collect();
    policies.sort();
    policies.dedup();
    let request = crate::tokens::TokenRequest {
        policies,
        no_default_policy: login.no_default_policy,
        ttl: Some(ttl),
        explicit_max_ttl: (!periodic || login.max_ttl.is_some()).then_some(max),
        // A period never exceeds the mount's maximum.
        period: login.period.filter(|p| !p.is_zero()).map(|p| p.min(max)),
        num_uses: login.num_uses,
        renewable: Some(login.renewable),
        no_parent: true,
        display_name: format!("{source}{}", login.display_name)
            .trim_end_matches('-')
            .to_owned(),
        meta: login.metadata,
        bound_cidrs: login.bound_cidrs,
        mount: Some(mounted.entry.path.clone()),
        internal: login.internal,
    };
    let (token, entry) = active.tokens.create_login(request, path, now).await?;
    Ok(AuthInfo {
        client_token: token,
        accessor: entry.accessor,
        policies: entry.policies,
        metadata: entry.meta,
        lease_duration: entry.ttl,
        renewable: entry.renewable,
        orphan: true,
        num_uses: entry.num_uses,
    })
}

pub(crate) fn context(mounted: &Mounted, now: std::time::SystemTime) -> Context {
    let (default_ttl, max_ttl) = mounted.entry.ttls(SYSTEM_TTL, SYSTEM_TTL);
    let mut ctx = Context::new(mounted.view.clone(), mounted.entry.path.clone());
    ctx.default_lease_ttl = default_ttl;
    ctx.max_lease_ttl = max_ttl;
    ctx.now = now;
    ctx
}
