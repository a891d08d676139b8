//! User lockout (Vault's `user_lockout`): after `lockout_threshold` wrong credentials in a row
//! for one login identity (userpass: the user name; approle: the role id) on one auth mount,
//! further logins for that identity are refused for `lockout_duration`, even with the right
//! credentials. The failure count starts over after `lockout_counter_reset` without failures,
//! and after a successful login.
//!
//! Where this differs from Vault, on purpose:
//!
//! - A locked login gets exactly the answer a wrong credential gets (userpass: HTTP 400
//!   `invalid username or password`, after the same password hashing work), where Vault and
//!   OpenBao answer 403 `permission denied`: that tells an attacker the account exists and is
//!   locked, and that their guesses have stopped counting.
//! - Unknown user names and role ids are counted and locked like real ones (Vault counts only
//!   existing users, so lockout would tell which names exist).
//! - A login in flight counts as a failure until it is known not to be one: concurrent guesses
//!   cannot get past the threshold before the first failures are recorded.
//! - Storage keys hold an HMAC of the mount accessor and identity, never the identity itself
//!   (Vault writes the alias name into the key); the identity is inside the encrypted value.
//!
//! Counters live in memory (an HMAC and three integers per identity, at most
//! [`MAX_TRACKED`]); a lock, once reached, is written under `core/login/lockedUsers/` before the
//! refusal is answered, and every login reads its identity's record, so a lock survives a
//! restart or a seal and unseal, and holds (and is lifted) for every process on the same
//! storage. Below the threshold each process counts on its own: N processes behind one address
//! give N times the threshold before the first lock (shared counters come with HA).
//! Records of locks that ran out are removed by the background pass.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use ring::hmac;
use serde::{Deserialize, Serialize};
use strongroom_storage::Storage;

use crate::{Result, VaultError};

/// Vault's default `lockout_threshold`.
pub const DEFAULT_LOCKOUT_THRESHOLD: u64 = 5;
/// Vault's default `lockout_duration` (15 minutes).
pub const DEFAULT_LOCKOUT_DURATION: Duration = Duration::from_secs(15 * 60);
/// Vault's default `lockout_counter_reset` (15 minutes).
pub const DEFAULT_LOCKOUT_COUNTER_RESET: Duration = Duration::from_secs(15 * 60);

/// The auth method types lockout applies to (Vault's list: `ldap` has no Strongroom method yet
/// but is accepted in configuration, as Vault accepts it).
pub const LOCKOUT_METHODS: &[&str] = &["userpass", "approle", "ldap"];

/// Where locked users are kept inside the barrier.
pub(crate) const LOCKED_USERS_PREFIX: &str = "core/login/lockedUsers/";

/// How many identities the in-memory counters track at most (see [`evict`] for who is
/// forgotten past it), so a flood of made-up names cannot exhaust memory.
const MAX_TRACKED: usize = 65_536;

/// The lockout settings in force for one mount, resolved from the server's `user_lockout`
/// stanzas, the mount's tuning and Vault's defaults.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct UserLockoutConfig {
    /// Failed logins in a row that lock the identity (at least 1).
    pub threshold: u64,
    /// How long a lock lasts, from the failure that set it.
    pub duration: Duration,
    /// After this long without a failure the count starts over.
    pub counter_reset: Duration,
    /// Lockout is off.
    pub disabled: bool,
}

impl Default for UserLockoutConfig {
    fn default() -> Self {
        Self {
            threshold: DEFAULT_LOCKOUT_THRESHOLD,
            duration: DEFAULT_LOCKOUT_DURATION,
            counter_reset: DEFAULT_LOCKOUT_COUNTER_RESET,
            disabled: false,
        }
    }
}

/// One `user_lockout "<method>" { ... }` stanza as written: what it leaves out comes from the
/// `"all"` stanza, and what that leaves out from Vault's defaults.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct UserLockout {
    /// `lockout_threshold`.
    pub lockout_threshold: Option<u64>,
    /// `lockout_duration`.
    pub lockout_duration: Option<Duration>,
    /// `lockout_counter_reset`.
    pub lockout_counter_reset: Option<Duration>,
    /// `disable_lockout`.
    pub disable_lockout: Option<bool>,
}

impl UserLockout {
    /// A stanza that sets nothing.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `lockout_threshold`.
    #[must_use]
    pub fn threshold(mut self, threshold: u64) -> Self {
        self.lockout_threshold = Some(threshold);
        self
    }

