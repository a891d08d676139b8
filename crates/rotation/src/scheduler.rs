//! The scheduler: a persisted state machine per secret, advanced by [`Scheduler::tick`].
//!
//! Order of every rotation, each transition persisted before the next side effect:
//!
//! 1. intent: a new pending version id is recorded (`step = create`) — before anything is made;
//! 2. `create` → `step = set`; 3. `set` → `step = test`; 4. `test` → `step = finish` (the pending
//!    credential is now *proven*); 5. `finish` → labels move: previous ← current (valid until the
//!    grace period ends), current ← pending; the next due time moves only now;
//! 6. after the grace period, `revoke_previous` → previous cleared.
//!
//! A crash between a side effect and its record repeats the step on restart (steps are
//! idempotent); `finish` can only run once `test` has passed and been recorded; `revoke_previous`
//! only ever targets the previous label, never current. A failed `create`, `set` or `test`
//! discards the pending credential and the next attempt makes a fresh one (vault#28989); a failed
//! `finish` is retried as is (its credential is set and tested). Retries back off exponentially to
//! a cap; after `max_failures` in a row the secret is parked and alerts once until `rotate_now`.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use strongroom_storage::Storage;

use crate::alert::{Alert, AlertKind, AlertSink};
use crate::error::{Result, RotationError, StepError};
use crate::schedule::{Schedule, secs};

/// The most state transitions one visit to a secret makes before yielding to the next tick.
const MAX_TRANSITIONS: usize = 32;

/// The steps a rotation goes through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    /// Make the pending credential.
    Create,
    /// Install it where it is used.
    Set,
    /// Prove it works.
    Test,
    /// Promote it to current.
    Finish,
}

/// What a step is told: the secret and the version ids under each label.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StepContext {
    /// The secret's id.
    pub secret: String,
    /// The pending version (the one being rotated in), if any.
    pub pending: Option<String>,
    /// The current version.
    pub current: Option<String>,
    /// The previous version (valid until its grace period ends).
    pub previous: Option<String>,
}

/// A step's outcome.
pub type StepResult = std::result::Result<(), StepError>;

/// The four rotation steps AWS Secrets Manager made standard, plus revoking the previous
/// credential. Every method must be idempotent: after a crash the scheduler calls it again with
/// the same version ids.
#[async_trait]
pub trait Rotator: Send + Sync {
    /// Makes the credential `ctx.pending` (not yet in use).
    async fn create(&self, ctx: &StepContext) -> StepResult;
    /// Installs `ctx.pending` where it is used, next to `ctx.current` (dual credentials).
    async fn set(&self, ctx: &StepContext) -> StepResult;
    /// Proves `ctx.pending` works (log in with it, call the service...).
    async fn test(&self, ctx: &StepContext) -> StepResult;
    /// Promotes `ctx.pending` to current (readers now get it).
    async fn finish(&self, ctx: &StepContext) -> StepResult;
    /// Revokes `ctx.previous` (its grace period is over).
    async fn revoke_previous(&self, ctx: &StepContext) -> StepResult;
    /// Throws `ctx.pending` away after a failed `create`, `set` or `test` (default: nothing to
    /// do). Failures are logged, not retried: a pending credential left behind blocks nothing.
    async fn discard_pending(&self, ctx: &StepContext) -> StepResult {
        let _ = ctx;
        Ok(())
    }
}

/// A time source (a manual one makes months of schedule run in milliseconds).
pub trait Clock: Send + Sync {
    /// Now.
    fn now(&self) -> SystemTime;
}

/// The system clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
}

/// A clock that moves only when told.
#[derive(Debug)]
pub struct ManualClock {
    now: RwLock<SystemTime>,
}

impl ManualClock {
    /// A clock showing `start`.
    pub fn new(start: SystemTime) -> Self {
        Self {
            now: RwLock::new(start),
        }
    }

