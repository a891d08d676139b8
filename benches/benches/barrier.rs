//! Barrier encryption and decryption beside raw ring AES-256-GCM, in the same criterion groups.
//!
//! Encrypt: both sides copy a borrowed plaintext into one buffer sized for the output and seal it
//! in place with the storage key as associated data. Decrypt: both sides get an owned ciphertext
//! buffer and open it in place. The
//! raw side uses the cheapest possible nonce (a plain counter); the barrier adds its header, term
//! lookup, nonce sequence and usage accounting. See BENCHMARKS.md.
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::unwrap_in_result,
    clippy::indexing_slicing,
    reason = "bench code: a failure is a failed bench"
)]

use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use criterion::{BatchSize, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use strongroom_barrier::{Barrier, RootKey};
use strongroom_storage::MemoryStorage;

const SIZES: [(&str, usize); 4] = [
    ("64B", 64),
    ("1KiB", 1024),
    ("64KiB", 64 * 1024),
    ("1MiB", 1024 * 1024),
];
const KEY: &str = "logical/0b4c6f1e/secret/data/app/db";

/// Drives a future that never waits on I/O (the barrier over memory storage) to completion
/// without a runtime, so the bench measures the barrier rather than an executor.
fn now<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(out) = future.as_mut().poll(&mut cx) {
            return out;
        }
    }
}

fn barrier(c: &mut Criterion) {
    let barrier = Barrier::new(MemoryStorage::new());
    let root = RootKey::generate().unwrap();
    now(barrier.initialize(&root)).unwrap();
    now(barrier.unseal(&root)).unwrap();
    let raw = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &[0x42; 32]).unwrap());

    let mut encrypt = c.benchmark_group("encrypt");
    for (name, size) in SIZES {
        let plaintext = vec![0x5a; size];
        encrypt.throughput(Throughput::Bytes(size as u64));
        // Raw: copy the plaintext into a buffer sized for the output, seal in place with the
        // cheapest nonce there is (a counter). The barrier does the same plus its header.
        let mut counter = 0u64;
        encrypt.bench_function(BenchmarkId::new("ring_raw", name), |b| {
            b.iter(|| {
                counter += 1;
                let mut nonce = [0u8; 12];
                nonce[4..].copy_from_slice(&counter.to_be_bytes());
                let mut buf = Vec::with_capacity(size + 16);
                buf.extend_from_slice(black_box(&plaintext));
                raw.seal_in_place_append_tag(
                    Nonce::assume_unique_for_key(nonce),
                    Aad::from(KEY.as_bytes()),
                    &mut buf,
                )
                .unwrap();
                buf
            })
        });
        encrypt.bench_function(BenchmarkId::new("barrier", name), |b| {
            b.iter(|| now(barrier.encrypt(KEY, black_box(&plaintext))).unwrap())
        });
        // What `Storage::put` does with a buffer of exact capacity: encrypt, then zeroize the
        // plaintext buffer it was handed (volatile writes, so it is slower than memset).
        encrypt.bench_function(BenchmarkId::new("barrier_put_zeroize", name), |b| {
            b.iter_batched(
                || plaintext.clone(),
                |mut buf| {
                    let sealed = now(barrier.encrypt(KEY, &buf)).unwrap();
                    zeroize::Zeroize::zeroize(&mut buf);
                    (sealed, buf)
                },
                BatchSize::SmallInput,
            )
        });
    }
    encrypt.finish();

    let mut decrypt = c.benchmark_group("decrypt");
    for (name, size) in SIZES {
        let plaintext = vec![0x5a; size];
        let mut raw_sealed = plaintext.clone();
        raw.seal_in_place_append_tag(
            Nonce::assume_unique_for_key([7; 12]),
            Aad::from(KEY.as_bytes()),
            &mut raw_sealed,
        )
        .unwrap();
        let sealed = now(barrier.encrypt(KEY, &plaintext)).unwrap();
        decrypt.throughput(Throughput::Bytes(size as u64));
        decrypt.bench_function(BenchmarkId::new("ring_raw", name), |b| {
            b.iter_batched(
                || raw_sealed.clone(),
                |mut buf| {
                    let len = raw
                        .open_in_place(
                            Nonce::assume_unique_for_key([7; 12]),
                            Aad::from(KEY.as_bytes()),
                            &mut buf,
                        )
                        .unwrap()
                        .len();
                    buf.truncate(len);
                    buf
                },
                BatchSize::SmallInput,
            )
        });
        decrypt.bench_function(BenchmarkId::new("barrier", name), |b| {
            b.iter_batched(
                || sealed.clone(),
                |buf| barrier.decrypt(KEY, buf).unwrap(),
                BatchSize::SmallInput,
            )
        });
    }
    decrypt.finish();
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
    targets = barrier
}
criterion_main!(benches);
