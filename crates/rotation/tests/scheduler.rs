//! The scheduler against a simulated credential store, on a manual clock: a year of rotations,
//! crashes injected at every write, failing tests, backoff and parking, overdue alerts, and a
//! property test over random failures and crash points. The simulated store checks the
//! invariant on every call: at every instant at least one credential that passed `test` (or the
//! initial one) is valid, `finish` never promotes an untested credential, and nothing revokes the
//! credential in use.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::unwrap_in_result,
    reason = "test code"
)]

use std::collections::{BTreeSet, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use proptest::prelude::*;
use strongroom_rotation::{
    AlertKind, Backoff, Clock as _, ManualClock, MemorySink, Rotator, Schedule, Scheduler,
    SchedulerConfig, Step, StepContext, StepError, StepResult,
};
use strongroom_storage::{MemoryStorage, Op, Storage, StorageError};

const DAY: u64 = 86_400;

/// The system whose credentials rotate.
#[derive(Debug, Default)]
struct Target {
    created: BTreeSet<String>,
    valid: BTreeSet<String>,
    proven: BTreeSet<String>,
    in_use: String,
    calls: Vec<(Step, String)>,
    revoked: Vec<String>,
    /// Outcomes to hand out: `true` = fail the next call.
    failures: VecDeque<bool>,
    /// Fail every `test` (a pending credential that never works).
    tests_fail: bool,
}

impl Target {
    fn new() -> Self {
        let mut target = Self::default();
        for set in [&mut target.created, &mut target.valid, &mut target.proven] {
            set.insert("v0".into());
        }
        target.in_use = "v0".into();
        target
    }

    fn check(&self) {
        assert!(
            self.valid.iter().any(|c| self.proven.contains(c)),
            "no proven credential is valid: {self:?}"
        );
        assert!(
            self.valid.contains(&self.in_use),
            "the credential in use is gone: {self:?}"
        );
    }

    fn injected(&mut self) -> bool {
        self.failures.pop_front().unwrap_or(false)
    }
}

#[derive(Clone)]
struct Sim(Arc<Mutex<Target>>);

impl Sim {
    fn step(
        &self,
        step: Step,
        ctx: &StepContext,
        body: impl FnOnce(&mut Target, &str) -> StepResult,
    ) -> StepResult {
        let mut target = self.0.lock().unwrap();
        let pending = ctx.pending.clone().unwrap_or_default();
        target.calls.push((step, pending.clone()));
        if target.injected() {
            return Err(StepError::new(format!("injected failure in {step:?}")));
        }
        let result = body(&mut target, &pending);
        target.check();
        result
    }
}

#[async_trait]
impl Rotator for Sim {
    async fn create(&self, ctx: &StepContext) -> StepResult {
        self.step(Step::Create, ctx, |t, p| {
            t.created.insert(p.to_owned());
            Ok(())
        })
    }
    async fn set(&self, ctx: &StepContext) -> StepResult {
        self.step(Step::Set, ctx, |t, p| {
            assert!(t.created.contains(p), "set before create");
            t.valid.insert(p.to_owned());
            Ok(())
        })
    }
    async fn test(&self, ctx: &StepContext) -> StepResult {
        self.step(Step::Test, ctx, |t, p| {
            if t.tests_fail || !t.valid.contains(p) {
                return Err(StepError::new("login with the pending credential failed"));
            }
            t.proven.insert(p.to_owned());
            Ok(())
        })
    }
    async fn finish(&self, ctx: &StepContext) -> StepResult {
        self.step(Step::Finish, ctx, |t, p| {
            assert!(t.proven.contains(p), "finish of an untested credential {p}");
            t.in_use = p.to_owned();
            Ok(())
        })
    }
    async fn revoke_previous(&self, ctx: &StepContext) -> StepResult {
        let mut target = self.0.lock().unwrap();
        if target.injected() {
            return Err(StepError::new("injected revoke failure"));
        }
        let previous = ctx.previous.clone().unwrap();
        assert_ne!(previous, target.in_use, "revoking the credential in use");
        assert_ne!(Some(&previous), ctx.current.as_ref());
        target.valid.remove(&previous);
        target.revoked.push(previous);
        target.check();
        Ok(())
    }
    async fn discard_pending(&self, ctx: &StepContext) -> StepResult {
        let mut target = self.0.lock().unwrap();
        let pending = ctx.pending.clone().unwrap();
        assert_ne!(pending, target.in_use, "discarding the credential in use");
        target.valid.remove(&pending);
        target.check();
        Ok(())
    }
}

/// Memory storage whose writes start failing after `budget` of them (the process "dies").
#[derive(Debug)]
struct Flaky {
    inner: Arc<MemoryStorage>,
    budget: AtomicUsize,
}

impl Flaky {
    fn spend(&self) -> Result<(), StorageError> {
        let left = self.budget.load(Ordering::SeqCst);
        if left == 0 {
            return Err(StorageError::Config("crash injected".into()));
        }
        self.budget.store(left - 1, Ordering::SeqCst);
        Ok(())
    }
}

#[async_trait]
impl Storage for Flaky {
    async fn get(&self, key: &str) -> strongroom_storage::Result<Option<Vec<u8>>> {
        self.inner.get(key).await
    }
    async fn put(&self, key: &str, value: Vec<u8>) -> strongroom_storage::Result<()> {
        self.spend()?;
        self.inner.put(key, value).await
    }
    async fn delete(&self, key: &str) -> strongroom_storage::Result<()> {
        self.spend()?;
        self.inner.delete(key).await
    }
    async fn list(&self, prefix: &str) -> strongroom_storage::Result<Vec<String>> {
        self.inner.list(prefix).await
    }
    async fn transaction(&self, ops: Vec<Op>) -> strongroom_storage::Result<()> {
        self.spend()?;
        self.inner.transaction(ops).await
    }
}

fn config() -> SchedulerConfig {
    let mut config = SchedulerConfig::default();
    config.backoff = Backoff::new(Duration::from_secs(60), Duration::from_secs(3600), 2);
    config.max_failures = 5;
    config.overdue_after = Duration::from_secs(6 * 3600);
    config
}

struct World {
    storage: Arc<MemoryStorage>,
    clock: Arc<ManualClock>,
    alerts: Arc<MemorySink>,
    target: Arc<Mutex<Target>>,
}

impl World {
    fn new() -> Self {
        Self {
            storage: Arc::new(MemoryStorage::new()),
            clock: Arc::new(ManualClock::new(
                SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000),
            )),
            alerts: Arc::new(MemorySink::default()),
            target: Arc::new(Mutex::new(Target::new())),
        }
    }

    async fn scheduler_over(&self, storage: Arc<dyn Storage>) -> Scheduler {
        let scheduler =
            Scheduler::new(storage, self.clock.clone(), self.alerts.clone(), config()).unwrap();
        let schedule = Schedule::every(Duration::from_secs(30 * DAY))
            .unwrap()
            .grace(Duration::from_secs(DAY))
            .unwrap();
        scheduler
            .register(
                "db",
                schedule,
                Arc::new(Sim(self.target.clone())),
                Some("v0".into()),
            )
            .await
            .unwrap();
        scheduler
    }

    async fn scheduler(&self) -> Scheduler {
        self.scheduler_over(self.storage.clone()).await
    }
}