    /// Moves the clock forward.
    pub fn advance(&self, by: Duration) {
        let mut now = self.now.write().unwrap_or_else(PoisonError::into_inner);
        *now += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> SystemTime {
        *self.now.read().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The labels readers use to find the credential that works.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Labels {
    /// The credential in use.
    pub current: Option<String>,
    /// The credential being rotated in.
    pub pending: Option<String>,
    /// The credential rotated out, still valid until `previous_until`.
    pub previous: Option<String>,
    /// When the previous credential is revoked (Unix seconds).
    pub previous_until: u64,
}

/// A rotation in progress.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct InFlight {
    pending: String,
    step: Step,
}

/// Everything the scheduler keeps about one secret, persisted after every transition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SecretState {
    /// The secret's id.
    pub id: String,
    /// Its schedule.
    pub schedule: Schedule,
    /// Its labels.
    pub labels: Labels,
    rotation: Option<InFlight>,
    /// When the next rotation is due (Unix seconds); moves only when a rotation finishes.
    pub next_due: u64,
    /// Not before this time is a failed step retried (backoff).
    next_attempt: u64,
    /// Not before this time is a failed revocation retried.
    next_revoke: u64,
    /// Failures in a row (any step).
    pub consecutive_failures: u32,
    /// Last successful rotation (Unix seconds).
    pub last_success: Option<u64>,
    /// Last failure (Unix seconds).
    pub last_failure: Option<u64>,
    /// The last failure's message.
    pub last_error: Option<String>,
    /// The step the last failure happened in (`None` for a failed revocation).
    #[serde(default)]
    pub last_failed_step: Option<Step>,
    /// Too many failures: waiting for `rotate_now`.
    pub parked: bool,
    overdue_alerted: bool,
    versions_minted: u64,
    /// Failed revocations in a row (their own backoff).
    #[serde(default)]
    revoke_failures: u32,
}

/// Per-secret metrics.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Metrics {
    /// Last successful rotation.
    pub last_success: Option<u64>,
    /// Last failure.
    pub last_failure: Option<u64>,
    /// Failures in a row.
    pub consecutive_failures: u32,
    /// Next due time.
    pub next_due: u64,
    /// Whether it is parked.
    pub parked: bool,
}

/// Retry backoff: `initial × factor^(failures-1)`, at most `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Backoff {
    /// The first retry's delay.
    pub initial: Duration,
    /// The longest delay.
    pub max: Duration,
    /// The growth factor.
    pub factor: u32,
}

impl Backoff {
    /// Delays from `initial`, multiplied by `factor` after each failure, capped at `max`.
    pub fn new(initial: Duration, max: Duration, factor: u32) -> Self {
        Self {
            initial,
            max,
            factor,
        }
    }

    fn delay(self, failures: u32) -> u64 {
        let exp = failures.saturating_sub(1).min(32);
        let factor = u64::from(self.factor.max(1)).saturating_pow(exp);
        self.initial
            .as_secs()
            .saturating_mul(factor)
            .min(self.max.as_secs())
            .max(1)
    }
}

/// Scheduler settings.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SchedulerConfig {
    /// Secrets advanced at once in a tick.
    pub concurrency: usize,
    /// Retry backoff.
    pub backoff: Backoff,
    /// Failures in a row before a secret is parked.
    pub max_failures: u32,
    /// A rotation this late raises an overdue alert.
    pub overdue_after: Duration,
    /// The storage prefix of the state entries.
    pub prefix: String,
    /// How long one rotator step may take before it counts as failed.
    pub step_timeout: Duration,
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        Self {
            concurrency: 8,
            backoff: Backoff {
                initial: Duration::from_secs(60),
                max: Duration::from_secs(3600),
                factor: 2,
            },
            max_failures: 5,
            overdue_after: Duration::from_secs(3600),
            prefix: "rotation/".into(),
            step_timeout: Duration::from_secs(300),
        }
    }
}

impl SchedulerConfig {
    /// Checks the settings.
    ///
    /// # Errors
    ///
    /// [`RotationError::Config`] for zero concurrency or failures, a zero backoff, a prefix
    /// that is not a storage folder.
    pub fn validate(&self) -> Result<()> {
        if self.concurrency == 0 || self.max_failures == 0 {
            return Err(RotationError::Config(
                "concurrency and max_failures must be at least 1".into(),
            ));
        }
        if self.backoff.initial.is_zero() || self.backoff.max < self.backoff.initial {
            return Err(RotationError::Config(
                "backoff: initial must be positive and at most max".into(),
            ));
        }
        if self.step_timeout.is_zero() {
            return Err(RotationError::Config(
                "step_timeout must be positive".into(),
            ));
        }
        if self.prefix.is_empty() || !self.prefix.ends_with('/') {
            return Err(RotationError::Config(
                "prefix must be a storage folder ending in '/'".into(),
            ));
        }
        Ok(())
    }
}