    /// Sets `lockout_duration`.
    #[must_use]
    pub fn duration(mut self, duration: Duration) -> Self {
        self.lockout_duration = Some(duration);
        self
    }

    /// Sets `lockout_counter_reset`.
    #[must_use]
    pub fn counter_reset(mut self, counter_reset: Duration) -> Self {
        self.lockout_counter_reset = Some(counter_reset);
        self
    }

    /// Sets `disable_lockout`.
    #[must_use]
    pub fn disabled(mut self, disabled: bool) -> Self {
        self.disable_lockout = Some(disabled);
        self
    }

    fn over(self, base: UserLockoutConfig) -> UserLockoutConfig {
        UserLockoutConfig {
            threshold: self.lockout_threshold.unwrap_or(base.threshold),
            duration: self.lockout_duration.unwrap_or(base.duration),
            counter_reset: self.lockout_counter_reset.unwrap_or(base.counter_reset),
            disabled: self.disable_lockout.unwrap_or(base.disabled),
        }
    }
}

/// The server's lockout settings: an optional `"all"` stanza and one per method type
/// (`userpass`, `approle`, `ldap`), as in Vault's server configuration.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UserLockouts {
    stanzas: BTreeMap<String, UserLockout>,
}

impl UserLockouts {
    /// No stanzas: Vault's defaults everywhere.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the stanza for `method` (`"all"`, `"userpass"`, `"approle"` or `"ldap"`, any case),
    /// replacing an earlier one.
    ///
    /// # Errors
    ///
    /// [`VaultError::InvalidRequest`] for another method (Vault's `unsupported auth type`), or a
    /// zero threshold or duration.
    pub fn set(&mut self, method: &str, stanza: UserLockout) -> Result<()> {
        let method = method.to_lowercase();
        if method != "all" && !LOCKOUT_METHODS.contains(&method.as_str()) {
            return Err(VaultError::invalid(format!(
                "unsupported auth type {method:?}"
            )));
        }
        // A zero would switch lockout off without saying so (a lock of no time, a count that
        // resets at once); turning it off is `disable_lockout`.
        if stanza.lockout_threshold == Some(0)
            || stanza.lockout_duration == Some(Duration::ZERO)
            || stanza.lockout_counter_reset == Some(Duration::ZERO)
        {
            return Err(VaultError::invalid(format!(
                "user_lockout {method:?}: lockout_threshold, lockout_duration and \
                 lockout_counter_reset must be above zero (use disable_lockout = true to turn \
                 lockout off)"
            )));
        }
        self.stanzas.insert(method, stanza);
        Ok(())
    }

    /// The settings for mounts of type `kind` before any mount tuning.
    pub fn for_method(&self, kind: &str) -> UserLockoutConfig {
        let all = self
            .stanzas
            .get("all")
            .copied()
            .unwrap_or_default()
            .over(UserLockoutConfig::default());
        match self.stanzas.get(kind) {
            Some(stanza) => stanza.over(all),
            None => all,
        }
    }
}

/// A mount's `user_lockout_config` tuning, as stored in the mount table (zero: not set, as in
/// Vault).
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct MountLockout {
    /// `lockout_threshold` (0: not set).
    pub lockout_threshold: u64,
    /// `lockout_duration` in seconds (0: not set).
    pub lockout_duration: u64,
    /// `lockout_counter_reset_duration` in seconds (0: not set).
    pub lockout_counter_reset: u64,
    /// `lockout_disable`.
    pub lockout_disable: bool,
}