#[tokio::test]
async fn a_year_of_monthly_rotations_in_order() {
    let world = World::new();
    let scheduler = world.scheduler().await;
    let started = std::time::Instant::now();
    let mut rotated = 0;
    for _ in 0..(365 * 24) {
        world.clock.advance(Duration::from_secs(3600));
        rotated += scheduler.tick().await.unwrap().rotated;
    }
    eprintln!("a simulated year in {:?}", started.elapsed());
    assert_eq!(rotated, 12);
    let state = scheduler.state("db").await.unwrap().unwrap();
    let target = world.target.lock().unwrap();
    // Every rotation ran create, set, test, finish in that order, for one fresh version each.
    let steps: Vec<Step> = target.calls.iter().map(|(s, _)| *s).collect();
    assert_eq!(steps.len(), 48);
    for chunk in steps.chunks(4) {
        assert_eq!(chunk, [Step::Create, Step::Set, Step::Test, Step::Finish]);
    }
    // Each previous credential was revoked after its grace period: all but the current one.
    assert_eq!(target.revoked.len(), 12);
    assert_eq!(target.valid.len(), 1);
    assert_eq!(
        state.labels.current.as_deref(),
        Some(target.in_use.as_str())
    );
    assert_eq!(state.labels.current.as_deref(), Some("db-v12"));
    assert!(world.alerts.alerts().is_empty());
}

