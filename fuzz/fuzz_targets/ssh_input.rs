//! The `ssh_input` fuzz target; what it feeds and checks is in `fuzz/logic/ssh_input.rs`, shared with the
//! stable-toolchain replay of the seeds (`benches/tests/fuzz_replay.rs`).
#![no_main]

#[path = "../logic/common.rs"]
mod common;
#[path = "../logic/ssh_input.rs"]
mod logic;

libfuzzer_sys::fuzz_target!(|data: &[u8]| logic::run(data));