/// What a tick did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TickReport {
    /// Rotations finished.
    pub rotated: usize,
    /// Steps that failed.
    pub failures: usize,
    /// Previous credentials revoked.
    pub revoked: usize,
}

/// The rotation scheduler. See the module docs for the order of things.
pub struct Scheduler {
    storage: Arc<dyn Storage>,
    clock: Arc<dyn Clock>,
    alerts: Arc<dyn AlertSink>,
    config: SchedulerConfig,
    rotators: RwLock<HashMap<String, Arc<dyn Rotator>>>,
    /// When each secret next has work (Unix seconds), ordered: a tick visits only the due ones.
    wakes: Mutex<Wakes>,
    /// One lock per secret: a state is loaded, changed and saved by one caller at a time
    /// (`tick`, `rotate_now`, `register` in this process; several processes sharing storage
    /// would also need a lease on the secret, which this scheduler does not take yet).
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

/// The wake-up index: `(time, id)` ordered, and each id's current time.
#[derive(Debug, Default)]
struct Wakes {
    ordered: BTreeSet<(u64, String)>,
    by_id: HashMap<String, u64>,
}

impl Wakes {
    fn set(&mut self, id: &str, at: u64) {
        if let Some(old) = self.by_id.insert(id.to_owned(), at) {
            self.ordered.remove(&(old, id.to_owned()));
        }
        self.ordered.insert((at, id.to_owned()));
    }

    fn remove(&mut self, id: &str) {
        if let Some(old) = self.by_id.remove(id) {
            self.ordered.remove(&(old, id.to_owned()));
        }
    }

    fn due(&self, now: u64) -> Vec<String> {
        self.ordered
            .range(..(now.saturating_add(1), String::new()))
            .map(|(_, id)| id.clone())
            .collect()
    }
}

impl std::fmt::Debug for Scheduler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scheduler")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// A secret id: letters, digits, `-`, `_`, `.`, `/`-free, 1–128 characters.
fn check_id(id: &str) -> Result<()> {
    if id.is_empty()
        || id.len() > 128
        || !id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    {
        return Err(RotationError::Config(format!(
            "invalid secret id {id:?}: 1-128 letters, digits, '-', '_' or '.'"
        )));
    }
    Ok(())
}

impl Scheduler {
    /// A scheduler persisting to `storage`.
    ///
    /// # Errors
    ///
    /// [`RotationError::Config`] for bad settings.
    pub fn new(
        storage: Arc<dyn Storage>,
        clock: Arc<dyn Clock>,
        alerts: Arc<dyn AlertSink>,
        config: SchedulerConfig,
    ) -> Result<Self> {
        config.validate()?;
        Ok(Self {
            storage,
            clock,
            alerts,
            config,
            rotators: RwLock::new(HashMap::new()),
            wakes: Mutex::new(Wakes::default()),
            locks: Mutex::new(HashMap::new()),
        })
    }

    /// When `state` next has work: its due time (or retry time), its previous credential's
    /// revocation, or the moment it would become overdue.
    fn wake_time(&self, state: &SecretState) -> u64 {
        let mut at = u64::MAX;
        if state.labels.previous.is_some() {
            at = at.min(state.labels.previous_until.max(state.next_revoke));
        }
        if state.labels.pending.is_some() && state.rotation.is_none() {
            at = 0;
        }
        if !state.parked {
            at = at.min(match state.rotation {
                Some(_) => state.next_attempt,
                None => state.next_due.max(state.next_attempt),
            });
        }
        if !state.overdue_alerted {
            at = at.min(
                state
                    .next_due
                    .saturating_add(self.config.overdue_after.as_secs())
                    .saturating_add(1),
            );
        }
        at
    }

    fn lock_for(&self, id: &str) -> Arc<tokio::sync::Mutex<()>> {
        Arc::clone(
            self.locks
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .entry(id.to_owned())
                .or_default(),
        )
    }

    fn set_wake(&self, state: &SecretState) {
        let at = self.wake_time(state);
        self.wakes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .set(&state.id, at);
    }

    fn now(&self) -> u64 {
        secs(self.clock.now())
    }