#[tokio::test]
async fn a_crash_after_any_write_resumes_correctly() {
    // Count the writes of one whole rotation, then crash after each of them in turn.
    let probe = World::new();
    let budget = Arc::new(Flaky {
        inner: probe.storage.clone(),
        budget: AtomicUsize::new(usize::MAX),
    });
    let scheduler = probe.scheduler_over(budget.clone()).await;
    let before = budget.budget.load(Ordering::SeqCst);
    probe.clock.advance(Duration::from_secs(31 * DAY));
    scheduler.tick().await.unwrap();
    probe.clock.advance(Duration::from_secs(2 * DAY));
    scheduler.tick().await.unwrap();
    let writes = before - budget.budget.load(Ordering::SeqCst);
    assert!(writes >= 6, "{writes}");

    for crash_after in 0..writes {
        let world = World::new();
        let flaky = Arc::new(Flaky {
            inner: world.storage.clone(),
            budget: AtomicUsize::new(usize::MAX),
        });
        let scheduler = world.scheduler_over(flaky.clone()).await;
        flaky.budget.store(crash_after, Ordering::SeqCst);
        world.clock.advance(Duration::from_secs(31 * DAY));
        let _ = scheduler.tick().await; // dies at some write
        drop(scheduler);
        // The process restarts: same storage, fresh scheduler.
        let scheduler = world.scheduler().await;
        scheduler.tick().await.unwrap();
        world.clock.advance(Duration::from_secs(2 * DAY));
        scheduler.tick().await.unwrap();
        let state = scheduler.state("db").await.unwrap().unwrap();
        let target = world.target.lock().unwrap();
        target.check();
        let current = state.labels.current.clone().unwrap();
        assert_ne!(
            current, "v0",
            "crash after write {crash_after}: the rotation did not complete"
        );
        assert_eq!(current, target.in_use, "crash after write {crash_after}");
        assert!(target.proven.contains(&current));
        assert!(state.labels.pending.is_none() && state.labels.previous.is_none());
        assert!(
            !target.valid.contains("v0"),
            "the previous credential was revoked"
        );
    }
}

#[tokio::test]
async fn a_failing_test_keeps_current_discards_pending_and_alerts() {
    let world = World::new();
    let scheduler = world.scheduler().await;
    world.target.lock().unwrap().tests_fail = true;
    world.clock.advance(Duration::from_secs(31 * DAY));
    let report = scheduler.tick().await.unwrap();
    assert_eq!((report.rotated, report.failures), (0, 1));
    {
        let target = world.target.lock().unwrap();
        assert_eq!(target.in_use, "v0");
        assert!(
            !target.valid.contains("db-v1"),
            "the failed pending credential was discarded"
        );
    }
    let state = scheduler.state("db").await.unwrap().unwrap();
    assert_eq!(state.labels.current.as_deref(), Some("v0"));
    assert!(state.labels.pending.is_none());
    assert!(matches!(
        &world.alerts.alerts()[0].kind,
        AlertKind::StepFailed {
            step: Step::Test,
            ..
        }
    ));
    // The next attempt, after the backoff, uses a fresh credential and succeeds.
    world.target.lock().unwrap().tests_fail = false;
    world.clock.advance(Duration::from_secs(30));
    assert_eq!(
        scheduler.tick().await.unwrap().rotated,
        0,
        "still backing off"
    );
    world.clock.advance(Duration::from_secs(31));
    assert_eq!(scheduler.tick().await.unwrap().rotated, 1);
    let state = scheduler.state("db").await.unwrap().unwrap();
    assert_eq!(state.labels.current.as_deref(), Some("db-v2"));
    assert_eq!(
        scheduler.metrics("db").await.unwrap().consecutive_failures,
        0
    );
}

#[tokio::test]
async fn retries_back_off_then_park_until_rotate_now() {
    let world = World::new();
    let scheduler = world.scheduler().await;
    world.target.lock().unwrap().failures = std::iter::repeat_n(true, 100).collect();
    world.clock.advance(Duration::from_secs(31 * DAY));
    let mut attempts_at = Vec::new();
    for minute in 0..(24 * 60) {
        let calls = world.target.lock().unwrap().calls.len();
        scheduler.tick().await.unwrap();
        if world.target.lock().unwrap().calls.len() > calls {
            attempts_at.push(minute);
        }
        world.clock.advance(Duration::from_secs(60));
    }
    // Five attempts (max_failures), 1, 2, 4, 8 minutes apart; then parked, nothing more.
    assert_eq!(attempts_at, [0, 1, 3, 7, 15], "{attempts_at:?}");
    let alerts = world.alerts.alerts();
    let parked: Vec<_> = alerts
        .iter()
        .filter(|a| matches!(a.kind, AlertKind::Parked { .. }))
        .collect();
    assert_eq!(parked.len(), 1, "parking alerts once");
    assert!(scheduler.metrics("db").await.unwrap().parked);
    assert!(
        alerts
            .iter()
            .any(|a| matches!(a.kind, AlertKind::Overdue { .. })),
        "a parked rotation becomes overdue"
    );
    assert_eq!(world.target.lock().unwrap().in_use, "v0");
    // The operator fixes the target and asks for a rotation.
    world.target.lock().unwrap().failures.clear();
    scheduler.rotate_now("db").await.unwrap();
    assert_eq!(scheduler.tick().await.unwrap().rotated, 1);
    assert!(!scheduler.metrics("db").await.unwrap().parked);
}