impl MountLockout {
    /// `self` updated from a `user_lockout_config` object (Vault's tune and enable field):
    /// `lockout_threshold` (an integer, or its text), `lockout_duration` and
    /// `lockout_counter_reset_duration` (durations; `"system"` clears), `lockout_disable`.
    ///
    /// # Errors
    ///
    /// [`VaultError::InvalidRequest`] for a value of the wrong type.
    pub(crate) fn updated(
        &self,
        data: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<Self> {
        use strongroom_logical::field;
        let mut out = self.clone();
        if let Some(threshold) = field::string(data, "lockout_threshold")?
            && !threshold.is_empty()
        {
            out.lockout_threshold = threshold.trim().parse().map_err(|_| {
                VaultError::invalid(format!(
                    "unable to parse user lockout threshold: {threshold:?} is not a \
                     non-negative integer"
                ))
            })?;
        }
        let seconds = |name: &str| -> Result<Option<u64>> {
            if field::string(data, name)?.as_deref() == Some("system") {
                return Ok(Some(0));
            }
            Ok(field::duration(data, name)?.map(|d| d.as_secs()))
        };
        if let Some(secs) = seconds("lockout_duration")? {
            out.lockout_duration = secs;
        }
        if let Some(secs) = seconds("lockout_counter_reset_duration")? {
            out.lockout_counter_reset = secs;
        }
        if let Some(disable) = field::bool(data, "lockout_disable")? {
            out.lockout_disable = disable;
        }
        Ok(out)
    }

    /// Vault's `sys/auth/<path>/tune` read fields.
    pub(crate) fn tune_fields(&self, out: &mut serde_json::Map<String, serde_json::Value>) {
        out.insert(
            "user_lockout_threshold".into(),
            self.lockout_threshold.into(),
        );
        out.insert("user_lockout_duration".into(), self.lockout_duration.into());
        out.insert(
            "user_lockout_counter_reset_duration".into(),
            self.lockout_counter_reset.into(),
        );
        out.insert("user_lockout_disable".into(), self.lockout_disable.into());
    }
}

/// The settings for a mount of type `kind` tuned with `tune`: Vault's precedence (tuning over
/// the method's stanza over `"all"` over the defaults; either side can disable).
pub(crate) fn resolve(
    server: &UserLockouts,
    kind: &str,
    tune: Option<&MountLockout>,
) -> UserLockoutConfig {
    let mut config = server.for_method(kind);
    if !LOCKOUT_METHODS.contains(&kind) {
        config.disabled = true;
    }
    if let Some(tune) = tune {
        if tune.lockout_threshold != 0 {
            config.threshold = tune.lockout_threshold;
        }
        if tune.lockout_duration != 0 {
            config.duration = Duration::from_secs(tune.lockout_duration);
        }
        if tune.lockout_counter_reset != 0 {
            config.counter_reset = Duration::from_secs(tune.lockout_counter_reset);
        }
        config.disabled |= tune.lockout_disable;
    }
    config.threshold = config.threshold.max(1);
    config
}

/// A locked identity as stored (inside the barrier).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct LockedRecord {
    pub(crate) mount_accessor: String,
    pub(crate) alias_identifier: String,
    pub(crate) failed_login_count: u64,
    pub(crate) last_failed_login_time: u64,
}

impl LockedRecord {
    fn locked(&self, config: &UserLockoutConfig, now: u64) -> bool {
        self.failed_login_count >= config.threshold
            && now.saturating_sub(self.last_failed_login_time) < config.duration.as_secs()
    }
}

/// One identity's counter in memory: a few integers under the identity's HMAC (the identity
/// itself is not kept, so made-up identities cost the same small amount whatever their size).
#[derive(Debug, Clone, Copy)]
struct Tracked {
    failures: u64,
    last_failure: u64,
    /// Logins for this identity in flight (each counts as a failure until it is not one).
    pending: u64,
}

impl Tracked {
    /// Forgets failures the counter reset (or an expired lock) has done with.
    fn settle(&mut self, config: &UserLockoutConfig, now: u64) {
        let since = now.saturating_sub(self.last_failure);
        let expired_lock = self.failures >= config.threshold && since >= config.duration.as_secs();
        let reset = self.failures < config.threshold && since >= config.counter_reset.as_secs();
        if self.failures > 0 && (expired_lock || reset) {
            self.failures = 0;
        }
    }
}

/// What [`Lockouts::admit`] decided.
pub(crate) enum Admission {
    /// Refuse: the identity is locked (or as many logins as it has left are in flight).
    Locked,
    /// Go ahead; report the outcome on the ticket.
    Proceed(Ticket),
    /// Go ahead uncounted: the identity is longer than any the methods accept
    /// ([`MAX_IDENTITY_LEN`]), so the method refuses the login itself.
    Uncounted,
}

/// The longest identity counted: user names and role ids are at most this long, so a longer
/// one is refused by the method whatever its credential.
pub(crate) const MAX_IDENTITY_LEN: usize = 4096;