    fn key(&self, id: &str) -> String {
        format!("{}{id}", self.config.prefix)
    }

    async fn load(&self, id: &str) -> Result<Option<SecretState>> {
        match self.storage.get(&self.key(id)).await? {
            Some(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|_| RotationError::Corrupt(id.to_owned())),
            None => Ok(None),
        }
    }

    async fn save(&self, state: &SecretState) -> Result<()> {
        let bytes =
            serde_json::to_vec(state).map_err(|_| RotationError::Corrupt(state.id.clone()))?;
        self.storage.put(&self.key(&state.id), bytes).await?;
        Ok(())
    }

    /// Registers `id` with its rotator. A secret already in storage keeps its state (a restart
    /// resumes where it stopped) and takes the new schedule; a new one starts with `current` as
    /// its working credential and its first rotation one period from now.
    ///
    /// # Errors
    ///
    /// [`RotationError::Config`] for a bad id; storage errors.
    pub async fn register(
        &self,
        id: &str,
        schedule: Schedule,
        rotator: Arc<dyn Rotator>,
        current: Option<String>,
    ) -> Result<()> {
        check_id(id)?;
        let lock = self.lock_for(id);
        let _held = lock.lock().await;
        let state = match self.load(id).await? {
            Some(mut state) => {
                if state.schedule != schedule {
                    state.next_due =
                        schedule.next_due(state.last_success.unwrap_or(self.now()), id)?;
                    state.schedule = schedule;
                }
                state
            }
            None => SecretState {
                id: id.to_owned(),
                next_due: schedule.next_due(self.now(), id)?,
                schedule,
                labels: Labels {
                    current,
                    ..Labels::default()
                },
                rotation: None,
                next_attempt: 0,
                next_revoke: 0,
                consecutive_failures: 0,
                last_success: None,
                last_failure: None,
                last_error: None,
                last_failed_step: None,
                parked: false,
                overdue_alerted: false,
                versions_minted: 0,
                revoke_failures: 0,
            },
        };
        self.save(&state).await?;
        self.rotators
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(id.to_owned(), rotator);
        self.set_wake(&state);
        Ok(())
    }

    /// The persisted state of `id` (its labels tell readers which credential to use).
    ///
    /// # Errors
    ///
    /// Storage errors.
    pub async fn state(&self, id: &str) -> Result<Option<SecretState>> {
        self.load(id).await
    }

    /// The metrics of `id`.
    ///
    /// # Errors
    ///
    /// [`RotationError::UnknownSecret`]; storage errors.
    pub async fn metrics(&self, id: &str) -> Result<Metrics> {
        let state = self
            .load(id)
            .await?
            .ok_or_else(|| RotationError::UnknownSecret(id.to_owned()))?;
        Ok(Metrics {
            last_success: state.last_success,
            last_failure: state.last_failure,
            consecutive_failures: state.consecutive_failures,
            next_due: state.next_due,
            parked: state.parked,
        })
    }

    /// Makes `id` due now, unparking it (the operator's answer to a parked secret or a leak).
    ///
    /// # Errors
    ///
    /// [`RotationError::UnknownSecret`]; storage errors.
    pub async fn rotate_now(&self, id: &str) -> Result<()> {
        let lock = self.lock_for(id);
        let _held = lock.lock().await;
        let state = self.make_due(id).await?;
        self.set_wake(&state);
        Ok(())
    }

    /// Makes `id` due now and unparks it (the caller holds its lock).
    async fn make_due(&self, id: &str) -> Result<SecretState> {
        let mut state = self
            .load(id)
            .await?
            .ok_or_else(|| RotationError::UnknownSecret(id.to_owned()))?;
        let now = self.now();
        state.next_due = now;
        state.next_attempt = now;
        state.next_revoke = 0;
        state.parked = false;
        state.consecutive_failures = 0;
        self.save(&state).await?;
        Ok(state)
    }