/// A previous credential whose revocation keeps failing, and a rotation asked for meanwhile:
/// the tick returns (no spinning), the rotation waits for the revocation, then both happen.
#[tokio::test]
async fn a_failing_revocation_holds_the_next_rotation_back() {
    let world = World::new();
    let scheduler = world.scheduler().await;
    world.clock.advance(Duration::from_secs(31 * DAY));
    assert_eq!(scheduler.tick().await.unwrap().rotated, 1);
    // The grace period ends; the revocation fails (three times), and an operator asks for a
    // rotation right away.
    world.target.lock().unwrap().failures = [true, true, true].into_iter().collect();
    world.clock.advance(Duration::from_secs(2 * DAY));
    scheduler.rotate_now("db").await.unwrap();
    let report = tokio::time::timeout(Duration::from_secs(5), scheduler.tick())
        .await
        .expect("a tick must not spin")
        .unwrap();
    assert_eq!((report.rotated, report.revoked), (0, 0));
    let state = scheduler.state("db").await.unwrap().unwrap();
    assert_eq!(
        state.labels.previous.as_deref(),
        Some("v0"),
        "still tracked"
    );
    // After the backoffs the revocation succeeds, then the rotation runs.
    let mut rotated = 0;
    let mut revoked = 0;
    for _ in 0..60 {
        world.clock.advance(Duration::from_secs(60));
        let report = scheduler.tick().await.unwrap();
        rotated += report.rotated;
        revoked += report.revoked;
    }
    assert_eq!((rotated, revoked), (1, 1));
    assert!(
        world
            .target
            .lock()
            .unwrap()
            .revoked
            .contains(&"v0".to_owned())
    );
    world.target.lock().unwrap().check();
}

/// An initial credential registered under an id of the scheduler's own shape (`db-v1`): the
/// first rotation mints another id, so nothing discards or revokes the credential in use.
#[tokio::test]
async fn minted_ids_never_collide_with_the_labels() {
    let world = World::new();
    {
        let mut guard = world.target.lock().unwrap();
        let target = &mut *guard;
        *target = Target::default();
        for set in [&mut target.created, &mut target.valid, &mut target.proven] {
            set.insert("db-v1".into());
        }
        target.in_use = "db-v1".into();
    }
    let scheduler = Scheduler::new(
        world.storage.clone(),
        world.clock.clone(),
        world.alerts.clone(),
        config(),
    )
    .unwrap();
    let schedule = Schedule::every(Duration::from_secs(30 * DAY))
        .unwrap()
        .grace(Duration::from_secs(DAY))
        .unwrap();
    scheduler
        .register(
            "db",
            schedule,
            Arc::new(Sim(world.target.clone())),
            Some("db-v1".into()),
        )
        .await
        .unwrap();
    world.clock.advance(Duration::from_secs(31 * DAY));
    assert_eq!(scheduler.tick().await.unwrap().rotated, 1);
    let state = scheduler.state("db").await.unwrap().unwrap();
    assert_eq!(state.labels.current.as_deref(), Some("db-v2"));
    assert_eq!(state.labels.previous.as_deref(), Some("db-v1"));
    world.clock.advance(Duration::from_secs(2 * DAY));
    scheduler.tick().await.unwrap();
    let target = world.target.lock().unwrap();
    assert_eq!(target.in_use, "db-v2");
    assert_eq!(target.revoked, ["db-v1"]);
}

/// Vault's `rotation_window`: a cron rotation that cannot start within the window of its due
/// time (failures backed it off past it) is skipped, with an alert, until the next occurrence.
#[tokio::test]
async fn a_missed_window_waits_for_the_next_occurrence() {
    let world = World::new();
    let scheduler = world.scheduler().await;
    // Daily at 03:00 UTC, within one hour.
    let daily = Schedule::cron("0 3 * * *")
        .unwrap()
        .start_within(Duration::from_secs(3600))
        .unwrap();
    scheduler
        .register(
            "db",
            daily,
            Arc::new(Sim(world.target.clone())),
            Some("v0".into()),
        )
        .await
        .unwrap();
    let due = scheduler.state("db").await.unwrap().unwrap().next_due;
    assert_eq!(due % DAY, 3 * 3600);
    // The ticker is down from before 03:00 until 05:00: the window has passed.
    let now = world
        .clock
        .now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    world
        .clock
        .advance(Duration::from_secs(due - now + 2 * 3600));
    let report = scheduler.tick().await.unwrap();
    assert_eq!((report.rotated, report.failures), (0, 0));
    assert!(world.target.lock().unwrap().calls.is_empty(), "nothing ran");
    let state = scheduler.state("db").await.unwrap().unwrap();
    assert_eq!(state.next_due, due + DAY, "the next day's 03:00");
    assert!(world.alerts.alerts().iter().any(|a| a.kind
        == AlertKind::Missed {
            due,
            next: due + DAY
        }));
    // Inside the next window it rotates.
    world
        .clock
        .advance(Duration::from_secs(DAY - 2 * 3600 + 60));
    assert_eq!(scheduler.tick().await.unwrap().rotated, 1);
}

