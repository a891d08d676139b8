//! Shamir split and combine of a 32-byte key through `strongroom-seal`, beside raw vsss-rs in the
//! same criterion groups. Both sides draw randomness from the OS through ring, in the same way,
//! so the ratio is what the wrapper adds (share types, checks, zeroization). See BENCHMARKS.md.
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::unwrap_in_result,
    clippy::indexing_slicing,
    reason = "bench code: a failure is a failed bench"
)]

use std::convert::Infallible;
use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use ring::rand::{SecureRandom, SystemRandom};
use strongroom_seal::{Share, combine, split};
use vsss_rs::Gf256;

const SPLITS: [(usize, usize); 3] = [(3, 5), (5, 10), (128, 255)];

/// The same buffered OS randomness `strongroom-seal` uses internally.
struct RingRng {
    source: SystemRandom,
    buffer: [u8; 256],
    used: usize,
}

impl RingRng {
    fn new() -> Self {
        Self {
            source: SystemRandom::new(),
            buffer: [0; 256],
            used: 256,
        }
    }
}

impl rand_core::TryRng for RingRng {
    type Error = Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        let mut b = [0; 4];
        self.try_fill_bytes(&mut b)?;
        Ok(u32::from_le_bytes(b))
    }
    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        let mut b = [0; 8];
        self.try_fill_bytes(&mut b)?;
        Ok(u64::from_le_bytes(b))
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        for byte in dst {
            if self.used == self.buffer.len() {
                self.source.fill(&mut self.buffer).unwrap();
                self.used = 0;
            }
            *byte = self.buffer[self.used];
            self.used += 1;
        }
        Ok(())
    }
}

impl rand_core::TryCryptoRng for RingRng {}

fn shamir(c: &mut Criterion) {
    let key = [0x42u8; 32];
    let mut g = c.benchmark_group("shamir_split");
    for (t, n) in SPLITS {
        let id = format!("{t}of{n}");
        g.bench_function(BenchmarkId::new("vsss_raw", &id), |b| {
            b.iter(|| Gf256::split_bytes(t, n, black_box(&key), RingRng::new()).unwrap())
        });
        g.bench_function(BenchmarkId::new("strongroom", &id), |b| {
            b.iter(|| split(black_box(&key), n, t).unwrap())
        });
    }
    g.finish();

    let mut g = c.benchmark_group("shamir_combine");
    for (t, n) in SPLITS {
        let id = format!("{t}of{n}");
        let shares = split(&key, n, t).unwrap();
        let quorum: Vec<Share> = shares.into_iter().take(t).collect();
        let raw: Vec<Vec<u8>> = quorum
            .iter()
            .map(|s| s.to_bytes().expose_secret().to_vec())
            .collect();
        g.bench_function(BenchmarkId::new("vsss_raw", &id), |b| {
            b.iter(|| Gf256::combine_bytes(black_box(&raw)).unwrap())
        });
        g.bench_function(BenchmarkId::new("strongroom", &id), |b| {
            b.iter(|| combine(black_box(&quorum)).unwrap())
        });
    }
    g.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .configure_from_args()
}

criterion_group! {
    name = benches;
    config = config();
    targets = shamir
}
criterion_main!(benches);
