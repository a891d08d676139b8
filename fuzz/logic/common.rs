//! Shared by the targets (and by the corpus replay test in `benches/tests/fuzz_replay.rs`): a
//! future driver with no runtime (the memory storage never waits).
#![allow(dead_code, reason = "each target uses a different subset")]

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

pub fn now<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(out) = future.as_mut().poll(&mut cx) {
            return out;
        }
    }
}

#[allow(dead_code, reason = "used by some targets only")]
pub fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}