/// `rotate` runs a rotation in the caller's task and reports it; `deregister` forgets a
/// secret (no more work for it, its state gone).
#[tokio::test]
async fn rotate_reports_and_deregister_forgets() {
    let world = World::new();
    let scheduler = world.scheduler().await;
    let report = scheduler.rotate("db").await.unwrap();
    assert_eq!(report.rotated, 1);
    assert_eq!(world.target.lock().unwrap().in_use, "db-v1");
    world.target.lock().unwrap().tests_fail = true;
    let report = scheduler.rotate("db").await.unwrap();
    assert_eq!((report.rotated, report.failures), (0, 1));
    let state = scheduler.state("db").await.unwrap().unwrap();
    assert_eq!(state.labels.current.as_deref(), Some("db-v1"));
    assert!(state.last_error.is_some());
    assert!(scheduler.rotate("nope").await.is_err());

    let state = scheduler.deregister("db").await.unwrap().unwrap();
    assert_eq!(state.labels.current.as_deref(), Some("db-v1"));
    assert!(scheduler.state("db").await.unwrap().is_none());
    world.clock.advance(Duration::from_secs(365 * DAY));
    let calls = world.target.lock().unwrap().calls.len();
    assert_eq!(scheduler.tick().await.unwrap(), Default::default());
    assert_eq!(world.target.lock().unwrap().calls.len(), calls);
    assert!(scheduler.rotate("db").await.is_err());
}

#[tokio::test]
async fn bad_configuration_is_refused_up_front() {
    let world = World::new();
    let mut bad = config();
    bad.concurrency = 0;
    assert!(
        Scheduler::new(
            world.storage.clone(),
            world.clock.clone(),
            world.alerts.clone(),
            bad
        )
        .is_err()
    );
    let scheduler = world.scheduler().await;
    let err = scheduler
        .register(
            "bad/id",
            Schedule::every(Duration::from_secs(60)).unwrap(),
            Arc::new(Sim(world.target.clone())),
            None,
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("invalid secret id"), "{err}");
    assert!(scheduler.rotate_now("nope").await.is_err());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Random step failures and crash points over 200 simulated days: the target's invariant
    /// (checked on every call) always holds, and the labels end consistent with the target.
    #[test]
    fn invariant_holds_under_random_failures_and_crashes(
        failures in proptest::collection::vec(proptest::bool::weighted(0.3), 0..60),
        crashes in proptest::collection::vec(0_usize..12, 0..6),
    ) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let world = World::new();
            world.target.lock().unwrap().failures = failures.into_iter().collect();
            let mut crashes: VecDeque<usize> = crashes.into_iter().collect();
            let flaky = Arc::new(Flaky { inner: world.storage.clone(), budget: AtomicUsize::new(usize::MAX) });
            let mut scheduler = world.scheduler_over(flaky.clone()).await;
            for hour in 0..(200 * 24) {
                world.clock.advance(Duration::from_secs(3600));
                if hour % 500 == 0 && let Some(after) = crashes.pop_front() {
                    flaky.budget.store(after, Ordering::SeqCst);
                    let _ = scheduler.tick().await;
                    flaky.budget.store(usize::MAX, Ordering::SeqCst);
                    scheduler = world.scheduler_over(flaky.clone()).await;
                    continue;
                }
                let _ = scheduler.tick().await;
                if scheduler.metrics("db").await.unwrap().parked {
                    scheduler.rotate_now("db").await.unwrap();
                }
            }
            let state = scheduler.state("db").await.unwrap().unwrap();
            let target = world.target.lock().unwrap();
            target.check();
            prop_assert_eq!(state.labels.current.as_deref(), Some(target.in_use.as_str()));
            prop_assert!(target.proven.contains(&target.in_use));
            Ok(())
        })?;
    }
}
