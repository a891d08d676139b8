//! The rotation scheduler's overhead with 100 000 registered secrets: a tick when nothing is
//! due (the common case), a tick that rotates 100 of them, beside a baseline in the same run —
//! reading the 100 000 states from storage, which is what a scheduler without a wake-up index
//! would do every tick. Memory: the resident set before and after registering (printed). See
//! BENCHMARKS.md.
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::unwrap_in_result,
    clippy::indexing_slicing,
    reason = "bench code: a failure is a failed bench"
)]

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use strongroom_rotation::{
    ManualClock, MemorySink, Rotator, Schedule, Scheduler, SchedulerConfig, StepContext, StepResult,
};
use strongroom_storage::{MemoryStorage, Storage};

const SECRETS: usize = 100_000;
const DAY: u64 = 86_400;

struct Noop;

#[async_trait]
impl Rotator for Noop {
    async fn create(&self, _: &StepContext) -> StepResult {
        Ok(())
    }
    async fn set(&self, _: &StepContext) -> StepResult {
        Ok(())
    }
    async fn test(&self, _: &StepContext) -> StepResult {
        Ok(())
    }
    async fn finish(&self, _: &StepContext) -> StepResult {
        Ok(())
    }
    async fn revoke_previous(&self, _: &StepContext) -> StepResult {
        Ok(())
    }
}

fn rss_kib() -> u64 {
    strongroom_benches::rss_kib(None)
}

fn scheduler(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let storage = Arc::new(MemoryStorage::new());
    let clock = Arc::new(ManualClock::new(
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000),
    ));
    let before = rss_kib();
    let scheduler = Scheduler::new(
        storage.clone(),
        clock.clone(),
        Arc::new(MemorySink::default()),
        SchedulerConfig::default(),
    )
    .unwrap();
    let rotator: Arc<dyn Rotator> = Arc::new(Noop);
    rt.block_on(async {
        for i in 0..SECRETS {
            // Monthly, spread over the month by a day-long jitter.
            let schedule = Schedule::every(Duration::from_secs(30 * DAY))
                .unwrap()
                .jitter(Duration::from_secs(29 * DAY))
                .unwrap();
            scheduler
                .register(
                    &format!("s{i}"),
                    schedule,
                    rotator.clone(),
                    Some("v0".into()),
                )
                .await
                .unwrap();
        }
    });
    let after = rss_kib();
    eprintln!(
        "rotation: {SECRETS} secrets registered, resident set +{} MiB ({} bytes per secret, state in memory storage included)",
        (after - before) / 1024,
        (after - before) * 1024 / SECRETS as u64
    );

    let mut group = c.benchmark_group("rotation_100k");
    group.sample_size(20);
    group.bench_function("tick_nothing_due", |b| {
        b.iter(|| black_box(rt.block_on(scheduler.tick()).unwrap()));
    });
    group.bench_function("baseline_read_all_states", |b| {
        b.iter(|| {
            rt.block_on(async {
                let mut n = 0;
                for key in storage.list("rotation/").await.unwrap() {
                    let bytes = storage
                        .get(&format!("rotation/{key}"))
                        .await
                        .unwrap()
                        .unwrap();
                    let state: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
                    n += usize::from(state.is_object());
                }
                black_box(n)
            })
        });
    });
    // Move time so that about 100 secrets fall due per tick (100 000 over 30 days ≈ 139 per hour).
    group.bench_function("tick_with_rotations", |b| {
        b.iter_batched(
            || clock.advance(Duration::from_secs(43 * 60)),
            |()| black_box(rt.block_on(scheduler.tick()).unwrap()),
            BatchSize::PerIteration,
        );
    });
    group.finish();
}

criterion_group!(benches, scheduler);
criterion_main!(benches);
