//! Configuring a vault: storage, engines, seal, audit devices, clock, rotations, lockouts; and
//! the checks [`VaultBuilder::build`] makes before a vault exists.

use std::path::{Component, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use strongroom_barrier::Barrier;
use strongroom_logical::{Factory, Registry};
use strongroom_seal::Seal;
use strongroom_storage::Storage;

use crate::BuildError;
use crate::clock::{Clock, SystemClock};
use crate::vault::{DeclaredAudit, Inner, Vault};

/// Engine type names no registered engine may take: the built-in mounts' types, and `kv-v2`,
/// which `sys/mounts` reads as `kv` with version 2 (an engine registered under it could never be
/// mounted).
const RESERVED_KINDS: &[&str] = &["system", "token", "kv-v2"];

/// Builds a [`Vault`]; start with [`Vault::builder`], which takes the storage, then add the
/// optional settings; [`build`](Self::build) checks them together.
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
    /// Set by [`rotation_alerts`](Self::rotation_alerts): the built-in `database` engine is
    /// registered with these alerts at build, unless the embedder registered their own.
    custom_alerts: bool,
    /// The embedder registered an engine as `database`.
    database_replaced: bool,
    /// Every kind given to [`engine`](Self::engine), checked at build.
    registered: Vec<String>,
    user_lockouts: crate::UserLockouts,
    ha: Option<crate::HaConfig>,
}

impl std::fmt::Debug for VaultBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VaultBuilder")
            .field("engines", &self.registry)
            .finish_non_exhaustive()
    }
}

impl VaultBuilder {
    /// A vault over `storage`, with the built-in engines registered (see [`Vault::builder`]).
    fn new(storage: impl Storage + 'static) -> Self {
        #[allow(unused_mut, reason = "nothing to register without the engine features")]
        let mut registry = Registry::new();
        #[cfg(feature = "kv")]
        registry.register("kv", strongroom_kv::factory);
        #[cfg(feature = "transit")]
        registry.register("transit", strongroom_transit::factory);
        #[cfg(feature = "pki")]
        registry.register("pki", strongroom_pki::factory);
        #[cfg(feature = "ssh")]
        registry.register("ssh", strongroom_ssh::factory);
        #[cfg(feature = "database")]
        registry.register("database", strongroom_database::factory);
        #[cfg(feature = "auth")]
        {
            registry.register("userpass", strongroom_auth::userpass::factory);
            registry.register("approle", strongroom_auth::approle::factory);
            registry.register("jwt", strongroom_auth::jwt::factory);
        }
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
            custom_alerts: false,
            database_replaced: false,
            registered: Vec::new(),
            user_lockouts: crate::UserLockouts::new(),
            ha: None,
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
    /// barrier keyring's rotation and the built-in `database` engine's static roles (an engine
    /// registered as `database` with [`engine`](Self::engine) is left as it is, whatever the
    /// order of the calls). Default: `tracing` warnings.
    #[must_use]
    pub fn rotation_alerts(mut self, alerts: Arc<dyn strongroom_rotation::AlertSink>) -> Self {
        self.alerts = alerts;
        self.custom_alerts = true;
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
    /// [`build`](Self::build) refuses an invalid or repeated `path`, and a device whose
    /// [`check`](crate::AuditDevice::check) fails (a file device whose directory is missing).
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
    ///
    /// Without this call the vault uses Shamir shares; [`build`](Self::build) refuses a seal
    /// that needs shares (a Shamir seal) here rather than ignore it.
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
    /// with [`Vault::add_audit_device`]). Must be absolute, without `.` or `..`
    /// ([`build`](Self::build) refuses others).
    #[must_use]
    pub fn audit_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.audit_dir = Some(dir.into());
        self
    }

    /// How long one audit write may take before it counts as failed. Default 5 s; zero is
    /// refused at [`build`](Self::build).
    #[must_use]
    pub fn audit_timeout(mut self, timeout: Duration) -> Self {
        self.audit_timeout = timeout;
        self
    }

    /// Registers an engine type, so `sys/mounts` (or `sys/auth`, for an auth method) can
    /// enable it; a built-in type of the same name is replaced. [`build`](Self::build) refuses
    /// an empty name, one with `/` or whitespace, and the reserved `system`, `token` and `kv-v2`.
    #[must_use]
    pub fn engine(mut self, kind: impl Into<String>, factory: impl Factory + 'static) -> Self {
        let kind = kind.into();
        self.database_replaced |= kind == "database";
        self.registered.push(kind.clone());
        self.registry.register(kind, factory);
        self
    }

    /// Uses `clock` for token expiry (tests move time with [`ManualClock`](crate::ManualClock)).
    #[must_use]
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The vault, sealed (initialise it with [`Vault::init`], or unseal it).
    ///
    /// # Errors
    ///
    /// A [`BuildError`] for settings that contradict each other or could never work: a seal
    /// that needs shares given to [`seal`](Self::seal), a declared audit device with an invalid
    /// or repeated path or that fails its check, a relative [`audit_dir`](Self::audit_dir), a
    /// zero [`audit_timeout`](Self::audit_timeout), an engine type name no mount could use.
    pub fn build(mut self) -> Result<Vault, BuildError> {
        if let Some(seal) = self.seal.as_ref().filter(|s| s.needs_shares()) {
            return Err(BuildError::SealNeedsShares {
                kind: seal.kind().to_owned(),
            });
        }
        if self.audit_timeout.is_zero() {
            return Err(BuildError::AuditTimeout);
        }
        if let Some(dir) = &self.audit_dir
            && (!dir.is_absolute()
                || dir
                    .components()
                    .any(|c| matches!(c, Component::CurDir | Component::ParentDir)))
        {
            return Err(BuildError::AuditDir { dir: dir.clone() });
        }
        for kind in &self.registered {
            check_kind(kind)?;
        }
        self.declared_audit = check_declared(self.declared_audit)?;
        #[cfg(not(feature = "database"))]
        let _ = (self.custom_alerts, self.database_replaced);
        #[cfg(feature = "database")]
        if self.custom_alerts && !self.database_replaced {
            self.registry.register(
                "database",
                strongroom_database::factory_with_alerts(Arc::clone(&self.alerts)),
            );
        }
        let barrier = Barrier::new(Arc::clone(&self.storage));
        Ok(Vault {
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
                auto_seal: self.seal,
                active: std::sync::RwLock::new(None),
                progress: Mutex::new(None),
                rekey: Mutex::new(None),
                generate_root: Mutex::new(None),
                ha: self.ha.map(crate::ha::Ha::new),
                epoch: std::sync::atomic::AtomicU64::new(0),
            }),
        })
    }
}