/// The failure counters of every auth mount (one per unsealed vault), and the lock records in
/// storage. The records decide whether an identity is locked, so a lock set or lifted through
/// another process on the same storage holds here too; counters below the threshold are this
/// process's own.
pub(crate) struct Lockouts {
    inner: Arc<Shared>,
}

struct Shared {
    storage: Arc<dyn Storage>,
    key: hmac::Key,
    tracked: Mutex<HashMap<String, Tracked>>,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Tracked>> {
        self.tracked.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn unix(now: SystemTime) -> u64 {
    now.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn decode(bytes: &[u8]) -> Result<LockedRecord> {
    serde_json::from_slice(bytes)
        .map_err(|_| VaultError::Internal("a locked user record does not decode".into()))
}

impl Lockouts {
    /// The counters over `storage` (the barrier), keyed with `salt`.
    pub(crate) fn new(storage: Arc<dyn Storage>, salt: &[u8]) -> Self {
        let derived = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, salt), b"user-lockout");
        let key = hmac::Key::new(hmac::HMAC_SHA256, derived.as_ref());
        Self {
            inner: Arc::new(Shared {
                storage,
                key,
                tracked: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// The storage key of `identity` on the mount `accessor`: an HMAC, never the identity.
    pub(crate) fn storage_key(&self, accessor: &str, identity: &str) -> String {
        let mut context = hmac::Context::with_key(&self.inner.key);
        context.update(accessor.as_bytes());
        context.update(&[0]);
        context.update(identity.as_bytes());
        let tag = context.sign();
        format!(
            "{LOCKED_USERS_PREFIX}{accessor}/{}",
            crate::util::hex(tag.as_ref())
        )
    }

    /// Decides on a login for `identity` on `accessor` before it is handled.
    pub(crate) async fn admit(
        &self,
        accessor: &str,
        identity: &str,
        config: &UserLockoutConfig,
        now: SystemTime,
    ) -> Result<Admission> {
        if identity.len() > MAX_IDENTITY_LEN {
            return Ok(Admission::Uncounted);
        }
        let now = unix(now);
        let key = self.storage_key(accessor, identity);
        let record = match self.inner.storage.get(&key).await? {
            Some(bytes) => Some(decode(&bytes)?),
            None => None,
        };
        let expired_record = record.as_ref().is_some_and(|r| !r.locked(config, now));
        let admitted = {
            let mut tracked = self.inner.lock();
            if !tracked.contains_key(&key) && tracked.len() >= MAX_TRACKED {
                evict(&mut tracked, config, now);
            }
            let entry = tracked.entry(key.clone()).or_insert(Tracked {
                failures: 0,
                last_failure: now,
                pending: 0,
            });
            match &record {
                Some(record) if record.locked(config, now) => {
                    entry.failures = entry.failures.max(record.failed_login_count);
                    entry.last_failure = entry.last_failure.max(record.last_failed_login_time);
                }
                // No lock in force: one this process counted was lifted (unlocked, here or
                // elsewhere) or has run out.
                // (Unless a login of it is still writing its lock: it is in flight, and
                // refused below.)
                _ if entry.failures >= config.threshold && entry.pending == 0 => {
                    entry.failures = 0;
                }
                _ => {}
            }
            entry.settle(config, now);
            let locked = record.as_ref().is_some_and(|r| r.locked(config, now));
            if locked || entry.failures.saturating_add(entry.pending) >= config.threshold {
                false
            } else {
                entry.pending += 1;
                true
            }
        };
        if expired_record {
            self.inner.storage.delete(&key).await?;
        }
        Ok(if admitted {
            Admission::Proceed(Ticket {
                shared: Arc::clone(&self.inner),
                key,
                accessor: accessor.to_owned(),
                identity: identity.to_owned(),
                config: *config,
                done: false,
            })
        } else {
            Admission::Locked
        })
    }

    /// Unlocks `identity` on `accessor` (its record and its counter go).
    pub(crate) async fn unlock(&self, accessor: &str, identity: &str) -> Result<()> {
        let key = self.storage_key(accessor, identity);
        self.inner.storage.delete(&key).await?;
        let mut tracked = self.inner.lock();
        if let Some(entry) = tracked.get_mut(&key) {
            entry.failures = 0;
            if entry.pending == 0 {
                tracked.remove(&key);
            }
        }
        Ok(())
    }

    /// The identities locked now, by mount accessor, from the lock records (`configs` holds
    /// the settings of each auth mount lockout applies to). Records of locks that have run out
    /// are removed on the way (the same clean-up [`sweep`](Self::sweep) does).
    pub(crate) async fn locked(
        &self,
        now: SystemTime,
        configs: &HashMap<String, UserLockoutConfig>,
    ) -> Result<BTreeMap<String, Vec<String>>> {
        let now = unix(now);
        let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (accessor, record) in self.records(now, configs).await? {
            out.entry(accessor)
                .or_default()
                .push(record.alias_identifier);
        }
        for identities in out.values_mut() {
            identities.sort();
        }
        Ok(out)
    }

    /// Removes the records of locks that have run out (or whose mount is gone or no longer
    /// locks); the vault's background pass calls it now and then, so records of made-up
    /// identities do not pile up.
    pub(crate) async fn sweep(
        &self,
        now: SystemTime,
        configs: &HashMap<String, UserLockoutConfig>,
    ) -> Result<()> {
        self.records(unix(now), configs).await.map(|_| ())
    }

    /// The records in force, by accessor; the rest are deleted.
    async fn records(
        &self,
        now: u64,
        configs: &HashMap<String, UserLockoutConfig>,
    ) -> Result<Vec<(String, LockedRecord)>> {
        let storage = &self.inner.storage;
        let mut out = Vec::new();
        for folder in storage.list(LOCKED_USERS_PREFIX).await? {
            let accessor = folder.trim_end_matches('/');
            let config = configs.get(accessor).filter(|c| !c.disabled);
            let folder = format!("{LOCKED_USERS_PREFIX}{folder}");
            for name in storage.list(&folder).await? {
                let key = format!("{folder}{name}");
                let Some(bytes) = storage.get(&key).await? else {
                    continue;
                };
                let record = decode(&bytes)?;
                match config {
                    Some(config) if record.locked(config, now) => {
                        out.push((accessor.to_owned(), record));
                    }
                    _ => storage.delete(&key).await?,
                }
            }
        }
        Ok(out)
    }
}

/// Makes room for a new identity: forgets every counter that holds nothing (no failure in
/// force, nothing in flight), and, if that frees less than a tenth of the table, the tenth
/// with the fewest failures (oldest first). An identity an attacker has nearly locked is
/// therefore only forgotten after the flood's own identities carry as many failures each.
fn evict(tracked: &mut HashMap<String, Tracked>, config: &UserLockoutConfig, now: u64) {
    tracked.retain(|_, t| {
        let mut settled = *t;
        settled.settle(config, now);
        t.pending > 0 || settled.failures > 0
    });
    let room = MAX_TRACKED / 10;
    if tracked.len() + room <= MAX_TRACKED {
        return;
    }
    let mut candidates: Vec<(u64, u64, String)> = tracked
        .iter()
        .filter(|(_, t)| t.pending == 0)
        .map(|(k, t)| (t.failures, t.last_failure, k.clone()))
        .collect();
    candidates.sort_unstable();
    for (_, _, key) in candidates.into_iter().take(room) {
        tracked.remove(&key);
    }
}

/// A login admitted by [`Lockouts::admit`]; dropping it unreported (the request was cancelled
/// or failed for another reason) counts neither way.
pub(crate) struct Ticket {
    shared: Arc<Shared>,
    key: String,
    accessor: String,
    identity: String,
    config: UserLockoutConfig,
    done: bool,
}

impl Ticket {
    /// The login failed on its credentials: counted; a lock reached is stored before this
    /// returns. The login stays in flight (counted as a failure) until the record is written,
    /// so no concurrent login gets through in between.
    pub(crate) async fn failed(mut self, now: SystemTime) -> Result<()> {
        let now = unix(now);
        let record = {
            let mut tracked = self.shared.lock();
            let entry = tracked.entry(self.key.clone()).or_insert(Tracked {
                failures: 0,
                last_failure: now,
                pending: 1,
            });
            entry.settle(&self.config, now);
            entry.failures = entry.failures.saturating_add(1);
            entry.last_failure = now;
            (entry.failures >= self.config.threshold).then(|| LockedRecord {
                mount_accessor: self.accessor.clone(),
                alias_identifier: self.identity.clone(),
                failed_login_count: entry.failures,
                last_failed_login_time: entry.last_failure,
            })
        };
        let written = match record {
            Some(record) => match serde_json::to_vec(&record) {
                Ok(bytes) => self
                    .shared
                    .storage
                    .put(&self.key, bytes)
                    .await
                    .map_err(Into::into),
                Err(e) => Err(VaultError::Internal(format!("encoding a locked user: {e}"))),
            },
            None => Ok(()),
        };
        // Dropping the ticket now ends the login's time in flight.
        self.release(false);
        written
    }

    /// The login succeeded: the count starts over.
    pub(crate) fn succeeded(mut self) {
        self.release(true);
    }

    /// Ends the login's time in flight; `reset` clears the failures.
    fn release(&mut self, reset: bool) {
        self.done = true;
        let mut tracked = self.shared.lock();
        if let Some(entry) = tracked.get_mut(&self.key) {
            entry.pending = entry.pending.saturating_sub(1);
            if reset {
                entry.failures = 0;
            }
            if entry.pending == 0 && entry.failures == 0 {
                tracked.remove(&self.key);
            }
        }
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        if !self.done {
            self.release(false);
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "test code")]

    use super::*;

    /// A flood of made-up identities with one failure each cannot push out an identity with
    /// more failures (an attacker's own guesses at a real user); settled counters go first.
    #[test]
    fn eviction_keeps_the_identities_closest_to_a_lock() {
        let config = UserLockoutConfig::default();
        let now = 1_000_000;
        let mut tracked = HashMap::new();
        tracked.insert(
            "victim".to_owned(),
            Tracked {
                failures: 4,
                last_failure: now - 600,
                pending: 0,
            },
        );
        for i in 0..MAX_TRACKED {
            tracked.insert(
                format!("flood-{i}"),
                Tracked {
                    failures: 1,
                    last_failure: now - 1,
                    pending: 0,
                },
            );
        }
        evict(&mut tracked, &config, now);
        assert!(tracked.contains_key("victim"));
        assert!(tracked.len() + MAX_TRACKED / 10 <= MAX_TRACKED + 1);
        // Settled counters (past the counter reset) are all dropped first.
        let mut settled: HashMap<String, Tracked> = (0..MAX_TRACKED)
            .map(|i| {
                (
                    format!("old-{i}"),
                    Tracked {
                        failures: 2,
                        last_failure: now - 3600,
                        pending: 0,
                    },
                )
            })
            .collect();
        evict(&mut settled, &config, now);
        assert!(settled.is_empty());
    }

    #[test]
    fn zero_settings_are_refused() {
        let mut lockouts = UserLockouts::new();
        for stanza in [
            UserLockout::new().threshold(0),
            UserLockout::new().duration(Duration::ZERO),
            UserLockout::new().counter_reset(Duration::ZERO),
        ] {
            assert!(lockouts.set("all", stanza).is_err(), "{stanza:?}");
        }
    }

    #[test]
    fn stanzas_fill_from_all_then_defaults() {
        let mut lockouts = UserLockouts::new();
        assert_eq!(
            lockouts.for_method("userpass"),
            UserLockoutConfig::default()
        );
        lockouts
            .set("all", UserLockout::new().threshold(7))
            .unwrap();
        lockouts
            .set(
                "UserPass",
                UserLockout::new().duration(Duration::from_secs(60)),
            )
            .unwrap();
        let userpass = lockouts.for_method("userpass");
        assert_eq!(userpass.threshold, 7);
        assert_eq!(userpass.duration, Duration::from_secs(60));
        assert_eq!(userpass.counter_reset, DEFAULT_LOCKOUT_COUNTER_RESET);
        assert_eq!(lockouts.for_method("approle").threshold, 7);
        assert!(lockouts.set("jwt", UserLockout::new()).is_err());
    }

    #[test]
    fn tuning_overrides_and_unsupported_methods_are_off() {
        let server = UserLockouts::new();
        let tune = MountLockout {
            lockout_threshold: 2,
            lockout_duration: 0,
            lockout_counter_reset: 9,
            lockout_disable: false,
        };
        let config = resolve(&server, "userpass", Some(&tune));
        assert_eq!(config.threshold, 2);
        assert_eq!(config.duration, DEFAULT_LOCKOUT_DURATION);
        assert_eq!(config.counter_reset, Duration::from_secs(9));
        assert!(!config.disabled);
        assert!(resolve(&server, "jwt", None).disabled);
    }
}