    /// Rotates `id` now in the caller's task and reports what happened (the operator's "rotate
    /// it now" that waits for the outcome, e.g. Vault's `rotate-role`). Unparks it like
    /// [`rotate_now`](Self::rotate_now). Making it due and running it happen under one hold of
    /// its lock, so a concurrent tick cannot take the rotation away from the report. A failure
    /// is in the report (`failures`) and the state's `last_error`, and was alerted like any
    /// other.
    ///
    /// # Errors
    ///
    /// [`RotationError::UnknownSecret`] for an id not registered here; storage errors.
    pub async fn rotate(&self, id: &str) -> Result<TickReport> {
        let rotator = self
            .rotators
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(id)
            .cloned()
            .ok_or_else(|| RotationError::UnknownSecret(id.to_owned()))?;
        let lock = self.lock_for(id);
        let _held = lock.lock().await;
        self.make_due(id).await?;
        let (report, state) = self.advance_inner(id, rotator.as_ref()).await?;
        if let Some(state) = state {
            self.set_wake(&state);
        }
        Ok(report)
    }

    /// Forgets `id`: its rotator, its wake-up and its persisted state (returned, so the caller
    /// can clean up the credentials its labels name). A visit in progress for it (a rotation's
    /// remaining steps) finishes first.
    ///
    /// # Errors
    ///
    /// Storage errors (then nothing is forgotten).
    pub async fn deregister(&self, id: &str) -> Result<Option<SecretState>> {
        let lock = self.lock_for(id);
        let _held = lock.lock().await;
        let state = self.load(id).await?;
        self.storage.delete(&self.key(id)).await?;
        self.rotators
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(id);
        self.wakes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(id);
        Ok(state)
    }

    /// Advances every registered secret that has work due, `concurrency` at a time. Only due
    /// secrets are read: a tick over 100 000 secrets of which none is due costs an index lookup.
    ///
    /// # Errors
    ///
    /// The first storage error (other secrets in the tick still ran).
    pub async fn tick(&self) -> Result<TickReport> {
        let due = self
            .wakes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .due(self.now());
        let ids: Vec<(String, Arc<dyn Rotator>)> = {
            let rotators = self.rotators.read().unwrap_or_else(PoisonError::into_inner);
            due.into_iter()
                .filter_map(|id| rotators.get(&id).map(|r| (id, Arc::clone(r))))
                .collect()
        };
        let mut report = TickReport::default();
        let mut first_error = None;
        for chunk in ids.chunks(self.config.concurrency) {
            let results = join_all(
                chunk
                    .iter()
                    .map(|(id, rotator)| self.advance(id, rotator.as_ref())),
            )
            .await;
            for result in results {
                match result {
                    Ok(one) => {
                        report.rotated += one.rotated;
                        report.failures += one.failures;
                        report.revoked += one.revoked;
                    }
                    Err(err) => {
                        first_error.get_or_insert(err);
                    }
                }
            }
        }
        match first_error {
            Some(err) => Err(err),
            None => Ok(report),
        }
    }

    /// Ticks every `every` until `stop` turns true.
    pub async fn run(&self, every: Duration, mut stop: tokio::sync::watch::Receiver<bool>) {
        loop {
            if let Err(err) = self.tick().await {
                tracing::warn!(error = %err, "rotation tick failed");
            }
            tokio::select! {
                () = tokio::time::sleep(every) => {}
                _ = stop.wait_for(|s| *s) => return,
            }
        }
    }

    async fn alert(&self, id: &str, kind: AlertKind) {
        self.alerts
            .alert(&Alert {
                secret: id.to_owned(),
                at: self.now(),
                kind,
            })
            .await;
    }

    fn context(state: &SecretState, pending: Option<String>) -> StepContext {
        StepContext {
            secret: state.id.clone(),
            pending,
            current: state.labels.current.clone(),
            previous: state.labels.previous.clone(),
        }
    }

    /// Runs one rotator step, failing it after `step_timeout` (a hung target must not hold
    /// every other secret's rotation).
    async fn bounded(&self, step: impl std::future::Future<Output = StepResult>) -> StepResult {
        match tokio::time::timeout(self.config.step_timeout, step).await {
            Ok(outcome) => outcome,
            Err(_) => Err(StepError::new(format!(
                "the step did not finish within {} s",
                self.config.step_timeout.as_secs()
            ))),
        }
    }