/// Refuses an engine type name no mount could use.
fn check_kind(kind: &str) -> Result<(), BuildError> {
    let reason = if kind.is_empty() {
        "the name is empty"
    } else if kind.contains('/') || kind.chars().any(char::is_whitespace) {
        "the name holds a `/` or whitespace"
    } else if RESERVED_KINDS.contains(&kind) {
        "the name is reserved"
    } else {
        return Ok(());
    };
    Err(BuildError::EngineKind {
        kind: kind.to_owned(),
        reason,
    })
}

/// The declared audit devices with their paths normalised (`audit/` -> `audit/`, `file` ->
/// `file/`), each path valid and used once, each device passing its own check.
fn check_declared(declared: Vec<DeclaredAudit>) -> Result<Vec<DeclaredAudit>, BuildError> {
    let mut out: Vec<DeclaredAudit> = Vec::with_capacity(declared.len());
    for mut device in declared {
        let path = crate::mounts::normalize_mount_path(&device.path).ok_or_else(|| {
            BuildError::AuditPath {
                path: device.path.clone(),
            }
        })?;
        if out.iter().any(|d| d.path == path) {
            return Err(BuildError::DuplicateAuditPath { path });
        }
        device
            .device
            .check()
            .map_err(|reason| BuildError::AuditDevice {
                path: path.clone(),
                reason,
            })?;
        device.path = path;
        out.push(device);
    }
    Ok(out)
}

impl Vault {
    /// Starts building a vault over `storage` (any [`Storage`]: SQLite, PostgreSQL, memory...),
    /// with the built-in engines this crate was built with registered: `kv` and `transit`
    /// (default features), `database` (feature `database`), the auth methods `userpass`,
    /// `approle` and `jwt` (feature `auth`). Register others with
    /// [`engine`](VaultBuilder::engine); finish with [`build`](VaultBuilder::build).
    pub fn builder(storage: impl Storage + 'static) -> VaultBuilder {
        VaultBuilder::new(storage)
    }

    /// Starts building one node of a high-availability cluster: its storage is `ha`'s lock's
    /// fenced store, shared with the other nodes. Each node unseals on its own; the one holding
    /// the lock is active, the others are standbys (see [`HaConfig`](crate::HaConfig)).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use strongroom_core::{HaConfig, Vault};
    /// use strongroom_storage::{HaNode, HaTiming, MemoryHa};
    ///
    /// let lock = MemoryHa::new(HaTiming::default())?;
    /// let node = HaNode::new("node-1", "http://10.0.0.1:8200", "https://10.0.0.1:8201");
    /// let vault = Vault::builder_ha(HaConfig::new(Arc::new(lock), node)).build()?;
    /// assert!(vault.ha_enabled());
    /// # Ok::<_, Box<dyn std::error::Error>>(())
    /// ```
    pub fn builder_ha(ha: crate::HaConfig) -> VaultBuilder {
        let mut builder = VaultBuilder::new(ha.lock.fenced());
        builder.ha = Some(ha);
        builder
    }
}
