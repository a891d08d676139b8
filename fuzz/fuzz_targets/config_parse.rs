//! The `config_parse` fuzz target; what it feeds and checks is in `fuzz/logic/config_parse.rs`, shared with the
//! stable-toolchain replay of the seeds (`benches/tests/fuzz_replay.rs`).
#![no_main]

#[path = "../logic/common.rs"]
mod common;
#[path = "../logic/config_parse.rs"]
mod logic;

libfuzzer_sys::fuzz_target!(|data: &[u8]| logic::run(data));