    /// Records a failure: backoff, alert, parking.
    async fn fail(&self, state: &mut SecretState, alert: AlertKind, error: &StepError) {
        let now = self.now();
        state.consecutive_failures = state.consecutive_failures.saturating_add(1);
        state.last_failure = Some(now);
        state.last_error = Some(error.0.clone());
        state.last_failed_step = match &alert {
            AlertKind::StepFailed { step, .. } => Some(*step),
            _ => None,
        };
        state.next_attempt =
            now.saturating_add(self.config.backoff.delay(state.consecutive_failures));
        self.alert(&state.id, alert).await;
        if state.consecutive_failures >= self.config.max_failures && !state.parked {
            state.parked = true;
            self.alert(
                &state.id,
                AlertKind::Parked {
                    failures: state.consecutive_failures,
                },
            )
            .await;
        }
    }

    /// Throws away the pending credential after a failed step; the next attempt mints a new one.
    async fn abandon(&self, state: &mut SecretState, rotator: &dyn Rotator, pending: &str) {
        let ctx = Self::context(state, Some(pending.to_owned()));
        if let Err(err) = self.bounded(rotator.discard_pending(&ctx)).await {
            tracing::warn!(secret = %state.id, error = %err, "discarding a pending credential failed");
        }
        state.rotation = None;
        state.labels.pending = None;
    }

    /// Runs whatever is due for one secret, then records when it next has work.
    async fn advance(&self, id: &str, rotator: &dyn Rotator) -> Result<TickReport> {
        let lock = self.lock_for(id);
        let _held = lock.lock().await;
        let (report, state) = self.advance_inner(id, rotator).await?;
        if let Some(state) = state {
            self.set_wake(&state);
        }
        Ok(report)
    }

