//! The `http_router` fuzz target; what it feeds and checks is in `fuzz/logic/http_router.rs`,
//! shared with the stable-toolchain replay of the seeds (`benches/tests/fuzz_replay.rs`).
#![no_main]

#[path = "../logic/http_router.rs"]
mod logic;

libfuzzer_sys::fuzz_target!(|data: &[u8]| logic::run(data));