    /// Runs whatever is due for one secret, persisting after every transition.
    async fn advance_inner(
        &self,
        id: &str,
        rotator: &dyn Rotator,
    ) -> Result<(TickReport, Option<SecretState>)> {
        let mut report = TickReport::default();
        let Some(mut state) = self.load(id).await? else {
            return Ok((report, None));
        };
        // A pending label without a rotation (a crash while discarding): clean it up.
        if state.rotation.is_none()
            && let Some(pending) = state.labels.pending.clone()
        {
            self.abandon(&mut state, rotator, &pending).await;
            self.save(&state).await?;
        }
        // Bounded: a visit makes at most a few transitions (one rotation and a revocation); the
        // bound keeps any unforeseen cycle from spinning a tick forever.
        for _ in 0..MAX_TRANSITIONS {
            let now = self.now();
            // The previous credential's grace period is over: revoke it.
            if state.labels.previous.is_some()
                && now >= state.labels.previous_until
                && now >= state.next_revoke
            {
                let ctx = Self::context(&state, None);
                match self.bounded(rotator.revoke_previous(&ctx)).await {
                    Ok(()) => {
                        state.labels.previous = None;
                        state.revoke_failures = 0;
                        report.revoked += 1;
                        self.save(&state).await?;
                    }
                    Err(err) => {
                        state.revoke_failures = state.revoke_failures.saturating_add(1);
                        state.next_revoke =
                            now.saturating_add(self.config.backoff.delay(state.revoke_failures));
                        self.alert(
                            id,
                            AlertKind::RevokeFailed {
                                error: err.0.clone(),
                            },
                        )
                        .await;
                        self.save(&state).await?;
                        report.failures += 1;
                    }
                }
                continue;
            }
            if state.parked {
                return Ok((report, Some(state)));
            }
            let Some(inflight) = state.rotation.clone() else {
                if now < state.next_due || now < state.next_attempt {
                    if !state.overdue_alerted
                        && now
                            > state
                                .next_due
                                .saturating_add(self.config.overdue_after.as_secs())
                    {
                        state.overdue_alerted = true;
                        let late_by = now - state.next_due;
                        self.alert(id, AlertKind::Overdue { late_by }).await;
                        self.save(&state).await?;
                    }
                    return Ok((report, Some(state)));
                }
                // Too late to start (the schedule's window has passed): wait for the next.
                if state.schedule.missed(state.next_due, now) {
                    let due = state.next_due;
                    state.next_due = state
                        .schedule
                        .next_due(now, id)
                        .unwrap_or(now.saturating_add(86_400));
                    state.next_attempt = 0;
                    state.overdue_alerted = false;
                    self.alert(
                        id,
                        AlertKind::Missed {
                            due,
                            next: state.next_due,
                        },
                    )
                    .await;
                    self.save(&state).await?;
                    return Ok((report, Some(state)));
                }
                // A previous credential still in its grace period would lose its tracking if a
                // new rotation overwrote the label: revoke it first (its grace ends early).
                if state.labels.previous.is_some() {
                    if now < state.next_revoke {
                        // Its revocation is backing off after a failure: the rotation waits.
                        return Ok((report, Some(state)));
                    }
                    state.labels.previous_until = now;
                    continue;
                }
                // Record intent before any side effect (vault#8782).
                // A fresh id, never one of the labels in use (a caller may have registered
                // its initial credential under an id of the same shape).
                let pending = loop {
                    state.versions_minted = state.versions_minted.saturating_add(1);
                    let candidate = format!("{id}-v{}", state.versions_minted);
                    if state.labels.current.as_deref() != Some(candidate.as_str())
                        && state.labels.previous.as_deref() != Some(candidate.as_str())
                    {
                        break candidate;
                    }
                };
                state.labels.pending = Some(pending.clone());
                state.rotation = Some(InFlight {
                    pending,
                    step: Step::Create,
                });
                self.save(&state).await?;
                continue;
            };
            if now < state.next_attempt {
                return Ok((report, Some(state)));
            }
            let ctx = Self::context(&state, Some(inflight.pending.clone()));
            let outcome = self
                .bounded(async {
                    match inflight.step {
                        Step::Create => rotator.create(&ctx).await,
                        Step::Set => rotator.set(&ctx).await,
                        Step::Test => rotator.test(&ctx).await,
                        Step::Finish => rotator.finish(&ctx).await,
                    }
                })
                .await;
            match (inflight.step, outcome) {
                (step @ (Step::Create | Step::Set | Step::Test), Ok(())) => {
                    let next = match step {
                        Step::Create => Step::Set,
                        Step::Set => Step::Test,
                        _ => Step::Finish,
                    };
                    state.rotation = Some(InFlight {
                        pending: inflight.pending,
                        step: next,
                    });
                    self.save(&state).await?;
                }
                (Step::Finish, Ok(())) => {
                    let grace = state.schedule.grace_secs();
                    let old = state.labels.current.take();
                    state.labels.current = Some(inflight.pending);
                    state.labels.pending = None;
                    state.labels.previous = old;
                    state.labels.previous_until = now.saturating_add(grace);
                    state.next_revoke = 0;
                    state.rotation = None;
                    state.last_success = Some(now);
                    state.consecutive_failures = 0;
                    state.overdue_alerted = false;
                    // Readers' ttl moves only now that the new credential is current.
                    // Promote even if the schedule cannot say when next (then in a day).
                    state.next_due = state
                        .schedule
                        .next_due(now, id)
                        .unwrap_or(now.saturating_add(86_400));
                    state.next_attempt = 0;
                    self.save(&state).await?;
                    report.rotated += 1;
                }
                (Step::Finish, Err(err)) => {
                    // Set and tested: retry finishing this same credential.
                    self.fail(
                        &mut state,
                        AlertKind::StepFailed {
                            step: Step::Finish,
                            error: err.0.clone(),
                        },
                        &err,
                    )
                    .await;
                    self.save(&state).await?;
                    report.failures += 1;
                    return Ok((report, Some(state)));
                }
                (step, Err(err)) => {
                    // The current credential stays current; the pending one is thrown away and
                    // the retry makes a fresh one (vault#28989).
                    self.abandon(&mut state, rotator, &inflight.pending).await;
                    self.fail(
                        &mut state,
                        AlertKind::StepFailed {
                            step,
                            error: err.0.clone(),
                        },
                        &err,
                    )
                    .await;
                    self.save(&state).await?;
                    report.failures += 1;
                    return Ok((report, Some(state)));
                }
            }
        }
        Ok((report, Some(state)))
    }
}

/// Runs futures concurrently on the current task and collects their outputs in order.
async fn join_all<F: std::future::Future>(futures: impl Iterator<Item = F>) -> Vec<F::Output> {
    let mut pinned: Vec<std::pin::Pin<Box<F>>> = futures.map(Box::pin).collect();
    let mut outputs: Vec<Option<F::Output>> = pinned.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (future, output) in pinned.iter_mut().zip(outputs.iter_mut()) {
            if output.is_none() {
                match future.as_mut().poll(cx) {
                    std::task::Poll::Ready(value) => *output = Some(value),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    outputs.into_iter().flatten().collect()
}
